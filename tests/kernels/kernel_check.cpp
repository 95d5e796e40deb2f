// kernel_check.cpp - the float kernels of libo2c_core checked against plain double-precision
// references, as a program: it runs wherever the library was built for, including aarch64 under
// qemu-user, where the Python (ctypes) kernel tests cannot load the library. tests/kernels/
// test_kernel_check.py links it with the host's native and portable libraries and with the aarch64
// cross build (NEON), and runs it.
//
//   kernel_check [--seed N] [--verbose]
//
// Cases cover what the micro-kernels special-case: edge tiles (sizes around the register blocks),
// transposes, batches with broadcast strides, bias kinds, fused activations, 1-D/2-D/3-D
// convolutions with stride, dilation, padding and groups (depthwise included), with and without
// weights packed once (o2c_conv_pack), transposed convolutions, pooling, broadcast binaries, unary
// ops and softmax. One line per failing case; the last line counts cases and failures; exit 1 on
// any failure.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "dash_ml.h"
#include "o2c_kernels.h"

namespace {

std::mt19937 rng(1);
bool verbose = false;
int n_cases = 0, n_failed = 0;

std::vector<float> rand_vec(size_t n, float lo = -1.f, float hi = 1.f) {
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (auto &x : v) x = d(rng);
  return v;
}

double act_ref(double x, const dash_act_t &a) {
  switch (a.op) {
    case DASH_ACT_NONE: return x;
    case DASH_ACT_RELU: return x > 0 ? x : 0;
    case DASH_ACT_LEAKY_RELU: return x >= 0 ? x : a.alpha * x;
    case DASH_ACT_CLIP: return std::min<double>(std::max<double>(x, a.alpha), a.beta);
    case DASH_ACT_SIGMOID: return 1 / (1 + std::exp(-x));
    case DASH_ACT_TANH: return std::tanh(x);
    case DASH_ACT_HARD_SIGMOID: return std::max(0.0, std::min(1.0, a.alpha * x + a.beta));
    case DASH_ACT_HARD_SWISH: return x * std::max(0.0, std::min(1.0, x / 6 + 0.5));
    case DASH_ACT_ELU: return x >= 0 ? x : a.alpha * (std::exp(x) - 1);
    case DASH_UNARY_EXP: return std::exp(x);
    case DASH_UNARY_ABS: return std::fabs(x);
    case DASH_UNARY_NEG: return -x;
    case DASH_UNARY_SQRT: return std::sqrt(x);
    default: std::fprintf(stderr, "kernel_check: no reference for op %d\n", a.op); std::exit(2);
  }
}

// got against want, element by element: |got - want| <= atol + rtol * scale[i], where scale is the
// sum of the absolute terms that made want[i] (so long dot products get their rounding room).
void expect(const std::string &name, const std::vector<float> &got, const std::vector<double> &want,
            const std::vector<double> &scale, double rtol = 2e-5, double atol = 1e-6) {
  ++n_cases;
  if (got.size() != want.size()) {
    std::printf("FAIL %s: %zu outputs, expected %zu\n", name.c_str(), got.size(), want.size());
    ++n_failed;
    return;
  }
  size_t bad = 0, worst = 0;
  double worst_err = -1;
  for (size_t i = 0; i < got.size(); ++i) {
    double err = std::fabs(double(got[i]) - want[i]);
    double tol = atol + rtol * (scale.empty() ? std::fabs(want[i]) : scale[i]);
    if (!(err <= tol) || std::isnan(got[i]) != std::isnan(want[i])) {
      if (std::isnan(got[i]) && std::isnan(want[i])) continue;
      ++bad;
      if (!(err <= worst_err)) { worst_err = err; worst = i; }
    }
  }
  if (bad) {
    ++n_failed;
    std::printf("FAIL %s: %zu of %zu elements off, worst at %zu: got %.9g, expected %.9g\n", name.c_str(), bad,
                got.size(), worst, double(got[worst]), want[worst]);
  } else if (verbose) {
    std::printf("ok   %s\n", name.c_str());
  }
}

const char *act_name(int op) {
  switch (op) {
    case DASH_ACT_NONE: return "none";
    case DASH_ACT_RELU: return "relu";
    case DASH_ACT_LEAKY_RELU: return "leaky";
    case DASH_ACT_CLIP: return "clip";
    case DASH_ACT_SIGMOID: return "sigmoid";
    case DASH_ACT_TANH: return "tanh";
    case DASH_ACT_HARD_SWISH: return "hswish";
    default: return "act";
  }
}

// ---------------------------------------------------------------------------------------- GEMM
void gemm_case(int64_t batch, int64_t M, int64_t N, int64_t K, int ta, int tb, int bias_kind, float alpha,
               float beta, dash_act_t act, bool broadcast_b) {
  dash_gemm_params_t p{};
  p.batch = batch, p.M = M, p.N = N, p.K = K;
  p.stride_a = M * K, p.stride_b = broadcast_b ? 0 : K * N, p.stride_c = M * N;
  p.trans_a = ta, p.trans_b = tb, p.alpha = alpha, p.beta = beta, p.bias_kind = bias_kind, p.act = act;
  auto A = rand_vec(size_t(batch * M * K));
  auto B = rand_vec(size_t((broadcast_b ? 1 : batch) * K * N));
  size_t nbias = bias_kind == 1 ? 1 : bias_kind == 2 ? N : bias_kind == 3 ? M : bias_kind == 4 ? M * N : 0;
  auto bias = rand_vec(std::max<size_t>(nbias, 1));
  std::vector<float> C(size_t(batch * M * N), NAN);
  o2c_gemm(A.data(), B.data(), nbias ? bias.data() : nullptr, C.data(), &p);
  std::vector<double> want(C.size()), scale(C.size());
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) {
        double s = 0, sa = 0;
        for (int64_t k = 0; k < K; ++k) {
          double a = A[b * p.stride_a + (ta ? k * M + i : i * K + k)];
          double bb = B[b * p.stride_b + (tb ? j * K + k : k * N + j)];
          s += a * bb, sa += std::fabs(a * bb);
        }
        double bv = bias_kind == 1 ? bias[0] : bias_kind == 2 ? bias[j] : bias_kind == 3 ? bias[i]
                  : bias_kind == 4 ? bias[i * N + j] : 0;
        double x = alpha * s + beta * bv;
        want[b * M * N + i * N + j] = act_ref(x, act);
        scale[b * M * N + i * N + j] = std::fabs(alpha) * sa + std::fabs(beta * bv) + 1;
      }
  char name[160];
  std::snprintf(name, sizeof name, "gemm b%lld %lldx%lldx%lld ta%d tb%d bias%d %s%s", (long long)batch,
                (long long)M, (long long)N, (long long)K, ta, tb, bias_kind, act_name(act.op),
                broadcast_b ? " bcastB" : "");
  expect(name, C, want, scale);
}

void gemm_cases() {
  const int64_t shapes[][3] = {{1, 1, 1},   {4, 16, 8},   {5, 17, 9},  {3, 15, 33},  {37, 53, 300},
                               {64, 64, 64}, {1, 90, 70}, {70, 1, 90}, {13, 130, 7}, {100, 20, 257}};
  for (auto &s : shapes)
    for (int ta = 0; ta < 2; ++ta)
      for (int tb = 0; tb < 2; ++tb) gemm_case(1, s[0], s[1], s[2], ta, tb, 2, 1.f, 1.f, {DASH_ACT_NONE, 0, 0}, false);
  for (int kind = 0; kind <= 4; ++kind) gemm_case(1, 9, 23, 31, 0, 1, kind, 0.5f, 2.f, {DASH_ACT_RELU, 0, 0}, false);
  gemm_case(3, 7, 19, 12, 0, 0, 2, 1.f, 1.f, {DASH_ACT_TANH, 0, 0}, false);
  gemm_case(3, 7, 19, 12, 1, 0, 0, 1.f, 0.f, {DASH_ACT_NONE, 0, 0}, true);
  gemm_case(2, 33, 40, 65, 0, 1, 3, 1.f, 1.f, {DASH_ACT_LEAKY_RELU, 0.1f, 0}, true);
  gemm_case(1, 8, 32, 16, 0, 0, 2, 1.f, 1.f, {DASH_ACT_CLIP, 0.f, 6.f}, false);
  gemm_case(1, 6, 48, 20, 0, 0, 2, 1.f, 1.f, {DASH_ACT_SIGMOID, 0, 0}, false);
}

// ---------------------------------------------------------------------------------------- CONV
struct ConvSpec {
  int rank;
  int64_t batch, cin, cout, groups;
  int64_t in[3], k[3], stride[3], dil[3], pad[3];
  int has_bias;
  int act;
};

int64_t out_len(int64_t in, int64_t k, int64_t s, int64_t d, int64_t pad) {
  return (in + 2 * pad - d * (k - 1) - 1) / s + 1;
}

void conv_case(const ConvSpec &c, bool packed) {
  dash_conv_params_t p{};
  p.spatial_rank = c.rank, p.has_bias = c.has_bias;
  p.batch = c.batch, p.in_channels = c.cin, p.out_channels = c.cout, p.groups = c.groups;
  int64_t in_n = 1, out_n = 1, k_n = 1;
  for (int d = 0; d < c.rank; ++d) {
    p.in_size[d] = c.in[d], p.kernel[d] = c.k[d], p.stride[d] = c.stride[d], p.dilation[d] = c.dil[d];
    p.pad_begin[d] = c.pad[d];
    p.out_size[d] = out_len(c.in[d], c.k[d], c.stride[d], c.dil[d], c.pad[d]);
    in_n *= c.in[d], out_n *= p.out_size[d], k_n *= c.k[d];
  }
  for (int d = c.rank; d < DASH_MAX_SPATIAL; ++d)
    p.in_size[d] = p.out_size[d] = p.kernel[d] = p.stride[d] = p.dilation[d] = 1;
  p.act = {c.act, c.act == DASH_ACT_CLIP ? 0.f : 0.1f, 6.f};
  const int64_t cig = c.cin / c.groups, cog = c.cout / c.groups;
  auto in = rand_vec(size_t(c.batch * c.cin * in_n));
  auto w = rand_vec(size_t(c.cout * cig * k_n));
  auto bias = rand_vec(size_t(c.cout));
  std::vector<unsigned char> pack_buf;
  if (packed) {
    size_t bytes = o2c_conv_packed_bytes(&p);
    if (bytes == 0) return;  // no packed form for this layer: the unpacked case covers it
    pack_buf.resize(bytes + 64);
    void *dst = pack_buf.data() + (64 - reinterpret_cast<uintptr_t>(pack_buf.data()) % 64) % 64;
    o2c_conv_pack(w.data(), &p, dst);
    p.packed = dst;
  }
  std::vector<float> out(size_t(c.batch * c.cout * out_n), NAN);
  o2c_conv(in.data(), w.data(), c.has_bias ? bias.data() : nullptr, out.data(), &p);
  std::vector<double> want(out.size()), scale(out.size());
  int64_t osz[3] = {p.out_size[0], p.out_size[1], p.out_size[2]};
  int64_t isz[3] = {p.in_size[0], p.in_size[1], p.in_size[2]};
  int64_t ksz[3] = {p.kernel[0], p.kernel[1], p.kernel[2]};
  for (int64_t b = 0; b < c.batch; ++b)
    for (int64_t o = 0; o < c.cout; ++o) {
      const int64_t g = o / cog;
      for (int64_t q = 0; q < out_n; ++q) {
        int64_t oi[3] = {0, 0, 0}, r = q;
        for (int d = c.rank - 1; d >= 0; --d) oi[d] = r % osz[d], r /= osz[d];
        double s = c.has_bias ? bias[o] : 0, sa = std::fabs(s);
        for (int64_t ci = 0; ci < cig; ++ci)
          for (int64_t kq = 0; kq < k_n; ++kq) {
            int64_t ki[3] = {0, 0, 0}, rr = kq;
            for (int d = c.rank - 1; d >= 0; --d) ki[d] = rr % ksz[d], rr /= ksz[d];
            int64_t idx = 0;
            bool inside = true;
            for (int d = 0; d < c.rank; ++d) {
              int64_t x = oi[d] * c.stride[d] - c.pad[d] + ki[d] * c.dil[d];
              if (x < 0 || x >= isz[d]) inside = false;
              idx = idx * isz[d] + x;
            }
            if (!inside) continue;
            double a = in[(b * c.cin + g * cig + ci) * in_n + idx];
            double wv = w[(o * cig + ci) * k_n + kq];
            s += a * wv, sa += std::fabs(a * wv);
          }
        want[(b * c.cout + o) * out_n + q] = act_ref(s, p.act);
        scale[(b * c.cout + o) * out_n + q] = sa + 1;
      }
    }
  char name[200];
  std::snprintf(name, sizeof name, "conv%dd b%lld %lld->%lld g%lld in%lldx%lld k%lld s%lld d%lld p%lld bias%d %s%s",
                c.rank, (long long)c.batch, (long long)c.cin, (long long)c.cout, (long long)c.groups,
                (long long)c.in[0], (long long)(c.rank > 1 ? c.in[1] : 1), (long long)c.k[0],
                (long long)c.stride[0], (long long)c.dil[0], (long long)c.pad[0], c.has_bias, act_name(c.act),
                packed ? " packed" : "");
  expect(name, out, want, scale);
}

void conv_cases() {
  const ConvSpec specs[] = {
      // rank batch cin cout groups  in          k          stride     dil        pad      bias act
      {2, 1, 3, 8, 1, {12, 12, 1}, {3, 3, 1}, {1, 1, 1}, {1, 1, 1}, {1, 1, 0}, 1, DASH_ACT_RELU},
      {2, 2, 16, 24, 1, {9, 11, 1}, {3, 3, 1}, {2, 2, 1}, {1, 1, 1}, {1, 1, 0}, 1, DASH_ACT_NONE},
      {2, 1, 32, 64, 1, {8, 8, 1}, {1, 1, 1}, {1, 1, 1}, {1, 1, 1}, {0, 0, 0}, 1, DASH_ACT_CLIP},
      {2, 1, 8, 20, 1, {33, 31, 1}, {5, 5, 1}, {1, 1, 1}, {1, 1, 1}, {2, 2, 0}, 0, DASH_ACT_NONE},
      {2, 1, 6, 10, 1, {15, 15, 1}, {3, 3, 1}, {1, 1, 1}, {2, 2, 1}, {2, 2, 0}, 1, DASH_ACT_LEAKY_RELU},
      {2, 1, 12, 12, 3, {10, 10, 1}, {3, 3, 1}, {1, 1, 1}, {1, 1, 1}, {1, 1, 0}, 1, DASH_ACT_RELU},
      // depthwise: stride 1 and 2, 3x3 and 5x5, widths around the vector lengths
      {2, 1, 16, 16, 16, {17, 19, 1}, {3, 3, 1}, {1, 1, 1}, {1, 1, 1}, {1, 1, 0}, 1, DASH_ACT_RELU},
      {2, 2, 8, 8, 8, {20, 33, 1}, {3, 3, 1}, {2, 2, 1}, {1, 1, 1}, {1, 1, 0}, 1, DASH_ACT_NONE},
      {2, 1, 8, 8, 8, {16, 16, 1}, {5, 5, 1}, {1, 1, 1}, {1, 1, 1}, {2, 2, 0}, 0, DASH_ACT_NONE},
      {2, 1, 4, 4, 4, {21, 18, 1}, {5, 5, 1}, {2, 2, 1}, {1, 1, 1}, {2, 2, 0}, 1, DASH_ACT_CLIP},
      {2, 1, 6, 12, 6, {9, 9, 1}, {3, 3, 1}, {1, 1, 1}, {1, 1, 1}, {1, 1, 0}, 1, DASH_ACT_NONE},  // multiplier 2
      // 1-D: a long strided kernel (an STFT front end), and a plain one
      {1, 1, 1, 16, 1, {3000, 1, 1}, {256, 1, 1}, {128, 1, 1}, {1, 1, 1}, {0, 0, 0}, 0, DASH_ACT_NONE},
      {1, 2, 4, 64, 1, {100, 1, 1}, {3, 1, 1}, {1, 1, 1}, {1, 1, 1}, {1, 0, 0}, 1, DASH_ACT_RELU},
      // 3-D
      {3, 1, 3, 5, 1, {6, 7, 8}, {3, 3, 3}, {1, 2, 1}, {1, 1, 1}, {1, 1, 1}, 1, DASH_ACT_NONE},
  };
  for (const auto &s : specs) {
    conv_case(s, false);
    conv_case(s, true);
  }
}

void conv_transpose_case(int64_t cin, int64_t cout, int64_t groups, int64_t H, int64_t W, int64_t k, int64_t s,
                         int64_t pad) {
  dash_conv_params_t p{};
  p.spatial_rank = 2, p.has_bias = 1, p.batch = 1, p.in_channels = cin, p.out_channels = cout, p.groups = groups;
  int64_t in[2] = {H, W};
  for (int d = 0; d < 2; ++d) {
    p.in_size[d] = in[d], p.kernel[d] = k, p.stride[d] = s, p.dilation[d] = 1, p.pad_begin[d] = pad;
    p.out_size[d] = (in[d] - 1) * s - 2 * pad + k;
  }
  p.in_size[2] = p.out_size[2] = p.kernel[2] = p.stride[2] = p.dilation[2] = 1;
  p.act = {DASH_ACT_NONE, 0, 0};
  const int64_t cig = cin / groups, cog = cout / groups, OH = p.out_size[0], OW = p.out_size[1];
  auto x = rand_vec(size_t(cin * H * W));
  auto w = rand_vec(size_t(cin * cog * k * k));
  auto bias = rand_vec(size_t(cout));
  std::vector<float> out(size_t(cout * OH * OW), NAN);
  o2c_conv_transpose(x.data(), w.data(), bias.data(), out.data(), &p);
  std::vector<double> want(out.size(), 0), scale(out.size(), 1);
  for (int64_t o = 0; o < cout; ++o)
    for (int64_t i = 0; i < OH * OW; ++i) want[o * OH * OW + i] = bias[o];
  for (int64_t ci = 0; ci < cin; ++ci) {
    const int64_t g = ci / cig;
    for (int64_t oc = 0; oc < cog; ++oc)
      for (int64_t y = 0; y < H; ++y)
        for (int64_t xx = 0; xx < W; ++xx)
          for (int64_t ky = 0; ky < k; ++ky)
            for (int64_t kx = 0; kx < k; ++kx) {
              int64_t oy = y * s - pad + ky, ox = xx * s - pad + kx;
              if (oy < 0 || oy >= OH || ox < 0 || ox >= OW) continue;
              double t = double(x[(ci * H + y) * W + xx]) * w[((ci * cog + oc) * k + ky) * k + kx];
              int64_t o = (g * cog + oc) * OH * OW + oy * OW + ox;
              want[o] += t, scale[o] += std::fabs(t);
            }
  }
  char name[120];
  std::snprintf(name, sizeof name, "conv_transpose %lld->%lld g%lld %lldx%lld k%lld s%lld p%lld", (long long)cin,
                (long long)cout, (long long)groups, (long long)H, (long long)W, (long long)k, (long long)s,
                (long long)pad);
  expect(name, out, want, scale);
}

// ---------------------------------------------------------------------------------------- POOL
void pool_case(int kind, int64_t C, int64_t H, int64_t W, int64_t k, int64_t s, int64_t pad, int include_pad) {
  dash_pool_params_t p{};
  p.kind = kind, p.spatial_rank = 2, p.count_include_pad = include_pad, p.p = 2, p.channels = C;
  int64_t in[2] = {H, W};
  for (int d = 0; d < 2; ++d) {
    p.in_size[d] = in[d], p.kernel[d] = k, p.stride[d] = s, p.dilation[d] = 1;
    p.pad_begin[d] = p.pad_end[d] = pad;
    p.out_size[d] = (in[d] + 2 * pad - k) / s + 1;
  }
  p.in_size[2] = p.out_size[2] = p.kernel[2] = p.stride[2] = p.dilation[2] = 1;
  const int64_t OH = p.out_size[0], OW = p.out_size[1];
  auto x = rand_vec(size_t(C * H * W));
  std::vector<float> out(size_t(C * OH * OW), NAN);
  o2c_pool(x.data(), out.data(), &p);
  std::vector<double> want(out.size());
  for (int64_t c = 0; c < C; ++c)
    for (int64_t oy = 0; oy < OH; ++oy)
      for (int64_t ox = 0; ox < OW; ++ox) {
        double m = -INFINITY, sum = 0, lp = 0;
        int64_t n = 0;
        for (int64_t ky = 0; ky < k; ++ky)
          for (int64_t kx = 0; kx < k; ++kx) {
            int64_t y = oy * s - pad + ky, xx = ox * s - pad + kx;
            if (y < 0 || y >= H || xx < 0 || xx >= W) continue;
            double v = x[(c * H + y) * W + xx];
            m = std::max(m, v), sum += v, lp += v * v, ++n;
          }
        double r = kind == DASH_POOL_MAX ? m : kind == DASH_POOL_AVG ? sum / double(include_pad ? k * k : n)
                 : std::sqrt(lp);
        want[(c * OH + oy) * OW + ox] = r;
      }
  char name[120];
  std::snprintf(name, sizeof name, "pool%d c%lld %lldx%lld k%lld s%lld p%lld incl%d", kind, (long long)C,
                (long long)H, (long long)W, (long long)k, (long long)s, (long long)pad, include_pad);
  expect(name, out, want, {}, 1e-5, 1e-6);
}

// ---------------------------------------------------------------------------------------- BINARY
void binary_case(int op, std::vector<int64_t> shape, std::vector<int64_t> bshape, dash_act_t act) {
  dash_binary_params_t p{};
  p.op = op, p.rank = int(shape.size()), p.act = act;
  int64_t n = 1, nb = 1;
  for (auto d : shape) n *= d;
  for (auto d : bshape) nb *= d;
  int64_t sa = 1, sb = 1;
  for (int d = p.rank - 1; d >= 0; --d) {
    p.out_shape[d] = shape[d];
    p.a_stride[d] = sa, sa *= shape[d];
    p.b_stride[d] = bshape[d] == 1 ? 0 : sb, sb *= bshape[d];
  }
  auto a = rand_vec(size_t(n), op == DASH_BIN_POW ? 0.1f : -2.f, 2.f);
  auto b = rand_vec(size_t(nb), op == DASH_BIN_DIV ? 0.5f : -2.f, 2.f);
  std::vector<float> out(size_t(n), NAN);
  o2c_binary(a.data(), b.data(), out.data(), &p);
  std::vector<double> want(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    int64_t r = i, ib = 0;
    for (int d = p.rank - 1; d >= 0; --d) ib += (r % shape[d]) * p.b_stride[d], r /= shape[d];
    double x = a[i], y = b[ib], z = 0;
    switch (op) {
      case DASH_BIN_ADD: z = x + y; break;
      case DASH_BIN_SUB: z = x - y; break;
      case DASH_BIN_MUL: z = x * y; break;
      case DASH_BIN_DIV: z = x / y; break;
      case DASH_BIN_MAX: z = std::max(x, y); break;
      case DASH_BIN_MIN: z = std::min(x, y); break;
      case DASH_BIN_PRELU: z = x >= 0 ? x : x * y; break;
    }
    want[i] = act_ref(z, act);
  }
  std::string name = "binary op" + std::to_string(op) + " [";
  for (size_t d = 0; d < shape.size(); ++d) name += (d ? "," : "") + std::to_string(shape[d]);
  name += "] by [";
  for (size_t d = 0; d < bshape.size(); ++d) name += (d ? "," : "") + std::to_string(bshape[d]);
  name += std::string("] ") + act_name(act.op);
  expect(name, out, want, {}, 2e-6, 1e-6);
}

// ---------------------------------------------------------------------------------------- UNARY, SOFTMAX
void unary_case(int op, int64_t n, float lo, float hi, double rtol) {
  dash_unary_params_t p{};
  p.n = n, p.op = {op, op == DASH_ACT_LEAKY_RELU ? 0.2f : op == DASH_ACT_HARD_SIGMOID ? 0.2f : 1.f,
                   op == DASH_ACT_HARD_SIGMOID ? 0.5f : 0.f};
  if (op == DASH_ACT_CLIP) p.op.alpha = -0.5f, p.op.beta = 0.75f;
  auto x = rand_vec(size_t(n), lo, hi);
  std::vector<float> out(size_t(n), NAN);
  o2c_unary(x.data(), out.data(), &p);
  std::vector<double> want(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) want[i] = act_ref(x[i], p.op);
  expect("unary op" + std::to_string(op) + " n" + std::to_string(n), out, want, {}, rtol, 1e-6);
}

void softmax_case(int64_t outer, int64_t axis, int64_t inner, int log) {
  dash_softmax_params_t p{outer, axis, inner, log};
  auto x = rand_vec(size_t(outer * axis * inner), -8.f, 8.f);
  std::vector<float> out(x.size(), NAN);
  o2c_softmax(x.data(), out.data(), &p);
  std::vector<double> want(x.size());
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i) {
      double m = -INFINITY, s = 0;
      for (int64_t a = 0; a < axis; ++a) m = std::max<double>(m, x[(o * axis + a) * inner + i]);
      for (int64_t a = 0; a < axis; ++a) s += std::exp(x[(o * axis + a) * inner + i] - m);
      for (int64_t a = 0; a < axis; ++a) {
        double v = x[(o * axis + a) * inner + i] - m;
        want[(o * axis + a) * inner + i] = log ? v - std::log(s) : std::exp(v) / s;
      }
    }
  expect("softmax " + std::to_string(outer) + "x" + std::to_string(axis) + "x" + std::to_string(inner) +
             (log ? " log" : ""),
         out, want, {}, 1e-5, 1e-6);
}

}  // namespace

int main(int argc, char **argv) {
  unsigned seed = 1;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--verbose")) {
      verbose = true;
    } else if (!std::strcmp(argv[i], "--seed") && i + 1 < argc) {
      seed = unsigned(std::strtoul(argv[++i], nullptr, 10));
    } else {
      std::fprintf(stderr, "error: kernel_check: unknown argument '%s' (usage: kernel_check [--seed N] [--verbose])\n",
                   argv[i]);
      return 2;
    }
  }
  rng.seed(seed);
  gemm_cases();
  conv_cases();
  conv_transpose_case(4, 6, 1, 7, 9, 3, 2, 1);
  conv_transpose_case(8, 8, 8, 6, 6, 4, 2, 1);
  conv_transpose_case(3, 5, 1, 5, 5, 2, 1, 0);
  for (int kind : {DASH_POOL_MAX, DASH_POOL_AVG}) {
    pool_case(kind, 5, 17, 19, 3, 2, 1, 0);
    pool_case(kind, 3, 16, 16, 2, 2, 0, 0);
    pool_case(kind, 4, 13, 21, 5, 1, 2, 1);
    pool_case(kind, 2, 40, 40, 3, 1, 1, 0);
  }
  pool_case(DASH_POOL_LP, 3, 9, 9, 3, 2, 0, 0);
  for (int op : {DASH_BIN_ADD, DASH_BIN_SUB, DASH_BIN_MUL, DASH_BIN_DIV, DASH_BIN_MAX, DASH_BIN_MIN, DASH_BIN_PRELU}) {
    binary_case(op, {2, 3, 37}, {2, 3, 37}, {DASH_ACT_NONE, 0, 0});
    binary_case(op, {4, 8, 19}, {1, 8, 1}, {DASH_ACT_NONE, 0, 0});
  }
  binary_case(DASH_BIN_ADD, {3, 1000}, {1, 1000}, {DASH_ACT_RELU, 0, 0});
  binary_case(DASH_BIN_MUL, {2, 16, 9, 9}, {1, 16, 1, 1}, {DASH_ACT_SIGMOID, 0, 0});
  binary_case(DASH_BIN_ADD, {5, 7}, {5, 1}, {DASH_ACT_NONE, 0, 0});
  for (int64_t n : {1, 7, 8, 17, 1000, 4099}) {
    unary_case(DASH_ACT_RELU, n, -2, 2, 0);
    unary_case(DASH_ACT_SIGMOID, n, -12, 12, 2e-6);
    unary_case(DASH_ACT_TANH, n, -6, 6, 2e-6);
  }
  unary_case(DASH_ACT_LEAKY_RELU, 1001, -2, 2, 1e-7);
  unary_case(DASH_ACT_CLIP, 1001, -2, 2, 0);
  unary_case(DASH_ACT_HARD_SIGMOID, 1001, -5, 5, 1e-6);
  unary_case(DASH_ACT_HARD_SWISH, 1001, -5, 5, 1e-6);
  unary_case(DASH_ACT_ELU, 1001, -5, 5, 2e-6);
  unary_case(DASH_UNARY_EXP, 1001, -20, 20, 2e-6);
  unary_case(DASH_UNARY_ABS, 1001, -5, 5, 0);
  unary_case(DASH_UNARY_NEG, 1001, -5, 5, 0);
  unary_case(DASH_UNARY_SQRT, 1001, 0, 50, 1e-6);
  softmax_case(3, 10, 1, 0);
  softmax_case(2, 1000, 1, 1);
  softmax_case(4, 7, 9, 0);
  softmax_case(1, 33, 5, 1);
  std::printf("kernel_check: %d cases, %d failed\n", n_cases, n_failed);
  return n_failed ? 1 : 0;
}

// kernel_check.cpp - the float kernels of libo2c_core checked against plain double-precision
// references, as a program: it runs wherever the library was built for, including aarch64 under
// qemu-user, where the Python (ctypes) kernel tests cannot load the library. tests/kernels/
// test_kernel_check.py links it with the host's native and portable libraries and with the aarch64
// cross build (NEON), and runs it.
//
//   kernel_check [--seed N] [--verbose] [--dump FILE]
//
// --dump writes the outputs of every case whose result does not depend on a transcendental function
// (name, count, float32 values) to FILE: tests/kernels/test_kernel_check.py compares the dumps of the
// aarch64 build with NEON and of the same build with the NEON files compiled -DO2C_NO_NEON, which
// must be identical (the NEON paths claim the portable code's bits).
//
// Cases cover what the micro-kernels special-case: edge tiles (sizes around the register blocks),
// transposes, batches with broadcast strides, bias kinds, fused activations, 1-D/2-D/3-D
// convolutions with stride, dilation, padding and groups (depthwise included), with and without
// weights packed once (o2c_conv_pack), transposed convolutions, pooling, broadcast binaries, unary
// ops and softmax. One line per failing case; the last line counts cases and failures; exit 1 on
// any failure.
#include <algorithm>
#include <array>
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
FILE *dump = nullptr;

// The ops whose results come from exp/tanh/erf/...: the NEON polynomials differ from the C library's
// (within the tolerances), so their cases are left out of the bit-for-bit dump.
bool exact_op(int op) {
  switch (op) {
    case DASH_ACT_NONE: case DASH_ACT_RELU: case DASH_ACT_LEAKY_RELU: case DASH_ACT_CLIP:
    case DASH_ACT_HARD_SIGMOID: case DASH_ACT_HARD_SWISH: case DASH_UNARY_ABS: case DASH_UNARY_NEG:
    case DASH_UNARY_SQRT:
      return true;
    default: return false;
  }
}

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
    case DASH_ACT_SWISH: return x / (1 + std::exp(-a.alpha * x));
    case DASH_ACT_MISH: return x * std::tanh(std::log1p(std::exp(x)));
    case DASH_ACT_GELU_TANH: return 0.5 * x * (1 + std::tanh(0.79788456080286536 * (x + 0.044715 * x * x * x)));
    default: std::fprintf(stderr, "kernel_check: no reference for op %d\n", a.op); std::exit(2);
  }
}

// got against want, element by element: |got - want| <= atol + rtol * scale[i], where scale is the
// sum of the absolute terms that made want[i] (so long dot products get their rounding room).
void expect(const std::string &name, const std::vector<float> &got, const std::vector<double> &want,
            const std::vector<double> &scale, double rtol = 2e-5, double atol = 1e-6, bool exact = true) {
  ++n_cases;
  if (dump && exact) {
    const unsigned long long n = got.size();
    std::fprintf(dump, "%s\n%llu\n", name.c_str(), n);
    std::fwrite(got.data(), sizeof(float), got.size(), dump);
  }
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
    if (double(got[i]) == want[i]) continue;  // equal infinities too
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
  expect(name, C, want, scale, 2e-5, 1e-6, exact_op(act.op));
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
  int64_t pe[3] = {-1, -1, -1};  // pad_end per axis (-1: the same as pad_begin)
};

void conv_case(const ConvSpec &c, bool packed) {
  dash_conv_params_t p{};
  p.spatial_rank = c.rank, p.has_bias = c.has_bias;
  p.batch = c.batch, p.in_channels = c.cin, p.out_channels = c.cout, p.groups = c.groups;
  int64_t in_n = 1, out_n = 1, k_n = 1;
  for (int d = 0; d < c.rank; ++d) {
    p.in_size[d] = c.in[d], p.kernel[d] = c.k[d], p.stride[d] = c.stride[d], p.dilation[d] = c.dil[d];
    p.pad_begin[d] = c.pad[d];
    const int64_t pe = c.pe[d] < 0 ? c.pad[d] : c.pe[d];  // (the kernel takes the end padding from out_size)
    p.out_size[d] = (c.in[d] + c.pad[d] + pe - c.dil[d] * (c.k[d] - 1) - 1) / c.stride[d] + 1;
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
  expect(name, out, want, scale, 2e-5, 1e-6, exact_op(c.act));
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
// a (shape ashape) op b (shape bshape), numpy broadcasting to the larger of each dim (the shapes
// have the same rank here: leading 1s written out); nan: every 7th value of a and every 5th of b NaN
void binary_case2(int op, std::vector<int64_t> ashape, std::vector<int64_t> bshape, dash_act_t act, bool nan = false) {
  dash_binary_params_t p{};
  p.op = op, p.rank = int(ashape.size()), p.act = act;
  std::vector<int64_t> shape(ashape.size());
  int64_t n = 1, na = 1, nb = 1;
  for (size_t d = 0; d < shape.size(); ++d) {
    shape[d] = std::max(ashape[d], bshape[d]);
    if (ashape[d] == 0 || bshape[d] == 0) shape[d] = 0;
    n *= shape[d], na *= ashape[d], nb *= bshape[d];
  }
  int64_t sa = 1, sb = 1;
  for (int d = p.rank - 1; d >= 0; --d) {
    p.out_shape[d] = shape[d];
    p.a_stride[d] = ashape[d] == 1 ? 0 : sa, sa *= ashape[d];
    p.b_stride[d] = bshape[d] == 1 ? 0 : sb, sb *= bshape[d];
  }
  auto a = rand_vec(size_t(std::max<int64_t>(na, 1)), op == DASH_BIN_POW ? 0.1f : -2.f, 2.f);
  auto b = rand_vec(size_t(std::max<int64_t>(nb, 1)), op == DASH_BIN_DIV ? 0.5f : -2.f, 2.f);
  if (nan) {
    for (size_t i = 0; i < a.size(); i += 7) a[i] = NAN;
    for (size_t i = 3; i < b.size(); i += 5) b[i] = NAN;
  }
  std::vector<float> out(size_t(n), NAN);
  o2c_binary(a.data(), b.data(), out.data(), &p);
  std::vector<double> want(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    int64_t r = i, ia = 0, ib = 0;
    for (int d = p.rank - 1; d >= 0; --d) {
      ia += (r % shape[d]) * p.a_stride[d], ib += (r % shape[d]) * p.b_stride[d];
      r /= shape[d];
    }
    double x = a[ia], y = b[ib], z = 0;
    switch (op) {
      case DASH_BIN_ADD: z = x + y; break;
      case DASH_BIN_SUB: z = x - y; break;
      case DASH_BIN_MUL: z = x * y; break;
      case DASH_BIN_DIV: z = x / y; break;
      case DASH_BIN_MAX: z = std::isnan(x) || std::isnan(y) ? NAN : std::max(x, y); break;  // NaN propagates
      case DASH_BIN_MIN: z = std::isnan(x) || std::isnan(y) ? NAN : std::min(x, y); break;
      case DASH_BIN_PRELU: z = x >= 0 ? x : x * y; break;
    }
    want[i] = std::isnan(z) ? z : act_ref(z, act);
  }
  std::string name = "binary op" + std::to_string(op) + " [";
  for (size_t d = 0; d < ashape.size(); ++d) name += (d ? "," : "") + std::to_string(ashape[d]);
  name += "] by [";
  for (size_t d = 0; d < bshape.size(); ++d) name += (d ? "," : "") + std::to_string(bshape[d]);
  name += std::string("] ") + act_name(act.op) + (nan ? " nan" : "");
  expect(name, out, want, {}, 2e-6, 1e-6, exact_op(act.op));
}

void binary_case(int op, std::vector<int64_t> shape, std::vector<int64_t> bshape, dash_act_t act) {
  binary_case2(op, shape, bshape, act);
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
  expect("unary op" + std::to_string(op) + " n" + std::to_string(n), out, want, {}, rtol, 1e-6, exact_op(op));
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
         out, want, {}, 1e-5, 1e-6, false);
}


// ---------------------------------------------------------------------------------------- NEON TWINS
// The kernel families with hand-written NEON paths (conv_direct, conv_lanes, conv_depthwise, pool,
// eltwise binary rows, the exp/sigmoid/tanh family of unary_array), run with the cases of the x86
// ctypes tests, so that the aarch64 build passes the same kernel tests as the x86 one:
//   mirror_depthwise  <- tests/kernels/test_depthwise.py  CASES (test_by_channel_2d, both bias
//                        settings), test_by_channel_activations' activations
//   mirror_conv       <- tests/kernels/test_kernel_conv.py CONV2D_CASES (test_conv2d, both bias
//                        settings; packed too: the lanes path), test_conv_activations
//   mirror_pool       <- tests/kernels/test_kernel_pool.py CASES (test_maxpool, test_avgpool with
//                        count_include_pad 0/1), FAST_SHAPES (test_pool2x2_fast_path, NaN and -inf
//                        for max), TILED_RUNS (test_tiled_pools), SMALL_S1 (test_pool_stride1_small_maps)
//   mirror_binary     <- tests/kernels/test_kernel_eltwise.py PATTERNS (test_binary_broadcast),
//                        ALL_ACTS (test_binary_fused_activation), test_binary_nan_propagation_max_min
//   mirror_unary      <- test_kernel_eltwise.py UNARY_OPS for the vectorized ops (test_unary_ops:
//                        1003 values + [-100, -30, 30, 80], rtol 1e-6, atol 1e-7) and
//                        test_unary_special_values (inf, NaN, signed zeros, 88.8, -104, ...)
// Widths around the vector lengths (4, 8, 16, 32 and tails), paddings wider than the reach, strides
// 1-3, dilations and channel multipliers are in those lists.

ConvSpec conv2d(int64_t N, int64_t Cin, int64_t Cout, int64_t G, std::array<int64_t, 2> in, std::array<int64_t, 2> k,
                std::array<int64_t, 2> st, std::array<int64_t, 2> dl, std::array<int64_t, 2> pb,
                std::array<int64_t, 2> pe, int bias, int act) {
  ConvSpec c{2, N, Cin, Cout, G, {in[0], in[1], 1}, {k[0], k[1], 1}, {st[0], st[1], 1}, {dl[0], dl[1], 1},
             {pb[0], pb[1], 0}, bias, act};
  c.pe[0] = pe[0], c.pe[1] = pe[1], c.pe[2] = 0;
  return c;
}

void mirror_depthwise() {
  struct C { int64_t N, Cin, Cout, G; std::array<int64_t, 2> in, k, s, d, pb, pe; };
  const C cases[] = {
      {1, 5, 5, 5, {13, 45}, {3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}}, {1, 3, 3, 3, {17, 66}, {3, 3}, {2, 2}, {1, 1}, {1, 1}, {1, 1}},
      {2, 4, 4, 4, {11, 29}, {3, 3}, {2, 2}, {1, 1}, {0, 0}, {1, 1}}, {1, 6, 6, 6, {20, 37}, {5, 5}, {1, 1}, {1, 1}, {2, 2}, {2, 2}},
      {1, 6, 6, 6, {21, 40}, {5, 5}, {2, 2}, {1, 1}, {2, 2}, {2, 2}}, {1, 2, 2, 2, {14, 19}, {3, 3}, {3, 3}, {1, 1}, {1, 1}, {1, 1}},
      {1, 3, 3, 3, {16, 33}, {3, 3}, {1, 2}, {2, 3}, {2, 3}, {2, 3}}, {1, 3, 3, 3, {9, 9}, {3, 3}, {2, 2}, {2, 2}, {4, 5}, {5, 4}},
      {1, 2, 2, 2, {5, 4}, {3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}},   {1, 3, 3, 3, {12, 70}, {1, 1}, {2, 2}, {1, 1}, {0, 0}, {0, 0}},
      {1, 2, 2, 2, {15, 50}, {7, 7}, {2, 2}, {1, 1}, {3, 3}, {3, 3}}, {1, 2, 2, 2, {12, 90}, {3, 9}, {1, 2}, {1, 1}, {1, 4}, {1, 4}},
      {1, 4, 8, 4, {13, 21}, {3, 3}, {2, 2}, {1, 1}, {1, 1}, {1, 1}}, {1, 3, 9, 3, {10, 35}, {5, 5}, {1, 1}, {1, 1}, {2, 2}, {2, 2}},
      {1, 8, 8, 4, {12, 19}, {3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}}, {2, 12, 6, 3, {9, 41}, {3, 3}, {2, 2}, {1, 1}, {1, 1}, {0, 0}},
      {1, 6, 9, 3, {11, 17}, {5, 5}, {2, 1}, {2, 1}, {3, 2}, {1, 2}},
  };
  for (const auto &c : cases)
    for (int bias : {1, 0}) conv_case(conv2d(c.N, c.Cin, c.Cout, c.G, c.in, c.k, c.s, c.d, c.pb, c.pe, bias, DASH_ACT_NONE), false);
  for (int act : {DASH_ACT_RELU, DASH_ACT_LEAKY_RELU, DASH_ACT_CLIP, DASH_ACT_SIGMOID, DASH_ACT_TANH, DASH_ACT_HARD_SWISH})
    for (int64_t Cout : {6, 12})  // depthwise; multiplier 2
      conv_case(conv2d(1, 6, Cout, 6, {9, 21}, {3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, 1, act), false);
}

void mirror_conv() {
  struct C { int64_t N, Cin, Cout, G; std::array<int64_t, 2> in, k, s, d, pb, pe; };
  const C cases[] = {
      {1, 3, 8, 1, {9, 11}, {3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}},     {2, 4, 6, 1, {10, 7}, {3, 2}, {2, 1}, {1, 1}, {0, 1}, {2, 0}},
      {1, 5, 7, 1, {12, 12}, {3, 3}, {1, 1}, {2, 2}, {2, 2}, {2, 2}},    {1, 8, 8, 2, {9, 9}, {3, 3}, {2, 2}, {1, 1}, {1, 1}, {1, 1}},
      {1, 12, 6, 3, {7, 8}, {1, 3}, {1, 2}, {1, 1}, {0, 1}, {0, 1}},     {1, 6, 6, 6, {11, 13}, {3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}},
      {2, 5, 5, 5, {12, 9}, {5, 5}, {2, 2}, {1, 1}, {2, 2}, {2, 1}},     {1, 4, 4, 4, {15, 15}, {3, 3}, {1, 2}, {2, 3}, {2, 3}, {1, 0}},
      {1, 3, 3, 3, {9, 77}, {3, 3}, {1, 1}, {1, 2}, {1, 2}, {1, 2}},     {1, 3, 3, 3, {9, 64}, {5, 5}, {2, 1}, {1, 1}, {2, 2}, {2, 2}},
      {1, 4, 8, 4, {9, 9}, {3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}},      {1, 16, 24, 1, {10, 10}, {1, 1}, {1, 1}, {1, 1}, {0, 0}, {0, 0}},
      {1, 16, 24, 1, {10, 10}, {1, 1}, {2, 2}, {1, 1}, {0, 0}, {0, 0}},  {1, 8, 9, 1, {50, 50}, {1, 1}, {1, 1}, {1, 1}, {0, 0}, {0, 0}},
      {1, 64, 20, 1, {12, 14}, {3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}},  {1, 3, 16, 1, {48, 48}, {3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}},
      {1, 3, 7, 1, {20, 17}, {7, 7}, {2, 2}, {1, 1}, {3, 3}, {3, 3}},    {1, 2, 3, 1, {4, 4}, {5, 5}, {1, 1}, {1, 1}, {3, 3}, {3, 3}},
      {1, 4, 4, 1, {6, 6}, {3, 3}, {3, 3}, {1, 1}, {0, 0}, {0, 0}},      {1, 4, 150, 1, {6, 7}, {3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}},
      {1, 4, 150, 1, {9, 9}, {3, 3}, {2, 2}, {1, 1}, {1, 1}, {1, 1}},    {2, 6, 9, 3, {8, 8}, {3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}},
      {1, 32, 8, 1, {32, 32}, {1, 1}, {1, 1}, {1, 1}, {0, 0}, {0, 0}},   {1, 3, 5, 1, {9, 10}, {2, 4}, {1, 1}, {3, 1}, {0, 2}, {4, 1}},
      {1, 8, 96, 1, {14, 14}, {3, 3}, {1, 1}, {6, 6}, {6, 6}, {6, 6}},   {1, 8, 96, 1, {15, 15}, {3, 3}, {2, 2}, {5, 5}, {5, 5}, {5, 5}},
      {2, 4, 200, 2, {5, 5}, {3, 3}, {1, 1}, {4, 4}, {4, 4}, {4, 4}},    {1, 3, 16, 1, {40, 70}, {3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}},
  };
  for (const auto &c : cases)
    for (int bias : {1, 0}) {
      const ConvSpec s = conv2d(c.N, c.Cin, c.Cout, c.G, c.in, c.k, c.s, c.d, c.pb, c.pe, bias, DASH_ACT_NONE);
      conv_case(s, false);
      if (bias) conv_case(s, true);  // weights packed once: the lanes path where it pays
    }
  for (int act : {DASH_ACT_RELU, DASH_ACT_LEAKY_RELU, DASH_ACT_CLIP, DASH_ACT_SIGMOID, DASH_ACT_TANH, DASH_ACT_HARD_SWISH})
    for (int64_t G : {1, 6}) conv_case(conv2d(1, 6, 12, G, {9, 10}, {3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, 1, act), true);
}

// pooling of rank 1-3 (shape = N, C, spatial...), ONNX's output size (ceil_mode: a last window
// starting in the end padding is dropped); NaN ignored by max, an empty window -inf (max) or 0
void pool_nd_case(int kind, std::vector<int64_t> shape, std::vector<int64_t> k, std::vector<int64_t> s,
                  std::vector<int64_t> d, std::vector<int64_t> pb, std::vector<int64_t> pe, int ceil, int cip,
                  bool nan_inf = false) {
  const int r = int(k.size());
  if (d.empty()) d.assign(r, 1);
  if (pb.empty()) pb.assign(r, 0);
  if (pe.empty()) pe.assign(r, 0);
  dash_pool_params_t p{};
  p.kind = kind, p.spatial_rank = r, p.count_include_pad = cip, p.p = 2, p.channels = shape[0] * shape[1];
  int64_t in3[3] = {1, 1, 1}, out3[3] = {1, 1, 1}, k3[3] = {1, 1, 1}, s3[3] = {1, 1, 1}, d3[3] = {1, 1, 1},
          pb3[3] = {0, 0, 0}, pe3[3] = {0, 0, 0};
  for (int a = 0; a < r; ++a) {
    const int64_t in = shape[2 + a], span = (k[a] - 1) * d[a] + 1, num = in + pb[a] + pe[a] - span;
    int64_t out = (ceil ? (num + s[a] - 1) / s[a] : num / s[a]) + 1;
    if (ceil && (out - 1) * s[a] >= in + pb[a]) --out;
    p.in_size[a] = in, p.out_size[a] = out, p.kernel[a] = k[a], p.stride[a] = s[a], p.dilation[a] = d[a];
    p.pad_begin[a] = pb[a], p.pad_end[a] = pe[a];
    const int b = 3 - r + a;
    in3[b] = in, out3[b] = out, k3[b] = k[a], s3[b] = s[a], d3[b] = d[a], pb3[b] = pb[a], pe3[b] = pe[a];
  }
  for (int a = r; a < DASH_MAX_SPATIAL; ++a) p.in_size[a] = p.out_size[a] = p.kernel[a] = p.stride[a] = p.dilation[a] = 1;
  const int64_t in_sp = in3[0] * in3[1] * in3[2], out_sp = out3[0] * out3[1] * out3[2];
  auto x = rand_vec(size_t(p.channels * in_sp));
  if (nan_inf) {
    for (size_t i = 0; i < x.size(); i += 13) x[i] = NAN;
    for (size_t i = 5; i < x.size(); i += 29) x[i] = -INFINITY;
  }
  std::vector<float> out(size_t(p.channels * out_sp), NAN);
  o2c_pool(x.data(), out.data(), &p);
  std::vector<double> want(out.size());
  for (int64_t c = 0; c < p.channels; ++c)
    for (int64_t q = 0; q < out_sp; ++q) {
      const int64_t o[3] = {q / (out3[1] * out3[2]), q / out3[2] % out3[1], q % out3[2]};
      double m = -INFINITY, sum = 0;
      int64_t n = 0, div = 1;
      for (int a = 0; a < 3; ++a) {  // taps inside the padded input, per axis
        int64_t cnt = 0;
        for (int64_t t = 0; t < k3[a]; ++t) {
          const int64_t u = o[a] * s3[a] - pb3[a] + t * d3[a];
          cnt += u >= -pb3[a] && u < in3[a] + pe3[a];
        }
        div *= cnt;
      }
      for (int64_t t0 = 0; t0 < k3[0]; ++t0)
        for (int64_t t1 = 0; t1 < k3[1]; ++t1)
          for (int64_t t2 = 0; t2 < k3[2]; ++t2) {
            const int64_t u0 = o[0] * s3[0] - pb3[0] + t0 * d3[0], u1 = o[1] * s3[1] - pb3[1] + t1 * d3[1],
                          u2 = o[2] * s3[2] - pb3[2] + t2 * d3[2];
            if (u0 < 0 || u0 >= in3[0] || u1 < 0 || u1 >= in3[1] || u2 < 0 || u2 >= in3[2]) continue;
            const double v = x[c * in_sp + (u0 * in3[1] + u1) * in3[2] + u2];
            ++n, sum += v;
            if (!std::isnan(v)) m = std::max(m, v);
          }
      want[c * out_sp + q] = kind == DASH_POOL_MAX ? m : (cip ? (div ? sum / double(div) : 0) : (n ? sum / double(n) : 0));
    }
  std::string name = "pool" + std::to_string(kind) + " [";
  for (size_t a = 0; a < shape.size(); ++a) name += (a ? "," : "") + std::to_string(shape[a]);
  name += "] k" + std::to_string(k[0]) + " s" + std::to_string(s[0]) + " ceil" + std::to_string(ceil) + " incl" +
          std::to_string(cip) + (nan_inf ? " nan" : "");
  expect(name, out, want, {}, 2e-6, 1e-6);
}

void mirror_pool() {
  typedef std::vector<int64_t> V;
  struct C { V shape, k, s, d, pb, pe; int ceil; };
  const C cases[] = {
      {{1, 2, 8, 8}, {2, 2}, {2, 2}, {}, {}, {}, 0},           {{2, 3, 9, 10}, {3, 3}, {2, 2}, {}, {1, 1}, {1, 1}, 0},
      {{1, 2, 9, 10}, {3, 3}, {2, 2}, {}, {1, 0}, {0, 1}, 1},  {{1, 2, 10, 10}, {3, 3}, {3, 3}, {}, {0, 0}, {0, 0}, 1},
      {{1, 2, 11, 7}, {3, 2}, {2, 3}, {}, {1, 1}, {1, 1}, 1},  {{1, 2, 7, 7}, {7, 7}, {1, 1}, {}, {}, {}, 0},
      {{1, 3, 6, 6}, {2, 2}, {1, 1}, {}, {1, 1}, {1, 1}, 0},   {{1, 2, 12, 12}, {3, 3}, {2, 2}, {2, 2}, {1, 1}, {1, 1}, 0},
      {{1, 2, 13, 11}, {2, 3}, {2, 1}, {3, 2}, {1, 1}, {0, 2}, 1}, {{2, 2, 20}, {3}, {2}, {}, {1}, {1}, 1},
      {{1, 2, 5, 6, 7}, {2, 3, 2}, {2, 1, 2}, {}, {1, 1, 0}, {0, 1, 1}, 1},
  };
  for (const auto &c : cases) {
    pool_nd_case(DASH_POOL_MAX, c.shape, c.k, c.s, c.d, c.pb, c.pe, c.ceil, 0);
    for (int cip : {0, 1}) pool_nd_case(DASH_POOL_AVG, c.shape, c.k, c.s, c.d, c.pb, c.pe, c.ceil, cip);
  }
  const V fast[] = {{1, 3, 2, 2}, {1, 2, 8, 8}, {1, 4, 6, 10}, {1, 3, 16, 16}, {2, 3, 17, 33}, {1, 2, 9, 50},
                    {1, 5, 32, 31}, {1, 1, 4, 40}};
  for (const auto &sh : fast) {
    pool_nd_case(DASH_POOL_MAX, sh, {2, 2}, {2, 2}, {}, {}, {}, 0, 0, true);
    pool_nd_case(DASH_POOL_AVG, sh, {2, 2}, {2, 2}, {}, {}, {}, 0, 0);
  }
  const std::pair<V, V> tiled[] = {{{2, 5, 37}, {4}}, {{1, 3, 64}, {4}}, {{1, 2, 130}, {2}}, {{1, 3, 9, 20}, {1, 2}},
                                   {{1, 3, 5, 70}, {1, 4}}, {{1, 4, 1, 45}, {1, 4}}};
  for (const auto &t : tiled) {
    pool_nd_case(DASH_POOL_MAX, t.first, t.second, t.second, {}, {}, {}, 0, 0, true);
    if (t.second.back() != 4) pool_nd_case(DASH_POOL_AVG, t.first, t.second, t.second, {}, {}, {}, 0, 0);
  }
  struct S1 { V shape, k, d; };
  const S1 small[] = {{{1, 256, 5, 5}, {2, 2}, {1, 1}}, {{2, 37, 6, 7}, {3, 2}, {1, 2}}, {{1, 19, 9, 4}, {2, 3}, {2, 1}},
                      {{3, 11, 12}, {3}, {1}}, {{1, 7, 3, 5, 6}, {1, 2, 3}, {1, 1, 2}}, {{1, 5, 4, 17}, {2, 9}, {1, 1}},
                      {{1, 1200, 11, 11}, {2, 2}, {1, 1}}};
  for (const auto &c : small) {
    const V ones(c.k.size(), 1);
    pool_nd_case(DASH_POOL_MAX, c.shape, c.k, ones, c.d, {}, {}, 0, 0, true);
    pool_nd_case(DASH_POOL_AVG, c.shape, c.k, ones, c.d, {}, {}, 0, 0);
  }
}

void mirror_binary() {
  typedef std::vector<int64_t> V;
  const std::pair<V, V> patterns[] = {  // PATTERNS, leading 1s written out
      {{2, 3, 4, 5}, {2, 3, 4, 5}}, {{2, 3, 4, 5}, {1, 1, 1, 1}}, {{1, 1}, {3, 7}}, {{4, 6, 9}, {1, 1, 9}},
      {{2, 8, 5, 5}, {1, 8, 1, 1}}, {{2, 1, 4}, {1, 3, 1}}, {{3, 1, 5, 1, 2}, {1, 4, 1, 6, 2}}, {{1, 1}, {5, 1}},
      {{7, 1}, {7, 33}}, {{2, 3, 1, 1, 1, 2, 1, 3}, {1, 3, 2, 1, 2, 1, 2, 3}}, {{0, 3}, {1, 3}}};
  for (int op : {DASH_BIN_ADD, DASH_BIN_SUB, DASH_BIN_MUL, DASH_BIN_DIV, DASH_BIN_MAX, DASH_BIN_MIN, DASH_BIN_PRELU})
    for (const auto &pt : patterns) binary_case2(op, pt.first, pt.second, {DASH_ACT_NONE, 0, 0});
  const dash_act_t acts[] = {{DASH_ACT_NONE, 0, 0},        {DASH_ACT_RELU, 0, 0},         {DASH_ACT_LEAKY_RELU, 0.1f, 0},
                             {DASH_ACT_CLIP, -0.5f, 0.75f}, {DASH_ACT_SIGMOID, 0, 0},      {DASH_ACT_TANH, 0, 0},
                             {DASH_ACT_HARD_SIGMOID, 0.2f, 0.5f}, {DASH_ACT_HARD_SWISH, 0, 0}, {DASH_ACT_ELU, 1.3f, 0}};
  for (const auto &a : acts) {
    binary_case2(DASH_BIN_ADD, {2, 8, 5, 5}, {1, 8, 1, 1}, a);
    binary_case2(DASH_BIN_MUL, {3, 37}, {3, 37}, a);
  }
  for (int op : {DASH_BIN_MAX, DASH_BIN_MIN})
    for (const auto &pt : {std::pair<V, V>{{3, 41}, {3, 41}}, {{3, 41}, {1, 1}}, {{1, 1}, {3, 41}}})
      binary_case2(op, pt.first, pt.second, {DASH_ACT_NONE, 0, 0}, true);
  binary_case2(DASH_BIN_ADD, {3, 41}, {3, 41}, {DASH_ACT_RELU, 0, 0}, true);
}

void unary_values_case(int op, float alpha, const std::vector<float> &x, double rtol, double atol, bool round_ref,
                       const std::string &what) {
  dash_unary_params_t p{};
  p.n = int64_t(x.size()), p.op = {op, alpha, 0.f};
  std::vector<float> out(x.size(), NAN);
  o2c_unary(x.data(), out.data(), &p);
  std::vector<double> want(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    want[i] = act_ref(x[i], p.op);
    if (round_ref) want[i] = double(float(want[i]));  // float32 rounding: exp(88.8) is inf
  }
  expect("unary op" + std::to_string(op) + " " + what, out, want, {}, rtol, atol, exact_op(op));
}

void mirror_unary() {
  const std::pair<int, float> ops[] = {{DASH_UNARY_EXP, 0.f}, {DASH_ACT_SIGMOID, 0.f}, {DASH_ACT_TANH, 0.f},
                                       {DASH_ACT_ELU, 1.3f},   {DASH_ACT_SWISH, 1.f},   {DASH_ACT_SWISH, 1.7f},
                                       {DASH_ACT_MISH, 0.f},   {DASH_ACT_GELU_TANH, 0.f}};
  for (const auto &o : ops) {
    for (int64_t n : {1003, 4, 13}) {  // 8-lane steps, one 4-lane step, a 1-3 value tail
      auto x = rand_vec(size_t(n), -6.f, 6.f);
      if (n == 1003)
        for (float v : {-100.f, -30.f, 30.f, 80.f}) x.push_back(v);
      unary_values_case(o.first, o.second, x, 1e-6, 1e-7, true, "n" + std::to_string(x.size()));
    }
    const std::vector<float> special = {INFINITY, -INFINITY, NAN, 0.0f, -0.0f, 1e-30f, -1e-30f, 1e-8f, -1e-8f,
                                        0.29999f, 0.30001f, -0.3f, 88.0f, 88.8f, -87.0f, -88.0f, -104.0f, 9.0f,
                                        -9.0f, 20.0f, -20.0f, 1e30f, -1e30f, 0.5f};
    if (o.first == DASH_UNARY_EXP || o.first == DASH_ACT_SIGMOID || o.first == DASH_ACT_TANH || o.first == DASH_ACT_ELU)
      unary_values_case(o.first, o.first == DASH_ACT_ELU ? 0.7f : o.second, special, 2e-6,
                        o.first == DASH_ACT_ELU ? 1e-7 : 1e-30, true, "special");
  }
}

}  // namespace

int main(int argc, char **argv) {
  unsigned seed = 1;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--verbose")) {
      verbose = true;
    } else if (!std::strcmp(argv[i], "--dump") && i + 1 < argc) {
      dump = std::fopen(argv[++i], "wb");
      if (!dump) {
        std::fprintf(stderr, "error: kernel_check: cannot write '%s'\n", argv[i]);
        return 2;
      }
    } else if (!std::strcmp(argv[i], "--seed") && i + 1 < argc) {
      seed = unsigned(std::strtoul(argv[++i], nullptr, 10));
    } else {
      std::fprintf(stderr, "error: kernel_check: unknown argument '%s' (usage: kernel_check [--seed N] [--verbose] [--dump FILE])\n",
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
  mirror_depthwise();
  mirror_conv();
  mirror_pool();
  mirror_binary();
  mirror_unary();
  if (dump && std::fclose(dump) != 0) {
    std::fprintf(stderr, "error: kernel_check: writing the dump failed\n");
    return 2;
  }
  std::printf("kernel_check: %d cases, %d failed\n", n_cases, n_failed);
  return n_failed ? 1 : 0;
}

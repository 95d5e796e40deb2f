// Small kernel benchmark: GFLOP/s of o2c_gemm and o2c_conv; microseconds of the small-map kernels
// and the 1 -> 2 thread speed-up of small layers (not pretty).
// build (from the repository root):
//   g++ -O3 -march=native -std=c++17 -Ikernels/include kernels/bench/bench.cpp kernels/src/cpu/*.cpp -o /tmp/o2c_bench
// or cmake -DO2C_BUILD_BENCH=ON. Usage: o2c_bench [gemm|conv|small]. See also compare_ort.py (vs onnxruntime).
// `o2c_bench paths` times each convolution path (direct, lanes, implicit im2col) on the shapes that
// conv_lanes.cpp's lanes_pays was measured on (or `o2c_bench paths C H W O k [s]`: one shape), weights packed as a model loads them; it needs the
// kernel sources built with -DO2C_BENCH_FORCE_PATH (the O2C_PATH override) added to the line above.
#include "o2c_kernels.h"
#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

static double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
static void randv(std::vector<float> &v) {
  std::mt19937 g(42);
  std::uniform_real_distribution<float> d(-1, 1);
  for (auto &x : v) x = d(g);
}
template <class F>
static double best_time(F f, double min_total = 0.3) {
  f();
  double best = 1e30, total = 0;
  int it = 0;
  while (total < min_total || it < 3) {
    double t = now();
    f();
    double dt = now() - t;
    best = std::min(best, dt);
    total += dt;
    ++it;
  }
  return best;
}

static void bench_gemm(int64_t M, int64_t N, int64_t K, int ta, int tb) {
  std::vector<float> A(M * K), B(K * N), C(M * N), bias(N);
  randv(A); randv(B); randv(bias);
  dash_gemm_params_t p{1, M, N, K, 0, 0, 0, ta, tb, 1.0f, 1.0f, 2, {DASH_ACT_RELU, 0, 0}};
  double t = best_time([&] { o2c_gemm(A.data(), B.data(), bias.data(), C.data(), &p); });
  std::printf("gemm M=%lld N=%lld K=%lld ta=%d tb=%d: %.3f ms  %.1f GFLOP/s\n", (long long)M, (long long)N,
              (long long)K, ta, tb, t * 1e3, 2.0 * M * N * K / t / 1e9);
}

static void bench_conv(int64_t C, int64_t H, int64_t W, int64_t O, int64_t k, int64_t s, int64_t groups) {
  int64_t pad = k / 2;
  int64_t OH = (H + 2 * pad - k) / s + 1, OW = (W + 2 * pad - k) / s + 1;
  std::vector<float> in(C * H * W), w(O * (C / groups) * k * k), b(O), out(O * OH * OW);
  randv(in); randv(w); randv(b);
  dash_conv_params_t p{};
  p.spatial_rank = 2; p.has_bias = 1; p.batch = 1; p.in_channels = C; p.out_channels = O; p.groups = groups;
  p.in_size[0] = H; p.in_size[1] = W; p.out_size[0] = OH; p.out_size[1] = OW;
  p.kernel[0] = p.kernel[1] = k; p.stride[0] = p.stride[1] = s; p.dilation[0] = p.dilation[1] = 1;
  p.pad_begin[0] = p.pad_begin[1] = pad; p.act = {DASH_ACT_RELU, 0, 0};
  double t = best_time([&] { o2c_conv(in.data(), w.data(), b.data(), out.data(), &p); });
  double fl = 2.0 * O * OH * OW * (C / groups) * k * k;
  std::printf("conv C=%lld %lldx%lld O=%lld k=%lld s=%lld g=%lld: %.3f ms  %.1f GFLOP/s\n", (long long)C,
              (long long)H, (long long)W, (long long)O, (long long)k, (long long)s, (long long)groups, t * 1e3,
              fl / t / 1e9);
}

/* median microseconds of f over many calls (small kernels: the median of back-to-back calls) */
template <class F>
static double median_us(F f, int n = 4000) {
  std::vector<double> t(n);
  for (int i = 0; i < 10; ++i) f();
  for (auto &v : t) {
    double a = now();
    f();
    v = (now() - a) * 1e6;
  }
  std::nth_element(t.begin(), t.begin() + n / 2, t.end());
  return t[n / 2];
}

static dash_pool_params_t pool2d(int kind, int64_t C, int64_t H, int64_t W, int64_t k, int64_t s) {
  dash_pool_params_t p{};
  p.kind = kind; p.spatial_rank = 2; p.channels = C;
  p.in_size[0] = H; p.in_size[1] = W; p.out_size[0] = (H - k) / s + 1; p.out_size[1] = (W - k) / s + 1;
  p.kernel[0] = p.kernel[1] = k; p.stride[0] = p.stride[1] = s; p.dilation[0] = p.dilation[1] = 1;
  return p;
}

/* the small-map kernels of issue 6 (tiny_yolo, m5, resnet8 sizes), and small layers on 1 and 2
 * threads (each thread count in a block of back-to-back calls, as a model runs them) */
static void bench_small() {
  std::vector<float> a(1 << 20), b(1 << 20), c(1 << 20);
  randv(a); randv(b);
  auto pool = [&](const char *what, dash_pool_params_t p) {
    std::printf("%-44s %8.2f us\n", what, median_us([&] { o2c_pool(a.data(), c.data(), &p); }));
  };
  pool("max pool 2x2/2, 128x8x8", pool2d(DASH_POOL_MAX, 128, 8, 8, 2, 2));
  pool("max pool 2x2/2, 32x32x32", pool2d(DASH_POOL_MAX, 32, 32, 32, 2, 2));
  pool("max pool 2x2/1, 256x5x5", pool2d(DASH_POOL_MAX, 256, 5, 5, 2, 1));
  dash_pool_params_t p1{};
  p1.kind = DASH_POOL_MAX; p1.spatial_rank = 1; p1.channels = 128; p1.in_size[0] = 1981; p1.out_size[0] = 495;
  p1.kernel[0] = p1.stride[0] = 4; p1.dilation[0] = 1;
  pool("max pool 4/4 (1-D), 128x1981", p1);
  o2c_pad_params_t pp{};
  pp.rank = 4; pp.mode = O2C_PAD_CONSTANT;
  const int64_t pin[4] = {1, 256, 4, 4}, pout[4] = {1, 256, 5, 5};
  for (int d = 0; d < 8; ++d) pp.in_shape[d] = pp.out_shape[d] = 1;
  for (int d = 0; d < 4; ++d) { pp.in_shape[d] = pin[d]; pp.out_shape[d] = pout[d]; }
  std::printf("%-44s %8.2f us\n", "constant pad 256x4x4 -> 256x5x5", median_us([&] { o2c_pad(a.data(), c.data(), &pp); }));
  o2c_resize_params_t rp{};
  rp.rank = 4; rp.taps = 1;
  const int64_t rin[4] = {1, 64, 4, 4}, rout[4] = {1, 64, 8, 8};
  for (int d = 0; d < 8; ++d) rp.in_shape[d] = rp.out_shape[d] = 1;
  for (int d = 0; d < 4; ++d) { rp.in_shape[d] = rin[d]; rp.out_shape[d] = rout[d]; }
  std::vector<int64_t> idx;
  std::vector<float> wt;
  for (int d = 0; d < 4; ++d)
    for (int64_t o = 0; o < rout[d]; ++o) { idx.push_back(o * rin[d] / rout[d]); wt.push_back(1.0f); }
  std::printf("%-44s %8.2f us\n", "nearest resize 64x4x4 -> 64x8x8",
              median_us([&] { o2c_resize(a.data(), c.data(), idx.data(), wt.data(), &rp); }));

  /* 1 -> 2 threads */
  dash_binary_params_t bp{};
  bp.op = DASH_BIN_ADD; bp.rank = 4; bp.act = {DASH_ACT_RELU, 0, 0};
  const int64_t bs[4] = {1, 32, 16, 16};
  for (int d = 3, st = 1; d >= 0; st *= bs[d], --d) { bp.out_shape[d] = bs[d]; bp.a_stride[d] = bp.b_stride[d] = st; }
  auto threads = [&](const char *what, auto f) {
    o2c_set_threads(1);
    const double one = median_us(f);
    o2c_set_threads(2);
    const double two = median_us(f);
    o2c_set_threads(1);
    std::printf("%-44s %8.2f us 1 thr %8.2f us 2 thr  speed-up %.2f\n", what, one, two, one / two);
  };
  threads("add+relu 32x16x16 (in place)", [&] { o2c_binary(c.data(), b.data(), c.data(), &bp); });
  auto conv = [&](const char *what, int64_t C, int64_t H, int64_t O, int64_t k, int64_t s) {
    const int64_t pad = k / 2, OH = (H + 2 * pad - k) / s + 1;
    dash_conv_params_t p{};
    p.spatial_rank = 2; p.has_bias = 1; p.batch = 1; p.in_channels = C; p.out_channels = O; p.groups = 1;
    p.in_size[0] = p.in_size[1] = H; p.out_size[0] = p.out_size[1] = OH;
    p.kernel[0] = p.kernel[1] = k; p.stride[0] = p.stride[1] = s; p.dilation[0] = p.dilation[1] = 1;
    p.pad_begin[0] = p.pad_begin[1] = pad; p.act = {DASH_ACT_RELU, 0, 0};
    std::vector<uint8_t> packed(o2c_conv_packed_bytes(&p) + 64);
    void *pk = packed.data() + (64 - reinterpret_cast<uintptr_t>(packed.data()) % 64) % 64;
    if (o2c_conv_packed_bytes(&p) > 0) {
      o2c_conv_pack(b.data(), &p, pk);
      p.packed = pk;
    }
    threads(what, [&] { o2c_conv(a.data(), b.data(), b.data(), c.data(), &p); });
  };
  conv("conv 3->16 3x3 on 32x32 (resnet8 stem)", 3, 32, 16, 3, 1);
  conv("conv 16->16 3x3 on 32x32", 16, 32, 16, 3, 1);
  conv("conv 32->32 3x3 on 32x32 (vgg)", 32, 32, 32, 3, 1);
  conv("conv 64->64 3x3 on 16x16 (lanes, by rows)", 64, 16, 64, 3, 1);
  conv("conv 128->128 3x3 on 8x8 (lanes, by channels)", 128, 8, 128, 3, 1);
}

/* one convolution (3x3 or 1x1, "same" padding, + bias + ReLU) on each path, packed weights */
static void bench_paths(int argc, char **argv) {
  std::vector<std::array<int64_t, 6>> shapes = {  // C, H, W, O, k, s
      {256, 4, 4, 512, 3, 1},   {192, 8, 8, 128, 3, 1},   {128, 8, 8, 128, 3, 1},  {64, 16, 16, 64, 3, 1},
      {512, 7, 7, 512, 3, 1},   {512, 7, 7, 2048, 1, 1},  {2048, 7, 7, 512, 1, 1}, {1024, 7, 7, 352, 1, 1},
      {512, 13, 13, 1000, 1, 1}, {1024, 14, 14, 256, 1, 1}, {256, 14, 14, 256, 3, 1}, {96, 20, 20, 96, 1, 1}};
  if (argc >= 6) { /* o2c_bench paths C H W O k [s]: one shape of one's own */
    std::array<int64_t, 6> sh{};
    for (int i = 0; i < 5; ++i) sh[static_cast<size_t>(i)] = std::atoll(argv[i + 1]);
    sh[5] = argc >= 7 ? std::atoll(argv[6]) : 1;
    shapes.assign(1, sh);
  }
  std::printf("%-30s %12s %12s %12s %12s  (GFLOP/s)\n", "conv", "chosen", "direct", "lanes", "im2col");
  for (const auto &sh : shapes) {
    const int64_t C = sh[0], H = sh[1], W = sh[2], O = sh[3], k = sh[4], s = sh[5], pad = k / 2;
    const int64_t OH = (H + 2 * pad - k) / s + 1, OW = (W + 2 * pad - k) / s + 1;
    std::vector<float> in(C * H * W), w(O * C * k * k), b(O), out(O * OH * OW);
    randv(in); randv(w); randv(b);
    char label[64];
    std::snprintf(label, sizeof label, "%lld->%lld %lldx%lld on %lldx%lld", (long long)C, (long long)O, (long long)k,
                  (long long)k, (long long)H, (long long)W);
    std::printf("%-30s", label);
    /* the paths take turns, 7 rounds of a best-of-0.05 s each, and the median round is printed: on a
     * shared machine a path timed in one stretch can land on a slow spell the others miss */
    const char *paths[] = {"", "direct", "lanes", "im2col"};
    std::vector<dash_conv_params_t> ps(4);
    std::vector<std::vector<uint8_t>> packs(4);
    for (int i = 0; i < 4; ++i) {
      if (*paths[i]) setenv("O2C_PATH", paths[i], 1); else unsetenv("O2C_PATH");
      dash_conv_params_t &p = ps[static_cast<size_t>(i)];
      p = dash_conv_params_t{};
      p.spatial_rank = 2; p.has_bias = 1; p.batch = 1; p.in_channels = C; p.out_channels = O; p.groups = 1;
      p.in_size[0] = H; p.in_size[1] = W; p.out_size[0] = OH; p.out_size[1] = OW;
      p.kernel[0] = p.kernel[1] = k; p.stride[0] = p.stride[1] = s; p.dilation[0] = p.dilation[1] = 1;
      p.pad_begin[0] = p.pad_begin[1] = pad; p.act = {DASH_ACT_RELU, 0, 0};
      std::vector<uint8_t> &packed = packs[static_cast<size_t>(i)];
      packed.resize(o2c_conv_packed_bytes(&p) + 64);
      void *pk = packed.data() + (64 - reinterpret_cast<uintptr_t>(packed.data()) % 64) % 64;
      if (o2c_conv_packed_bytes(&p) > 0) {
        o2c_conv_pack(w.data(), &p, pk);
        p.packed = pk;
      }
    }
    std::vector<std::vector<double>> t(4);
    for (int round = 0; round < 7; ++round)
      for (int i = 0; i < 4; ++i) {
        if (*paths[i]) setenv("O2C_PATH", paths[i], 1); else unsetenv("O2C_PATH");
        const dash_conv_params_t *p = &ps[static_cast<size_t>(i)];
        t[static_cast<size_t>(i)].push_back(
            best_time([&] { o2c_conv(in.data(), w.data(), b.data(), out.data(), p); }, 0.05));
      }
    for (auto &v : t) {
      std::nth_element(v.begin(), v.begin() + 3, v.end());
      std::printf(" %12.1f", 2.0 * O * OH * OW * C * k * k / v[3] / 1e9);
    }
    unsetenv("O2C_PATH");
    std::printf("\n");
  }
}

int main(int argc, char **argv) {
  if (argc >= 2 && std::strcmp(argv[1], "paths") == 0) {
    bench_paths(argc - 1, argv + 1);
    return 0;
  }
  if (argc >= 2 && std::strcmp(argv[1], "small") == 0) {
    bench_small();
    return 0;
  }
  bool conv = argc < 2 || std::strcmp(argv[1], "gemm") != 0;
  bool gemm = argc < 2 || std::strcmp(argv[1], "conv") != 0;
  if (gemm) {
    bench_gemm(256, 256, 256, 0, 0);
    bench_gemm(512, 512, 512, 0, 0);
    bench_gemm(1024, 1024, 1024, 0, 0);
    bench_gemm(256, 256, 256, 1, 1);
    bench_gemm(1, 1000, 4096, 0, 1);
    bench_gemm(64, 3136, 576, 0, 0);
    bench_gemm(128, 768, 768, 0, 0);
    bench_gemm(128, 768, 768, 0, 1);
    bench_gemm(384, 768, 768, 0, 0);
  }
  if (conv) {
    bench_conv(64, 56, 56, 64, 3, 1, 1);
    bench_conv(128, 28, 28, 128, 3, 1, 1);
    bench_conv(256, 14, 14, 256, 3, 1, 1);
    bench_conv(512, 7, 7, 512, 3, 1, 1);
    bench_conv(64, 56, 56, 256, 1, 1, 1);
    bench_conv(3, 224, 224, 64, 7, 2, 1);
    bench_conv(128, 56, 56, 128, 3, 1, 128);
    bench_conv(256, 32, 32, 256, 1, 1, 1);
    bench_conv(128, 30, 30, 128, 3, 1, 1);
    bench_conv(128, 32, 32, 128, 3, 1, 1);
    bench_conv(64, 64, 64, 64, 3, 1, 1);
    bench_conv(256, 28, 28, 512, 1, 1, 1);
    bench_conv(256, 16, 16, 256, 1, 1, 1);
    bench_conv(512, 32, 16, 512, 1, 1, 1);
  }
  return 0;
}

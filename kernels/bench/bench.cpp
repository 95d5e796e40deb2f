// Small kernel benchmark: GFLOP/s of o2c_gemm and o2c_conv (not pretty).
// build (from the repository root):
//   g++ -O3 -march=native -std=c++17 -Ikernels/include kernels/bench/bench.cpp kernels/src/cpu/*.cpp -o /tmp/o2c_bench
// or cmake -DO2C_BUILD_BENCH=ON. Usage: o2c_bench [gemm|conv]. See also compare_ort.py (vs onnxruntime).
#include "o2c_kernels.h"
#include <chrono>
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

int main(int argc, char **argv) {
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

// neon_icount.cpp - one kernel class of libo2c_core called `reps` times on fixed inputs, for
// bench/neon_icount.py, which links it statically for aarch64 with the NEON kernels and with the
// same kernel files built -DO2C_NO_NEON and counts the guest instructions qemu-aarch64 executes.
//
//   neon_icount CLASS REPS      (CLASS: one of the names in `kClasses`; prints a checksum)
//
// The inputs are built once before the calls; the driver takes the count difference between two
// REPS values, so set-up, start-up and first-call costs drop out.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "dash_ml.h"
#include "o2c_kernels.h"

namespace {

std::vector<float> fill(size_t n, unsigned seed) {
  std::vector<float> v(n);
  unsigned s = seed * 2654435761u + 1;
  for (auto &x : v) {
    s = s * 1664525u + 1013904223u;
    x = float(int(s >> 9) % 2001 - 1000) / 500.0f;  // [-2, 2]
  }
  return v;
}

struct Buffers {
  std::vector<float> a, b, c, out;
};

dash_conv_params_t conv2d(int64_t cin, int64_t cout, int64_t groups, int64_t H, int64_t W, int64_t k, int64_t s,
                          int64_t pad) {
  dash_conv_params_t p{};
  p.spatial_rank = 2, p.has_bias = 1, p.batch = 1, p.in_channels = cin, p.out_channels = cout, p.groups = groups;
  const int64_t in[2] = {H, W};
  for (int d = 0; d < 2; ++d) {
    p.in_size[d] = in[d], p.kernel[d] = k, p.stride[d] = s, p.dilation[d] = 1, p.pad_begin[d] = pad;
    p.out_size[d] = (in[d] + 2 * pad - k) / s + 1;
  }
  p.in_size[2] = p.out_size[2] = p.kernel[2] = p.stride[2] = p.dilation[2] = 1;
  p.act = {DASH_ACT_RELU, 0, 0};
  return p;
}

dash_pool_params_t pool2d(int kind, int64_t C, int64_t H, int64_t W, int64_t k, int64_t s, int64_t pad) {
  dash_pool_params_t p{};
  p.kind = kind, p.spatial_rank = 2, p.channels = C, p.p = 2;
  const int64_t in[2] = {H, W};
  for (int d = 0; d < 2; ++d) {
    p.in_size[d] = in[d], p.kernel[d] = k, p.stride[d] = s, p.dilation[d] = 1;
    p.pad_begin[d] = p.pad_end[d] = pad;
    p.out_size[d] = (in[d] + 2 * pad - k) / s + 1;
  }
  p.in_size[2] = p.out_size[2] = p.kernel[2] = p.stride[2] = p.dilation[2] = 1;
  return p;
}

double run_conv(const dash_conv_params_t &p0, int reps, bool packed) {
  dash_conv_params_t p = p0;
  int64_t in_n = p.batch * p.in_channels, out_n = p.batch * p.out_channels, k_n = p.out_channels / p.groups;
  for (int d = 0; d < 3; ++d) in_n *= p.in_size[d], out_n *= p.out_size[d], k_n *= p.kernel[d];
  k_n *= p.in_channels;  // (cout / groups) * cin * k_sp = cout * (cin / groups) * k_sp
  auto x = fill(size_t(in_n), 1), w = fill(size_t(k_n), 2), bias = fill(size_t(p.out_channels), 3);
  std::vector<float> y(static_cast<size_t>(out_n));
  void *buf = nullptr;
  if (packed) {
    const size_t bytes = o2c_conv_packed_bytes(&p);
    if (bytes == 0 || posix_memalign(&buf, 64, bytes) != 0) {
      std::fprintf(stderr, "error: neon_icount: no packed form\n");
      std::exit(2);
    }
    o2c_conv_pack(w.data(), &p, buf);
    p.packed = buf;
  }
  for (int r = 0; r < reps; ++r) o2c_conv(x.data(), w.data(), bias.data(), y.data(), &p);
  std::free(buf);
  double s = 0;
  for (float v : y) s += v;
  return s;
}

double run_pool(const dash_pool_params_t &p, int reps) {
  const int64_t in_n = p.channels * p.in_size[0] * p.in_size[1], out_n = p.channels * p.out_size[0] * p.out_size[1];
  auto x = fill(size_t(in_n), 4);
  std::vector<float> y(static_cast<size_t>(out_n));
  for (int r = 0; r < reps; ++r) o2c_pool(x.data(), y.data(), &p);
  double s = 0;
  for (float v : y) s += v;
  return s;
}

// out (C x HW) = a (C x HW) op b (C x HW, or C x 1 when per_channel)
double run_binary(int op, int64_t C, int64_t HW, bool per_channel, int act, int reps) {
  dash_binary_params_t p{};
  p.op = op, p.rank = 2, p.act = {act, 0, 0};
  p.out_shape[0] = C, p.out_shape[1] = HW;
  p.a_stride[0] = HW, p.a_stride[1] = 1;
  p.b_stride[0] = per_channel ? 1 : HW, p.b_stride[1] = per_channel ? 0 : 1;
  auto a = fill(size_t(C * HW), 5), b = fill(size_t(per_channel ? C : C * HW), 6);
  std::vector<float> y(static_cast<size_t>(C * HW));
  for (int r = 0; r < reps; ++r) o2c_binary(a.data(), b.data(), y.data(), &p);
  double s = 0;
  for (float v : y) s += v;
  return s;
}

double run_unary(int op, int64_t n, int reps) {
  dash_unary_params_t p{};
  p.n = n, p.op = {op, 1.0f, 0.0f};
  auto x = fill(size_t(n), 7);
  std::vector<float> y(static_cast<size_t>(n));
  for (int r = 0; r < reps; ++r) o2c_unary(x.data(), y.data(), &p);
  double s = 0;
  for (float v : y) s += v;
  return s;
}

double run_softmax(int64_t rows, int64_t n, int reps) {
  dash_softmax_params_t p{rows, n, 1, 0};
  auto x = fill(size_t(rows * n), 8);
  std::vector<float> y(x.size());
  for (int r = 0; r < reps; ++r) o2c_softmax(x.data(), y.data(), &p);
  double s = 0;
  for (float v : y) s += v;
  return s;
}

double run_gemm(int64_t M, int64_t N, int64_t K, int reps) {
  dash_gemm_params_t p{};
  p.batch = 1, p.M = M, p.N = N, p.K = K, p.stride_a = M * K, p.stride_b = K * N, p.stride_c = M * N;
  p.alpha = 1, p.beta = 1, p.bias_kind = 2, p.act = {DASH_ACT_RELU, 0, 0};
  auto A = fill(size_t(M * K), 9), B = fill(size_t(K * N), 10), bias = fill(size_t(N), 11);
  std::vector<float> C(static_cast<size_t>(M * N));
  for (int r = 0; r < reps; ++r) o2c_gemm(A.data(), B.data(), bias.data(), C.data(), &p);
  double s = 0;
  for (float v : C) s += v;
  return s;
}

struct Class {
  const char *name;
  double (*run)(int reps);
};

const Class kClasses[] = {
    {"gemm_128", [](int r) { return run_gemm(128, 128, 128, r); }},
    {"conv3x3_direct", [](int r) { return run_conv(conv2d(16, 16, 1, 32, 32, 3, 1, 1), r, false); }},
    {"conv3x3_lanes", [](int r) { return run_conv(conv2d(64, 64, 1, 8, 8, 3, 1, 1), r, true); }},
    {"dw3x3_s1", [](int r) { return run_conv(conv2d(32, 32, 32, 32, 32, 3, 1, 1), r, false); }},
    {"dw3x3_s2", [](int r) { return run_conv(conv2d(32, 32, 32, 32, 32, 3, 2, 1), r, false); }},
    {"dw5x5_s1", [](int r) { return run_conv(conv2d(32, 32, 32, 32, 32, 5, 1, 2), r, false); }},
    {"maxpool2x2_s2", [](int r) { return run_pool(pool2d(DASH_POOL_MAX, 32, 32, 32, 2, 2, 0), r); }},
    {"avgpool2x2_s2", [](int r) { return run_pool(pool2d(DASH_POOL_AVG, 32, 32, 32, 2, 2, 0), r); }},
    {"maxpool3x3_s1_7x7", [](int r) { return run_pool(pool2d(DASH_POOL_MAX, 256, 7, 7, 3, 1, 0), r); }},
    {"add", [](int r) { return run_binary(DASH_BIN_ADD, 32, 1024, false, DASH_ACT_NONE, r); }},
    {"add_relu", [](int r) { return run_binary(DASH_BIN_ADD, 32, 1024, false, DASH_ACT_RELU, r); }},
    {"mul_per_channel", [](int r) { return run_binary(DASH_BIN_MUL, 32, 1024, true, DASH_ACT_NONE, r); }},
    {"sigmoid", [](int r) { return run_unary(DASH_ACT_SIGMOID, 16384, r); }},
    {"tanh", [](int r) { return run_unary(DASH_ACT_TANH, 16384, r); }},
    {"swish", [](int r) { return run_unary(DASH_ACT_SWISH, 16384, r); }},
    {"gelu_tanh", [](int r) { return run_unary(DASH_ACT_GELU_TANH, 16384, r); }},
    {"softmax_1000", [](int r) { return run_softmax(16, 1000, r); }},
};

}  // namespace

int main(int argc, char **argv) {
  if (argc == 2 && !std::strcmp(argv[1], "--list")) {
    for (const auto &c : kClasses) std::printf("%s\n", c.name);
    return 0;
  }
  if (argc != 3) {
    std::fprintf(stderr, "error: usage: neon_icount CLASS REPS | --list\n");
    return 2;
  }
  const int reps = std::atoi(argv[2]);
  for (const auto &c : kClasses)
    if (!std::strcmp(argv[1], c.name)) {
      std::printf("%s %.6g\n", c.name, c.run(reps));
      return 0;
    }
  std::fprintf(stderr, "error: neon_icount: unknown class '%s' (--list names them)\n", argv[1]);
  return 2;
}

/*
 * accel_common.h - shared pieces of the HLS-style accelerator kernels in kernels/accel/.
 *
 * Every accelerator implementation DASH_<API>_<prec>_<resource>(&args..., uint8_t idx) is written
 * the way a Vitis HLS designer would write it: fixed-size on-chip buffers, fixed trip-count loops
 * with a run-time guard, explicit load / compute / store phases. Run on the host it is the
 * functional model of that hardware; it reports the cycles of its documented pipeline model and
 * the bytes it moves between DRAM and the accelerator through cedr_accel_report() once per call.
 *
 * Numerics: the GEMM_RE and CONV accelerators are bit-identical to the CPU kernels
 * (kernels/src/cpu/gemm.cpp, conv.cpp state the reduction order). Nothing here may depend on the
 * compiler's floating-point contraction choices, so this header switches contraction off for every
 * function that follows it (include it FIRST in each accelerator source) and every fused
 * multiply-add is written explicitly as fmac().
 *
 * This library is self-contained: it never links the CPU kernel library.
 */
#ifndef ONNX2CEDR_ACCEL_COMMON_H
#define ONNX2CEDR_ACCEL_COMMON_H

/* a*b+c stays two roundings unless written as fmac(); must precede every function definition */
#pragma GCC optimize("fp-contract=off")

#include "dash.h"
#include "dash_accel.h"
#include "dash_ml.h"
#include "o2c_numerics.h"

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>

/* HLS pragmas: active under Vitis HLS (which defines __SYNTHESIS__), empty for g++ */
#ifdef __SYNTHESIS__
#define O2C_HLS(x) _Pragma(#x)
#else
#define O2C_HLS(x)
#endif

/* the CPU kernels' build configuration this library mirrors (see kernels/src/cpu/internal.h) */
#if defined(__AVX2__) && defined(__FMA__)
#define O2C_ACCEL_MIRROR_AVX2 1
#else
#define O2C_ACCEL_MIRROR_AVX2 0
#endif

namespace o2c {
namespace accel {

/* ---------------------------------------------------------------------------------------------
 * Arithmetic units
 * ------------------------------------------------------------------------------------------- */

/* The MAC unit: the CPU kernels' o2c_fmac (one rounding where the target has FMA). */
inline float fmac(float a, float b, float c) { return o2c_fmac(a, b, c); }

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
inline int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }
inline int64_t imin(int64_t a, int64_t b) { return a < b ? a : b; }
inline int64_t imax(int64_t a, int64_t b) { return a > b ? a : b; }

inline uint32_t f2u(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
inline float u2f(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

/* int16 outputs: round half away from zero and saturate (NaN -> 0); exact integers saturate.
 * The rounder: clamp to the int16 range (which changes no result), round to nearest even (one
 * instruction), then move ties away from zero (c - r is exact for |c| <= 32768). */
inline short sat16(double v) {
  if (!(v == v)) return 0;
  const double c = v > 32767.0 ? 32767.0 : (v < -32768.0 ? -32768.0 : v);
  double r = std::nearbyint(c);
  if (std::fabs(c - r) == 0.5) r = c + (c > 0.0 ? 0.5 : -0.5);
  return static_cast<short>(r);
}
/* the same rounder without branches, W lanes at a time (vectorizable) */
template <int64_t W>
inline void sat16_lanes(const double *v, short *out) {
  for (int64_t l = 0; l < W; ++l) {
    const double x = v[l];
    const double c = x > 32767.0 ? 32767.0 : (x < -32768.0 ? -32768.0 : x);
    const double r = std::nearbyint(c);
    const double t = std::fabs(c - r) == 0.5 ? c + (c > 0.0 ? 0.5 : -0.5) : r;
    out[l] = x == x ? static_cast<short>(static_cast<int32_t>(t)) : short(0);
  }
}
inline short sat16i(int64_t v) { return static_cast<short>(v > 32767 ? 32767 : (v < -32768 ? -32768 : v)); }

/* for i in [0, n): f(i), in blocks of W (a fixed trip count the compiler maps onto vector lanes),
 * then the remainder one by one */
template <int64_t W, class F>
inline void lanes(int64_t n, F f) {
  int64_t i = 0;
  for (; i + W <= n; i += W)
    for (int64_t l = 0; l < W; ++l) f(i + l);
  for (; i < n; ++i) f(i);
}

/* ---------------------------------------------------------------------------------------------
 * Activation unit (the fused epilogue of GEMM_RE / CONV, and the UNARY engine). One element per
 * cycle per lane. With AVX2+FMA the CPU kernels evaluate exp / tanh / ELU with a degree-7
 * polynomial exp (range reduction by ln2 in two parts, 2^n through the exponent bits), sigmoid with
 * a degree-6 one of its own;
 * the unit implements the same polynomial datapath, operation for operation, so its results are
 * bit-identical. Without AVX2 the CPU uses the C library, and so does this model.
 * ------------------------------------------------------------------------------------------- */
inline float max_ps1(float a, float b) { return a > b ? a : b; } /* x86 MAXPS semantics */
inline float min_ps1(float a, float b) { return a < b ? a : b; } /* x86 MINPS semantics */

/* the CPU's exp_taylor_tail256: Horner steps from the r^6 coefficient down */
inline float exp_taylor_tail(float p, float r) {
  p = fmac(p, r, 1.0f / 120.0f);
  p = fmac(p, r, 1.0f / 24.0f);
  p = fmac(p, r, 1.0f / 6.0f);
  p = fmac(p, r, 0.5f);
  p = fmac(p, r, 1.0f);
  return fmac(p, r, 1.0f);
}

inline float exp_poly(float x) {
  const float hi = 88.7228f, lo = -87.3365f;
  const float xc = min_ps1(max_ps1(x, lo), 88.0f);
  const float n = std::nearbyint(xc * 1.44269504088896341f);
  float r = fmac(-n, 0.693359375f, xc);
  r = fmac(-n, -2.12194440e-4f, r);
  const float p = exp_taylor_tail(fmac(1.0f / 5040.0f, r, 1.0f / 720.0f), r);
  const int32_t e = (static_cast<int32_t>(n) + 127) * (int32_t(1) << 23);
  float y = p * u2f(static_cast<uint32_t>(e));
  if (x < lo) y = 0.0f;
  if (x > hi) y = INFINITY;
  if (x != x) y = x;
  return y;
}

/* the CPU's sigmoid256 (kernels/src/cpu/internal.h), operation for operation: its own exp datapath
 * (clamp, rounding by the 1.5*2^23 shifter, degree-6 polynomial) into 1 / (1 + e^-x) */
inline float sigmoid_poly(float x) {
  float t = 0.0f - x;
  t = min_ps1(87.0f, max_ps1(-87.3f, t));
  const float shifter = 12582912.0f;
  const float fx = fmac(t, 1.44269504088896341f, shifter);
  const float n = fx - shifter;
  float r = fmac(-n, 0.693359375f, t);
  r = fmac(-n, -2.12194440e-4f, r);
  const float p = exp_taylor_tail(1.0f / 720.0f, r);
  const uint32_t e = (f2u(fx) + 127u) << 23;
  float y = 1.0f / fmac(p, u2f(e), 1.0f);
  if (x < -87.0f) y = 0.0f;
  return x != x ? x : y;
}

inline float tanh_poly(float x) {
  const uint32_t sign = f2u(x) & 0x80000000u;
  const float ax = u2f(f2u(x) & 0x7fffffffu);
  const float e = exp_poly(ax + ax);
  const float big = 1.0f - 2.0f / (e + 1.0f);
  const float x2 = ax * ax;
  float p = 21844.0f / 6081075.0f;
  p = fmac(p, x2, -1382.0f / 155925.0f);
  p = fmac(p, x2, 62.0f / 2835.0f);
  p = fmac(p, x2, -17.0f / 315.0f);
  p = fmac(p, x2, 2.0f / 15.0f);
  p = fmac(p, x2, -1.0f / 3.0f);
  const float small = fmac(p * x2, ax, ax);
  float y = ax < 0.3f ? small : big;
  y = u2f(f2u(y) | sign);
  return x != x ? x : y;
}

inline float sigmoid_lib(float x) {
  if (x >= 0.0f) return 1.0f / (1.0f + std::exp(-x));
  const float e = std::exp(x);
  return e / (1.0f + e);
}

inline float softplus_lib(float x) {
  if (x > 0.0f) return x + std::log1p(std::exp(-x));
  return std::log1p(std::exp(x));
}

/* one element of any dash_unary_op_t (fused activations are ops 0..DASH_UNARY_LAST_ACTIVATION) */
__attribute__((always_inline)) inline float unary_unit(float x, int32_t op, float alpha, float beta) {
  switch (op) {
    case DASH_ACT_NONE:
    case DASH_UNARY_IDENTITY: return x;
    case DASH_ACT_RELU: return x < 0.0f ? 0.0f : x;
    case DASH_ACT_LEAKY_RELU: return x >= 0.0f ? x : alpha * x;
    case DASH_ACT_CLIP: {
      const float v = x < alpha ? alpha : x;
      return v > beta ? beta : v;
    }
    case DASH_ACT_HARD_SIGMOID: {
      float v = fmac(alpha, x, beta);
      v = v < 0.0f ? 0.0f : v;
      return v > 1.0f ? 1.0f : v;
    }
    case DASH_ACT_HARD_SWISH: {
      float v = fmac(x, 1.0f / 6.0f, 0.5f);
      v = v < 0.0f ? 0.0f : v;
      v = v > 1.0f ? 1.0f : v;
      return x * v;
    }
#if O2C_ACCEL_MIRROR_AVX2
    case DASH_ACT_SIGMOID: return sigmoid_poly(x);
    case DASH_ACT_SWISH: return x * sigmoid_poly(alpha * x);
    case DASH_ACT_MISH: { /* tanh(softplus(x)) = n/(n + 2), n = e^x (e^x + 2); x itself past 20 */
      const float e = exp_poly(x), n = e * (e + 2.0f);
      return x > 20.0f ? x : x * (n / (n + 2.0f));
    }
    case DASH_ACT_GELU_TANH: return 0.5f * x * (1.0f + tanh_poly(0.79788456080286536f * fmac(0.044715f * x * x, x, x)));
    case DASH_ACT_TANH: return tanh_poly(x);
    case DASH_ACT_ELU: {
      const float neg = alpha * (exp_poly(x) - 1.0f);
      return x >= 0.0f ? x : neg;
    }
    case DASH_UNARY_EXP: return exp_poly(x);
#else
    case DASH_ACT_SIGMOID: return sigmoid_lib(x);
    case DASH_ACT_SWISH: return x * sigmoid_lib(alpha * x);
    case DASH_ACT_MISH: {
      const float e = std::exp(x), n = e * (e + 2.0f);
      return x > 20.0f ? x : x * (n / (n + 2.0f));
    }
    /* x + 0.044715 x^3 as one explicit FMA: the same bits whatever the compiler contracts */
    case DASH_ACT_GELU_TANH: return 0.5f * x * (1.0f + std::tanh(0.79788456080286536f * fmac(0.044715f * x * x, x, x)));
    case DASH_ACT_TANH: return std::tanh(x);
    case DASH_ACT_ELU: return x >= 0.0f ? x : alpha * (std::exp(x) - 1.0f);
    case DASH_UNARY_EXP: return std::exp(x);
#endif
    case DASH_UNARY_LOG: return std::log(x);
    case DASH_UNARY_SQRT: return std::sqrt(x);
    case DASH_UNARY_ABS: return std::fabs(x);
    case DASH_UNARY_NEG: return -x;
    case DASH_UNARY_RECIPROCAL: return 1.0f / x;
    case DASH_UNARY_FLOOR: return std::floor(x);
    case DASH_UNARY_CEIL: return std::ceil(x);
    case DASH_UNARY_ERF: return std::erf(x);
    case DASH_UNARY_SOFTPLUS: return softplus_lib(x);
    case DASH_UNARY_SIN: return std::sin(x);
    case DASH_UNARY_COS: return std::cos(x);
    case DASH_UNARY_ROUND: return std::nearbyint(x);
    case DASH_UNARY_SIGN: return x > 0.0f ? 1.0f : (x < 0.0f ? -1.0f : x);
    case DASH_UNARY_AFFINE: return fmac(alpha, x, beta);
    case DASH_ACT_GELU: return 0.5f * x * (1.0f + std::erf(x * 0.70710678118654752f));
    default: return x;
  }
}

inline float act_unit(float x, const dash_act_t &a) { return a.op == DASH_ACT_NONE ? x : unary_unit(x, a.op, a.alpha, a.beta); }

/* The unit over W lanes, in place. The op is decoded once per block (the unit is configured per
 * call, as the hardware's op register), so each op's datapath is a straight loop over fixed W lanes
 * that the compiler maps onto vector lanes; every element goes through exactly unary_unit(). */
template <int32_t OP, int64_t W>
inline void unary_lanes_op(float *v, float alpha, float beta) {
  for (int64_t l = 0; l < W; ++l) v[l] = unary_unit(v[l], OP, alpha, beta);
}

template <int64_t W>
inline void unary_lanes(float *v, int32_t op, float alpha, float beta) {
  switch (op) {
#define O2C_UNARY_LANES(k) \
  case k: unary_lanes_op<k, W>(v, alpha, beta); return;
    O2C_UNARY_LANES(0) O2C_UNARY_LANES(1) O2C_UNARY_LANES(2) O2C_UNARY_LANES(3) O2C_UNARY_LANES(4)
    O2C_UNARY_LANES(5) O2C_UNARY_LANES(6) O2C_UNARY_LANES(7) O2C_UNARY_LANES(8) O2C_UNARY_LANES(9)
    O2C_UNARY_LANES(10) O2C_UNARY_LANES(11) O2C_UNARY_LANES(12) O2C_UNARY_LANES(13) O2C_UNARY_LANES(14)
    O2C_UNARY_LANES(15) O2C_UNARY_LANES(16) O2C_UNARY_LANES(17) O2C_UNARY_LANES(18) O2C_UNARY_LANES(19)
    O2C_UNARY_LANES(20) O2C_UNARY_LANES(21) O2C_UNARY_LANES(22) O2C_UNARY_LANES(23) O2C_UNARY_LANES(24)
    O2C_UNARY_LANES(25) O2C_UNARY_LANES(26) O2C_UNARY_LANES(27) O2C_UNARY_LANES(28)
#undef O2C_UNARY_LANES
    default: return; /* unary_unit's default: identity */
  }
}

/* the fused activation over W lanes (nothing for DASH_ACT_NONE) */
template <int64_t W>
inline void act_lanes(float *v, const dash_act_t &a) {
  if (a.op != DASH_ACT_NONE) unary_lanes<W>(v, a.op, a.alpha, a.beta);
}

/* Pipeline depth (cycles) of the activation unit per op: the polynomial exp is ~10 FMA stages. */
inline int64_t act_depth(int32_t op) {
  switch (op) {
    case DASH_ACT_NONE: return 0;
    case DASH_ACT_SIGMOID:
    case DASH_ACT_TANH:
    case DASH_ACT_ELU:
    case DASH_ACT_SWISH:
    case DASH_ACT_GELU:
    case DASH_ACT_GELU_TANH:
    case DASH_ACT_MISH:
    case DASH_UNARY_EXP: return 48;
    case DASH_ACT_HARD_SIGMOID:
    case DASH_ACT_HARD_SWISH: return 8;
    default: return 4;
  }
}

/* ---------------------------------------------------------------------------------------------
 * On-chip memory (and DRAM scratch) of a call. An accelerator instance is one runtime worker
 * thread, so its memories come from a per-thread pool and persist across its calls, as the
 * hardware's do (no allocation, page faults or zeroing per call); several instances of one
 * accelerator type run concurrently on different threads, so nothing is shared between threads.
 * Only the part a call uses is ever touched.
 * ------------------------------------------------------------------------------------------- */
class BlockPool {
 public:
  struct Block {
    void *p;
    size_t cap;
  };
  BlockPool() = default;
  BlockPool(const BlockPool &) = delete;
  BlockPool &operator=(const BlockPool &) = delete;
  ~BlockPool() {
    for (size_t i = 0; i < n_; ++i) std::free(free_[i].p);
  }
  /* a block of at least `bytes` (the smallest free one that fits, else a new one) */
  Block take(size_t bytes) {
    size_t best = n_;
    for (size_t i = 0; i < n_; ++i)
      if (free_[i].cap >= bytes && (best == n_ || free_[i].cap < free_[best].cap)) best = i;
    if (best < n_) {
      const Block b = free_[best];
      free_[best] = free_[--n_];
      return b;
    }
    void *p = std::malloc(bytes ? bytes : 1);
    if (!p) {
      std::fprintf(stderr, "o2c accel: out of memory (%zu bytes)\n", bytes);
      std::abort();
    }
    return Block{p, bytes};
  }
  /* back to the pool; when it is full the smallest block is released */
  void give(Block b) {
    if (n_ == kMax) {
      size_t small = 0;
      for (size_t i = 1; i < n_; ++i)
        if (free_[i].cap < free_[small].cap) small = i;
      if (free_[small].cap >= b.cap) {
        std::free(b.p);
        return;
      }
      std::free(free_[small].p);
      free_[small] = b;
      return;
    }
    free_[n_++] = b;
  }

 private:
  static constexpr size_t kMax = 24;
  Block free_[kMax];
  size_t n_ = 0;
};

inline BlockPool &block_pool() {
  static thread_local BlockPool pool;
  return pool;
}

template <typename T>
class OnChip {
 public:
  /* zeroed: the buffer starts all-zero (parts a call reads before it writes them) */
  explicit OnChip(size_t capacity, bool zeroed = false) : b_(block_pool().take((capacity ? capacity : 1) * sizeof(T))) {
    if (zeroed) std::memset(b_.p, 0, (capacity ? capacity : 1) * sizeof(T));
  }
  ~OnChip() { block_pool().give(b_); }
  OnChip(const OnChip &) = delete;
  OnChip &operator=(const OnChip &) = delete;
  T &operator[](size_t i) const { return static_cast<T *>(b_.p)[i]; }
  T *get() const { return static_cast<T *>(b_.p); }

 private:
  BlockPool::Block b_;
};

/* Cycle / byte accounting of one call. Every implementation computes it with the same function
 * its <API>_<prec>_<resource>_estimate companion calls (see dash_accel.h), from the call's
 * parameters only; report() hands it to the runtime once, put() answers an estimate. */
struct Account {
  uint64_t cycles = 0;
  uint64_t bytes = 0;
  void report() const { cedr_accel_report(cycles, bytes); }
  void put(uint64_t *c, uint64_t *b) const {
    if (c) *c = cycles;
    if (b) *b = bytes;
  }
};

} /* namespace accel */
} /* namespace o2c */

#endif /* ONNX2CEDR_ACCEL_COMMON_H */

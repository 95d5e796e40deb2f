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

/* The MAC unit: a*b + c with one rounding where the target has FMA (the CPU kernels' fmac());
 * two roundings otherwise, like the CPU kernels on such targets. */
inline float fmac(float a, float b, float c) {
#if defined(__FMA__) || defined(__ARM_FEATURE_FMA)
  return std::fmaf(a, b, c);
#else
  return a * b + c;
#endif
}

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

/* int16 outputs: round half away from zero and saturate (NaN -> 0); exact integers saturate */
inline short sat16(double v) {
  if (!(v == v)) return 0;
  const double r = std::round(v);
  if (r >= 32767.0) return 32767;
  if (r <= -32768.0) return -32768;
  return static_cast<short>(r);
}
inline short sat16i(int64_t v) { return static_cast<short>(v > 32767 ? 32767 : (v < -32768 ? -32768 : v)); }

/* ---------------------------------------------------------------------------------------------
 * Activation unit (the fused epilogue of GEMM_RE / CONV, and the UNARY engine). One element per
 * cycle per lane. With AVX2+FMA the CPU kernels evaluate exp / sigmoid / tanh / ELU with a
 * degree-7 polynomial exp (range reduction by ln2 in two parts, 2^n through the exponent bits);
 * the unit implements the same polynomial datapath, operation for operation, so its results are
 * bit-identical. Without AVX2 the CPU uses the C library, and so does this model.
 * ------------------------------------------------------------------------------------------- */
inline float max_ps1(float a, float b) { return a > b ? a : b; } /* x86 MAXPS semantics */
inline float min_ps1(float a, float b) { return a < b ? a : b; } /* x86 MINPS semantics */

inline float exp_poly(float x) {
  const float hi = 88.7228f, lo = -87.3365f;
  const float xc = min_ps1(max_ps1(x, lo), 88.0f);
  const float n = std::nearbyint(xc * 1.44269504088896341f);
  float r = fmac(-n, 0.693359375f, xc);
  r = fmac(-n, -2.12194440e-4f, r);
  float p = 1.0f / 5040.0f;
  p = fmac(p, r, 1.0f / 720.0f);
  p = fmac(p, r, 1.0f / 120.0f);
  p = fmac(p, r, 1.0f / 24.0f);
  p = fmac(p, r, 1.0f / 6.0f);
  p = fmac(p, r, 0.5f);
  p = fmac(p, r, 1.0f);
  p = fmac(p, r, 1.0f);
  const int32_t e = (static_cast<int32_t>(n) + 127) * (int32_t(1) << 23);
  float y = p * u2f(static_cast<uint32_t>(e));
  if (x < lo) y = 0.0f;
  if (x > hi) y = INFINITY;
  if (x != x) y = x;
  return y;
}

inline float sigmoid_poly(float x) { return 1.0f / (1.0f + exp_poly(0.0f - x)); }

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
inline float unary_unit(float x, int32_t op, float alpha, float beta) {
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
    case DASH_ACT_TANH: return tanh_poly(x);
    case DASH_ACT_ELU: {
      const float neg = alpha * (exp_poly(x) - 1.0f);
      return x >= 0.0f ? x : neg;
    }
    case DASH_UNARY_EXP: return exp_poly(x);
#else
    case DASH_ACT_SIGMOID: return sigmoid_lib(x);
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
    default: return x;
  }
}

inline float act_unit(float x, const dash_act_t &a) { return a.op == DASH_ACT_NONE ? x : unary_unit(x, a.op, a.alpha, a.beta); }

/* Pipeline depth (cycles) of the activation unit per op: the polynomial exp is ~10 FMA stages. */
inline int64_t act_depth(int32_t op) {
  switch (op) {
    case DASH_ACT_NONE: return 0;
    case DASH_ACT_SIGMOID:
    case DASH_ACT_TANH:
    case DASH_ACT_ELU:
    case DASH_UNARY_EXP: return 48;
    case DASH_ACT_HARD_SIGMOID:
    case DASH_ACT_HARD_SWISH: return 8;
    default: return 4;
  }
}

/* ---------------------------------------------------------------------------------------------
 * On-chip memory of a fixed capacity. Allocated per call (several instances of one accelerator
 * type run concurrently on different worker threads, so nothing may be static); only the part a
 * call uses is ever touched.
 * ------------------------------------------------------------------------------------------- */
template <typename T>
class OnChip {
 public:
  explicit OnChip(size_t capacity) : p_(static_cast<T *>(std::malloc((capacity ? capacity : 1) * sizeof(T)))) {
    if (!p_) {
      std::fprintf(stderr, "o2c accel: out of memory (%zu bytes)\n", capacity * sizeof(T));
      std::abort();
    }
  }
  ~OnChip() { std::free(p_); }
  OnChip(const OnChip &) = delete;
  OnChip &operator=(const OnChip &) = delete;
  T &operator[](size_t i) const { return p_[i]; }
  T *get() const { return p_; }

 private:
  T *p_;
};

/* Cycle / byte accounting of one call; report() hands it to the runtime once. */
struct Account {
  uint64_t cycles = 0;
  uint64_t bytes = 0;
  void report() const { cedr_accel_report(cycles, bytes); }
};

} /* namespace accel */
} /* namespace o2c */

#endif /* ONNX2CEDR_ACCEL_COMMON_H */

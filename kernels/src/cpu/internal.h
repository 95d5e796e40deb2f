/*
 * internal.h - helpers shared by the o2c CPU kernels (not part of the public interface).
 *
 * Everything here is reentrant: no mutable static state. Scratch memory is allocated per call.
 */
#ifndef ONNX2CEDR_KERNELS_CPU_INTERNAL_H
#define ONNX2CEDR_KERNELS_CPU_INTERNAL_H

#include "o2c_kernels.h"
#include "o2c_numerics.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <type_traits>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define O2C_HAVE_AVX2 1
#else
#define O2C_HAVE_AVX2 0
#endif
/* AVX-512 (x86 with -march=native on a machine that has it): wider conv tiles */
#if O2C_HAVE_AVX2 && defined(__AVX512F__)
#define O2C_HAVE_AVX512 1
#else
#define O2C_HAVE_AVX512 0
#endif
/* NEON (aarch64): hand-written twins of the x86 fast paths - the GEMM micro-kernel, the direct,
 * lanes and depthwise convolution kernels, the pooling rows, the binary rows and the vectorized
 * exp/sigmoid/tanh family below. -DO2C_NO_NEON keeps the portable code. Every NEON path except the
 * transcendental functions gives the portable path's results bit for bit (the same FMA chains and
 * operations in the same order); exp/sigmoid/tanh are the AVX2 polynomials, operation for operation. */
#if !O2C_HAVE_AVX2 && defined(__aarch64__) && defined(__ARM_NEON) && !defined(O2C_NO_NEON)
#include <arm_neon.h>
#define O2C_HAVE_NEON 1
#else
#define O2C_HAVE_NEON 0
#endif

/* the depthwise path of o2c_qconv (qconv_depthwise.cpp); false: not a layer it takes */
bool o2c_qconv_depthwise(const int8_t *in, const int8_t *weight, const int32_t *bias, const float *multiplier,
                         int8_t *out, const dash_qconv_params_t *p);

namespace o2c {
namespace detail {

/* ------------------------------------------------------------------------------------------
 * Scratch memory: 64-byte aligned, aborts with a message when the system is out of memory
 * (the kernels have no error channel and must never write garbage silently).
 * ---------------------------------------------------------------------------------------- */
inline void *scratch_alloc(size_t bytes) {
  if (bytes == 0) bytes = 64;
  bytes = (bytes + 63) & ~static_cast<size_t>(63);
  void *p = nullptr;
  if (posix_memalign(&p, 64, bytes) != 0 || p == nullptr) {
    std::fprintf(stderr, "o2c kernels: out of memory (requested %zu bytes)\n", bytes);
    std::abort();
  }
  return p;
}

template <typename T>
class Scratch {
 public:
  Scratch() = default;
  explicit Scratch(size_t n) { reset(n); }
  ~Scratch() { std::free(p_); }
  Scratch(const Scratch &) = delete;
  Scratch &operator=(const Scratch &) = delete;
  void reset(size_t n) {
    std::free(p_);
    p_ = static_cast<T *>(scratch_alloc(n * sizeof(T)));
    n_ = n;
  }
  T *get() const { return p_; }
  T &operator[](size_t i) const { return p_[i]; }
  size_t size() const { return n_; }

 private:
  T *p_ = nullptr;
  size_t n_ = 0;
};

/* ------------------------------------------------------------------------------------------
 * Threads (parallel.cpp): o2c_set_threads() sets the calling thread's count (default 1).
 * parallel_run calls fn(ctx, task, worker) for task in [0, ntasks) on up to nthreads threads
 * (the caller is worker 0). Tasks must write disjoint outputs; the split never changes a
 * reduction's order, so results are bit-identical for any thread count.
 * ---------------------------------------------------------------------------------------- */
typedef void (*TaskFn)(void *ctx, int64_t task, int worker);
int current_threads();
void parallel_run(int64_t ntasks, int nthreads, TaskFn fn, void *ctx);
template <class F>
inline void parallel_for(int64_t ntasks, int nthreads, F &&f) {
  using FF = typename std::remove_reference<F>::type;
  parallel_run(ntasks, nthreads, [](void *c, int64_t t, int w) { (*static_cast<FF *>(c))(t, w); },
               const_cast<void *>(static_cast<const void *>(&f)));
}

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
/* floor division for possibly negative numerators (b > 0) */
inline int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }
inline int64_t round_up(int64_t a, int64_t b) { return ceil_div(a, b) * b; }

/* ------------------------------------------------------------------------------------------
 * Unary operations / fused activations.
 * ---------------------------------------------------------------------------------------- */
inline float sigmoidf_stable(float x) {
  if (x >= 0.0f) return 1.0f / (1.0f + std::exp(-x));
  float e = std::exp(x);
  return e / (1.0f + e);
}

inline float softplusf_stable(float x) {
  /* log(1 + exp(x)) without overflow */
  if (x > 0.0f) return x + std::log1p(std::exp(-x));
  return std::log1p(std::exp(x));
}

/* One element of any dash_unary_op_t. */
inline float unary1(float x, int32_t op, float alpha, float beta) {
  switch (op) {
    case DASH_ACT_NONE: return x;
    case DASH_ACT_RELU: return x < 0.0f ? 0.0f : x; /* NaN propagates */
    case DASH_ACT_LEAKY_RELU: return x >= 0.0f ? x : alpha * x;
    case DASH_ACT_CLIP: return std::min(std::max(x, alpha), beta);
    case DASH_ACT_SIGMOID: return sigmoidf_stable(x);
    case DASH_ACT_TANH: return std::tanh(x);
    case DASH_ACT_HARD_SIGMOID: return std::max(0.0f, std::min(1.0f, alpha * x + beta));
    case DASH_ACT_HARD_SWISH: return x * std::max(0.0f, std::min(1.0f, x * (1.0f / 6.0f) + 0.5f));
    case DASH_ACT_ELU: return x >= 0.0f ? x : alpha * (std::exp(x) - 1.0f);
    case DASH_UNARY_IDENTITY: return x;
    case DASH_UNARY_EXP: return std::exp(x);
    case DASH_UNARY_LOG: return std::log(x);
    case DASH_UNARY_SQRT: return std::sqrt(x);
    case DASH_UNARY_ABS: return std::fabs(x);
    case DASH_UNARY_NEG: return -x;
    case DASH_UNARY_RECIPROCAL: return 1.0f / x;
    case DASH_UNARY_FLOOR: return std::floor(x);
    case DASH_UNARY_CEIL: return std::ceil(x);
    case DASH_UNARY_ERF: return std::erf(x);
    case DASH_UNARY_SOFTPLUS: return softplusf_stable(x);
    case DASH_UNARY_SIN: return std::sin(x);
    case DASH_UNARY_COS: return std::cos(x);
    case DASH_UNARY_ROUND: return std::nearbyint(x); /* default rounding mode: half to even */
    case DASH_UNARY_SIGN: return x > 0.0f ? 1.0f : (x < 0.0f ? -1.0f : x);
    case DASH_UNARY_AFFINE: return alpha * x + beta;
    case DASH_ACT_SWISH: return x * sigmoidf_stable(alpha * x);
    case DASH_ACT_GELU: return 0.5f * x * (1.0f + std::erf(x * 0.70710678118654752f));
    case DASH_ACT_GELU_TANH: {
      /* x + 0.044715 x^3 as one explicit FMA: the same bits whatever the compiler contracts */
      const float u = 0.79788456080286536f * o2c_fmac(0.044715f * x * x, x, x);
      return 0.5f * x * (1.0f + std::tanh(u));
    }
    case DASH_ACT_MISH: { /* tanh(softplus(x)) = n/(n + 2), n = e^x (e^x + 2); x itself past 20 */
      const float e = std::exp(x), n = e * (e + 2.0f);
      return x > 20.0f ? x : x * (n / (n + 2.0f));
    }
    default: return x;
  }
}

/* ------------------------------------------------------------------------------------------
 * Vectorized exp / sigmoid / tanh (AVX2). exp: n = round(x*log2(e)), r = x - n*ln2 (two-part
 * constant), e^r by its degree-7 Taylor polynomial (|r| <= ln2/2, error < 1e-8 relative), then
 * scaled by 2^n through the exponent bits: about 1-2 ulp. Inputs below -87.3 give 0 (the true
 * value is a denormal below 1.2e-38), above 88.72 give +inf; NaN propagates. Without AVX2 the
 * scalar library functions are used.
 * ---------------------------------------------------------------------------------------- */
#if O2C_HAVE_AVX2
/* e^r's Taylor polynomial from the r^6 coefficient down, Horner steps on p (the higher terms already
 * in p): exp256 enters with 1/5040 r + 1/720, sigmoid256 with 1/720 */
inline __m256 exp_taylor_tail256(__m256 p, __m256 r) {
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
  return _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
}

inline __m256 exp256(__m256 x) {
  const __m256 hi = _mm256_set1_ps(88.7228f), lo = _mm256_set1_ps(-87.3365f);
  const __m256 xc = _mm256_min_ps(_mm256_max_ps(x, lo), _mm256_set1_ps(88.0f));
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(xc, _mm256_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), xc);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  const __m256 p = exp_taylor_tail256(_mm256_fmadd_ps(_mm256_set1_ps(1.0f / 5040.0f), r, _mm256_set1_ps(1.0f / 720.0f)), r);
  /* 2^n, n in [-126, 127] */
  const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  __m256 y = _mm256_mul_ps(p, _mm256_castsi256_ps(e));
  y = _mm256_blendv_ps(y, _mm256_setzero_ps(), _mm256_cmp_ps(x, lo, _CMP_LT_OQ));
  y = _mm256_blendv_ps(y, _mm256_set1_ps(INFINITY), _mm256_cmp_ps(x, hi, _CMP_GT_OQ));
  return _mm256_blendv_ps(y, x, _mm256_cmp_ps(x, x, _CMP_UNORD_Q));
}

/* 1 / (1 + e^-x), in about half exp256's work (SiLU after every convolution makes it hot): e^-x with
 * the argument clamped to [-87.3, 87] (past the ends the result is 1, or 0 below x = -87), rounding by
 * the 1.5*2^23 shifter (whose low bits are then the exponent), a degree-6 Taylor polynomial on
 * |r| <= ln2/2 (relative error < 2e-7), and a true division (an rcp + Newton step would leave
 * sigmoid(30) one ulp below 1): within 4 ulp of the correctly rounded sigmoid. */
inline __m256 sigmoid256(__m256 x) {
  const __m256 one = _mm256_set1_ps(1.0f);
  __m256 t = _mm256_sub_ps(_mm256_setzero_ps(), x);
  t = _mm256_min_ps(_mm256_set1_ps(87.0f), _mm256_max_ps(_mm256_set1_ps(-87.3f), t));
  const __m256 shifter = _mm256_set1_ps(12582912.0f); /* 1.5 * 2^23 */
  const __m256 fx = _mm256_fmadd_ps(t, _mm256_set1_ps(1.44269504088896341f), shifter);
  const __m256 n = _mm256_sub_ps(fx, shifter);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), t);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  const __m256 p = exp_taylor_tail256(_mm256_set1_ps(1.0f / 720.0f), r);
  /* 2^n: fx's bits are those of 1.5*2^23 plus n; (bits + 127) << 23 keeps n + 127 in the exponent */
  const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_castps_si256(fx), _mm256_set1_epi32(127)), 23);
  const __m256 y = _mm256_div_ps(one, _mm256_fmadd_ps(p, _mm256_castsi256_ps(e), one)); /* 1 / (1 + e^-x) */
  /* x < -87: +0 (the true value is below 2e-38; sigmoid(-inf) must be 0 for x * sigmoid(x) to be NaN);
   * NaN: x itself (kernels/accel/accel_common.h's sigmoid_poly follows this, operation for operation) */
  const __m256 z = _mm256_andnot_ps(_mm256_cmp_ps(x, _mm256_set1_ps(-87.0f), _CMP_LT_OQ), y);
  return _mm256_blendv_ps(z, x, _mm256_cmp_ps(x, x, _CMP_UNORD_Q));
}

inline __m256 tanh256(__m256 x) {
  const __m256 sign = _mm256_and_ps(x, _mm256_set1_ps(-0.0f));
  const __m256 ax = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), x);
  /* large |x|: 1 - 2/(e^(2|x|) + 1) */
  const __m256 e = exp256(_mm256_add_ps(ax, ax));
  const __m256 big = _mm256_sub_ps(_mm256_set1_ps(1.0f),
                                   _mm256_div_ps(_mm256_set1_ps(2.0f), _mm256_add_ps(e, _mm256_set1_ps(1.0f))));
  /* small |x| < 0.3: odd Taylor series to x^13 (relative error < 1e-8) */
  const __m256 x2 = _mm256_mul_ps(ax, ax);
  __m256 p = _mm256_set1_ps(21844.0f / 6081075.0f);
  p = _mm256_fmadd_ps(p, x2, _mm256_set1_ps(-1382.0f / 155925.0f));
  p = _mm256_fmadd_ps(p, x2, _mm256_set1_ps(62.0f / 2835.0f));
  p = _mm256_fmadd_ps(p, x2, _mm256_set1_ps(-17.0f / 315.0f));
  p = _mm256_fmadd_ps(p, x2, _mm256_set1_ps(2.0f / 15.0f));
  p = _mm256_fmadd_ps(p, x2, _mm256_set1_ps(-1.0f / 3.0f));
  const __m256 small = _mm256_fmadd_ps(_mm256_mul_ps(p, x2), ax, ax);
  __m256 y = _mm256_blendv_ps(big, small, _mm256_cmp_ps(ax, _mm256_set1_ps(0.3f), _CMP_LT_OQ));
  y = _mm256_or_ps(y, sign);
  return _mm256_blendv_ps(y, x, _mm256_cmp_ps(x, x, _CMP_UNORD_Q));
}

template <class F>
inline void map256(const float *src, float *dst, int64_t n, F f) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, f(_mm256_loadu_ps(src + i)));
  if (i < n) {
    alignas(32) float t[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (int64_t j = 0; j < n - i; ++j) t[j] = src[i + j];
    _mm256_store_ps(t, f(_mm256_load_ps(t)));
    for (int64_t j = 0; j < n - i; ++j) dst[i + j] = t[j];
  }
}
#endif

#if O2C_HAVE_NEON
/* The AVX2 functions above on 4 lanes, operation for operation (vrndnq: round half to even like
 * _MM_FROUND_TO_NEAREST_INT; vfmsq(c, a, b) = c - a*b fused like fnmadd), so the same error bounds. */
inline float32x4_t exp128(float32x4_t x) {
  const float32x4_t hi = vdupq_n_f32(88.7228f), lo = vdupq_n_f32(-87.3365f);
  const float32x4_t xc = vminq_f32(vmaxq_f32(x, lo), vdupq_n_f32(88.0f));
  const float32x4_t n = vrndnq_f32(vmulq_f32(xc, vdupq_n_f32(1.44269504088896341f)));
  float32x4_t r = vfmsq_f32(xc, n, vdupq_n_f32(0.693359375f));
  r = vfmsq_f32(r, n, vdupq_n_f32(-2.12194440e-4f));
  float32x4_t p = vdupq_n_f32(1.0f / 5040.0f);
  p = vfmaq_f32(vdupq_n_f32(1.0f / 720.0f), p, r);
  p = vfmaq_f32(vdupq_n_f32(1.0f / 120.0f), p, r);
  p = vfmaq_f32(vdupq_n_f32(1.0f / 24.0f), p, r);
  p = vfmaq_f32(vdupq_n_f32(1.0f / 6.0f), p, r);
  p = vfmaq_f32(vdupq_n_f32(0.5f), p, r);
  p = vfmaq_f32(vdupq_n_f32(1.0f), p, r);
  p = vfmaq_f32(vdupq_n_f32(1.0f), p, r);
  /* 2^n, n in [-126, 127] (n is integral: the conversion is exact) */
  const int32x4_t e = vshlq_n_s32(vaddq_s32(vcvtq_s32_f32(n), vdupq_n_s32(127)), 23);
  float32x4_t y = vmulq_f32(p, vreinterpretq_f32_s32(e));
  y = vbslq_f32(vcltq_f32(x, lo), vdupq_n_f32(0.0f), y);
  y = vbslq_f32(vcgtq_f32(x, hi), vdupq_n_f32(INFINITY), y);
  return vbslq_f32(vceqq_f32(x, x), y, x); /* NaN propagates */
}

inline float32x4_t sigmoid128(float32x4_t x) {
  const float32x4_t one = vdupq_n_f32(1.0f);
  return vdivq_f32(one, vaddq_f32(one, exp128(vnegq_f32(x))));
}

inline float32x4_t tanh128(float32x4_t x) {
  const uint32x4_t sign = vandq_u32(vreinterpretq_u32_f32(x), vdupq_n_u32(0x80000000u));
  const float32x4_t ax = vabsq_f32(x);
  const float32x4_t e = exp128(vaddq_f32(ax, ax));
  const float32x4_t big = vsubq_f32(vdupq_n_f32(1.0f), vdivq_f32(vdupq_n_f32(2.0f), vaddq_f32(e, vdupq_n_f32(1.0f))));
  const float32x4_t x2 = vmulq_f32(ax, ax);
  float32x4_t p = vdupq_n_f32(21844.0f / 6081075.0f);
  p = vfmaq_f32(vdupq_n_f32(-1382.0f / 155925.0f), p, x2);
  p = vfmaq_f32(vdupq_n_f32(62.0f / 2835.0f), p, x2);
  p = vfmaq_f32(vdupq_n_f32(-17.0f / 315.0f), p, x2);
  p = vfmaq_f32(vdupq_n_f32(2.0f / 15.0f), p, x2);
  p = vfmaq_f32(vdupq_n_f32(-1.0f / 3.0f), p, x2);
  const float32x4_t small = vfmaq_f32(ax, vmulq_f32(p, x2), ax);
  float32x4_t y = vbslq_f32(vcltq_f32(ax, vdupq_n_f32(0.3f)), small, big);
  y = vreinterpretq_f32_u32(vorrq_u32(vreinterpretq_u32_f32(y), sign));
  return vbslq_f32(vceqq_f32(x, x), y, x);
}

/* dst[i] = f(src[i]): two vectors a step, then one, then the tail through a zero-padded vector */
template <class F>
inline void map128(const float *src, float *dst, int64_t n, F f) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const float32x4_t a = f(vld1q_f32(src + i)), b = f(vld1q_f32(src + i + 4));
    vst1q_f32(dst + i, a);
    vst1q_f32(dst + i + 4, b);
  }
  for (; i + 4 <= n; i += 4) vst1q_f32(dst + i, f(vld1q_f32(src + i)));
  if (i < n) {
    float t[4] = {0, 0, 0, 0};
    for (int64_t j = 0; j < n - i; ++j) t[j] = src[i + j];
    vst1q_f32(t, f(vld1q_f32(t)));
    for (int64_t j = 0; j < n - i; ++j) dst[i + j] = t[j];
  }
}
#endif

/* dst[i] = exp(src[i]) */
inline void exp_array(const float *src, float *dst, int64_t n) {
#if O2C_HAVE_AVX2
  map256(src, dst, n, [](__m256 v) { return exp256(v); });
#elif O2C_HAVE_NEON
  map128(src, dst, n, [](float32x4_t v) { return exp128(v); });
#else
  for (int64_t i = 0; i < n; ++i) dst[i] = std::exp(src[i]);
#endif
}

/* dst[t] = act(src[t] (+ bv when has_b)) for t < len, act one of NONE, RELU, LEAKY_RELU (dst may
 * equal src): the expressions of unary1, written out 8 lanes at a time where AVX2 is present, since the
 * compiler leaves LeakyReLU's conditional select scalar and branchy. Same bits as the scalar form:
 * max(0, v) keeps v when v is NaN or -0 (like v < 0 ? 0 : v), v >= 0 ? v : alpha*v becomes a blend, and
 * without a bias nothing is added (-0 + 0 would be +0). */
template <bool HAS_B>
inline void bias_act_run_t(const float *src, float *dst, int64_t len, float bv, int32_t op, float alpha) {
  int64_t t = 0;
#if O2C_HAVE_AVX2
  const __m256 b = _mm256_set1_ps(bv), zero = _mm256_setzero_ps(), a = _mm256_set1_ps(alpha);
  auto load = [&](int64_t i) {
    const __m256 v = _mm256_loadu_ps(src + i);
    return HAS_B ? _mm256_add_ps(v, b) : v;
  };
  if (op == DASH_ACT_RELU) {
    for (; t + 8 <= len; t += 8) _mm256_storeu_ps(dst + t, _mm256_max_ps(zero, load(t)));
  } else if (op == DASH_ACT_LEAKY_RELU) {
    for (; t + 8 <= len; t += 8) {
      const __m256 v = load(t);
      _mm256_storeu_ps(dst + t, _mm256_blendv_ps(_mm256_mul_ps(a, v), v, _mm256_cmp_ps(v, zero, _CMP_GE_OQ)));
    }
  } else {
    for (; t + 8 <= len; t += 8) _mm256_storeu_ps(dst + t, load(t));
  }
#endif
  for (; t < len; ++t) {
    const float v = HAS_B ? src[t] + bv : src[t];
    dst[t] = op == DASH_ACT_RELU ? (v < 0.0f ? 0.0f : v) : op == DASH_ACT_LEAKY_RELU ? (v >= 0.0f ? v : alpha * v) : v;
  }
}
inline void bias_act_run(const float *src, float *dst, int64_t len, bool has_b, float bv, int32_t op, float alpha) {
  if (has_b)
    bias_act_run_t<true>(src, dst, len, bv, op, alpha);
  else
    bias_act_run_t<false>(src, dst, len, 0.0f, op, alpha);
}

/* dst[i] = op(src[i]) for i < n (dst may equal src). The loop sits inside each case so the
 * cheap operations vectorize. */
inline void unary_array(const float *src, float *dst, int64_t n, int32_t op, float alpha, float beta) {
  switch (op) {
    case DASH_ACT_NONE:
    case DASH_UNARY_IDENTITY:
      if (dst != src) std::memmove(dst, src, static_cast<size_t>(n) * sizeof(float));
      return;
    case DASH_ACT_RELU:
    case DASH_ACT_LEAKY_RELU:
      bias_act_run(src, dst, n, false, 0.0f, op, alpha);
      return;
    case DASH_ACT_CLIP:
      for (int64_t i = 0; i < n; ++i) {
        float v = src[i] < alpha ? alpha : src[i];
        dst[i] = v > beta ? beta : v;
      }
      return;
    case DASH_ACT_HARD_SIGMOID:
      for (int64_t i = 0; i < n; ++i) {
        float v = alpha * src[i] + beta;
        v = v < 0.0f ? 0.0f : v;
        dst[i] = v > 1.0f ? 1.0f : v;
      }
      return;
    case DASH_ACT_HARD_SWISH:
      for (int64_t i = 0; i < n; ++i) {
        float x = src[i];
        float v = x * (1.0f / 6.0f) + 0.5f;
        v = v < 0.0f ? 0.0f : v;
        v = v > 1.0f ? 1.0f : v;
        dst[i] = x * v;
      }
      return;
    case DASH_UNARY_ABS:
      for (int64_t i = 0; i < n; ++i) dst[i] = std::fabs(src[i]);
      return;
    case DASH_UNARY_NEG:
      for (int64_t i = 0; i < n; ++i) dst[i] = -src[i];
      return;
    case DASH_UNARY_RECIPROCAL:
      for (int64_t i = 0; i < n; ++i) dst[i] = 1.0f / src[i];
      return;
    case DASH_UNARY_SQRT:
      for (int64_t i = 0; i < n; ++i) dst[i] = std::sqrt(src[i]);
      return;
    case DASH_UNARY_AFFINE:
      for (int64_t i = 0; i < n; ++i) dst[i] = alpha * src[i] + beta;
      return;
#if O2C_HAVE_AVX2
    case DASH_UNARY_EXP:
      exp_array(src, dst, n);
      return;
    case DASH_ACT_SIGMOID:
      map256(src, dst, n, [](__m256 v) { return sigmoid256(v); });
      return;
    case DASH_ACT_TANH:
      map256(src, dst, n, [](__m256 v) { return tanh256(v); });
      return;
    case DASH_ACT_SWISH: {
      const __m256 va = _mm256_set1_ps(alpha);
      map256(src, dst, n, [va](__m256 v) { return _mm256_mul_ps(v, sigmoid256(_mm256_mul_ps(va, v))); });
      return;
    }
    case DASH_ACT_MISH: /* unary1's expression, operation for operation */
      map256(src, dst, n, [](__m256 v) {
        const __m256 e = exp256(v), two = _mm256_set1_ps(2.0f);
        const __m256 m = _mm256_mul_ps(e, _mm256_add_ps(e, two));
        const __m256 r = _mm256_mul_ps(v, _mm256_div_ps(m, _mm256_add_ps(m, two)));
        return _mm256_blendv_ps(r, v, _mm256_cmp_ps(v, _mm256_set1_ps(20.0f), _CMP_GT_OQ));
      });
      return;
    case DASH_ACT_GELU_TANH: /* unary1's expression, operation for operation */
      map256(src, dst, n, [](__m256 v) {
        const __m256 c = _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(0.044715f), v), v);
        const __m256 u = _mm256_mul_ps(_mm256_set1_ps(0.79788456080286536f), _mm256_fmadd_ps(c, v, v));
        const __m256 h = _mm256_mul_ps(_mm256_set1_ps(0.5f), v);
        return _mm256_mul_ps(h, _mm256_add_ps(_mm256_set1_ps(1.0f), tanh256(u)));
      });
      return;
    case DASH_ACT_ELU: {
      const __m256 va = _mm256_set1_ps(alpha), one = _mm256_set1_ps(1.0f);
      map256(src, dst, n, [va, one](__m256 v) {
        const __m256 neg = _mm256_mul_ps(va, _mm256_sub_ps(exp256(v), one));
        return _mm256_blendv_ps(neg, v, _mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_GE_OQ));
      });
      return;
    }
#elif O2C_HAVE_NEON /* the AVX2 cases above on 4 lanes */
    case DASH_UNARY_EXP:
      exp_array(src, dst, n);
      return;
    case DASH_ACT_SIGMOID:
      map128(src, dst, n, [](float32x4_t v) { return sigmoid128(v); });
      return;
    case DASH_ACT_TANH:
      map128(src, dst, n, [](float32x4_t v) { return tanh128(v); });
      return;
    case DASH_ACT_SWISH: {
      const float32x4_t va = vdupq_n_f32(alpha);
      map128(src, dst, n, [va](float32x4_t v) { return vmulq_f32(v, sigmoid128(vmulq_f32(va, v))); });
      return;
    }
    case DASH_ACT_MISH: /* unary1's expression, operation for operation */
      map128(src, dst, n, [](float32x4_t v) {
        const float32x4_t e = exp128(v), two = vdupq_n_f32(2.0f);
        const float32x4_t m = vmulq_f32(e, vaddq_f32(e, two));
        const float32x4_t r = vmulq_f32(v, vdivq_f32(m, vaddq_f32(m, two)));
        return vbslq_f32(vcgtq_f32(v, vdupq_n_f32(20.0f)), v, r);
      });
      return;
    case DASH_ACT_GELU_TANH: /* unary1's expression, operation for operation */
      map128(src, dst, n, [](float32x4_t v) {
        const float32x4_t c = vmulq_f32(vmulq_f32(vdupq_n_f32(0.044715f), v), v);
        const float32x4_t u = vmulq_f32(vdupq_n_f32(0.79788456080286536f), vfmaq_f32(v, c, v));
        const float32x4_t h = vmulq_f32(vdupq_n_f32(0.5f), v);
        return vmulq_f32(h, vaddq_f32(vdupq_n_f32(1.0f), tanh128(u)));
      });
      return;
    case DASH_ACT_ELU: {
      const float32x4_t va = vdupq_n_f32(alpha), one = vdupq_n_f32(1.0f);
      map128(src, dst, n, [va, one](float32x4_t v) {
        const float32x4_t neg = vmulq_f32(va, vsubq_f32(exp128(v), one));
        return vbslq_f32(vcgeq_f32(v, vdupq_n_f32(0.0f)), v, neg);
      });
      return;
    }
#endif
    case DASH_UNARY_FLOOR:
      for (int64_t i = 0; i < n; ++i) dst[i] = std::floor(src[i]);
      return;
    case DASH_UNARY_CEIL:
      for (int64_t i = 0; i < n; ++i) dst[i] = std::ceil(src[i]);
      return;
    default:
      for (int64_t i = 0; i < n; ++i) dst[i] = unary1(src[i], op, alpha, beta);
      return;
  }
}

/* Apply a fused activation (op <= DASH_UNARY_LAST_ACTIVATION) in place. */
inline void act_inplace(float *x, int64_t n, const dash_act_t &a) {
  if (a.op == DASH_ACT_NONE) return;
  unary_array(x, x, n, a.op, a.alpha, a.beta);
}

/* ------------------------------------------------------------------------------------------
 * GEMM engine (gemm.cpp). C (M x N, row stride ldc) = epilogue(A * B) where
 *   A(i, k) = A[i*rsa + k*csa]   and B is produced panel by panel by a packing callback.
 * ---------------------------------------------------------------------------------------- */
#if O2C_HAVE_AVX2
constexpr int64_t GEMM_MR = 6;
constexpr int64_t GEMM_NR = 16;
#else
constexpr int64_t GEMM_MR = 4;
constexpr int64_t GEMM_NR = 16;
#endif
constexpr int64_t GEMM_MC = 144; /* multiple of GEMM_MR (both 6 and 4) */
constexpr int64_t GEMM_KC = 320; /* upper bound; K is split into balanced blocks */
constexpr int64_t GEMM_NC = 2048; /* multiple of GEMM_NR */

/* Fill dst with the packed block of B rows [k0, k0+kc) and columns [n0, n0+nc): panels of
 * GEMM_NR columns, panel p at dst + p*kc*GEMM_NR, element (k, j) at [k*GEMM_NR + j]; columns
 * beyond nc in the last panel must be zero. */
typedef void (*gemm_pack_b_fn)(const void *ctx, int64_t k0, int64_t kc, int64_t n0, int64_t nc, float *dst);

struct GemmBSource {
  gemm_pack_b_fn pack;
  const void *ctx;
};

/* Pack rows [i0, i0+mc) x columns [k0, k0+kc) of A(i, k) = A[i*rsa + k*csa] into GEMM_MR-row
 * panels (panel p at dst + p*GEMM_MR*kc, element (k, r) at [k*GEMM_MR + r], rows past mc zero). */
void gemm_pack_a(const float *A, int64_t rsa, int64_t csa, int64_t i0, int64_t mc, int64_t k0, int64_t kc,
                 float *dst);

/* The plain strided matrix B(k, n) = B[k*rsb + n*csb]. */
struct StridedB {
  const float *B;
  int64_t rsb, csb;
};
void gemm_pack_b_strided(const void *ctx, int64_t k0, int64_t kc, int64_t n0, int64_t nc, float *dst);

/* c = act(alpha*c + beta*bias(i, j)); i, j are the tile's coordinates within the full C.
 * bias_kind: 0 none, 1 scalar, 2 per column, 3 per row, 4 full (row stride bias_ld). */
struct GemmEpilogue {
  float alpha = 1.0f;
  float beta = 1.0f;
  int32_t bias_kind = 0;
  const float *bias = nullptr;
  int64_t bias_ld = 0;
  dash_act_t act = {DASH_ACT_NONE, 0.0f, 0.0f};
};
void gemm_epilogue_tile(float *C, int64_t ldc, int64_t i0, int64_t j0, int64_t m, int64_t n, const GemmEpilogue &ep);

/* Scratch (in floats) a gemm_driver call for these sizes needs. */
size_t gemm_workspace_floats(int64_t M, int64_t N, int64_t K);

/* General driver: cache blocking + packing + register-blocked micro-kernel. workspace must
 * hold gemm_workspace_floats(M, N, K) floats (64-byte aligned) or be NULL (allocated here). */
void gemm_driver(int64_t M, int64_t N, int64_t K, const float *A, int64_t rsa, int64_t csa, const GemmBSource &B,
                 float *C, int64_t ldc, const GemmEpilogue &ep, float *workspace);

/* Strided A and B, with matrix-vector fast paths for M == 1 or N == 1. */
void gemm_strided(int64_t M, int64_t N, int64_t K, const float *A, int64_t rsa, int64_t csa, const float *B,
                  int64_t rsb, int64_t csb, float *C, int64_t ldc, const GemmEpilogue &ep, float *workspace);

/* ------------------------------------------------------------------------------------------
 * Odometer over up to DASH_MAX_RANK dims (the last one is handled by the caller's inner loop).
 * ---------------------------------------------------------------------------------------- */
struct Odometer {
  int rank = 0; /* number of outer dims */
  int64_t shape[DASH_MAX_RANK] = {0};
  int64_t idx[DASH_MAX_RANK] = {0};
  /* advance; returns the dimension that was incremented (or -1 when done) */
  int next() {
    for (int d = rank - 1; d >= 0; --d) {
      if (++idx[d] < shape[d]) return d;
      idx[d] = 0;
    }
    return -1;
  }
  /* walk the outer dims of a rank-dim shape (the last dim is the caller's row); returns the row count */
  int64_t outer_of(int full_rank, const int64_t *full_shape) {
    rank = full_rank - 1;
    int64_t rows = 1;
    for (int d = 0; d < rank; ++d) {
      shape[d] = full_shape[d];
      rows *= full_shape[d];
    }
    return rows;
  }
};

} /* namespace detail */
} /* namespace o2c */

#endif /* ONNX2CEDR_KERNELS_CPU_INTERNAL_H */

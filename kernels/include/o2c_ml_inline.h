/*
 * o2c_ml_inline.h - the ML APIs of dash_ml.h run inline on the caller's thread: the blocking form
 * calls the CPU implementation, the _nb form does so and then signals the barrier. One definition,
 * two users, selected by macros before inclusion:
 *   O2C_ML_INLINE_ALL             every form (src/api_inline.cpp: the standalone entry points);
 *   O2C_ML_FALLBACK_<symbol>      that one form (entry/app_fallback.cpp, compiled once per symbol
 *                                 into libdash_fallback.a: an extended app's fallbacks, linked only
 *                                 for the forms its model calls).
 * O2C_ML_INLINE_API prefixes each definition (e.g. a visibility attribute).
 */
#ifndef ONNX2CEDR_O2C_ML_INLINE_H
#define ONNX2CEDR_O2C_ML_INLINE_H

#include "o2c_kernels.h"

#ifndef O2C_ML_INLINE_API
#define O2C_ML_INLINE_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

#if defined(O2C_ML_INLINE_ALL) || defined(O2C_ML_FALLBACK_DASH_GEMM_RE_flt)
O2C_ML_INLINE_API void DASH_GEMM_RE_flt(const float *A, const float *B, const float *bias, float *C,
                                        const dash_gemm_params_t *p) {
  DASH_GEMM_RE_flt_cpu(&A, &B, &bias, &C, &p);
}
#endif
#if defined(O2C_ML_INLINE_ALL) || defined(O2C_ML_FALLBACK_DASH_GEMM_RE_flt_nb)
O2C_ML_INLINE_API void DASH_GEMM_RE_flt_nb(const float **A, const float **B, const float **bias, float **C,
                                           const dash_gemm_params_t **p, cedr_barrier_t *barrier) {
  DASH_GEMM_RE_flt_cpu(A, B, bias, C, p);
  cedr_barrier_signal(barrier);
}
#endif

#if defined(O2C_ML_INLINE_ALL) || defined(O2C_ML_FALLBACK_DASH_CONV_flt)
O2C_ML_INLINE_API void DASH_CONV_flt(const float *in, const float *weight, const float *bias, float *out,
                                     const dash_conv_params_t *p) {
  DASH_CONV_flt_cpu(&in, &weight, &bias, &out, &p);
}
#endif
#if defined(O2C_ML_INLINE_ALL) || defined(O2C_ML_FALLBACK_DASH_CONV_flt_nb)
O2C_ML_INLINE_API void DASH_CONV_flt_nb(const float **in, const float **weight, const float **bias, float **out,
                                        const dash_conv_params_t **p, cedr_barrier_t *barrier) {
  DASH_CONV_flt_cpu(in, weight, bias, out, p);
  cedr_barrier_signal(barrier);
}
#endif

#if defined(O2C_ML_INLINE_ALL) || defined(O2C_ML_FALLBACK_DASH_CONV_TRANSPOSE_flt)
O2C_ML_INLINE_API void DASH_CONV_TRANSPOSE_flt(const float *in, const float *weight, const float *bias, float *out,
                                               const dash_conv_params_t *p) {
  DASH_CONV_TRANSPOSE_flt_cpu(&in, &weight, &bias, &out, &p);
}
#endif
#if defined(O2C_ML_INLINE_ALL) || defined(O2C_ML_FALLBACK_DASH_CONV_TRANSPOSE_flt_nb)
O2C_ML_INLINE_API void DASH_CONV_TRANSPOSE_flt_nb(const float **in, const float **weight, const float **bias,
                                                  float **out, const dash_conv_params_t **p,
                                                  cedr_barrier_t *barrier) {
  DASH_CONV_TRANSPOSE_flt_cpu(in, weight, bias, out, p);
  cedr_barrier_signal(barrier);
}
#endif

#if defined(O2C_ML_INLINE_ALL) || defined(O2C_ML_FALLBACK_DASH_POOL_flt)
O2C_ML_INLINE_API void DASH_POOL_flt(const float *in, float *out, const dash_pool_params_t *p) {
  DASH_POOL_flt_cpu(&in, &out, &p);
}
#endif
#if defined(O2C_ML_INLINE_ALL) || defined(O2C_ML_FALLBACK_DASH_POOL_flt_nb)
O2C_ML_INLINE_API void DASH_POOL_flt_nb(const float **in, float **out, const dash_pool_params_t **p,
                                        cedr_barrier_t *barrier) {
  DASH_POOL_flt_cpu(in, out, p);
  cedr_barrier_signal(barrier);
}
#endif

#if defined(O2C_ML_INLINE_ALL) || defined(O2C_ML_FALLBACK_DASH_BINARY_flt)
O2C_ML_INLINE_API void DASH_BINARY_flt(const float *a, const float *b, float *out, const dash_binary_params_t *p) {
  DASH_BINARY_flt_cpu(&a, &b, &out, &p);
}
#endif
#if defined(O2C_ML_INLINE_ALL) || defined(O2C_ML_FALLBACK_DASH_BINARY_flt_nb)
O2C_ML_INLINE_API void DASH_BINARY_flt_nb(const float **a, const float **b, float **out,
                                          const dash_binary_params_t **p, cedr_barrier_t *barrier) {
  DASH_BINARY_flt_cpu(a, b, out, p);
  cedr_barrier_signal(barrier);
}
#endif

#if defined(O2C_ML_INLINE_ALL) || defined(O2C_ML_FALLBACK_DASH_UNARY_flt)
O2C_ML_INLINE_API void DASH_UNARY_flt(const float *in, float *out, const dash_unary_params_t *p) {
  DASH_UNARY_flt_cpu(&in, &out, &p);
}
#endif
#if defined(O2C_ML_INLINE_ALL) || defined(O2C_ML_FALLBACK_DASH_UNARY_flt_nb)
O2C_ML_INLINE_API void DASH_UNARY_flt_nb(const float **in, float **out, const dash_unary_params_t **p,
                                         cedr_barrier_t *barrier) {
  DASH_UNARY_flt_cpu(in, out, p);
  cedr_barrier_signal(barrier);
}
#endif

#if defined(O2C_ML_INLINE_ALL) || defined(O2C_ML_FALLBACK_DASH_SOFTMAX_flt)
O2C_ML_INLINE_API void DASH_SOFTMAX_flt(const float *in, float *out, const dash_softmax_params_t *p) {
  DASH_SOFTMAX_flt_cpu(&in, &out, &p);
}
#endif
#if defined(O2C_ML_INLINE_ALL) || defined(O2C_ML_FALLBACK_DASH_SOFTMAX_flt_nb)
O2C_ML_INLINE_API void DASH_SOFTMAX_flt_nb(const float **in, float **out, const dash_softmax_params_t **p,
                                           cedr_barrier_t *barrier) {
  DASH_SOFTMAX_flt_cpu(in, out, p);
  cedr_barrier_signal(barrier);
}
#endif

#if defined(O2C_ML_INLINE_ALL) || defined(O2C_ML_FALLBACK_DASH_QCONV_i8)
O2C_ML_INLINE_API void DASH_QCONV_i8(const int8_t *in, const int8_t *weight, const int32_t *bias,
                                     const float *multiplier, int8_t *out, const dash_qconv_params_t *p) {
  DASH_QCONV_i8_cpu(&in, &weight, &bias, &multiplier, &out, &p);
}
#endif
#if defined(O2C_ML_INLINE_ALL) || defined(O2C_ML_FALLBACK_DASH_QCONV_i8_nb)
O2C_ML_INLINE_API void DASH_QCONV_i8_nb(const int8_t **in, const int8_t **weight, const int32_t **bias,
                                        const float **multiplier, int8_t **out, const dash_qconv_params_t **p, cedr_barrier_t *barrier) {
  DASH_QCONV_i8_cpu(in, weight, bias, multiplier, out, p);
  cedr_barrier_signal(barrier);
}
#endif

#if defined(O2C_ML_INLINE_ALL) || defined(O2C_ML_FALLBACK_DASH_QGEMM_i8)
O2C_ML_INLINE_API void DASH_QGEMM_i8(const int8_t *in, const int8_t *weight, const int32_t *bias,
                                     const float *multiplier, int8_t *out, const dash_qgemm_params_t *p) {
  DASH_QGEMM_i8_cpu(&in, &weight, &bias, &multiplier, &out, &p);
}
#endif
#if defined(O2C_ML_INLINE_ALL) || defined(O2C_ML_FALLBACK_DASH_QGEMM_i8_nb)
O2C_ML_INLINE_API void DASH_QGEMM_i8_nb(const int8_t **in, const int8_t **weight, const int32_t **bias,
                                        const float **multiplier, int8_t **out, const dash_qgemm_params_t **p, cedr_barrier_t *barrier) {
  DASH_QGEMM_i8_cpu(in, weight, bias, multiplier, out, p);
  cedr_barrier_signal(barrier);
}
#endif

#if defined(O2C_ML_INLINE_ALL) || defined(O2C_ML_FALLBACK_DASH_QCONV_i16)
O2C_ML_INLINE_API void DASH_QCONV_i16(const int16_t *in, const int16_t *weight, const int32_t *bias,
                                      const float *multiplier, int16_t *out, const dash_qconv_params_t *p) {
  DASH_QCONV_i16_cpu(&in, &weight, &bias, &multiplier, &out, &p);
}
#endif
#if defined(O2C_ML_INLINE_ALL) || defined(O2C_ML_FALLBACK_DASH_QCONV_i16_nb)
O2C_ML_INLINE_API void DASH_QCONV_i16_nb(const int16_t **in, const int16_t **weight, const int32_t **bias,
                                         const float **multiplier, int16_t **out, const dash_qconv_params_t **p,
                                         cedr_barrier_t *barrier) {
  DASH_QCONV_i16_cpu(in, weight, bias, multiplier, out, p);
  cedr_barrier_signal(barrier);
}
#endif
#if defined(O2C_ML_INLINE_ALL) || defined(O2C_ML_FALLBACK_DASH_BGEMM_b1)
O2C_ML_INLINE_API void DASH_BGEMM_b1(const float *in, const uint64_t *weight, const float *scale, const float *bias,
                                     float *out, const dash_bgemm_params_t *p) {
  DASH_BGEMM_b1_cpu(&in, &weight, &scale, &bias, &out, &p);
}
#endif
#if defined(O2C_ML_INLINE_ALL) || defined(O2C_ML_FALLBACK_DASH_BGEMM_b1_nb)
O2C_ML_INLINE_API void DASH_BGEMM_b1_nb(const float **in, const uint64_t **weight, const float **scale,
                                        const float **bias, float **out, const dash_bgemm_params_t **p,
                                        cedr_barrier_t *barrier) {
  DASH_BGEMM_b1_cpu(in, weight, scale, bias, out, p);
  cedr_barrier_signal(barrier);
}
#endif

#if defined(O2C_ML_INLINE_ALL) || defined(O2C_ML_FALLBACK_DASH_QGEMM_i16)
O2C_ML_INLINE_API void DASH_QGEMM_i16(const int16_t *in, const int16_t *weight, const int32_t *bias,
                                      const float *multiplier, int16_t *out, const dash_qgemm_params_t *p) {
  DASH_QGEMM_i16_cpu(&in, &weight, &bias, &multiplier, &out, &p);
}
#endif
#if defined(O2C_ML_INLINE_ALL) || defined(O2C_ML_FALLBACK_DASH_QGEMM_i16_nb)
O2C_ML_INLINE_API void DASH_QGEMM_i16_nb(const int16_t **in, const int16_t **weight, const int32_t **bias,
                                         const float **multiplier, int16_t **out, const dash_qgemm_params_t **p,
                                         cedr_barrier_t *barrier) {
  DASH_QGEMM_i16_cpu(in, weight, bias, multiplier, out, p);
  cedr_barrier_signal(barrier);
}
#endif
#if defined(O2C_ML_INLINE_ALL) || defined(O2C_ML_FALLBACK_DASH_BCONV_b1)
O2C_ML_INLINE_API void DASH_BCONV_b1(const float *in, const uint64_t *weight, const float *scale, const float *bias,
                                     float *out, const dash_bconv_params_t *p) {
  DASH_BCONV_b1_cpu(&in, &weight, &scale, &bias, &out, &p);
}
#endif
#if defined(O2C_ML_INLINE_ALL) || defined(O2C_ML_FALLBACK_DASH_BCONV_b1_nb)
O2C_ML_INLINE_API void DASH_BCONV_b1_nb(const float **in, const uint64_t **weight, const float **scale,
                                        const float **bias, float **out, const dash_bconv_params_t **p,
                                        cedr_barrier_t *barrier) {
  DASH_BCONV_b1_cpu(in, weight, scale, bias, out, p);
  cedr_barrier_signal(barrier);
}
#endif

#ifdef __cplusplus
}
#endif

#endif /* ONNX2CEDR_O2C_ML_INLINE_H */

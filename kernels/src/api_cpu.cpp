/*
 * api_cpu.cpp - the CPU processing-element implementations of onnx2cedr's ML APIs
 * (DASH_<API>_flt_cpu): they take the pointer-to-argument list the runtime passes and run the
 * o2c_* kernels. The public APIs' _cpu implementations live in src/public/.
 */
#include "o2c_kernels.h"

extern "C" {

void DASH_GEMM_RE_flt_cpu(const float **A, const float **B, const float **bias, float **C,
                          const dash_gemm_params_t **p) {
  o2c_gemm(*A, *B, *bias, *C, *p);
}

void DASH_CONV_flt_cpu(const float **in, const float **weight, const float **bias, float **out,
                       const dash_conv_params_t **p) {
  o2c_conv(*in, *weight, *bias, *out, *p);
}

void DASH_CONV_TRANSPOSE_flt_cpu(const float **in, const float **weight, const float **bias, float **out,
                                 const dash_conv_params_t **p) {
  o2c_conv_transpose(*in, *weight, *bias, *out, *p);
}

void DASH_POOL_flt_cpu(const float **in, float **out, const dash_pool_params_t **p) { o2c_pool(*in, *out, *p); }

void DASH_BINARY_flt_cpu(const float **a, const float **b, float **out, const dash_binary_params_t **p) {
  o2c_binary(*a, *b, *out, *p);
}

void DASH_UNARY_flt_cpu(const float **in, float **out, const dash_unary_params_t **p) { o2c_unary(*in, *out, *p); }

void DASH_SOFTMAX_flt_cpu(const float **in, float **out, const dash_softmax_params_t **p) {
  o2c_softmax(*in, *out, *p);
}

void DASH_QCONV_i8_cpu(const int8_t **in, const int8_t **weight, const int32_t **bias, const float **multiplier,
                       int8_t **out, const dash_qconv_params_t **p) {
  o2c_qconv(*in, *weight, *bias, *multiplier, *out, *p);
}

void DASH_QGEMM_i8_cpu(const int8_t **in, const int8_t **weight, const int32_t **bias, const float **multiplier,
                       int8_t **out, const dash_qgemm_params_t **p) {
  o2c_qgemm(*in, *weight, *bias, *multiplier, *out, *p);
}

void DASH_QCONV_i16_cpu(const int16_t **in, const int16_t **weight, const int32_t **bias, const float **multiplier,
                        int16_t **out, const dash_qconv_params_t **p) {
  o2c_qconv16(*in, *weight, *bias, *multiplier, *out, *p);
}

void DASH_QGEMM_i16_cpu(const int16_t **in, const int16_t **weight, const int32_t **bias, const float **multiplier,
                        int16_t **out, const dash_qgemm_params_t **p) {
  o2c_qgemm16(*in, *weight, *bias, *multiplier, *out, *p);
}

void DASH_BGEMM_b1_cpu(const float **in, const uint64_t **weight, const float **scale, const float **bias, float **out,
                       const dash_bgemm_params_t **p) {
  o2c_bgemm(*in, *weight, *scale, *bias, *out, *p);
}

void DASH_BCONV_b1_cpu(const float **in, const uint64_t **weight, const float **scale, const float **bias, float **out,
                       const dash_bconv_params_t **p) {
  o2c_bconv(*in, *weight, *scale, *bias, *out, *p);
}

} /* extern "C" */

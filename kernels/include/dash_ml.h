/*
 * dash_ml.h - onnx2cedr's real-valued ML kernel APIs, following the CEDR convention:
 *   blocking   DASH_<API>_flt(args...)
 *   non-block  DASH_<API>_flt_nb(&args..., cedr_barrier_t *barrier)
 *   PE impls   DASH_<API>_flt_cpu(&args...)            (and _<resource>(&args..., uint8_t idx))
 * Every API takes its tensors as pointers and one parameter struct, so the argument list
 * stays far below CEDR's 20-argument limit. Tensors are dense, row-major (NCHW for images).
 * Parameter structs are plain data, filled by the generated code at compile time.
 */
#ifndef ONNX2CEDR_DASH_ML_H
#define ONNX2CEDR_DASH_ML_H

#include "dash.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DASH_MAX_RANK 8
#define DASH_MAX_SPATIAL 3

/* Unary operations. The first block (up to DASH_UNARY_LAST_ACTIVATION) can be fused into the
 * epilogue of GEMM, CONV and BINARY. alpha/beta meanings per op are given beside each. */
typedef enum dash_unary_op {
  DASH_ACT_NONE = 0,
  DASH_ACT_RELU = 1,
  DASH_ACT_LEAKY_RELU = 2,   /* x >= 0 ? x : alpha*x */
  DASH_ACT_CLIP = 3,         /* min(max(x, alpha), beta) */
  DASH_ACT_SIGMOID = 4,
  DASH_ACT_TANH = 5,
  DASH_ACT_HARD_SIGMOID = 6, /* max(0, min(1, alpha*x + beta)) */
  DASH_ACT_HARD_SWISH = 7,   /* x * max(0, min(1, x/6 + 1/2)) */
  DASH_ACT_ELU = 8,          /* x >= 0 ? x : alpha*(exp(x)-1) */
  DASH_UNARY_LAST_ACTIVATION = 8,
  DASH_UNARY_IDENTITY = 9,   /* copy */
  DASH_UNARY_EXP = 10,
  DASH_UNARY_LOG = 11,
  DASH_UNARY_SQRT = 12,
  DASH_UNARY_ABS = 13,
  DASH_UNARY_NEG = 14,
  DASH_UNARY_RECIPROCAL = 15,
  DASH_UNARY_FLOOR = 16,
  DASH_UNARY_CEIL = 17,
  DASH_UNARY_ERF = 18,
  DASH_UNARY_SOFTPLUS = 19,
  DASH_UNARY_SIN = 20,
  DASH_UNARY_COS = 21,
  DASH_UNARY_ROUND = 22,     /* round half to even */
  DASH_UNARY_SIGN = 23,
  DASH_UNARY_AFFINE = 24,    /* alpha*x + beta */
  /* activations fused like the first block (DASH_ACT_FIRST_EXTRA..DASH_ACT_LAST_EXTRA) */
  DASH_ACT_SWISH = 25,       /* x*sigmoid(alpha*x) (SiLU: alpha = 1) */
  DASH_ACT_GELU = 26,        /* 0.5*x*(1 + erf(x/sqrt(2))) */
  DASH_ACT_GELU_TANH = 27,   /* 0.5*x*(1 + tanh(sqrt(2/pi)*(x + 0.044715*x^3))) */
  DASH_ACT_MISH = 28,        /* x*tanh(softplus(x)) */
  DASH_ACT_FIRST_EXTRA = 25,
  DASH_ACT_LAST_EXTRA = 28
} dash_unary_op_t;

typedef struct dash_act {
  int32_t op;   /* dash_unary_op_t */
  float alpha;
  float beta;
} dash_act_t;

/* ---- GEMM_RE: real batched GEMM with bias and fused activation ----
 * For b in [0, batch): C_b = act(alpha * op(A_b) * op(B_b) + beta * bias)
 * op(A) is M x K (A stored K x M when trans_a), op(B) is K x N (B stored N x K when trans_b),
 * C is M x N row-major. A_b = A + b*stride_a (0 broadcasts one matrix), same for B and C.
 * bias_kind: 0 none, 1 scalar, 2 per column (N values), 3 per row (M values), 4 full M x N;
 * the same bias applies to every batch. bias may be NULL when bias_kind is 0. */
typedef struct dash_gemm_params {
  int64_t batch, M, N, K;
  int64_t stride_a, stride_b, stride_c;
  int32_t trans_a, trans_b;
  float alpha, beta;
  int32_t bias_kind;
  dash_act_t act;
} dash_gemm_params_t;

/* ---- CONV: multi-channel 1-D/2-D/3-D convolution, NC<spatial> layout ----
 * in:     batch x in_channels x in_size[0..rank)
 * weight: out_channels x (in_channels/groups) x kernel[0..rank)
 * bias:   out_channels values (NULL when has_bias is 0)
 * out:    batch x out_channels x out_size[0..rank)
 * out[o] = act(bias + sum in[o*stride - pad_begin + k*dilation] * w[k]); input outside the
 * tensor is zero (the end padding is implied by out_size). */
typedef struct dash_conv_params {
  int32_t spatial_rank; /* 1..3 */
  int32_t has_bias;
  int64_t batch, in_channels, out_channels, groups;
  int64_t in_size[DASH_MAX_SPATIAL];
  int64_t out_size[DASH_MAX_SPATIAL];
  int64_t kernel[DASH_MAX_SPATIAL];
  int64_t stride[DASH_MAX_SPATIAL];
  int64_t dilation[DASH_MAX_SPATIAL];
  int64_t pad_begin[DASH_MAX_SPATIAL];
  dash_act_t act;
  /* Optional: the weights as o2c_conv_pack (o2c_kernels.h) laid them out for the CPU kernel, made
   * once when the model loads. NULL: the CPU kernel packs per call. Read only by the CPU kernel
   * library that made it (a buffer of another build is ignored); other implementations
   * (accelerators, the public ABI) ignore it and read `weight`, which must always be passed. */
  const void *packed;
} dash_conv_params_t;

/* ---- CONV_TRANSPOSE: same struct; weight is in_channels x (out_channels/groups) x kernel.
 * out[i*stride - pad_begin + k*dilation] += in[i] * w[k], then + bias, then act; positions of
 * the full result outside [0, out_size) are dropped (output_padding is implied by out_size). */

/* ---- POOL: max / average / Lp pooling over the spatial dims of (channels = N*C) planes ---- */
typedef enum dash_pool_kind { DASH_POOL_MAX = 0, DASH_POOL_AVG = 1, DASH_POOL_LP = 2 } dash_pool_kind_t;
typedef struct dash_pool_params {
  int32_t kind;
  int32_t spatial_rank;       /* 1..3 */
  int32_t count_include_pad;  /* AVG: divisor counts padding (but never the ceil_mode overhang) */
  int32_t p;                  /* LP: the norm's order */
  int64_t channels;           /* batch * channels */
  int64_t in_size[DASH_MAX_SPATIAL];
  int64_t out_size[DASH_MAX_SPATIAL];
  int64_t kernel[DASH_MAX_SPATIAL];
  int64_t stride[DASH_MAX_SPATIAL];
  int64_t dilation[DASH_MAX_SPATIAL];
  int64_t pad_begin[DASH_MAX_SPATIAL];
  int64_t pad_end[DASH_MAX_SPATIAL];
} dash_pool_params_t;

/* ---- BINARY: element-wise with numpy broadcasting, then a fused activation ----
 * For every index i of out_shape (rank dims): out[i] = act(a[sum i_d*a_stride[d]] op b[...]).
 * Strides are in elements; a stride of 0 broadcasts. out is dense. */
typedef enum dash_binary_op {
  DASH_BIN_ADD = 0, DASH_BIN_SUB = 1, DASH_BIN_MUL = 2, DASH_BIN_DIV = 3,
  DASH_BIN_MAX = 4, DASH_BIN_MIN = 5, DASH_BIN_POW = 6,
  DASH_BIN_PRELU = 7 /* a >= 0 ? a : a*b */
} dash_binary_op_t;
typedef struct dash_binary_params {
  int32_t op;
  int32_t rank;
  int64_t out_shape[DASH_MAX_RANK];
  int64_t a_stride[DASH_MAX_RANK];
  int64_t b_stride[DASH_MAX_RANK];
  dash_act_t act;
} dash_binary_params_t;

/* ---- UNARY: out[i] = op(in[i]) for i < n; in-place safe ---- */
typedef struct dash_unary_params {
  int64_t n;
  dash_act_t op;
} dash_unary_params_t;

/* ---- SOFTMAX: over the middle axis of an (outer, axis, inner) view; log selects LogSoftmax ---- */
typedef struct dash_softmax_params {
  int64_t outer, axis, inner;
  int32_t log;
} dash_softmax_params_t;

/* ---- QCONV / QGEMM: integer convolution and GEMM with requantization (QDQ models) ----
 * in and out hold int8 or uint8 elements (the *_unsigned flags say which; passed as int8_t *),
 * weight is int8 with zero point 0, bias int32 (NULL: none) in the scale in_scale * w_scale[n],
 * multiplier float per output channel n: in_scale * w_scale[n] / out_scale. Per output element
 *   acc = bias[n] + sum (in - in_zero) * w            (exact, int32)
 *   out = saturate(round_half_even(float(acc) * multiplier[n]) + out_zero)
 * clamped below at out_zero when relu is set (a Relu between the layer and its QuantizeLinear).
 * QCONV: the convolution of dash_conv_params_t (its act and packed unused), weight as DASH_CONV's.
 * QGEMM: out (M x N) = in (M x K) . op(weight), weight N x K when trans_b, else K x N.
 * packed: optional, as dash_conv_params_t.packed (made by o2c_qconv_pack / o2c_qgemm_pack). */
typedef struct dash_qconv_params {
  dash_conv_params_t conv;
  int32_t in_zero, out_zero;
  int32_t in_unsigned, out_unsigned;
  int32_t relu;
  const void *packed;
  int32_t out_int32; /* out holds the int32 accumulators acc, not requantized (ConvInteger); multiplier unused */
} dash_qconv_params_t;

typedef struct dash_qgemm_params {
  int64_t M, N, K;
  int32_t trans_b;
  int32_t in_zero, out_zero;
  int32_t in_unsigned, out_unsigned;
  int32_t relu;
  const void *packed;
  int32_t out_int32; /* out holds the int32 accumulators acc, not requantized (MatMulInteger); multiplier unused */
} dash_qgemm_params_t;


/* ---- BGEMM: binarized (XNOR / popcount) matrix product (BNN layers: bipolar activations and weights) ----
 * out (M x N, float) = scale[n] * sum_k sign(in[m][k]) * sign(w[n][k]) + bias[n]   (bias NULL: none)
 * sign(x) = +1 for x >= 0, else -1. in: float M x K, binarized by the kernel. weight: the bipolar
 * weights bit-packed, N rows of ceil(K / 64) uint64 words, bit k % 64 of word k / 64 of row n set when
 * w[n][k] is +1, bits beyond K clear; the sum is K - 2 * popcount(bits(in[m]) XOR weight[n]), exact.
 * scale: float per output channel (the activations' scale times the channel's weight magnitude). */
typedef struct dash_bgemm_params {
  int64_t M, N, K;
} dash_bgemm_params_t;

/* ---- BCONV: binarized 2-D convolution (group 1, no padding), the same bipolar product per output pixel:
 * out[b][o][y][x] = scale[o] * sum_{c,ky,kx} sign(in[b][c][y*sy + ky*dy][x*sx + kx*dx]) * sign(w[o][c][ky][kx])
 *                   + bias[o]
 * weight: per output channel, for each tap (ky, kx) in order, the signs of w[o][:][ky][kx] in ceil(C / 64)
 * uint64 words (bit c % 64 of word c / 64), bits beyond C clear. */
typedef struct dash_bconv_params {
  int64_t batch, in_channels, out_channels;
  int64_t in_size[2], out_size[2], kernel[2], stride[2], dilation[2];
} dash_bconv_params_t;


void DASH_GEMM_RE_flt(const float *A, const float *B, const float *bias, float *C, const dash_gemm_params_t *p);
void DASH_GEMM_RE_flt_nb(const float **A, const float **B, const float **bias, float **C,
                         const dash_gemm_params_t **p, cedr_barrier_t *barrier);
void DASH_GEMM_RE_flt_cpu(const float **A, const float **B, const float **bias, float **C,
                          const dash_gemm_params_t **p);

void DASH_CONV_flt(const float *in, const float *weight, const float *bias, float *out, const dash_conv_params_t *p);
void DASH_CONV_flt_nb(const float **in, const float **weight, const float **bias, float **out,
                      const dash_conv_params_t **p, cedr_barrier_t *barrier);
void DASH_CONV_flt_cpu(const float **in, const float **weight, const float **bias, float **out,
                       const dash_conv_params_t **p);

void DASH_CONV_TRANSPOSE_flt(const float *in, const float *weight, const float *bias, float *out,
                             const dash_conv_params_t *p);
void DASH_CONV_TRANSPOSE_flt_nb(const float **in, const float **weight, const float **bias, float **out,
                                const dash_conv_params_t **p, cedr_barrier_t *barrier);
void DASH_CONV_TRANSPOSE_flt_cpu(const float **in, const float **weight, const float **bias, float **out,
                                 const dash_conv_params_t **p);

void DASH_POOL_flt(const float *in, float *out, const dash_pool_params_t *p);
void DASH_POOL_flt_nb(const float **in, float **out, const dash_pool_params_t **p, cedr_barrier_t *barrier);
void DASH_POOL_flt_cpu(const float **in, float **out, const dash_pool_params_t **p);

void DASH_BINARY_flt(const float *a, const float *b, float *out, const dash_binary_params_t *p);
void DASH_BINARY_flt_nb(const float **a, const float **b, float **out, const dash_binary_params_t **p,
                        cedr_barrier_t *barrier);
void DASH_BINARY_flt_cpu(const float **a, const float **b, float **out, const dash_binary_params_t **p);

void DASH_UNARY_flt(const float *in, float *out, const dash_unary_params_t *p);
void DASH_UNARY_flt_nb(const float **in, float **out, const dash_unary_params_t **p, cedr_barrier_t *barrier);
void DASH_UNARY_flt_cpu(const float **in, float **out, const dash_unary_params_t **p);

void DASH_SOFTMAX_flt(const float *in, float *out, const dash_softmax_params_t *p);
void DASH_SOFTMAX_flt_nb(const float **in, float **out, const dash_softmax_params_t **p, cedr_barrier_t *barrier);
void DASH_SOFTMAX_flt_cpu(const float **in, float **out, const dash_softmax_params_t **p);

void DASH_QCONV_i8(const int8_t *in, const int8_t *weight, const int32_t *bias, const float *multiplier, int8_t *out,
                   const dash_qconv_params_t *p);
void DASH_QCONV_i8_nb(const int8_t **in, const int8_t **weight, const int32_t **bias, const float **multiplier,
                      int8_t **out, const dash_qconv_params_t **p, cedr_barrier_t *barrier);
void DASH_QCONV_i8_cpu(const int8_t **in, const int8_t **weight, const int32_t **bias, const float **multiplier,
                       int8_t **out, const dash_qconv_params_t **p);

void DASH_QGEMM_i8(const int8_t *in, const int8_t *weight, const int32_t *bias, const float *multiplier, int8_t *out,
                   const dash_qgemm_params_t *p);
void DASH_QGEMM_i8_nb(const int8_t **in, const int8_t **weight, const int32_t **bias, const float **multiplier,
                      int8_t **out, const dash_qgemm_params_t **p, cedr_barrier_t *barrier);
void DASH_QGEMM_i8_cpu(const int8_t **in, const int8_t **weight, const int32_t **bias, const float **multiplier,
                       int8_t **out, const dash_qgemm_params_t **p);

/* ---- QCONV / QGEMM, 16-bit: int16 QDQ models ----
 * The same parameter structs and arithmetic as the _i8 forms, on int16 or uint16 activations (the
 * *_unsigned flags) and int16 weights (zero point 0); acc is exact in int64 (int32 would overflow:
 * two full-range products already reach 2^31) and out = saturate16(round_half_even(double(acc) *
 * multiplier[n]) + out_zero). bias stays int32 (what onnxruntime.quantization writes). out_int32
 * writes acc saturated to int32. */
void DASH_QCONV_i16(const int16_t *in, const int16_t *weight, const int32_t *bias, const float *multiplier,
                    int16_t *out, const dash_qconv_params_t *p);
void DASH_QCONV_i16_nb(const int16_t **in, const int16_t **weight, const int32_t **bias, const float **multiplier,
                       int16_t **out, const dash_qconv_params_t **p, cedr_barrier_t *barrier);
void DASH_QCONV_i16_cpu(const int16_t **in, const int16_t **weight, const int32_t **bias, const float **multiplier,
                        int16_t **out, const dash_qconv_params_t **p);

void DASH_QGEMM_i16(const int16_t *in, const int16_t *weight, const int32_t *bias, const float *multiplier,
                    int16_t *out, const dash_qgemm_params_t *p);
void DASH_QGEMM_i16_nb(const int16_t **in, const int16_t **weight, const int32_t **bias, const float **multiplier,
                       int16_t **out, const dash_qgemm_params_t **p, cedr_barrier_t *barrier);
void DASH_QGEMM_i16_cpu(const int16_t **in, const int16_t **weight, const int32_t **bias, const float **multiplier,
                        int16_t **out, const dash_qgemm_params_t **p);

void DASH_BGEMM_b1(const float *in, const uint64_t *weight, const float *scale, const float *bias, float *out,
                   const dash_bgemm_params_t *p);
void DASH_BGEMM_b1_nb(const float **in, const uint64_t **weight, const float **scale, const float **bias, float **out,
                      const dash_bgemm_params_t **p, cedr_barrier_t *barrier);
void DASH_BGEMM_b1_cpu(const float **in, const uint64_t **weight, const float **scale, const float **bias, float **out,
                       const dash_bgemm_params_t **p);

void DASH_BCONV_b1(const float *in, const uint64_t *weight, const float *scale, const float *bias, float *out,
                   const dash_bconv_params_t *p);
void DASH_BCONV_b1_nb(const float **in, const uint64_t **weight, const float **scale, const float **bias, float **out,
                      const dash_bconv_params_t **p, cedr_barrier_t *barrier);
void DASH_BCONV_b1_cpu(const float **in, const uint64_t **weight, const float **scale, const float **bias, float **out,
                       const dash_bconv_params_t **p);

#ifdef __cplusplus
}
#endif

#endif /* ONNX2CEDR_DASH_ML_H */

/*
 * o2c_kernels.h - the CPU kernel library behind every API, callable inline.
 *
 * The DASH_*_flt_cpu implementations call these; generated code calls them directly for nodes
 * placed on the CPU fallback (run inline on the app's thread, not scheduled as a task), and for
 * data movement, which has no CEDR API. All tensors are dense and row-major.
 */
#ifndef ONNX2CEDR_O2C_KERNELS_H
#define ONNX2CEDR_O2C_KERNELS_H

#include "dash_ml.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- compute kernels (same parameter structs as the APIs) ---- */
/* Worker threads for the calling thread's kernel calls (default 1; at most O2C_MAX_THREADS).
 * Large kernels split their outputs (never a reduction) across them, so results do not depend
 * on the count. Returns the previous setting. */
#define O2C_MAX_THREADS 64
int o2c_set_threads(int n);
int o2c_get_threads(void);
/* Who ran the calling thread's parallel kernel work since the last reset (always counted: one
 * store per task to the running thread's own cache line). Slot 0 is the calling thread, slot k its
 * k-th helper thread. Fills tasks[k] (tasks of the kernels' parallel loops it ran; a loop run
 * inside a task is part of that task) and os_tids[k] (the OS thread id - gettid on
 * Linux - of the thread that ran them; 0 while it ran none) for k < min(n, slots), either pointer
 * may be NULL; returns slots (1 + the helpers started so far). Call between kernel calls, from the
 * thread that made them. */
int o2c_pool_stats(uint64_t *tasks, uint64_t *os_tids, int n);
void o2c_pool_stats_reset(void);

/* Integer convolution / GEMM (qconv.cpp; DASH_QCONV_i8 / DASH_QGEMM_i8) and their weights packed
 * once (the params' `packed`), as o2c_conv_pack. o2c_qgemm_s32 / o2c_qgemm_path: the raw int32
 * product C = A (M x K uint8) . W^T (N x K int8) of this build's micro-kernel, and which one it is
 * (2 AVX-512 VNNI, 1 AVX2, 0 portable), for tests; o2c_qgemm_mode: the AVX2 micro-kernel's mode for
 * these weights (0 int16 vpmaddwd, 1 vpmaddubsw with the activations' signs, 2 vpmaddubsw on 7-bit pairs). */
void o2c_qconv(const int8_t *in, const int8_t *weight, const int32_t *bias, const float *multiplier, int8_t *out,
               const dash_qconv_params_t *p);
size_t o2c_qconv_packed_bytes(const dash_qconv_params_t *p);
void o2c_qconv_pack(const int8_t *weight, const dash_qconv_params_t *p, void *dst);
void o2c_qgemm(const int8_t *in, const int8_t *weight, const int32_t *bias, const float *multiplier, int8_t *out,
               const dash_qgemm_params_t *p);
size_t o2c_qgemm_packed_bytes(const dash_qgemm_params_t *p);
void o2c_qgemm_pack(const int8_t *weight, const dash_qgemm_params_t *p, void *dst);
void o2c_qgemm_s32(const uint8_t *A, const int8_t *W, int64_t M, int64_t N, int64_t K, int32_t *C);
int o2c_qgemm_path(void);
int o2c_qgemm_mode(const int8_t *W, int64_t N, int64_t K);
/* 16-bit integer convolution / GEMM (qconv16.cpp; DASH_QCONV_i16 / DASH_QGEMM_i16), weights packed
 * once as o2c_qconv_pack. */
void o2c_qconv16(const int16_t *in, const int16_t *weight, const int32_t *bias, const float *multiplier,
                 int16_t *out, const dash_qconv_params_t *p);
size_t o2c_qconv16_packed_bytes(const dash_qconv_params_t *p);
void o2c_qconv16_pack(const int16_t *weight, const dash_qconv_params_t *p, void *dst);
void o2c_qgemm16(const int16_t *in, const int16_t *weight, const int32_t *bias, const float *multiplier,
                 int16_t *out, const dash_qgemm_params_t *p);
size_t o2c_qgemm16_packed_bytes(const dash_qgemm_params_t *p);
void o2c_qgemm16_pack(const int16_t *weight, const dash_qgemm_params_t *p, void *dst);
/* Binarized matrix product and convolution (bgemm.cpp; DASH_BGEMM_b1, DASH_BCONV_b1). For tests: o2c_bgemm_pack binarizes rows of K floats
 * into bits (1: x >= 0; ceil(K / 64) words a row), o2c_bgemm_s32 gives the exact bipolar dot products
 * K - 2 popcount(a XOR w) of packed rows, o2c_bgemm_path the popcount path (1 AVX2, 0 portable). */
void o2c_bgemm(const float *in, const uint64_t *weight, const float *scale, const float *bias, float *out,
               const dash_bgemm_params_t *p);
void o2c_bconv(const float *in, const uint64_t *weight, const float *scale, const float *bias, float *out,
               const dash_bconv_params_t *p);
void o2c_bgemm_pack(const float *x, int64_t rows, int64_t K, uint64_t *bits);
void o2c_bgemm_s32(const uint64_t *abits, const uint64_t *wbits, int64_t M, int64_t N, int64_t K, int32_t *C);
int o2c_bgemm_path(void);
/* QuantizeLinear / DequantizeLinear float32 <-> int8 or uint8 (is_unsigned) with one scale and zero
 * point, n elements (qlinear_io.cpp; the same results as o2c_quantize_linear for these types). */
typedef struct o2c_quant8_params {
  int64_t n;
  float scale;
  int32_t zero;
  int32_t is_unsigned;
} o2c_quant8_params_t;
void o2c_quantize_f32_q8(const float *in, int8_t *out, const o2c_quant8_params_t *p);
void o2c_dequantize_q8_f32(const int8_t *in, float *out, const o2c_quant8_params_t *p);
/* int8 / uint8 layers between integer layers of a QDQ model (qeltwise.cpp; scalar scales and zero
 * points, round half to even, saturate): o2c_qadd (a + b of equal shapes, n elements, ratios a_scale /
 * y_scale and b_scale / y_scale, relu: clamped below at y_zero), o2c_qpool (max / average pooling of
 * 1-D or 2-D planes), o2c_qrequant (a DequantizeLinear -> QuantizeLinear pair, n elements). */
typedef struct o2c_qadd_params {
  int64_t n;
  float a_ratio, b_ratio;
  int32_t a_zero, b_zero, y_zero;
  int32_t a_unsigned, b_unsigned, y_unsigned;
  int32_t relu;
} o2c_qadd_params_t;
typedef struct o2c_qpool_params {
  dash_pool_params_t pool; /* kind DASH_POOL_MAX or DASH_POOL_AVG, spatial_rank 1 or 2 */
  float in_scale, out_scale;
  int32_t in_zero, out_zero, in_unsigned, out_unsigned;
} o2c_qpool_params_t;
typedef struct o2c_qrequant_params {
  int64_t n;
  float in_scale, out_scale;
  int32_t in_zero, out_zero, in_unsigned, out_unsigned;
} o2c_qrequant_params_t;
void o2c_qadd(const int8_t *a, const int8_t *b, int8_t *out, const o2c_qadd_params_t *p);
void o2c_qpool(const int8_t *in, int8_t *out, const o2c_qpool_params_t *p);
void o2c_qrequant(const int8_t *in, int8_t *out, const o2c_qrequant_params_t *p);

void o2c_gemm(const float *A, const float *B, const float *bias, float *C, const dash_gemm_params_t *p);
void o2c_conv(const float *in, const float *weight, const float *bias, float *out, const dash_conv_params_t *p);
/* Weights packed once for o2c_conv (dash_conv_params_t.packed): o2c_conv_packed_bytes gives the
 * size of the buffer for this layer (0: the CPU kernel has no packed form for it, leave packed
 * NULL); o2c_conv_pack fills a buffer of that size (64-byte aligned). The result is read-only and
 * may be shared by any number of concurrent calls. Outputs are bit-identical with and without it. */
size_t o2c_conv_packed_bytes(const dash_conv_params_t *p);
void o2c_conv_pack(const float *weight, const dash_conv_params_t *p, void *dst);
void o2c_conv_transpose(const float *in, const float *weight, const float *bias, float *out,
                        const dash_conv_params_t *p);
void o2c_pool(const float *in, float *out, const dash_pool_params_t *p);
void o2c_binary(const float *a, const float *b, float *out, const dash_binary_params_t *p);
void o2c_unary(const float *in, float *out, const dash_unary_params_t *p);
void o2c_softmax(const float *in, float *out, const dash_softmax_params_t *p);

/* ---- complex packing, for layers lowered to the public API set (convert --api public) ----
 * DASH_GEMM_flt is a complex GEMM: a real product is computed on complex data with zero imaginary
 * parts. o2c_cplx_pack writes src (rows x cols, or cols x rows read transposed when trans) as a
 * rows x cols complex matrix; o2c_im2col_cplx writes the im2col matrix of one image of a
 * convolution (p->batch 1, p->groups 1) as (in_channels * prod kernel) x prod out_size complex
 * values, rows ordered like the weight's (channel, kernel...) axes; o2c_cplx_unpack writes
 * dst = act(alpha * re(src) + beta * bias) for a rows x cols complex src. */
typedef struct o2c_cplx_params {
  int64_t rows, cols;
  int32_t trans;     /* pack: src is stored cols x rows */
  int32_t bias_kind; /* unpack: 0 none, 1 scalar, 2 one per column, 3 one per row, 4 rows x cols */
  float alpha, beta; /* unpack */
  dash_act_t act;    /* unpack: fused activation */
} o2c_cplx_params_t;
void o2c_cplx_pack(const float *src, dash_cmplx_flt_type *dst, const o2c_cplx_params_t *p);
void o2c_cplx_unpack(const dash_cmplx_flt_type *src, const float *bias, float *dst, const o2c_cplx_params_t *p);
void o2c_im2col_cplx(const float *in, dash_cmplx_flt_type *cols, const dash_conv_params_t *p);

/* ---- the int16 convolution scheme of the public API set (convert --api public --conv int16) ----
 * Each input channel plane is quantized to int16 with its own scale (o2c_i16_quantize: scale[c] =
 * max|x_c| / 32767, q = round(x / scale[c]); an all-zero plane gets scale 1); DASH_CONV_2D_int runs
 * per (input, output) channel pair on the plane with the pair's mask normalized to sum|mask| = 1
 * (its "same" output then never saturates); o2c_i16_dequant takes the positions of the layer's
 * output from that "same" result (out[y][x] = same[y*stride_h + off_h][x*stride_w + off_w]) and
 * scales them by scale[channel] * factor (the mask's norm) into floats. */
typedef struct o2c_i16_params {
  int64_t channels, height, width;   /* quantize: planes of height x width */
  int64_t out_h, out_w, stride_h, stride_w, off_h, off_w;  /* dequant */
  int64_t channel;                   /* dequant: which scale */
  float factor;                      /* dequant */
} o2c_i16_params_t;
void o2c_i16_quantize(const float *x, dash_re_int_type *q, float *scale, const o2c_i16_params_t *p);
void o2c_i16_dequant(const dash_re_int_type *same, const float *scale, float *out, const o2c_i16_params_t *p);

/* ---- data movement, any element size ----
 * For every index i of shape (rank dims):
 *   dst[sum i_d*dst_stride[d]] = src[src_offset + sum i_d*src_stride[d]]
 * Strides and offset are in elements (src strides may be 0 or negative). Covers Transpose,
 * Slice, Concat (one call per input into a view of the output), Split, Expand, Tile,
 * DepthToSpace/SpaceToDepth and every reshape-like move. */
typedef struct o2c_copy_params {
  int32_t rank;
  int32_t elem_size; /* bytes: 1, 2, 4 or 8 */
  int64_t src_offset;
  int64_t shape[DASH_MAX_RANK];
  int64_t src_stride[DASH_MAX_RANK];
  int64_t dst_stride[DASH_MAX_RANK];
} o2c_copy_params_t;
void o2c_copy(const void *src, void *dst, const o2c_copy_params_t *p);

/* A run-time If's output: out = *cond (a bool, one byte) ? a : b (bytes each; passes/fold_if.py's IfSelect). */
typedef struct o2c_select_params {
  int64_t bytes;
} o2c_select_params_t;
void o2c_select(const uint8_t *cond, const void *a, const void *b, void *out, const o2c_select_params_t *p);

/* Fill n elements of elem_size bytes with the bytes of *value. */
void o2c_fill(void *dst, int64_t n, int32_t elem_size, const void *value);

/* ---- Pad: modes constant, reflect, edge, wrap ---- */
typedef enum o2c_pad_mode { O2C_PAD_CONSTANT = 0, O2C_PAD_REFLECT = 1, O2C_PAD_EDGE = 2, O2C_PAD_WRAP = 3 } o2c_pad_mode_t;
typedef struct o2c_pad_params {
  int32_t rank;
  int32_t mode;
  float value; /* constant mode */
  int64_t in_shape[DASH_MAX_RANK];
  int64_t out_shape[DASH_MAX_RANK];
  int64_t pad_begin[DASH_MAX_RANK]; /* may be negative (cropping) */
} o2c_pad_params_t;
void o2c_pad(const float *in, float *out, const o2c_pad_params_t *p);
/* the same for any element type (copied as elem_size-byte units); value points to the constant (one
 * element) or is NULL (zero); pad.value is not used */
typedef struct o2c_pad_typed_params {
  o2c_pad_params_t pad;
  int32_t elem_size;
} o2c_pad_typed_params_t;
void o2c_pad_typed(const void *in, const void *value, void *out, const o2c_pad_typed_params_t *p);

/* ---- Resize, separable: per output coordinate of each axis, taps input indices with weights.
 * tables holds, for axis d in order, out_shape[d]*taps entries of index (int64 in idx) and
 * weight (float in w). taps is 1 (nearest), 2 (linear), 4 (cubic) or more (antialiased). out = sum over the
 * taps^rank corner combinations of product of weights times input. With extrapolate set, an output
 * coordinate whose first tap index is negative lies outside the input (tf_crop_and_resize): every
 * output at such a coordinate of any axis is extrapolation_value. */
typedef struct o2c_resize_params {
  int32_t rank;
  int32_t taps;
  int64_t in_shape[DASH_MAX_RANK];
  int64_t out_shape[DASH_MAX_RANK];
  int32_t extrapolate;
  float extrapolation_value;
} o2c_resize_params_t;
void o2c_resize(const float *in, float *out, const int64_t *idx, const float *w, const o2c_resize_params_t *p);

/* ---- per-channel affine y = x*scale[c] + shift[c] on (outer, channels, inner): BatchNorm ---- */
typedef struct o2c_channel_affine_params {
  int64_t outer, channels, inner;
  dash_act_t act;
} o2c_channel_affine_params_t;
void o2c_channel_affine(const float *in, const float *scale, const float *shift, float *out,
                        const o2c_channel_affine_params_t *p);

/* ---- LRN across channels on (batch, channels, inner) ---- */
typedef struct o2c_lrn_params {
  int64_t batch, channels, inner;
  int64_t size;
  float alpha, beta, bias;
} o2c_lrn_params_t;
void o2c_lrn(const float *in, float *out, const o2c_lrn_params_t *p);

/* ---- Reduce over a set of axes (kept as size-1 dims in the output's dense layout) ---- */
typedef enum o2c_reduce_op {
  O2C_REDUCE_SUM = 0, O2C_REDUCE_MEAN = 1, O2C_REDUCE_MAX = 2, O2C_REDUCE_MIN = 3,
  O2C_REDUCE_PROD = 4, O2C_REDUCE_L1 = 5, O2C_REDUCE_L2 = 6, O2C_REDUCE_LOG_SUM_EXP = 7,
  O2C_REDUCE_SUM_SQUARE = 8, O2C_REDUCE_LOG_SUM = 9
} o2c_reduce_op_t;
typedef struct o2c_reduce_params {
  int32_t op;
  int32_t rank;
  int64_t in_shape[DASH_MAX_RANK];
  int32_t reduce[DASH_MAX_RANK]; /* 1 where the axis is reduced */
  int32_t type; /* of in and out (O2C_DT_* of o2c_typed.h; 0 means float): float, double, float16, bfloat16 */
} o2c_reduce_params_t;
void o2c_reduce(const void *in, void *out, const o2c_reduce_params_t *p);

/* ---- .npy files (little-endian, C order) for the app and executable entry points ----
 * o2c_npy_read reads a file whose dtype descriptor equals descr (e.g. "<f4") and whose element
 * count equals the product of shape[0..rank) into dst; returns 0 on success, else writes a
 * one-line reason into err. o2c_npy_write returns 0 on success, -1 on failure. */
int o2c_npy_read(const char *path, const char *descr, const int64_t *shape, int32_t rank, void *dst,
                 int64_t elem_size, char *err, size_t err_len);
int o2c_npy_write(const char *path, const char *descr, const int64_t *shape, int32_t rank, const void *src,
                  int64_t elem_size);

/* ---- element-wise math with no CEDR API (the DASH_UNARY unit implements ops 0..24 only) ----
 * out[i] = op(in[i]) for i < n; in-place safe. alpha/beta per op are given beside each. */
typedef enum o2c_math_op {
  O2C_MATH_TAN = 0, O2C_MATH_ASIN = 1, O2C_MATH_ACOS = 2, O2C_MATH_ATAN = 3,
  O2C_MATH_SINH = 4, O2C_MATH_COSH = 5, O2C_MATH_ASINH = 6, O2C_MATH_ACOSH = 7, O2C_MATH_ATANH = 8,
  O2C_MATH_SELU = 9,              /* x > 0 ? beta*x : beta*alpha*(exp(x)-1)  (alpha, gamma) */
  O2C_MATH_CELU = 10,             /* max(0,x) + min(0, alpha*(exp(x/alpha)-1)) */
  O2C_MATH_GELU = 11,             /* 0.5*x*(1 + erf(x/sqrt(2))) */
  O2C_MATH_GELU_TANH = 12,        /* 0.5*x*(1 + tanh(sqrt(2/pi)*(x + 0.044715*x^3))) */
  O2C_MATH_MISH = 13,             /* x*tanh(softplus(x)) */
  O2C_MATH_SOFTSIGN = 14,         /* x/(1+|x|) */
  O2C_MATH_THRESHOLDED_RELU = 15, /* x > alpha ? x : 0 */
  O2C_MATH_SHRINK = 16,           /* x < -alpha ? x+beta : (x > alpha ? x-beta : 0)  (lambd, bias) */
  O2C_MATH_SWISH = 17             /* x*sigmoid(alpha*x) */
} o2c_math_op_t;
typedef struct o2c_math_params {
  int64_t n;
  int32_t op;
  float alpha, beta;
} o2c_math_params_t;
void o2c_unary_math(const float *in, float *out, const o2c_math_params_t *p);

/* IsNaN (op 0) / IsInf (op 1, detect_negative / detect_positive) -> one byte (bool) per element */
typedef struct o2c_classify_params {
  int64_t n;
  int32_t op;
  int32_t detect_negative, detect_positive;
} o2c_classify_params_t;
void o2c_classify(const float *in, uint8_t *out, const o2c_classify_params_t *p);

/* Hardmax over the middle axis of an (outer, axis, inner) view: 1 at the first maximum, else 0 */
typedef struct o2c_hardmax_params {
  int64_t outer, axis, inner;
} o2c_hardmax_params_t;
void o2c_hardmax(const float *in, float *out, const o2c_hardmax_params_t *p);

/* ---- Normalization over a set of axes (LayerNorm, RMSNorm, Instance/GroupNorm, MVN, LpNorm) ----
 * Statistics run over the reduced axes, one slot per index of the kept axes. Per slot:
 *   MEAN_VAR  y = (x - mean) / sqrt(var + eps)        MEAN_STD y = (x - mean) / (sqrt(var) + eps)
 *   RMS       y = x / sqrt(mean(x^2) + eps)           L1 / L2  y = x / sum|x|  or  x / sqrt(sum x^2)
 *             (L1/L2: a zero norm gives 0)
 * then y = y * scale[..] + bias[..] where scale/bias (either may be NULL) are read through element
 * strides (0 broadcasts). mean_out / inv_out (may be NULL) receive, dense over the kept axes, the
 * mean and 1/denominator. Statistics are accumulated in double. */
typedef enum o2c_norm_kind {
  O2C_NORM_MEAN_VAR = 0, O2C_NORM_MEAN_STD = 1, O2C_NORM_RMS = 2, O2C_NORM_L1 = 3, O2C_NORM_L2 = 4
} o2c_norm_kind_t;
typedef struct o2c_norm_params {
  int32_t kind;
  int32_t rank;
  float epsilon;
  int64_t shape[DASH_MAX_RANK];
  int32_t reduce[DASH_MAX_RANK];
  int64_t scale_stride[DASH_MAX_RANK];
  int64_t bias_stride[DASH_MAX_RANK];
} o2c_norm_params_t;
void o2c_normalize(const float *in, const float *scale, const float *bias, float *out, float *mean_out,
                   float *inv_out, const o2c_norm_params_t *p);

/* ---- Einsum, generic: an index space of rank dims, the first rank_out of them the output's (dense,
 * in that order), the rest summed. out[o] = sum over the summed indices of the product of the
 * n_inputs (1..3) operands, each read at sum_d i_d*stride[k][d] (0: the operand ignores d).
 * type: the operands' element type (O2C_DT_* of o2c_typed.h; 0 means float): float, double,
 * float16 or bfloat16; accumulated in double, rounded once to the output type. */
typedef struct o2c_einsum_params {
  int32_t n_inputs;
  int32_t rank_out;
  int32_t rank;
  int64_t shape[DASH_MAX_RANK];
  int64_t stride[3][DASH_MAX_RANK];
  int32_t type;
} o2c_einsum_params_t;
void o2c_einsum(const void *a, const void *b, const void *c, void *out, const o2c_einsum_params_t *p);

/* ---- RNN / GRU / LSTM (ONNX semantics, gate orders: GRU z,r,h; LSTM i,o,f,c; peepholes i,o,f).
 * X: layout 0 [seq, batch, input], 1 [batch, seq, input]; W [dirs, G*hidden, input];
 * R [dirs, G*hidden, hidden]; B [dirs, 2*G*hidden] (NULL: zero); seq_lens [batch] (NULL: all seq);
 * initial_h / initial_c [dirs, batch, hidden] (layout 1: [batch, dirs, hidden]) or NULL; P [dirs, 3*hidden].
 * Y [seq, dirs, batch, hidden] (layout 1: [batch, seq, dirs, hidden]), Y_h / Y_c like initial_h; any
 * output may be NULL. Steps past a sequence's length give zeros in Y. act[d] = {f, g, h} per direction;
 * with has_clip, gate pre-activations are clipped to [-clip, clip]. */
typedef enum o2c_rnn_cell { O2C_RNN_SIMPLE = 0, O2C_RNN_GRU = 1, O2C_RNN_LSTM = 2 } o2c_rnn_cell_t;
typedef struct o2c_rnn_params {
  int32_t cell;
  int32_t direction; /* 0 forward, 1 reverse, 2 bidirectional */
  int32_t layout;
  int32_t linear_before_reset;
  int32_t has_clip;
  float clip;
  int64_t seq, batch, input, hidden;
  dash_act_t act[2][3];
} o2c_rnn_params_t;
void o2c_rnn(const float *X, const float *W, const float *R, const float *B, const int32_t *seq_lens,
             const float *initial_h, const float *initial_c, const float *P, float *Y, float *Y_h, float *Y_c,
             const o2c_rnn_params_t *p);

#ifdef __cplusplus
}
#endif

#endif /* ONNX2CEDR_O2C_KERNELS_H */

#include "o2c_typed.h" /* kernels over any element type */

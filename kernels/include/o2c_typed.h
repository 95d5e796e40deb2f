/*
 * o2c_typed.h - CPU kernels over any element type: casts, comparisons, logic, integer arithmetic,
 * selection, index ops (gather/scatter), arg/top-k reductions, cumulative sums, triangles, fills.
 *
 * Element types are named by their ONNX TensorProto codes (O2C_DT_*). Tensors are dense and
 * row-major; index tensors are int32 or int64 and may hold negative (from-the-end) indices.
 * An index out of range is never read or written: the kernel aborts with a message (these
 * kernels have no error channel, and must never produce garbage silently).
 */
#ifndef ONNX2CEDR_O2C_TYPED_H
#define ONNX2CEDR_O2C_TYPED_H

#include <stdint.h>

#include "dash_ml.h"

#ifdef __cplusplus
extern "C" {
#endif

enum {
  O2C_DT_FLOAT = 1, O2C_DT_UINT8 = 2, O2C_DT_INT8 = 3, O2C_DT_UINT16 = 4, O2C_DT_INT16 = 5, O2C_DT_INT32 = 6,
  O2C_DT_INT64 = 7, O2C_DT_BOOL = 9, O2C_DT_FLOAT16 = 10, O2C_DT_DOUBLE = 11, O2C_DT_UINT32 = 12,
  O2C_DT_UINT64 = 13, O2C_DT_BFLOAT16 = 16,
  /* casts only; one element per byte (not packed) */
  O2C_DT_FLOAT8E4M3FN = 17, O2C_DT_FLOAT8E4M3FNUZ = 18, O2C_DT_FLOAT8E5M2 = 19, O2C_DT_FLOAT8E5M2FNUZ = 20,
  O2C_DT_UINT4 = 21, O2C_DT_INT4 = 22, O2C_DT_FLOAT4E2M1 = 23, O2C_DT_UINT2 = 25, O2C_DT_INT2 = 26
};

/* ---- out[i] = (to) in[i]; float8 targets: saturate clamps to the largest finite value (else an
 * out-of-range value becomes inf or NaN, per format); 4-/2-bit integers wrap ---- */
typedef struct o2c_cast_params {
  int64_t n;
  int32_t from, to;
  int32_t saturate;
} o2c_cast_params_t;
void o2c_cast(const void *in, void *out, const o2c_cast_params_t *p);

/* ---- broadcasting binary over any type: out[i] = a[..] op b[..] (strides in elements, 0 = broadcast) ---- */
typedef enum o2c_binop {
  O2C_BIN_ADD = 0, O2C_BIN_SUB, O2C_BIN_MUL, O2C_BIN_DIV, O2C_BIN_MOD, O2C_BIN_FMOD, O2C_BIN_MAX, O2C_BIN_MIN,
  O2C_BIN_POW, O2C_BIN_EQ, O2C_BIN_LT, O2C_BIN_GT, O2C_BIN_LE, O2C_BIN_GE, O2C_BIN_AND, O2C_BIN_OR, O2C_BIN_XOR,
  O2C_BIN_BITAND, O2C_BIN_BITOR, O2C_BIN_BITXOR, O2C_BIN_SHL, O2C_BIN_SHR
} o2c_binop_t;
typedef struct o2c_binary_typed_params {
  int32_t op;
  int32_t type; /* of a and b; comparisons and logic write bool, the others this type */
  int32_t rank;
  int64_t out_shape[DASH_MAX_RANK];
  int64_t a_stride[DASH_MAX_RANK];
  int64_t b_stride[DASH_MAX_RANK];
} o2c_binary_typed_params_t;
void o2c_binary_typed(const void *a, const void *b, void *out, const o2c_binary_typed_params_t *p);

/* ---- element-wise unary over any type ---- */
typedef enum o2c_unop {
  O2C_UN_NOT = 0, O2C_UN_NEG, O2C_UN_ABS, O2C_UN_SIGN, O2C_UN_BITNOT, O2C_UN_ISNAN, O2C_UN_ISINF, O2C_UN_ISPOSINF,
  O2C_UN_ISNEGINF, O2C_UN_RELU, O2C_UN_IDENTITY,
  /* float types only (computed in the type's own precision; float16/bfloat16 in float) */
  O2C_UN_EXP, O2C_UN_LOG, O2C_UN_SQRT, O2C_UN_RECIPROCAL, O2C_UN_FLOOR, O2C_UN_CEIL, O2C_UN_ROUND, O2C_UN_TANH,
  O2C_UN_SIGMOID, O2C_UN_SIN, O2C_UN_COS, O2C_UN_ERF
} o2c_unop_t;
typedef struct o2c_unary_typed_params {
  int64_t n;
  int32_t op;
  int32_t type; /* of the input; ISNAN/ISINF write bool, the others this type */
} o2c_unary_typed_params_t;
void o2c_unary_typed(const void *in, void *out, const o2c_unary_typed_params_t *p);

/* ---- Where: out = cond ? x : y, all broadcast to out_shape ---- */
typedef struct o2c_where_params {
  int32_t rank;
  int32_t elem_size;
  int64_t out_shape[DASH_MAX_RANK];
  int64_t c_stride[DASH_MAX_RANK];
  int64_t x_stride[DASH_MAX_RANK];
  int64_t y_stride[DASH_MAX_RANK];
} o2c_where_params_t;
void o2c_where(const bool *cond, const void *x, const void *y, void *out, const o2c_where_params_t *p);

/* ---- Gather along an axis: data (outer, axis_dim, inner), n_idx indices -> (outer, n_idx, inner) ---- */
typedef struct o2c_gather_params {
  int64_t outer, axis_dim, inner, n_idx;
  int32_t elem_size;
  int32_t idx_type;
} o2c_gather_params_t;
void o2c_gather(const void *data, const void *idx, void *out, const o2c_gather_params_t *p);

/* ---- GatherElements / ScatterElements: idx has the shape of out (gather) or of updates (scatter) ---- */
typedef enum o2c_reduction { O2C_RED_NONE = 0, O2C_RED_ADD, O2C_RED_MUL, O2C_RED_MAX, O2C_RED_MIN } o2c_reduction_t;
typedef struct o2c_elements_params {
  int32_t rank;
  int32_t axis;
  int32_t type;
  int32_t idx_type;
  int32_t reduction; /* scatter only */
  int64_t data_shape[DASH_MAX_RANK];
  int64_t idx_shape[DASH_MAX_RANK];
} o2c_elements_params_t;
void o2c_gather_elements(const void *data, const void *idx, void *out, const o2c_elements_params_t *p);
/* out = data, then out[.. idx ..] (reduction)= updates */
void o2c_scatter_elements(const void *data, const void *idx, const void *updates, void *out,
                          const o2c_elements_params_t *p);

/* ---- GatherND / ScatterND: data (batch..., rest), idx (batch..., n_tuples, k); slice = prod(data dims after
 * batch_dims + k) ---- */
typedef struct o2c_nd_params {
  int64_t batch, n_tuples, k, slice;
  int64_t data_dims[DASH_MAX_RANK]; /* the k indexed dims (after the batch dims) */
  int64_t batch_stride;             /* elements of data per batch entry */
  int32_t type;
  int32_t reduction; /* scatter only */
} o2c_nd_params_t;
void o2c_gather_nd(const void *data, const int64_t *idx, void *out, const o2c_nd_params_t *p);
void o2c_scatter_nd(const void *data, const int64_t *idx, const void *updates, void *out, const o2c_nd_params_t *p);

/* ---- ArgMax/ArgMin over (outer, n, inner) -> int64 (outer, inner) ---- */
typedef struct o2c_arg_params {
  int64_t outer, n, inner;
  int32_t type;
  int32_t is_max;
  int32_t select_last;
} o2c_arg_params_t;
void o2c_arg_reduce(const void *in, int64_t *out, const o2c_arg_params_t *p);

/* ---- TopK over (outer, n, inner) -> values and int64 indices (outer, k, inner); ties: lower index first ---- */
typedef struct o2c_topk_params {
  int64_t outer, n, inner, k;
  int32_t type;
  int32_t largest;
} o2c_topk_params_t;
void o2c_topk(const void *in, void *values, int64_t *indices, const o2c_topk_params_t *p);

/* ---- CumSum (CumProd with product) over (outer, n, inner) ---- */
typedef struct o2c_cumsum_params {
  int64_t outer, n, inner;
  int32_t type;
  int32_t exclusive;
  int32_t reverse;
  int32_t product;
} o2c_cumsum_params_t;
void o2c_cumsum(const void *in, void *out, const o2c_cumsum_params_t *p);

/* ---- Trilu over (batch, rows, cols): keep j - i >= k (upper) or j - i <= k (lower), zero elsewhere ---- */
typedef struct o2c_trilu_params {
  int64_t batch, rows, cols, k;
  int32_t elem_size;
  int32_t upper;
} o2c_trilu_params_t;
void o2c_trilu(const void *in, void *out, const o2c_trilu_params_t *p);

/* ---- fill n elements with one value (its bytes, little-endian) ---- */
typedef struct o2c_fill_params {
  int64_t n;
  int32_t elem_size;
  uint8_t value[8];
} o2c_fill_params_t;
void o2c_fill_value(void *out, const o2c_fill_params_t *p);

/* ---- EyeLike: (rows, cols) with ones on diagonal k ---- */
typedef struct o2c_eye_params {
  int64_t rows, cols, k;
  int32_t type;
} o2c_eye_params_t;
void o2c_eye(void *out, const o2c_eye_params_t *p);

/* ---- OneHot: indices (outer, inner) -> out (outer, depth, inner); values = {off, on} ---- */
typedef struct o2c_onehot_params {
  int64_t outer, depth, inner;
  int32_t idx_type;
  int32_t elem_size;
} o2c_onehot_params_t;
void o2c_onehot(const void *idx, const void *values, void *out, const o2c_onehot_params_t *p);

/* ---- Attention's scores -> probabilities (the part between its two matrix products) ----
 * scores (batch, heads, q_len, kv_len) of `type` (float, double, float16, bfloat16). Per element:
 *   x = scores * scale, then x = softcap * tanh(x / softcap) when softcap > 0;
 *   bias = the mask (bool: 0 where true, -inf where false; float: its value; keys at or beyond
 *          mask_len: -inf) + -inf where the key is masked by the causal rule (key j <= i + offset),
 *          the window (i + offset - left <= j <= i + offset + right, -1: unbounded) or padding
 *          (j >= nonpad[b]); with nonpad, offset = nonpad[b] - q_len;
 *   probs = softmax over the keys of x + bias; a row whose bias is -inf everywhere is all zeros.
 * qk_out (may be NULL) receives x (qk_mode 0, 1), x + bias (2) or probs (3). Computed in float
 * (in double for double tensors or compute_double). mask may be NULL (mask_type 0); nonpad is an
 * int64 per batch entry or NULL. */
typedef struct o2c_attention_softmax_params {
  int64_t batch, heads, q_len, kv_len;
  int32_t type;
  int32_t mask_type;         /* 0: none, O2C_DT_BOOL, or the mask's float type */
  int64_t mask_len;          /* the mask's last dimension (<= kv_len) */
  int64_t mask_stride[3];    /* for batch, head, query (0 broadcasts); keys are dense */
  int32_t causal;
  int32_t qk_mode;
  int64_t offset;            /* keys preceding the query block (the past length) when nonpad is NULL */
  int64_t left_window, right_window;
  double scale, softcap;
  int32_t compute_double;
} o2c_attention_softmax_params_t;
void o2c_attention_softmax(const void *scores, const void *mask, const int64_t *nonpad, void *probs, void *qk_out,
                           const o2c_attention_softmax_params_t *p);

/* ---- NegativeLogLikelihoodLoss / SoftmaxCrossEntropyLoss over x (n, c, d) of `type` (float, double,
 * float16, bfloat16) and target (n, d) of int32/int64 ----
 * With log_softmax, x is first turned into log-probabilities over c (written to log_prob unless it is
 * NULL). Per position: loss = -x[n, target, d] * w, w = weight[target] (1 without weight), and w = 0
 * where target == ignore_index (has_ignore). reduction 0: loss (n, d); 1: the sum; 2: sum / sum of w.
 * A target outside [0, c) that is not ignored aborts with a message. Sums are accumulated in double. */
typedef struct o2c_nll_params {
  int64_t n, c, d;
  int32_t type;
  int32_t target_type;
  int32_t reduction;
  int32_t has_ignore;
  int64_t ignore_index;
  int32_t log_softmax;
} o2c_nll_params_t;
void o2c_nll_loss(const void *x, const void *target, const void *weight, void *loss, void *log_prob,
                  const o2c_nll_params_t *p);

/* ---- (Log)Softmax over the middle axis of an (outer, axis, inner) view for double, float16, bfloat16
 * (float32 has DASH_SOFTMAX): computed in double, rounded once ---- */
typedef struct o2c_softmax_typed_params {
  dash_softmax_params_t softmax;
  int32_t type;
} o2c_softmax_typed_params_t;
void o2c_softmax_typed(const void *in, void *out, const o2c_softmax_typed_params_t *p);

/* ---- RotaryEmbedding: x viewed as (batch, seq, heads, head) (heads_first: (batch, heads, seq, head)) of
 * `type` (float, double, float16, bfloat16). The first rot_dim values of each head rotate in pairs
 * (i, i + rot_dim/2), or (2i, 2i + 1) when interleaved, by the angle whose cosine and sine are
 * cos/sin[row, i], row = position_ids[b, s] (caches (max_position, rot_dim/2)) or, with position_ids
 * NULL, b * seq + s (caches (batch, seq, rot_dim/2)); the rest is copied. A position outside
 * [0, cache_rows) aborts with a message. ---- */
typedef struct o2c_rotary_params {
  int64_t batch, seq, heads, head, rot_dim;
  int64_t cache_rows;
  int32_t heads_first;
  int32_t interleaved;
  int32_t type;
} o2c_rotary_params_t;
void o2c_rotary(const void *x, const void *cos_cache, const void *sin_cache, const int64_t *position_ids, void *out,
                const o2c_rotary_params_t *p);

/* ---- QuantizeLinear / DequantizeLinear. x viewed as (outer, axis_dim, inner); the scale (and zero
 * point) element of x[o, d, i] is at o*s_outer + (d / block)*s_axis + i*s_inner (all 0: per tensor).
 * quantize: q = saturate(round_half_even(x / scale) + zero_point) for integer types (their own range,
 * 4-/2-bit included), x / scale cast (saturating or not) for float8, x / scale + zero_point cast for
 * float4. dequantize: y = (x - zero_point) * scale (float8/float4: no zero point). float_type: of the
 * float side (x for quantize, y for dequantize) and of the scale; quant_type: of q / x and the zero
 * point (which may be NULL). ---- */
typedef struct o2c_quant_params {
  int64_t outer, axis_dim, inner, block;
  int64_t s_outer, s_axis, s_inner;
  int32_t float_type;
  int32_t quant_type;
  int32_t saturate;
  int32_t dequantize;
} o2c_quant_params_t;
void o2c_quantize_linear(const void *in, const void *scale, const void *zero_point, void *out,
                         const o2c_quant_params_t *p);

/* ---- GridSample over (n, c, in_size[0..rank)) with grid (n, out_size[0..rank), rank) holding normalized
 * coordinates (x first: the last spatial axis); element type float, double, float16 or bfloat16.
 * mode 0 nearest (half to even), 1 linear, 2 cubic (Keys, alpha -0.75); padding 0 zeros, 1 border,
 * 2 reflection; ONNX GridSample-20 semantics. ---- */
typedef struct o2c_grid_sample_params {
  int32_t rank; /* 1..3 */
  int32_t mode;
  int32_t padding;
  int32_t align_corners;
  int32_t type;
  int64_t n, c;
  int64_t in_size[3];
  int64_t out_size[3];
} o2c_grid_sample_params_t;
void o2c_grid_sample(const void *x, const void *grid, void *out, const o2c_grid_sample_params_t *p);

/* ---- CausalConvWithState (opset 27): depthwise causal 1-D convolution over x (batch, channels, length)
 * with weight (channels, 1, k), optional bias (channels) and past_state (batch, channels, k - 1; NULL:
 * zeros); out (batch, channels, length), then silu when activation is 1; present (may be NULL) gets the
 * last k - 1 positions of past_state ++ x. Element type float, double, float16 or bfloat16. ---- */
typedef struct o2c_causal_conv_params {
  int64_t batch, channels, length, k;
  int32_t activation;
  int32_t type;
} o2c_causal_conv_params_t;
void o2c_causal_conv(const void *x, const void *weight, const void *bias, const void *past, void *out, void *present,
                     const o2c_causal_conv_params_t *p);

/* ---- DynamicQuantizeLinear over n floats: scale = (max(0, max x) - min(0, min x)) / 255 (1/255 when
 * that range is 0), zero point = round(clamp(-min/scale, 0, 255)), y = clamp(round(x/scale) + zero point,
 * 0, 255); rounding half to even, in float as the reference does ---- */
typedef struct o2c_dynamic_quantize_params {
  int64_t n;
} o2c_dynamic_quantize_params_t;
void o2c_dynamic_quantize(const float *x, uint8_t *y, float *scale, uint8_t *zero_point,
                          const o2c_dynamic_quantize_params_t *p);

/* ---- outputs with a dimension known only at run time (bounded; kernels/src/cpu/bounded.cpp): each
 * kernel writes the actual extent of that dimension into *extent and its outputs dense in the actual
 * shape; when the extent is more than cap (what the buffers were sized for) it writes *extent only ---- */
/* NonZero: out int64 (rank, count), the indices of the non-zero elements in row-major order */
typedef struct o2c_nonzero_params {
  int32_t rank;
  int32_t type;
  int64_t shape[DASH_MAX_RANK];
  int64_t cap;
} o2c_nonzero_params_t;
void o2c_nonzero(const void *in, int64_t *out, int64_t *extent, const o2c_nonzero_params_t *p);

/* NonMaxSuppression: boxes (batches, boxes, 4), scores (batches, classes, boxes) -> out int64 (count, 3)
 * rows (batch, class, box), per batch and class in selection order (score descending, ties: lower box
 * first); max_out (int64), iou and score_threshold (float) are one-element tensors or NULL (absent: 0,
 * 0 and no threshold); a box is suppressed by a selected one when their IoU is more than iou */
typedef struct o2c_nms_params {
  int64_t batches, classes, boxes;
  int32_t center_point_box;
  int32_t pad_;
  int64_t cap;
} o2c_nms_params_t;
void o2c_nms(const float *boxes, const float *scores, const int64_t *max_out, const float *iou,
             const float *score_threshold, int64_t *out, int64_t *extent, const o2c_nms_params_t *p);

/* Unique over the n slices of in viewed as (outer, n, inner) (no axis: outer = inner = 1): y (outer,
 * count, inner), indices (count: first occurrence), inverse (n), counts (count); any output may be
 * NULL. sorted: slices in ascending lexicographic order, else in order of first occurrence */
typedef struct o2c_unique_params {
  int64_t outer, n, inner;
  int32_t type;
  int32_t sorted;
  int64_t cap;
} o2c_unique_params_t;
void o2c_unique(const void *in, void *y, int64_t *indices, int64_t *inverse, int64_t *counts, int64_t *extent,
                const o2c_unique_params_t *p);

/* Transpose of a 2-D value whose dimension bounded_dim (0 or 1) has the run-time extent *extent (the other
 * is fixed): in (fixed, extent) or (extent, fixed), dense, to its transpose, dense */
typedef struct o2c_transpose_rt_params {
  int64_t fixed;
  int32_t bounded_dim;
  int32_t elem_size;
} o2c_transpose_rt_params_t;
void o2c_transpose_rt(const void *in, void *out, const int64_t *extent, const o2c_transpose_rt_params_t *p);

/* TopK whose k (an int32 or int64 one-element tensor, k_type) is read at run time: as o2c_topk with
 * that k (p->k is the cap, the axis length); a k outside [0, p->k] writes only *extent = k */
void o2c_topk_rt(const void *in, const void *k, int32_t k_type, void *values, int64_t *indices, int64_t *extent,
                 const o2c_topk_params_t *p);

#ifdef __cplusplus
}
#endif

#endif /* ONNX2CEDR_O2C_TYPED_H */

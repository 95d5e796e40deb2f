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
void o2c_gemm(const float *A, const float *B, const float *bias, float *C, const dash_gemm_params_t *p);
void o2c_conv(const float *in, const float *weight, const float *bias, float *out, const dash_conv_params_t *p);
void o2c_conv_transpose(const float *in, const float *weight, const float *bias, float *out,
                        const dash_conv_params_t *p);
void o2c_pool(const float *in, float *out, const dash_pool_params_t *p);
void o2c_binary(const float *a, const float *b, float *out, const dash_binary_params_t *p);
void o2c_unary(const float *in, float *out, const dash_unary_params_t *p);
void o2c_softmax(const float *in, float *out, const dash_softmax_params_t *p);

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

/* ---- Resize, separable: per output coordinate of each axis, taps input indices with weights.
 * tables holds, for axis d in order, out_shape[d]*taps entries of index (int64 in idx) and
 * weight (float in w). taps is 1 (nearest), 2 (linear) or 4 (cubic). out = sum over the
 * taps^rank corner combinations of product of weights times input. */
typedef struct o2c_resize_params {
  int32_t rank;
  int32_t taps;
  int64_t in_shape[DASH_MAX_RANK];
  int64_t out_shape[DASH_MAX_RANK];
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
} o2c_reduce_params_t;
void o2c_reduce(const float *in, float *out, const o2c_reduce_params_t *p);

/* ---- .npy files (little-endian, C order) for the app and executable entry points ----
 * o2c_npy_read reads a file whose dtype descriptor equals descr (e.g. "<f4") and whose element
 * count equals the product of shape[0..rank) into dst; returns 0 on success, else writes a
 * one-line reason into err. o2c_npy_write returns 0 on success, -1 on failure. */
int o2c_npy_read(const char *path, const char *descr, const int64_t *shape, int32_t rank, void *dst,
                 int64_t elem_size, char *err, size_t err_len);
int o2c_npy_write(const char *path, const char *descr, const int64_t *shape, int32_t rank, const void *src,
                  int64_t elem_size);

#ifdef __cplusplus
}
#endif

#endif /* ONNX2CEDR_O2C_KERNELS_H */

/*
 * dash.h - the public CEDR kernel ABI (types, API names, blocking and non-blocking forms).
 *
 * Written for onnx2cedr from the published description of the CEDR interface:
 * an application calls DASH_<KERNEL>_<prec>(...) (blocking) or DASH_<KERNEL>_<prec>_nb(...)
 * (every argument by pointer plus a barrier). Implementations for a processing-element type
 * are exported as <API>_<prec>_<resource> (e.g. DASH_FFT_flt_cpu) and take the
 * pointer-to-argument list; non-CPU implementations get one extra trailing uint8_t
 * (the accelerator instance index).
 *
 * In a standalone build the APIs run inline (libdash_cpu); under the runtime the app's
 * undefined DASH_* symbols resolve against the runtime, which turns each call into a task.
 */
#ifndef ONNX2CEDR_DASH_H
#define ONNX2CEDR_DASH_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef float dash_re_flt_type;
typedef struct { float re, im; } dash_cmplx_flt_type;  /* re first */
typedef short dash_re_int_type;
typedef struct { short im, re; } dash_cmplx_int_type;  /* im first, as in the public release */

typedef struct cedr_barrier {
  pthread_cond_t *cond;
  pthread_mutex_t *mutex;
  uint32_t *completion_ctr;
} cedr_barrier_t;

typedef enum zip_op { ZIP_ADD = 0, ZIP_SUB = 1, ZIP_MULT = 2, ZIP_DIV = 3, ZIP_CMP_MULT = 4 } zip_op_t;

/* Barrier helpers (inline, header-only): a caller that issued n _nb calls sharing one barrier
 * waits until the completion counter reaches n. */
static inline void cedr_barrier_signal(cedr_barrier_t *b) {
  pthread_mutex_lock(b->mutex);
  (*b->completion_ctr)++;
  pthread_cond_signal(b->cond);
  pthread_mutex_unlock(b->mutex);
}
static inline void cedr_barrier_wait(cedr_barrier_t *b, uint32_t n) {
  pthread_mutex_lock(b->mutex);
  while (*b->completion_ctr < n) pthread_cond_wait(b->cond, b->mutex);
  pthread_mutex_unlock(b->mutex);
}

/* ---- FFT: complex, n a power of two; inverse scaled by 1/n; in-place safe ----
 * (other n fall back to a direct O(n^2) DFT). int variant: computed in float, each result component
 * rounded half away from zero and saturated to int16 (no extra scaling in the forward direction). ---- */
void DASH_FFT_flt(dash_cmplx_flt_type *in, dash_cmplx_flt_type *out, size_t n, bool forward);
void DASH_FFT_flt_nb(dash_cmplx_flt_type **in, dash_cmplx_flt_type **out, size_t *n, bool *forward,
                     cedr_barrier_t *barrier);
void DASH_FFT_flt_cpu(dash_cmplx_flt_type **in, dash_cmplx_flt_type **out, size_t *n, bool *forward);
void DASH_FFT_int(dash_cmplx_int_type *in, dash_cmplx_int_type *out, size_t n, bool forward);
void DASH_FFT_int_nb(dash_cmplx_int_type **in, dash_cmplx_int_type **out, size_t *n, bool *forward,
                     cedr_barrier_t *barrier);
void DASH_FFT_int_cpu(dash_cmplx_int_type **in, dash_cmplx_int_type **out, size_t *n, bool *forward);

/* ---- GEMM: complex row-major C = A*B (A rows_A x cols_A, B cols_A x cols_B); not in-place safe ----
 * int variant: exact integer products and sums, each result component saturated to int16. ---- */
void DASH_GEMM_flt(dash_cmplx_flt_type *A, dash_cmplx_flt_type *B, dash_cmplx_flt_type *C,
                   size_t rows_A, size_t cols_A, size_t cols_B);
void DASH_GEMM_flt_nb(dash_cmplx_flt_type **A, dash_cmplx_flt_type **B, dash_cmplx_flt_type **C,
                      size_t *rows_A, size_t *cols_A, size_t *cols_B, cedr_barrier_t *barrier);
void DASH_GEMM_flt_cpu(dash_cmplx_flt_type **A, dash_cmplx_flt_type **B, dash_cmplx_flt_type **C,
                       size_t *rows_A, size_t *cols_A, size_t *cols_B);
void DASH_GEMM_int(dash_cmplx_int_type *A, dash_cmplx_int_type *B, dash_cmplx_int_type *C,
                   size_t rows_A, size_t cols_A, size_t cols_B);
void DASH_GEMM_int_nb(dash_cmplx_int_type **A, dash_cmplx_int_type **B, dash_cmplx_int_type **C,
                      size_t *rows_A, size_t *cols_A, size_t *cols_B, cedr_barrier_t *barrier);
void DASH_GEMM_int_cpu(dash_cmplx_int_type **A, dash_cmplx_int_type **B, dash_cmplx_int_type **C,
                       size_t *rows_A, size_t *cols_A, size_t *cols_B);

/* ---- ZIP: complex element-wise over n complex values; MULT/DIV complex; in-place safe ----
 * CMP_MULT is a * conj(b). int variant: exact integer arithmetic saturated to int16; DIV computed in
 * double, rounded half away from zero and saturated; a zero divisor gives 0. ---- */
void DASH_ZIP_flt(dash_cmplx_flt_type *a, dash_cmplx_flt_type *b, dash_cmplx_flt_type *out, size_t n,
                  zip_op_t op);
void DASH_ZIP_flt_nb(dash_cmplx_flt_type **a, dash_cmplx_flt_type **b, dash_cmplx_flt_type **out,
                     size_t *n, zip_op_t *op, cedr_barrier_t *barrier);
void DASH_ZIP_flt_cpu(dash_cmplx_flt_type **a, dash_cmplx_flt_type **b, dash_cmplx_flt_type **out,
                      size_t *n, zip_op_t *op);
void DASH_ZIP_int(dash_cmplx_int_type *a, dash_cmplx_int_type *b, dash_cmplx_int_type *out, size_t n,
                  zip_op_t op);
void DASH_ZIP_int_nb(dash_cmplx_int_type **a, dash_cmplx_int_type **b, dash_cmplx_int_type **out,
                     size_t *n, zip_op_t *op, cedr_barrier_t *barrier);
void DASH_ZIP_int_cpu(dash_cmplx_int_type **a, dash_cmplx_int_type **b, dash_cmplx_int_type **out,
                      size_t *n, zip_op_t *op);

/* ---- CONV_2D: one channel, "same" output, zero padding, stride 1, no bias, int16 saturated ----
 * out[y][x] = sat16(round(sum_{i,j} in[y+i-h][x+j-h] * mask[i*mask_size+j])), h = mask_size/2
 * (correlation: the mask is not flipped), rounded half away from zero and saturated to
 * [-32768, 32767] in both directions. ---- */
void DASH_CONV_2D_int(dash_re_int_type *in, int height, int width, dash_re_flt_type *mask, int mask_size,
                      dash_re_int_type *out);
void DASH_CONV_2D_int_nb(dash_re_int_type **in, int *height, int *width, dash_re_flt_type **mask,
                         int *mask_size, dash_re_int_type **out, cedr_barrier_t *barrier);
void DASH_CONV_2D_int_cpu(dash_re_int_type **in, int *height, int *width, dash_re_flt_type **mask,
                          int *mask_size, dash_re_int_type **out);

/* ---- CONV_1D: full linear convolution accumulated into out ----
 * for i in [0, size+mask_size-1):  out[i] += sum_k in[i-k] * mask[k]  over 0 <= k < mask_size with
 * 0 <= i-k < size (never reads outside in), i.e. out[0 .. size+mask_size-1) += numpy.convolve(in, mask,
 * "full"). out must hold size+mask_size-1 values and must not overlap in. ---- */
void DASH_CONV_1D_flt(dash_re_flt_type *in, int size, dash_re_flt_type *mask, int mask_size,
                      dash_re_flt_type *out);
void DASH_CONV_1D_flt_nb(dash_re_flt_type **in, int *size, dash_re_flt_type **mask, int *mask_size,
                         dash_re_flt_type **out, cedr_barrier_t *barrier);
void DASH_CONV_1D_flt_cpu(dash_re_flt_type **in, int *size, dash_re_flt_type **mask, int *mask_size,
                          dash_re_flt_type **out);

/* The runtime exports this to loaded code: the _nb wrappers call it with the API name, the
 * precision, the number of pointer arguments that follow (the arguments' pointers, then the
 * barrier). */
void enqueue_kernel(const char *api, const char *prec, unsigned n_args, ...);

#ifdef __cplusplus
}
#endif

#endif /* ONNX2CEDR_DASH_H */

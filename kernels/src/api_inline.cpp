/*
 * api_inline.cpp - standalone entry points: every blocking DASH_<API>_<prec>(...) and
 * non-blocking DASH_<API>_<prec>_nb(..., barrier) runs the CPU implementation inline on the
 * caller's thread; _nb signals the barrier afterwards. Under the CEDR runtime these names come
 * from the runtime instead (which turns each call into a scheduled task), so this file is left
 * out of the runtime-loadable kernel library. The ML forms are o2c_ml_inline.h's, which an
 * extended app also carries as interposable fallbacks (entry/app_fallback.cpp).
 */
#include "o2c_kernels.h"

extern "C" {

/* ---------------- public APIs ---------------- */

void DASH_FFT_flt(dash_cmplx_flt_type *in, dash_cmplx_flt_type *out, size_t n, bool forward) {
  DASH_FFT_flt_cpu(&in, &out, &n, &forward);
}
void DASH_FFT_flt_nb(dash_cmplx_flt_type **in, dash_cmplx_flt_type **out, size_t *n, bool *forward,
                     cedr_barrier_t *barrier) {
  DASH_FFT_flt_cpu(in, out, n, forward);
  cedr_barrier_signal(barrier);
}
void DASH_FFT_int(dash_cmplx_int_type *in, dash_cmplx_int_type *out, size_t n, bool forward) {
  DASH_FFT_int_cpu(&in, &out, &n, &forward);
}
void DASH_FFT_int_nb(dash_cmplx_int_type **in, dash_cmplx_int_type **out, size_t *n, bool *forward,
                     cedr_barrier_t *barrier) {
  DASH_FFT_int_cpu(in, out, n, forward);
  cedr_barrier_signal(barrier);
}

void DASH_GEMM_flt(dash_cmplx_flt_type *A, dash_cmplx_flt_type *B, dash_cmplx_flt_type *C, size_t rows_A,
                   size_t cols_A, size_t cols_B) {
  DASH_GEMM_flt_cpu(&A, &B, &C, &rows_A, &cols_A, &cols_B);
}
void DASH_GEMM_flt_nb(dash_cmplx_flt_type **A, dash_cmplx_flt_type **B, dash_cmplx_flt_type **C, size_t *rows_A,
                      size_t *cols_A, size_t *cols_B, cedr_barrier_t *barrier) {
  DASH_GEMM_flt_cpu(A, B, C, rows_A, cols_A, cols_B);
  cedr_barrier_signal(barrier);
}
void DASH_GEMM_int(dash_cmplx_int_type *A, dash_cmplx_int_type *B, dash_cmplx_int_type *C, size_t rows_A,
                   size_t cols_A, size_t cols_B) {
  DASH_GEMM_int_cpu(&A, &B, &C, &rows_A, &cols_A, &cols_B);
}
void DASH_GEMM_int_nb(dash_cmplx_int_type **A, dash_cmplx_int_type **B, dash_cmplx_int_type **C, size_t *rows_A,
                      size_t *cols_A, size_t *cols_B, cedr_barrier_t *barrier) {
  DASH_GEMM_int_cpu(A, B, C, rows_A, cols_A, cols_B);
  cedr_barrier_signal(barrier);
}

void DASH_ZIP_flt(dash_cmplx_flt_type *a, dash_cmplx_flt_type *b, dash_cmplx_flt_type *out, size_t n, zip_op_t op) {
  DASH_ZIP_flt_cpu(&a, &b, &out, &n, &op);
}
void DASH_ZIP_flt_nb(dash_cmplx_flt_type **a, dash_cmplx_flt_type **b, dash_cmplx_flt_type **out, size_t *n,
                     zip_op_t *op, cedr_barrier_t *barrier) {
  DASH_ZIP_flt_cpu(a, b, out, n, op);
  cedr_barrier_signal(barrier);
}
void DASH_ZIP_int(dash_cmplx_int_type *a, dash_cmplx_int_type *b, dash_cmplx_int_type *out, size_t n, zip_op_t op) {
  DASH_ZIP_int_cpu(&a, &b, &out, &n, &op);
}
void DASH_ZIP_int_nb(dash_cmplx_int_type **a, dash_cmplx_int_type **b, dash_cmplx_int_type **out, size_t *n,
                     zip_op_t *op, cedr_barrier_t *barrier) {
  DASH_ZIP_int_cpu(a, b, out, n, op);
  cedr_barrier_signal(barrier);
}

void DASH_CONV_2D_int(dash_re_int_type *in, int height, int width, dash_re_flt_type *mask, int mask_size,
                      dash_re_int_type *out) {
  DASH_CONV_2D_int_cpu(&in, &height, &width, &mask, &mask_size, &out);
}
void DASH_CONV_2D_int_nb(dash_re_int_type **in, int *height, int *width, dash_re_flt_type **mask, int *mask_size,
                         dash_re_int_type **out, cedr_barrier_t *barrier) {
  DASH_CONV_2D_int_cpu(in, height, width, mask, mask_size, out);
  cedr_barrier_signal(barrier);
}

void DASH_CONV_1D_flt(dash_re_flt_type *in, int size, dash_re_flt_type *mask, int mask_size, dash_re_flt_type *out) {
  DASH_CONV_1D_flt_cpu(&in, &size, &mask, &mask_size, &out);
}
void DASH_CONV_1D_flt_nb(dash_re_flt_type **in, int *size, dash_re_flt_type **mask, int *mask_size,
                         dash_re_flt_type **out, cedr_barrier_t *barrier) {
  DASH_CONV_1D_flt_cpu(in, size, mask, mask_size, out);
  cedr_barrier_signal(barrier);
}

} /* extern "C" */

/* ---------------- ML APIs: one definition shared with the apps' fallbacks ---------------- */
#define O2C_ML_INLINE_ALL
#include "o2c_ml_inline.h"

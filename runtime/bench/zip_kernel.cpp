// zip_kernel.cpp - a CPU DASH_ZIP_flt for runtime/bench/dispatch.py's public-API app (the
// complex element-wise ops of dash.h), so the benchmark needs no kernel library build.
//   g++ -std=c++17 -O2 -shared -fPIC -I kernels/include zip_kernel.cpp -o libo2c_benchzip.so
#include "dash.h"

extern "C" __attribute__((visibility("default"))) void DASH_ZIP_flt_cpu(dash_cmplx_flt_type **a,
                                                                        dash_cmplx_flt_type **b,
                                                                        dash_cmplx_flt_type **out, size_t *n,
                                                                        zip_op_t *op) {
  const dash_cmplx_flt_type *x = *a, *y = *b;
  dash_cmplx_flt_type *z = *out;
  for (size_t i = 0; i < *n; ++i) {
    const float xr = x[i].re, xi = x[i].im, yr = y[i].re, yi = y[i].im;
    switch (*op) {
      case ZIP_ADD: z[i].re = xr + yr; z[i].im = xi + yi; break;
      case ZIP_SUB: z[i].re = xr - yr; z[i].im = xi - yi; break;
      case ZIP_MULT: z[i].re = xr * yr - xi * yi; z[i].im = xr * yi + xi * yr; break;
      case ZIP_CMP_MULT: z[i].re = xr * yr + xi * yi; z[i].im = xi * yr - xr * yi; break;
      case ZIP_DIV: {
        const float d = yr * yr + yi * yi;
        z[i].re = d != 0 ? (xr * yr + xi * yi) / d : 0;
        z[i].im = d != 0 ? (xi * yr - xr * yi) / d : 0;
        break;
      }
    }
  }
}

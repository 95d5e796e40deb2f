/*
 * zip.cpp - DASH_ZIP_{flt,int}_cpu: complex element-wise ADD, SUB, MULT, DIV and
 * CMP_MULT (a * conj(b)) over n complex values; in-place safe (out may alias a or b).
 * Float DIV uses Smith's algorithm (no premature overflow). Int: exact integer arithmetic,
 * saturated to int16; DIV is computed in double, rounded half away from zero, saturated, and a
 * zero divisor gives 0.
 * Float numerics are a contract shared with the zip accelerator (kernels/accel/zip_accel.cpp):
 * every multiply-add written as fmac() is fused (where the target has FMA), nothing else is, so
 * both give the same bits whatever the compiler would otherwise contract.
 */
#pragma GCC optimize("fp-contract=off")
#include "common.h"

#include <cmath>

#include "o2c_numerics.h"

namespace {
inline float fmac(float a, float b, float c) { return o2c_fmac(a, b, c); }
}  // namespace

extern "C" void DASH_ZIP_flt_cpu(dash_cmplx_flt_type **a, dash_cmplx_flt_type **b, dash_cmplx_flt_type **out,
                                 size_t *n, zip_op_t *op) {
  const dash_cmplx_flt_type *x = *a, *y = *b;
  dash_cmplx_flt_type *z = *out;
  const size_t len = *n;
  switch (*op) {
    case ZIP_ADD:
      for (size_t i = 0; i < len; ++i) {
        const float r = x[i].re + y[i].re, m = x[i].im + y[i].im;
        z[i].re = r;
        z[i].im = m;
      }
      break;
    case ZIP_SUB:
      for (size_t i = 0; i < len; ++i) {
        const float r = x[i].re - y[i].re, m = x[i].im - y[i].im;
        z[i].re = r;
        z[i].im = m;
      }
      break;
    case ZIP_MULT:
      for (size_t i = 0; i < len; ++i) {
        const float ar = x[i].re, ai = x[i].im, br = y[i].re, bi = y[i].im;
        const float r = fmac(ar, br, -(ai * bi)), m = fmac(ar, bi, ai * br);
        z[i].re = r;
        z[i].im = m;
      }
      break;
    case ZIP_CMP_MULT:
      for (size_t i = 0; i < len; ++i) {
        const float ar = x[i].re, ai = x[i].im, br = y[i].re, bi = y[i].im;
        const float r = fmac(ar, br, ai * bi), m = fmac(ai, br, -(ar * bi));
        z[i].re = r;
        z[i].im = m;
      }
      break;
    case ZIP_DIV:
      for (size_t i = 0; i < len; ++i) {
        const float ar = x[i].re, ai = x[i].im, br = y[i].re, bi = y[i].im;
        float r, m;
        if (std::fabs(br) >= std::fabs(bi)) {
          if (br == 0.0f && bi == 0.0f) {
            r = ar / std::fabs(br);
            m = ai / std::fabs(bi);
          } else {
            const float rat = bi / br, scl = 1.0f / fmac(bi, rat, br);
            r = fmac(ai, rat, ar) * scl;
            m = fmac(-ar, rat, ai) * scl;
          }
        } else {
          const float rat = br / bi, scl = 1.0f / fmac(br, rat, bi);
          r = fmac(ar, rat, ai) * scl;
          m = fmac(ai, rat, -ar) * scl;
        }
        z[i].re = r;
        z[i].im = m;
      }
      break;
    default: break;
  }
}

extern "C" void DASH_ZIP_int_cpu(dash_cmplx_int_type **a, dash_cmplx_int_type **b, dash_cmplx_int_type **out,
                                 size_t *n, zip_op_t *op) {
  using o2c::pub::sat16;
  using o2c::pub::sat16i;
  const dash_cmplx_int_type *x = *a, *y = *b;
  dash_cmplx_int_type *z = *out;
  const size_t len = *n;
  const zip_op_t o = *op;
  for (size_t i = 0; i < len; ++i) {
    const int64_t ar = x[i].re, ai = x[i].im, br = y[i].re, bi = y[i].im;
    int64_t r = 0, m = 0;
    switch (o) {
      case ZIP_ADD: r = ar + br; m = ai + bi; break;
      case ZIP_SUB: r = ar - br; m = ai - bi; break;
      case ZIP_MULT: r = ar * br - ai * bi; m = ar * bi + ai * br; break;
      case ZIP_CMP_MULT: r = ar * br + ai * bi; m = ai * br - ar * bi; break;
      case ZIP_DIV: {
        const int64_t den = br * br + bi * bi;
        if (den == 0) {
          z[i].re = 0;
          z[i].im = 0;
        } else {
          const double d = static_cast<double>(den);
          z[i].re = sat16(static_cast<double>(ar * br + ai * bi) / d);
          z[i].im = sat16(static_cast<double>(ai * br - ar * bi) / d);
        }
        continue;
      }
      default: continue;
    }
    z[i].re = sat16i(r);
    z[i].im = sat16i(m);
  }
}

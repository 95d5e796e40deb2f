/*
 * fft.cpp - DASH_FFT_{flt,int}_cpu: iterative radix-2 FFT (decimation in time), forward or
 * inverse (scaled by 1/n), in-place safe. Twiddle factors are computed in double precision.
 * A size that is not a power of two falls back to a direct O(n^2) DFT.
 */
#include "../cpu/internal.h"
#include "common.h"

#include <cmath>

using o2c::detail::Scratch;

namespace {

constexpr double kPi = 3.14159265358979323846;

void fft_pow2(dash_cmplx_flt_type *x, size_t n, bool forward) {
  /* bit-reversal permutation */
  for (size_t i = 1, j = 0; i < n; ++i) {
    size_t bit = n >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j ^= bit;
    if (i < j) std::swap(x[i], x[j]);
  }
  /* twiddles w_k = exp(-+2*pi*i*k/n), k < n/2 */
  const size_t half_n = n / 2;
  Scratch<float> tw(2 * half_n + 2);
  const double sgn = forward ? -1.0 : 1.0;
  for (size_t k = 0; k < half_n; ++k) {
    const double a = 2.0 * kPi * static_cast<double>(k) / static_cast<double>(n);
    tw[2 * k] = static_cast<float>(std::cos(a));
    tw[2 * k + 1] = static_cast<float>(sgn * std::sin(a));
  }
  for (size_t len = 2; len <= n; len <<= 1) {
    const size_t half = len >> 1, step = n / len;
    for (size_t i = 0; i < n; i += len) {
      dash_cmplx_flt_type *a = x + i, *b = x + i + half;
      for (size_t j = 0; j < half; ++j) {
        const float wr = tw[2 * j * step], wi = tw[2 * j * step + 1];
        const float br = b[j].re * wr - b[j].im * wi;
        const float bi = b[j].re * wi + b[j].im * wr;
        const float ar = a[j].re, ai = a[j].im;
        a[j].re = ar + br;
        a[j].im = ai + bi;
        b[j].re = ar - br;
        b[j].im = ai - bi;
      }
    }
  }
}

void dft_direct(dash_cmplx_flt_type *x, size_t n, bool forward) {
  Scratch<double> tmp(2 * n);
  const double sgn = forward ? -1.0 : 1.0;
  for (size_t k = 0; k < n; ++k) {
    double sr = 0.0, si = 0.0;
    for (size_t t = 0; t < n; ++t) {
      const double a = 2.0 * kPi * static_cast<double>((k * t) % n) / static_cast<double>(n);
      const double c = std::cos(a), s = sgn * std::sin(a);
      sr += x[t].re * c - x[t].im * s;
      si += x[t].re * s + x[t].im * c;
    }
    tmp[2 * k] = sr;
    tmp[2 * k + 1] = si;
  }
  for (size_t k = 0; k < n; ++k) {
    x[k].re = static_cast<float>(tmp[2 * k]);
    x[k].im = static_cast<float>(tmp[2 * k + 1]);
  }
}

/* transform x in place */
void fft_inplace(dash_cmplx_flt_type *x, size_t n, bool forward) {
  if (n <= 1) return;
  if ((n & (n - 1)) == 0)
    fft_pow2(x, n, forward);
  else
    dft_direct(x, n, forward);
  if (!forward) {
    const float s = 1.0f / static_cast<float>(n);
    for (size_t i = 0; i < n; ++i) {
      x[i].re *= s;
      x[i].im *= s;
    }
  }
}

} /* namespace */

extern "C" void DASH_FFT_flt_cpu(dash_cmplx_flt_type **in, dash_cmplx_flt_type **out, size_t *n, bool *forward) {
  const size_t len = *n;
  if (len == 0) return;
  if (*out != *in) std::memmove(*out, *in, len * sizeof(dash_cmplx_flt_type));
  fft_inplace(*out, len, *forward);
}

extern "C" void DASH_FFT_int_cpu(dash_cmplx_int_type **in, dash_cmplx_int_type **out, size_t *n, bool *forward) {
  const size_t len = *n;
  if (len == 0) return;
  Scratch<dash_cmplx_flt_type> buf(len);
  const dash_cmplx_int_type *src = *in;
  for (size_t i = 0; i < len; ++i) {
    buf[i].re = src[i].re;
    buf[i].im = src[i].im;
  }
  fft_inplace(buf.get(), len, *forward);
  dash_cmplx_int_type *dst = *out;
  for (size_t i = 0; i < len; ++i) {
    dst[i].re = o2c::pub::sat16(buf[i].re);
    dst[i].im = o2c::pub::sat16(buf[i].im);
  }
}

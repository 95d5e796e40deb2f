/*
 * conv_im2col.cpp - implicit im2col: the GEMM engine's B-packing callback that gathers the im2col
 * panels of a convolution from its input (the path of strongly dilated kernels on small images).
 */
#include "conv_internal.h"

namespace o2c {
namespace conv {

/* Write len values of a strided source (or zeros when src is null) at packed columns
 * [q, q+len) of row kk. */
inline void emit(float *dst, int64_t kc, int64_t kk, int64_t q, int64_t len, const float *src, int64_t stride) {
  while (len > 0) {
    const int64_t off = q % NR;
    const int64_t l = std::min(NR - off, len);
    float *d = dst + (q / NR) * kc * NR + kk * NR + off;
    if (!src) {
      for (int64_t t = 0; t < l; ++t) d[t] = 0.0f;
    } else if (stride == 1) {
      for (int64_t t = 0; t < l; ++t) d[t] = src[t];
      src += l;
    } else {
      for (int64_t t = 0; t < l; ++t) d[t] = src[t * stride];
      src += l * stride;
    }
    q += l;
    len -= l;
  }
}

void pack_b_im2col(const void *ctx, int64_t k0, int64_t kc, int64_t n0, int64_t nc, float *dst) {
  const Im2col &c = *static_cast<const Im2col *>(ctx);
  const Geo3 &g = c.g;
  const int64_t ksz = g.k_sp(), khw = g.k[1] * g.k[2], in_sp = g.in_sp(), ohw = g.out[1] * g.out[2];
  /* zero the padding columns of the last panel */
  const int64_t ncr = round_up(nc, NR);
  if (ncr > nc) {
    for (int64_t kk = 0; kk < kc; ++kk) emit(dst, kc, kk, nc, ncr - nc, nullptr, 0);
  }
  for (int64_t kk = 0; kk < kc; ++kk) {
    const int64_t k = k0 + kk;
    const int64_t ch = k / ksz, r = k % ksz;
    const int64_t kz = r / khw, ky = (r / g.k[2]) % g.k[1], kx = r % g.k[2];
    const float *plane = c.in + ch * in_sp;
    const int64_t offz = kz * g.d[0] - g.p[0], offy = ky * g.d[1] - g.p[1], offx = kx * g.d[2] - g.p[2];
    int64_t xlo, xhi;
    valid_range(offx, g.s[2], g.in[2], g.out[2], xlo, xhi);
    int64_t oz = n0 / ohw, rem = n0 % ohw;
    int64_t oy = rem / g.out[2], ox = rem % g.out[2];
    int64_t q = 0;
    while (q < nc) {
      const int64_t run = std::min(g.out[2] - ox, nc - q);
      const int64_t iz = oz * g.s[0] + offz, iy = oy * g.s[1] + offy;
      if (iz < 0 || iz >= g.in[0] || iy < 0 || iy >= g.in[1]) {
        emit(dst, kc, kk, q, run, nullptr, 0);
      } else {
        const float *row = plane + (iz * g.in[1] + iy) * g.in[2] + offx;
        const int64_t a = std::max(ox, std::min(xlo, ox + run));
        const int64_t b = std::max(a, std::min(xhi, ox + run));
        if (a > ox) emit(dst, kc, kk, q, a - ox, nullptr, 0);
        if (b > a) emit(dst, kc, kk, q + (a - ox), b - a, row + a * g.s[2], g.s[2]);
        if (ox + run > b) emit(dst, kc, kk, q + (b - ox), ox + run - b, nullptr, 0);
      }
      q += run;
      ox = 0;
      if (++oy == g.out[1]) {
        oy = 0;
        ++oz;
      }
    }
  }
}

} /* namespace conv */
} /* namespace o2c */

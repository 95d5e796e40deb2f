/*
 * conv_depthwise.cpp - depthwise convolution (groups == in == out channels).
 */
#include "conv_internal.h"

namespace o2c {
namespace conv {

/* ---- depthwise: one input channel per output channel ----
 * Each plane is copied into a zero-padded buffer exactly covering every tap of every output, so
 * the inner loops have no bounds checks. Stride 1 along x runs vectorized over output columns
 * (AVX2: 4 x 8 columns per step, independent accumulators), other strides per element. */
void depthwise(const float *in, const float *w, const float *bias, float *out, const Geo3 &g, int64_t planes,
               int64_t channels, const dash_act_t &act) {
  const int64_t in_sp = g.in_sp(), out_sp = g.out_sp(), ksz = g.k_sp();
  const int64_t Dp = (g.out[0] - 1) * g.s[0] + (g.k[0] - 1) * g.d[0] + 1;
  const int64_t Hp = (g.out[1] - 1) * g.s[1] + (g.k[1] - 1) * g.d[1] + 1;
  const int64_t Wp = (g.out[2] - 1) * g.s[2] + (g.k[2] - 1) * g.d[2] + 1;
  const int64_t ntaps = g.k[0] * g.k[1], kw = g.k[2], dx = g.d[2], sx = g.s[2];
  Scratch<float> buf(static_cast<size_t>(Dp * Hp * Wp + 64));  /* + slack for the last vector step */
  Scratch<const float *> rows(static_cast<size_t>(ntaps));
  float *pp = buf.get();
  for (int64_t pl = 0; pl < planes; ++pl) {
    const int64_t ch = pl % channels;
    const float *src = in + pl * in_sp;
    const float *wc = w + ch * ksz;
    const float bv = bias ? bias[ch] : 0.0f;
    float *dst = out + pl * out_sp;
    /* padded copy: rows of the padded plane either hold input (zero margins) or are all zero */
    {
      const int64_t x0 = std::max<int64_t>(0, -g.p[2]), x1 = std::min<int64_t>(g.in[2], Wp - g.p[2]);
      const int64_t dl = x0 + g.p[2], len = std::max<int64_t>(0, x1 - x0); /* destination start, length */
      for (int64_t pz = 0; pz < Dp; ++pz) {
        const int64_t iz = pz - g.p[0];
        for (int64_t py = 0; py < Hp; ++py) {
          const int64_t iy = py - g.p[1];
          float *drow = pp + (pz * Hp + py) * Wp;
          if (iz < 0 || iz >= g.in[0] || iy < 0 || iy >= g.in[1] || len == 0) {
            std::memset(drow, 0, static_cast<size_t>(Wp) * sizeof(float));
            continue;
          }
          if (dl > 0) std::memset(drow, 0, static_cast<size_t>(dl) * sizeof(float));
          std::memcpy(drow + dl, src + (iz * g.in[1] + iy) * g.in[2] + x0, static_cast<size_t>(len) * sizeof(float));
          if (dl + len < Wp) std::memset(drow + dl + len, 0, static_cast<size_t>(Wp - dl - len) * sizeof(float));
        }
      }
      if (pl == 0) std::memset(pp + Dp * Hp * Wp, 0, 64 * sizeof(float));
    }
    for (int64_t oz = 0; oz < g.out[0]; ++oz) {
      for (int64_t oy = 0; oy < g.out[1]; ++oy) {
        float *orow = dst + (oz * g.out[1] + oy) * g.out[2];
        for (int64_t kz = 0; kz < g.k[0]; ++kz)
          for (int64_t ky = 0; ky < g.k[1]; ++ky)
            rows[kz * g.k[1] + ky] = pp + ((oz * g.s[0] + kz * g.d[0]) * Hp + oy * g.s[1] + ky * g.d[1]) * Wp;
        const int64_t OW = g.out[2];
        int64_t ox = 0;
        if (sx == 1) {
#if O2C_HAVE_AVX2
          const __m256 vb = _mm256_set1_ps(bv);
          /* 32 columns per step; the remainder runs as one more full step into a buffer (the
           * padded plane has slack for reading past the row) */
          for (; ox < OW; ox += 32) {
            __m256 a0 = vb, a1 = vb, a2 = vb, a3 = vb;
            for (int64_t t = 0; t < ntaps; ++t) {
              const float *r = rows[t] + ox;
              const float *wt = wc + t * kw;
              for (int64_t kx = 0; kx < kw; ++kx) {
                const __m256 wv = _mm256_broadcast_ss(wt + kx);
                const float *q = r + kx * dx;
                a0 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(q), a0);
                a1 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(q + 8), a1);
                a2 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(q + 16), a2);
                a3 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(q + 24), a3);
              }
            }
            if (ox + 32 <= OW) {
              _mm256_storeu_ps(orow + ox, a0);
              _mm256_storeu_ps(orow + ox + 8, a1);
              _mm256_storeu_ps(orow + ox + 16, a2);
              _mm256_storeu_ps(orow + ox + 24, a3);
            } else {
              alignas(32) float tmp[32];
              _mm256_store_ps(tmp, a0);
              _mm256_store_ps(tmp + 8, a1);
              _mm256_store_ps(tmp + 16, a2);
              _mm256_store_ps(tmp + 24, a3);
              for (int64_t x = ox; x < OW; ++x) orow[x] = tmp[x - ox];
            }
          }
#else
          for (int64_t x = 0; x < OW; ++x) orow[x] = bv;
          for (int64_t t = 0; t < ntaps; ++t) {
            const float *wt = wc + t * kw;
            for (int64_t kx = 0; kx < kw; ++kx) {
              const float wv = wt[kx];
              const float *q = rows[t] + kx * dx;
              for (int64_t x = 0; x < OW; ++x) orow[x] = fmac(wv, q[x], orow[x]);
            }
          }
          ox = OW;
#endif
        }
        for (; ox < OW; ++ox) {
          float acc = bv;
          for (int64_t t = 0; t < ntaps; ++t) {
            const float *r = rows[t] + ox * sx;
            const float *wt = wc + t * kw;
            for (int64_t kx = 0; kx < kw; ++kx) acc = fmac(wt[kx], r[kx * dx], acc);
          }
          orow[ox] = acc;
        }
        act_inplace(orow, OW, act);
      }
    }
  }
}

} /* namespace conv */
} /* namespace o2c */

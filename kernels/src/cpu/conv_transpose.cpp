/*
 * conv_transpose.cpp - o2c_conv_transpose: per (batch, group) the GEMM W_g^T x in_g gives the
 * column matrix (Cout/g*k x in_spatial, processed in chunks of input positions), which is scattered
 * into the output (col2im) on top of the bias; the activation runs last. Kernels that tile the output
 * (kernel == stride, no padding or dilation: the up-sampling of U-Net and DB-style heads) skip the
 * column matrix: each output element takes one input position's contribution, computed in place.
 */
#include "conv_internal.h"

using namespace o2c::conv;

#if O2C_HAVE_AVX2
/* 8*NX input x of one output row, every tap kx < S: S*NX independent chains over the input channels,
 * written out with the taps interleaved (output x = input x * S + kx). */
template <int S, int NX>
static inline void tiles_avx2(const float *wr, int64_t M, const float *xr, int64_t in_sp, int64_t Cgi, float bv,
                              float *orow) {
  __m256 acc[S][NX];
  for (int kx = 0; kx < S; ++kx)
    for (int j = 0; j < NX; ++j) acc[kx][j] = _mm256_setzero_ps();
  for (int64_t ci = 0; ci < Cgi; ++ci) {
    __m256 xv[NX];
    for (int j = 0; j < NX; ++j) xv[j] = _mm256_loadu_ps(xr + ci * in_sp + 8 * j);
    for (int kx = 0; kx < S; ++kx) {
      const __m256 w = _mm256_set1_ps(wr[kx + ci * M]);
      for (int j = 0; j < NX; ++j) acc[kx][j] = _mm256_fmadd_ps(w, xv[j], acc[kx][j]);
    }
  }
  const __m256 vb = _mm256_set1_ps(bv);
  for (int j = 0; j < NX; ++j) {
    if (S == 1) {
      _mm256_storeu_ps(orow + 8 * j, _mm256_add_ps(vb, acc[0][j]));
    } else if (S == 2) {
      const __m256 a = _mm256_add_ps(vb, acc[0][j]), b = _mm256_add_ps(vb, acc[S - 1][j]);
      const __m256 lo = _mm256_unpacklo_ps(a, b), hi = _mm256_unpackhi_ps(a, b);
      _mm256_storeu_ps(orow + 16 * j, _mm256_permute2f128_ps(lo, hi, 0x20));
      _mm256_storeu_ps(orow + 16 * j + 8, _mm256_permute2f128_ps(lo, hi, 0x31));
    } else {
      alignas(32) float t[S][8];
      for (int kx = 0; kx < S; ++kx) _mm256_store_ps(t[kx], _mm256_add_ps(vb, acc[kx][j]));
      for (int e = 0; e < 8; ++e)
        for (int kx = 0; kx < S; ++kx) orow[(8 * j + e) * S + kx] = t[kx][e];
    }
  }
}
#endif

/* kernel == stride on every axis, no padding, no dilation, output = input x stride: output (o, k) of
 * axis d is input o/s, tap o%s, so out[co][oz][oy][ox] = bias + the FMA chain over the group's input
 * channels from +0 (what the GEMM gives the column matrix, added onto the bias as col2im does: the
 * same bits). One output row at a time; strides 1, 2 and 4 along x vectorized. */
static bool conv_transpose_tiles(const float *in, const float *weight, const float *bs, float *out,
                                 const dash_conv_params_t *p, const Geo3 &g) {
  for (int d = 0; d < 3; ++d)
    if (g.k[d] != g.s[d] || g.p[d] != 0 || g.d[d] != 1 || g.out[d] != g.in[d] * g.s[d]) return false;
  const int64_t B = p->batch, Cin = p->in_channels, Cout = p->out_channels;
  const int64_t G = p->groups > 0 ? p->groups : 1;
  const int64_t Cgi = Cin / G, Cgo = Cout / G;
  const int64_t in_sp = g.in_sp(), out_sp = g.out_sp(), ksz = g.k_sp(), M = Cgo * ksz;
  const int64_t W = g.in[2], s2 = g.s[2];
  for (int64_t b = 0; b < B; ++b)
    for (int64_t gr = 0; gr < G; ++gr) {
      const float *Wg = weight + gr * Cgi * M;
      const float *src = in + (b * Cin + gr * Cgi) * in_sp;
      for (int64_t c = 0; c < Cgo; ++c) {
        const int64_t co = gr * Cgo + c;
        const float bv = bs ? bs[co] : 0.0f;
        float *oplane = out + (b * Cout + co) * out_sp;
        for (int64_t iz = 0; iz < g.in[0]; ++iz)
          for (int64_t kz = 0; kz < g.k[0]; ++kz)
            for (int64_t iy = 0; iy < g.in[1]; ++iy)
              for (int64_t ky = 0; ky < g.k[1]; ++ky) {
                float *orow = oplane + ((iz * g.s[0] + kz) * g.out[1] + iy * g.s[1] + ky) * g.out[2];
                const float *wr = Wg + c * ksz + (kz * g.k[1] + ky) * g.k[2]; /* + kx + ci * M */
                const float *xr = src + (iz * g.in[1] + iy) * W;                 /* + x + ci * in_sp */
                int64_t x = 0;
#if O2C_HAVE_AVX2
                if (s2 == 2) {
                  for (; x + 32 <= W; x += 32) tiles_avx2<2, 4>(wr, M, xr + x, in_sp, Cgi, bv, orow + 2 * x);
                  for (; x + 8 <= W; x += 8) tiles_avx2<2, 1>(wr, M, xr + x, in_sp, Cgi, bv, orow + 2 * x);
                } else if (s2 == 1) {
                  for (; x + 32 <= W; x += 32) tiles_avx2<1, 4>(wr, M, xr + x, in_sp, Cgi, bv, orow + x);
                  for (; x + 8 <= W; x += 8) tiles_avx2<1, 1>(wr, M, xr + x, in_sp, Cgi, bv, orow + x);
                } else if (s2 == 4) {
                  for (; x + 8 <= W; x += 8) tiles_avx2<4, 1>(wr, M, xr + x, in_sp, Cgi, bv, orow + 4 * x);
                }
#endif
                for (; x < W; ++x)
                  for (int64_t kx = 0; kx < s2; ++kx) {
                    float acc = 0.0f;
                    for (int64_t ci = 0; ci < Cgi; ++ci) acc = fmac(wr[kx + ci * M], xr[x + ci * in_sp], acc);
                    orow[x * s2 + kx] = bv + acc;
                  }
                act_inplace(orow, g.out[2], p->act); /* while the row is in L1 */
              }
      }
    }
  return true;
}

extern "C" void o2c_conv_transpose(const float *in, const float *weight, const float *bias, float *out,
                                   const dash_conv_params_t *p) {
  Geo3 g;
  if (!make_geo(p, g)) return;
  const int64_t B = p->batch, Cin = p->in_channels, Cout = p->out_channels;
  const int64_t G = p->groups > 0 ? p->groups : 1;
  if (B <= 0 || Cout <= 0 || g.out_sp() <= 0) return;
  const float *bs = p->has_bias ? bias : nullptr;
  if (conv_transpose_tiles(in, weight, bs, out, p, g)) return;
  const int64_t Cgi = Cin / G, Cgo = Cout / G;
  const int64_t in_sp = g.in_sp(), out_sp = g.out_sp(), ksz = g.k_sp();
  const int64_t M = Cgo * ksz; /* rows of the column matrix */
  const int64_t khw = g.k[1] * g.k[2], ihw = g.in[1] * g.in[2];

  /* chunk of input positions so that the column buffer stays around 4 MB */
  int64_t nchunk = std::max<int64_t>(NR, (int64_t(1) << 20) / std::max<int64_t>(M, 1));
  nchunk = std::min(nchunk, std::max<int64_t>(in_sp, 1));
  Scratch<float> col(static_cast<size_t>(M * nchunk));
  Scratch<float> ws(gemm_workspace_floats(M, nchunk, Cgi));

  for (int64_t b = 0; b < B; ++b) {
    float *ob = out + b * Cout * out_sp;
    for (int64_t co = 0; co < Cout; ++co) {
      const float v = bs ? bs[co] : 0.0f;
      float *o = ob + co * out_sp;
      for (int64_t i = 0; i < out_sp; ++i) o[i] = v;
    }
    for (int64_t gr = 0; gr < G; ++gr) {
      const float *Wg = weight + gr * Cgi * M;
      const float *src = in + (b * Cin + gr * Cgi) * in_sp;
      float *og = ob + gr * Cgo * out_sp;
      for (int64_t n0 = 0; n0 < in_sp; n0 += nchunk) {
        const int64_t nc = std::min(nchunk, in_sp - n0);
        GemmEpilogue ep;
        /* col (M x nc) = Wg^T (M x Cgi) * in_g[:, n0:n0+nc] (Cgi x nc) */
        gemm_strided(M, nc, Cgi, Wg, 1, M, src + n0, in_sp, 1, col.get(), nchunk, ep, ws.get());
        /* col2im */
        for (int64_t m = 0; m < M; ++m) {
          const int64_t co = m / ksz, r = m % ksz;
          const int64_t kz = r / khw, ky = (r / g.k[2]) % g.k[1], kx = r % g.k[2];
          const int64_t offz = kz * g.d[0] - g.p[0], offy = ky * g.d[1] - g.p[1], offx = kx * g.d[2] - g.p[2];
          int64_t xlo, xhi; /* input x whose output x lies inside */
          valid_range(offx, g.s[2], g.out[2], g.in[2], xlo, xhi);
          float *oplane = og + co * out_sp;
          const float *crow = col.get() + m * nchunk;
          int64_t iz = n0 / ihw, rem = n0 % ihw;
          int64_t iy = rem / g.in[2], ix = rem % g.in[2];
          int64_t q = 0;
          while (q < nc) {
            const int64_t run = std::min(g.in[2] - ix, nc - q);
            const int64_t oz = iz * g.s[0] + offz, oy = iy * g.s[1] + offy;
            if (oz >= 0 && oz < g.out[0] && oy >= 0 && oy < g.out[1]) {
              float *orow = oplane + (oz * g.out[1] + oy) * g.out[2] + offx;
              const int64_t a = std::max(ix, xlo), e = std::min(ix + run, xhi);
              const float *cr = crow + q - ix;
              if (g.s[2] == 1) {
                for (int64_t x = a; x < e; ++x) orow[x] += cr[x];
              } else {
                const int64_t st = g.s[2];
                for (int64_t x = a; x < e; ++x) orow[x * st] += cr[x];
              }
            }
            q += run;
            ix = 0;
            if (++iy == g.in[1]) {
              iy = 0;
              ++iz;
            }
          }
        }
      }
    }
    if (p->act.op != DASH_ACT_NONE) act_inplace(ob, Cout * out_sp, p->act);
  }
}

/*
 * conv_transpose.cpp - o2c_conv_transpose: per (batch, group) the GEMM W_g^T x in_g gives the
 * column matrix (Cout/g*k x in_spatial, processed in chunks of input positions), which is scattered
 * into the output (col2im) on top of the bias; the activation runs last.
 */
#include "conv_internal.h"

using namespace o2c::conv;

extern "C" void o2c_conv_transpose(const float *in, const float *weight, const float *bias, float *out,
                                   const dash_conv_params_t *p) {
  Geo3 g;
  if (!make_geo(p, g)) return;
  const int64_t B = p->batch, Cin = p->in_channels, Cout = p->out_channels;
  const int64_t G = p->groups > 0 ? p->groups : 1;
  if (B <= 0 || Cout <= 0 || g.out_sp() <= 0) return;
  const float *bs = p->has_bias ? bias : nullptr;
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

/*
 * conv.cpp - o2c_conv and o2c_conv_transpose (1-D/2-D/3-D, NC<spatial> layout).
 *
 * Convolution runs as one GEMM per (batch, group): W_g (Cout/g x Cin/g*k) times the im2col
 * matrix of the input (Cin/g*k x out_spatial). The im2col matrix is never materialized: the
 * GEMM's B-packing callback gathers it straight from the input. 1x1/stride-1/pad-0 convolution
 * uses the input as B directly; depthwise convolution (groups == in == out channels) runs as a
 * direct loop. Bias and activation are fused into the GEMM epilogue.
 *
 * ConvTranspose: per (batch, group) the GEMM W_g^T x in_g gives the column matrix
 * (Cout/g*k x in_spatial, processed in chunks of input positions), which is scattered into the
 * output (col2im) on top of the bias; the activation runs last.
 */
#include "internal.h"

using namespace o2c::detail;

namespace {

constexpr int64_t NR = GEMM_NR;

/* geometry with the spatial dims expanded to 3 (leading dims of size 1) */
struct Geo3 {
  int64_t in[3], out[3], k[3], s[3], d[3], p[3];
  int64_t in_sp() const { return in[0] * in[1] * in[2]; }
  int64_t out_sp() const { return out[0] * out[1] * out[2]; }
  int64_t k_sp() const { return k[0] * k[1] * k[2]; }
};

bool make_geo(const dash_conv_params_t *p, Geo3 &g) {
  const int r = p->spatial_rank;
  if (r < 1 || r > DASH_MAX_SPATIAL) return false;
  for (int d = 0; d < 3; ++d) {
    const int src = d - (3 - r);
    if (src < 0) {
      g.in[d] = g.out[d] = g.k[d] = g.s[d] = g.d[d] = 1;
      g.p[d] = 0;
    } else {
      g.in[d] = p->in_size[src];
      g.out[d] = p->out_size[src];
      g.k[d] = p->kernel[src];
      g.s[d] = p->stride[src] > 0 ? p->stride[src] : 1;
      g.d[d] = p->dilation[src] > 0 ? p->dilation[src] : 1;
      g.p[d] = p->pad_begin[src];
    }
  }
  return true;
}

/* the valid range [lo, hi) of o such that 0 <= o*s + off < n, clipped to [0, limit) */
inline void valid_range(int64_t off, int64_t s, int64_t n, int64_t limit, int64_t &lo, int64_t &hi) {
  lo = off < 0 ? ceil_div(-off, s) : 0;
  hi = n - 1 - off < 0 ? 0 : floor_div(n - 1 - off, s) + 1;
  lo = std::min(lo, limit);
  hi = std::min(hi, limit);
  if (hi < lo) hi = lo;
}

/* ---- implicit im2col B source ---- */
struct Im2col {
  const float *in; /* this group's input: Cg x in_sp */
  Geo3 g;
};

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

/* ---- depthwise: one input channel per output channel ---- */
void depthwise(const float *in, const float *w, const float *bias, float *out, const Geo3 &g, int64_t planes,
               int64_t channels, const dash_act_t &act) {
  const int64_t in_sp = g.in_sp(), out_sp = g.out_sp(), ksz = g.k_sp();
  for (int64_t pl = 0; pl < planes; ++pl) {
    const int64_t ch = pl % channels;
    const float *src = in + pl * in_sp;
    const float *wc = w + ch * ksz;
    const float bv = bias ? bias[ch] : 0.0f;
    float *dst = out + pl * out_sp;
    for (int64_t oz = 0; oz < g.out[0]; ++oz) {
      for (int64_t oy = 0; oy < g.out[1]; ++oy) {
        float *orow = dst + (oz * g.out[1] + oy) * g.out[2];
        for (int64_t ox = 0; ox < g.out[2]; ++ox) orow[ox] = bv;
        for (int64_t kz = 0; kz < g.k[0]; ++kz) {
          const int64_t iz = oz * g.s[0] - g.p[0] + kz * g.d[0];
          if (iz < 0 || iz >= g.in[0]) continue;
          for (int64_t ky = 0; ky < g.k[1]; ++ky) {
            const int64_t iy = oy * g.s[1] - g.p[1] + ky * g.d[1];
            if (iy < 0 || iy >= g.in[1]) continue;
            const float *irow = src + (iz * g.in[1] + iy) * g.in[2];
            for (int64_t kx = 0; kx < g.k[2]; ++kx) {
              const float wv = wc[(kz * g.k[1] + ky) * g.k[2] + kx];
              const int64_t off = kx * g.d[2] - g.p[2];
              int64_t lo, hi;
              valid_range(off, g.s[2], g.in[2], g.out[2], lo, hi);
              const float *s = irow + off;
              if (g.s[2] == 1) {
                for (int64_t ox = lo; ox < hi; ++ox) orow[ox] += wv * s[ox];
              } else {
                const int64_t st = g.s[2];
                for (int64_t ox = lo; ox < hi; ++ox) orow[ox] += wv * s[ox * st];
              }
            }
          }
        }
        act_inplace(orow, g.out[2], act);
      }
    }
  }
}

} /* namespace */

extern "C" void o2c_conv(const float *in, const float *weight, const float *bias, float *out,
                         const dash_conv_params_t *p) {
  Geo3 g;
  if (!make_geo(p, g)) return;
  const int64_t B = p->batch, Cin = p->in_channels, Cout = p->out_channels;
  const int64_t G = p->groups > 0 ? p->groups : 1;
  if (B <= 0 || Cout <= 0 || g.out_sp() <= 0) return;
  const float *bs = p->has_bias ? bias : nullptr;
  const int64_t Cg = Cin / G, Mg = Cout / G;
  const int64_t in_sp = g.in_sp(), out_sp = g.out_sp(), ksz = g.k_sp();
  const int64_t Kg = Cg * ksz;

  if (Cg == 1 && Mg == 1 && G == Cin) {
    depthwise(in, weight, bs, out, g, B * Cin, Cin, p->act);
    return;
  }

  const bool pointwise = ksz == 1 && g.p[0] == 0 && g.p[1] == 0 && g.p[2] == 0 && g.s[0] == 1 && g.s[1] == 1 &&
                         g.s[2] == 1 && g.out[0] == g.in[0] && g.out[1] == g.in[1] && g.out[2] == g.in[2];
  Scratch<float> ws(gemm_workspace_floats(Mg, out_sp, Kg));
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t gr = 0; gr < G; ++gr) {
      const float *A = weight + gr * Mg * Kg;
      const float *src = in + (b * Cin + gr * Cg) * in_sp;
      float *C = out + (b * Cout + gr * Mg) * out_sp;
      GemmEpilogue ep;
      ep.bias_kind = bs ? 3 : 0;
      ep.bias = bs ? bs + gr * Mg : nullptr;
      ep.act = p->act;
      if (pointwise) {
        gemm_strided(Mg, out_sp, Cg, A, Kg, 1, src, in_sp, 1, C, out_sp, ep, ws.get());
      } else {
        Im2col ctx{src, g};
        gemm_driver(Mg, out_sp, Kg, A, Kg, 1, GemmBSource{pack_b_im2col, &ctx}, C, out_sp, ep, ws.get());
      }
    }
  }
}

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

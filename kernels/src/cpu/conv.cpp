/*
 * conv.cpp - o2c_conv and o2c_conv_transpose (1-D/2-D/3-D, NC<spatial> layout).
 *
 * Convolution is a GEMM per (batch, group): W_g (Cout/g x Cin/g*k) times the im2col matrix of
 * the input (Cin/g*k x out_spatial), which is never materialized:
 *  - normally the "direct" path below: the input is copied once into zero-padded phase planes
 *    in which every row of the im2col matrix is a contiguous run, and a 6x16 register-blocked
 *    micro-kernel (the GEMM's, with B read in place through a row-offset table) runs over it;
 *    this covers any stride, dilation, padding and 1x1 kernels;
 *  - when that would compute too many padding columns (strongly dilated kernels on small
 *    images), implicit im2col: the GEMM engine's B-packing callback gathers the panels;
 *  - small images with many channels (at most 400 output positions), when the weights come
 *    packed ahead of time: the "lanes" path, output channels on the vector lanes and a tile's
 *    few positions broadcast from the zero-padded input (no wide-grid waste).
 * Depthwise convolution (groups == in == out channels) runs as a direct loop. Bias and
 * activation are fused into the epilogue.
 *
 * Weights packed once (o2c_conv_pack, at model load; dash_conv_params_t.packed): the same
 * layout the call would otherwise pack per call (direct) or could not afford to (lanes), behind a
 * header naming the path and this build's layout, so a buffer from another build is ignored.
 *
 * Reduction order (a contract: kernels/accel reproduces it bit for bit): every output element is
 * ONE fused multiply-add chain over the K index k = (input channel of the group, kz, ky, kx) in
 * order, padding taps included (they multiply a zero), starting from +0 on the direct, im2col
 * and lanes paths, then + bias (only when there is one), then the activation; on the depthwise
 * path the chain over the taps (kz, ky, kx) starts from the bias (+0 without one), then the
 * activation.
 *
 * ConvTranspose: per (batch, group) the GEMM W_g^T x in_g gives the column matrix
 * (Cout/g*k x in_spatial, processed in chunks of input positions), which is scattered into the
 * output (col2im) on top of the bias; the activation runs last.
 */
#include "internal.h"
#include "o2c_numerics.h"

#include <array>
#include <utility>
#include <vector>

using namespace o2c::detail;

namespace {

constexpr int64_t NR = GEMM_NR;

/* a*b + c, rounded once where the target has FMA (the shared contract, o2c_numerics.h) */
inline float fmac(float a, float b, float c) { return o2c_fmac(a, b, c); }

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

/* ---- direct convolution ("wide grid" over phase planes) ----
 * Input position along an axis for output o and tap k is u = o*s + k*d in padded coordinates.
 * Writing k*d = s*q + r (0 <= r < s) gives u = s*(o + q) + r, so the padded input split into
 * s phase planes (row a of phase r = padded row s*a + r) turns every tap into a shift q inside
 * one phase plane, for any stride. Phase planes are Dq x Hq x Wq (just large enough for every
 * tap of every output) with an odd number of cache lines as pitch P. Output (oz, oy, ox) maps
 * to the wide index n = oz*Hq*Wq + oy*Wq + ox, and the im2col matrix becomes
 * B(k, n) = phases[off[k] + n], off[k] = plane(c, rz, ry, rx)*P + qz*Hq*Wq + qy*Wq + qx:
 * every row of B is a contiguous run of memory. The micro-kernel reads B from there (no
 * packing) against pre-packed weights; the wide result (with garbage columns ox >= out_w) goes
 * to a block buffer and is compacted into the output together with bias and activation. */
constexpr int64_t MR = GEMM_MR;
constexpr int64_t DIRECT_NB = 256; /* wide positions per block (multiple of NR) */
/* Output channels are cut into panels (one micro-kernel row block each): MR rows (the last one
 * shorter) for the AVX2 and portable kernels; for the AVX-512 tiles ceil(M/12) panels of balanced
 * heights (<= 12: 64 channels are 11,11,11,11,10,10, not 12,12,12,12,12,4). PANEL is the row
 * padding of the weights buffers. */
constexpr int64_t ZMR = 12;
#if O2C_HAVE_AVX512
constexpr int64_t PANEL = 1;
#else
constexpr int64_t PANEL = MR;
#endif
struct Panels {
  int64_t n, base, extra, M;
  explicit Panels(int64_t Mg) : M(Mg) {
#if O2C_HAVE_AVX512
    n = ceil_div(Mg, ZMR);
    base = Mg / n;
    extra = Mg % n;
#else
    n = ceil_div(Mg, MR);
    base = MR;
    extra = 0;
#endif
  }
  int64_t start(int64_t p) const { return std::min(M, p * base + std::min(p, extra)); }
  int64_t height(int64_t p) const { return start(p + 1) - start(p); }
};

/* A (the weights) is either packed (w[r] = panel + r, stride MR per k) or read in place from
 * the weight rows (w[r] = row r, stride 1). When accumulating, each element's FMA chain continues
 * from the partial sum in c. */
#if O2C_HAVE_AVX2
template <int64_t AS>
inline void direct_kernel(int64_t kc, const float *const *w, const float *__restrict b,
                          const int64_t *__restrict off, float *__restrict c, int64_t ldc, bool accumulate) {
  const float *w0 = w[0], *w1 = w[1], *w2 = w[2], *w3 = w[3], *w4 = w[4], *w5 = w[5];
  __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps();
  __m256 c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
  __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps();
  __m256 c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();
  __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps();
  __m256 c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();
  float *r0 = c, *r1 = c + ldc, *r2 = c + 2 * ldc, *r3 = c + 3 * ldc, *r4 = c + 4 * ldc, *r5 = c + 5 * ldc;
  if (accumulate) {
    c00 = _mm256_loadu_ps(r0);
    c01 = _mm256_loadu_ps(r0 + 8);
    c10 = _mm256_loadu_ps(r1);
    c11 = _mm256_loadu_ps(r1 + 8);
    c20 = _mm256_loadu_ps(r2);
    c21 = _mm256_loadu_ps(r2 + 8);
    c30 = _mm256_loadu_ps(r3);
    c31 = _mm256_loadu_ps(r3 + 8);
    c40 = _mm256_loadu_ps(r4);
    c41 = _mm256_loadu_ps(r4 + 8);
    c50 = _mm256_loadu_ps(r5);
    c51 = _mm256_loadu_ps(r5 + 8);
  }
  for (int64_t k = 0; k < kc; ++k) {
    const float *bk = b + off[k];
    const __m256 b0 = _mm256_loadu_ps(bk);
    const __m256 b1 = _mm256_loadu_ps(bk + 8);
    __m256 av = _mm256_broadcast_ss(w0 + k * AS);
    c00 = _mm256_fmadd_ps(av, b0, c00);
    c01 = _mm256_fmadd_ps(av, b1, c01);
    av = _mm256_broadcast_ss(w1 + k * AS);
    c10 = _mm256_fmadd_ps(av, b0, c10);
    c11 = _mm256_fmadd_ps(av, b1, c11);
    av = _mm256_broadcast_ss(w2 + k * AS);
    c20 = _mm256_fmadd_ps(av, b0, c20);
    c21 = _mm256_fmadd_ps(av, b1, c21);
    av = _mm256_broadcast_ss(w3 + k * AS);
    c30 = _mm256_fmadd_ps(av, b0, c30);
    c31 = _mm256_fmadd_ps(av, b1, c31);
    av = _mm256_broadcast_ss(w4 + k * AS);
    c40 = _mm256_fmadd_ps(av, b0, c40);
    c41 = _mm256_fmadd_ps(av, b1, c41);
    av = _mm256_broadcast_ss(w5 + k * AS);
    c50 = _mm256_fmadd_ps(av, b0, c50);
    c51 = _mm256_fmadd_ps(av, b1, c51);
  }
  _mm256_storeu_ps(r0, c00);
  _mm256_storeu_ps(r0 + 8, c01);
  _mm256_storeu_ps(r1, c10);
  _mm256_storeu_ps(r1 + 8, c11);
  _mm256_storeu_ps(r2, c20);
  _mm256_storeu_ps(r2 + 8, c21);
  _mm256_storeu_ps(r3, c30);
  _mm256_storeu_ps(r3 + 8, c31);
  _mm256_storeu_ps(r4, c40);
  _mm256_storeu_ps(r4 + 8, c41);
  _mm256_storeu_ps(r5, c50);
  _mm256_storeu_ps(r5 + 8, c51);
}
#else
template <int64_t AS>
inline void direct_kernel(int64_t kc, const float *const *w, const float *__restrict b,
                          const int64_t *__restrict off, float *__restrict c, int64_t ldc, bool accumulate) {
  float acc[MR][NR];
  for (int64_t r = 0; r < MR; ++r)
    for (int64_t j = 0; j < NR; ++j) acc[r][j] = accumulate ? c[r * ldc + j] : 0.0f;
  for (int64_t k = 0; k < kc; ++k) {
    const float *bk = b + off[k];
    for (int64_t r = 0; r < MR; ++r) {
      const float av = w[r][k * AS];
      for (int64_t j = 0; j < NR; ++j) acc[r][j] = fmac(av, bk[j], acc[r][j]);
    }
  }
  for (int64_t r = 0; r < MR; ++r) {
    float *cr = c + r * ldc;
    for (int64_t j = 0; j < NR; ++j) cr[j] = acc[r][j];
  }
}
#endif

struct DirectPlan {
  int64_t q[3];      /* phase plane dims Dq, Hq, Wq */
  int64_t P;         /* plane pitch (floats) */
  int64_t nplanes;   /* Cg * sz * sy * sx */
  int64_t Nw;        /* wide positions */
  int64_t Mpad, kcb; /* packed weight rows, K block */
  size_t in_floats;  /* phase planes incl. slack */
};

int64_t phase_extent(const Geo3 &g, int d) { return g.out[d] + ((g.k[d] - 1) * g.d[d]) / g.s[d]; }

int64_t wide_count(const Geo3 &g) {
  const int64_t Hq = phase_extent(g, 1), Wq = phase_extent(g, 2);
  return (g.out[0] - 1) * Hq * Wq + (g.out[1] - 1) * Wq + g.out[2];
}

DirectPlan direct_plan(const Geo3 &g, int64_t Cg, int64_t Mg, int64_t Kg) {
  DirectPlan d;
  for (int a = 0; a < 3; ++a) d.q[a] = phase_extent(g, a);
  /* plane pitch: an odd number of cache lines, so the rows of B (one per channel and tap) spread
   * over all L1 sets even when the planes are powers of two */
  d.P = round_up(d.q[0] * d.q[1] * d.q[2], 16);
  if ((d.P / 16) % 2 == 0) d.P += 16;
  d.nplanes = Cg * g.s[0] * g.s[1] * g.s[2];
  d.Nw = wide_count(g);
  d.Mpad = round_up(Mg, PANEL);
  const int64_t nk = std::max<int64_t>(1, ceil_div(Kg, GEMM_KC));
  d.kcb = std::max<int64_t>(1, ceil_div(Kg, nk));
  /* reads reach up to the last plane's end plus a block of wide positions */
  d.in_floats = static_cast<size_t>(d.nplanes * d.P + round_up(d.Nw, DIRECT_NB) + NR + 64);
  return d;
}

/* Is the direct path cheaper than implicit im2col + GEMM? Costs in multiply-adds per unit of K:
 * direct computes Mpad x (Nw rounded up to 16 per block); im2col computes Mpad x round_up(N, 16)
 * and packs K*N values at ~32 multiply-adds each. The direct path wins almost always; im2col
 * only for strongly dilated kernels on small images. */
bool direct_pays(const Geo3 &g, int64_t Mg) {
  const int64_t Nw = wide_count(g);
  const int64_t N = g.out_sp(), Mp = round_up(Mg, GEMM_MR);
  const int64_t nw_cols = (Nw / DIRECT_NB) * DIRECT_NB + round_up(Nw % DIRECT_NB, NR);
  const double direct = static_cast<double>(Mp) * static_cast<double>(nw_cols);
  const double im2col = static_cast<double>(Mp) * static_cast<double>(round_up(N, NR)) + 32.0 * static_cast<double>(N);
#if O2C_HAVE_AVX512
  /* the direct path's AVX-512 tiles do twice the work per instruction of the GEMM engine's */
  return direct <= 2.0 * im2col;
#else
  return direct <= im2col;
#endif
}

/* offsets of the B rows: k = (c, kz, ky, kx); per axis, tap t sits in phase (t*d) % s at shift
 * (t*d) / s (tables, so the loop over K has no divisions) */
void direct_offsets(const Geo3 &g, const DirectPlan &d, int64_t Kg, int64_t *off) {
  std::vector<int64_t> ph[3], sh[3];
  for (int a = 0; a < 3; ++a) {
    ph[a].resize(static_cast<size_t>(g.k[a]));
    sh[a].resize(static_cast<size_t>(g.k[a]));
    for (int64_t t = 0; t < g.k[a]; ++t) {
      ph[a][t] = (t * g.d[a]) % g.s[a];
      sh[a][t] = (t * g.d[a]) / g.s[a];
    }
  }
  int64_t k = 0;
  for (int64_t c = 0; k < Kg; ++c)
    for (int64_t kz = 0; kz < g.k[0]; ++kz)
      for (int64_t ky = 0; ky < g.k[1]; ++ky) {
        const int64_t pzy = (c * g.s[0] + ph[0][kz]) * g.s[1] + ph[1][ky];
        const int64_t szy = (sh[0][kz] * d.q[1] + sh[1][ky]) * d.q[2];
        for (int64_t kx = 0; kx < g.k[2]; ++kx, ++k) off[k] = (pzy * g.s[2] + ph[2][kx]) * d.P + szy + sh[2][kx];
      }
}

/* the padded input of one (batch, group) split into phase planes; channel c of the input starts at
 * in_g + c*cstride (cstride < 0: the planes are dense, in_sp apart) */
void build_phases(const float *in_g, const Geo3 &g, const DirectPlan &d, int64_t Cg, float *in_p, int nth = 1,
                  int64_t cstride = -1) {
  if (cstride < 0) cstride = g.in_sp();
  /* 1. the padded input split into phase planes: plane (c, rz, ry, rx), element (a, b, e) holds
   * padded input (s0*a + rz, s1*b + ry, s2*e + rx), i.e. input index minus pad_begin. Phases no
   * tap reads (a 1x1 kernel with stride 2 reads phase 0 only) are left unwritten. */
  auto used = [&](int a, int64_t r) {
    for (int64_t t = 0; t < g.k[a]; ++t)
      if ((t * g.d[a]) % g.s[a] == r) return true;
    return false;
  };
  /* channels in chunks, over the threads when the copy is large (each chunk writes its own planes) */
  const int64_t per = std::max<int64_t>(1, (int64_t(1) << 16) / std::max<int64_t>(d.P * g.s[0] * g.s[1] * g.s[2], 1));
  const int64_t nchunks = ceil_div(Cg, per);
  if (g.s[0] == 1 && g.s[1] == 1 && g.s[2] == 1) {
    /* unit stride (one phase per channel): zero each plane, then copy the input rows into place;
     * the valid ranges are the same for every channel (small maps with many channels would
     * otherwise pay the general loop's per-row work) */
    int64_t z0, z1, y0, y1, x0, x1;
    valid_range(-g.p[0], 1, g.in[0], d.q[0], z0, z1);
    valid_range(-g.p[1], 1, g.in[1], d.q[1], y0, y1);
    valid_range(-g.p[2], 1, g.in[2], d.q[2], x0, x1);
    const int64_t len = x1 - x0;
    parallel_for(nchunks, nth, [&](int64_t chunk, int) {
      for (int64_t c = chunk * per; c < std::min(Cg, (chunk + 1) * per); ++c) {
        float *plane = in_p + c * d.P;
        std::memset(plane, 0, static_cast<size_t>(d.P) * sizeof(float));
        if (len <= 0) continue;
        const float *src_c = in_g + c * cstride;
        for (int64_t a = z0; a < z1; ++a)
          for (int64_t b = y0; b < y1; ++b) {
            const float *src = src_c + ((a - g.p[0]) * g.in[1] + (b - g.p[1])) * g.in[2] + (x0 - g.p[2]);
            float *dst = plane + (a * d.q[1] + b) * d.q[2] + x0;
            for (int64_t e = 0; e < len; ++e) dst[e] = src[e];
          }
      }
    });
    std::memset(in_p + d.nplanes * d.P, 0, (d.in_floats - static_cast<size_t>(d.nplanes * d.P)) * sizeof(float));
    return;
  }
  parallel_for(nchunks, nth, [&](int64_t chunk, int) {
    for (int64_t c = chunk * per; c < std::min(Cg, (chunk + 1) * per); ++c) {
      for (int64_t rz = 0; rz < g.s[0]; ++rz)
        for (int64_t ry = 0; ry < g.s[1]; ++ry)
          for (int64_t rx = 0; rx < g.s[2]; ++rx) {
            if ((g.s[0] > 1 && !used(0, rz)) || (g.s[1] > 1 && !used(1, ry)) || (g.s[2] > 1 && !used(2, rx))) continue;
            float *plane = in_p + (((c * g.s[0] + rz) * g.s[1] + ry) * g.s[2] + rx) * d.P;
            /* columns e whose input x = s2*e + rx - p2 lies in [0, in_w) */
            const int64_t xoff = rx - g.p[2];
            int64_t e0, e1;
            valid_range(xoff, g.s[2], g.in[2], d.q[2], e0, e1);
            for (int64_t a = 0; a < d.q[0]; ++a) {
              const int64_t iz = a * g.s[0] + rz - g.p[0];
              for (int64_t b = 0; b < d.q[1]; ++b) {
                const int64_t iy = b * g.s[1] + ry - g.p[1];
                float *row = plane + (a * d.q[1] + b) * d.q[2];
                if (iz < 0 || iz >= g.in[0] || iy < 0 || iy >= g.in[1] || e1 <= e0) {
                  for (int64_t e = 0; e < d.q[2]; ++e) row[e] = 0.0f;
                  continue;
                }
                const float *src = in_g + c * cstride + (iz * g.in[1] + iy) * g.in[2] + xoff;
                for (int64_t e = 0; e < e0; ++e) row[e] = 0.0f;
                if (g.s[2] == 1) {
                  for (int64_t e = e0; e < e1; ++e) row[e] = src[e]; /* short rows: no library call */
                } else {
                  const int64_t st = g.s[2];
                  for (int64_t e = e0; e < e1; ++e) row[e] = src[e * st];
                }
                for (int64_t e = e1; e < d.q[2]; ++e) row[e] = 0.0f;
              }
            }
            /* the pitch padding after the plane */
            const int64_t used = d.q[0] * d.q[1] * d.q[2];
            for (int64_t e = used; e < d.P; ++e) plane[e] = 0.0f;
          }
    }
  });
  std::memset(in_p + d.nplanes * d.P, 0, (d.in_floats - static_cast<size_t>(d.nplanes * d.P)) * sizeof(float));
}

#if O2C_HAVE_AVX512
/* AVX-512 tiles: RM (<= ZMR) output channels x 8*C8 wide positions (C8/2 zmm and C8%2 ymm
 * accumulators per channel), each lane ONE fused multiply-add chain over k in order (continued
 * from c when accumulating) - the same contract as direct_kernel. Weights packed (a[k*RM + r])
 * or read in place from the weight rows (rows[r][k]). */
template <int RM, int C8, bool PACKED>
void zkernel(int64_t kc, const float *a, const float *const *rows, const float *__restrict b,
             const int64_t *__restrict off, float *__restrict c, int64_t ldc, bool accumulate) {
  constexpr int NZ = C8 / 2, HY = C8 % 2;
  __m512 acc[RM][NZ > 0 ? NZ : 1];
  __m256 accy[RM];
#pragma GCC unroll 16
  for (int r = 0; r < RM; ++r) {
#pragma GCC unroll 4
    for (int v = 0; v < NZ; ++v) acc[r][v] = accumulate ? _mm512_loadu_ps(c + r * ldc + 16 * v) : _mm512_setzero_ps();
    if (HY) accy[r] = accumulate ? _mm256_loadu_ps(c + r * ldc + 16 * NZ) : _mm256_setzero_ps();
  }
  const float *wr[RM];
#pragma GCC unroll 16
  for (int r = 0; r < RM; ++r) wr[r] = PACKED ? a + r : rows[r];
  for (int64_t k = 0; k < kc; ++k) {
    const float *bk = b + off[k];
    __m512 bv[NZ > 0 ? NZ : 1];
    __m256 by = _mm256_setzero_ps();
#pragma GCC unroll 4
    for (int v = 0; v < NZ; ++v) bv[v] = _mm512_loadu_ps(bk + 16 * v);
    if (HY) by = _mm256_loadu_ps(bk + 16 * NZ);
#pragma GCC unroll 16
    for (int r = 0; r < RM; ++r) {
      const float w = PACKED ? a[k * RM + r] : wr[r][k];
      if (NZ > 0) {
        const __m512 av = _mm512_set1_ps(w);
#pragma GCC unroll 4
        for (int v = 0; v < NZ; ++v) acc[r][v] = _mm512_fmadd_ps(av, bv[v], acc[r][v]);
      }
      if (HY) accy[r] = _mm256_fmadd_ps(_mm256_set1_ps(w), by, accy[r]);
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < RM; ++r) {
#pragma GCC unroll 4
    for (int v = 0; v < NZ; ++v) _mm512_storeu_ps(c + r * ldc + 16 * v, acc[r][v]);
    if (HY) _mm256_storeu_ps(c + r * ldc + 16 * NZ, accy[r]);
  }
}

typedef void (*ZKernelFn)(int64_t, const float *, const float *const *, const float *, const int64_t *, float *,
                          int64_t, bool);
template <int C8, bool PACKED, int... R>
constexpr std::array<ZKernelFn, sizeof...(R)> zkernel_table(std::integer_sequence<int, R...>) {
  return {{&zkernel<R + 1, C8, PACKED>...}};
}
template <bool PACKED>
constexpr std::array<std::array<ZKernelFn, ZMR>, 4> zkernel_tables() {
  return {{zkernel_table<1, PACKED>(std::make_integer_sequence<int, ZMR>()),
           zkernel_table<2, PACKED>(std::make_integer_sequence<int, ZMR>()),
           zkernel_table<3, PACKED>(std::make_integer_sequence<int, ZMR>()),
           zkernel_table<4, PACKED>(std::make_integer_sequence<int, ZMR>())}};
}
/* [packed][columns/8 - 1][rows - 1] */
const std::array<std::array<ZKernelFn, ZMR>, 4> kZKernels[2] = {zkernel_tables<false>(), zkernel_tables<true>()};
#endif

/* weights rows [0, Mg) x columns [k0, k0+kc) packed by panel: panel p (rows [s, s+h)) at
 * dst + s*kc, element (k, r) at [k*hp + r], where hp is h (AVX-512) or MR (rows past Mg zero) */
void pack_weights(const float *Wg, int64_t Kg, int64_t Mg, int64_t k0, int64_t kc, float *dst) {
  const Panels P(Mg);
  for (int64_t p = 0; p < P.n; ++p) {
    const int64_t s0 = P.start(p), m = P.height(p);
    const int64_t hp = O2C_HAVE_AVX512 ? m : MR;
    float *d = dst + s0 * kc;
    for (int64_t r = 0; r < m; ++r) {
      const float *src = Wg + (s0 + r) * Kg + k0;
      for (int64_t k = 0; k < kc; ++k) d[k * hp + r] = src[k];
    }
    for (int64_t r = m; r < hp; ++r)
      for (int64_t k = 0; k < kc; ++k) d[k * hp + r] = 0.0f;
  }
}

/* One direct convolution (one batch, one group) over its phase planes. */
struct DirectJob {
  const float *in_p;   /* phase planes */
  const float *Wg;     /* weight rows (Mg x Kg) */
  const float *apk;    /* weights packed in PANEL-row panels per K block (apk + pc*Mpad + ir*kc), or NULL
                        * to read the weight rows in place (cheaper when each weight meets few positions) */
  const int64_t *off;  /* B row offsets */
  const float *bias_g; /* Mg values or NULL */
  float *out_g;
  const Geo3 *g;
  const DirectPlan *d;
  int64_t Mg, Kg;
  dash_act_t act;
  int64_t out_cs; /* output channel stride (floats) */
};

/* Rows [m0, m1) (m0 a multiple of PANEL) of the wide-position block starting at n0: the
 * micro-kernel into cw (rows x DIRECT_NB), then compaction of the valid runs with bias and
 * activation into the output. */
void direct_block(const DirectJob &J, int64_t n0, int64_t m0, int64_t m1, float *cw) {
  const Geo3 &g = *J.g;
  const DirectPlan &d = *J.d;
  const int64_t Mg = J.Mg, Kg = J.Kg;
  (void)Mg;
  const float *apk = J.apk;
  const int64_t *off = J.off;
  const int64_t nb = std::min(DIRECT_NB, d.Nw - n0);
  /* weights read in place: one K block (the whole chain in registers) */
  const int64_t kcb = apk ? d.kcb : Kg;
  for (int64_t pc = 0; pc < Kg; pc += kcb) {
    const int64_t kc = std::min(kcb, Kg - pc);
    for (int64_t ic = m0; ic < m1; ic += GEMM_MC) {
      const int64_t mc = std::min(GEMM_MC, m1 - ic);
#if O2C_HAVE_AVX512
      const Panels P(Mg);
      for (int64_t nt = 0; nt < nb; nt += 32) {
        const float *bb = J.in_p + n0 + nt;
        const int64_t c8 = std::min<int64_t>(4, ceil_div(nb - nt, 8));
        for (int64_t pp = 0; pp < P.n; ++pp) {
          const int64_t ir = P.start(pp), m = P.height(pp);
          if (ir < ic) continue;
          if (ir >= ic + mc) break;
          float *c = cw + ir * DIRECT_NB + nt;
          if (apk) {
            kZKernels[1][c8 - 1][m - 1](kc, apk + pc * d.Mpad + ir * kc, nullptr, bb, off + pc, c, DIRECT_NB, pc > 0);
          } else {
            const float *rows[ZMR];
            for (int64_t r = 0; r < m; ++r) rows[r] = J.Wg + (ir + r) * Kg + pc;
            kZKernels[0][c8 - 1][m - 1](kc, nullptr, rows, bb, off + pc, c, DIRECT_NB, pc > 0);
          }
        }
      }
#else
      for (int64_t nt = 0; nt < nb; nt += NR) {
        const float *bb = J.in_p + n0 + nt;
        for (int64_t ir = ic; ir < ic + mc; ir += MR) {
          const int64_t m = std::min(MR, Mg - ir);
          float *c = cw + ir * DIRECT_NB + nt;
          const float *w[MR];
          if (apk) {
            for (int64_t r = 0; r < MR; ++r) w[r] = apk + pc * d.Mpad + ir * kc + r;
          } else {
            /* rows past the end repeat the last one (their results are dropped) */
            for (int64_t r = 0; r < MR; ++r) w[r] = J.Wg + std::min(ir + r, Mg - 1) * Kg + pc;
          }
          if (m == MR) {
            if (apk)
              direct_kernel<MR>(kc, w, bb, off + pc, c, DIRECT_NB, pc > 0);
            else
              direct_kernel<1>(kc, w, bb, off + pc, c, DIRECT_NB, pc > 0);
          } else {
            alignas(64) float tmp[MR * NR];
            if (pc > 0) {
              for (int64_t r = 0; r < MR; ++r)
                for (int64_t j = 0; j < NR; ++j) tmp[r * NR + j] = r < m ? c[r * DIRECT_NB + j] : 0.0f;
            }
            if (apk)
              direct_kernel<MR>(kc, w, bb, off + pc, tmp, NR, pc > 0);
            else
              direct_kernel<1>(kc, w, bb, off + pc, tmp, NR, pc > 0);
            for (int64_t r = 0; r < m; ++r)
              for (int64_t j = 0; j < NR; ++j) c[r * DIRECT_NB + j] = tmp[r * NR + j];
          }
        }
      }
#endif
    }
  }
  /* the block's valid runs (wide positions [q, q+len) -> output positions [dst0, dst0+len)) */
  struct Run {
    int64_t q, dst0, len;
  };
  Run runs[DIRECT_NB + 2];
  int64_t nr = 0;
  {
    const int64_t hw = d.q[1] * d.q[2];
    int64_t oz = n0 / hw, rem = n0 % hw, oy = rem / d.q[2], ox = rem % d.q[2];
    int64_t q = 0;
    while (q < nb) {
      const int64_t run = std::min(d.q[2] - ox, nb - q);
      if (oy < g.out[1] && ox < g.out[2])
        runs[nr++] = Run{q, (oz * g.out[1] + oy) * g.out[2] + ox, std::min(run, g.out[2] - ox)};
      q += run;
      ox = 0;
      if (++oy == d.q[1]) {
        oy = 0;
        ++oz;
      }
    }
  }
  /* bias, activation and compaction in one pass per channel; ReLU and LeakyReLU written out (the
   * expressions of unary_array), other activations on the block's rows before the copy */
  const int64_t N = J.out_cs;
  const int32_t op = J.act.op;
  const bool inline_act = op == DASH_ACT_NONE || op == DASH_ACT_RELU || op == DASH_ACT_LEAKY_RELU;
  const float alpha = J.act.alpha;
  for (int64_t oc = m0; oc < m1; ++oc) {
    float *row = cw + oc * DIRECT_NB;
    const bool has_b = J.bias_g != nullptr;
    const float bv = has_b ? J.bias_g[oc] : 0.0f;
    float *out_c = J.out_g + oc * N;
    if (!inline_act) {
      if (has_b)
        for (int64_t t = 0; t < nb; ++t) row[t] += bv;
      act_inplace(row, nb, J.act);
      for (int64_t r = 0; r < nr; ++r)
        std::memcpy(out_c + runs[r].dst0, row + runs[r].q, static_cast<size_t>(runs[r].len) * sizeof(float));
      continue;
    }
    for (int64_t r = 0; r < nr; ++r) {
      const float *src = row + runs[r].q;
      float *dst = out_c + runs[r].dst0;
      const int64_t len = runs[r].len;
      if (op == DASH_ACT_NONE) {
        if (has_b)
          for (int64_t t = 0; t < len; ++t) dst[t] = src[t] + bv;
        else
          for (int64_t t = 0; t < len; ++t) dst[t] = src[t];
      } else if (op == DASH_ACT_RELU) {
        if (has_b) {
          for (int64_t t = 0; t < len; ++t) {
            const float v = src[t] + bv;
            dst[t] = v < 0.0f ? 0.0f : v;
          }
        } else {
          for (int64_t t = 0; t < len; ++t) dst[t] = src[t] < 0.0f ? 0.0f : src[t];
        }
      } else {
        for (int64_t t = 0; t < len; ++t) {
          const float v = has_b ? src[t] + bv : src[t];
          dst[t] = v >= 0.0f ? v : alpha * v;
        }
      }
    }
  }
}

/* ---- "lanes" path: output channels on the vector lanes (small images, many channels) ----
 * On small images the wide grid wastes most of a 16/32-position tile; here a tile is LN output
 * channels (the vector lanes: LN = 32 with AVX-512, 16 otherwise) x up to LR output positions
 * (ROWS output rows x COLS consecutive columns), each position's input value broadcast from the
 * zero-padded input (lanes_padded_geo: B(k, n) = padded[off[k] + position of n], consecutive
 * columns s[2] apart), against weights packed by panels of LN channels (element (k, j) at
 * [k*LN + j], channels past Mg zero). Every
 * output is still ONE fused multiply-add chain over k in order from +0 (the whole K in
 * registers), then + bias, then the activation: the same bits as the direct path. */
#if O2C_HAVE_AVX512
constexpr int64_t LN = 32;
constexpr int LR = 12;
constexpr int LROWS = 4;
constexpr int64_t LPF = 16; /* weight prefetch distance, in k steps */
#elif O2C_HAVE_AVX2
constexpr int64_t LN = 16;
constexpr int LR = 6;
constexpr int LROWS = 2;
constexpr int64_t LPF = 16;
#else
constexpr int64_t LN = 16;
constexpr int LR = 4;
constexpr int LROWS = 2;
#endif

/* c[(i*COLS + x)*LN + j] = sum_k rows[i][off[k] + x*SX] * w[k*LN + j] */
template <int ROWS, int COLS, int SX>
void lanes_kernel(int64_t K, const float *const *rows, const int64_t *__restrict off, const float *__restrict w,
                  float *__restrict c) {
  constexpr int R = ROWS * COLS;
  const float *rp[ROWS];
#pragma GCC unroll 4
  for (int i = 0; i < ROWS; ++i) rp[i] = rows[i];
#if O2C_HAVE_AVX512
  __m512 a0[R], a1[R];
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) a0[r] = a1[r] = _mm512_setzero_ps();
  for (int64_t k = 0; k < K; ++k) {
    const int64_t o = off[k];
    /* the weights stream from L3 on large layers: fetch them well ahead */
    _mm_prefetch(reinterpret_cast<const char *>(w + (k + LPF) * LN), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char *>(w + (k + LPF) * LN + 16), _MM_HINT_T0);
    const __m512 b0 = _mm512_loadu_ps(w + k * LN), b1 = _mm512_loadu_ps(w + k * LN + 16);
#pragma GCC unroll 4
    for (int i = 0; i < ROWS; ++i) {
#pragma GCC unroll 16
      for (int x = 0; x < COLS; ++x) {
        const __m512 v = _mm512_set1_ps(rp[i][o + x * SX]);
        a0[i * COLS + x] = _mm512_fmadd_ps(v, b0, a0[i * COLS + x]);
        a1[i * COLS + x] = _mm512_fmadd_ps(v, b1, a1[i * COLS + x]);
      }
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) {
    _mm512_storeu_ps(c + r * LN, a0[r]);
    _mm512_storeu_ps(c + r * LN + 16, a1[r]);
  }
#elif O2C_HAVE_AVX2
  __m256 a0[R], a1[R];
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) a0[r] = a1[r] = _mm256_setzero_ps();
  for (int64_t k = 0; k < K; ++k) {
    const int64_t o = off[k];
    _mm_prefetch(reinterpret_cast<const char *>(w + (k + LPF) * LN), _MM_HINT_T0);
    const __m256 b0 = _mm256_loadu_ps(w + k * LN), b1 = _mm256_loadu_ps(w + k * LN + 8);
#pragma GCC unroll 4
    for (int i = 0; i < ROWS; ++i) {
#pragma GCC unroll 16
      for (int x = 0; x < COLS; ++x) {
        const __m256 v = _mm256_broadcast_ss(rp[i] + o + x * SX);
        a0[i * COLS + x] = _mm256_fmadd_ps(v, b0, a0[i * COLS + x]);
        a1[i * COLS + x] = _mm256_fmadd_ps(v, b1, a1[i * COLS + x]);
      }
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) {
    _mm256_storeu_ps(c + r * LN, a0[r]);
    _mm256_storeu_ps(c + r * LN + 8, a1[r]);
  }
#else
  float acc[R][LN];
  for (int r = 0; r < R; ++r)
    for (int64_t j = 0; j < LN; ++j) acc[r][j] = 0.0f;
  for (int64_t k = 0; k < K; ++k) {
    const int64_t o = off[k];
    const float *wk = w + k * LN;
    for (int i = 0; i < ROWS; ++i)
      for (int x = 0; x < COLS; ++x) {
        const float v = rp[i][o + x * SX];
        float *ar = acc[i * COLS + x];
        for (int64_t j = 0; j < LN; ++j) ar[j] = fmac(v, wk[j], ar[j]);
      }
  }
  for (int r = 0; r < R; ++r)
    for (int64_t j = 0; j < LN; ++j) c[r * LN + j] = acc[r][j];
#endif
}

typedef void (*LanesFn)(int64_t, const float *const *, const int64_t *, const float *, float *);
template <int SX, int ROWS, int... X>
constexpr std::array<LanesFn, sizeof...(X)> lanes_row(std::integer_sequence<int, X...>) {
  /* COLS past LR / ROWS are never used: point them at a valid instance */
  return {{&lanes_kernel<ROWS, ((X + 1) * ROWS <= LR ? X + 1 : 1), SX>...}};
}
template <int SX, int... Y>
constexpr std::array<std::array<LanesFn, LR>, sizeof...(Y)> lanes_table(std::integer_sequence<int, Y...>) {
  return {{lanes_row<SX, Y + 1>(std::make_integer_sequence<int, LR>())...}};
}
/* [x stride - 1][rows - 1][cols - 1] */
const std::array<std::array<LanesFn, LR>, LROWS> kLanes[2] = {
    lanes_table<1>(std::make_integer_sequence<int, LROWS>()), lanes_table<2>(std::make_integer_sequence<int, LROWS>())};

/* The tiles: output rows (oz, oy) cut into nseg column segments of cw (<= LR) columns, and the
 * rows into groups of rows_per (rows_per * cw <= LR); of all the cuts, the one with the fewest
 * tiles (8x8: 2 segments of 4 x groups of 3 rows, 6 tiles of up to 12 positions). */
struct LanesTiles {
  int64_t nrows, W, cw, nseg, rows_per;
  explicit LanesTiles(const Geo3 &g) {
    nrows = g.out[0] * g.out[1];
    W = g.out[2];
    int64_t best = -1;
    for (int64_t ns = ceil_div(W, LR); ns <= W; ++ns) {
      const int64_t c = ceil_div(W, ns);
      if (ceil_div(W, c) != ns) continue; /* the same cut as a smaller ns */
      const int64_t rp = std::max<int64_t>(1, std::min<int64_t>(LROWS, LR / c));
      const int64_t groups = ceil_div(nrows, rp);
      const int64_t tiles = ns * groups;
      if (best < 0 || tiles < best) {
        best = tiles;
        nseg = ns;
        cw = c;
        rows_per = ceil_div(nrows, groups); /* balanced groups (4 rows, up to 3 per tile: 2 + 2) */
      }
    }
  }
  int64_t count() const { return ceil_div(nrows, rows_per) * nseg; }
};

/* Does the lanes path beat the direct one? Vector multiply-adds per k: lanes computes
 * round_up(Mg, LN) channels x N positions; the direct path's tiles cover the wide grid (Nw columns
 * in 8-column steps) for every channel. The lanes path also needs enough channels to fill its
 * lanes and positions few enough that the broadcasts' reach stays small. */
bool lanes_pays(const Geo3 &g, int64_t Mg) {
  /* strided 1x1 kernels read one stride phase: the direct path copies just that one */
  if (Mg < LN / 2 || g.s[2] > 2 || (g.s[2] == 2 && g.k[2] == 1)) return false;
  const int64_t N = g.out_sp();
  if (N > 400) return false;
  const double lanes = static_cast<double>(round_up(Mg, LN)) * static_cast<double>(N);
  const double direct = static_cast<double>(Mg) * static_cast<double>(round_up(wide_count(g), 8));
  return lanes <= 1.05 * direct;
}

size_t lanes_packed_floats(int64_t Mg, int64_t Kg) { return static_cast<size_t>(round_up(Mg, LN) * Kg); }

/* one group's weights (Mg x Kg rows) into LN-channel panels */
void pack_lanes(const float *Wg, int64_t Mg, int64_t Kg, float *dst) {
  for (int64_t p0 = 0; p0 < Mg; p0 += LN) {
    float *d = dst + p0 * Kg;
    const int64_t m = std::min(LN, Mg - p0);
    for (int64_t k = 0; k < Kg; ++k) {
      float *dk = d + k * LN;
      for (int64_t j = 0; j < m; ++j) dk[j] = Wg[(p0 + j) * Kg + k];
      for (int64_t j = m; j < LN; ++j) dk[j] = 0.0f;
    }
  }
}

/* The lanes path reads the input zero-padded (one plane per channel, no stride phases: the tile's
 * positions sit s[2] apart along a row, and stride-2 phases would cost a strided copy): g1 is g
 * with stride 1 over the output extent (out - 1)*s + 1, whose "phase planes" are exactly that. */
Geo3 lanes_padded_geo(const Geo3 &g) {
  Geo3 g1 = g;
  for (int a = 0; a < 3; ++a) {
    g1.out[a] = (g.out[a] - 1) * g.s[a] + 1;
    g1.s[a] = 1;
  }
  return g1;
}

struct LanesJob {
  const float *in_p;  /* padded planes (direct_plan of lanes_padded_geo) */
  const float *wp;    /* packed weights of the group */
  const int64_t *off; /* B row offsets */
  const float *bias_g;
  float *out_g;
  const Geo3 *g;
  const DirectPlan *d;
  const LanesTiles *T;
  int64_t Mg, Kg;
  dash_act_t act;
  int64_t out_cs; /* output channel stride (floats) */
};

void lanes_task(const LanesJob &J, int64_t pan, int64_t tile) {
  const Geo3 &g = *J.g;
  const LanesTiles &T = *J.T;
  const int64_t row0 = (tile / T.nseg) * T.rows_per, seg = tile % T.nseg;
  const int64_t rows = std::min(T.rows_per, T.nrows - row0);
  const int64_t x0 = seg * T.cw, cols = std::min(T.cw, T.W - x0);
  if (rows <= 0 || cols <= 0) return;
  const float *rp[LROWS];
  for (int64_t i = 0; i < rows; ++i) {
    const int64_t r = row0 + i, oz = r / g.out[1], oy = r % g.out[1];
    rp[i] = J.in_p + (oz * g.s[0] * J.d->q[1] + oy * g.s[1]) * J.d->q[2] + x0 * g.s[2];
  }
  alignas(64) float ct[LR * LN];
  kLanes[g.s[2] - 1][rows - 1][cols - 1](J.Kg, rp, J.off, J.wp + pan * LN * J.Kg, ct);
  const int64_t N = J.out_cs, m = std::min(LN, J.Mg - pan * LN), R = rows * cols;
  /* bias and activation on the tile (contiguous: vectorized), then the transposed store */
  if (J.bias_g) {
    alignas(64) float bv[LN];
    for (int64_t j = 0; j < LN; ++j) bv[j] = j < m ? J.bias_g[pan * LN + j] : 0.0f;
    for (int64_t r = 0; r < R; ++r)
      for (int64_t j = 0; j < LN; ++j) ct[r * LN + j] += bv[j];
  }
  act_inplace(ct, R * LN, J.act);
  for (int64_t j = 0; j < m; ++j) {
    float *dst = J.out_g + (pan * LN + j) * N + row0 * T.W + x0;
    const float *src = ct + j;
    for (int64_t i = 0; i < rows; ++i, dst += T.W, src += cols * LN)
      for (int64_t x = 0; x < cols; ++x) dst[x] = src[x * LN];
  }
}

/* How many threads a kernel of this many multiply-adds should use (the calling thread's setting;
 * fewer only for tiny kernels). The split layers keep each thread on the rows it wrote in the layer
 * before, and a helper stays awake through a model run, so a parallel region costs well under a
 * microsecond: even a small layer gains from it, and running it on one thread would make the
 * next split layer read half of its input from the other core. */
int threads_for(double macs) {
  const int t = current_threads();
  if (t <= 1) return 1;
  const int by_work = static_cast<int>(macs / 0.05e6);
  return std::max(1, std::min(t, by_work));
}

} /* namespace */

namespace {

/* ---- weights packed ahead of time (o2c_conv_pack) ----
 * A 64-byte header, then per group the weights exactly as the chosen path packs them per call
 * (direct: PANEL-row panels per K block, Mpad x Kg floats; lanes: LN-channel panels,
 * round_up(Mg, LN) x Kg floats). The header records the path and this build's layout constants;
 * a buffer made by a kernel library with another layout (other ISA flags) is ignored. */
enum ConvPath { PATH_NONE = 0, PATH_DIRECT = 1, PATH_LANES = 2 };
constexpr uint32_t PACK_MAGIC = 0x50433230u; /* "02CP" */
struct PackHeader {
  uint32_t magic, path;
  int64_t layout, G, Mg, Kg, kcb, floats_per_group;
};
static_assert(sizeof(PackHeader) <= 64, "header fits its 64 bytes");
constexpr int64_t PACK_LAYOUT = (O2C_HAVE_AVX512 ? 1 : 0) | (O2C_HAVE_AVX2 ? 2 : 0) | (LN << 4) | (PANEL << 12) |
                                (MR << 20) | (GEMM_KC << 28);

struct ConvShape {
  Geo3 g;
  int64_t B, Cin, Cout, G, Cg, Mg, Kg;
  ConvPath path;
  int64_t kcb, floats_per_group;
};

/* allow_lanes: the lanes path needs its weights packed ahead of time (packing them per call
 * costs more than it saves), so without a packed buffer the direct path runs. */
bool conv_shape(const dash_conv_params_t *p, ConvShape &s, bool allow_lanes) {
  if (!make_geo(p, s.g)) return false;
  s.B = p->batch;
  s.Cin = p->in_channels;
  s.Cout = p->out_channels;
  s.G = p->groups > 0 ? p->groups : 1;
  if (s.B <= 0 || s.Cout <= 0 || s.g.out_sp() <= 0) return false;
  s.Cg = s.Cin / s.G;
  s.Mg = s.Cout / s.G;
  s.Kg = s.Cg * s.g.k_sp();
  s.kcb = 0;
  s.floats_per_group = 0;
  if (s.Cg == 1 && s.Mg == 1 && s.G == s.Cin) {
    s.path = PATH_NONE; /* depthwise */
  } else if (allow_lanes && lanes_pays(s.g, s.Mg)) {
    s.path = PATH_LANES;
    s.floats_per_group = static_cast<int64_t>(lanes_packed_floats(s.Mg, s.Kg));
  } else if (direct_pays(s.g, s.Mg)) {
    s.path = PATH_DIRECT;
    const DirectPlan d = direct_plan(s.g, s.Cg, s.Mg, s.Kg);
    s.kcb = d.kcb;
    s.floats_per_group = d.Mpad * s.Kg;
  } else {
    s.path = PATH_NONE; /* implicit im2col: the GEMM engine packs */
  }
  return true;
}

/* the packed weights of p->packed when they were made for this shape by this build, else NULL */
const float *prepacked(const dash_conv_params_t *p, const ConvShape &s) {
  if (!p->packed || s.path == PATH_NONE) return nullptr;
  const PackHeader *h = static_cast<const PackHeader *>(p->packed);
  if (h->magic != PACK_MAGIC || h->path != static_cast<uint32_t>(s.path) || h->layout != PACK_LAYOUT ||
      h->G != s.G || h->Mg != s.Mg || h->Kg != s.Kg || h->kcb != s.kcb || h->floats_per_group != s.floats_per_group)
    return nullptr;
  return reinterpret_cast<const float *>(static_cast<const char *>(p->packed) + 64);
}

/* one group's weights packed for the direct path (K blocks of kcb) */
void pack_direct(const float *Wg, int64_t Mg, int64_t Kg, int64_t kcb, int64_t Mpad, float *dst) {
  for (int64_t pc = 0; pc < Kg; pc += kcb) pack_weights(Wg, Kg, Mg, pc, std::min(kcb, Kg - pc), dst + pc * Mpad);
}

} /* namespace */

extern "C" size_t o2c_conv_packed_bytes(const dash_conv_params_t *p) {
  ConvShape s;
  if (!p || !conv_shape(p, s, true) || s.path == PATH_NONE) return 0;
  return 64 + static_cast<size_t>(s.G * s.floats_per_group) * sizeof(float);
}

extern "C" void o2c_conv_pack(const float *weight, const dash_conv_params_t *p, void *dst) {
  ConvShape s;
  if (!p || !dst || !conv_shape(p, s, true) || s.path == PATH_NONE) return;
  PackHeader h{};
  h.magic = PACK_MAGIC;
  h.path = static_cast<uint32_t>(s.path);
  h.layout = PACK_LAYOUT;
  h.G = s.G;
  h.Mg = s.Mg;
  h.Kg = s.Kg;
  h.kcb = s.kcb;
  h.floats_per_group = s.floats_per_group;
  std::memset(dst, 0, 64);
  std::memcpy(dst, &h, sizeof h);
  float *d = reinterpret_cast<float *>(static_cast<char *>(dst) + 64);
  for (int64_t gr = 0; gr < s.G; ++gr) {
    const float *Wg = weight + gr * s.Mg * s.Kg;
    float *dg = d + gr * s.floats_per_group;
    if (s.path == PATH_LANES)
      pack_lanes(Wg, s.Mg, s.Kg, dg);
    else
      pack_direct(Wg, s.Mg, s.Kg, s.kcb, s.floats_per_group / s.Kg, dg);
  }
}

/* ---- threads by output slices ----
 * A layer split over threads is cut into slices of its output along the outermost axis (rows of
 * a 2-D map, positions of a 1-D one; depth of a 3-D one), one per thread, at t*O/nth - the cut
 * every split op uses (pools, element-wise ops): the calling thread takes the first slice, a
 * helper the next, so the rows a thread writes in one layer are the rows it reads in the next and
 * stay in its core's caches (a line read across the cut costs a cross-core transfer: the split of
 * one shared input buffer by channel chunks spent a third of its time on them). A slice is the
 * same convolution on a cropped input with adjusted padding, which each task copies into a buffer
 * of its own thread: every output is the same FMA chain as without slices (same bits). */
struct ConvSlice {
  Geo3 g;
  int64_t in_off, out_off; /* of the slice's first input / output value in a channel plane */
};

/* false when the geometry has no such axis (an outer axis of extent > 1 whose output is a single
 * position) */
bool conv_slices(const Geo3 &g, int nth, std::vector<ConvSlice> &sl) {
  int a = 0;
  while (a < 2 && g.in[a] == 1 && g.out[a] == 1) ++a;
  const int64_t O = g.out[a];
  if (O < 2) return false;
  int64_t inner_in = 1, inner_out = 1;
  for (int b = a + 1; b < 3; ++b) {
    inner_in *= g.in[b];
    inner_out *= g.out[b];
  }
  const int64_t nsl = std::min<int64_t>(O, static_cast<int64_t>(nth));
  sl.resize(static_cast<size_t>(nsl));
  for (int64_t i = 0; i < nsl; ++i) {
    ConvSlice &S = sl[static_cast<size_t>(i)];
    const int64_t o0 = i * O / nsl, o1 = (i + 1) * O / nsl;
    S.g = g;
    S.g.out[a] = o1 - o0;
    /* input rows [lo, hi) reach the slice's taps (padding where outside [0, in)) */
    const int64_t lo = o0 * g.s[a] - g.p[a];
    const int64_t hi = (o1 - 1) * g.s[a] - g.p[a] + (g.k[a] - 1) * g.d[a] + 1;
    const int64_t first = std::max<int64_t>(lo, 0);
    S.g.p[a] = first - lo;
    S.g.in[a] = std::max<int64_t>(std::min(g.in[a], hi) - first, 0);
    S.in_off = first * inner_in;
    S.out_off = o0 * inner_out;
  }
  return true;
}

/* The direct path by slices: each task builds its slice's phase planes and computes every output
 * channel of the slice. */
bool direct_sliced(const float *in, const float *weight, const float *bs, float *out, const ConvShape &cs,
                   const float *pre, bool pack_w, int nth, const dash_act_t &act) {
  const Geo3 &g = cs.g;
  std::vector<ConvSlice> sl;
  if (!conv_slices(g, nth, sl)) return false;
  const int64_t nsl = static_cast<int64_t>(sl.size());
  const int64_t Mg = cs.Mg, Kg = cs.Kg, Cg = cs.Cg;
  std::vector<DirectPlan> dp(sl.size());
  size_t max_in = 0;
  for (size_t i = 0; i < sl.size(); ++i) {
    dp[i] = direct_plan(sl[i].g, Cg, Mg, Kg);
    max_in = std::max(max_in, dp[i].in_floats);
  }
  const size_t in_stride = (max_in + 15) / 16 * 16;
  const int64_t Mpad = dp[0].Mpad, cw_stride = Mpad * DIRECT_NB;
  Scratch<float> bufs(static_cast<size_t>(nth) * in_stride);
  Scratch<float> cw(static_cast<size_t>(nth) * static_cast<size_t>(cw_stride));
  Scratch<int64_t> offs(static_cast<size_t>(nth) * static_cast<size_t>(Kg));
  Scratch<float> wpk(static_cast<size_t>(pack_w && !pre ? Mpad * Kg : 1));
  const int64_t in_sp = g.in_sp(), out_sp = g.out_sp();
  for (int64_t gr = 0; gr < cs.G; ++gr) {
    const float *Wg = weight + gr * Mg * Kg;
    const float *apk = nullptr;
    if (pre) {
      apk = pre + gr * cs.floats_per_group;
    } else if (pack_w) {
      pack_direct(Wg, Mg, Kg, dp[0].kcb, Mpad, wpk.get());
      apk = wpk.get();
    }
    for (int64_t b = 0; b < cs.B; ++b) {
      const float *in_g = in + (b * cs.Cin + gr * Cg) * in_sp;
      float *out_g = out + (b * cs.Cout + gr * Mg) * out_sp;
      parallel_for(nsl, nth, [&](int64_t t, int w) {
        const ConvSlice &S = sl[static_cast<size_t>(t)];
        const DirectPlan &d = dp[static_cast<size_t>(t)];
        float *buf = bufs.get() + static_cast<size_t>(w) * in_stride;
        int64_t *off = offs.get() + static_cast<size_t>(w) * static_cast<size_t>(Kg);
        direct_offsets(S.g, d, Kg, off);
        build_phases(in_g + S.in_off, S.g, d, Cg, buf, 1, in_sp);
        const DirectJob J{buf, Wg, apk, off, bs ? bs + gr * Mg : nullptr, out_g + S.out_off, &S.g, &d, Mg, Kg, act,
                          out_sp};
        float *c = cw.get() + static_cast<size_t>(w) * static_cast<size_t>(cw_stride);
        for (int64_t n0 = 0; n0 < d.Nw; n0 += DIRECT_NB) direct_block(J, n0, 0, Mg, c);
      });
    }
  }
  return true;
}

/* The lanes path by slices (packed weights only): each task pads its slice of the input and runs
 * every channel panel over the slice's tiles. Used when the weights are small next to the
 * activations; a layer whose weights dominate (many channels on a tiny map) splits its channel
 * panels instead, so that each thread streams half of them. */
bool lanes_sliced(const float *in, const float *wp_all, const float *bs, float *out, const ConvShape &cs, int nth,
                  const dash_act_t &act) {
  const Geo3 &g = cs.g;
  std::vector<ConvSlice> sl;
  if (!conv_slices(g, nth, sl)) return false;
  const int64_t nsl = static_cast<int64_t>(sl.size());
  const int64_t Mg = cs.Mg, Kg = cs.Kg, Cg = cs.Cg;
  struct Plan {
    Geo3 g1;
    DirectPlan d;
  };
  std::vector<Plan> pl(sl.size());
  size_t max_in = 0;
  for (size_t i = 0; i < sl.size(); ++i) {
    pl[i].g1 = lanes_padded_geo(sl[i].g);
    pl[i].d = direct_plan(pl[i].g1, Cg, Mg, Kg);
    max_in = std::max(max_in, pl[i].d.in_floats);
  }
  const size_t in_stride = (max_in + 15) / 16 * 16;
  Scratch<float> bufs(static_cast<size_t>(nth) * in_stride);
  Scratch<int64_t> offs(static_cast<size_t>(nth) * static_cast<size_t>(Kg));
  const int64_t in_sp = g.in_sp(), out_sp = g.out_sp(), npan = ceil_div(Mg, LN);
  for (int64_t gr = 0; gr < cs.G; ++gr) {
    const float *wp = wp_all + gr * cs.floats_per_group;
    for (int64_t b = 0; b < cs.B; ++b) {
      const float *in_g = in + (b * cs.Cin + gr * Cg) * in_sp;
      float *out_g = out + (b * cs.Cout + gr * Mg) * out_sp;
      parallel_for(nsl, nth, [&](int64_t t, int w) {
        const ConvSlice &S = sl[static_cast<size_t>(t)];
        const Plan &P = pl[static_cast<size_t>(t)];
        float *buf = bufs.get() + static_cast<size_t>(w) * in_stride;
        int64_t *off = offs.get() + static_cast<size_t>(w) * static_cast<size_t>(Kg);
        direct_offsets(P.g1, P.d, Kg, off);
        build_phases(in_g + S.in_off, P.g1, P.d, Cg, buf, 1, in_sp);
        const LanesTiles T(S.g);
        const LanesJob J{buf, wp, off, bs ? bs + gr * Mg : nullptr, out_g + S.out_off, &S.g, &P.d, &T, Mg, Kg, act,
                         out_sp};
        const int64_t ntiles = T.count();
        for (int64_t pan = 0; pan < npan; ++pan)
          for (int64_t tile = 0; tile < ntiles; ++tile) lanes_task(J, pan, tile);
      });
    }
  }
  return true;
}

extern "C" void o2c_conv(const float *in, const float *weight, const float *bias, float *out,
                         const dash_conv_params_t *p) {
  ConvShape cs;
  if (!conv_shape(p, cs, p->packed != nullptr)) return;
  const float *pre = prepacked(p, cs);
  if (!pre && cs.path == PATH_LANES) conv_shape(p, cs, false); /* a buffer of another build */
  const Geo3 &g = cs.g;
  const int64_t B = cs.B, Cin = cs.Cin, Cout = cs.Cout, G = cs.G;
  const float *bs = p->has_bias ? bias : nullptr;
  const int64_t Cg = cs.Cg, Mg = cs.Mg;
  const int64_t in_sp = g.in_sp(), out_sp = g.out_sp();
  const int64_t Kg = cs.Kg;

  if (Cg == 1 && Mg == 1 && G == Cin) {
    depthwise(in, weight, bs, out, g, B * Cin, Cin, p->act);
    return;
  }

  if (cs.path == PATH_LANES) {
    const Geo3 g1 = lanes_padded_geo(g);
    DirectPlan d = direct_plan(g1, Cg, Mg, Kg);
    /* 1x1, stride 1, no padding: the padded planes are the input's own planes (read in place;
     * the lanes kernel reads valid positions only) */
    bool in_place = true;
    for (int a = 0; a < 3; ++a) in_place = in_place && g.k[a] == 1 && g.p[a] == 0 && g1.out[a] == g.in[a];
    if (in_place) d.P = in_sp;
    const LanesTiles T(g);
    const int64_t npan = ceil_div(Mg, LN), ntiles = T.count();
    const int nth = threads_for(static_cast<double>(npan * LN) * static_cast<double>(out_sp) * static_cast<double>(Kg));
    /* by slices when the activations outweigh the weights (each thread then reads all the weights) */
    const double w_floats = static_cast<double>(npan * LN) * static_cast<double>(Kg) * static_cast<double>(G);
    const double act_floats = static_cast<double>(B) * static_cast<double>(Cin * in_sp + Cout * out_sp);
    if (nth > 1 && pre && !in_place && w_floats <= 2.0 * act_floats && lanes_sliced(in, pre, bs, out, cs, nth, p->act))
      return;
    /* with threads, each builds the padded input in a buffer of its own, when it takes its first
     * task: reading a buffer the other core wrote costs the broadcasts' scattered loads a
     * cross-core transfer each, copying the input costs one streamed pass */
    const size_t in_stride = in_place ? 1 : (d.in_floats + 15) / 16 * 16;
    Scratch<float> in_p(static_cast<size_t>(nth) * in_stride);
    Scratch<float> wpk(pre ? 1 : lanes_packed_floats(Mg, Kg));
    Scratch<int64_t> off(static_cast<size_t>(Kg));
    direct_offsets(g1, d, Kg, off.get());
    for (int64_t gr = 0; gr < G; ++gr) {
      const float *wp = pre ? pre + gr * cs.floats_per_group : wpk.get();
      if (!pre) pack_lanes(weight + gr * Mg * Kg, Mg, Kg, wpk.get());
      for (int64_t b = 0; b < B; ++b) {
        const float *in_g = in + (b * Cin + gr * Cg) * in_sp;
        LanesJob J{in_place ? in_g : in_p.get(), wp, off.get(), bs ? bs + gr * Mg : nullptr,
                   out + (b * Cout + gr * Mg) * out_sp, &g, &d, &T, Mg, Kg, p->act, out_sp};
        if (nth <= 1 || in_place) {
          if (!in_place) build_phases(in_g, g1, d, Cg, in_p.get(), 1);
          parallel_for(npan * ntiles, nth, [&](int64_t t, int) { lanes_task(J, t / ntiles, t % ntiles); });
          continue;
        }
        bool built[O2C_MAX_THREADS] = {};
        parallel_for(npan * ntiles, nth, [&](int64_t t, int w) {
          LanesJob Jw = J;
          Jw.in_p = in_p.get() + static_cast<size_t>(w) * in_stride;
          if (!built[w]) {
            build_phases(in_g, g1, d, Cg, const_cast<float *>(Jw.in_p), 1);
            built[w] = true;
          }
          lanes_task(Jw, t / ntiles, t % ntiles);
        });
      }
    }
    return;
  }

  if (cs.path == PATH_DIRECT) {
    const DirectPlan d = direct_plan(g, Cg, Mg, Kg);
    /* packing the weights pays when each one meets many output positions; otherwise (small
     * images: 7x7, 14x14) the kernel reads the weight rows in place - unless they come packed */
    const bool pack_w = pre != nullptr || B * d.Nw >= 256;
    const int64_t nblocks = ceil_div(d.Nw, DIRECT_NB);
    const int nth = threads_for(static_cast<double>(d.Mpad) * static_cast<double>(d.Nw) * static_cast<double>(Kg));
    if (nth > 1 && direct_sliced(in, weight, bs, out, cs, pre, pack_w, nth, p->act)) return;
    /* tasks: (block of wide positions, chunk of output channels); channels are split only as far
     * as needed to give every thread a few tasks */
    const Panels P(Mg);
    int64_t pchunk = P.n;
    if (nth > 1 && nblocks < 4 * nth) pchunk = std::max<int64_t>(1, ceil_div(P.n, ceil_div(4 * nth, nblocks)));
    const int64_t nmch = ceil_div(P.n, pchunk);
    Scratch<float> in_p(d.in_floats);
    Scratch<float> cw(static_cast<size_t>(nth) * static_cast<size_t>(d.Mpad * DIRECT_NB));
    Scratch<float> wpk(static_cast<size_t>(pack_w && !pre ? d.Mpad * Kg : 1));
    Scratch<int64_t> off(static_cast<size_t>(Kg));
    direct_offsets(g, d, Kg, off.get());
    for (int64_t gr = 0; gr < G; ++gr) {
      const float *Wg = weight + gr * Mg * Kg;
      const float *apk = nullptr;
      if (pre) {
        apk = pre + gr * cs.floats_per_group;
      } else if (pack_w) {
        pack_direct(Wg, Mg, Kg, d.kcb, d.Mpad, wpk.get());
        apk = wpk.get();
      }
      for (int64_t b = 0; b < B; ++b) {
        build_phases(in + (b * Cin + gr * Cg) * in_sp, g, d, Cg, in_p.get(), nth);
        DirectJob J{in_p.get(), Wg, apk, off.get(), bs ? bs + gr * Mg : nullptr,
                    out + (b * Cout + gr * Mg) * out_sp, &g, &d, Mg, Kg, p->act, out_sp};
        float *cwp = cw.get();
        const int64_t cw_stride = d.Mpad * DIRECT_NB;
        parallel_for(nblocks * nmch, nth, [&](int64_t t, int w) {
          const int64_t nbk = t / nmch, mc = t % nmch;
          const int64_t m0 = P.start(mc * pchunk), m1 = P.start(std::min(P.n, (mc + 1) * pchunk));
          direct_block(J, nbk * DIRECT_NB, m0, m1, cwp + w * cw_stride);
        });
      }
    }
    return;
  }
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
      Im2col ctx{src, g};
      gemm_driver(Mg, out_sp, Kg, A, Kg, 1, GemmBSource{pack_b_im2col, &ctx}, C, out_sp, ep, ws.get());
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

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
 *    images), implicit im2col: the GEMM engine's B-packing callback gathers the panels.
 * Depthwise convolution (groups == in == out channels) runs as a direct loop. Bias and
 * activation are fused into the epilogue.
 *
 * Reduction order (a contract: kernels/accel reproduces it bit for bit): every output element is
 * ONE fused multiply-add chain over the K index k = (input channel of the group, kz, ky, kx) in
 * order, padding taps included (they multiply a zero), starting from +0 on the direct and the
 * im2col paths, then + bias (only when there is one), then the activation; on the depthwise path
 * the chain over the taps (kz, ky, kx) starts from the bias (+0 without one), then the activation.
 *
 * ConvTranspose: per (batch, group) the GEMM W_g^T x in_g gives the column matrix
 * (Cout/g*k x in_spatial, processed in chunks of input positions), which is scattered into the
 * output (col2im) on top of the bias; the activation runs last.
 */
#include "internal.h"
#include "o2c_numerics.h"

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
  d.Mpad = round_up(Mg, MR);
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
  return direct <= im2col;
}

/* offsets of the B rows: k = (c, kz, ky, kx) */
void direct_offsets(const Geo3 &g, const DirectPlan &d, int64_t Kg, int64_t *off) {
  const int64_t ksz = g.k_sp();
  for (int64_t k = 0; k < Kg; ++k) {
    const int64_t c = k / ksz, r = k % ksz;
    const int64_t kk[3] = {r / (g.k[1] * g.k[2]), (r / g.k[2]) % g.k[1], r % g.k[2]};
    int64_t plane = c, shift = 0;
    for (int a = 0; a < 3; ++a) {
      const int64_t t = kk[a] * g.d[a];
      plane = plane * g.s[a] + t % g.s[a];
    }
    const int64_t qz = kk[0] * g.d[0] / g.s[0], qy = kk[1] * g.d[1] / g.s[1], qx = kk[2] * g.d[2] / g.s[2];
    shift = (qz * d.q[1] + qy) * d.q[2] + qx;
    off[k] = plane * d.P + shift;
  }
}

/* the padded input of one (batch, group) split into phase planes */
void build_phases(const float *in_g, const Geo3 &g, const DirectPlan &d, int64_t Cg, float *in_p) {
  /* 1. the padded input split into phase planes: plane (c, rz, ry, rx), element (a, b, e) holds
   * padded input (s0*a + rz, s1*b + ry, s2*e + rx), i.e. input index minus pad_begin */
  for (int64_t c = 0; c < Cg; ++c) {
    for (int64_t rz = 0; rz < g.s[0]; ++rz)
      for (int64_t ry = 0; ry < g.s[1]; ++ry)
        for (int64_t rx = 0; rx < g.s[2]; ++rx) {
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
                std::memset(row, 0, static_cast<size_t>(d.q[2]) * sizeof(float));
                continue;
              }
              const float *src = in_g + ((c * g.in[0] + iz) * g.in[1] + iy) * g.in[2] + xoff;
              for (int64_t e = 0; e < e0; ++e) row[e] = 0.0f;
              if (g.s[2] == 1) {
                std::memcpy(row + e0, src + e0, static_cast<size_t>(e1 - e0) * sizeof(float));
              } else {
                const int64_t st = g.s[2];
                for (int64_t e = e0; e < e1; ++e) row[e] = src[e * st];
              }
              for (int64_t e = e1; e < d.q[2]; ++e) row[e] = 0.0f;
            }
          }
          /* the pitch padding after the plane */
          const int64_t used = d.q[0] * d.q[1] * d.q[2];
          std::memset(plane + used, 0, static_cast<size_t>(d.P - used) * sizeof(float));
        }
  }
  std::memset(in_p + d.nplanes * d.P, 0, (d.in_floats - static_cast<size_t>(d.nplanes * d.P)) * sizeof(float));
}

/* apk: weights packed in MR-row panels per K block (apk + pc*Mpad + ir*kc), or NULL to read the
 * weight rows Wg in place (cheaper when each weight meets only a few output positions) */
void conv_direct_group(const float *in_p, const float *Wg, const float *apk, const int64_t *off, const float *bias_g,
                       float *out_g, const Geo3 &g, const DirectPlan &d, int64_t Mg, int64_t Kg, const dash_act_t &act,
                       float *cw) {
  const int64_t N = g.out_sp();
  const int64_t hw = d.q[1] * d.q[2];
  /* 2. blocks of wide positions */
  for (int64_t n0 = 0; n0 < d.Nw; n0 += DIRECT_NB) {
    const int64_t nb = std::min(DIRECT_NB, d.Nw - n0);
    /* weights read in place: one K block (the whole chain in registers) */
    const int64_t kcb = apk ? d.kcb : Kg;
    for (int64_t pc = 0; pc < Kg; pc += kcb) {
      const int64_t kc = std::min(kcb, Kg - pc);
      for (int64_t ic = 0; ic < Mg; ic += GEMM_MC) {
        const int64_t mc = std::min(GEMM_MC, Mg - ic);
        for (int64_t nt = 0; nt < nb; nt += NR) {
          const float *bb = in_p + n0 + nt;
          for (int64_t ir = ic; ir < ic + mc; ir += MR) {
            const int64_t m = std::min(MR, Mg - ir);
            float *c = cw + ir * DIRECT_NB + nt;
            const float *w[MR];
            if (apk) {
              for (int64_t r = 0; r < MR; ++r) w[r] = apk + pc * d.Mpad + ir * kc + r;
            } else {
              /* rows past the end repeat the last one (their results are dropped) */
              for (int64_t r = 0; r < MR; ++r) w[r] = Wg + std::min(ir + r, Mg - 1) * Kg + pc;
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
      }
    }
    /* 3. compaction: valid runs of this block, then bias + activation */
    int64_t oz = n0 / hw, rem = n0 % hw, oy = rem / d.q[2], ox = rem % d.q[2];
    int64_t q = 0;
    while (q < nb) {
      const int64_t run = std::min(d.q[2] - ox, nb - q);
      if (oy < g.out[1] && ox < g.out[2]) {
        const int64_t len = std::min(run, g.out[2] - ox);
        const int64_t dst0 = (oz * g.out[1] + oy) * g.out[2] + ox;
        for (int64_t oc = 0; oc < Mg; ++oc) {
          const float *src = cw + oc * DIRECT_NB + q;
          float *dst = out_g + oc * N + dst0;
          if (bias_g) {
            const float bv = bias_g[oc];
            for (int64_t t = 0; t < len; ++t) dst[t] = src[t] + bv;
          } else {
            std::memcpy(dst, src, static_cast<size_t>(len) * sizeof(float));
          }
          act_inplace(dst, len, act);
        }
      }
      q += run;
      ox = 0;
      if (++oy == d.q[1]) {
        oy = 0;
        ++oz;
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

  if (direct_pays(g, Mg)) {
    const DirectPlan d = direct_plan(g, Cg, Mg, Kg);
    /* packing the weights pays when each one meets many output positions; otherwise (small
     * images: 7x7, 14x14) the kernel reads the weight rows in place */
    const bool pack_w = B * d.Nw >= 256;
    Scratch<float> in_p(d.in_floats);
    Scratch<float> cw(static_cast<size_t>(d.Mpad * DIRECT_NB));
    Scratch<float> wpk(static_cast<size_t>(pack_w ? d.Mpad * Kg : 1));
    Scratch<int64_t> off(static_cast<size_t>(Kg));
    direct_offsets(g, d, Kg, off.get());
    for (int64_t gr = 0; gr < G; ++gr) {
      const float *Wg = weight + gr * Mg * Kg;
      if (pack_w) {
        for (int64_t pc = 0; pc < Kg; pc += d.kcb)
          gemm_pack_a(Wg, Kg, 1, 0, Mg, pc, std::min(d.kcb, Kg - pc), wpk.get() + pc * d.Mpad);
      }
      for (int64_t b = 0; b < B; ++b) {
        build_phases(in + (b * Cin + gr * Cg) * in_sp, g, d, Cg, in_p.get());
        conv_direct_group(in_p.get(), Wg, pack_w ? wpk.get() : nullptr, off.get(), bs ? bs + gr * Mg : nullptr,
                          out + (b * Cout + gr * Mg) * out_sp, g, d, Mg, Kg, p->act, cw.get());
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

/*
 * conv_direct.cpp - the direct ("wide grid") convolution path: phase planes, micro-kernels
 * (AVX2 6x16, NEON 4x16, portable 4x16, AVX-512 tiles), block compaction with bias and activation.
 */
#include "conv_internal.h"

namespace o2c {
namespace conv {

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
#elif O2C_HAVE_NEON
/* NEON 4x16 (the GEMM micro-kernel's shape, 16 accumulators): acc + b * w fused, so each element is
 * the portable kernel's FMA chain, bit for bit. Packed weights (AS == MR) come as one vector of the
 * 4 rows per k; weights read in place one scalar per row. */
template <int64_t AS>
inline void direct_kernel(int64_t kc, const float *const *w, const float *__restrict b,
                          const int64_t *__restrict off, float *__restrict c, int64_t ldc, bool accumulate) {
  static_assert(MR == 4 && NR == 16, "the NEON direct kernel is 4 x 16");
  const float *w0 = w[0], *w1 = w[1], *w2 = w[2], *w3 = w[3];
  float *r0 = c, *r1 = c + ldc, *r2 = c + 2 * ldc, *r3 = c + 3 * ldc;
  float32x4_t c00, c01, c02, c03, c10, c11, c12, c13, c20, c21, c22, c23, c30, c31, c32, c33;
  if (accumulate) {
    c00 = vld1q_f32(r0), c01 = vld1q_f32(r0 + 4), c02 = vld1q_f32(r0 + 8), c03 = vld1q_f32(r0 + 12);
    c10 = vld1q_f32(r1), c11 = vld1q_f32(r1 + 4), c12 = vld1q_f32(r1 + 8), c13 = vld1q_f32(r1 + 12);
    c20 = vld1q_f32(r2), c21 = vld1q_f32(r2 + 4), c22 = vld1q_f32(r2 + 8), c23 = vld1q_f32(r2 + 12);
    c30 = vld1q_f32(r3), c31 = vld1q_f32(r3 + 4), c32 = vld1q_f32(r3 + 8), c33 = vld1q_f32(r3 + 12);
  } else {
    c00 = c01 = c02 = c03 = c10 = c11 = c12 = c13 = c20 = c21 = c22 = c23 = c30 = c31 = c32 = c33 = vdupq_n_f32(0.0f);
  }
  for (int64_t k = 0; k < kc; ++k) {
    const float *bk = b + off[k];
    const float32x4_t b0 = vld1q_f32(bk), b1 = vld1q_f32(bk + 4), b2 = vld1q_f32(bk + 8), b3 = vld1q_f32(bk + 12);
    float32x4_t av;
    if (AS == MR) {
      av = vld1q_f32(w0 + k * AS); /* w[r] = w0 + r */
    } else {
      av = vdupq_n_f32(w0[k * AS]);
      av = vsetq_lane_f32(w1[k * AS], av, 1);
      av = vsetq_lane_f32(w2[k * AS], av, 2);
      av = vsetq_lane_f32(w3[k * AS], av, 3);
    }
    c00 = vfmaq_laneq_f32(c00, b0, av, 0), c01 = vfmaq_laneq_f32(c01, b1, av, 0);
    c02 = vfmaq_laneq_f32(c02, b2, av, 0), c03 = vfmaq_laneq_f32(c03, b3, av, 0);
    c10 = vfmaq_laneq_f32(c10, b0, av, 1), c11 = vfmaq_laneq_f32(c11, b1, av, 1);
    c12 = vfmaq_laneq_f32(c12, b2, av, 1), c13 = vfmaq_laneq_f32(c13, b3, av, 1);
    c20 = vfmaq_laneq_f32(c20, b0, av, 2), c21 = vfmaq_laneq_f32(c21, b1, av, 2);
    c22 = vfmaq_laneq_f32(c22, b2, av, 2), c23 = vfmaq_laneq_f32(c23, b3, av, 2);
    c30 = vfmaq_laneq_f32(c30, b0, av, 3), c31 = vfmaq_laneq_f32(c31, b1, av, 3);
    c32 = vfmaq_laneq_f32(c32, b2, av, 3), c33 = vfmaq_laneq_f32(c33, b3, av, 3);
  }
  vst1q_f32(r0, c00), vst1q_f32(r0 + 4, c01), vst1q_f32(r0 + 8, c02), vst1q_f32(r0 + 12, c03);
  vst1q_f32(r1, c10), vst1q_f32(r1 + 4, c11), vst1q_f32(r1 + 8, c12), vst1q_f32(r1 + 12, c13);
  vst1q_f32(r2, c20), vst1q_f32(r2 + 4, c21), vst1q_f32(r2 + 8, c22), vst1q_f32(r2 + 12, c23);
  vst1q_f32(r3, c30), vst1q_f32(r3 + 4, c31), vst1q_f32(r3 + 8, c32), vst1q_f32(r3 + 12, c33);
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
void build_phases(const float *in_g, const Geo3 &g, const DirectPlan &d, int64_t Cg, float *in_p, int nth,
                  int64_t cstride) {
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
  /* stride 2 along x with both x phases read: the two phase rows of an input row in one pass, the
   * even and odd input elements split 8 at a time */
  const bool pair_x = g.s[2] == 2 && used(2, 0) && used(2, 1);
  parallel_for(nchunks, nth, [&](int64_t chunk, int) {
    for (int64_t c = chunk * per; c < std::min(Cg, (chunk + 1) * per); ++c) {
      for (int64_t rz = 0; rz < g.s[0]; ++rz)
        for (int64_t ry = 0; ry < g.s[1]; ++ry) {
          if (pair_x && (g.s[0] == 1 || used(0, rz)) && (g.s[1] == 1 || used(1, ry))) {
            float *plane0 = in_p + (((c * g.s[0] + rz) * g.s[1] + ry) * 2) * d.P, *plane1 = plane0 + d.P;
            for (int64_t a = 0; a < d.q[0]; ++a) {
              const int64_t iz = a * g.s[0] + rz - g.p[0];
              for (int64_t b = 0; b < d.q[1]; ++b) {
                const int64_t iy = b * g.s[1] + ry - g.p[1];
                float *row0 = plane0 + (a * d.q[1] + b) * d.q[2], *row1 = plane1 + (a * d.q[1] + b) * d.q[2];
                if (iz < 0 || iz >= g.in[0] || iy < 0 || iy >= g.in[1]) {
                  for (int64_t e = 0; e < d.q[2]; ++e) row0[e] = row1[e] = 0.0f;
                  continue;
                }
                const float *src = in_g + c * cstride + (iz * g.in[1] + iy) * g.in[2];
                /* row_r[e] = input x = 2e + r - p2, or 0 outside [0, in_w) */
                auto at = [&](int64_t x) { return x >= 0 && x < g.in[2] ? src[x] : 0.0f; };
                int64_t e = 0;
                const int64_t ev0 = std::min(d.q[2], (g.p[2] + 1) / 2); /* first e with 2e - p2 >= 0 */
                for (; e < ev0; ++e) {
                  row0[e] = at(2 * e - g.p[2]);
                  row1[e] = at(2 * e + 1 - g.p[2]);
                }
#if O2C_HAVE_AVX2
                for (; e + 8 <= d.q[2] && 2 * e - g.p[2] + 16 <= g.in[2]; e += 8)
                  split_even_odd8(src + 2 * e - g.p[2], row0 + e, row1 + e);
#endif
                for (; e < d.q[2]; ++e) {
                  row0[e] = at(2 * e - g.p[2]);
                  row1[e] = at(2 * e + 1 - g.p[2]);
                }
              }
            }
            const int64_t used_n = d.q[0] * d.q[1] * d.q[2];
            for (int64_t e = used_n; e < d.P; ++e) plane0[e] = plane1[e] = 0.0f;
            continue;
          }
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
  /* bias, activation and compaction in one pass per channel; ReLU and LeakyReLU written out
   * (bias_act_run), other activations on the block's rows before the copy */
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
    for (int64_t r = 0; r < nr; ++r)
      bias_act_run(row + runs[r].q, out_c + runs[r].dst0, runs[r].len, has_b, bv, op, alpha);
  }
}

} /* namespace conv */
} /* namespace o2c */

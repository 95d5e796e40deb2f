/*
 * conv_lanes.cpp - the "lanes" convolution path (output channels on the vector lanes).
 */
#include "conv_internal.h"

namespace o2c {
namespace conv {

/* ---- "lanes" path: output channels on the vector lanes (small images, many channels) ----
 * On small images the wide grid wastes most of a 16/32-position tile; here a tile is LN output
 * channels (the vector lanes: LN = 32 with AVX-512, 16 otherwise) x up to LR output positions
 * (ROWS output rows x COLS consecutive columns), each position's input value broadcast from the
 * zero-padded input (lanes_padded_geo: B(k, n) = padded[off[k] + position of n], consecutive
 * columns s[2] apart), against weights packed by panels of LN channels (element (k, j) at
 * [k*LN + j], channels past Mg zero). Every
 * output is still ONE fused multiply-add chain over k in order from +0 (the whole K in
 * registers), then + bias, then the activation: the same bits as the direct path. */

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
#elif O2C_HAVE_NEON
  /* LN = 16 channels in 4 vectors per position, up to LR = 4 positions: 16 accumulators; acc + w * v
   * fused, the portable chain bit for bit */
  static_assert(LN == 16 && LR == 4, "the NEON lanes kernel is 16 channels x 4 positions");
  float32x4_t a[R][4];
#pragma GCC unroll 4
  for (int r = 0; r < R; ++r) a[r][0] = a[r][1] = a[r][2] = a[r][3] = vdupq_n_f32(0.0f);
  for (int64_t k = 0; k < K; ++k) {
    const int64_t o = off[k];
    const float *wk = w + k * LN;
    const float32x4_t b0 = vld1q_f32(wk), b1 = vld1q_f32(wk + 4), b2 = vld1q_f32(wk + 8), b3 = vld1q_f32(wk + 12);
#pragma GCC unroll 4
    for (int i = 0; i < ROWS; ++i) {
#pragma GCC unroll 4
      for (int x = 0; x < COLS; ++x) {
        const float v = rp[i][o + x * SX];
        float32x4_t *ar = a[i * COLS + x];
        ar[0] = vfmaq_n_f32(ar[0], b0, v), ar[1] = vfmaq_n_f32(ar[1], b1, v);
        ar[2] = vfmaq_n_f32(ar[2], b2, v), ar[3] = vfmaq_n_f32(ar[3], b3, v);
      }
    }
  }
#pragma GCC unroll 4
  for (int r = 0; r < R; ++r)
    for (int j = 0; j < 4; ++j) vst1q_f32(c + r * LN + 4 * j, a[r][j]);
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

/* Does the lanes path beat the direct one? Vector multiply-adds per k: lanes computes
 * round_up(Mg, LN) channels x N positions; the direct path's tiles cover the wide grid (Nw columns)
 * for every channel. The lanes path also needs enough channels to fill its lanes and positions few
 * enough that the broadcasts' reach stays small.
 * With AVX2 (8-float vectors, 6x16 tiles on both paths) the lanes path re-reads each 16-channel
 * weight panel (16 x Kg floats, no K blocking) from L2 for every tile of a few positions, while the
 * direct path keeps a K block of packed weights in L1: measured on a Zen 3 core (`o2c_bench paths`,
 * kernels/bench/bench.cpp; single runs move by 10-20% on a shared machine), direct beats lanes
 * from 7x7 maps with large weights (512 ch 3x3: 70 against 46 GFLOP/s; 1x1 512->2048: 68 against 52)
 * and from 14x14 maps up (1x1 on 13x13 and 14x14: 85-90 against 60), while lanes wins on 4x4 and
 * 8x8 maps (63 against 49, 83 against 75; 1x1 1024->352 on 7x7, 1.4 MB of weights: 56 against 68). So
 * there lanes needs a clear saving in multiply-adds, or a small map and weights that stay in L2. */
bool lanes_pays(const Geo3 &g, int64_t Mg, int64_t Kg) {
  /* strided 1x1 kernels read one stride phase: the direct path copies just that one */
  if (Mg < LN / 2 || g.s[2] > 2 || (g.s[2] == 2 && g.k[2] == 1)) return false;
  const int64_t N = g.out_sp();
  if (N > 400) return false;
  const double lanes = static_cast<double>(round_up(Mg, LN)) * static_cast<double>(N);
#if O2C_HAVE_AVX2 && !O2C_HAVE_AVX512
  const double direct = static_cast<double>(round_up(Mg, MR)) * static_cast<double>(round_up(wide_count(g), NR));
  const double weight_bytes = 4.0 * static_cast<double>(Mg) * static_cast<double>(Kg);
  return lanes <= 0.6 * direct || (N <= 64 && lanes <= 0.9 * direct && weight_bytes <= 1024.0 * 1024.0);
#else
  (void)Kg;
  const double direct = static_cast<double>(Mg) * static_cast<double>(round_up(wide_count(g), 8));
  return lanes <= 1.05 * direct;
#endif
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

} /* namespace conv */
} /* namespace o2c */

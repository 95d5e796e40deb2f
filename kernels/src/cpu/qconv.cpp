/*
 * qconv.cpp - integer convolution and GEMM (o2c_qconv, o2c_qgemm: DASH_QCONV_i8, DASH_QGEMM_i8).
 *
 * int8/uint8 activations x int8 weights -> exact int32 accumulators, then requantized per output
 * channel as onnxruntime does: q = saturate(round_half_even(float(acc + bias - zx * sum(w)) * m) + zy).
 * Activations enter the product as uint8 (an int8 tensor is offset by +128, and its zero point with
 * it): sum (x - zx) * w = sum xu * w - zxu * sum w, the second term folded into the bias once per
 * call. Padding reads zxu, so it contributes nothing.
 *
 * Three micro-kernels, chosen when the library is compiled, give identical int32 results:
 *   VNNI   (AVX-512 VNNI, vpdpbusd: 4 uint8 x int8 products per int32 lane) weights in blocks of
 *          16 channels x 4 k; 8 rows x 32 channels per tile;
 *   AVX2   three modes, picked per weight tensor when it is packed (see QM_* below): vpmaddubsw
 *          (32 products per instruction) wherever it provably cannot saturate, else vpmaddwd on
 *          int16-widened operands; 4 rows x 16 channels per tile (6 x 16 for vpmaddwd). Convolutions
 *          with >= 4 input channels per group run direct: the image copied once channels-last with
 *          its padding, the micro-kernel reading each pixel's taps from it (no im2col);
 *   portable: the plain triple loop.
 * Weights are packed once at model load (o2c_qconv_pack / o2c_qgemm_pack, the params' `packed`),
 * or per call when `packed` is NULL or was made by a library of another layout.
 */
#include "internal.h"

#include <vector>

#if O2C_HAVE_AVX512 && defined(__AVX512VNNI__) && defined(__AVX512BW__)
#define O2C_Q_PATH 2
#elif O2C_HAVE_AVX2
#define O2C_Q_PATH 1
#else
#define O2C_Q_PATH 0
#endif

namespace {

using o2c::detail::Scratch;

/* The packed layout: blocks of NB output channels x KP consecutive k, elements of ESZ bytes (int8,
 * or int16 for the AVX2 wide mode). The AVX2 build picks one of three modes per packed weight tensor,
 * from the weights, when it packs them (all three exact; see product_b and tile_wide):
 *   QM_PAIR: every pair (w[2j], w[2j+1]) of a channel has |w0| + |w1| <= 128 (always true for 7-bit
 *            weights, |w| <= 64): vpmaddubsw on uint8 activations u in [0, 255] x int8 weights; a
 *            pair sum is at most 255 * 128 = 32640 < 32767, so the instruction never saturates.
 *   QM_SIGN: no weight is -128 (the symmetric int8 weights onnxruntime writes are in [-127, 127]):
 *            activations as int8 s in [-128, 127], vpmaddubsw(|s|, sign(s) * w); |s| <= 128 and
 *            |w| <= 127 bound a pair sum by 2 * 128 * 127 = 32512, so it never saturates either.
 *   QM_WIDE: otherwise: both widened to int16 and vpmaddwd (2 exact products per lane).
 * vpmaddubsw does 32 multiply-adds per instruction (then vpmaddwd by ones widens the pair sums to
 * int32), against 16 for vpmaddwd on int16 operands. */
enum { QM_WIDE = 0, QM_SIGN = 1, QM_PAIR = 2 };
#if O2C_Q_PATH == 2
constexpr int64_t NB = 16;
#elif O2C_Q_PATH == 1
constexpr int64_t NB = 8;
#else
constexpr int64_t NB = 1;
#endif
constexpr uint32_t QPACK_MAGIC = 0x51433230u; /* "02CQ" */
constexpr int64_t QPACK_LAYOUT = O2C_Q_PATH | (NB << 4) | (2 << 12);
constexpr int64_t ROWS = 64; /* rows (pixels) per chunk: im2col / copy, product, requantize */

inline int64_t round_up(int64_t v, int64_t m) { return (v + m - 1) / m * m; }

struct QPackHeader {
  uint32_t magic, mode;
  int64_t layout, G, N, K;
  int64_t kd; /* > 0: a direct convolution's layout, k = tap * round_up(Cg, 4) + c, kd of them */
};
static_assert(sizeof(QPackHeader) <= 64, "header fits its 64 bytes");

/* k per block row and element size of a mode */
inline int64_t kp_of(int mode) { return O2C_Q_PATH == 2 ? 4 : O2C_Q_PATH == 1 ? (mode == QM_WIDE ? 2 : 4) : 1; }
inline int64_t esz_of(int mode) { return O2C_Q_PATH == 1 && mode == QM_WIDE ? 2 : 1; }

/* One group's packed weights: wsum[Npad] int32 (sum over k of w, for the zero point), then the
 * blocks: [Npad/NB][Kp/KP][NB][KP] elements (zeros beyond N and K). */
struct QGroup {
  int64_t N, K, Kp, Npad;
  int mode;
  const int32_t *wsum;
  const void *w;
};

struct QLayout {
  int64_t N, K, Kp, Npad, kp, esz, wsum_bytes, group_bytes;
  int mode;
};

QLayout qlayout(int64_t N, int64_t K, int mode) {
  QLayout l;
  l.mode = mode;
  l.N = N;
  l.K = K;
  l.kp = kp_of(mode);
  l.esz = esz_of(mode);
  l.Kp = round_up(K, 4); /* activation rows of a multiple of 4 elements whatever the mode */
  l.Npad = round_up(N, NB);
  l.wsum_bytes = round_up(l.Npad * 4, 64);
  l.group_bytes = l.wsum_bytes + round_up(l.Npad * l.Kp * l.esz, 64);
  return l;
}

/* w(n, k) of one group: weight[n * sn + k * sk] */
void pack_group(const int8_t *weight, int64_t sn, int64_t sk, const QLayout &l, uint8_t *dst) {
  int32_t *wsum = reinterpret_cast<int32_t *>(dst);
  uint8_t *w = dst + l.wsum_bytes;
  std::memset(dst, 0, static_cast<size_t>(l.group_bytes));
  const int64_t kp = l.kp;
  for (int64_t n = 0; n < l.N; ++n) {
    int32_t s = 0;
    const int64_t blk = n / NB, lane = n % NB;
    for (int64_t k = 0; k < l.K; ++k) {
      const int8_t v = weight[n * sn + k * sk];
      s += v;
      const int64_t at = ((blk * (l.Kp / kp) + k / kp) * NB + lane) * kp + k % kp;
      if (l.esz == 2)
        reinterpret_cast<int16_t *>(w)[at] = v;
      else
        reinterpret_cast<int8_t *>(w)[at] = v;
    }
    wsum[n] = s;
  }
}

/* the mode for these weights (weight(g, n, k) = weight[g * sg + n * sn + k * sk]) */
int choose_mode(const int8_t *weight, int64_t G, int64_t N, int64_t K, int64_t sg, int64_t sn, int64_t sk) {
  if (O2C_Q_PATH != 1) return QM_WIDE;
  bool pair = true, m128 = false;
  for (int64_t g = 0; g < G; ++g)
    for (int64_t n = 0; n < N; ++n) {
      const int8_t *w = weight + g * sg + n * sn;
      for (int64_t k = 0; k < K; k += 2) {
        const int a = w[k * sk], b = k + 1 < K ? w[(k + 1) * sk] : 0;
        m128 |= a == -128 || b == -128;
        pair &= std::abs(a) + std::abs(b) <= 128;
      }
    }
  return pair ? QM_PAIR : m128 ? QM_WIDE : QM_SIGN;
}

QGroup group_of(const uint8_t *base, const QLayout &l, int64_t g) {
  const uint8_t *p = base + g * l.group_bytes;
  return {l.N, l.K, l.Kp, l.Npad, l.mode, reinterpret_cast<const int32_t *>(p), p + l.wsum_bytes};
}

/* ---- C[r][n] (r < rows, n < Npad; ldc = Npad) = sum_k A[r][k] * w(n, k), A rows of Kp elements ---- */
#if O2C_Q_PATH == 2
template <int R, int NBK>
void tile(const uint8_t *A, int64_t Kp, const int8_t *W, int64_t blk_stride, int32_t *C, int64_t ldc) {
  __m512i acc[R][NBK];
  for (int r = 0; r < R; ++r)
    for (int j = 0; j < NBK; ++j) acc[r][j] = _mm512_setzero_si512();
  const int64_t k4n = Kp / 4;
  for (int64_t k = 0; k < k4n; ++k) {
    __m512i w[NBK];
    for (int j = 0; j < NBK; ++j) w[j] = _mm512_loadu_si512(W + j * blk_stride + k * 64);
    for (int r = 0; r < R; ++r) {
      int32_t a4;
      std::memcpy(&a4, A + r * Kp + 4 * k, 4);
      const __m512i a = _mm512_set1_epi32(a4);
      for (int j = 0; j < NBK; ++j) acc[r][j] = _mm512_dpbusd_epi32(acc[r][j], a, w[j]);
    }
  }
  for (int r = 0; r < R; ++r)
    for (int j = 0; j < NBK; ++j) _mm512_storeu_si512(C + r * ldc + j * 16, acc[r][j]);
}

void product(const void *Av, int64_t rows, const QGroup &g, int32_t *C) {
  const uint8_t *A = static_cast<const uint8_t *>(Av);
  const int8_t *W = static_cast<const int8_t *>(g.w);
  const int64_t blk_stride = g.Kp * NB, nblk = g.Npad / NB;
  auto row_of = [&](auto r_const, int64_t r) {
    constexpr int R = decltype(r_const)::value;
    int64_t j = 0;
    for (; j + 2 <= nblk; j += 2)
      tile<R, 2>(A + r * g.Kp, g.Kp, W + j * blk_stride, blk_stride, C + r * g.Npad + j * NB, g.Npad);
    if (j < nblk) tile<R, 1>(A + r * g.Kp, g.Kp, W + j * blk_stride, blk_stride, C + r * g.Npad + j * NB, g.Npad);
  };
  int64_t r = 0;
  for (; r + 8 <= rows; r += 8) row_of(std::integral_constant<int, 8>(), r);
  for (; r < rows; ++r) row_of(std::integral_constant<int, 1>(), r);
}
#elif O2C_Q_PATH == 1
/* QM_WIDE: R rows x 2 blocks of 8 channels, int16 pairs (A rows of Kp int16) */
template <int R>
inline void tile_wide(const int16_t *A, int64_t Kp, const int16_t *W0, const int16_t *W1, int32_t *C, int64_t ldc,
                      bool two) {
  __m256i acc0[R], acc1[R];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) acc0[r] = acc1[r] = _mm256_setzero_si256();
  const int32_t *a = reinterpret_cast<const int32_t *>(A);
  const int64_t s = Kp / 2;
  for (int64_t k = 0; k < s; ++k) {
    const __m256i w0 = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(W0 + k * 16));
    const __m256i w1 = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(W1 + k * 16));
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const __m256i av = _mm256_set1_epi32(a[r * s + k]);
      acc0[r] = _mm256_add_epi32(acc0[r], _mm256_madd_epi16(av, w0));
      acc1[r] = _mm256_add_epi32(acc1[r], _mm256_madd_epi16(av, w1));
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
    _mm256_storeu_si256(reinterpret_cast<__m256i *>(C + r * ldc), acc0[r]);
    if (two) _mm256_storeu_si256(reinterpret_cast<__m256i *>(C + r * ldc + 8), acc1[r]);
  }
}

/* QM_PAIR / QM_SIGN: R rows x 2 blocks of 8 channels, 4 k per step. Row r's k-th byte (uint8 u for
 * QM_PAIR, int8 s for QM_SIGN) is rowp[r][off[t] + c] for k = t * cp + c: the im2col rows (one tap of
 * Kp) or, for the direct convolution, the taps of a channels-last padded image. */
struct Taps {
  const int64_t *off;
  int64_t n, cp;
};

template <int R, bool SIGN>
inline void tile_b(const uint8_t *const *rowp, const Taps &tp, const int8_t *W0, const int8_t *W1, int32_t *C,
                   int64_t ldc, bool two) {
  __m256i acc0[R], acc1[R];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) acc0[r] = acc1[r] = _mm256_setzero_si256();
  const __m256i ones = _mm256_set1_epi16(1);
  const uint8_t *rp[R];
  for (int t = 0; t < tp.n; ++t) {
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) rp[r] = rowp[r] + tp.off[t];
    for (int64_t c = 0; c < tp.cp; c += 4) {
      const __m256i w0 = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(W0 + 8 * c));
      const __m256i w1 = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(W1 + 8 * c));
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) {
        int32_t a4;
        std::memcpy(&a4, rp[r] + c, 4);
        const __m256i a = _mm256_set1_epi32(a4);
        __m256i p0, p1;
        if constexpr (SIGN) {
          const __m256i au = _mm256_abs_epi8(a);
          p0 = _mm256_maddubs_epi16(au, _mm256_sign_epi8(w0, a));
          p1 = _mm256_maddubs_epi16(au, _mm256_sign_epi8(w1, a));
        } else {
          p0 = _mm256_maddubs_epi16(a, w0);
          p1 = _mm256_maddubs_epi16(a, w1);
        }
        acc0[r] = _mm256_add_epi32(acc0[r], _mm256_madd_epi16(p0, ones));
        acc1[r] = _mm256_add_epi32(acc1[r], _mm256_madd_epi16(p1, ones));
      }
    }
    W0 += 8 * tp.cp;
    W1 += 8 * tp.cp;
  }
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
    _mm256_storeu_si256(reinterpret_cast<__m256i *>(C + r * ldc), acc0[r]);
    if (two) _mm256_storeu_si256(reinterpret_cast<__m256i *>(C + r * ldc + 8), acc1[r]);
  }
}

constexpr int TRW = 6, TRB = 4; /* rows per tile: wide, bytes */

template <int R>
void wide_tiles(const int16_t *A, const QGroup &g, int32_t *C) {
  const int64_t nblk = g.Npad / NB, bs = g.Kp * NB;
  const int16_t *W = static_cast<const int16_t *>(g.w);
  for (int64_t j = 0; j < nblk; j += 2) {
    const bool two = nblk - j > 1;
    tile_wide<R>(A, g.Kp, W + j * bs, W + (j + two) * bs, C + j * NB, g.Npad, two);
  }
}

template <int R>
void byte_tiles(const uint8_t *const *rowp, const Taps &tp, const QGroup &g, int32_t *C) {
  const int64_t nblk = g.Npad / NB, bs = g.Kp * NB;
  const int8_t *W = static_cast<const int8_t *>(g.w);
  for (int64_t j = 0; j < nblk; j += 2) {
    const bool two = nblk - j > 1;
    if (g.mode == QM_SIGN)
      tile_b<R, true>(rowp, tp, W + j * bs, W + (j + two) * bs, C + j * NB, g.Npad, two);
    else
      tile_b<R, false>(rowp, tp, W + j * bs, W + (j + two) * bs, C + j * NB, g.Npad, two);
  }
}

/* the byte modes over row pointers (rows <= ROWS) */
void product_rows(const uint8_t *const *rowp, int64_t rows, const Taps &tp, const QGroup &g, int32_t *C) {
  int64_t r = 0;
  for (; r + TRB <= rows; r += TRB) byte_tiles<TRB>(rowp + r, tp, g, C + r * g.Npad);
  for (; r < rows; ++r) byte_tiles<1>(rowp + r, tp, g, C + r * g.Npad);
}

void product(const void *Av, int64_t rows, const QGroup &g, int32_t *C) {
  if (g.mode == QM_WIDE) {
    const int16_t *A = static_cast<const int16_t *>(Av);
    int64_t r = 0;
    for (; r + TRW <= rows; r += TRW) wide_tiles<TRW>(A + r * g.Kp, g, C + r * g.Npad);
    for (; r < rows; ++r) wide_tiles<1>(A + r * g.Kp, g, C + r * g.Npad);
    return;
  }
  const uint8_t *rowp[ROWS];
  for (int64_t r = 0; r < rows; ++r) rowp[r] = static_cast<const uint8_t *>(Av) + r * g.Kp;
  const int64_t off0 = 0;
  product_rows(rowp, rows, Taps{&off0, 1, g.Kp}, g, C);
}
#else
void product(const void *Av, int64_t rows, const QGroup &g, int32_t *C) {
  /* NB = KP = 1: W is n-major, one row of Kp weights per channel */
  const uint8_t *A = static_cast<const uint8_t *>(Av);
  const int8_t *W = static_cast<const int8_t *>(g.w);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t n = 0; n < g.Npad; ++n) {
      const int8_t *w = W + n * g.Kp;
      int32_t s = 0;
      for (int64_t k = 0; k < g.Kp; ++k) s += static_cast<int32_t>(A[r * g.Kp + k]) * w[k];
      C[r * g.Npad + n] = s;
    }
}
#endif

struct Requant {
  int32_t zy, lo, hi;
  bool raw;
};

Requant requant_of(int32_t out_zero, int32_t out_unsigned, int32_t relu, int32_t out_int32 = 0) {
  Requant q;
  q.raw = out_int32 != 0;
  q.zy = out_zero;
  q.lo = out_unsigned ? 0 : -128;
  q.hi = out_unsigned ? 255 : 127;
  if (relu) q.lo = std::max(q.lo, out_zero);
  return q;
}

#if O2C_Q_PATH >= 1
/* dst[j * ds + i] = src[i * ss + j] ^ flip for i, j < 8 (an 8 x 8 byte transpose) */
inline void transpose8x8(const uint8_t *src, int64_t ss, uint8_t *dst, int64_t ds, uint8_t flip) {
  __m128i r[8];
  for (int i = 0; i < 8; ++i) r[i] = _mm_loadl_epi64(reinterpret_cast<const __m128i *>(src + i * ss));
  const __m128i a0 = _mm_unpacklo_epi8(r[0], r[1]), a1 = _mm_unpacklo_epi8(r[2], r[3]);
  const __m128i a2 = _mm_unpacklo_epi8(r[4], r[5]), a3 = _mm_unpacklo_epi8(r[6], r[7]);
  const __m128i b0 = _mm_unpacklo_epi16(a0, a1), b1 = _mm_unpackhi_epi16(a0, a1);
  const __m128i b2 = _mm_unpacklo_epi16(a2, a3), b3 = _mm_unpackhi_epi16(a2, a3);
  const __m128i f = _mm_set1_epi8(static_cast<char>(flip));
  const __m128i c[4] = {_mm_xor_si128(_mm_unpacklo_epi32(b0, b2), f), _mm_xor_si128(_mm_unpackhi_epi32(b0, b2), f),
                        _mm_xor_si128(_mm_unpacklo_epi32(b1, b3), f), _mm_xor_si128(_mm_unpackhi_epi32(b1, b3), f)};
  for (int j = 0; j < 4; ++j) {
    _mm_storel_epi64(reinterpret_cast<__m128i *>(dst + (2 * j) * ds), c[j]);
    _mm_storel_epi64(reinterpret_cast<__m128i *>(dst + (2 * j + 1) * ds), _mm_unpackhi_epi64(c[j], c[j]));
  }
}
#endif

/* out[r * sr + n * sn] for r < rows, n < N: saturate(round_half_even(float(C + comp) * mult) + zy);
 * the product is first clamped to +-2^30 (beyond the int32 conversion's range, and saturated anyway).
 * AVX2: 8 channels at a time (vcvtps2dq rounds half to even under the default rounding mode, as
 * nearbyint), written out through a small buffer along the output's unit stride. */
template <typename O>
void requantize_as(const int32_t *C, int64_t ldc, int64_t rows, int64_t N, const int32_t *comp, const float *mult,
                   const Requant &q, O *out, int64_t sr, int64_t sn) {
  constexpr float kBig = 1073741824.0f;
  auto one = [&](int64_t r, int64_t n) {
    const float f = std::min(std::max(static_cast<float>(C[r * ldc + n] + comp[n]) * mult[n], -kBig), kBig);
    const int32_t v = static_cast<int32_t>(std::nearbyint(f)) + q.zy;
    out[r * sr + n * sn] = static_cast<O>(std::min(std::max(v, q.lo), q.hi));
  };
  int64_t n0 = 0;
#if O2C_Q_PATH >= 1
  const __m256i zy = _mm256_set1_epi32(q.zy), lo = _mm256_set1_epi32(q.lo), hi = _mm256_set1_epi32(q.hi);
  const __m256 big = _mm256_set1_ps(kBig), nbig = _mm256_set1_ps(-kBig);
  alignas(32) int32_t t[ROWS][8];
  for (; n0 + 8 <= N; n0 += 8) {
    const __m256i cp = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(comp + n0));
    const __m256 m = _mm256_loadu_ps(mult + n0);
    for (int64_t r0 = 0; r0 < rows; r0 += ROWS) {
      const int64_t nr = std::min(ROWS, rows - r0);
      for (int64_t r = 0; r < nr; ++r) {
        const __m256i c = _mm256_add_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i *>(C + (r0 + r) * ldc + n0)), cp);
        const __m256 f = _mm256_min_ps(_mm256_max_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(c), m), nbig), big);
        const __m256i v = _mm256_min_epi32(_mm256_max_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(f), zy), lo), hi);
        _mm256_store_si256(reinterpret_cast<__m256i *>(t[r]), v);
      }
      if (sn == 1) {
        for (int64_t r = 0; r < nr; ++r)
          for (int j = 0; j < 8; ++j) out[(r0 + r) * sr + n0 + j] = static_cast<O>(t[r][j]);
      } else {
        int64_t r = 0;
        if (sr == 1) { /* 8 pixels x 8 channels at a time: their low bytes, transposed */
          alignas(16) uint8_t b[8][8];
          for (; r + 8 <= nr; r += 8) {
            for (int i = 0; i < 8; ++i)
              for (int j = 0; j < 8; ++j) b[i][j] = static_cast<uint8_t>(t[r + i][j]);
            transpose8x8(&b[0][0], 8, reinterpret_cast<uint8_t *>(out + (n0) * sn + r0 + r), sn, 0);
          }
        }
        for (int j = 0; j < 8; ++j) {
          O *o = out + (n0 + j) * sn + r0 * sr;
          for (int64_t rr = r; rr < nr; ++rr) o[rr * sr] = static_cast<O>(t[rr][j]);
        }
      }
    }
  }
#endif
  if (sn == 1) {
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t n = n0; n < N; ++n) one(r, n);
  } else {
    for (int64_t n = n0; n < N; ++n)
      for (int64_t r = 0; r < rows; ++r) one(r, n);
  }
}

void requantize(const int32_t *C, int64_t ldc, int64_t rows, int64_t N, const int32_t *comp, const float *mult,
                const Requant &q, bool out_unsigned, void *out, int64_t sr, int64_t sn) {
  if (q.raw) { /* the accumulators themselves (out_int32) */
    int32_t *o = static_cast<int32_t *>(out);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t n = 0; n < N; ++n) o[r * sr + n * sn] = C[r * ldc + n] + comp[n];
    return;
  }
  if (out_unsigned)
    requantize_as(C, ldc, rows, N, comp, mult, q, static_cast<uint8_t *>(out), sr, sn);
  else
    requantize_as(C, ldc, rows, N, comp, mult, q, static_cast<int8_t *>(out), sr, sn);
}

/* comp[n] = bias[n] - zxu * wsum[n] (bias may be NULL) */
void compensation(const int32_t *bias, int32_t zxu, const QGroup &g, int32_t *comp) {
  for (int64_t n = 0; n < g.N; ++n) comp[n] = (bias ? bias[n] : 0) - zxu * g.wsum[n];
}

/* ---- packed buffers: a header, then the groups ---- */
struct Packed {
  const uint8_t *base; /* the first group */
  QLayout l;
  bool direct; /* k = tap * round_up(Cg, 4) + c (o2c_qconv's direct path) */
};

bool valid_pack(const void *packed, int64_t G, int64_t N, int64_t K, Packed &out) {
  if (!packed) return false;
  const QPackHeader *h = static_cast<const QPackHeader *>(packed);
  if (h->magic != QPACK_MAGIC || h->layout != QPACK_LAYOUT || h->G != G || h->N != N || h->K != K || h->mode > QM_PAIR)
    return false;
  out = {static_cast<const uint8_t *>(packed) + 64, qlayout(N, h->kd > 0 ? h->kd : K, static_cast<int>(h->mode)),
         h->kd > 0};
  return true;
}

/* enough for any mode (the wide one is the largest) */
size_t pack_bytes(int64_t G, int64_t N, int64_t K) {
  const int64_t gb = std::max(qlayout(N, K, QM_WIDE).group_bytes, qlayout(N, K, QM_SIGN).group_bytes);
  return 64 + static_cast<size_t>(G * gb);
}

/* weight(g, n, k) = weight[g * sg + n * sn + k * sk], K of them; Khdr: the K the header names (the
 * convolution's Cg * taps when `direct`, K being then taps * round_up(Cg, 4)) */
void write_pack(const int8_t *weight, int64_t G, int64_t N, int64_t K, int64_t sg, int64_t sn, int64_t sk, int mode,
                int64_t Khdr, bool direct, void *dst) {
  QPackHeader h{};
  h.magic = QPACK_MAGIC;
  h.mode = static_cast<uint32_t>(mode);
  h.layout = QPACK_LAYOUT;
  h.G = G;
  h.N = N;
  h.K = Khdr;
  h.kd = direct ? K : 0;
  std::memset(dst, 0, 64);
  std::memcpy(dst, &h, sizeof h);
  const QLayout l = qlayout(N, K, mode);
  uint8_t *base = static_cast<uint8_t *>(dst) + 64;
  for (int64_t g = 0; g < G; ++g) pack_group(weight + g * sg, sn, sk, l, base + g * l.group_bytes);
}

void pack_all(const int8_t *weight, int64_t G, int64_t N, int64_t K, int64_t sg, int64_t sn, int64_t sk, void *dst) {
  write_pack(weight, G, N, K, sg, sn, sk, choose_mode(weight, G, N, K, sg, sn, sk), K, false, dst);
}

/* the packed weights to use: the params' buffer when it fits, else `tmp` filled now */
Packed weights_of(const void *packed, const int8_t *weight, int64_t G, int64_t N, int64_t K, int64_t sg, int64_t sn,
                  int64_t sk, Scratch<uint8_t> &tmp) {
  Packed pk;
  if (valid_pack(packed, G, N, K, pk)) return pk;
  tmp.reset(pack_bytes(G, N, K));
  pack_all(weight, G, N, K, sg, sn, sk, tmp.get());
  valid_pack(tmp.get(), G, N, K, pk);
  return pk;
}

/* How the activations enter the product: as bytes u ^ flip (uint8 u in [0, 255]; QM_SIGN: int8 s = u - 128),
 * or widened to int16 (QM_WIDE); `zero` is the zero point in that representation (padding's value). */
struct ActRep {
  bool wide;
  uint8_t flip; /* applied to the raw input byte */
  int32_t zero;
};

ActRep act_rep(int mode, bool in_signed, int32_t in_zero) {
  ActRep r;
  r.wide = esz_of(mode) == 2;
  const int32_t zu = in_zero + (in_signed ? 128 : 0); /* the uint8 representation's zero point */
  const bool sgn_rep = O2C_Q_PATH == 1 && mode == QM_SIGN;
  r.flip = static_cast<uint8_t>((in_signed ? 0x80 : 0) ^ (sgn_rep ? 0x80 : 0));
  r.zero = sgn_rep ? zu - 128 : zu;
  return r;
}

struct ConvGeo {
  int64_t in[3], out[3], k[3], s[3], d[3], pb[3];
  int64_t in_sp, out_sp, k_sp;
};

bool conv_geo(const dash_conv_params_t *p, ConvGeo &g) {
  if (p->spatial_rank < 1 || p->spatial_rank > 3) return false;
  g.in_sp = g.out_sp = g.k_sp = 1;
  const int lead = 3 - p->spatial_rank; /* the spatial axes right-aligned: g.*[2] is the innermost */
  for (int i = 0; i < 3; ++i) {
    const int j = i - lead;
    const bool on = j >= 0;
    g.in[i] = on ? p->in_size[j] : 1;
    g.out[i] = on ? p->out_size[j] : 1;
    g.k[i] = on ? p->kernel[j] : 1;
    g.s[i] = on ? p->stride[j] : 1;
    g.d[i] = on ? p->dilation[j] : 1;
    g.pb[i] = on ? p->pad_begin[j] : 0;
    g.in_sp *= g.in[i];
    g.out_sp *= g.out[i];
    g.k_sp *= g.k[i];
  }
  return g.out_sp > 0;
}

/* rows [p0, p0 + rows) of one image's im2col for channels [c0, c0 + Cg), as rows of Kp (xor flip:
 * int8 -> uint8; pad: the zero point there) */
/* rows: offsets (from a window's first element) of its rows of g.k[2] elements, Cg * k[0] * k[1] of them */
void window_rows(const ConvGeo &g, int64_t c0, int64_t Cg, int64_t *rows) {
  int64_t n = 0;
  for (int64_t c = 0; c < Cg; ++c)
    for (int64_t k0 = 0; k0 < g.k[0]; ++k0)
      for (int64_t k1 = 0; k1 < g.k[1]; ++k1)
        rows[n++] = (c0 + c) * g.in_sp + (k0 * g.d[0] * g.in[1] + k1 * g.d[1]) * g.in[2];
}

template <typename AElem, int KW> /* the innermost kernel extent when known at compile time (0: g.k[2]) */
__attribute__((noinline)) void im2col_q(const uint8_t *x, uint8_t flip, AElem pad, const ConvGeo &g, int64_t c0,
                                        int64_t Cg, int64_t p0, int64_t rows, int64_t Kp, const int64_t *wrows,
                                        AElem *A) {
  const int64_t kw = KW ? KW : g.k[2];
  const int64_t nrows = Cg * g.k[0] * g.k[1], d2 = g.d[2];
  /* the output position of row 0, then stepped (divisions per row cost more than a small window) */
  int64_t o2 = p0 % g.out[2], o1 = (p0 / g.out[2]) % g.out[1], o0 = p0 / (g.out[2] * g.out[1]);
  for (int64_t r = 0; r < rows; ++r, ++o2) {
    if (o2 == g.out[2]) {
      o2 = 0;
      if (++o1 == g.out[1]) {
        o1 = 0;
        ++o0;
      }
    }
    const int64_t b0 = o0 * g.s[0] - g.pb[0], b1 = o1 * g.s[1] - g.pb[1], b2 = o2 * g.s[2] - g.pb[2];
    AElem *a = A + r * Kp;
    int64_t k = 0;
    const bool inside = b0 >= 0 && b0 + (g.k[0] - 1) * g.d[0] < g.in[0] && b1 >= 0 &&
                        b1 + (g.k[1] - 1) * g.d[1] < g.in[1] && b2 >= 0 && b2 + (g.k[2] - 1) * g.d[2] < g.in[2];
    if (inside) { /* the whole window in the image: no bounds checks, the window's rows from the table */
      const uint8_t *xw = x + (b0 * g.in[1] + b1) * g.in[2] + b2;
      for (int64_t w = 0; w < nrows; ++w, k += kw) {
        const uint8_t *xr = xw + wrows[w];
        for (int64_t k2 = 0; k2 < kw; ++k2) a[k + k2] = static_cast<AElem>(xr[k2 * d2] ^ flip);
      }
    } else {
      for (int64_t c = 0; c < Cg; ++c) {
        const uint8_t *xc = x + (c0 + c) * g.in_sp;
        for (int64_t k0 = 0; k0 < g.k[0]; ++k0) {
          const int64_t i0 = b0 + k0 * g.d[0];
          for (int64_t k1 = 0; k1 < g.k[1]; ++k1) {
            const int64_t i1 = b1 + k1 * g.d[1];
            const bool row_in = i0 >= 0 && i0 < g.in[0] && i1 >= 0 && i1 < g.in[1];
            const uint8_t *xr = xc + (i0 * g.in[1] + i1) * g.in[2];
            for (int64_t k2 = 0; k2 < g.k[2]; ++k2) {
              const int64_t i2 = b2 + k2 * g.d[2];
              a[k++] = row_in && i2 >= 0 && i2 < g.in[2] ? static_cast<AElem>(xr[i2] ^ flip) : pad;
            }
          }
        }
      }
    }
    for (; k < Kp; ++k) a[k] = 0;
  }
}

/* The direct convolution (AVX2 byte modes, Cg >= 4): no im2col; the image is copied once per call
 * channels-last with its padding (the zero point), and the micro-kernel reads each output pixel's
 * taps from it (k = tap * Cp + c, Cp = round_up(Cg, 4); the weights of c >= Cg are zeros). */
bool direct_ok(int64_t Cg) { return O2C_Q_PATH == 1 && Cg >= 4; }

size_t conv_pack_bytes(int64_t G, int64_t N, int64_t Cg, int64_t taps) {
  const size_t b = pack_bytes(G, N, Cg * taps);
  if (!direct_ok(Cg)) return b;
  return std::max(b, 64 + static_cast<size_t>(G * qlayout(N, taps * round_up(Cg, 4), QM_SIGN).group_bytes));
}

/* weight: G*N x Cg x taps (DASH_CONV's layout) */
void conv_pack(const int8_t *weight, int64_t G, int64_t N, int64_t Cg, int64_t taps, void *dst) {
  const int64_t K = Cg * taps;
  if (direct_ok(Cg)) {
    const int64_t Cp = round_up(Cg, 4), Kd = taps * Cp;
    std::vector<int8_t> wd(static_cast<size_t>(G * N * Kd), 0);
    for (int64_t gn = 0; gn < G * N; ++gn)
      for (int64_t c = 0; c < Cg; ++c)
        for (int64_t t = 0; t < taps; ++t) wd[gn * Kd + t * Cp + c] = weight[(gn * Cg + c) * taps + t];
    const int mode = choose_mode(wd.data(), G, N, Kd, N * Kd, Kd, 1);
    if (mode != QM_WIDE) {
      write_pack(wd.data(), G, N, Kd, N * Kd, Kd, 1, mode, K, true, dst);
      return;
    }
  }
  pack_all(weight, G, N, K, N * K, K, 1, dst);
}

Packed conv_weights_of(const void *packed, const int8_t *weight, int64_t G, int64_t N, int64_t Cg, int64_t taps,
                       Scratch<uint8_t> &tmp) {
  Packed pk;
  if (valid_pack(packed, G, N, Cg * taps, pk)) return pk;
  tmp.reset(conv_pack_bytes(G, N, Cg, taps));
  conv_pack(weight, G, N, Cg, taps, tmp.get());
  valid_pack(tmp.get(), G, N, Cg * taps, pk);
  return pk;
}

#if O2C_Q_PATH == 1
/* the whole convolution through the direct path */
void qconv_direct(const uint8_t *x, const Packed &pk, const ConvGeo &geo, const dash_conv_params_t *c, int64_t G,
                  int64_t Cg, int64_t N, const ActRep &rep, const int32_t *bias, const float *multiplier,
                  const Requant &q, bool out_unsigned, uint8_t *y) {
  const QLayout &l = pk.l;
  const int64_t Cp = round_up(Cg, 4), Cs = c->in_channels;
  int64_t E[3];
  for (int i = 0; i < 3; ++i)
    E[i] = std::max(geo.in[i] + geo.pb[i], (geo.out[i] - 1) * geo.s[i] + (geo.k[i] - 1) * geo.d[i] + 1);
  const int64_t plane = E[0] * E[1] * E[2];
  Scratch<uint8_t> xp(static_cast<size_t>(plane * Cs + 64));
  Scratch<int64_t> toff(static_cast<size_t>(geo.k_sp));
  {
    int64_t t = 0;
    for (int64_t k0 = 0; k0 < geo.k[0]; ++k0)
      for (int64_t k1 = 0; k1 < geo.k[1]; ++k1)
        for (int64_t k2 = 0; k2 < geo.k[2]; ++k2)
          toff.get()[t++] = ((k0 * geo.d[0] * E[1] + k1 * geo.d[1]) * E[2] + k2 * geo.d[2]) * Cs;
  }
  const Taps tp{toff.get(), geo.k_sp, Cp};
  Scratch<int32_t> C(static_cast<size_t>(ROWS * l.Npad));
  Scratch<int32_t> comp(static_cast<size_t>(N));
  const uint8_t *rowp[ROWS];
  for (int64_t b = 0; b < c->batch; ++b) {
    /* the image channels-last, its padding the zero point */
    std::memset(xp.get(), static_cast<uint8_t>(rep.zero), static_cast<size_t>(plane * Cs + 64));
    const uint8_t *xb = x + b * Cs * geo.in_sp;
    for (int64_t i0 = 0; i0 < geo.in[0]; ++i0)
      for (int64_t i1 = 0; i1 < geo.in[1]; ++i1) {
        uint8_t *dst = xp.get() + (((i0 + geo.pb[0]) * E[1] + i1 + geo.pb[1]) * E[2] + geo.pb[2]) * Cs;
        const uint8_t *src = xb + (i0 * geo.in[1] + i1) * geo.in[2];
        int64_t ch = 0;
        for (; ch + 8 <= Cs; ch += 8) { /* 8 channels x 8 positions at a time */
          const uint8_t *sc = src + ch * geo.in_sp;
          int64_t i2 = 0;
          for (; i2 + 8 <= geo.in[2]; i2 += 8) transpose8x8(sc + i2, geo.in_sp, dst + i2 * Cs + ch, Cs, rep.flip);
          for (int64_t c8 = 0; c8 < 8; ++c8)
            for (int64_t j = i2; j < geo.in[2]; ++j)
              dst[j * Cs + ch + c8] = static_cast<uint8_t>(sc[c8 * geo.in_sp + j] ^ rep.flip);
        }
        for (; ch < Cs; ++ch) {
          const uint8_t *sc = src + ch * geo.in_sp;
          for (int64_t i2 = 0; i2 < geo.in[2]; ++i2) dst[i2 * Cs + ch] = static_cast<uint8_t>(sc[i2] ^ rep.flip);
        }
      }
    for (int64_t g = 0; g < G; ++g) {
      const QGroup grp = group_of(pk.base, l, g);
      compensation(bias ? bias + g * N : nullptr, rep.zero, grp, comp.get());
      const int64_t osz = q.raw ? 4 : 1; /* output element bytes */
      uint8_t *yb = y + (b * c->out_channels + g * N) * geo.out_sp * osz;
      const float *mg = multiplier ? multiplier + g * N : nullptr;
      for (int64_t p0 = 0; p0 < geo.out_sp; p0 += ROWS) {
        const int64_t rows = std::min(ROWS, geo.out_sp - p0);
        int64_t o2 = p0 % geo.out[2], o1 = (p0 / geo.out[2]) % geo.out[1], o0 = p0 / (geo.out[2] * geo.out[1]);
        for (int64_t r = 0; r < rows; ++r, ++o2) {
          if (o2 == geo.out[2]) {
            o2 = 0;
            if (++o1 == geo.out[1]) {
              o1 = 0;
              ++o0;
            }
          }
          rowp[r] = xp.get() + ((o0 * geo.s[0] * E[1] + o1 * geo.s[1]) * E[2] + o2 * geo.s[2]) * Cs + g * Cg;
        }
        product_rows(rowp, rows, tp, grp, C.get());
        requantize(C.get(), l.Npad, rows, N, comp.get(), mg, q, out_unsigned, yb + p0 * osz, 1, geo.out_sp);
      }
    }
  }
}
#endif

}  // namespace

extern "C" {

size_t o2c_qconv_packed_bytes(const dash_qconv_params_t *p) {
  const dash_conv_params_t *c = &p->conv;
  const int64_t G = c->groups > 0 ? c->groups : 1;
  ConvGeo g;
  if (!conv_geo(c, g)) return 0;
  return conv_pack_bytes(G, c->out_channels / G, c->in_channels / G, g.k_sp);
}

void o2c_qconv_pack(const int8_t *weight, const dash_qconv_params_t *p, void *dst) {
  const dash_conv_params_t *c = &p->conv;
  const int64_t G = c->groups > 0 ? c->groups : 1;
  ConvGeo g;
  if (!dst || !conv_geo(c, g)) return;
  conv_pack(weight, G, c->out_channels / G, c->in_channels / G, g.k_sp, dst);
}

void o2c_qconv(const int8_t *in, const int8_t *weight, const int32_t *bias, const float *multiplier, int8_t *out,
               const dash_qconv_params_t *p) {
  const dash_conv_params_t *c = &p->conv;
  ConvGeo geo;
  if (!conv_geo(c, geo)) return;
  if (o2c_qconv_depthwise(in, weight, bias, multiplier, out, p)) return; /* one channel per group */
  const int64_t G = c->groups > 0 ? c->groups : 1;
  const int64_t Cg = c->in_channels / G, N = c->out_channels / G;
  Scratch<uint8_t> tmp;
  const Packed pk = conv_weights_of(p->packed, weight, G, N, Cg, geo.k_sp, tmp);
  const QLayout &l = pk.l;
  const ActRep rep = act_rep(l.mode, !p->in_unsigned, p->in_zero);
  const Requant q = requant_of(p->out_zero, p->out_unsigned, p->relu, p->out_int32);
#if O2C_Q_PATH == 1
  if (pk.direct) {
    qconv_direct(reinterpret_cast<const uint8_t *>(in), pk, geo, c, G, Cg, N, rep, bias, multiplier, q,
                 p->out_unsigned != 0, reinterpret_cast<uint8_t *>(out));
    return;
  }
#endif
  Scratch<uint8_t> A(static_cast<size_t>(ROWS * l.Kp * (rep.wide ? 2 : 1)));
  Scratch<int32_t> C(static_cast<size_t>(ROWS * l.Npad));
  Scratch<int32_t> comp(static_cast<size_t>(N));
  Scratch<int64_t> wrows(static_cast<size_t>(Cg * geo.k[0] * geo.k[1]));
  const uint8_t *x = reinterpret_cast<const uint8_t *>(in);
  uint8_t *y = reinterpret_cast<uint8_t *>(out);
  for (int64_t g = 0; g < G; ++g) {
    const QGroup grp = group_of(pk.base, l, g);
    compensation(bias ? bias + g * N : nullptr, rep.zero, grp, comp.get());
    window_rows(geo, g * Cg, Cg, wrows.get());
    for (int64_t b = 0; b < c->batch; ++b) {
      const uint8_t *xb = x + b * c->in_channels * geo.in_sp;
      const int64_t osz = q.raw ? 4 : 1; /* output element bytes */
      uint8_t *yb = y + (b * c->out_channels + g * N) * geo.out_sp * osz;
      const float *mg = multiplier ? multiplier + g * N : nullptr;
      for (int64_t p0 = 0; p0 < geo.out_sp; p0 += ROWS) {
        const int64_t rows = std::min(ROWS, geo.out_sp - p0);
        const int64_t *wr = wrows.get();
        if (rep.wide) {
          int16_t *a = reinterpret_cast<int16_t *>(A.get());
          const int16_t pad = static_cast<int16_t>(rep.zero);
          switch (geo.k[2]) {
            case 3: im2col_q<int16_t, 3>(xb, rep.flip, pad, geo, g * Cg, Cg, p0, rows, l.Kp, wr, a); break;
            case 5: im2col_q<int16_t, 5>(xb, rep.flip, pad, geo, g * Cg, Cg, p0, rows, l.Kp, wr, a); break;
            default: im2col_q<int16_t, 0>(xb, rep.flip, pad, geo, g * Cg, Cg, p0, rows, l.Kp, wr, a);
          }
        } else {
          uint8_t *a = A.get();
          const uint8_t pad = static_cast<uint8_t>(rep.zero);
          switch (geo.k[2]) {
            case 1: im2col_q<uint8_t, 1>(xb, rep.flip, pad, geo, g * Cg, Cg, p0, rows, l.Kp, wr, a); break;
            case 3: im2col_q<uint8_t, 3>(xb, rep.flip, pad, geo, g * Cg, Cg, p0, rows, l.Kp, wr, a); break;
            case 5: im2col_q<uint8_t, 5>(xb, rep.flip, pad, geo, g * Cg, Cg, p0, rows, l.Kp, wr, a); break;
            default: im2col_q<uint8_t, 0>(xb, rep.flip, pad, geo, g * Cg, Cg, p0, rows, l.Kp, wr, a);
          }
        }
        product(A.get(), rows, grp, C.get());
        requantize(C.get(), l.Npad, rows, N, comp.get(), mg, q, p->out_unsigned, yb + p0 * osz, 1, geo.out_sp);
      }
    }
  }
}

size_t o2c_qgemm_packed_bytes(const dash_qgemm_params_t *p) { return pack_bytes(1, p->N, p->K); }

void o2c_qgemm_pack(const int8_t *weight, const dash_qgemm_params_t *p, void *dst) {
  if (!dst) return;
  if (p->trans_b)
    pack_all(weight, 1, p->N, p->K, 0, p->K, 1, dst);
  else
    pack_all(weight, 1, p->N, p->K, 0, 1, p->N, dst);
}

namespace {
/* rows [m0, m0 + rows) of x (M x K raw bytes) into A in the representation `rep`, rows of Kp */
void copy_rows(const uint8_t *x, int64_t K, int64_t m0, int64_t rows, int64_t Kp, const ActRep &rep, void *A) {
  for (int64_t r = 0; r < rows; ++r) {
    const uint8_t *xr = x + (m0 + r) * K;
    if (rep.wide) {
      int16_t *a = static_cast<int16_t *>(A) + r * Kp;
      for (int64_t k = 0; k < K; ++k) a[k] = static_cast<int16_t>(static_cast<uint8_t>(xr[k] ^ rep.flip));
      for (int64_t k = K; k < Kp; ++k) a[k] = 0;
    } else {
      uint8_t *a = static_cast<uint8_t *>(A) + r * Kp;
      for (int64_t k = 0; k < K; ++k) a[k] = static_cast<uint8_t>(xr[k] ^ rep.flip);
      for (int64_t k = K; k < Kp; ++k) a[k] = 0;
    }
  }
}
}  // namespace

void o2c_qgemm(const int8_t *in, const int8_t *weight, const int32_t *bias, const float *multiplier, int8_t *out,
               const dash_qgemm_params_t *p) {
  const int64_t M = p->M, N = p->N, K = p->K;
  Scratch<uint8_t> tmp;
  const Packed pk = p->trans_b ? weights_of(p->packed, weight, 1, N, K, 0, K, 1, tmp)
                               : weights_of(p->packed, weight, 1, N, K, 0, 1, N, tmp);
  const QLayout &l = pk.l;
  const QGroup grp = group_of(pk.base, l, 0);
  const ActRep rep = act_rep(l.mode, !p->in_unsigned, p->in_zero);
  const Requant q = requant_of(p->out_zero, p->out_unsigned, p->relu, p->out_int32);
  Scratch<uint8_t> A(static_cast<size_t>(ROWS * l.Kp * (rep.wide ? 2 : 1)));
  Scratch<int32_t> C(static_cast<size_t>(ROWS * l.Npad));
  Scratch<int32_t> comp(static_cast<size_t>(N));
  compensation(bias, rep.zero, grp, comp.get());
  const uint8_t *x = reinterpret_cast<const uint8_t *>(in);
  for (int64_t m0 = 0; m0 < M; m0 += ROWS) {
    const int64_t rows = std::min(ROWS, M - m0);
    copy_rows(x, K, m0, rows, l.Kp, rep, A.get());
    product(A.get(), rows, grp, C.get());
    requantize(C.get(), l.Npad, rows, N, comp.get(), multiplier, q, p->out_unsigned,
               reinterpret_cast<uint8_t *>(out) + m0 * N * (q.raw ? 4 : 1), N, 1);
  }
}

/* Test hook: C (M x N, int32) = A (M x K, uint8) . W^T (W: N x K, int8) through this build's
 * micro-kernel, in the mode its packing picks for W; o2c_qgemm_path() names the micro-kernel (2 VNNI,
 * 1 AVX2, 0 portable), o2c_qgemm_mode(W, N, K) the AVX2 mode (0 wide, 1 sign, 2 pair; 0 elsewhere). */
void o2c_qgemm_s32(const uint8_t *A, const int8_t *W, int64_t M, int64_t N, int64_t K, int32_t *C) {
  Scratch<uint8_t> tmp;
  const Packed pk = weights_of(nullptr, W, 1, N, K, 0, K, 1, tmp);
  const QLayout &l = pk.l;
  const QGroup grp = group_of(pk.base, l, 0);
  const ActRep rep = act_rep(l.mode, false, 0); /* A as uint8 with zero point 0 */
  Scratch<uint8_t> a(static_cast<size_t>(ROWS * l.Kp * (rep.wide ? 2 : 1)));
  Scratch<int32_t> c(static_cast<size_t>(ROWS * l.Npad));
  Scratch<int32_t> comp(static_cast<size_t>(N));
  compensation(nullptr, rep.zero, grp, comp.get()); /* QM_SIGN: A enters as A - 128, + 128 * sum w */
  for (int64_t m0 = 0; m0 < M; m0 += ROWS) {
    const int64_t rows = std::min(ROWS, M - m0);
    copy_rows(A, K, m0, rows, l.Kp, rep, a.get());
    product(a.get(), rows, grp, c.get());
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t n = 0; n < N; ++n) C[(m0 + r) * N + n] = c.get()[r * l.Npad + n] + comp.get()[n];
  }
}

int o2c_qgemm_path(void) { return O2C_Q_PATH; }

int o2c_qgemm_mode(const int8_t *W, int64_t N, int64_t K) { return choose_mode(W, 1, N, K, 0, K, 1); }

} /* extern "C" */

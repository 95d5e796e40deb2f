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
 *   AVX2   (vpmaddwd on int16: 2 products per lane, exact, unlike vpmaddubsw's saturating pairs)
 *          weights widened to int16 in blocks of 8 channels x 2 k; 4 rows x 16 channels per tile;
 *   portable: the plain triple loop.
 * Weights are packed once at model load (o2c_qconv_pack / o2c_qgemm_pack, the params' `packed`),
 * or per call when `packed` is NULL or was made by a library of another layout.
 */
#include "internal.h"

#if O2C_HAVE_AVX512 && defined(__AVX512VNNI__) && defined(__AVX512BW__)
#define O2C_Q_PATH 2
#elif O2C_HAVE_AVX2
#define O2C_Q_PATH 1
#else
#define O2C_Q_PATH 0
#endif

namespace {

using o2c::detail::Scratch;

/* WElem: the packed weights' element; AElem: the activation rows' (uint8, or widened to int16 for
 * vpmaddwd so that a pair is one 32-bit broadcast from memory) */
#if O2C_Q_PATH == 2
constexpr int64_t NB = 16, KP = 4;
typedef int8_t WElem;
typedef uint8_t AElem;
#elif O2C_Q_PATH == 1
constexpr int64_t NB = 8, KP = 2;
typedef int16_t WElem;
typedef int16_t AElem;
#else
constexpr int64_t NB = 1, KP = 1;
typedef int8_t WElem;
typedef uint8_t AElem;
#endif
constexpr uint32_t QPACK_MAGIC = 0x51433230u; /* "02CQ" */
constexpr int64_t QPACK_LAYOUT = O2C_Q_PATH | (NB << 4) | (KP << 12);
constexpr int64_t ROWS = 64; /* rows (pixels) per chunk: im2col / copy, product, requantize */

inline int64_t round_up(int64_t v, int64_t m) { return (v + m - 1) / m * m; }

struct QPackHeader {
  uint32_t magic, pad;
  int64_t layout, G, N, K;
};
static_assert(sizeof(QPackHeader) <= 64, "header fits its 64 bytes");

/* One group's packed weights: wsum[Npad] int32 (sum over k of w, for the zero point), then the
 * blocks: [Npad/NB][Kp/KP][NB][KP] of WElem (zeros beyond N and K). */
struct QGroup {
  int64_t N, K, Kp, Npad;
  const int32_t *wsum;
  const WElem *w;
};

struct QLayout {
  int64_t N, K, Kp, Npad, wsum_bytes, group_bytes;
};

QLayout qlayout(int64_t N, int64_t K) {
  QLayout l;
  l.N = N;
  l.K = K;
  l.Kp = round_up(K, KP);
  l.Npad = round_up(N, NB);
  l.wsum_bytes = round_up(l.Npad * 4, 64);
  l.group_bytes = l.wsum_bytes + round_up(l.Npad * l.Kp * static_cast<int64_t>(sizeof(WElem)), 64);
  return l;
}

/* w(n, k) of one group: weight[n * sn + k * sk] */
void pack_group(const int8_t *weight, int64_t sn, int64_t sk, const QLayout &l, uint8_t *dst) {
  int32_t *wsum = reinterpret_cast<int32_t *>(dst);
  WElem *w = reinterpret_cast<WElem *>(dst + l.wsum_bytes);
  std::memset(dst, 0, static_cast<size_t>(l.group_bytes));
  for (int64_t n = 0; n < l.N; ++n) {
    int32_t s = 0;
    const int64_t blk = n / NB, lane = n % NB;
    for (int64_t k = 0; k < l.K; ++k) {
      const int8_t v = weight[n * sn + k * sk];
      s += v;
      w[((blk * (l.Kp / KP) + k / KP) * NB + lane) * KP + k % KP] = v;
    }
    wsum[n] = s;
  }
}

QGroup group_of(const uint8_t *base, const QLayout &l, int64_t g) {
  const uint8_t *p = base + g * l.group_bytes;
  return {l.N, l.K, l.Kp, l.Npad, reinterpret_cast<const int32_t *>(p), reinterpret_cast<const WElem *>(p + l.wsum_bytes)};
}

/* ---- C[r][n] (r < rows, n < Npad; ldc = Npad) = sum_k A[r][k] * w(n, k), A rows of Kp bytes ---- */
#if O2C_Q_PATH == 2
template <int R, int NBK>
void tile(const AElem *A, int64_t Kp, const WElem *W, int64_t blk_stride, int32_t *C, int64_t ldc) {
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
constexpr int TR = 8;
#elif O2C_Q_PATH == 1
/* one row of NBK blocks (the remainder rows) */
template <int R, int NBK>
void tile(const AElem *A, int64_t Kp, const WElem *W, int64_t blk_stride, int32_t *C, int64_t ldc) {
  static_assert(R == 1, "the 4-row tile is tile4");
  (void)ldc;
  __m256i acc[NBK];
  for (int j = 0; j < NBK; ++j) acc[j] = _mm256_setzero_si256();
  for (int64_t k = 0; k < Kp / 2; ++k) {
    int32_t a2;
    std::memcpy(&a2, A + 2 * k, 4);
    const __m256i av = _mm256_set1_epi32(a2);
    for (int j = 0; j < NBK; ++j)
      acc[j] = _mm256_add_epi32(acc[j], _mm256_madd_epi16(av, _mm256_loadu_si256(
                                                              reinterpret_cast<const __m256i *>(W + j * blk_stride + k * 16))));
  }
  for (int j = 0; j < NBK; ++j) _mm256_storeu_si256(reinterpret_cast<__m256i *>(C + j * 8), acc[j]);
}

/* 6 rows x 2 blocks of 8 channels: 12 accumulators in named registers (an array of them gets spilled) */
inline void tile6(const AElem *A, int64_t Kp, const WElem *W, int64_t blk_stride, int nbk, int32_t *C, int64_t ldc) {
  __m256i c00 = _mm256_setzero_si256(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00,
          c40 = c00, c41 = c00, c50 = c00, c51 = c00;
  const WElem *w1p = W + (nbk > 1 ? blk_stride : 0);
  const int32_t *a = reinterpret_cast<const int32_t *>(A); /* pairs of int16 */
  const int64_t s = Kp / 2;
  for (int64_t k = 0; k < s; ++k) {
    const __m256i w0 = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(W + k * 16));
    const __m256i w1 = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(w1p + k * 16));
#define O2C_QROW(r, x0, x1)                                                  \
  {                                                                          \
    const __m256i av = _mm256_set1_epi32(a[(r) * s + k]);                    \
    x0 = _mm256_add_epi32(x0, _mm256_madd_epi16(av, w0));                    \
    x1 = _mm256_add_epi32(x1, _mm256_madd_epi16(av, w1));                    \
  }
    O2C_QROW(0, c00, c01)
    O2C_QROW(1, c10, c11)
    O2C_QROW(2, c20, c21)
    O2C_QROW(3, c30, c31)
    O2C_QROW(4, c40, c41)
    O2C_QROW(5, c50, c51)
#undef O2C_QROW
  }
  __m256i *c = reinterpret_cast<__m256i *>(C);
  const int64_t l8 = ldc / 8;
  const __m256i first[6] = {c00, c10, c20, c30, c40, c50}, second[6] = {c01, c11, c21, c31, c41, c51};
  for (int r = 0; r < 6; ++r) {
    _mm256_storeu_si256(c + r * l8, first[r]);
    if (nbk > 1) _mm256_storeu_si256(c + r * l8 + 1, second[r]);
  }
}
constexpr int TR = 6;
#else
template <int R, int NBK>
void tile(const AElem *A, int64_t Kp, const WElem *W, int64_t blk_stride, int32_t *C, int64_t ldc) {
  /* NB = KP = 1: W is n-major, one row of Kp weights per channel */
  for (int r = 0; r < R; ++r)
    for (int j = 0; j < NBK; ++j) {
      const WElem *w = W + j * blk_stride;
      int32_t s = 0;
      for (int64_t k = 0; k < Kp; ++k) s += static_cast<int32_t>(A[r * Kp + k]) * w[k];
      C[r * ldc + j] = s;
    }
}
constexpr int TR = 4;
#endif

template <int R>
void tile_row(const AElem *A, const QGroup &g, int32_t *C) {
  const int64_t blk_stride = (g.Kp / KP) * NB * KP;
  const int64_t nblk = g.Npad / NB;
  int64_t j = 0;
#if O2C_Q_PATH == 1
  if constexpr (R == 6) {
    for (; j < nblk; j += 2) tile6(A, g.Kp, g.w + j * blk_stride, blk_stride, nblk - j > 1 ? 2 : 1, C + j * NB, g.Npad);
    return;
  }
#endif
  if constexpr (O2C_Q_PATH != 1 || R == 1) {
    for (; j + 2 <= nblk; j += 2) tile<R, 2>(A, g.Kp, g.w + j * blk_stride, blk_stride, C + j * NB, g.Npad);
    if (j < nblk) tile<R, 1>(A, g.Kp, g.w + j * blk_stride, blk_stride, C + j * NB, g.Npad);
  }
}

void product(const AElem *A, int64_t rows, const QGroup &g, int32_t *C) {
  int64_t r = 0;
  for (; r + TR <= rows; r += TR) tile_row<TR>(A + r * g.Kp, g, C + r * g.Npad);
  for (; r < rows; ++r) tile_row<1>(A + r * g.Kp, g, C + r * g.Npad);
}

struct Requant {
  int32_t zy, lo, hi;
};

Requant requant_of(int32_t out_zero, int32_t out_unsigned, int32_t relu) {
  Requant q;
  q.zy = out_zero;
  q.lo = out_unsigned ? 0 : -128;
  q.hi = out_unsigned ? 255 : 127;
  if (relu) q.lo = std::max(q.lo, out_zero);
  return q;
}

/* out[r * sr + n * sn] for r < rows, n < N: saturate(round_half_even(float(C + comp) * mult) + zy);
 * the loop runs along the output's unit stride */
template <typename O>
void requantize_as(const int32_t *C, int64_t ldc, int64_t rows, int64_t N, const int32_t *comp, const float *mult,
                   const Requant &q, O *out, int64_t sr, int64_t sn) {
  auto one = [&](int64_t r, int64_t n) {
    const float f = static_cast<float>(C[r * ldc + n] + comp[n]) * mult[n];
    const int32_t v = static_cast<int32_t>(std::nearbyint(f)) + q.zy;
    out[r * sr + n * sn] = static_cast<O>(std::min(std::max(v, q.lo), q.hi));
  };
  if (sn == 1) {
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t n = 0; n < N; ++n) one(r, n);
  } else {
    for (int64_t n = 0; n < N; ++n)
      for (int64_t r = 0; r < rows; ++r) one(r, n);
  }
}

void requantize(const int32_t *C, int64_t ldc, int64_t rows, int64_t N, const int32_t *comp, const float *mult,
                const Requant &q, bool out_unsigned, void *out, int64_t sr, int64_t sn) {
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
const uint8_t *valid_pack(const void *packed, int64_t G, int64_t N, int64_t K) {
  if (!packed) return nullptr;
  const QPackHeader *h = static_cast<const QPackHeader *>(packed);
  if (h->magic != QPACK_MAGIC || h->layout != QPACK_LAYOUT || h->G != G || h->N != N || h->K != K) return nullptr;
  return static_cast<const uint8_t *>(packed) + 64;
}

size_t pack_bytes(int64_t G, int64_t N, int64_t K) { return 64 + static_cast<size_t>(G * qlayout(N, K).group_bytes); }

/* weight(g, n, k) = weight[g * sg + n * sn + k * sk] */
void pack_all(const int8_t *weight, int64_t G, int64_t N, int64_t K, int64_t sg, int64_t sn, int64_t sk, void *dst) {
  QPackHeader h{};
  h.magic = QPACK_MAGIC;
  h.layout = QPACK_LAYOUT;
  h.G = G;
  h.N = N;
  h.K = K;
  std::memset(dst, 0, 64);
  std::memcpy(dst, &h, sizeof h);
  const QLayout l = qlayout(N, K);
  uint8_t *base = static_cast<uint8_t *>(dst) + 64;
  for (int64_t g = 0; g < G; ++g) pack_group(weight + g * sg, sn, sk, l, base + g * l.group_bytes);
}

/* the packed weights to use: the params' buffer when it fits, else `tmp` filled now */
const uint8_t *weights_of(const void *packed, const int8_t *weight, int64_t G, int64_t N, int64_t K, int64_t sg,
                          int64_t sn, int64_t sk, Scratch<uint8_t> &tmp) {
  if (const uint8_t *p = valid_pack(packed, G, N, K)) return p;
  tmp.reset(pack_bytes(G, N, K));
  pack_all(weight, G, N, K, sg, sn, sk, tmp.get());
  return tmp.get() + 64;
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

template <int KW> /* the innermost kernel extent when known at compile time (0: g.k[2]) */
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

}  // namespace

extern "C" {

size_t o2c_qconv_packed_bytes(const dash_qconv_params_t *p) {
  const dash_conv_params_t *c = &p->conv;
  const int64_t G = c->groups > 0 ? c->groups : 1;
  ConvGeo g;
  if (!conv_geo(c, g)) return 0;
  return pack_bytes(G, c->out_channels / G, c->in_channels / G * g.k_sp);
}

void o2c_qconv_pack(const int8_t *weight, const dash_qconv_params_t *p, void *dst) {
  const dash_conv_params_t *c = &p->conv;
  const int64_t G = c->groups > 0 ? c->groups : 1;
  ConvGeo g;
  if (!dst || !conv_geo(c, g)) return;
  const int64_t N = c->out_channels / G, K = c->in_channels / G * g.k_sp;
  pack_all(weight, G, N, K, N * K, K, 1, dst);
}

void o2c_qconv(const int8_t *in, const int8_t *weight, const int32_t *bias, const float *multiplier, int8_t *out,
               const dash_qconv_params_t *p) {
  const dash_conv_params_t *c = &p->conv;
  ConvGeo geo;
  if (!conv_geo(c, geo)) return;
  const int64_t G = c->groups > 0 ? c->groups : 1;
  const int64_t Cg = c->in_channels / G, N = c->out_channels / G, K = Cg * geo.k_sp;
  Scratch<uint8_t> tmp;
  const uint8_t *packed = weights_of(p->packed, weight, G, N, K, N * K, K, 1, tmp);
  const QLayout l = qlayout(N, K);
  const bool sgn = !p->in_unsigned;
  const int32_t zxu = p->in_zero + (sgn ? 128 : 0);
  const Requant q = requant_of(p->out_zero, p->out_unsigned, p->relu);
  Scratch<AElem> A(static_cast<size_t>(ROWS * l.Kp));
  Scratch<int32_t> C(static_cast<size_t>(ROWS * l.Npad));
  Scratch<int32_t> comp(static_cast<size_t>(N));
  Scratch<int64_t> wrows(static_cast<size_t>(Cg * geo.k[0] * geo.k[1]));
  const uint8_t *x = reinterpret_cast<const uint8_t *>(in);
  uint8_t *y = reinterpret_cast<uint8_t *>(out);
  for (int64_t g = 0; g < G; ++g) {
    const QGroup grp = group_of(packed, l, g);
    compensation(bias ? bias + g * N : nullptr, zxu, grp, comp.get());
    window_rows(geo, g * Cg, Cg, wrows.get());
    for (int64_t b = 0; b < c->batch; ++b) {
      const uint8_t *xb = x + b * c->in_channels * geo.in_sp;
      uint8_t *yb = y + (b * c->out_channels + g * N) * geo.out_sp;
      for (int64_t p0 = 0; p0 < geo.out_sp; p0 += ROWS) {
        const int64_t rows = std::min(ROWS, geo.out_sp - p0);
        const uint8_t flip = sgn ? 0x80 : 0;
        const AElem pad = static_cast<AElem>(zxu);
        const int64_t *wr = wrows.get();
        switch (geo.k[2]) {
          case 3: im2col_q<3>(xb, flip, pad, geo, g * Cg, Cg, p0, rows, l.Kp, wr, A.get()); break;
          case 5: im2col_q<5>(xb, flip, pad, geo, g * Cg, Cg, p0, rows, l.Kp, wr, A.get()); break;
          default: im2col_q<0>(xb, flip, pad, geo, g * Cg, Cg, p0, rows, l.Kp, wr, A.get());
        }
        product(A.get(), rows, grp, C.get());
        requantize(C.get(), l.Npad, rows, N, comp.get(), multiplier + g * N, q, p->out_unsigned, yb + p0, 1,
                   geo.out_sp);
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

void o2c_qgemm(const int8_t *in, const int8_t *weight, const int32_t *bias, const float *multiplier, int8_t *out,
               const dash_qgemm_params_t *p) {
  const int64_t M = p->M, N = p->N, K = p->K;
  Scratch<uint8_t> tmp;
  const uint8_t *packed = p->trans_b ? weights_of(p->packed, weight, 1, N, K, 0, K, 1, tmp)
                                     : weights_of(p->packed, weight, 1, N, K, 0, 1, N, tmp);
  const QLayout l = qlayout(N, K);
  const QGroup grp = group_of(packed, l, 0);
  const uint8_t flip = p->in_unsigned ? 0 : 0x80;
  const int32_t zxu = p->in_zero + (flip ? 128 : 0);
  const Requant q = requant_of(p->out_zero, p->out_unsigned, p->relu);
  Scratch<AElem> A(static_cast<size_t>(ROWS * l.Kp));
  Scratch<int32_t> C(static_cast<size_t>(ROWS * l.Npad));
  Scratch<int32_t> comp(static_cast<size_t>(N));
  compensation(bias, zxu, grp, comp.get());
  const uint8_t *x = reinterpret_cast<const uint8_t *>(in);
  for (int64_t m0 = 0; m0 < M; m0 += ROWS) {
    const int64_t rows = std::min(ROWS, M - m0);
    for (int64_t r = 0; r < rows; ++r) {
      AElem *a = A.get() + r * l.Kp;
      const uint8_t *xr = x + (m0 + r) * K;
      for (int64_t k = 0; k < K; ++k) a[k] = static_cast<AElem>(xr[k] ^ flip);
      for (int64_t k = K; k < l.Kp; ++k) a[k] = 0;
    }
    product(A.get(), rows, grp, C.get());
    requantize(C.get(), l.Npad, rows, N, comp.get(), multiplier, q, p->out_unsigned,
               reinterpret_cast<uint8_t *>(out) + m0 * N, N, 1);
  }
}

/* Test hook: C (M x N, int32) = A (M x K, uint8) . W^T (W: N x K, int8) through this build's
 * micro-kernel; o2c_qgemm_path() names it (2 VNNI, 1 AVX2, 0 portable). */
void o2c_qgemm_s32(const uint8_t *A, const int8_t *W, int64_t M, int64_t N, int64_t K, int32_t *C) {
  Scratch<uint8_t> tmp;
  const uint8_t *packed = weights_of(nullptr, W, 1, N, K, 0, K, 1, tmp);
  const QLayout l = qlayout(N, K);
  const QGroup grp = group_of(packed, l, 0);
  Scratch<AElem> a(static_cast<size_t>(ROWS * l.Kp));
  Scratch<int32_t> c(static_cast<size_t>(ROWS * l.Npad));
  for (int64_t m0 = 0; m0 < M; m0 += ROWS) {
    const int64_t rows = std::min(ROWS, M - m0);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t k = 0; k < l.Kp; ++k) a.get()[r * l.Kp + k] = k < K ? A[(m0 + r) * K + k] : 0;
    product(a.get(), rows, grp, c.get());
    for (int64_t r = 0; r < rows; ++r) std::memcpy(C + (m0 + r) * N, c.get() + r * l.Npad, static_cast<size_t>(N) * 4);
  }
}

int o2c_qgemm_path(void) { return O2C_Q_PATH; }

} /* extern "C" */

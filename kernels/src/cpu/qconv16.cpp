/*
 * qconv16.cpp - 16-bit integer convolution and GEMM (o2c_qconv16, o2c_qgemm16: DASH_QCONV_i16,
 * DASH_QGEMM_i16) for int16 QDQ models.
 *
 * int16/uint16 activations x int16 weights (zero point 0), then requantized per output channel:
 *   acc = bias[n] + sum (x - zx) * w                                   (exact, int64)
 *   y   = saturate(round_half_even(double(acc) * multiplier[n]) + zy)  (int16 or uint16)
 * Exactness: |x - zx| <= 65535 and |w| <= 32768, so one product is below 2^31 in magnitude and a
 * sum of KB = 2^21 of them below 2^52. The products are summed in double (53-bit significand):
 * every product and partial sum is an integer below 2^53, hence exact, with or without fused
 * multiply-adds; after each block of KB taps the sums move to int64. (int32 accumulation would
 * overflow: a single pair of full-range products already reaches 2^31.)
 * The double datapath: with AVX2+FMA a tile of 4 rows x 8 channels in 8 registers, 4 multiply-adds
 * per vfmadd231pd (vpmaddwd does 16, but its int32 pair sums would need widening to int64 every
 * pair); other builds run the same tile as plain loops.
 *
 * Weights are packed once at model load (o2c_qconv16_pack / o2c_qgemm16_pack through the params'
 * `packed`): as doubles, K x Npad per group (Npad = N rounded up to 8), after a header naming the
 * shape; a buffer whose header does not match is ignored and the weights are packed per call.
 */
#include "internal.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace {

using o2c::detail::Scratch;

constexpr int64_t ROWS = 64; /* output rows (pixels) per chunk */
constexpr int64_t TR = 4, TN = 8;
constexpr int64_t KB = int64_t(1) << 21; /* taps summed in double before moving to int64 */
constexpr uint32_t PACK16_MAGIC = 0x51313630u;

struct PackHead {
  uint32_t magic, pad;
  int64_t G, N, K, Npad;
  int64_t reserved[3];
};
static_assert(sizeof(PackHead) == 64, "PackHead is one cache line");

int64_t npad_of(int64_t N) { return (N + TN - 1) / TN * TN; }

size_t pack_bytes(int64_t G, int64_t N, int64_t K) {
  return sizeof(PackHead) + static_cast<size_t>(G * K * npad_of(N)) * sizeof(double);
}

/* dst: the header, then per group g: W[k][n] = weight(g, n, k) as double, zero for n >= N.
 * weight(g, n, k) = w[g * gs + n * ns + k * ks] */
void pack(const int16_t *w, int64_t G, int64_t N, int64_t K, int64_t gs, int64_t ns, int64_t ks, void *dst) {
  PackHead h{};
  h.magic = PACK16_MAGIC;
  h.G = G, h.N = N, h.K = K, h.Npad = npad_of(N);
  std::memcpy(dst, &h, sizeof h);
  double *W = reinterpret_cast<double *>(static_cast<uint8_t *>(dst) + sizeof(PackHead));
  for (int64_t g = 0; g < G; ++g)
    for (int64_t k = 0; k < K; ++k) {
      double *row = W + (g * K + k) * h.Npad;
      for (int64_t n = 0; n < h.Npad; ++n) row[n] = n < N ? static_cast<double>(w[g * gs + n * ns + k * ks]) : 0.0;
    }
}

/* the packed weights: `packed` when its header matches, else packed into tmp */
const double *weights_of(const void *packed, const int16_t *w, int64_t G, int64_t N, int64_t K, int64_t gs,
                         int64_t ns, int64_t ks, Scratch<uint8_t> &tmp) {
  if (packed) {
    PackHead h;
    std::memcpy(&h, packed, sizeof h);
    if (h.magic == PACK16_MAGIC && h.G == G && h.N == N && h.K == K && h.Npad == npad_of(N))
      return reinterpret_cast<const double *>(static_cast<const uint8_t *>(packed) + sizeof(PackHead));
  }
  tmp.reset(pack_bytes(G, N, K));
  pack(w, G, N, K, gs, ns, ks, tmp.get());
  return reinterpret_cast<const double *>(tmp.get() + sizeof(PackHead));
}

/* C (rows x Npad, int64; rows a multiple of TR) = A (rows x K, doubles) . W (K x Npad) */
void product(const double *A, int64_t rows, int64_t K, const double *W, int64_t Npad, int64_t *C) {
  for (int64_t r0 = 0; r0 < rows; r0 += TR)
    for (int64_t n0 = 0; n0 < Npad; n0 += TN) {
      int64_t acc[TR][TN] = {};
      for (int64_t k0 = 0; k0 < K; k0 += KB) {
        const int64_t k1 = std::min(K, k0 + KB);
        double t[TR][TN] = {};
#if O2C_HAVE_AVX2
        static_assert(TR == 4 && TN == 8, "the AVX2 tile is 4 rows x 8 channels");
        __m256d c00 = _mm256_setzero_pd(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00,
                c31 = c00;
        const double *a0 = A + r0 * K, *a1 = a0 + K, *a2 = a1 + K, *a3 = a2 + K;
        for (int64_t k = k0; k < k1; ++k) {
          const double *w = W + k * Npad + n0;
          const __m256d w0 = _mm256_loadu_pd(w), w1 = _mm256_loadu_pd(w + 4);
          __m256d a = _mm256_broadcast_sd(a0 + k);
          c00 = _mm256_fmadd_pd(a, w0, c00), c01 = _mm256_fmadd_pd(a, w1, c01);
          a = _mm256_broadcast_sd(a1 + k);
          c10 = _mm256_fmadd_pd(a, w0, c10), c11 = _mm256_fmadd_pd(a, w1, c11);
          a = _mm256_broadcast_sd(a2 + k);
          c20 = _mm256_fmadd_pd(a, w0, c20), c21 = _mm256_fmadd_pd(a, w1, c21);
          a = _mm256_broadcast_sd(a3 + k);
          c30 = _mm256_fmadd_pd(a, w0, c30), c31 = _mm256_fmadd_pd(a, w1, c31);
        }
        _mm256_storeu_pd(t[0], c00), _mm256_storeu_pd(t[0] + 4, c01), _mm256_storeu_pd(t[1], c10);
        _mm256_storeu_pd(t[1] + 4, c11), _mm256_storeu_pd(t[2], c20), _mm256_storeu_pd(t[2] + 4, c21);
        _mm256_storeu_pd(t[3], c30), _mm256_storeu_pd(t[3] + 4, c31);
#else
        for (int64_t k = k0; k < k1; ++k) {
          const double *w = W + k * Npad + n0;
          for (int64_t i = 0; i < TR; ++i) {
            const double a = A[(r0 + i) * K + k];
            for (int64_t j = 0; j < TN; ++j) t[i][j] += a * w[j];
          }
        }
#endif
        for (int64_t i = 0; i < TR; ++i)
          for (int64_t j = 0; j < TN; ++j) acc[i][j] += static_cast<int64_t>(t[i][j]);
      }
      for (int64_t i = 0; i < TR; ++i)
        for (int64_t j = 0; j < TN; ++j) C[(r0 + i) * Npad + n0 + j] = acc[i][j];
    }
}

struct Requant16 {
  int32_t zy, lo, hi;
  bool is_unsigned, raw;
};

Requant16 requant_of(const dash_qconv_params_t *p) {
  Requant16 q{p->out_zero, p->out_unsigned ? 0 : -32768, p->out_unsigned ? 65535 : 32767, p->out_unsigned != 0,
              p->out_int32 != 0};
  if (p->relu) q.lo = std::max(q.lo, q.zy);
  return q;
}

/* out[r * sr + n * sn] for r < rows, n < N, from C (rows x ldc) */
void requantize(const int64_t *C, int64_t ldc, int64_t rows, int64_t N, const int32_t *bias, const float *mult,
                const Requant16 &q, void *out, int64_t sr, int64_t sn) {
  constexpr double kBig = 1099511627776.0; /* 2^40: far outside any 16-bit result, inside int64 */
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t n = 0; n < N; ++n) {
      const int64_t acc = C[r * ldc + n] + (bias ? bias[n] : 0);
      const int64_t at = r * sr + n * sn;
      if (q.raw) { /* the accumulators themselves, saturated to int32 */
        static_cast<int32_t *>(out)[at] =
            static_cast<int32_t>(std::min<int64_t>(std::max<int64_t>(acc, INT32_MIN), INT32_MAX));
        continue;
      }
      const double f = std::min(std::max(static_cast<double>(acc) * static_cast<double>(mult[n]), -kBig), kBig);
      const int64_t v = std::min<int64_t>(std::max<int64_t>(static_cast<int64_t>(std::nearbyint(f)) + q.zy, q.lo), q.hi);
      if (q.is_unsigned)
        static_cast<uint16_t *>(out)[at] = static_cast<uint16_t>(v);
      else
        static_cast<int16_t *>(out)[at] = static_cast<int16_t>(v);
    }
}

inline int32_t load16(const int16_t *x, int64_t i, bool is_unsigned) {
  return is_unsigned ? static_cast<int32_t>(reinterpret_cast<const uint16_t *>(x)[i]) : static_cast<int32_t>(x[i]);
}

struct Geo {
  int64_t in[3], out[3], k[3], s[3], d[3], pb[3];
  int64_t in_sp, out_sp, k_sp;
};

bool geo_of(const dash_conv_params_t *c, Geo &g) {
  if (c->spatial_rank < 1 || c->spatial_rank > 3) return false;
  g.in_sp = g.out_sp = g.k_sp = 1;
  for (int i = 0; i < 3; ++i) {
    const bool used = i < c->spatial_rank;
    g.in[i] = used ? c->in_size[i] : 1;
    g.out[i] = used ? c->out_size[i] : 1;
    g.k[i] = used ? c->kernel[i] : 1;
    g.s[i] = used ? c->stride[i] : 1;
    g.d[i] = used ? c->dilation[i] : 1;
    g.pb[i] = used ? c->pad_begin[i] : 0;
    if (g.in[i] < 1 || g.out[i] < 1 || g.k[i] < 1 || g.s[i] < 1 || g.d[i] < 1) return false;
    g.in_sp *= g.in[i], g.out_sp *= g.out[i], g.k_sp *= g.k[i];
  }
  const int64_t G = c->groups > 0 ? c->groups : 1;
  return c->in_channels % G == 0 && c->out_channels % G == 0;
}

/* A[r][ch * k_sp + tap] = x - zx for output pixels [p0, p0 + rows) (zero at the padding, which reads
 * the zero point); toff: each tap's offset from its window's first element. Windows entirely inside
 * the image read through toff, the others tap by tap with bounds checks. */
template <bool U>
void im2col16(const int16_t *xb, const Geo &geo, int64_t Cg, int32_t zx, int64_t p0, int64_t rows,
              const int64_t *toff, double *A) {
  const int64_t ksp = geo.k_sp, K = Cg * ksp, in_sp = geo.in_sp;
  const int64_t o1n = geo.out[1], o2n = geo.out[2], in0 = geo.in[0], in1 = geo.in[1], in2 = geo.in[2];
  const int64_t span0 = (geo.k[0] - 1) * geo.d[0], span1 = (geo.k[1] - 1) * geo.d[1], span2 = (geo.k[2] - 1) * geo.d[2];
  auto ld = [xb](int64_t i) -> double {
    return static_cast<double>((U ? static_cast<int32_t>(reinterpret_cast<const uint16_t *>(xb)[i])
                                  : static_cast<int32_t>(xb[i])));
  };
  const double z = static_cast<double>(zx);
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t pix = p0 + r;
    const int64_t o2 = pix % o2n, o1 = (pix / o2n) % o1n, o0 = pix / (o2n * o1n);
    const int64_t b0 = o0 * geo.s[0] - geo.pb[0], b1 = o1 * geo.s[1] - geo.pb[1], b2 = o2 * geo.s[2] - geo.pb[2];
    double *a = A + r * K;
    if (b0 >= 0 && b0 + span0 < in0 && b1 >= 0 && b1 + span1 < in1 && b2 >= 0 && b2 + span2 < in2) {
      const int64_t base = (b0 * in1 + b1) * in2 + b2;
      for (int64_t ch = 0; ch < Cg; ++ch) {
        const int64_t at = ch * in_sp + base;
        double *ac = a + ch * ksp;
        for (int64_t t = 0; t < ksp; ++t) ac[t] = ld(at + toff[t]) - z;
      }
      continue;
    }
    int64_t tap = 0;
    for (int64_t k0 = 0; k0 < geo.k[0]; ++k0) {
      const int64_t i0 = b0 + k0 * geo.d[0];
      for (int64_t k1 = 0; k1 < geo.k[1]; ++k1) {
        const int64_t i1 = b1 + k1 * geo.d[1];
        for (int64_t k2 = 0; k2 < geo.k[2]; ++k2, ++tap) {
          const int64_t i2 = b2 + k2 * geo.d[2];
          const bool in = i0 >= 0 && i0 < in0 && i1 >= 0 && i1 < in1 && i2 >= 0 && i2 < in2;
          const int64_t off = (i0 * in1 + i1) * in2 + i2;
          for (int64_t ch = 0; ch < Cg; ++ch) a[ch * ksp + tap] = in ? ld(ch * in_sp + off) - z : 0.0;
        }
      }
    }
  }
}

}  // namespace

extern "C" {

size_t o2c_qconv16_packed_bytes(const dash_qconv_params_t *p) {
  const dash_conv_params_t *c = &p->conv;
  Geo g;
  if (!geo_of(c, g)) return 0;
  const int64_t G = c->groups > 0 ? c->groups : 1;
  return pack_bytes(G, c->out_channels / G, c->in_channels / G * g.k_sp);
}

void o2c_qconv16_pack(const int16_t *weight, const dash_qconv_params_t *p, void *dst) {
  const dash_conv_params_t *c = &p->conv;
  Geo g;
  if (!dst || !geo_of(c, g)) return;
  const int64_t G = c->groups > 0 ? c->groups : 1, N = c->out_channels / G, K = c->in_channels / G * g.k_sp;
  pack(weight, G, N, K, N * K, K, 1, dst);
}

void o2c_qconv16(const int16_t *in, const int16_t *weight, const int32_t *bias, const float *multiplier,
                 int16_t *out, const dash_qconv_params_t *p) {
  const dash_conv_params_t *c = &p->conv;
  Geo geo;
  if (!geo_of(c, geo)) return;
  const int64_t G = c->groups > 0 ? c->groups : 1;
  const int64_t Cg = c->in_channels / G, N = c->out_channels / G, K = Cg * geo.k_sp, Npad = npad_of(N);
  Scratch<uint8_t> tmp;
  const double *W = weights_of(p->packed, weight, G, N, K, N * K, K, 1, tmp);
  const Requant16 q = requant_of(p);
  const bool xu = p->in_unsigned != 0;
  const int32_t zx = p->in_zero;
  const int64_t osz = q.raw ? 4 : 2;
  const int64_t nchunks = (geo.out_sp + ROWS - 1) / ROWS, ntasks = c->batch * G * nchunks;
  Scratch<int64_t> toff(static_cast<size_t>(geo.k_sp));
  for (int64_t k0 = 0, t = 0; k0 < geo.k[0]; ++k0)
    for (int64_t k1 = 0; k1 < geo.k[1]; ++k1)
      for (int64_t k2 = 0; k2 < geo.k[2]; ++k2)
        toff.get()[t++] = (k0 * geo.d[0] * geo.in[1] + k1 * geo.d[1]) * geo.in[2] + k2 * geo.d[2];
  o2c::detail::parallel_for(ntasks, o2c::detail::current_threads(), [&](int64_t t, int) {
    const int64_t b = t / (G * nchunks), g = (t / nchunks) % G, p0 = (t % nchunks) * ROWS;
    const int64_t rows = std::min(ROWS, geo.out_sp - p0), rows_pad = (rows + TR - 1) / TR * TR;
    Scratch<double> A(static_cast<size_t>(rows_pad * K));
    Scratch<int64_t> C(static_cast<size_t>(rows_pad * Npad));
    std::memset(A.get() + rows * K, 0, static_cast<size_t>((rows_pad - rows) * K) * sizeof(double));
    const int16_t *xb = in + (b * c->in_channels + g * Cg) * geo.in_sp;
    if (xu)
      im2col16<true>(xb, geo, Cg, zx, p0, rows, toff.get(), A.get());
    else
      im2col16<false>(xb, geo, Cg, zx, p0, rows, toff.get(), A.get());
    product(A.get(), rows_pad, K, W + g * K * Npad, Npad, C.get());
    uint8_t *yb = reinterpret_cast<uint8_t *>(out) + ((b * c->out_channels + g * N) * geo.out_sp + p0) * osz;
    requantize(C.get(), Npad, rows, N, bias ? bias + g * N : nullptr, multiplier ? multiplier + g * N : nullptr, q, yb,
               1, geo.out_sp);
  });
}

size_t o2c_qgemm16_packed_bytes(const dash_qgemm_params_t *p) { return pack_bytes(1, p->N, p->K); }

void o2c_qgemm16_pack(const int16_t *weight, const dash_qgemm_params_t *p, void *dst) {
  if (!dst) return;
  if (p->trans_b)
    pack(weight, 1, p->N, p->K, 0, p->K, 1, dst);
  else
    pack(weight, 1, p->N, p->K, 0, 1, p->N, dst);
}

void o2c_qgemm16(const int16_t *in, const int16_t *weight, const int32_t *bias, const float *multiplier,
                 int16_t *out, const dash_qgemm_params_t *p) {
  const int64_t M = p->M, N = p->N, K = p->K, Npad = npad_of(N);
  Scratch<uint8_t> tmp;
  const double *W = p->trans_b ? weights_of(p->packed, weight, 1, N, K, 0, K, 1, tmp)
                               : weights_of(p->packed, weight, 1, N, K, 0, 1, N, tmp);
  dash_qconv_params_t qp{};
  qp.out_zero = p->out_zero, qp.out_unsigned = p->out_unsigned, qp.relu = p->relu, qp.out_int32 = p->out_int32;
  const Requant16 q = requant_of(&qp);
  const bool xu = p->in_unsigned != 0;
  const int64_t osz = q.raw ? 4 : 2, nchunks = (M + ROWS - 1) / ROWS;
  o2c::detail::parallel_for(nchunks, o2c::detail::current_threads(), [&](int64_t t, int) {
    const int64_t m0 = t * ROWS, rows = std::min(ROWS, M - m0), rows_pad = (rows + TR - 1) / TR * TR;
    Scratch<double> A(static_cast<size_t>(rows_pad * K));
    Scratch<int64_t> C(static_cast<size_t>(rows_pad * Npad));
    for (int64_t r = 0; r < rows_pad; ++r)
      for (int64_t k = 0; k < K; ++k)
        A.get()[r * K + k] = r < rows ? static_cast<double>(load16(in, (m0 + r) * K + k, xu) - p->in_zero) : 0.0;
    product(A.get(), rows_pad, K, W, Npad, C.get());
    requantize(C.get(), Npad, rows, N, bias, multiplier, q, reinterpret_cast<uint8_t *>(out) + m0 * N * osz, N, 1);
  });
}

} /* extern "C" */

/*
 * bgemm.cpp - binarized matrix product and convolution (o2c_bgemm / o2c_bconv: DASH_BGEMM_b1 /
 * DASH_BCONV_b1), XNOR / popcount.
 *
 * Bipolar operands: sign(x) = +1 for x >= 0, else -1, as one bit (1: +). For rows a (activations)
 * and w (weights) of K such values, packed 64 per word (bit k % 64 of word k / 64, zero beyond K):
 *   sum_k sign(a_k) sign(w_k) = (K - d) - d = K - 2 d,   d = popcount(a XOR w)
 * (d counts the positions where the signs differ; the zero padding bits never differ). Then
 *   out[m][n] = scale[n] * (K - 2 d) + bias[n].
 * The weights come bit-packed (the compiler packs them once, into the weights file: 1 bit each);
 * each activation row is binarized and packed here, once per call. The convolution packs the image
 * channels-last (C bits per pixel in ceil(C / 64) words), gathers one row of taps per output pixel
 * ((ky, kx) x those words: the weights' order; no padding, so every tap is real) and runs the same
 * product over rows whose words hold K = C * KH * KW real bits.
 *
 * Two popcount paths, chosen when the library is compiled, with identical (exact, integer) results:
 *   AVX2: 4 words per step: vpshufb on the two nibbles of each byte of a XOR w (a 16-entry table of
 *         bit counts), the byte counts summed into 64-bit lanes by vpsadbw; 4 output channels per
 *         pass over an activation row; the activations binarized 8 at a time (vcmpps + vmovmskps);
 *   portable: __builtin_popcountll per word.
 */
#include "internal.h"


#if O2C_HAVE_AVX2
#define O2C_B_PATH 1
#else
#define O2C_B_PATH 0
#endif

namespace {

inline int64_t words_of(int64_t K) { return (K + 63) / 64; }

/* Row x (K floats) -> bits (words_of(K) words), 1 where x >= 0 (NaN: 0). */
void pack_row(const float *x, int64_t K, uint64_t *bits) {
  const int64_t W = words_of(K);
  for (int64_t w = 0; w < W; ++w) {
    const float *p = x + w * 64;
    const int64_t n = K - w * 64 < 64 ? K - w * 64 : 64;
    uint64_t word = 0;
    int64_t k = 0;
#if O2C_B_PATH == 1
    const __m256 zero = _mm256_setzero_ps();
    for (; k + 8 <= n; k += 8) {
      const int m = _mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(p + k), zero, _CMP_GE_OQ));
      word |= static_cast<uint64_t>(static_cast<unsigned>(m)) << k;
    }
#endif
    for (; k < n; ++k) word |= static_cast<uint64_t>(p[k] >= 0.0f) << k;
    bits[w] = word;
  }
}

#if O2C_B_PATH == 1
/* popcount of each 64-bit lane of v, as 64-bit lane counts (vpshufb nibble table + vpsadbw) */
inline __m256i popcount_lanes(__m256i v) {
  const __m256i table = _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4,
                                         0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4);
  const __m256i low = _mm256_set1_epi8(0x0f);
  const __m256i lo = _mm256_shuffle_epi8(table, _mm256_and_si256(v, low));
  const __m256i hi = _mm256_shuffle_epi8(table, _mm256_and_si256(_mm256_srli_epi16(v, 4), low));
  return _mm256_sad_epu8(_mm256_add_epi8(lo, hi), _mm256_setzero_si256());
}

inline int64_t hsum64(__m256i v) {
  const __m128i s = _mm_add_epi64(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  return _mm_cvtsi128_si64(s) + _mm_extract_epi64(s, 1);
}
#endif

/* d[j] = popcount(a XOR w_j) for the channels j < nc (nc <= 4) whose bit rows start at w[j] */
void mismatches(const uint64_t *a, const uint64_t *const *w, int nc, int64_t W, int64_t *d) {
  int64_t i = 0;
  for (int j = 0; j < nc; ++j) d[j] = 0;
#if O2C_B_PATH == 1
  if (nc == 4) {
    __m256i acc0 = _mm256_setzero_si256(), acc1 = acc0, acc2 = acc0, acc3 = acc0;
    for (; i + 4 <= W; i += 4) {
      const __m256i av = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(a + i));
      auto x = [&](int j) {
        return popcount_lanes(_mm256_xor_si256(av, _mm256_loadu_si256(reinterpret_cast<const __m256i *>(w[j] + i))));
      };
      acc0 = _mm256_add_epi64(acc0, x(0));
      acc1 = _mm256_add_epi64(acc1, x(1));
      acc2 = _mm256_add_epi64(acc2, x(2));
      acc3 = _mm256_add_epi64(acc3, x(3));
    }
    d[0] = hsum64(acc0), d[1] = hsum64(acc1), d[2] = hsum64(acc2), d[3] = hsum64(acc3);
  } else {
    for (int j = 0; j < nc; ++j) {
      __m256i acc = _mm256_setzero_si256();
      int64_t t = 0;
      for (; t + 4 <= W; t += 4)
        acc = _mm256_add_epi64(acc, popcount_lanes(_mm256_xor_si256(
                                        _mm256_loadu_si256(reinterpret_cast<const __m256i *>(a + t)),
                                        _mm256_loadu_si256(reinterpret_cast<const __m256i *>(w[j] + t)))));
      d[j] = hsum64(acc);
    }
    i = W - W % 4;
  }
#endif
  for (; i < W; ++i)
    for (int j = 0; j < nc; ++j) d[j] += __builtin_popcountll(a[i] ^ w[j][i]);
}

/* C[m][n] = K - 2 popcount(abits[m] XOR wbits[n]), rows of W words (bits beyond the K real ones clear) */
template <class Emit>
void bipolar_product(const uint64_t *abits, const uint64_t *wbits, int64_t M, int64_t N, int64_t W, int64_t K,
                     Emit emit) {
  for (int64_t m = 0; m < M; ++m) {
    const uint64_t *a = abits + m * W;
    for (int64_t n = 0; n < N; n += 4) {
      const int nc = N - n < 4 ? static_cast<int>(N - n) : 4;
      const uint64_t *w[4];
      for (int j = 0; j < nc; ++j) w[j] = wbits + (n + j) * W;
      int64_t d[4];
      mismatches(a, w, nc, W, d);
      for (int j = 0; j < nc; ++j) emit(m, n + j, static_cast<int32_t>(K - 2 * d[j]));
    }
  }
}

}  // namespace

extern "C" {

void o2c_bgemm(const float *in, const uint64_t *weight, const float *scale, const float *bias, float *out,
               const dash_bgemm_params_t *p) {
  const int64_t M = p->M, N = p->N, K = p->K, W = words_of(K);
  o2c::detail::Scratch<uint64_t> abits(static_cast<size_t>(M * W > 0 ? M * W : 1));
  for (int64_t m = 0; m < M; ++m) pack_row(in + m * K, K, abits.get() + m * W);
  bipolar_product(abits.get(), weight, M, N, W, K, [&](int64_t m, int64_t n, int32_t dot) {
    const float y = static_cast<float>(dot) * scale[n];
    out[m * N + n] = bias ? y + bias[n] : y;
  });
}

void o2c_bconv(const float *in, const uint64_t *weight, const float *scale, const float *bias, float *out,
               const dash_bconv_params_t *p) {
  const int64_t C = p->in_channels, OC = p->out_channels, H = p->in_size[0], Wd = p->in_size[1];
  const int64_t OH = p->out_size[0], OW = p->out_size[1], KH = p->kernel[0], KW = p->kernel[1];
  const int64_t CW = words_of(C), RW = KH * KW * CW, P = OH * OW, K = C * KH * KW;
  o2c::detail::Scratch<uint64_t> px(static_cast<size_t>(H * Wd * CW > 0 ? H * Wd * CW : 1));
  o2c::detail::Scratch<uint64_t> rows(static_cast<size_t>(P * RW > 0 ? P * RW : 1));
  for (int64_t b = 0; b < p->batch; ++b) {
    /* the image channels-last, C bits per pixel (1: x >= 0) in CW words */
    const float *img = in + b * C * H * Wd;
    std::memset(px.get(), 0, sizeof(uint64_t) * static_cast<size_t>(H * Wd * CW));
    for (int64_t c = 0; c < C; ++c) {
      const uint64_t bit = uint64_t{1} << (c % 64);
      const float *plane = img + c * H * Wd;
      uint64_t *dst = px.get() + c / 64;
      for (int64_t i = 0; i < H * Wd; ++i)
        if (plane[i] >= 0.0f) dst[i * CW] |= bit;
    }
    /* one row of taps per output pixel: (ky, kx) x CW words, the weights' order */
    for (int64_t oy = 0; oy < OH; ++oy)
      for (int64_t ox = 0; ox < OW; ++ox) {
        uint64_t *row = rows.get() + (oy * OW + ox) * RW;
        for (int64_t ky = 0; ky < KH; ++ky)
          for (int64_t kx = 0; kx < KW; ++kx) {
            const int64_t y = oy * p->stride[0] + ky * p->dilation[0], x = ox * p->stride[1] + kx * p->dilation[1];
            std::memcpy(row + (ky * KW + kx) * CW, px.get() + (y * Wd + x) * CW, sizeof(uint64_t) * CW);
          }
      }
    float *o = out + b * OC * P;
    bipolar_product(rows.get(), weight, P, OC, RW, K, [&](int64_t m, int64_t n, int32_t dot) {
      const float y = static_cast<float>(dot) * scale[n];
      o[n * P + m] = bias ? y + bias[n] : y;
    });
  }
}

/* For tests: the packing of rows of floats, the exact bipolar dot products of packed rows, the path. */
void o2c_bgemm_pack(const float *x, int64_t rows, int64_t K, uint64_t *bits) {
  for (int64_t r = 0; r < rows; ++r) pack_row(x + r * K, K, bits + r * words_of(K));
}

void o2c_bgemm_s32(const uint64_t *abits, const uint64_t *wbits, int64_t M, int64_t N, int64_t K, int32_t *C) {
  bipolar_product(abits, wbits, M, N, words_of(K), K, [&](int64_t m, int64_t n, int32_t dot) { C[m * N + n] = dot; });
}

int o2c_bgemm_path(void) { return O2C_B_PATH; }

} /* extern "C" */

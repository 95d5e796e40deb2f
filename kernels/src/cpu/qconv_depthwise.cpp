/*
 * qconv_depthwise.cpp - the depthwise int8 convolution of o2c_qconv (groups == in_channels ==
 * out_channels, 1-D or 2-D, at most 512 taps): one channel plane at a time, in float.
 *
 * Exact: every product (x - zx) * w has |x - zx| <= 255 and |w| <= 128, so |product| <= 32640, and a
 * sum of at most 512 of them stays below 2^24 in magnitude: every partial sum is an integer a float
 * holds exactly, fused multiply-add or not. The accumulator is then converted back to int32 (exact),
 * the bias added, and requantized as the other paths do: saturate(round_half_even(float(acc + bias) *
 * m) + zy). The AVX2 build (8 output pixels per FMA) and the portable one give the same bytes.
 *
 * The plane is copied once per channel as floats x - zx (the padding 0), split by column phase
 * (column mod stride) so that every tap of a row of outputs reads consecutive floats.
 */
#include "internal.h"

namespace {

using o2c::detail::Scratch;

constexpr int64_t kMaxTaps = 512;

inline int64_t round_up_8(int64_t v) { return (v + 7) / 8 * 8; }

struct DwGeo {
  int64_t H, W, OH, OW, KH, KW, sh, sw, dh, dw, ph, pw;
};

bool dw_geo(const dash_conv_params_t *c, DwGeo &g) {
  if (c->spatial_rank == 2) {
    g = {c->in_size[0], c->in_size[1], c->out_size[0], c->out_size[1], c->kernel[0], c->kernel[1],
         c->stride[0], c->stride[1], c->dilation[0], c->dilation[1], c->pad_begin[0], c->pad_begin[1]};
  } else if (c->spatial_rank == 1) {
    g = {1, c->in_size[0], 1, c->out_size[0], 1, c->kernel[0], 1, c->stride[0], 1, c->dilation[0], 0,
         c->pad_begin[0]};
  } else {
    return false;
  }
  return g.KH * g.KW <= kMaxTaps && g.sh > 0 && g.sw > 0 && g.dh > 0 && g.dw > 0 && g.OH > 0 && g.OW > 0;
}

template <typename I, typename O>
void plane(const I *x, int32_t zx, const int8_t *w, int32_t bias, float m, int32_t zy, int32_t lo, int32_t hi,
           O *y, const DwGeo &g, float *ph, float *acc) {
  const int64_t OWr = round_up_8(g.OW);
  const int64_t Hp = (g.OH - 1) * g.sh + (g.KH - 1) * g.dh + 1;
  const int64_t Wq = round_up_8(OWr + ((g.KW - 1) * g.dw) / g.sw + 1); /* one phase row */
  const int64_t S = g.sw;
  /* one padded input row as bytes, the padding the zero point (so x - zx = 0 there), S * Wq + 32 long */
  I *row = reinterpret_cast<I *>(acc + OWr);
  const int64_t rlen = S * Wq + 32;
  const int64_t j1 = std::min<int64_t>(g.W, S * Wq - g.pw); /* input columns [0, j1) land in the row */
  std::memset(row, static_cast<int>(static_cast<uint8_t>(zx)), static_cast<size_t>(rlen)); /* zx: the padding */
  for (int64_t r = 0; r < Hp; ++r) {
    const int64_t ih = r - g.ph;
    if (ih < 0 || ih >= g.H) { /* a padding row */
      for (int64_t f = 0; f < S; ++f) std::memset(ph + (f * Hp + r) * Wq, 0, sizeof(float) * static_cast<size_t>(Wq));
      continue;
    }
    if (j1 > 0) std::memcpy(row + g.pw, x + ih * g.W, static_cast<size_t>(j1)); /* the padding stays zx */
    int64_t k = 0;
#if O2C_HAVE_AVX2
    const __m256i zv = _mm256_set1_epi32(zx);
    auto cvt8 = [&](__m128i b) { /* the low 8 bytes -> 8 floats x - zx */
      const __m256i v = std::is_signed<I>::value ? _mm256_cvtepi8_epi32(b) : _mm256_cvtepu8_epi32(b);
      return _mm256_cvtepi32_ps(_mm256_sub_epi32(v, zv));
    };
    if (S == 1) {
      for (; k + 8 <= Wq; k += 8)
        _mm256_storeu_ps(ph + r * Wq + k, cvt8(_mm_loadl_epi64(reinterpret_cast<const __m128i *>(row + k))));
    } else if (S == 2) {
      const __m128i even_odd = _mm_setr_epi8(0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15);
      float *d0 = ph + r * Wq, *d1 = ph + (Hp + r) * Wq;
      for (; k + 8 <= Wq; k += 8) {
        const __m128i b = _mm_shuffle_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i *>(row + 2 * k)), even_odd);
        _mm256_storeu_ps(d0 + k, cvt8(b));
        _mm256_storeu_ps(d1 + k, cvt8(_mm_unpackhi_epi64(b, b)));
      }
    }
#endif
    for (int64_t f = 0; f < S; ++f) {
      float *d = ph + (f * Hp + r) * Wq;
      for (int64_t kk = k; kk < Wq; ++kk) d[kk] = static_cast<float>(static_cast<int32_t>(row[kk * S + f]) - zx);
    }
  }
  float wf[kMaxTaps];
  int64_t toff[kMaxTaps]; /* tap (kh, kw): its phase plane, row and column, from output row 0, column 0 */
  const int64_t T = g.KH * g.KW;
  for (int64_t t = 0; t < T; ++t) {
    wf[t] = static_cast<float>(w[t]);
    const int64_t kh = t / g.KW, off = (t % g.KW) * g.dw;
    toff[t] = ((off % S) * Hp + kh * g.dh) * Wq + off / S;
  }
  constexpr float kBig = 1073741824.0f;
  for (int64_t oh = 0; oh < g.OH; ++oh) {
    int64_t ow0 = 0;
#if O2C_HAVE_AVX2
    for (; ow0 + 32 <= OWr; ow0 += 32) {
      __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
      const float *base = ph + oh * g.sh * Wq + ow0;
      for (int64_t t = 0; t < T; ++t) {
        const float *src = base + toff[t];
        const __m256 wv = _mm256_set1_ps(wf[t]);
        a0 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(src), a0);
        a1 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(src + 8), a1);
        a2 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(src + 16), a2);
        a3 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(src + 24), a3);
      }
      _mm256_storeu_ps(acc + ow0, a0);
      _mm256_storeu_ps(acc + ow0 + 8, a1);
      _mm256_storeu_ps(acc + ow0 + 16, a2);
      _mm256_storeu_ps(acc + ow0 + 24, a3);
    }
    for (; ow0 < OWr; ow0 += 8) {
      __m256 a0 = _mm256_setzero_ps();
      const float *base = ph + oh * g.sh * Wq + ow0;
      for (int64_t t = 0; t < T; ++t) a0 = _mm256_fmadd_ps(_mm256_set1_ps(wf[t]), _mm256_loadu_ps(base + toff[t]), a0);
      _mm256_storeu_ps(acc + ow0, a0);
    }
    int64_t i = 0;
    const __m256i bv = _mm256_set1_epi32(bias), zv = _mm256_set1_epi32(zy), lov = _mm256_set1_epi32(lo),
                  hiv = _mm256_set1_epi32(hi);
    const __m256 mv = _mm256_set1_ps(m), big = _mm256_set1_ps(kBig), nbig = _mm256_set1_ps(-kBig);
    alignas(16) O qb[8];
    for (; i < OWr; i += 8) {
      O *dst = i + 8 <= g.OW ? y + oh * g.OW + i : qb; /* the last partial block: through qb */
      const __m256i v = _mm256_add_epi32(_mm256_cvttps_epi32(_mm256_loadu_ps(acc + i)), bv);
      const __m256 f = _mm256_min_ps(_mm256_max_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(v), mv), nbig), big);
      const __m256i q = _mm256_min_epi32(_mm256_max_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(f), zv), lov), hiv);
      const __m128i w16 = _mm_packs_epi32(_mm256_castsi256_si128(q), _mm256_extracti128_si256(q, 1));
      _mm_storel_epi64(reinterpret_cast<__m128i *>(dst),
                       std::is_signed<O>::value ? _mm_packs_epi16(w16, w16) : _mm_packus_epi16(w16, w16));
    }
    for (int64_t j = OWr - 8; j < g.OW && OWr > g.OW; ++j) y[oh * g.OW + j] = qb[j - (OWr - 8)];
    continue;
#else
    for (; ow0 < OWr; ++ow0) {
      float a = 0.0f;
      const float *base = ph + oh * g.sh * Wq + ow0;
      for (int64_t t = 0; t < T; ++t) a += wf[t] * base[toff[t]]; /* exact either way */
      acc[ow0] = a;
    }
    int64_t i = 0;
#endif
    for (; i < g.OW; ++i) {
      const int32_t v = static_cast<int32_t>(acc[i]) + bias;
      const float f = std::min(std::max(static_cast<float>(v) * m, -kBig), kBig);
      const int32_t q = static_cast<int32_t>(std::rint(f)) + zy;
      y[oh * g.OW + i] = static_cast<O>(std::min(std::max(q, lo), hi));
    }
  }
}

}  // namespace

bool o2c_qconv_depthwise(const int8_t *in, const int8_t *weight, const int32_t *bias, const float *multiplier,
                         int8_t *out, const dash_qconv_params_t *p) {
  const dash_conv_params_t *c = &p->conv;
  DwGeo g;
  if (p->out_int32 || !multiplier || c->groups != c->in_channels || c->out_channels != c->in_channels ||
      c->groups < 1 || !dw_geo(c, g))
    return false;
  const int64_t C = c->in_channels, planes = c->batch * C;
  const int64_t OWr = round_up_8(g.OW);
  const int64_t Hp = (g.OH - 1) * g.sh + (g.KH - 1) * g.dh + 1;
  const int64_t Wq = round_up_8(OWr + ((g.KW - 1) * g.dw) / g.sw + 1);
  const size_t need = static_cast<size_t>(g.sw * Hp * Wq + OWr + g.sw * Wq + 64); /* planes, acc, row */
  const int32_t zy = p->out_zero, lo = p->out_unsigned ? 0 : -128, hi = p->out_unsigned ? 255 : 127;
  const int32_t low = p->relu ? std::max(lo, zy) : lo;
  Scratch<float> buf(need);
  float *acc = buf.get() + g.sw * Hp * Wq;
  for (int64_t pl = 0; pl < planes; ++pl) {
    const int64_t ch = pl % C;
    const int64_t xo = pl * g.H * g.W, yo = pl * g.OH * g.OW;
    const int8_t *w = weight + ch * g.KH * g.KW;
    const int32_t b = bias ? bias[ch] : 0;
    if (p->in_unsigned) {
      const uint8_t *x = reinterpret_cast<const uint8_t *>(in) + xo;
      if (p->out_unsigned)
        plane(x, p->in_zero, w, b, multiplier[ch], zy, low, hi, reinterpret_cast<uint8_t *>(out) + yo, g, buf.get(), acc);
      else
        plane(x, p->in_zero, w, b, multiplier[ch], zy, low, hi, out + yo, g, buf.get(), acc);
    } else {
      const int8_t *x = in + xo;
      if (p->out_unsigned)
        plane(x, p->in_zero, w, b, multiplier[ch], zy, low, hi, reinterpret_cast<uint8_t *>(out) + yo, g, buf.get(), acc);
      else
        plane(x, p->in_zero, w, b, multiplier[ch], zy, low, hi, out + yo, g, buf.get(), acc);
    }
  }
  return true;
}

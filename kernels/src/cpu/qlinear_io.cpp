/*
 * qlinear_io.cpp - the QuantizeLinear / DequantizeLinear around integer layers, in their common form:
 * float32 <-> int8 / uint8 with one scale and zero point (o2c_quantize_f32_q8, o2c_dequantize_q8_f32).
 * Same results as o2c_quantize_linear (typed_cast.cpp) computes for these types, 8 elements at a time:
 *   quantize:   saturate(round_half_even(x / scale) + zero)   (IEEE division; vcvtps2dq rounds half to
 *               even under the default rounding mode, as nearbyint; x / scale first clamped to +-2^30,
 *               beyond which the result saturates anyway, NaN to the low end as the scalar path);
 *   dequantize: float(x - zero) * scale.
 */
#include "internal.h"

namespace {

template <typename Q>
void quantize_as(const float *in, Q *out, const o2c_quant8_params_t *p) {
  const float s = p->scale;
  const int32_t lo = std::is_signed<Q>::value ? -128 : 0, hi = std::is_signed<Q>::value ? 127 : 255;
  constexpr float kBig = 1073741824.0f;
  int64_t i = 0;
#if O2C_HAVE_AVX2
  const __m256 sv = _mm256_set1_ps(s), big = _mm256_set1_ps(kBig), nbig = _mm256_set1_ps(-kBig);
  const __m256i z = _mm256_set1_epi32(p->zero), lov = _mm256_set1_epi32(lo), hiv = _mm256_set1_epi32(hi);
  alignas(32) int32_t t[8];
  for (; i + 8 <= p->n; i += 8) {
    const __m256 v = _mm256_min_ps(_mm256_max_ps(_mm256_div_ps(_mm256_loadu_ps(in + i), sv), nbig), big);
    const __m256i r = _mm256_min_epi32(_mm256_max_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(v), z), lov), hiv);
    _mm256_store_si256(reinterpret_cast<__m256i *>(t), r);
    for (int j = 0; j < 8; ++j) out[i + j] = static_cast<Q>(t[j]);
  }
#endif
  for (; i < p->n; ++i) {
    float v = in[i] / s;
    v = std::isnan(v) ? -kBig : std::min(std::max(v, -kBig), kBig);
    const int32_t r = static_cast<int32_t>(std::nearbyint(v)) + p->zero;
    out[i] = static_cast<Q>(std::min(std::max(r, lo), hi));
  }
}

template <typename Q>
void dequantize_as(const Q *in, float *out, const o2c_quant8_params_t *p) {
  const float s = p->scale;
  int64_t i = 0;
#if O2C_HAVE_AVX2
  const __m256 sv = _mm256_set1_ps(s);
  const __m256i z = _mm256_set1_epi32(p->zero);
  for (; i + 8 <= p->n; i += 8) {
    const __m128i b = _mm_loadl_epi64(reinterpret_cast<const __m128i *>(in + i));
    const __m256i w = std::is_signed<Q>::value ? _mm256_cvtepi8_epi32(b) : _mm256_cvtepu8_epi32(b);
    _mm256_storeu_ps(out + i, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(w, z)), sv));
  }
#endif
  for (; i < p->n; ++i) out[i] = static_cast<float>(static_cast<int32_t>(in[i]) - p->zero) * s;
}

}  // namespace

extern "C" {

void o2c_quantize_f32_q8(const float *in, int8_t *out, const o2c_quant8_params_t *p) {
  if (p->is_unsigned)
    quantize_as(in, reinterpret_cast<uint8_t *>(out), p);
  else
    quantize_as(in, out, p);
}

void o2c_dequantize_q8_f32(const int8_t *in, float *out, const o2c_quant8_params_t *p) {
  if (p->is_unsigned)
    dequantize_as(reinterpret_cast<const uint8_t *>(in), out, p);
  else
    dequantize_as(in, out, p);
}

} /* extern "C" */

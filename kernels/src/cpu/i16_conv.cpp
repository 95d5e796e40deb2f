/*
 * i16_conv.cpp - quantize / dequantize around DASH_CONV_2D_int for the int16 convolution scheme of
 * the public API set (see o2c_kernels.h). Rounding is half away from zero, as the public kernel's.
 */
#include <cmath>

#include "internal.h"

extern "C" void o2c_i16_quantize(const float *x, dash_re_int_type *q, float *scale, const o2c_i16_params_t *p) {
  const int64_t n = p->height * p->width;
  for (int64_t c = 0; c < p->channels; ++c) {
    const float *src = x + c * n;
    dash_re_int_type *dst = q + c * n;
    float m = 0.0f;
    for (int64_t i = 0; i < n; ++i) m = std::max(m, std::fabs(src[i]));
    const float s = m > 0.0f ? m / 32767.0f : 1.0f;
    scale[c] = s;
    for (int64_t i = 0; i < n; ++i) {
      const float v = std::round(src[i] / s);
      dst[i] = static_cast<dash_re_int_type>(std::min(32767.0f, std::max(-32767.0f, v)));
    }
  }
}

extern "C" void o2c_i16_dequant(const dash_re_int_type *same, const float *scale, float *out,
                                const o2c_i16_params_t *p) {
  const float f = scale[p->channel] * p->factor;
  for (int64_t y = 0; y < p->out_h; ++y) {
    const dash_re_int_type *row = same + (y * p->stride_h + p->off_h) * p->width + p->off_w;
    for (int64_t x = 0; x < p->out_w; ++x) out[y * p->out_w + x] = static_cast<float>(row[x * p->stride_w]) * f;
  }
}

/*
 * norm.cpp - o2c_channel_affine (BatchNorm folded to y = act(x*scale[c] + shift[c])) and
 * o2c_lrn (ONNX LRN across channels).
 */
#include "internal.h"

using namespace o2c::detail;

extern "C" void o2c_channel_affine(const float *in, const float *scale, const float *shift, float *out,
                                   const o2c_channel_affine_params_t *p) {
  const int64_t outer = p->outer, C = p->channels, inner = p->inner;
  if (outer <= 0 || C <= 0 || inner <= 0) return;
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t c = 0; c < C; ++c) {
      const float s = scale ? scale[c] : 1.0f;
      const float t = shift ? shift[c] : 0.0f;
      const float *x = in + (o * C + c) * inner;
      float *y = out + (o * C + c) * inner;
      for (int64_t i = 0; i < inner; ++i) y[i] = x[i] * s + t;
      act_inplace(y, inner, p->act);
    }
  }
}

/* ONNX LRN: square_sum[c] = sum of x[c']^2 for c' in [c - floor((size-1)/2), c + ceil((size-1)/2)]
 * (clipped to the channels); y = x / (bias + alpha/size * square_sum)^beta. */
extern "C" void o2c_lrn(const float *in, float *out, const o2c_lrn_params_t *p) {
  const int64_t B = p->batch, C = p->channels, inner = p->inner, size = p->size;
  if (B <= 0 || C <= 0 || inner <= 0 || size <= 0) return;
  const int64_t before = (size - 1) / 2, after = size - 1 - before;
  const float a = p->alpha / static_cast<float>(size);
  const float beta = p->beta, bias = p->bias;
  Scratch<float> acc(static_cast<size_t>(inner));
  /* when out aliases in, results can only be written once no later channel needs the input:
   * keep a ring of pending output rows */
  const bool alias = out == in;
  Scratch<float> pending;
  if (alias) pending.reset(static_cast<size_t>((before + 1) * inner));
  for (int64_t b = 0; b < B; ++b) {
    const float *xb = in + b * C * inner;
    float *yb = out + b * C * inner;
    for (int64_t c = 0; c < C; ++c) {
      const int64_t lo = std::max<int64_t>(0, c - before), hi = std::min<int64_t>(C - 1, c + after);
      float *s = acc.get();
      for (int64_t i = 0; i < inner; ++i) s[i] = 0.0f;
      for (int64_t cc = lo; cc <= hi; ++cc) {
        const float *x = xb + cc * inner;
        for (int64_t i = 0; i < inner; ++i) s[i] += x[i] * x[i];
      }
      const float *x = xb + c * inner;
      float *y = alias ? pending.get() + (c % (before + 1)) * inner : yb + c * inner;
      if (beta == 0.75f) {
        for (int64_t i = 0; i < inner; ++i) {
          const float t = bias + a * s[i];
          y[i] = x[i] / (std::sqrt(t) * std::sqrt(std::sqrt(t)));
        }
      } else {
        for (int64_t i = 0; i < inner; ++i) y[i] = x[i] / std::pow(bias + a * s[i], beta);
      }
      if (alias) {
        /* input channel c - before is no longer read by any later output channel */
        const int64_t done = c - before;
        if (done >= 0)
          std::memcpy(yb + done * inner, pending.get() + (done % (before + 1)) * inner,
                      static_cast<size_t>(inner) * sizeof(float));
      }
    }
    if (alias) {
      for (int64_t done = std::max<int64_t>(0, C - before); done < C; ++done)
        std::memcpy(yb + done * inner, pending.get() + (done % (before + 1)) * inner,
                    static_cast<size_t>(inner) * sizeof(float));
    }
  }
}

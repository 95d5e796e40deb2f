/*
 * softmax.cpp - o2c_softmax: (Log)Softmax over the middle axis of an (outer, axis, inner) view,
 * numerically stable (the maximum is subtracted before exponentiation). in-place safe.
 */
#include "internal.h"

using namespace o2c::detail;

extern "C" void o2c_softmax(const float *in, float *out, const dash_softmax_params_t *p) {
  const int64_t outer = p->outer, n = p->axis, inner = p->inner;
  if (outer <= 0 || n <= 0 || inner <= 0) return;
  const bool lg = p->log != 0;
  if (inner == 1) {
    for (int64_t o = 0; o < outer; ++o) {
      const float *x = in + o * n;
      float *y = out + o * n;
      float mx = x[0];
      for (int64_t i = 1; i < n; ++i) mx = x[i] > mx ? x[i] : mx;
      double sum = 0.0;
      if (lg) {
        for (int64_t i = 0; i < n; ++i) sum += std::exp(x[i] - mx);
        const float ls = static_cast<float>(std::log(sum));
        for (int64_t i = 0; i < n; ++i) y[i] = (x[i] - mx) - ls;
      } else {
        for (int64_t i = 0; i < n; ++i) {
          const float e = std::exp(x[i] - mx);
          y[i] = e;
          sum += e;
        }
        const float inv = static_cast<float>(1.0 / sum);
        for (int64_t i = 0; i < n; ++i) y[i] *= inv;
      }
    }
    return;
  }
  /* inner > 1: work on whole inner rows so the loops run over contiguous memory */
  Scratch<float> mx(static_cast<size_t>(inner));
  Scratch<float> sum(static_cast<size_t>(inner));
  for (int64_t o = 0; o < outer; ++o) {
    const float *x = in + o * n * inner;
    float *y = out + o * n * inner;
    std::memcpy(mx.get(), x, static_cast<size_t>(inner) * sizeof(float));
    for (int64_t i = 1; i < n; ++i) {
      const float *xi = x + i * inner;
      for (int64_t j = 0; j < inner; ++j) mx[j] = xi[j] > mx[j] ? xi[j] : mx[j];
    }
    std::memset(sum.get(), 0, static_cast<size_t>(inner) * sizeof(float));
    if (lg) {
      for (int64_t i = 0; i < n; ++i) {
        const float *xi = x + i * inner;
        for (int64_t j = 0; j < inner; ++j) sum[j] += std::exp(xi[j] - mx[j]);
      }
      for (int64_t j = 0; j < inner; ++j) sum[j] = std::log(sum[j]);
      for (int64_t i = 0; i < n; ++i) {
        const float *xi = x + i * inner;
        float *yi = y + i * inner;
        for (int64_t j = 0; j < inner; ++j) yi[j] = (xi[j] - mx[j]) - sum[j];
      }
    } else {
      for (int64_t i = 0; i < n; ++i) {
        const float *xi = x + i * inner;
        float *yi = y + i * inner;
        for (int64_t j = 0; j < inner; ++j) {
          const float e = std::exp(xi[j] - mx[j]);
          yi[j] = e;
          sum[j] += e;
        }
      }
      for (int64_t j = 0; j < inner; ++j) sum[j] = 1.0f / sum[j];
      for (int64_t i = 0; i < n; ++i) {
        float *yi = y + i * inner;
        for (int64_t j = 0; j < inner; ++j) yi[j] *= sum[j];
      }
    }
  }
}

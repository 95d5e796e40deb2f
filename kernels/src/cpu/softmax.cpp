/*
 * softmax.cpp - o2c_softmax: (Log)Softmax over the middle axis of an (outer, axis, inner) view,
 * numerically stable (the maximum is subtracted before exponentiation). in-place safe.
 */
#include "internal.h"

using namespace o2c::detail;

namespace {
/* sum of n floats: 32 running partial sums, combined in double */
double sum_array(const float *v, int64_t n) {
  float part[32] = {0};
  int64_t i = 0;
  for (; i + 32 <= n; i += 32)
    for (int j = 0; j < 32; ++j) part[j] += v[i + j];
  double s = 0.0;
  for (int j = 0; j < 32; ++j) s += part[j];
  for (; i < n; ++i) s += v[i];
  return s;
}
} /* namespace */

extern "C" void o2c_softmax(const float *in, float *out, const dash_softmax_params_t *p) {
  const int64_t outer = p->outer, n = p->axis, inner = p->inner;
  if (outer <= 0 || n <= 0 || inner <= 0) return;
  const bool lg = p->log != 0;
  if (inner == 1) {
    Scratch<float> tmp;
    if (lg) tmp.reset(static_cast<size_t>(n));
    for (int64_t o = 0; o < outer; ++o) {
      const float *x = in + o * n;
      float *y = out + o * n;
      float mx = x[0];
      for (int64_t i = 1; i < n; ++i) mx = x[i] > mx ? x[i] : mx;
      /* shifted values, their exponentials, and the sum in 32 partial sums combined in double */
      float *e = lg ? tmp.get() : y;
      for (int64_t i = 0; i < n; ++i) e[i] = x[i] - mx;
      if (lg) {
        exp_array(e, e, n);
        const float ls = static_cast<float>(std::log(sum_array(e, n)));
        for (int64_t i = 0; i < n; ++i) y[i] = (x[i] - mx) - ls;
      } else {
        exp_array(e, e, n);
        const float inv = static_cast<float>(1.0 / sum_array(e, n));
        for (int64_t i = 0; i < n; ++i) y[i] *= inv;
      }
    }
    return;
  }
  /* inner > 1: work on whole inner rows so the loops run over contiguous memory */
  Scratch<float> mx(static_cast<size_t>(inner));
  Scratch<float> sum(static_cast<size_t>(inner));
  Scratch<float> row(static_cast<size_t>(inner));
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
        for (int64_t j = 0; j < inner; ++j) row[j] = xi[j] - mx[j];
        exp_array(row.get(), row.get(), inner);
        for (int64_t j = 0; j < inner; ++j) sum[j] += row[j];
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
        for (int64_t j = 0; j < inner; ++j) yi[j] = xi[j] - mx[j];
        exp_array(yi, yi, inner);
        for (int64_t j = 0; j < inner; ++j) sum[j] += yi[j];
      }
      for (int64_t j = 0; j < inner; ++j) sum[j] = 1.0f / sum[j];
      for (int64_t i = 0; i < n; ++i) {
        float *yi = y + i * inner;
        for (int64_t j = 0; j < inner; ++j) yi[j] *= sum[j];
      }
    }
  }
}

/* ---- other element types (o2c_typed.h): a plain loop in double, rounded once per element ---- */
#include "floatx.h"

namespace {
template <class T>
void softmax_typed(const T *in, T *out, const dash_softmax_params_t *p) {
  using o2c::floatx::Tr;
  const int64_t outer = p->outer, n = p->axis, inner = p->inner;
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t j = 0; j < inner; ++j) {
      const T *x = in + o * n * inner + j;
      T *y = out + o * n * inner + j;
      auto ld = [&](int64_t i) { return static_cast<double>(Tr<T>::ld(x[i * inner])); };
      double mx = -INFINITY;
      // fmax(mx, v) for a non-NaN mx, spelled so: GCC 12 for aarch64 crashes vectorizing an fmax reduction
      for (int64_t i = 0; i < n; ++i) mx = ld(i) > mx ? ld(i) : mx;
      double s = 0.0;
      for (int64_t i = 0; i < n; ++i) s += std::exp(ld(i) - mx);
      const double ls = std::log(s);
      for (int64_t i = 0; i < n; ++i) {
        const double v = p->log ? ld(i) - mx - ls : std::exp(ld(i) - mx) / s;
        y[i * inner] = Tr<T>::st(static_cast<typename Tr<T>::C>(v));
      }
    }
}
} /* namespace */

extern "C" void o2c_softmax_typed(const void *in, void *out, const o2c_softmax_typed_params_t *p) {
  switch (p->type) {
    case O2C_DT_FLOAT: softmax_typed(static_cast<const float *>(in), static_cast<float *>(out), &p->softmax); break;
    case O2C_DT_DOUBLE: softmax_typed(static_cast<const double *>(in), static_cast<double *>(out), &p->softmax); break;
    case O2C_DT_FLOAT16:
      softmax_typed(static_cast<const o2c::floatx::f16 *>(in), static_cast<o2c::floatx::f16 *>(out), &p->softmax);
      break;
    case O2C_DT_BFLOAT16:
      softmax_typed(static_cast<const o2c::floatx::bf16 *>(in), static_cast<o2c::floatx::bf16 *>(out), &p->softmax);
      break;
    default:
      std::fprintf(stderr, "onnx2cedr kernel: softmax over element type %d is not supported\n", int(p->type));
      std::abort();
  }
}

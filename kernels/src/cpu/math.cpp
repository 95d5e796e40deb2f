/*
 * math.cpp - element-wise math without a CEDR API (o2c_unary_math), IsNaN/IsInf (o2c_classify)
 * and Hardmax (o2c_hardmax).
 *
 * Each op has its own loop over the array (the op is decoded once per call), written with the
 * C++ float overloads of <cmath> so results stay within a few ULP of onnxruntime's.
 */
#include "internal.h"

using namespace o2c::detail;

namespace {

template <class F>
inline void map(const float *in, float *out, int64_t n, F f) {
  for (int64_t i = 0; i < n; ++i) out[i] = f(in[i]);
}

} /* namespace */

extern "C" void o2c_unary_math(const float *in, float *out, const o2c_math_params_t *p) {
  const int64_t n = p->n;
  const float alpha = p->alpha, beta = p->beta;
  if (n <= 0) return;
  switch (p->op) {
    case O2C_MATH_TAN: map(in, out, n, [](float x) { return std::tan(x); }); return;
    case O2C_MATH_ASIN: map(in, out, n, [](float x) { return std::asin(x); }); return;
    case O2C_MATH_ACOS: map(in, out, n, [](float x) { return std::acos(x); }); return;
    case O2C_MATH_ATAN: map(in, out, n, [](float x) { return std::atan(x); }); return;
    case O2C_MATH_SINH: map(in, out, n, [](float x) { return std::sinh(x); }); return;
    case O2C_MATH_COSH: map(in, out, n, [](float x) { return std::cosh(x); }); return;
    case O2C_MATH_ASINH: map(in, out, n, [](float x) { return std::asinh(x); }); return;
    case O2C_MATH_ACOSH: map(in, out, n, [](float x) { return std::acosh(x); }); return;
    case O2C_MATH_ATANH: map(in, out, n, [](float x) { return std::atanh(x); }); return;
    case O2C_MATH_SELU: {
      const float ga = beta * alpha;
      map(in, out, n, [=](float x) { return x > 0.0f ? beta * x : ga * std::expm1(x); });
      return;
    }
    case O2C_MATH_CELU: {
      const float inv = 1.0f / alpha;
      map(in, out, n, [=](float x) {
        const float neg = alpha * std::expm1(x * inv);
        return x > 0.0f ? x : (x != x ? x : std::min(0.0f, neg));
      });
      return;
    }
    case O2C_MATH_GELU: {
      const float r = 0.70710678118654752440f;
      map(in, out, n, [=](float x) { return 0.5f * x * (1.0f + std::erf(x * r)); });
      return;
    }
    case O2C_MATH_GELU_TANH: {
      const float k = 0.79788456080286535588f; /* sqrt(2/pi) */
      map(in, out, n, [=](float x) { return 0.5f * x * (1.0f + std::tanh(k * (x + 0.044715f * x * x * x))); });
      return;
    }
    case O2C_MATH_MISH: map(in, out, n, [](float x) { return x * std::tanh(softplusf_stable(x)); }); return;
    case O2C_MATH_SOFTSIGN: map(in, out, n, [](float x) { return x / (1.0f + std::fabs(x)); }); return;
    case O2C_MATH_THRESHOLDED_RELU: map(in, out, n, [=](float x) { return x > alpha ? x : 0.0f; }); return;
    case O2C_MATH_SHRINK:
      map(in, out, n, [=](float x) { return x < -alpha ? x + beta : (x > alpha ? x - beta : 0.0f); });
      return;
    case O2C_MATH_SWISH: map(in, out, n, [=](float x) { return x * sigmoidf_stable(alpha * x); }); return;
    default:
      std::fprintf(stderr, "o2c_unary_math: unknown op %d\n", static_cast<int>(p->op));
      std::abort();
  }
}

extern "C" void o2c_classify(const float *in, uint8_t *out, const o2c_classify_params_t *p) {
  const int64_t n = p->n;
  if (p->op == 0) {
    for (int64_t i = 0; i < n; ++i) out[i] = in[i] != in[i];
    return;
  }
  const float pinf = p->detect_positive ? INFINITY : NAN, ninf = p->detect_negative ? -INFINITY : NAN;
  for (int64_t i = 0; i < n; ++i) out[i] = (in[i] == pinf) | (in[i] == ninf);
}

extern "C" void o2c_hardmax(const float *in, float *out, const o2c_hardmax_params_t *p) {
  const int64_t outer = p->outer, n = p->axis, inner = p->inner;
  if (outer <= 0 || n <= 0 || inner <= 0) return;
  Scratch<int64_t> arg(static_cast<size_t>(inner));
  for (int64_t o = 0; o < outer; ++o) {
    const float *x = in + o * n * inner;
    float *y = out + o * n * inner;
    /* first index of the maximum per inner position (read everything before writing: in-place safe) */
    for (int64_t j = 0; j < inner; ++j) arg[j] = 0;
    for (int64_t i = 1; i < n; ++i)
      for (int64_t j = 0; j < inner; ++j)
        if (x[i * inner + j] > x[arg[j] * inner + j]) arg[j] = i;
    std::memset(y, 0, static_cast<size_t>(n * inner) * sizeof(float));
    for (int64_t j = 0; j < inner; ++j) y[arg[j] * inner + j] = 1.0f;
  }
}

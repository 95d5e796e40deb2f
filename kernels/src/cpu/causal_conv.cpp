/*
 * causal_conv.cpp - o2c_causal_conv: CausalConvWithState (opset 27), a depthwise causal 1-D
 * convolution carrying the last k - 1 positions as state, with an optional fused SiLU.
 */
#include "o2c_typed.h"

#include "floatx.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace {

using namespace o2c::floatx;

template <class T>
void causal_conv(const T *x, const T *w, const T *bias, const T *past, T *out, T *present,
                 const o2c_causal_conv_params_t *p) {
  using R = Tr<T>;
  const int64_t L = p->length, K = p->k, H = K - 1;
  // position j of the padded sequence (past ++ x) for one (batch, channel) row
  auto at = [&](const T *xr, const T *pr, int64_t j) -> double {
    if (j >= H) return double(R::ld(xr[j - H]));
    return pr ? double(R::ld(pr[j])) : 0.0;
  };
  for (int64_t b = 0; b < p->batch; ++b)
    for (int64_t c = 0; c < p->channels; ++c) {
      const int64_t row = b * p->channels + c;
      const T *xr = x + row * L, *pr = past ? past + row * H : nullptr, *wr = w + c * K;
      T *yr = out + row * L;
      for (int64_t t = 0; t < L; ++t) {
        double acc = bias ? double(R::ld(bias[c])) : 0.0;
        for (int64_t j = 0; j < K; ++j) acc += double(R::ld(wr[j])) * at(xr, pr, t + j);
        // the convolution is rounded to the element type before the activation, as the reference does
        double v = double(R::ld(R::st(static_cast<typename R::C>(acc))));
        if (p->activation) v = v / (1.0 + std::exp(-v));
        yr[t] = R::st(static_cast<typename R::C>(v));
      }
      if (present)
        for (int64_t j = 0; j < H; ++j) present[row * H + j] = R::st(static_cast<typename R::C>(at(xr, pr, L + j)));
    }
}

template <class T>
void run(const void *x, const void *w, const void *b, const void *past, void *out, void *present,
         const o2c_causal_conv_params_t *p) {
  causal_conv(static_cast<const T *>(x), static_cast<const T *>(w), static_cast<const T *>(b),
              static_cast<const T *>(past), static_cast<T *>(out), static_cast<T *>(present), p);
}

}  // namespace

extern "C" void o2c_causal_conv(const void *x, const void *weight, const void *bias, const void *past, void *out,
                                void *present, const o2c_causal_conv_params_t *p) {
  switch (p->type) {
    case O2C_DT_FLOAT: run<float>(x, weight, bias, past, out, present, p); break;
    case O2C_DT_DOUBLE: run<double>(x, weight, bias, past, out, present, p); break;
    case O2C_DT_FLOAT16: run<f16>(x, weight, bias, past, out, present, p); break;
    case O2C_DT_BFLOAT16: run<bf16>(x, weight, bias, past, out, present, p); break;
    default:
      std::fprintf(stderr, "onnx2cedr kernel: causal convolution over element type %d is not supported\n",
                   int(p->type));
      std::abort();
  }
}

/*
 * loss.cpp - o2c_nll_loss: NegativeLogLikelihoodLoss, and SoftmaxCrossEntropyLoss (the same with a
 * log-softmax over the classes first), for float, double, float16 and bfloat16.
 */
#include "o2c_typed.h"

#include "floatx.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <vector>

namespace {

using namespace o2c::floatx;

int64_t target_at(const void *t, int32_t type, int64_t i) {
  if (type == O2C_DT_INT64) return static_cast<const int64_t *>(t)[i];
  if (type == O2C_DT_INT32) return static_cast<const int32_t *>(t)[i];
  std::fprintf(stderr, "onnx2cedr kernel: loss target type %d is not supported\n", int(type));
  std::abort();
}

template <class T>
void nll(const T *x, const void *target, const T *weight, T *loss, T *log_prob, const o2c_nll_params_t *p) {
  using R = Tr<T>;
  const int64_t N = p->n, C = p->c, D = p->d;
  // log-probabilities (log_softmax): written to log_prob, or kept in a scratch copy
  std::vector<double> lp;
  if (p->log_softmax) {
    lp.resize(static_cast<size_t>(N * C * D));
    for (int64_t i = 0; i < N; ++i)
      for (int64_t k = 0; k < D; ++k) {
        const int64_t base = i * C * D + k;
        double m = -INFINITY;
        // fmax(m, v) for a non-NaN m, spelled so: GCC 12 for aarch64 crashes vectorizing an fmax reduction
        for (int64_t c = 0; c < C; ++c) {
          const double v = double(R::ld(x[base + c * D]));
          m = v > m ? v : m;
        }
        double s = 0.0;
        for (int64_t c = 0; c < C; ++c) s += std::exp(double(R::ld(x[base + c * D])) - m);
        const double ls = std::log(s);
        for (int64_t c = 0; c < C; ++c) {
          const int64_t at = base + c * D;
          lp[static_cast<size_t>(at)] = double(R::ld(x[at])) - m - ls;
          if (log_prob) log_prob[at] = R::st(static_cast<typename R::C>(lp[static_cast<size_t>(at)]));
        }
      }
  }
  double sum = 0.0, wsum = 0.0;
  for (int64_t i = 0; i < N; ++i)
    for (int64_t k = 0; k < D; ++k) {
      const int64_t t = target_at(target, p->target_type, i * D + k);
      double v = 0.0, w = 0.0;
      if (!(p->has_ignore && t == p->ignore_index)) {
        if (t < 0 || t >= C) {
          std::fprintf(stderr, "onnx2cedr kernel: loss target %lld is out of range for %lld classes\n",
                       static_cast<long long>(t), static_cast<long long>(C));
          std::abort();
        }
        const int64_t at = (i * C + t) * D + k;
        w = weight ? double(R::ld(weight[t])) : 1.0;
        v = -(p->log_softmax ? lp[static_cast<size_t>(at)] : double(R::ld(x[at]))) * w;
      }
      if (p->reduction == 0) loss[i * D + k] = R::st(static_cast<typename R::C>(v));
      sum += v;
      wsum += w;
    }
  if (p->reduction == 1) loss[0] = R::st(static_cast<typename R::C>(sum));
  if (p->reduction == 2) loss[0] = R::st(static_cast<typename R::C>(sum / wsum));
}

template <class T>
void run(const void *x, const void *target, const void *weight, void *loss, void *log_prob, const o2c_nll_params_t *p) {
  nll<T>(static_cast<const T *>(x), target, static_cast<const T *>(weight), static_cast<T *>(loss),
         static_cast<T *>(log_prob), p);
}

}  // namespace

extern "C" void o2c_nll_loss(const void *x, const void *target, const void *weight, void *loss, void *log_prob,
                             const o2c_nll_params_t *p) {
  switch (p->type) {
    case O2C_DT_FLOAT: run<float>(x, target, weight, loss, log_prob, p); break;
    case O2C_DT_DOUBLE: run<double>(x, target, weight, loss, log_prob, p); break;
    case O2C_DT_FLOAT16: run<f16>(x, target, weight, loss, log_prob, p); break;
    case O2C_DT_BFLOAT16: run<bf16>(x, target, weight, loss, log_prob, p); break;
    default:
      std::fprintf(stderr, "onnx2cedr kernel: loss over element type %d is not supported\n", int(p->type));
      std::abort();
  }
}

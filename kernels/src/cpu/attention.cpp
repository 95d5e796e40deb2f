/*
 * attention.cpp - o2c_attention_softmax: what ONNX Attention computes between its two matrix
 * products (scale, softcap, the attention mask, causal/window/padding masks, softmax with the
 * fully-masked-row guard, the optional qk_matmul_output). The products themselves are separate
 * calls (Einsum -> DASH_GEMM_RE for float), so this kernel only walks rows of kv_len scores.
 */
#include "o2c_typed.h"

#include "floatx.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <vector>

namespace {

using namespace o2c::floatx;

template <class T, class C>
void rows(const T *scores, const void *mask, const int64_t *nonpad, T *probs, T *qk_out,
          const o2c_attention_softmax_params_t *p) {
  using TrT = Tr<T>;
  const int64_t S = p->q_len, K = p->kv_len;
  const C ninf = -std::numeric_limits<C>::infinity();
  const C scale = C(p->scale), cap = C(p->softcap);
  std::vector<C> x(K), bias(K), z(K);
  for (int64_t b = 0; b < p->batch; ++b) {
    const int64_t off = nonpad ? nonpad[b] - S : p->offset;
    const int64_t valid = nonpad ? nonpad[b] : K;
    for (int64_t h = 0; h < p->heads; ++h) {
      for (int64_t i = 0; i < S; ++i) {
        const int64_t row = ((b * p->heads + h) * S + i) * K;
        const int64_t mrow = b * p->mask_stride[0] + h * p->mask_stride[1] + i * p->mask_stride[2];
        bool all_masked = true;
        for (int64_t j = 0; j < K; ++j) {
          C v = C(0);
          if (p->mask_type != 0) {
            if (j >= p->mask_len) {
              v = ninf;
            } else if (p->mask_type == O2C_DT_BOOL) {
              v = static_cast<const bool *>(mask)[mrow + j] ? C(0) : ninf;
            } else {
              switch (p->mask_type) {
                case O2C_DT_FLOAT: v = C(static_cast<const float *>(mask)[mrow + j]); break;
                case O2C_DT_DOUBLE: v = C(static_cast<const double *>(mask)[mrow + j]); break;
                case O2C_DT_FLOAT16: v = C(half_to_float(static_cast<const uint16_t *>(mask)[mrow + j])); break;
                case O2C_DT_BFLOAT16: v = C(bf16_to_float(static_cast<const uint16_t *>(mask)[mrow + j])); break;
                default:
                  std::fprintf(stderr, "onnx2cedr kernel: attention mask type %d is not supported\n",
                               int(p->mask_type));
                  std::abort();
              }
            }
          }
          const int64_t diff = i + off - j;  // > 0: the key precedes the query's position
          if (p->causal && diff < 0) v += ninf;
          if (p->left_window >= 0 && diff > p->left_window) v += ninf;
          if (p->right_window >= 0 && -diff > p->right_window) v += ninf;
          if (j >= valid) v += ninf;
          bias[j] = v;
          if (!(v == ninf)) all_masked = false;
          C s = C(TrT::ld(scores[row + j])) * scale;
          if (cap > C(0)) s = cap * std::tanh(s / cap);
          x[j] = s;
          z[j] = s + v;
        }
        // softmax (numpy semantics: a NaN anywhere makes the row NaN; an all -inf row gives zeros)
        C m = ninf;
        bool nan = false;
        for (int64_t j = 0; j < K; ++j) {
          if (std::isnan(z[j])) nan = true;
          else if (z[j] > m) m = z[j];
        }
        if (nan) m = std::numeric_limits<C>::quiet_NaN();
        const C safe = (m == ninf) ? C(0) : m;
        C sum = C(0);
        for (int64_t j = 0; j < K; ++j) sum += (z[j] = std::exp(z[j] - safe));
        if (sum == C(0)) sum = C(1);
        for (int64_t j = 0; j < K; ++j) {
          const C pr = all_masked ? C(0) : z[j] / sum;
          probs[row + j] = TrT::st(static_cast<typename TrT::C>(pr));
          if (qk_out) {
            const C q = p->qk_mode == 3 ? pr : p->qk_mode == 2 ? x[j] + bias[j] : x[j];
            qk_out[row + j] = TrT::st(static_cast<typename TrT::C>(q));
          }
        }
      }
    }
  }
}

template <class T>
void run(const void *scores, const void *mask, const int64_t *nonpad, void *probs, void *qk_out,
         const o2c_attention_softmax_params_t *p) {
  const T *s = static_cast<const T *>(scores);
  T *pr = static_cast<T *>(probs), *q = static_cast<T *>(qk_out);
  if (p->compute_double) rows<T, double>(s, mask, nonpad, pr, q, p);
  else rows<T, typename Tr<T>::C>(s, mask, nonpad, pr, q, p);
}

}  // namespace

extern "C" void o2c_attention_softmax(const void *scores, const void *mask, const int64_t *nonpad, void *probs,
                                      void *qk_out, const o2c_attention_softmax_params_t *p) {
  switch (p->type) {
    case O2C_DT_FLOAT: run<float>(scores, mask, nonpad, probs, qk_out, p); break;
    case O2C_DT_DOUBLE: run<double>(scores, mask, nonpad, probs, qk_out, p); break;
    case O2C_DT_FLOAT16: run<f16>(scores, mask, nonpad, probs, qk_out, p); break;
    case O2C_DT_BFLOAT16: run<bf16>(scores, mask, nonpad, probs, qk_out, p); break;
    default:
      std::fprintf(stderr, "onnx2cedr kernel: attention over element type %d is not supported\n", int(p->type));
      std::abort();
  }
}

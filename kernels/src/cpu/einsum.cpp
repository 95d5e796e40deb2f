/*
 * einsum.cpp - o2c_einsum: the generic strided sum of products behind Einsum equations that are
 * not a plain (batched) float matrix product (those go to GEMM). For every output index, the summed
 * indices are walked with an odometer; the innermost summed index is a strided dot product.
 * Accumulation is in double; one template serves float, double, float16 and bfloat16 operands.
 */
#include "internal.h"

#include "floatx.h"

using namespace o2c::detail;
using o2c::floatx::Tr;

namespace {

template <class T>
void einsum(const T *a, const T *b, const T *c, T *out, const o2c_einsum_params_t *p) {
  const int nin = p->n_inputs, ro = p->rank_out, rank = p->rank;
  if (nin < 1 || nin > 3 || ro < 0 || rank < ro || rank > DASH_MAX_RANK) return;
  const T *ops[3] = {a, b, c};
  int64_t nout = 1, nsum = 1;
  for (int d = 0; d < ro; ++d) nout *= p->shape[d];
  for (int d = ro; d < rank; ++d) nsum *= p->shape[d];
  if (nout <= 0) return;
  const int rs = rank - ro;                     /* summed dims */
  const int64_t inner = rs > 0 ? p->shape[rank - 1] : 1;
  auto ld = [](T v) { return static_cast<double>(Tr<T>::ld(v)); };
  int64_t oidx[DASH_MAX_RANK] = {0}, sidx[DASH_MAX_RANK] = {0};
  for (int64_t o = 0; o < nout; ++o) {
    int64_t base[3] = {0, 0, 0};
    for (int k = 0; k < nin; ++k)
      for (int d = 0; d < ro; ++d) base[k] += oidx[d] * p->stride[k][d];
    double acc = 0.0;
    if (nsum > 0) {
      for (int d = 0; d < rs; ++d) sidx[d] = 0;
      const int64_t outer_rows = nsum / inner;
      for (int64_t r = 0; r < outer_rows; ++r) {
        const T *q[3] = {nullptr, nullptr, nullptr};
        int64_t st[3] = {0, 0, 0};
        for (int k = 0; k < nin; ++k) {
          int64_t off = base[k];
          for (int d = 0; d < rs - 1; ++d) off += sidx[d] * p->stride[k][ro + d];
          q[k] = ops[k] + off;
          st[k] = rs > 0 ? p->stride[k][rank - 1] : 0;
        }
        if (nin == 1) {
          for (int64_t i = 0; i < inner; ++i) acc += ld(q[0][i * st[0]]);
        } else if (nin == 2) {
          for (int64_t i = 0; i < inner; ++i) acc += ld(q[0][i * st[0]]) * ld(q[1][i * st[1]]);
        } else {
          for (int64_t i = 0; i < inner; ++i) acc += ld(q[0][i * st[0]]) * ld(q[1][i * st[1]]) * ld(q[2][i * st[2]]);
        }
        /* advance the summed odometer over all but the innermost summed dim */
        for (int d = rs - 2; d >= 0; --d) {
          if (++sidx[d] < p->shape[ro + d]) break;
          sidx[d] = 0;
        }
      }
    }
    out[o] = Tr<T>::st(static_cast<typename Tr<T>::C>(acc));
    for (int d = ro - 1; d >= 0; --d) {
      if (++oidx[d] < p->shape[d]) break;
      oidx[d] = 0;
    }
  }
}

template <class T>
void run(const void *a, const void *b, const void *c, void *out, const o2c_einsum_params_t *p) {
  einsum<T>(static_cast<const T *>(a), static_cast<const T *>(b), static_cast<const T *>(c), static_cast<T *>(out), p);
}

}  // namespace

extern "C" void o2c_einsum(const void *a, const void *b, const void *c, void *out, const o2c_einsum_params_t *p) {
  switch (p->type) {
    case 0:
    case O2C_DT_FLOAT: run<float>(a, b, c, out, p); break;
    case O2C_DT_DOUBLE: run<double>(a, b, c, out, p); break;
    case O2C_DT_FLOAT16: run<o2c::floatx::f16>(a, b, c, out, p); break;
    case O2C_DT_BFLOAT16: run<o2c::floatx::bf16>(a, b, c, out, p); break;
    default:
      std::fprintf(stderr, "onnx2cedr kernel: einsum over element type %d is not supported\n", int(p->type));
      std::abort();
  }
}

/*
 * rotary.cpp - o2c_rotary: RotaryEmbedding (opset 23) for float, double, float16 and bfloat16.
 */
#include "o2c_typed.h"

#include "floatx.h"

#include <cstdio>
#include <cstdlib>

namespace {

using namespace o2c::floatx;

template <class T>
void rotary(const T *x, const T *cs, const T *sn, const int64_t *pos, T *out, const o2c_rotary_params_t *p) {
  using R = Tr<T>;
  using C = typename R::C;
  const int64_t B = p->batch, S = p->seq, H = p->heads, D = p->head, half = p->rot_dim / 2;
  for (int64_t b = 0; b < B; ++b)
    for (int64_t s = 0; s < S; ++s) {
      const int64_t row = pos ? pos[b * S + s] : b * S + s;
      if (row < 0 || row >= p->cache_rows) {
        std::fprintf(stderr, "onnx2cedr kernel: rotary position %lld is outside the %lld cached positions\n",
                     static_cast<long long>(row), static_cast<long long>(p->cache_rows));
        std::abort();
      }
      const T *c = cs + row * half, *si = sn + row * half;
      for (int64_t h = 0; h < H; ++h) {
        const int64_t base = (p->heads_first ? (b * H + h) * S + s : (b * S + s) * H + h) * D;
        const T *xi = x + base;
        T *yo = out + base;
        for (int64_t i = 0; i < half; ++i) {
          const int64_t i1 = p->interleaved ? 2 * i : i, i2 = p->interleaved ? 2 * i + 1 : i + half;
          const C x1 = R::ld(xi[i1]), x2 = R::ld(xi[i2]), ci = R::ld(c[i]), sv = R::ld(si[i]);
          yo[i1] = R::st(C(ci * x1 - sv * x2));
          yo[i2] = R::st(C(sv * x1 + ci * x2));
        }
        for (int64_t d = 2 * half; d < D; ++d) yo[d] = xi[d];
      }
    }
}

template <class T>
void run(const void *x, const void *c, const void *s, const int64_t *pos, void *out, const o2c_rotary_params_t *p) {
  rotary(static_cast<const T *>(x), static_cast<const T *>(c), static_cast<const T *>(s), pos,
         static_cast<T *>(out), p);
}

}  // namespace

extern "C" void o2c_rotary(const void *x, const void *cos_cache, const void *sin_cache, const int64_t *position_ids,
                           void *out, const o2c_rotary_params_t *p) {
  switch (p->type) {
    case O2C_DT_FLOAT: run<float>(x, cos_cache, sin_cache, position_ids, out, p); break;
    case O2C_DT_DOUBLE: run<double>(x, cos_cache, sin_cache, position_ids, out, p); break;
    case O2C_DT_FLOAT16: run<f16>(x, cos_cache, sin_cache, position_ids, out, p); break;
    case O2C_DT_BFLOAT16: run<bf16>(x, cos_cache, sin_cache, position_ids, out, p); break;
    default:
      std::fprintf(stderr, "onnx2cedr kernel: rotary embedding over element type %d is not supported\n", int(p->type));
      std::abort();
  }
}

/*
 * typed.cpp - index kernels over any element type (o2c_typed.h): Gather, GatherElements/ND,
 * ScatterElements/ND, ArgMax/ArgMin, TopK, CumSum, Trilu, fills, EyeLike, OneHot.
 * Casts and quantization are in typed_cast.cpp, comparisons and integer arithmetic in
 * typed_eltwise.cpp.
 *
 * One template per kernel, instantiated for every element type through o2c::dispatch_type(); float16 and
 * bfloat16 are stored as 16-bit patterns and computed in float.
 */
#include "o2c_typed.h"

#include "floatx.h"
#include "typed_dispatch.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <type_traits>
#include <vector>

namespace {

[[noreturn]] void fail(const char *what, long long v, long long n) {
  std::fprintf(stderr, "onnx2cedr kernel: %s: index %lld is out of range for a dimension of %lld\n", what, v, n);
  std::abort();
}

using namespace o2c::floatx;  // f16, bf16, Tr<T>


int64_t load_index(const void *idx, int32_t type, int64_t i) {
  switch (type) {
    case O2C_DT_INT32: return static_cast<const int32_t *>(idx)[i];
    case O2C_DT_INT64: return static_cast<const int64_t *>(idx)[i];
    case O2C_DT_INT16: return static_cast<const int16_t *>(idx)[i];
    case O2C_DT_INT8: return static_cast<const int8_t *>(idx)[i];
    case O2C_DT_UINT8: return static_cast<const uint8_t *>(idx)[i];
    case O2C_DT_UINT16: return static_cast<const uint16_t *>(idx)[i];
    case O2C_DT_UINT32: return static_cast<const uint32_t *>(idx)[i];
    case O2C_DT_UINT64: return static_cast<int64_t>(static_cast<const uint64_t *>(idx)[i]);
    case O2C_DT_FLOAT: return static_cast<int64_t>(static_cast<const float *>(idx)[i]);
    case O2C_DT_DOUBLE: return static_cast<int64_t>(static_cast<const double *>(idx)[i]);
    case O2C_DT_FLOAT16: return static_cast<int64_t>(half_to_float(static_cast<const uint16_t *>(idx)[i]));
    default:
      std::fprintf(stderr, "onnx2cedr kernel: index type %d is not supported\n", int(type));
      std::abort();
  }
}

int64_t norm_index(int64_t v, int64_t n, const char *what) {
  int64_t w = v < 0 ? v + n : v;
  if (w < 0 || w >= n) fail(what, v, n);
  return w;
}

}  // namespace

extern "C" void o2c_gather(const void *data, const void *idx, void *out, const o2c_gather_params_t *p) {
  const char *D = static_cast<const char *>(data);
  char *O = static_cast<char *>(out);
  const size_t row = static_cast<size_t>(p->inner * p->elem_size);
  for (int64_t j = 0; j < p->n_idx; ++j) {
    int64_t i = norm_index(load_index(idx, p->idx_type, j), p->axis_dim, "Gather");
    for (int64_t o = 0; o < p->outer; ++o)
      std::memcpy(O + (o * p->n_idx + j) * row, D + (o * p->axis_dim + i) * row, row);
  }
}

namespace {

// Visit every index of shape; fn(linear index, multi-index).
template <class Fn> void each_index(int rank, const int64_t *shape, Fn fn) {
  int64_t total = 1;
  for (int d = 0; d < rank; ++d) total *= shape[d];
  int64_t idx[DASH_MAX_RANK] = {0};
  for (int64_t i = 0; i < total; ++i) {
    fn(i, idx);
    for (int d = rank - 1; d >= 0; --d) {
      if (++idx[d] < shape[d]) break;
      idx[d] = 0;
    }
  }
}

template <class C> C reduce(int red, C a, C b) {
  switch (red) {
    case O2C_RED_ADD: return C(a + b);
    case O2C_RED_MUL: return C(a * b);
    case O2C_RED_MAX: return a > b ? a : b;
    case O2C_RED_MIN: return a < b ? a : b;
    default: return b;
  }
}

}  // namespace

extern "C" void o2c_gather_elements(const void *data, const void *idx, void *out, const o2c_elements_params_t *p) {
  int64_t ds[DASH_MAX_RANK], acc = 1;
  for (int d = p->rank - 1; d >= 0; --d) {
    ds[d] = acc;
    acc *= p->data_shape[d];
  }
  o2c::dispatch_type(p->type, [&](auto t) {
    using T = decltype(t);
    const T *D = static_cast<const T *>(data);
    T *O = static_cast<T *>(out);
    each_index(p->rank, p->idx_shape, [&](int64_t i, const int64_t *ix) {
      int64_t off = 0;
      for (int d = 0; d < p->rank; ++d) {
        int64_t v = d == p->axis ? norm_index(load_index(idx, p->idx_type, i), p->data_shape[d], "GatherElements")
                                 : ix[d];
        off += v * ds[d];
      }
      O[i] = D[off];
    });
  });
}

extern "C" void o2c_scatter_elements(const void *data, const void *idx, const void *updates, void *out,
                                     const o2c_elements_params_t *p) {
  int64_t ds[DASH_MAX_RANK], acc = 1;
  for (int d = p->rank - 1; d >= 0; --d) {
    ds[d] = acc;
    acc *= p->data_shape[d];
  }
  o2c::dispatch_type(p->type, [&](auto t) {
    using T = decltype(t);
    using C = typename Tr<T>::C;
    const T *U = static_cast<const T *>(updates);
    T *O = static_cast<T *>(out);
    if (out != data) std::memcpy(out, data, static_cast<size_t>(acc) * sizeof(T));
    each_index(p->rank, p->idx_shape, [&](int64_t i, const int64_t *ix) {
      int64_t off = 0;
      for (int d = 0; d < p->rank; ++d) {
        int64_t v = d == p->axis ? norm_index(load_index(idx, p->idx_type, i), p->data_shape[d], "ScatterElements")
                                 : ix[d];
        off += v * ds[d];
      }
      if constexpr (std::is_same_v<C, bool>) {
        O[off] = U[i];
      } else {
        O[off] = p->reduction == O2C_RED_NONE ? U[i] : Tr<T>::st(reduce<C>(p->reduction, Tr<T>::ld(O[off]),
                                                                           Tr<T>::ld(U[i])));
      }
    });
  });
}

namespace {
int64_t nd_offset(const int64_t *tuple, const o2c_nd_params_t *p, const char *what) {
  int64_t off = 0;
  for (int64_t j = 0; j < p->k; ++j) off = off * p->data_dims[j] + norm_index(tuple[j], p->data_dims[j], what);
  return off * p->slice;
}
}  // namespace

extern "C" void o2c_gather_nd(const void *data, const int64_t *idx, void *out, const o2c_nd_params_t *p) {
  o2c::dispatch_type(p->type, [&](auto t) {
    using T = decltype(t);
    const T *D = static_cast<const T *>(data);
    T *O = static_cast<T *>(out);
    for (int64_t b = 0; b < p->batch; ++b)
      for (int64_t n = 0; n < p->n_tuples; ++n) {
        int64_t off = nd_offset(idx + (b * p->n_tuples + n) * p->k, p, "GatherND");
        std::memcpy(O + (b * p->n_tuples + n) * p->slice, D + b * p->batch_stride + off,
                    static_cast<size_t>(p->slice) * sizeof(T));
      }
  });
}

extern "C" void o2c_scatter_nd(const void *data, const int64_t *idx, const void *updates, void *out,
                               const o2c_nd_params_t *p) {
  o2c::dispatch_type(p->type, [&](auto t) {
    using T = decltype(t);
    using C = typename Tr<T>::C;
    const T *U = static_cast<const T *>(updates);
    T *O = static_cast<T *>(out);
    if (out != data) std::memcpy(out, data, static_cast<size_t>(p->batch * p->batch_stride) * sizeof(T));
    for (int64_t b = 0; b < p->batch; ++b)
      for (int64_t n = 0; n < p->n_tuples; ++n) {
        int64_t off = b * p->batch_stride + nd_offset(idx + (b * p->n_tuples + n) * p->k, p, "ScatterND");
        const T *u = U + (b * p->n_tuples + n) * p->slice;
        for (int64_t s = 0; s < p->slice; ++s) {
          if constexpr (std::is_same_v<C, bool>) {
            O[off + s] = u[s];
          } else {
            O[off + s] = p->reduction == O2C_RED_NONE
                             ? u[s] : Tr<T>::st(reduce<C>(p->reduction, Tr<T>::ld(O[off + s]), Tr<T>::ld(u[s])));
          }
        }
      }
  });
}

extern "C" void o2c_arg_reduce(const void *in, int64_t *out, const o2c_arg_params_t *p) {
  o2c::dispatch_type(p->type, [&](auto t) {
    using T = decltype(t);
    using C = typename Tr<T>::C;
    const T *X = static_cast<const T *>(in);
    for (int64_t o = 0; o < p->outer; ++o)
      for (int64_t i = 0; i < p->inner; ++i) {
        const T *x = X + o * p->n * p->inner + i;
        int64_t best = 0;
        C bv = Tr<T>::ld(x[0]);
        for (int64_t j = 1; j < p->n; ++j) {
          C v = Tr<T>::ld(x[j * p->inner]);
          bool better = p->is_max ? (p->select_last ? v >= bv : v > bv) : (p->select_last ? v <= bv : v < bv);
          if (better) {
            best = j;
            bv = v;
          }
        }
        out[o * p->inner + i] = best;
      }
  });
}

extern "C" void o2c_topk(const void *in, void *values, int64_t *indices, const o2c_topk_params_t *p) {
  o2c::dispatch_type(p->type, [&](auto t) {
    using T = decltype(t);
    using C = typename Tr<T>::C;
    const T *X = static_cast<const T *>(in);
    T *V = static_cast<T *>(values);
    std::vector<int64_t> order(static_cast<size_t>(p->n));
    std::vector<C> vals(static_cast<size_t>(p->n));
    for (int64_t o = 0; o < p->outer; ++o)
      for (int64_t i = 0; i < p->inner; ++i) {
        const int64_t base = o * p->n * p->inner + i;
        for (int64_t j = 0; j < p->n; ++j) {
          order[j] = j;
          vals[j] = Tr<T>::ld(X[base + j * p->inner]);
        }
        auto cmp = [&](int64_t a, int64_t b) {
          C va = vals[a], vb = vals[b];
          if (va == vb) return a < b;
          return p->largest ? va > vb : va < vb;
        };
        std::partial_sort(order.begin(), order.begin() + p->k, order.end(), cmp);
        const int64_t ob = o * p->k * p->inner + i;
        for (int64_t j = 0; j < p->k; ++j) {
          V[ob + j * p->inner] = X[base + order[j] * p->inner];
          indices[ob + j * p->inner] = order[j];
        }
      }
  });
}

extern "C" void o2c_cumsum(const void *in, void *out, const o2c_cumsum_params_t *p) {
  o2c::dispatch_type(p->type, [&](auto t) {
    using T = decltype(t);
    using C = typename Tr<T>::C;
    const T *X = static_cast<const T *>(in);
    T *O = static_cast<T *>(out);
    for (int64_t o = 0; o < p->outer; ++o)
      for (int64_t i = 0; i < p->inner; ++i) {
        C acc = C(p->product ? 1 : 0);
        for (int64_t s = 0; s < p->n; ++s) {
          int64_t j = p->reverse ? p->n - 1 - s : s;
          int64_t at = (o * p->n + j) * p->inner + i;
          C v = Tr<T>::ld(X[at]);
          if (p->exclusive) O[at] = Tr<T>::st(acc);
          acc = p->product ? C(acc * v) : C(acc + v);
          if (!p->exclusive) O[at] = Tr<T>::st(acc);
        }
      }
  });
}

extern "C" void o2c_trilu(const void *in, void *out, const o2c_trilu_params_t *p) {
  const char *X = static_cast<const char *>(in);
  char *O = static_cast<char *>(out);
  const size_t es = static_cast<size_t>(p->elem_size);
  for (int64_t b = 0; b < p->batch; ++b)
    for (int64_t i = 0; i < p->rows; ++i)
      for (int64_t j = 0; j < p->cols; ++j) {
        size_t at = static_cast<size_t>((b * p->rows + i) * p->cols + j) * es;
        bool keep = p->upper ? (j - i >= p->k) : (j - i <= p->k);
        if (keep) {
          if (O != X) std::memcpy(O + at, X + at, es);
        } else {
          std::memset(O + at, 0, es);
        }
      }
}

extern "C" void o2c_fill_value(void *out, const o2c_fill_params_t *p) {
  char *O = static_cast<char *>(out);
  const size_t es = static_cast<size_t>(p->elem_size);
  for (int64_t i = 0; i < p->n; ++i) std::memcpy(O + static_cast<size_t>(i) * es, p->value, es);
}

extern "C" void o2c_eye(void *out, const o2c_eye_params_t *p) {
  o2c::dispatch_type(p->type, [&](auto t) {
    using T = decltype(t);
    using C = typename Tr<T>::C;
    T *O = static_cast<T *>(out);
    for (int64_t i = 0; i < p->rows; ++i)
      for (int64_t j = 0; j < p->cols; ++j) O[i * p->cols + j] = Tr<T>::st(C(j - i == p->k ? 1 : 0));
  });
}

extern "C" void o2c_onehot(const void *idx, const void *values, void *out, const o2c_onehot_params_t *p) {
  const char *V = static_cast<const char *>(values);
  char *O = static_cast<char *>(out);
  const size_t es = static_cast<size_t>(p->elem_size);
  for (int64_t o = 0; o < p->outer; ++o)
    for (int64_t i = 0; i < p->inner; ++i) {
      int64_t v = load_index(idx, p->idx_type, o * p->inner + i);
      if (v < 0) v += p->depth;
      for (int64_t d = 0; d < p->depth; ++d)
        std::memcpy(O + static_cast<size_t>((o * p->depth + d) * p->inner + i) * es, V + (d == v ? es : 0), es);
    }
}


/*
 * typed.cpp - kernels over any element type (o2c_typed.h): casts, comparisons, logic, integer
 * arithmetic, Where, gather/scatter, ArgMax/ArgMin, TopK, CumSum, Trilu, fills.
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

// Visit shape (rank <= 8) a row at a time: fn(out, a, b, c, n, a_step, b_step, c_step) for each run
// of the last dimension (n elements; the offsets of its first element, and the last dimension's
// strides).
template <class Fn>
void walk_rows3(int rank, const int64_t *shape, const int64_t *sa, const int64_t *sb, const int64_t *sc, Fn fn) {
  int64_t total = 1;
  for (int d = 0; d < rank; ++d) total *= shape[d];
  if (total == 0) return;
  if (rank == 0) {
    fn(0, 0, 0, 0, 1, 0, 0, 0);
    return;
  }
  int64_t idx[DASH_MAX_RANK] = {0};
  int64_t oa = 0, ob = 0, oc = 0;
  const int last = rank - 1;
  const int64_t inner = shape[last];
  for (int64_t o = 0; o < total; o += inner) {
    fn(o, oa, ob, oc, inner, sa[last], sb[last], sc[last]);
    for (int d = last - 1; d >= 0; --d) {
      ++idx[d];
      oa += sa[d];
      ob += sb[d];
      oc += sc[d];
      if (idx[d] < shape[d]) break;
      oa -= sa[d] * shape[d];
      ob -= sb[d] * shape[d];
      oc -= sc[d] * shape[d];
      idx[d] = 0;
    }
  }
}

// The same over two operands: fn(out, a, b, n, a_step, b_step).
template <class Fn>
void walk_rows(int rank, const int64_t *shape, const int64_t *sa, const int64_t *sb, Fn fn) {
  walk_rows3(rank, shape, sa, sb, sb, [&](int64_t o, int64_t ia, int64_t ib, int64_t, int64_t n, int64_t as,
                                           int64_t bs, int64_t) { fn(o, ia, ib, n, as, bs); });
}

// Visit every index of shape (rank <= 8) with three strided offsets; fn(out, a, b, c).
template <class Fn>
void walk3(int rank, const int64_t *shape, const int64_t *sa, const int64_t *sb, const int64_t *sc, Fn fn) {
  walk_rows3(rank, shape, sa, sb, sc,
             [&](int64_t o, int64_t ia, int64_t ib, int64_t ic, int64_t n, int64_t as, int64_t bs, int64_t cs) {
               for (int64_t j = 0; j < n; ++j) fn(o + j, ia + j * as, ib + j * bs, ic + j * cs);
             });
}

template <class C> bool is_nan(C v) {
  if constexpr (std::is_floating_point_v<C>) return std::isnan(v);
  return false;
}

template <class C> C arith(int op, C a, C b) {
  switch (op) {
    case O2C_BIN_ADD: return C(a + b);
    case O2C_BIN_SUB: return C(a - b);
    case O2C_BIN_MUL: return C(a * b);
    case O2C_BIN_DIV:
      if constexpr (std::is_integral_v<C>) {
        if (b == 0) return C(0);
        if constexpr (std::is_signed_v<C>) {
          if (a == std::numeric_limits<C>::min() && b == C(-1)) return a;
        }
      }
      return C(a / b);
    case O2C_BIN_MOD:  // the result takes the divisor's sign
      if constexpr (std::is_integral_v<C>) {
        if (b == 0) return C(0);
        if constexpr (std::is_signed_v<C>) {
          if (b == C(-1)) return C(0);
          C r = C(a % b);
          return (r != 0 && ((r < 0) != (b < 0))) ? C(r + b) : r;
        } else {
          return C(a % b);
        }
      } else {
        C r = std::fmod(a, b);
        return (r != 0 && ((r < 0) != (b < 0))) ? C(r + b) : r;
      }
    case O2C_BIN_FMOD:  // the result takes the dividend's sign
      if constexpr (std::is_integral_v<C>) {
        if (b == 0) return C(0);
        if constexpr (std::is_signed_v<C>) {
          if (b == C(-1)) return C(0);
        }
        return C(a % b);
      } else {
        return std::fmod(a, b);
      }
    case O2C_BIN_MAX:
      if (is_nan(a) || is_nan(b)) return is_nan(a) ? a : b;
      return a > b ? a : b;
    case O2C_BIN_MIN:
      if (is_nan(a) || is_nan(b)) return is_nan(a) ? a : b;
      return a < b ? a : b;
    case O2C_BIN_POW:
      if constexpr (std::is_integral_v<C>) {
        if (b < 0) return C(a == 1 ? 1 : 0);
        C r = 1, base = a;
        for (auto e = b; e > 0; e = e / 2) {
          if (e % 2) r = C(r * base);
          base = C(base * base);
        }
        return r;
      } else {
        return C(std::pow(a, b));
      }
    case O2C_BIN_BITAND:
      if constexpr (std::is_integral_v<C>) return C(a & b);
      break;
    case O2C_BIN_BITOR:
      if constexpr (std::is_integral_v<C>) return C(a | b);
      break;
    case O2C_BIN_BITXOR:
      if constexpr (std::is_integral_v<C>) return C(a ^ b);
      break;
    case O2C_BIN_SHL:  // shifts of the bit pattern; a shift out of [0, width) gives 0
      if constexpr (std::is_integral_v<C>) {
        using U = std::make_unsigned_t<C>;
        if (b < 0 || static_cast<uint64_t>(b) >= sizeof(C) * 8) return C(0);
        return static_cast<C>(static_cast<U>(static_cast<U>(a) << static_cast<unsigned>(b)));
      }
      break;
    case O2C_BIN_SHR:  // arithmetic for signed types (out of range: -1 for negative values)
      if constexpr (std::is_integral_v<C>) {
        if (b < 0 || static_cast<uint64_t>(b) >= sizeof(C) * 8) return C(a < 0 ? -1 : 0);
        return C(a >> static_cast<unsigned>(b));
      }
      break;
    default: break;
  }
  std::fprintf(stderr, "onnx2cedr kernel: binary op %d is not defined for this element type\n", op);
  std::abort();
}

template <class C> bool predicate(int op, C a, C b) {
  switch (op) {
    case O2C_BIN_EQ: return a == b;
    case O2C_BIN_LT: return a < b;
    case O2C_BIN_GT: return a > b;
    case O2C_BIN_LE: return a <= b;
    case O2C_BIN_GE: return a >= b;
    case O2C_BIN_AND: return bool(a) && bool(b);
    case O2C_BIN_OR: return bool(a) || bool(b);
    case O2C_BIN_XOR: return bool(a) != bool(b);
    default: return false;
  }
}

// The comparison of a predicate op as a function object, so that a row loop is compiled per op.
template <class F> void dispatch_predicate(int op, F &&f) {
  switch (op) {
    case O2C_BIN_EQ: f([](auto a, auto b) { return a == b; }); break;
    case O2C_BIN_LT: f([](auto a, auto b) { return a < b; }); break;
    case O2C_BIN_GT: f([](auto a, auto b) { return a > b; }); break;
    case O2C_BIN_LE: f([](auto a, auto b) { return a <= b; }); break;
    case O2C_BIN_GE: f([](auto a, auto b) { return a >= b; }); break;
    case O2C_BIN_AND: f([](auto a, auto b) { return bool(a) && bool(b); }); break;
    case O2C_BIN_OR: f([](auto a, auto b) { return bool(a) || bool(b); }); break;
    case O2C_BIN_XOR: f([](auto a, auto b) { return bool(a) != bool(b); }); break;
    default: f([](auto, auto) { return false; }); break;
  }
}

template <class C, class S> C convert(S v) {
  if constexpr (std::is_same_v<C, bool>) {
    return v != S(0);
  } else if constexpr (std::is_integral_v<C> && std::is_floating_point_v<S>) {
    if (std::isnan(v)) return C(0);
    // through a 64-bit integer: wraps like numpy's astype for out-of-range values of small types
    if (v >= S(9.2233720368547758e18) || v < S(-9.2233720368547758e18)) return std::numeric_limits<C>::min();
    if constexpr (std::is_unsigned_v<C> && sizeof(C) == 8) {
      return v < 0 ? C(static_cast<int64_t>(v)) : C(v);
    } else {
      return C(static_cast<int64_t>(v));
    }
  } else {
    return static_cast<C>(v);
  }
}

// the types only casts handle (one element per byte), else every type of o2c::dispatch_type()
template <class F> void dispatch_cast(int32_t t, F &&f) {
  switch (t) {
    case O2C_DT_FLOAT8E4M3FN: f(f8e4m3fn{}); break;
    case O2C_DT_FLOAT8E4M3FNUZ: f(f8e4m3fnuz{}); break;
    case O2C_DT_FLOAT8E5M2: f(f8e5m2{}); break;
    case O2C_DT_FLOAT8E5M2FNUZ: f(f8e5m2fnuz{}); break;
    case O2C_DT_FLOAT4E2M1: f(f4e2m1{}); break;
    case O2C_DT_INT4: f(i4{}); break;
    case O2C_DT_UINT4: f(u4{}); break;
    case O2C_DT_INT2: f(i2{}); break;
    case O2C_DT_UINT2: f(u2{}); break;
    default: o2c::dispatch_type(t, f);
  }
}

template <class T> struct is_mini : std::false_type {};
template <int E, int M, int B, int K> struct is_mini<mini<E, M, B, K>> : std::true_type {};
template <class T> struct is_sub_byte_int : std::false_type {};
template <int B, bool S> struct is_sub_byte_int<small_int<B, S>> : std::true_type {};

// ONNX's rule for a cast from a float type to a 4- or 2-bit integer (the int4 technical document, and
// onnx.numpy_helper.saturate_cast): round half to even, then saturate to the type's range; NaN -> 0.
// Integer sources keep the general fixed-point rule (the high bits are dropped).
template <int BITS, bool SIGNED> int32_t to_sub_byte_int(double v) {
  constexpr double lo = SIGNED ? -double(1 << (BITS - 1)) : 0.0;
  constexpr double hi = SIGNED ? double((1 << (BITS - 1)) - 1) : double((1 << BITS) - 1);
  if (std::isnan(v)) return 0;
  const double r = std::nearbyint(v);  // the default rounding mode: half to even
  return int32_t(r < lo ? lo : r > hi ? hi : r);
}

template <int BITS, bool SIGNED> small_int<BITS, SIGNED> sub_byte_from_float(small_int<BITS, SIGNED>, double v) {
  return Tr<small_int<BITS, SIGNED>>::st(to_sub_byte_int<BITS, SIGNED>(v));
}

}  // namespace

extern "C" void o2c_cast(const void *in, void *out, const o2c_cast_params_t *p) {
  dispatch_cast(p->from, [&](auto s) {
    using S = decltype(s);
    const S *src = static_cast<const S *>(in);
    dispatch_cast(p->to, [&](auto d) {
      using D = decltype(d);
      using DC = typename Tr<D>::C;
      D *dst = static_cast<D *>(out);
      if constexpr (is_mini<D>::value) {
        // saturate: out-of-range values (infinities too) become the largest finite value; NaN stays
        const DC mx = Tr<D>::F::max_value();
        for (int64_t i = 0; i < p->n; ++i) {
          DC v = convert<DC>(Tr<S>::ld(src[i]));
          if (p->saturate) v = v > mx ? mx : v < -mx ? -mx : v;
          dst[i] = Tr<D>::st(v);
        }
      } else if constexpr (is_sub_byte_int<D>::value && std::is_floating_point_v<typename Tr<S>::C>) {
        for (int64_t i = 0; i < p->n; ++i)
          dst[i] = sub_byte_from_float(d, double(Tr<S>::ld(src[i])));
      } else if constexpr (std::is_arithmetic_v<S> && std::is_arithmetic_v<D> &&
                           !(std::is_integral_v<D> && !std::is_same_v<D, bool> && std::is_floating_point_v<S>)) {
        // plain types, no float -> integer rounding rules: a conversion the compiler vectorizes
        const int64_t n = p->n;
        for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<D>(src[i]);
      } else {
        for (int64_t i = 0; i < p->n; ++i) dst[i] = Tr<D>::st(convert<DC>(Tr<S>::ld(src[i])));
      }
    });
  });
}


extern "C" void o2c_binary_typed(const void *a, const void *b, void *out, const o2c_binary_typed_params_t *p) {
  const bool pred = p->op >= O2C_BIN_EQ && p->op <= O2C_BIN_XOR;
  o2c::dispatch_type(p->type, [&](auto t) {
    using T = decltype(t);
    using C = typename Tr<T>::C;
    const T *A = static_cast<const T *>(a);
    const T *B = static_cast<const T *>(b);
    const int op = p->op;
    if (pred) {
      bool *O = static_cast<bool *>(out);
      if constexpr (std::is_arithmetic_v<T>) {
        // plain types: the comparison chosen once, rows with unit or broadcast strides in tight loops
        dispatch_predicate(op, [&](auto cmp) {
          walk_rows(p->rank, p->out_shape, p->a_stride, p->b_stride,
                    [&](int64_t o, int64_t ia, int64_t ib, int64_t n, int64_t sa, int64_t sb) {
                      bool *out_row = O + o;
                      const T *a_row = A + ia, *b_row = B + ib;
                      if (sa == 1 && sb == 1) {
                        for (int64_t j = 0; j < n; ++j) out_row[j] = cmp(C(a_row[j]), C(b_row[j]));
                      } else if (sa == 0 && sb == 1) {
                        const C av = C(a_row[0]);
                        for (int64_t j = 0; j < n; ++j) out_row[j] = cmp(av, C(b_row[j]));
                      } else if (sa == 1 && sb == 0) {
                        const C bv = C(b_row[0]);
                        for (int64_t j = 0; j < n; ++j) out_row[j] = cmp(C(a_row[j]), bv);
                      } else {
                        for (int64_t j = 0; j < n; ++j) out_row[j] = cmp(C(a_row[j * sa]), C(b_row[j * sb]));
                      }
                    });
        });
      } else {
        walk3(p->rank, p->out_shape, p->a_stride, p->b_stride, p->b_stride, [&](int64_t o, int64_t ia, int64_t ib, int64_t) {
          O[o] = predicate<C>(op, Tr<T>::ld(A[ia]), Tr<T>::ld(B[ib]));
        });
      }
    } else {
      T *O = static_cast<T *>(out);
      if constexpr (std::is_same_v<T, bool>) {
        std::fprintf(stderr, "onnx2cedr kernel: arithmetic on bool\n");
        std::abort();
      } else {
        walk3(p->rank, p->out_shape, p->a_stride, p->b_stride, p->b_stride,
              [&](int64_t o, int64_t ia, int64_t ib, int64_t) {
                O[o] = Tr<T>::st(arith<C>(op, Tr<T>::ld(A[ia]), Tr<T>::ld(B[ib])));
              });
      }
    }
  });
}

extern "C" void o2c_unary_typed(const void *in, void *out, const o2c_unary_typed_params_t *p) {
  o2c::dispatch_type(p->type, [&](auto t) {
    using T = decltype(t);
    using C = typename Tr<T>::C;
    const T *X = static_cast<const T *>(in);
    const int op = p->op;
    if (op >= O2C_UN_ISNAN && op <= O2C_UN_ISNEGINF) {
      bool *O = static_cast<bool *>(out);
      for (int64_t i = 0; i < p->n; ++i) {
        C v = Tr<T>::ld(X[i]);
        bool r = false;
        if constexpr (std::is_floating_point_v<C>) {
          r = op == O2C_UN_ISNAN ? std::isnan(v) : op == O2C_UN_ISINF ? std::isinf(v)
              : op == O2C_UN_ISPOSINF ? (std::isinf(v) && v > 0) : (std::isinf(v) && v < 0);
        }
        O[i] = r;
      }
      return;
    }
    T *O = static_cast<T *>(out);
    for (int64_t i = 0; i < p->n; ++i) {
      C v = Tr<T>::ld(X[i]);
      C r = v;
      if constexpr (std::is_same_v<C, bool>) {
        if (op == O2C_UN_NOT) r = !v;
      } else {
        switch (op) {
          case O2C_UN_NEG: r = C(C(0) - v); break;
          case O2C_UN_ABS:
            if constexpr (std::is_signed_v<C>) r = v < 0 ? C(C(0) - v) : v;
            break;
          case O2C_UN_SIGN: r = C(v > C(0) ? 1 : (v < C(0) ? -1 : 0)); break;
          case O2C_UN_BITNOT:
            if constexpr (std::is_integral_v<C>) r = C(~v);
            break;
          case O2C_UN_RELU: r = v > C(0) ? v : C(0); break;
          default:
            if constexpr (std::is_floating_point_v<C>) {
              switch (op) {
                case O2C_UN_EXP: r = std::exp(v); break;
                case O2C_UN_LOG: r = std::log(v); break;
                case O2C_UN_SQRT: r = std::sqrt(v); break;
                case O2C_UN_RECIPROCAL: r = C(1) / v; break;
                case O2C_UN_FLOOR: r = std::floor(v); break;
                case O2C_UN_CEIL: r = std::ceil(v); break;
                case O2C_UN_ROUND: r = std::nearbyint(v); break;  // half to even (default rounding mode)
                case O2C_UN_TANH: r = std::tanh(v); break;
                case O2C_UN_SIGMOID: r = v >= C(0) ? C(1) / (C(1) + std::exp(-v)) : std::exp(v) / (C(1) + std::exp(v)); break;
                case O2C_UN_SIN: r = std::sin(v); break;
                case O2C_UN_COS: r = std::cos(v); break;
                case O2C_UN_ERF: r = std::erf(v); break;
                default: break;
              }
            }
            break;
        }
      }
      O[i] = Tr<T>::st(r);
    }
  });
}

extern "C" void o2c_where(const bool *cond, const void *x, const void *y, void *out, const o2c_where_params_t *p) {
  const char *X = static_cast<const char *>(x);
  const char *Y = static_cast<const char *>(y);
  char *O = static_cast<char *>(out);
  const size_t es = static_cast<size_t>(p->elem_size);
  // walk3 visits (out, cond, x) offsets; y's offset follows the same index through its own strides
  int64_t total = 1;
  for (int d = 0; d < p->rank; ++d) total *= p->out_shape[d];
  if (total == 0) return;
  int64_t idx[DASH_MAX_RANK] = {0};
  for (int64_t o = 0; o < total; ++o) {
    int64_t oc = 0, ox = 0, oy = 0;
    for (int d = 0; d < p->rank; ++d) {
      oc += idx[d] * p->c_stride[d];
      ox += idx[d] * p->x_stride[d];
      oy += idx[d] * p->y_stride[d];
    }
    std::memcpy(O + o * es, cond[oc] ? X + ox * es : Y + oy * es, es);
    for (int d = p->rank - 1; d >= 0; --d) {
      if (++idx[d] < p->out_shape[d]) break;
      idx[d] = 0;
    }
  }
}

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

// ---- QuantizeLinear / DequantizeLinear ----
namespace {

template <class Q> struct QuantRange {  // the integer range of a quantized type (unused for floats)
  static constexpr int64_t lo = std::numeric_limits<Q>::min(), hi = std::numeric_limits<Q>::max();
};
template <int BITS, bool SIGNED> struct QuantRange<small_int<BITS, SIGNED>> {
  static constexpr int64_t lo = SIGNED ? -(int64_t(1) << (BITS - 1)) : 0;
  static constexpr int64_t hi = SIGNED ? (int64_t(1) << (BITS - 1)) - 1 : (int64_t(1) << BITS) - 1;
};
template <class Q> constexpr bool is_small_int = false;
template <int B, bool S> constexpr bool is_small_int<small_int<B, S>> = true;

template <class F, class Q>
void quantize(const void *in, const void *scale, const void *zp, void *out, const o2c_quant_params_t *p) {
  using C = std::conditional_t<std::is_same_v<F, double>, double, float>;
  const F *S = static_cast<const F *>(scale);
  const Q *Z = static_cast<const Q *>(zp);
  const int64_t D = p->axis_dim, I = p->inner;
  constexpr bool mini_q = is_mini<Q>::value;
  constexpr bool int_q = std::is_integral_v<Q> || is_small_int<Q>;
  // nested loops, not one over e with divisions (they cost more than the arithmetic)
  for (int64_t o = 0, e = 0; o < p->outer; ++o)
    for (int64_t d = 0; d < D; ++d)
      for (int64_t i = 0; i < I; ++i, ++e) {
        const int64_t si = o * p->s_outer + (d / p->block) * p->s_axis + i * p->s_inner;
        const C sc = C(Tr<F>::ld(S[si]));
        if (p->dequantize) {
          const Q *X = static_cast<const Q *>(in);
          C v = C(Tr<Q>::ld(X[e]));
          if constexpr (!mini_q) {
            if (Z) v -= C(Tr<Q>::ld(Z[si]));
          }
          static_cast<F *>(out)[e] = Tr<F>::st(static_cast<typename Tr<F>::C>(v * sc));
        } else {
          const F *X = static_cast<const F *>(in);
          C v = C(Tr<F>::ld(X[e])) / sc;
          Q *Y = static_cast<Q *>(out);
          if constexpr (int_q) {
            int64_t r = static_cast<int64_t>(std::nearbyint(v)) + (Z ? int64_t(Tr<Q>::ld(Z[si])) : 0);
            r = std::min<int64_t>(std::max<int64_t>(r, QuantRange<Q>::lo), QuantRange<Q>::hi);
            Y[e] = Tr<Q>::st(static_cast<typename Tr<Q>::C>(r));
          } else if constexpr (mini_q) {
            float f = static_cast<float>(v);
            if (Tr<Q>::F::top == 3 && Z) f += Tr<Q>::ld(Z[si]);  // float4 e2m1 adds its zero point
            const float mx = Tr<Q>::F::max_value();
            if (p->saturate) f = f > mx ? mx : f < -mx ? -mx : f;
            Y[e] = Tr<Q>::st(f);
          } else {
            std::fprintf(stderr, "onnx2cedr kernel: quantizing to element type %d is not supported\n", int(p->quant_type));
            std::abort();
          }
        }
      }
}

template <class Fn> void dispatch_float(int32_t t, Fn &&f) {
  switch (t) {
    case O2C_DT_FLOAT: f(float{}); break;
    case O2C_DT_DOUBLE: f(double{}); break;
    case O2C_DT_FLOAT16: f(f16{}); break;
    case O2C_DT_BFLOAT16: f(bf16{}); break;
    default:
      std::fprintf(stderr, "onnx2cedr kernel: scale type %d is not supported\n", int(t));
      std::abort();
  }
}

}  // namespace

extern "C" void o2c_quantize_linear(const void *in, const void *scale, const void *zero_point, void *out,
                                    const o2c_quant_params_t *p) {
  dispatch_float(p->float_type, [&](auto f) {
    dispatch_cast(p->quant_type, [&](auto q) {
      using Q = decltype(q);
      if constexpr (std::is_same_v<Q, bool> || std::is_same_v<Q, f16> || std::is_same_v<Q, bf16> ||
                    std::is_floating_point_v<Q>) {
        std::fprintf(stderr, "onnx2cedr kernel: quantized type %d is not supported\n", int(p->quant_type));
        std::abort();
      } else {
        quantize<decltype(f), Q>(in, scale, zero_point, out, p);
      }
    });
  });
}

extern "C" void o2c_dynamic_quantize(const float *x, uint8_t *y, float *scale, uint8_t *zero_point,
                                     const o2c_dynamic_quantize_params_t *p) {
  float mx = 0.0f, mn = 0.0f;
  for (int64_t i = 0; i < p->n; ++i) {
    mx = x[i] > mx ? x[i] : mx;
    mn = x[i] < mn ? x[i] : mn;
  }
  const float s = (mx == mn ? 1.0f : mx - mn) / 255.0f;
  float z = 0.0f - mn / s;
  z = std::nearbyint(z < 0.0f ? 0.0f : z > 255.0f ? 255.0f : z);
  for (int64_t i = 0; i < p->n; ++i) {
    float q = std::nearbyint(x[i] / s) + z;
    y[i] = static_cast<uint8_t>(q < 0.0f ? 0.0f : q > 255.0f ? 255.0f : q);
  }
  *scale = s;
  *zero_point = static_cast<uint8_t>(z);
}

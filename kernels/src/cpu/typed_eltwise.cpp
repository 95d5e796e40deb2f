/*
 * typed_eltwise.cpp - element-wise kernels over any element type (o2c_typed.h): comparisons, logic,
 * integer arithmetic (with broadcasting strides), the typed unary ops, Where.
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

using namespace o2c::floatx;  // f16, bf16, Tr<T>

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

// The comparison of a predicate op as a function object, so that a row loop is compiled per op and
// type. ONNX's And/Or/Xor take bool only, and Less/Greater/... take no bool: each type gets the loops
// of its own ops (the others would be dead code that costs compile time), and anything else goes
// through the general loop (false is returned). Greater and GreaterOrEqual arrive here as Less and
// LessOrEqual with the operands swapped (o2c_binary_typed).
template <class T, class F> bool dispatch_predicate(int op, F &&f) {
  if constexpr (std::is_same_v<T, bool>) {
    switch (op) {
      case O2C_BIN_EQ: f([](auto a, auto b) { return a == b; }); return true;
      case O2C_BIN_AND: f([](auto a, auto b) { return bool(a) && bool(b); }); return true;
      case O2C_BIN_OR: f([](auto a, auto b) { return bool(a) || bool(b); }); return true;
      case O2C_BIN_XOR: f([](auto a, auto b) { return bool(a) != bool(b); }); return true;
      default: break;
    }
  } else {
    switch (op) {
      case O2C_BIN_EQ: f([](auto a, auto b) { return a == b; }); return true;
      case O2C_BIN_LT: f([](auto a, auto b) { return a < b; }); return true;
      case O2C_BIN_LE: f([](auto a, auto b) { return a <= b; }); return true;
      default: break;
    }
  }
  return false;
}

}  // namespace

extern "C" void o2c_binary_typed(const void *a, const void *b, void *out, const o2c_binary_typed_params_t *p) {
  const bool pred = p->op >= O2C_BIN_EQ && p->op <= O2C_BIN_XOR;
  int op = p->op;
  const int64_t *a_stride = p->a_stride, *b_stride = p->b_stride;
  if (op == O2C_BIN_GT || op == O2C_BIN_GE) {  // a > b is b < a, a >= b is b <= a (NaN included)
    std::swap(a, b);
    std::swap(a_stride, b_stride);
    op = op == O2C_BIN_GT ? O2C_BIN_LT : O2C_BIN_LE;
  }
  o2c::dispatch_type(p->type, [&](auto t) {
    using T = decltype(t);
    using C = typename Tr<T>::C;
    const T *A = static_cast<const T *>(a);
    const T *B = static_cast<const T *>(b);
    if (pred) {
      bool *O = static_cast<bool *>(out);
      // plain types: the comparison chosen once, rows with unit or broadcast strides in tight loops
      bool done = false;
      if constexpr (std::is_arithmetic_v<T>) {
        done = dispatch_predicate<T>(op, [&](auto cmp) {
          walk_rows(p->rank, p->out_shape, a_stride, b_stride,
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
                        // general strides (rare): one loop with the run-time switch
                        for (int64_t j = 0; j < n; ++j) out_row[j] = predicate<C>(op, C(a_row[j * sa]), C(b_row[j * sb]));
                      }
                    });
        });
      }
      if (!done) {
        walk3(p->rank, p->out_shape, a_stride, b_stride, b_stride, [&](int64_t o, int64_t ia, int64_t ib, int64_t) {
          O[o] = predicate<C>(op, Tr<T>::ld(A[ia]), Tr<T>::ld(B[ib]));
        });
      }
    } else {
      T *O = static_cast<T *>(out);
      if constexpr (std::is_same_v<T, bool>) {
        std::fprintf(stderr, "onnx2cedr kernel: arithmetic on bool\n");
        std::abort();
      } else {
        walk3(p->rank, p->out_shape, a_stride, b_stride, b_stride,
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


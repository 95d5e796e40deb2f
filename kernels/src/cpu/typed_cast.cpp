/*
 * typed_cast.cpp - Cast between any two element types (8-, 4- and 2-bit floats and integers
 * included), QuantizeLinear / DequantizeLinear and DynamicQuantizeLinear (o2c_typed.h).
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

/*
 * floatx.h - narrow types for the typed CPU kernels (internal): float16 and bfloat16 are stored as
 * 16-bit patterns and computed in float; the float8 formats, float4 e2m1 and 4-/2-bit integers are
 * stored one per byte (the casts use them). Tr<T> names the type a storage type T is computed in
 * and converts both ways (round to nearest even).
 */
#ifndef ONNX2CEDR_KERNELS_CPU_FLOATX_H
#define ONNX2CEDR_KERNELS_CPU_FLOATX_H

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

namespace o2c {
namespace floatx {

struct f16 { uint16_t bits; };
struct bf16 { uint16_t bits; };

inline float half_to_float(uint16_t h) {
  uint32_t sign = (h & 0x8000u) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ffu, out;
  if (exp == 0) {
    if (man == 0) {
      out = sign;
    } else {  // subnormal: normalize
      int e = -1;
      do { ++e; man <<= 1; } while ((man & 0x400u) == 0);
      out = sign | (uint32_t(127 - 15 - e) << 23) | ((man & 0x3ffu) << 13);
    }
  } else if (exp == 0x1f) {
    out = sign | 0x7f800000u | (man << 13);
  } else {
    out = sign | ((exp + 127 - 15) << 23) | (man << 13);
  }
  float f;
  std::memcpy(&f, &out, 4);
  return f;
}

inline uint16_t float_to_half(float f) {  // round to nearest even
  uint32_t x;
  std::memcpy(&x, &f, 4);
  uint32_t sign = (x >> 16) & 0x8000u;
  uint32_t ax = x & 0x7fffffffu;
  if (ax >= 0x7f800000u) return uint16_t(sign | 0x7c00u | (ax > 0x7f800000u ? 0x200u : 0));  // inf/nan
  if (ax >= 0x477ff000u) return uint16_t(sign | 0x7c00u);                                      // overflow
  if (ax < 0x38800000u) {  // subnormal or zero in half
    if (ax < 0x33000000u) return uint16_t(sign);
    uint32_t e = ax >> 23, m = (ax & 0x7fffffu) | 0x800000u;
    uint32_t shift = 126 - e;  // 14 - (e - 127) + 13 - ... : maps to half subnormal
    uint32_t r = m >> shift, rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
    if (rem > half || (rem == half && (r & 1u))) ++r;
    return uint16_t(sign | r);
  }
  uint32_t r = ((ax - 0x38000000u) >> 13), rem = ax & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (r & 1u))) ++r;
  return uint16_t(sign | r);
}

inline float bf16_to_float(uint16_t b) {
  uint32_t x = uint32_t(b) << 16;
  float f;
  std::memcpy(&f, &x, 4);
  return f;
}

inline uint16_t float_to_bf16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  if ((x & 0x7fffffffu) > 0x7f800000u) return uint16_t(0x7fc0u);  // the canonical quiet nan
  uint32_t lsb = (x >> 16) & 1u;
  return uint16_t((x + 0x7fffu + lsb) >> 16);
}

// T: storage type; C: the type computed in
template <class T> struct Tr {
  using C = T;
  static C ld(T v) { return v; }
  static T st(C v) { return v; }
};
template <> struct Tr<f16> {
  using C = float;
  static C ld(f16 v) { return half_to_float(v.bits); }
  static f16 st(C v) { return f16{float_to_half(v)}; }
};
template <> struct Tr<bf16> {
  using C = float;
  static C ld(bf16 v) { return bf16_to_float(v.bits); }
  static bf16 st(C v) { return bf16{float_to_bf16(v)}; }
};

// ---- 8-bit (and 4-bit) floats, one element per byte (as numpy/ml_dtypes hold them) ----
// KIND: IEEE (inf and NaNs at the top exponent: e5m2), FN (no inf; NaN = all exponent and mantissa
// bits: e4m3fn), FNUZ (no inf, no -0; NaN = the sign bit alone), FULL (no inf, no NaN: e2m1).
enum MiniKind { MINI_IEEE = 0, MINI_FN = 1, MINI_FNUZ = 2, MINI_FULL = 3 };
template <int E, int M, int BIAS, int KIND> struct mini { uint8_t bits; };
using f8e4m3fn = mini<4, 3, 7, MINI_FN>;
using f8e4m3fnuz = mini<4, 3, 8, MINI_FNUZ>;
using f8e5m2 = mini<5, 2, 15, MINI_IEEE>;
using f8e5m2fnuz = mini<5, 2, 16, MINI_FNUZ>;
using f4e2m1 = mini<2, 1, 1, MINI_FULL>;

template <int E, int M, int BIAS, int KIND> struct MiniFormat {
  static constexpr int top = (1 << E) - 1;  // the largest exponent field
  static constexpr uint8_t sign_bit = uint8_t(1u << (E + M));
  // the largest finite value
  static float max_value() {
    const int e = (KIND == MINI_IEEE ? top - 1 : top) - BIAS;
    const int mant = KIND == MINI_FN ? (1 << M) - 2 : (1 << M) - 1;
    return std::ldexp(1.0f + float(mant) / float(1 << M), e);
  }
  static float decode(uint8_t b) {
    const bool neg = b & sign_bit;
    const int e = (b >> M) & top, m = b & ((1 << M) - 1);
    if (KIND == MINI_FNUZ && b == sign_bit) return std::numeric_limits<float>::quiet_NaN();
    if (KIND == MINI_FN && e == top && m == (1 << M) - 1) return std::numeric_limits<float>::quiet_NaN();
    if (KIND == MINI_IEEE && e == top)
      return m ? std::numeric_limits<float>::quiet_NaN()
               : (neg ? -1.0f : 1.0f) * std::numeric_limits<float>::infinity();
    const float v = e == 0 ? std::ldexp(float(m), 1 - BIAS - M) : std::ldexp(float((1 << M) + m), e - BIAS - M);
    return neg ? -v : v;
  }
  // round to nearest even; beyond the largest finite value: inf (IEEE), the largest value (FULL), else NaN
  static uint8_t encode(float f) {
    const uint8_t sign = std::signbit(f) ? sign_bit : 0;
    const uint8_t nan = KIND == MINI_FNUZ ? sign_bit : KIND == MINI_FULL ? sign : uint8_t(sign | ((1 << (E + M)) - 1));
    if (std::isnan(f)) return KIND == MINI_IEEE ? uint8_t(sign | (top << M) | (1 << (M - 1))) : nan;
    const double a = std::fabs(double(f));
    const uint8_t maxcode = uint8_t(sign | ((KIND == MINI_IEEE ? top - 1 : top) << M) |
                                    (KIND == MINI_FN ? (1 << M) - 2 : (1 << M) - 1));
    auto overflow = [&]() -> uint8_t {
      if (KIND == MINI_IEEE) return uint8_t(sign | (top << M));
      return KIND == MINI_FULL ? maxcode : nan;
    };
    if (std::isinf(a)) return overflow();
    const int min_exp = 1 - BIAS;  // of the smallest normal
    int e2 = 0;
    std::frexp(a, &e2);
    int ue = std::max(e2 - 1, min_exp);
    const double q = std::nearbyint(std::ldexp(a, M - ue));  // the mantissa, rounded half to even
    const double v = std::ldexp(q, ue - M);
    if (v > double(max_value())) return overflow();
    if (v == 0.0) return KIND == MINI_FNUZ ? uint8_t(0) : sign;
    std::frexp(v, &e2);
    ue = e2 - 1;
    if (ue < min_exp) return uint8_t(sign | uint8_t(std::ldexp(v, M - min_exp)));  // subnormal
    return uint8_t(sign | ((ue + BIAS) << M) | (uint8_t(std::ldexp(v, M - ue)) & ((1 << M) - 1)));
  }
};

template <int E, int M, int BIAS, int KIND> struct Tr<mini<E, M, BIAS, KIND>> {
  using C = float;
  using F = MiniFormat<E, M, BIAS, KIND>;
  static C ld(mini<E, M, BIAS, KIND> v) { return F::decode(v.bits); }
  static mini<E, M, BIAS, KIND> st(C v) { return {F::encode(v)}; }
};

// ---- 4- and 2-bit integers, one per byte (the low bits, as numpy/ml_dtypes hold them); storing wraps ----
template <int BITS, bool SIGNED> struct small_int { uint8_t bits; };
using i4 = small_int<4, true>;
using u4 = small_int<4, false>;
using i2 = small_int<2, true>;
using u2 = small_int<2, false>;
template <int BITS, bool SIGNED> struct Tr<small_int<BITS, SIGNED>> {
  using C = int32_t;
  static C ld(small_int<BITS, SIGNED> v) {
    const int32_t x = v.bits & ((1 << BITS) - 1);
    return SIGNED && (x >> (BITS - 1)) ? x - (1 << BITS) : x;
  }
  static small_int<BITS, SIGNED> st(C v) { return {uint8_t(uint32_t(v) & ((1u << BITS) - 1))}; }
};

}  // namespace floatx
}  // namespace o2c

#endif /* ONNX2CEDR_KERNELS_CPU_FLOATX_H */

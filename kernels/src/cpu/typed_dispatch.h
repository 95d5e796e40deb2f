/*
 * typed_dispatch.h - calls f(T{}) for the storage type T of an O2C_DT_* code (internal; the typed
 * kernels of typed*.cpp and bounded.cpp): the numeric types, float16/bfloat16 (floatx.h) and bool.
 */
#ifndef ONNX2CEDR_KERNELS_CPU_TYPED_DISPATCH_H
#define ONNX2CEDR_KERNELS_CPU_TYPED_DISPATCH_H

#include "o2c_typed.h"

#include "floatx.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>

namespace o2c {

template <class F> void dispatch_type(int32_t t, F &&f) {
  using floatx::bf16;
  using floatx::f16;
  switch (t) {
    case O2C_DT_FLOAT: f(float{}); break;
    case O2C_DT_DOUBLE: f(double{}); break;
    case O2C_DT_FLOAT16: f(f16{}); break;
    case O2C_DT_BFLOAT16: f(bf16{}); break;
    case O2C_DT_INT8: f(int8_t{}); break;
    case O2C_DT_INT16: f(int16_t{}); break;
    case O2C_DT_INT32: f(int32_t{}); break;
    case O2C_DT_INT64: f(int64_t{}); break;
    case O2C_DT_UINT8: f(uint8_t{}); break;
    case O2C_DT_UINT16: f(uint16_t{}); break;
    case O2C_DT_UINT32: f(uint32_t{}); break;
    case O2C_DT_UINT64: f(uint64_t{}); break;
    case O2C_DT_BOOL: f(bool{}); break;
    default:
      std::fprintf(stderr, "onnx2cedr kernel: element type %d is not supported\n", int(t));
      std::abort();
  }
}

}  // namespace o2c

#endif

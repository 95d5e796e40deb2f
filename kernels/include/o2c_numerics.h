/*
 * o2c_numerics.h - the numerics contract the CPU kernels (kernels/src) and the accelerator
 * kernels (kernels/accel) share, so that a call gives the same bits on either PE: a reduction is
 * one multiply-add chain per output in reduction order, and each multiply-add written as
 * o2c_fmac() is rounded once where the target has FMA (twice where it has not, on both sides).
 */
#ifndef ONNX2CEDR_O2C_NUMERICS_H
#define ONNX2CEDR_O2C_NUMERICS_H

#include <math.h>

static inline float o2c_fmac(float a, float b, float c) {
#if defined(__FMA__) || defined(__ARM_FEATURE_FMA)
  return fmaf(a, b, c);
#else
  return a * b + c;
#endif
}

#endif /* ONNX2CEDR_O2C_NUMERICS_H */

/*
 * common.h - helpers shared by the public-API CPU implementations.
 */
#ifndef ONNX2CEDR_KERNELS_PUBLIC_COMMON_H
#define ONNX2CEDR_KERNELS_PUBLIC_COMMON_H

#include "dash.h"

#include <cmath>
#include <cstdint>

namespace o2c {
namespace pub {

/* round to nearest (halves away from zero) and saturate to int16; NaN maps to 0 */
inline short sat16(double v) {
  if (!(v == v)) return 0;
  const double r = std::round(v);
  if (r >= 32767.0) return 32767;
  if (r <= -32768.0) return -32768;
  return static_cast<short>(r);
}

inline short sat16i(int64_t v) {
  if (v > 32767) return 32767;
  if (v < -32768) return -32768;
  return static_cast<short>(v);
}

} /* namespace pub */
} /* namespace o2c */

#endif

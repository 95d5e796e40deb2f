/*
 * conv_2d.cpp - DASH_CONV_2D_int_cpu: one-channel 2-D correlation with a float mask.
 * out[y][x] = sat16(round(sum_{i,j} in[y+i-h][x+j-h] * mask[i*mask_size+j])), h = mask_size/2,
 * "same" output size, zero padding, stride 1; accumulated in double, rounded half away from
 * zero and saturated to [-32768, 32767] in both directions. out may alias in.
 */
#include "../cpu/internal.h"
#include "common.h"

using o2c::detail::Scratch;

extern "C" void DASH_CONV_2D_int_cpu(dash_re_int_type **in, int *height, int *width, dash_re_flt_type **mask,
                                     int *mask_size, dash_re_int_type **out) {
  const int64_t H = *height, W = *width, ms = *mask_size;
  if (H <= 0 || W <= 0) return;
  const dash_re_int_type *src = *in;
  dash_re_int_type *dst = *out;
  const float *m = *mask;
  if (ms <= 0) {
    for (int64_t i = 0; i < H * W; ++i) dst[i] = 0;
    return;
  }
  /* out may overlap in: work from a copy then */
  Scratch<dash_re_int_type> copy;
  const dash_re_int_type *s0 = src;
  const char *sb = reinterpret_cast<const char *>(src), *db = reinterpret_cast<const char *>(dst);
  const size_t bytes = static_cast<size_t>(H * W) * sizeof(dash_re_int_type);
  if (db < sb + bytes && sb < db + bytes) {
    copy.reset(static_cast<size_t>(H * W));
    std::memcpy(copy.get(), src, bytes);
    s0 = copy.get();
  }
  const int64_t h = ms / 2;
  Scratch<double> acc(static_cast<size_t>(W));
  for (int64_t y = 0; y < H; ++y) {
    for (int64_t x = 0; x < W; ++x) acc[x] = 0.0;
    for (int64_t i = 0; i < ms; ++i) {
      const int64_t iy = y + i - h;
      if (iy < 0 || iy >= H) continue;
      const dash_re_int_type *row = s0 + iy * W;
      for (int64_t j = 0; j < ms; ++j) {
        const double w = m[i * ms + j];
        const int64_t off = j - h; /* ix = x + off */
        const int64_t lo = std::max<int64_t>(0, -off), hi = std::min<int64_t>(W, W - off);
        for (int64_t x = lo; x < hi; ++x) acc[x] += w * row[x + off];
      }
    }
    for (int64_t x = 0; x < W; ++x) dst[y * W + x] = o2c::pub::sat16(acc[x]);
  }
}

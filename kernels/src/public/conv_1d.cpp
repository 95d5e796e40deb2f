/*
 * conv_1d.cpp - DASH_CONV_1D_flt_cpu: full linear convolution accumulated into out:
 *   out[i] += sum_k in[i-k] * mask[k],  i in [0, size+mask_size-1), 0 <= i-k < size,
 * i.e. out[0 .. size+mask_size-1) += numpy.convolve(in, mask, "full"). Never reads outside in.
 * Sums are accumulated in double.
 */
#include "common.h"

#include <algorithm>

extern "C" void DASH_CONV_1D_flt_cpu(dash_re_flt_type **in, int *size, dash_re_flt_type **mask, int *mask_size,
                                     dash_re_flt_type **out) {
  const int64_t n = *size, m = *mask_size;
  if (n <= 0 || m <= 0) return;
  const float *x = *in, *w = *mask;
  float *y = *out;
  for (int64_t i = 0; i < n + m - 1; ++i) {
    const int64_t klo = std::max<int64_t>(0, i - (n - 1)), khi = std::min<int64_t>(m - 1, i);
    double acc = 0.0;
    for (int64_t k = klo; k <= khi; ++k) acc += static_cast<double>(x[i - k]) * w[k];
    y[i] = static_cast<float>(y[i] + acc);
  }
}

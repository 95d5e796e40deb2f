/*
 * cplx_pack.cpp - the packing around DASH_GEMM_flt for layers lowered to the public API set:
 * real data in and out of complex matrices (imaginary parts zero), and im2col for convolutions.
 * Plain loops: they run once per layer on the app thread, next to a product that is K times
 * larger (the compiler only lowers a layer this way when packing is a small share of its work).
 */
#include "internal.h"

using namespace o2c::detail;

extern "C" void o2c_cplx_pack(const float *src, dash_cmplx_flt_type *dst, const o2c_cplx_params_t *p) {
  const int64_t R = p->rows, C = p->cols;
  for (int64_t r = 0; r < R; ++r) {
    dash_cmplx_flt_type *row = dst + r * C;
    if (p->trans) {
      for (int64_t c = 0; c < C; ++c) row[c] = {src[c * R + r], 0.0f};
    } else {
      for (int64_t c = 0; c < C; ++c) row[c] = {src[r * C + c], 0.0f};
    }
  }
}

extern "C" void o2c_cplx_unpack(const dash_cmplx_flt_type *src, const float *bias, float *dst,
                                const o2c_cplx_params_t *p) {
  const int64_t R = p->rows, C = p->cols;
  const float alpha = p->alpha, beta = p->beta;
  for (int64_t r = 0; r < R; ++r) {
    const dash_cmplx_flt_type *in = src + r * C;
    float *out = dst + r * C;
    for (int64_t c = 0; c < C; ++c) {
      float b = 0.0f;
      switch (p->bias_kind) {
        case 1: b = bias[0]; break;
        case 2: b = bias[c]; break;
        case 3: b = bias[r]; break;
        case 4: b = bias[r * C + c]; break;
        default: break;
      }
      out[c] = p->bias_kind ? alpha * in[c].re + beta * b : alpha * in[c].re;
    }
    act_inplace(out, C, p->act);
  }
}

extern "C" void o2c_im2col_cplx(const float *in, dash_cmplx_flt_type *cols, const dash_conv_params_t *p) {
  const int64_t cin = p->in_channels;
  const int64_t i0 = p->in_size[0], i1 = p->in_size[1], i2 = p->in_size[2];
  const int64_t o0 = p->out_size[0], o1 = p->out_size[1], o2 = p->out_size[2];
  const int64_t k0 = p->kernel[0], k1 = p->kernel[1], k2 = p->kernel[2];
  const int64_t P = o0 * o1 * o2;
  int64_t row = 0;
  for (int64_t c = 0; c < cin; ++c) {
    const float *plane = in + c * i0 * i1 * i2;
    for (int64_t a = 0; a < k0; ++a)
      for (int64_t b = 0; b < k1; ++b)
        for (int64_t d = 0; d < k2; ++d, ++row) {
          dash_cmplx_flt_type *dst = cols + row * P;
          int64_t q = 0;
          for (int64_t y0 = 0; y0 < o0; ++y0) {
            const int64_t x0 = y0 * p->stride[0] - p->pad_begin[0] + a * p->dilation[0];
            for (int64_t y1 = 0; y1 < o1; ++y1) {
              const int64_t x1 = y1 * p->stride[1] - p->pad_begin[1] + b * p->dilation[1];
              for (int64_t y2 = 0; y2 < o2; ++y2, ++q) {
                const int64_t x2 = y2 * p->stride[2] - p->pad_begin[2] + d * p->dilation[2];
                const bool inside = x0 >= 0 && x0 < i0 && x1 >= 0 && x1 < i1 && x2 >= 0 && x2 < i2;
                dst[q] = {inside ? plane[(x0 * i1 + x1) * i2 + x2] : 0.0f, 0.0f};
              }
            }
          }
        }
  }
}

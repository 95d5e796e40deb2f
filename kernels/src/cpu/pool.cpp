/*
 * pool.cpp - o2c_pool: max / average / Lp pooling over (channels) planes of rank 1..3.
 *
 * Per axis and output position the window's taps are start + t*dilation, t in [0, kernel);
 * the taps inside the input form a contiguous range of t, precomputed per axis. Average
 * pooling divides by the number of valid taps (count_include_pad = 0) or by the number of taps
 * inside the padded input [-pad_begin, in + pad_end) (count_include_pad = 1), which leaves out
 * the ceil_mode overhang beyond the end padding (the onnxruntime rule).
 */
#include "internal.h"

#include <limits>
#include <vector>

using namespace o2c::detail;

namespace {

struct AxisTaps {
  std::vector<int64_t> first; /* input index of the first valid tap */
  std::vector<int64_t> count; /* number of valid taps */
  std::vector<int64_t> padded; /* taps inside [-pad_begin, in + pad_end) */
};

void axis_taps(int64_t in, int64_t out, int64_t k, int64_t s, int64_t d, int64_t pb, int64_t pe, AxisTaps &t) {
  t.first.resize(static_cast<size_t>(out));
  t.count.resize(static_cast<size_t>(out));
  t.padded.resize(static_cast<size_t>(out));
  for (int64_t o = 0; o < out; ++o) {
    const int64_t start = o * s - pb;
    /* t in [lo, hi): 0 <= start + t*d < in */
    int64_t lo = start < 0 ? ceil_div(-start, d) : 0;
    int64_t hi = in - 1 - start < 0 ? 0 : floor_div(in - 1 - start, d) + 1;
    lo = std::min(lo, k);
    hi = std::min(hi, k);
    if (hi < lo) hi = lo;
    t.first[o] = start + lo * d;
    t.count[o] = hi - lo;
    /* taps with -pb <= start + t*d < in + pe */
    const int64_t plo_num = -pb - start; /* t >= plo_num / d */
    int64_t plo = plo_num <= 0 ? 0 : ceil_div(plo_num, d);
    const int64_t phi_num = in + pe - 1 - start;
    int64_t phi = phi_num < 0 ? 0 : floor_div(phi_num, d) + 1;
    plo = std::min(plo, k);
    phi = std::min(phi, k);
    t.padded[o] = phi > plo ? phi - plo : 0;
  }
}

template <int KIND>
void pool_impl(const float *in, float *out, const dash_pool_params_t *p, const int64_t in3[3], const int64_t out3[3],
               const int64_t dil3[3], const AxisTaps tp[3]) {
  const int64_t in_sp = in3[0] * in3[1] * in3[2];
  const int64_t out_sp = out3[0] * out3[1] * out3[2];
  const float pw = static_cast<float>(p->p);
  for (int64_t c = 0; c < p->channels; ++c) {
    const float *src = in + c * in_sp;
    float *dst = out + c * out_sp;
    for (int64_t oz = 0; oz < out3[0]; ++oz) {
      const int64_t z0 = tp[0].first[oz], nz = tp[0].count[oz];
      for (int64_t oy = 0; oy < out3[1]; ++oy) {
        const int64_t y0 = tp[1].first[oy], ny = tp[1].count[oy];
        float *orow = dst + (oz * out3[1] + oy) * out3[2];
        for (int64_t ox = 0; ox < out3[2]; ++ox) {
          const int64_t x0 = tp[2].first[ox], nx = tp[2].count[ox];
          float acc = KIND == DASH_POOL_MAX ? -std::numeric_limits<float>::infinity() : 0.0f;
          for (int64_t tz = 0; tz < nz; ++tz) {
            const int64_t iz = z0 + tz * dil3[0];
            for (int64_t ty = 0; ty < ny; ++ty) {
              const int64_t iy = y0 + ty * dil3[1];
              const float *r = src + (iz * in3[1] + iy) * in3[2] + x0;
              const int64_t dx = dil3[2];
              if (KIND == DASH_POOL_MAX) {
                for (int64_t tx = 0; tx < nx; ++tx) {
                  const float v = r[tx * dx];
                  acc = (v > acc || v != v) ? v : acc;
                }
              } else if (KIND == DASH_POOL_AVG) {
                for (int64_t tx = 0; tx < nx; ++tx) acc += r[tx * dx];
              } else {
                if (p->p == 1) {
                  for (int64_t tx = 0; tx < nx; ++tx) acc += std::fabs(r[tx * dx]);
                } else if (p->p == 2) {
                  for (int64_t tx = 0; tx < nx; ++tx) acc += r[tx * dx] * r[tx * dx];
                } else {
                  for (int64_t tx = 0; tx < nx; ++tx) acc += std::pow(std::fabs(r[tx * dx]), pw);
                }
              }
            }
          }
          if (KIND == DASH_POOL_AVG) {
            const int64_t cnt = p->count_include_pad ? tp[0].padded[oz] * tp[1].padded[oy] * tp[2].padded[ox]
                                                     : nz * ny * nx;
            acc = cnt > 0 ? acc / static_cast<float>(cnt) : 0.0f;
          } else if (KIND == DASH_POOL_LP) {
            acc = p->p == 1 ? acc : (p->p == 2 ? std::sqrt(acc) : std::pow(acc, 1.0f / pw));
          }
          orow[ox] = acc;
        }
      }
    }
  }
}

} /* namespace */

extern "C" void o2c_pool(const float *in, float *out, const dash_pool_params_t *p) {
  const int r = p->spatial_rank;
  if (r < 1 || r > DASH_MAX_SPATIAL || p->channels <= 0) return;
  int64_t in3[3], out3[3], dil3[3];
  AxisTaps tp[3];
  for (int d = 0; d < 3; ++d) {
    const int src = d - (3 - r);
    int64_t k = 1, s = 1, dl = 1, pb = 0, pe = 0;
    if (src < 0) {
      in3[d] = out3[d] = 1;
    } else {
      in3[d] = p->in_size[src];
      out3[d] = p->out_size[src];
      k = p->kernel[src];
      s = p->stride[src] > 0 ? p->stride[src] : 1;
      dl = p->dilation[src] > 0 ? p->dilation[src] : 1;
      pb = p->pad_begin[src];
      pe = p->pad_end[src];
    }
    dil3[d] = dl;
    if (out3[d] <= 0) return;
    axis_taps(in3[d], out3[d], k, s, dl, pb, pe, tp[d]);
  }
  switch (p->kind) {
    case DASH_POOL_MAX: pool_impl<DASH_POOL_MAX>(in, out, p, in3, out3, dil3, tp); break;
    case DASH_POOL_AVG: pool_impl<DASH_POOL_AVG>(in, out, p, in3, out3, dil3, tp); break;
    case DASH_POOL_LP: pool_impl<DASH_POOL_LP>(in, out, p, in3, out3, dil3, tp); break;
    default: break;
  }
}

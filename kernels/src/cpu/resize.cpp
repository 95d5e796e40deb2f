/*
 * resize.cpp - o2c_resize: separable resampling from per-axis tap tables.
 *
 * The result equals the sum over all taps^rank corner combinations of the product of the
 * weights times the input; it is computed as one 1-D pass per axis that is not the identity
 * (shrinking axes first), which is the same multilinear form with far fewer operations.
 * Table indices are clamped into the input (a tap outside with weight 0 must not read out of
 * bounds or propagate a NaN).
 */
#include "internal.h"

using namespace o2c::detail;

namespace {

bool axis_is_identity(const int64_t *idx, const float *w, int64_t taps, int64_t nin, int64_t nout) {
  if (nin != nout) return false;
  for (int64_t o = 0; o < nout; ++o) {
    if (idx[o * taps] != o || w[o * taps] != 1.0f) return false;
    for (int64_t t = 1; t < taps; ++t)
      if (w[o * taps + t] != 0.0f) return false;
  }
  return true;
}

/* one pass along an axis of an (outer, nin, inner) tensor into (outer, nout, inner) */
void resize_axis(const float *src, float *dst, int64_t outer, int64_t nin, int64_t inner, int64_t nout,
                 const int64_t *idx, const float *w, int64_t taps) {
  for (int64_t o = 0; o < outer; ++o) {
    const float *s = src + o * nin * inner;
    float *d = dst + o * nout * inner;
    for (int64_t j = 0; j < nout; ++j) {
      const int64_t *ij = idx + j * taps;
      const float *wj = w + j * taps;
      if (inner == 1) {
        float acc = 0.0f;
        for (int64_t t = 0; t < taps; ++t) {
          const int64_t i = std::min(std::max<int64_t>(ij[t], 0), nin - 1);
          acc += wj[t] * s[i];
        }
        d[j] = acc;
      } else {
        float *dr = d + j * inner;
        const int64_t i0 = std::min(std::max<int64_t>(ij[0], 0), nin - 1);
        const float w0 = wj[0];
        const float *r0 = s + i0 * inner;
        for (int64_t k = 0; k < inner; ++k) dr[k] = w0 * r0[k];
        for (int64_t t = 1; t < taps; ++t) {
          const float wt = wj[t];
          if (wt == 0.0f) continue;
          const int64_t it = std::min(std::max<int64_t>(ij[t], 0), nin - 1);
          const float *rt = s + it * inner;
          for (int64_t k = 0; k < inner; ++k) dr[k] += wt * rt[k];
        }
      }
    }
  }
}

} /* namespace */

extern "C" void o2c_resize(const float *in, float *out, const int64_t *idx, const float *w,
                           const o2c_resize_params_t *p) {
  const int rank = p->rank;
  const int64_t taps = p->taps;
  if (rank < 0 || rank > DASH_MAX_RANK || taps <= 0) return;
  int64_t total_in = 1, total_out = 1;
  for (int d = 0; d < rank; ++d) {
    total_in *= p->in_shape[d];
    total_out *= p->out_shape[d];
  }
  if (total_out <= 0) return;
  if (total_in <= 0) {
    for (int64_t i = 0; i < total_out; ++i) out[i] = 0.0f;
    return;
  }
  /* table offsets and the axes that need a pass */
  int64_t toff[DASH_MAX_RANK];
  int axes[DASH_MAX_RANK];
  int npass = 0;
  int64_t off = 0;
  for (int d = 0; d < rank; ++d) {
    toff[d] = off;
    if (!axis_is_identity(idx + off, w + off, taps, p->in_shape[d], p->out_shape[d])) axes[npass++] = d;
    off += p->out_shape[d] * taps;
  }
  if (npass == 0) {
    std::memcpy(out, in, static_cast<size_t>(total_out) * sizeof(float));
    return;
  }
  /* shrinking axes first: fewer operations in the later passes */
  std::stable_sort(axes, axes + npass, [&](int a, int b) {
    return static_cast<double>(p->out_shape[a]) / static_cast<double>(p->in_shape[a]) <
           static_cast<double>(p->out_shape[b]) / static_cast<double>(p->in_shape[b]);
  });
  int64_t cur[DASH_MAX_RANK];
  for (int d = 0; d < rank; ++d) cur[d] = p->in_shape[d];
  /* the largest intermediate */
  int64_t maxsz = 0;
  {
    int64_t tmp[DASH_MAX_RANK];
    std::memcpy(tmp, cur, sizeof(tmp));
    for (int k = 0; k < npass - 1; ++k) {
      tmp[axes[k]] = p->out_shape[axes[k]];
      int64_t s = 1;
      for (int d = 0; d < rank; ++d) s *= tmp[d];
      maxsz = std::max(maxsz, s);
    }
  }
  Scratch<float> buf[2];
  if (npass > 1) buf[0].reset(static_cast<size_t>(maxsz));
  if (npass > 2) buf[1].reset(static_cast<size_t>(maxsz));
  const float *src = in;
  for (int k = 0; k < npass; ++k) {
    const int d = axes[k];
    int64_t outer = 1, inner = 1;
    for (int e = 0; e < d; ++e) outer *= cur[e];
    for (int e = d + 1; e < rank; ++e) inner *= cur[e];
    float *dst = (k == npass - 1) ? out : buf[k % 2].get();
    resize_axis(src, dst, outer, cur[d], inner, p->out_shape[d], idx + toff[d], w + toff[d], taps);
    cur[d] = p->out_shape[d];
    src = dst;
  }
}

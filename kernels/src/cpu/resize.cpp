/*
 * resize.cpp - o2c_resize: separable resampling from per-axis tap tables.
 *
 * The result equals the sum over all taps^rank corner combinations of the product of the
 * weights times the input; it is computed as one 1-D pass per axis that is not the identity
 * (shrinking axes first), which is the same multilinear form with far fewer operations.
 * Table indices are clamped into the input (a tap outside with weight 0 must not read out of
 * bounds or propagate a NaN). With extrapolate set, a negative first index marks an output
 * coordinate outside the input: its pass writes extrapolation_value there (as ONNX's reference,
 * axis by axis; later passes interpolate those constant rows to the same constant).
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
                 const int64_t *idx, const float *w, int64_t taps, const float *extrap) {
  for (int64_t o = 0; o < outer; ++o) {
    const float *s = src + o * nin * inner;
    float *d = dst + o * nout * inner;
    for (int64_t j = 0; j < nout; ++j) {
      const int64_t *ij = idx + j * taps;
      const float *wj = w + j * taps;
      if (extrap && ij[0] < 0) { /* outside the input (tf_crop_and_resize) */
        for (int64_t k = 0; k < inner; ++k) d[j * inner + k] = *extrap;
      } else if (inner == 1) {
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

/* Nearest resampling (one tap of weight 1 per output on every axis) as a gather: output row
 * by output row, the input row its outer coordinates select, read through the last axis's
 * index table; consecutive output rows that select the same input row (upsampling) copy the
 * row just written. The separable passes compute 1 * x, and 0 + 1 * x where a pass runs with
 * inner == 1 (it sums from 0): the same bits as x, except that such a sum turns -0 into +0,
 * which add_zero reproduces (and that a signaling NaN is copied as it is, not quieted). */
void resize_nearest(const float *in, float *out, const int64_t *idx, const int64_t *toff, const o2c_resize_params_t *p,
                    bool add_zero) {
  const int rank = p->rank;
  int64_t in_stride[DASH_MAX_RANK];
  int64_t st = 1;
  for (int d = rank - 1; d >= 0; --d) {
    in_stride[d] = st;
    st *= p->in_shape[d];
  }
  /* clamped tables; the outer axes' entries pre-multiplied by their strides */
  const int64_t len = p->out_shape[rank - 1];
  Scratch<int64_t> tab[DASH_MAX_RANK];
  for (int d = 0; d < rank; ++d) {
    tab[d].reset(static_cast<size_t>(p->out_shape[d]));
    const int64_t mult = d == rank - 1 ? 1 : in_stride[d];
    for (int64_t o = 0; o < p->out_shape[d]; ++o)
      tab[d][o] = std::min(std::max<int64_t>(idx[toff[d] + o], 0), p->in_shape[d] - 1) * mult;
  }
  /* the last axis's table as int32 (the caller checked that an input row's length fits):
   * vector gathers take 32-bit indices */
  Scratch<int32_t> lx(static_cast<size_t>(len));
  for (int64_t j = 0; j < len; ++j) lx[j] = static_cast<int32_t>(tab[rank - 1][j]);
  Odometer od;
  const int64_t rows = od.outer_of(rank, p->out_shape);
  int64_t prev = -1;
  for (int64_t r = 0; r < rows; ++r) {
    float *o = out + r * len;
    int64_t off = 0;
    for (int d = 0; d < rank - 1; ++d) off += tab[d][od.idx[d]];
    if (off == prev) {
      /* a loop, not memcpy: rows are short, the call would cost more than the copy */
      const float *q = o - len;
      for (int64_t j = 0; j < len; ++j) o[j] = q[j];
    } else {
      const float *irow = in + off;
      const int32_t *x = lx.get();
      int64_t j = 0;
#if O2C_HAVE_AVX2
      /* (compilers do not vectorize this gather by themselves) */
      for (; j + 8 <= len; j += 8) {
        __m256 v = _mm256_i32gather_ps(irow, _mm256_loadu_si256(reinterpret_cast<const __m256i *>(x + j)), 4);
        if (add_zero) v = _mm256_add_ps(_mm256_setzero_ps(), v);
        _mm256_storeu_ps(o + j, v);
      }
#endif
      if (add_zero) {
        for (; j < len; ++j) o[j] = 0.0f + irow[x[j]];
      } else {
        for (; j < len; ++j) o[j] = irow[x[j]];
      }
      prev = off;
    }
    od.next();
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
  const float *extrap = p->extrapolate ? &p->extrapolation_value : nullptr;
  if (!extrap && taps == 1 && p->in_shape[rank - 1] <= INT32_MAX && std::all_of(w, w + off, [](float x) { return x == 1.0f; })) {
    /* nearest: whether a pass (in the order below) would sum from 0 along an axis with inner == 1 */
    bool add_zero = false;
    for (int k = 0; k < npass; ++k) {
      int64_t inner = 1;
      for (int e = axes[k] + 1; e < rank; ++e) inner *= cur[e];
      add_zero = add_zero || inner == 1;
      cur[axes[k]] = p->out_shape[axes[k]];
    }
    resize_nearest(in, out, idx, toff, p, add_zero);
    return;
  }
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
    resize_axis(src, dst, outer, cur[d], inner, p->out_shape[d], idx + toff[d], w + toff[d], taps, extrap);
    cur[d] = p->out_shape[d];
    src = dst;
  }
}

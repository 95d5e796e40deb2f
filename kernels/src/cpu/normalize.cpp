/*
 * normalize.cpp - o2c_normalize: statistics over a set of axes, then normalize and apply an
 * affine (LayerNormalization, RMSNormalization, InstanceNormalization, GroupNormalization,
 * MeanVarianceNormalization, LpNormalization). See o2c_kernels.h for the formulas.
 *
 * The tensor is walked row by row (the last axis is the contiguous inner loop); each row maps
 * to one statistics slot (inner axis reduced) or to a run of slots (inner axis kept). Sums are
 * in double; the mean-variance kinds take a second pass over the centered values.
 */
#include "internal.h"

using namespace o2c::detail;

namespace {

struct Walk {
  int rank;
  int64_t rows, n;          /* rows of n contiguous elements */
  bool inner_reduced;
  int64_t ostride[DASH_MAX_RANK]; /* slot strides (0 on reduced axes) */
};

/* call f(x_offset, slot_offset, scale_offset, bias_offset) for every row */
template <class F>
void for_rows(const o2c_norm_params_t *p, const Walk &w, F f) {
  Odometer od;
  od.outer_of(w.rank, p->shape);
  for (int64_t r = 0; r < w.rows; ++r) {
    int64_t so = 0, sc = 0, bi = 0;
    for (int d = 0; d < w.rank - 1; ++d) {
      so += od.idx[d] * w.ostride[d];
      sc += od.idx[d] * p->scale_stride[d];
      bi += od.idx[d] * p->bias_stride[d];
    }
    f(r * w.n, so, sc, bi);
    od.next();
  }
}

/* acc[slot] += g(x) over the row (reduced inner axis) or acc[slot+i] += g(x[i]) (kept inner axis) */
template <class G>
void accumulate(const float *in, double *acc, const o2c_norm_params_t *p, const Walk &w, const double *center,
                G g) {
  const int64_t n = w.n;
  for_rows(p, w, [&](int64_t xo, int64_t so, int64_t, int64_t) {
    const float *x = in + xo;
    if (w.inner_reduced) {
      const double c = center ? center[so] : 0.0;
      double s = 0.0;
      for (int64_t i = 0; i < n; ++i) s += g(static_cast<double>(x[i]) - c);
      acc[so] += s;
    } else {
      double *a = acc + so;
      const double *c = center ? center + so : nullptr;
      for (int64_t i = 0; i < n; ++i) a[i] += g(static_cast<double>(x[i]) - (c ? c[i] : 0.0));
    }
  });
}

} /* namespace */

extern "C" void o2c_normalize(const float *in, const float *scale, const float *bias, float *out, float *mean_out,
                              float *inv_out, const o2c_norm_params_t *p) {
  if (p->rank < 1 || p->rank > DASH_MAX_RANK) return;
  Walk w;
  w.rank = p->rank;
  int64_t nslots = 1, count = 1, total = 1;
  for (int d = p->rank - 1; d >= 0; --d) {
    const int64_t s = p->shape[d];
    total *= s;
    if (p->reduce[d]) {
      w.ostride[d] = 0;
      count *= s;
    } else {
      w.ostride[d] = nslots;
      nslots *= s;
    }
  }
  if (total <= 0) return;
  w.n = p->shape[p->rank - 1];
  w.rows = total / w.n;
  w.inner_reduced = p->reduce[p->rank - 1] != 0;

  const int kind = p->kind;
  const double eps = p->epsilon;
  Scratch<double> mean(static_cast<size_t>(nslots)), acc(static_cast<size_t>(nslots));
  for (int64_t i = 0; i < nslots; ++i) mean[i] = acc[i] = 0.0;
  const bool centered = kind == O2C_NORM_MEAN_VAR || kind == O2C_NORM_MEAN_STD;
  if (centered) {
    accumulate(in, mean.get(), p, w, nullptr, [](double v) { return v; });
    for (int64_t i = 0; i < nslots; ++i) mean[i] /= static_cast<double>(count);
    accumulate(in, acc.get(), p, w, mean.get(), [](double v) { return v * v; });
  } else if (kind == O2C_NORM_L1) {
    accumulate(in, acc.get(), p, w, nullptr, [](double v) { return std::fabs(v); });
  } else {
    accumulate(in, acc.get(), p, w, nullptr, [](double v) { return v * v; });
  }
  /* per slot: the float mean and denominator (acc is reused for the denominator) */
  Scratch<float> mf(static_cast<size_t>(nslots)), df(static_cast<size_t>(nslots));
  for (int64_t i = 0; i < nslots; ++i) {
    double d;
    switch (kind) {
      case O2C_NORM_MEAN_VAR: d = std::sqrt(acc[i] / static_cast<double>(count) + eps); break;
      case O2C_NORM_MEAN_STD: d = std::sqrt(acc[i] / static_cast<double>(count)) + eps; break;
      case O2C_NORM_RMS: d = std::sqrt(acc[i] / static_cast<double>(count) + eps); break;
      case O2C_NORM_L1: d = acc[i]; break;
      default: d = std::sqrt(acc[i]); break;
    }
    mf[i] = static_cast<float>(mean[i]);
    df[i] = static_cast<float>(d);
    if (mean_out) mean_out[i] = mf[i];
    if (inv_out) inv_out[i] = static_cast<float>(1.0 / d);
  }
  const bool lp = kind == O2C_NORM_L1 || kind == O2C_NORM_L2;
  const int64_t n = w.n;
  const int64_t ss = p->scale_stride[p->rank - 1], bs = p->bias_stride[p->rank - 1];
  for_rows(p, w, [&](int64_t xo, int64_t so, int64_t sc, int64_t bi) {
    const float *x = in + xo;
    float *y = out + xo;
    if (w.inner_reduced) {
      const float m = mf[so], d = df[so];
      if (lp && d == 0.0f) {
        for (int64_t i = 0; i < n; ++i) y[i] = 0.0f;
      } else {
        for (int64_t i = 0; i < n; ++i) y[i] = (x[i] - m) / d;
      }
    } else {
      const float *m = mf.get() + so, *d = df.get() + so;
      for (int64_t i = 0; i < n; ++i) y[i] = (lp && d[i] == 0.0f) ? 0.0f : (x[i] - m[i]) / d[i];
    }
    if (scale) {
      const float *s = scale + sc;
      if (ss == 1) {
        for (int64_t i = 0; i < n; ++i) y[i] *= s[i];
      } else {
        for (int64_t i = 0; i < n; ++i) y[i] *= s[i * ss];
      }
    }
    if (bias) {
      const float *b = bias + bi;
      if (bs == 1) {
        for (int64_t i = 0; i < n; ++i) y[i] += b[i];
      } else {
        for (int64_t i = 0; i < n; ++i) y[i] += b[i * bs];
      }
    }
  });
}

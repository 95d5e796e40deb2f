/*
 * conv_depthwise.cpp - convolutions by output channel: depthwise (groups == in == out channels),
 * channel multipliers (one input channel per group) and small groups (few channels per group).
 *
 * Each output channel reads its group's Cg input channels. The output rows are computed in bands:
 * the input rows a band of output rows reads are copied, zero-padded and split into the x stride's
 * phases (phase r of a padded row holds its values r, r + s, r + 2s, ...), into a small buffer that
 * stays in cache, so every tap (c, kz, ky, kx) of a run of consecutive output columns reads
 * consecutive values of one phase row: the padding borders cost only the copy, and the interior
 * and the borders then run the same unit-stride loop over output columns, for any stride and
 * dilation. The AVX2 loop keeps 32 output columns in 4 accumulators (16 or 8 for the rest of a
 * row), the NEON one 16 (then 4 at a time), the tap's weight broadcast; the tap count of 3-tap,
 * 3x3 and 5x5 filters is a template argument, so their taps unroll.
 *
 * Reduction order (conv.cpp's contract): every output is ONE fused multiply-add chain over its
 * taps (c, kz, ky, kx) in order, padding taps included (they multiply a zero). Depthwise: the chain
 * starts from the bias (+0 without one), then the activation. Channel multipliers and small
 * groups, like the direct path: from +0, then + bias, then the activation.
 *
 * Threads: each takes a slice of every channel's output rows (the cut t*H/nth of the other split
 * layers), or of the channels when the map has too few rows.
 */
#include "conv_internal.h"

namespace o2c {
namespace conv {

namespace {

/* The per-call layout of the band buffers: per (input channel c, kz, y phase ry, x phase rx) a phase
 * plane of Hq rows x Wq columns (row b, column e: padded input (s1*b + ry, s2*e + rx) of the band),
 * PP floats apart. Output (j, x) of the band is the wide position n = j*Wq + x, and tap (c, kz, ky,
 * kx) reads phases[off + n]: every tap is a contiguous run over the band's output rows and columns,
 * the Wq - OW columns past each row's end computed and dropped. */
struct DwPlan {
  int64_t Wq, Hq, PP, band, nplanes;
  size_t floats, wide_floats;
  std::vector<int64_t> e0, e1; /* per x phase: the columns that hold input; the others stay zero */
  int64_t line;                 /* x stride > 1: floats of the padded line the input row is copied into */
};

DwPlan dw_plan(const Geo3 &g, int64_t Cg) {
  DwPlan d;
  const int64_t sy = g.s[1], sx = g.s[2];
  d.Wq = g.out[2] + ((g.k[2] - 1) * g.d[2]) / sx;
  const int64_t shy = ((g.k[1] - 1) * g.d[1]) / sy;
  d.nplanes = Cg * g.k[0] * sy * sx;
  /* about 48 KB of phase planes: a band's input stays in L1/L2 while its outputs are computed */
  int64_t band = 1;
  while (band < g.out[1] && d.nplanes * (2 * band + shy) * d.Wq <= 12288) band *= 2;
  d.band = std::min(band, g.out[1]);
  d.Hq = d.band + shy;
  d.PP = d.Hq * d.Wq;
  /* x stride > 1: an input row goes into a zero-bordered padded line (padded column u at [u]; the
   * columns past the input stay zero), which is then split into the phases in full rows */
  d.line = sx > 1 ? round_up(std::max(sx * d.Wq, g.p[2] + g.in[2]), 16) + 32 : 0;
  d.floats = static_cast<size_t>(d.nplanes * d.PP + 64 + d.line); /* + slack: the last vector step reads past */
  d.wide_floats = static_cast<size_t>(round_up((d.band - 1) * d.Wq + g.out[2], 32) + 32);
  d.e0.resize(static_cast<size_t>(sx));
  d.e1.resize(static_cast<size_t>(sx));
  for (int64_t rx = 0; rx < sx; ++rx) valid_range(rx - g.p[2], sx, g.in[2], d.Wq, d.e0[rx], d.e1[rx]);
  return d;
}

/* n floats, src and dst not overlapping: rows of a few dozen values, where a library call costs more
 * than the copy */
inline void copy_short(float *__restrict dst, const float *__restrict src, int64_t n) {
  int64_t i = 0;
#if O2C_HAVE_AVX2
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, _mm256_loadu_ps(src + i));
#endif
  for (; i < n; ++i) dst[i] = src[i];
}

/* One padded input row into its sx phase rows (dst + rx*PP): the columns [e0, e1) of each phase
 * from input row src (in_w values), or zeros (src null). The columns outside [e0, e1) are the
 * padding, the same for every row: zeroed once with the buffer and never written. With a stride,
 * the row goes through `line` (DwPlan.line floats, zero outside the input's columns) and every
 * phase row is written whole from it. */
void fill_row(float *__restrict dst, const float *__restrict src, const Geo3 &g, const DwPlan &d,
              float *__restrict line) {
  const int64_t sx = g.s[2], px = g.p[2];
  if (!src) {
    for (int64_t rx = 0; rx < sx; ++rx) {
      float *row = dst + rx * d.PP;
      for (int64_t e = d.e0[rx]; e < d.e1[rx]; ++e) row[e] = 0.0f;
    }
    return;
  }
  if (sx == 1) {
    const int64_t e0 = d.e0[0], e1 = d.e1[0];
    if (e1 > e0) copy_short(dst + e0, src + (e0 - px), e1 - e0);
    return;
  }
  /* input columns [x0, x1) land at padded columns [x0 + px, x1 + px) (pads are >= 0 in ONNX; a
   * negative one drops the columns before it) */
  const int64_t wq = d.Wq, x0 = std::max<int64_t>(0, -px), x1 = std::min(g.in[2], sx * wq - px);
  if (x1 > x0) copy_short(line + x0 + px, src + x0, x1 - x0);
  if (sx == 2) {
    float *r0 = dst, *r1 = dst + d.PP;
    int64_t e = 0;
#if O2C_HAVE_AVX2
    for (; e + 8 <= wq; e += 8) split_even_odd8(line + 2 * e, r0 + e, r1 + e);
#elif O2C_HAVE_NEON
    for (; e + 4 <= wq; e += 4) { /* evens and odds of 8 values */
      const float32x4x2_t v = vld2q_f32(line + 2 * e);
      vst1q_f32(r0 + e, v.val[0]);
      vst1q_f32(r1 + e, v.val[1]);
    }
#endif
    for (; e < wq; ++e) {
      r0[e] = line[2 * e];
      r1[e] = line[2 * e + 1];
    }
    return;
  }
  for (int64_t rx = 0; rx < sx; ++rx) {
    float *row = dst + rx * d.PP;
    for (int64_t e = 0; e < wq; ++e) row[e] = line[e * sx + rx];
  }
}

/* wide[n] = (start + sum_t w[t] * base[off[t] + n]) (+ bias when add_bias) for n in [0, nw), the
 * chain in t order; whole vectors (wide has room up to round_up(nw, 32)). */
template <int NT>
void dw_wide(const float *base, const int64_t *off, const float *w, int64_t nt_rt, float start, bool add_bias,
             float bias, int64_t nw, float *wide) {
  const int64_t ntaps = NT > 0 ? NT : nt_rt;
#if O2C_HAVE_AVX2
  const __m256 vs = _mm256_set1_ps(start), vb = _mm256_set1_ps(bias);
  int64_t n0 = 0;
  for (; nw - n0 > 16; n0 += 32) {
    __m256 a0 = vs, a1 = vs, a2 = vs, a3 = vs;
    const float *b0 = base + n0;
    for (int64_t t = 0; t < ntaps; ++t) {
      const __m256 wv = _mm256_broadcast_ss(w + t);
      const float *q = b0 + off[t];
      a0 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(q), a0);
      a1 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(q + 8), a1);
      a2 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(q + 16), a2);
      a3 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(q + 24), a3);
    }
    if (add_bias) {
      a0 = _mm256_add_ps(a0, vb);
      a1 = _mm256_add_ps(a1, vb);
      a2 = _mm256_add_ps(a2, vb);
      a3 = _mm256_add_ps(a3, vb);
    }
    _mm256_storeu_ps(wide + n0, a0);
    _mm256_storeu_ps(wide + n0 + 8, a1);
    _mm256_storeu_ps(wide + n0 + 16, a2);
    _mm256_storeu_ps(wide + n0 + 24, a3);
  }
  for (; n0 < nw; n0 += 8) { /* at most 16 left */
    __m256 a0 = vs;
    const float *b0 = base + n0;
    for (int64_t t = 0; t < ntaps; ++t) a0 = _mm256_fmadd_ps(_mm256_broadcast_ss(w + t), _mm256_loadu_ps(b0 + off[t]), a0);
    if (add_bias) a0 = _mm256_add_ps(a0, vb);
    _mm256_storeu_ps(wide + n0, a0);
  }
#elif O2C_HAVE_NEON
  /* 16 columns in 4 accumulators, then 4 at a time (reads and writes stay below round_up(nw, 4));
   * acc + q * w fused: the portable chain, bit for bit */
  const float32x4_t vs = vdupq_n_f32(start), vb = vdupq_n_f32(bias);
  if constexpr (NT > 0) {
    /* the taps' rows and weights hoisted out of the column loop (the stores to wide may alias w, so
     * the compiler would reload them for every block); the tap loop unrolled */
    const float *q[NT];
    float wt[NT];
#pragma GCC unroll 32
    for (int t = 0; t < NT; ++t) q[t] = base + off[t], wt[t] = w[t];
    int64_t n0 = 0;
    for (; n0 + 16 <= nw; n0 += 16) {
      float32x4_t a0 = vs, a1 = vs, a2 = vs, a3 = vs;
#pragma GCC unroll 32
      for (int t = 0; t < NT; ++t) {
        const float *r = q[t] + n0;
        a0 = vfmaq_n_f32(a0, vld1q_f32(r), wt[t]);
        a1 = vfmaq_n_f32(a1, vld1q_f32(r + 4), wt[t]);
        a2 = vfmaq_n_f32(a2, vld1q_f32(r + 8), wt[t]);
        a3 = vfmaq_n_f32(a3, vld1q_f32(r + 12), wt[t]);
      }
      if (add_bias) a0 = vaddq_f32(a0, vb), a1 = vaddq_f32(a1, vb), a2 = vaddq_f32(a2, vb), a3 = vaddq_f32(a3, vb);
      vst1q_f32(wide + n0, a0), vst1q_f32(wide + n0 + 4, a1), vst1q_f32(wide + n0 + 8, a2);
      vst1q_f32(wide + n0 + 12, a3);
    }
    for (; n0 < nw; n0 += 4) {
      float32x4_t a0 = vs;
#pragma GCC unroll 32
      for (int t = 0; t < NT; ++t) a0 = vfmaq_n_f32(a0, vld1q_f32(q[t] + n0), wt[t]);
      if (add_bias) a0 = vaddq_f32(a0, vb);
      vst1q_f32(wide + n0, a0);
    }
    return;
  }
  int64_t n0 = 0;
  for (; n0 + 16 <= nw; n0 += 16) {
    float32x4_t a0 = vs, a1 = vs, a2 = vs, a3 = vs;
    const float *b0 = base + n0;
    for (int64_t t = 0; t < ntaps; ++t) {
      const float wv = w[t];
      const float *q = b0 + off[t];
      a0 = vfmaq_n_f32(a0, vld1q_f32(q), wv);
      a1 = vfmaq_n_f32(a1, vld1q_f32(q + 4), wv);
      a2 = vfmaq_n_f32(a2, vld1q_f32(q + 8), wv);
      a3 = vfmaq_n_f32(a3, vld1q_f32(q + 12), wv);
    }
    if (add_bias) a0 = vaddq_f32(a0, vb), a1 = vaddq_f32(a1, vb), a2 = vaddq_f32(a2, vb), a3 = vaddq_f32(a3, vb);
    vst1q_f32(wide + n0, a0), vst1q_f32(wide + n0 + 4, a1), vst1q_f32(wide + n0 + 8, a2);
    vst1q_f32(wide + n0 + 12, a3);
  }
  for (; n0 < nw; n0 += 4) { /* at most 15 left */
    float32x4_t a0 = vs;
    const float *b0 = base + n0;
    for (int64_t t = 0; t < ntaps; ++t) a0 = vfmaq_n_f32(a0, vld1q_f32(b0 + off[t]), w[t]);
    if (add_bias) a0 = vaddq_f32(a0, vb);
    vst1q_f32(wide + n0, a0);
  }
#else
  for (int64_t n = 0; n < nw; ++n) wide[n] = start;
  for (int64_t t = 0; t < ntaps; ++t) {
    const float wv = w[t];
    const float *q = base + off[t];
    for (int64_t n = 0; n < nw; ++n) wide[n] = fmac(wv, q[n], wide[n]);
  }
  if (add_bias)
    for (int64_t n = 0; n < nw; ++n) wide[n] += bias;
#endif
}

typedef void (*DwWideFn)(const float *, const int64_t *, const float *, int64_t, float, bool, float, int64_t, float *);
/* 3x3, 5x5 and 3-tap (1-D) filters with the tap loop unrolled (weights and offsets in registers) */
DwWideFn dw_wide_fn(int64_t ntaps) {
  switch (ntaps) {
    case 3: return &dw_wide<3>;
    case 9: return &dw_wide<9>;
    case 25: return &dw_wide<25>;
    default: return &dw_wide<0>;
  }
}

struct DwJob {
  const float *in, *w, *bias;
  float *out;
  const Geo3 *g;
  const DwPlan *d;
  const int64_t *off; /* per tap (c, kz, ky, kx) */
  int64_t Cin, Cout, Cg, Mg;
  bool depthwise; /* chain from the bias */
  dash_act_t act;
};

/* Output channels [c0, c1) of batch b, output rows [y0, y1) of every depth position; buf holds
 * DwPlan.floats + DwPlan.wide_floats (zeroed once: the slack and unused phases are read, never
 * written). */
void dw_task(const DwJob &J, int64_t b, int64_t c0, int64_t c1, int64_t y0, int64_t y1, float *buf) {
  const Geo3 &g = *J.g;
  const DwPlan &d = *J.d;
  const int64_t KD = g.k[0], KH = g.k[1], Cg = J.Cg, Mg = J.Mg, sy = g.s[1], sx = g.s[2];
  const int64_t in_sp = g.in_sp(), out_sp = g.out_sp(), OW = g.out[2];
  const int64_t ntaps = Cg * g.k_sp();
  float *wide = buf + d.floats;
  float *line = buf + (d.floats - static_cast<size_t>(d.line)); /* zero outside the input's columns */
  const DwWideFn wide_fn = dw_wide_fn(ntaps);
  for (int64_t gr = c0 / Mg; gr * Mg < c1; ++gr) {
    const int64_t m0 = std::max(c0, gr * Mg), m1 = std::min(c1, (gr + 1) * Mg);
    for (int64_t oz = 0; oz < g.out[0]; ++oz) {
      for (int64_t yb = y0; yb < y1; yb += d.band) {
        const int64_t ye = std::min(y1, yb + d.band);
        const int64_t nyr = (ye - yb - 1) * sy + (KH - 1) * g.d[1] + 1;
        /* the band's padded input rows into their phase planes, for every output channel of the group */
        for (int64_t c = 0; c < Cg; ++c) {
          const float *plane = J.in + (b * J.Cin + gr * Cg + c) * in_sp;
          for (int64_t kz = 0; kz < KD; ++kz) {
            const int64_t iz = oz * g.s[0] + kz * g.d[0] - g.p[0];
            float *ph = buf + (c * KD + kz) * sy * sx * d.PP;
            const bool zin = iz >= 0 && iz < g.in[0];
            for (int64_t r = 0, ry = 0, row = 0; r < nyr; ++r) {
              const int64_t iy = yb * sy + r - g.p[1];
              const bool in = zin && iy >= 0 && iy < g.in[1];
              fill_row(ph + ry * sx * d.PP + row * d.Wq, in ? plane + (iz * g.in[1] + iy) * g.in[2] : nullptr, g, d,
                       line);
              if (++ry == sy) {
                ry = 0;
                ++row;
              }
            }
          }
        }
        const int64_t nw = (ye - yb - 1) * d.Wq + OW;
        for (int64_t oc = m0; oc < m1; ++oc) {
          const float *wc = J.w + oc * ntaps;
          const float bv = J.bias ? J.bias[oc] : 0.0f;
          if (J.depthwise)
            wide_fn(buf, J.off, wc, ntaps, bv, false, 0.0f, nw, wide);
          else
            wide_fn(buf, J.off, wc, ntaps, 0.0f, J.bias != nullptr, bv, nw, wide);
          /* ReLU and LeakyReLU on the way out (bias_act_run), the others over the wide rows first */
          const bool inline_act = J.act.op == DASH_ACT_RELU || J.act.op == DASH_ACT_LEAKY_RELU;
          if (!inline_act) act_inplace(wide, nw, J.act);
          float *dst = J.out + (b * J.Cout + oc) * out_sp + (oz * g.out[1] + yb) * OW;
          for (int64_t j = 0; j < ye - yb; ++j) {
            if (inline_act)
              bias_act_run(wide + j * d.Wq, dst + j * OW, OW, false, 0.0f, J.act.op, J.act.alpha);
            else
              copy_short(dst + j * OW, wide + j * d.Wq, OW);
          }
        }
      }
    }
  }
}

} /* namespace */

bool by_channel_pays(const Geo3 &, int64_t G, int64_t Cin, int64_t Cg, int64_t Mg) {
  if (Cg == 1 && Mg == 1 && G == Cin) return true; /* depthwise (a 1 -> 1 channel convolution too) */
  if (G <= 1) return false;
  /* few output channels per group: the direct path's 6-row tiles would mostly compute padding */
  return Mg <= 3 && Cg <= 16;
}

void conv_by_channel(const float *in, const float *w, const float *bias, float *out, const Geo3 &g, int64_t B,
                     int64_t Cin, int64_t Cout, int64_t G, const dash_act_t &act) {
  const int64_t Cg = Cin / G, Mg = Cout / G;
  const DwPlan d = dw_plan(g, Cg);
  const int64_t sy = g.s[1], sx = g.s[2];
  std::vector<int64_t> off(static_cast<size_t>(Cg * g.k_sp()));
  size_t t = 0;
  for (int64_t c = 0; c < Cg; ++c)
    for (int64_t kz = 0; kz < g.k[0]; ++kz)
      for (int64_t ky = 0; ky < g.k[1]; ++ky)
        for (int64_t kx = 0; kx < g.k[2]; ++kx, ++t) {
          const int64_t uy = ky * g.d[1], ux = kx * g.d[2];
          off[t] = ((c * g.k[0] + kz) * sy * sx + (uy % sy) * sx + ux % sx) * d.PP + (uy / sy) * d.Wq + ux / sx;
        }
  const DwJob J{in, w, bias, out, &g, &d, off.data(), Cin, Cout, Cg, Mg, Cg == 1 && Mg == 1 && G == Cin, act};
  const double macs = static_cast<double>(B * Cout) * static_cast<double>(g.out_sp()) *
                      static_cast<double>(Cg * g.k_sp());
  const int nth = threads_for(macs);
  const size_t per = d.floats + d.wide_floats;
  Scratch<float> bufs(static_cast<size_t>(nth) * per);
  std::memset(bufs.get(), 0, static_cast<size_t>(nth) * per * sizeof(float));
  const int64_t H = g.out[1];
  if (nth <= 1) {
    for (int64_t b = 0; b < B; ++b) dw_task(J, b, 0, Cout, 0, H, bufs.get());
    return;
  }
  if (H >= 2 * nth) {
    /* slices of the rows */
    parallel_for(nth, nth, [&](int64_t t, int wk) {
      const int64_t y0 = t * H / nth, y1 = (t + 1) * H / nth;
      for (int64_t b = 0; b < B; ++b) dw_task(J, b, 0, Cout, y0, y1, bufs.get() + static_cast<size_t>(wk) * per);
    });
    return;
  }
  /* few rows (1-D signals, tiny maps): slices of the channels */
  const int64_t n = B * Cout;
  const int64_t nt = std::min<int64_t>(n, nth);
  parallel_for(nt, nth, [&](int64_t t, int wk) {
    const int64_t q0 = t * n / nt, q1 = (t + 1) * n / nt;
    for (int64_t q = q0; q < q1;) {
      const int64_t b = q / Cout, c0 = q % Cout, c1 = std::min(Cout, c0 + (q1 - q));
      dw_task(J, b, c0, c1, 0, H, bufs.get() + static_cast<size_t>(wk) * per);
      q += c1 - c0;
    }
  });
}

} /* namespace conv */
} /* namespace o2c */

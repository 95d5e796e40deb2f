/*
 * pool.cpp - o2c_pool: max / average / Lp pooling over (channels) planes of rank 1..3.
 *
 * Per axis and output position the window's taps are start + t*dilation, t in [0, kernel); the
 * taps inside the input form a contiguous range of t, precomputed per axis. All three kinds are
 * separable (max of maxima, sums of sums, and the average divisor is the product of per-axis
 * counts), so each plane is pooled one axis at a time: first along z and y over whole rows
 * (contiguous, vectorized; this also shrinks the work left for x), then along x with each row
 * copied into a buffer padded with the neutral element, so the tap loops have no bounds checks.
 * Global pooling (one window covering the plane) is a plain reduction.
 *
 * Average pooling divides by the number of valid taps (count_include_pad = 0) or by the number
 * of taps inside the padded input [-pad_begin, in + pad_end) (count_include_pad = 1), which
 * leaves out the ceil_mode overhang beyond the end padding (the onnxruntime rule). Max pooling
 * ignores NaN like onnxruntime; a window without any (non-NaN) input gives -inf (max) or 0
 * (average).
 */
#include "internal.h"

#include <limits>
#include <vector>

using namespace o2c::detail;

namespace {

struct AxisTaps {
  int64_t in = 1, out = 1, k = 1, s = 1, d = 1, pb = 0;
  std::vector<int64_t> first;   /* input index of the first valid tap */
  std::vector<int64_t> count;   /* number of valid taps */
  std::vector<float> inv_div;   /* 1 / divisor for averaging along this axis (0 when empty) */
  bool identity() const { return k == 1 && s == 1 && pb == 0 && in == out; }
};

void axis_taps(int64_t in, int64_t out, int64_t k, int64_t s, int64_t d, int64_t pb, int64_t pe, bool include_pad,
               AxisTaps &t) {
  t.in = in;
  t.out = out;
  t.k = k;
  t.s = s;
  t.d = d;
  t.pb = pb;
  t.first.resize(static_cast<size_t>(out));
  t.count.resize(static_cast<size_t>(out));
  t.inv_div.resize(static_cast<size_t>(out));
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
    int64_t div = hi - lo;
    if (include_pad) {
      /* taps with -pb <= start + t*d < in + pe */
      const int64_t plo_num = -pb - start;
      int64_t plo = plo_num <= 0 ? 0 : ceil_div(plo_num, d);
      const int64_t phi_num = in + pe - 1 - start;
      int64_t phi = phi_num < 0 ? 0 : floor_div(phi_num, d) + 1;
      plo = std::min(plo, k);
      phi = std::min(phi, k);
      div = phi > plo ? phi - plo : 0;
    }
    t.inv_div[o] = div > 0 ? 1.0f / static_cast<float>(div) : 0.0f;
  }
}

template <int KIND>
inline float neutral() {
  return KIND == DASH_POOL_MAX ? -std::numeric_limits<float>::infinity() : 0.0f;
}

template <int KIND>
inline float combine(float acc, float v) {
  if (KIND == DASH_POOL_MAX) return v > acc ? v : acc;
  return acc + v;
}

/* Lp: the values entering the sums */
inline float lp_value(float v, int p) {
  if (p == 1) return std::fabs(v);
  if (p == 2) return v * v;
  return std::pow(std::fabs(v), static_cast<float>(p));
}

#if O2C_HAVE_NEON
/* combine<KIND> on 4 lanes, bit for bit */
template <int KIND>
inline float32x4_t pool_comb(float32x4_t acc, float32x4_t v) {
  if (KIND == DASH_POOL_MAX) return vbslq_f32(vcgtq_f32(v, acc), v, acc);
  return vaddq_f32(acc, v);
}
#endif

/* Every window of the axis inside the input with all its taps (no padding, no overhang), and
 * the stride 1: output o's taps are first[0] + o + t*d and one divisor serves all outputs. */
bool full_unit_stride(const AxisTaps &ax) {
  if (ax.s != 1) return false;
  for (int64_t o = 0; o < ax.out; ++o)
    if (ax.first[o] != ax.first[0] + o || ax.count[o] != ax.k || ax.inv_div[o] != ax.inv_div[0]) return false;
  return true;
}

/* pool_x on short rows (out <= kRow) with full_unit_stride windows, for `planes` planes of
 * `rows` rows each, a plane's rows in src starting src_plane values apart (src holding src_len
 * values): a row is one fixed-size chunk of kRow values per tap, kept in vector registers,
 * instead of loops of a few iterations with their set-up. The same operations in the same order
 * per output as pool_x. A chunk reads and writes up to kRow values past its row; the spilled
 * outputs belong to later rows, written afterwards; rows whose chunks would leave src or dst are
 * done one value at a time. */
constexpr int64_t kRow = 8;

template <int KIND>
void pool_x_short(const float *src, int64_t src_len, int64_t src_plane, float *dst, int64_t planes, int64_t rows,
                  const AxisTaps &ax, bool average) {
  const float fill = neutral<KIND>();
  const float inv = ax.inv_div[0];
  const int64_t k = ax.k, d = ax.d, out = ax.out;
  const float *src_end = src + src_len;
  float *dst_end = dst + planes * rows * out;
  float *y = dst;
  for (int64_t pl = 0; pl < planes; ++pl) {
    for (int64_t r = 0; r < rows; ++r, y += out) {
      const float *x = src + pl * src_plane + r * ax.in + ax.first[0];
      if (y + kRow > dst_end || x + (k - 1) * d + kRow > src_end) {
        for (int64_t o = 0; o < out; ++o) {
          float acc = combine<KIND>(fill, x[o]);
          for (int64_t t = 1; t < k; ++t) acc = combine<KIND>(acc, x[o + t * d]);
          y[o] = average ? acc * inv : acc;
        }
        continue;
      }
#if O2C_HAVE_AVX2
      /* (compilers turn the select of combine<MAX> into scalar code here) combine<KIND> on 8
       * lanes, as in tiled_pool_rows: max keeps acc when v is NaN or not larger */
      static_assert(kRow == 8, "one __m256 per row");
      auto comb = [](__m256 a, __m256 v) { return KIND == DASH_POOL_MAX ? _mm256_max_ps(v, a) : _mm256_add_ps(a, v); };
      __m256 acc = comb(_mm256_set1_ps(fill), _mm256_loadu_ps(x));
      for (int64_t t = 1; t < k; ++t) acc = comb(acc, _mm256_loadu_ps(x + t * d));
      if (average) acc = _mm256_mul_ps(acc, _mm256_set1_ps(inv));
      _mm256_storeu_ps(y, acc);
#elif O2C_HAVE_NEON
      /* the portable loop below on two vectors: max as the select of combine<MAX> (vmaxq would
       * propagate NaN and order the zeros) */
      static_assert(kRow == 8, "two float32x4_t per row");
      const float32x4_t vf = vdupq_n_f32(fill);
      float32x4_t lo = pool_comb<KIND>(vf, vld1q_f32(x)), hi = pool_comb<KIND>(vf, vld1q_f32(x + 4));
      for (int64_t t = 1; t < k; ++t) {
        lo = pool_comb<KIND>(lo, vld1q_f32(x + t * d));
        hi = pool_comb<KIND>(hi, vld1q_f32(x + t * d + 4));
      }
      if (average) lo = vmulq_n_f32(lo, inv), hi = vmulq_n_f32(hi, inv);
      vst1q_f32(y, lo);
      vst1q_f32(y + 4, hi);
#else
      float acc[kRow], v[kRow];
      std::memcpy(v, x, sizeof(v));
      for (int64_t j = 0; j < kRow; ++j) acc[j] = combine<KIND>(fill, v[j]);
      for (int64_t t = 1; t < k; ++t) {
        std::memcpy(v, x + t * d, sizeof(v));
        for (int64_t j = 0; j < kRow; ++j) acc[j] = combine<KIND>(acc[j], v[j]);
      }
      if (average)
        for (int64_t j = 0; j < kRow; ++j) acc[j] *= inv;
      for (int64_t j = 0; j < kRow; ++j) y[j] = acc[j];
#endif
    }
  }
}

/* pooling along x of `rows` rows of length in -> out (x-axis taps ax); rowp is a scratch row */
template <int KIND>
void pool_x(const float *src, float *dst, int64_t rows, const AxisTaps &ax, bool average, float *rowp) {
  if (ax.out <= kRow && full_unit_stride(ax)) {
    pool_x_short<KIND>(src, rows * ax.in, rows * ax.in, dst, 1, rows, ax, average);
    return;
  }
  const int64_t pl = ax.pb > 0 ? ax.pb : 0;
  /* padded row: index u = input x + pl; the windows of all outputs lie in [0, W) */
  const int64_t W = std::max<int64_t>((ax.out - 1) * ax.s + (ax.k - 1) * ax.d + 1 - ax.pb + pl, ax.in + pl);
  const float fill = neutral<KIND>();
  /* every window inside the row (no padding, no overhang): taps read the row in place */
  const bool inside = ax.pb == 0 && (ax.out - 1) * ax.s + (ax.k - 1) * ax.d + 1 <= ax.in;
  for (int64_t r = 0; r < rows; ++r) {
    const float *x = src + r * ax.in;
    float *y = dst + r * ax.out;
    const float *base = x;
    if (!inside) {
      for (int64_t u = 0; u < pl; ++u) rowp[u] = fill;
      std::memcpy(rowp + pl, x, static_cast<size_t>(ax.in) * sizeof(float));
      for (int64_t u = pl + ax.in; u < W; ++u) rowp[u] = fill;
      /* output o's taps: rowp[o*s - pb + pl + t*d]; pb <= pl */
      base = rowp + (pl - ax.pb);
    }
    const int64_t s = ax.s, d = ax.d;
    if (s == 1) {
      for (int64_t o = 0; o < ax.out; ++o) y[o] = combine<KIND>(fill, base[o]);
    } else {
      for (int64_t o = 0; o < ax.out; ++o) y[o] = combine<KIND>(fill, base[o * s]);
    }
    for (int64_t t = 1; t < ax.k; ++t) {
      const float *b = base + t * d;
      if (s == 1) {
        for (int64_t o = 0; o < ax.out; ++o) y[o] = combine<KIND>(y[o], b[o]);
      } else if (s == 2) {
        for (int64_t o = 0; o < ax.out; ++o) y[o] = combine<KIND>(y[o], b[2 * o]);
      } else {
        for (int64_t o = 0; o < ax.out; ++o) y[o] = combine<KIND>(y[o], b[o * s]);
      }
    }
    if (average)
      for (int64_t o = 0; o < ax.out; ++o) y[o] *= ax.inv_div[o];
  }
}

/* n outputs of a full_unit_stride axis whose consecutive taps lie `step` values apart in x:
 * y[i] = the taps x[i + t*d*step] combined in order from the neutral element (then averaged) */
template <int KIND>
void unit_stride_taps(const float *x, float *y, int64_t n, int64_t step, const AxisTaps &ax, bool average) {
  for (int64_t i = 0; i < n; ++i) y[i] = combine<KIND>(neutral<KIND>(), x[i]);
  for (int64_t t = 1; t < ax.k; ++t) {
    const float *xt = x + t * ax.d * step;
    for (int64_t i = 0; i < n; ++i) y[i] = combine<KIND>(y[i], xt[i]);
  }
  if (average) {
    const float w = ax.inv_div[0];
    for (int64_t i = 0; i < n; ++i) y[i] *= w;
  }
}

/* pooling along an outer axis: (outer, in, inner) -> (outer, out, inner), whole rows at a time */
template <int KIND>
void pool_rows(const float *src, float *dst, int64_t outer, int64_t inner, const AxisTaps &ax, bool average) {
  if (full_unit_stride(ax)) {
    /* the outputs' rows are consecutive, and so are each tap's input rows: per tap one loop
     * over the whole output block rather than one per output row (short on small maps) */
    for (int64_t o0 = 0; o0 < outer; ++o0)
      unit_stride_taps<KIND>(src + (o0 * ax.in + ax.first[0]) * inner, dst + o0 * ax.out * inner, ax.out * inner,
                             inner, ax, average);
    return;
  }
  for (int64_t o0 = 0; o0 < outer; ++o0) {
    const float *x = src + o0 * ax.in * inner;
    float *y = dst + o0 * ax.out * inner;
    for (int64_t o = 0; o < ax.out; ++o) {
      float *yr = y + o * inner;
      const int64_t n = ax.count[o];
      if (n == 0) {
        for (int64_t i = 0; i < inner; ++i) yr[i] = neutral<KIND>();
        continue;
      }
      const float *r0 = x + ax.first[o] * inner;
      for (int64_t i = 0; i < inner; ++i) yr[i] = combine<KIND>(neutral<KIND>(), r0[i]);
      for (int64_t t = 1; t < n; ++t) {
        const float *rt = r0 + t * ax.d * inner;
        for (int64_t i = 0; i < inner; ++i) yr[i] = combine<KIND>(yr[i], rt[i]);
      }
      if (average) {
        const float w = ax.inv_div[o];
        for (int64_t i = 0; i < inner; ++i) yr[i] *= w;
      }
    }
  }
}

bool is_global(const AxisTaps &t) { return t.out == 1 && t.first[0] == 0 && t.count[0] == t.in && t.d == 1; }

template <int KIND>
void pool_impl(const float *in, float *out, const dash_pool_params_t *p, const AxisTaps tp[3]) {
  const bool average = KIND == DASH_POOL_AVG;
  const int64_t D = tp[0].in, H = tp[1].in, W = tp[2].in;
  const int64_t oD = tp[0].out, oH = tp[1].out, oW = tp[2].out;
  const int64_t in_sp = D * H * W, out_sp = oD * oH * oW;
  const int pw = p->p;
  if (is_global(tp[0]) && is_global(tp[1]) && is_global(tp[2])) {
    const float scale = tp[0].inv_div[0] * tp[1].inv_div[0] * tp[2].inv_div[0];
    for (int64_t c = 0; c < p->channels; ++c) {
      const float *x = in + c * in_sp;
      float part[16];
      for (int j = 0; j < 16; ++j) part[j] = neutral<KIND>();
      int64_t i = 0;
      for (; i + 16 <= in_sp; i += 16)
        for (int j = 0; j < 16; ++j)
          part[j] = combine<KIND>(part[j], KIND == DASH_POOL_LP ? lp_value(x[i + j], pw) : x[i + j]);
      float acc = neutral<KIND>();
      for (int j = 0; j < 16; ++j) acc = combine<KIND>(acc, part[j]);
      for (; i < in_sp; ++i) acc = combine<KIND>(acc, KIND == DASH_POOL_LP ? lp_value(x[i], pw) : x[i]);
      if (average) acc *= scale;
      if (KIND == DASH_POOL_LP) acc = pw == 1 ? acc : (pw == 2 ? std::sqrt(acc) : std::pow(acc, 1.0f / static_cast<float>(pw)));
      out[c] = acc;
    }
    return;
  }
  /* scratch: Lp-transformed plane, after-z (oD*H*W), after-y (oD*oH*W), padded row */
  const int64_t pl = std::max<int64_t>(tp[2].pb, 0);
  const int64_t rowlen = std::max<int64_t>((oW - 1) * tp[2].s + (tp[2].k - 1) * tp[2].d + 1 - tp[2].pb + pl, W + pl);
  Scratch<float> rowp(static_cast<size_t>(rowlen));
  Scratch<float> lp, t1, t2;
  if (KIND == DASH_POOL_LP) lp.reset(static_cast<size_t>(in_sp));
  const bool ident_z = tp[0].identity(), ident_y = tp[1].identity(), ident_x = tp[2].identity();
  if (KIND != DASH_POOL_LP && ident_z) {
    /* 1-D/2-D max/average: the planes are contiguous, so each pass runs over every channel at
     * once (small planes with many channels would otherwise pay per-plane overheads); the same
     * operations in the same order as plane by plane */
    const int64_t C = p->channels;
    const float *cur = in;
    if (!ident_y && !ident_x && full_unit_stride(tp[1]) && full_unit_stride(tp[2]) && oW <= kRow) {
      /* small maps, stride 1 (and full windows) on both axes: the pass along y as one loop over
       * all planes, each output row left where its first input row is (so that tap t of every
       * row is the same distance away), then short rows along x from there */
      const AxisTaps &ay = tp[1];
      const int64_t n = C * oD * H * W;
      const int64_t lim = n - (ay.first[0] + (ay.k - 1) * ay.d) * W;
      t2.reset(static_cast<size_t>(n));
      float *z = t2.get();
      unit_stride_taps<KIND>(in + ay.first[0] * W, z, lim, W, ay, average);
      /* [lim, n) is no output row's; defined values for the spare lanes of the row chunks */
      for (int64_t u = lim; u < n; ++u) z[u] = 0.0f;
      pool_x_short<KIND>(z, n, H * W, out, C * oD, oH, tp[2], average);
      return;
    }
    if (!ident_y) {
      float *yo = out;
      if (!ident_x) {
        t2.reset(static_cast<size_t>(C * oD * oH * W));
        yo = t2.get();
      }
      pool_rows<KIND>(cur, yo, C * oD, W, tp[1], average);
      cur = yo;
    }
    if (!ident_x) {
      pool_x<KIND>(cur, out, C * oD * oH, tp[2], average, rowp.get());
    } else if (cur != out) {
      std::memcpy(out, cur, static_cast<size_t>(C * out_sp) * sizeof(float));
    }
    return;
  }
  if (!ident_z) t1.reset(static_cast<size_t>(oD * H * W));
  if (!ident_y) t2.reset(static_cast<size_t>(oD * oH * W));
  for (int64_t c = 0; c < p->channels; ++c) {
    const float *cur = in + c * in_sp;
    float *dst = out + c * out_sp;
    if (KIND == DASH_POOL_LP) {
      for (int64_t i = 0; i < in_sp; ++i) lp[i] = lp_value(cur[i], pw);
      cur = lp.get();
    }
    if (!ident_z) {
      float *zo = (ident_y && ident_x) ? dst : t1.get();
      pool_rows<KIND>(cur, zo, 1, H * W, tp[0], average);
      cur = zo;
    }
    if (!ident_y) {
      float *yo = ident_x ? dst : t2.get();
      pool_rows<KIND>(cur, yo, oD, W, tp[1], average);
      cur = yo;
    }
    if (!ident_x) {
      pool_x<KIND>(cur, dst, oD * oH, tp[2], average, rowp.get());
    } else if (cur != dst) {
      std::memcpy(dst, cur, static_cast<size_t>(out_sp) * sizeof(float));
    }
    if (KIND == DASH_POOL_LP) {
      if (pw == 2) {
        for (int64_t i = 0; i < out_sp; ++i) dst[i] = std::sqrt(dst[i]);
      } else if (pw != 1) {
        const float inv = 1.0f / static_cast<float>(pw);
        for (int64_t i = 0; i < out_sp; ++i) dst[i] = std::pow(dst[i], inv);
      }
    }
  }
}

/* Windows that tile the map: kernel == stride on x (2 or 4; 4 for max only) and on y (1 or 2),
 * nothing pooled along z, no padding or dilation - the pooling of nearly every CNN (2x2/2, and
 * 1-D max pools of 4). Output rows [r0, r1) of every channel: the same operations in the same
 * order as the separable path (along y first, then along x, each from the neutral element; a
 * max over 4 columns as a max of pair maxima, which keeps the same value: the first of equal
 * maxima, NaN never), vectorized over whole rows instead of paying the generic path's per-row
 * set-up on small maps. */
bool is_tiled_pool(const dash_pool_params_t *p, const AxisTaps tp[3]) {
  if (p->kind != DASH_POOL_MAX && p->kind != DASH_POOL_AVG) return false;
  if (!tp[0].identity()) return false;
  const AxisTaps &y = tp[1], &x = tp[2];
  const bool y_ok = y.identity() || (y.k == 2 && y.s == 2 && y.d == 1 && y.pb == 0 && 2 * y.out <= y.in);
  const bool x_ok = (x.k == 2 || (x.k == 4 && p->kind == DASH_POOL_MAX)) && x.s == x.k && x.d == 1 && x.pb == 0 &&
                    x.k * x.out <= x.in;
  return y_ok && x_ok;
}

template <int KIND>
void tiled_pool_rows(const float *in, float *out, int64_t C, const AxisTaps tp[3], int64_t r0, int64_t r1,
                     int64_t x0, int64_t x1) {
  const int64_t H = tp[1].in, W = tp[2].in, oH = tp[1].out, oW = tp[2].out, ky = tp[1].identity() ? 1 : 2;
  const int64_t kx = tp[2].k;
  const float h = 0.5f;
#if O2C_HAVE_AVX2
  const __m256 fill = _mm256_set1_ps(neutral<KIND>()), half = _mm256_set1_ps(h);
  /* combine<KIND>(acc, v) on 8 lanes: max keeps acc when v is NaN (or not larger) */
  auto comb = [](__m256 acc, __m256 v) { return KIND == DASH_POOL_MAX ? _mm256_max_ps(v, acc) : _mm256_add_ps(acc, v); };
  /* 8 consecutive columns, combined over the window's rows */
  auto vert = [&](const float *a, int64_t i) {
    __m256 v = comb(fill, _mm256_loadu_ps(a + i));
    if (ky == 2) {
      v = comb(v, _mm256_loadu_ps(a + W + i));
      if (KIND == DASH_POOL_AVG) v = _mm256_mul_ps(v, half);
    }
    return v;
  };
  /* columns 2i and 2i+1 of (v0, v1) combined -> 8 values in order */
  auto pairs = [&](__m256 v0, __m256 v1, bool scale) {
    __m256 m = comb(comb(fill, _mm256_shuffle_ps(v0, v1, 0x88)), _mm256_shuffle_ps(v0, v1, 0xDD));
    if (scale) m = _mm256_mul_ps(m, half);
    return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(m), 0xD8));
  };
#endif
  for (int64_t c = 0; c < C; ++c) {
    for (int64_t oy = r0; oy < r1; ++oy) {
      const float *a = in + (c * H + ky * oy) * W;
      float *y = out + (c * oH + oy) * oW;
      int64_t ox = x0;
#if O2C_HAVE_AVX2
      if (kx == 2) {
        for (; ox + 8 <= x1; ox += 8)
          _mm256_storeu_ps(y + ox, pairs(vert(a, 2 * ox), vert(a, 2 * ox + 8), KIND == DASH_POOL_AVG));
        if (ox + 4 <= x1) {
          const __m256 v = vert(a, 2 * ox);
          _mm_storeu_ps(y + ox, _mm256_castps256_ps128(pairs(v, v, KIND == DASH_POOL_AVG)));
          ox += 4;
        }
      } else { /* kx == 4, max: the pair maxima of the pair maxima */
        for (; ox + 8 <= x1; ox += 8) {
          const __m256 p0 = pairs(vert(a, 4 * ox), vert(a, 4 * ox + 8), false);
          const __m256 p1 = pairs(vert(a, 4 * ox + 16), vert(a, 4 * ox + 24), false);
          _mm256_storeu_ps(y + ox, pairs(p0, p1, false));
        }
      }
#elif O2C_HAVE_NEON
      /* 4 outputs a step, the scalar loop's operations in its order: vld2q/vld4q split the columns
       * into the window's taps t, each combined over the rows from the neutral element, then in t
       * order from the neutral element */
      const float32x4_t fill = vdupq_n_f32(neutral<KIND>());
      auto vert = [&](float32x4_t top, float32x4_t bot) {
        float32x4_t v = pool_comb<KIND>(fill, top);
        if (ky == 2) {
          v = pool_comb<KIND>(v, bot);
          if (KIND == DASH_POOL_AVG) v = vmulq_n_f32(v, h);
        }
        return v;
      };
      if (kx == 2) {
        for (; ox + 4 <= x1; ox += 4) {
          const float32x4x2_t t = vld2q_f32(a + 2 * ox);
          const float32x4x2_t b = ky == 2 ? vld2q_f32(a + W + 2 * ox) : t;
          float32x4_t r = pool_comb<KIND>(pool_comb<KIND>(fill, vert(t.val[0], b.val[0])), vert(t.val[1], b.val[1]));
          if (KIND == DASH_POOL_AVG) r = vmulq_n_f32(r, h);
          vst1q_f32(y + ox, r);
        }
      } else { /* kx == 4, max */
        for (; ox + 4 <= x1; ox += 4) {
          const float32x4x4_t t = vld4q_f32(a + 4 * ox);
          const float32x4x4_t b = ky == 2 ? vld4q_f32(a + W + 4 * ox) : t;
          float32x4_t r = fill;
          for (int j = 0; j < 4; ++j) r = pool_comb<KIND>(r, vert(t.val[j], b.val[j]));
          vst1q_f32(y + ox, r);
        }
      }
#endif
      for (; ox < x1; ++ox) {
        float r = neutral<KIND>();
        for (int64_t t = 0; t < kx; ++t) {
          float v = combine<KIND>(neutral<KIND>(), a[kx * ox + t]);
          if (ky == 2) {
            v = combine<KIND>(v, a[W + kx * ox + t]);
            if (KIND == DASH_POOL_AVG) v *= h;
          }
          r = combine<KIND>(r, v);
        }
        if (KIND == DASH_POOL_AVG) r *= h;
        y[ox] = r;
      }
    }
  }
}

} /* namespace */

extern "C" void o2c_pool(const float *in, float *out, const dash_pool_params_t *p) {
  const int r = p->spatial_rank;
  if (r < 1 || r > DASH_MAX_SPATIAL || p->channels <= 0) return;
  AxisTaps tp[3];
  const bool include_pad = p->kind == DASH_POOL_AVG && p->count_include_pad != 0;
  for (int d = 0; d < 3; ++d) {
    const int src = d - (3 - r);
    if (src < 0) {
      axis_taps(1, 1, 1, 1, 1, 0, 0, false, tp[d]);
      continue;
    }
    const int64_t in_d = p->in_size[src], out_d = p->out_size[src];
    if (out_d <= 0 || in_d <= 0) return;
    axis_taps(in_d, out_d, std::max<int64_t>(p->kernel[src], 1), p->stride[src] > 0 ? p->stride[src] : 1,
              p->dilation[src] > 0 ? p->dilation[src] : 1, p->pad_begin[src], p->pad_end[src], include_pad, tp[d]);
  }
  auto run = [&](const float *x, float *y, const dash_pool_params_t *pp) {
    switch (pp->kind) {
      case DASH_POOL_MAX: pool_impl<DASH_POOL_MAX>(x, y, pp, tp); break;
      case DASH_POOL_AVG: pool_impl<DASH_POOL_AVG>(x, y, pp, tp); break;
      case DASH_POOL_LP: pool_impl<DASH_POOL_LP>(x, y, pp, tp); break;
      default: break;
    }
  };
  /* large pools: chunks of channels over the calling thread's workers (each channel's result
   * does not depend on the split) */
  const int64_t in_sp = tp[0].in * tp[1].in * tp[2].in, out_sp = tp[0].out * tp[1].out * tp[2].out;
  const int64_t work = p->channels * in_sp;
  const int nth = std::min<int64_t>(current_threads(), work / (int64_t(1) << 16));
  if (is_tiled_pool(p, tp)) {
    /* by output rows of every channel (columns of a 1-D map), as the convolutions split their
     * outputs: each thread reads what its own core wrote. Cheap as it is, a pool after a layer
     * split over the threads is split too from 4 K values on: reading half of its input from
     * the other core costs more than the parallel region. */
    const int64_t oH = tp[1].out, oW = tp[2].out, span = oH > 1 ? oH : oW;
    const int nt = static_cast<int>(std::min<int64_t>({static_cast<int64_t>(current_threads()), work / 4096, span}));
    auto part = [&](int64_t a, int64_t b) {
      const int64_t r0 = oH > 1 ? a : 0, r1 = oH > 1 ? b : 1, x0 = oH > 1 ? 0 : a, x1 = oH > 1 ? oW : b;
      if (p->kind == DASH_POOL_MAX)
        tiled_pool_rows<DASH_POOL_MAX>(in, out, p->channels, tp, r0, r1, x0, x1);
      else
        tiled_pool_rows<DASH_POOL_AVG>(in, out, p->channels, tp, r0, r1, x0, x1);
    };
    if (nt <= 1) {
      part(0, span);
    } else {
      parallel_for(nt, nt, [&](int64_t t, int) { part(t * span / nt, (t + 1) * span / nt); });
    }
    return;
  }
  if (nth > 1 && p->channels > 1) {
    const int64_t nchunks = std::min<int64_t>(p->channels, 4 * nth);
    const int64_t per = ceil_div(p->channels, nchunks);
    parallel_for(ceil_div(p->channels, per), nth, [&](int64_t t, int) {
      dash_pool_params_t q = *p;
      const int64_t c0 = t * per;
      q.channels = std::min(per, p->channels - c0);
      run(in + c0 * in_sp, out + c0 * out_sp, &q);
    });
    return;
  }
  run(in, out, p);
}

/*
 * qeltwise.cpp - the int8 layers between integer convolutions of a QDQ model, so that activations
 * stay 8-bit from one integer layer to the next (int8 or uint8 in and out, scalar scales and zero
 * points; round half to even, saturate):
 *   o2c_qadd      y = sat(rne(fma(b - zb, rb, fma(a - za, ra, zy - (ra za + rb zb)))) + 0), relu: y >= zy;
 *                 ra = sa / sy, rb = sb / sy (onnxruntime's QLinearAdd, in float);
 *   o2c_qpool     max:     y = sat(rne(float(max x - zx) * (sx / sy)) + zy)   (exact when sx == sy);
 *                 average: y = sat(rne(float(sum (x - zx)) * (sx / (sy * count))) + zy), the sum exact
 *                 in int32, count the window's taps inside the image (or inside its padding with
 *                 count_include_pad), as onnxruntime's QLinearGlobalAveragePool requantizes its sums;
 *   o2c_qrequant  y = sat(rne(float(x - zx) * sx / sy) + zy): a DequantizeLinear -> QuantizeLinear
 *                 pair, the same float operations in the same order (so identical to them).
 * rne: rint (vcvtps2dq), the argument clamped to +-2^30 first. The AVX2 and portable builds give
 * the same bytes (explicit fused multiply-adds in both).
 */
#include "internal.h"

#include <limits>

namespace {

using o2c::detail::Scratch;

constexpr float kBig = 1073741824.0f;

struct Sat {
  int32_t zy, lo, hi;
};

Sat sat_of(int32_t zero, int32_t is_unsigned, int32_t relu) {
  Sat s{zero, is_unsigned ? 0 : -128, is_unsigned ? 255 : 127};
  if (relu) s.lo = std::max(s.lo, zero);
  return s;
}

inline int32_t finish(float f, const Sat &s) {
  f = std::isnan(f) ? -kBig : std::min(std::max(f, -kBig), kBig);
  return std::min(std::max(static_cast<int32_t>(std::rint(f)) + s.zy, s.lo), s.hi);
}

#if O2C_HAVE_AVX2
/* 8 int32 lanes of 8-bit values from 8 bytes */
template <typename T>
inline __m256i load8(const T *p) {
  const __m128i b = _mm_loadl_epi64(reinterpret_cast<const __m128i *>(p));
  return std::is_signed<T>::value ? _mm256_cvtepi8_epi32(b) : _mm256_cvtepu8_epi32(b);
}
template <typename O>
inline void store8(O *o, __m256 f, const Sat &s) {
  f = _mm256_min_ps(_mm256_max_ps(f, _mm256_set1_ps(-kBig)), _mm256_set1_ps(kBig));
  __m256i v = _mm256_add_epi32(_mm256_cvtps_epi32(f), _mm256_set1_epi32(s.zy));
  v = _mm256_min_epi32(_mm256_max_epi32(v, _mm256_set1_epi32(s.lo)), _mm256_set1_epi32(s.hi));
  /* 8 int32 in [lo, hi] -> 8 bytes */
  const __m128i w = _mm_packs_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  const __m128i b = std::is_signed<O>::value ? _mm_packs_epi16(w, w) : _mm_packus_epi16(w, w);
  _mm_storel_epi64(reinterpret_cast<__m128i *>(o), b);
}
#endif

template <typename A, typename B, typename O>
void qadd_as(const A *a, const B *b, O *y, const o2c_qadd_params_t *p) {
  const float ra = p->a_ratio, rb = p->b_ratio;
  const float fixed = static_cast<float>(p->y_zero) - std::fma(ra, static_cast<float>(p->a_zero),
                                                               rb * static_cast<float>(p->b_zero));
  const Sat s = sat_of(0, p->y_unsigned, 0);
  const int32_t lo = p->relu ? std::max(s.lo, p->y_zero) : s.lo;
  const Sat s0{0, lo, s.hi};
  int64_t i = 0;
#if O2C_HAVE_AVX2
  const __m256 rav = _mm256_set1_ps(ra), rbv = _mm256_set1_ps(rb), fv = _mm256_set1_ps(fixed);
  for (; i + 8 <= p->n; i += 8) {
    __m256 f = _mm256_fmadd_ps(_mm256_cvtepi32_ps(load8(a + i)), rav, fv);
    f = _mm256_fmadd_ps(_mm256_cvtepi32_ps(load8(b + i)), rbv, f);
    store8(y + i, f, s0);
  }
#endif
  for (; i < p->n; ++i) {
    float f = std::fma(static_cast<float>(a[i]), ra, fixed);
    f = std::fma(static_cast<float>(b[i]), rb, f);
    y[i] = static_cast<O>(finish(f, s0));
  }
}

template <typename I, typename O>
void requant_as(const I *x, O *y, const o2c_qrequant_params_t *p) {
  const Sat s = sat_of(p->out_zero, p->out_unsigned, 0);
  const float sx = p->in_scale, sy = p->out_scale;
  int64_t i = 0;
#if O2C_HAVE_AVX2
  const __m256i zx = _mm256_set1_epi32(p->in_zero);
  const __m256 sxv = _mm256_set1_ps(sx), syv = _mm256_set1_ps(sy);
  for (; i + 8 <= p->n; i += 8) {
    const __m256 f = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(load8(x + i), zx)), sxv);
    store8(y + i, _mm256_div_ps(f, syv), s);
  }
#endif
  for (; i < p->n; ++i) y[i] = static_cast<O>(finish(static_cast<float>(static_cast<int32_t>(x[i]) - p->in_zero) * sx / sy, s));
}

/* one (H x W) plane; rank-1 pools are 1 x W */
struct PoolGeo {
  int64_t H, W, OH, OW, KH, KW, sh, sw, dh, dw, ph, pw, eh, ew; /* eh, ew: end padding */
};

/* max pooling of one plane: each input row split by column phase (column mod stride, padding the
 * type's minimum, which no window's maximum can be), the taps of a row of outputs then consecutive;
 * acc and row hold OW and sw * Wq elements */
/* max pooling's buffers: outputs rounded up to 32 (whole vectors, no scalar tails), a phase row */
inline int64_t max_owv(const PoolGeo &g) { return (g.OW + 31) / 32 * 32; }
inline int64_t max_wq(const PoolGeo &g) { return (max_owv(g) + ((g.KW - 1) * g.dw) / g.sw + 1 + 15) / 16 * 16; }

template <typename I, typename O>
void qmax_plane(const I *x, O *y, const PoolGeo &g, int32_t zx, float sx, float sy, const Sat &s, I *acc, I *row,
                I *ph) {
  const I lowest = std::numeric_limits<I>::lowest();
  const int64_t S = g.sw, Wq = max_wq(g), OWv = max_owv(g);
  const int64_t j1 = std::min<int64_t>(g.W, S * Wq - g.pw);
  const bool copy = std::is_same<I, O>::value && zx == s.zy && sx == sy && s.lo <= -128 + 128 * !std::is_signed<O>::value;
  const float ratio = sx / sy;
  for (int64_t oh = 0; oh < g.OH; ++oh) {
    std::memset(acc, static_cast<int>(static_cast<uint8_t>(lowest)), static_cast<size_t>(OWv));
    for (int64_t kh = 0; kh < g.KH; ++kh) {
      const int64_t ih = oh * g.sh - g.ph + kh * g.dh;
      if (ih < 0 || ih >= g.H) continue;
      const I *xr = x + ih * g.W;
      std::memset(row, static_cast<int>(static_cast<uint8_t>(lowest)), static_cast<size_t>(S * Wq + 32));
      if (j1 > 0) std::memcpy(row + g.pw, xr, static_cast<size_t>(j1));
      const I *base = row;
      if (S == 2) { /* constant stride: vectorized */
        int64_t k = 0;
#if O2C_HAVE_AVX2
        const __m256i even_odd = _mm256_setr_epi8(0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15,
                                                  0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15);
        for (; k + 16 <= Wq; k += 16) { /* 32 bytes -> 16 even, 16 odd */
          __m256i v = _mm256_shuffle_epi8(_mm256_loadu_si256(reinterpret_cast<const __m256i *>(row + 2 * k)), even_odd);
          v = _mm256_permute4x64_epi64(v, 0xD8);
          _mm_storeu_si128(reinterpret_cast<__m128i *>(ph + k), _mm256_castsi256_si128(v));
          _mm_storeu_si128(reinterpret_cast<__m128i *>(ph + Wq + k), _mm256_extracti128_si256(v, 1));
        }
#endif
        for (; k < Wq; ++k) {
          ph[k] = row[2 * k];
          ph[Wq + k] = row[2 * k + 1];
        }
        base = ph;
      } else if (S > 2) {
        for (int64_t f = 0; f < S; ++f)
          for (int64_t k = 0; k < Wq; ++k) ph[f * Wq + k] = row[k * S + f];
        base = ph;
      }
      for (int64_t kw = 0; kw < g.KW; ++kw) {
        const int64_t off = kw * g.dw;
        const I *src = base + (off % S) * Wq + off / S;
        int64_t ow = 0;
#if O2C_HAVE_AVX2
        for (; ow < OWv; ow += 32) {
          const __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(acc + ow));
          const __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(src + ow));
          _mm256_storeu_si256(reinterpret_cast<__m256i *>(acc + ow),
                              std::is_signed<I>::value ? _mm256_max_epi8(a, b) : _mm256_max_epu8(a, b));
        }
#endif
        for (; ow < OWv; ++ow) acc[ow] = std::max(acc[ow], src[ow]);
      }
    }
    O *yr = y + oh * g.OW;
    if (copy) {
      std::memcpy(yr, acc, static_cast<size_t>(g.OW));
    } else {
      for (int64_t ow = 0; ow < g.OW; ++ow)
        yr[ow] = static_cast<O>(finish(static_cast<float>(static_cast<int32_t>(acc[ow]) - zx) * ratio, s));
    }
  }
}

/* the common 2 x 2, stride 2 max pool without padding (no window past the image): two input rows'
 * maxima, then each pair of columns', 16 outputs per step (AVX2); false when the layer is another */
template <typename I, typename O>
bool qmax_2x2(const I *x, O *y, const PoolGeo &g, int64_t planes, int32_t zx, float sx, float sy, const Sat &s) {
#if O2C_HAVE_AVX2
  if (g.KH != 2 || g.KW != 2 || g.sh != 2 || g.sw != 2 || g.dh != 1 || g.dw != 1 || g.ph || g.pw ||
      2 * g.OH > g.H || 2 * g.OW > g.W)
    return false;
  const bool copy = std::is_same<I, O>::value && zx == s.zy && sx == sy && s.lo <= -128 + 128 * !std::is_signed<O>::value;
  const float ratio = sx / sy;
  const I *xend = x + planes * g.H * g.W;
  const __m256i even_odd = _mm256_setr_epi8(0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15,
                                            0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15);
  alignas(32) I t[16];
  for (int64_t c = 0; c < planes; ++c) {
    for (int64_t oh = 0; oh < g.OH; ++oh) {
      const I *r0 = x + (c * g.H + 2 * oh) * g.W, *r1 = r0 + g.W;
      O *yr = y + (c * g.OH + oh) * g.OW;
      for (int64_t ow = 0; ow < g.OW; ow += 16) {
        const int64_t n = std::min<int64_t>(16, g.OW - ow);
        if (r1 + 2 * ow + 32 <= xend) { /* bytes past the row are read but never used */
          const __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(r0 + 2 * ow));
          const __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(r1 + 2 * ow));
          __m256i v = _mm256_shuffle_epi8(std::is_signed<I>::value ? _mm256_max_epi8(a, b) : _mm256_max_epu8(a, b),
                                          even_odd);
          v = _mm256_permute4x64_epi64(v, 0xD8);
          const __m128i lo = _mm256_castsi256_si128(v), hi = _mm256_extracti128_si256(v, 1);
          _mm_store_si128(reinterpret_cast<__m128i *>(t), std::is_signed<I>::value ? _mm_max_epi8(lo, hi)
                                                                                     : _mm_max_epu8(lo, hi));
        } else {
          for (int64_t j = 0; j < n; ++j) {
            const int64_t k = 2 * (ow + j);
            t[j] = std::max(std::max(r0[k], r0[k + 1]), std::max(r1[k], r1[k + 1]));
          }
        }
        if (copy) {
          std::memcpy(yr + ow, t, static_cast<size_t>(n));
        } else {
          for (int64_t j = 0; j < n; ++j)
            yr[ow + j] = static_cast<O>(finish(static_cast<float>(static_cast<int32_t>(t[j]) - zx) * ratio, s));
        }
      }
    }
  }
  return true;
#else
  (void)x, (void)y, (void)g, (void)planes, (void)zx, (void)sx, (void)sy, (void)s;
  return false;
#endif
}

template <typename I, typename O>
void qpool_plane(const I *x, O *y, const PoolGeo &g, bool is_max, bool include_pad, int32_t zx, float sx, float sy,
                 const Sat &s, int32_t *acc, int32_t *cnt) {
  const bool global = !is_max && g.OH == 1 && g.OW == 1 && g.KH == g.H && g.KW == g.W && g.ph == 0 && g.pw == 0;
  if (global) { /* a plain sum */
    int32_t sum = 0;
    const int64_t n = g.H * g.W;
    for (int64_t i = 0; i < n; ++i) sum += static_cast<int32_t>(x[i]);
    sum -= static_cast<int32_t>(n) * zx;
    y[0] = static_cast<O>(finish(static_cast<float>(sum) * (sx / (sy * static_cast<float>(n))), s));
    return;
  }
  const float ratio = sx / sy;
  for (int64_t oh = 0; oh < g.OH; ++oh) {
    for (int64_t ow = 0; ow < g.OW; ++ow) {
      acc[ow] = is_max ? INT32_MIN : 0;
      cnt[ow] = 0;
    }
    int64_t rows_in_pad = 0;
    for (int64_t kh = 0; kh < g.KH; ++kh) {
      const int64_t ih = oh * g.sh - g.ph + kh * g.dh;
      if (ih >= -g.ph && ih < g.H + g.eh) ++rows_in_pad;
      if (ih < 0 || ih >= g.H) continue;
      const I *xr = x + ih * g.W;
      for (int64_t kw = 0; kw < g.KW; ++kw) {
        const int64_t off = kw * g.dw - g.pw; /* iw = ow * sw + off */
        const int64_t lo = off >= 0 ? 0 : (-off + g.sw - 1) / g.sw;
        const int64_t hi = std::min(g.OW, g.W - off > 0 ? (g.W - off + g.sw - 1) / g.sw : 0);
        if (is_max) {
          if (g.sw == 1)
            for (int64_t ow = lo; ow < hi; ++ow) acc[ow] = std::max(acc[ow], static_cast<int32_t>(xr[ow + off]));
          else
            for (int64_t ow = lo; ow < hi; ++ow) acc[ow] = std::max(acc[ow], static_cast<int32_t>(xr[ow * g.sw + off]));
        } else {
          for (int64_t ow = lo; ow < hi; ++ow) {
            acc[ow] += static_cast<int32_t>(xr[ow * g.sw + off]);
            ++cnt[ow];
          }
        }
      }
    }
    O *yr = y + oh * g.OW;
    for (int64_t ow = 0; ow < g.OW; ++ow) {
      if (is_max) {
        yr[ow] = static_cast<O>(acc[ow] == INT32_MIN ? finish(0.0f, s)  /* a window of padding alone */
                                                     : finish(static_cast<float>(acc[ow] - zx) * ratio, s));
        continue;
      }
      int64_t count = cnt[ow];
      if (include_pad) {
        int64_t cols = 0;
        for (int64_t kw = 0; kw < g.KW; ++kw) {
          const int64_t iw = ow * g.sw - g.pw + kw * g.dw;
          cols += iw >= -g.pw && iw < g.W + g.ew;
        }
        count = rows_in_pad * cols;
      }
      if (count <= 0) {
        yr[ow] = static_cast<O>(finish(0.0f, s));
        continue;
      }
      const int32_t sum = acc[ow] - static_cast<int32_t>(cnt[ow]) * zx;
      yr[ow] = static_cast<O>(finish(static_cast<float>(sum) * (sx / (sy * static_cast<float>(count))), s));
    }
  }
}

template <typename I, typename O>
void qpool_as(const I *x, O *y, const o2c_qpool_params_t *p) {
  const dash_pool_params_t *q = &p->pool;
  PoolGeo g;
  if (q->spatial_rank == 2)
    g = {q->in_size[0], q->in_size[1], q->out_size[0], q->out_size[1], q->kernel[0], q->kernel[1], q->stride[0],
         q->stride[1], q->dilation[0], q->dilation[1], q->pad_begin[0], q->pad_begin[1], q->pad_end[0], q->pad_end[1]};
  else if (q->spatial_rank == 1)
    g = {1, q->in_size[0], 1, q->out_size[0], 1, q->kernel[0], 1, q->stride[0], 1, q->dilation[0], 0,
         q->pad_begin[0], 0, q->pad_end[0]};
  else
    return;
  const Sat s = sat_of(p->out_zero, p->out_unsigned, 0);
  if (q->kind == DASH_POOL_MAX && qmax_2x2(x, y, g, q->channels, p->in_zero, p->in_scale, p->out_scale, s)) return;
  if (q->kind == DASH_POOL_MAX) {
    const int64_t Wq = max_wq(g), OWv = max_owv(g);
    Scratch<I> buf(static_cast<size_t>(OWv + 2 * g.sw * Wq + 96));
    for (int64_t c = 0; c < q->channels; ++c)
      qmax_plane(x + c * g.H * g.W, y + c * g.OH * g.OW, g, p->in_zero, p->in_scale, p->out_scale, s, buf.get(),
                 buf.get() + OWv, buf.get() + OWv + g.sw * Wq + 32);
    return;
  }
  Scratch<int32_t> acc(static_cast<size_t>(2 * g.OW + 16));
  for (int64_t c = 0; c < q->channels; ++c)
    qpool_plane(x + c * g.H * g.W, y + c * g.OH * g.OW, g, q->kind == DASH_POOL_MAX, q->count_include_pad != 0,
                p->in_zero, p->in_scale, p->out_scale, s, acc.get(), acc.get() + g.OW + 8);
}

template <typename F>
void by_types(int32_t in_unsigned, int32_t out_unsigned, const void *x, void *y, F f) {
  if (in_unsigned) {
    if (out_unsigned)
      f(static_cast<const uint8_t *>(x), static_cast<uint8_t *>(y));
    else
      f(static_cast<const uint8_t *>(x), static_cast<int8_t *>(y));
  } else {
    if (out_unsigned)
      f(static_cast<const int8_t *>(x), static_cast<uint8_t *>(y));
    else
      f(static_cast<const int8_t *>(x), static_cast<int8_t *>(y));
  }
}

}  // namespace

extern "C" {

void o2c_qadd(const int8_t *a, const int8_t *b, int8_t *out, const o2c_qadd_params_t *p) {
  const void *bv = b;
  by_types(p->a_unsigned, p->y_unsigned, a, out, [&](auto *x, auto *y) {
    if (p->b_unsigned)
      qadd_as(x, static_cast<const uint8_t *>(bv), y, p);
    else
      qadd_as(x, static_cast<const int8_t *>(bv), y, p);
  });
}

void o2c_qpool(const int8_t *in, int8_t *out, const o2c_qpool_params_t *p) {
  by_types(p->in_unsigned, p->out_unsigned, in, out, [&](auto *x, auto *y) { qpool_as(x, y, p); });
}

void o2c_qrequant(const int8_t *in, int8_t *out, const o2c_qrequant_params_t *p) {
  by_types(p->in_unsigned, p->out_unsigned, in, out, [&](auto *x, auto *y) { requant_as(x, y, p); });
}

} /* extern "C" */

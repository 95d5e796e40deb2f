/*
 * fft_accel.cpp - the FFT accelerator (PE type "fft"): DASH_FFT_flt_fft and DASH_FFT_int_fft, and
 * their estimators DASH_FFT_flt_fft_estimate / DASH_FFT_int_fft_estimate (dash_accel.h: the same
 * cycle / byte model, from n alone).
 *
 * Design: a radix-2 decimation-in-time datapath of FFT_B butterfly units over an on-chip sample
 * memory of FFT_MAX_N complex values (multi-banked so the B butterflies read and write 2B samples
 * per cycle; real and imaginary parts in separate banks), with a twiddle ROM computed in double
 * precision and rounded to float, as the CPU kernel does. The input is loaded in bit-reversed order
 * (address swizzle on the load DMA), the inverse transform's 1/n scale is applied on the store path.
 *  - n a power of two <= FFT_MAX_N: load, log2(n) stages on chip, store.
 *  - n a power of two > FFT_MAX_N: four-step (n = n1 x n2, n2 = FFT_MAX_N): n2 column FFTs of
 *    size n1 (strided loads), twiddle multiply on the store path into a DRAM scratch, then n1 row
 *    FFTs of size n2 stored transposed. Column FFTs longer than the memory recurse the same way.
 *  - any other n (the CPU runs a direct DFT): Bluestein's chirp-z algorithm on the same radix-2
 *    datapath: three FFTs of size m (the power of two >= 2n - 1) and chirp multiplies.
 * The twiddle ROM is organised by stage: entry h + j holds w_2h^j = exp(-2 pi i j / 2h) for the
 * stage of half-size h (the inverse transform negates the imaginary part on the way out of the
 * ROM). Its values are those of the per-size table w_n^(j n / 2h) (n and 2h powers of two: the
 * double angles are identical); ROM contents are filled on first use and read-only afterwards.
 * The load DMA performs the first two stages (w = 1 and w = -+i: additions only) on the four
 * samples it fetches for each group of four memory words.
 * Accuracy: single-precision butterflies (rel. error ~1e-7 * log2 n); not bit-identical to the
 * CPU (the CPU's DFT fallback accumulates in double).
 * Int variant: the same transform in float, each result component rounded half away from zero and
 * saturated to int16 (the CPU contract); the load / store DMA converts.
 *
 * Host emulation: a stage is a loop over butterfly groups whose body is a fixed-width block of
 * FFT_LANES (or the group size, for the 8- and 16-point stages) butterflies working on consecutive
 * memory words, so g++ maps the butterfly units onto vector lanes.
 *
 * Cycle model (checked by tests/kernels/test_accel.py):
 *   on-chip FFT of size n (power of two): log2(n) * (ceil(n / (2*FFT_B)) + FFT_DEPTH), 0 for n = 1
 *   four-step: n2 * cyc(n1) + n1 * cyc(n2)
 *   Bluestein: 3 * cyc(m) + ceil(m / FFT_B) + 2 * ceil(n / FFT_B) + 2 * FFT_DEPTH
 * Bytes: every DMA transfer (sample loads and stores of each pass, scratch traffic included).
 */
#include "accel_common.h"

#include <mutex>

using namespace o2c::accel;

namespace {

constexpr int64_t FFT_MAX_N = int64_t(1) << 16; /* on-chip sample memory (complex values)       */
constexpr int FFT_MAX_LOG = 16;
constexpr int64_t FFT_B = 4;                    /* radix-2 butterfly units working in parallel */
constexpr int64_t FFT_DEPTH = 16;               /* butterfly pipeline depth: bank read 2, complex multiply 6,
                                                   add/sub 3, bank write 2, hazard margin 3 (drained per stage) */
constexpr int64_t FFT_LANES = 16;               /* emulation: butterflies evaluated together */
constexpr double kPi = 3.14159265358979323846;

typedef dash_cmplx_flt_type cf;

bool is_pow2(int64_t n) { return n > 0 && (n & (n - 1)) == 0; }
int64_t log2i(int64_t n) {
  int64_t l = 0;
  while ((int64_t(1) << l) < n) ++l;
  return l;
}

/* ------------------------------------------------------------------------------------------------
 * Cycle / byte model, shared by the implementations and the estimators
 * ---------------------------------------------------------------------------------------------- */
uint64_t onchip_cycles(int64_t n) {
  if (n <= 1) return 0;
  return static_cast<uint64_t>(log2i(n) * (ceil_div(n / 2, FFT_B) + FFT_DEPTH));
}

/* one unscaled power-of-two pass (fft_pass below) */
Account pass_account(int64_t n) {
  Account a;
  if (n <= FFT_MAX_N) {
    a.cycles = onchip_cycles(n);
    a.bytes = static_cast<uint64_t>(16 * n);
    return a;
  }
  const int64_t n2 = FFT_MAX_N, n1 = n / n2;
  const Account col = pass_account(n1), row = pass_account(n2);
  a.cycles = static_cast<uint64_t>(n2) * col.cycles + static_cast<uint64_t>(n1) * row.cycles;
  a.bytes = static_cast<uint64_t>(n2) * col.bytes + static_cast<uint64_t>(n1) * row.bytes;
  return a;
}

int64_t bluestein_size(int64_t n) {
  int64_t m = 1;
  while (m < 2 * n - 1) m <<= 1;
  return m;
}

Account bluestein_account(int64_t n) {
  const int64_t m = bluestein_size(n);
  const Account p = pass_account(m);
  Account a;
  a.bytes = static_cast<uint64_t>(8 * n + 16 * m) + 3 * p.bytes + static_cast<uint64_t>(24 * m + 16 * n);
  a.cycles = 3 * p.cycles + static_cast<uint64_t>(ceil_div(m, FFT_B) + 2 * ceil_div(n, FFT_B) + 2 * FFT_DEPTH);
  return a;
}

/* a whole call on n samples of elem bytes each */
Account fft_account(int64_t n, int64_t elem) {
  Account a;
  if (n <= 0) return a;
  if (is_pow2(n) && n <= FFT_MAX_N) {
    a.cycles = onchip_cycles(n);
    a.bytes = static_cast<uint64_t>(2 * n * elem);
    return a;
  }
  const Account t = is_pow2(n) ? pass_account(n) : bluestein_account(n);
  a.cycles = t.cycles;
  a.bytes = static_cast<uint64_t>(2 * n * (elem + 8)) + t.bytes;
  return a;
}

/* ------------------------------------------------------------------------------------------------
 * Twiddle ROM (by stage; see the header)
 * ---------------------------------------------------------------------------------------------- */
class TwiddleRom {
 public:
  /* the table of stages h = 1 .. n/2 (re[h + j], im[h + j], j < h), filled on first use */
  void ensure(int64_t n) {
    for (int l = 0; l < FFT_MAX_LOG && (int64_t(1) << (l + 1)) <= n; ++l)
      std::call_once(once_[l], [this, l] { fill(int64_t(1) << l); });
  }
  const float *re() const { return re_; }
  const float *im() const { return im_; }

 private:
  void fill(int64_t h) {
    const int64_t len = 2 * h;
    for (int64_t j = 0; j < h; ++j) {
      const double a = 2.0 * kPi * static_cast<double>(j) / static_cast<double>(len);
      re_[h + j] = static_cast<float>(std::cos(a));
      im_[h + j] = static_cast<float>(-1.0 * std::sin(a));
    }
  }
  float re_[FFT_MAX_N] = {};
  float im_[FFT_MAX_N] = {};
  std::once_flag once_[FFT_MAX_LOG];
};

TwiddleRom &rom() {
  static TwiddleRom r;
  return r;
}

/* bit reversal of the low `bits` bits (the load DMA's address swizzle) */
inline uint32_t bitrev(uint32_t i, int64_t bits) {
  i = ((i >> 1) & 0x55555555u) | ((i & 0x55555555u) << 1);
  i = ((i >> 2) & 0x33333333u) | ((i & 0x33333333u) << 2);
  i = ((i >> 4) & 0x0f0f0f0fu) | ((i & 0x0f0f0f0fu) << 4);
  i = ((i >> 8) & 0x00ff00ffu) | ((i & 0x00ff00ffu) << 8);
  i = (i >> 16) | (i << 16);
  return bits == 0 ? 0u : i >> (32 - bits);
}

/* W butterflies of one group: (a, b) <- (a + w b, a - w b), w = (wr, sgn * wi) */
template <int64_t W>
inline void butterflies(float *__restrict ar, float *__restrict ai, float *__restrict br, float *__restrict bi,
                        const float *__restrict cr, const float *__restrict ci, float sgn) {
  for (int64_t l = 0; l < W; ++l) {
    const float wr = cr[l], wi = ci[l] * sgn;
    const float tr = br[l] * wr - bi[l] * wi;
    const float ti = br[l] * wi + bi[l] * wr;
    const float xr = ar[l], xi = ai[l];
    ar[l] = xr + tr;
    ai[l] = xi + ti;
    br[l] = xr - tr;
    bi[l] = xi - ti;
  }
}

/* one stage of half-size h over n samples, W butterflies per block */
template <int64_t W>
void stage(float *re, float *im, int64_t n, int64_t h, const float *wr, const float *wi, float sgn) {
  for (int64_t g = 0; g < n; g += 2 * h)
    for (int64_t j = 0; j < h; j += W) {
      O2C_HLS(HLS PIPELINE II = 1)
      butterflies<W>(re + g + j, im + g + j, re + g + h + j, im + g + h + j, wr + j, wi + j, sgn);
    }
}

/* The sample memory of one engine (real / imaginary banks). */
struct Engine {
  OnChip<float> re, im;
  explicit Engine(int64_t cap) : re(static_cast<size_t>(cap)), im(static_cast<size_t>(cap)) {}
};

/* Load (bit-reversed, with the first two stages) + on-chip stages of an unscaled FFT of size
 * n = 2^bits >= 4; src(t) gives input sample t as float complex. Result in natural order in the
 * sample memory. */
template <class Src>
void onchip_fft(Engine &eng, int64_t n, bool forward, Src src) {
  float *re = eng.re.get(), *im = eng.im.get();
  const int64_t bits = log2i(n), q_bits = bits - 2, n4 = n / 4;
  for (int64_t q = 0; q < n4; ++q) {
    O2C_HLS(HLS PIPELINE II = 1)
    /* memory words 4q .. 4q+3 hold inputs rev(4q + t) = R + {0, n/2, n/4, 3n/4} */
    const int64_t r = static_cast<int64_t>(bitrev(static_cast<uint32_t>(q), q_bits));
    const cf x0 = src(r), x1 = src(r + 2 * n4), x2 = src(r + n4), x3 = src(r + 3 * n4);
    /* stage h = 1 (w = 1) */
    const float a0r = x0.re + x1.re, a0i = x0.im + x1.im, a1r = x0.re - x1.re, a1i = x0.im - x1.im;
    const float a2r = x2.re + x3.re, a2i = x2.im + x3.im, a3r = x2.re - x3.re, a3i = x2.im - x3.im;
    /* stage h = 2: w = 1 for the first pair, -i (forward) / +i (inverse) for the second */
    const float tr = forward ? a3i : -a3i, ti = forward ? -a3r : a3r;
    re[4 * q + 0] = a0r + a2r;
    im[4 * q + 0] = a0i + a2i;
    re[4 * q + 2] = a0r - a2r;
    im[4 * q + 2] = a0i - a2i;
    re[4 * q + 1] = a1r + tr;
    im[4 * q + 1] = a1i + ti;
    re[4 * q + 3] = a1r - tr;
    im[4 * q + 3] = a1i - ti;
  }
  rom().ensure(n);
  const float *wr = rom().re(), *wi = rom().im();
  const float sgn = forward ? 1.0f : -1.0f;
  for (int64_t h = 4; h < n; h <<= 1) {
    if (h >= FFT_LANES)
      stage<FFT_LANES>(re, im, n, h, wr + h, wi + h, sgn);
    else if (h == 8)
      stage<8>(re, im, n, h, wr + h, wi + h, sgn);
    else
      stage<4>(re, im, n, h, wr + h, wi + h, sgn);
  }
}

/* Unscaled FFT of x[t*stride] (t < n, n a power of two), results to y[k*ystride]; x and y may be
 * the same locations. n <= FFT_MAX_N runs on chip; longer transforms use the four-step scheme. */
void fft_pass(Engine &eng, const cf *x, int64_t stride, cf *y, int64_t ystride, int64_t n, bool forward) {
  if (n <= FFT_MAX_N) {
    if (n < 4) {
      const cf a = x[0];
      if (n == 1) {
        y[0] = a;
      } else {
        const cf b = x[stride];
        y[0] = cf{a.re + b.re, a.im + b.im};
        y[ystride] = cf{a.re - b.re, a.im - b.im};
      }
      return;
    }
    onchip_fft(eng, n, forward, [&](int64_t t) { return x[t * stride]; });
    const float *re = eng.re.get(), *im = eng.im.get();
    for (int64_t k = 0; k < n; ++k) {
      O2C_HLS(HLS PIPELINE II = 1)
      y[k * ystride] = cf{re[k], im[k]};
    }
    return;
  }
  /* four-step: x as n1 x n2 (row-major, t = t1*n2 + t2); output k = k1 + n1*k2 */
  const int64_t n2 = FFT_MAX_N, n1 = n / n2;
  OnChip<cf> scratch(static_cast<size_t>(n)); /* DRAM scratch: Y[k1][t2] */
  const double sgn = forward ? -1.0 : 1.0;
  for (int64_t t2 = 0; t2 < n2; ++t2) {
    /* column t2: an FFT of size n1 into column t2 of the scratch, then its twiddles on the store path */
    fft_pass(eng, x + t2 * stride, n2 * stride, scratch.get() + t2, n2, n1, forward);
    for (int64_t k1 = 0; k1 < n1; ++k1) {
      O2C_HLS(HLS PIPELINE II = 1)
      cf &v = scratch[static_cast<size_t>(k1 * n2 + t2)];
      const double a = 2.0 * kPi * static_cast<double>(k1 * t2) / static_cast<double>(n);
      const float wr = static_cast<float>(std::cos(a)), wi = static_cast<float>(sgn * std::sin(a));
      const float r = v.re * wr - v.im * wi, m = v.re * wi + v.im * wr;
      v.re = r;
      v.im = m;
    }
  }
  for (int64_t k1 = 0; k1 < n1; ++k1)
    fft_pass(eng, scratch.get() + k1 * n2, 1, y + k1 * ystride, n1 * ystride, n2, forward);
}

/* Bluestein: X_j = c_j * sum_k (x_k c_k) conj(c_{j-k}), c_k = exp(-+ pi i k^2 / n), the
 * convolution by three power-of-two FFTs of size m >= 2n - 1. Result (unscaled) in y. */
void bluestein(Engine &eng, const cf *x, cf *y, int64_t n, bool forward) {
  const int64_t m = bluestein_size(n);
  const double sgn = forward ? -1.0 : 1.0;
  OnChip<cf> chirp(static_cast<size_t>(n)), a(static_cast<size_t>(m)), b(static_cast<size_t>(m));
  /* chirp generator: k^2 mod 2n kept exactly by the recurrence (k+1)^2 = k^2 + 2k + 1 */
  uint64_t q = 0;
  const uint64_t two_n = 2 * static_cast<uint64_t>(n);
  for (int64_t k = 0; k < n; ++k) {
    const double ang = kPi * static_cast<double>(q) / static_cast<double>(n);
    chirp[static_cast<size_t>(k)] = cf{static_cast<float>(std::cos(ang)), static_cast<float>(sgn * std::sin(ang))};
    q = (q + 2 * static_cast<uint64_t>(k) + 1) % two_n;
  }
  for (int64_t k = 0; k < m; ++k) a[static_cast<size_t>(k)] = b[static_cast<size_t>(k)] = cf{0.0f, 0.0f};
  for (int64_t k = 0; k < n; ++k) {
    O2C_HLS(HLS PIPELINE II = 1)
    const cf c = chirp[static_cast<size_t>(k)], v = x[k];
    a[static_cast<size_t>(k)] = cf{v.re * c.re - v.im * c.im, v.re * c.im + v.im * c.re};
    b[static_cast<size_t>(k)] = cf{c.re, -c.im};
    if (k > 0) b[static_cast<size_t>(m - k)] = cf{c.re, -c.im};
  }
  fft_pass(eng, a.get(), 1, a.get(), 1, m, true);
  fft_pass(eng, b.get(), 1, b.get(), 1, m, true);
  for (int64_t k = 0; k < m; ++k) {
    O2C_HLS(HLS PIPELINE II = 1)
    const cf u = a[static_cast<size_t>(k)], v = b[static_cast<size_t>(k)];
    a[static_cast<size_t>(k)] = cf{u.re * v.re - u.im * v.im, u.re * v.im + u.im * v.re};
  }
  fft_pass(eng, a.get(), 1, a.get(), 1, m, false);
  const float inv_m = 1.0f / static_cast<float>(m);
  for (int64_t k = 0; k < n; ++k) {
    O2C_HLS(HLS PIPELINE II = 1)
    const cf c = chirp[static_cast<size_t>(k)], v = a[static_cast<size_t>(k)];
    const float vr = v.re * inv_m, vi = v.im * inv_m;
    y[k] = cf{vr * c.re - vi * c.im, vr * c.im + vi * c.re};
  }
}

/* DMA format converters */
inline cf load_sample(const cf &v) { return v; }
inline cf load_sample(const dash_cmplx_int_type &v) { return cf{static_cast<float>(v.re), static_cast<float>(v.im)}; }
inline void store_sample(cf &d, float re, float im) { d = cf{re, im}; }
inline void store_sample(dash_cmplx_int_type &d, float re, float im) {
  d.re = sat16(re);
  d.im = sat16(im);
}

template <typename T>
void fft_call(const T *in, T *out, int64_t n, bool forward) {
  const Account acc = fft_account(n, static_cast<int64_t>(sizeof(T)));
  if (n <= 0) {
    acc.report();
    return;
  }
  const float scale = forward ? 1.0f : 1.0f / static_cast<float>(n);
  if (is_pow2(n) && n <= FFT_MAX_N) {
    /* load (bit-reversed, converting) -> stages -> store (scaling, converting): in-place safe since
     * the whole input is on chip before the first store */
    if (n < 4) {
      cf v[2] = {load_sample(in[0]), n == 2 ? load_sample(in[1]) : cf{0.0f, 0.0f}};
      if (n == 2) {
        const cf a = v[0], b = v[1];
        v[0] = cf{a.re + b.re, a.im + b.im};
        v[1] = cf{a.re - b.re, a.im - b.im};
      }
      for (int64_t k = 0; k < n; ++k) {
        if (forward)
          store_sample(out[k], v[k].re, v[k].im);
        else
          store_sample(out[k], v[k].re * scale, v[k].im * scale);
      }
      acc.report();
      return;
    }
    Engine eng(n);
    onchip_fft(eng, n, forward, [&](int64_t t) { return load_sample(in[t]); });
    const float *re = eng.re.get(), *im = eng.im.get();
    if (forward) {
      for (int64_t k = 0; k < n; ++k) {
        O2C_HLS(HLS PIPELINE II = 1)
        store_sample(out[k], re[k], im[k]);
      }
    } else {
      for (int64_t k = 0; k < n; ++k) {
        O2C_HLS(HLS PIPELINE II = 1)
        store_sample(out[k], re[k] * scale, im[k] * scale);
      }
    }
    acc.report();
    return;
  }
  /* streamed: a float DRAM work vector (the input converted by the load DMA) */
  OnChip<cf> work(static_cast<size_t>(n));
  for (int64_t t = 0; t < n; ++t) work[static_cast<size_t>(t)] = load_sample(in[t]);
  Engine eng(imin(FFT_MAX_N, is_pow2(n) ? n : bluestein_size(n)));
  if (is_pow2(n))
    fft_pass(eng, work.get(), 1, work.get(), 1, n, forward);
  else
    bluestein(eng, work.get(), work.get(), n, forward);
  for (int64_t k = 0; k < n; ++k) {
    const cf v = work[static_cast<size_t>(k)];
    if (forward)
      store_sample(out[k], v.re, v.im);
    else
      store_sample(out[k], v.re * scale, v.im * scale);
  }
  acc.report();
}

} /* namespace */

extern "C" void DASH_FFT_flt_fft(dash_cmplx_flt_type **in, dash_cmplx_flt_type **out, size_t *n, bool *forward,
                                 uint8_t /*instance*/) {
  fft_call(*in, *out, static_cast<int64_t>(*n), *forward);
}

extern "C" void DASH_FFT_int_fft(dash_cmplx_int_type **in, dash_cmplx_int_type **out, size_t *n, bool *forward,
                                 uint8_t /*instance*/) {
  fft_call(*in, *out, static_cast<int64_t>(*n), *forward);
}

extern "C" void DASH_FFT_flt_fft_estimate(dash_cmplx_flt_type ** /*in*/, dash_cmplx_flt_type ** /*out*/, size_t *n,
                                          bool * /*forward*/, uint8_t /*instance*/, uint64_t *cycles,
                                          uint64_t *bytes_moved) {
  fft_account(static_cast<int64_t>(*n), static_cast<int64_t>(sizeof(dash_cmplx_flt_type))).put(cycles, bytes_moved);
}

extern "C" void DASH_FFT_int_fft_estimate(dash_cmplx_int_type ** /*in*/, dash_cmplx_int_type ** /*out*/, size_t *n,
                                          bool * /*forward*/, uint8_t /*instance*/, uint64_t *cycles,
                                          uint64_t *bytes_moved) {
  fft_account(static_cast<int64_t>(*n), static_cast<int64_t>(sizeof(dash_cmplx_int_type))).put(cycles, bytes_moved);
}

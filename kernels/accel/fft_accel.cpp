/*
 * fft_accel.cpp - the FFT accelerator (PE type "fft"): DASH_FFT_flt_fft and DASH_FFT_int_fft.
 *
 * Design: a radix-2 decimation-in-time datapath of FFT_B butterfly units over an on-chip sample
 * memory of FFT_MAX_N complex values (multi-banked so the B butterflies read and write 2B samples
 * per cycle), with a twiddle ROM computed in double precision and rounded to float, as the CPU
 * kernel does. The input is loaded in bit-reversed order (address swizzle on the load DMA), the
 * inverse transform's 1/n scale is applied on the store path.
 *  - n a power of two <= FFT_MAX_N: load, log2(n) stages on chip, store.
 *  - n a power of two > FFT_MAX_N: four-step (n = n1 x n2, n2 = FFT_MAX_N): n2 column FFTs of
 *    size n1 (strided loads), twiddle multiply on the store path into a DRAM scratch, then n1 row
 *    FFTs of size n2 stored transposed. Column FFTs longer than the memory recurse the same way.
 *  - any other n (the CPU runs a direct DFT): Bluestein's chirp-z algorithm on the same radix-2
 *    datapath: three FFTs of size m (the power of two >= 2n - 1) and chirp multiplies.
 * Accuracy: single-precision butterflies (rel. error ~1e-7 * log2 n); not bit-identical to the
 * CPU (the CPU's DFT fallback accumulates in double).
 * Int variant: the same transform in float, each result component rounded half away from zero and
 * saturated to int16 (the CPU contract); the load / store DMA converts.
 *
 * Cycle model (checked by tests/kernels/test_accel.py):
 *   on-chip FFT of size n (power of two): log2(n) * (ceil(n / (2*FFT_B)) + FFT_DEPTH), 0 for n = 1
 *   four-step: n2 * cyc(n1) + n1 * cyc(n2)
 *   Bluestein: 3 * cyc(m) + ceil(m / FFT_B) + 2 * ceil(n / FFT_B) + 2 * FFT_DEPTH
 * Bytes: every DMA transfer (sample loads and stores of each pass, scratch traffic included).
 */
#include "accel_common.h"

#include <vector>

using namespace o2c::accel;

namespace {

constexpr int64_t FFT_MAX_N = int64_t(1) << 16; /* on-chip sample memory (complex values)       */
constexpr int64_t FFT_B = 4;                    /* radix-2 butterfly units working in parallel */
constexpr int64_t FFT_DEPTH = 16;               /* butterfly pipeline depth: bank read 2, complex multiply 6,
                                                   add/sub 3, bank write 2, hazard margin 3 (drained per stage) */
constexpr double kPi = 3.14159265358979323846;

typedef dash_cmplx_flt_type cf;

bool is_pow2(int64_t n) { return n > 0 && (n & (n - 1)) == 0; }
int64_t log2i(int64_t n) {
  int64_t l = 0;
  while ((int64_t(1) << l) < n) ++l;
  return l;
}

uint64_t onchip_cycles(int64_t n) {
  if (n <= 1) return 0;
  return static_cast<uint64_t>(log2i(n) * (ceil_div(n / 2, FFT_B) + FFT_DEPTH));
}

/* twiddle ROM for size n: w_k = exp(-+2 pi i k / n), k < n/2, computed in double */
void twiddle_rom(cf *tw, int64_t n, bool forward) {
  const double sgn = forward ? -1.0 : 1.0;
  for (int64_t k = 0; k < n / 2; ++k) {
    const double a = 2.0 * kPi * static_cast<double>(k) / static_cast<double>(n);
    tw[k].re = static_cast<float>(std::cos(a));
    tw[k].im = static_cast<float>(sgn * std::sin(a));
  }
}

uint64_t bitrev(uint64_t i, int64_t bits) {
  uint64_t r = 0;
  for (int64_t b = 0; b < bits; ++b) r |= ((i >> b) & 1u) << (bits - 1 - b);
  return r;
}

/* The on-chip engine: mem[0..n) already in bit-reversed order; log2(n) radix-2 stages. */
void onchip_stages(cf *mem, const cf *tw, int64_t n) {
  O2C_HLS(HLS ARRAY_PARTITION variable = mem cyclic factor = 8)
  for (int64_t len = 2; len <= n; len <<= 1) {
    const int64_t half = len >> 1, step = n / len;
    /* n/2 butterflies per stage, FFT_B per cycle */
    for (int64_t bf = 0; bf < n / 2; ++bf) {
      O2C_HLS(HLS PIPELINE II = 1)
      O2C_HLS(HLS UNROLL factor = 4)
      const int64_t grp = bf / half, j = bf % half;
      cf *a = mem + grp * len + j, *b = a + half;
      const float wr = tw[j * step].re, wi = tw[j * step].im;
      const float br = b->re * wr - b->im * wi;
      const float bi = b->re * wi + b->im * wr;
      const float ar = a->re, ai = a->im;
      a->re = ar + br;
      a->im = ai + bi;
      b->re = ar - br;
      b->im = ai - bi;
    }
  }
}

/* Sample memory + twiddle ROM of one engine. */
struct Engine {
  OnChip<cf> mem{static_cast<size_t>(FFT_MAX_N)};
  OnChip<cf> tw{static_cast<size_t>(FFT_MAX_N / 2)};
  int64_t tw_n = 0;
  bool tw_fwd = true;
  void rom(int64_t n, bool forward) {
    if (tw_n == n && tw_fwd == forward) return;
    twiddle_rom(tw.get(), n, forward);
    tw_n = n;
    tw_fwd = forward;
  }
};

/* Unscaled FFT of x[t*stride] (t < n, n a power of two), results to y[k*ystride]; x and y may be
 * the same locations. n <= FFT_MAX_N runs on chip; longer transforms use the four-step scheme. */
void fft_pass(Engine &eng, const cf *x, int64_t stride, cf *y, int64_t ystride, int64_t n, bool forward,
              Account &acc) {
  if (n <= FFT_MAX_N) {
    const int64_t bits = log2i(n);
    for (int64_t t = 0; t < n; ++t) {
      O2C_HLS(HLS PIPELINE II = 1)
      eng.mem[bitrev(static_cast<uint64_t>(t), bits)] = x[t * stride];
    }
    eng.rom(n, forward);
    onchip_stages(eng.mem.get(), eng.tw.get(), n);
    for (int64_t k = 0; k < n; ++k) {
      O2C_HLS(HLS PIPELINE II = 1)
      y[k * ystride] = eng.mem[k];
    }
    acc.cycles += onchip_cycles(n);
    acc.bytes += static_cast<uint64_t>(16 * n);
    return;
  }
  /* four-step: x as n1 x n2 (row-major, t = t1*n2 + t2); output k = k1 + n1*k2 */
  const int64_t n2 = FFT_MAX_N, n1 = n / n2;
  std::vector<cf> scratch(static_cast<size_t>(n)); /* DRAM scratch: Y[k1][t2] */
  const double sgn = forward ? -1.0 : 1.0;
  for (int64_t t2 = 0; t2 < n2; ++t2) {
    /* column t2: an FFT of size n1 into column t2 of the scratch, then its twiddles on the store path */
    fft_pass(eng, x + t2 * stride, n2 * stride, scratch.data() + t2, n2, n1, forward, acc);
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
    fft_pass(eng, scratch.data() + k1 * n2, 1, y + k1 * ystride, n1 * ystride, n2, forward, acc);
}

/* Bluestein: X_j = c_j * sum_k (x_k c_k) conj(c_{j-k}), c_k = exp(-+ pi i k^2 / n), the
 * convolution by three power-of-two FFTs of size m >= 2n - 1. Result (unscaled) in y. */
void bluestein(Engine &eng, const cf *x, cf *y, int64_t n, bool forward, Account &acc) {
  int64_t m = 1;
  while (m < 2 * n - 1) m <<= 1;
  const double sgn = forward ? -1.0 : 1.0;
  std::vector<cf> chirp(static_cast<size_t>(n)), a(static_cast<size_t>(m)), b(static_cast<size_t>(m));
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
  acc.bytes += static_cast<uint64_t>(8 * n + 16 * m);
  fft_pass(eng, a.data(), 1, a.data(), 1, m, true, acc);
  fft_pass(eng, b.data(), 1, b.data(), 1, m, true, acc);
  for (int64_t k = 0; k < m; ++k) {
    O2C_HLS(HLS PIPELINE II = 1)
    const cf u = a[static_cast<size_t>(k)], v = b[static_cast<size_t>(k)];
    a[static_cast<size_t>(k)] = cf{u.re * v.re - u.im * v.im, u.re * v.im + u.im * v.re};
  }
  acc.bytes += static_cast<uint64_t>(24 * m);
  fft_pass(eng, a.data(), 1, a.data(), 1, m, false, acc);
  const float inv_m = 1.0f / static_cast<float>(m);
  for (int64_t k = 0; k < n; ++k) {
    O2C_HLS(HLS PIPELINE II = 1)
    const cf c = chirp[static_cast<size_t>(k)], v = a[static_cast<size_t>(k)];
    const float vr = v.re * inv_m, vi = v.im * inv_m;
    y[k] = cf{vr * c.re - vi * c.im, vr * c.im + vi * c.re};
  }
  acc.bytes += static_cast<uint64_t>(16 * n);
  acc.cycles += static_cast<uint64_t>(ceil_div(m, FFT_B) + 2 * ceil_div(n, FFT_B) + 2 * FFT_DEPTH);
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
  Account acc;
  if (n <= 0) {
    acc.report();
    return;
  }
  const float scale = forward ? 1.0f : 1.0f / static_cast<float>(n);
  Engine eng;
  if (is_pow2(n) && n <= FFT_MAX_N) {
    /* load (bit-reversed, converting) -> stages -> store (scaling, converting): in-place safe since
     * the whole input is on chip before the first store */
    const int64_t bits = log2i(n);
    for (int64_t t = 0; t < n; ++t) {
      O2C_HLS(HLS PIPELINE II = 1)
      eng.mem[bitrev(static_cast<uint64_t>(t), bits)] = load_sample(in[t]);
    }
    eng.rom(n, forward);
    onchip_stages(eng.mem.get(), eng.tw.get(), n);
    for (int64_t k = 0; k < n; ++k) {
      O2C_HLS(HLS PIPELINE II = 1)
      const cf v = eng.mem[k];
      if (forward)
        store_sample(out[k], v.re, v.im);
      else
        store_sample(out[k], v.re * scale, v.im * scale);
    }
    acc.cycles += onchip_cycles(n);
    acc.bytes += static_cast<uint64_t>(2 * n * static_cast<int64_t>(sizeof(T)));
    acc.report();
    return;
  }
  /* streamed: a float DRAM work vector (the input converted by the load DMA) */
  std::vector<cf> work(static_cast<size_t>(n));
  for (int64_t t = 0; t < n; ++t) work[static_cast<size_t>(t)] = load_sample(in[t]);
  acc.bytes += static_cast<uint64_t>(n * (static_cast<int64_t>(sizeof(T)) + 8));
  if (is_pow2(n))
    fft_pass(eng, work.data(), 1, work.data(), 1, n, forward, acc);
  else
    bluestein(eng, work.data(), work.data(), n, forward, acc);
  for (int64_t k = 0; k < n; ++k) {
    const cf v = work[static_cast<size_t>(k)];
    if (forward)
      store_sample(out[k], v.re, v.im);
    else
      store_sample(out[k], v.re * scale, v.im * scale);
  }
  acc.bytes += static_cast<uint64_t>(n * (static_cast<int64_t>(sizeof(T)) + 8));
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

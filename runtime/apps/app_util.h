/*
 * app_util.h - small helpers shared by the non-ML CEDR applications in runtime/apps/.
 *
 * Everything here is per instance: the runtime runs many instances of one app concurrently in
 * one process, so there is no mutable global or function-local static state. Header-only,
 * needs only "dash.h" and the C++ standard library, and only what the public release's dash.h
 * declares (its header has no barrier helper, so Batch waits on the barrier itself).
 *
 *   Rng        a seeded xorshift-style generator (uniform, Gaussian, bits), one per instance
 *   Batch      issues _nb calls that share one cedr_barrier_t and waits for all of them
 *   cd         double-precision complex helpers for the in-app references
 *   max_rel_err  max |result - reference| relative to the reference's peak magnitude
 *   conjugated   a conjugated copy, for a*conj(b) through ZIP_MULT: the public CPU ZIP declares
 *                ZIP_CMP_MULT but leaves the output untouched for it, so the apps never use it
 */
#ifndef O2C_APPS_APP_UTIL_H
#define O2C_APPS_APP_UTIL_H

#include "dash.h" /* also brings pthread.h: the barrier is a pthread mutex + condition variable */

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <exception>
#include <vector>

namespace o2c_app {
/* internal linkage: nothing from this header is exported by an app's shared object, so apps
 * loaded into one runtime process cannot interpose each other's helpers */
namespace {

constexpr double kPi = 3.14159265358979323846;
constexpr double kTwoPi = 6.28318530717958647692;

using cf = dash_cmplx_flt_type;

/* ---------------- deterministic random numbers (per instance) ---------------- */

class Rng {
 public:
  explicit Rng(uint64_t seed) : s_(seed ? seed : 0x9E3779B97F4A7C15ull) {}
  /* splitmix64 */
  uint64_t next() {
    uint64_t z = (s_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  /* uniform in [0, 1) with 53 random bits */
  double uniform() { return static_cast<double>(next() >> 11) * (1.0 / 9007199254740992.0); }
  /* uniform integer in [0, n) */
  uint32_t below(uint32_t n) { return static_cast<uint32_t>((next() >> 32) % n); }
  int bit() { return static_cast<int>(next() >> 63); }
  /* standard normal (Box-Muller, one value per call; the second is dropped to stay stateless) */
  double gauss() {
    double u1 = uniform();
    while (u1 <= 0.0) u1 = uniform();
    const double u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(kTwoPi * u2);
  }

 private:
  uint64_t s_;
};

/* ---------------- double complex helpers for the references ---------------- */

struct cd {
  double re, im;
};
inline cd cadd(cd a, cd b) { return {a.re + b.re, a.im + b.im}; }
inline cd csub(cd a, cd b) { return {a.re - b.re, a.im - b.im}; }
inline cd cmul(cd a, cd b) { return {a.re * b.re - a.im * b.im, a.re * b.im + a.im * b.re}; }
inline cd cmulconj(cd a, cd b) { return {a.re * b.re + a.im * b.im, a.im * b.re - a.re * b.im}; } /* a*conj(b) */
inline cd cexpj(double ph) { return {std::cos(ph), std::sin(ph)}; }
inline double cabs2(cd a) { return a.re * a.re + a.im * a.im; }
inline double cabs(cd a) { return std::sqrt(cabs2(a)); }
inline cd tod(cf a) { return {static_cast<double>(a.re), static_cast<double>(a.im)}; }
inline cf tof(cd a) { return {static_cast<float>(a.re), static_cast<float>(a.im)}; }

/* conj(x), element-wise, computed in the app (exact: only the sign of im changes) */
inline std::vector<cf> conjugated(const cf *x, size_t n) {
  std::vector<cf> c(x, x + n);
  for (cf &v : c) v.im = -v.im;
  return c;
}

/* twiddle table t[k] = exp(sign * 2*pi*i*k/n), k < n, exact angles in double */
inline std::vector<cd> twiddles(size_t n, double sign) {
  std::vector<cd> t(n);
  for (size_t k = 0; k < n; ++k) t[k] = cexpj(sign * kTwoPi * static_cast<double>(k) / static_cast<double>(n));
  return t;
}

/* ---------------- non-blocking batches sharing one barrier ---------------- */

/*
 * Each call's arguments live in a deque element (push_back never moves existing elements), so
 * the pointers handed to the _nb API stay valid until wait() returns. A call is issued as soon
 * as it is added, so the runtime can start it while later ones are still being added.
 */
class Batch {
 public:
  Batch() {
    pthread_mutex_init(&mutex_, nullptr);
    pthread_cond_init(&cond_, nullptr);
    barrier_.cond = &cond_;
    barrier_.mutex = &mutex_;
    barrier_.completion_ctr = &ctr_;
  }
  ~Batch() {
    wait();
    pthread_cond_destroy(&cond_);
    pthread_mutex_destroy(&mutex_);
  }
  Batch(const Batch &) = delete;
  Batch &operator=(const Batch &) = delete;

  void fft(cf *in, cf *out, size_t n, bool forward) {
    ffts_.push_back(FftArgs{in, out, n, forward});
    FftArgs &a = ffts_.back();
    ++issued_;
    DASH_FFT_flt_nb(&a.in, &a.out, &a.n, &a.forward, &barrier_);
  }
  void zip(cf *a, cf *b, cf *out, size_t n, zip_op_t op) {
    zips_.push_back(ZipArgs{a, b, out, n, op});
    ZipArgs &z = zips_.back();
    ++issued_;
    DASH_ZIP_flt_nb(&z.a, &z.b, &z.out, &z.n, &z.op, &barrier_);
  }
  void gemm(cf *A, cf *B, cf *C, size_t rows_a, size_t cols_a, size_t cols_b) {
    gemms_.push_back(GemmArgs{A, B, C, rows_a, cols_a, cols_b});
    GemmArgs &g = gemms_.back();
    ++issued_;
    DASH_GEMM_flt_nb(&g.A, &g.B, &g.C, &g.rows_a, &g.cols_a, &g.cols_b, &barrier_);
  }
  /* wait for every call issued since the last wait, then reuse the barrier */
  void wait() {
    if (issued_ == 0) return;
    /* a worker locks the mutex, increments the counter and signals, once per finished call */
    pthread_mutex_lock(&mutex_);
    while (ctr_ < issued_) pthread_cond_wait(&cond_, &mutex_);
    ctr_ = 0;
    pthread_mutex_unlock(&mutex_);
    total_ += issued_;
    issued_ = 0;
    ffts_.clear();
    zips_.clear();
    gemms_.clear();
  }
  /* number of _nb calls completed through this batch */
  unsigned completed() const { return total_; }

 private:
  struct FftArgs {
    cf *in, *out;
    size_t n;
    bool forward;
  };
  struct ZipArgs {
    cf *a, *b, *out;
    size_t n;
    zip_op_t op;
  };
  struct GemmArgs {
    cf *A, *B, *C;
    size_t rows_a, cols_a, cols_b;
  };
  pthread_mutex_t mutex_;
  pthread_cond_t cond_;
  uint32_t ctr_ = 0;
  cedr_barrier_t barrier_;
  uint32_t issued_ = 0;
  unsigned total_ = 0;
  std::deque<FftArgs> ffts_;
  std::deque<ZipArgs> zips_;
  std::deque<GemmArgs> gemms_;
};

/* max |a[i] - ref[i]| over max |ref[i]| (0/0 -> 0); NaN anywhere gives +inf */
inline double max_rel_err(const cf *a, const cd *ref, size_t n) {
  double peak = 0.0, err = 0.0;
  for (size_t i = 0; i < n; ++i) {
    const double e = cabs(csub(tod(a[i]), ref[i]));
    if (std::isnan(e)) return INFINITY;
    if (e > err) err = e;
    const double m = cabs(ref[i]);
    if (m > peak) peak = m;
  }
  if (peak == 0.0) return err == 0.0 ? 0.0 : INFINITY;
  return err / peak;
}

}  // namespace
}  // namespace o2c_app

/* The app's entry point: main() runs RUN(), and an exception (e.g. std::bad_alloc) becomes a
 * one-line failure through FAIL(message). Instances run concurrently: no state outside RUN(). */
#define O2C_APP_MAIN(RUN, FAIL)                                              \
  __attribute__((visibility("default"))) int main(int argc, char **argv) { \
    (void)argc;                                                              \
    (void)argv;                                                              \
    try {                                                                    \
      return RUN();                                                          \
    } catch (const std::exception &e) {                                      \
      return FAIL(e.what());                                                 \
    }                                                                        \
  }

#endif /* O2C_APPS_APP_UTIL_H */

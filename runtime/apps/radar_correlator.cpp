/*
 * radar_correlator.cpp - a multi-channel radar correlator written against the public CEDR
 * kernel API (DASH_GEMM_flt, DASH_FFT_flt, DASH_ZIP_flt and their _nb forms).
 *
 * A linear-FM chirp is transmitted; an 8-element uniform linear array receives a delayed echo
 * from one direction, plus complex Gaussian noise on every channel. Processing:
 *   1. beamforming: one GEMM forms 8 orthogonal (DFT) beams from the 8 channels, Y = W * X
 *   2. FFT of the zero-padded chirp and of every beam                  (_nb batch, 9 calls)
 *   3. multiply each beam spectrum by the conjugate chirp spectrum     (_nb batch, ZIP_MULT with a
 *      conjugated copy made in the app: the public CPU ZIP leaves the output alone for ZIP_CMP_MULT)
 *   4. inverse FFT: the circular cross-correlation of each beam with the chirp  (_nb batch)
 *   5. the strongest |correlation| over beams and lags gives direction and delay.
 * Verified against a double-precision reference (plain-loop beamforming and direct time-domain
 * correlation): the detected beam and lag must equal the injected ones and every beam's
 * correlation must match the reference to 1e-4 of that beam's peak.
 *
 * Standalone: link libdash_inline.a + libo2c_core.a. CEDR app: build as a shared object with the
 * DASH_* symbols left undefined; the runtime calls main(1, {"cedr_app"}, NULL) per instance.
 */
#include "app_util.h"

#include <cstdio>
#include <exception>
#include <vector>

namespace {

using namespace o2c_app;

constexpr size_t kN = 1024;     /* samples per channel (FFT size) */
constexpr size_t kL = 256;      /* chirp length */
constexpr size_t kM = 8;        /* receive channels */
constexpr size_t kB = 8;        /* beams */
constexpr double kSweep = 0.9;  /* chirp sweeps -kSweep/2 .. +kSweep/2 cycles per sample */
constexpr double kNoise = 0.7;  /* noise standard deviation per real component */
constexpr double kTol = 1e-4;   /* allowed error relative to each beam's correlation peak */
constexpr uint64_t kSeed = 0x7261646172ull;

int fail(const char *what) {
  std::fprintf(stderr, "radar_correlator: FAIL, %s\n", what);
  return 1;
}

/* spatial frequency (sin of the angle) of beam b: orthogonal DFT beams for a half-wavelength ULA */
double beam_u(size_t b) { return 2.0 * (static_cast<double>(b) - static_cast<double>(kB) / 2.0) / kM; }

int run() {
  Rng rng(kSeed);
  const size_t true_beam = rng.below(kB);
  const size_t true_delay = 16 + rng.below(static_cast<uint32_t>(kN - kL - 32));

  /* transmitted chirp, zero-padded to kN */
  std::vector<cf> chirp(kN, cf{0.0f, 0.0f});
  for (size_t n = 0; n < kL; ++n) {
    const double t = static_cast<double>(n) - static_cast<double>(kL) / 2.0;
    chirp[n] = tof(cexpj(kPi * kSweep * t * t / static_cast<double>(kL)));
  }

  /* received channels X (kM x kN, row-major): steered, delayed echo plus noise */
  std::vector<cf> X(kM * kN);
  const double u_t = beam_u(true_beam);
  for (size_t m = 0; m < kM; ++m) {
    const cd steer = cexpj(kPi * static_cast<double>(m) * u_t);
    for (size_t n = 0; n < kN; ++n) {
      cd v{kNoise * rng.gauss(), kNoise * rng.gauss()};
      if (n >= true_delay && n < true_delay + kL) v = cadd(v, cmul(steer, tod(chirp[n - true_delay])));
      X[m * kN + n] = tof(v);
    }
  }

  /* beamforming weights W (kB x kM): w[b][m] = exp(-i*pi*m*u_b) / kM */
  std::vector<cf> W(kB * kM);
  for (size_t b = 0; b < kB; ++b)
    for (size_t m = 0; m < kM; ++m)
      W[b * kM + m] = tof(cexpj(-kPi * static_cast<double>(m) * beam_u(b)));
  for (cf &w : W) {
    w.re /= static_cast<float>(kM);
    w.im /= static_cast<float>(kM);
  }

  /* ---- through the API ---- */
  unsigned calls = 0;
  std::vector<cf> Y(kB * kN), Yf(kB * kN), Z(kB * kN), R(kB * kN), S(kN);
  DASH_GEMM_flt(W.data(), X.data(), Y.data(), kB, kM, kN);
  ++calls;
  {
    Batch batch;
    batch.fft(chirp.data(), S.data(), kN, true);
    for (size_t b = 0; b < kB; ++b) batch.fft(&Y[b * kN], &Yf[b * kN], kN, true);
    batch.wait();
    std::vector<cf> Sc = conjugated(S.data(), kN);
    for (size_t b = 0; b < kB; ++b) batch.zip(&Yf[b * kN], Sc.data(), &Z[b * kN], kN, ZIP_MULT);
    batch.wait();
    for (size_t b = 0; b < kB; ++b) batch.fft(&Z[b * kN], &R[b * kN], kN, false);
    batch.wait();
    calls += batch.completed();
  }

  /* peak search over beams and lags */
  size_t best_b = 0, best_k = 0;
  double best = -1.0;
  for (size_t b = 0; b < kB; ++b)
    for (size_t k = 0; k < kN; ++k) {
      const double p = cabs2(tod(R[b * kN + k]));
      if (p > best) {
        best = p;
        best_b = b;
        best_k = k;
      }
    }

  /* ---- double-precision reference: plain-loop beamforming and direct correlation ---- */
  std::vector<cd> yref(kN), rref(kN);
  double worst = 0.0;
  for (size_t b = 0; b < kB; ++b) {
    for (size_t n = 0; n < kN; ++n) {
      cd acc{0.0, 0.0};
      for (size_t m = 0; m < kM; ++m) acc = cadd(acc, cmul(tod(W[b * kM + m]), tod(X[m * kN + n])));
      yref[n] = acc;
    }
    /* r[k] = sum_m y[(m + k) mod N] * conj(s[m]); the chirp is zero beyond kL */
    for (size_t k = 0; k < kN; ++k) {
      cd acc{0.0, 0.0};
      for (size_t m = 0; m < kL; ++m) acc = cadd(acc, cmulconj(yref[(m + k) % kN], tod(chirp[m])));
      rref[k] = acc;
    }
    const double e = max_rel_err(&R[b * kN], rref.data(), kN);
    if (!(e <= worst)) worst = e;
  }

  char msg[256];
  if (best_b != true_beam || best_k != true_delay) {
    std::snprintf(msg, sizeof msg, "detected beam %zu lag %zu, injected beam %zu lag %zu (max rel err %.2e)", best_b,
                  best_k, true_beam, true_delay, worst);
    return fail(msg);
  }
  if (!(worst <= kTol)) {
    std::snprintf(msg, sizeof msg, "correlation differs from the reference: max rel err %.2e > %.0e", worst, kTol);
    return fail(msg);
  }
  std::printf("radar_correlator: ok, beam %zu lag %zu (injected beam %zu lag %zu), %u kernel calls, max rel err %.1e\n",
              best_b, best_k, true_beam, true_delay, calls, worst);
  return 0;
}

}  // namespace

O2C_APP_MAIN(run, fail)

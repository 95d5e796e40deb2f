/*
 * pulse_doppler.cpp - pulse-Doppler radar processing written against the public CEDR kernel
 * API (DASH_FFT_flt, DASH_ZIP_flt and their _nb forms).
 *
 * A coherent processing interval of kP pulses, each kN complex range samples: a moving target
 * at a known range (delay) and Doppler (pulse-to-pulse phase progression) plus a stationary
 * clutter return at another range, in complex Gaussian noise. Processing:
 *   1. FFT of the zero-padded chirp and of every pulse                    (_nb batch, kP+1 calls)
 *   2. multiply each pulse spectrum by the conjugate chirp spectrum       (_nb batch, kP calls,
 *      ZIP_MULT with a conjugated copy made in the app: the public CPU ZIP ignores ZIP_CMP_MULT)
 *   3. inverse FFT: range-compressed pulses                               (_nb batch, kP calls)
 *   4. corner turn (pulse-major -> range-major), plain C++
 *   5. per range bin an FFT across the pulses                             (_nb batch, kN calls)
 *   6. magnitude and peak search over the moving-target Doppler bins (Doppler bin 0, where the
 *      stationary clutter sits, is excluded as a crude MTI).
 * Verified against a double-precision reference (direct time-domain matched filter and naive
 * DFT across pulses): the detected (range, Doppler) bin must equal the injected one and the
 * whole complex range-Doppler map must match to 1e-4 of its peak.
 */
#include "app_util.h"

#include <cstdio>
#include <exception>
#include <vector>

namespace {

using namespace o2c_app;

constexpr size_t kN = 256;      /* range samples per pulse */
constexpr size_t kP = 64;       /* pulses */
constexpr size_t kL = 64;       /* chirp length */
constexpr double kSweep = 0.8;  /* chirp sweeps -kSweep/2 .. +kSweep/2 cycles per sample */
constexpr double kNoise = 1.0;  /* noise standard deviation per real component */
constexpr double kClutter = 4.0;
constexpr double kTol = 1e-4;
constexpr uint64_t kSeed = 0x70756C7365ull;

int fail(const char *what) {
  std::fprintf(stderr, "pulse_doppler: FAIL, %s\n", what);
  return 1;
}

int run() {
  Rng rng(kSeed);
  const size_t true_range = 8 + rng.below(static_cast<uint32_t>(kN - kL - 16));
  const size_t true_doppler = 1 + rng.below(static_cast<uint32_t>(kP - 1));
  size_t clutter_range = 8 + rng.below(static_cast<uint32_t>(kN - kL - 16));
  if (clutter_range + 4 > true_range && clutter_range < true_range + 4)  /* keep the two returns apart */
    clutter_range = (true_range + kN / 2) % (kN - kL);

  std::vector<cf> chirp(kN, cf{0.0f, 0.0f});
  for (size_t n = 0; n < kL; ++n) {
    const double t = static_cast<double>(n) - static_cast<double>(kL) / 2.0;
    chirp[n] = tof(cexpj(kPi * kSweep * t * t / static_cast<double>(kL)));
  }

  /* pulses X (kP x kN): target with Doppler phase exp(2*pi*i*d*p/kP), clutter, noise */
  std::vector<cf> X(kP * kN);
  for (size_t p = 0; p < kP; ++p) {
    const cd dop = cexpj(kTwoPi * static_cast<double>(true_doppler * p % kP) / static_cast<double>(kP));
    for (size_t n = 0; n < kN; ++n) {
      cd v{kNoise * rng.gauss(), kNoise * rng.gauss()};
      if (n >= true_range && n < true_range + kL) v = cadd(v, cmul(dop, tod(chirp[n - true_range])));
      if (n >= clutter_range && n < clutter_range + kL) {
        const cd c = tod(chirp[n - clutter_range]);
        v = cadd(v, cd{kClutter * c.re, kClutter * c.im});
      }
      X[p * kN + n] = tof(v);
    }
  }

  /* ---- through the API ---- */
  std::vector<cf> S(kN), Xf(kP * kN), Z(kP * kN), RC(kP * kN), CT(kN * kP), RD(kN * kP);
  unsigned calls = 0;
  {
    Batch batch;
    batch.fft(chirp.data(), S.data(), kN, true);
    for (size_t p = 0; p < kP; ++p) batch.fft(&X[p * kN], &Xf[p * kN], kN, true);
    batch.wait();
    std::vector<cf> Sc = conjugated(S.data(), kN);
    for (size_t p = 0; p < kP; ++p) batch.zip(&Xf[p * kN], Sc.data(), &Z[p * kN], kN, ZIP_MULT);
    batch.wait();
    for (size_t p = 0; p < kP; ++p) batch.fft(&Z[p * kN], &RC[p * kN], kN, false);
    batch.wait();
    /* corner turn: CT[k][p] = RC[p][k] */
    for (size_t p = 0; p < kP; ++p)
      for (size_t k = 0; k < kN; ++k) CT[k * kP + p] = RC[p * kN + k];
    for (size_t k = 0; k < kN; ++k) batch.fft(&CT[k * kP], &RD[k * kP], kP, true);
    batch.wait();
    calls = batch.completed();
  }

  /* magnitude and peak search over the moving-target Doppler bins */
  size_t best_r = 0, best_d = 0;
  double best = -1.0;
  for (size_t k = 0; k < kN; ++k)
    for (size_t d = 1; d < kP; ++d) {
      const double m = cabs(tod(RD[k * kP + d]));
      if (m > best) {
        best = m;
        best_r = k;
        best_d = d;
      }
    }

  /* ---- double-precision reference ---- */
  std::vector<cd> rc(kP * kN), rd(kN * kP);
  for (size_t p = 0; p < kP; ++p)
    for (size_t k = 0; k < kN; ++k) {
      cd acc{0.0, 0.0};
      for (size_t m = 0; m < kL; ++m) acc = cadd(acc, cmulconj(tod(X[p * kN + (m + k) % kN]), tod(chirp[m])));
      rc[p * kN + k] = acc;
    }
  const std::vector<cd> tw = twiddles(kP, -1.0);
  for (size_t k = 0; k < kN; ++k)
    for (size_t d = 0; d < kP; ++d) {
      cd acc{0.0, 0.0};
      for (size_t p = 0; p < kP; ++p) acc = cadd(acc, cmul(rc[p * kN + k], tw[(p * d) % kP]));
      rd[k * kP + d] = acc;
    }
  const double err = max_rel_err(RD.data(), rd.data(), kN * kP);

  char msg[256];
  if (best_r != true_range || best_d != true_doppler) {
    std::snprintf(msg, sizeof msg, "detected range bin %zu doppler bin %zu, injected %zu %zu (max rel err %.2e)",
                  best_r, best_d, true_range, true_doppler, err);
    return fail(msg);
  }
  if (!(err <= kTol)) {
    std::snprintf(msg, sizeof msg, "range-Doppler map differs from the reference: max rel err %.2e > %.0e", err, kTol);
    return fail(msg);
  }
  std::printf("pulse_doppler: ok, target range bin %zu doppler bin %zu, %u kernel calls, max rel err %.1e\n", best_r,
              best_d, calls, err);
  return 0;
}

}  // namespace

O2C_APP_MAIN(run, fail)

/*
 * cgemm.cpp - DASH_GEMM_{flt,int}_cpu: complex row-major C = A * B (not in-place safe).
 *
 * Float: the interleaved complex matrices are viewed as real ones. A (M x K complex) is the
 * real M x 2K matrix [.. re im ..]; C is the real M x 2N matrix; B becomes the real 2K x 2N
 * matrix whose row 2k is B's row k as stored (re, im pairs) and whose row 2k+1 holds the pairs
 * (-im, re). One real GEMM through the blocked engine (B' is produced by its packing
 * callback, never stored) computes the complex product.
 * Int: exact integer arithmetic (int64 accumulation), the result saturated to int16.
 */
#include "../cpu/internal.h"
#include "common.h"

using namespace o2c::detail;

namespace {

constexpr int64_t NR = GEMM_NR;

struct ComplexB {
  const float *B; /* K x N complex, as floats */
  int64_t N;      /* complex columns */
};

void pack_complex_b(const void *ctx, int64_t k0, int64_t kc, int64_t n0, int64_t nc, float *dst) {
  const ComplexB &c = *static_cast<const ComplexB *>(ctx);
  const int64_t ncr = round_up(nc, NR);
  for (int64_t kk = 0; kk < kc; ++kk) {
    const int64_t k = k0 + kk;
    const float *row = c.B + (k >> 1) * 2 * c.N;
    const bool odd = (k & 1) != 0;
    for (int64_t q = 0; q < ncr; ++q) {
      float v = 0.0f;
      if (q < nc) {
        const int64_t col = n0 + q;
        if (!odd)
          v = row[col];
        else
          v = (col & 1) ? row[col - 1] : -row[col + 1];
      }
      dst[(q / NR) * kc * NR + kk * NR + (q % NR)] = v;
    }
  }
}

} /* namespace */

extern "C" void DASH_GEMM_flt_cpu(dash_cmplx_flt_type **A, dash_cmplx_flt_type **B, dash_cmplx_flt_type **C,
                                  size_t *rows_A, size_t *cols_A, size_t *cols_B) {
  const int64_t M = static_cast<int64_t>(*rows_A), K = static_cast<int64_t>(*cols_A),
                N = static_cast<int64_t>(*cols_B);
  if (M <= 0 || N <= 0) return;
  const dash_cmplx_flt_type *a = *A, *b = *B;
  dash_cmplx_flt_type *c = *C;
  if (M * N * K <= 2048) {
    for (int64_t i = 0; i < M; ++i) {
      for (int64_t j = 0; j < N; ++j) {
        float sr = 0.0f, si = 0.0f;
        for (int64_t k = 0; k < K; ++k) {
          const dash_cmplx_flt_type x = a[i * K + k], y = b[k * N + j];
          sr += x.re * y.re - x.im * y.im;
          si += x.re * y.im + x.im * y.re;
        }
        c[i * N + j].re = sr;
        c[i * N + j].im = si;
      }
    }
    return;
  }
  ComplexB ctx{reinterpret_cast<const float *>(b), N};
  GemmEpilogue ep;
  gemm_driver(M, 2 * N, 2 * K, reinterpret_cast<const float *>(a), 2 * K, 1, GemmBSource{pack_complex_b, &ctx},
              reinterpret_cast<float *>(c), 2 * N, ep, nullptr);
}

extern "C" void DASH_GEMM_int_cpu(dash_cmplx_int_type **A, dash_cmplx_int_type **B, dash_cmplx_int_type **C,
                                  size_t *rows_A, size_t *cols_A, size_t *cols_B) {
  const size_t M = *rows_A, K = *cols_A, N = *cols_B;
  const dash_cmplx_int_type *a = *A, *b = *B;
  dash_cmplx_int_type *c = *C;
  Scratch<int64_t> acc(2 * N + 2);
  for (size_t i = 0; i < M; ++i) {
    for (size_t j = 0; j < 2 * N; ++j) acc[j] = 0;
    for (size_t k = 0; k < K; ++k) {
      const int64_t ar = a[i * K + k].re, ai = a[i * K + k].im;
      const dash_cmplx_int_type *brow = b + k * N;
      for (size_t j = 0; j < N; ++j) {
        const int64_t br = brow[j].re, bi = brow[j].im;
        acc[2 * j] += ar * br - ai * bi;
        acc[2 * j + 1] += ar * bi + ai * br;
      }
    }
    for (size_t j = 0; j < N; ++j) {
      c[i * N + j].re = o2c::pub::sat16i(acc[2 * j]);
      c[i * N + j].im = o2c::pub::sat16i(acc[2 * j + 1]);
    }
  }
}

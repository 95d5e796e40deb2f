/*
 * gemm_accel.cpp - the GEMM accelerator (PE type "gemm"):
 *   DASH_GEMM_flt_gemm     complex C = A*B (public API)
 *   DASH_GEMM_RE_flt_gemm  real batched GEMM with transposes, alpha/beta, bias and fused activation
 *
 * Design: an output-stationary GEMM_T x GEMM_T systolic array. For each output tile, panels of
 * A (rows of op(A)) and B (columns of op(B)) are streamed through it in chunks of GEMM_KT along K
 * (double-buffered on-chip panels); every PE keeps its accumulator for the whole of K, so each
 * output is one fused multiply-add chain over k = 0..K-1 in order, starting from +0: exactly the
 * CPU kernel's contract (kernels/src/cpu/gemm.cpp). The epilogue unit then applies alpha, the
 * bias and the activation as the CPU's epilogue does, and the tile drains to DRAM.
 * A dot-product (GEMV) unit of GEMV_LANES MAC lanes (4 banks x 8) with a fixed adder tree runs
 * the matrix-vector products the CPU computes with its dot() order (M == 1 with op(B) = B^T, or
 * N == 1 with A not transposed, beyond the CPU's small-problem threshold); it reproduces that
 * order, so GEMM_RE is bit-identical to DASH_GEMM_RE_flt_cpu for every parameter combination.
 *
 * Cycle model (documented, checked by tests/kernels/test_accel.py):
 *   systolic: per batch, per output tile: K + 2*GEMM_T   (K MAC steps + fill + drain)
 *   GEMV:     per batch: n_out * ceil(K / GEMV_LANES) + GEMV_DEPTH
 *   complex:  per output tile K + 2*GEMM_T (complex MAC PEs)
 *   GEMM_RE adds the activation unit's pipeline depth (act_depth) once per call.
 * Bytes: every panel load of A and B (A's T x K row panel stays on chip across a row of tiles when
 * K <= GEMM_KBUF, else it is re-loaded per tile), the bias values each tile reads, C written once.
 */
#include "accel_common.h"

using namespace o2c::accel;

namespace {

constexpr int64_t GEMM_T = 16;       /* systolic array: GEMM_T x GEMM_T PEs (one output each)   */
constexpr int64_t GEMM_KT = 256;     /* K depth of one on-chip A/B panel chunk (double-buffered) */
constexpr int64_t GEMM_KBUF = 4096;  /* A row panel (GEMM_T x K) kept on chip when K <= this      */
constexpr int64_t GEMV_LANES = 32;   /* GEMV unit: 4 banks x 8 MAC lanes                          */
constexpr int64_t GEMV_DEPTH = 40;   /* GEMV pipeline: MAC (4) + 5-level adder tree (5 x 4) + tail/epilogue (16) */
constexpr int64_t CPU_TINY = 4096;   /* the CPU kernel's small-problem threshold on M*N*K (mirrored) */

/* ------------------------------------------------------------------------------------------------
 * Epilogue unit (per element, the CPU's gemm_epilogue_tile): c*alpha (when alpha != 1), then the
 * bias (scalar / row: beta*bias rounded, then added; column / full: added, or fused with beta when
 * beta != 1), then the activation.
 * ---------------------------------------------------------------------------------------------- */
struct Epilogue {
  float alpha = 1.0f, beta = 1.0f;
  int32_t bias_kind = 0;
  const float *bias = nullptr;
  int64_t ld = 0;
  dash_act_t act = {DASH_ACT_NONE, 0.0f, 0.0f};

  float apply(float c, int64_t i, int64_t j) const {
    if (alpha != 1.0f) c = c * alpha;
    switch (bias_kind) {
      case 1: c = c + beta * bias[0]; break;
      case 2: c = beta == 1.0f ? c + bias[j] : fmac(beta, bias[j], c); break;
      case 3: c = c + beta * bias[i]; break;
      case 4: c = beta == 1.0f ? c + bias[i * ld + j] : fmac(beta, bias[i * ld + j], c); break;
      default: break;
    }
    return act_unit(c, act);
  }
  /* bias values one mt x nt tile reads */
  int64_t bias_reads(int64_t mt, int64_t nt) const {
    switch (bias_kind) {
      case 1: return 1;
      case 2: return nt;
      case 3: return mt;
      case 4: return mt * nt;
      default: return 0;
    }
  }
};

/* op(A)(i, k) = A[i*rsa + k*csa], op(B)(k, j) = B[k*rsb + j*csb] */
struct Strided {
  const float *p;
  int64_t rs, cs;
  float at(int64_t r, int64_t c) const { return p[r * rs + c * cs]; }
};

/* ------------------------------------------------------------------------------------------------
 * Systolic array: C (M x N, row stride ldc) = epilogue(op(A) * op(B)).
 * ---------------------------------------------------------------------------------------------- */
void systolic_gemm(int64_t M, int64_t N, int64_t K, const Strided &A, const Strided &B, float *C, int64_t ldc,
                   const Epilogue &ep, Account &acc_out) {
  float a_pan[GEMM_T][GEMM_KT];
  float b_pan[GEMM_KT][GEMM_T];
  float acc[GEMM_T][GEMM_T];
  O2C_HLS(HLS ARRAY_PARTITION variable = a_pan dim = 1 complete)
  O2C_HLS(HLS ARRAY_PARTITION variable = b_pan dim = 2 complete)
  O2C_HLS(HLS ARRAY_PARTITION variable = acc complete dim = 0)
  const bool a_resident = K <= GEMM_KBUF;
  for (int64_t i0 = 0; i0 < M; i0 += GEMM_T) {
    const int64_t mt = imin(GEMM_T, M - i0);
    if (a_resident) acc_out.bytes += static_cast<uint64_t>(mt * K) * 4;
    for (int64_t j0 = 0; j0 < N; j0 += GEMM_T) {
      const int64_t nt = imin(GEMM_T, N - j0);
      acc_out.cycles += static_cast<uint64_t>(K + 2 * GEMM_T);
      acc_out.bytes += static_cast<uint64_t>((a_resident ? 0 : mt * K) + K * nt + ep.bias_reads(mt, nt) + mt * nt) * 4;
      for (int64_t i = 0; i < GEMM_T; ++i)
        for (int64_t j = 0; j < GEMM_T; ++j) acc[i][j] = 0.0f;
      for (int64_t k0 = 0; k0 < K; k0 += GEMM_KT) {
        const int64_t kt = imin(GEMM_KT, K - k0);
        /* load: panels of this K chunk (rows / columns past the matrix edge are zero) */
        for (int64_t i = 0; i < GEMM_T; ++i)
          for (int64_t k = 0; k < GEMM_KT; ++k) {
            O2C_HLS(HLS PIPELINE II = 1)
            if (k < kt) a_pan[i][k] = i < mt ? A.at(i0 + i, k0 + k) : 0.0f;
          }
        for (int64_t k = 0; k < GEMM_KT; ++k)
          for (int64_t j = 0; j < GEMM_T; ++j) {
            O2C_HLS(HLS PIPELINE II = 1)
            if (k < kt) b_pan[k][j] = j < nt ? B.at(k0 + k, j0 + j) : 0.0f;
          }
        /* compute: one K step per cycle, every PE one MAC */
        for (int64_t k = 0; k < kt; ++k) { /* trip count kt <= GEMM_KT */
          O2C_HLS(HLS LOOP_TRIPCOUNT max = 256)
          O2C_HLS(HLS PIPELINE II = 1)
          for (int64_t i = 0; i < GEMM_T; ++i) {
            O2C_HLS(HLS UNROLL)
            const float a = a_pan[i][k];
            for (int64_t j = 0; j < GEMM_T; ++j) {
              O2C_HLS(HLS UNROLL)
              acc[i][j] = fmac(a, b_pan[k][j], acc[i][j]);
            }
          }
        }
      }
      /* drain: epilogue and store */
      for (int64_t i = 0; i < mt; ++i)
        for (int64_t j = 0; j < nt; ++j) {
          O2C_HLS(HLS PIPELINE II = 1)
          C[(i0 + i) * ldc + j0 + j] = ep.apply(acc[i][j], i0 + i, j0 + j);
        }
    }
  }
}

/* ------------------------------------------------------------------------------------------------
 * GEMV unit: s = x . y over contiguous vectors of length K, in the CPU dot()'s order.
 * ---------------------------------------------------------------------------------------------- */
float gemv_dot(const float *x, const float *y, int64_t K) {
  int64_t i = 0;
#if O2C_ACCEL_MIRROR_AVX2
  float lane[4][8];
  O2C_HLS(HLS ARRAY_PARTITION variable = lane complete dim = 0)
  for (int q = 0; q < 4; ++q)
    for (int l = 0; l < 8; ++l) lane[q][l] = 0.0f;
  for (; i + 32 <= K; i += 32) {
    O2C_HLS(HLS PIPELINE II = 1)
    for (int q = 0; q < 4; ++q)
      for (int l = 0; l < 8; ++l) lane[q][l] = fmac(x[i + 8 * q + l], y[i + 8 * q + l], lane[q][l]);
  }
  for (; i + 8 <= K; i += 8)
    for (int l = 0; l < 8; ++l) lane[0][l] = fmac(x[i + l], y[i + l], lane[0][l]);
  float v[8];
  for (int l = 0; l < 8; ++l) v[l] = (lane[0][l] + lane[1][l]) + (lane[2][l] + lane[3][l]);
  float s = ((v[0] + v[4]) + (v[1] + v[5])) + ((v[2] + v[6]) + (v[3] + v[7]));
#else
  float part[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  for (; i + 8 <= K; i += 8)
    for (int l = 0; l < 8; ++l) part[l] = fmac(x[i + l], y[i + l], part[l]);
  float s = ((part[0] + part[1]) + (part[2] + part[3])) + ((part[4] + part[5]) + (part[6] + part[7]));
#endif
  for (; i < K; ++i) s = fmac(x[i], y[i], s);
  return s;
}

/* out[o] = dot(mat + o*K, vec) for o < n_out, then the epilogue at (row_of(o), col_of(o)) */
void gemv(int64_t n_out, int64_t K, const float *mat, const float *vec, float *C, int64_t c_step, bool out_is_row,
          const Epilogue &ep, Account &acc_out) {
  acc_out.cycles += static_cast<uint64_t>(n_out * ceil_div(K, GEMV_LANES) + GEMV_DEPTH);
  acc_out.bytes += static_cast<uint64_t>(K + n_out * K + n_out + ep.bias_reads(out_is_row ? 1 : n_out, out_is_row ? n_out : 1)) * 4;
  for (int64_t o = 0; o < n_out; ++o) {
    const float s = gemv_dot(mat + o * K, vec, K);
    C[o * c_step] = out_is_row ? ep.apply(s, 0, o) : ep.apply(s, o, 0);
  }
}

} /* namespace */

extern "C" void DASH_GEMM_RE_flt_gemm(const float **A_, const float **B_, const float **bias_, float **C_,
                                      const dash_gemm_params_t **p_, uint8_t /*instance*/) {
  const dash_gemm_params_t *p = *p_;
  const float *A = *A_, *B = *B_, *bias = *bias_;
  float *C = *C_;
  Account acc;
  const int64_t batch = p->batch, M = p->M, N = p->N, K = p->K;
  if (batch <= 0 || M <= 0 || N <= 0) {
    acc.report();
    return;
  }
  Epilogue ep;
  ep.alpha = p->alpha;
  ep.beta = p->beta;
  ep.bias_kind = bias ? p->bias_kind : 0;
  ep.bias = bias;
  ep.ld = N;
  ep.act = p->act;
  acc.cycles += static_cast<uint64_t>(act_depth(p->act.op));

  const int64_t rsa = p->trans_a ? 1 : K, csa = p->trans_a ? M : 1;
  const int64_t rsb = p->trans_b ? 1 : N, csb = p->trans_b ? K : 1;
  /* Which products go to the GEMV unit: the CPU's dot() cases. The CPU views a batch with a shared
   * B and contiguous, untransposed A and C as one tall GEMM first; mirror that to find its M. */
  int64_t m_cpu = M;
  if (batch > 1 && p->stride_b == 0 && !p->trans_a && p->stride_a == M * K && p->stride_c == M * N &&
      ep.bias_kind <= 2)
    m_cpu = M * batch;
  const bool cpu_small = K <= 0 || m_cpu * N * K <= CPU_TINY;
  const bool dot_row = !cpu_small && m_cpu == 1 && csb != 1;                          /* C row = A . B^T rows */
  const bool dot_col = !cpu_small && m_cpu != 1 && N == 1 && csa == 1 && rsb == 1;   /* C col = A rows . b */

  for (int64_t b = 0; b < batch; ++b) {
    const float *Ab = A + b * p->stride_a, *Bb = B + b * p->stride_b;
    float *Cb = C + b * p->stride_c;
    if (dot_row)
      gemv(N, K, Bb, Ab, Cb, 1, true, ep, acc);
    else if (dot_col)
      gemv(M, K, Ab, Bb, Cb, N, false, ep, acc);
    else
      systolic_gemm(M, N, K > 0 ? K : 0, Strided{Ab, rsa, csa}, Strided{Bb, rsb, csb}, Cb, N, ep, acc);
  }
  acc.report();
}

/* ------------------------------------------------------------------------------------------------
 * Complex GEMM on the same array with complex MAC PEs (4 real FMAs per step).
 * ---------------------------------------------------------------------------------------------- */
extern "C" void DASH_GEMM_flt_gemm(dash_cmplx_flt_type **A_, dash_cmplx_flt_type **B_, dash_cmplx_flt_type **C_,
                                   size_t *rows_A, size_t *cols_A, size_t *cols_B, uint8_t /*instance*/) {
  const int64_t M = static_cast<int64_t>(*rows_A), K = static_cast<int64_t>(*cols_A),
                N = static_cast<int64_t>(*cols_B);
  const dash_cmplx_flt_type *A = *A_, *B = *B_;
  dash_cmplx_flt_type *C = *C_;
  Account acc;
  if (M <= 0 || N <= 0) {
    acc.report();
    return;
  }
  dash_cmplx_flt_type a_pan[GEMM_T][GEMM_KT];
  dash_cmplx_flt_type b_pan[GEMM_KT][GEMM_T];
  float acc_re[GEMM_T][GEMM_T], acc_im[GEMM_T][GEMM_T];
  O2C_HLS(HLS ARRAY_PARTITION variable = acc_re complete dim = 0)
  O2C_HLS(HLS ARRAY_PARTITION variable = acc_im complete dim = 0)
  const bool a_resident = K <= GEMM_KBUF;
  for (int64_t i0 = 0; i0 < M; i0 += GEMM_T) {
    const int64_t mt = imin(GEMM_T, M - i0);
    if (a_resident) acc.bytes += static_cast<uint64_t>(mt * K) * 8;
    for (int64_t j0 = 0; j0 < N; j0 += GEMM_T) {
      const int64_t nt = imin(GEMM_T, N - j0);
      acc.cycles += static_cast<uint64_t>(K + 2 * GEMM_T);
      acc.bytes += static_cast<uint64_t>((a_resident ? 0 : mt * K) + K * nt + mt * nt) * 8;
      for (int64_t i = 0; i < GEMM_T; ++i)
        for (int64_t j = 0; j < GEMM_T; ++j) acc_re[i][j] = acc_im[i][j] = 0.0f;
      for (int64_t k0 = 0; k0 < K; k0 += GEMM_KT) {
        const int64_t kt = imin(GEMM_KT, K - k0);
        for (int64_t i = 0; i < GEMM_T; ++i)
          for (int64_t k = 0; k < kt; ++k) {
            O2C_HLS(HLS PIPELINE II = 1)
            a_pan[i][k] = i < mt ? A[(i0 + i) * K + k0 + k] : dash_cmplx_flt_type{0.0f, 0.0f};
          }
        for (int64_t k = 0; k < kt; ++k)
          for (int64_t j = 0; j < GEMM_T; ++j) {
            O2C_HLS(HLS PIPELINE II = 1)
            b_pan[k][j] = j < nt ? B[(k0 + k) * N + j0 + j] : dash_cmplx_flt_type{0.0f, 0.0f};
          }
        for (int64_t k = 0; k < kt; ++k) {
          O2C_HLS(HLS PIPELINE II = 1)
          for (int64_t i = 0; i < GEMM_T; ++i) {
            O2C_HLS(HLS UNROLL)
            const float ar = a_pan[i][k].re, ai = a_pan[i][k].im;
            for (int64_t j = 0; j < GEMM_T; ++j) {
              O2C_HLS(HLS UNROLL)
              const float br = b_pan[k][j].re, bi = b_pan[k][j].im;
              acc_re[i][j] = fmac(-ai, bi, fmac(ar, br, acc_re[i][j]));
              acc_im[i][j] = fmac(ai, br, fmac(ar, bi, acc_im[i][j]));
            }
          }
        }
      }
      for (int64_t i = 0; i < mt; ++i)
        for (int64_t j = 0; j < nt; ++j) {
          O2C_HLS(HLS PIPELINE II = 1)
          C[(i0 + i) * N + j0 + j] = dash_cmplx_flt_type{acc_re[i][j], acc_im[i][j]};
        }
    }
  }
  acc.report();
}

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
 * Host emulation: for each K step the whole GEMM_T x GEMM_T array updates (acc[i][j] += a[k][i] *
 * b[k][j]: fixed trip counts, unit-stride lanes, so g++ maps a PE row onto a vector register and
 * broadcasts a[k][i]); each accumulator still sees its own chain in k order. Only the PEs that can
 * hold a tile's valid outputs are evaluated, PE rows or PE columns on the vector lanes, whichever
 * takes fewer vector operations (edge tiles, thin matrices). The A row panel is
 * banked by PE row (k-major) and kept for the whole row of tiles; B column panels are read in place
 * when op(B) rows are contiguous and the tile is full, else staged k-major once per call (the byte
 * model charges what the hardware loads: A re-loads when K > GEMM_KBUF, B panels per tile).
 * The estimators DASH_GEMM_RE_flt_gemm_estimate / DASH_GEMM_flt_gemm_estimate (dash_accel.h)
 * compute the same cycle / byte model as the implementations, from the parameters alone.
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
constexpr int64_t GEMM_KT = 256;     /* K depth of one on-chip A/B panel chunk (double-buffered; hides
                                        the panel loads, so neither model term depends on it) */
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
};

/* op(A)(i, k) = A[i*rsa + k*csa], op(B)(k, j) = B[k*rsb + j*csb] */
struct Strided {
  const float *p;
  int64_t rs, cs;
  float at(int64_t r, int64_t c) const { return p[r * rs + c * cs]; }
};

/* The epilogue unit over one tile row of GEMM_T lanes (row i, columns j0 .. j0+nt): the same
 * operations as Epilogue::apply, element by element. */
void epilogue_row(const Epilogue &ep, float *v, int64_t i, int64_t j0, int64_t nt) {
  if (ep.alpha != 1.0f)
    for (int64_t j = 0; j < GEMM_T; ++j) v[j] = v[j] * ep.alpha;
  float bv[GEMM_T];
  switch (ep.bias_kind) {
    case 1:
    case 3: {
      const float t = ep.beta * ep.bias[ep.bias_kind == 1 ? 0 : i];
      for (int64_t j = 0; j < GEMM_T; ++j) v[j] = v[j] + t;
      break;
    }
    case 2:
    case 4: {
      const float *src = ep.bias + (ep.bias_kind == 2 ? 0 : i * ep.ld) + j0;
      for (int64_t j = 0; j < GEMM_T; ++j) bv[j] = 0.0f;
      for (int64_t j = 0; j < nt; ++j) bv[j] = src[j];
      if (ep.beta == 1.0f) {
        for (int64_t j = 0; j < GEMM_T; ++j) v[j] = v[j] + bv[j];
      } else {
        for (int64_t j = 0; j < GEMM_T; ++j) v[j] = fmac(ep.beta, bv[j], v[j]);
      }
      break;
    }
    default: break;
  }
  act_lanes<GEMM_T>(v, ep.act);
}

/* K steps of the array from +0: acc[i][j] = chain over k of a[k][i] * b[k][j] (b row k at b + k*ldb).
 * The emulation evaluates only the PEs that can hold the tile's valid outputs (the first MR rows or
 * NR columns: idle PEs never affect the others) and puts either the PE columns or the PE rows on
 * the host's vector lanes, whichever needs fewer vector operations per K step. */
template <int64_t MR>
void mac_rows(int64_t K, const float *a, const float *b, int64_t ldb, float (*acc)[GEMM_T]) {
  float x[MR][GEMM_T];
  O2C_HLS(HLS ARRAY_PARTITION variable = x complete dim = 0)
  for (int64_t i = 0; i < MR; ++i)
    for (int64_t j = 0; j < GEMM_T; ++j) x[i][j] = 0.0f;
  for (int64_t k = 0; k < K; ++k, a += GEMM_T, b += ldb) {
    O2C_HLS(HLS PIPELINE II = 1)
#pragma GCC unroll 16
    for (int64_t i = 0; i < MR; ++i)
      for (int64_t j = 0; j < GEMM_T; ++j) x[i][j] = fmac(a[i], b[j], x[i][j]);
  }
  for (int64_t i = 0; i < MR; ++i)
    for (int64_t j = 0; j < GEMM_T; ++j) acc[i][j] = x[i][j];
}

template <int64_t NR>
void mac_cols(int64_t K, const float *a, const float *b, int64_t ldb, float (*acc)[GEMM_T]) {
  float x[NR][GEMM_T];
  O2C_HLS(HLS ARRAY_PARTITION variable = x complete dim = 0)
  for (int64_t j = 0; j < NR; ++j)
    for (int64_t i = 0; i < GEMM_T; ++i) x[j][i] = 0.0f;
  for (int64_t k = 0; k < K; ++k, a += GEMM_T, b += ldb) {
    O2C_HLS(HLS PIPELINE II = 1)
#pragma GCC unroll 16
    for (int64_t j = 0; j < NR; ++j)
      for (int64_t i = 0; i < GEMM_T; ++i) x[j][i] = fmac(a[i], b[j], x[j][i]);
  }
  for (int64_t j = 0; j < NR; ++j)
    for (int64_t i = 0; i < GEMM_T; ++i) acc[i][j] = x[j][i];
}

void mac_tile(int64_t mt, int64_t nt, int64_t K, const float *a, const float *b, int64_t ldb, float (*acc)[GEMM_T]) {
  const int64_t mr = mt <= 4 ? 4 : (mt <= 8 ? 8 : 16);
  const int64_t nr = nt <= 2 ? 2 : (nt <= 4 ? 4 : (nt <= 8 ? 8 : 16));
  if (nr < mr) {
    if (nr == 2)
      mac_cols<2>(K, a, b, ldb, acc);
    else if (nr == 4)
      mac_cols<4>(K, a, b, ldb, acc);
    else
      mac_cols<8>(K, a, b, ldb, acc);
  } else if (mr == 4) {
    mac_rows<4>(K, a, b, ldb, acc);
  } else if (mr == 8) {
    mac_rows<8>(K, a, b, ldb, acc);
  } else {
    mac_rows<16>(K, a, b, ldb, acc);
  }
}

/* ------------------------------------------------------------------------------------------------
 * Systolic array: C (M x N, row stride ldc) = epilogue(op(A) * op(B)).
 * ---------------------------------------------------------------------------------------------- */
void systolic_gemm(int64_t M, int64_t N, int64_t K, const Strided &A, const Strided &B, float *C, int64_t ldc,
                   const Epilogue &ep) {
  const int64_t tiles_j = ceil_div(N, GEMM_T);
  /* B column panel j0 .. j0+GEMM_T read in place: op(B) rows contiguous and the tile full */
  auto in_place = [&](int64_t j0) { return B.cs == 1 && N - j0 >= GEMM_T; };
  int64_t n_staged = 0;
  for (int64_t jt = 0; jt < tiles_j; ++jt) n_staged += !in_place(jt * GEMM_T);
  /* staged panels are kept for every row of tiles when that fits a budget, else re-staged per tile */
  const bool keep = M > GEMM_T && K * GEMM_T * n_staged <= (int64_t(1) << 24);
  OnChip<float> bpan(static_cast<size_t>(imax(1, K) * GEMM_T * (keep ? n_staged : (n_staged ? 1 : 0))));
  OnChip<float> apan(static_cast<size_t>(imax(1, K) * GEMM_T));
  OnChip<int64_t> slot_of(static_cast<size_t>(imax(1, tiles_j)));
  auto stage_b = [&](int64_t j0, float *dst) {
    const int64_t nt = imin(GEMM_T, N - j0);
    for (int64_t k = 0; k < K; ++k) {
      O2C_HLS(HLS PIPELINE II = 1)
      for (int64_t j = 0; j < GEMM_T; ++j) dst[k * GEMM_T + j] = j < nt ? B.at(k, j0 + j) : 0.0f;
    }
  };
  if (keep) {
    int64_t next = 0;
    for (int64_t jt = 0; jt < tiles_j; ++jt) {
      slot_of[static_cast<size_t>(jt)] = in_place(jt * GEMM_T) ? -1 : next++;
      if (slot_of[static_cast<size_t>(jt)] >= 0)
        stage_b(jt * GEMM_T, bpan.get() + slot_of[static_cast<size_t>(jt)] * K * GEMM_T);
    }
  }
  float acc[GEMM_T][GEMM_T] = {};
  O2C_HLS(HLS ARRAY_PARTITION variable = acc complete dim = 0)
  for (int64_t i0 = 0; i0 < M; i0 += GEMM_T) {
    const int64_t mt = imin(GEMM_T, M - i0);
    /* A row panel, banked by PE row: apan[k][i] (rows past mt zero) */
    for (int64_t i = 0; i < GEMM_T; ++i)
      for (int64_t k = 0; k < K; ++k) {
        O2C_HLS(HLS PIPELINE II = 1)
        apan[static_cast<size_t>(k * GEMM_T + i)] = i < mt ? A.at(i0 + i, k) : 0.0f;
      }
    for (int64_t j0 = 0; j0 < N; j0 += GEMM_T) {
      const int64_t nt = imin(GEMM_T, N - j0);
      const float *b;
      int64_t ldb;
      if (in_place(j0)) {
        b = B.p + j0;
        ldb = B.rs;
      } else if (keep) {
        b = bpan.get() + slot_of[static_cast<size_t>(j0 / GEMM_T)] * K * GEMM_T;
        ldb = GEMM_T;
      } else {
        stage_b(j0, bpan.get());
        b = bpan.get();
        ldb = GEMM_T;
      }
      mac_tile(mt, nt, K, apan.get(), b, ldb, acc);
      /* drain: epilogue and store */
      for (int64_t i = 0; i < mt; ++i) {
        float v[GEMM_T];
        for (int64_t j = 0; j < GEMM_T; ++j) v[j] = acc[i][j];
        epilogue_row(ep, v, i0 + i, j0, nt);
        float *dst = C + (i0 + i) * ldc + j0;
        for (int64_t j = 0; j < nt; ++j) {
          O2C_HLS(HLS PIPELINE II = 1)
          dst[j] = v[j];
        }
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
          const Epilogue &ep) {
  for (int64_t o = 0; o < n_out; ++o) {
    const float s = gemv_dot(mat + o * K, vec, K);
    C[o * c_step] = out_is_row ? ep.apply(s, 0, o) : ep.apply(s, o, 0);
  }
}

/* ------------------------------------------------------------------------------------------------
 * GEMM_RE: which unit runs each product, shared by the implementation and the estimator
 * ---------------------------------------------------------------------------------------------- */
struct GemmPlan {
  int64_t batch = 0, M = 0, N = 0, K = 0;
  int64_t rsa = 0, csa = 0, rsb = 0, csb = 0;
  int32_t bias_kind = 0; /* 0 without a bias pointer */
  int32_t act_op = DASH_ACT_NONE;
  bool dot_row = false, dot_col = false;
};

/* false: nothing to compute (the call reports zero cycles and bytes) */
bool gemm_plan(const dash_gemm_params_t *p, bool has_bias, GemmPlan &pl) {
  pl.batch = p->batch;
  pl.M = p->M;
  pl.N = p->N;
  pl.K = p->K;
  if (pl.batch <= 0 || pl.M <= 0 || pl.N <= 0) return false;
  pl.bias_kind = has_bias ? p->bias_kind : 0;
  pl.act_op = p->act.op;
  pl.rsa = p->trans_a ? 1 : pl.K;
  pl.csa = p->trans_a ? pl.M : 1;
  pl.rsb = p->trans_b ? 1 : pl.N;
  pl.csb = p->trans_b ? pl.K : 1;
  /* Which products go to the GEMV unit: the CPU's dot() cases. The CPU views a batch with a shared
   * B and contiguous, untransposed A and C as one tall GEMM first; mirror that to find its M. */
  int64_t m_cpu = pl.M;
  if (pl.batch > 1 && p->stride_b == 0 && !p->trans_a && p->stride_a == pl.M * pl.K && p->stride_c == pl.M * pl.N &&
      pl.bias_kind <= 2)
    m_cpu = pl.M * pl.batch;
  const bool cpu_small = pl.K <= 0 || m_cpu * pl.N * pl.K <= CPU_TINY;
  pl.dot_row = !cpu_small && m_cpu == 1 && pl.csb != 1;                                  /* C row = A . B^T rows */
  pl.dot_col = !cpu_small && m_cpu != 1 && pl.N == 1 && pl.csa == 1 && pl.rsb == 1;    /* C col = A rows . b */
  return true;
}

uint64_t bias_reads(int32_t kind, int64_t mt, int64_t nt) {
  switch (kind) {
    case 1: return 1;
    case 2: return static_cast<uint64_t>(nt);
    case 3: return static_cast<uint64_t>(mt);
    case 4: return static_cast<uint64_t>(mt * nt);
    default: return 0;
  }
}

/* The documented cycle / byte model in closed form. */
Account gemm_re_account(const GemmPlan &pl) {
  Account a;
  a.cycles = static_cast<uint64_t>(act_depth(pl.act_op));
  const int64_t M = pl.M, N = pl.N;
  uint64_t cyc = 0, byt = 0; /* per batch */
  if (pl.dot_row || pl.dot_col) {
    const int64_t K = pl.K, n_out = pl.dot_row ? N : M;
    cyc = static_cast<uint64_t>(n_out * ceil_div(K, GEMV_LANES) + GEMV_DEPTH);
    byt = 4 * (static_cast<uint64_t>(K + n_out * K + n_out) +
               (pl.dot_row ? bias_reads(pl.bias_kind, 1, n_out) : bias_reads(pl.bias_kind, n_out, 1)));
  } else {
    const int64_t K = pl.K > 0 ? pl.K : 0;
    const int64_t ti = ceil_div(M, GEMM_T), tj = ceil_div(N, GEMM_T);
    uint64_t bias_total = 0; /* bias values all tiles read */
    switch (pl.bias_kind) {
      case 1: bias_total = static_cast<uint64_t>(ti * tj); break;
      case 2: bias_total = static_cast<uint64_t>(ti * N); break;
      case 3: bias_total = static_cast<uint64_t>(tj * M); break;
      case 4: bias_total = static_cast<uint64_t>(M * N); break;
      default: break;
    }
    const bool a_resident = K <= GEMM_KBUF;
    cyc = static_cast<uint64_t>(ti * tj * (K + 2 * GEMM_T));
    byt = 4 * (static_cast<uint64_t>((a_resident ? M * K : M * K * tj) + K * N * ti + M * N) + bias_total);
  }
  a.cycles += cyc * static_cast<uint64_t>(pl.batch);
  a.bytes += byt * static_cast<uint64_t>(pl.batch);
  return a;
}

/* ------------------------------------------------------------------------------------------------
 * Complex GEMM on the same array with complex MAC PEs (4 real FMAs per step)
 * ---------------------------------------------------------------------------------------------- */
Account cgemm_account(int64_t M, int64_t N, int64_t K) {
  Account a;
  if (M <= 0 || N <= 0) return a;
  const int64_t ti = ceil_div(M, GEMM_T), tj = ceil_div(N, GEMM_T);
  const bool a_resident = K <= GEMM_KBUF;
  a.cycles = static_cast<uint64_t>(ti * tj * (K + 2 * GEMM_T));
  a.bytes = 8 * static_cast<uint64_t>((a_resident ? M * K : M * K * tj) + K * N * ti + M * N);
  return a;
}

/* half of the array's rows (CGEMM_H of them, from h0) over K steps, from +0 */
constexpr int64_t CGEMM_H = GEMM_T / 2;
void cmac_half(int64_t K, const float *ar, const float *ai, const float *br, const float *bi,
               float (*acc_re)[GEMM_T], float (*acc_im)[GEMM_T]) {
  float xr[CGEMM_H][GEMM_T], xi[CGEMM_H][GEMM_T];
  O2C_HLS(HLS ARRAY_PARTITION variable = xr complete dim = 0)
  O2C_HLS(HLS ARRAY_PARTITION variable = xi complete dim = 0)
  for (int64_t i = 0; i < CGEMM_H; ++i)
    for (int64_t j = 0; j < GEMM_T; ++j) xr[i][j] = xi[i][j] = 0.0f;
  for (int64_t k = 0; k < K; ++k, ar += GEMM_T, ai += GEMM_T, br += GEMM_T, bi += GEMM_T) {
    O2C_HLS(HLS PIPELINE II = 1)
#pragma GCC unroll 8
    for (int64_t i = 0; i < CGEMM_H; ++i)
      for (int64_t j = 0; j < GEMM_T; ++j) {
        xr[i][j] = fmac(-ai[i], bi[j], fmac(ar[i], br[j], xr[i][j]));
        xi[i][j] = fmac(ai[i], br[j], fmac(ar[i], bi[j], xi[i][j]));
      }
  }
  for (int64_t i = 0; i < CGEMM_H; ++i)
    for (int64_t j = 0; j < GEMM_T; ++j) {
      acc_re[i][j] = xr[i][j];
      acc_im[i][j] = xi[i][j];
    }
}

void cgemm_run(int64_t M, int64_t N, int64_t K, const dash_cmplx_flt_type *A, const dash_cmplx_flt_type *B,
               dash_cmplx_flt_type *C) {
  const size_t pan = static_cast<size_t>(imax(1, K) * GEMM_T);
  /* panels split into real / imaginary banks, k-major */
  OnChip<float> a_re(pan), a_im(pan), b_re(pan), b_im(pan);
  float acc_re[GEMM_T][GEMM_T], acc_im[GEMM_T][GEMM_T];
  for (int64_t i0 = 0; i0 < M; i0 += GEMM_T) {
    const int64_t mt = imin(GEMM_T, M - i0);
    for (int64_t i = 0; i < GEMM_T; ++i)
      for (int64_t k = 0; k < K; ++k) {
        O2C_HLS(HLS PIPELINE II = 1)
        const dash_cmplx_flt_type v = i < mt ? A[(i0 + i) * K + k] : dash_cmplx_flt_type{0.0f, 0.0f};
        a_re[static_cast<size_t>(k * GEMM_T + i)] = v.re;
        a_im[static_cast<size_t>(k * GEMM_T + i)] = v.im;
      }
    for (int64_t j0 = 0; j0 < N; j0 += GEMM_T) {
      const int64_t nt = imin(GEMM_T, N - j0);
      for (int64_t k = 0; k < K; ++k)
        for (int64_t j = 0; j < GEMM_T; ++j) {
          O2C_HLS(HLS PIPELINE II = 1)
          const dash_cmplx_flt_type v = j < nt ? B[k * N + j0 + j] : dash_cmplx_flt_type{0.0f, 0.0f};
          b_re[static_cast<size_t>(k * GEMM_T + j)] = v.re;
          b_im[static_cast<size_t>(k * GEMM_T + j)] = v.im;
        }
      for (int64_t h0 = 0; h0 < mt; h0 += CGEMM_H)
        cmac_half(K, a_re.get() + h0, a_im.get() + h0, b_re.get(), b_im.get(), acc_re + h0, acc_im + h0);
      for (int64_t i = 0; i < mt; ++i)
        for (int64_t j = 0; j < nt; ++j) {
          O2C_HLS(HLS PIPELINE II = 1)
          C[(i0 + i) * N + j0 + j] = dash_cmplx_flt_type{acc_re[i][j], acc_im[i][j]};
        }
    }
  }
}

Epilogue make_epilogue(const dash_gemm_params_t *p, const GemmPlan &pl, const float *bias) {
  Epilogue ep;
  ep.alpha = p->alpha;
  ep.beta = p->beta;
  ep.bias_kind = pl.bias_kind;
  ep.bias = bias;
  ep.ld = pl.N;
  ep.act = p->act;
  return ep;
}

} /* namespace */

extern "C" void DASH_GEMM_RE_flt_gemm(const float **A_, const float **B_, const float **bias_, float **C_,
                                      const dash_gemm_params_t **p_, uint8_t /*instance*/) {
  const dash_gemm_params_t *p = *p_;
  const float *A = *A_, *B = *B_, *bias = *bias_;
  float *C = *C_;
  GemmPlan pl;
  if (!gemm_plan(p, bias != nullptr, pl)) {
    Account().report();
    return;
  }
  const Epilogue ep = make_epilogue(p, pl, bias);
  const int64_t M = pl.M, N = pl.N, K = pl.K;
  for (int64_t b = 0; b < pl.batch; ++b) {
    const float *Ab = A + b * p->stride_a, *Bb = B + b * p->stride_b;
    float *Cb = C + b * p->stride_c;
    if (pl.dot_row)
      gemv(N, K, Bb, Ab, Cb, 1, true, ep);
    else if (pl.dot_col)
      gemv(M, K, Ab, Bb, Cb, N, false, ep);
    else
      systolic_gemm(M, N, K > 0 ? K : 0, Strided{Ab, pl.rsa, pl.csa}, Strided{Bb, pl.rsb, pl.csb}, Cb, N, ep);
  }
  gemm_re_account(pl).report();
}

extern "C" void DASH_GEMM_RE_flt_gemm_estimate(const float ** /*A*/, const float ** /*B*/, const float **bias_,
                                               float ** /*C*/, const dash_gemm_params_t **p_, uint8_t /*instance*/,
                                               uint64_t *cycles, uint64_t *bytes_moved) {
  GemmPlan pl;
  const bool ok = gemm_plan(*p_, *bias_ != nullptr, pl);
  (ok ? gemm_re_account(pl) : Account()).put(cycles, bytes_moved);
}

extern "C" void DASH_GEMM_flt_gemm(dash_cmplx_flt_type **A_, dash_cmplx_flt_type **B_, dash_cmplx_flt_type **C_,
                                   size_t *rows_A, size_t *cols_A, size_t *cols_B, uint8_t /*instance*/) {
  const int64_t M = static_cast<int64_t>(*rows_A), K = static_cast<int64_t>(*cols_A),
                N = static_cast<int64_t>(*cols_B);
  if (M > 0 && N > 0) cgemm_run(M, N, K, *A_, *B_, *C_);
  cgemm_account(M, N, K).report();
}

extern "C" void DASH_GEMM_flt_gemm_estimate(dash_cmplx_flt_type ** /*A*/, dash_cmplx_flt_type ** /*B*/,
                                            dash_cmplx_flt_type ** /*C*/, size_t *rows_A, size_t *cols_A,
                                            size_t *cols_B, uint8_t /*instance*/, uint64_t *cycles,
                                            uint64_t *bytes_moved) {
  cgemm_account(static_cast<int64_t>(*rows_A), static_cast<int64_t>(*cols_B), static_cast<int64_t>(*cols_A))
      .put(cycles, bytes_moved);
}

/*
 * gemm.cpp - real single-precision GEMM: cache blocking (MC x KC x NC), packing of A into
 * GEMM_MR-row panels and of B into GEMM_NR-column panels, a register-blocked micro-kernel
 * (AVX2/FMA 6x16 with intrinsics, or a portable 4x16 loop nest the compiler vectorizes), and a
 * fused epilogue (alpha, bias, activation) applied to each C tile while it is hot in L1.
 *
 * Reduction order (a contract: the accelerator kernels in kernels/accel reproduce it bit for bit):
 * every output element is ONE fused multiply-add chain over k = 0, 1, ..., K-1 in order, starting
 * from +0 (K blocks continue the chain: the micro-kernel starts from the partial sums in C), on
 * every path except the matrix-vector dot() path (M == 1 with B transposed, or N == 1 with A not
 * transposed), whose order is spelled out at dot(). Scalar loops use fmac() (explicit FMA where the
 * target has it) so the result does not depend on the compiler's contraction choices. The epilogue
 * then applies c*alpha, the bias and the activation as written in gemm_epilogue_tile.
 */
#include "internal.h"
#include "o2c_numerics.h"

namespace o2c {
namespace detail {

namespace {

constexpr int64_t MR = GEMM_MR;
constexpr int64_t NR = GEMM_NR;

/* a*b + c, rounded once where the target has FMA (the shared contract, o2c_numerics.h) */
inline float fmac(float a, float b, float c) { return o2c_fmac(a, b, c); }

/* ---------------------------------------------------------------------------------------- */
/* micro-kernels: c[MR x NR] (row stride ldc) = (accumulate ? c : 0) + a_panel * b_panel,    */
/* the FMA chain of each element continuing from the value in c when accumulating            */
/* ---------------------------------------------------------------------------------------- */
#if O2C_HAVE_AVX2
inline void micro_kernel(int64_t kc, const float *__restrict a, const float *__restrict b, float *__restrict c,
                         int64_t ldc, bool accumulate) {
  __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps();
  __m256 c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
  __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps();
  __m256 c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();
  __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps();
  __m256 c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();
  for (int r = 0; r < 6; ++r) _mm_prefetch(reinterpret_cast<const char *>(c + r * ldc), _MM_HINT_T0);
  if (accumulate) {
    c00 = _mm256_loadu_ps(c + 0 * ldc);
    c01 = _mm256_loadu_ps(c + 0 * ldc + 8);
    c10 = _mm256_loadu_ps(c + 1 * ldc);
    c11 = _mm256_loadu_ps(c + 1 * ldc + 8);
    c20 = _mm256_loadu_ps(c + 2 * ldc);
    c21 = _mm256_loadu_ps(c + 2 * ldc + 8);
    c30 = _mm256_loadu_ps(c + 3 * ldc);
    c31 = _mm256_loadu_ps(c + 3 * ldc + 8);
    c40 = _mm256_loadu_ps(c + 4 * ldc);
    c41 = _mm256_loadu_ps(c + 4 * ldc + 8);
    c50 = _mm256_loadu_ps(c + 5 * ldc);
    c51 = _mm256_loadu_ps(c + 5 * ldc + 8);
  }

#define O2C_UKR_STEP(OFF_A, OFF_B)                                 \
  {                                                                \
    const __m256 b0 = _mm256_load_ps(b + (OFF_B));                 \
    const __m256 b1 = _mm256_load_ps(b + (OFF_B) + 8);             \
    __m256 av = _mm256_broadcast_ss(a + (OFF_A) + 0);              \
    c00 = _mm256_fmadd_ps(av, b0, c00);                            \
    c01 = _mm256_fmadd_ps(av, b1, c01);                            \
    av = _mm256_broadcast_ss(a + (OFF_A) + 1);                     \
    c10 = _mm256_fmadd_ps(av, b0, c10);                            \
    c11 = _mm256_fmadd_ps(av, b1, c11);                            \
    av = _mm256_broadcast_ss(a + (OFF_A) + 2);                     \
    c20 = _mm256_fmadd_ps(av, b0, c20);                            \
    c21 = _mm256_fmadd_ps(av, b1, c21);                            \
    av = _mm256_broadcast_ss(a + (OFF_A) + 3);                     \
    c30 = _mm256_fmadd_ps(av, b0, c30);                            \
    c31 = _mm256_fmadd_ps(av, b1, c31);                            \
    av = _mm256_broadcast_ss(a + (OFF_A) + 4);                     \
    c40 = _mm256_fmadd_ps(av, b0, c40);                            \
    c41 = _mm256_fmadd_ps(av, b1, c41);                            \
    av = _mm256_broadcast_ss(a + (OFF_A) + 5);                     \
    c50 = _mm256_fmadd_ps(av, b0, c50);                            \
    c51 = _mm256_fmadd_ps(av, b1, c51);                            \
  }

  int64_t k = 0;
  for (; k + 4 <= kc; k += 4) {
    _mm_prefetch(reinterpret_cast<const char *>(a + 192), _MM_HINT_T0);
    O2C_UKR_STEP(0, 0)
    O2C_UKR_STEP(6, 16)
    O2C_UKR_STEP(12, 32)
    O2C_UKR_STEP(18, 48)
    a += 24;
    b += 64;
  }
  for (; k < kc; ++k) {
    O2C_UKR_STEP(0, 0)
    a += 6;
    b += 16;
  }
#undef O2C_UKR_STEP

  _mm256_storeu_ps(c + 0 * ldc, c00);
  _mm256_storeu_ps(c + 0 * ldc + 8, c01);
  _mm256_storeu_ps(c + 1 * ldc, c10);
  _mm256_storeu_ps(c + 1 * ldc + 8, c11);
  _mm256_storeu_ps(c + 2 * ldc, c20);
  _mm256_storeu_ps(c + 2 * ldc + 8, c21);
  _mm256_storeu_ps(c + 3 * ldc, c30);
  _mm256_storeu_ps(c + 3 * ldc + 8, c31);
  _mm256_storeu_ps(c + 4 * ldc, c40);
  _mm256_storeu_ps(c + 4 * ldc + 8, c41);
  _mm256_storeu_ps(c + 5 * ldc, c50);
  _mm256_storeu_ps(c + 5 * ldc + 8, c51);
}
#elif O2C_HAVE_NEON
/* NEON 4x16: the 4 rows of an A step in one register, 16 accumulators; acc + b * a[lane] fused,
 * so each element is the portable kernel's FMA chain, bit for bit */
inline void micro_kernel(int64_t kc, const float *__restrict a, const float *__restrict b, float *__restrict c,
                         int64_t ldc, bool accumulate) {
  static_assert(MR == 4 && NR == 16, "the NEON micro-kernel is 4 x 16");
  float32x4_t c00, c01, c02, c03, c10, c11, c12, c13, c20, c21, c22, c23, c30, c31, c32, c33;
  if (accumulate) {
    c00 = vld1q_f32(c + 0 * ldc), c01 = vld1q_f32(c + 0 * ldc + 4), c02 = vld1q_f32(c + 0 * ldc + 8),
    c03 = vld1q_f32(c + 0 * ldc + 12);
    c10 = vld1q_f32(c + 1 * ldc), c11 = vld1q_f32(c + 1 * ldc + 4), c12 = vld1q_f32(c + 1 * ldc + 8),
    c13 = vld1q_f32(c + 1 * ldc + 12);
    c20 = vld1q_f32(c + 2 * ldc), c21 = vld1q_f32(c + 2 * ldc + 4), c22 = vld1q_f32(c + 2 * ldc + 8),
    c23 = vld1q_f32(c + 2 * ldc + 12);
    c30 = vld1q_f32(c + 3 * ldc), c31 = vld1q_f32(c + 3 * ldc + 4), c32 = vld1q_f32(c + 3 * ldc + 8),
    c33 = vld1q_f32(c + 3 * ldc + 12);
  } else {
    c00 = c01 = c02 = c03 = c10 = c11 = c12 = c13 = c20 = c21 = c22 = c23 = c30 = c31 = c32 = c33 = vdupq_n_f32(0.0f);
  }
  for (int64_t k = 0; k < kc; ++k, a += 4, b += 16) {
    const float32x4_t av = vld1q_f32(a);
    const float32x4_t b0 = vld1q_f32(b), b1 = vld1q_f32(b + 4), b2 = vld1q_f32(b + 8), b3 = vld1q_f32(b + 12);
    c00 = vfmaq_laneq_f32(c00, b0, av, 0), c01 = vfmaq_laneq_f32(c01, b1, av, 0);
    c02 = vfmaq_laneq_f32(c02, b2, av, 0), c03 = vfmaq_laneq_f32(c03, b3, av, 0);
    c10 = vfmaq_laneq_f32(c10, b0, av, 1), c11 = vfmaq_laneq_f32(c11, b1, av, 1);
    c12 = vfmaq_laneq_f32(c12, b2, av, 1), c13 = vfmaq_laneq_f32(c13, b3, av, 1);
    c20 = vfmaq_laneq_f32(c20, b0, av, 2), c21 = vfmaq_laneq_f32(c21, b1, av, 2);
    c22 = vfmaq_laneq_f32(c22, b2, av, 2), c23 = vfmaq_laneq_f32(c23, b3, av, 2);
    c30 = vfmaq_laneq_f32(c30, b0, av, 3), c31 = vfmaq_laneq_f32(c31, b1, av, 3);
    c32 = vfmaq_laneq_f32(c32, b2, av, 3), c33 = vfmaq_laneq_f32(c33, b3, av, 3);
  }
  vst1q_f32(c + 0 * ldc, c00), vst1q_f32(c + 0 * ldc + 4, c01), vst1q_f32(c + 0 * ldc + 8, c02);
  vst1q_f32(c + 0 * ldc + 12, c03);
  vst1q_f32(c + 1 * ldc, c10), vst1q_f32(c + 1 * ldc + 4, c11), vst1q_f32(c + 1 * ldc + 8, c12);
  vst1q_f32(c + 1 * ldc + 12, c13);
  vst1q_f32(c + 2 * ldc, c20), vst1q_f32(c + 2 * ldc + 4, c21), vst1q_f32(c + 2 * ldc + 8, c22);
  vst1q_f32(c + 2 * ldc + 12, c23);
  vst1q_f32(c + 3 * ldc, c30), vst1q_f32(c + 3 * ldc + 4, c31), vst1q_f32(c + 3 * ldc + 8, c32);
  vst1q_f32(c + 3 * ldc + 12, c33);
}
#else
inline void micro_kernel(int64_t kc, const float *__restrict a, const float *__restrict b, float *__restrict c,
                         int64_t ldc, bool accumulate) {
  float acc[MR][NR];
  for (int64_t r = 0; r < MR; ++r)
    for (int64_t j = 0; j < NR; ++j) acc[r][j] = accumulate ? c[r * ldc + j] : 0.0f;
  for (int64_t k = 0; k < kc; ++k) {
    const float *bk = b + k * NR;
    const float *ak = a + k * MR;
    for (int64_t r = 0; r < MR; ++r) {
      const float av = ak[r];
      for (int64_t j = 0; j < NR; ++j) acc[r][j] = fmac(av, bk[j], acc[r][j]);
    }
  }
  for (int64_t r = 0; r < MR; ++r) {
    float *cr = c + r * ldc;
    for (int64_t j = 0; j < NR; ++j) cr[j] = acc[r][j];
  }
}
#endif

/* Partial tile: compute the full MR x NR tile in a buffer (holding the partial sums of the valid
 * part when accumulating), then copy the valid part back. */
inline void micro_kernel_edge(int64_t kc, const float *a, const float *b, float *c, int64_t ldc, int64_t m,
                              int64_t n, bool accumulate) {
  alignas(64) float tmp[MR * NR];
  if (accumulate) {
    for (int64_t r = 0; r < MR; ++r)
      for (int64_t j = 0; j < NR; ++j) tmp[r * NR + j] = (r < m && j < n) ? c[r * ldc + j] : 0.0f;
  }
  micro_kernel(kc, a, b, tmp, NR, accumulate);
  for (int64_t r = 0; r < m; ++r) {
    float *cr = c + r * ldc;
    const float *tr = tmp + r * NR;
    for (int64_t j = 0; j < n; ++j) cr[j] = tr[j];
  }
}

/* Pack rows [i0, i0+mc) x columns [k0, k0+kc) of A into MR-row panels: panel p holds, for
 * each k, MR consecutive values (rows beyond mc are zero). */
void pack_a(const float *A, int64_t rsa, int64_t csa, int64_t i0, int64_t mc, int64_t k0, int64_t kc,
            float *dst) {
  for (int64_t ip = 0; ip < mc; ip += MR) {
    const int64_t m = std::min(MR, mc - ip);
    float *d = dst + ip * kc;
    const float *src = A + (i0 + ip) * rsa + k0 * csa;
    if (m == MR && csa == 1) {
      const float *rows[MR];
      for (int64_t r = 0; r < MR; ++r) rows[r] = src + r * rsa;
      for (int64_t k = 0; k < kc; ++k)
        for (int64_t r = 0; r < MR; ++r) d[k * MR + r] = rows[r][k];
    } else if (m == MR && rsa == 1) {
      for (int64_t k = 0; k < kc; ++k) {
        const float *s = src + k * csa;
        for (int64_t r = 0; r < MR; ++r) d[k * MR + r] = s[r];
      }
    } else {
      for (int64_t k = 0; k < kc; ++k) {
        int64_t r = 0;
        for (; r < m; ++r) d[k * MR + r] = src[r * rsa + k * csa];
        for (; r < MR; ++r) d[k * MR + r] = 0.0f;
      }
    }
  }
}

#if O2C_HAVE_AVX2
inline float hsum256(__m256 v) {
  __m128 lo = _mm256_castps256_ps128(v);
  __m128 hi = _mm256_extractf128_ps(v, 1);
  lo = _mm_add_ps(lo, hi);
  __m128 sh = _mm_movehdup_ps(lo);
  lo = _mm_add_ps(lo, sh);
  sh = _mm_movehl_ps(sh, lo);
  lo = _mm_add_ss(lo, sh);
  return _mm_cvtss_f32(lo);
}
#endif

/* dot product of two contiguous vectors. Order (AVX2): 4 x 8 partial sums s_q[l] over blocks of 32
 * (element 32t + 8q + l), then blocks of 8 into s_0; v = (s0 + s1) + (s2 + s3) lane-wise,
 * s = ((v0 + v4) + (v1 + v5)) + ((v2 + v6) + (v3 + v7)); the tail continues s by FMA. Portable:
 * 8 partial sums over blocks of 8, s = ((p0 + p1) + (p2 + p3)) + ((p4 + p5) + (p6 + p7)), then the tail. */
inline float dot(const float *__restrict x, const float *__restrict y, int64_t n) {
  int64_t i = 0;
#if O2C_HAVE_AVX2
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps(), s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
  for (; i + 32 <= n; i += 32) {
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), s0);
    s1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8), _mm256_loadu_ps(y + i + 8), s1);
    s2 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 16), _mm256_loadu_ps(y + i + 16), s2);
    s3 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 24), _mm256_loadu_ps(y + i + 24), s3);
  }
  for (; i + 8 <= n; i += 8) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), s0);
  float s = hsum256(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
#else
  float part[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; ++j) part[j] = fmac(x[i + j], y[i + j], part[j]);
  float s = ((part[0] + part[1]) + (part[2] + part[3])) + ((part[4] + part[5]) + (part[6] + part[7]));
#endif
  for (; i < n; ++i) s = fmac(x[i], y[i], s);
  return s;
}

/* y[0..n) += a * x[0..n) */
inline void axpy(float a, const float *__restrict x, float *__restrict y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = fmac(a, x[i], y[i]);
}

} /* namespace */

void gemm_pack_a(const float *A, int64_t rsa, int64_t csa, int64_t i0, int64_t mc, int64_t k0, int64_t kc,
                 float *dst) {
  pack_a(A, rsa, csa, i0, mc, k0, kc, dst);
}

void gemm_pack_b_strided(const void *ctx, int64_t k0, int64_t kc, int64_t n0, int64_t nc, float *dst) {
  const StridedB &s = *static_cast<const StridedB *>(ctx);
  for (int64_t jp = 0; jp < nc; jp += NR) {
    const int64_t n = std::min(NR, nc - jp);
    float *d = dst + jp * kc;
    const float *src = s.B + k0 * s.rsb + (n0 + jp) * s.csb;
    if (n == NR && s.csb == 1) {
      for (int64_t k = 0; k < kc; ++k) std::memcpy(d + k * NR, src + k * s.rsb, NR * sizeof(float));
    } else if (n == NR && s.rsb == 1) {
      const float *cols[NR];
      for (int64_t j = 0; j < NR; ++j) cols[j] = src + j * s.csb;
      for (int64_t k = 0; k < kc; ++k)
        for (int64_t j = 0; j < NR; ++j) d[k * NR + j] = cols[j][k];
    } else {
      for (int64_t k = 0; k < kc; ++k) {
        int64_t j = 0;
        for (; j < n; ++j) d[k * NR + j] = src[k * s.rsb + j * s.csb];
        for (; j < NR; ++j) d[k * NR + j] = 0.0f;
      }
    }
  }
}

void gemm_epilogue_tile(float *C, int64_t ldc, int64_t i0, int64_t j0, int64_t m, int64_t n, const GemmEpilogue &ep) {
  const bool scale = ep.alpha != 1.0f;
  const int32_t bk = ep.bias ? ep.bias_kind : 0;
  if (!scale && bk == 0 && ep.act.op == DASH_ACT_NONE) return;
  const float beta = ep.beta;
  for (int64_t r = 0; r < m; ++r) {
    float *c = C + r * ldc;
    if (scale)
      for (int64_t j = 0; j < n; ++j) c[j] *= ep.alpha;
    switch (bk) {
      case 1: {
        const float v = beta * ep.bias[0];
        for (int64_t j = 0; j < n; ++j) c[j] += v;
        break;
      }
      case 2: {
        const float *bb = ep.bias + j0;
        if (beta == 1.0f)
          for (int64_t j = 0; j < n; ++j) c[j] += bb[j];
        else
          for (int64_t j = 0; j < n; ++j) c[j] = fmac(beta, bb[j], c[j]);
        break;
      }
      case 3: {
        const float v = beta * ep.bias[i0 + r];
        for (int64_t j = 0; j < n; ++j) c[j] += v;
        break;
      }
      case 4: {
        const float *bb = ep.bias + (i0 + r) * ep.bias_ld + j0;
        if (beta == 1.0f)
          for (int64_t j = 0; j < n; ++j) c[j] += bb[j];
        else
          for (int64_t j = 0; j < n; ++j) c[j] = fmac(beta, bb[j], c[j]);
        break;
      }
      default: break;
    }
    act_inplace(c, n, ep.act);
  }
}

namespace {
struct Blocking {
  int64_t kcb, mc_cap, nc_cap;
};
Blocking blocking(int64_t M, int64_t N, int64_t K) {
  Blocking b;
  const int64_t nk = std::max<int64_t>(1, ceil_div(K, GEMM_KC));
  b.kcb = std::max<int64_t>(1, ceil_div(K, nk));
  b.mc_cap = std::min(GEMM_MC, round_up(std::max<int64_t>(M, 1), MR));
  b.nc_cap = std::min(GEMM_NC, round_up(std::max<int64_t>(N, 1), NR));
  return b;
}
} /* namespace */

size_t gemm_workspace_floats(int64_t M, int64_t N, int64_t K) {
  const Blocking b = blocking(M, N, K);
  return static_cast<size_t>(round_up(b.mc_cap * b.kcb, 16) + b.kcb * b.nc_cap + 16);
}

void gemm_driver(int64_t M, int64_t N, int64_t K, const float *A, int64_t rsa, int64_t csa, const GemmBSource &B,
                 float *C, int64_t ldc, const GemmEpilogue &ep, float *workspace) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) {
    for (int64_t i = 0; i < M; ++i) std::memset(C + i * ldc, 0, static_cast<size_t>(N) * sizeof(float));
    gemm_epilogue_tile(C, ldc, 0, 0, M, N, ep);
    return;
  }
  Scratch<float> own;
  if (!workspace) {
    own.reset(gemm_workspace_floats(M, N, K));
    workspace = own.get();
  }
  const Blocking bl = blocking(M, N, K);
  float *ap = workspace;
  float *bp = workspace + round_up(bl.mc_cap * bl.kcb, 16);

  for (int64_t jc = 0; jc < N; jc += GEMM_NC) {
    const int64_t nc = std::min(GEMM_NC, N - jc);
    for (int64_t pc = 0; pc < K; pc += bl.kcb) {
      const int64_t kc = std::min(bl.kcb, K - pc);
      const bool first = pc == 0;
      const bool last = pc + kc >= K;
      B.pack(B.ctx, pc, kc, jc, nc, bp);
      for (int64_t ic = 0; ic < M; ic += GEMM_MC) {
        const int64_t mc = std::min(GEMM_MC, M - ic);
        pack_a(A, rsa, csa, ic, mc, pc, kc, ap);
        for (int64_t jr = 0; jr < nc; jr += NR) {
          const int64_t n = std::min(NR, nc - jr);
          const float *bpanel = bp + jr * kc;
          for (int64_t ir = 0; ir < mc; ir += MR) {
            const int64_t m = std::min(MR, mc - ir);
            float *c = C + (ic + ir) * ldc + jc + jr;
            if (m == MR && n == NR)
              micro_kernel(kc, ap + ir * kc, bpanel, c, ldc, !first);
            else
              micro_kernel_edge(kc, ap + ir * kc, bpanel, c, ldc, m, n, !first);
            if (last) gemm_epilogue_tile(c, ldc, ic + ir, jc + jr, m, n, ep);
          }
        }
      }
    }
  }
}

void gemm_strided(int64_t M, int64_t N, int64_t K, const float *A, int64_t rsa, int64_t csa, const float *B,
                  int64_t rsb, int64_t csb, float *C, int64_t ldc, const GemmEpilogue &ep, float *workspace) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) {
    gemm_driver(M, N, K, A, rsa, csa, GemmBSource{gemm_pack_b_strided, nullptr}, C, ldc, ep, workspace);
    return;
  }
  /* tiny problems: packing costs more than it saves */
  if (M * N * K <= 4096) {
    for (int64_t i = 0; i < M; ++i) {
      float *c = C + i * ldc;
      for (int64_t j = 0; j < N; ++j) c[j] = 0.0f;
      for (int64_t k = 0; k < K; ++k) {
        const float a = A[i * rsa + k * csa];
        const float *b = B + k * rsb;
        for (int64_t j = 0; j < N; ++j) c[j] = fmac(a, b[j * csb], c[j]);
      }
    }
    gemm_epilogue_tile(C, ldc, 0, 0, M, N, ep);
    return;
  }
  if (M == 1 && (csb == 1 || rsb == 1)) {
    /* row vector times matrix */
    Scratch<float> abuf;
    const float *a = A;
    if (csa != 1) {
      abuf.reset(static_cast<size_t>(K));
      for (int64_t k = 0; k < K; ++k) abuf[k] = A[k * csa];
      a = abuf.get();
    }
    /* large matrix-vector products (fully-connected layers: memory bound) split their columns
     * over the calling thread's workers; each output's chain is the same for any split */
    const int64_t per_thread = std::max<int64_t>(1, (N * K) / 200000);
    const int nth = static_cast<int>(std::min<int64_t>(current_threads(), per_thread));
    if (csb == 1) {
      constexpr int64_t NB = 2048;
      const int64_t cb = nth > 1 ? std::min(NB, round_up(ceil_div(N, 4 * nth), 16)) : NB;
      parallel_for(ceil_div(N, cb), nth, [&](int64_t t, int) {
        const int64_t j0 = t * cb, nb = std::min(cb, N - j0);
        float *c = C + j0;
        std::memset(c, 0, static_cast<size_t>(nb) * sizeof(float));
        for (int64_t k = 0; k < K; ++k) axpy(a[k], B + k * rsb + j0, c, nb);
      });
    } else {
      const int64_t cb = std::max<int64_t>(1, ceil_div(N, 8 * nth));
      parallel_for(ceil_div(N, cb), nth, [&](int64_t t, int) {
        const int64_t j1 = std::min(N, (t + 1) * cb);
        for (int64_t j = t * cb; j < j1; ++j) C[j] = dot(a, B + j * csb, K);
      });
    }
    gemm_epilogue_tile(C, ldc, 0, 0, 1, N, ep);
    return;
  }
  if (N == 1 && (csa == 1 || rsa == 1)) {
    /* matrix times column vector */
    Scratch<float> bbuf;
    const float *b = B;
    if (rsb != 1) {
      bbuf.reset(static_cast<size_t>(K));
      for (int64_t k = 0; k < K; ++k) bbuf[k] = B[k * rsb];
      b = bbuf.get();
    }
    if (csa == 1) {
      for (int64_t i = 0; i < M; ++i) C[i * ldc] = dot(A + i * rsa, b, K);
    } else {
      Scratch<float> acc(static_cast<size_t>(M));
      std::memset(acc.get(), 0, static_cast<size_t>(M) * sizeof(float));
      for (int64_t k = 0; k < K; ++k) axpy(b[k], A + k * csa, acc.get(), M);
      for (int64_t i = 0; i < M; ++i) C[i * ldc] = acc[i];
    }
    gemm_epilogue_tile(C, ldc, 0, 0, M, 1, ep);
    return;
  }
  StridedB sb{B, rsb, csb};
  gemm_driver(M, N, K, A, rsa, csa, GemmBSource{gemm_pack_b_strided, &sb}, C, ldc, ep, workspace);
}

} /* namespace detail */
} /* namespace o2c */

using namespace o2c::detail;

extern "C" void o2c_gemm(const float *A, const float *B, const float *bias, float *C, const dash_gemm_params_t *p) {
  int64_t batch = p->batch, M = p->M, N = p->N, K = p->K;
  if (batch <= 0 || M <= 0 || N <= 0) return;
  int64_t rsa = p->trans_a ? 1 : K, csa = p->trans_a ? M : 1;
  const int64_t rsb = p->trans_b ? 1 : N, csb = p->trans_b ? K : 1;
  GemmEpilogue ep;
  ep.alpha = p->alpha;
  ep.beta = p->beta;
  ep.bias_kind = bias ? p->bias_kind : 0;
  ep.bias = bias;
  ep.bias_ld = N;
  ep.act = p->act;

  /* a shared B with contiguous, untransposed A and C batches is one tall GEMM */
  if (batch > 1 && p->stride_b == 0 && !p->trans_a && p->stride_a == M * K && p->stride_c == M * N &&
      ep.bias_kind <= 2) {
    M *= batch;
    batch = 1;
  }
  Scratch<float> ws(gemm_workspace_floats(M, N, K));
  for (int64_t b = 0; b < batch; ++b) {
    gemm_strided(M, N, K, A + b * p->stride_a, rsa, csa, B + b * p->stride_b, rsb, csb, C + b * p->stride_c, N, ep,
                 ws.get());
  }
}

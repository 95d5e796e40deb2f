/*
 * rnn.cpp - o2c_rnn: ONNX RNN, GRU and LSTM (forward, reverse, bidirectional; batch-first layout;
 * sequence lengths; clip; any activation of dash_unary_op_t per gate function).
 *
 * Per direction the input projection of all steps is one GEMM (X * W^T, seq*batch rows); each
 * step then does one product of the hidden state with R^T (two for GRU without
 * linear_before_reset, whose candidate gate needs r (.) h first) and element-wise gate updates.
 * For small batches (the usual inference case) that product is a few rows: R is transposed once
 * per call and each step runs AXPYs over its contiguous rows, instead of a GEMM that would pack R
 * again at every step.
 */
#include "internal.h"

using namespace o2c::detail;

namespace {

inline void act_row(float *v, int64_t n, const dash_act_t &a, bool has_clip, float clip) {
  if (has_clip)
    for (int64_t i = 0; i < n; ++i) v[i] = std::min(std::max(v[i], -clip), clip);
  unary_array(v, v, n, a.op, a.alpha, a.beta);
}

/* C (M x N) = A (M x K, row stride lda) * Wd^T where Wd is N x K (row stride K) */
inline void gemm_abt(int64_t M, int64_t N, int64_t K, const float *A, int64_t lda, const float *Wd, float *C) {
  GemmEpilogue ep;
  ep.beta = 0.0f;
  gemm_strided(M, N, K, A, lda, 1, Wd, 1, K, C, N, ep, nullptr);
}

/* out[b][0..n) = sum_k A[b][k] * Rt[k][0..n) for b < NB: the recurrent product of a small batch,
 * with Rt (K rows, row stride ldr) a transposed slice of R; out rows have stride ldo */
inline void rec_small(int64_t NB, int64_t n, int64_t K, const float *A, const float *Rt, int64_t ldr,
                      float *out, int64_t ldo) {
  for (int64_t b = 0; b < NB; ++b) {
    float *__restrict o = out + b * ldo;
    const float *a = A + b * K;
    for (int64_t j = 0; j < n; ++j) o[j] = 0.0f;
    for (int64_t k = 0; k < K; ++k) {
      const float av = a[k];
      const float *__restrict r = Rt + k * ldr;
      for (int64_t j = 0; j < n; ++j) o[j] += av * r[j];
    }
  }
}

constexpr int64_t SMALL_BATCH = 8; /* at most this many rows: rec_small, else the GEMM engine */

} /* namespace */

extern "C" void o2c_rnn(const float *X, const float *W, const float *R, const float *B, const int32_t *seq_lens,
                        const float *initial_h, const float *initial_c, const float *P, float *Y, float *Y_h,
                        float *Y_c, const o2c_rnn_params_t *p) {
  const int64_t S = p->seq, NB = p->batch, I = p->input, Hd = p->hidden;
  const int cell = p->cell;
  const int64_t G = cell == O2C_RNN_LSTM ? 4 : (cell == O2C_RNN_GRU ? 3 : 1);
  const int dirs = p->direction == 2 ? 2 : 1;
  const bool bf = p->layout != 0;
  const bool clip = p->has_clip != 0;
  if (S <= 0 || NB <= 0 || Hd <= 0) return;
  const int64_t GH = G * Hd;
  /* element offsets of X row (t, b), Y row (t, d, b) and state row (d, b) for the layout */
  auto xrow = [&](int64_t t, int64_t b) { return bf ? (b * S + t) : (t * NB + b); };
  auto yrow = [&](int64_t t, int d, int64_t b) { return bf ? ((b * S + t) * dirs + d) : ((t * dirs + d) * NB + b); };
  auto srow = [&](int d, int64_t b) { return bf ? (b * dirs + d) : (static_cast<int64_t>(d) * NB + b); };

  if (Y) std::memset(Y, 0, static_cast<size_t>(S * dirs * NB * Hd) * sizeof(float));
  Scratch<float> xw(static_cast<size_t>(S * NB * GH)), hr(static_cast<size_t>(NB * GH));
  Scratch<float> h(static_cast<size_t>(NB * Hd)), c(static_cast<size_t>(NB * Hd)), tmp(static_cast<size_t>(NB * Hd));
  Scratch<float> gates(static_cast<size_t>(GH));
  const bool small = NB <= SMALL_BATCH;
  Scratch<float> rt(small ? static_cast<size_t>(Hd * GH) : 1); /* R^T of one direction: Hd x GH */

  for (int d = 0; d < dirs; ++d) {
    const bool rev = p->direction == 1 || d == 1;
    const float *Wd = W + d * GH * I, *Rd = R + d * GH * Hd;
    const float *Wb = B ? B + d * 2 * GH : nullptr, *Rb = B ? B + d * 2 * GH + GH : nullptr;
    const float *Pd = P ? P + d * 3 * Hd : nullptr;
    const dash_act_t &f = p->act[d][0], &g = p->act[d][1], &hact = p->act[d][2];
    /* input projection of every step; X rows are dense in either layout */
    gemm_abt(S * NB, GH, I, X, I, Wd, xw.get());
    if (small)
      for (int64_t n = 0; n < GH; ++n)
        for (int64_t k = 0; k < Hd; ++k) rt[k * GH + n] = Rd[n * Hd + k];
    for (int64_t b = 0; b < NB; ++b) {
      for (int64_t j = 0; j < Hd; ++j) {
        h[b * Hd + j] = initial_h ? initial_h[srow(d, b) * Hd + j] : 0.0f;
        c[b * Hd + j] = initial_c ? initial_c[srow(d, b) * Hd + j] : 0.0f;
      }
    }
    for (int64_t s = 0; s < S; ++s) {
      /* recurrent projection: all gates, or GRU's z and r only */
      const bool gru_late = cell == O2C_RNN_GRU && !p->linear_before_reset;
      const int64_t nr = gru_late ? 2 * Hd : GH;
      GemmEpilogue ep;
      ep.beta = 0.0f;
      if (small)
        rec_small(NB, nr, Hd, h.get(), rt.get(), GH, hr.get(), GH);
      else
        gemm_strided(NB, nr, Hd, h.get(), Hd, 1, Rd, 1, Hd, hr.get(), GH, ep, nullptr);
      if (gru_late) {
        /* tmp = r (.) h needs r first: compute r for every batch row */
        for (int64_t b = 0; b < NB; ++b) {
          const int64_t len = seq_lens ? seq_lens[b] : S;
          if (s >= len) continue;
          const int64_t t = rev ? len - 1 - s : s;
          float *r = gates.get();
          const float *xr = xw.get() + xrow(t, b) * GH + Hd;
          for (int64_t j = 0; j < Hd; ++j)
            r[j] = xr[j] + hr[b * GH + Hd + j] + (Wb ? Wb[Hd + j] + Rb[Hd + j] : 0.0f);
          act_row(r, Hd, f, clip, p->clip);
          for (int64_t j = 0; j < Hd; ++j) tmp[b * Hd + j] = r[j] * h[b * Hd + j];
        }
        if (small)
          rec_small(NB, Hd, Hd, tmp.get(), rt.get() + 2 * Hd, GH, hr.get() + 2 * Hd, GH);
        else
          gemm_strided(NB, Hd, Hd, tmp.get(), Hd, 1, Rd + 2 * Hd * Hd, 1, Hd, hr.get() + 2 * Hd, GH, ep, nullptr);
      }
      for (int64_t b = 0; b < NB; ++b) {
        const int64_t len = seq_lens ? seq_lens[b] : S;
        if (s >= len) continue;
        const int64_t t = rev ? len - 1 - s : s;
        float *gt = gates.get();
        const float *xg = xw.get() + xrow(t, b) * GH;
        const float *hg = hr.get() + b * GH;
        float *hb = h.get() + b * Hd, *cb = c.get() + b * Hd;
        if (cell == O2C_RNN_SIMPLE) {
          for (int64_t j = 0; j < Hd; ++j) gt[j] = xg[j] + hg[j] + (Wb ? Wb[j] + Rb[j] : 0.0f);
          act_row(gt, Hd, f, clip, p->clip);
          std::memcpy(hb, gt, static_cast<size_t>(Hd) * sizeof(float));
        } else if (cell == O2C_RNN_GRU) {
          float *z = gt, *r = gt + Hd, *hh = gt + 2 * Hd;
          for (int64_t j = 0; j < 2 * Hd; ++j) gt[j] = xg[j] + hg[j] + (Wb ? Wb[j] + Rb[j] : 0.0f);
          act_row(gt, 2 * Hd, f, clip, p->clip);
          if (p->linear_before_reset) {
            for (int64_t j = 0; j < Hd; ++j)
              hh[j] = xg[2 * Hd + j] + (Wb ? Wb[2 * Hd + j] : 0.0f) + r[j] * (hg[2 * Hd + j] + (Rb ? Rb[2 * Hd + j] : 0.0f));
          } else {
            for (int64_t j = 0; j < Hd; ++j)
              hh[j] = xg[2 * Hd + j] + hg[2 * Hd + j] + (Wb ? Wb[2 * Hd + j] + Rb[2 * Hd + j] : 0.0f);
          }
          act_row(hh, Hd, g, clip, p->clip);
          for (int64_t j = 0; j < Hd; ++j) hb[j] = (1.0f - z[j]) * hh[j] + z[j] * hb[j];
        } else {
          float *ig = gt, *og = gt + Hd, *fg = gt + 2 * Hd, *cg = gt + 3 * Hd;
          for (int64_t j = 0; j < GH; ++j) gt[j] = xg[j] + hg[j] + (Wb ? Wb[j] + Rb[j] : 0.0f);
          if (Pd)
            for (int64_t j = 0; j < Hd; ++j) {
              ig[j] += Pd[j] * cb[j];
              fg[j] += Pd[2 * Hd + j] * cb[j];
            }
          act_row(ig, Hd, f, clip, p->clip);
          act_row(fg, Hd, f, clip, p->clip);
          act_row(cg, Hd, g, clip, p->clip);
          for (int64_t j = 0; j < Hd; ++j) cb[j] = fg[j] * cb[j] + ig[j] * cg[j];
          if (Pd)
            for (int64_t j = 0; j < Hd; ++j) og[j] += Pd[Hd + j] * cb[j];
          act_row(og, Hd, f, clip, p->clip);
          std::memcpy(hb, cb, static_cast<size_t>(Hd) * sizeof(float));
          unary_array(hb, hb, Hd, hact.op, hact.alpha, hact.beta);
          for (int64_t j = 0; j < Hd; ++j) hb[j] *= og[j];
        }
        if (Y) std::memcpy(Y + yrow(t, d, b) * Hd, hb, static_cast<size_t>(Hd) * sizeof(float));
      }
    }
    for (int64_t b = 0; b < NB; ++b) {
      if (Y_h) std::memcpy(Y_h + srow(d, b) * Hd, h.get() + b * Hd, static_cast<size_t>(Hd) * sizeof(float));
      if (Y_c) std::memcpy(Y_c + srow(d, b) * Hd, c.get() + b * Hd, static_cast<size_t>(Hd) * sizeof(float));
    }
  }
}

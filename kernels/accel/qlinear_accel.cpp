/*
 * qlinear_accel.cpp - the integer layers of quantized models on the conv and gemm accelerators:
 *   DASH_QCONV_i8_conv, DASH_QCONV_i16_conv   (PE type "conv")
 *   DASH_QGEMM_i8_gemm, DASH_QGEMM_i16_gemm   (PE type "gemm")
 * and their estimators (<name>_estimate, dash_accel.h): the same cycle / byte model, computed from
 * the parameters alone.
 *
 * Design: an output-stationary array of Q_PM x Q_PN integer PEs (the float arrays' shape, 16 x 16):
 * a tile is Q_PM output channels x Q_PN consecutive outputs (QCONV: output pixels of one image and
 * group in raster order; QGEMM: rows of C, the channels being its columns). Each PE is a dot-product unit of V
 * lanes: per cycle it multiplies V consecutive k of its weight row and input column and adds them
 * to its accumulator. The requantization unit (one per PE column: int -> float/double multiply,
 * round half to even, + zero point, clamp) drains the tile.
 *
 * Why V grows as the operands narrow (the latency model's assumption, stated): the array has the
 * DSP budget of the float arrays, whose float32 multiply-add PE takes Q_DSP_PER_FLOAT_PE = 3
 * DSP48E2 slices (the 24 x 24-bit mantissa product needs two 27 x 18 multipliers, the aligned
 * add one more, as in a floating-point IP core with full DSP usage). A DSP48E2 has one 27 x 18
 * signed multiplier and a 48-bit accumulator:
 *   int16 x int16: one product per DSP and cycle                   -> V = 3 x 1 = 3
 *   int8 x int8:   two products sharing one operand packed into the
 *                  27 x 18 multiplier (w0 * 2^18 + w1) * x, split
 *                  from the 48-bit result                          -> V = 3 x 2 = 6
 * so per cycle the int8 array does 6x, the int16 array 3x, the float arrays' MACs. Accumulators are
 * the DSP's 48 bits extended to 64 in fabric (int16 sums exceed 48 bits only past 65536 full-range
 * taps); the host model's sums are exact too (see the emulation below).
 *
 * Numerics: bit-identical to the CPU kernels (kernels/src/cpu/qconv.cpp, qconv16.cpp), whose
 * accumulators are exact: acc = bias[n] + sum (x - x_zero) * w, then
 *   8-bit:  out = clamp(nearbyint(clamp(float(int32 acc) * m[n], +-2^30)) + out_zero)   (float)
 *   16-bit: out = clamp(nearbyint(clamp(double(acc) * m[n], +-2^40)) + out_zero)        (double)
 * clamped below at out_zero with relu; out_int32 writes acc (16-bit: saturated to int32).
 *
 * Cycle model (checked by tests/kernels/test_qaccel.py):
 *   QCONV: tiles * (ceil(Kg / V) + Q_PM + Q_PN) + Q_REQ,  Kg = Cin/groups * prod(kernel),
 *          tiles = batch * groups * ceil(Cout/groups / Q_PM) * ceil(prod(out_size) / Q_PN)
 *   QGEMM: ceil(M / Q_PN) * ceil(N / Q_PM) * (ceil(K / V) + Q_PM + Q_PN) + Q_REQ
 * Bytes (e = 1 or 2 bytes per element): the weights once (resident per channel tile), the input
 * once per channel tile (QCONV: the group's input planes; QGEMM: A), bias and multipliers (4 bytes
 * per output channel each, when present), every output once (e bytes, 4 with out_int32).
 */
#include "accel_common.h"

#include <type_traits>

using namespace o2c::accel;

namespace {

constexpr int64_t Q_PM = 16;              /* PE rows: output channels per tile                  */
constexpr int64_t Q_PN = 16;              /* PE columns: outputs (pixels / rows of C) per tile  */
constexpr int64_t Q_DSP_PER_FLOAT_PE = 3; /* DSP48E2 slices of one float32 MAC PE (the budget)  */
constexpr int64_t Q_REQ = 12;             /* requantization pipeline: convert, multiply, round, clamp, store */

/* MAC lanes per PE at an operand width: the float PE's DSPs, each doing 1 (16-bit) or 2 (8-bit) MACs */
constexpr int64_t lanes_for(int bits) { return Q_DSP_PER_FLOAT_PE * (bits <= 8 ? 2 : 1); }

struct Geo {
  int64_t in[3], out[3], k[3], s[3], d[3], pb[3];
  int64_t in_sp, out_sp, k_sp, G, Cg, N, Kg;
};

bool make_geo(const dash_conv_params_t *c, Geo &g) {
  if (c->spatial_rank < 1 || c->spatial_rank > 3 || c->batch < 0) return false;
  g.G = c->groups > 0 ? c->groups : 1;
  if (c->in_channels <= 0 || c->out_channels <= 0 || c->in_channels % g.G || c->out_channels % g.G) return false;
  g.in_sp = g.out_sp = g.k_sp = 1;
  for (int i = 0; i < 3; ++i) { /* the spatial dims last, leading dims of size 1 (x innermost) */
    const int j = i - (3 - c->spatial_rank);
    const bool used = j >= 0;
    g.in[i] = used ? c->in_size[j] : 1;
    g.out[i] = used ? c->out_size[j] : 1;
    g.k[i] = used ? c->kernel[j] : 1;
    g.s[i] = used ? c->stride[j] : 1;
    g.d[i] = used ? c->dilation[j] : 1;
    g.pb[i] = used ? c->pad_begin[j] : 0;
    if (g.in[i] < 1 || g.out[i] < 1 || g.k[i] < 1 || g.s[i] < 1 || g.d[i] < 1) return false;
    g.in_sp *= g.in[i], g.out_sp *= g.out[i], g.k_sp *= g.k[i];
  }
  g.Cg = c->in_channels / g.G, g.N = c->out_channels / g.G, g.Kg = g.Cg * g.k_sp;
  return true;
}

Account qconv_account(const dash_qconv_params_t *p, int bits, bool has_bias, bool has_mult) {
  Account a;
  Geo g;
  if (!make_geo(&p->conv, g) || p->conv.batch == 0) return a;
  const int64_t e = bits / 8, V = lanes_for(bits), ctiles = ceil_div(g.N, Q_PM);
  const int64_t tiles = p->conv.batch * g.G * ctiles * ceil_div(g.out_sp, Q_PN);
  a.cycles = static_cast<uint64_t>(tiles * (ceil_div(g.Kg, V) + Q_PM + Q_PN) + Q_REQ);
  const int64_t Cout = p->conv.out_channels;
  int64_t bytes = Cout * g.Kg * e;                               /* weights, once */
  bytes += p->conv.batch * g.G * ctiles * g.Cg * g.in_sp * e;    /* input per channel tile */
  bytes += (has_bias ? 4 : 0) * Cout + (has_mult && !p->out_int32 ? 4 : 0) * Cout;
  bytes += p->conv.batch * Cout * g.out_sp * (p->out_int32 ? 4 : e);
  a.bytes = static_cast<uint64_t>(bytes);
  return a;
}

Account qgemm_account(const dash_qgemm_params_t *p, int bits, bool has_bias, bool has_mult) {
  Account a;
  if (p->M <= 0 || p->N <= 0 || p->K < 0) return a;
  const int64_t e = bits / 8, V = lanes_for(bits), ctiles = ceil_div(p->N, Q_PM);
  a.cycles = static_cast<uint64_t>(ceil_div(p->M, Q_PN) * ctiles * (ceil_div(p->K, V) + Q_PM + Q_PN) + Q_REQ);
  int64_t bytes = p->N * p->K * e + ctiles * p->M * p->K * e;
  bytes += (has_bias ? 4 : 0) * p->N + (has_mult && !p->out_int32 ? 4 : 0) * p->N;
  bytes += p->M * p->N * (p->out_int32 ? 4 : e);
  a.bytes = static_cast<uint64_t>(bytes);
  return a;
}

/* the requantization unit: one output from its exact accumulator (bias included) */
template <int BITS>
struct Requant {
  int32_t zy, lo, hi;
  bool raw, uns;
  Requant(int32_t out_zero, int32_t out_unsigned, int32_t relu, int32_t out_int32)
      : zy(out_zero), raw(out_int32 != 0), uns(out_unsigned != 0) {
    const int32_t full = BITS == 8 ? 255 : 65535, half = BITS == 8 ? 128 : 32768;
    lo = uns ? 0 : -half;
    hi = uns ? full : half - 1;
    if (relu) lo = lo > zy ? lo : zy;
  }
  int64_t value(int64_t acc, float m) const {
    int64_t v;
    if (BITS == 8) {
      constexpr float big = 1073741824.0f;
      float f = static_cast<float>(static_cast<int32_t>(acc)) * m;
      f = f < -big ? -big : (f > big ? big : f);
      v = static_cast<int64_t>(static_cast<int32_t>(std::nearbyint(f))) + zy;
    } else {
      constexpr double big = 1099511627776.0;
      double f = static_cast<double>(acc) * static_cast<double>(m);
      f = f < -big ? -big : (f > big ? big : f);
      v = static_cast<int64_t>(std::nearbyint(f)) + zy;
    }
    return v < lo ? lo : (v > hi ? hi : v);
  }
  /* out[i] from acc */
  void store(void *out, int64_t i, int64_t acc, const float *mult, int64_t n) const {
    if (raw) {
      const int64_t c = acc < INT32_MIN ? INT32_MIN : (acc > INT32_MAX ? INT32_MAX : acc);
      static_cast<int32_t *>(out)[i] = static_cast<int32_t>(c);
      return;
    }
    const int64_t v = value(acc, mult[n]);
    if (BITS == 8) {
      static_cast<int8_t *>(out)[i] = static_cast<int8_t>(static_cast<uint8_t>(v));
    } else {
      static_cast<int16_t *>(out)[i] = static_cast<int16_t>(static_cast<uint16_t>(v));
    }
  }
};

template <class T>
inline int32_t act_in(const T *x, int64_t i, bool uns) {
  using U = typename std::make_unsigned<T>::type;
  return uns ? static_cast<int32_t>(reinterpret_cast<const U *>(x)[i]) : static_cast<int32_t>(x[i]);
}

/* Host emulation (both APIs): the exact sums are accumulated in double (every product is an
 * integer below 2^31 in magnitude, so a sum of up to Q_KB of them is exact in a 53-bit significand,
 * in any order, fused or not), moved to int64 every Q_KB taps; the compiler vectorizes the
 * unit-stride loops. QCONV: per image and group, the input planes are copied once as (x - x_zero)
 * doubles with the padding (zero) around them, then per channel tile and output row tap by tap. QGEMM: per row of A, over K, the whole row of C (weights copied k-major once per call). */
constexpr int64_t Q_KB = int64_t(1) << 21;

template <class T, int BITS>
void qconv_run(const T *in, const T *w, const int32_t *bias, const float *mult, void *out,
               const dash_qconv_params_t *p) {
  Geo g;
  if (!make_geo(&p->conv, g)) return;
  const Requant<BITS> rq(p->out_zero, p->out_unsigned, p->relu, p->out_int32);
  const bool uns = p->in_unsigned != 0;
  const int32_t zx = p->in_zero;
  int64_t E[3];
  for (int i = 0; i < 3; ++i) {
    const int64_t need = (g.out[i] - 1) * g.s[i] + (g.k[i] - 1) * g.d[i] + 1;
    E[i] = imax(need, g.pb[i] + g.in[i]);
  }
  const int64_t plane = E[0] * E[1] * E[2];
  OnChip<double> xp(static_cast<size_t>(g.Cg * plane));
  const int64_t W2 = g.out[2];
  OnChip<double> wb(static_cast<size_t>(g.Kg * Q_PM));
  OnChip<double> racc(static_cast<size_t>(Q_PM * W2));
  OnChip<int64_t> racc64(static_cast<size_t>(Q_PM * W2));
  for (int64_t b = 0; b < p->conv.batch; ++b)
    for (int64_t gi = 0; gi < g.G; ++gi) {
      const T *xg = in + (b * p->conv.in_channels + gi * g.Cg) * g.in_sp;
      std::memset(xp.get(), 0, static_cast<size_t>(g.Cg * plane) * sizeof(double));
      for (int64_t c = 0; c < g.Cg; ++c)
        for (int64_t i0 = 0; i0 < g.in[0]; ++i0)
          for (int64_t i1 = 0; i1 < g.in[1]; ++i1) {
            double *dst = xp.get() + c * plane + ((i0 + g.pb[0]) * E[1] + i1 + g.pb[1]) * E[2] + g.pb[2];
            const int64_t src = c * g.in_sp + (i0 * g.in[1] + i1) * g.in[2];
            for (int64_t i2 = 0; i2 < g.in[2]; ++i2) dst[i2] = static_cast<double>(act_in(xg, src + i2, uns) - zx);
          }
      /* per channel tile (the PE rows) and output row: the tile's accumulators for that row stay
       * on chip (in L1 here) while every tap streams by; the row of input a tap reads is reused by
       * the tile's channels */
      for (int64_t n0 = 0; n0 < g.N; n0 += Q_PM) {
        const int64_t mt = imin(Q_PM, g.N - n0);
        for (int64_t kk = 0; kk < g.Kg; ++kk)
          for (int64_t m = 0; m < Q_PM; ++m)
            wb[static_cast<size_t>(kk * Q_PM + m)] =
                m < mt ? static_cast<double>(w[(gi * g.N + n0 + m) * g.Kg + kk]) : 0.0;
        for (int64_t o0 = 0; o0 < g.out[0]; ++o0)
          for (int64_t o1 = 0; o1 < g.out[1]; ++o1) {
            double *ra = racc.get();
            for (int64_t i = 0; i < mt * W2; ++i) ra[i] = 0.0, racc64[static_cast<size_t>(i)] = 0;
            int64_t kk = 0;
            for (int64_t c = 0; c < g.Cg; ++c)
              for (int64_t k0 = 0; k0 < g.k[0]; ++k0)
                for (int64_t k1 = 0; k1 < g.k[1]; ++k1) {
                  const double *row = xp.get() + c * plane + ((o0 * g.s[0] + k0 * g.d[0]) * E[1] + o1 * g.s[1] +
                                                              k1 * g.d[1]) * E[2];
                  for (int64_t k2 = 0; k2 < g.k[2]; ++k2, ++kk) {
                    if (kk > 0 && kk % Q_KB == 0) /* keep the double sums exact */
                      for (int64_t i = 0; i < mt * W2; ++i) racc64[static_cast<size_t>(i)] += static_cast<int64_t>(ra[i]), ra[i] = 0.0;
                    const double *__restrict src = row + k2 * g.d[2];
                    const double *wk = wb.get() + kk * Q_PM;
                    for (int64_t m = 0; m < mt; ++m) {
                      const double wv = wk[m];
                      if (wv == 0.0) continue;
                      double *__restrict dst = ra + m * W2;
                      if (g.s[2] == 1) {
                        for (int64_t o2 = 0; o2 < W2; ++o2) dst[o2] += wv * src[o2];
                      } else {
                        for (int64_t o2 = 0; o2 < W2; ++o2) dst[o2] += wv * src[o2 * g.s[2]];
                      }
                    }
                  }
                }
            for (int64_t m = 0; m < mt; ++m) {
              const int64_t co = gi * g.N + n0 + m;
              const int64_t b0 = bias ? bias[co] : 0;
              const int64_t obase = (b * p->conv.out_channels + co) * g.out_sp + (o0 * g.out[1] + o1) * W2;
              for (int64_t o2 = 0; o2 < W2; ++o2) {
                O2C_HLS(HLS PIPELINE II = 1)
                const size_t i = static_cast<size_t>(m * W2 + o2);
                rq.store(out, obase + o2, racc64[i] + static_cast<int64_t>(ra[i]) + b0, mult, co);
              }
            }
          }
      }
    }
}

template <class T, int BITS>
void qgemm_run(const T *in, const T *w, const int32_t *bias, const float *mult, void *out,
               const dash_qgemm_params_t *p) {
  const Requant<BITS> rq(p->out_zero, p->out_unsigned, p->relu, p->out_int32);
  const bool uns = p->in_unsigned != 0;
  const int64_t M = p->M, N = p->N, K = p->K;
  const int64_t wn = p->trans_b ? K : 1, wk = p->trans_b ? 1 : N; /* weight(n, k) = w[n * wn + k * wk] */
  OnChip<double> wt(static_cast<size_t>(K * N > 0 ? K * N : 1)); /* k-major: wt[k * N + n] */
  for (int64_t k = 0; k < K; ++k)
    for (int64_t n = 0; n < N; ++n) wt[static_cast<size_t>(k * N + n)] = static_cast<double>(w[n * wn + k * wk]);
  OnChip<double> acc(static_cast<size_t>(N));
  OnChip<int64_t> acc64(static_cast<size_t>(N));
  for (int64_t m = 0; m < M; ++m) {
    double *a = acc.get();
    for (int64_t n = 0; n < N; ++n) a[n] = 0.0, acc64[static_cast<size_t>(n)] = bias ? bias[n] : 0;
    for (int64_t k = 0; k < K; ++k) {
      if (k > 0 && k % Q_KB == 0)
        for (int64_t n = 0; n < N; ++n) acc64[static_cast<size_t>(n)] += static_cast<int64_t>(a[n]), a[n] = 0.0;
      const double xv = static_cast<double>(act_in(in, m * K + k, uns) - p->in_zero);
      if (xv == 0.0) continue;
      const double *__restrict wr = wt.get() + k * N;
      double *__restrict ar = a;
      for (int64_t n = 0; n < N; ++n) ar[n] += xv * wr[n];
    }
    for (int64_t n = 0; n < N; ++n)
      rq.store(out, m * N + n, acc64[static_cast<size_t>(n)] + static_cast<int64_t>(a[n]), mult, n);
  }
}

}  // namespace

#define O2C_QCONV_ACCEL(PREC, T, BITS)                                                                          \
  extern "C" void DASH_QCONV_##PREC##_conv(const T **in, const T **weight, const int32_t **bias,                \
                                          const float **multiplier, T **out, const dash_qconv_params_t **p, \
                                          uint8_t /*instance*/) {                                               \
    const Account a = qconv_account(*p, BITS, *bias != nullptr, *multiplier != nullptr);                        \
    if (a.cycles) qconv_run<T, BITS>(*in, *weight, *bias, *multiplier, *out, *p);                                \
    a.report();                                                                                                  \
  }                                                                                                              \
  extern "C" void DASH_QCONV_##PREC##_conv_estimate(const T ** /*in*/, const T ** /*weight*/, const int32_t **bias, \
                                                   const float **multiplier, T ** /*out*/,                      \
                                                   const dash_qconv_params_t **p, uint8_t /*instance*/,         \
                                                   uint64_t *cycles, uint64_t *bytes_moved) {                   \
    qconv_account(*p, BITS, *bias != nullptr, *multiplier != nullptr).put(cycles, bytes_moved);                 \
  }

#define O2C_QGEMM_ACCEL(PREC, T, BITS)                                                                          \
  extern "C" void DASH_QGEMM_##PREC##_gemm(const T **in, const T **weight, const int32_t **bias,                \
                                          const float **multiplier, T **out, const dash_qgemm_params_t **p, \
                                          uint8_t /*instance*/) {                                               \
    const Account a = qgemm_account(*p, BITS, *bias != nullptr, *multiplier != nullptr);                        \
    if (a.cycles) qgemm_run<T, BITS>(*in, *weight, *bias, *multiplier, *out, *p);                                \
    a.report();                                                                                                  \
  }                                                                                                              \
  extern "C" void DASH_QGEMM_##PREC##_gemm_estimate(const T ** /*in*/, const T ** /*weight*/, const int32_t **bias, \
                                                   const float **multiplier, T ** /*out*/,                      \
                                                   const dash_qgemm_params_t **p, uint8_t /*instance*/,         \
                                                   uint64_t *cycles, uint64_t *bytes_moved) {                   \
    qgemm_account(*p, BITS, *bias != nullptr, *multiplier != nullptr).put(cycles, bytes_moved);                 \
  }

O2C_QCONV_ACCEL(i8, int8_t, 8)
O2C_QCONV_ACCEL(i16, int16_t, 16)
O2C_QGEMM_ACCEL(i8, int8_t, 8)
O2C_QGEMM_ACCEL(i16, int16_t, 16)

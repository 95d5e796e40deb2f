/*
 * zip_accel.cpp - the element-wise accelerator (PE type "zip"):
 *   DASH_ZIP_flt_zip, DASH_ZIP_int_zip   complex ADD / SUB / MULT / DIV / CMP_MULT (public API)
 *   DASH_UNARY_flt_zip                   dense unary op / activation (onnx2cedr's UNARY API)
 *   DASH_BINARY_flt_zip                  element-wise binary op with strided broadcasting + activation
 *
 * Design: ZIP_LANES parallel lanes fed by a streaming DMA in chunks of ZIP_CHUNK elements through
 * on-chip FIFOs: load a chunk of each operand, compute, store. A chunk is fully loaded before its
 * results are stored, so out may alias a or b (in place). The float complex datapath performs
 * exactly the CPU kernel's operations (kernels/src/public/zip.cpp as g++ -O3 compiles it: the first
 * product of MULT's and CMP_MULT's a*b -+ c*d and of DIV's Smith formula terms fused, see below);
 * ADD, SUB, CMP_MULT, DIV, all int ops, UNARY and BINARY are bit-identical to the CPU kernels.
 *
 * Cycle model (checked by tests/kernels/test_accel.py): ceil(n / ZIP_LANES) + depth(op), with
 * depth ADD/SUB 4, MULT/CMP_MULT 8, DIV 36 (reciprocal + multiplies), int ops 4 (DIV 40),
 * UNARY / BINARY 4 + the activation unit's depth. Bytes: every operand element loaded once (a
 * broadcast operand of BINARY is loaded once per distinct element), every result stored once.
 */
#include "accel_common.h"

using namespace o2c::accel;

namespace {

constexpr int64_t ZIP_LANES = 8;     /* complex (or real) elements per cycle             */
constexpr int64_t ZIP_CHUNK = 1024;  /* on-chip FIFO depth per operand (elements)       */

int64_t zip_depth(int op, bool is_int) {
  switch (op) {
    case ZIP_ADD:
    case ZIP_SUB: return 4;
    case ZIP_MULT:
    case ZIP_CMP_MULT: return is_int ? 4 : 8;
    case ZIP_DIV: return is_int ? 40 : 36;
    default: return 0;
  }
}

typedef dash_cmplx_flt_type cf;
typedef dash_cmplx_int_type ci;

/* one lane of the float complex datapath */
inline cf zip_lane(const cf &x, const cf &y, int op) {
  const float ar = x.re, ai = x.im, br = y.re, bi = y.im;
  switch (op) {
    case ZIP_ADD: return cf{ar + br, ai + bi};
    case ZIP_SUB: return cf{ar - br, ai - bi};
    case ZIP_MULT: return cf{fmac(ar, br, -(ai * bi)), fmac(ar, bi, ai * br)};
    case ZIP_CMP_MULT: return cf{fmac(ar, br, ai * bi), fmac(ai, br, -(ar * bi))};
    case ZIP_DIV: {
      /* Smith's algorithm */
      float r, m;
      if (std::fabs(br) >= std::fabs(bi)) {
        if (br == 0.0f && bi == 0.0f) {
          r = ar / std::fabs(br);
          m = ai / std::fabs(bi);
        } else {
          const float rat = bi / br, scl = 1.0f / fmac(bi, rat, br);
          r = fmac(ai, rat, ar) * scl;
          m = fmac(-ar, rat, ai) * scl;
        }
      } else {
        const float rat = br / bi, scl = 1.0f / fmac(br, rat, bi);
        r = fmac(ar, rat, ai) * scl;
        m = fmac(ai, rat, -ar) * scl;
      }
      return cf{r, m};
    }
    default: return x;
  }
}

inline ci zip_lane(const ci &x, const ci &y, int op) {
  const int64_t ar = x.re, ai = x.im, br = y.re, bi = y.im;
  int64_t r = 0, m = 0;
  switch (op) {
    case ZIP_ADD: r = ar + br; m = ai + bi; break;
    case ZIP_SUB: r = ar - br; m = ai - bi; break;
    case ZIP_MULT: r = ar * br - ai * bi; m = ar * bi + ai * br; break;
    case ZIP_CMP_MULT: r = ar * br + ai * bi; m = ai * br - ar * bi; break;
    case ZIP_DIV: {
      const int64_t den = br * br + bi * bi;
      ci o;
      if (den == 0) {
        o.re = 0;
        o.im = 0;
      } else {
        const double d = static_cast<double>(den);
        o.re = sat16(static_cast<double>(ar * br + ai * bi) / d);
        o.im = sat16(static_cast<double>(ai * br - ar * bi) / d);
      }
      return o;
    }
    default: return x;
  }
  ci o;
  o.re = sat16i(r);
  o.im = sat16i(m);
  return o;
}

template <typename T>
void zip_stream(const T *a, const T *b, T *out, int64_t n, int op, bool is_int) {
  Account acc;
  if (n <= 0 || op < ZIP_ADD || op > ZIP_CMP_MULT) {
    acc.report();
    return;
  }
  T fa[ZIP_CHUNK], fb[ZIP_CHUNK], fo[ZIP_CHUNK];
  O2C_HLS(HLS ARRAY_PARTITION variable = fa cyclic factor = 8)
  O2C_HLS(HLS ARRAY_PARTITION variable = fb cyclic factor = 8)
  O2C_HLS(HLS ARRAY_PARTITION variable = fo cyclic factor = 8)
  for (int64_t c0 = 0; c0 < n; c0 += ZIP_CHUNK) {
    const int64_t len = imin(ZIP_CHUNK, n - c0);
    for (int64_t i = 0; i < ZIP_CHUNK; ++i) { /* load */
      O2C_HLS(HLS PIPELINE II = 1)
      if (i < len) {
        fa[i] = a[c0 + i];
        fb[i] = b[c0 + i];
      }
    }
    for (int64_t i = 0; i < ZIP_CHUNK; ++i) { /* compute: ZIP_LANES per cycle */
      O2C_HLS(HLS PIPELINE II = 1)
      O2C_HLS(HLS UNROLL factor = 8)
      if (i < len) fo[i] = zip_lane(fa[i], fb[i], op);
    }
    for (int64_t i = 0; i < ZIP_CHUNK; ++i) { /* store */
      O2C_HLS(HLS PIPELINE II = 1)
      if (i < len) out[c0 + i] = fo[i];
    }
  }
  acc.cycles = static_cast<uint64_t>(ceil_div(n, ZIP_LANES) + zip_depth(op, is_int));
  acc.bytes = static_cast<uint64_t>(3 * n * static_cast<int64_t>(sizeof(T)));
  acc.report();
}

/* ---- BINARY: the CPU's operation set (kernels/src/cpu/eltwise.cpp), one lane ---- */
inline float binary_lane(float a, float b, int32_t op) {
  switch (op) {
    case DASH_BIN_ADD: return a + b;
    case DASH_BIN_SUB: return a - b;
    case DASH_BIN_MUL: return a * b;
    case DASH_BIN_DIV: return a / b;
    case DASH_BIN_MAX: return (a != a) ? a : (a > b ? a : b);
    case DASH_BIN_MIN: return (a != a) ? a : (a < b ? a : b);
    case DASH_BIN_POW:
      if (b == 2.0f) return a * a;
      if (b == 1.0f) return a;
      return std::pow(a, b);
    case DASH_BIN_PRELU: return a >= 0.0f ? a : a * b;
    default: return a;
  }
}

} /* namespace */

extern "C" void DASH_ZIP_flt_zip(dash_cmplx_flt_type **a, dash_cmplx_flt_type **b, dash_cmplx_flt_type **out,
                                 size_t *n, zip_op_t *op, uint8_t /*instance*/) {
  zip_stream(*a, *b, *out, static_cast<int64_t>(*n), static_cast<int>(*op), false);
}

extern "C" void DASH_ZIP_int_zip(dash_cmplx_int_type **a, dash_cmplx_int_type **b, dash_cmplx_int_type **out,
                                 size_t *n, zip_op_t *op, uint8_t /*instance*/) {
  zip_stream(*a, *b, *out, static_cast<int64_t>(*n), static_cast<int>(*op), true);
}

extern "C" void DASH_UNARY_flt_zip(const float **in_, float **out_, const dash_unary_params_t **p_,
                                   uint8_t /*instance*/) {
  const dash_unary_params_t *p = *p_;
  const float *in = *in_;
  float *out = *out_;
  Account acc;
  const int64_t n = p->n;
  if (n <= 0) {
    acc.report();
    return;
  }
  float fi[ZIP_CHUNK];
  O2C_HLS(HLS ARRAY_PARTITION variable = fi cyclic factor = 8)
  for (int64_t c0 = 0; c0 < n; c0 += ZIP_CHUNK) {
    const int64_t len = imin(ZIP_CHUNK, n - c0);
    for (int64_t i = 0; i < ZIP_CHUNK; ++i) {
      O2C_HLS(HLS PIPELINE II = 1)
      if (i < len) fi[i] = in[c0 + i];
    }
    for (int64_t i = 0; i < ZIP_CHUNK; ++i) {
      O2C_HLS(HLS PIPELINE II = 1)
      O2C_HLS(HLS UNROLL factor = 8)
      if (i < len) fi[i] = unary_unit(fi[i], p->op.op, p->op.alpha, p->op.beta);
    }
    for (int64_t i = 0; i < ZIP_CHUNK; ++i) {
      O2C_HLS(HLS PIPELINE II = 1)
      if (i < len) out[c0 + i] = fi[i];
    }
  }
  acc.cycles = static_cast<uint64_t>(ceil_div(n, ZIP_LANES) + 4 + act_depth(p->op.op));
  acc.bytes = static_cast<uint64_t>(2 * n * 4);
  acc.report();
}

extern "C" void DASH_BINARY_flt_zip(const float **a_, const float **b_, float **out_, const dash_binary_params_t **p_,
                                    uint8_t /*instance*/) {
  const dash_binary_params_t *p = *p_;
  const float *a = *a_, *b = *b_;
  float *out = *out_;
  Account acc;
  const int rank = p->rank;
  if (rank < 0 || rank > DASH_MAX_RANK || p->op < DASH_BIN_ADD || p->op > DASH_BIN_PRELU) {
    acc.report();
    return;
  }
  int64_t n = 1, na = 1, nb = 1; /* outputs; distinct elements of a and b read */
  for (int d = 0; d < rank; ++d) {
    if (p->out_shape[d] <= 0) n = 0;
    n *= p->out_shape[d];
    if (p->a_stride[d] != 0) na *= p->out_shape[d];
    if (p->b_stride[d] != 0) nb *= p->out_shape[d];
  }
  if (n <= 0) {
    acc.report();
    return;
  }
  /* address generator: an odometer over the output index, the operands' offsets follow their strides */
  int64_t idx[DASH_MAX_RANK] = {0};
  int64_t oa = 0, ob = 0;
  float fo[ZIP_CHUNK];
  for (int64_t c0 = 0; c0 < n; c0 += ZIP_CHUNK) {
    const int64_t len = imin(ZIP_CHUNK, n - c0);
    for (int64_t i = 0; i < ZIP_CHUNK; ++i) {
      O2C_HLS(HLS PIPELINE II = 1)
      if (i < len) {
        fo[i] = act_unit(binary_lane(a[oa], b[ob], p->op), p->act);
        for (int d = rank - 1; d >= 0; --d) {
          oa += p->a_stride[d];
          ob += p->b_stride[d];
          if (++idx[d] < p->out_shape[d]) break;
          oa -= p->a_stride[d] * p->out_shape[d];
          ob -= p->b_stride[d] * p->out_shape[d];
          idx[d] = 0;
        }
      }
    }
    for (int64_t i = 0; i < ZIP_CHUNK; ++i) {
      O2C_HLS(HLS PIPELINE II = 1)
      if (i < len) out[c0 + i] = fo[i];
    }
  }
  acc.cycles = static_cast<uint64_t>(ceil_div(n, ZIP_LANES) + 4 + act_depth(p->act.op));
  acc.bytes = static_cast<uint64_t>((n + na + nb) * 4);
  acc.report();
}

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
 * Host emulation: the operands' chunks sit in on-chip banks (complex values split into real and
 * imaginary banks), the op is decoded once per chunk, and each op's datapath is a loop over fixed
 * blocks of lanes (vector lanes for g++); DIV evaluates Smith's two cases and the zero divisor
 * case per lane and selects, which gives each lane exactly the operations of its case. BINARY's
 * address generator drops size-1 dims and merges dims whose strides nest, as the CPU kernel does,
 * and streams rows of the innermost dim (unit / broadcast / other stride).
 * The estimators DASH_<API>_<prec>_zip_estimate (dash_accel.h) compute the same cycle / byte model
 * as the implementations, from the parameters alone.
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

/* one lane of the int16 complex datapath */
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

constexpr int64_t ZIP_BLOCK = 64;    /* emulation: lanes evaluated together */

/* ---- the cycle / byte model, shared by the implementations and the estimators ---- */
Account zip_account(int64_t n, int op, bool is_int, int64_t elem) {
  Account a;
  if (n <= 0 || op < ZIP_ADD || op > ZIP_CMP_MULT) return a;
  a.cycles = static_cast<uint64_t>(ceil_div(n, ZIP_LANES) + zip_depth(op, is_int));
  a.bytes = static_cast<uint64_t>(3 * n * elem);
  return a;
}

Account unary_account(const dash_unary_params_t *p) {
  Account a;
  if (p->n <= 0) return a;
  a.cycles = static_cast<uint64_t>(ceil_div(p->n, ZIP_LANES) + 4 + act_depth(p->op.op));
  a.bytes = static_cast<uint64_t>(2 * p->n * 4);
  return a;
}

Account binary_account(const dash_binary_params_t *p) {
  Account a;
  const int rank = p->rank;
  if (rank < 0 || rank > DASH_MAX_RANK || p->op < DASH_BIN_ADD || p->op > DASH_BIN_PRELU) return a;
  int64_t n = 1, na = 1, nb = 1; /* outputs; distinct elements of a and b read */
  for (int d = 0; d < rank; ++d) {
    if (p->out_shape[d] <= 0) return a;
    n *= p->out_shape[d];
    if (p->a_stride[d] != 0) na *= p->out_shape[d];
    if (p->b_stride[d] != 0) nb *= p->out_shape[d];
  }
  a.cycles = static_cast<uint64_t>(ceil_div(n, ZIP_LANES) + 4 + act_depth(p->act.op));
  a.bytes = static_cast<uint64_t>((n + na + nb) * 4);
  return a;
}

/* ---- float complex datapath over SoA banks, one op, ZIP_BLOCK lanes at a time ---- */
template <int OP>
inline void zip_flt_block(const float *ar_, const float *ai_, const float *br_, const float *bi_, float *orr,
                          float *oi) {
  for (int64_t l = 0; l < ZIP_BLOCK; ++l) {
    const float ar = ar_[l], ai = ai_[l], br = br_[l], bi = bi_[l];
    float r, m;
    if (OP == ZIP_ADD) {
      r = ar + br;
      m = ai + bi;
    } else if (OP == ZIP_SUB) {
      r = ar - br;
      m = ai - bi;
    } else if (OP == ZIP_MULT) {
      r = fmac(ar, br, -(ai * bi));
      m = fmac(ar, bi, ai * br);
    } else if (OP == ZIP_CMP_MULT) {
      r = fmac(ar, br, ai * bi);
      m = fmac(ai, br, -(ar * bi));
    } else {
      /* DIV, Smith's algorithm: both cases through one datapath (p the larger divisor part) */
      const bool big = std::fabs(br) >= std::fabs(bi);
      const float p = big ? br : bi, q = big ? bi : br;
      const float rat = q / p, scl = 1.0f / fmac(q, rat, p);
      const float rb = fmac(ai, rat, ar) * scl, mb = fmac(-ar, rat, ai) * scl;  /* |br| >= |bi| */
      const float rs = fmac(ar, rat, ai) * scl, ms = fmac(ai, rat, -ar) * scl;  /* |br| <  |bi| */
      const float r0 = ar / std::fabs(br), m0 = ai / std::fabs(bi);               /* zero divisor */
      const bool zero = br == 0.0f && bi == 0.0f;
      r = zero ? r0 : (big ? rb : rs);
      m = zero ? m0 : (big ? mb : ms);
    }
    orr[l] = r;
    oi[l] = m;
  }
}

template <int OP>
void zip_flt_chunk(const float *ar, const float *ai, const float *br, const float *bi, float *orr, float *oi,
                   int64_t len) {
  for (int64_t b = 0; b < len; b += ZIP_BLOCK) {
    O2C_HLS(HLS PIPELINE II = 1)
    zip_flt_block<OP>(ar + b, ai + b, br + b, bi + b, orr + b, oi + b);
  }
}

void zip_flt(const cf *a, const cf *b, cf *out, int64_t n, int op) {
  float far[ZIP_CHUNK], fai[ZIP_CHUNK], fbr[ZIP_CHUNK], fbi[ZIP_CHUNK], forr[ZIP_CHUNK], foi[ZIP_CHUNK];
  O2C_HLS(HLS ARRAY_PARTITION variable = far cyclic factor = 8)
  O2C_HLS(HLS ARRAY_PARTITION variable = fai cyclic factor = 8)
  O2C_HLS(HLS ARRAY_PARTITION variable = fbr cyclic factor = 8)
  O2C_HLS(HLS ARRAY_PARTITION variable = fbi cyclic factor = 8)
  for (int64_t c0 = 0; c0 < n; c0 += ZIP_CHUNK) {
    const int64_t len = imin(ZIP_CHUNK, n - c0);
    const int64_t padded = ceil_div(len, ZIP_BLOCK) * ZIP_BLOCK;
    for (int64_t i = 0; i < len; ++i) { /* load, splitting into banks */
      O2C_HLS(HLS PIPELINE II = 1)
      far[i] = a[c0 + i].re;
      fai[i] = a[c0 + i].im;
      fbr[i] = b[c0 + i].re;
      fbi[i] = b[c0 + i].im;
    }
    for (int64_t i = len; i < padded; ++i) far[i] = fai[i] = fbr[i] = fbi[i] = 1.0f; /* idle lanes */
    switch (op) { /* compute: ZIP_LANES per cycle */
      case ZIP_ADD: zip_flt_chunk<ZIP_ADD>(far, fai, fbr, fbi, forr, foi, len); break;
      case ZIP_SUB: zip_flt_chunk<ZIP_SUB>(far, fai, fbr, fbi, forr, foi, len); break;
      case ZIP_MULT: zip_flt_chunk<ZIP_MULT>(far, fai, fbr, fbi, forr, foi, len); break;
      case ZIP_CMP_MULT: zip_flt_chunk<ZIP_CMP_MULT>(far, fai, fbr, fbi, forr, foi, len); break;
      default: zip_flt_chunk<ZIP_DIV>(far, fai, fbr, fbi, forr, foi, len); break;
    }
    for (int64_t i = 0; i < len; ++i) { /* store */
      O2C_HLS(HLS PIPELINE II = 1)
      out[c0 + i] = cf{forr[i], foi[i]};
    }
  }
}

/* ---- int16 complex datapath, one op per chunk ---- */
template <int OP>
void zip_int_chunk(const ci *fa, const ci *fb, ci *fo, int64_t len) {
  for (int64_t i = 0; i < len; ++i) {
    O2C_HLS(HLS PIPELINE II = 1)
    fo[i] = zip_lane(fa[i], fb[i], OP);
  }
}

void zip_int(const ci *a, const ci *b, ci *out, int64_t n, int op) {
  ci fa[ZIP_CHUNK], fb[ZIP_CHUNK], fo[ZIP_CHUNK];
  for (int64_t c0 = 0; c0 < n; c0 += ZIP_CHUNK) {
    const int64_t len = imin(ZIP_CHUNK, n - c0);
    std::memcpy(fa, a + c0, static_cast<size_t>(len) * sizeof(ci));
    std::memcpy(fb, b + c0, static_cast<size_t>(len) * sizeof(ci));
    switch (op) {
      case ZIP_ADD: zip_int_chunk<ZIP_ADD>(fa, fb, fo, len); break;
      case ZIP_SUB: zip_int_chunk<ZIP_SUB>(fa, fb, fo, len); break;
      case ZIP_MULT: zip_int_chunk<ZIP_MULT>(fa, fb, fo, len); break;
      case ZIP_CMP_MULT: zip_int_chunk<ZIP_CMP_MULT>(fa, fb, fo, len); break;
      default: zip_int_chunk<ZIP_DIV>(fa, fb, fo, len); break;
    }
    std::memcpy(out + c0, fo, static_cast<size_t>(len) * sizeof(ci));
  }
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

template <int32_t OP>
void binary_chunk(const float *fa, const float *fb, float *fo, int64_t len) {
  for (int64_t b = 0; b < len; b += ZIP_BLOCK) {
    O2C_HLS(HLS PIPELINE II = 1)
    for (int64_t l = 0; l < ZIP_BLOCK; ++l) fo[b + l] = binary_lane(fa[b + l], fb[b + l], OP);
  }
}

/* operand FIFO fill: len values from src with element stride st (0: broadcast) */
inline void fifo_load(float *dst, const float *src, int64_t st, int64_t len) {
  if (st == 1) {
    std::memcpy(dst, src, static_cast<size_t>(len) * sizeof(float));
  } else if (st == 0) {
    const float v = src[0];
    lanes<16>(len, [&](int64_t i) { dst[i] = v; });
  } else {
    for (int64_t i = 0; i < len; ++i) dst[i] = src[i * st];
  }
}

} /* namespace */

extern "C" void DASH_ZIP_flt_zip(dash_cmplx_flt_type **a, dash_cmplx_flt_type **b, dash_cmplx_flt_type **out,
                                 size_t *n, zip_op_t *op, uint8_t /*instance*/) {
  const int64_t nn = static_cast<int64_t>(*n);
  const Account acc = zip_account(nn, static_cast<int>(*op), false, sizeof(cf));
  if (acc.cycles > 0) zip_flt(*a, *b, *out, nn, static_cast<int>(*op));
  acc.report();
}

extern "C" void DASH_ZIP_int_zip(dash_cmplx_int_type **a, dash_cmplx_int_type **b, dash_cmplx_int_type **out,
                                 size_t *n, zip_op_t *op, uint8_t /*instance*/) {
  const int64_t nn = static_cast<int64_t>(*n);
  const Account acc = zip_account(nn, static_cast<int>(*op), true, sizeof(ci));
  if (acc.cycles > 0) zip_int(*a, *b, *out, nn, static_cast<int>(*op));
  acc.report();
}

extern "C" void DASH_ZIP_flt_zip_estimate(dash_cmplx_flt_type ** /*a*/, dash_cmplx_flt_type ** /*b*/,
                                          dash_cmplx_flt_type ** /*out*/, size_t *n, zip_op_t *op,
                                          uint8_t /*instance*/, uint64_t *cycles, uint64_t *bytes_moved) {
  zip_account(static_cast<int64_t>(*n), static_cast<int>(*op), false, sizeof(cf)).put(cycles, bytes_moved);
}

extern "C" void DASH_ZIP_int_zip_estimate(dash_cmplx_int_type ** /*a*/, dash_cmplx_int_type ** /*b*/,
                                          dash_cmplx_int_type ** /*out*/, size_t *n, zip_op_t *op,
                                          uint8_t /*instance*/, uint64_t *cycles, uint64_t *bytes_moved) {
  zip_account(static_cast<int64_t>(*n), static_cast<int>(*op), true, sizeof(ci)).put(cycles, bytes_moved);
}

extern "C" void DASH_UNARY_flt_zip(const float **in_, float **out_, const dash_unary_params_t **p_,
                                   uint8_t /*instance*/) {
  const dash_unary_params_t *p = *p_;
  const float *in = *in_;
  float *out = *out_;
  const int64_t n = p->n;
  float fi[ZIP_CHUNK];
  O2C_HLS(HLS ARRAY_PARTITION variable = fi cyclic factor = 8)
  for (int64_t c0 = 0; c0 < n; c0 += ZIP_CHUNK) {
    const int64_t len = imin(ZIP_CHUNK, n - c0);
    const int64_t padded = ceil_div(len, ZIP_BLOCK) * ZIP_BLOCK;
    std::memcpy(fi, in + c0, static_cast<size_t>(len) * sizeof(float));
    for (int64_t i = len; i < padded; ++i) fi[i] = 0.0f; /* idle lanes */
    for (int64_t b = 0; b < padded; b += ZIP_BLOCK) {
      O2C_HLS(HLS PIPELINE II = 1)
      unary_lanes<ZIP_BLOCK>(fi + b, p->op.op, p->op.alpha, p->op.beta);
    }
    std::memcpy(out + c0, fi, static_cast<size_t>(len) * sizeof(float));
  }
  unary_account(p).report();
}

extern "C" void DASH_UNARY_flt_zip_estimate(const float ** /*in*/, float ** /*out*/, const dash_unary_params_t **p_,
                                            uint8_t /*instance*/, uint64_t *cycles, uint64_t *bytes_moved) {
  unary_account(*p_).put(cycles, bytes_moved);
}

extern "C" void DASH_BINARY_flt_zip(const float **a_, const float **b_, float **out_, const dash_binary_params_t **p_,
                                    uint8_t /*instance*/) {
  const dash_binary_params_t *p = *p_;
  const float *a = *a_, *b = *b_;
  float *out = *out_;
  const Account acc = binary_account(p);
  if (acc.cycles == 0) {
    acc.report();
    return;
  }
  /* address generator set-up: size-1 dims dropped, nesting dims merged (outer to inner) */
  int64_t shape[DASH_MAX_RANK], sa[DASH_MAX_RANK], sb[DASH_MAX_RANK];
  int rank = 0;
  for (int d = 0; d < p->rank; ++d) {
    if (p->out_shape[d] == 1) continue;
    if (rank > 0 && sa[rank - 1] == p->a_stride[d] * p->out_shape[d] && sb[rank - 1] == p->b_stride[d] * p->out_shape[d]) {
      shape[rank - 1] *= p->out_shape[d];
      sa[rank - 1] = p->a_stride[d];
      sb[rank - 1] = p->b_stride[d];
      continue;
    }
    shape[rank] = p->out_shape[d];
    sa[rank] = p->a_stride[d];
    sb[rank] = p->b_stride[d];
    ++rank;
  }
  if (rank == 0) { /* one element */
    shape[0] = 1;
    sa[0] = sb[0] = 0;
    rank = 1;
  }
  const int64_t row_len = shape[rank - 1], ia = sa[rank - 1], ib = sb[rank - 1];
  int64_t rows = 1;
  for (int d = 0; d < rank - 1; ++d) rows *= shape[d];
  float fa[ZIP_CHUNK], fb[ZIP_CHUNK], fo[ZIP_CHUNK];
  int64_t idx[DASH_MAX_RANK] = {0};
  int64_t oa = 0, ob = 0, o = 0;
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c0 = 0; c0 < row_len; c0 += ZIP_CHUNK) {
      const int64_t len = imin(ZIP_CHUNK, row_len - c0);
      const int64_t padded = ceil_div(len, ZIP_BLOCK) * ZIP_BLOCK;
      fifo_load(fa, a + oa + c0 * ia, ia, len);
      fifo_load(fb, b + ob + c0 * ib, ib, len);
      for (int64_t i = len; i < padded; ++i) fa[i] = fb[i] = 1.0f; /* idle lanes */
      switch (p->op) {
        case DASH_BIN_ADD: binary_chunk<DASH_BIN_ADD>(fa, fb, fo, len); break;
        case DASH_BIN_SUB: binary_chunk<DASH_BIN_SUB>(fa, fb, fo, len); break;
        case DASH_BIN_MUL: binary_chunk<DASH_BIN_MUL>(fa, fb, fo, len); break;
        case DASH_BIN_DIV: binary_chunk<DASH_BIN_DIV>(fa, fb, fo, len); break;
        case DASH_BIN_MAX: binary_chunk<DASH_BIN_MAX>(fa, fb, fo, len); break;
        case DASH_BIN_MIN: binary_chunk<DASH_BIN_MIN>(fa, fb, fo, len); break;
        case DASH_BIN_POW: binary_chunk<DASH_BIN_POW>(fa, fb, fo, len); break;
        default: binary_chunk<DASH_BIN_PRELU>(fa, fb, fo, len); break;
      }
      if (p->act.op != DASH_ACT_NONE)
        for (int64_t bk = 0; bk < padded; bk += ZIP_BLOCK) unary_lanes<ZIP_BLOCK>(fo + bk, p->act.op, p->act.alpha, p->act.beta);
      std::memcpy(out + o, fo, static_cast<size_t>(len) * sizeof(float));
      o += len;
    }
    /* next row: odometer over the outer dims */
    for (int d = rank - 2; d >= 0; --d) {
      oa += sa[d];
      ob += sb[d];
      if (++idx[d] < shape[d]) break;
      oa -= sa[d] * shape[d];
      ob -= sb[d] * shape[d];
      idx[d] = 0;
    }
  }
  acc.report();
}

extern "C" void DASH_BINARY_flt_zip_estimate(const float ** /*a*/, const float ** /*b*/, float ** /*out*/,
                                             const dash_binary_params_t **p_, uint8_t /*instance*/, uint64_t *cycles,
                                             uint64_t *bytes_moved) {
  binary_account(*p_).put(cycles, bytes_moved);
}

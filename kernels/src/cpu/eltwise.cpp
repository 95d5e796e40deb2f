/*
 * eltwise.cpp - o2c_binary (numpy broadcasting through strides, fused activation) and o2c_unary.
 *
 * Binary: size-1 dims are dropped and adjacent dims whose strides nest are merged, so the
 * common cases (same shape, scalar, per-row and per-channel broadcasts) become long inner rows
 * with a stride pattern of (1,1), (1,0) or (0,1), each with its own vectorizable loop.
 */
#include "internal.h"

using namespace o2c::detail;

namespace {

struct OpAdd { static float f(float a, float b) { return a + b; } };
struct OpSub { static float f(float a, float b) { return a - b; } };
struct OpMul { static float f(float a, float b) { return a * b; } };
struct OpDiv { static float f(float a, float b) { return a / b; } };
struct OpMax { static float f(float a, float b) { return (a != a) ? a : (a > b ? a : b); } };
struct OpMin { static float f(float a, float b) { return (a != a) ? a : (a < b ? a : b); } };
struct OpPow {
  static float f(float a, float b) {
    if (b == 2.0f) return a * a;
    if (b == 1.0f) return a;
    return std::pow(a, b);
  }
};
struct OpPrelu { static float f(float a, float b) { return a >= 0.0f ? a : a * b; } };

template <class Op>
void row(const float *a, int64_t ia, const float *b, int64_t ib, float *o, int64_t n) {
  if (ia == 1 && ib == 1) {
    for (int64_t i = 0; i < n; ++i) o[i] = Op::f(a[i], b[i]);
  } else if (ia == 1 && ib == 0) {
    const float bv = b[0];
    for (int64_t i = 0; i < n; ++i) o[i] = Op::f(a[i], bv);
  } else if (ia == 0 && ib == 1) {
    const float av = a[0];
    for (int64_t i = 0; i < n; ++i) o[i] = Op::f(av, b[i]);
  } else {
    for (int64_t i = 0; i < n; ++i) o[i] = Op::f(a[i * ia], b[i * ib]);
  }
}

template <class Op>
void binary_impl(const float *a, const float *b, float *out, int rank, const int64_t *shape, const int64_t *sa,
                 const int64_t *sb, const dash_act_t &act) {
  if (rank == 0) {
    out[0] = Op::f(a[0], b[0]);
    act_inplace(out, 1, act);
    return;
  }
  const int64_t n = shape[rank - 1], ia = sa[rank - 1], ib = sb[rank - 1];
  Odometer od;
  const int64_t rows = od.outer_of(rank, shape);
  int64_t oa = 0, ob = 0;
  for (int64_t r = 0; r < rows; ++r) {
    float *o = out + r * n;
    row<Op>(a + oa, ia, b + ob, ib, o, n);
    act_inplace(o, n, act);
    const int d = od.next();
    if (d < 0) break;
    /* incremental offsets: dimension d advanced by one, the inner ones reset to 0 */
    oa += sa[d];
    ob += sb[d];
    for (int e = d + 1; e < rank - 1; ++e) {
      oa -= sa[e] * (shape[e] - 1);
      ob -= sb[e] * (shape[e] - 1);
    }
  }
}

} /* namespace */

extern "C" void o2c_binary(const float *a, const float *b, float *out, const dash_binary_params_t *p) {
  if (p->rank < 0 || p->rank > DASH_MAX_RANK) return;
  int64_t shape[DASH_MAX_RANK], sa[DASH_MAX_RANK], sb[DASH_MAX_RANK];
  int rank = 0;
  for (int d = 0; d < p->rank; ++d) {
    const int64_t n = p->out_shape[d];
    if (n <= 0) return; /* empty output */
    if (n == 1) continue;
    if (rank > 0 && sa[rank - 1] == p->a_stride[d] * n && sb[rank - 1] == p->b_stride[d] * n) {
      /* merge into the previous (outer) dim */
      shape[rank - 1] *= n;
      sa[rank - 1] = p->a_stride[d];
      sb[rank - 1] = p->b_stride[d];
      continue;
    }
    shape[rank] = n;
    sa[rank] = p->a_stride[d];
    sb[rank] = p->b_stride[d];
    ++rank;
  }
  switch (p->op) {
    case DASH_BIN_ADD: binary_impl<OpAdd>(a, b, out, rank, shape, sa, sb, p->act); break;
    case DASH_BIN_SUB: binary_impl<OpSub>(a, b, out, rank, shape, sa, sb, p->act); break;
    case DASH_BIN_MUL: binary_impl<OpMul>(a, b, out, rank, shape, sa, sb, p->act); break;
    case DASH_BIN_DIV: binary_impl<OpDiv>(a, b, out, rank, shape, sa, sb, p->act); break;
    case DASH_BIN_MAX: binary_impl<OpMax>(a, b, out, rank, shape, sa, sb, p->act); break;
    case DASH_BIN_MIN: binary_impl<OpMin>(a, b, out, rank, shape, sa, sb, p->act); break;
    case DASH_BIN_POW: binary_impl<OpPow>(a, b, out, rank, shape, sa, sb, p->act); break;
    case DASH_BIN_PRELU: binary_impl<OpPrelu>(a, b, out, rank, shape, sa, sb, p->act); break;
    default: break;
  }
}

extern "C" void o2c_unary(const float *in, float *out, const dash_unary_params_t *p) {
  if (p->n <= 0) return;
  unary_array(in, out, p->n, p->op.op, p->op.alpha, p->op.beta);
}

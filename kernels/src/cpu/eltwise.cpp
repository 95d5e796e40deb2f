/*
 * eltwise.cpp - o2c_binary (numpy broadcasting through strides, fused activation) and o2c_unary.
 *
 * Binary: size-1 dims are dropped and adjacent dims whose strides nest are merged, so the
 * common cases (same shape, scalar, per-row and per-channel broadcasts) become long inner rows
 * with a stride pattern of (1,1), (1,0) or (0,1), each with its own vectorizable loop (on aarch64
 * a hand-written NEON loop for the operations with a vector form, the scalar loop for the tail).
 */
#include "internal.h"

using namespace o2c::detail;

namespace {

#if O2C_HAVE_NEON
/* NEON twins of the operations (vec): the scalar expression on 4 lanes, bit for bit */
typedef float32x4_t V;
#define O2C_BIN_VEC(EXPR) \
  static constexpr bool vec = true; \
  static V v(V a, V b) { return EXPR; }
#else
#define O2C_BIN_VEC(EXPR) static constexpr bool vec = false;
#endif
struct OpAdd { static float f(float a, float b) { return a + b; } O2C_BIN_VEC(vaddq_f32(a, b)) };
struct OpSub { static float f(float a, float b) { return a - b; } O2C_BIN_VEC(vsubq_f32(a, b)) };
struct OpMul { static float f(float a, float b) { return a * b; } O2C_BIN_VEC(vmulq_f32(a, b)) };
struct OpDiv { static float f(float a, float b) { return a / b; } O2C_BIN_VEC(vdivq_f32(a, b)) };
/* max/min: a when a is NaN, else the select (b when b is NaN) */
struct OpMax {
  static float f(float a, float b) { return (a != a) ? a : (a > b ? a : b); }
  O2C_BIN_VEC(vbslq_f32(vorrq_u32(vmvnq_u32(vceqq_f32(a, a)), vcgtq_f32(a, b)), a, b))
};
struct OpMin {
  static float f(float a, float b) { return (a != a) ? a : (a < b ? a : b); }
  O2C_BIN_VEC(vbslq_f32(vorrq_u32(vmvnq_u32(vceqq_f32(a, a)), vcltq_f32(a, b)), a, b))
};
struct OpPow {
  static constexpr bool vec = false;
  static float f(float a, float b) {
    if (b == 2.0f) return a * a;
    if (b == 1.0f) return a;
    return std::pow(a, b);
  }
};
struct OpPrelu {
  static float f(float a, float b) { return a >= 0.0f ? a : a * b; }
  O2C_BIN_VEC(vbslq_f32(vcgeq_f32(a, vdupq_n_f32(0.0f)), a, vmulq_f32(a, b)))
};
#undef O2C_BIN_VEC

/* Relu fused into the row (the residual Add+Relu of every ResNet): the same value as the Relu
 * pass of act_inplace over the row, in one pass instead of two */
template <class Op, bool RELU>
struct Elem {
  static float f(float a, float b) {
    const float v = Op::f(a, b);
    return RELU ? (v < 0.0f ? 0.0f : v) : v;
  }
#if O2C_HAVE_NEON
  static constexpr bool vec = Op::vec;
  static V v(V a, V b) {
    const V x = Op::v(a, b);
    return RELU ? vbslq_f32(vcltq_f32(x, vdupq_n_f32(0.0f)), vdupq_n_f32(0.0f), x) : x;
  }
#endif
};

#if O2C_HAVE_NEON
/* The three unit-stride/broadcast rows, 8 then 4 lanes a step; returns how many were done (the
 * caller's scalar loop does the rest) */
template <class E>
int64_t row_neon(const float *a, int64_t ia, const float *b, int64_t ib, float *o, int64_t n) {
  int64_t i = 0;
  if (ia == 1 && ib == 1) {
    for (; i + 8 <= n; i += 8) {
      const V r0 = E::v(vld1q_f32(a + i), vld1q_f32(b + i)), r1 = E::v(vld1q_f32(a + i + 4), vld1q_f32(b + i + 4));
      vst1q_f32(o + i, r0);
      vst1q_f32(o + i + 4, r1);
    }
    for (; i + 4 <= n; i += 4) vst1q_f32(o + i, E::v(vld1q_f32(a + i), vld1q_f32(b + i)));
  } else if (ia == 1 && ib == 0) {
    const V bv = vdupq_n_f32(b[0]);
    for (; i + 8 <= n; i += 8) {
      const V r0 = E::v(vld1q_f32(a + i), bv), r1 = E::v(vld1q_f32(a + i + 4), bv);
      vst1q_f32(o + i, r0);
      vst1q_f32(o + i + 4, r1);
    }
    for (; i + 4 <= n; i += 4) vst1q_f32(o + i, E::v(vld1q_f32(a + i), bv));
  } else if (ia == 0 && ib == 1) {
    const V av = vdupq_n_f32(a[0]);
    for (; i + 8 <= n; i += 8) {
      const V r0 = E::v(av, vld1q_f32(b + i)), r1 = E::v(av, vld1q_f32(b + i + 4));
      vst1q_f32(o + i, r0);
      vst1q_f32(o + i + 4, r1);
    }
    for (; i + 4 <= n; i += 4) vst1q_f32(o + i, E::v(av, vld1q_f32(b + i)));
  }
  return i;
}
#endif

template <class E>
void row(const float *a, int64_t ia, const float *b, int64_t ib, float *o, int64_t n) {
#if O2C_HAVE_NEON
  if constexpr (E::vec) {
    const int64_t done = row_neon<E>(a, ia, b, ib, o, n);
    if (done > 0) {
      /* the tail: ia/ib are 0 or 1 here, so the general loop below takes the rest */
      a += done * ia, b += done * ib, o += done, n -= done;
    }
  }
#endif
  if (ia == 1 && ib == 1) {
    for (int64_t i = 0; i < n; ++i) o[i] = E::f(a[i], b[i]);
  } else if (ia == 1 && ib == 0) {
    const float bv = b[0];
    for (int64_t i = 0; i < n; ++i) o[i] = E::f(a[i], bv);
  } else if (ia == 0 && ib == 1) {
    const float av = a[0];
    for (int64_t i = 0; i < n; ++i) o[i] = E::f(av, b[i]);
  } else {
    for (int64_t i = 0; i < n; ++i) o[i] = E::f(a[i * ia], b[i * ib]);
  }
}

template <class Op>
void binary_impl(const float *a, const float *b, float *out, int rank, const int64_t *shape, const int64_t *sa,
                 const int64_t *sb, const int64_t *so, const dash_act_t &act) {
  if (rank == 0) {
    out[0] = Op::f(a[0], b[0]);
    act_inplace(out, 1, act);
    return;
  }
  const int64_t n = shape[rank - 1], ia = sa[rank - 1], ib = sb[rank - 1];
  const bool relu = act.op == DASH_ACT_RELU;
  Odometer od;
  const int64_t rows = od.outer_of(rank, shape);
  int64_t oa = 0, ob = 0, oo = 0;
  for (int64_t r = 0; r < rows; ++r) {
    float *o = out + oo;
    if (relu) {
      row<Elem<Op, true>>(a + oa, ia, b + ob, ib, o, n);
    } else {
      row<Elem<Op, false>>(a + oa, ia, b + ob, ib, o, n);
      act_inplace(o, n, act);
    }
    const int d = od.next();
    if (d < 0) break;
    /* incremental offsets: dimension d advanced by one, the inner ones reset to 0 */
    oa += sa[d];
    ob += sb[d];
    oo += so[d];
    for (int e = d + 1; e < rank - 1; ++e) {
      oa -= sa[e] * (shape[e] - 1);
      ob -= sb[e] * (shape[e] - 1);
      oo -= so[e] * (shape[e] - 1);
    }
  }
}

/* out_stride: the output's element strides (NULL: dense in p->out_shape); the innermost is 1 */
void binary_serial(const float *a, const float *b, float *out, const dash_binary_params_t *p,
                   const int64_t *out_stride = nullptr) {
  int64_t dense[DASH_MAX_RANK];
  if (out_stride == nullptr) {
    int64_t acc = 1;
    for (int d = p->rank - 1; d >= 0; --d) {
      dense[d] = acc;
      acc *= p->out_shape[d];
    }
    out_stride = dense;
  }
  int64_t shape[DASH_MAX_RANK], sa[DASH_MAX_RANK], sb[DASH_MAX_RANK], so[DASH_MAX_RANK];
  int rank = 0;
  for (int d = 0; d < p->rank; ++d) {
    const int64_t n = p->out_shape[d];
    if (n <= 0) return; /* empty output */
    if (n == 1) continue;
    if (rank > 0 && sa[rank - 1] == p->a_stride[d] * n && sb[rank - 1] == p->b_stride[d] * n &&
        so[rank - 1] == out_stride[d] * n) {
      /* merge into the previous (outer) dim */
      shape[rank - 1] *= n;
      sa[rank - 1] = p->a_stride[d];
      sb[rank - 1] = p->b_stride[d];
      so[rank - 1] = out_stride[d];
      continue;
    }
    shape[rank] = n;
    sa[rank] = p->a_stride[d];
    sb[rank] = p->b_stride[d];
    so[rank] = out_stride[d];
    ++rank;
  }
  switch (p->op) {
    case DASH_BIN_ADD: binary_impl<OpAdd>(a, b, out, rank, shape, sa, sb, so, p->act); break;
    case DASH_BIN_SUB: binary_impl<OpSub>(a, b, out, rank, shape, sa, sb, so, p->act); break;
    case DASH_BIN_MUL: binary_impl<OpMul>(a, b, out, rank, shape, sa, sb, so, p->act); break;
    case DASH_BIN_DIV: binary_impl<OpDiv>(a, b, out, rank, shape, sa, sb, so, p->act); break;
    case DASH_BIN_MAX: binary_impl<OpMax>(a, b, out, rank, shape, sa, sb, so, p->act); break;
    case DASH_BIN_MIN: binary_impl<OpMin>(a, b, out, rank, shape, sa, sb, so, p->act); break;
    case DASH_BIN_POW: binary_impl<OpPow>(a, b, out, rank, shape, sa, sb, so, p->act); break;
    case DASH_BIN_PRELU: binary_impl<OpPrelu>(a, b, out, rank, shape, sa, sb, so, p->act); break;
    default: break;
  }
}

} /* namespace */

/* With threads, an (N, C, spatial...) tensor is split like the convolutions split theirs: by
 * ranges of its first spatial axis (rows of a map, positions of a 1-D signal) in every channel,
 * so each thread combines values its own core wrote and leaves its part where the next layer's
 * thread for those rows reads it. Each element is computed the same way whatever the split. */
extern "C" void o2c_binary(const float *a, const float *b, float *out, const dash_binary_params_t *p) {
  if (p->rank < 0 || p->rank > DASH_MAX_RANK) return;
  int64_t total = 1;
  for (int d = 0; d < p->rank; ++d) total *= p->out_shape[d];
  int ax = 2;
  while (ax < p->rank && p->out_shape[ax] == 1) ++ax;
  const int nt = p->rank >= 3 && ax < p->rank && total > 0
                     ? static_cast<int>(std::min<int64_t>({static_cast<int64_t>(current_threads()), total / 4096,
                                                           p->out_shape[ax]}))
                     : 1;
  if (nt <= 1) {
    binary_serial(a, b, out, p);
    return;
  }
  const int64_t S = p->out_shape[ax];
  int64_t dense[DASH_MAX_RANK], acc = 1;
  for (int d = p->rank - 1; d >= 0; --d) {
    dense[d] = acc;
    acc *= p->out_shape[d];
  }
  parallel_for(nt, nt, [&](int64_t t, int) {
    const int64_t s0 = t * S / nt, s1 = (t + 1) * S / nt;
    if (s1 <= s0) return;
    /* rows [s0, s1) of axis ax in every (n, c): the same tensor with that axis cut, the output
     * keeping its full strides */
    dash_binary_params_t q = *p;
    q.out_shape[ax] = s1 - s0;
    binary_serial(a + s0 * p->a_stride[ax], b + s0 * p->b_stride[ax], out + s0 * dense[ax], &q, dense);
  });
}

extern "C" void o2c_unary(const float *in, float *out, const dash_unary_params_t *p) {
  if (p->n <= 0) return;
  unary_array(in, out, p->n, p->op.op, p->op.alpha, p->op.beta);
}

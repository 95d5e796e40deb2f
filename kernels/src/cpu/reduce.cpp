/*
 * reduce.cpp - o2c_reduce: Reduce{Sum,Mean,Max,Min,Prod,L1,L2,LogSumExp,SumSquare,LogSum} over
 * a set of axes; the output is the dense layout with the reduced axes kept as size 1.
 * Accumulation is in double. LogSumExp subtracts the per-output maximum first. One template serves
 * float, double, float16 and bfloat16 tensors (the result is rounded once to the element type).
 */
#include "internal.h"

#include "floatx.h"

#include <limits>

using namespace o2c::detail;
using o2c::floatx::Tr;

namespace {

enum Acc { ACC_SUM, ACC_ABS, ACC_SQ, ACC_MAX, ACC_MIN, ACC_PROD, ACC_EXP_SHIFTED };

/* accumulate one input row of n elements: into a single slot (reduced inner axis) or element-
 * wise into n slots (kept inner axis) */
template <int A>
inline double step(double acc, double x, double shift) {
  switch (A) {
    case ACC_SUM: return acc + x;
    case ACC_ABS: return acc + std::fabs(static_cast<double>(x));
    case ACC_SQ: return acc + static_cast<double>(x) * x;
    case ACC_MAX: return (x > acc || x != x) ? x : acc;
    case ACC_MIN: return (x < acc || x != x) ? x : acc;
    case ACC_PROD: return acc * x;
    default: return acc + std::exp(static_cast<double>(x) - shift);
  }
}

struct Layout {
  int rank;
  int64_t shape[DASH_MAX_RANK];
  int64_t ostride[DASH_MAX_RANK]; /* 0 on reduced axes */
  bool inner_reduced;
};

template <int A, class T>
void accumulate(const T *in, double *acc, const double *shift, const Layout &L) {
  const int rank = L.rank;
  const int64_t n = L.shape[rank - 1];
  Odometer od;
  const int64_t rows = od.outer_of(rank, L.shape);
  for (int64_t r = 0; r < rows; ++r) {
    int64_t o = 0;
    for (int d = 0; d < rank - 1; ++d) o += od.idx[d] * L.ostride[d];
    const T *x = in + r * n;
    auto ld = [&](int64_t i) { return static_cast<double>(Tr<T>::ld(x[i])); };
    if (L.inner_reduced) {
      double a = acc[o];
      const double s = shift ? shift[o] : 0.0;
      for (int64_t i = 0; i < n; ++i) a = step<A>(a, ld(i), s);
      acc[o] = a;
    } else {
      double *ao = acc + o;
      if (shift) {
        const double *so = shift + o;
        for (int64_t i = 0; i < n; ++i) ao[i] = step<A>(ao[i], ld(i), so[i]);
      } else {
        for (int64_t i = 0; i < n; ++i) ao[i] = step<A>(ao[i], ld(i), 0.0);
      }
    }
    od.next();
  }
}

template <class T>
void reduce(const T *in, T *out, const o2c_reduce_params_t *p) {
  if (p->rank < 0 || p->rank > DASH_MAX_RANK) return;
  /* drop size-1 axes, merge neighbours with the same flag */
  Layout L;
  int32_t red[DASH_MAX_RANK];
  int rank = 0;
  int64_t count = 1, nout = 1, nin = 1;
  for (int d = 0; d < p->rank; ++d) {
    const int64_t n = p->in_shape[d];
    const bool r = p->reduce[d] != 0;
    nin *= n;
    if (r)
      count *= n;
    else
      nout *= n;
    if (n == 1) continue;
    if (rank > 0 && (red[rank - 1] != 0) == r) {
      L.shape[rank - 1] *= n;
      continue;
    }
    L.shape[rank] = n;
    red[rank] = r ? 1 : 0;
    ++rank;
  }
  if (nout <= 0) return;
  L.rank = rank;
  int64_t st = 1;
  for (int d = rank - 1; d >= 0; --d) {
    L.ostride[d] = red[d] ? 0 : st;
    if (!red[d]) st *= L.shape[d];
  }
  L.inner_reduced = rank > 0 && red[rank - 1] != 0;

  const int op = p->op;
  Scratch<double> acc(static_cast<size_t>(nout));
  Scratch<double> shift;
  double init = 0.0;
  if (op == O2C_REDUCE_MAX) init = -std::numeric_limits<double>::infinity();
  if (op == O2C_REDUCE_MIN) init = std::numeric_limits<double>::infinity();
  if (op == O2C_REDUCE_PROD) init = 1.0;
  for (int64_t i = 0; i < nout; ++i) acc[i] = init;

  if (nin > 0) {
    if (rank == 0) {
      /* a single element */
      const double x = static_cast<double>(Tr<T>::ld(in[0]));
      switch (op) {
        case O2C_REDUCE_L1: acc[0] = std::fabs(x); break;
        case O2C_REDUCE_L2:
        case O2C_REDUCE_SUM_SQUARE: acc[0] = x * x; break;
        case O2C_REDUCE_LOG_SUM_EXP: acc[0] = 1.0; break;
        default: acc[0] = x; break;
      }
      if (op == O2C_REDUCE_LOG_SUM_EXP) {
        shift.reset(1);
        shift[0] = x;
      }
    } else {
      switch (op) {
        case O2C_REDUCE_SUM:
        case O2C_REDUCE_MEAN:
        case O2C_REDUCE_LOG_SUM: accumulate<ACC_SUM>(in, acc.get(), nullptr, L); break;
        case O2C_REDUCE_L1: accumulate<ACC_ABS>(in, acc.get(), nullptr, L); break;
        case O2C_REDUCE_L2:
        case O2C_REDUCE_SUM_SQUARE: accumulate<ACC_SQ>(in, acc.get(), nullptr, L); break;
        case O2C_REDUCE_MAX: accumulate<ACC_MAX>(in, acc.get(), nullptr, L); break;
        case O2C_REDUCE_MIN: accumulate<ACC_MIN>(in, acc.get(), nullptr, L); break;
        case O2C_REDUCE_PROD: accumulate<ACC_PROD>(in, acc.get(), nullptr, L); break;
        case O2C_REDUCE_LOG_SUM_EXP: {
          shift.reset(static_cast<size_t>(nout));
          for (int64_t i = 0; i < nout; ++i) shift[i] = -std::numeric_limits<double>::infinity();
          accumulate<ACC_MAX>(in, shift.get(), nullptr, L);
          /* an all -inf (or +inf) slice: shift by 0 so exp() stays defined */
          for (int64_t i = 0; i < nout; ++i)
            if (std::isinf(shift[i])) shift[i] = 0.0;
          for (int64_t i = 0; i < nout; ++i) acc[i] = 0.0;
          accumulate<ACC_EXP_SHIFTED>(in, acc.get(), shift.get(), L);
          break;
        }
        default: return;
      }
    }
  }
  for (int64_t i = 0; i < nout; ++i) {
    double v = acc[i];
    switch (op) {
      case O2C_REDUCE_MEAN: v = count > 0 ? v / static_cast<double>(count) : std::nan(""); break;
      case O2C_REDUCE_L2: v = std::sqrt(v); break;
      case O2C_REDUCE_LOG_SUM: v = std::log(v); break;
      case O2C_REDUCE_LOG_SUM_EXP: v = (shift.get() ? shift[i] : 0.0) + std::log(v); break;
      default: break;
    }
    out[i] = Tr<T>::st(static_cast<typename Tr<T>::C>(v));
  }
}

} /* namespace */

extern "C" void o2c_reduce(const void *in, void *out, const o2c_reduce_params_t *p) {
  switch (p->type) {
    case 0:
    case O2C_DT_FLOAT: reduce(static_cast<const float *>(in), static_cast<float *>(out), p); break;
    case O2C_DT_DOUBLE: reduce(static_cast<const double *>(in), static_cast<double *>(out), p); break;
    case O2C_DT_FLOAT16:
      reduce(static_cast<const o2c::floatx::f16 *>(in), static_cast<o2c::floatx::f16 *>(out), p);
      break;
    case O2C_DT_BFLOAT16:
      reduce(static_cast<const o2c::floatx::bf16 *>(in), static_cast<o2c::floatx::bf16 *>(out), p);
      break;
    default:
      std::fprintf(stderr, "onnx2cedr kernel: reduction over element type %d is not supported\n", int(p->type));
      std::abort();
  }
}

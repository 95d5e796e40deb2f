/*
 * grid_sample.cpp - o2c_grid_sample: GridSample (opset 20 semantics; 16's bilinear/bicubic are
 * linear/cubic) in 1 to 3 spatial dimensions. Coordinates are computed in float, as the reference
 * does; interpolation is separable (a weighted sum over the 2^rank or 4^rank neighbours), each
 * neighbour's index mapped per dimension by the padding mode.
 */
#include "o2c_typed.h"

#include "floatx.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace {

using namespace o2c::floatx;

double reflect(double x, double lo, double hi) {  // by the near border until inside [lo, hi]
  const double rng = hi - lo;
  if (x < lo) {
    const double dx = lo - x;
    const long long n = static_cast<long long>(dx / rng);
    const double r = dx - n * rng;
    return n % 2 == 0 ? lo + r : hi - r;
  }
  if (x > hi) {
    const double dx = x - hi;
    const long long n = static_cast<long long>(dx / rng);
    const double r = dx - n * rng;
    return n % 2 == 0 ? hi - r : lo + r;
  }
  return x;
}

void cubic_coeffs(double t, double c[4]) {
  const double a = -0.75;
  t = std::fabs(t);
  c[0] = ((a * (t + 1) - 5 * a) * (t + 1) + 8 * a) * (t + 1) - 4 * a;
  c[1] = ((a + 2) * t - (a + 3)) * t * t + 1;
  c[2] = ((a + 2) * (1 - t) - (a + 3)) * (1 - t) * (1 - t) + 1;
  c[3] = ((a * (2 - t) - 5 * a) * (2 - t) + 8 * a) * (2 - t) - 4 * a;
}

template <class T>
void grid_sample(const T *X, const T *G, T *Y, const o2c_grid_sample_params_t *p) {
  using R = Tr<T>;
  const int rank = p->rank;
  int64_t in_n = 1, out_n = 1;
  for (int d = 0; d < rank; ++d) {
    in_n *= p->in_size[d];
    out_n *= p->out_size[d];
  }
  double lo[3], hi[3];
  for (int d = 0; d < rank; ++d) {
    lo[d] = p->align_corners ? 0.0 : -0.5;
    hi[d] = p->align_corners ? double(p->in_size[d] - 1) : double(p->in_size[d]) - 0.5;
  }
  // the index of dimension d for a (possibly outside) integer position i; -1: a zero (padding zeros)
  auto map = [&](int d, long long i) -> long long {
    const long long n = p->in_size[d];
    if (i >= 0 && i < n) return i;
    if (p->padding == 0) return -1;
    if (p->padding == 1) return i < 0 ? 0 : n - 1;
    return static_cast<long long>(reflect(double(i), lo[d], hi[d]));
  };
  for (int64_t b = 0; b < p->n; ++b)
    for (int64_t o = 0; o < out_n; ++o) {
      const T *g = G + (b * out_n + o) * rank;
      float x[3];
      for (int d = 0; d < rank; ++d) {
        const float v = float(R::ld(g[rank - 1 - d]));
        const float len = float(p->in_size[d]);
        float c = p->align_corners ? (v + 1.0f) / 2.0f * (len - 1.0f) : ((v + 1.0f) * len - 1.0f) / 2.0f;
        if (p->mode == 0) c = std::nearbyint(c);
        if (c < lo[d] || c > hi[d]) {
          if (p->padding == 1) c = c < 0.0f ? 0.0f : (c > len - 1.0f ? len - 1.0f : c);
          else if (p->padding == 2) c = float(reflect(c, lo[d], hi[d]));
        }
        x[d] = c;
      }
      // neighbours per dimension: index and weight
      int taps = p->mode == 0 ? 1 : p->mode == 1 ? 2 : 4;
      long long idx[3][4];
      double w[3][4];
      for (int d = 0; d < rank; ++d) {
        if (p->mode == 0) {
          idx[d][0] = map(d, static_cast<long long>(x[d]));
          w[d][0] = 1.0;
          continue;
        }
        const long long x0 = static_cast<long long>(std::floor(x[d]));
        const double t = double(x[d] - float(x0));
        if (p->mode == 1) {
          idx[d][0] = map(d, x0);
          idx[d][1] = map(d, x0 + 1);
          w[d][0] = 1.0 - t;
          w[d][1] = t;
        } else {
          cubic_coeffs(t, w[d]);
          for (int k = 0; k < 4; ++k) idx[d][k] = map(d, x0 - 1 + k);
        }
      }
      int total = 1;
      for (int d = 0; d < rank; ++d) total *= taps;
      for (int64_t ch = 0; ch < p->c; ++ch) {
        const T *plane = X + (b * p->c + ch) * in_n;
        double acc = 0.0;
        for (int k = 0; k < total; ++k) {
          int rem = k;
          double wt = 1.0;
          long long off = 0;
          bool zero = false;
          for (int d = rank - 1; d >= 0; --d) {
            const int t = rem % taps;
            rem /= taps;
            if (idx[d][t] < 0) zero = true;
            wt *= w[d][t];
            long long stride = 1;
            for (int e = d + 1; e < rank; ++e) stride *= p->in_size[e];
            off += idx[d][t] * stride;
          }
          if (!zero) acc += wt * double(R::ld(plane[off]));
        }
        Y[(b * p->c + ch) * out_n + o] = R::st(static_cast<typename R::C>(acc));
      }
    }
}

template <class T>
void run(const void *x, const void *g, void *y, const o2c_grid_sample_params_t *p) {
  grid_sample(static_cast<const T *>(x), static_cast<const T *>(g), static_cast<T *>(y), p);
}

}  // namespace

extern "C" void o2c_grid_sample(const void *x, const void *grid, void *out, const o2c_grid_sample_params_t *p) {
  switch (p->type) {
    case O2C_DT_FLOAT: run<float>(x, grid, out, p); break;
    case O2C_DT_DOUBLE: run<double>(x, grid, out, p); break;
    case O2C_DT_FLOAT16: run<f16>(x, grid, out, p); break;
    case O2C_DT_BFLOAT16: run<bf16>(x, grid, out, p); break;
    default:
      std::fprintf(stderr, "onnx2cedr kernel: grid sampling over element type %d is not supported\n", int(p->type));
      std::abort();
  }
}

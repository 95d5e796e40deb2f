/*
 * conv_internal.h - what the convolution files share (not part of the public interface):
 * the geometry, the direct ("wide grid") and "lanes" paths' plans, jobs and entry points, and the
 * depthwise and implicit-im2col pieces. conv.cpp chooses the path (and packs weights ahead of
 * time); conv_direct.cpp, conv_lanes.cpp, conv_im2col.cpp and conv_depthwise.cpp hold the paths,
 * conv_transpose.cpp the transposed convolution. The reduction-order contract is stated in conv.cpp.
 */
#ifndef ONNX2CEDR_KERNELS_CPU_CONV_INTERNAL_H
#define ONNX2CEDR_KERNELS_CPU_CONV_INTERNAL_H

#include "internal.h"
#include "o2c_numerics.h"

#include <array>
#include <utility>
#include <vector>

namespace o2c {
namespace conv {

using namespace o2c::detail;

constexpr int64_t NR = GEMM_NR;

/* a*b + c, rounded once where the target has FMA (the shared contract, o2c_numerics.h) */
inline float fmac(float a, float b, float c) { return o2c_fmac(a, b, c); }

/* geometry with the spatial dims expanded to 3 (leading dims of size 1) */
struct Geo3 {
  int64_t in[3], out[3], k[3], s[3], d[3], p[3];
  int64_t in_sp() const { return in[0] * in[1] * in[2]; }
  int64_t out_sp() const { return out[0] * out[1] * out[2]; }
  int64_t k_sp() const { return k[0] * k[1] * k[2]; }
};


inline bool make_geo(const dash_conv_params_t *p, Geo3 &g) {
  const int r = p->spatial_rank;
  if (r < 1 || r > DASH_MAX_SPATIAL) return false;
  for (int d = 0; d < 3; ++d) {
    const int src = d - (3 - r);
    if (src < 0) {
      g.in[d] = g.out[d] = g.k[d] = g.s[d] = g.d[d] = 1;
      g.p[d] = 0;
    } else {
      g.in[d] = p->in_size[src];
      g.out[d] = p->out_size[src];
      g.k[d] = p->kernel[src];
      g.s[d] = p->stride[src] > 0 ? p->stride[src] : 1;
      g.d[d] = p->dilation[src] > 0 ? p->dilation[src] : 1;
      g.p[d] = p->pad_begin[src];
    }
  }
  return true;
}

/* the valid range [lo, hi) of o such that 0 <= o*s + off < n, clipped to [0, limit) */
inline void valid_range(int64_t off, int64_t s, int64_t n, int64_t limit, int64_t &lo, int64_t &hi) {
  lo = off < 0 ? ceil_div(-off, s) : 0;
  hi = n - 1 - off < 0 ? 0 : floor_div(n - 1 - off, s) + 1;
  lo = std::min(lo, limit);
  hi = std::min(hi, limit);
  if (hi < lo) hi = lo;
}

#if O2C_HAVE_AVX2
/* 16 consecutive floats at src split into their 8 even (to ev) and 8 odd (to od) elements, in order:
 * the stride-2 phase split of the direct and depthwise paths */
inline void split_even_odd8(const float *src, float *ev, float *od) {
  const __m256 v0 = _mm256_loadu_ps(src), v1 = _mm256_loadu_ps(src + 8);
  const __m256 e = _mm256_shuffle_ps(v0, v1, 0x88), o = _mm256_shuffle_ps(v0, v1, 0xDD); /* in 128-bit halves */
  _mm256_storeu_ps(ev, _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(e), 0xD8)));
  _mm256_storeu_ps(od, _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(o), 0xD8)));
}
#endif

/* ---- implicit im2col B source (conv_im2col.cpp) ---- */
struct Im2col {
  const float *in; /* this group's input: Cg x in_sp */
  Geo3 g;
};

/* the GEMM engine's B-packing callback over an Im2col context */
void pack_b_im2col(const void *ctx, int64_t k0, int64_t kc, int64_t n0, int64_t nc, float *dst);

/* ---- by output channel (conv_depthwise.cpp): depthwise, channel multipliers, small groups ---- */
bool by_channel_pays(const Geo3 &g, int64_t G, int64_t Cin, int64_t Cg, int64_t Mg);
void conv_by_channel(const float *in, const float *w, const float *bias, float *out, const Geo3 &g, int64_t B,
                     int64_t Cin, int64_t Cout, int64_t G, const dash_act_t &act);

/* ---- direct convolution (conv_direct.cpp) ---- */
constexpr int64_t MR = GEMM_MR;
constexpr int64_t DIRECT_NB = 256; /* wide positions per block (multiple of NR) */
/* Output channels are cut into panels (one micro-kernel row block each): MR rows (the last one
 * shorter) for the AVX2 and portable kernels; for the AVX-512 tiles ceil(M/12) panels of balanced
 * heights (<= 12: 64 channels are 11,11,11,11,10,10, not 12,12,12,12,12,4). PANEL is the row
 * padding of the weights buffers. */
constexpr int64_t ZMR = 12;
#if O2C_HAVE_AVX512
constexpr int64_t PANEL = 1;
#else
constexpr int64_t PANEL = MR;
#endif
struct Panels {
  int64_t n, base, extra, M;
  explicit Panels(int64_t Mg) : M(Mg) {
#if O2C_HAVE_AVX512
    n = ceil_div(Mg, ZMR);
    base = Mg / n;
    extra = Mg % n;
#else
    n = ceil_div(Mg, MR);
    base = MR;
    extra = 0;
#endif
  }
  int64_t start(int64_t p) const { return std::min(M, p * base + std::min(p, extra)); }
  int64_t height(int64_t p) const { return start(p + 1) - start(p); }
};

struct DirectPlan {
  int64_t q[3];      /* phase plane dims Dq, Hq, Wq */
  int64_t P;         /* plane pitch (floats) */
  int64_t nplanes;   /* Cg * sz * sy * sx */
  int64_t Nw;        /* wide positions */
  int64_t Mpad, kcb; /* packed weight rows, K block */
  size_t in_floats;  /* phase planes incl. slack */
};

int64_t phase_extent(const Geo3 &g, int d);
int64_t wide_count(const Geo3 &g);
DirectPlan direct_plan(const Geo3 &g, int64_t Cg, int64_t Mg, int64_t Kg);
bool direct_pays(const Geo3 &g, int64_t Mg);
void direct_offsets(const Geo3 &g, const DirectPlan &d, int64_t Kg, int64_t *off);
void build_phases(const float *in_g, const Geo3 &g, const DirectPlan &d, int64_t Cg, float *in_p, int nth = 1,
                  int64_t cstride = -1);
void pack_weights(const float *Wg, int64_t Kg, int64_t Mg, int64_t k0, int64_t kc, float *dst);

/* One direct convolution (one batch, one group) over its phase planes. */
struct DirectJob {
  const float *in_p;   /* phase planes */
  const float *Wg;     /* weight rows (Mg x Kg) */
  const float *apk;    /* weights packed in PANEL-row panels per K block (apk + pc*Mpad + ir*kc), or NULL
                        * to read the weight rows in place (cheaper when each weight meets few positions) */
  const int64_t *off;  /* B row offsets */
  const float *bias_g; /* Mg values or NULL */
  float *out_g;
  const Geo3 *g;
  const DirectPlan *d;
  int64_t Mg, Kg;
  dash_act_t act;
  int64_t out_cs; /* output channel stride (floats) */
};

void direct_block(const DirectJob &J, int64_t n0, int64_t m0, int64_t m1, float *cw);

/* ---- "lanes" path (conv_lanes.cpp) ---- */
#if O2C_HAVE_AVX512
constexpr int64_t LN = 32;
constexpr int LR = 12;
constexpr int LROWS = 4;
constexpr int64_t LPF = 16; /* weight prefetch distance, in k steps */
#elif O2C_HAVE_AVX2
constexpr int64_t LN = 16;
constexpr int LR = 6;
constexpr int LROWS = 2;
constexpr int64_t LPF = 16;
#else
constexpr int64_t LN = 16;
constexpr int LR = 4;
constexpr int LROWS = 2;
#endif

/* The tiles: output rows (oz, oy) cut into nseg column segments of cw (<= LR) columns, and the
 * rows into groups of rows_per (rows_per * cw <= LR); of all the cuts, the one with the fewest
 * tiles (8x8: 2 segments of 4 x groups of 3 rows, 6 tiles of up to 12 positions). */
struct LanesTiles {
  int64_t nrows, W, cw, nseg, rows_per;
  explicit LanesTiles(const Geo3 &g) {
    nrows = g.out[0] * g.out[1];
    W = g.out[2];
    int64_t best = -1;
    for (int64_t ns = ceil_div(W, LR); ns <= W; ++ns) {
      const int64_t c = ceil_div(W, ns);
      if (ceil_div(W, c) != ns) continue; /* the same cut as a smaller ns */
      const int64_t rp = std::max<int64_t>(1, std::min<int64_t>(LROWS, LR / c));
      const int64_t groups = ceil_div(nrows, rp);
      const int64_t tiles = ns * groups;
      if (best < 0 || tiles < best) {
        best = tiles;
        nseg = ns;
        cw = c;
        rows_per = ceil_div(nrows, groups); /* balanced groups (4 rows, up to 3 per tile: 2 + 2) */
      }
    }
  }
  int64_t count() const { return ceil_div(nrows, rows_per) * nseg; }
};

bool lanes_pays(const Geo3 &g, int64_t Mg, int64_t Kg);
size_t lanes_packed_floats(int64_t Mg, int64_t Kg);
void pack_lanes(const float *Wg, int64_t Mg, int64_t Kg, float *dst);
Geo3 lanes_padded_geo(const Geo3 &g);

struct LanesJob {
  const float *in_p;  /* padded planes (direct_plan of lanes_padded_geo) */
  const float *wp;    /* packed weights of the group */
  const int64_t *off; /* B row offsets */
  const float *bias_g;
  float *out_g;
  const Geo3 *g;
  const DirectPlan *d;
  const LanesTiles *T;
  int64_t Mg, Kg;
  dash_act_t act;
  int64_t out_cs; /* output channel stride (floats) */
};

void lanes_task(const LanesJob &J, int64_t pan, int64_t tile);

/* How many threads a kernel of this many multiply-adds should use (the calling thread's setting;
 * fewer only for tiny kernels). The split layers keep each thread on the rows it wrote in the layer
 * before, and a helper stays awake through a model run, so a parallel region costs well under a
 * microsecond: even a small layer gains from it, and running it on one thread would make the
 * next split layer read half of its input from the other core. */
inline int threads_for(double macs) {
  const int t = current_threads();
  if (t <= 1) return 1;
  const int by_work = static_cast<int>(macs / 0.05e6);
  return std::max(1, std::min(t, by_work));
}

} /* namespace conv */
} /* namespace o2c */

#endif

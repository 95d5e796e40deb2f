/*
 * conv.cpp - o2c_conv and o2c_conv_transpose (1-D/2-D/3-D, NC<spatial> layout).
 *
 * Convolution is a GEMM per (batch, group): W_g (Cout/g x Cin/g*k) times the im2col matrix of
 * the input (Cin/g*k x out_spatial), which is never materialized:
 *  - normally the "direct" path below: the input is copied once into zero-padded phase planes
 *    in which every row of the im2col matrix is a contiguous run, and a 6x16 register-blocked
 *    micro-kernel (the GEMM's, with B read in place through a row-offset table) runs over it;
 *    this covers any stride, dilation, padding and 1x1 kernels;
 *  - when that would compute too many padding columns (strongly dilated kernels on small
 *    images), implicit im2col: the GEMM engine's B-packing callback gathers the panels;
 *  - small images with many channels (at most 400 output positions), when the weights come
 *    packed ahead of time: the "lanes" path, output channels on the vector lanes and a tile's
 *    few positions broadcast from the zero-padded input (no wide-grid waste).
 * Depthwise convolution (groups == in == out channels), channel multipliers and groups of few output
 * channels run by output channel over zero-padded, stride-phase-split row bands. Bias and
 * activation are fused into the epilogue.
 *
 * Weights packed once (o2c_conv_pack, at model load; dash_conv_params_t.packed): the same
 * layout the call would otherwise pack per call (direct) or could not afford to (lanes), behind a
 * header naming the path and this build's layout, so a buffer from another build is ignored.
 *
 * Reduction order (a contract: kernels/accel reproduces it bit for bit): every output element is
 * ONE fused multiply-add chain over the K index k = (input channel of the group, kz, ky, kx) in
 * order, padding taps included (they multiply a zero), starting from +0 on the direct, im2col
 * and lanes paths, then + bias (only when there is one), then the activation; on the depthwise
 * path the chain over the taps (kz, ky, kx) starts from the bias (+0 without one), then the
 * activation; channel multipliers and small groups (conv_depthwise.cpp) chain from +0 like the direct
 * path.
 *
 * Files: this one chooses the path and packs weights ahead of time (and runs the paths by output
 * slices over threads); conv_direct.cpp, conv_lanes.cpp, conv_im2col.cpp and conv_depthwise.cpp
 * hold the paths, conv_transpose.cpp o2c_conv_transpose; conv_internal.h is what they share.
 */
#include "conv_internal.h"

using namespace o2c::conv;

namespace {

/* ---- weights packed ahead of time (o2c_conv_pack) ----
 * A 64-byte header, then per group the weights exactly as the chosen path packs them per call
 * (direct: PANEL-row panels per K block, Mpad x Kg floats; lanes: LN-channel panels,
 * round_up(Mg, LN) x Kg floats). The header records the path and this build's layout constants;
 * a buffer made by a kernel library with another layout (other ISA flags) is ignored. */
enum ConvPath { PATH_NONE = 0, PATH_DIRECT = 1, PATH_LANES = 2 };
constexpr uint32_t PACK_MAGIC = 0x50433230u; /* "02CP" */
struct PackHeader {
  uint32_t magic, path;
  int64_t layout, G, Mg, Kg, kcb, floats_per_group;
};
static_assert(sizeof(PackHeader) <= 64, "header fits its 64 bytes");
constexpr int64_t PACK_LAYOUT = (O2C_HAVE_AVX512 ? 1 : 0) | (O2C_HAVE_AVX2 ? 2 : 0) | (LN << 4) | (PANEL << 12) |
                                (MR << 20) | (GEMM_KC << 28);

struct ConvShape {
  Geo3 g;
  int64_t B, Cin, Cout, G, Cg, Mg, Kg;
  ConvPath path;
  int64_t kcb, floats_per_group;
};

/* allow_lanes: the lanes path needs its weights packed ahead of time (packing them per call
 * costs more than it saves), so without a packed buffer the direct path runs. */
bool conv_shape(const dash_conv_params_t *p, ConvShape &s, bool allow_lanes) {
  if (!make_geo(p, s.g)) return false;
  s.B = p->batch;
  s.Cin = p->in_channels;
  s.Cout = p->out_channels;
  s.G = p->groups > 0 ? p->groups : 1;
  if (s.B <= 0 || s.Cout <= 0 || s.g.out_sp() <= 0) return false;
  s.Cg = s.Cin / s.G;
  s.Mg = s.Cout / s.G;
  s.Kg = s.Cg * s.g.k_sp();
  s.kcb = 0;
  s.floats_per_group = 0;
#ifdef O2C_BENCH_FORCE_PATH
  /* kernels/bench/bench.cpp `paths` only: O2C_PATH=direct|lanes|im2col picks the path */
  if (const char *force = std::getenv("O2C_PATH"); force && !by_channel_pays(s.g, s.G, s.Cin, s.Cg, s.Mg)) {
    s.path = force[0] == 'l' && allow_lanes ? PATH_LANES : force[0] == 'd' ? PATH_DIRECT : PATH_NONE;
    if (s.path == PATH_LANES) s.floats_per_group = static_cast<int64_t>(lanes_packed_floats(s.Mg, s.Kg));
    if (s.path == PATH_DIRECT) {
      const DirectPlan d = direct_plan(s.g, s.Cg, s.Mg, s.Kg);
      s.kcb = d.kcb;
      s.floats_per_group = d.Mpad * s.Kg;
    }
    return true;
  }
#endif
  if (by_channel_pays(s.g, s.G, s.Cin, s.Cg, s.Mg)) {
    s.path = PATH_NONE; /* by output channel (conv_depthwise.cpp): weights read in place */
  } else if (allow_lanes && lanes_pays(s.g, s.Mg, s.Kg)) {
    s.path = PATH_LANES;
    s.floats_per_group = static_cast<int64_t>(lanes_packed_floats(s.Mg, s.Kg));
  } else if (direct_pays(s.g, s.Mg)) {
    s.path = PATH_DIRECT;
    const DirectPlan d = direct_plan(s.g, s.Cg, s.Mg, s.Kg);
    s.kcb = d.kcb;
    s.floats_per_group = d.Mpad * s.Kg;
  } else {
    s.path = PATH_NONE; /* implicit im2col: the GEMM engine packs */
  }
  return true;
}

/* the packed weights of p->packed when they were made for this shape by this build, else NULL */
const float *prepacked(const dash_conv_params_t *p, const ConvShape &s) {
  if (!p->packed || s.path == PATH_NONE) return nullptr;
  const PackHeader *h = static_cast<const PackHeader *>(p->packed);
  if (h->magic != PACK_MAGIC || h->path != static_cast<uint32_t>(s.path) || h->layout != PACK_LAYOUT ||
      h->G != s.G || h->Mg != s.Mg || h->Kg != s.Kg || h->kcb != s.kcb || h->floats_per_group != s.floats_per_group)
    return nullptr;
  return reinterpret_cast<const float *>(static_cast<const char *>(p->packed) + 64);
}

/* one group's weights packed for the direct path (K blocks of kcb) */
void pack_direct(const float *Wg, int64_t Mg, int64_t Kg, int64_t kcb, int64_t Mpad, float *dst) {
  for (int64_t pc = 0; pc < Kg; pc += kcb) pack_weights(Wg, Kg, Mg, pc, std::min(kcb, Kg - pc), dst + pc * Mpad);
}

} /* namespace */

extern "C" size_t o2c_conv_packed_bytes(const dash_conv_params_t *p) {
  ConvShape s;
  if (!p || !conv_shape(p, s, true) || s.path == PATH_NONE) return 0;
  return 64 + static_cast<size_t>(s.G * s.floats_per_group) * sizeof(float);
}

extern "C" void o2c_conv_pack(const float *weight, const dash_conv_params_t *p, void *dst) {
  ConvShape s;
  if (!p || !dst || !conv_shape(p, s, true) || s.path == PATH_NONE) return;
  PackHeader h{};
  h.magic = PACK_MAGIC;
  h.path = static_cast<uint32_t>(s.path);
  h.layout = PACK_LAYOUT;
  h.G = s.G;
  h.Mg = s.Mg;
  h.Kg = s.Kg;
  h.kcb = s.kcb;
  h.floats_per_group = s.floats_per_group;
  std::memset(dst, 0, 64);
  std::memcpy(dst, &h, sizeof h);
  float *d = reinterpret_cast<float *>(static_cast<char *>(dst) + 64);
  for (int64_t gr = 0; gr < s.G; ++gr) {
    const float *Wg = weight + gr * s.Mg * s.Kg;
    float *dg = d + gr * s.floats_per_group;
    if (s.path == PATH_LANES)
      pack_lanes(Wg, s.Mg, s.Kg, dg);
    else
      pack_direct(Wg, s.Mg, s.Kg, s.kcb, s.floats_per_group / s.Kg, dg);
  }
}

/* ---- threads by output slices ----
 * A layer split over threads is cut into slices of its output along the outermost axis (rows of
 * a 2-D map, positions of a 1-D one; depth of a 3-D one), one per thread, at t*O/nth - the cut
 * every split op uses (pools, element-wise ops): the calling thread takes the first slice, a
 * helper the next, so the rows a thread writes in one layer are the rows it reads in the next and
 * stay in its core's caches (a line read across the cut costs a cross-core transfer: the split of
 * one shared input buffer by channel chunks spent a third of its time on them). A slice is the
 * same convolution on a cropped input with adjusted padding, which each task copies into a buffer
 * of its own thread: every output is the same FMA chain as without slices (same bits). */
struct ConvSlice {
  Geo3 g;
  int64_t in_off, out_off; /* of the slice's first input / output value in a channel plane */
};

/* false when the geometry has no such axis (an outer axis of extent > 1 whose output is a single
 * position) */
bool conv_slices(const Geo3 &g, int nth, std::vector<ConvSlice> &sl) {
  int a = 0;
  while (a < 2 && g.in[a] == 1 && g.out[a] == 1) ++a;
  const int64_t O = g.out[a];
  if (O < 2) return false;
  int64_t inner_in = 1, inner_out = 1;
  for (int b = a + 1; b < 3; ++b) {
    inner_in *= g.in[b];
    inner_out *= g.out[b];
  }
  const int64_t nsl = std::min<int64_t>(O, static_cast<int64_t>(nth));
  sl.resize(static_cast<size_t>(nsl));
  for (int64_t i = 0; i < nsl; ++i) {
    ConvSlice &S = sl[static_cast<size_t>(i)];
    const int64_t o0 = i * O / nsl, o1 = (i + 1) * O / nsl;
    S.g = g;
    S.g.out[a] = o1 - o0;
    /* input rows [lo, hi) reach the slice's taps (padding where outside [0, in)) */
    const int64_t lo = o0 * g.s[a] - g.p[a];
    const int64_t hi = (o1 - 1) * g.s[a] - g.p[a] + (g.k[a] - 1) * g.d[a] + 1;
    const int64_t first = std::max<int64_t>(lo, 0);
    S.g.p[a] = first - lo;
    S.g.in[a] = std::max<int64_t>(std::min(g.in[a], hi) - first, 0);
    S.in_off = first * inner_in;
    S.out_off = o0 * inner_out;
  }
  return true;
}

/* The direct path by slices: each task builds its slice's phase planes and computes every output
 * channel of the slice. */
bool direct_sliced(const float *in, const float *weight, const float *bs, float *out, const ConvShape &cs,
                   const float *pre, bool pack_w, int nth, const dash_act_t &act) {
  const Geo3 &g = cs.g;
  std::vector<ConvSlice> sl;
  if (!conv_slices(g, nth, sl)) return false;
  const int64_t nsl = static_cast<int64_t>(sl.size());
  const int64_t Mg = cs.Mg, Kg = cs.Kg, Cg = cs.Cg;
  std::vector<DirectPlan> dp(sl.size());
  size_t max_in = 0;
  for (size_t i = 0; i < sl.size(); ++i) {
    dp[i] = direct_plan(sl[i].g, Cg, Mg, Kg);
    max_in = std::max(max_in, dp[i].in_floats);
  }
  const size_t in_stride = (max_in + 15) / 16 * 16;
  const int64_t Mpad = dp[0].Mpad, cw_stride = Mpad * DIRECT_NB;
  Scratch<float> bufs(static_cast<size_t>(nth) * in_stride);
  Scratch<float> cw(static_cast<size_t>(nth) * static_cast<size_t>(cw_stride));
  Scratch<int64_t> offs(static_cast<size_t>(nth) * static_cast<size_t>(Kg));
  Scratch<float> wpk(static_cast<size_t>(pack_w && !pre ? Mpad * Kg : 1));
  const int64_t in_sp = g.in_sp(), out_sp = g.out_sp();
  for (int64_t gr = 0; gr < cs.G; ++gr) {
    const float *Wg = weight + gr * Mg * Kg;
    const float *apk = nullptr;
    if (pre) {
      apk = pre + gr * cs.floats_per_group;
    } else if (pack_w) {
      pack_direct(Wg, Mg, Kg, dp[0].kcb, Mpad, wpk.get());
      apk = wpk.get();
    }
    for (int64_t b = 0; b < cs.B; ++b) {
      const float *in_g = in + (b * cs.Cin + gr * Cg) * in_sp;
      float *out_g = out + (b * cs.Cout + gr * Mg) * out_sp;
      parallel_for(nsl, nth, [&](int64_t t, int w) {
        const ConvSlice &S = sl[static_cast<size_t>(t)];
        const DirectPlan &d = dp[static_cast<size_t>(t)];
        float *buf = bufs.get() + static_cast<size_t>(w) * in_stride;
        int64_t *off = offs.get() + static_cast<size_t>(w) * static_cast<size_t>(Kg);
        direct_offsets(S.g, d, Kg, off);
        build_phases(in_g + S.in_off, S.g, d, Cg, buf, 1, in_sp);
        const DirectJob J{buf, Wg, apk, off, bs ? bs + gr * Mg : nullptr, out_g + S.out_off, &S.g, &d, Mg, Kg, act,
                          out_sp};
        float *c = cw.get() + static_cast<size_t>(w) * static_cast<size_t>(cw_stride);
        for (int64_t n0 = 0; n0 < d.Nw; n0 += DIRECT_NB) direct_block(J, n0, 0, Mg, c);
      });
    }
  }
  return true;
}

/* The lanes path by slices (packed weights only): each task pads its slice of the input and runs
 * every channel panel over the slice's tiles. Used when the weights are small next to the
 * activations; a layer whose weights dominate (many channels on a tiny map) splits its channel
 * panels instead, so that each thread streams half of them. */
bool lanes_sliced(const float *in, const float *wp_all, const float *bs, float *out, const ConvShape &cs, int nth,
                  const dash_act_t &act) {
  const Geo3 &g = cs.g;
  std::vector<ConvSlice> sl;
  if (!conv_slices(g, nth, sl)) return false;
  const int64_t nsl = static_cast<int64_t>(sl.size());
  const int64_t Mg = cs.Mg, Kg = cs.Kg, Cg = cs.Cg;
  struct Plan {
    Geo3 g1;
    DirectPlan d;
  };
  std::vector<Plan> pl(sl.size());
  size_t max_in = 0;
  for (size_t i = 0; i < sl.size(); ++i) {
    pl[i].g1 = lanes_padded_geo(sl[i].g);
    pl[i].d = direct_plan(pl[i].g1, Cg, Mg, Kg);
    max_in = std::max(max_in, pl[i].d.in_floats);
  }
  const size_t in_stride = (max_in + 15) / 16 * 16;
  Scratch<float> bufs(static_cast<size_t>(nth) * in_stride);
  Scratch<int64_t> offs(static_cast<size_t>(nth) * static_cast<size_t>(Kg));
  const int64_t in_sp = g.in_sp(), out_sp = g.out_sp(), npan = ceil_div(Mg, LN);
  for (int64_t gr = 0; gr < cs.G; ++gr) {
    const float *wp = wp_all + gr * cs.floats_per_group;
    for (int64_t b = 0; b < cs.B; ++b) {
      const float *in_g = in + (b * cs.Cin + gr * Cg) * in_sp;
      float *out_g = out + (b * cs.Cout + gr * Mg) * out_sp;
      parallel_for(nsl, nth, [&](int64_t t, int w) {
        const ConvSlice &S = sl[static_cast<size_t>(t)];
        const Plan &P = pl[static_cast<size_t>(t)];
        float *buf = bufs.get() + static_cast<size_t>(w) * in_stride;
        int64_t *off = offs.get() + static_cast<size_t>(w) * static_cast<size_t>(Kg);
        direct_offsets(P.g1, P.d, Kg, off);
        build_phases(in_g + S.in_off, P.g1, P.d, Cg, buf, 1, in_sp);
        const LanesTiles T(S.g);
        const LanesJob J{buf, wp, off, bs ? bs + gr * Mg : nullptr, out_g + S.out_off, &S.g, &P.d, &T, Mg, Kg, act,
                         out_sp};
        const int64_t ntiles = T.count();
        for (int64_t pan = 0; pan < npan; ++pan)
          for (int64_t tile = 0; tile < ntiles; ++tile) lanes_task(J, pan, tile);
      });
    }
  }
  return true;
}

extern "C" void o2c_conv(const float *in, const float *weight, const float *bias, float *out,
                         const dash_conv_params_t *p) {
  ConvShape cs;
  if (!conv_shape(p, cs, p->packed != nullptr)) return;
  const float *pre = prepacked(p, cs);
  if (!pre && cs.path == PATH_LANES) conv_shape(p, cs, false); /* a buffer of another build */
  const Geo3 &g = cs.g;
  const int64_t B = cs.B, Cin = cs.Cin, Cout = cs.Cout, G = cs.G;
  const float *bs = p->has_bias ? bias : nullptr;
  const int64_t Cg = cs.Cg, Mg = cs.Mg;
  const int64_t in_sp = g.in_sp(), out_sp = g.out_sp();
  const int64_t Kg = cs.Kg;

  if (by_channel_pays(g, G, Cin, Cg, Mg)) {
    conv_by_channel(in, weight, bs, out, g, B, Cin, Cout, G, p->act);
    return;
  }

  if (cs.path == PATH_LANES) {
    const Geo3 g1 = lanes_padded_geo(g);
    DirectPlan d = direct_plan(g1, Cg, Mg, Kg);
    /* 1x1, stride 1, no padding: the padded planes are the input's own planes (read in place;
     * the lanes kernel reads valid positions only) */
    bool in_place = true;
    for (int a = 0; a < 3; ++a) in_place = in_place && g.k[a] == 1 && g.p[a] == 0 && g1.out[a] == g.in[a];
    if (in_place) d.P = in_sp;
    const LanesTiles T(g);
    const int64_t npan = ceil_div(Mg, LN), ntiles = T.count();
    const int nth = threads_for(static_cast<double>(npan * LN) * static_cast<double>(out_sp) * static_cast<double>(Kg));
    /* by slices when the activations outweigh the weights (each thread then reads all the weights) */
    const double w_floats = static_cast<double>(npan * LN) * static_cast<double>(Kg) * static_cast<double>(G);
    const double act_floats = static_cast<double>(B) * static_cast<double>(Cin * in_sp + Cout * out_sp);
    if (nth > 1 && pre && !in_place && w_floats <= 2.0 * act_floats && lanes_sliced(in, pre, bs, out, cs, nth, p->act))
      return;
    /* with threads, each builds the padded input in a buffer of its own, when it takes its first
     * task: reading a buffer the other core wrote costs the broadcasts' scattered loads a
     * cross-core transfer each, copying the input costs one streamed pass */
    const size_t in_stride = in_place ? 1 : (d.in_floats + 15) / 16 * 16;
    Scratch<float> in_p(static_cast<size_t>(nth) * in_stride);
    Scratch<float> wpk(pre ? 1 : lanes_packed_floats(Mg, Kg));
    Scratch<int64_t> off(static_cast<size_t>(Kg));
    direct_offsets(g1, d, Kg, off.get());
    for (int64_t gr = 0; gr < G; ++gr) {
      const float *wp = pre ? pre + gr * cs.floats_per_group : wpk.get();
      if (!pre) pack_lanes(weight + gr * Mg * Kg, Mg, Kg, wpk.get());
      for (int64_t b = 0; b < B; ++b) {
        const float *in_g = in + (b * Cin + gr * Cg) * in_sp;
        LanesJob J{in_place ? in_g : in_p.get(), wp, off.get(), bs ? bs + gr * Mg : nullptr,
                   out + (b * Cout + gr * Mg) * out_sp, &g, &d, &T, Mg, Kg, p->act, out_sp};
        if (nth <= 1 || in_place) {
          if (!in_place) build_phases(in_g, g1, d, Cg, in_p.get(), 1);
          parallel_for(npan * ntiles, nth, [&](int64_t t, int) { lanes_task(J, t / ntiles, t % ntiles); });
          continue;
        }
        bool built[O2C_MAX_THREADS] = {};
        parallel_for(npan * ntiles, nth, [&](int64_t t, int w) {
          LanesJob Jw = J;
          Jw.in_p = in_p.get() + static_cast<size_t>(w) * in_stride;
          if (!built[w]) {
            build_phases(in_g, g1, d, Cg, const_cast<float *>(Jw.in_p), 1);
            built[w] = true;
          }
          lanes_task(Jw, t / ntiles, t % ntiles);
        });
      }
    }
    return;
  }

  if (cs.path == PATH_DIRECT) {
    const DirectPlan d = direct_plan(g, Cg, Mg, Kg);
    /* packing the weights pays when each one meets many output positions; otherwise (small
     * images: 7x7, 14x14) the kernel reads the weight rows in place - unless they come packed */
    const bool pack_w = pre != nullptr || B * d.Nw >= 256;
    const int64_t nblocks = ceil_div(d.Nw, DIRECT_NB);
    const int nth = threads_for(static_cast<double>(d.Mpad) * static_cast<double>(d.Nw) * static_cast<double>(Kg));
    if (nth > 1 && direct_sliced(in, weight, bs, out, cs, pre, pack_w, nth, p->act)) return;
    /* tasks: (block of wide positions, chunk of output channels); channels are split only as far
     * as needed to give every thread a few tasks */
    const Panels P(Mg);
    int64_t pchunk = P.n;
    if (nth > 1 && nblocks < 4 * nth) pchunk = std::max<int64_t>(1, ceil_div(P.n, ceil_div(4 * nth, nblocks)));
    const int64_t nmch = ceil_div(P.n, pchunk);
    Scratch<float> in_p(d.in_floats);
    Scratch<float> cw(static_cast<size_t>(nth) * static_cast<size_t>(d.Mpad * DIRECT_NB));
    Scratch<float> wpk(static_cast<size_t>(pack_w && !pre ? d.Mpad * Kg : 1));
    Scratch<int64_t> off(static_cast<size_t>(Kg));
    direct_offsets(g, d, Kg, off.get());
    for (int64_t gr = 0; gr < G; ++gr) {
      const float *Wg = weight + gr * Mg * Kg;
      const float *apk = nullptr;
      if (pre) {
        apk = pre + gr * cs.floats_per_group;
      } else if (pack_w) {
        pack_direct(Wg, Mg, Kg, d.kcb, d.Mpad, wpk.get());
        apk = wpk.get();
      }
      for (int64_t b = 0; b < B; ++b) {
        build_phases(in + (b * Cin + gr * Cg) * in_sp, g, d, Cg, in_p.get(), nth);
        DirectJob J{in_p.get(), Wg, apk, off.get(), bs ? bs + gr * Mg : nullptr,
                    out + (b * Cout + gr * Mg) * out_sp, &g, &d, Mg, Kg, p->act, out_sp};
        float *cwp = cw.get();
        const int64_t cw_stride = d.Mpad * DIRECT_NB;
        parallel_for(nblocks * nmch, nth, [&](int64_t t, int w) {
          const int64_t nbk = t / nmch, mc = t % nmch;
          const int64_t m0 = P.start(mc * pchunk), m1 = P.start(std::min(P.n, (mc + 1) * pchunk));
          direct_block(J, nbk * DIRECT_NB, m0, m1, cwp + w * cw_stride);
        });
      }
    }
    return;
  }
  Scratch<float> ws(gemm_workspace_floats(Mg, out_sp, Kg));
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t gr = 0; gr < G; ++gr) {
      const float *A = weight + gr * Mg * Kg;
      const float *src = in + (b * Cin + gr * Cg) * in_sp;
      float *C = out + (b * Cout + gr * Mg) * out_sp;
      GemmEpilogue ep;
      ep.bias_kind = bs ? 3 : 0;
      ep.bias = bs ? bs + gr * Mg : nullptr;
      ep.act = p->act;
      Im2col ctx{src, g};
      gemm_driver(Mg, out_sp, Kg, A, Kg, 1, GemmBSource{pack_b_im2col, &ctx}, C, out_sp, ep, ws.get());
    }
  }
}

/*
 * conv_accel.cpp - the convolution accelerator (PE type "conv"):
 *   DASH_CONV_flt_conv     onnx2cedr's multi-channel 1-D/2-D/3-D convolution (stride, dilation,
 *                          padding, groups, bias, fused activation)
 *   DASH_CONV_2D_int_conv  the public one-channel int16 CONV_2D
 * and their estimators DASH_CONV_flt_conv_estimate / DASH_CONV_2D_int_conv_estimate
 * (dash_accel.h): the same cycle / byte model, computed from the parameters alone.
 *
 * DASH_CONV_flt_conv design: an output-stationary array of CONV_PM x CONV_PN MAC PEs; a tile is
 * CONV_PM output channels x CONV_PN consecutive output positions of one output row (along x).
 * For each input row the tile's taps touch (input channel c of the group, kz, ky) the load DMA
 * brings the row segment those CONV_PN outputs read, zero-filled outside the input (padding), into
 * a segment buffer of CONV_SEG_MAX values (longer segments, from huge strides or dilations, are
 * gathered tap by tap instead); a shifter feeds the kx taps from it, one K step per cycle: in that
 * cycle every PE (m, n) does acc[m][n] += w[m][k] * x[k][n], the weight broadcast along the PE
 * row, the input value along the PE column. The weights of the tile's CONV_PM channels stay in a
 * CONV_WBUF weight buffer when they fit (loaded once per channel tile), else they are streamed per
 * tile. Each PE accumulates ONE fused multiply-add chain over k = (c, kz, ky, kx) in order, padding
 * taps included, from +0; the epilogue adds the bias (when there is one) and applies the
 * activation. That is exactly the CPU kernel's contract (kernels/src/cpu/conv.cpp), so the result
 * is bit-identical on every path (1x1, direct, im2col). Depthwise convolutions (groups == in ==
 * out channels) map one channel to each PE row, each row with its own segment buffer, and preload
 * the accumulators with the bias, as the CPU's depthwise loop does.
 *
 * Host emulation: the K loop is the outer loop and the whole PE array's CONV_PM x CONV_PN update
 * is its body (fixed trip counts, unit-stride lanes), so g++ maps the array onto vector registers
 * (with AVX-512, one register per PE row, the weight broadcast from memory); each accumulator
 * still sees its own fused multiply-add chain in k order. Only the PEs that can hold a tile's
 * valid outputs are evaluated, PE columns (positions) or PE rows (channels) on the vector lanes,
 * whichever takes fewer vector operations (narrow maps, few channels). The weight buffer is banked
 * by PE row (k-major), so a K step reads CONV_PM consecutive weights. What the segment buffers and the
 * shifter deliver is served from one layout of the input prepared per call: every input row
 * zero-padded along x and split into stride phases (phase r holds the padded row's values r,
 * r + s, r + 2s, ...), so the CONV_PN values of any tap are consecutive; rows in the padding read
 * a zero row. These layouts change no value; the byte model charges what the hardware moves
 * (segment loads per tile, weights per channel tile or per tile), not what the emulation copies.
 *
 * Cycle model (checked by tests/kernels/test_accel.py):
 *   tiles * (Kg + CONV_PM + CONV_PN) + CONV_EPI + act_depth,  Kg = Cin/groups * prod(kernel),
 *   tiles = (depthwise ? ceil(C/CONV_PM) : groups*ceil(Cout/groups/CONV_PM)) * batch
 *           * out_d * out_h * ceil(out_w / CONV_PN)
 * Bytes: input values actually read (in-bounds elements of every segment / gathered tap, per tile:
 * re-loads across channel tiles included), weights (once per channel tile when resident, else per
 * tile), bias once per channel tile, every output once.
 *
 * DASH_CONV_2D_int_conv design: a line-buffer engine, one output pixel per cycle, over column
 * strips of C2D_STRIP outputs (the strip plus its halo streamed through the line buffer). The
 * window holds up to C2D_TAPS mask taps; larger masks run several passes over tap chunks with
 * double-precision partial sums kept in DRAM. The window sums its valid taps in mask order (i, j)
 * with a chain of double adders (every float x int16 product is exact in double), so the result is
 * bit-identical to the CPU's. out may alias in: the input is then staged in a DRAM copy first.
 * Host emulation: per output row of a strip, tap by tap, the whole row of adder chains advances
 * together (C2D_BLOCK pixels per step) on the line buffer, converted to double once.
 * Cycle model: per strip and pass (H + rows - 1) * (sw + ms - 1) + C2D_DEPTH, rows = mask rows in
 * the pass's tap chunk, sw = strip width. Bytes: in-bounds input pixels of each strip and pass
 * (int16), mask taps (float, once per call when they fit the window, else per strip and pass),
 * partial sums (double) between passes, outputs (int16), the staging copy if any.
 */
#include "accel_common.h"

using namespace o2c::accel;

namespace {

constexpr int64_t CONV_PM = 16;       /* PE rows: output channels per tile                         */
constexpr int64_t CONV_PN = 16;       /* PE columns: consecutive output positions (x) per tile     */
constexpr int64_t CONV_SEG_MAX = 512; /* row-segment buffer (input values) per PE row source       */
constexpr int64_t CONV_WBUF = 65536;  /* weight buffer (floats): a CONV_PM x Kg block stays resident */
constexpr int64_t CONV_EPI = 4;       /* epilogue pipeline (bias add, store)                        */

constexpr int64_t C2D_STRIP = 256;    /* CONV_2D: output columns per strip                          */
constexpr int64_t C2D_TAPS = 256;     /* CONV_2D: mask taps held in the window                      */
constexpr int64_t C2D_DEPTH = 24;     /* CONV_2D: multiply + adder-chain pipeline depth             */
constexpr int64_t C2D_BLOCK = 32;     /* CONV_2D emulation: adder chains advanced together          */

/* geometry with the spatial dims expanded to 3 (leading dims of size 1), as the CPU kernel */
struct Geo3 {
  int64_t in[3], out[3], k[3], s[3], d[3], p[3];
  int64_t in_sp() const { return in[0] * in[1] * in[2]; }
  int64_t out_sp() const { return out[0] * out[1] * out[2]; }
  int64_t k_sp() const { return k[0] * k[1] * k[2]; }
};

bool make_geo(const dash_conv_params_t *p, Geo3 &g) {
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

/* how many of base + n*step (0 <= n < cnt, step >= 1) lie in [0, lim) */
int64_t count_in(int64_t base, int64_t step, int64_t cnt, int64_t lim) {
  if (cnt <= 0 || lim <= 0) return 0;
  const int64_t lo = base >= 0 ? 0 : ceil_div(-base, step);
  const int64_t hi = base > lim - 1 ? 0 : imin(cnt, (lim - 1 - base) / step + 1);
  return imax(0, hi - lo);
}

/* ------------------------------------------------------------------------------------------------
 * DASH_CONV_flt: the call's shape, shared by the implementation and the estimator
 * ---------------------------------------------------------------------------------------------- */
struct ConvPlan {
  Geo3 g;
  int64_t B = 0, Cin = 0, Cout = 0, G = 1, Cg = 0, Mg = 0, Kg = 0, x_tiles = 0;
  bool depthwise = false, bias = false;
  int32_t act_op = DASH_ACT_NONE;
  int64_t n_blocks = 0; /* channel-tile blocks: depthwise ceil(Cin / CONV_PM), else the groups */

  /* output positions tiles per channel tile */
  int64_t tiles() const { return B * g.out[0] * g.out[1] * x_tiles; }
  /* output channel of PE row m in the channel tile (block gl, first row m0) */
  int64_t out_ch(int64_t gl, int64_t m0, int64_t m) const { return depthwise ? gl * CONV_PM + m : gl * Mg + m0 + m; }
  /* every channel tile: f(block, first row, rows) */
  template <class F>
  void for_each_ctile(F f) const {
    for (int64_t gl = 0; gl < n_blocks; ++gl) {
      if (depthwise) {
        f(gl, int64_t(0), imin(CONV_PM, Cin - gl * CONV_PM));
        continue;
      }
      for (int64_t m0 = 0; m0 < Mg; m0 += CONV_PM) f(gl, m0, imin(CONV_PM, Mg - m0));
    }
  }
};

/* false: nothing to compute (the call reports zero cycles and bytes) */
bool conv_plan(const dash_conv_params_t *p, bool has_bias, ConvPlan &pl) {
  if (!make_geo(p, pl.g)) return false;
  pl.B = p->batch;
  pl.Cin = p->in_channels;
  pl.Cout = p->out_channels;
  if (pl.B <= 0 || pl.Cout <= 0 || pl.g.out_sp() <= 0) return false;
  pl.G = p->groups > 0 ? p->groups : 1;
  pl.Cg = pl.Cin / pl.G;
  pl.Mg = pl.Cout / pl.G;
  pl.Kg = pl.Cg * pl.g.k_sp();
  pl.depthwise = pl.Cg == 1 && pl.Mg == 1 && pl.G == pl.Cin;
  pl.x_tiles = ceil_div(pl.g.out[2], CONV_PN);
  pl.n_blocks = pl.depthwise ? ceil_div(pl.Cin, CONV_PM) : pl.G;
  pl.bias = has_bias;
  pl.act_op = p->act.op;
  return true;
}

/* length of the row segment the x tile starting at ox0 with nt positions reads */
inline int64_t seg_length(const Geo3 &g, int64_t nt) { return (nt - 1) * g.s[2] + (g.k[2] - 1) * g.d[2] + 1; }

/* The documented cycle / byte model in closed form: the per-tile counts factor into independent
 * sums over output depth (input planes in bounds), output rows (input rows in bounds) and x tiles
 * (segment values in bounds). */
Account conv_account(const ConvPlan &pl) {
  Account a;
  const Geo3 &g = pl.g;
  int64_t rows_z = 0, rows_y = 0, seg_reads = 0;
  for (int64_t oz = 0; oz < g.out[0]; ++oz) rows_z += count_in(oz * g.s[0] - g.p[0], g.d[0], g.k[0], g.in[0]);
  for (int64_t oy = 0; oy < g.out[1]; ++oy) rows_y += count_in(oy * g.s[1] - g.p[1], g.d[1], g.k[1], g.in[1]);
  for (int64_t xt = 0; xt < pl.x_tiles; ++xt) {
    const int64_t ox0 = xt * CONV_PN, nt = imin(CONV_PN, g.out[2] - ox0);
    const int64_t xs = ox0 * g.s[2] - g.p[2], seg_len = seg_length(g, nt);
    if (seg_len <= CONV_SEG_MAX) {
      seg_reads += count_in(xs, 1, seg_len, g.in[2]);
    } else {
      for (int64_t kx = 0; kx < g.k[2]; ++kx) seg_reads += count_in(xs + kx * g.d[2], g.s[2], nt, g.in[2]);
    }
  }
  /* input values one row source reads over all tiles of a channel tile */
  const uint64_t src_reads = static_cast<uint64_t>(pl.B * rows_z * rows_y * seg_reads * (pl.depthwise ? 1 : pl.Cg));
  const uint64_t tiles = static_cast<uint64_t>(pl.tiles());
  pl.for_each_ctile([&](int64_t, int64_t, int64_t mt) {
    const bool resident = mt * pl.Kg <= CONV_WBUF;
    const uint64_t wbytes = static_cast<uint64_t>(mt * pl.Kg) * 4;
    a.cycles += tiles * static_cast<uint64_t>(pl.Kg + CONV_PM + CONV_PN);
    a.bytes += resident ? wbytes : tiles * wbytes;
    if (pl.bias) a.bytes += static_cast<uint64_t>(mt) * 4;
    a.bytes += src_reads * static_cast<uint64_t>(pl.depthwise ? mt : 1) * 4;
  });
  a.bytes += static_cast<uint64_t>(pl.B * pl.Cout * g.out_sp()) * 4;
  a.cycles += static_cast<uint64_t>(CONV_EPI + act_depth(pl.act_op));
  return a;
}

/* ------------------------------------------------------------------------------------------------
 * The MAC array. rp: one row pointer per (K row, source); a K row is (c, kz, ky), its kw taps are at
 * rp[..] + off[kx], CONV_PN consecutive values each. wt: the weight buffer, CONV_PM weights per K
 * step. Every K step updates the whole array; the emulation evaluates only the PEs that can hold a
 * tile's valid outputs (the first MR PE rows, or the first NR PE columns: idle PEs never affect
 * the others) and puts either the PE columns (positions) or the PE rows (channels) on the host's
 * vector lanes, whichever needs fewer vector operations per K step.
 * ---------------------------------------------------------------------------------------------- */
/* The K rows of a shared-input tile: for each of the group's cg channels (planes plane_stride
 * apart from base), the nkk (kz, ky) rows at rel[e] from the plane, or the zero row (rel[e] < 0). */
struct SharedRows {
  const float *base;
  int64_t cg, plane_stride, nkk;
  const int64_t *rel;
  const float *zero;
};

/* The taps of a shared-input tile in reduction order (channel, kernel row, kernel column): mac(w, x)
 * gets the tap's weight column (CONV_PM lanes) and its input row at the tile's positions. */
template <class Mac>
inline __attribute__((always_inline)) void walk_shared(const SharedRows &rs, const int64_t *off, int64_t kw,
                                                       const float *wt, Mac &&mac) {
  for (int64_t c = 0; c < rs.cg; ++c) {
    const float *plane = rs.base + c * rs.plane_stride;
    for (int64_t e = 0; e < rs.nkk; ++e) {
      const float *row = rs.rel[e] >= 0 ? plane + rs.rel[e] : rs.zero;
      for (int64_t kx = 0; kx < kw; ++kx, wt += CONV_PM) {
        O2C_HLS(HLS PIPELINE II = 1)
        mac(wt, row + off[kx]);
      }
    }
  }
}

/* shared input (one group), positions on lanes: acc[m][n] += w[k][m] * x[k][n], m < MR */
template <int64_t MR>
void mac_shared_pos(const SharedRows &rs, const int64_t *off, int64_t kw, const float *wt, float (*acc)[CONV_PN]) {
  float a[MR][CONV_PN];
  O2C_HLS(HLS ARRAY_PARTITION variable = a complete dim = 0)
  for (int64_t m = 0; m < MR; ++m)
    for (int64_t n = 0; n < CONV_PN; ++n) a[m][n] = acc[m][n];
  walk_shared(rs, off, kw, wt, [&](const float *w, const float *x) __attribute__((always_inline)) {
#pragma GCC unroll 16
    for (int64_t m = 0; m < MR; ++m)
      for (int64_t n = 0; n < CONV_PN; ++n) a[m][n] = fmac(w[m], x[n], a[m][n]);
  });
  for (int64_t m = 0; m < MR; ++m)
    for (int64_t n = 0; n < CONV_PN; ++n) acc[m][n] = a[m][n];
}

/* shared input, channels on lanes: acc[m][n] += w[k][m] * x[k][n], n < NR */
template <int64_t NR>
void mac_shared_ch(const SharedRows &rs, const int64_t *off, int64_t kw, const float *wt, float (*acc)[CONV_PN]) {
  float a[NR][CONV_PM];
  O2C_HLS(HLS ARRAY_PARTITION variable = a complete dim = 0)
  for (int64_t n = 0; n < NR; ++n)
    for (int64_t m = 0; m < CONV_PM; ++m) a[n][m] = acc[m][n];
  walk_shared(rs, off, kw, wt, [&](const float *w, const float *x) __attribute__((always_inline)) {
#pragma GCC unroll 16
    for (int64_t n = 0; n < NR; ++n)
      for (int64_t m = 0; m < CONV_PM; ++m) a[n][m] = fmac(w[m], x[n], a[n][m]);
  });
  for (int64_t n = 0; n < NR; ++n)
    for (int64_t m = 0; m < CONV_PM; ++m) acc[m][n] = a[n][m];
}

/* depthwise: PE row m reads its own channel, rp[r * CONV_PM + m]; positions on lanes, m < MR */
template <int64_t MR>
void mac_own(int64_t rows, const float *const *rp, const int64_t *off, int64_t kw, const float *wt,
             float (*acc)[CONV_PN]) {
  float a[MR][CONV_PN];
  O2C_HLS(HLS ARRAY_PARTITION variable = a complete dim = 0)
  for (int64_t m = 0; m < MR; ++m)
    for (int64_t n = 0; n < CONV_PN; ++n) a[m][n] = acc[m][n];
  for (int64_t r = 0; r < rows; ++r, rp += CONV_PM) {
    for (int64_t kx = 0; kx < kw; ++kx, wt += CONV_PM) {
      O2C_HLS(HLS PIPELINE II = 1)
      const int64_t o = off[kx];
#pragma GCC unroll 16
      for (int64_t m = 0; m < MR; ++m) {
        const float *x = rp[m] + o;
        for (int64_t n = 0; n < CONV_PN; ++n) a[m][n] = fmac(wt[m], x[n], a[m][n]);
      }
    }
  }
  for (int64_t m = 0; m < MR; ++m)
    for (int64_t n = 0; n < CONV_PN; ++n) acc[m][n] = a[m][n];
}

/* one tile's K steps on the PEs that matter: mt active rows, nt active columns */
void mac_array_shared(int64_t mt, int64_t nt, const SharedRows &rs, const int64_t *off, int64_t kw, const float *wt,
                      float (*acc)[CONV_PN]) {
  const int64_t mr = mt <= 4 ? 4 : (mt <= 8 ? 8 : 16);
  const int64_t nr = nt <= 2 ? 2 : (nt <= 4 ? 4 : (nt <= 8 ? 8 : 16));
  if (nr < mr) {
    if (nr == 2)
      mac_shared_ch<2>(rs, off, kw, wt, acc);
    else if (nr == 4)
      mac_shared_ch<4>(rs, off, kw, wt, acc);
    else
      mac_shared_ch<8>(rs, off, kw, wt, acc);
  } else if (mr == 4) {
    mac_shared_pos<4>(rs, off, kw, wt, acc);
  } else if (mr == 8) {
    mac_shared_pos<8>(rs, off, kw, wt, acc);
  } else {
    mac_shared_pos<16>(rs, off, kw, wt, acc);
  }
}

void mac_array_own(int64_t mt, int64_t rows, const float *const *rp, const int64_t *off, int64_t kw, const float *wt,
                   float (*acc)[CONV_PN]) {
  if (mt <= 4)
    mac_own<4>(rows, rp, off, kw, wt, acc);
  else if (mt <= 8)
    mac_own<8>(rows, rp, off, kw, wt, acc);
  else
    mac_own<16>(rows, rp, off, kw, wt, acc);
}

/* ------------------------------------------------------------------------------------------------
 * DASH_CONV_flt emulation
 * ---------------------------------------------------------------------------------------------- */
void conv_run(const ConvPlan &pl, const float *in, const float *weight, const float *bs, float *out,
              const dash_act_t &act) {
  const Geo3 &g = pl.g;
  const int64_t kw = g.k[2], s2 = g.s[2], d2 = g.d[2], W = g.in[2];
  const int64_t out_sp = g.out_sp(), Kg = pl.Kg;
  const int64_t cg = pl.depthwise ? 1 : pl.Cg;
  const int64_t nsrc = pl.depthwise ? CONV_PM : 1;

  /* Input rows as the shifter sees them: zero-padded along x (pad_l in front, enough behind for
   * the last tile's CONV_PN lanes) and split into stride phases of Lp values; a row of the input is
   * row_len = s2 * Lp floats. Tap kx of an x tile starting at xs reads CONV_PN consecutive values
   * of phase (xs + pad_l + kx*d2) % s2 from (xs + pad_l + kx*d2) / s2 on. */
  const int64_t pad_l = imax(0, g.p[2]);
  const int64_t xs_last = (pl.x_tiles - 1) * CONV_PN * s2 - g.p[2];
  const int64_t Wp = pad_l + imax(W, xs_last + seg_length(g, CONV_PN));
  const int64_t Lp = ceil_div(Wp, s2), row_len = s2 * Lp;
  const int64_t n_rows = pl.B * pl.Cin * g.in[0] * g.in[1];
  OnChip<float> rows(static_cast<size_t>(imax(1, n_rows) * row_len));
  for (int64_t q = 0; q < n_rows; ++q) {
    const float *line = in + q * W;
    float *dst = rows.get() + q * row_len;
    for (int64_t u = 0; u < row_len; ++u) dst[u] = 0.0f;
    if (s2 == 1) {
      std::memcpy(dst + pad_l, line, static_cast<size_t>(W) * sizeof(float));
      continue;
    }
    for (int64_t ph = 0; ph < s2; ++ph) {
      /* padded position v = pad_l + ix lands in phase v % s2 at v / s2 */
      float *plane = dst + ph * Lp;
      const int64_t first = ((ph - pad_l) % s2 + s2) % s2; /* smallest ix with (pad_l + ix) % s2 == ph */
      for (int64_t ix = first, j = (pad_l + first) / s2; ix < W; ix += s2, ++j) {
        O2C_HLS(HLS PIPELINE II = 1)
        plane[j] = line[ix];
      }
    }
  }
  OnChip<float> zero_row(static_cast<size_t>(row_len), true);
  OnChip<float> wbuf(static_cast<size_t>(imax(1, Kg) * CONV_PM));
  const int64_t nkk = g.k[0] * g.k[1];
  OnChip<const float *> rp(static_cast<size_t>(pl.depthwise ? imax(1, nkk) * nsrc : 1));
  OnChip<int64_t> rel(static_cast<size_t>(imax(1, nkk)));
  OnChip<int64_t> off(static_cast<size_t>(imax(1, kw)));
  const float *srcs[CONV_PM];
  float acc[CONV_PM][CONV_PN];
  O2C_HLS(HLS ARRAY_PARTITION variable = acc complete dim = 0)
  const int64_t plane_rows = g.in[0] * g.in[1];

  pl.for_each_ctile([&](int64_t gl, int64_t m0, int64_t mt) {
    /* weight buffer, banked by PE row: wbuf[k][m] (rows past mt zero), filled in blocks of
     * CONV_PM x CONV_PM (each channel's weights are contiguous in DRAM) */
    for (int64_t k0 = 0; k0 < Kg; k0 += CONV_PM) {
      const int64_t kb = imin(CONV_PM, Kg - k0);
      float blk[CONV_PM][CONV_PM];
      for (int64_t m = 0; m < CONV_PM; ++m) {
        for (int64_t kk = 0; kk < CONV_PM; ++kk) blk[m][kk] = 0.0f;
        if (m < mt) {
          const float *src = weight + pl.out_ch(gl, m0, m) * Kg + k0;
          for (int64_t kk = 0; kk < kb; ++kk) blk[m][kk] = src[kk];
        }
      }
      float *dst = wbuf.get() + k0 * CONV_PM;
      for (int64_t kk = 0; kk < kb; ++kk) {
        O2C_HLS(HLS PIPELINE II = 1)
        for (int64_t m = 0; m < CONV_PM; ++m) dst[kk * CONV_PM + m] = blk[m][kk];
      }
    }
    for (int64_t b = 0; b < pl.B; ++b) {
      /* the row sources (first padded row of their first channel): depthwise row m reads its own
       * channel, else every row reads the group's Cg channels */
      for (int64_t m = 0; m < CONV_PM; ++m) {
        const bool used = m < nsrc && (!pl.depthwise || m < mt);
        const int64_t c0 = pl.depthwise ? pl.out_ch(gl, m0, m) : gl * pl.Cg;
        srcs[m] = used ? rows.get() + (b * pl.Cin + c0) * plane_rows * row_len : nullptr;
      }
      for (int64_t oz = 0; oz < g.out[0]; ++oz)
        for (int64_t oy = 0; oy < g.out[1]; ++oy)
          for (int64_t xt = 0; xt < pl.x_tiles; ++xt) {
            const int64_t ox0 = xt * CONV_PN, nt = imin(CONV_PN, g.out[2] - ox0);
            const int64_t xp = ox0 * s2 - g.p[2] + pad_l; /* first segment value, padded coordinates */
            for (int64_t kx = 0; kx < kw; ++kx) off[static_cast<size_t>(kx)] = ((xp + kx * d2) % s2) * Lp + (xp + kx * d2) / s2;
            /* the K rows' segments (c, kz, ky): row (kz, ky) of a channel plane, or the zero row in
             * the padding */
            int64_t e = 0;
            for (int64_t kz = 0; kz < g.k[0]; ++kz) {
              const int64_t iz = oz * g.s[0] - g.p[0] + kz * g.d[0];
              for (int64_t ky = 0; ky < g.k[1]; ++ky, ++e) {
                const int64_t iy = oy * g.s[1] - g.p[1] + ky * g.d[1];
                const bool row_in = iz >= 0 && iz < g.in[0] && iy >= 0 && iy < g.in[1];
                rel[static_cast<size_t>(e)] = row_in ? (iz * g.in[1] + iy) * row_len : -1;
              }
            }
            /* accumulators: +0, or the bias on the depthwise path; then the K steps */
            for (int64_t m = 0; m < CONV_PM; ++m) {
              const float init = (pl.depthwise && bs && m < mt) ? bs[pl.out_ch(gl, m0, m)] : 0.0f;
              for (int64_t n = 0; n < CONV_PN; ++n) acc[m][n] = init;
            }
            if (pl.depthwise) {
              for (int64_t r = 0; r < nkk; ++r)
                for (int64_t m = 0; m < CONV_PM; ++m) {
                  const int64_t rr = rel[static_cast<size_t>(r)];
                  rp[static_cast<size_t>(r * CONV_PM + m)] = rr >= 0 && srcs[m] != nullptr ? srcs[m] + rr : zero_row.get();
                }
              mac_array_own(mt, nkk, rp.get(), off.get(), kw, wbuf.get(), acc);
            } else {
              const SharedRows rs{srcs[0], cg, plane_rows * row_len, nkk, rel.get(), zero_row.get()};
              mac_array_shared(mt, nt, rs, off.get(), kw, wbuf.get(), acc);
            }
            /* epilogue (bias, then the activation unit over the whole tile) + store */
            if (!pl.depthwise && bs) {
              for (int64_t m = 0; m < mt; ++m) {
                const float bv = bs[pl.out_ch(gl, m0, m)];
                for (int64_t n = 0; n < CONV_PN; ++n) acc[m][n] = acc[m][n] + bv;
              }
            }
            act_lanes<CONV_PM * CONV_PN>(&acc[0][0], act);
            const int64_t pos0 = (oz * g.out[1] + oy) * g.out[2] + ox0;
            for (int64_t m = 0; m < mt; ++m) {
              float *dst = out + (b * pl.Cout + pl.out_ch(gl, m0, m)) * out_sp + pos0;
              if (nt == CONV_PN) {
                for (int64_t n = 0; n < CONV_PN; ++n) dst[n] = acc[m][n];
              } else {
                for (int64_t n = 0; n < nt; ++n) {
                  O2C_HLS(HLS PIPELINE II = 1)
                  dst[n] = acc[m][n];
                }
              }
            }
          }
    }
  });
}

/* ------------------------------------------------------------------------------------------------
 * CONV_2D (int16, one channel, "same" size, float mask)
 * ---------------------------------------------------------------------------------------------- */
bool c2d_overlap(const dash_re_int_type *src, const dash_re_int_type *dst, int64_t H, int64_t W) {
  const char *sb = reinterpret_cast<const char *>(src), *db = reinterpret_cast<const char *>(dst);
  const size_t nbytes = static_cast<size_t>(H * W) * sizeof(dash_re_int_type);
  return db < sb + nbytes && sb < db + nbytes;
}

Account conv2d_account(int64_t H, int64_t W, int64_t ms, bool staged) {
  Account a;
  if (H <= 0 || W <= 0) return a;
  if (ms <= 0) {
    a.cycles = static_cast<uint64_t>(H * W + C2D_DEPTH);
    a.bytes = static_cast<uint64_t>(H * W) * 2;
    return a;
  }
  if (staged) a.bytes += static_cast<uint64_t>(H * W) * 2 * 2;
  const int64_t h = ms / 2, taps = ms * ms, passes = ceil_div(taps, C2D_TAPS);
  const bool mask_resident = passes == 1;
  if (mask_resident) a.bytes += static_cast<uint64_t>(taps) * 4;
  for (int64_t x0 = 0; x0 < W; x0 += C2D_STRIP) {
    const int64_t sw = imin(C2D_STRIP, W - x0);
    for (int64_t pass = 0; pass < passes; ++pass) {
      const int64_t t0 = pass * C2D_TAPS, tc = imin(C2D_TAPS, taps - t0);
      if (!mask_resident) a.bytes += static_cast<uint64_t>(tc) * 4;
      const int64_t i_first = t0 / ms, i_last = (t0 + tc - 1) / ms, rows = i_last - i_first + 1;
      /* input rows / columns this pass streams (in-bounds part read from DRAM) */
      const int64_t ry0 = imax(0, i_first - h), ry1 = imin(H, H - 1 + i_last - h + 1);
      const int64_t cx0 = imax(0, x0 - h), cx1 = imin(W, x0 + sw - 1 + (ms - 1 - h) + 1);
      a.bytes += static_cast<uint64_t>(imax(0, ry1 - ry0) * imax(0, cx1 - cx0)) * 2;
      a.cycles += static_cast<uint64_t>((H + rows - 1) * (sw + ms - 1) + C2D_DEPTH);
      const int64_t part_bytes = H * sw * 8;
      if (pass > 0) a.bytes += static_cast<uint64_t>(part_bytes);
      if (pass + 1 < passes) a.bytes += static_cast<uint64_t>(part_bytes);
    }
    a.bytes += static_cast<uint64_t>(H * sw) * 2;
  }
  return a;
}

/* C2D_BLOCK adder chains of one output row advance through nv taps (all in bounds), in order */
void c2d_block(int64_t nv, const double *tap_w, const double *const *tap_line, int64_t xb, double *sum_io) {
  constexpr int64_t Q = C2D_BLOCK / 8;
  double a[Q][8];
  O2C_HLS(HLS ARRAY_PARTITION variable = a complete dim = 0)
  for (int64_t q = 0; q < Q; ++q)
    for (int64_t l = 0; l < 8; ++l) a[q][l] = sum_io[q * 8 + l];
  for (int64_t v = 0; v < nv; ++v) {
    O2C_HLS(HLS PIPELINE II = 1)
    const double wv = tap_w[v];
    const double *line = tap_line[v] + xb;
#pragma GCC unroll 4
    for (int64_t q = 0; q < Q; ++q)
      for (int64_t l = 0; l < 8; ++l) a[q][l] += wv * line[q * 8 + l];
  }
  for (int64_t q = 0; q < Q; ++q)
    for (int64_t l = 0; l < 8; ++l) sum_io[q * 8 + l] = a[q][l];
}

void conv2d_run(const dash_re_int_type *src, dash_re_int_type *dst, int64_t H, int64_t W, const float *mask,
                int64_t ms) {
  if (ms <= 0) {
    for (int64_t i = 0; i < H * W; ++i) dst[i] = 0;
    return;
  }
  /* out overlapping in: stage the input in a DRAM copy */
  OnChip<dash_re_int_type> staged(c2d_overlap(src, dst, H, W) ? static_cast<size_t>(H * W) : 0);
  if (c2d_overlap(src, dst, H, W)) {
    std::memcpy(staged.get(), src, static_cast<size_t>(H * W) * sizeof(dash_re_int_type));
    src = staged.get();
  }
  const int64_t h = ms / 2, taps = ms * ms, passes = ceil_div(taps, C2D_TAPS);
  /* line buffer row: strip + halo (rounded up to whole blocks: the emulation's lanes past the strip
   * read, and discard, values there) */
  const int64_t lb_w = ceil_div(imin(C2D_STRIP, W), C2D_BLOCK) * C2D_BLOCK + ms - 1;
  float window[C2D_TAPS];
  O2C_HLS(HLS ARRAY_PARTITION variable = window complete)
  OnChip<double> partial(passes > 1 ? static_cast<size_t>(H * imin(C2D_STRIP, W)) : 1);
  OnChip<double> lines(static_cast<size_t>(H * lb_w), true);
  double tap_w[C2D_TAPS];
  int64_t tap_j[C2D_TAPS];
  const double *tap_line[C2D_TAPS];
  for (int64_t x0 = 0; x0 < W; x0 += C2D_STRIP) {
    const int64_t sw = imin(C2D_STRIP, W - x0);
    /* line buffer: the strip's columns plus halo, lines[y][x - (x0 - h)], in-bounds pixels only */
    const int64_t cx0 = imax(0, x0 - h), cx1 = imin(W, x0 + sw + ms - 1 - h);
    for (int64_t y = 0; y < H; ++y) {
      double *lb = lines.get() + y * lb_w + cx0 - (x0 - h);
      const dash_re_int_type *row = src + y * W + cx0;
      lanes<16>(cx1 - cx0, [&](int64_t i) { lb[i] = row[i]; });
    }
    for (int64_t pass = 0; pass < passes; ++pass) {
      const int64_t t0 = pass * C2D_TAPS, tc = imin(C2D_TAPS, taps - t0);
      for (int64_t t = 0; t < tc; ++t) window[t] = mask[t0 + t];
      /* output x (strip coordinates xl = x - x0) reads column x + j - h: in bounds for every tap of
       * the mask when h <= x < W + h - (ms - 1) */
      const int64_t full_lo = h - x0, full_hi = W + h - (ms - 1) - x0;
      for (int64_t y = 0; y < H; ++y) {
        /* the taps of this pass whose input row is inside the image, in mask order */
        int64_t nv = 0;
        for (int64_t t = 0; t < tc; ++t) {
          const int64_t i = (t0 + t) / ms, j = (t0 + t) % ms, iy = y + i - h;
          if (iy < 0 || iy >= H) continue;
          tap_w[nv] = static_cast<double>(window[t]);
          tap_j[nv] = j;
          tap_line[nv] = lines.get() + iy * lb_w + j; /* tap_line[xl] = in[iy][x0 + xl + j - h] */
          ++nv;
        }
        double *part = partial.get() + y * sw;
        for (int64_t xb = 0; xb < sw; xb += C2D_BLOCK) {
          const int64_t bw = imin(C2D_BLOCK, sw - xb);
          double sum[C2D_BLOCK];
          for (int64_t l = 0; l < C2D_BLOCK; ++l) sum[l] = 0.0;
          if (pass > 0)
            for (int64_t l = 0; l < bw; ++l) sum[l] = part[xb + l];
          if (bw == C2D_BLOCK && xb >= full_lo && xb + C2D_BLOCK <= full_hi) {
            c2d_block(nv, tap_w, tap_line, xb, sum);
          } else {
            /* at the image edge: each chain advances only on its in-bounds taps */
            for (int64_t v = 0; v < nv; ++v) {
              const int64_t j = tap_j[v];
              const int64_t lo = h - j - x0 - xb, hi = imin(bw, W + h - j - x0 - xb);
              const double wv = tap_w[v];
              const double *line = tap_line[v] + xb;
              for (int64_t l = 0; l < C2D_BLOCK; ++l) {
                const double t = sum[l] + wv * line[l];
                sum[l] = (l >= lo && l < hi) ? t : sum[l];
              }
            }
          }
          if (pass + 1 == passes) {
            short o[C2D_BLOCK];
            sat16_lanes<C2D_BLOCK>(sum, o);
            for (int64_t l = 0; l < bw; ++l) dst[y * W + x0 + xb + l] = o[l];
          } else {
            for (int64_t l = 0; l < bw; ++l) part[xb + l] = sum[l];
          }
        }
      }
    }
  }
}

} /* namespace */

extern "C" void DASH_CONV_flt_conv(const float **in_, const float **weight_, const float **bias_, float **out_,
                                   const dash_conv_params_t **p_, uint8_t /*instance*/) {
  const dash_conv_params_t *p = *p_;
  const float *bs = p->has_bias ? *bias_ : nullptr;
  ConvPlan pl;
  if (!conv_plan(p, bs != nullptr, pl)) {
    Account().report();
    return;
  }
  conv_run(pl, *in_, *weight_, bs, *out_, p->act);
  conv_account(pl).report();
}

extern "C" void DASH_CONV_flt_conv_estimate(const float ** /*in*/, const float ** /*weight*/, const float **bias_,
                                            float ** /*out*/, const dash_conv_params_t **p_, uint8_t /*instance*/,
                                            uint64_t *cycles, uint64_t *bytes_moved) {
  const dash_conv_params_t *p = *p_;
  ConvPlan pl;
  const bool ok = conv_plan(p, p->has_bias && *bias_ != nullptr, pl);
  (ok ? conv_account(pl) : Account()).put(cycles, bytes_moved);
}

extern "C" void DASH_CONV_2D_int_conv(dash_re_int_type **in_, int *height, int *width, dash_re_flt_type **mask_,
                                      int *mask_size, dash_re_int_type **out_, uint8_t /*instance*/) {
  const int64_t H = *height, W = *width, ms = *mask_size;
  const Account a = conv2d_account(H, W, ms, ms > 0 && H > 0 && W > 0 && c2d_overlap(*in_, *out_, H, W));
  if (H > 0 && W > 0) conv2d_run(*in_, *out_, H, W, *mask_, ms);
  a.report();
}

extern "C" void DASH_CONV_2D_int_conv_estimate(dash_re_int_type **in_, int *height, int *width,
                                               dash_re_flt_type ** /*mask*/, int *mask_size, dash_re_int_type **out_,
                                               uint8_t /*instance*/, uint64_t *cycles, uint64_t *bytes_moved) {
  const int64_t H = *height, W = *width, ms = *mask_size;
  conv2d_account(H, W, ms, ms > 0 && H > 0 && W > 0 && c2d_overlap(*in_, *out_, H, W)).put(cycles, bytes_moved);
}

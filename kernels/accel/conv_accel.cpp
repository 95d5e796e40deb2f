/*
 * conv_accel.cpp - the convolution accelerator (PE type "conv"):
 *   DASH_CONV_flt_conv     onnx2cedr's multi-channel 1-D/2-D/3-D convolution (stride, dilation,
 *                          padding, groups, bias, fused activation)
 *   DASH_CONV_2D_int_conv  the public one-channel int16 CONV_2D
 *
 * DASH_CONV_flt_conv design: an output-stationary array of CONV_PM x CONV_PN MAC PEs; a tile is
 * CONV_PM output channels x CONV_PN consecutive output positions of one output row (along x).
 * For each input row the tile's taps touch (input channel c of the group, kz, ky) the load DMA
 * brings the row segment those CONV_PN outputs read, zero-filled outside the input (padding), into
 * a segment buffer of CONV_SEG_MAX values (longer segments, from huge strides or dilations, are
 * gathered tap by tap instead); a shifter feeds the kx taps from it, one K step per cycle. The
 * weights of the tile's CONV_PM channels stay in a CONV_WBUF weight buffer when they fit (loaded
 * once per channel tile), else they are streamed per tile. Each PE accumulates ONE fused
 * multiply-add chain over k = (c, kz, ky, kx) in order, padding taps included, from +0; the
 * epilogue adds the bias (when there is one) and applies the activation. That is exactly the CPU
 * kernel's contract (kernels/src/cpu/conv.cpp), so the result is bit-identical on every path (1x1,
 * direct, im2col). Depthwise convolutions (groups == in == out channels) map one channel to each
 * PE row, each row with its own segment buffer, and preload the accumulators with the bias, as the
 * CPU's depthwise loop does.
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
 * Cycle model: per strip and pass (H + rows - 1) * (sw + ms - 1) + C2D_DEPTH, rows = mask rows in
 * the pass's tap chunk, sw = strip width. Bytes: in-bounds input pixels of each strip and pass
 * (int16), mask taps (float, once per call when they fit the window, else per strip and pass),
 * partial sums (double) between passes, outputs (int16), the staging copy if any.
 */
#include "accel_common.h"

#include <vector>

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

/* One PE row's operands: its input channel planes (channel c at in + c*in_sp) and its weights. */
struct RowSrc {
  const float *in;
  const float *w;
};

/* Tile job: rows [0, mt) of the array, output positions (oz, oy, ox0 .. ox0+nt). shared: every row
 * reads the same input (one group) and so the same segments; else (depthwise) each its own. */
struct Tile {
  const RowSrc *rows;
  int64_t mt;
  bool shared;
  int64_t cg; /* input channels per row source */
  int64_t oz, oy, ox0, nt;
};

/* Run one tile: acc[m][n] (preloaded by the caller) += the K chain. Returns input values read. */
int64_t conv_tile(const Tile &t, const Geo3 &g, float (*acc)[CONV_PN], float (*seg)[CONV_SEG_MAX]) {
  O2C_HLS(HLS ARRAY_PARTITION variable = acc complete dim = 0)
  const int64_t in_sp = g.in_sp(), kw = g.k[2];
  const int64_t xs = t.ox0 * g.s[2] - g.p[2];
  const int64_t seg_len = (t.nt - 1) * g.s[2] + (kw - 1) * g.d[2] + 1;
  const bool buffered = seg_len <= CONV_SEG_MAX;
  const int64_t nsrc = t.shared ? 1 : t.mt;
  int64_t reads = 0;
  float xv[CONV_PN];
  O2C_HLS(HLS ARRAY_PARTITION variable = xv complete)
  for (int64_t c = 0; c < t.cg; ++c) {
    for (int64_t kz = 0; kz < g.k[0]; ++kz) {
      const int64_t iz = t.oz * g.s[0] - g.p[0] + kz * g.d[0];
      for (int64_t ky = 0; ky < g.k[1]; ++ky) {
        const int64_t iy = t.oy * g.s[1] - g.p[1] + ky * g.d[1];
        const bool row_in = iz >= 0 && iz < g.in[0] && iy >= 0 && iy < g.in[1];
        const int64_t row_off = c * in_sp + (iz * g.in[1] + iy) * g.in[2];
        /* load: the row segment of every source (in-bounds values from DRAM, zeros elsewhere) */
        if (buffered) {
          for (int64_t s = 0; s < nsrc; ++s) {
            const float *src = t.rows[s].in;
            for (int64_t u = 0; u < CONV_SEG_MAX; ++u) {
              O2C_HLS(HLS PIPELINE II = 1)
              if (u < seg_len) {
                const int64_t ix = xs + u;
                const bool ok = row_in && ix >= 0 && ix < g.in[2];
                seg[s][u] = ok ? src[row_off + ix] : 0.0f;
                reads += ok;
              }
            }
          }
        }
        /* compute: one K step (a kx tap) per cycle */
        const int64_t k_row = ((c * g.k[0] + kz) * g.k[1] + ky) * kw;
        for (int64_t kx = 0; kx < kw; ++kx) {
          for (int64_t s = 0; s < nsrc; ++s) {
            /* the shifter: the tap's value for each of the tile's output positions */
            for (int64_t n = 0; n < CONV_PN; ++n) {
              O2C_HLS(HLS UNROLL)
              const int64_t u = n * g.s[2] + kx * g.d[2];
              if (n >= t.nt) {
                xv[n] = 0.0f;
              } else if (buffered) {
                xv[n] = seg[s][u];
              } else {
                const int64_t ix = xs + u;
                const bool ok = row_in && ix >= 0 && ix < g.in[2];
                xv[n] = ok ? t.rows[s].in[row_off + ix] : 0.0f;
                reads += ok;
              }
            }
            const int64_t m_lo = t.shared ? 0 : s, m_hi = t.shared ? t.mt : s + 1;
            for (int64_t m = m_lo; m < m_hi; ++m) {
              O2C_HLS(HLS UNROLL)
              const float w = t.rows[m].w[k_row + kx];
              for (int64_t n = 0; n < CONV_PN; ++n) {
                O2C_HLS(HLS UNROLL)
                acc[m][n] = fmac(w, xv[n], acc[m][n]);
              }
            }
          }
        }
      }
    }
  }
  return reads;
}

} /* namespace */

extern "C" void DASH_CONV_flt_conv(const float **in_, const float **weight_, const float **bias_, float **out_,
                                   const dash_conv_params_t **p_, uint8_t /*instance*/) {
  const dash_conv_params_t *p = *p_;
  const float *in = *in_, *weight = *weight_;
  float *out = *out_;
  Account acc;
  Geo3 g;
  const int64_t B = p->batch, Cin = p->in_channels, Cout = p->out_channels;
  const int64_t G = p->groups > 0 ? p->groups : 1;
  if (!make_geo(p, g) || B <= 0 || Cout <= 0 || g.out_sp() <= 0) {
    acc.report();
    return;
  }
  const float *bs = p->has_bias ? *bias_ : nullptr;
  const int64_t Cg = Cin / G, Mg = Cout / G;
  const int64_t in_sp = g.in_sp(), out_sp = g.out_sp(), ksz = g.k_sp(), Kg = Cg * ksz;
  const bool depthwise = Cg == 1 && Mg == 1 && G == Cin;
  const int64_t x_tiles = ceil_div(g.out[2], CONV_PN);

  OnChip<float> wbuf(static_cast<size_t>(CONV_WBUF));
  float accs[CONV_PM][CONV_PN];
  float seg[CONV_PM][CONV_SEG_MAX];
  RowSrc rows[CONV_PM];

  /* channel tiles: (group, first output channel of the group, rows); depthwise: PM channels */
  const int64_t n_groups_loop = depthwise ? ceil_div(Cin, CONV_PM) : G;
  for (int64_t gl = 0; gl < n_groups_loop; ++gl) {
    const int64_t m_count = depthwise ? imin(CONV_PM, Cin - gl * CONV_PM) : Mg;
    for (int64_t m0 = 0; m0 < m_count; m0 += CONV_PM) {
      const int64_t mt = depthwise ? m_count : imin(CONV_PM, Mg - m0);
      /* output channel of row m */
      auto out_ch = [&](int64_t m) { return depthwise ? gl * CONV_PM + m : gl * Mg + m0 + m; };
      /* weights: resident in the weight buffer when the block fits, else streamed per tile */
      const bool w_resident = mt * Kg <= CONV_WBUF;
      if (w_resident) {
        for (int64_t m = 0; m < mt; ++m)
          for (int64_t k = 0; k < Kg; ++k) {
            O2C_HLS(HLS PIPELINE II = 1)
            wbuf[static_cast<size_t>(m * Kg + k)] = weight[out_ch(m) * Kg + k];
          }
        acc.bytes += static_cast<uint64_t>(mt * Kg) * 4;
      }
      if (bs) acc.bytes += static_cast<uint64_t>(mt) * 4;
      for (int64_t m = 0; m < mt; ++m)
        rows[m].w = w_resident ? wbuf.get() + m * Kg : weight + out_ch(m) * Kg;

      for (int64_t b = 0; b < B; ++b) {
        for (int64_t m = 0; m < mt; ++m) {
          /* depthwise: row m reads its own channel; else the group's Cg channels */
          const int64_t c0 = depthwise ? out_ch(m) : gl * Cg;
          rows[m].in = in + (b * Cin + c0) * in_sp;
        }
        for (int64_t oz = 0; oz < g.out[0]; ++oz)
          for (int64_t oy = 0; oy < g.out[1]; ++oy)
            for (int64_t xt = 0; xt < x_tiles; ++xt) {
              const int64_t ox0 = xt * CONV_PN, nt = imin(CONV_PN, g.out[2] - ox0);
              /* accumulators: +0, or the bias on the depthwise path */
              for (int64_t m = 0; m < CONV_PM; ++m)
                for (int64_t n = 0; n < CONV_PN; ++n)
                  accs[m][n] = (depthwise && bs && m < mt) ? bs[out_ch(m)] : 0.0f;
              const Tile t{rows, mt, !depthwise, depthwise ? 1 : Cg, oz, oy, ox0, nt};
              const int64_t reads = conv_tile(t, g, accs, seg);
              acc.bytes += static_cast<uint64_t>(reads) * 4;
              if (!w_resident) acc.bytes += static_cast<uint64_t>(mt * Kg) * 4;
              acc.cycles += static_cast<uint64_t>(Kg + CONV_PM + CONV_PN);
              /* epilogue + store */
              const int64_t pos0 = (oz * g.out[1] + oy) * g.out[2] + ox0;
              for (int64_t m = 0; m < mt; ++m) {
                const int64_t oc = out_ch(m);
                float *dst = out + (b * Cout + oc) * out_sp + pos0;
                for (int64_t n = 0; n < nt; ++n) {
                  O2C_HLS(HLS PIPELINE II = 1)
                  float v = accs[m][n];
                  if (!depthwise && bs) v = v + bs[oc];
                  dst[n] = act_unit(v, p->act);
                }
              }
            }
      }
      if (depthwise) break; /* one tile of channels per gl */
    }
  }
  acc.bytes += static_cast<uint64_t>(B * Cout * out_sp) * 4;
  acc.cycles += static_cast<uint64_t>(CONV_EPI + act_depth(p->act.op));
  acc.report();
}

/* ------------------------------------------------------------------------------------------------
 * CONV_2D (int16, one channel, "same" size, float mask)
 * ---------------------------------------------------------------------------------------------- */
extern "C" void DASH_CONV_2D_int_conv(dash_re_int_type **in_, int *height, int *width, dash_re_flt_type **mask_,
                                      int *mask_size, dash_re_int_type **out_, uint8_t /*instance*/) {
  const int64_t H = *height, W = *width, ms = *mask_size;
  Account acc;
  if (H <= 0 || W <= 0) {
    acc.report();
    return;
  }
  const dash_re_int_type *src = *in_;
  dash_re_int_type *dst = *out_;
  const float *mask = *mask_;
  if (ms <= 0) {
    for (int64_t i = 0; i < H * W; ++i) dst[i] = 0;
    acc.cycles = static_cast<uint64_t>(H * W + C2D_DEPTH);
    acc.bytes = static_cast<uint64_t>(H * W) * 2;
    acc.report();
    return;
  }
  /* out overlapping in: stage the input in a DRAM copy */
  std::vector<dash_re_int_type> staged;
  const char *sb = reinterpret_cast<const char *>(src), *db = reinterpret_cast<const char *>(dst);
  const size_t nbytes = static_cast<size_t>(H * W) * sizeof(dash_re_int_type);
  if (db < sb + nbytes && sb < db + nbytes) {
    staged.assign(src, src + H * W);
    src = staged.data();
    acc.bytes += static_cast<uint64_t>(2 * nbytes);
  }
  const int64_t h = ms / 2, taps = ms * ms, passes = ceil_div(taps, C2D_TAPS);
  const bool mask_resident = passes == 1;
  float window[C2D_TAPS];
  O2C_HLS(HLS ARRAY_PARTITION variable = window complete)
  std::vector<double> partial(passes > 1 ? static_cast<size_t>(H * imin(C2D_STRIP, W)) : 1);
  if (mask_resident) {
    for (int64_t t = 0; t < taps; ++t) window[t] = mask[t];
    acc.bytes += static_cast<uint64_t>(taps) * 4;
  }
  for (int64_t x0 = 0; x0 < W; x0 += C2D_STRIP) {
    const int64_t sw = imin(C2D_STRIP, W - x0);
    for (int64_t pass = 0; pass < passes; ++pass) {
      const int64_t t0 = pass * C2D_TAPS, tc = imin(C2D_TAPS, taps - t0);
      if (!mask_resident) {
        for (int64_t t = 0; t < tc; ++t) window[t] = mask[t0 + t];
        acc.bytes += static_cast<uint64_t>(tc) * 4;
      }
      const int64_t i_first = t0 / ms, i_last = (t0 + tc - 1) / ms, rows = i_last - i_first + 1;
      /* input rows / columns this pass streams (in-bounds part read from DRAM) */
      const int64_t ry0 = imax(0, i_first - h), ry1 = imin(H, H - 1 + i_last - h + 1);
      const int64_t cx0 = imax(0, x0 - h), cx1 = imin(W, x0 + sw - 1 + (ms - 1 - h) + 1);
      acc.bytes += static_cast<uint64_t>(imax(0, ry1 - ry0) * imax(0, cx1 - cx0)) * 2;
      acc.cycles += static_cast<uint64_t>((H + rows - 1) * (sw + ms - 1) + C2D_DEPTH);
      for (int64_t y = 0; y < H; ++y) {
        for (int64_t x = x0; x < x0 + sw; ++x) {
          O2C_HLS(HLS PIPELINE II = 1)
          double sum = pass == 0 ? 0.0 : partial[static_cast<size_t>(y * sw + (x - x0))];
          for (int64_t t = 0; t < C2D_TAPS; ++t) {
            O2C_HLS(HLS UNROLL)
            if (t < tc) {
              const int64_t i = (t0 + t) / ms, j = (t0 + t) % ms;
              const int64_t iy = y + i - h, ix = x + j - h;
              if (iy >= 0 && iy < H && ix >= 0 && ix < W)
                sum += static_cast<double>(window[t]) * static_cast<double>(src[iy * W + ix]);
            }
          }
          if (pass + 1 == passes)
            dst[y * W + x] = sat16(sum);
          else
            partial[static_cast<size_t>(y * sw + (x - x0))] = sum;
        }
      }
      const int64_t part_bytes = H * sw * 8;
      if (pass > 0) acc.bytes += static_cast<uint64_t>(part_bytes);
      if (pass + 1 < passes) acc.bytes += static_cast<uint64_t>(part_bytes);
    }
    acc.bytes += static_cast<uint64_t>(H * sw) * 2;
  }
  acc.report();
}

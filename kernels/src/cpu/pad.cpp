/*
 * pad.cpp - o2c_pad: constant / reflect / edge / wrap padding; negative pads crop. o2c_pad_typed: the
 * same for elements of any type (copied as 1-, 2-, 4- or 8-byte units; the constant given by pointer).
 * Negative pads crop first (as onnxruntime does); then out index o along axis d reads index
 * o - max(pad_begin[d], 0) of the cropped axis, mapped into range by the mode (reflect mirrors
 * without repeating the edge element, like numpy's "reflect"; wrap is periodic).
 */
#include "internal.h"

#include <vector>

using namespace o2c::detail;

namespace {

int64_t map_index(int64_t i, int64_t n, int mode) {
  if (i >= 0 && i < n) return i;
  if (n <= 0) return -1;
  switch (mode) {
    case O2C_PAD_REFLECT: {
      if (n == 1) return 0;
      const int64_t period = 2 * (n - 1);
      int64_t r = i % period;
      if (r < 0) r += period;
      return r < n ? r : period - r;
    }
    case O2C_PAD_EDGE: return i < 0 ? 0 : n - 1;
    case O2C_PAD_WRAP: {
      int64_t r = i % n;
      return r < 0 ? r + n : r;
    }
    default: return -1; /* constant */
  }
}

/* the unsigned type of N bytes: elements are blended as bits */
template <size_t N>
struct Bits;
template <>
struct Bits<1> {
  using type = uint8_t;
};
template <>
struct Bits<2> {
  using type = uint16_t;
};
template <>
struct Bits<4> {
  using type = uint32_t;
};
template <>
struct Bits<8> {
  using type = uint64_t;
};

/* The output is written strictly in increasing address order, row by row, as runs of the
 * constant and copies of input runs. Small maps with many channels have rows of a few elements,
 * where per-element index arithmetic or a memcpy call per run would dominate: a short run is
 * instead written in fixed chunks of 32 bytes (one vector load/store each, whatever the compiler
 * targets) that may spill up to a chunk past the run's end. The spill only lands on positions of
 * later runs, which are written afterwards; chunks are used only where they stay inside the
 * output (and, for copies, inside the input). */
template <class E>
constexpr int64_t kChunk = 32 / sizeof(E);

template <class E>
inline int64_t chunks_of(int64_t n) {
  return (n + kChunk<E> - 1) / kChunk<E> * kChunk<E>;
}

template <class E>
inline E *fill_run(E *p, int64_t n, E value, const E *out_end) {
  if (p + chunks_of<E>(n) <= out_end) {
    for (int64_t k = 0; k < n; k += kChunk<E>)
      for (int64_t j = 0; j < kChunk<E>; ++j) p[k + j] = value;
  } else {
    for (int64_t k = 0; k < n; ++k) p[k] = value;
  }
  return p + n;
}

template <class E>
inline E *copy_run(E *p, const E *src, int64_t n, const E *out_end, const E *in_end) {
  const int64_t r = chunks_of<E>(n);
  if (n >= 8 * kChunk<E>) {
    std::memcpy(p, src, static_cast<size_t>(n) * sizeof(E));
  } else if (p + r <= out_end && src + r <= in_end) {
    for (int64_t k = 0; k < n; k += kChunk<E>) std::memcpy(p + k, src + k, kChunk<E> * sizeof(E));
  } else {
    for (int64_t k = 0; k < n; ++k) p[k] = src[k];
  }
  return p + n;
}

/* The output rows in order with the input offset of each (-1: a row of the constant): planes
 * over the axes above the last two, each a loop over the rows of the second-last axis. The plane
 * axes that are not padded merge into one (the channels of a feature map), so that small planes
 * cost a few operations each rather than an index computation over every axis. */
struct RowWalk {
  int np = 0;                    /* plane axes after merging */
  int64_t shape[DASH_MAX_RANK];  /* their output sizes */
  int64_t stride[DASH_MAX_RANK]; /* their input strides */
  const int64_t *map[DASH_MAX_RANK]; /* their maps (nullptr: identity) */
  int64_t nrows = 1, row_stride = 0;
  const int64_t *row_map = zero_; /* the second-last axis's map (rank 1: one row) */
  int64_t row_lo = 0, row_hi = 0; /* the smallest and largest input row it reads (-1: none) */
  static constexpr int64_t zero_[1] = {0};

  RowWalk(int rank, const int64_t *in_shape, const int64_t *out_shape, const int64_t *pad_begin,
          const std::vector<int64_t> *maps, const int64_t *in_stride) {
    for (int d = 0; d < rank - 2; ++d) {
      const bool ident = in_shape[d] == out_shape[d] && pad_begin[d] == 0;
      if (ident && np > 0 && map[np - 1] == nullptr) {
        /* (i, j) of two identity axes is i * in + j of the merged one */
        shape[np - 1] *= out_shape[d];
        stride[np - 1] = in_stride[d];
        continue;
      }
      shape[np] = out_shape[d];
      stride[np] = in_stride[d];
      map[np] = ident ? nullptr : maps[d].data();
      ++np;
    }
    if (rank >= 2) {
      nrows = out_shape[rank - 2];
      row_stride = in_stride[rank - 2];
      row_map = maps[rank - 2].data();
    }
    row_lo = row_hi = -1;
    for (int64_t r = 0; r < nrows; ++r) {
      if (row_map[r] < 0) continue;
      row_lo = row_lo < 0 ? row_map[r] : std::min(row_lo, row_map[r]);
      row_hi = std::max(row_hi, row_map[r]);
    }
  }

  /* f(offset of the plane's input, -1: a plane of the constant) for every plane in order */
  template <class F>
  void planes(F &&f) const {
    int64_t count = 1;
    for (int e = 0; e < np; ++e) count *= shape[e];
    int64_t idx[DASH_MAX_RANK] = {0};
    for (int64_t pl = 0; pl < count; ++pl) {
      int64_t off = 0;
      for (int e = 0; e < np && off >= 0; ++e) {
        const int64_t m = map[e] ? map[e][idx[e]] : idx[e];
        off = m < 0 ? -1 : off + m * stride[e];
      }
      f(off);
      for (int e = np - 1; e >= 0; --e) {
        if (++idx[e] < shape[e]) break;
        idx[e] = 0;
      }
    }
  }
  /* f(offset of the row's input, -1: a row of the constant) for every output row in order */
  template <class F>
  void rows(F &&f) const {
    planes([&](int64_t off) {
      for (int64_t r = 0; r < nrows; ++r)
        f(off < 0 || row_map[r] < 0 ? int64_t(-1) : off + row_map[r] * row_stride);
    });
  }
};

/* E: a type of the element's size (the values are only copied); value: the constant */
template <class E>
void pad(const E *in, E *out, E value, const o2c_pad_params_t *p) {
  const int rank = p->rank;
  if (rank < 0 || rank > DASH_MAX_RANK) return;
  int64_t total = 1, total_in = 1;
  for (int d = 0; d < rank; ++d) {
    total *= p->out_shape[d];
    total_in *= p->in_shape[d];
  }
  if (total <= 0) return;
  if (rank == 0) {
    out[0] = in[0];
    return;
  }
  /* per-axis maps from output to input index (-1: the constant) */
  std::vector<int64_t> maps[DASH_MAX_RANK];
  int64_t in_stride[DASH_MAX_RANK];
  int64_t st = 1;
  for (int d = rank - 1; d >= 0; --d) {
    in_stride[d] = st;
    st *= p->in_shape[d];
  }
  /* the last axis: outputs [a, a + n) read the input run [lo, lo + n) in order */
  int64_t a = 0, n = 0, lo = 0;
  for (int d = 0; d < rank; ++d) {
    /* negative pads crop first; the modes then work on the cropped range [clo, chi) */
    const int64_t pb = p->pad_begin[d], pe = p->out_shape[d] - p->in_shape[d] - pb;
    const int64_t clo = std::max<int64_t>(0, -pb), chi = p->in_shape[d] - std::max<int64_t>(0, -pe);
    const int64_t cn = chi - clo, shift = std::max<int64_t>(0, pb);
    maps[d].resize(static_cast<size_t>(p->out_shape[d]));
    for (int64_t o = 0; o < p->out_shape[d]; ++o) {
      const int64_t m = map_index(o - shift, cn, p->mode);
      maps[d][static_cast<size_t>(o)] = m < 0 ? -1 : clo + m;
    }
    if (d == rank - 1) {
      a = std::min(shift, p->out_shape[d]);
      n = std::max<int64_t>(0, std::min(cn, p->out_shape[d] - a));
      lo = clo;
    }
  }
  const int64_t len = p->out_shape[rank - 1];
  const RowWalk walk(rank, p->in_shape, p->out_shape, p->pad_begin, maps, in_stride);
  const E *in_end = total_in > 0 ? in + total_in : in;
  const E *out_end = out + total;
  E *o = out;
  if (p->mode == O2C_PAD_CONSTANT && len <= kChunk<E>) {
    /* rows of at most one chunk (small maps): a row is one chunk loaded from the input around
     * its run and blended with the constant as bits (vector and/or), stored whole (its spill is
     * overwritten by the next rows) */
    using U = typename Bits<sizeof(E)>::type;
    U keep[kChunk<E>], vbits;
    std::memcpy(&vbits, &value, sizeof(E));
    for (int64_t j = 0; j < kChunk<E>; ++j) keep[j] = j >= a && j < a + n ? ~U(0) : U(0);
    auto blend = [&](E *dst, const E *src) {
      U t[kChunk<E>];
      std::memcpy(t, src, sizeof(t));
      for (int64_t j = 0; j < kChunk<E>; ++j) t[j] = (t[j] & keep[j]) | (vbits & ~keep[j]);
      /* stored as E (not by memcpy, which may alias the loop's state and force reloads) */
      E res[kChunk<E>];
      std::memcpy(res, t, sizeof(t));
      for (int64_t j = 0; j < kChunk<E>; ++j) dst[j] = res[j];
    };
    auto row = [&](int64_t row_in) {
      const int64_t off = row_in + lo - a; /* input offset of the row's chunk */
      const bool inside = o + kChunk<E> <= out_end;
      if (row_in < 0 || n == 0) {
        if (inside) {
          for (int64_t j = 0; j < kChunk<E>; ++j) o[j] = value;
        } else {
          for (int64_t j = 0; j < len; ++j) o[j] = value;
        }
      } else if (inside && off >= 0 && off + kChunk<E> <= total_in) {
        blend(o, in + off);
      } else {
        const E *src = in + row_in + lo;
        for (int64_t j = 0; j < len; ++j) o[j] = keep[j] ? src[j - a] : value;
      }
      o += len;
    };
    const int64_t nrows = walk.nrows, rs = walk.row_stride;
    const int64_t *rmap = walk.row_map;
    walk.planes([&](int64_t poff) {
      /* a plane whose chunks all stay inside the input and output: no checks per row */
      const bool safe = poff >= 0 && n > 0 && walk.row_lo >= 0 && o + nrows * len + kChunk<E> <= out_end &&
                        poff + walk.row_lo * rs + lo - a >= 0 && poff + walk.row_hi * rs + lo - a + kChunk<E> <= total_in;
      if (!safe) {
        for (int64_t r = 0; r < nrows; ++r) row(poff < 0 || rmap[r] < 0 ? int64_t(-1) : poff + rmap[r] * rs);
        return;
      }
      const E *src = in + (poff + lo - a);
      for (int64_t r = 0; r < nrows; ++r, o += len) {
        if (rmap[r] < 0) {
          for (int64_t j = 0; j < kChunk<E>; ++j) o[j] = value;
        } else {
          blend(o, src + rmap[r] * rs);
        }
      }
    });
    return;
  }
  if (p->mode == O2C_PAD_CONSTANT) {
    /* constant runs between copies merge: the end of a row, constant rows and the start of the
     * next row are written as one run */
    int64_t pending = 0;
    walk.rows([&](int64_t row_in) {
      if (row_in < 0 || n == 0) {
        pending += len;
        return;
      }
      pending += a;
      if (pending > 0) o = fill_run(o, pending, value, out_end);
      o = copy_run(o, in + row_in + lo, n, out_end, in_end);
      pending = len - a - n;
    });
    if (pending > 0) fill_run(o, pending, value, out_end);
    return;
  }
  /* reflect / edge / wrap: the ends of a row read their mirrored or repeated elements */
  const int64_t *mlast = maps[rank - 1].data();
  walk.rows([&](int64_t row_in) {
    if (row_in < 0) {
      for (int64_t i = 0; i < len; ++i) o[i] = value;
    } else {
      const E *irow = in + row_in;
      for (int64_t i = 0; i < a; ++i) o[i] = mlast[i] >= 0 ? irow[mlast[i]] : value;
      copy_run(o + a, irow + lo, n, out_end, in_end);
      for (int64_t i = a + n; i < len; ++i) o[i] = mlast[i] >= 0 ? irow[mlast[i]] : value;
    }
    o += len;
  });
}

template <class E>
void pad_bytes(const void *in, const void *value, void *out, const o2c_pad_params_t *p) {
  E v{};
  if (value) std::memcpy(&v, value, sizeof(E));
  pad(static_cast<const E *>(in), static_cast<E *>(out), v, p);
}

} /* namespace */

extern "C" void o2c_pad(const float *in, float *out, const o2c_pad_params_t *p) { pad(in, out, p->value, p); }

extern "C" void o2c_pad_typed(const void *in, const void *value, void *out, const o2c_pad_typed_params_t *p) {
  switch (p->elem_size) {
    case 1: pad_bytes<uint8_t>(in, value, out, &p->pad); break;
    case 2: pad_bytes<uint16_t>(in, value, out, &p->pad); break;
    case 4: pad_bytes<uint32_t>(in, value, out, &p->pad); break;
    case 8: pad_bytes<uint64_t>(in, value, out, &p->pad); break;
    default:
      std::fprintf(stderr, "onnx2cedr kernel: padding elements of %d bytes is not supported\n", int(p->elem_size));
      std::abort();
  }
}

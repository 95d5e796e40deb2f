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

/* E: a type of the element's size (the values are only copied); value: the constant */
template <class E>
void pad(const E *in, E *out, E value, const o2c_pad_params_t *p) {
  const int rank = p->rank;
  if (rank < 0 || rank > DASH_MAX_RANK) return;
  int64_t total = 1;
  for (int d = 0; d < rank; ++d) total *= p->out_shape[d];
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
  for (int d = 0; d < rank; ++d) {
    /* negative pads crop first; the modes then work on the cropped range [lo, hi) */
    const int64_t pb = p->pad_begin[d], pe = p->out_shape[d] - p->in_shape[d] - pb;
    const int64_t lo = std::max<int64_t>(0, -pb), hi = p->in_shape[d] - std::max<int64_t>(0, -pe);
    const int64_t n = hi - lo, shift = std::max<int64_t>(0, pb);
    maps[d].resize(static_cast<size_t>(p->out_shape[d]));
    for (int64_t o = 0; o < p->out_shape[d]; ++o) {
      const int64_t m = map_index(o - shift, n, p->mode);
      maps[d][static_cast<size_t>(o)] = m < 0 ? -1 : lo + m;
    }
  }
  const int64_t n = p->out_shape[rank - 1];
  const int64_t *mlast = maps[rank - 1].data();
  Odometer od;
  const int64_t rows = od.outer_of(rank, p->out_shape);
  for (int64_t r = 0; r < rows; ++r) {
    E *o = out + r * n;
    bool constant_row = false;
    int64_t off = 0;
    for (int d = 0; d < rank - 1; ++d) {
      const int64_t m = maps[d][static_cast<size_t>(od.idx[d])];
      if (m < 0) {
        constant_row = true;
        break;
      }
      off += m * in_stride[d];
    }
    if (constant_row) {
      for (int64_t i = 0; i < n; ++i) o[i] = value;
    } else {
      const E *irow = in + off;
      for (int64_t i = 0; i < n; ++i) {
        const int64_t m = mlast[i];
        o[i] = m >= 0 ? irow[m] : value;
      }
    }
    if (od.next() < 0) break;
  }
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

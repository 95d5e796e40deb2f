/*
 * copy.cpp - o2c_copy (strided N-d copy, any element size, negative source strides allowed)
 * and o2c_fill.
 */
#include "internal.h"

using namespace o2c::detail;

namespace {

template <typename T>
void copy_impl(const char *src, char *dst, int rank, const int64_t *shape, const int64_t *ss, const int64_t *ds) {
  const T *s0 = reinterpret_cast<const T *>(src);
  T *d0 = reinterpret_cast<T *>(dst);
  if (rank == 0) {
    std::memcpy(d0, s0, sizeof(T));
    return;
  }
  const int64_t n = shape[rank - 1], is = ss[rank - 1], id = ds[rank - 1];
  Odometer od;
  const int64_t rows = od.outer_of(rank, shape);
  int64_t so = 0, dof = 0;
  for (int64_t r = 0; r < rows; ++r) {
    const T *s = s0 + so;
    T *d = d0 + dof;
    if (is == 1 && id == 1) {
      std::memcpy(d, s, static_cast<size_t>(n) * sizeof(T));
    } else if (id == 1) {
      for (int64_t i = 0; i < n; ++i) d[i] = s[i * is];
    } else {
      for (int64_t i = 0; i < n; ++i) d[i * id] = s[i * is];
    }
    const int dd = od.next();
    if (dd < 0) break;
    so += ss[dd];
    dof += ds[dd];
    for (int e = dd + 1; e < rank - 1; ++e) {
      so -= ss[e] * (shape[e] - 1);
      dof -= ds[e] * (shape[e] - 1);
    }
  }
}

} /* namespace */

extern "C" void o2c_copy(const void *src, void *dst, const o2c_copy_params_t *p) {
  if (p->rank < 0 || p->rank > DASH_MAX_RANK) return;
  int64_t shape[DASH_MAX_RANK], ss[DASH_MAX_RANK], ds[DASH_MAX_RANK];
  int rank = 0;
  for (int d = 0; d < p->rank; ++d) {
    const int64_t n = p->shape[d];
    if (n <= 0) return;
    if (n == 1) continue;
    if (rank > 0 && ss[rank - 1] == p->src_stride[d] * n && ds[rank - 1] == p->dst_stride[d] * n) {
      shape[rank - 1] *= n;
      ss[rank - 1] = p->src_stride[d];
      ds[rank - 1] = p->dst_stride[d];
      continue;
    }
    shape[rank] = n;
    ss[rank] = p->src_stride[d];
    ds[rank] = p->dst_stride[d];
    ++rank;
  }
  const int64_t es = p->elem_size;
  const char *s = static_cast<const char *>(src) + p->src_offset * es;
  char *d = static_cast<char *>(dst);
  switch (es) {
    case 1: copy_impl<uint8_t>(s, d, rank, shape, ss, ds); break;
    case 2: copy_impl<uint16_t>(s, d, rank, shape, ss, ds); break;
    case 4: copy_impl<uint32_t>(s, d, rank, shape, ss, ds); break;
    case 8: copy_impl<uint64_t>(s, d, rank, shape, ss, ds); break;
    default: break;
  }
}

extern "C" void o2c_fill(void *dst, int64_t n, int32_t elem_size, const void *value) {
  if (n <= 0) return;
  char *d = static_cast<char *>(dst);
  switch (elem_size) {
    case 1: std::memset(d, *static_cast<const uint8_t *>(value), static_cast<size_t>(n)); break;
    case 2: {
      uint16_t v;
      std::memcpy(&v, value, 2);
      uint16_t *t = reinterpret_cast<uint16_t *>(d);
      for (int64_t i = 0; i < n; ++i) t[i] = v;
      break;
    }
    case 4: {
      uint32_t v;
      std::memcpy(&v, value, 4);
      uint32_t *t = reinterpret_cast<uint32_t *>(d);
      for (int64_t i = 0; i < n; ++i) t[i] = v;
      break;
    }
    case 8: {
      uint64_t v;
      std::memcpy(&v, value, 8);
      uint64_t *t = reinterpret_cast<uint64_t *>(d);
      for (int64_t i = 0; i < n; ++i) t[i] = v;
      break;
    }
    default: {
      if (elem_size <= 0) return;
      for (int64_t i = 0; i < n; ++i) std::memcpy(d + i * elem_size, value, static_cast<size_t>(elem_size));
      break;
    }
  }
}

extern "C" void o2c_select(const uint8_t *cond, const void *a, const void *b, void *out, const o2c_select_params_t *p) {
  const void *src = *cond ? a : b;
  if (src != out && p->bytes > 0) std::memmove(out, src, static_cast<size_t>(p->bytes));
}

/*
 * bounded.cpp - kernels whose output has a dimension known only at run time (o2c_typed.h, "bounded"):
 * NonZero, NonMaxSuppression, Unique and TopK with a run-time k; and a 2-D Transpose of such a value. Each writes the actual extent, then
 * the data dense in the actual shape, or nothing more when the extent is over the buffers' cap.
 */
#include "o2c_typed.h"

#include "floatx.h"
#include "typed_dispatch.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <numeric>
#include <vector>

namespace {

using namespace o2c::floatx;  // f16, bf16, Tr<T>


struct Corners {
  float y1, x1, y2, x2, area;
};

Corners corners(const float *b, bool center) {
  Corners c;
  if (center) {  // [x_center, y_center, width, height]
    const float hw = b[2] / 2.0f, hh = b[3] / 2.0f;
    c = {b[1] - hh, b[0] - hw, b[1] + hh, b[0] + hw, 0.0f};
  } else {  // [y1, x1, y2, x2], either corner pair
    c = {std::min(b[0], b[2]), std::min(b[1], b[3]), std::max(b[0], b[2]), std::max(b[1], b[3]), 0.0f};
  }
  c.area = (c.x2 - c.x1) * (c.y2 - c.y1);
  return c;
}

// Whether b suppresses a (their IoU is more than iou; boxes without area never do).
bool suppresses(const Corners &a, const Corners &b, float iou) {
  const float ix = std::min(a.x2, b.x2) - std::max(a.x1, b.x1);
  const float iy = std::min(a.y2, b.y2) - std::max(a.y1, b.y1);
  if (ix <= 0.0f || iy <= 0.0f) return false;
  const float inter = ix * iy;
  const float uni = a.area + b.area - inter;
  if (inter <= 0.0f || a.area <= 0.0f || b.area <= 0.0f || uni <= 0.0f) return false;
  return inter / uni > iou;
}

}  // namespace

extern "C" void o2c_nonzero(const void *in, int64_t *out, int64_t *extent, const o2c_nonzero_params_t *p) {
  int64_t numel = 1;
  for (int d = 0; d < p->rank; ++d) numel *= p->shape[d];
  std::vector<int64_t> hits;
  o2c::dispatch_type(p->type, [&](auto t) {
    using T = decltype(t);
    using C = typename Tr<T>::C;
    const T *X = static_cast<const T *>(in);
    for (int64_t i = 0; i < numel; ++i)
      if (Tr<T>::ld(X[i]) != C(0)) hits.push_back(i);
  });
  const int64_t count = static_cast<int64_t>(hits.size());
  *extent = count;
  if (count > p->cap) return;
  for (int64_t j = 0; j < count; ++j) {
    int64_t rest = hits[static_cast<size_t>(j)];
    for (int d = p->rank - 1; d >= 0; --d) {
      out[d * count + j] = rest % p->shape[d];
      rest /= p->shape[d];
    }
  }
}

extern "C" void o2c_nms(const float *boxes, const float *scores, const int64_t *max_out, const float *iou,
                        const float *score_threshold, int64_t *out, int64_t *extent, const o2c_nms_params_t *p) {
  const int64_t limit = max_out != nullptr ? std::max<int64_t>(max_out[0], 0) : 0;
  const float iou_t = iou != nullptr ? iou[0] : 0.0f;
  std::vector<int64_t> rows;  // (batch, class, box) triples, in output order
  std::vector<std::pair<float, int64_t>> order;  // (score, box) of the candidates
  std::vector<Corners> cs(static_cast<size_t>(p->boxes));
  std::vector<int64_t> chosen;
  for (int64_t b = 0; b < p->batches && limit > 0; ++b) {
    const float *B = boxes + b * p->boxes * 4;
    for (int64_t i = 0; i < p->boxes; ++i) cs[static_cast<size_t>(i)] = corners(B + i * 4, p->center_point_box != 0);
    for (int64_t c = 0; c < p->classes; ++c) {
      const float *S = scores + (b * p->classes + c) * p->boxes;
      order.clear();
      for (int64_t i = 0; i < p->boxes; ++i)
        if (score_threshold == nullptr || S[i] > score_threshold[0]) order.emplace_back(S[i], i);
      // score descending, ties: lower box first
      std::sort(order.begin(), order.end(), [](const std::pair<float, int64_t> &x, const std::pair<float, int64_t> &y) {
        return x.first > y.first || (x.first == y.first && x.second < y.second);
      });
      chosen.clear();
      for (const auto &cand : order) {
        if (static_cast<int64_t>(chosen.size()) >= limit) break;
        const Corners &ci = cs[static_cast<size_t>(cand.second)];
        bool keep = true;
        for (int64_t s : chosen)
          if (suppresses(ci, cs[static_cast<size_t>(s)], iou_t)) {
            keep = false;
            break;
          }
        if (!keep) continue;
        chosen.push_back(cand.second);
        rows.insert(rows.end(), {b, c, cand.second});
      }
    }
  }
  const int64_t count = static_cast<int64_t>(rows.size() / 3);
  *extent = count;
  if (count > p->cap) return;
  if (count) std::memcpy(out, rows.data(), rows.size() * sizeof(int64_t));
}

extern "C" void o2c_unique(const void *in, void *y, int64_t *indices, int64_t *inverse, int64_t *counts, int64_t *extent,
                           const o2c_unique_params_t *p) {
  o2c::dispatch_type(p->type, [&](auto t) {
    using T = decltype(t);
    using C = typename Tr<T>::C;
    const T *X = static_cast<const T *>(in);
    const int64_t n = p->n, outer = p->outer, inner = p->inner;
    auto at = [&](int64_t slice, int64_t o, int64_t i) { return Tr<T>::ld(X[(o * n + slice) * inner + i]); };
    // slice a before slice b, lexicographically over (outer, inner)
    auto less = [&](int64_t a, int64_t b) {
      for (int64_t o = 0; o < outer; ++o)
        for (int64_t i = 0; i < inner; ++i) {
          const C va = at(a, o, i), vb = at(b, o, i);
          if (va < vb) return true;
          if (vb < va) return false;
        }
      return false;
    };
    auto same = [&](int64_t a, int64_t b) { return !less(a, b) && !less(b, a); };
    std::vector<int64_t> order(static_cast<size_t>(n));
    std::iota(order.begin(), order.end(), int64_t{0});
    std::stable_sort(order.begin(), order.end(), less);  // equal slices keep their order: first occurrence first
    // groups of equal slices, in sorted order: (first occurrence, count)
    std::vector<int64_t> first, count, group_of(static_cast<size_t>(n));
    for (size_t k = 0; k < order.size(); ++k) {
      if (k == 0 || !same(order[k - 1], order[k])) {
        first.push_back(order[k]);
        count.push_back(0);
      }
      group_of[static_cast<size_t>(order[k])] = static_cast<int64_t>(first.size()) - 1;
      ++count.back();
    }
    const int64_t u = static_cast<int64_t>(first.size());
    // the output position of each group: sorted order, or order of first occurrence
    std::vector<int64_t> pos(static_cast<size_t>(u));
    std::iota(pos.begin(), pos.end(), int64_t{0});
    if (!p->sorted) {
      std::vector<int64_t> by_first(static_cast<size_t>(u));
      std::iota(by_first.begin(), by_first.end(), int64_t{0});
      std::sort(by_first.begin(), by_first.end(), [&](int64_t a, int64_t b) { return first[a] < first[b]; });
      for (int64_t k = 0; k < u; ++k) pos[static_cast<size_t>(by_first[k])] = k;
    }
    *extent = u;
    if (u > p->cap) return;
    T *Y = static_cast<T *>(y);
    for (int64_t g = 0; g < u; ++g) {
      const int64_t k = pos[static_cast<size_t>(g)];
      if (Y != nullptr)
        for (int64_t o = 0; o < outer; ++o)
          for (int64_t i = 0; i < inner; ++i) Y[(o * u + k) * inner + i] = X[(o * n + first[g]) * inner + i];
      if (indices != nullptr) indices[k] = first[g];
      if (counts != nullptr) counts[k] = count[g];
    }
    if (inverse != nullptr)
      for (int64_t j = 0; j < n; ++j) inverse[j] = pos[static_cast<size_t>(group_of[static_cast<size_t>(j)])];
  });
}

extern "C" void o2c_topk_rt(const void *in, const void *k, int32_t k_type, void *values, int64_t *indices,
                            int64_t *extent, const o2c_topk_params_t *p) {
  const int64_t kv = k_type == O2C_DT_INT32 ? static_cast<const int32_t *>(k)[0] : static_cast<const int64_t *>(k)[0];
  *extent = kv;
  if (kv < 0 || kv > p->k) return;
  o2c_topk_params_t q = *p;
  q.k = kv;
  o2c_topk(in, values, indices, &q);
}

extern "C" void o2c_transpose_rt(const void *in, void *out, const int64_t *extent, const o2c_transpose_rt_params_t *p) {
  const int64_t rows = p->bounded_dim == 0 ? *extent : p->fixed, cols = p->bounded_dim == 0 ? p->fixed : *extent;
  const size_t es = static_cast<size_t>(p->elem_size);
  const char *I = static_cast<const char *>(in);
  char *O = static_cast<char *>(out);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c)
      std::memcpy(O + static_cast<size_t>(c * rows + r) * es, I + static_cast<size_t>(r * cols + c) * es, es);
}

// task_pool.cpp - the runtime's preallocated task pool (a tagged lock-free free list over chunks
// that live until the pool is destroyed; see runtime.h).
#include "common.h"
#include "runtime.h"

namespace cedr {

TaskPool::TaskPool() {
  for (auto &c : chunks_) c.store(nullptr, std::memory_order_relaxed);
  grow();
}

TaskPool::~TaskPool() {
  for (uint32_t i = 0; i < n_chunks_; ++i) delete[] chunks_[i].load();
}

void TaskPool::grow() {
  std::lock_guard<std::mutex> lk(grow_mu_);
  if (uint32_t(head_.load(std::memory_order_acquire)) != 0 || n_chunks_ == kMaxChunks) return;
  Task *c = new Task[kChunk];
  const uint32_t base = n_chunks_ * kChunk;
  for (uint32_t i = 0; i < kChunk; ++i) {
    c[i].pool_index = base + i;
    c[i].next_free.store(i + 1 < kChunk ? base + i + 2 : 0, std::memory_order_relaxed);
  }
  chunks_[n_chunks_].store(c, std::memory_order_release);
  ++n_chunks_;
  uint64_t h = head_.load(std::memory_order_acquire);
  uint64_t nh;
  do {
    c[kChunk - 1].next_free.store(uint32_t(h), std::memory_order_relaxed);
    nh = (((h >> 32) + 1) << 32) | (base + 1);
  } while (!head_.compare_exchange_weak(h, nh, std::memory_order_acq_rel, std::memory_order_acquire));
}

Task *TaskPool::alloc() {
  uint64_t h = head_.load(std::memory_order_acquire);
  for (;;) {
    const uint32_t i1 = uint32_t(h);
    if (i1 == 0) {
      grow();
      h = head_.load(std::memory_order_acquire);
      if (uint32_t(h) == 0) {
        std::lock_guard<std::mutex> lk(grow_mu_);
        if (n_chunks_ == kMaxChunks) return nullptr;
      }
      continue;
    }
    Task *t = at(i1 - 1);
    const uint32_t next = t->next_free.load(std::memory_order_relaxed);
    const uint64_t nh = (((h >> 32) + 1) << 32) | next;
    if (head_.compare_exchange_weak(h, nh, std::memory_order_acq_rel, std::memory_order_acquire)) return t;
  }
}

void TaskPool::release(Task *t) {
  uint64_t h = head_.load(std::memory_order_relaxed);
  uint64_t nh;
  do {
    t->next_free.store(uint32_t(h), std::memory_order_relaxed);
    nh = (((h >> 32) + 1) << 32) | (t->pool_index + 1);
  } while (!head_.compare_exchange_weak(h, nh, std::memory_order_acq_rel, std::memory_order_relaxed));
}
}  // namespace cedr

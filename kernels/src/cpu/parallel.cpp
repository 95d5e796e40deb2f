/*
 * parallel.cpp - the kernels' worker threads (o2c_set_threads / parallel_for in internal.h).
 *
 * The thread count is a per-calling-thread setting (thread_local, default 1): a generated model
 * sets it at the start of its run, and kernels called from elsewhere (a CEDR runtime worker,
 * which is itself one PE) stay single-threaded. The helper threads belong to the calling thread
 * too (created on its first parallel call, joined when it exits), so concurrent model instances
 * never share a pool or wait for each other. A parallel region hands out task indices from one
 * atomic word, the calling thread from the front and the helpers from the back (with two threads
 * each runs a contiguous half, which keeps its data in its own core's caches); each task writes
 * its own part of the output, so results do not depend on the number of threads or on which
 * thread ran which task.
 *
 * Each calling thread also keeps per-thread counters of its parallel work (o2c_pool_stats in
 * o2c_kernels.h): for the caller (slot 0) and each helper k (slot k), the tasks it ran and its OS
 * thread id, so a test can see the helpers doing their share instead of inferring it from equal
 * results. Each slot has a cache line of its own and a single writer (the thread of that slot), so
 * counting costs one relaxed load and store per task claimed (per loop when one thread runs it),
 * with no line shared between threads while a region runs.
 */
#include "internal.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace o2c {
namespace detail {

namespace {

thread_local int t_threads = 1;

/* The OS id of the calling thread (Linux: gettid, what /proc/self/task and Python's
 * threading.get_native_id() show), read once per thread. */
uint64_t os_thread_id() {
  static thread_local uint64_t id = 0;
  if (id == 0) {
#if defined(__linux__)
    id = static_cast<uint64_t>(::syscall(SYS_gettid));
#else
    id = static_cast<uint64_t>(std::hash<std::thread::id>()(std::this_thread::get_id())) | 1;
#endif
  }
  return id;
}

/* One pool thread's counters: written only by that thread while a region runs (the caller reads or
 * resets them between regions, after the region's done_ handshake), padded to a cache line so the
 * threads never write the same line. */
struct alignas(64) StatSlot {
  std::atomic<uint64_t> tasks{0};
  std::atomic<uint64_t> tid{0};
  void count(uint64_t k = 1) {
    const uint64_t n = tasks.load(std::memory_order_relaxed);
    if (n == 0) tid.store(os_thread_id(), std::memory_order_relaxed);
    tasks.store(n + k, std::memory_order_relaxed);
  }
};
struct PoolStats {
  StatSlot slot[O2C_MAX_THREADS];
};
static_assert(sizeof(StatSlot) == 64, "one counter slot per cache line");
/* The calling thread's counters (constant-initialised, no destructor), shared with its helpers. */
thread_local PoolStats t_stats;
/* Set while this thread runs tasks (always on a helper): a kernel loop inside a task (build_phases
 * in a conv slice) goes through parallel_run with one thread too, and is part of that task, not
 * tasks of its own. */
thread_local bool t_in_task = false;

/* How long a helper spins for the next region before it sleeps, and the caller for the helpers'
 * last tasks before it blocks. A model's layers follow each other within microseconds to a few
 * hundred; a sleeping helper takes tens of microseconds to wake (more on a busy machine), so a
 * helper stays awake across a whole model run and sleeps only between runs. */
constexpr std::chrono::microseconds kHelperSpin(1000);
constexpr std::chrono::microseconds kCallerSpin(50);
constexpr std::chrono::microseconds kCallerPlain(40);
constexpr std::chrono::microseconds kHandover(20);

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

/* The first stretch of every wait is a plain loop on the shared word, without pause or yield: in a
 * virtual machine a pause loop or sched_yield can hand the physical core back to the host (a VM
 * exit), and the thread then notices the next region microseconds late - measured here, a 5 us
 * layer split over two threads ran no faster than on one. After kPlainSpin the waits pause and
 * yield, so a thread that shares its core with others still lets them run. */
constexpr std::chrono::microseconds kPlainSpin(200);

class Pool {
 public:
  explicit Pool(PoolStats *stats) : stats_(stats) {}
  /* 1 + the helpers started so far (the slots o2c_pool_stats reports) */
  int size() const { return static_cast<int>(workers_.size()) + 1; }
  ~Pool() {
    {
      std::lock_guard<std::mutex> lk(mu_);
      stop_ = true;
      ++gen_;
    }
    cv_.notify_all();
    for (auto &t : workers_) t.join();
  }

  /* Tasks are claimed from `claim_` (generation, front and back indices: see pack), so a helper
   * that wakes late (its core busy) can never take a task of a later region; the caller waits for
   * the tasks to be done, not for the helpers to show up, and runs every task itself if none does. */
  void run(int64_t ntasks, int nthreads, TaskFn fn, void *ctx) {
    grow(nthreads - 1);
    uint64_t g;
    {
      std::lock_guard<std::mutex> lk(mu_);
      g = ++gen_ & kGenMask;
      fn_ = fn;
      ctx_ = ctx;
      ntasks_ = ntasks;
      active_ = nthreads - 1;
      done_.store(0, std::memory_order_relaxed);
      claim_.store(pack(g, 0, ntasks), std::memory_order_release);
    }
    cv_.notify_all();
    if (ntasks == nthreads) {
      /* one task per thread (the split layers): task t belongs to thread t, whose core holds the
       * rows of the layer before. The caller runs its own and leaves the others to the helpers
       * for a moment, so that a helper a fraction of a microsecond late does not lose its task
       * (and the next layer its data). A helper that does not come within kHandover (asleep,
       * its core busy with other work) has its task run here, and the regions after that do not
       * wait for it again until it is seen taking its task while the caller runs its own. */
      work(g, fn, ctx, ntasks, true, 1);
      if (!unclaimed(g)) {
        helpers_prompt_ = true;
      } else if (helpers_prompt_) {
        const auto t0 = std::chrono::steady_clock::now();
        while (unclaimed(g) && std::chrono::steady_clock::now() - t0 < kHandover) {
        }
        helpers_prompt_ = !unclaimed(g);
      }
    }
    work(g, fn, ctx, ntasks, true);
    /* wait for tasks still running on helpers: spin briefly, then block */
    const auto t0 = std::chrono::steady_clock::now();
    while (done_.load(std::memory_order_acquire) != ntasks) {
      /* a bare spin first (helpers finish within microseconds of each other), then yield, then
       * block: on a busy machine the helper may share this core, and its task can only finish
       * when this thread lets it run */
      const auto waited = std::chrono::steady_clock::now() - t0;
      if (waited > kCallerPlain) std::this_thread::yield();
      if (waited > kCallerSpin) {
        std::unique_lock<std::mutex> lk(mu_);
        done_cv_.wait(lk, [&] { return done_.load(std::memory_order_acquire) == ntasks; });
        break;
      }
    }
  }

 private:
  void grow(int n) {
    while (static_cast<int>(workers_.size()) < n) {
      const int id = static_cast<int>(workers_.size()) + 1;
      workers_.emplace_back([this, id] { loop(id); });
    }
  }

  /* claim_ = generation (20 bits) | next front task (22 bits) | end of the back (22 bits): the
   * calling thread takes tasks from the front, the helpers from the back, so with two threads each
   * runs one contiguous half of the tasks (its own part of the input and output stays in its
   * caches) while the split still adapts to a helper that starts late or runs slowly. */
  static constexpr uint64_t kGenMask = (uint64_t(1) << 20) - 1;
  static constexpr uint64_t kIdxMask = (uint64_t(1) << 22) - 1;
  static uint64_t pack(uint64_t g, int64_t lo, int64_t hi) {
    return (g << 44) | (static_cast<uint64_t>(lo) << 22) | static_cast<uint64_t>(hi);
  }

  bool unclaimed(uint64_t g) const {
    const uint64_t c = claim_.load(std::memory_order_acquire);
    return (c >> 44) == g && ((c >> 22) & kIdxMask) < (c & kIdxMask);
  }

  /* claims and runs tasks (at most `limit`) until none is left */
  void work(uint64_t g, TaskFn fn, void *ctx, int64_t ntasks, bool front, int64_t limit = INT64_MAX) {
    for (int64_t taken = 0; taken < limit; ++taken) {
      uint64_t c = claim_.load(std::memory_order_acquire);
      int64_t t;
      uint64_t next;
      do {
        if ((c >> 44) != g) return; /* a later region: not ours */
        const int64_t lo = static_cast<int64_t>((c >> 22) & kIdxMask), hi = static_cast<int64_t>(c & kIdxMask);
        if (lo >= hi) return;
        t = front ? lo : hi - 1;
        next = front ? pack(g, lo + 1, hi) : pack(g, lo, hi - 1);
      } while (!claim_.compare_exchange_weak(c, next, std::memory_order_acq_rel, std::memory_order_acquire));
      stats_->slot[worker_id_].count(); /* before done_: the caller sees it once the region is over */
      fn(ctx, t, worker_id_);
      if (done_.fetch_add(1, std::memory_order_acq_rel) + 1 == ntasks) {
        std::lock_guard<std::mutex> lk(mu_);
        done_cv_.notify_one();
      }
    }
  }

  void loop(int id) {
    worker_id_ = id;
    t_in_task = true;
    uint64_t seen = 0;
    for (;;) {
      /* spin a little for the next region (the next layer follows soon), then sleep */
      const auto t0 = std::chrono::steady_clock::now();
      while ((claim_.load(std::memory_order_acquire) >> 44) == (seen & kGenMask) &&
             std::chrono::steady_clock::now() - t0 < kHelperSpin) {
        /* after the plain stretch, yielding keeps a waiting helper from taking the CPU from a
         * thread sharing its core (the caller itself, on a busy machine) */
        if (std::chrono::steady_clock::now() - t0 > kPlainSpin) {
          cpu_relax();
          std::this_thread::yield();
        }
      }
      std::unique_lock<std::mutex> lk(mu_);
      cv_.wait(lk, [&] { return gen_ != seen; });
      seen = gen_;
      if (stop_) return;
      if (id > active_) continue; /* not needed in this region */
      const uint64_t g = gen_ & kGenMask;
      TaskFn fn = fn_;
      void *ctx = ctx_;
      const int64_t n = ntasks_;
      lk.unlock();
      work(g, fn, ctx, n, false);
    }
  }

  bool helpers_prompt_ = true; /* the helpers took their own tasks in time lately (caller only) */
  static thread_local int worker_id_;
  PoolStats *const stats_; /* the calling thread's t_stats */
  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable cv_, done_cv_;
  uint64_t gen_ = 0;
  bool stop_ = false;
  int active_ = 0;
  TaskFn fn_ = nullptr;
  void *ctx_ = nullptr;
  int64_t ntasks_ = 0;
  std::atomic<uint64_t> claim_{0};
  std::atomic<int64_t> done_{0};
};
thread_local int Pool::worker_id_ = 0;

thread_local Pool *t_pool = nullptr;
struct PoolOwner {
  ~PoolOwner() { delete t_pool; t_pool = nullptr; }
};
thread_local PoolOwner t_pool_owner;

} /* namespace */

int current_threads() { return t_threads; }

void parallel_run(int64_t ntasks, int nthreads, TaskFn fn, void *ctx) {
  if (nthreads > ntasks) nthreads = static_cast<int>(ntasks);
  const bool outer = !t_in_task;
  if (nthreads <= 1) {
    if (outer && ntasks > 0) t_stats.slot[0].count(static_cast<uint64_t>(ntasks));
    t_in_task = true;
    for (int64_t t = 0; t < ntasks; ++t) fn(ctx, t, 0);
    t_in_task = !outer;
    return;
  }
  if (!t_pool) {
    (void)&t_pool_owner; /* make sure the owner (and its destructor) exists for this thread */
    t_pool = new Pool(&t_stats);
  }
  t_in_task = true;
  constexpr int64_t kMaxTasks = (int64_t(1) << 22) - 1; /* what one region's claim word holds */
  if (ntasks <= kMaxTasks) {
    t_pool->run(ntasks, nthreads, fn, ctx);
  } else {
    struct Sub { TaskFn fn; void *ctx; int64_t base; } sub{fn, ctx, 0};
    for (; sub.base < ntasks; sub.base += kMaxTasks)
      t_pool->run(std::min(kMaxTasks, ntasks - sub.base), nthreads,
                  [](void *c, int64_t t, int w) { Sub *s = static_cast<Sub *>(c); s->fn(s->ctx, s->base + t, w); }, &sub);
  }
  t_in_task = !outer;
}

} /* namespace detail */
} /* namespace o2c */

extern "C" int o2c_set_threads(int n) {
  const int old = o2c::detail::t_threads;
  o2c::detail::t_threads = n < 1 ? 1 : (n > O2C_MAX_THREADS ? O2C_MAX_THREADS : n);
  return old;
}

extern "C" int o2c_get_threads(void) { return o2c::detail::t_threads; }

extern "C" int o2c_pool_stats(uint64_t *tasks, uint64_t *os_tids, int n) {
  using namespace o2c::detail;
  const int slots = t_pool ? t_pool->size() : 1;
  for (int k = 0; k < n && k < slots; ++k) {
    if (tasks) tasks[k] = t_stats.slot[k].tasks.load(std::memory_order_relaxed);
    if (os_tids) os_tids[k] = t_stats.slot[k].tid.load(std::memory_order_relaxed);
  }
  return slots;
}

extern "C" void o2c_pool_stats_reset(void) {
  for (auto &s : o2c::detail::t_stats.slot) {
    s.tasks.store(0, std::memory_order_relaxed);
    s.tid.store(0, std::memory_order_relaxed);
  }
}

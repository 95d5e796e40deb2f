// runtime.cpp - tasks, scheduling rounds and PE workers (see runtime.h for the design).
#include "runtime.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <sched.h>
#include <utility>

#include "common.h"

namespace {

// Accelerator cost reports of the call running on this thread (cedr_accel_account).
struct AccelAccount {
  uint64_t cycles = 0, bytes = 0;
  bool reported = false;
};
thread_local AccelAccount tl_account;

}  // namespace

extern "C" __attribute__((visibility("default"))) void cedr_accel_account(uint64_t cycles, uint64_t bytes_moved) {
  tl_account.cycles += cycles;
  tl_account.bytes += bytes_moved;
  tl_account.reported = true;
}

namespace cedr {

Runtime *g_runtime = nullptr;
int64_t g_wait_spin_ns = 0;

namespace {

thread_local Instance *tl_instance = nullptr;
thread_local double tl_last_cost = 0;
thread_local std::atomic<int> *tl_offer = nullptr;  // offer_inline: for the next enqueue only
std::atomic<Instance *> g_last_started{nullptr};

// Per-thread cache of the last API slots used (the strings are compared, not only the pointers,
// since an app may build names in reused buffers).
struct SlotCacheEntry {
  const Runtime *owner = nullptr;
  ApiSlot *slot = nullptr;
};
constexpr unsigned kSlotCache = 8;
thread_local SlotCacheEntry tl_slots[kSlotCache];
thread_local unsigned tl_slot_next = 0;

// ---- calling an implementation with N pointer arguments ----
template <size_t>
using VoidPtr = void *;
using Caller = void (*)(void *, void *const *, uint8_t);

template <size_t... I>
void cpu_call(void *fn, void *const *a, std::index_sequence<I...>) {
  reinterpret_cast<void (*)(VoidPtr<I>...)>(fn)(a[I]...);
}
template <size_t... I>
void accel_call(void *fn, void *const *a, uint8_t idx, std::index_sequence<I...>) {
  reinterpret_cast<void (*)(VoidPtr<I>..., uint8_t)>(fn)(a[I]..., idx);
}
template <size_t N>
void cpu_n(void *fn, void *const *a, uint8_t) {
  cpu_call(fn, a, std::make_index_sequence<N>{});
}
template <size_t N>
void accel_n(void *fn, void *const *a, uint8_t idx) {
  accel_call(fn, a, idx, std::make_index_sequence<N>{});
}
template <size_t... N>
constexpr std::array<Caller, sizeof...(N)> cpu_callers(std::index_sequence<N...>) {
  return {&cpu_n<N>...};
}
template <size_t... N>
constexpr std::array<Caller, sizeof...(N)> accel_callers(std::index_sequence<N...>) {
  return {&accel_n<N>...};
}
constexpr auto kCpuCallers = cpu_callers(std::make_index_sequence<kMaxArgs + 1>{});
constexpr auto kAccelCallers = accel_callers(std::make_index_sequence<kMaxArgs + 1>{});

// ---- calling an estimator: N pointer arguments, the instance index, cycles and bytes out ----
using EstCaller = void (*)(void *, void *const *, uint8_t, uint64_t *, uint64_t *);
template <size_t... I>
void est_call(void *fn, void *const *a, uint8_t idx, uint64_t *c, uint64_t *b, std::index_sequence<I...>) {
  reinterpret_cast<void (*)(VoidPtr<I>..., uint8_t, uint64_t *, uint64_t *)>(fn)(a[I]..., idx, c, b);
}
template <size_t N>
void est_n(void *fn, void *const *a, uint8_t idx, uint64_t *c, uint64_t *b) {
  est_call(fn, a, idx, c, b, std::make_index_sequence<N>{});
}
template <size_t... N>
constexpr std::array<EstCaller, sizeof...(N)> est_callers(std::index_sequence<N...>) {
  return {&est_n<N>...};
}
constexpr auto kEstCallers = est_callers(std::make_index_sequence<kMaxArgs + 1>{});

// wake: false when the same thread signals this barrier again right after (see execute)
void signal_barrier(cedr_barrier_t *b, bool wake) {
  pthread_mutex_lock(b->mutex);
  __atomic_add_fetch(b->completion_ctr, 1, __ATOMIC_RELEASE);
  if (wake) pthread_cond_broadcast(b->cond);
  pthread_mutex_unlock(b->mutex);
}

}  // namespace

void call_impl(void *fn, void *const *args, unsigned n, bool accel, uint8_t instance_index) {
  (accel ? kAccelCallers : kCpuCallers)[n](fn, args, instance_index);
}

void call_estimate(void *fn, void *const *args, unsigned n, uint8_t instance_index, uint64_t *cycles,
                   uint64_t *bytes_moved) {
  kEstCallers[n](fn, args, instance_index, cycles, bytes_moved);
}

// ---------------------------------------------------------------- task pool

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

// ---------------------------------------------------------------- set-up

Runtime::Runtime(const RunConfig &cfg, const Libraries &libs, const std::string &scheduler, uint64_t seed)
    : cfg_(cfg), libs_(libs), sched_(make_scheduler(scheduler)), rng_(seed) {
  if (!sched_) throw InputError("unknown scheduler '" + scheduler + "'");
  n_types_ = int(cfg.types.size());
  for (int t = 0; t < n_types_; ++t) {
    for (int k = 0; k < cfg.types[t].count; ++k) {
      auto pe = std::make_unique<PE>();
      pe->owner = this;
      pe->id = int(pes_.size());
      pe->type = t;
      pe->index = k;
      pe->name = cfg.types[t].name + std::to_string(k + 1);
      pe->cpu = (t == 0);
      pe->accel = cfg.types[t].accel;
      pe->records.reserve(1 << 14);
      PEView v;
      v.id = pe->id;
      v.type = t;
      v.name = pe->name;
      pe_views_.push_back(v);
      pes_.push_back(std::move(pe));
    }
  }
  const size_t n = pes_.size();
  stage_head_.assign(n, nullptr);
  stage_tail_.assign(n, nullptr);
  stage_count_.assign(n, 0);
  stage_pred_.assign(n, 0.0);
  expect_outstanding_.assign(n, 0);
  ready_in_.reserve(1 << 12);
  batch_.reserve(1 << 12);
  pending_.reserve(1 << 12);
  rounds_.reserve(1 << 14);
  // Resolve every API we know of now, so that first calls do not pay for dlsym.
  for (const auto &a : known_apis()) slot(a.api, a.prec);
  for (const auto &t : cfg.types)
    for (const auto &ap : libs.apis_for_type(t.name)) slot(ap.first, ap.second);
}

Runtime::~Runtime() {
  if (g_runtime == this) g_runtime = nullptr;
}

ApiSlot *Runtime::slot(const char *api, const char *prec) {
  for (auto &e : tl_slots) {
    if (e.owner == this && e.slot != nullptr && std::strcmp(e.slot->api.c_str(), api) == 0 &&
        std::strcmp(e.slot->prec.c_str(), prec) == 0)
      return e.slot;
  }
  std::string name = std::string(api) + "_" + prec;
  ApiSlot *s = nullptr;
  {
    std::lock_guard<std::mutex> lk(slots_mu_);
    auto it = slot_by_name_.find(name);
    if (it != slot_by_name_.end()) {
      s = it->second;
    } else {
      auto ns = std::make_unique<ApiSlot>();
      ns->api = api;
      ns->prec = prec;
      ns->name = name;
      ns->info = find_api(ns->api, ns->prec);
      ns->index = uint16_t(std::min<size_t>(slots_.size(), 65535));
      for (int t = 0; t < n_types_; ++t) {
        const std::string &type = cfg_.types[t].name;
        void *fn = libs_.find(name + "_" + type);
        ns->impl[t] = fn;
        if (fn == nullptr) continue;
        // accelerators: the implementation's own cycle / byte model, unless calibrated
        if (t > 0 && std::strcmp(cfg_.costs.source(ns->api, ns->prec, type), "function") != 0)
          ns->estimate[t] = libs_.find_companion(name + "_" + type, name + "_" + type + "_estimate");
        const double c0 = cfg_.costs.predict(ns->api, ns->prec, type, 0.0);
        const double c1 = cfg_.costs.predict(ns->api, ns->prec, type, 1.0);
        ns->fixed_ns[t] = std::max(0.0, c0);
        ns->slope_ns[t] = std::max(0.0, c1 - c0);
        if (cfg_.types[t].count > 0) ns->runnable = true;
      }
      s = ns.get();
      slot_by_name_.emplace(name, s);
      slots_.push_back(std::move(ns));
    }
  }
  tl_slots[tl_slot_next] = {this, s};
  tl_slot_next = (tl_slot_next + 1) % kSlotCache;
  return s;
}

double last_enqueued_cost_ns() { return tl_last_cost; }

void offer_inline(std::atomic<int> *word) { tl_offer = word; }

void Runtime::set_current_instance(Instance *inst) { tl_instance = inst; }

void Runtime::instance_started(Instance *inst) { g_last_started.store(inst, std::memory_order_release); }

void Runtime::fatal(const std::string &msg) {
  {
    std::lock_guard<std::mutex> lk(fatal_mu_);
    if (fatal_msg_.empty()) fatal_msg_ = msg;
  }
  aborted_.store(true, std::memory_order_release);
  for (auto &pe : pes_) {
    { std::lock_guard<std::mutex> lk(pe->mu); }
    pe->cv.notify_all();
  }
  { std::lock_guard<std::mutex> lk(state_mu); }
  state_cv.notify_all();
}

void Runtime::wait_rounds_idle(int64_t max_wait_ns) {
  const int64_t until = now_ns() + max_wait_ns;
  for (;;) {
    {
      std::lock_guard<std::mutex> lk(ready_mu_);
      if (!round_running_) {
        round_running_ = true;  // nobody starts another one from now on
        return;
      }
    }
    if (now_ns() > until) return;
    sleep_until_ns(now_ns() + 100000);
  }
}

Instance *Runtime::current_instance() { return tl_instance; }

std::string Runtime::fatal_message() {
  std::lock_guard<std::mutex> lk(fatal_mu_);
  return fatal_msg_;
}

// ---------------------------------------------------------------- workers

void *worker_main(void *arg) {
  PE *pe = static_cast<PE *>(arg);
  pe->owner->worker_loop(*pe);
  pe->exited.store(true, std::memory_order_release);
  return nullptr;
}

void Runtime::start_workers(int64_t spin_ns) {
  spin_ns_ = spin_ns;
  g_wait_spin_ns = spin_ns;
  for (auto &pe : pes_) {
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, size_t(16) << 20);
    int rc = pthread_create(&pe->thread, &attr, worker_main, pe.get());
    pthread_attr_destroy(&attr);
    if (rc != 0) throw FatalError("cannot start the worker thread of " + pe->name + ": " + std::strerror(rc));
    pe->started = true;
  }
}

void Runtime::stop_workers() {
  for (auto &pe : pes_) {
    {
      std::lock_guard<std::mutex> lk(pe->mu);
      pe->stop = true;
    }
    pe->cv.notify_all();
  }
  for (auto &pe : pes_) {
    if (pe->started) pthread_join(pe->thread, nullptr);
    pe->started = false;
  }
}

void Runtime::abort_workers() {
  aborted_.store(true, std::memory_order_release);
  stop_workers();
}

void Runtime::worker_loop(PE &pe) {
  while (Task *t = take(pe)) execute(pe, t);
}

Task *Runtime::take(PE &pe) {
  // Bounded poll: a task handed over while we poll starts without a futex wake-up. Each poll
  // that times out halves the next one (down to none after 4 misses); a hit restores it, so a PE
  // that is idle for long stops burning a core.
  const int64_t spin = pe.spin_misses < 5 ? (spin_ns_ >> pe.spin_misses) : 0;
  if (spin > 0 && pe.queued.load(std::memory_order_acquire) == 0) {
    const int64_t until = now_ns() + spin;
    unsigned k = 0;
    bool hit = true;
    while (pe.queued.load(std::memory_order_acquire) == 0 && !aborted()) {
      cpu_relax();
      if ((++k & 31) == 0) {
        if (now_ns() > until) {
          hit = false;
          break;
        }
        if ((k & 255) == 0) sched_yield();  // let a runnable app thread have the core
      }
    }
    pe.spin_misses = hit ? 0 : pe.spin_misses + 1;
  } else if (pe.queued.load(std::memory_order_acquire) > 0) {
    pe.spin_misses = 0;
  }
  std::unique_lock<std::mutex> lk(pe.mu);
  if (pe.head == nullptr || pe.busy) {
    const int64_t slept_from = now_ns();
    while (pe.head == nullptr || pe.busy) {  // busy: a blocking caller runs a task of this PE
      if ((pe.stop && pe.head == nullptr) || aborted()) return nullptr;
      pe.sleeping = true;
      pe.cv.wait(lk);
      pe.sleeping = false;
    }
    // woken for a task soon after going to sleep: a full poll would have caught it
    if (now_ns() - slept_from < spin_ns_) pe.spin_misses = 0;
  }
  if (aborted()) return nullptr;
  Task *t = pe.head;
  pe.head = t->next;
  if (pe.head == nullptr) pe.tail = nullptr;
  pe.queued.fetch_sub(1, std::memory_order_relaxed);
  pe.queued_pred_ns -= t->assigned_cost;
  pe.busy = true;
  return t;
}

bool Runtime::run_inline(int pe_id, const cedr_barrier_t *barrier) {
  PE &pe = *pes_[size_t(pe_id)];
  Task *t = nullptr;
  {
    std::lock_guard<std::mutex> lk(pe.mu);
    if (!pe.busy && pe.head != nullptr && pe.head->barrier == barrier && !aborted()) {
      // Our task (the barrier is on our stack, no other task has it), first in the queue of an
      // idle PE: take it as the worker would, and run it here.
      t = pe.head;
      pe.head = t->next;
      if (pe.head == nullptr) pe.tail = nullptr;
      pe.queued.fetch_sub(1, std::memory_order_relaxed);
      pe.queued_pred_ns -= t->assigned_cost;
      pe.busy = true;
    } else if (pe.head != nullptr && pe.sleeping && !pe.busy) {
      pe.cv.notify_one();  // not ours to run (taken, or queued behind another): the worker's job
    }
  }
  if (t == nullptr) return false;
  execute(pe, t);
  return true;
}

void Runtime::execute(PE &pe, Task *t) {
  void *fn = t->slot->impl[pe.type];
  const int64_t start = now_ns();
  int64_t stop;
  if (pe.cpu) {
    call_impl(fn, t->args, t->n_args, false, 0);
    stop = now_ns();
  } else {
    tl_account = AccelAccount{};
    call_impl(fn, t->args, t->n_args, true, uint8_t(pe.index));
    const int64_t end = now_ns();
    const double modeled =
        tl_account.reported ? pe.accel.latency_ns(tl_account.cycles, tl_account.bytes) : t->assigned_cost;
    const int64_t target = start + int64_t(std::llround(modeled));
    if (!cfg_.model_accel_latency) {
      stop = end;
    } else if (end > target) {
      ++pe.overruns;
      stop = end;
    } else {
      sleep_until_ns(target);
      stop = target;  // the modeled accelerator is free from here on
    }
  }
  const TaskRecord rec{t->inst ? t->inst->index : -1, t->task_id, t->slot->index, uint16_t(pe.id),
                       t->enqueue_ns, start, stop};
  pe.records.push_back(rec);
  if (trace_) {
    pe.trace.push_back(TaskTraceExtra{t->work, {}});
    std::copy(t->trace_pred, t->trace_pred + n_types_, pe.trace.back().pred_ns);
  }
  if (t->report != nullptr) *t->report = rec;
  pe.busy_ns += stop - start;
  cedr_barrier_t *b = t->barrier;
  bool wake, wake_waiters = true;
  {
    // Correct the prediction from the measurement: the PE is free now, plus what is still queued.
    std::lock_guard<std::mutex> lk(pe.mu);
    pe.avail_ns.store(double(now_ns()) + pe.queued_pred_ns, std::memory_order_relaxed);
    pe.busy = false;
    wake = pe.sleeping && pe.head != nullptr;  // queued while a blocking caller ran this task
    // The next task here is a short one on the same barrier (a batch of _nb calls): this worker
    // runs it next and signals then, so the waiter is woken once for both, not once each. A
    // waiter is woken at most the spin time's worth of predicted work late. (A blocking caller's
    // barrier has one task, so it never defers; nor does a caller thread.)
    // (Each task counts at least 100 ns, so a run of tasks predicted free ends too.)
    const double next_ns = pe.head != nullptr ? std::max(pe.head->assigned_cost, 100.0) : 0.0;
    if (b != nullptr && !wake && pe.head != nullptr && pe.head->barrier == b && !pe.stop &&
        pe.deferred_ns + next_ns <= double(spin_ns_)) {
      wake_waiters = false;
      pe.deferred_ns += next_ns;
    } else {
      pe.deferred_ns = 0;
    }
  }
  if (wake) pe.cv.notify_one();
  pe.outstanding.fetch_sub(1, std::memory_order_seq_cst);
  pool_.release(t);
  if (b != nullptr) signal_barrier(b, wake_waiters);
  outstanding_tasks_.fetch_sub(1, std::memory_order_acq_rel);
  if (pending_count_.load(std::memory_order_seq_cst) > 0) request_round();
}

// ---------------------------------------------------------------- enqueue and rounds

bool Runtime::enqueue(const char *api, const char *prec, unsigned n_args, va_list ap) {
  const int64_t t0 = now_ns();
  std::atomic<int> *offer = tl_offer;
  tl_offer = nullptr;
  Instance *inst = tl_instance != nullptr ? tl_instance : g_last_started.load(std::memory_order_acquire);
  auto who = [&]() -> std::string {
    return inst != nullptr ? "app '" + inst->name + "' (instance " + std::to_string(inst->id) + ")"
                           : std::string("a thread outside any app");
  };
  if (aborted()) return false;
  if (api == nullptr || prec == nullptr) {
    fatal(who() + " called enqueue_kernel with a null API name or precision");
    return false;
  }
  if (n_args < 1 || n_args > kMaxArgs + 1) {
    fatal(who() + " called enqueue_kernel(\"" + api + "\", \"" + prec + "\") with n_args " + std::to_string(n_args) +
          " (1 to " + std::to_string(kMaxArgs + 1) + ": the argument pointers and the barrier)");
    return false;
  }
  ApiSlot *s = slot(api, prec);
  if (!s->runnable) {
    fatal(who() + " calls " + s->name + ", which no configured PE can run (no " + s->name +
          "_<type> implementation for a PE type with workers)");
    return false;
  }
  if (s->info != nullptr && s->info->n_args != n_args - 1) {
    fatal(who() + " called enqueue_kernel for " + s->name + " with " + std::to_string(n_args - 1) +
          " argument pointers; the API takes " + std::to_string(s->info->n_args));
    return false;
  }
  Task *t = pool_.alloc();
  if (t == nullptr) {
    fatal("too many tasks in flight (" + who() + ")");
    return false;
  }
  t->n_args = n_args - 1;
  for (unsigned i = 0; i < t->n_args; ++i) t->args[i] = va_arg(ap, void *);
  t->barrier = va_arg(ap, cedr_barrier_t *);
  t->slot = s;
  t->inst = inst;
  t->task_id = inst != nullptr ? inst->next_task.fetch_add(1, std::memory_order_relaxed) : 0;
  t->enqueue_ns = t0;
  t->report = nullptr;
  t->next = nullptr;
  double w = s->info != nullptr ? s->info->work(t->args) : 1.0;
  t->work = (std::isfinite(w) && w > 0) ? w : 0.0;
  double min_cost = -1;
  for (int k = 0; k < n_types_; ++k) {
    t->cost[k] = (s->impl[k] != nullptr && cfg_.types[k].count > 0) ? predict(s, k, t->args, t->n_args, t->work) : -1.0;
    if (t->cost[k] >= 0 && (min_cost < 0 || t->cost[k] < min_cost)) min_cost = t->cost[k];
  }
  tl_last_cost = min_cost;
  if (trace_) {
    // what the task would cost on the types without workers too (never seen by the scheduler)
    for (int k = 0; k < n_types_; ++k)
      t->trace_pred[k] = cfg_.types[k].count > 0 ? t->cost[k]
                         : s->impl[k] != nullptr ? predict(s, k, t->args, t->n_args, t->work) : -1.0;
  }
  // Short tasks only: a long one gains nothing from skipping a wake-up, and runs on its worker.
  t->inline_pe = nullptr;
  if (offer != nullptr) {
    if (spin_ns_ > 0 && min_cost >= 0 && min_cost <= double(spin_ns_)) {
      t->inline_pe = offer;
    } else {
      offer->store(-3, std::memory_order_release);
    }
  }
  outstanding_tasks_.fetch_add(1, std::memory_order_relaxed);
  submit(t);
  return !aborted();
}

double Runtime::predict(const ApiSlot *s, int type, void *const *args, unsigned n_args, double work) const {
  if (s->estimate[type] != nullptr) {
    uint64_t cycles = 0, bytes = 0;
    call_estimate(s->estimate[type], args, n_args, 0, &cycles, &bytes);
    const double ns = cfg_.types[type].accel.latency_ns(cycles, bytes);
    if (std::isfinite(ns) && ns >= 0) return ns;
  }
  return s->fixed_ns[type] + s->slope_ns[type] * work;
}

void Runtime::submit(Task *t) {
  {
    std::lock_guard<std::mutex> lk(ready_mu_);
    t->seq = next_seq_++;
    ready_in_.push_back(t);
    if (round_running_) return;  // the running round runner picks it up
    round_running_ = true;
  }
  run_rounds();
}

void Runtime::request_round() {
  {
    std::lock_guard<std::mutex> lk(ready_mu_);
    rerun_ = true;
    if (round_running_) return;
    round_running_ = true;
  }
  run_rounds();
}

void Runtime::run_rounds() {
  bool again = false;
  for (;;) {
    {
      std::lock_guard<std::mutex> lk(ready_mu_);
      if (rerun_) {
        again = true;
        rerun_ = false;
      }
      if (aborted() || (ready_in_.empty() && !(again && !pending_.empty()))) {
        round_running_ = false;
        return;
      }
      batch_.swap(ready_in_);
    }
    again = round(batch_);
    batch_.clear();
  }
}

void Runtime::fallback_assign(SchedContext &ctx) {
  // The scheduler assigned nothing although every PE is idle: nothing would ever trigger another
  // round, so place what we can by earliest predicted finish rather than stall.
  taken_.assign(views_.size(), 0);
  for (size_t i = 0; i < views_.size(); ++i) {
    PEView *best = nullptr;
    double best_finish = 0;
    for (auto &p : pe_views_) {
      if (!ctx.eligible(views_[i], p)) continue;
      const double f = ctx.finish_time(views_[i], p);
      if (best == nullptr || f < best_finish) {
        best = &p;
        best_finish = f;
      }
    }
    if (best != nullptr) ctx.commit(views_[i], *best, i, assigned_);
  }
}

bool Runtime::round(std::vector<Task *> &batch) {
  const int64_t start = now_ns();
  pending_.insert(pending_.end(), batch.begin(), batch.end());
  const size_t n = pending_.size();
  if (n == 0) return false;
  views_.resize(n);
  for (size_t i = 0; i < n; ++i) {
    const Task *t = pending_[i];
    TaskView &v = views_[i];
    v.id = t->seq;
    v.ready_ns = double(t->enqueue_ns);
    v.cost_ns.assign(t->cost, t->cost + n_types_);
  }
  bool all_idle = true;
  for (size_t p = 0; p < pes_.size(); ++p) {
    PEView &v = pe_views_[p];
    v.queued = pes_[p]->outstanding.load(std::memory_order_seq_cst);
    v.avail_ns = pes_[p]->avail_ns.load(std::memory_order_relaxed);
    expect_outstanding_[p] = v.queued;
    if (v.queued != 0) all_idle = false;
  }
  SchedContext ctx;
  ctx.now_ns = double(start);
  ctx.pes = &pe_views_;
  ctx.queueing = cfg_.queueing;
  ctx.rng = &rng_;
  ctx.n_types = n_types_;
  assigned_.clear();
  sched_->schedule(views_, ctx, assigned_);
  if (assigned_.empty() && all_idle) fallback_assign(ctx);

  taken_.assign(n, 0);
  for (const Assignment &a : assigned_) {
    if (a.task >= n || a.pe < 0 || size_t(a.pe) >= pes_.size() || taken_[a.task] ||
        !views_[a.task].runs_on(pes_[a.pe]->type)) {
      fatal(std::string("scheduler ") + sched_->name() + " made an invalid assignment (ready task " +
            std::to_string(a.task) + " of " + std::to_string(n) + " to PE " + std::to_string(a.pe) + ")");
      return false;
    }
    taken_[a.task] = 1;
    Task *t = pending_[a.task];
    const int p = a.pe;
    t->assigned_cost = t->cost[pes_[p]->type];
    t->next = nullptr;
    if (stage_tail_[p] != nullptr) {
      stage_tail_[p]->next = t;
    } else {
      stage_head_[p] = t;
    }
    stage_tail_[p] = t;
    stage_count_[p] += 1;
    stage_pred_[p] += t->assigned_cost;
  }
  for (size_t p = 0; p < pes_.size(); ++p) {
    if (stage_count_[p] == 0) continue;
    dispatch_to(*pes_[p], stage_head_[p], stage_tail_[p], stage_count_[p], stage_pred_[p], start);
    expect_outstanding_[p] += stage_count_[p];
    stage_head_[p] = stage_tail_[p] = nullptr;
    stage_count_[p] = 0;
    stage_pred_[p] = 0;
  }
  size_t keep = 0;
  for (size_t i = 0; i < n; ++i)
    if (!taken_[i]) pending_[keep++] = pending_[i];
  pending_.resize(keep);
  pending_count_.store(int(keep), std::memory_order_seq_cst);
  rounds_.push_back({uint32_t(n), start, now_ns()});
  if (keep == 0) return false;
  // A PE that finished during this round may have missed pending_count_: look again.
  for (size_t p = 0; p < pes_.size(); ++p)
    if (pes_[p]->outstanding.load(std::memory_order_seq_cst) < expect_outstanding_[p]) return true;
  return false;
}

void Runtime::dispatch_to(PE &pe, Task *first, Task *last, int count, double pred_sum, int64_t now) {
  bool wake;
  {
    std::lock_guard<std::mutex> lk(pe.mu);
    // A blocking caller's short task given alone to an idle CPU PE: the caller runs it (run_inline)
    // unless it has withdrawn (-2); the worker sleeps on. Otherwise the worker is woken as usual.
    bool offered = false;
    if (first->inline_pe != nullptr) {
      int expect = -1;
      if (count == 1 && pe.cpu && pe.head == nullptr && !pe.busy) {
        offered = first->inline_pe->compare_exchange_strong(expect, pe.id, std::memory_order_acq_rel);
      } else {
        first->inline_pe->compare_exchange_strong(expect, -3, std::memory_order_acq_rel);
      }
      first->inline_pe = nullptr;
    }
    if (pe.tail != nullptr) {
      pe.tail->next = first;
    } else {
      pe.head = first;
    }
    pe.tail = last;
    pe.queued_pred_ns += pred_sum;
    pe.outstanding.fetch_add(count, std::memory_order_seq_cst);
    pe.queued.fetch_add(count, std::memory_order_release);
    const double a = pe.avail_ns.load(std::memory_order_relaxed);
    pe.avail_ns.store(std::max(a, double(now)) + pred_sum, std::memory_order_relaxed);
    wake = pe.sleeping && !pe.busy && !offered;  // busy: whoever runs it wakes the worker after
  }
  if (wake) pe.cv.notify_one();
}

TaskRecord Runtime::run_direct(int pe_id, ApiSlot *s, const std::vector<void *> &args, double work) {
  PE &pe = *pes_[pe_id];
  pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
  pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
  uint32_t done = 0;
  cedr_barrier_t b{&cv, &mu, &done};
  TaskRecord rec{};
  Task *t = pool_.alloc();
  if (t == nullptr) throw FatalError("task pool exhausted");
  t->n_args = unsigned(std::min<size_t>(args.size(), kMaxArgs));
  for (unsigned i = 0; i < t->n_args; ++i) t->args[i] = args[i];
  t->barrier = &b;
  t->slot = s;
  t->inst = nullptr;
  t->task_id = 0;
  t->enqueue_ns = now_ns();
  t->work = work;
  for (int k = 0; k < n_types_; ++k) t->cost[k] = s->impl[k] != nullptr ? predict(s, k, t->args, t->n_args, work) : -1.0;
  t->assigned_cost = std::max(0.0, t->cost[pe.type]);
  t->report = &rec;
  t->inline_pe = nullptr;
  t->next = nullptr;
  outstanding_tasks_.fetch_add(1, std::memory_order_relaxed);
  dispatch_to(pe, t, t, 1, t->assigned_cost, t->enqueue_ns);
  pthread_mutex_lock(&mu);
  while (__atomic_load_n(&done, __ATOMIC_ACQUIRE) < 1) pthread_cond_wait(&cv, &mu);
  pthread_mutex_unlock(&mu);
  return rec;
}

}  // namespace cedr

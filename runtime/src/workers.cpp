// workers.cpp - one worker thread per PE: its FIFO queue, the adaptive idle spin, running a task
// (the accelerator latency model, the availability correction, the caller's barrier), the
// blocking caller that runs a short task itself as that PE, and calibration's direct runs.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <sched.h>

#include "common.h"
#include "isolate.h"
#include "runtime.h"

namespace cedr {

namespace {

// wake: false when the same thread signals this barrier again right after (see execute)
void signal_barrier(cedr_barrier_t *b, bool wake) {
  pthread_mutex_lock(b->mutex);
  __atomic_add_fetch(b->completion_ctr, 1, __ATOMIC_RELEASE);
  if (wake) pthread_cond_broadcast(b->cond);
  pthread_mutex_unlock(b->mutex);
}

}  // namespace

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

bool Runtime::run_inline_remote(int pe_id, const cedr_barrier_t *barrier,
                                const std::function<bool(void *fn, int64_t &start, int64_t &stop)> &run) {
  PE &pe = *pes_[size_t(pe_id)];
  Task *t = nullptr;
  {
    std::lock_guard<std::mutex> lk(pe.mu);
    if (!pe.busy && pe.head != nullptr && pe.head->barrier == barrier && !aborted()) {
      t = pe.head;  // as run_inline: our task, first in the queue of an idle PE
      pe.head = t->next;
      if (pe.head == nullptr) pe.tail = nullptr;
      pe.queued.fetch_sub(1, std::memory_order_relaxed);
      pe.queued_pred_ns -= t->assigned_cost;
      pe.busy = true;
    } else if (pe.head != nullptr && pe.sleeping && !pe.busy) {
      pe.cv.notify_one();
    }
  }
  if (t == nullptr) return false;
  int64_t start = 0, stop = 0;
  if (!run(t->slot->impl[pe.type], start, stop)) {
    drop_task(pe, t);  // the instance's process is gone
    return true;
  }
  complete(pe, t, start, stop, t->inst != nullptr ? t->inst->iso.get() : nullptr);
  return true;
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
  // an isolated instance's task runs in its child process (isolate.h); a dead child's is dropped
  IsoInstance *iso = t->inst != nullptr ? t->inst->iso.get() : nullptr;
  IsoResult ires;
  if (iso != nullptr && iso->dead.load(std::memory_order_acquire)) return drop_task(pe, t);
  const int64_t start = now_ns();
  int64_t stop;
  if (pe.cpu) {
    if (iso == nullptr) call_impl(fn, t->args, t->n_args, false, 0);
    else if (!iso_execute(*iso, pe.id, fn, t->args, t->n_args, false, 0, false, ires, t->barrier)) return drop_task(pe, t);
    stop = now_ns();
  } else {
    accel_account_reset();
    const FaultMode inject = cfg_.any_injection ? injected_fault(pe.type) : FaultMode::none;
    int sig = 0;
    if (inject == FaultMode::hang) {
      sleep_until_ns(start + deadline_ns(t) + 1000000);  // never completes within its deadline
    } else if (inject != FaultMode::error) {
      if (iso == nullptr) {
        sig = guarded_accel_call(fn, t->args, t->n_args, uint8_t(pe.index), inject == FaultMode::crash);
      } else {
        if (!iso_execute(*iso, pe.id, fn, t->args, t->n_args, true, uint8_t(pe.index), inject == FaultMode::crash, ires,
                         nullptr))
          return drop_task(pe, t);
        sig = ires.sig;
      }
    }
    const int64_t end = now_ns();
    const int code = inject == FaultMode::error ? -1 : iso != nullptr ? ires.code : accel_error_code();
    if (code != 0 || sig != 0 || end - start > deadline_ns(t)) {
      const FaultKind kind = code != 0 ? FaultKind::error : sig != 0 ? FaultKind::crash : FaultKind::overrun;
      reroute_to_cpu(pe, t, FaultRecord{t->inst ? t->inst->index : -1, t->task_id, t->slot->index,
                                        uint16_t(pe.id), kind, code != 0 ? code : sig,
                                        inject != FaultMode::none, start, end});
      return;
    }
    uint64_t cycles = 0, bytes = 0;
    bool reported;
    if (iso != nullptr) {
      reported = ires.reported;
      cycles = ires.cycles;
      bytes = ires.bytes;
    } else {
      reported = accel_account_read(&cycles, &bytes);
    }
    const double modeled = reported ? pe.accel.latency_ns(cycles, bytes) : t->assigned_cost;
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
  complete(pe, t, start, stop, iso);
}

// A task that ran from `start` to `stop` on PE `pe`: recorded, the PE freed, its waiters signalled.
void Runtime::complete(PE &pe, Task *t, int64_t start, int64_t stop, IsoInstance *iso) {
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
  if (iso != nullptr) {
    if (b != nullptr && !pe.cpu) iso_signal(*iso, pe.id, b, wake_waiters);  // a CPU call's: signalled in the child
    iso->in_flight.fetch_sub(1, std::memory_order_acq_rel);
  } else if (b != nullptr) {
    signal_barrier(b, wake_waiters);
  }
  outstanding_tasks_.fetch_sub(1, std::memory_order_acq_rel);
  if (pending_count_.load(std::memory_order_seq_cst) > 0) request_round();
}

// The PE's task ended without completing (dropped, or re-routed to a CPU): the PE is free again
// and its worker is woken when more work waits.
void Runtime::free_pe(PE &pe) {
  bool wake;
  {
    std::lock_guard<std::mutex> lk(pe.mu);
    pe.avail_ns.store(double(now_ns()) + pe.queued_pred_ns, std::memory_order_relaxed);
    pe.busy = false;
    pe.deferred_ns = 0;
    wake = pe.sleeping && pe.head != nullptr;
  }
  if (wake) pe.cv.notify_one();
  pe.outstanding.fetch_sub(1, std::memory_order_seq_cst);
}

void Runtime::drop_task(PE &pe, Task *t) {
  IsoInstance *iso = t->inst->iso.get();
  free_pe(pe);
  pool_.release(t);
  iso->in_flight.fetch_sub(1, std::memory_order_acq_rel);
  outstanding_tasks_.fetch_sub(1, std::memory_order_acq_rel);
  if (pending_count_.load(std::memory_order_seq_cst) > 0) request_round();
}

FaultMode Runtime::injected_fault(int type) {
  const FaultInjection &f = cfg_.types[size_t(type)].inject;
  if (f.mode == FaultMode::none) return FaultMode::none;
  if (f.every > 0) {
    const uint64_t n = inject_calls_[type].fetch_add(1, std::memory_order_relaxed) + 1;
    return n % f.every == 0 ? f.mode : FaultMode::none;
  }
  std::lock_guard<std::mutex> lk(fault_mu_);
  return std::uniform_real_distribution<double>(0.0, 1.0)(fault_rng_) < f.probability ? f.mode : FaultMode::none;
}

int64_t Runtime::deadline_ns(const Task *t) const {
  return int64_t(std::max(cfg_.deadline_factor * t->assigned_cost, cfg_.deadline_min_ns));
}

// The failed attempt counts as the accelerator's busy time; the task goes, whole, to the CPU PE
// predicted to be free first (its barrier is signalled when that run finishes). Nothing of the
// failed attempt's outputs is kept: the CPU implementation writes them all again.
void Runtime::reroute_to_cpu(PE &pe, Task *t, const FaultRecord &f) {
  pe.faults.push_back(f);
  pe.busy_ns += f.stop_ns - f.start_ns;
  free_pe(pe);
  PE *best = nullptr;
  if (t->slot->impl[0] != nullptr)
    for (auto &p : pes_)
      if (p->cpu && (best == nullptr || p->avail_ns.load(std::memory_order_relaxed) <
                                            best->avail_ns.load(std::memory_order_relaxed)))
        best = p.get();
  if (best == nullptr) {
    fatal("an accelerator call of " + t->slot->name + " failed on " + pe.name +
          " and no CPU PE can run it again");
    return;
  }
  t->assigned_cost = std::max(0.0, t->cost[0]);
  t->next = nullptr;
  dispatch_to(*best, t, t, 1, t->assigned_cost, now_ns());
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

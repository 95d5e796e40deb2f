// rounds.cpp - scheduling rounds: the ready queue, combining (the thread that submits runs the
// round unless one is in progress), the scheduler's decisions and dispatch to the PE queues.
#include <algorithm>

#include "common.h"
#include "runtime.h"

namespace cedr {

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
}  // namespace cedr

// sched_etf.cpp - ETF (earliest task first): over all still-unassigned ready tasks and all
// eligible PEs, pick the (task, PE) pair with the earliest predicted finish time (ties: earlier
// task in enqueue order, then lowest PE id), commit it, and repeat until no pair is left.
// Unlike EFT the order of placement is decided by the finish times, not by arrival.
#include "scheduler.h"

namespace cedr {

namespace {

class EtfScheduler : public Scheduler {
 public:
  const char *name() const override { return "ETF"; }

  void schedule(const std::vector<TaskView> &ready, SchedContext &ctx, std::vector<Assignment> &out) override {
    std::vector<char> done(ready.size(), 0);
    for (;;) {
      size_t best_task = 0;
      PEView *best_pe = nullptr;
      double best_finish = 0;
      for (size_t t = 0; t < ready.size(); ++t) {
        if (done[t]) continue;
        PEView *p = ctx.earliest_finish(ready[t]);  // ties: lowest PE id
        if (!p) continue;
        const double f = ctx.finish_time(ready[t], *p);
        // strict comparison: the earlier task in enqueue order wins ties
        if (!best_pe || f < best_finish) {
          best_task = t;
          best_pe = p;
          best_finish = f;
        }
      }
      if (!best_pe) return;
      ctx.commit(ready[best_task], *best_pe, best_task, out);
      done[best_task] = 1;
    }
  }
};

}  // namespace

std::unique_ptr<Scheduler> make_etf_scheduler() { return std::make_unique<EtfScheduler>(); }

}  // namespace cedr

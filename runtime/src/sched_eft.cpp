// sched_eft.cpp - EFT (earliest finish time): tasks in enqueue order; each goes to the eligible
// PE on which it would finish first (predicted availability + predicted cost; ties: lowest id).
// Each decision moves that PE's availability before the next task is placed.
#include "scheduler.h"

namespace cedr {

namespace {

class EftScheduler : public Scheduler {
 public:
  const char *name() const override { return "EFT"; }

  void schedule(const std::vector<TaskView> &ready, SchedContext &ctx, std::vector<Assignment> &out) override {
    for (size_t t = 0; t < ready.size(); ++t) {
      if (PEView *best = ctx.earliest_finish(ready[t])) ctx.commit(ready[t], *best, t, out);
    }
  }
};

}  // namespace

std::unique_ptr<Scheduler> make_eft_scheduler() { return std::make_unique<EftScheduler>(); }

}  // namespace cedr

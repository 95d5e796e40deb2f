// sched_simple.cpp - SIMPLE: round robin. Tasks are taken in enqueue order; each goes to the
// next eligible PE after the one that received the previous task (a cyclic cursor that lives
// as long as the scheduler, so the rotation continues across rounds). Costs are ignored.
#include "scheduler.h"

namespace cedr {

namespace {

class SimpleScheduler : public Scheduler {
 public:
  const char *name() const override { return "SIMPLE"; }

  void schedule(const std::vector<TaskView> &ready, SchedContext &ctx, std::vector<Assignment> &out) override {
    std::vector<PEView> &pes = *ctx.pes;
    const size_t n = pes.size();
    if (n == 0) return;
    for (size_t t = 0; t < ready.size(); ++t) {
      for (size_t step = 0; step < n; ++step) {
        const size_t p = (cursor_ + step) % n;
        if (!ctx.eligible(ready[t], pes[p])) continue;
        ctx.commit(ready[t], pes[p], t, out);
        cursor_ = (p + 1) % n;
        break;
      }
      // no eligible PE: the task stays ready and the cursor does not move
    }
  }

 private:
  size_t cursor_ = 0;
};

}  // namespace

std::unique_ptr<Scheduler> make_simple_scheduler() { return std::make_unique<SimpleScheduler>(); }

}  // namespace cedr

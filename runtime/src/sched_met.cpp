// sched_met.cpp - MET (minimum execution time): each task (in enqueue order) goes to the PE type
// with the lowest predicted cost for it, among the types that have at least one PE (ties: lower
// type index); within that type, to the eligible PE with the earliest predicted availability
// (ties: lowest id). Other types are never considered: when no PE of the best type is eligible
// (queueing off and all of them busy) the task waits for the next round.
#include "scheduler.h"

namespace cedr {

namespace {

class MetScheduler : public Scheduler {
 public:
  const char *name() const override { return "MET"; }

  void schedule(const std::vector<TaskView> &ready, SchedContext &ctx, std::vector<Assignment> &out) override {
    std::vector<PEView> &pes = *ctx.pes;
    const std::vector<char> present = ctx.types_present();
    for (size_t t = 0; t < ready.size(); ++t) {
      const TaskView &task = ready[t];
      int best_type = -1;
      for (int ty = 0; ty < (int)present.size(); ++ty) {
        if (!present[(size_t)ty] || !task.runs_on(ty)) continue;
        if (best_type < 0 || task.cost_ns[(size_t)ty] < task.cost_ns[(size_t)best_type]) best_type = ty;
      }
      if (best_type < 0) continue;
      PEView *best = nullptr;
      for (auto &p : pes) {
        if (p.type != best_type || !ctx.eligible(task, p)) continue;
        if (!best || p.avail_ns < best->avail_ns || (p.avail_ns == best->avail_ns && p.id < best->id)) best = &p;
      }
      if (best) ctx.commit(task, *best, t, out);
    }
  }
};

}  // namespace

std::unique_ptr<Scheduler> make_met_scheduler() { return std::make_unique<MetScheduler>(); }

}  // namespace cedr

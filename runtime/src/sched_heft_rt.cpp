// sched_heft_rt.cpp - HEFT_RT: rank the ready tasks by their average predicted cost over the
// PE types that can run them (counting only types that have at least one PE), highest rank
// first (ties: lower task id), then place them in that order by earliest finish time (ties:
// lowest PE id).
#include "scheduler.h"

#include <algorithm>

namespace cedr {

namespace {

class HeftRtScheduler : public Scheduler {
 public:
  const char *name() const override { return "HEFT_RT"; }

  void schedule(const std::vector<TaskView> &ready, SchedContext &ctx, std::vector<Assignment> &out) override {
    const std::vector<char> present = ctx.types_present();
    std::vector<double> rank(ready.size(), 0);
    for (size_t t = 0; t < ready.size(); ++t) {
      double sum = 0;
      int n = 0;
      for (int ty = 0; ty < (int)present.size(); ++ty) {
        if (!present[(size_t)ty] || !ready[t].runs_on(ty)) continue;
        sum += ready[t].cost_ns[(size_t)ty];
        ++n;
      }
      rank[t] = n ? sum / n : 0;
    }
    std::vector<size_t> order(ready.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
      if (rank[a] != rank[b]) return rank[a] > rank[b];
      if (ready[a].id != ready[b].id) return ready[a].id < ready[b].id;
      return a < b;
    });
    for (size_t t : order) {
      if (PEView *best = ctx.earliest_finish(ready[t])) ctx.commit(ready[t], *best, t, out);
    }
  }
};

}  // namespace

std::unique_ptr<Scheduler> make_heft_rt_scheduler() { return std::make_unique<HeftRtScheduler>(); }

}  // namespace cedr

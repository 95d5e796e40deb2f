// sched_random.cpp - RANDOM: each task (in enqueue order) goes to a PE drawn uniformly among the
// PEs eligible for it, using the context's generator (so a seed reproduces a run).
#include "scheduler.h"

namespace cedr {

namespace {

class RandomScheduler : public Scheduler {
 public:
  const char *name() const override { return "RANDOM"; }

  void schedule(const std::vector<TaskView> &ready, SchedContext &ctx, std::vector<Assignment> &out) override {
    std::vector<PEView> &pes = *ctx.pes;
    std::mt19937_64 &rng = ctx.rng ? *ctx.rng : own_rng_;
    std::vector<size_t> candidates;
    for (size_t t = 0; t < ready.size(); ++t) {
      candidates.clear();
      for (size_t p = 0; p < pes.size(); ++p)
        if (ctx.eligible(ready[t], pes[p])) candidates.push_back(p);
      if (candidates.empty()) continue;
      // uniform over [0, n) by rejection sampling, without relying on the library's
      // distribution algorithm (the same seed gives the same draws with any standard library)
      const uint64_t n = candidates.size();
      const uint64_t limit = UINT64_MAX - UINT64_MAX % n;
      uint64_t r;
      do r = rng(); while (r >= limit);
      ctx.commit(ready[t], pes[candidates[r % n]], t, out);
    }
  }

 private:
  std::mt19937_64 own_rng_{0};  // only when the caller gives no generator
};

}  // namespace

std::unique_ptr<Scheduler> make_random_scheduler() { return std::make_unique<RandomScheduler>(); }

}  // namespace cedr

// scheduler.h - the one interface every scheduler implements (one scheduler per file:
// sched_simple.cpp, sched_random.cpp, sched_met.cpp, sched_eft.cpp, sched_etf.cpp,
// sched_heft_rt.cpp). Schedulers are pure decision logic over plain data: the live runtime and
// the offline simulator (runtime/sim) drive the same code, which is what makes hand-made task
// sets with known answers testable.
#ifndef CEDR_SCHEDULER_H
#define CEDR_SCHEDULER_H

#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace cedr {

// A processing element as a scheduler sees it.
struct PEView {
  int id = 0;             // index in SchedContext::pes (PEs are ordered by type, then index)
  int type = 0;           // index into the PE-type list of the configuration ("cpu" is type 0)
  std::string name;       // "cpu1", "fft1", ...
  double avail_ns = 0;    // predicted time (runtime clock, ns) at which this PE's queue drains
  int queued = 0;         // tasks assigned to it and not finished (the running one included)
};

// A ready task as a scheduler sees it.
struct TaskView {
  uint64_t id = 0;                 // unique; increases with enqueue order
  double ready_ns = 0;             // when it was enqueued
  std::vector<double> cost_ns;     // predicted execution time per PE type; < 0: cannot run there
  bool runs_on(int type) const { return type < (int)cost_ns.size() && cost_ns[type] >= 0; }
};

struct Assignment {
  size_t task;  // index into the ready vector given to schedule()
  int pe;       // PEView::id
};

struct SchedContext {
  double now_ns = 0;
  std::vector<PEView> *pes = nullptr;
  bool queueing = true;     // false: a PE may only receive a task when it is idle (queued == 0),
                            // and at most one per round; tasks not assigned stay ready
  std::mt19937_64 *rng = nullptr;
  int n_types = 0;

  // Predicted finish time of task t on PE p if it were appended to p's queue now.
  double finish_time(const TaskView &t, const PEView &p) const {
    double start = p.avail_ns > now_ns ? p.avail_ns : now_ns;
    return start + t.cost_ns[p.type];
  }
  // May t be given to p in this round (p can run it, and p is idle when queueing is off)?
  bool eligible(const TaskView &t, const PEView &p) const {
    return t.runs_on(p.type) && (queueing || p.queued == 0);
  }
  // The eligible PE on which t would finish first (ties: lowest id); nullptr when none is.
  PEView *earliest_finish(const TaskView &t) const {
    PEView *best = nullptr;
    double best_finish = 0;
    for (auto &p : *pes) {
      if (!eligible(t, p)) continue;
      const double f = finish_time(t, p);
      if (!best || f < best_finish || (f == best_finish && p.id < best->id)) {
        best = &p;
        best_finish = f;
      }
    }
    return best;
  }
  // present[type] != 0 when the configuration has at least one PE of that type.
  std::vector<char> types_present() const {
    std::vector<char> present;
    for (const auto &p : *pes) {
      if (p.type >= (int)present.size()) present.resize((size_t)p.type + 1, 0);
      present[(size_t)p.type] = 1;
    }
    return present;
  }
  // Record the decision: the PE's predicted availability and queue length move.
  void commit(const TaskView &t, PEView &p, size_t task_index, std::vector<Assignment> &out) const {
    p.avail_ns = finish_time(t, p);
    p.queued += 1;
    out.push_back({task_index, p.id});
  }
};

class Scheduler {
 public:
  virtual ~Scheduler() = default;
  virtual const char *name() const = 0;
  // Decide PEs for some or all of the ready tasks (given in enqueue order) and append one
  // Assignment per decision, using ctx.commit() so that later decisions in the same round see
  // the earlier ones. Tasks left unassigned stay ready for the next round.
  virtual void schedule(const std::vector<TaskView> &ready, SchedContext &ctx, std::vector<Assignment> &out) = 0;
};

// "SIMPLE", "RANDOM", "MET", "EFT", "ETF", "HEFT_RT" (case-insensitive); nullptr when unknown.
std::unique_ptr<Scheduler> make_scheduler(const std::string &name);
const std::vector<std::string> &scheduler_names();

}  // namespace cedr

#endif  // CEDR_SCHEDULER_H

// sim.h - the offline scheduler simulator (cedr-sched-sim). Two inputs, one engine:
//   a task set (taskset.cpp): tasks with fixed release times, played by simulate();
//   a workload (workload.cpp): app instances arriving over time, each a chain of segments whose
//     tasks are released a gap after the previous segment completed, played by simulate_workload().
// Both drive the same discrete-event Engine (engine.cpp), which runs the runtime's schedulers
// (runtime/src/sched_*.cpp) in simulated time: scheduling rounds, FIFO PE queues, the availability
// correction and queueing off exactly as the live runtime does them. main.cpp writes the JSON.
// Times are in ns.
#ifndef CEDR_SIM_H
#define CEDR_SIM_H

#include <cstdint>
#include <deque>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "scheduler.h"

namespace cedr::sim {

// Bad input: main prints the message on one line and exits 2.
struct InputError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The SoC and the scheduling policy (common to both inputs).
struct Machine {
  std::string scheduler;
  uint64_t seed = 0;
  bool queueing = true;
  std::vector<std::string> types;  // PE types in file order
  std::vector<int> counts;         // PEs per type (0: the type exists in the numbering only)
};

// ---------------------------------------------------------------- the engine

// What the engine tells the input mode driving it. Tags are the driver's names for its tasks.
class Driver {
 public:
  virtual ~Driver() = default;
  // The scheduler gave task `tag` to PE `pe` in round `round`.
  virtual void assigned(uint64_t tag, int pe, int round) { (void)tag, (void)pe, (void)round; }
  // Task `tag` starts on `pe` and will end at end_ns.
  virtual void started(uint64_t tag, int pe, double start_ns, double end_ns) = 0;
  // Task `tag` completed at now_ns; the driver may release more tasks (at now_ns or later).
  virtual void finished(uint64_t tag, double now_ns) { (void)tag, (void)now_ns; }
};

// Events are task releases and task completions. At each event time: completions first, in PE
// order (the PE's predicted availability is corrected from the measured time: avail = now + the
// predicted costs of the tasks still queued on it, and its next queued task starts), then the
// releases due at that time, in (order_a, order_b) order. A scheduling round then runs, with
// every ready task, when tasks were released at this time or when a completion happened while
// tasks are still waiting (queueing off). Each PE runs its queue in FIFO order; a task starts at
// max(assignment time, the PE's free time) and runs for its actual time on that PE type.
class Engine {
 public:
  static constexpr uint64_t kAutoId = UINT64_MAX;

  // Throws InputError for an unknown scheduler.
  explicit Engine(const Machine &m);
  // Task `tag` becomes ready at release_ns (not before the current time). pred/actual: per PE
  // type, pred < 0 where it cannot run; both must outlive the run. id: what the scheduler sees
  // as TaskView::id (kAutoId: the number of tasks released before it).
  void release(double release_ns, uint64_t order_a, uint64_t order_b, uint64_t id, const double *pred,
               const double *actual, uint64_t tag);
  // Plays every event. Throws std::logic_error when the scheduler breaks the interface contract
  // (an ineligible or duplicate assignment) or the run stalls.
  void run(Driver &d);

  // ---- after run()
  struct PEInfo {
    std::string name;  // "cpu1", ...: PEs ordered by type, then index
    int type = 0;
    double busy_ns = 0;
    uint64_t tasks = 0;
  };
  const std::vector<PEInfo> &pes() const { return info_; }
  int rounds() const { return rounds_; }
  uint64_t round_tasks() const { return round_tasks_; }  // ready tasks summed over the rounds
  const char *scheduler_name() const { return sched_->name(); }

 private:
  struct Job {
    uint64_t id = 0, tag = 0;
    double ready_ns = 0;
    const double *pred = nullptr, *actual = nullptr;
  };
  struct Release {
    double t;
    uint64_t a, b;
    Job job;
  };
  struct PEState {
    std::deque<uint32_t> queue;  // job slots; the front one is running
    double avail_ns = 0;         // predicted availability (what the scheduler sees)
    double queued_pred = 0;      // predicted costs of the jobs in `queue`
    double run_end = 0;          // when the running job ends (valid when queue is non-empty)
  };
  void start_front(size_t pe, Driver &d);
  void schedule_round(Driver &d);

  std::unique_ptr<Scheduler> sched_;
  bool queueing_ = true;
  int n_types_ = 0;
  std::mt19937_64 rng_;
  std::vector<PEInfo> info_;
  std::vector<PEState> pes_;
  std::vector<Release> heap_;  // min-heap on (t, a, b)
  std::vector<Job> jobs_;      // slots; free ones listed in free_
  std::vector<uint32_t> free_;
  std::vector<uint32_t> ready_;  // job slots, release order
  std::vector<TaskView> tv_;     // parallel to ready_: what the scheduler sees
  uint64_t released_ = 0;
  double now_ = 0;
  int rounds_ = 0;
  uint64_t round_tasks_ = 0;
  // reused by every round
  std::vector<PEView> views_;
  std::vector<Assignment> out_;
  std::vector<char> taken_;
  std::vector<int> given_;
};

// ---------------------------------------------------------------- task sets

struct SimTask {
  uint64_t id = 0;
  double ready_ns = 0;
  std::vector<double> predicted_ns;  // per PE type; < 0: cannot run there
  std::vector<double> actual_ns;     // per PE type; how long it really takes there
};

struct Problem : Machine {
  std::vector<SimTask> tasks;  // in file order
};

struct Placement {
  int pe = -1;  // PE id (PEs ordered by type, then index)
  int round = -1;
  double start_ns = 0, end_ns = 0;
};

struct Result {
  std::vector<std::string> pe_names;  // by PE id
  std::vector<Placement> placement;   // parallel to Problem::tasks
  double makespan_ns = 0;             // last end - first release
  int rounds = 0;
};

Problem read_problem(const std::string &path);
// Throws InputError for an unknown scheduler; std::logic_error when a scheduler breaks the
// interface contract (an ineligible or duplicate assignment) or the run stalls.
Result simulate(const Problem &p);

// ---------------------------------------------------------------- workloads

struct WorkTask {
  std::string api;                   // informative only
  std::vector<double> predicted_ns;  // per PE type; < 0: cannot run there (also: count-0 types)
  std::vector<double> actual_ns;     // per PE type
};

struct Segment {
  double gap_ns = 0;
  size_t first = 0, count = 0;  // its tasks: WorkApp::tasks[first, first + count)
};

struct WorkApp {
  std::string name;
  double tail_ns = 0;
  std::vector<Segment> segments;
  std::vector<WorkTask> tasks;  // every segment's, in order (a task's index within its app)
};

struct WorkInstance {
  size_t app = 0;
  double arrival_ns = 0;
};

struct Workload : Machine {
  std::vector<WorkApp> apps;
  std::vector<WorkInstance> instances;  // app_id = index here
  double round_ns_per_task = 0;
  bool trace = false;
};

struct TaskTrace {
  int pe = -1;
  double ready_ns = 0, start_ns = 0, end_ns = 0;
};

struct WorkloadResult {
  std::string scheduler;  // canonical name
  std::vector<Engine::PEInfo> pes;
  std::vector<double> end_ns;        // per instance
  double makespan_ns = 0;            // last instance end - first arrival
  int rounds = 0;
  uint64_t round_tasks = 0;
  // with Workload::trace: per instance, per task of its app
  std::vector<std::vector<TaskTrace>> tasks;
};

Workload read_workload(const std::string &path);
WorkloadResult simulate_workload(const Workload &w);

}  // namespace cedr::sim

#endif  // CEDR_SIM_H

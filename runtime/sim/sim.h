// sim.h - the offline scheduler simulator (cedr-sched-sim): a task set is read from JSON
// (taskset.cpp), played through one of the runtime's schedulers by a discrete-event engine
// (engine.cpp) and written back as JSON (main.cpp). Times are in ns.
#ifndef CEDR_SIM_H
#define CEDR_SIM_H

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace cedr::sim {

// Bad input: main prints the message on one line and exits 2.
struct InputError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct SimTask {
  uint64_t id = 0;
  double ready_ns = 0;
  std::vector<double> predicted_ns;  // per PE type; < 0: cannot run there
  std::vector<double> actual_ns;     // per PE type; how long it really takes there
};

struct Problem {
  std::string scheduler;
  uint64_t seed = 0;
  bool queueing = true;
  std::vector<std::string> types;  // PE types in file order
  std::vector<int> counts;         // PEs per type
  std::vector<SimTask> tasks;      // in file order
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

}  // namespace cedr::sim

#endif  // CEDR_SIM_H

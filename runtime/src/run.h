// run.h - one run: arrivals, app instance threads, the end of the run, logs.
#ifndef CEDR_RUN_H
#define CEDR_RUN_H

#include <cstdint>
#include <string>
#include <vector>

#include "apps.h"
#include "config.h"
#include "libraries.h"

namespace cedr {

struct RunOptions {
  std::string log_dir;
  std::string scheduler;
  uint64_t seed = 0;
  bool poisson = false;
  bool quiet = false;
  int64_t spin_ns = 0;
  std::string app_output_dir;  // each instance's stdout+stderr to <dir>/<app>.<app_id>.log ("": shared)
  std::string task_trace;      // --task-trace FILE ("": none; see write_task_trace in report.h)
};

struct Arrival {
  int64_t offset_ns;  // from the first arrival time t0
  int spec;
  int k;              // instance k of that spec
};

// Arrival offsets of every instance, ordered by time (ties: spec order, then k). Periodic:
// k * period. Poisson: instance 0 at 0, then exponential gaps of mean period, from a
// std::mt19937_64 seeded with (seed, spec index) - the same seed gives the same offsets.
std::vector<Arrival> plan_arrivals(const std::vector<AppSpec> &specs, bool poisson, uint64_t seed);

struct Instance;
class Runtime;
// Points the calling (instance) thread's stdout and stderr at `path` (its own fd table); also
// used by the daemon (daemon.cpp).
void redirect_instance_output(const std::string &path, const Instance &inst);

// The body of an app instance's thread (run_apps and the daemon): output redirected when `output`
// names a file, the app's main run, its times and exit code recorded, the runtime told.
void run_instance(Runtime &rt, Instance &inst, AppMain main, const std::string &output);

// In an isolated instance's child process (isolate.cpp): the run's exit() and signal guards off.
void run_guards_in_child();

// Runs the apps; returns the exit code (0 all returned 0, 1 some failed). A fatal error writes
// the logs it can and ends the process with exit code 3 (instance threads cannot be joined).
int run_apps(const RunConfig &cfg, const Libraries &libs, const std::vector<App> &apps,
             const std::vector<AppSpec> &specs, const RunOptions &opt);

}  // namespace cedr

#endif  // CEDR_RUN_H

// report.h - the run's logs in the public CEDR formats (timing_trace.log, schedule_trace.log,
// appruntime_trace.log) and summary.json (written last: it marks a complete run).
#ifndef CEDR_REPORT_H
#define CEDR_REPORT_H

#include <memory>
#include <string>
#include <vector>

#include "apps.h"
#include "runtime.h"

namespace cedr {

struct RunInfo {
  std::string log_dir;
  std::string scheduler;
  uint64_t seed = 0;
  std::string arrival;  // "periodic" / "poisson"
  bool queueing = true;
};

// The three .log files. Returns false (with errno-style message in err) if a file cannot be written.
bool write_logs(const RunInfo &info, Runtime &rt, const std::vector<std::unique_ptr<Instance>> &instances,
                std::string &err);
// summary.json. The workers must have stopped.
bool write_summary(const RunInfo &info, Runtime &rt, const std::vector<std::unique_ptr<Instance>> &instances,
                   const std::vector<App> &apps, std::string &err, std::string *one_line = nullptr);

// p in [0, 100], linear interpolation between order statistics; 0 for an empty set.
double percentile(std::vector<double> &sorted_values, double p);

}  // namespace cedr

#endif  // CEDR_REPORT_H

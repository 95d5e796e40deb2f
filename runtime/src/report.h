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

// cedr-run --task-trace FILE: one JSON object describing every task of the run (written to a
// temporary file, then renamed), for building a per-app model of the task structure:
//   {"types": ["cpu", "conv", ...],                     "Worker Threads" types, count 0 included
//    "tasks": [{"instance": 0, "app": "pulse_doppler", "app_id": 0, "task_id": 3, "api": "DASH_FFT",
//               "prec": "flt", "work": 1024, "enqueue_ns": ..., "start_ns": ..., "stop_ns": ...,
//               "pe": "cpu1", "pe_type": "cpu", "pred_ns": {"cpu": 700, "fft": 120}}, ...],
//    "instances": [{"instance": 0, "app": "pulse_doppler", "app_id": 0, "arrival_ns": ...,
//                   "start_ns": ..., "end_ns": ...}, ...],
//    "rounds": {"count": 17, "total_ns": 34000, "tasks": 40}}
// Times are ns of CLOCK_MONOTONIC, the values of the logs (one origin for all of them). "instance"
// is the position in arrival order, "app_id" the logs' number. Tasks sorted by (instance,
// enqueue_ns, task_id); tasks of no instance (calibration) are left out. "pred_ns": the runtime's
// prediction on every PE type with an implementation of the API and precision, types without
// workers included (computed as for scheduling, accelerator estimators and latency model too).
// "rounds": the scheduling rounds, their total time and the ready tasks summed over them.
bool write_task_trace(const std::string &path, Runtime &rt, const std::vector<std::unique_ptr<Instance>> &instances,
                      std::string &err);

// p in [0, 100], linear interpolation between order statistics; 0 for an empty set.
double percentile(std::vector<double> &sorted_values, double p);

}  // namespace cedr

#endif  // CEDR_REPORT_H

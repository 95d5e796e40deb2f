// config.h - the runtime configuration (public CEDR keys plus onnx2cedr's additions), read and
// validated completely before anything runs.
#ifndef CEDR_CONFIG_H
#define CEDR_CONFIG_H

#include <cstdint>
#include <string>
#include <vector>

#include "cost_model.h"

namespace cedr {

// How a non-CPU PE type turns reported (cycles, bytes) into a modeled latency.
struct AccelModel {
  double clock_mhz = 200;
  double bandwidth_gbps = 2.0;
  double overhead_ns = 2000;
  // overhead + cycles / clock + bytes / bandwidth, in ns
  double latency_ns(uint64_t cycles, uint64_t bytes) const {
    return overhead_ns + double(cycles) * 1000.0 / clock_mhz + double(bytes) / bandwidth_gbps;
  }
};

// Injected faults of a non-CPU PE type ("Faults"."inject"): every Nth call on the type, or each
// call with a probability, fails in the given way.
enum class FaultMode { none = 0, error, crash, hang };

struct FaultInjection {
  FaultMode mode = FaultMode::none;
  uint64_t every = 0;       // > 0: calls every, 2*every, ... on this type fail
  double probability = 0;   // else: each call fails with this probability (seeded)
};

struct PeType {
  std::string name;  // "cpu", "fft", ...
  int count = 0;
  AccelModel accel;  // unused for "cpu"
  FaultInjection inject;
};

struct RunConfig {
  std::string path;                       // the config file
  std::vector<PeType> types;              // "cpu" first (always present, maybe count 0), then file order
  std::string scheduler = "SIMPLE";
  uint64_t seed = 0;
  std::vector<std::string> binary_paths;  // "DASH Binary Paths": working directory first, then the config's folder
  // entries naming the public release's libdash-rt.so found in neither place: its APIs are built in
  std::vector<std::string> public_library_absent;
  CostModel costs;
  bool queueing = true;                   // Features."Enable Queueing"
  bool fixed_periodic = true;             // Features."Fixed Periodic Injection"
  bool model_accel_latency = true;        // Features."Model Accelerator Latency"
  // "Faults": an accelerator call that fails (an error it reports, a crash on its worker, or a run
  // longer than deadline_factor x its predicted cost, at least deadline_min_ns) is re-run on a CPU PE
  double deadline_factor = 10;
  double deadline_min_ns = 5e6;
  uint64_t fault_seed = 0;
  bool any_injection = false;
  // "Max Pending Instances": instances submitted and not finished, at most (the daemon refuses more)
  int64_t max_pending_instances = 100000;
  // "Isolation": each app instance in a child process (isolate.h). -1: not set (main.cpp resolves
  // it: --isolate / --no-isolate, else the config, else off).
  int isolate = -1;
  // "Isolation"."instance_timeout_s": an isolated instance still running this long after its start
  // is killed (SIGKILL) and recorded as failed; 0: no limit
  int64_t instance_timeout_ns = 0;

  int total_pes() const {
    int n = 0;
    for (const auto &t : types) n += t.count;
    return n;
  }
  int type_index(const std::string &name) const {
    for (size_t i = 0; i < types.size(); ++i)
      if (types[i].name == name) return int(i);
    return -1;
  }
};

constexpr int kMaxPeTypes = 16;
constexpr int kMaxPes = 256;

// Reads and validates the file; InputError("<path>: <what>") on any problem.
RunConfig load_config(const std::string &path);

}  // namespace cedr

#endif  // CEDR_CONFIG_H

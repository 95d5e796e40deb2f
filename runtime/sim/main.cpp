// main.cpp - cedr-sched-sim: plays a task set or a workload through one of the runtime's
// schedulers in simulated time and prints the outcome as JSON on stdout.
//   cedr-sched-sim TASKSET.json              the assignments of a task set (taskset.cpp)
//   cedr-sched-sim --workload WORKLOAD.json  makespan, PE use and instance latencies of app
//                                            instances over time (workload.cpp; with "trace":
//                                            true, every task's placement too)
// The same file gives byte-identical output.
// Exit status: 0 success; 2 bad usage or bad input (one line on stderr); 1 a scheduler broke
// the interface contract or the run stalled (an internal error).
#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <string>

#include "json.h"
#include "scheduler.h"
#include "sim.h"

using namespace cedr;

namespace {

// json::number's text (integers without a fraction, others as %.17g), faster: a traced workload
// prints millions of them.
void put_number(std::string &o, double v) {
  if (!std::isfinite(v)) {
    o += "null";
    return;
  }
  char buf[48];
  const std::to_chars_result r = v == std::floor(v) && std::fabs(v) < 9.0e15
                                     ? std::to_chars(buf, buf + sizeof buf, (long long)v)
                                     : std::to_chars(buf, buf + sizeof buf, v, std::chars_format::general, 17);
  o.append(buf, r.ptr);
}

const char kUsage[] = "usage: cedr-sched-sim TASKSET.json\n       cedr-sched-sim --workload WORKLOAD.json\n";

std::string taskset_json(const sim::Problem &prob, const sim::Result &res) {
  // assignments in task id order
  std::vector<size_t> order(prob.tasks.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return prob.tasks[a].id < prob.tasks[b].id; });

  const std::string canonical = make_scheduler(prob.scheduler)->name();
  std::string o = "{\n  \"scheduler\": " + json::quote(canonical) + ",\n  \"assignments\": [";
  for (size_t k = 0; k < order.size(); ++k) {
    const auto &pl = res.placement[order[k]];
    o += k ? ",\n    " : "\n    ";
    o += "{\"task\": " + json::number((double)prob.tasks[order[k]].id) + ", \"pe\": " +
         json::quote(res.pe_names[(size_t)pl.pe]) + ", \"round\": " + json::number(pl.round) +
         ", \"start_ns\": " + json::number(pl.start_ns) + ", \"end_ns\": " + json::number(pl.end_ns) + "}";
  }
  o += order.empty() ? "],\n" : "\n  ],\n";
  o += "  \"makespan_ns\": " + json::number(res.makespan_ns) + ",\n";
  o += "  \"rounds\": " + json::number(res.rounds) + "\n}\n";
  return o;
}

std::string workload_json(const sim::Workload &w, const sim::WorkloadResult &res) {
  using json::number;
  std::string o = "{\n  \"scheduler\": " + json::quote(res.scheduler) + ",\n";
  o += "  \"makespan_ns\": " + number(res.makespan_ns) + ",\n";
  o += "  \"rounds\": " + number(res.rounds) + ",\n";
  o += "  \"round_tasks\": " + number((double)res.round_tasks) + ",\n";
  o += "  \"sched_overhead_ns\": " + number((double)res.round_tasks * w.round_ns_per_task) + ",\n";
  o += "  \"pes\": [";
  for (size_t p = 0; p < res.pes.size(); ++p) {
    const auto &pe = res.pes[p];
    o += p ? ",\n    " : "\n    ";
    o += "{\"name\": " + json::quote(pe.name) + ", \"type\": " + json::quote(w.types[(size_t)pe.type]) +
         ", \"busy_ns\": " + number(pe.busy_ns) + ", \"tasks\": " + number((double)pe.tasks) + "}";
  }
  o += res.pes.empty() ? "],\n" : "\n  ],\n";
  o += "  \"instances\": [";
  for (size_t i = 0; i < w.instances.size(); ++i) {
    const auto &in = w.instances[i];
    o += i ? ",\n    " : "\n    ";
    o += "{\"app\": " + json::quote(w.apps[in.app].name) + ", \"app_id\": " + number((double)i) +
         ", \"arrival_ns\": " + number(in.arrival_ns) + ", \"end_ns\": " + number(res.end_ns[i]) +
         ", \"latency_ns\": " + number(res.end_ns[i] - in.arrival_ns) + "}";
  }
  o += w.instances.empty() ? "]" : "\n  ]";
  if (w.trace) {
    o += ",\n  \"tasks\": [";
    bool comma = false;
    std::vector<std::string> pe_names, apis;  // quoted once
    for (const auto &pe : res.pes) pe_names.push_back(json::quote(pe.name));
    for (size_t i = 0; i < w.instances.size(); ++i) {
      const sim::WorkApp &app = w.apps[w.instances[i].app];
      const std::string head = "{\"app_id\": " + number((double)i) + ", \"app\": " + json::quote(app.name) + ", \"task\": ";
      apis.clear();
      for (const auto &t : app.tasks) apis.push_back(json::quote(t.api));
      for (size_t k = 0; k < app.tasks.size(); ++k) {
        const sim::TaskTrace &t = res.tasks[i][k];
        o.append(comma ? ",\n    " : "\n    ").append(head);
        put_number(o, (double)k);
        o.append(", \"api\": ").append(apis[k]).append(", \"pe\": ").append(pe_names[(size_t)t.pe]);
        o.append(", \"ready_ns\": ");
        put_number(o, t.ready_ns);
        o.append(", \"start_ns\": ");
        put_number(o, t.start_ns);
        o.append(", \"end_ns\": ");
        put_number(o, t.end_ns);
        o += '}';
        comma = true;
      }
    }
    o += comma ? "\n  ]" : "]";
  }
  o += "\n}\n";
  return o;
}

}  // namespace

int main(int argc, char **argv) {
  std::string path;
  bool workload = false;
  if (argc == 2 && argv[1][0] != '-') {
    path = argv[1];
  } else if (argc == 3 && std::string(argv[1]) == "--workload") {
    path = argv[2];
    workload = true;
  } else {
    std::fputs(kUsage, stderr);
    return 2;
  }
  std::string out;
  try {
    if (workload) {
      const sim::Workload w = sim::read_workload(path);
      out = workload_json(w, sim::simulate_workload(w));
    } else {
      const sim::Problem prob = sim::read_problem(path);
      out = taskset_json(prob, sim::simulate(prob));
    }
  } catch (const sim::InputError &e) {
    std::string msg = e.what();
    if (msg.rfind(path + ":", 0) != 0) msg = path + ": " + msg;  // parse_file already names the file
    for (auto &c : msg)
      if (c == '\n' || c == '\r') c = ' ';
    std::fprintf(stderr, "cedr-sched-sim: %s\n", msg.c_str());
    return 2;
  } catch (const std::exception &e) {
    std::fprintf(stderr, "cedr-sched-sim: internal error: %s\n", e.what());
    return 1;
  }
  std::fputs(out.c_str(), stdout);
  return 0;
}

// main.cpp - cedr-sched-sim: plays a task set through one of the runtime's schedulers and prints
// the decisions as JSON. Usage: cedr-sched-sim TASKSET.json
// Exit status: 0 success; 2 bad usage or bad input (one line on stderr); 1 a scheduler broke
// the interface contract or the run stalled (an internal error).
#include <algorithm>
#include <cstdio>
#include <string>

#include "json.h"
#include "scheduler.h"
#include "sim.h"

using namespace cedr;

int main(int argc, char **argv) {
  if (argc != 2 || std::string(argv[1]) == "-h" || std::string(argv[1]) == "--help") {
    std::fprintf(stderr, "usage: cedr-sched-sim TASKSET.json\n");
    return 2;
  }
  const std::string path = argv[1];
  sim::Problem prob;
  sim::Result res;
  try {
    prob = sim::read_problem(path);
    res = sim::simulate(prob);
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
  std::fputs(o.c_str(), stdout);
  return 0;
}

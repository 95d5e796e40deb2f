// taskset.cpp - reading and validating a task-set file for cedr-sched-sim.
//
//   {"scheduler": "EFT", "seed": 0, "queueing": true,
//    "pes": {"cpu": 2, "fft": 1},                       PE types in file order: cpu1 cpu2 fft1
//    "cost_functions": {"DASH_FFT_flt": {"cpu": {"fixed_ns": 900, "ns_per_unit": 1.8}}},
//    "costs": {"DASH_FFT_cpu": 1000},                   public size-blind constants
//    "tasks": [{"id": 0, "ready_ns": 0, "api": "DASH_FFT", "prec": "flt", "work": 10240,
//               "runs_on": ["cpu", "fft"]},
//              {"id": 1, "ready_ns": 0, "cost_ns": {"cpu": 100, "fft": 10},
//               "actual_ns": {"cpu": 80}}]}
//
// A task's predictions come either from "cost_ns" (explicit; a type left out cannot run the
// task) or from "api"/"prec"/"work" through the cost model. A work-based task runs on the
// types listed in "runs_on", or by default on "cpu", on every type the file gives a cost
// function or constant for that API, and on the accelerator type whose family the API belongs
// to (fft: FFT; gemm: GEMM, GEMM_RE; zip: ZIP, BINARY, UNARY; conv: CONV_2D, CONV_1D, CONV,
// CONV_TRANSPOSE; gpu: all known APIs), mirroring which <API>_<prec>_<type> implementations
// onnx2cedr provides. "actual_ns" (per type) defaults to the prediction.
#include <cmath>
#include <set>

#include "api_table.h"
#include "cost_model.h"
#include "json.h"
#include "input.h"
#include "scheduler.h"
#include "sim.h"

namespace cedr::sim {

using json::Value;
using namespace input;

namespace {

bool in_family(const std::string &type, const std::string &api) {
  static const std::pair<const char *, const char *> family[] = {
      {"fft", "DASH_FFT"},          {"gemm", "DASH_GEMM"},    {"gemm", "DASH_GEMM_RE"},
      {"zip", "DASH_ZIP"},          {"zip", "DASH_BINARY"},   {"zip", "DASH_UNARY"},
      {"conv", "DASH_CONV_2D"},     {"conv", "DASH_CONV_1D"}, {"conv", "DASH_CONV"},
      {"conv", "DASH_CONV_TRANSPOSE"},
  };
  if (type == "cpu") return true;
  if (type == "gpu") {
    for (const auto &a : known_apis())
      if (a.api == api) return true;
    return false;
  }
  for (const auto &f : family)
    if (type == f.first && api == f.second) return true;
  return false;
}

}  // namespace

Problem read_problem(const std::string &path) {
  const Value root = read_root(path);
  known_keys(root, {"scheduler", "seed", "queueing", "pes", "cost_functions", "costs", "tasks"}, "");
  Problem p;
  read_machine(root, p);

  CostModel model;
  if (const Value *cf = root.get("cost_functions")) {
    if (!cf->is_object()) fail(*cf, std::string("\"cost_functions\": expected an object, got ") + cf->kind_name());
    for (const auto &api : cf->obj) {
      if (!api.second.is_object()) fail(api.second, "\"" + api.first + "\": expected an object");
      for (const auto &ty : api.second.obj) {
        if (!ty.second.is_object()) fail(ty.second, "\"" + api.first + "\"." + ty.first + ": expected an object");
        CostFn f;
        const std::string where = "\"" + api.first + "\"." + ty.first;
        for (const auto &kv : ty.second.obj) {
          if (kv.first == "fixed_ns") f.fixed_ns = number_at_least(kv.second, where + ".fixed_ns", 0);
          else if (kv.first == "ns_per_unit") f.ns_per_unit = number_at_least(kv.second, where + ".ns_per_unit", 0);
          else fail(kv.second, where + ": unknown key \"" + kv.first + "\"");
        }
        model.set_function(api.first, ty.first, f);
      }
    }
  }
  if (const Value *c = root.get("costs")) {
    if (!c->is_object()) fail(*c, std::string("\"costs\": expected an object, got ") + c->kind_name());
    for (const auto &kv : c->obj) {
      const size_t us = kv.first.rfind('_');
      if (us == std::string::npos || us == 0 || us + 1 == kv.first.size())
        fail(kv.second, "\"costs\": key \"" + kv.first + "\" is not <API>_<type>");
      model.set_constant(kv.first.substr(0, us), kv.first.substr(us + 1),
                         number_at_least(kv.second, "\"costs\"." + kv.first, 0));
    }
  }

  const Value &tasks = need(root, "tasks", Value::Array, "an array");
  std::set<uint64_t> ids;
  const size_t nt = p.types.size();
  for (const auto &tv : tasks.arr) {
    if (!tv.is_object()) fail(tv, std::string("task: expected an object, got ") + tv.kind_name());
    known_keys(tv, {"id", "ready_ns", "api", "prec", "work", "cost_ns", "actual_ns", "runs_on"}, "task: ");
    SimTask t;
    const Value *idv = tv.get("id");
    if (!idv) fail(tv, "task: missing \"id\"");
    t.id = count_value(*idv, "task id");
    if (!ids.insert(t.id).second) fail(*idv, "task id " + std::to_string(t.id) + " appears twice");
    const std::string tname = "task " + std::to_string(t.id);
    if (const Value *r = tv.get("ready_ns")) t.ready_ns = number_at_least(*r, tname + ": \"ready_ns\"", 0);
    t.predicted_ns.assign(nt, -1);

    const Value *cost = tv.get("cost_ns");
    const Value *work = tv.get("work");
    if (cost && (work || tv.get("runs_on")))
      fail(tv, tname + ": give either \"cost_ns\" or \"work\" (with \"api\"), not both");
    if (cost) {
      read_type_times(*cost, p, tname, "cost_ns", t.predicted_ns);
    } else {
      if (!work) fail(tv, tname + ": needs \"cost_ns\" or \"api\" and \"work\"");
      const Value *api = tv.get("api");
      if (!api || !api->is_string() || api->str.empty()) fail(tv, tname + ": \"work\" needs an \"api\" string");
      std::string prec = "flt";
      if (const Value *pr = tv.get("prec")) {
        if (!pr->is_string()) fail(*pr, tname + ": \"prec\": expected a string");
        prec = pr->str;
      }
      const double w = number_at_least(*work, tname + ": \"work\"", 0);
      std::vector<char> runs(nt, 0);
      if (const Value *ro = tv.get("runs_on")) {
        if (!ro->is_array()) fail(*ro, tname + ": \"runs_on\": expected an array of PE types");
        for (const auto &x : ro->arr) {
          const int ty = x.is_string() ? type_index(p, x.str) : -1;
          if (ty < 0)
            fail(x, tname + ": unknown PE type " + (x.is_string() ? "\"" + x.str + "\"" : std::string("(not a string)")) +
                        " in \"runs_on\" (types: " + type_list(p) + ")");
          runs[(size_t)ty] = 1;
        }
      } else {
        for (size_t ty = 0; ty < nt; ++ty)
          runs[ty] = in_family(p.types[ty], api->str) ||
                     std::string(model.source(api->str, prec, p.types[ty])) != "default";
      }
      for (size_t ty = 0; ty < nt; ++ty)
        if (runs[ty]) t.predicted_ns[ty] = model.predict(api->str, prec, p.types[ty], w);
    }

    t.actual_ns = t.predicted_ns;
    if (const Value *act = tv.get("actual_ns")) read_type_times(*act, p, tname, "actual_ns", t.actual_ns, &t.predicted_ns);

    bool runnable = false;
    for (size_t ty = 0; ty < nt; ++ty) runnable = runnable || (t.predicted_ns[ty] >= 0 && p.counts[ty] > 0);
    if (!runnable) fail(tv, tname + ": no PE can run it");
    p.tasks.push_back(std::move(t));
  }
  return p;
}

}  // namespace cedr::sim

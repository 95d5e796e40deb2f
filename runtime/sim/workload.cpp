// workload.cpp - the workload mode of cedr-sched-sim: reading and validating a workload file, and
// playing it through the Engine (engine.cpp).
//
//   {"scheduler": "EFT", "seed": 1, "queueing": true,
//    "pes": {"cpu": 3, "conv": 1, "fft": 0},            PE types in file order; count 0: numbering only
//    "apps": [{"name": "vgg", "tail_ns": 500,
//              "segments": [{"gap_ns": 1000, "tasks": [{"api": "DASH_CONV_flt",
//                                                       "cost_ns": {"cpu": 5000, "conv": 900},
//                                                       "actual_ns": {"cpu": 5200}}]}]}],
//    "instances": [{"app": 0, "arrival_ns": 0}, {"app": 0, "arrival_ns": 4000000}],
//    "round_ns_per_task": 250.0, "trace": false}
//
// An instance starts at its arrival. Its segments run in order: a segment's tasks are all released
// (become ready, in list order) gap_ns after the segment begins; the first segment begins at the
// arrival, each later one when every task of the previous one has completed (a segment without
// tasks is just a gap). The instance ends tail_ns after its last segment's tasks completed.
// "cost_ns": the predictions the scheduler sees per PE type (a type left out, or with no PE, cannot
// run the task); "actual_ns": how long it really takes per type (default: cost_ns). Releases at one
// time are ordered by instance (index in "instances"), then task; the scheduler's TaskView ids
// count releases. Defaults: seed 0, queueing true, tail_ns 0, gap_ns 0, tasks [],
// round_ns_per_task 0, trace false.
#include <algorithm>
#include <limits>

#include "input.h"
#include "sim.h"

namespace cedr::sim {

using json::Value;
using namespace input;

Workload read_workload(const std::string &path) {
  const Value root = read_root(path);
  known_keys(root, {"scheduler", "seed", "queueing", "pes", "apps", "instances", "round_ns_per_task", "trace"}, "");
  Workload w;
  read_machine(root, w);
  if (const Value *v = root.get("round_ns_per_task"))
    w.round_ns_per_task = number_at_least(*v, "\"round_ns_per_task\"", 0);
  if (const Value *v = root.get("trace")) w.trace = bool_value(*v, "\"trace\"");
  const size_t nt = w.types.size();

  const Value &apps = need(root, "apps", Value::Array, "an array");
  for (size_t a = 0; a < apps.arr.size(); ++a) {
    const Value &av = apps.arr[a];
    const std::string aname = "apps[" + std::to_string(a) + "]";
    if (!av.is_object()) fail(av, aname + ": expected an object, got " + av.kind_name());
    known_keys(av, {"name", "tail_ns", "segments"}, aname + ": ");
    WorkApp app;
    const Value *nv = av.get("name");
    if (!nv) fail(av, aname + ": missing \"name\"");
    if (!nv->is_string()) fail(*nv, aname + ": \"name\": expected a string, got " + nv->kind_name());
    app.name = nv->str;
    const std::string where = "app \"" + app.name + "\"";
    if (const Value *v = av.get("tail_ns")) app.tail_ns = number_at_least(*v, where + ": \"tail_ns\"", 0);
    const Value *segs = av.get("segments");
    if (!segs) fail(av, where + ": missing \"segments\"");
    if (!segs->is_array()) fail(*segs, where + ": \"segments\": expected an array, got " + segs->kind_name());
    for (size_t s = 0; s < segs->arr.size(); ++s) {
      const Value &sv = segs->arr[s];
      const std::string sname = where + " segment " + std::to_string(s);
      if (!sv.is_object()) fail(sv, sname + ": expected an object, got " + sv.kind_name());
      known_keys(sv, {"gap_ns", "tasks"}, sname + ": ");
      Segment seg;
      seg.first = app.tasks.size();
      if (const Value *v = sv.get("gap_ns")) seg.gap_ns = number_at_least(*v, sname + ": \"gap_ns\"", 0);
      const Value *tasks = sv.get("tasks");
      if (tasks && !tasks->is_array()) fail(*tasks, sname + ": \"tasks\": expected an array, got " + tasks->kind_name());
      const size_t ntasks = tasks ? tasks->arr.size() : 0;
      for (size_t k = 0; k < ntasks; ++k) {
        const Value &tv = tasks->arr[k];
        const std::string tname = sname + " task " + std::to_string(k);
        if (!tv.is_object()) fail(tv, tname + ": expected an object, got " + tv.kind_name());
        known_keys(tv, {"api", "cost_ns", "actual_ns"}, tname + ": ");
        WorkTask t;
        if (const Value *v = tv.get("api")) {
          if (!v->is_string()) fail(*v, tname + ": \"api\": expected a string, got " + v->kind_name());
          t.api = v->str;
        }
        t.predicted_ns.assign(nt, -1);
        const Value *cost = tv.get("cost_ns");
        if (!cost) fail(tv, tname + ": missing \"cost_ns\"");
        read_type_times(*cost, w, tname, "cost_ns", t.predicted_ns);
        t.actual_ns = t.predicted_ns;
        if (const Value *act = tv.get("actual_ns")) read_type_times(*act, w, tname, "actual_ns", t.actual_ns, &t.predicted_ns);
        bool runnable = false;
        for (size_t ty = 0; ty < nt; ++ty) {
          if (w.counts[ty] == 0) t.predicted_ns[ty] = -1;  // no PE of that type: the scheduler never sees it
          runnable = runnable || t.predicted_ns[ty] >= 0;
        }
        if (!runnable) fail(tv, tname + ": no PE can run it (\"cost_ns\" names no type with PEs)");
        app.tasks.push_back(std::move(t));
      }
      seg.count = ntasks;
      app.segments.push_back(seg);
    }
    w.apps.push_back(std::move(app));
  }

  const Value &insts = need(root, "instances", Value::Array, "an array");
  for (size_t i = 0; i < insts.arr.size(); ++i) {
    const Value &iv = insts.arr[i];
    const std::string iname = "instances[" + std::to_string(i) + "]";
    if (!iv.is_object()) fail(iv, iname + ": expected an object, got " + iv.kind_name());
    known_keys(iv, {"app", "arrival_ns"}, iname + ": ");
    WorkInstance inst;
    const Value *av = iv.get("app");
    if (!av) fail(iv, iname + ": missing \"app\"");
    const uint64_t a = count_value(*av, iname + ": \"app\"");
    if (a >= w.apps.size())
      fail(*av, iname + ": \"app\": " + std::to_string(a) + " is not an index into \"apps\" (" +
                    std::to_string(w.apps.size()) + " app(s))");
    inst.app = (size_t)a;
    const Value *tv = iv.get("arrival_ns");
    if (!tv) fail(iv, iname + ": missing \"arrival_ns\"");
    inst.arrival_ns = number_at_least(*tv, iname + ": \"arrival_ns\"", 0);
    w.instances.push_back(inst);
  }
  return w;
}

namespace {

// Tags: instance index << 32 | task index within its app.
class WorkloadDriver : public Driver {
 public:
  WorkloadDriver(const Workload &w, Engine &eng, WorkloadResult &res) : w_(w), eng_(eng), res_(res) {
    const size_t n = w.instances.size();
    seg_.assign(n, 0);
    left_.assign(n, 0);
    res.end_ns.assign(n, 0);
    if (w.trace) {
      res.tasks.resize(n);
      for (size_t i = 0; i < n; ++i) res.tasks[i].resize(w.apps[w.instances[i].app].tasks.size());
    }
    for (size_t i = 0; i < n; ++i) begin_segment(i, 0, w.instances[i].arrival_ns);
  }
  void assigned(uint64_t tag, int pe, int) override {
    if (w_.trace) at(tag).pe = pe;
  }
  void started(uint64_t tag, int, double start_ns, double end_ns) override {
    if (!w_.trace) return;
    at(tag).start_ns = start_ns;
    at(tag).end_ns = end_ns;
  }
  void finished(uint64_t tag, double now) override {
    const size_t i = size_t(tag >> 32);
    if (--left_[i] == 0) begin_segment(i, seg_[i] + 1, now);
  }

 private:
  TaskTrace &at(uint64_t tag) { return res_.tasks[size_t(tag >> 32)][size_t(tag & 0xffffffffu)]; }
  // Segment s of instance i begins at t: its tasks are released gap_ns later (segments without
  // tasks only add their gap); past the last segment, the instance ends tail_ns later.
  void begin_segment(size_t i, size_t s, double t) {
    const WorkApp &app = w_.apps[w_.instances[i].app];
    while (s < app.segments.size() && app.segments[s].count == 0) t += app.segments[s++].gap_ns;
    seg_[i] = s;
    if (s == app.segments.size()) {
      res_.end_ns[i] = t + app.tail_ns;
      return;
    }
    const Segment &seg = app.segments[s];
    const double rel = t + seg.gap_ns;
    left_[i] = seg.count;
    for (size_t k = seg.first; k < seg.first + seg.count; ++k) {
      const WorkTask &task = app.tasks[k];
      if (w_.trace) res_.tasks[i][k].ready_ns = rel;
      eng_.release(rel, i, k, Engine::kAutoId, task.predicted_ns.data(), task.actual_ns.data(), (uint64_t(i) << 32) | k);
    }
  }

  const Workload &w_;
  Engine &eng_;
  WorkloadResult &res_;
  std::vector<size_t> seg_;   // per instance: its current segment
  std::vector<size_t> left_;  // per instance: tasks of that segment not completed yet
};

}  // namespace

WorkloadResult simulate_workload(const Workload &w) {
  Engine eng(w);
  WorkloadResult res;
  res.scheduler = eng.scheduler_name();
  WorkloadDriver d(w, eng, res);
  eng.run(d);
  res.pes = eng.pes();
  res.rounds = eng.rounds();
  res.round_tasks = eng.round_tasks();
  if (!w.instances.empty()) {
    double first = std::numeric_limits<double>::infinity(), last = -first;
    for (size_t i = 0; i < w.instances.size(); ++i) {
      first = std::min(first, w.instances[i].arrival_ns);
      last = std::max(last, res.end_ns[i]);
    }
    res.makespan_ns = last - first;
  }
  return res;
}

}  // namespace cedr::sim

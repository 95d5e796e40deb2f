// report.cpp - logs and summary.
#include "report.h"

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>

#include "isolate.h"
#include "json.h"

namespace cedr {

double percentile(std::vector<double> &v, double p) {
  if (v.empty()) return 0;
  const double pos = p / 100.0 * double(v.size() - 1);
  const size_t lo = size_t(pos);
  const size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (pos - double(lo));
}

namespace {

struct File {
  FILE *f = nullptr;
  std::vector<char> buf;
  File(const std::string &path) : f(std::fopen(path.c_str(), "w")), buf(1 << 20) {
    if (f) std::setvbuf(f, buf.data(), _IOFBF, buf.size());
  }
  bool close() {
    if (!f) return false;
    bool ok = std::ferror(f) == 0;
    ok = (std::fclose(f) == 0) && ok;
    f = nullptr;
    return ok;
  }
  ~File() {
    if (f) std::fclose(f);
  }
};

std::vector<TaskRecord> all_records(Runtime &rt) {
  std::vector<TaskRecord> out;
  size_t n = 0;
  for (auto &pe : rt.pes()) n += pe->records.size();
  out.reserve(n);
  for (auto &pe : rt.pes())
    for (const auto &r : pe->records)
      if (r.instance >= 0) out.push_back(r);
  std::stable_sort(out.begin(), out.end(), [](const TaskRecord &a, const TaskRecord &b) {
    return a.start_ns != b.start_ns ? a.start_ns < b.start_ns : a.pe < b.pe;
  });
  return out;
}

std::string stats(std::vector<double> v, const char *k1, double p1, const char *k2, double p2, bool mean) {
  std::sort(v.begin(), v.end());
  std::string s = "{\"" + std::string(k1) + "\": " + json::number(percentile(v, p1)) + ", \"" + k2 +
                  "\": " + json::number(percentile(v, p2)) + ", \"max\": " + json::number(v.empty() ? 0 : v.back());
  if (mean) {
    double sum = 0;
    for (double x : v) sum += x;
    s += ", \"mean\": " + json::number(v.empty() ? 0 : sum / double(v.size()));
  }
  return s + "}";
}

// "faults": accelerator calls that failed and were re-run on a CPU PE: counts by kind, and the
// first records (the task, the PE, what happened, whether it was injected).
std::string faults_json(Runtime &rt, const std::vector<std::unique_ptr<Instance>> &instances) {
  static const char *kKind[] = {"", "error", "crash", "overrun"};
  uint64_t total = 0, injected = 0, by_kind[4] = {};
  std::vector<const FaultRecord *> all;
  for (auto &pe : rt.pes())
    for (const auto &f : pe->faults) {
      ++total;
      injected += f.injected;
      ++by_kind[int(f.kind) & 3];
      all.push_back(&f);
    }
  std::sort(all.begin(), all.end(), [](const FaultRecord *a, const FaultRecord *b) { return a->start_ns < b->start_ns; });
  std::string s = "  \"faults\": {\"total\": " + json::number(double(total)) + ", \"injected\": " +
                  json::number(double(injected)) + ", \"error\": " + json::number(double(by_kind[1])) +
                  ", \"crash\": " + json::number(double(by_kind[2])) + ", \"overrun\": " +
                  json::number(double(by_kind[3])) + ", \"rerun_on\": \"cpu\", \"records\": [";
  const size_t shown = std::min<size_t>(all.size(), 100);
  for (size_t i = 0; i < shown; ++i) {
    const FaultRecord &f = *all[i];
    const std::string app = f.instance >= 0 ? instances[size_t(f.instance)]->name : std::string();
    s += std::string(i ? ",\n    " : "\n    ") + "{\"app\": " + json::quote(app) + ", \"app_id\": " +
         json::number(f.instance >= 0 ? instances[size_t(f.instance)]->id : -1) + ", \"task_id\": " +
         json::number(double(f.task_id)) + ", \"api\": " + json::quote(rt.slots()[f.slot]->name) + ", \"pe\": " +
         json::quote(rt.pes()[f.pe]->name) + ", \"kind\": " + json::quote(kKind[int(f.kind) & 3]) +
         ", \"detail\": " + json::number(f.detail) + ", \"injected\": " + (f.injected ? "true" : "false") +
         ", \"start_ns\": " + json::number(double(f.start_ns)) + ", \"stop_ns\": " + json::number(double(f.stop_ns)) + "}";
  }
  return s + (shown ? "\n  ]}" : "]}");
}

}  // namespace

bool write_logs(const RunInfo &info, Runtime &rt, const std::vector<std::unique_ptr<Instance>> &instances,
                std::string &err) {
  const auto &slots = rt.slots();
  const auto &pes = rt.pes();
  {
    const std::string path = info.log_dir + "/timing_trace.log";
    File f(path);
    if (!f.f) return err = "cannot write '" + path + "': " + std::strerror(errno), false;
    for (const TaskRecord &r : all_records(rt)) {
      const Instance &inst = *instances[size_t(r.instance)];
      std::fprintf(f.f,
                   "app_id: %d, app_name: %s, task_id: %" PRIu32 ", task_name: %s, resource_name: %s, "
                   "ref_start_time: %" PRId64 ", ref_stop_time: %" PRId64 ", actual_exe_time: %" PRId64 "\n",
                   inst.id, inst.name.c_str(), r.task_id, slots[r.slot]->api.c_str(), pes[r.pe]->name.c_str(),
                   r.start_ns, r.stop_ns, r.stop_ns - r.start_ns);
    }
    if (!f.close()) return err = "cannot write '" + path + "'", false;
  }
  {
    const std::string path = info.log_dir + "/schedule_trace.log";
    File f(path);
    if (!f.f) return err = "cannot write '" + path + "': " + std::strerror(errno), false;
    uint64_t total_ready = 0;
    int64_t total_overhead = 0;
    for (const RoundRecord &r : rt.rounds()) {
      std::fprintf(f.f,
                   "ready_queue_size: %" PRIu32 ", ref_start_time: %" PRId64 ", ref_stop_time: %" PRId64
                   ", sheduling_overhead: %" PRId64 " ns\n",
                   r.ready, r.start_ns, r.stop_ns, r.stop_ns - r.start_ns);
      total_ready += r.ready;
      total_overhead += r.stop_ns - r.start_ns;
    }
    // the public release ends the file with its totals, without a newline
    std::fprintf(f.f, "total_ready_tasks: %" PRIu64 ", total_scheduling_overhead: %" PRId64 " ns", total_ready,
                 total_overhead);
    if (!f.close()) return err = "cannot write '" + path + "'", false;
  }
  {
    const std::string path = info.log_dir + "/appruntime_trace.log";
    File f(path);
    if (!f.f) return err = "cannot write '" + path + "': " + std::strerror(errno), false;
    for (const auto &ip : instances) {
      const Instance &inst = *ip;
      if (!inst.finished) continue;
      std::fprintf(f.f,
                   "app_id: %d, app_name: %s, ref_arrival_time: %" PRId64 ", ref_start_time: %" PRId64
                   ", ref_end_time: %" PRId64 ", app_runtime: %" PRId64 ", app_lifetime: %" PRId64 "\n",
                   inst.id, inst.name.c_str(), inst.arrival_ns, inst.start_ns, inst.end_ns,
                   inst.end_ns - inst.start_ns, inst.end_ns - inst.arrival_ns);
    }
    if (!f.close()) return err = "cannot write '" + path + "'", false;
  }
  return true;
}

bool write_summary(const RunInfo &info, Runtime &rt, const std::vector<std::unique_ptr<Instance>> &instances,
                   const std::vector<App> &apps, std::string &err, std::string *one_line) {
  int64_t start = 0, end = 0;
  bool first = true;
  int failed = 0;
  for (const auto &ip : instances) {
    if (first || ip->arrival_ns < start) start = ip->arrival_ns;
    if (first || ip->end_ns > end) end = ip->end_ns;
    first = false;
    if (ip->exit_code != 0) ++failed;
  }
  const double makespan = double(end - start);
  uint64_t tasks = 0;
  std::vector<double> dispatch;
  for (auto &pe : rt.pes())
    for (const auto &r : pe->records)
      if (r.instance >= 0) {
        ++tasks;
        dispatch.push_back(double(r.start_ns - r.enqueue_ns));
      }

  std::string s = "{\n";
  s += "  \"scheduler\": " + json::quote(info.scheduler) + ",\n";
  s += "  \"seed\": " + json::number(double(info.seed)) + ",\n";
  s += "  \"arrival\": " + json::quote(info.arrival) + ",\n";
  s += std::string("  \"queueing\": ") + (info.queueing ? "true" : "false") + ",\n";
  s += std::string("  \"isolated\": ") + (rt.config().isolate == 1 ? "true" : "false") + ",\n";
  s += "  \"start_ns\": " + json::number(double(start)) + ",\n";
  s += "  \"end_ns\": " + json::number(double(end)) + ",\n";
  s += "  \"makespan_ns\": " + json::number(makespan) + ",\n";
  s += "  \"instances\": " + json::number(double(instances.size())) + ",\n";
  s += "  \"failed_instances\": " + json::number(failed) + ",\n";
  s += "  \"tasks\": " + json::number(double(tasks)) + ",\n";
  s += "  \"pes\": [";
  bool comma = false;
  for (auto &pe : rt.pes()) {
    uint64_t n = 0;
    for (const auto &r : pe->records) n += r.instance >= 0;
    s += std::string(comma ? "," : "") + "\n    {\"name\": " + json::quote(pe->name) +
         ", \"type\": " + json::quote(rt.config().types[pe->type].name) + ", \"tasks\": " + json::number(double(n)) +
         ", \"busy_ns\": " + json::number(double(pe->busy_ns)) +
         ", \"utilization\": " + json::number(makespan > 0 ? double(pe->busy_ns) / makespan : 0) +
         ", \"overruns\": " + json::number(double(pe->overruns)) +
         ", \"faults\": " + json::number(double(pe->faults.size())) + "}";
    comma = true;
  }
  s += "\n  ],\n  \"apps\": [";
  comma = false;
  for (size_t a = 0; a < apps.size(); ++a) {
    std::vector<double> lat, run;
    int n = 0, nf = 0;
    for (const auto &ip : instances) {
      if (ip->app != int(a)) continue;
      ++n;
      nf += ip->exit_code != 0;
      lat.push_back(double(ip->end_ns - ip->arrival_ns));
      run.push_back(double(ip->end_ns - ip->start_ns));
    }
    s += std::string(comma ? "," : "") + "\n    {\"name\": " + json::quote(apps[a].name) +
         ", \"path\": " + json::quote(apps[a].path) + ", \"instances\": " + json::number(n) +
         ", \"failed\": " + json::number(nf) + ",\n     \"latency_ns\": " + stats(lat, "p50", 50, "p95", 95, true) +
         ",\n     \"runtime_ns\": " + stats(run, "p50", 50, "p95", 95, true) + "}";
    comma = true;
  }
  std::vector<double> per_round;
  double total = 0;
  for (const auto &r : rt.rounds()) {
    per_round.push_back(double(r.stop_ns - r.start_ns));
    total += double(r.stop_ns - r.start_ns);
  }
  s += "\n  ],\n  \"scheduling\": {\"rounds\": " + json::number(double(rt.rounds().size())) +
       ", \"total_ns\": " + json::number(total) +
       ", \"per_task_ns\": " + json::number(tasks ? total / double(tasks) : 0) +
       ", \"per_round_ns\": " + stats(per_round, "p50", 50, "p99", 99, false) + "},\n";
  std::vector<double> d = dispatch;
  s += "  \"dispatch_ns\": " + stats(d, "p50", 50, "p99", 99, false) + ",\n";
  s += "  \"failures\": [";
  comma = false;
  for (const auto &ip : instances) {
    if (ip->exit_code == 0) continue;
    s += std::string(comma ? ", " : "") + "{\"app\": " + json::quote(ip->name) +
         ", \"instance\": " + json::number(ip->id) + ", \"exit_code\": " + json::number(ip->exit_code) +
         (ip->signal != 0 ? ", \"signal\": " + json::quote(signal_text(ip->signal)) : std::string()) +
         (ip->timed_out ? ", \"timed_out\": true" : "") + "}";
    comma = true;
  }
  s += "],\n" + faults_json(rt, instances) + "\n}\n";

  const std::string path = info.log_dir + "/summary.json";
  const std::string tmp = path + ".tmp";
  FILE *f = std::fopen(tmp.c_str(), "w");
  if (!f) return err = "cannot write '" + path + "': " + std::strerror(errno), false;
  bool ok = std::fwrite(s.data(), 1, s.size(), f) == s.size();
  ok = (std::fclose(f) == 0) && ok;
  if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) return err = "cannot write '" + path + "'", false;

  if (one_line != nullptr) {
    std::sort(dispatch.begin(), dispatch.end());
    char buf[512];
    std::snprintf(buf, sizeof buf,
                  "%zu instance(s) (%d failed), %" PRIu64 " tasks on %zu PEs, makespan %.3f ms, dispatch p50 %.1f us, "
                  "scheduler %s",
                  instances.size(), failed, tasks, rt.pes().size(), makespan / 1e6, percentile(dispatch, 50) / 1e3,
                  info.scheduler.c_str());
    *one_line = buf;
    // the first failed instance that a signal ended (isolated runs): which, and how
    for (const auto &ip : instances) {
      if (ip->signal == 0) continue;
      *one_line += "; app '" + ip->name + "' (instance " + std::to_string(ip->id) + ") " +
                   (ip->timed_out ? "timed out, killed by " : "killed by ") + signal_text(ip->signal);
      break;
    }
  }
  return true;
}

bool write_task_trace(const std::string &path, Runtime &rt, const std::vector<std::unique_ptr<Instance>> &instances,
                      std::string &err) {
  const auto &slots = rt.slots();
  const auto &pes = rt.pes();
  const auto &types = rt.config().types;
  struct Ref {
    const TaskRecord *r;
    const TaskTraceExtra *x;
    int pe;
  };
  std::vector<Ref> refs;
  for (const auto &pe : pes)
    for (size_t i = 0; i < pe->records.size(); ++i)
      if (pe->records[i].instance >= 0)
        refs.push_back({&pe->records[i], i < pe->trace.size() ? &pe->trace[i] : nullptr, pe->id});
  std::sort(refs.begin(), refs.end(), [](const Ref &a, const Ref &b) {
    if (a.r->instance != b.r->instance) return a.r->instance < b.r->instance;
    if (a.r->enqueue_ns != b.r->enqueue_ns) return a.r->enqueue_ns < b.r->enqueue_ns;
    return a.r->task_id < b.r->task_id;
  });
  auto integer = [](int64_t v) { return std::to_string(v); };

  std::string s = "{\"types\": [";
  for (size_t t = 0; t < types.size(); ++t) s += (t ? ", " : "") + json::quote(types[t].name);
  s += "],\n \"tasks\": [";
  for (size_t k = 0; k < refs.size(); ++k) {
    const TaskRecord &r = *refs[k].r;
    const Instance &inst = *instances[size_t(r.instance)];
    const ApiSlot &sl = *slots[r.slot];
    const PE &pe = *pes[size_t(refs[k].pe)];
    s += k ? ",\n  " : "\n  ";
    s += "{\"instance\": " + integer(r.instance) + ", \"app\": " + json::quote(inst.name) +
         ", \"app_id\": " + integer(inst.id) + ", \"task_id\": " + integer(r.task_id) +
         ", \"api\": " + json::quote(sl.api) + ", \"prec\": " + json::quote(sl.prec) +
         ", \"work\": " + json::number(refs[k].x ? refs[k].x->work : 0.0) +
         ", \"enqueue_ns\": " + integer(r.enqueue_ns) + ", \"start_ns\": " + integer(r.start_ns) +
         ", \"stop_ns\": " + integer(r.stop_ns) + ", \"pe\": " + json::quote(pe.name) +
         ", \"pe_type\": " + json::quote(types[size_t(pe.type)].name) + ", \"pred_ns\": {";
    bool comma = false;
    for (size_t t = 0; refs[k].x && t < types.size(); ++t) {
      const double c = refs[k].x->pred_ns[t];
      if (!(c >= 0)) continue;
      s += (comma ? ", " : "") + json::quote(types[t].name) + ": " + json::number(c);
      comma = true;
    }
    s += "}}";
  }
  s += refs.empty() ? "],\n" : "\n ],\n";
  s += " \"instances\": [";
  bool comma = false;
  for (const auto &ip : instances) {
    const Instance &inst = *ip;
    s += comma ? ",\n  " : "\n  ";
    comma = true;
    s += "{\"instance\": " + integer(inst.index) + ", \"app\": " + json::quote(inst.name) +
         ", \"app_id\": " + integer(inst.id) + ", \"arrival_ns\": " + integer(inst.arrival_ns) +
         ", \"start_ns\": " + integer(inst.start_ns) + ", \"end_ns\": " + integer(inst.end_ns) + "}";
  }
  s += comma ? "\n ],\n" : "],\n";
  int64_t total = 0;
  uint64_t ready = 0;
  for (const RoundRecord &r : rt.rounds()) {
    total += r.stop_ns - r.start_ns;
    ready += r.ready;
  }
  s += " \"rounds\": {\"count\": " + std::to_string(rt.rounds().size()) + ", \"total_ns\": " + integer(total) +
       ", \"tasks\": " + std::to_string(ready) + "}}\n";

  const std::string tmp = path + ".tmp";
  FILE *f = std::fopen(tmp.c_str(), "w");
  if (!f) return err = "cannot write '" + tmp + "': " + std::strerror(errno), false;
  bool ok = std::fwrite(s.data(), 1, s.size(), f) == s.size();
  ok = (std::fclose(f) == 0) && ok;
  if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    return err = "cannot write '" + path + "'", false;
  }
  return true;
}

}  // namespace cedr

// config.cpp - reading and validating the runtime configuration.
#include "config.h"

#include <cctype>
#include <cmath>
#include <set>

#include <unistd.h>

#include "common.h"
#include "json.h"
#include "scheduler.h"

namespace cedr {

namespace {

[[noreturn]] void bad(const std::string &path, const json::Value &at, const std::string &what) {
  throw InputError(path + ": line " + std::to_string(at.line) + ": " + what);
}

// a name from the file, as a JSON string (escaped: a key holding a newline keeps the message one line)
std::string quoted(const std::string &s) { return json::quote(s); }

// the public release's kernel library, as its daemon_config.json names it
const char *const kPublicKernelLibrary = "libdash-rt.so";

// dir + "/" + rel without rel's leading "./" (for messages that name the file plainly)
std::string join_path(const std::string &dir, std::string rel) {
  while (rel.compare(0, 2, "./") == 0) rel.erase(0, 2);
  return dir + "/" + rel;
}

std::string cwd_path(const std::string &rel) {
  char buf[4096];
  if (getcwd(buf, sizeof buf) == nullptr) return rel;
  return join_path(buf, rel);
}

std::string base_name(const std::string &p) {
  const size_t slash = p.find_last_of('/');
  return slash == std::string::npos ? p : p.substr(slash + 1);
}

const json::Value &expect(const std::string &path, const json::Value &v, json::Value::Kind kind,
                          const std::string &where) {
  if (v.kind != kind) {
    json::Value probe;
    probe.kind = kind;
    bad(path, v, where + " must be a " + std::string(probe.kind_name()) + ", got a " + v.kind_name());
  }
  return v;
}

double nonneg_number(const std::string &path, const json::Value &v, const std::string &where) {
  expect(path, v, json::Value::Number, where);
  if (!std::isfinite(v.num) || v.num < 0) bad(path, v, where + " must be >= 0, got " + json::number(v.num));
  return v.num;
}

double positive_number(const std::string &path, const json::Value &v, const std::string &where) {
  expect(path, v, json::Value::Number, where);
  if (!std::isfinite(v.num) || v.num <= 0) bad(path, v, where + " must be > 0, got " + json::number(v.num));
  return v.num;
}

bool identifier(const std::string &s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_')) return false;
  return true;
}

// Keys of the public release that carry no meaning here.
// ("Calibration" holds the raw points of a calibrate output merged into a config.)
const std::set<std::string> kIgnoredTopLevel = {"PAPI Counters", "Use PAPI", "Cache Schedules", "Calibration"};
const std::set<std::string> kKnownTopLevel = {"Worker Threads", "Scheduler", "Random Seed", "DASH Binary Paths",
                                              "DASH API Costs", "Features", "API Cost Functions", "Accelerators",
                                              "Faults", "Max Pending Instances", "Isolation"};
// Features: the public ones (accepted; those without an effect here are ignored) and ours.
const std::set<std::string> kKnownFeatures = {"Enable Queueing", "Loosen Thread Permissions",
                                              "Fixed Periodic Injection", "Exit When Idle",
                                              "Cache Schedules", "Use PAPI", "Model Accelerator Latency"};

std::string join(const std::set<std::string> &names) {
  std::string out;
  for (const auto &n : names) out += (out.empty() ? "" : ", ") + quoted(n);
  return out;
}

void read_worker_threads(const std::string &path, const json::Value &v, RunConfig &cfg) {
  expect(path, v, json::Value::Object, "\"Worker Threads\"");
  cfg.types.clear();
  cfg.types.push_back({"cpu", 0, {}, {}});
  for (const auto &kv : v.obj) {
    const std::string where = "\"Worker Threads\"." + quoted(kv.first);
    if (!identifier(kv.first)) bad(path, kv.second, where + ": a PE type name must be letters, digits or '_'");
    expect(path, kv.second, json::Value::Number, where);
    double n = kv.second.num;
    if (n < 0) bad(path, kv.second, where + " must not be negative, got " + json::number(n));
    if (n != std::floor(n)) bad(path, kv.second, where + " must be a whole number, got " + json::number(n));
    if (n > kMaxPes) bad(path, kv.second, where + " is too large (at most " + std::to_string(kMaxPes) + " PEs)");
    if (kv.first == "cpu") {
      cfg.types[0].count = int(n);
    } else {
      cfg.types.push_back({kv.first, int(n), {}, {}});
    }
  }
  if (int(cfg.types.size()) > kMaxPeTypes)
    bad(path, v, "\"Worker Threads\" has " + std::to_string(cfg.types.size()) + " PE types (at most " +
                     std::to_string(kMaxPeTypes) + ")");
  int total = cfg.total_pes();
  if (total == 0) bad(path, v, "\"Worker Threads\" configures zero PEs in total");
  if (total > kMaxPes) bad(path, v, "\"Worker Threads\" configures " + std::to_string(total) + " PEs (at most " +
                                        std::to_string(kMaxPes) + ")");
}

void read_features(const std::string &path, const json::Value &v, RunConfig &cfg) {
  expect(path, v, json::Value::Object, "\"Features\"");
  for (const auto &kv : v.obj) {
    const std::string where = "\"Features\"." + quoted(kv.first);
    if (!kKnownFeatures.count(kv.first))
      bad(path, kv.second, "unknown feature " + quoted(kv.first) + " (known: " + join(kKnownFeatures) + ")");
    expect(path, kv.second, json::Value::Bool, where);
    if (kv.first == "Enable Queueing") cfg.queueing = kv.second.b;
    if (kv.first == "Fixed Periodic Injection") cfg.fixed_periodic = kv.second.b;
    if (kv.first == "Model Accelerator Latency") cfg.model_accel_latency = kv.second.b;
  }
}

// "DASH_FFT_cpu": 30000 -> constant cost of DASH_FFT on cpu (any precision)
void read_api_costs(const std::string &path, const json::Value &v, RunConfig &cfg) {
  expect(path, v, json::Value::Object, "\"DASH API Costs\"");
  for (const auto &kv : v.obj) {
    const std::string where = "\"DASH API Costs\"." + quoted(kv.first);
    size_t us = kv.first.find_last_of('_');
    if (us == std::string::npos || us == 0 || us + 1 == kv.first.size())
      bad(path, kv.second, where + ": expected a key of the form <API>_<PE type>, e.g. \"DASH_FFT_cpu\"");
    double ns = nonneg_number(path, kv.second, where);
    cfg.costs.set_constant(kv.first.substr(0, us), kv.first.substr(us + 1), ns);
  }
}

// "DASH_FFT_flt": {"cpu": {"fixed_ns": 900, "ns_per_unit": 1.8}}
void read_cost_functions(const std::string &path, const json::Value &v, RunConfig &cfg) {
  expect(path, v, json::Value::Object, "\"API Cost Functions\"");
  for (const auto &api : v.obj) {
    const std::string where = "\"API Cost Functions\".\"" + api.first + "\"";
    size_t us = api.first.find_last_of('_');
    if (us == std::string::npos || us == 0 || us + 1 == api.first.size())
      bad(path, api.second, where + ": expected a key of the form <API>_<prec>, e.g. \"DASH_FFT_flt\"");
    expect(path, api.second, json::Value::Object, where);
    for (const auto &type : api.second.obj) {
      const std::string w2 = where + ".\"" + type.first + "\"";
      expect(path, type.second, json::Value::Object, w2);
      CostFn fn;
      bool has_fixed = false, has_slope = false;
      for (const auto &f : type.second.obj) {
        if (f.first == "fixed_ns") {
          fn.fixed_ns = nonneg_number(path, f.second, w2 + ".fixed_ns");
          has_fixed = true;
        } else if (f.first == "ns_per_unit") {
          fn.ns_per_unit = nonneg_number(path, f.second, w2 + ".ns_per_unit");
          has_slope = true;
        } else {
          bad(path, f.second, w2 + ": unknown key " + quoted(f.first) + " (expected \"fixed_ns\", \"ns_per_unit\")");
        }
      }
      if (!has_fixed && !has_slope) bad(path, type.second, w2 + ": needs \"fixed_ns\" and/or \"ns_per_unit\"");
      cfg.costs.set_function(api.first, type.first, fn);
    }
  }
}

void read_accelerators(const std::string &path, const json::Value &v, RunConfig &cfg) {
  expect(path, v, json::Value::Object, "\"Accelerators\"");
  for (const auto &kv : v.obj) {
    const std::string where = "\"Accelerators\"." + quoted(kv.first);
    // a type absent from "Worker Threads" is checked but has no effect (like "DASH API Costs")
    const int t = cfg.type_index(kv.first);
    if (t == 0) bad(path, kv.second, where + ": the cpu type is not an accelerator");
    expect(path, kv.second, json::Value::Object, where);
    AccelModel unused;
    AccelModel &m = t > 0 ? cfg.types[t].accel : unused;
    for (const auto &f : kv.second.obj) {
      if (f.first == "clock_mhz") {
        m.clock_mhz = positive_number(path, f.second, where + ".clock_mhz");
      } else if (f.first == "bandwidth_gbps") {
        m.bandwidth_gbps = positive_number(path, f.second, where + ".bandwidth_gbps");
      } else if (f.first == "overhead_ns") {
        m.overhead_ns = nonneg_number(path, f.second, where + ".overhead_ns");
      } else {
        bad(path, f.second, where + ": unknown key " + quoted(f.first) +
                                " (expected \"clock_mhz\", \"bandwidth_gbps\", \"overhead_ns\")");
      }
    }
  }
}

// "Faults": {"deadline_factor": 10, "deadline_min_us": 5000, "seed": 1,
//            "inject": {"conv": {"every": 10, "mode": "error"}, "fft": {"probability": 0.05, "mode": "crash"}}}
void read_faults(const std::string &path, const json::Value &v, RunConfig &cfg) {
  expect(path, v, json::Value::Object, "\"Faults\"");
  for (const auto &kv : v.obj) {
    const std::string where = "\"Faults\"." + quoted(kv.first);
    if (kv.first == "deadline_factor") {
      cfg.deadline_factor = positive_number(path, kv.second, where);
    } else if (kv.first == "deadline_min_us") {
      cfg.deadline_min_ns = nonneg_number(path, kv.second, where) * 1000.0;
    } else if (kv.first == "seed") {
      expect(path, kv.second, json::Value::Number, where);
      if (kv.second.num < 0 || kv.second.num != std::floor(kv.second.num))
        bad(path, kv.second, where + " must be a non-negative whole number");
      cfg.fault_seed = uint64_t(kv.second.num);
    } else if (kv.first == "inject") {
      expect(path, kv.second, json::Value::Object, where);
      for (const auto &ty : kv.second.obj) {
        const std::string w2 = where + ".\"" + ty.first + "\"";
        const int t = cfg.type_index(ty.first);
        if (t == 0) bad(path, ty.second, w2 + ": faults are injected into accelerators only (a CPU PE is the fallback)");
        if (t < 0) bad(path, ty.second, w2 + ": not a PE type of \"Worker Threads\"");
        expect(path, ty.second, json::Value::Object, w2);
        FaultInjection &f = cfg.types[t].inject;
        f.mode = FaultMode::error;
        bool has_rate = false;
        for (const auto &k : ty.second.obj) {
          if (k.first == "mode") {
            expect(path, k.second, json::Value::String, w2 + ".mode");
            if (k.second.str == "error") f.mode = FaultMode::error;
            else if (k.second.str == "crash") f.mode = FaultMode::crash;
            else if (k.second.str == "hang") f.mode = FaultMode::hang;
            else bad(path, k.second, w2 + ".mode: expected \"error\", \"crash\" or \"hang\", got " + quoted(k.second.str));
          } else if (k.first == "every") {
            expect(path, k.second, json::Value::Number, w2 + ".every");
            if (k.second.num < 1 || k.second.num != std::floor(k.second.num))
              bad(path, k.second, w2 + ".every must be a whole number >= 1");
            f.every = uint64_t(k.second.num);
            has_rate = true;
          } else if (k.first == "probability") {
            expect(path, k.second, json::Value::Number, w2 + ".probability");
            if (!(k.second.num >= 0 && k.second.num <= 1)) bad(path, k.second, w2 + ".probability must be in [0, 1]");
            f.probability = k.second.num;
            has_rate = true;
          } else {
            bad(path, k.second, w2 + ": unknown key " + quoted(k.first) + " (expected \"mode\", \"every\", \"probability\")");
          }
        }
        if (!has_rate) bad(path, ty.second, w2 + ": give \"every\" or \"probability\"");
        cfg.any_injection = true;
      }
    } else {
      bad(path, kv.second, "unknown key " + quoted(kv.first) +
                               " in \"Faults\" (expected \"deadline_factor\", \"deadline_min_us\", \"seed\", \"inject\")");
    }
  }
}

}  // namespace

RunConfig load_config(const std::string &path) {
  if (!file_exists(path)) throw InputError("config '" + path + "': no such file");
  json::Value doc;
  try {
    doc = json::parse_file(path);
  } catch (const json::ParseError &e) {
    std::string what = e.what();
    // parse_file prefixes the path already
    if (what.compare(0, path.size(), path) == 0) throw InputError("config " + what);
    throw InputError("config " + path + ": " + what);
  }
  if (!doc.is_object()) bad(path, doc, "the configuration must be a JSON object, got a " + std::string(doc.kind_name()));

  RunConfig cfg;
  cfg.path = path;
  for (const auto &kv : doc.obj) {
    if (!kKnownTopLevel.count(kv.first) && !kIgnoredTopLevel.count(kv.first)) {
      std::set<std::string> all = kKnownTopLevel;
      bad(path, kv.second, "unknown key " + quoted(kv.first) + " (known: " + join(all) + ")");
    }
  }
  const json::Value *wt = doc.get("Worker Threads");
  if (wt == nullptr) bad(path, doc, "missing \"Worker Threads\" (e.g. {\"cpu\": 3, \"fft\": 1})");
  read_worker_threads(path, *wt, cfg);

  if (const json::Value *v = doc.get("Scheduler")) {
    expect(path, *v, json::Value::String, "\"Scheduler\"");
    if (!make_scheduler(v->str)) {
      std::string names;
      for (const auto &n : scheduler_names()) names += (names.empty() ? "" : ", ") + n;
      bad(path, *v, "unknown scheduler " + quoted(v->str) + " (valid: " + names + ")");
    }
    cfg.scheduler = v->str;
  }
  if (const json::Value *v = doc.get("Random Seed")) {
    expect(path, *v, json::Value::Number, "\"Random Seed\"");
    if (v->num < 0 || v->num != std::floor(v->num) || v->num > 9007199254740992.0)
      bad(path, *v, "\"Random Seed\" must be a non-negative whole number, got " + json::number(v->num));
    cfg.seed = uint64_t(v->num);
  }
  if (const json::Value *v = doc.get("DASH Binary Paths")) {
    expect(path, *v, json::Value::Array, "\"DASH Binary Paths\"");
    std::string base = dir_of(path);
    if (base[0] != '/') base = cwd_path(base);
    for (const auto &p : v->arr) {
      expect(path, p, json::Value::String, "an entry of \"DASH Binary Paths\"");
      if (p.str.empty()) bad(path, p, "an entry of \"DASH Binary Paths\" is empty");
      if (p.str[0] == '/') {
        cfg.binary_paths.push_back(p.str);
        continue;
      }
      // the public daemon dlopens the path as given, i.e. against its working directory (its README
      // runs `./cedr -c ../daemon_config.json` from build/); then the config's folder
      const std::string in_cwd = cwd_path(p.str), in_cfg = join_path(base, p.str);
      if (file_exists(in_cwd)) {
        cfg.binary_paths.push_back(in_cwd);
      } else if (file_exists(in_cfg)) {
        cfg.binary_paths.push_back(in_cfg);
      } else if (base_name(p.str) == kPublicKernelLibrary) {
        // the public release's CPU kernel library, named the way its daemon finds it from its build
        // folder: the built-in CPU library implements the same APIs, so without it we run on ours
        cfg.public_library_absent.push_back(p.str);
      } else {
        bad(path, p, "library " + quoted(p.str) + " not found: tried " + quoted(in_cwd) + " (working directory) and " +
                         quoted(in_cfg) + " (the config's folder)");
      }
    }
  }
  if (const json::Value *v = doc.get("DASH API Costs")) read_api_costs(path, *v, cfg);
  if (const json::Value *v = doc.get("API Cost Functions")) read_cost_functions(path, *v, cfg);
  if (const json::Value *v = doc.get("Accelerators")) read_accelerators(path, *v, cfg);
  if (const json::Value *v = doc.get("Features")) read_features(path, *v, cfg);
  if (const json::Value *v = doc.get("Faults")) read_faults(path, *v, cfg);
  if (cfg.any_injection && cfg.types[0].count == 0)
    bad(path, *doc.get("Faults"), "\"Faults\".\"inject\" needs a CPU PE to re-run failed calls on (\"Worker Threads\".\"cpu\" is 0)");
  if (const json::Value *v = doc.get("Max Pending Instances")) {
    expect(path, *v, json::Value::Number, "\"Max Pending Instances\"");
    if (v->num < 1 || v->num != std::floor(v->num) || v->num > 1e9)
      bad(path, *v, "\"Max Pending Instances\" must be a whole number from 1 to 10^9, got " + json::number(v->num));
    cfg.max_pending_instances = int64_t(v->num);
  }
  if (const json::Value *v = doc.get("Isolation")) {
    // "Isolation": {"enabled": true, "instance_timeout_s": 30}
    expect(path, *v, json::Value::Object, "\"Isolation\"");
    for (const auto &kv : v->obj) {
      const std::string where = "\"Isolation\"." + quoted(kv.first);
      if (kv.first == "enabled") {
        if (kv.second.kind != json::Value::Bool) bad(path, kv.second, where + " must be true or false");
        cfg.isolate = kv.second.b ? 1 : 0;
      } else if (kv.first == "instance_timeout_s") {
        const double t = nonneg_number(path, kv.second, where);
        if (t > 1e6) bad(path, kv.second, where + " must be at most 10^6 seconds, got " + json::number(t));
        cfg.instance_timeout_ns = int64_t(t * 1e9);
      } else {
        bad(path, kv.second, "unknown key " + quoted(kv.first) + " in \"Isolation\" (expected \"enabled\", \"instance_timeout_s\")");
      }
    }
  }
  return cfg;
}

}  // namespace cedr

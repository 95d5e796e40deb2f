// input.cpp - validation helpers shared by taskset.cpp and workload.cpp (see input.h).
#include "input.h"

#include <cmath>

#include "scheduler.h"

namespace cedr::sim::input {

using json::Value;

void fail(const Value &v, const std::string &what) {
  throw InputError("line " + std::to_string(v.line) + ": " + what);
}

const Value &need(const Value &obj, const std::string &key, Value::Kind kind, const char *kind_name) {
  const Value *v = obj.get(key);
  if (!v) fail(obj, "missing \"" + key + "\"");
  if (v->kind != kind) fail(*v, "\"" + key + "\": expected " + kind_name + ", got " + v->kind_name());
  return *v;
}

void known_keys(const Value &obj, const std::set<std::string> &known, const std::string &where) {
  for (const auto &kv : obj.obj)
    if (!known.count(kv.first)) fail(kv.second, where + "unknown key \"" + kv.first + "\"");
}

double number_at_least(const Value &v, const std::string &what, double lo) {
  if (!v.is_number()) fail(v, what + ": expected a number, got " + v.kind_name());
  if (!(v.num >= lo) || !std::isfinite(v.num))
    fail(v, what + ": expected a number >= " + json::number(lo) + ", got " + json::number(v.num));
  return v.num;
}

uint64_t count_value(const Value &v, const std::string &what) {
  double x = number_at_least(v, what, 0);
  if (x != std::floor(x) || x > 9.0e15) fail(v, what + ": expected a non-negative integer");
  return (uint64_t)x;
}

bool bool_value(const Value &v, const std::string &what) {
  if (!v.is_bool()) fail(v, what + ": expected a boolean, got " + v.kind_name());
  return v.b;
}

Value read_root(const std::string &path) {
  Value root;
  try {
    root = json::parse_file(path);
  } catch (const json::ParseError &e) {
    throw InputError(e.what());
  }
  if (!root.is_object()) fail(root, std::string("expected an object, got ") + root.kind_name());
  return root;
}

void read_machine(const Value &root, Machine &m) {
  m.scheduler = need(root, "scheduler", Value::String, "a string").str;
  if (!make_scheduler(m.scheduler)) {
    std::string names;
    for (const auto &n : scheduler_names()) names += (names.empty() ? "" : ", ") + n;
    fail(*root.get("scheduler"), "unknown scheduler \"" + m.scheduler + "\" (valid: " + names + ")");
  }
  if (const Value *v = root.get("seed")) m.seed = count_value(*v, "\"seed\"");
  if (const Value *v = root.get("queueing")) m.queueing = bool_value(*v, "\"queueing\"");

  const Value &pes = need(root, "pes", Value::Object, "an object");
  int total = 0;
  for (const auto &kv : pes.obj) {
    if (kv.first.empty()) fail(kv.second, "empty PE type name");
    for (char c : kv.first)
      if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
        fail(kv.second, "PE type \"" + kv.first + "\": use lower-case letters, digits and '_'");
    uint64_t n = count_value(kv.second, "\"pes\"." + kv.first);
    if (n > 1024) fail(kv.second, "\"pes\"." + kv.first + ": at most 1024 PEs per type");
    m.types.push_back(kv.first);
    m.counts.push_back((int)n);
    total += (int)n;
  }
  if (total == 0) fail(pes, "\"pes\": no processing elements");
}

void read_type_times(const Value &v, const Machine &m, const std::string &task, const char *key,
                     std::vector<double> &out, const std::vector<double> *runnable) {
  const std::string k = std::string("\"") + key + "\"";
  if (!v.is_object()) fail(v, task + ": " + k + ": expected an object, got " + v.kind_name());
  for (const auto &kv : v.obj) {
    const int ty = type_index(m, kv.first);
    if (ty < 0) fail(kv.second, task + ": unknown PE type \"" + kv.first + "\" in " + k + " (types: " + type_list(m) + ")");
    if (runnable && (*runnable)[(size_t)ty] < 0)
      fail(kv.second, task + ": " + k + " gives a time on \"" + kv.first + "\", which cannot run it");
    out[(size_t)ty] = number_at_least(kv.second, task + ": " + k + "." + kv.first, 0);
  }
}

int type_index(const Machine &m, const std::string &name) {
  for (size_t i = 0; i < m.types.size(); ++i)
    if (m.types[i] == name) return (int)i;
  return -1;
}

std::string type_list(const Machine &m) {
  std::string s;
  for (const auto &t : m.types) s += (s.empty() ? "" : ", ") + t;
  return s;
}

}  // namespace cedr::sim::input

// input.h - validation helpers shared by the two input formats of cedr-sched-sim (taskset.cpp,
// workload.cpp): every problem is an InputError "line L: <what>" naming the key at fault.
#ifndef CEDR_SIM_INPUT_H
#define CEDR_SIM_INPUT_H

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "json.h"
#include "sim.h"

namespace cedr::sim::input {

[[noreturn]] void fail(const json::Value &v, const std::string &what);
// obj[key], which must exist and be of `kind`.
const json::Value &need(const json::Value &obj, const std::string &key, json::Value::Kind kind, const char *kind_name);
// Every key of obj is in `known` (else "<where>unknown key ...").
void known_keys(const json::Value &obj, const std::set<std::string> &known, const std::string &where);
double number_at_least(const json::Value &v, const std::string &what, double lo);
uint64_t count_value(const json::Value &v, const std::string &what);
bool bool_value(const json::Value &v, const std::string &what);
// The file's root object (parse errors become InputErrors).
json::Value read_root(const std::string &path);
// "scheduler" (required, known), "seed", "queueing" and "pes" (required, at least one PE).
void read_machine(const json::Value &root, Machine &m);
// A task's per-type times: `v` = {"<type>": ns, ...} (the task's key `key`) into out[type]. With
// `runnable`, a type where runnable[type] < 0 is refused (an actual time where it cannot run).
void read_type_times(const json::Value &v, const Machine &m, const std::string &task, const char *key,
                     std::vector<double> &out, const std::vector<double> *runnable = nullptr);
// Index of a PE type in m.types; -1 when absent.
int type_index(const Machine &m, const std::string &name);
// "cpu, fft" (for messages).
std::string type_list(const Machine &m);

}  // namespace cedr::sim::input

#endif  // CEDR_SIM_INPUT_H

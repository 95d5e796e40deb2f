// scheduler.cpp - the scheduler registry: canonical names and the case-insensitive factory.
// Each scheduler lives in its own file (sched_<name>.cpp) and exposes one factory function.
#include "scheduler.h"

#include <cctype>

namespace cedr {

std::unique_ptr<Scheduler> make_simple_scheduler();
std::unique_ptr<Scheduler> make_random_scheduler();
std::unique_ptr<Scheduler> make_met_scheduler();
std::unique_ptr<Scheduler> make_eft_scheduler();
std::unique_ptr<Scheduler> make_etf_scheduler();
std::unique_ptr<Scheduler> make_heft_rt_scheduler();

namespace {

struct Entry {
  const char *name;
  std::unique_ptr<Scheduler> (*make)();
};

const Entry kSchedulers[] = {
    {"SIMPLE", make_simple_scheduler}, {"RANDOM", make_random_scheduler}, {"MET", make_met_scheduler},
    {"EFT", make_eft_scheduler},       {"ETF", make_etf_scheduler},       {"HEFT_RT", make_heft_rt_scheduler},
};

std::string upper(const std::string &s) {
  std::string r = s;
  for (auto &c : r) c = (char)std::toupper((unsigned char)c);
  return r;
}

}  // namespace

std::unique_ptr<Scheduler> make_scheduler(const std::string &name) {
  const std::string key = upper(name);
  for (const auto &e : kSchedulers)
    if (key == e.name) return e.make();
  return nullptr;
}

const std::vector<std::string> &scheduler_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> v;
    for (const auto &e : kSchedulers) v.push_back(e.name);
    return v;
  }();
  return names;
}

}  // namespace cedr

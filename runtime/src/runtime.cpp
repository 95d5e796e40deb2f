// runtime.cpp - the runtime's set-up (PEs, API slots), the app side (instances, enqueue and the
// predicted costs of a call) and fatal errors. The rest of the design (runtime.h): task_pool.cpp,
// rounds.cpp (scheduling rounds), workers.cpp (PE workers), impl_call.cpp (calling kernels).
#include "runtime.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "common.h"

namespace cedr {

Runtime *g_runtime = nullptr;
int64_t g_wait_spin_ns = 0;

namespace {

thread_local Instance *tl_instance = nullptr;
thread_local double tl_last_cost = 0;
thread_local std::atomic<int> *tl_offer = nullptr;  // offer_inline: for the next enqueue only
std::atomic<Instance *> g_last_started{nullptr};

// Per-thread cache of the last API slots used (the strings are compared, not only the pointers,
// since an app may build names in reused buffers).
struct SlotCacheEntry {
  const Runtime *owner = nullptr;
  ApiSlot *slot = nullptr;
};
constexpr unsigned kSlotCache = 8;
thread_local SlotCacheEntry tl_slots[kSlotCache];
thread_local unsigned tl_slot_next = 0;
}  // namespace


Runtime::Runtime(const RunConfig &cfg, const Libraries &libs, const std::string &scheduler, uint64_t seed)
    : cfg_(cfg), libs_(libs), sched_(make_scheduler(scheduler)), rng_(seed), fault_rng_(cfg.fault_seed) {
  if (!sched_) throw InputError("unknown scheduler '" + scheduler + "'");
  n_types_ = int(cfg.types.size());
  for (int t = 0; t < n_types_; ++t) {
    for (int k = 0; k < cfg.types[t].count; ++k) {
      auto pe = std::make_unique<PE>();
      pe->owner = this;
      pe->id = int(pes_.size());
      pe->type = t;
      pe->index = k;
      pe->name = cfg.types[t].name + std::to_string(k + 1);
      pe->cpu = (t == 0);
      pe->accel = cfg.types[t].accel;
      pe->records.reserve(1 << 14);
      PEView v;
      v.id = pe->id;
      v.type = t;
      v.name = pe->name;
      pe_views_.push_back(v);
      pes_.push_back(std::move(pe));
    }
  }
  const size_t n = pes_.size();
  stage_head_.assign(n, nullptr);
  stage_tail_.assign(n, nullptr);
  stage_count_.assign(n, 0);
  stage_pred_.assign(n, 0.0);
  expect_outstanding_.assign(n, 0);
  ready_in_.reserve(1 << 12);
  batch_.reserve(1 << 12);
  pending_.reserve(1 << 12);
  rounds_.reserve(1 << 14);
  // Resolve every API we know of now, so that first calls do not pay for dlsym.
  for (const auto &a : known_apis()) slot(a.api, a.prec);
  for (const auto &t : cfg.types)
    for (const auto &ap : libs.apis_for_type(t.name)) slot(ap.first, ap.second);
}

Runtime::~Runtime() {
  if (g_runtime == this) g_runtime = nullptr;
}

ApiSlot *Runtime::slot(const char *api, const char *prec) {
  for (auto &e : tl_slots) {
    if (e.owner == this && e.slot != nullptr && std::strcmp(e.slot->api.c_str(), api) == 0 &&
        std::strcmp(e.slot->prec.c_str(), prec) == 0)
      return e.slot;
  }
  std::string name = std::string(api) + "_" + prec;
  ApiSlot *s = nullptr;
  {
    std::lock_guard<std::mutex> lk(slots_mu_);
    auto it = slot_by_name_.find(name);
    if (it != slot_by_name_.end()) {
      s = it->second;
    } else {
      auto ns = std::make_unique<ApiSlot>();
      ns->api = api;
      ns->prec = prec;
      ns->name = name;
      ns->info = find_api(ns->api, ns->prec);
      ns->index = uint16_t(std::min<size_t>(slots_.size(), 65535));
      for (int t = 0; t < n_types_; ++t) {
        const std::string &type = cfg_.types[t].name;
        void *fn = libs_.find(name + "_" + type);
        ns->impl[t] = fn;
        if (fn == nullptr) continue;
        // accelerators: the implementation's own cycle / byte model, unless calibrated
        if (t > 0 && std::strcmp(cfg_.costs.source(ns->api, ns->prec, type), "function") != 0)
          ns->estimate[t] = libs_.find_companion(name + "_" + type, name + "_" + type + "_estimate");
        const double c0 = cfg_.costs.predict(ns->api, ns->prec, type, 0.0);
        const double c1 = cfg_.costs.predict(ns->api, ns->prec, type, 1.0);
        ns->fixed_ns[t] = std::max(0.0, c0);
        ns->slope_ns[t] = std::max(0.0, c1 - c0);
        if (cfg_.types[t].count > 0) ns->runnable = true;
      }
      s = ns.get();
      slot_by_name_.emplace(name, s);
      slots_.push_back(std::move(ns));
    }
  }
  tl_slots[tl_slot_next] = {this, s};
  tl_slot_next = (tl_slot_next + 1) % kSlotCache;
  return s;
}

double last_enqueued_cost_ns() { return tl_last_cost; }

void offer_inline(std::atomic<int> *word) { tl_offer = word; }

std::atomic<int> *take_inline_offer() {
  std::atomic<int> *w = tl_offer;
  tl_offer = nullptr;
  return w;
}

void Runtime::set_current_instance(Instance *inst) { tl_instance = inst; }

void Runtime::instance_started(Instance *inst) { g_last_started.store(inst, std::memory_order_release); }

void Runtime::fatal(const std::string &msg) {
  {
    std::lock_guard<std::mutex> lk(fatal_mu_);
    if (fatal_msg_.empty()) fatal_msg_ = msg;
  }
  aborted_.store(true, std::memory_order_release);
  for (auto &pe : pes_) {
    { std::lock_guard<std::mutex> lk(pe->mu); }
    pe->cv.notify_all();
  }
  { std::lock_guard<std::mutex> lk(state_mu); }
  state_cv.notify_all();
}

void Runtime::wait_rounds_idle(int64_t max_wait_ns) {
  const int64_t until = now_ns() + max_wait_ns;
  for (;;) {
    {
      std::lock_guard<std::mutex> lk(ready_mu_);
      if (!round_running_) {
        round_running_ = true;  // nobody starts another one from now on
        return;
      }
    }
    if (now_ns() > until) return;
    sleep_until_ns(now_ns() + 100000);
  }
}

Instance *Runtime::current_instance() { return tl_instance; }

std::string Runtime::fatal_message() {
  std::lock_guard<std::mutex> lk(fatal_mu_);
  return fatal_msg_;
}

bool Runtime::enqueue(const char *api, const char *prec, unsigned n_args, va_list ap) {
  const int64_t t0 = now_ns();
  std::atomic<int> *offer = tl_offer;
  tl_offer = nullptr;
  Instance *inst = tl_instance != nullptr ? tl_instance : g_last_started.load(std::memory_order_acquire);
  auto who = [&]() -> std::string {
    return inst != nullptr ? "app '" + inst->name + "' (instance " + std::to_string(inst->id) + ")"
                           : std::string("a thread outside any app");
  };
  if (aborted()) return false;
  if (api == nullptr || prec == nullptr) {
    fatal(who() + " called enqueue_kernel with a null API name or precision");
    return false;
  }
  if (n_args < 1 || n_args > kMaxArgs + 1) {
    fatal(who() + " called enqueue_kernel(\"" + api + "\", \"" + prec + "\") with n_args " + std::to_string(n_args) +
          " (1 to " + std::to_string(kMaxArgs + 1) + ": the argument pointers and the barrier)");
    return false;
  }
  ApiSlot *s = slot(api, prec);
  if (!s->runnable) {
    fatal(who() + " calls " + s->name + ", which no configured PE can run (no " + s->name +
          "_<type> implementation for a PE type with workers)");
    return false;
  }
  if (s->info != nullptr && s->info->n_args != n_args - 1) {
    fatal(who() + " called enqueue_kernel for " + s->name + " with " + std::to_string(n_args - 1) +
          " argument pointers; the API takes " + std::to_string(s->info->n_args));
    return false;
  }
  Task *t = pool_.alloc();
  if (t == nullptr) {
    fatal("too many tasks in flight (" + who() + ")");
    return false;
  }
  t->n_args = n_args - 1;
  for (unsigned i = 0; i < t->n_args; ++i) t->args[i] = va_arg(ap, void *);
  t->barrier = va_arg(ap, cedr_barrier_t *);
  t->slot = s;
  t->inst = inst;
  t->task_id = inst != nullptr ? inst->next_task.fetch_add(1, std::memory_order_relaxed) : 0;
  t->enqueue_ns = t0;
  t->report = nullptr;
  t->next = nullptr;
  call_costs(s, t->args, t->n_args, t->work, t->cost, t->trace_pred);
  double min_cost = -1;
  for (int k = 0; k < n_types_; ++k)
    if (t->cost[k] >= 0 && (min_cost < 0 || t->cost[k] < min_cost)) min_cost = t->cost[k];
  tl_last_cost = min_cost;
  // Short tasks only: a long one gains nothing from skipping a wake-up, and runs on its worker.
  t->inline_pe = nullptr;
  if (offer != nullptr) {
    if (spin_ns_ > 0 && min_cost >= 0 && min_cost <= double(spin_ns_)) {
      t->inline_pe = offer;
    } else {
      offer->store(-3, std::memory_order_release);
    }
  }
  outstanding_tasks_.fetch_add(1, std::memory_order_relaxed);
  submit(t);
  return !aborted();
}

void Runtime::call_costs(const ApiSlot *s, void *const *args, unsigned n_args, double &work, double *cost,
                         double *trace_pred) const {
  const double w = s->info != nullptr ? s->info->work(args) : 1.0;
  work = (std::isfinite(w) && w > 0) ? w : 0.0;
  for (int k = 0; k < n_types_; ++k)
    cost[k] = (s->impl[k] != nullptr && cfg_.types[k].count > 0) ? predict(s, k, args, n_args, work) : -1.0;
  if (trace_) {
    // what the task would cost on the types without workers too (never seen by the scheduler)
    for (int k = 0; k < n_types_; ++k)
      trace_pred[k] = cfg_.types[k].count > 0 ? cost[k] : s->impl[k] != nullptr ? predict(s, k, args, n_args, work) : -1.0;
  }
}

const ApiSlot *Runtime::find_slot(const char *api, const char *prec) const {
  auto it = slot_by_name_.find(std::string(api) + "_" + prec);
  return it != slot_by_name_.end() ? it->second : nullptr;
}

bool Runtime::enqueue_remote(Instance *inst, const char *api, const char *prec, unsigned n_args, void *const *args,
                             void *barrier, double work, const double *cost, const double *trace_pred,
                             std::string &err, std::atomic<int> *offer) {
  const int64_t t0 = now_ns();
  const std::string who = "app '" + inst->name + "' (instance " + std::to_string(inst->id) + ")";
  if (aborted()) return false;
  if (api[0] == '\0' || prec[0] == '\0' || n_args > kMaxArgs) {
    err = who + " called enqueue_kernel with a null API name or precision, or n_args out of 1 to " +
          std::to_string(kMaxArgs + 1);
    return false;
  }
  ApiSlot *s = slot(api, prec);
  if (!s->runnable) {
    err = who + " calls " + s->name + ", which no configured PE can run (no " + s->name +
          "_<type> implementation for a PE type with workers)";
    return false;
  }
  if (s->info != nullptr && s->info->n_args != n_args) {
    err = who + " called enqueue_kernel for " + s->name + " with " + std::to_string(n_args) +
          " argument pointers; the API takes " + std::to_string(s->info->n_args);
    return false;
  }
  Task *t = pool_.alloc();
  if (t == nullptr) {
    fatal("too many tasks in flight (" + who + ")");
    return false;
  }
  t->n_args = n_args;
  for (unsigned i = 0; i < n_args; ++i) t->args[i] = args[i];
  t->barrier = static_cast<cedr_barrier_t *>(barrier);
  t->slot = s;
  t->inst = inst;
  t->task_id = inst->next_task.fetch_add(1, std::memory_order_relaxed);
  t->enqueue_ns = t0;
  t->report = nullptr;
  t->next = nullptr;
  t->inline_pe = nullptr;
  if (work >= 0) {
    t->work = work;
    for (int k = 0; k < n_types_; ++k) {
      // the child's copy of the slot may predate an implementation found since: cost functions then
      t->cost[k] = cost[k] >= 0 || s->impl[k] == nullptr || cfg_.types[k].count == 0
                       ? cost[k] : s->fixed_ns[k] + s->slope_ns[k] * work;
      t->trace_pred[k] = trace_pred[k];
    }
  } else {
    t->work = 1;
    for (int k = 0; k < n_types_; ++k) {
      t->cost[k] = (s->impl[k] != nullptr && cfg_.types[k].count > 0) ? s->fixed_ns[k] + s->slope_ns[k] : -1.0;
      t->trace_pred[k] = s->impl[k] != nullptr ? s->fixed_ns[k] + s->slope_ns[k] : -1.0;
    }
  }
  if (offer != nullptr) {  // a blocking call: short ones are offered to the caller, as in enqueue
    double min_cost = -1;
    for (int k = 0; k < n_types_; ++k)
      if (t->cost[k] >= 0 && (min_cost < 0 || t->cost[k] < min_cost)) min_cost = t->cost[k];
    if (spin_ns_ > 0 && min_cost >= 0 && min_cost <= double(spin_ns_))
      t->inline_pe = offer;
    else
      offer->store(-3, std::memory_order_release);
  }
  outstanding_tasks_.fetch_add(1, std::memory_order_relaxed);
  submit(t);
  return true;  // taken (an abort from here on ends the run anyway)
}

double Runtime::predict(const ApiSlot *s, int type, void *const *args, unsigned n_args, double work) const {
  if (s->estimate[type] != nullptr) {
    uint64_t cycles = 0, bytes = 0;
    call_estimate(s->estimate[type], args, n_args, 0, &cycles, &bytes);
    const double ns = cfg_.types[type].accel.latency_ns(cycles, bytes);
    if (std::isfinite(ns) && ns >= 0) return ns;
  }
  return s->fixed_ns[type] + s->slope_ns[type] * work;
}
}  // namespace cedr

// run.cpp - submitting app instances and ending the run.
#include "run.h"

#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <random>

#include "common.h"
#include "isolate.h"
#include "report.h"
#include "runtime.h"

namespace cedr {

std::vector<Arrival> plan_arrivals(const std::vector<AppSpec> &specs, bool poisson, uint64_t seed) {
  std::vector<Arrival> out;
  for (size_t s = 0; s < specs.size(); ++s) {
    const double period_ns = specs[s].period_us * 1000.0;
    std::seed_seq sq{uint32_t(seed), uint32_t(seed >> 32), uint32_t(s), 0x6364u};
    std::mt19937_64 rng(sq);
    std::exponential_distribution<double> gap(period_ns > 0 ? 1.0 / period_ns : 1.0);
    double t = 0;
    for (int k = 0; k < specs[s].instances; ++k) {
      if (k > 0) t += poisson ? (period_ns > 0 ? gap(rng) : 0.0) : period_ns;
      out.push_back({int64_t(std::llround(poisson ? t : period_ns * k)), int(s), k});
    }
  }
  std::stable_sort(out.begin(), out.end(), [](const Arrival &a, const Arrival &b) {
    if (a.offset_ns != b.offset_ns) return a.offset_ns < b.offset_ns;
    if (a.spec != b.spec) return a.spec < b.spec;
    return a.k < b.k;
  });
  return out;
}

// Gives the calling thread its own file-descriptor table (unshare(CLONE_FILES)) whose 1 and 2 are
// `path`: what the instance prints goes to its own file while the other threads keep theirs. The
// stdio buffers are shared by the process, so stdout is line-buffered during such a run (run_apps)
// and a complete line is written by the thread that printed it.
void redirect_instance_output(const std::string &path, const Instance &inst) {
  if (unshare(CLONE_FILES) != 0) {
    std::fprintf(stderr, "cedr-run: warning: app '%s' (instance %d): cannot separate its output (%s)\n",
                 inst.name.c_str(), inst.id, std::strerror(errno));
    return;
  }
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    std::fprintf(stderr, "cedr-run: warning: cannot write '%s': %s\n", path.c_str(), std::strerror(errno));
    return;
  }
  dup2(fd, STDOUT_FILENO);
  dup2(fd, STDERR_FILENO);
  close(fd);
}

void run_instance(Runtime &rt, Instance &inst, AppMain main, const std::string &output) {
  if (rt.config().isolate == 1) return run_instance_isolated(rt, inst, main, output, rt.config().instance_timeout_ns);
  if (!output.empty()) redirect_instance_output(output, inst);
  Runtime::set_current_instance(&inst);
  inst.start_ns = now_ns();
  rt.instance_started(&inst);
  char arg0[] = "cedr_app";
  char *argv[] = {arg0, nullptr};
  const int rc = main(1, argv, nullptr);
  const int64_t end = now_ns();
  if (!output.empty()) {  // what is still buffered belongs to this instance's file
    std::fflush(stdout);
    std::fflush(stderr);
  }
  {
    std::lock_guard<std::mutex> lk(rt.state_mu);
    inst.end_ns = end;
    inst.exit_code = rc;
    inst.finished = true;
    rt.finished_instances += 1;
  }
  rt.state_cv.notify_all();
}

namespace {

struct InstanceStart {
  Runtime *rt;
  Instance *inst;
  AppMain main;
  std::string output;  // file for the instance's stdout and stderr ("" : the process's)
};

void *instance_main(void *arg) {
  std::unique_ptr<InstanceStart> st(static_cast<InstanceStart *>(arg));
  run_instance(*st->rt, *st->inst, st->main, st->output);
  return nullptr;
}

[[noreturn]] void die_fatal(Runtime &rt, const RunInfo &info, const std::vector<std::unique_ptr<Instance>> &instances) {
  rt.abort_workers();
  rt.wait_rounds_idle(2000000000LL);
  std::string msg = rt.fatal_message();
  std::string err;
  {
    // Instances still running keep writing their own fields; only finished ones are logged.
    std::lock_guard<std::mutex> lk(rt.state_mu);
    if (!write_logs(info, rt, instances, err)) msg += " (and " + err + ")";
  }
  std::fflush(stdout);
  std::fprintf(stderr, "cedr-run: error: %s\n", msg.c_str());
  std::fflush(stderr);
  _exit(3);
}

// While a run is in progress, an app calling exit() or crashing must not end the process
// silently: one error line and exit code 3 (no logs: the run's state is not consistent).
std::atomic<bool> g_run_active{false};

void on_exit_during_run() {
  if (!g_run_active.load()) return;
  const Instance *inst = Runtime::current_instance();
  std::fflush(stdout);
  if (inst != nullptr)
    std::fprintf(stderr, "cedr-run: error: app '%s' (instance %d) called exit() during the run\n", inst->name.c_str(),
                 inst->id);
  else
    std::fprintf(stderr, "cedr-run: error: exit() called during the run\n");
  std::fflush(stderr);
  _exit(3);
}

void on_fatal_signal(int sig) {
  accel_guard_jump(sig);  // an accelerator call that crashed: back to its worker, which re-runs the task on a CPU
  // async-signal-safe only
  char msg[96] = "cedr-run: error: fatal signal ";
  size_t n = std::strlen(msg);
  const char *name = sig == SIGSEGV ? "SIGSEGV" : sig == SIGBUS ? "SIGBUS" : sig == SIGFPE ? "SIGFPE"
                   : sig == SIGILL ? "SIGILL" : "SIGABRT";
  for (const char *c = name; *c && n < sizeof msg - 40; ++c) msg[n++] = *c;
  const char tail[] = " during the run (in an app or a kernel)\n";
  for (const char *c = tail; *c && n < sizeof msg - 1; ++c) msg[n++] = *c;
  ssize_t w = write(STDERR_FILENO, msg, n);
  (void)w;
  _exit(3);
}

void install_run_guards() {
  static bool once = false;
  if (!once) {
    std::atexit(on_exit_during_run);
    once = true;
  }
  struct sigaction sa;
  std::memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_fatal_signal;
  sa.sa_flags = 0;  // stays installed: an accelerator crash survived returns from it (siglongjmp)
  sigemptyset(&sa.sa_mask);
  for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT}) sigaction(sig, &sa, nullptr);
  g_run_active.store(true);
}

}  // namespace

void run_guards_in_child() {
  g_run_active.store(false);  // an isolated instance's exit() is its own exit code
  for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT}) signal(sig, SIG_DFL);
}

namespace {

void remove_run_guards() {
  g_run_active.store(false);
  for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT}) signal(sig, SIG_DFL);
}

}  // namespace

int run_apps(const RunConfig &cfg, const Libraries &libs, const std::vector<App> &apps,
             const std::vector<AppSpec> &specs, const RunOptions &opt) {
  int64_t total = 0;
  for (const auto &s : specs) total += s.instances;
  if (total > cfg.max_pending_instances)
    throw InputError("the workload has " + std::to_string(total) + " instances, more than \"Max Pending Instances\" (" +
                     std::to_string(cfg.max_pending_instances) + ")");
  const std::vector<Arrival> plan = plan_arrivals(specs, opt.poisson, opt.seed);
  std::vector<std::unique_ptr<Instance>> instances;
  instances.reserve(plan.size());
  // app_id as the public release numbers it: one counter over the submission, app by app in the
  // order given, instance k of an app after all instances of the apps before it (not arrival order)
  std::vector<int> first_id(specs.size(), 0);
  for (size_t s = 1; s < specs.size(); ++s) first_id[s] = first_id[s - 1] + specs[s - 1].instances;
  for (size_t i = 0; i < plan.size(); ++i) {
    auto inst = std::make_unique<Instance>();
    inst->id = first_id[size_t(plan[i].spec)] + plan[i].k;
    inst->index = int(i);
    inst->app = specs[plan[i].spec].app;
    inst->name = apps[inst->app].name;
    instances.push_back(std::move(inst));
  }
  RunInfo info;
  info.log_dir = opt.log_dir;
  info.seed = opt.seed;
  info.arrival = opt.poisson ? "poisson" : "periodic";
  info.queueing = cfg.queueing;

  Runtime rt(cfg, libs, opt.scheduler, opt.seed);
  info.scheduler = rt.scheduler_name();
  g_runtime = &rt;
  if (!opt.task_trace.empty()) rt.enable_task_trace();
  rt.start_workers(opt.spin_ns);

  if (!opt.app_output_dir.empty()) {
    if (!make_dirs(opt.app_output_dir)) throw InputError("cannot create '" + opt.app_output_dir + "'");
    std::fflush(stdout);
    setvbuf(stdout, nullptr, _IOLBF, BUFSIZ);
  }
  install_run_guards();
  std::vector<pthread_t> threads(plan.size());
  size_t spawned = 0;
  const int64_t t0 = now_ns() + 200000;  // let the workers settle
  for (size_t i = 0; i < plan.size() && !rt.aborted(); ++i) {
    Instance &inst = *instances[i];
    inst.arrival_ns = t0 + plan[i].offset_ns;
    sleep_until_ns(inst.arrival_ns);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, size_t(64) << 20);
    auto *st = new InstanceStart{&rt, &inst, apps[inst.app].main, ""};
    if (!opt.app_output_dir.empty())
      st->output = opt.app_output_dir + "/" + inst.name + "." + std::to_string(inst.id) + ".log";
    const int rc = pthread_create(&threads[i], &attr, instance_main, st);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
      delete st;
      rt.fatal("cannot start a thread for app '" + inst.name + "' (instance " + std::to_string(inst.id) +
               "): " + std::strerror(rc));
      break;
    }
    ++spawned;
  }
  {
    std::unique_lock<std::mutex> lk(rt.state_mu);
    rt.state_cv.wait(lk, [&] { return rt.aborted() || size_t(rt.finished_instances) == spawned; });
  }
  if (rt.aborted()) die_fatal(rt, info, instances);
  for (size_t i = 0; i < spawned; ++i) pthread_join(threads[i], nullptr);
  // Exit when idle: tasks an instance left behind (_nb calls it never waited for) still run.
  while (rt.outstanding_tasks() > 0 && !rt.aborted()) sleep_until_ns(now_ns() + 100000);
  if (rt.aborted()) die_fatal(rt, info, instances);
  rt.stop_workers();
  g_runtime = nullptr;
  remove_run_guards();

  std::string err, line;
  if (!write_logs(info, rt, instances, err) ||
      (!opt.task_trace.empty() && !write_task_trace(opt.task_trace, rt, instances, err)) ||
      !write_summary(info, rt, instances, apps, err, &line))
    throw FatalError(err);
  int failed = 0;
  for (const auto &ip : instances) failed += ip->exit_code != 0;
  if (!opt.quiet) std::printf("cedr-run: %s; logs in %s\n", line.c_str(), opt.log_dir.c_str());
  std::fflush(stdout);
  return failed ? 1 : 0;
}

}  // namespace cedr

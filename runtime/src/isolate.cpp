// isolate.cpp - app instances in child processes; see isolate.h for the design.
#include "isolate.h"

#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdio_ext.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cerrno>
#include <climits>
#include <condition_variable>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include <thread>

#include "common.h"
#include "daemon.h"
#include "run.h"
#include "runtime.h"

namespace cedr {

// ---- the shared region
struct alignas(64) ExecSlot {
  std::atomic<uint32_t> req{0};   // the runtime bumps it to hand over an op
  char pad0[60];
  std::atomic<uint32_t> done{0};  // the child sets it to req when the op is done
  char pad1[60];
  uint32_t op = 0;                // kExec or kSignal
  uint32_t n = 0;
  uint8_t accel = 0, idx = 0, inject_crash = 0, wake = 0;
  uint8_t signal_after = 0;       // kExec: signal `barrier` once done (CPU calls: nothing to decide)
  void *fn = nullptr;
  void *args[kMaxArgs] = {};
  void *barrier = nullptr;
  IsoResult res;
};

struct IsoShared {
  alignas(64) std::atomic<uint32_t> call_req{0};  // the child bumps it: a call is in the call slot
  alignas(64) std::atomic<uint32_t> call_ack{0};  // the runtime sets it to call_req once taken
  int32_t call_status = 0;                        // 0 taken; else refused (call_error says why)
  char call_error[256] = {};
  char api[64] = {}, prec[16] = {};
  uint32_t n_args = 0;
  void *args[kMaxArgs] = {};
  void *barrier = nullptr;
  double work = 1;
  double cost[kMaxPeTypes] = {};
  double trace_pred[kMaxPeTypes] = {};
  uint32_t blocking = 0;                          // a blocking call (its barrier is the caller's own)
  // A blocking call the runtime has the calling thread run itself (call_status 2: the task was
  // given to an idle CPU PE, as Runtime::run_inline does in-process): the implementation, and
  // when it ran; inl_done is set to call_req once it has.
  alignas(64) std::atomic<uint32_t> inl_done{0};
  void *inl_fn = nullptr;
  int64_t inl_start = 0, inl_stop = 0;
  uint32_t n_pes = 0;
  ExecSlot exec[1];  // n_pes of them
};

namespace {

constexpr uint32_t kExec = 1, kSignal = 2;

int futex(std::atomic<uint32_t> *addr, int op, uint32_t val, const timespec *ts) {
  return int(syscall(SYS_futex, reinterpret_cast<uint32_t *>(addr), op, val, ts, nullptr, 0));
}
void futex_wake(std::atomic<uint32_t> *addr) { futex(addr, FUTEX_WAKE, INT_MAX, nullptr); }
// Waits while *addr == val (spurious returns allowed); timeout_ns < 0: no timeout.
void futex_wait(std::atomic<uint32_t> *addr, uint32_t val, int64_t timeout_ns = -1) {
  if (timeout_ns < 0) {
    futex(addr, FUTEX_WAIT, val, nullptr);
    return;
  }
  timespec ts{time_t(timeout_ns / 1000000000), long(timeout_ns % 1000000000)};
  futex(addr, FUTEX_WAIT, val, &ts);
}
// A short poll before sleeping: the other side usually answers within a few microseconds.
bool spin_until_changed(const std::atomic<uint32_t> &a, uint32_t val, int64_t spin_ns) {
  if (spin_ns <= 0) return a.load(std::memory_order_acquire) != val;
  const int64_t until = now_ns() + spin_ns;
  unsigned k = 0;
  while (a.load(std::memory_order_acquire) == val) {
    cpu_relax();
    if ((++k & 63) == 0 && now_ns() > until) return false;
  }
  return true;
}

// ---- child state
bool g_child = false;
IsoShared *g_child_shm = nullptr;
std::mutex g_child_call_mu;  // app threads of the child take turns at the call slot
int64_t g_iso_spin_ns = 5000;

void child_fatal_signal(int sig) {
  accel_guard_jump(sig);  // an accelerator call that crashed: its executor reports it, the child goes on
  signal(sig, SIG_DFL);
  raise(sig);
}

void *child_executor(void *arg) {
  ExecSlot &e = *static_cast<ExecSlot *>(arg);
  uint32_t seen = 0;  // the region starts zeroed; the runtime may hand an op over before this thread runs
  for (;;) {
    uint32_t r;
    while ((r = e.req.load(std::memory_order_acquire)) == seen) {
      if (!spin_until_changed(e.req, seen, g_iso_spin_ns)) futex_wait(&e.req, seen);
    }
    seen = r;
    if (e.op == kExec && e.signal_after) {
      // A CPU call: the runtime has nothing left to decide, so the barrier is signalled here at
      // once. `done` first: once the app sees its barrier it may end the process, and the runtime
      // must not take the call for lost. (The barrier pointer is read before: the slot is then
      // the runtime's again.)
      call_impl(e.fn, e.args, e.n, false, 0);
      auto *b = static_cast<cedr_barrier_t *>(e.barrier);
      e.done.store(r, std::memory_order_release);
      futex_wake(&e.done);
      if (b != nullptr) {
        pthread_mutex_lock(b->mutex);
        __atomic_add_fetch(b->completion_ctr, 1, __ATOMIC_RELEASE);
        pthread_cond_broadcast(b->cond);
        pthread_mutex_unlock(b->mutex);
      }
      continue;
    }
    if (e.op == kExec) {
      e.res = IsoResult{};
      if (e.accel) {
        accel_account_reset();
        e.res.sig = guarded_accel_call(e.fn, e.args, e.n, e.idx, e.inject_crash != 0);
        e.res.code = accel_error_code();
        e.res.reported = accel_account_read(&e.res.cycles, &e.res.bytes);
      } else {
        call_impl(e.fn, e.args, e.n, false, 0);
      }
    } else if (e.op == kSignal) {
      auto *b = static_cast<cedr_barrier_t *>(e.barrier);
      pthread_mutex_lock(b->mutex);
      __atomic_add_fetch(b->completion_ctr, 1, __ATOMIC_RELEASE);
      if (e.wake) pthread_cond_broadcast(b->cond);
      pthread_mutex_unlock(b->mutex);
    }
    e.done.store(r, std::memory_order_release);
    futex_wake(&e.done);
  }
  return nullptr;
}

[[noreturn]] void child_main(IsoShared *shm, AppMain main, const std::string &output, int ordinal) {
  g_child = true;
  g_child_shm = shm;
  // the runtime's process dies (or the proxy thread ends): so does the child
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  // what the runtime had buffered is not ours to print
  __fpurge(stdout);
  __fpurge(stderr);
  run_guards_in_child();
  daemon_guards_in_child();
  // the runtime's descriptors (the daemon's socket and lock, logs) are not the app's
  if (syscall(SYS_close_range, 3u, ~0u, 0u) != 0)
    for (int fd = 3; fd < 1024; ++fd) close(fd);
  struct rlimit no_core{0, 0};
  setrlimit(RLIMIT_CORE, &no_core);
  struct sigaction sa;
  std::memset(&sa, 0, sizeof sa);
  sa.sa_handler = child_fatal_signal;
  sigemptyset(&sa.sa_mask);
  for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT}) sigaction(sig, &sa, nullptr);
  signal(SIGPIPE, SIG_DFL);
  signal(SIGTERM, SIG_DFL);
  signal(SIGINT, SIG_DFL);
  sigset_t none;
  sigemptyset(&none);
  pthread_sigmask(SIG_SETMASK, &none, nullptr);
  if (!output.empty()) {
    const int fd = open(output.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd >= 0) {
      dup2(fd, STDOUT_FILENO);
      dup2(fd, STDERR_FILENO);
      close(fd);
    }
    setvbuf(stdout, nullptr, _IOLBF, BUFSIZ);
  }
  for (uint32_t p = 0; p < shm->n_pes; ++p) {
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, size_t(16) << 20);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_t th;
    const int rc = pthread_create(&th, &attr, child_executor, &shm->exec[p]);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
      std::fprintf(stderr, "cedr-run: error: isolated instance: cannot start its executor threads: %s\n",
                   std::strerror(rc));
      std::fflush(stderr);
      _exit(3);
    }
  }
  // which instance of its app this is (from 0, in start order over the process's life): what the
  // app's own instance counter would say if the instances shared its memory, as threads do
  setenv("O2C_APP_INSTANCE", std::to_string(ordinal).c_str(), 1);
  char arg0[] = "cedr_app";
  char *argv[] = {arg0, nullptr};
  const int rc = main(1, argv, nullptr);
  std::fflush(stdout);
  std::fflush(stderr);
  _exit(rc == 0 ? 0 : (rc & 0xff) != 0 ? (rc & 0xff) : 1);
}

// ---- the reaper: one thread waits for every child of this process
struct Reaper {
  std::mutex mu;
  std::condition_variable cv;
  std::map<pid_t, IsoInstance *> live;
  std::map<pid_t, int> early;  // reaped before they were registered
  bool started = false;
};
Reaper &reaper() {
  static Reaper *r = new Reaper;  // never destroyed: its thread outlives static destructors
  return *r;
}

void mark_dead(IsoInstance &iso, int status) {
  iso.status = status;
  iso.dead.store(true, std::memory_order_seq_cst);
  // change every word somebody may sleep on (the child is gone: nobody else writes them)
  iso.shm->call_req.fetch_add(1, std::memory_order_seq_cst);
  futex_wake(&iso.shm->call_req);
  iso.shm->inl_done.fetch_add(1, std::memory_order_seq_cst);
  futex_wake(&iso.shm->inl_done);
  for (uint32_t p = 0; p < iso.shm->n_pes; ++p) {
    iso.shm->exec[p].done.fetch_add(1, std::memory_order_seq_cst);
    futex_wake(&iso.shm->exec[p].done);
  }
}

void reaper_main() {
  Reaper &r = reaper();
  for (;;) {
    int status = 0;
    const pid_t pid = waitpid(-1, &status, 0);
    if (pid < 0) {
      if (errno == EINTR) continue;
      std::unique_lock<std::mutex> lk(r.mu);  // no child now: wait for one
      r.cv.wait(lk, [&] { return !r.live.empty(); });
      continue;
    }
    std::lock_guard<std::mutex> lk(r.mu);
    auto it = r.live.find(pid);
    if (it == r.live.end()) {
      r.early[pid] = status;
      continue;
    }
    IsoInstance *iso = it->second;
    r.live.erase(it);
    mark_dead(*iso, status);
  }
}

void reaper_register(IsoInstance &iso) {
  Reaper &r = reaper();
  std::lock_guard<std::mutex> lk(r.mu);
  if (!r.started) {
    std::thread(reaper_main).detach();
    r.started = true;
  }
  auto e = r.early.find(iso.pid);
  if (e != r.early.end()) {
    mark_dead(iso, e->second);
    r.early.erase(e);
    return;
  }
  r.live[iso.pid] = &iso;
  r.cv.notify_all();
}

const char *signal_name(int sig) {
  switch (sig) {
    case SIGSEGV: return "SIGSEGV";
    case SIGBUS: return "SIGBUS";
    case SIGFPE: return "SIGFPE";
    case SIGILL: return "SIGILL";
    case SIGABRT: return "SIGABRT";
    case SIGKILL: return "SIGKILL";
    case SIGTERM: return "SIGTERM";
    case SIGINT: return "SIGINT";
    case SIGPIPE: return "SIGPIPE";
    default: return nullptr;
  }
}

}  // namespace

std::string signal_text(int sig) {
  const char *n = signal_name(sig);
  return n != nullptr ? n : "signal " + std::to_string(sig);
}

IsoInstance::~IsoInstance() {
  if (shm != nullptr) munmap(shm, shm_size);
}

bool iso_in_child() { return g_child; }

void iso_child_enqueue(const char *api, const char *prec, unsigned n_args, va_list ap) {
  IsoShared &s = *g_child_shm;
  const Runtime *rt = g_runtime;  // the runtime as it was at the fork: read-only here
  std::atomic<int> *offer = take_inline_offer();
  // never run inline in the runtime's process (the call's memory is here): the runtime may have this
  // thread run it instead (call_status 2 below), and then signals nothing
  if (offer != nullptr) offer->store(-3, std::memory_order_release);
  void *args[kMaxArgs + 1] = {};
  const unsigned n = std::min<unsigned>(n_args, kMaxArgs + 1);
  for (unsigned i = 0; i < n; ++i) args[i] = va_arg(ap, void *);
  std::lock_guard<std::mutex> lk(g_child_call_mu);
  const bool ok_shape = api != nullptr && prec != nullptr && n_args >= 1 && n_args <= kMaxArgs + 1;
  std::snprintf(s.api, sizeof s.api, "%s", api ? api : "");
  std::snprintf(s.prec, sizeof s.prec, "%s", prec ? prec : "");
  s.n_args = ok_shape ? n_args - 1 : n_args;
  for (unsigned i = 0; i + 1 < n && i < kMaxArgs; ++i) s.args[i] = args[i];
  s.barrier = n >= 1 ? args[n - 1] : nullptr;
  s.blocking = offer != nullptr && s.barrier != nullptr;
  s.work = 1;
  for (int k = 0; k < kMaxPeTypes; ++k) s.cost[k] = s.trace_pred[k] = -1;
  const ApiSlot *slot = ok_shape ? rt->find_slot(api, prec) : nullptr;
  if (slot != nullptr && (slot->info == nullptr || slot->info->n_args == n_args - 1))
    rt->call_costs(slot, args, n_args - 1, s.work, s.cost, s.trace_pred);
  else
    s.work = -1;  // the runtime predicts from its cost functions (or refuses the call)
  const uint32_t r = s.call_req.load(std::memory_order_relaxed) + 1;
  s.call_req.store(r, std::memory_order_release);
  futex_wake(&s.call_req);
  while (s.call_ack.load(std::memory_order_acquire) != r) {
    const uint32_t seen = s.call_ack.load(std::memory_order_acquire);
    if (seen == r) break;
    if (!spin_until_changed(s.call_ack, seen, g_iso_spin_ns)) futex_wait(&s.call_ack, seen);
  }
  if (s.call_status == 2) {
    // ours to run, on this thread, as the CPU PE the runtime took it for: then the times, `done`
    // (first: once the barrier is signalled the app may end the process), and the barrier
    const int64_t t0 = now_ns();
    call_impl(s.inl_fn, s.args, s.n_args, false, 0);
    s.inl_start = t0;
    s.inl_stop = now_ns();
    auto *b = static_cast<cedr_barrier_t *>(s.barrier);
    s.inl_done.store(r, std::memory_order_release);
    futex_wake(&s.inl_done);
    pthread_mutex_lock(b->mutex);
    __atomic_add_fetch(b->completion_ctr, 1, __ATOMIC_RELEASE);
    pthread_cond_broadcast(b->cond);
    pthread_mutex_unlock(b->mutex);
    return;
  }
  if (s.call_status != 0) {
    std::fflush(stdout);
    std::fprintf(stderr, "cedr-run: error: %s\n", s.call_error);
    std::fflush(stderr);
    _exit(3);
  }
}

bool iso_execute(IsoInstance &iso, int pe_id, void *fn, void *const *args, unsigned n, bool accel, uint8_t idx,
                 bool inject_crash, IsoResult &res, void *signal_barrier) {
  ExecSlot &e = iso.shm->exec[pe_id];
  auto wait_done = [&](uint32_t r) {
    for (;;) {
      const uint32_t d = e.done.load(std::memory_order_acquire);
      if (iso.dead.load(std::memory_order_acquire)) return false;
      if (d == r) return true;
      if (!spin_until_changed(e.done, d, g_iso_spin_ns)) futex_wait(&e.done, d);
    }
  };
  const uint32_t prev = e.req.load(std::memory_order_relaxed);
  if (!wait_done(prev)) return false;  // a barrier signal handed over before
  e.op = kExec;
  e.fn = fn;
  e.n = n;
  for (unsigned i = 0; i < n; ++i) e.args[i] = args[i];
  e.accel = accel;
  e.idx = idx;
  e.inject_crash = inject_crash;
  e.barrier = signal_barrier;
  e.signal_after = !accel;
  const uint32_t r = prev + 1;
  e.req.store(r, std::memory_order_release);
  futex_wake(&e.req);
  if (!wait_done(r)) return false;
  res = e.res;
  return true;
}

void iso_signal(IsoInstance &iso, int pe_id, void *barrier, bool wake) {
  ExecSlot &e = iso.shm->exec[pe_id];
  const uint32_t prev = e.req.load(std::memory_order_relaxed);
  for (;;) {
    const uint32_t d = e.done.load(std::memory_order_acquire);
    if (iso.dead.load(std::memory_order_acquire)) return;
    if (d == prev) break;
    if (!spin_until_changed(e.done, d, g_iso_spin_ns)) futex_wait(&e.done, d);
  }
  e.op = kSignal;
  e.barrier = barrier;
  e.wake = wake;
  e.req.store(prev + 1, std::memory_order_release);
  futex_wake(&e.req);
}

void run_instance_isolated(Runtime &rt, Instance &inst, AppMain main, const std::string &output, int64_t timeout_ns) {
  auto iso = std::make_shared<IsoInstance>();
  const uint32_t n_pes = uint32_t(rt.pes().size());
  iso->shm_size = sizeof(IsoShared) + sizeof(ExecSlot) * (n_pes > 0 ? n_pes - 1 : 0);
  void *mem = mmap(nullptr, iso->shm_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  auto fail_start = [&](const std::string &why) {
    std::fflush(stdout);
    std::fprintf(stderr, "cedr-run: error: app '%s' (instance %d): %s\n", inst.name.c_str(), inst.id, why.c_str());
    std::fflush(stderr);
    std::lock_guard<std::mutex> lk(rt.state_mu);
    inst.start_ns = inst.end_ns = now_ns();
    inst.exit_code = 3;
    inst.finished = true;
    rt.finished_instances += 1;
  };
  if (mem == MAP_FAILED) {
    fail_start(std::string("cannot map its shared memory: ") + std::strerror(errno));
    rt.state_cv.notify_all();
    return;
  }
  iso->shm = new (mem) IsoShared();
  iso->shm->n_pes = n_pes;
  for (uint32_t p = 1; p < n_pes; ++p) new (&iso->shm->exec[p]) ExecSlot();
  inst.iso = iso;  // before any task: workers look here

  int ordinal;
  {
    static std::mutex mu;
    static std::map<AppMain, int> started;  // per app (its main): instances started so far
    std::lock_guard<std::mutex> lk(mu);
    ordinal = started[main]++;
  }
  inst.start_ns = now_ns();
  rt.instance_started(&inst);
  std::fflush(stdout);
  std::fflush(stderr);
  const pid_t pid = fork();
  if (pid == 0) child_main(iso->shm, main, output, ordinal);
  if (pid < 0) {
    fail_start(std::string("cannot fork its process: ") + std::strerror(errno));
    rt.state_cv.notify_all();
    return;
  }
  iso->pid = pid;
  reaper_register(*iso);

  IsoShared &s = *iso->shm;
  const int64_t deadline = timeout_ns > 0 ? inst.start_ns + timeout_ns : -1;
  bool timed_out = false;
  std::string refused;
  // One wait of this thread on `word` while it reads `val`: kills the child when the run aborts or the
  // instance overruns its timeout (the reaper then marks it dead, which changes every word waited on).
  auto wait_on = [&](std::atomic<uint32_t> &word, uint32_t val) {
    if (rt.aborted()) kill(pid, SIGKILL);
    int64_t wait_ns = -1;
    if (deadline > 0 && !timed_out) {
      const int64_t now = now_ns();
      if (now >= deadline) {
        timed_out = true;
        kill(pid, SIGKILL);
        return;
      }
      wait_ns = deadline - now;
    }
    if (!spin_until_changed(word, val, g_iso_spin_ns)) futex_wait(&word, val, wait_ns);
  };
  // A short blocking call given to an idle CPU PE (dispatch set `offer` to its id): the child's calling
  // thread runs it (one hand-off each way instead of through a worker and the child's executor).
  // The scheduling round may be another thread's: look for a moment, as the in-process caller does,
  // then withdraw the offer. True when the call was answered here (run, or its child is gone).
  auto run_in_caller = [&](uint32_t r, std::atomic<int> &offer) {
    int pe = offer.load(std::memory_order_acquire);
    const int64_t until = now_ns() + std::min<int64_t>(g_iso_spin_ns, 20000);
    while (pe == -1 && now_ns() < until) {
      cpu_relax();
      pe = offer.load(std::memory_order_acquire);
    }
    if (pe == -1 && offer.compare_exchange_strong(pe, -2, std::memory_order_acq_rel)) pe = -2;
    if (pe < 0) return false;
    return rt.run_inline_remote(pe, static_cast<const cedr_barrier_t *>(s.barrier),
                                [&](void *fn, int64_t &start, int64_t &stop) {
                                  s.inl_fn = fn;
                                  s.call_status = 2;
                                  s.call_ack.store(r, std::memory_order_release);
                                  futex_wake(&s.call_ack);
                                  for (uint32_t d; (d = s.inl_done.load(std::memory_order_acquire)) != r;) {
                                    if (iso->dead.load(std::memory_order_acquire)) return false;
                                    wait_on(s.inl_done, d);
                                  }
                                  start = s.inl_start;
                                  stop = s.inl_stop;
                                  return true;
                                });
  };
  uint32_t seen = 0;
  for (;;) {
    if (iso->dead.load(std::memory_order_acquire)) break;
    const uint32_t r = s.call_req.load(std::memory_order_acquire);
    if (r == seen) {
      wait_on(s.call_req, r);
      continue;
    }
    seen = r;
    std::string err;
    iso->in_flight.fetch_add(1, std::memory_order_acq_rel);
    s.call_status = 0;
    std::atomic<int> offer{-1};
    const bool blocking = s.blocking != 0;
    const bool taken = rt.enqueue_remote(&inst, s.api, s.prec, s.n_args, s.args, s.barrier, s.work, s.cost,
                                         s.trace_pred, err, blocking ? &offer : nullptr);
    if (taken && blocking && run_in_caller(r, offer)) continue;  // acknowledged there
    if (!taken) {
      iso->in_flight.fetch_sub(1, std::memory_order_acq_rel);
      if (rt.aborted()) {
        kill(pid, SIGKILL);
      } else {
        s.call_status = 1;
        std::snprintf(s.call_error, sizeof s.call_error, "%s", err.c_str());
        if (refused.empty()) refused = err;
      }
    }
    s.call_ack.store(r, std::memory_order_release);
    futex_wake(&s.call_ack);
  }
  const int64_t end = now_ns();
  const int st = iso->status;
  int code = 0, sig = 0;
  if (WIFEXITED(st)) code = WEXITSTATUS(st);
  else if (WIFSIGNALED(st)) sig = WTERMSIG(st), code = 128 + sig;
  if (timed_out) {
    std::fflush(stdout);
    std::fprintf(stderr, "cedr-run: app '%s' (instance %d) ran over its timeout (%.3f s) and was killed\n",
                 inst.name.c_str(), inst.id, double(timeout_ns) / 1e9);
    std::fflush(stderr);
  } else if (sig != 0) {
    std::fflush(stdout);
    std::fprintf(stderr, "cedr-run: app '%s' (instance %d) crashed (%s) in its own process; recorded as failed "
                 "(exit code %d), the other instances go on\n", inst.name.c_str(), inst.id, signal_text(sig).c_str(), code);
    std::fflush(stderr);
  }
  {
    std::lock_guard<std::mutex> lk(rt.state_mu);
    inst.end_ns = end;
    inst.exit_code = code;
    inst.signal = sig;
    inst.timed_out = timed_out;
    inst.finished = true;
    rt.finished_instances += 1;
  }
  rt.state_cv.notify_all();
  // its tasks still queued on PEs are dropped as the PEs reach them; the region goes after them
  while (iso->in_flight.load(std::memory_order_acquire) > 0 && !rt.aborted()) sleep_until_ns(now_ns() + 200000);
  if (iso->in_flight.load(std::memory_order_acquire) > 0) return;  // aborted: the process ends
  { std::lock_guard<std::mutex> lk(reaper().mu); }  // the reaper is done with the region (mark_dead)
  munmap(iso->shm, iso->shm_size);
  iso->shm = nullptr;
}

}  // namespace cedr

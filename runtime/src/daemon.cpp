// daemon.cpp - cedr-run --daemon: submissions from many clients over time on one runtime.
//
// Threads: the main thread polls the listening socket and a wake pipe (an idle daemon blocks
// there, the PE workers block on their condition variables); one short-lived thread per client
// connection; one arrival thread per submission (it starts that submission's instances at their
// arrival times, as run_apps does for a run); one thread per instance; a supervisor that waits
// for the end (stop requested and every started instance finished, or a fatal runtime error).
//
// An instance that crashes (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT on its own thread) or calls
// exit() is recorded as failed (exit code 128 + signal, or 1) and its thread is parked for good:
// the daemon keeps serving and still writes complete logs. This is best effort: a crash that
// corrupted the heap or holds a lock can still hang or end the process. A crash on any other
// thread (a PE worker running a kernel) ends the daemon with exit code 3 and no logs.
#include "daemon.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstring>
#include <memory>
#include <thread>

#include "common.h"
#include "json.h"
#include "report.h"
#include "runtime.h"

namespace cedr {

namespace {

// ---- what signal handlers and the atexit hook may touch (set once before serving)
int g_wake_w = -1;
char g_socket_c[sizeof(sockaddr_un::sun_path)] = {0};
std::atomic<bool> g_active{false};
thread_local int t_instance = -1;  // index of the instance this thread runs (-1: not an instance thread)

struct WakeMsg {
  int32_t kind, index, sig;  // kind: 'C' crash, 'E' exit(), 'F' finished, 'T' SIGINT/SIGTERM
};

void wake(int32_t kind, int32_t index = -1, int32_t sig = 0) {
  WakeMsg m{kind, index, sig};
  ssize_t w = write(g_wake_w, &m, sizeof m);  // < PIPE_BUF: atomic
  (void)w;
}

[[noreturn]] void park_forever() {
  sigset_t none;
  sigemptyset(&none);
  for (;;) sigsuspend(&none);
}

void on_crash(int sig) {
  accel_guard_jump(sig);  // an accelerator call that crashed: its worker re-runs the task on a CPU
  if (t_instance >= 0 && g_wake_w >= 0) {
    wake('C', t_instance, sig);
    park_forever();  // the instance is over; its state may be inconsistent, so it never resumes
  }
  const char msg[] = "cedr-run: error: daemon: fatal signal outside an app instance (in a kernel?); ending without logs\n";
  ssize_t w = write(STDERR_FILENO, msg, sizeof msg - 1);
  (void)w;
  if (g_socket_c[0]) unlink(g_socket_c);
  _exit(3);
}

void on_term(int) { wake('T'); }

void on_exit_hook() {
  if (!g_active.load()) return;
  if (t_instance >= 0) {
    wake('E', t_instance, 0);
    park_forever();
  }
  std::fflush(stdout);
  std::fprintf(stderr, "cedr-run: error: daemon: exit() called outside an app instance\n");
  std::fflush(stderr);
  if (g_socket_c[0]) unlink(g_socket_c);
  _exit(3);
}

const char *sig_name(int sig) {
  return sig == SIGSEGV ? "SIGSEGV" : sig == SIGBUS ? "SIGBUS" : sig == SIGFPE ? "SIGFPE" : sig == SIGILL ? "SIGILL"
                                                                                                           : "SIGABRT";
}

}  // namespace

void daemon_guards_in_child() {
  g_active.store(false);
  t_instance = -1;
  g_wake_w = -1;
  g_socket_c[0] = '\0';
}

namespace {

std::string canonical(const std::string &path) {
  char buf[PATH_MAX];
  if (realpath(path.c_str(), buf) != nullptr) return buf;
  return path;
}

bool send_line(int fd, const std::string &s) {
  std::string line = s + "\n";
  size_t off = 0;
  while (off < line.size()) {
    ssize_t n = send(fd, line.data() + off, line.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    off += size_t(n);
  }
  return true;
}

std::string error_json(const std::string &msg) {
  std::string m = msg;
  for (char &c : m)
    if (c == '\n' || c == '\r') c = ' ';
  return "{\"ok\": false, \"error\": " + json::quote(m) + "}";
}

// One request line (at most 1 MiB); false on timeout, EOF or overflow.
bool read_line(int fd, std::string &out) {
  char buf[4096];
  out.clear();
  for (;;) {
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    const char *nl = static_cast<const char *>(std::memchr(buf, '\n', size_t(n)));
    out.append(buf, nl ? size_t(nl - buf) : size_t(n));
    if (nl) return true;
    if (out.size() > (1u << 20)) return false;
  }
}

struct Submission {
  std::vector<int> instances;  // indexes, arrival order
};

class Daemon {
 public:
  Daemon(const RunConfig &cfg, const Libraries &libs, const RunOptions &opt, const std::string &socket)
      : cfg_(cfg), libs_(libs), opt_(opt), socket_(socket), rt_(cfg, libs, opt.scheduler, opt.seed) {}

  int serve();

 private:
  void take_socket();
  void client(int fd);
  void submit(int fd, const json::Value &req);
  void arrivals(int sub, std::vector<int64_t> at);
  void supervise();
  void instance_ended(int index, int exit_code, const char *why);
  [[noreturn]] void die_fatal();
  int finish();

  const RunConfig &cfg_;
  const Libraries &libs_;
  const RunOptions opt_;
  const std::string socket_;
  Runtime rt_;
  int listen_fd_ = -1, lock_fd_ = -1, wake_r_ = -1;
  std::mutex submit_mu_;  // one submission loads its apps at a time (app_ids in acceptance order)

  // under rt_.state_mu
  std::vector<App> apps_;
  std::vector<std::string> app_keys_;
  std::vector<std::unique_ptr<Instance>> instances_;
  std::vector<char> launched_, dropped_;
  std::vector<Submission> subs_;
  std::vector<std::thread> arrival_threads_;
  std::vector<int> stop_fds_;
  int next_app_id_ = 0, active_arrivals_ = 0, launched_count_ = 0, parked_ = 0;
  int waiters_ = 0;  // submitters waiting for their instances (they read instances_)
  bool stopping_ = false, stop_now_ = false;
  std::condition_variable arrival_cv_;  // wakes arrival threads early (stop --now)
};

struct InstanceStartD {
  Daemon *d;
  Runtime *rt;
  Instance *inst;
  AppMain main;
  std::string output;
};

void *daemon_instance_main(void *arg) {
  std::unique_ptr<InstanceStartD> st(static_cast<InstanceStartD *>(arg));
  t_instance = st->inst->index;
  run_instance(*st->rt, *st->inst, st->main, st->output);
  return nullptr;
}

void Daemon::take_socket() {
  if (socket_.empty()) throw InputError("--socket PATH is required with --daemon");
  if (socket_.size() >= sizeof(sockaddr_un::sun_path))
    throw InputError("socket path '" + socket_ + "' is too long for a Unix socket (at most " +
                     std::to_string(sizeof(sockaddr_un::sun_path) - 1) + " bytes)");
  // The lock file decides who owns the socket: a live daemon holds it, a dead one released it.
  const std::string lock = socket_ + ".lock";
  lock_fd_ = open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock_fd_ < 0) throw InputError("cannot open '" + lock + "': " + std::strerror(errno));
  if (flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    char buf[32] = {0};
    ssize_t n = pread(lock_fd_, buf, sizeof buf - 1, 0);
    std::string pid = n > 0 ? std::string(buf, size_t(n)) : "";
    while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) pid.pop_back();
    throw InputError("a daemon" + (pid.empty() ? std::string() : " (pid " + pid + ")") +
                     " is already running on socket '" + socket_ + "'");
  }
  const std::string pid = std::to_string(getpid()) + "\n";
  if (ftruncate(lock_fd_, 0) != 0 || pwrite(lock_fd_, pid.data(), pid.size(), 0) != ssize_t(pid.size()))
    throw InputError("cannot write '" + lock + "'");
  sockaddr_un addr;
  std::memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, socket_.c_str(), socket_.size());
  struct stat sb;
  if (lstat(socket_.c_str(), &sb) == 0) {
    if (!S_ISSOCK(sb.st_mode)) throw InputError("'" + socket_ + "' exists and is not a socket");
    const int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const bool live = probe >= 0 && connect(probe, reinterpret_cast<sockaddr *>(&addr), sizeof addr) == 0;
    if (probe >= 0) close(probe);
    if (live) throw InputError("a daemon is already listening on socket '" + socket_ + "'");
    if (unlink(socket_.c_str()) != 0)
      throw InputError("cannot replace the stale socket '" + socket_ + "': " + std::strerror(errno));
    std::fprintf(stderr, "cedr-run: daemon: replaced the stale socket '%s'\n", socket_.c_str());
  }
  listen_fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) throw InputError(std::string("cannot create a socket: ") + std::strerror(errno));
  const mode_t old = umask(0077);
  const int rc = bind(listen_fd_, reinterpret_cast<sockaddr *>(&addr), sizeof addr);
  umask(old);
  if (rc != 0) throw InputError("cannot bind '" + socket_ + "': " + std::strerror(errno));
  if (listen(listen_fd_, 64) != 0) throw InputError("cannot listen on '" + socket_ + "': " + std::strerror(errno));
  std::memcpy(g_socket_c, socket_.c_str(), socket_.size() + 1);
}

void Daemon::client(int fd) {
  timeval tv{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::string line;
  if (!read_line(fd, line)) {
    close(fd);
    return;
  }
  json::Value req;
  try {
    req = json::parse(line);
  } catch (const std::exception &e) {
    send_line(fd, error_json(std::string("bad request: ") + e.what()));
    close(fd);
    return;
  }
  const json::Value *op = req.get("op");
  const std::string o = op && op->is_string() ? op->str : "";
  if (o == "ping") {
    int n;
    {
      std::lock_guard<std::mutex> lk(rt_.state_mu);
      n = int(instances_.size());
    }
    send_line(fd, "{\"ok\": true, \"pid\": " + json::number(getpid()) + ", \"socket\": " + json::quote(socket_) +
                      ", \"instances\": " + json::number(n) + "}");
  } else if (o == "submit") {
    submit(fd, req);
  } else if (o == "stop") {
    const json::Value *now = req.get("now");
    {
      std::lock_guard<std::mutex> lk(rt_.state_mu);
      stopping_ = true;
      if (now && now->is_bool() && now->b) stop_now_ = true;
      stop_fds_.push_back(fd);  // answered once the logs are written
    }
    rt_.state_cv.notify_all();
    arrival_cv_.notify_all();
    return;
  } else {
    send_line(fd, error_json("bad request: unknown op '" + o + "' (ping, submit, stop)"));
  }
  close(fd);
}

void Daemon::submit(int fd, const json::Value &req) {
  const json::Value *list = req.get("apps");
  const json::Value *wait = req.get("wait");
  std::vector<int> mine;
  int sub = 0, first = 0, total = 0;
  {
    std::lock_guard<std::mutex> sl(submit_mu_);
    std::vector<AppSpec> specs;
    std::vector<App> loaded;
    try {
      {
        std::lock_guard<std::mutex> lk(rt_.state_mu);
        if (stopping_) throw InputError("the daemon is stopping; submission refused");
      }
      if (!list || !list->is_array() || list->arr.empty())
        throw InputError("bad request: \"apps\" must be a non-empty list of APP.so:INSTANCES:PERIOD_US");
      for (const auto &v : list->arr) {
        if (!v.is_string()) throw InputError("bad request: \"apps\" must hold strings");
        specs.push_back(parse_app_spec(v.str));
      }
      loaded = load_apps(specs, cfg_, libs_);
    } catch (const std::exception &e) {
      send_line(fd, error_json(e.what()));
      close(fd);
      return;
    }
    std::vector<Arrival> plan = plan_arrivals(specs, opt_.poisson, opt_.seed + subs_.size());
    std::vector<int64_t> at;
    std::lock_guard<std::mutex> lk(rt_.state_mu);
    if (stopping_) {
      send_line(fd, error_json("the daemon is stopping; submission refused"));
      close(fd);
      return;
    }
    // backpressure: instances submitted and not finished stay within "Max Pending Instances"
    int64_t adds = 0;
    for (const auto &s : specs) adds += s.instances;
    const int64_t pending = int64_t(instances_.size()) - rt_.finished_instances;
    if (pending + adds > cfg_.max_pending_instances) {
      send_line(fd, error_json("the daemon is full: " + std::to_string(pending) + " instance(s) pending, this "
                               "submission adds " + std::to_string(adds) + ", the limit is " +
                               std::to_string(cfg_.max_pending_instances) +
                               " (\"Max Pending Instances\"); submit again later"));
      close(fd);
      return;
    }
    std::vector<int> global(loaded.size());
    for (size_t a = 0; a < loaded.size(); ++a) {
      const std::string key = canonical(loaded[a].path);
      auto it = std::find(app_keys_.begin(), app_keys_.end(), key);
      if (it == app_keys_.end()) {
        app_keys_.push_back(key);
        apps_.push_back(std::move(loaded[a]));
        global[a] = int(apps_.size()) - 1;
      } else {
        global[a] = int(it - app_keys_.begin());
        apps_[size_t(global[a])].instances += loaded[a].instances;
      }
    }
    // app_id: one counter over the daemon's life (as CEDR's appNum); within a submission app by app
    // in the order given, as run_apps numbers a run
    std::vector<int> first_id(specs.size(), next_app_id_);
    for (size_t s = 1; s < specs.size(); ++s) first_id[s] = first_id[s - 1] + specs[s - 1].instances;
    for (const auto &s : specs) total += s.instances;
    first = next_app_id_;
    next_app_id_ += total;
    sub = int(subs_.size());
    subs_.emplace_back();
    const int64_t t0 = now_ns() + 200000;
    for (const Arrival &ar : plan) {
      auto inst = std::make_unique<Instance>();
      inst->id = first_id[size_t(ar.spec)] + ar.k;
      inst->index = int(instances_.size());
      inst->app = global[size_t(specs[size_t(ar.spec)].app)];
      inst->name = apps_[size_t(inst->app)].name;
      inst->arrival_ns = t0 + ar.offset_ns;
      at.push_back(inst->arrival_ns);
      subs_.back().instances.push_back(inst->index);
      instances_.push_back(std::move(inst));
      launched_.push_back(0);
      dropped_.push_back(0);
    }
    mine = subs_.back().instances;
    ++active_arrivals_;
    arrival_threads_.emplace_back(&Daemon::arrivals, this, sub, std::move(at));
  }
  send_line(fd, "{\"ok\": true, \"submission\": " + json::number(sub) + ", \"instances\": " + json::number(total) +
                    ", \"app_ids\": [" + json::number(first) + ", " + json::number(first + total - 1) + "]}");
  if (wait && wait->is_bool() && wait->b) {
    std::string list_json;
    int failed = 0;
    {
      std::unique_lock<std::mutex> lk(rt_.state_mu);
      ++waiters_;
      rt_.state_cv.wait(lk, [&] {
        if (rt_.aborted()) return true;
        for (int i : mine)
          if (!instances_[size_t(i)]->finished && !dropped_[size_t(i)]) return false;
        return true;
      });
      std::vector<const Instance *> order;
      for (int i : mine) order.push_back(instances_[size_t(i)].get());
      std::sort(order.begin(), order.end(), [](const Instance *a, const Instance *b) { return a->id < b->id; });
      for (const Instance *ip : order) {
        const bool dropped = dropped_[size_t(ip->index)] != 0;
        if (!dropped && ip->exit_code != 0) ++failed;
        list_json += std::string(list_json.empty() ? "" : ", ") + "{\"app\": " + json::quote(ip->name) +
                     ", \"app_id\": " + json::number(ip->id) +
                     (dropped ? std::string(", \"dropped\": true") : ", \"exit_code\": " + json::number(ip->exit_code)) + "}";
      }
      --waiters_;
    }
    rt_.state_cv.notify_all();
    if (rt_.aborted())
      send_line(fd, error_json("the daemon hit a fatal error: " + rt_.fatal_message()));
    else
      send_line(fd, "{\"done\": true, \"failed\": " + json::number(failed) + ", \"instances\": [" + list_json + "]}");
  }
  close(fd);
}

void Daemon::arrivals(int sub, std::vector<int64_t> at) {
  const std::vector<int> idx = [&] {
    std::lock_guard<std::mutex> lk(rt_.state_mu);
    return subs_[size_t(sub)].instances;
  }();
  for (size_t n = 0; n < idx.size(); ++n) {
    Instance *inst;
    {
      std::unique_lock<std::mutex> lk(rt_.state_mu);
      const auto deadline = std::chrono::steady_clock::time_point(std::chrono::nanoseconds(at[n]));
      arrival_cv_.wait_until(lk, deadline, [&] { return stop_now_ || rt_.aborted(); });
      if (stop_now_ || rt_.aborted()) {
        for (size_t m = n; m < idx.size(); ++m) dropped_[size_t(idx[m])] = 1;
        break;
      }
      inst = instances_[size_t(idx[n])].get();
      launched_[size_t(idx[n])] = 1;
      ++launched_count_;
    }
    sleep_until_ns(at[n]);  // steady_clock and CLOCK_MONOTONIC agree on Linux; this only trims early wakeups
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, size_t(64) << 20);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    auto *st = new InstanceStartD{this, &rt_, inst, apps_[size_t(inst->app)].main, ""};
    if (!opt_.app_output_dir.empty())
      st->output = opt_.app_output_dir + "/" + inst->name + "." + std::to_string(inst->id) + ".log";
    pthread_t th;
    const int rc = pthread_create(&th, &attr, daemon_instance_main, st);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
      delete st;
      rt_.fatal("cannot start a thread for app '" + inst->name + "' (instance " + std::to_string(inst->id) +
                "): " + std::strerror(rc));
      std::lock_guard<std::mutex> lk(rt_.state_mu);
      launched_[size_t(inst->index)] = 0;
      --launched_count_;
      break;
    }
  }
  {
    std::lock_guard<std::mutex> lk(rt_.state_mu);
    --active_arrivals_;
  }
  rt_.state_cv.notify_all();
}

void Daemon::supervise() {
  {
    std::unique_lock<std::mutex> lk(rt_.state_mu);
    rt_.state_cv.wait(lk, [&] {
      return rt_.aborted() || (stopping_ && active_arrivals_ == 0 && rt_.finished_instances == launched_count_);
    });
  }
  // tasks an instance left behind (_nb calls it never waited for) still run
  while (rt_.outstanding_tasks() > 0 && !rt_.aborted()) sleep_until_ns(now_ns() + 100000);
  wake('F');
}

void Daemon::instance_ended(int index, int exit_code, const char *why) {
  std::string name;
  int id;
  {
    std::lock_guard<std::mutex> lk(rt_.state_mu);
    Instance &inst = *instances_[size_t(index)];
    if (inst.finished) return;
    inst.end_ns = now_ns();
    inst.exit_code = exit_code;
    inst.finished = true;
    rt_.finished_instances += 1;
    ++parked_;
    name = inst.name;
    id = inst.id;
  }
  rt_.state_cv.notify_all();
  std::fflush(stdout);
  std::fprintf(stderr, "cedr-run: daemon: app '%s' (app_id %d) %s; recorded as failed (exit code %d), the daemon goes on\n",
               name.c_str(), id, why, exit_code);
  std::fflush(stderr);
}

void Daemon::die_fatal() {
  rt_.abort_workers();
  rt_.wait_rounds_idle(2000000000LL);
  std::string msg = rt_.fatal_message(), err;
  RunInfo info{opt_.log_dir, rt_.scheduler_name(), opt_.seed, opt_.poisson ? "poisson" : "periodic", cfg_.queueing};
  {
    std::lock_guard<std::mutex> lk(rt_.state_mu);
    if (!write_logs(info, rt_, instances_, err)) msg += " (and " + err + ")";
    for (int fd : stop_fds_) send_line(fd, error_json("the daemon hit a fatal error: " + msg));
  }
  unlink(socket_.c_str());
  std::fflush(stdout);
  std::fprintf(stderr, "cedr-run: error: %s\n", msg.c_str());
  std::fflush(stderr);
  _exit(3);
}

int Daemon::finish() {
  if (rt_.aborted()) die_fatal();
  std::vector<std::thread> threads;
  {
    std::lock_guard<std::mutex> lk(rt_.state_mu);
    threads.swap(arrival_threads_);
  }
  for (auto &t : threads) t.join();
  rt_.stop_workers();
  g_runtime = nullptr;
  g_active.store(false);
  close(listen_fd_);
  unlink(socket_.c_str());

  // Only the instances that started are logged (stop --now drops the others); records refer to
  // instances by position, so they are renumbered. Waiting submitters read instances_ first: every
  // instance is over, so they answer at once (bounded wait all the same).
  std::unique_lock<std::mutex> lk(rt_.state_mu);
  rt_.state_cv.wait_for(lk, std::chrono::seconds(10), [&] { return waiters_ == 0; });
  std::vector<std::unique_ptr<Instance>> started;
  std::vector<int32_t> remap(instances_.size(), -1);
  for (auto &ip : instances_) {
    if (!launched_[size_t(ip->index)]) continue;
    remap[size_t(ip->index)] = int32_t(started.size());
    ip->index = int(started.size());
    started.push_back(std::move(ip));
  }
  for (auto &pe : rt_.pes())
    for (auto &r : pe->records)
      if (r.instance >= 0) r.instance = remap[size_t(r.instance)];
  RunInfo info{opt_.log_dir, rt_.scheduler_name(), opt_.seed, opt_.poisson ? "poisson" : "periodic", cfg_.queueing};
  std::string err, line;
  int rc = 0;
  std::string reply;
  if (!write_logs(info, rt_, started, err) || !write_summary(info, rt_, started, apps_, err, &line)) {
    reply = error_json(err);
    rc = 3;
  } else {
    for (const auto &ip : started) rc |= ip->exit_code != 0;
    reply = "{\"ok\": true, \"summary\": " + json::quote(line + "; logs in " + opt_.log_dir) +
            ", \"exit_code\": " + json::number(rc) + "}";
  }
  for (int fd : stop_fds_) {
    send_line(fd, reply);
    close(fd);
  }
  lk.unlock();
  if (!opt_.quiet) {
    if (rc == 3)
      std::fprintf(stderr, "cedr-run: error: %s\n", err.c_str());
    else
      std::printf("cedr-run: daemon stopped: %s; logs in %s\n", line.c_str(), opt_.log_dir.c_str());
  }
  std::fflush(stdout);
  std::fflush(stderr);
  // parked instance threads must not see static destructors run under them
  if (parked_ > 0) _exit(rc);
  return rc;
}

int Daemon::serve() {
  take_socket();
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) throw InputError(std::string("cannot create a pipe: ") + std::strerror(errno));
  wake_r_ = p[0];
  g_wake_w = p[1];

  signal(SIGPIPE, SIG_IGN);
  struct sigaction sa;
  std::memset(&sa, 0, sizeof sa);
  sigemptyset(&sa.sa_mask);
  sa.sa_handler = on_term;
  sa.sa_flags = SA_RESTART;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  sa.sa_handler = on_crash;
  sa.sa_flags = 0;
  for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT}) sigaction(sig, &sa, nullptr);
  static bool once = false;
  if (!once) {
    std::atexit(on_exit_hook);
    once = true;
  }
  g_active.store(true);

  g_runtime = &rt_;
  rt_.start_workers(opt_.spin_ns);
  if (!opt_.app_output_dir.empty()) {
    if (!make_dirs(opt_.app_output_dir)) throw InputError("cannot create '" + opt_.app_output_dir + "'");
    std::fflush(stdout);
    setvbuf(stdout, nullptr, _IOLBF, BUFSIZ);
  }
  std::thread sup(&Daemon::supervise, this);
  sup.detach();
  if (!opt_.quiet) std::printf("cedr-run: daemon listening on %s (pid %d)\n", socket_.c_str(), int(getpid()));
  std::fflush(stdout);

  for (;;) {
    pollfd fds[2] = {{wake_r_, POLLIN, 0}, {listen_fd_, POLLIN, 0}};
    const int n = poll(fds, 2, -1);  // an idle daemon sleeps here
    if (n < 0) {
      if (errno == EINTR) continue;
      rt_.fatal(std::string("poll: ") + std::strerror(errno));
      die_fatal();
    }
    if (fds[0].revents & POLLIN) {
      WakeMsg m;
      if (read(wake_r_, &m, sizeof m) == ssize_t(sizeof m)) {
        if (m.kind == 'F') return finish();
        if (m.kind == 'T') {
          {
            std::lock_guard<std::mutex> lk(rt_.state_mu);
            stopping_ = true;
          }
          rt_.state_cv.notify_all();
        } else if (m.kind == 'C') {
          instance_ended(m.index, 128 + m.sig, (std::string("crashed (") + sig_name(m.sig) + ")").c_str());
        } else if (m.kind == 'E') {
          instance_ended(m.index, 1, "called exit()");
        }
      }
    }
    if (fds[1].revents & POLLIN) {
      const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd >= 0) std::thread(&Daemon::client, this, fd).detach();
    }
  }
}

}  // namespace

int run_daemon(const RunConfig &cfg, const Libraries &libs, const RunOptions &opt, const std::string &socket_path) {
  auto d = std::make_unique<Daemon>(cfg, libs, opt, socket_path);
  const int rc = d->serve();
  d.release();  // detached client threads may still hold it while the process ends
  return rc;
}

}  // namespace cedr

// main.cpp - cedr-run: the command line.
//   cedr-run --config FILE --log-dir DIR [--scheduler NAME] [--seed N] [--arrival periodic|poisson]
//            [--lib PATH]... [--quiet] [--app-output DIR] APP.so:INSTANCES:PERIOD_US [...]
//            [--task-trace FILE] [--isolate | --no-isolate]
//            (--app-output: each instance's stdout and stderr go to DIR/<app>.<app_id>.log;
//             --task-trace: every task, instance and the round totals as one JSON object in FILE,
//             see write_task_trace in report.h)
//   cedr-run --config FILE [--lib PATH]... --check [APP.so:N:P ...]
//   cedr-run --config FILE [--lib PATH]... --calibrate OUT.json
//   cedr-run --config FILE --log-dir DIR --daemon --socket PATH [--scheduler ...] [--app-output DIR]
//            (serves submissions on a Unix socket until stopped; see daemon.h for the protocol)
// Exit codes: 0 every instance returned 0; 1 some instance returned non-zero; 2 bad input found
// before anything ran; 3 fatal error during the run. Errors are one line on stderr.
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "apps.h"
#include "calibrate.h"
#include "common.h"
#include "config.h"
#include "daemon.h"
#include "libraries.h"
#include "run.h"
#include "scheduler.h"

using namespace cedr;

namespace {

const char kUsage[] =
    "usage: cedr-run --config FILE --log-dir DIR [--scheduler NAME] [--seed N] [--arrival periodic|poisson]\n"
    "                [--lib PATH]... [--quiet] [--app-output DIR] [--task-trace FILE] APP.so:INSTANCES:PERIOD_US [...]\n"
    "       cedr-run --config FILE [--lib PATH]... --check [APP.so:N:P ...]\n"
    "       cedr-run --config FILE [--lib PATH]... --calibrate OUT.json\n"
    "       cedr-run --config FILE --log-dir DIR --daemon --socket PATH [options as for a run, no apps]\n"
    "  --app-output DIR   each instance's stdout and stderr to DIR/<app>.<app_id>.log\n"
    "  --isolate          each app instance in a child process: a crash or a hang (\"Isolation\".\n"
    "                     \"instance_timeout_s\") fails that instance only (config: \"Isolation\".\"enabled\")\n"
    "  --no-isolate       app instances as threads of this process (the default for a run;\n"
    "                     a daemon isolates them unless told otherwise)\n"
    "  --task-trace FILE  after the run, one JSON object: every task (API, precision, work, enqueue/start/\n"
    "                     stop ns, PE, predicted ns on every \"Worker Threads\" type with an implementation,\n"
    "                     types with 0 workers included), every instance and the round totals\n"
    "exit codes: 0 ok, 1 an app instance returned non-zero, 2 bad input, 3 fatal error during the run\n";

// Default poll time of idle workers and blocking callers before they sleep (ns); see
// runtime/bench/dispatch.py for the measurement behind it. CEDR_RUN_SPIN_NS overrides it.
constexpr int64_t kDefaultSpinNs = 50000;

struct Args {
  std::string config, log_dir, scheduler, arrival, calibrate_out, app_output, socket, task_trace;
  bool has_seed = false, check = false, quiet = false, calibrate = false, daemon = false;
  int isolate = -1;  // --isolate 1, --no-isolate 0
  uint64_t seed = 0;
  std::vector<std::string> libs, apps;
};

std::string one_line(std::string s) {
  for (char &c : s)
    if (c == '\n' || c == '\r') c = ' ';
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s;
}

uint64_t parse_seed(const std::string &v) {
  if (v.empty() || v[0] == '-') throw InputError("--seed: expected a non-negative whole number, got '" + v + "'");
  char *end = nullptr;
  errno = 0;
  unsigned long long n = std::strtoull(v.c_str(), &end, 10);
  if (*end != '\0' || errno != 0) throw InputError("--seed: expected a non-negative whole number, got '" + v + "'");
  return n;
}

Args parse_args(int argc, char **argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    std::string value;
    bool has_inline = false;
    if (arg.compare(0, 2, "--") == 0) {
      size_t eq = arg.find('=');
      if (eq != std::string::npos) {
        value = arg.substr(eq + 1);
        arg = arg.substr(0, eq);
        has_inline = true;
      }
    }
    auto need = [&](const char *what) -> std::string {
      if (has_inline) return value;
      if (i + 1 >= argc) throw InputError(arg + ": missing " + what);
      return argv[++i];
    };
    if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    } else if (arg == "--config") {
      a.config = need("FILE");
    } else if (arg == "--log-dir") {
      a.log_dir = need("DIR");
    } else if (arg == "--scheduler") {
      a.scheduler = need("NAME");
    } else if (arg == "--seed") {
      a.seed = parse_seed(need("N"));
      a.has_seed = true;
    } else if (arg == "--arrival") {
      a.arrival = need("periodic|poisson");
      if (a.arrival != "periodic" && a.arrival != "poisson")
        throw InputError("--arrival: expected 'periodic' or 'poisson', got '" + a.arrival + "'");
    } else if (arg == "--lib") {
      a.libs.push_back(need("PATH"));
    } else if (arg == "--quiet") {
      a.quiet = true;
    } else if (arg == "--app-output") {
      a.app_output = need("DIR");
    } else if (arg == "--task-trace") {
      a.task_trace = need("FILE");
      if (a.task_trace.empty()) throw InputError("--task-trace: empty file name");
    } else if (arg == "--daemon") {
      a.daemon = true;
    } else if (arg == "--isolate") {
      a.isolate = 1;
    } else if (arg == "--no-isolate") {
      a.isolate = 0;
    } else if (arg == "--socket") {
      a.socket = need("PATH");
    } else if (arg == "--check") {
      a.check = true;
    } else if (arg == "--calibrate") {
      a.calibrate_out = need("OUT.json");
      a.calibrate = true;
    } else if (arg.size() > 1 && arg[0] == '-') {
      throw InputError("unknown option '" + arg + "' (see --help)");
    } else {
      a.apps.push_back(arg);
    }
  }
  if (a.config.empty()) throw InputError("--config FILE is required (see --help)");
  if (a.check && a.calibrate) throw InputError("--check and --calibrate cannot be combined");
  if (a.calibrate && !a.apps.empty()) throw InputError("--calibrate takes no apps (got '" + a.apps[0] + "')");
  if (!a.task_trace.empty() && (a.daemon || a.check || a.calibrate))
    throw InputError("--task-trace is only for a run (not with --daemon, --check or --calibrate)");
  if (a.daemon) {
    if (a.check || a.calibrate) throw InputError("--daemon cannot be combined with --check or --calibrate");
    if (!a.apps.empty()) throw InputError("--daemon takes no apps (submit them to it; got '" + a.apps[0] + "')");
    if (a.socket.empty()) throw InputError("--daemon needs --socket PATH");
    if (a.log_dir.empty()) throw InputError("--log-dir DIR is required with --daemon");
  } else if (!a.socket.empty()) {
    throw InputError("--socket is only for --daemon");
  } else if (!a.check && !a.calibrate) {
    if (a.log_dir.empty()) throw InputError("--log-dir DIR is required to run apps");
    if (a.apps.empty()) throw InputError("no app given (APP.so:INSTANCES:PERIOD_US)");
  }
  return a;
}

// Before anything runs: `path` can be written (its folder exists and takes a new file; it is not a
// folder). The file itself is written after the run (temporary file, then rename).
void check_writable(const std::string &path, const char *option) {
  struct stat st;
  if (stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode))
    throw InputError(std::string(option) + ": '" + path + "' is a directory");
  const std::string tmp = path + ".tmp";
  FILE *f = std::fopen(tmp.c_str(), "w");
  if (f == nullptr) throw InputError(std::string(option) + ": cannot write '" + path + "': " + std::strerror(errno));
  std::fclose(f);
  std::remove(tmp.c_str());
}

int64_t spin_ns_setting() {
  const char *env = std::getenv("CEDR_RUN_SPIN_NS");
  if (env == nullptr || *env == '\0') return kDefaultSpinNs;
  char *end = nullptr;
  long long v = std::strtoll(env, &end, 10);
  if (*end != '\0' || v < 0 || v > 1000000000LL)
    throw InputError(std::string("CEDR_RUN_SPIN_NS: expected ns from 0 to 1000000000, got '") + env + "'");
  return v;
}

int real_main(int argc, char **argv) {
  Args args = parse_args(argc, argv);
  const int64_t spin_ns = spin_ns_setting();
  RunConfig cfg = load_config(args.config);
  if (!args.scheduler.empty()) {
    if (!make_scheduler(args.scheduler)) {
      std::string names;
      for (const auto &n : scheduler_names()) names += (names.empty() ? "" : ", ") + n;
      throw InputError("--scheduler: unknown scheduler '" + args.scheduler + "' (valid: " + names + ")");
    }
    cfg.scheduler = args.scheduler;
  }
  if (args.has_seed) cfg.seed = args.seed;
  if (args.isolate >= 0) cfg.isolate = args.isolate;
  // Unless asked otherwise: on for the daemon, which serves other people's apps for a long time
  // and must outlive any one of them; off for a run, whose calls would all pay the cross-process
  // hand-offs (docs/reliability.md, "Cost per call"). Under ThreadSanitizer a forked child of the
  // multi-threaded runtime cannot start threads, so there the daemon's default is off and asking
  // for isolation is an error.
#if defined(__SANITIZE_THREAD__)
  if (cfg.isolate == 1)
    throw InputError("isolation cannot run under ThreadSanitizer (a child forked from the multi-threaded runtime "
                     "cannot start threads): use --no-isolate");
  if (cfg.isolate < 0) cfg.isolate = 0;
#else
  if (cfg.isolate < 0) cfg.isolate = args.daemon ? 1 : 0;
#endif

  Libraries libs;
  for (const auto &p : args.libs) libs.load(p);
  for (const auto &p : cfg.binary_paths) libs.load(p);
  if (libs.empty()) throw InputError("no kernel library loaded: give --lib PATH or \"DASH Binary Paths\" in " + cfg.path);
  for (const auto &t : cfg.types) {
    if (t.count > 0 && libs.apis_for_type(t.name).empty())
      throw InputError(cfg.path + ": \"Worker Threads\": unknown PE type '" + t.name +
                       "': no loaded library defines an implementation DASH_<API>_<prec>_" + t.name);
  }

  std::vector<AppSpec> specs;
  for (const auto &s : args.apps) specs.push_back(parse_app_spec(s));
  std::vector<App> apps = load_apps(specs, cfg, libs);

  if (args.check) {
    for (size_t t = 0; t < cfg.types.size(); ++t) {
      const PeType &pt = cfg.types[t];
      std::string list;
      for (const auto &ap : libs.apis_for_type(pt.name))
        if (libs.find(ap.first + "_" + ap.second + "_" + pt.name) != nullptr)
          list += (list.empty() ? "" : ", ") + ap.first + "_" + ap.second;
      for (int k = 1; k <= pt.count; ++k) std::printf("%s%d %s: %s\n", pt.name.c_str(), k, pt.name.c_str(), list.c_str());
    }
    for (const auto &p : cfg.public_library_absent)
      std::fprintf(stderr, "note: \"%s\" (the public release's kernel library) is not in the working directory or the "
                  "config's folder; its APIs run on the built-in libraries\n", p.c_str());
    for (const auto &app : apps) {
      std::string list;
      for (const auto &ap : app.apis) list += (list.empty() ? "" : ", ") + ap.first + "_" + ap.second;
      std::printf("app %s: %s\n", app.name.c_str(), list.empty() ? "(no DASH API)" : list.c_str());
    }
    return 0;
  }
  if (args.calibrate) return calibrate(cfg, libs, args.calibrate_out, cfg.seed, args.quiet);

  if (!make_dirs(args.log_dir)) throw InputError("cannot create log directory '" + args.log_dir + "'");
  if (access(args.log_dir.c_str(), W_OK) != 0) throw InputError("log directory '" + args.log_dir + "' is not writable");
  // a stale summary.json would mark an interrupted run as complete
  std::remove((args.log_dir + "/summary.json").c_str());

  if (!args.task_trace.empty()) check_writable(args.task_trace, "--task-trace");

  RunOptions opt;
  opt.task_trace = args.task_trace;
  opt.log_dir = args.log_dir;
  opt.scheduler = cfg.scheduler;
  opt.seed = cfg.seed;
  opt.poisson = args.arrival.empty() ? !cfg.fixed_periodic : args.arrival == "poisson";
  opt.quiet = args.quiet;
  opt.spin_ns = spin_ns;
  opt.app_output_dir = args.app_output;
  if (args.daemon) return run_daemon(cfg, libs, opt, args.socket);
  return run_apps(cfg, libs, apps, specs, opt);
}

}  // namespace

int main(int argc, char **argv) {
  try {
    return real_main(argc, argv);
  } catch (const InputError &e) {
    std::fflush(stdout);
    std::fprintf(stderr, "cedr-run: error: %s\n", one_line(e.what()).c_str());
    return 2;
  } catch (const FatalError &e) {
    std::fflush(stdout);
    std::fprintf(stderr, "cedr-run: error: %s\n", one_line(e.what()).c_str());
    return 3;
  } catch (const std::exception &e) {
    std::fflush(stdout);
    std::fprintf(stderr, "cedr-run: error: %s\n", one_line(e.what()).c_str());
    return 3;
  }
}

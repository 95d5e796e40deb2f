// daemon.h - cedr-run --daemon: one runtime (scheduler and PE workers) kept alive while clients
// submit workloads over a Unix socket, as CEDR's daemon with sub_dag and kill_daemon.
//
// Protocol: one connection per request; the client sends one JSON object on one line, the daemon
// answers with one JSON line (two for a waited submission):
//   {"op": "ping"}                                  -> {"ok": true, "pid": N, "socket": "...", "instances": N}
//   {"op": "submit", "apps": ["APP.so:N:P", ...], "wait": false}
//        -> {"ok": true, "submission": S, "instances": N, "app_ids": [FIRST, LAST]}
//           (wait: then {"done": true, "failed": F, "instances": [{"app", "app_id", "exit_code"}, ...]})
//   {"op": "stop", "now": false}  -> after the logs are written: {"ok": true, "summary": "...", "exit_code": 0|1}
//        (now: instances whose arrival time has not come are dropped; running ones still finish)
// Any refusal: {"ok": false, "error": "one line"}.
#ifndef CEDR_DAEMON_H
#define CEDR_DAEMON_H

#include <string>

#include "config.h"
#include "libraries.h"
#include "run.h"

namespace cedr {

// Takes the socket (refusing one a live daemon holds, replacing a stale one), serves until a stop
// request, SIGINT or SIGTERM, then writes the logs into opt.log_dir. Returns the exit code (0: every
// instance returned 0, 1: some failed); InputError when it cannot start.
// In an isolated instance's child process (isolate.cpp): the daemon's exit() and signal hooks off.
void daemon_guards_in_child();

int run_daemon(const RunConfig &cfg, const Libraries &libs, const RunOptions &opt, const std::string &socket_path);

}  // namespace cedr

#endif  // CEDR_DAEMON_H

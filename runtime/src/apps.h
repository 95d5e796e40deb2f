// apps.h - app specs (APP.so:INSTANCES:PERIOD_US), loading and checking app shared objects.
#ifndef CEDR_APPS_H
#define CEDR_APPS_H

#include <string>
#include <utility>
#include <vector>

#include "config.h"
#include "libraries.h"

namespace cedr {

struct AppSpec {
  std::string text;      // as given
  std::string path;
  int instances = 1;
  double period_us = 0;
  int app = 0;           // index into AppSet::apps
};

using AppMain = int (*)(int, char **, char **);

struct App {
  std::string path;      // as first given
  std::string name;      // file name without ".so"
  void *handle = nullptr;
  AppMain main = nullptr;
  std::vector<std::pair<std::string, std::string>> apis;  // (api, prec) it calls, sorted
  int instances = 0;     // over all its specs
};

// InputError on a malformed spec.
AppSpec parse_app_spec(const std::string &text);

// Checks every app (file, ELF shared object, defines main, every DASH API it calls runnable on a
// configured PE), then dlopens each distinct file once. Fills spec.app. InputError on any problem.
std::vector<App> load_apps(std::vector<AppSpec> &specs, const RunConfig &cfg, const Libraries &libs);

// The PE types (count > 0) with an implementation of api_prec ("" when none).
std::vector<std::string> types_running(const std::string &api, const std::string &prec, const RunConfig &cfg,
                                       const Libraries &libs);

}  // namespace cedr

#endif  // CEDR_APPS_H

// apps.cpp - app specs and app shared objects.
#include "apps.h"

#include <dlfcn.h>
#include <stdlib.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cmath>
#include <set>

#include "api_enqueue.h"
#include "common.h"
#include "elf_symbols.h"

namespace cedr {

std::vector<std::string> types_running(const std::string &api, const std::string &prec, const RunConfig &cfg,
                                       const Libraries &libs) {
  std::vector<std::string> out;
  for (const auto &t : cfg.types)
    if (t.count > 0 && libs.find(api + "_" + prec + "_" + t.name) != nullptr) out.push_back(t.name);
  return out;
}

namespace {

std::string canonical(const std::string &path) {
  char buf[PATH_MAX];
  if (realpath(path.c_str(), buf) != nullptr) return buf;
  return path;
}

// (api, prec) of a symbol naming one of our exported APIs (blocking or _nb).
bool exported_api_of(const std::string &sym, std::string &api, std::string &prec) {
  for (const auto &e : exported_apis()) {
    const std::string base = std::string(e.api) + "_" + e.prec;
    if (sym == base || sym == base + "_nb") {
      api = e.api;
      prec = e.prec;
      return true;
    }
  }
  return false;
}

}  // namespace

std::vector<App> load_apps(std::vector<AppSpec> &specs, const RunConfig &cfg, const Libraries &libs) {
  std::vector<App> apps;
  std::vector<std::string> keys;
  for (auto &spec : specs) {
    const std::string key = canonical(spec.path);
    auto it = std::find(keys.begin(), keys.end(), key);
    if (it != keys.end()) {
      spec.app = int(it - keys.begin());
      apps[spec.app].instances += spec.instances;
      continue;
    }
    const std::string who = "app '" + spec.path + "'";
    ElfSymbols syms = read_elf_symbols(spec.path, "app");
    if (std::find(syms.defined.begin(), syms.defined.end(), "main") == syms.defined.end())
      throw InputError(who + " is not a CEDR app (it does not export main)");
    // The APIs it calls: its undefined DASH_* symbols, and the ones it defines itself (an extended
    // app's inline fallbacks, kernels/entry/app_fallback.cpp), which this executable's exported
    // definitions interpose at load time: here both are scheduled tasks.
    std::set<std::pair<std::string, std::string>> used;
    for (const auto *names : {&syms.undefined, &syms.defined}) {
      for (const auto &u : *names) {
        std::string api, prec;
        if (u.compare(0, 5, "DASH_") == 0 && exported_api_of(u, api, prec)) used.insert({api, prec});
      }
    }
    for (const auto &ap : used) {
      if (!types_running(ap.first, ap.second, cfg, libs).empty()) continue;
      const std::string impl = ap.first + "_" + ap.second;
      std::string idle;
      for (const auto &t : cfg.types)
        if (t.count == 0 && libs.find(impl + "_" + t.name) != nullptr) idle += (idle.empty() ? "" : ", ") + t.name;
      throw InputError(who + " calls " + impl + ", which no configured PE can run (" +
                       (idle.empty() ? "no loaded library defines " + impl + "_<type>"
                                     : "implemented for " + idle + ", which has no workers") + ")");
    }
    App app;
    app.path = spec.path;
    app.name = app_name_of(spec.path);
    app.apis.assign(used.begin(), used.end());
    app.instances = spec.instances;
    spec.app = int(apps.size());
    apps.push_back(std::move(app));
    keys.push_back(key);
  }
  // Every app checked: now load them (this runs their static constructors).
  for (auto &app : apps) {
    const std::string who = "app '" + app.path + "'";
    const std::string dl_path = app.path.find('/') == std::string::npos ? "./" + app.path : app.path;
    void *h = dlopen(dl_path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (h == nullptr) {
      const char *err = dlerror();
      throw InputError("cannot load " + who + ": " + (err ? err : "unknown dlopen error"));
    }
    void *m = dlsym(h, "main");
    if (m == nullptr) throw InputError(who + " is not a CEDR app (no main)");
    app.handle = h;
    app.main = reinterpret_cast<AppMain>(m);
  }
  return apps;
}

}  // namespace cedr

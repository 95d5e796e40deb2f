// libraries.cpp - loading kernel libraries and finding implementations in them.
#include "libraries.h"

#include <dlfcn.h>

#include "common.h"
#include "elf_symbols.h"

namespace cedr {

Libraries::~Libraries() = default;

void Libraries::load(const std::string &path) {
  ElfSymbols syms = read_elf_symbols(path, "library");
  void *h = dlopen(path.find('/') == std::string::npos ? ("./" + path).c_str() : path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (h == nullptr) {
    const char *err = dlerror();
    throw InputError("cannot load library '" + path + "': " + (err ? err : "unknown dlopen error"));
  }
  Lib lib;
  lib.path = path;
  lib.handle = h;
  for (auto &s : syms.defined)
    if (s.compare(0, 5, "DASH_") == 0) lib.dash_symbols.push_back(std::move(s));
  libs_.push_back(std::move(lib));
}

void *Libraries::find(const std::string &symbol) const {
  for (auto it = libs_.rbegin(); it != libs_.rend(); ++it) {
    void *p = dlsym(it->handle, symbol.c_str());
    if (p != nullptr) return p;
  }
  return nullptr;
}

void *Libraries::find_companion(const std::string &symbol, const std::string &companion) const {
  for (auto it = libs_.rbegin(); it != libs_.rend(); ++it) {
    if (dlsym(it->handle, symbol.c_str()) != nullptr) return dlsym(it->handle, companion.c_str());
  }
  return nullptr;
}

bool split_impl_symbol(const std::string &symbol, const std::string &type, std::string &api, std::string &prec) {
  const std::string suffix = "_" + type;
  if (symbol.size() <= suffix.size() + 5 || symbol.compare(0, 5, "DASH_") != 0 ||
      symbol.compare(symbol.size() - suffix.size(), suffix.size(), suffix) != 0)
    return false;
  std::string head = symbol.substr(0, symbol.size() - suffix.size());  // DASH_FFT_flt
  size_t us = head.find_last_of('_');
  if (us == std::string::npos || us < 5 || us + 1 == head.size()) return false;
  api = head.substr(0, us);
  prec = head.substr(us + 1);
  return true;
}

std::set<std::pair<std::string, std::string>> Libraries::apis_for_type(const std::string &type) const {
  std::set<std::pair<std::string, std::string>> out;
  for (const auto &lib : libs_) {
    for (const auto &s : lib.dash_symbols) {
      std::string api, prec;
      if (split_impl_symbol(s, type, api, prec) && prec != "nb") out.insert({api, prec});
    }
  }
  return out;
}

}  // namespace cedr

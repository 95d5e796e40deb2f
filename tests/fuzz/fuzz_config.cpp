// fuzz_config.cpp - libFuzzer harness of the runtime's configuration reader (runtime/src/config.cpp
// load_config over runtime/src/json.cpp). Any input must end in a RunConfig or an InputError (the
// runtime's one-line exit 2); another exception, a sanitizer report or a crash is a finding.
#include <cstdio>
#include <cstdlib>
#include <exception>

#include "common.h"
#include "config.h"
#include "fuzz_common.h"
#include "json.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  MemFile f(data, size);
  try {
    cedr::RunConfig cfg = cedr::load_config(f.path());
    if (cfg.total_pes() < 0) std::abort();
  } catch (const cedr::InputError &e) {
    check_one_line("load_config", e.what());
  } catch (const std::exception &e) {
    std::fprintf(stderr, "load_config threw a non-InputError: %s\n", e.what());
    std::abort();
  }
  // the JSON reader alone, on the same bytes: a value or a ParseError
  try {
    cedr::json::parse(std::string(reinterpret_cast<const char *>(data), size));
  } catch (const cedr::json::ParseError &e) {
    check_one_line("json::parse", e.what());
  } catch (const std::exception &e) {
    std::fprintf(stderr, "json::parse threw a non-ParseError: %s\n", e.what());
    std::abort();
  }
  return 0;
}

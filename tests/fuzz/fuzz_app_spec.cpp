// fuzz_app_spec.cpp - libFuzzer harness of the runtime's app spec parser (runtime/src/apps.cpp
// parse_app_spec, "APP.so:INSTANCES:PERIOD_US"). A spec parses to bounded values or throws InputError.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

#include "apps.h"
#include "common.h"
#include "fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const std::string text(reinterpret_cast<const char *>(data), size);
  try {
    cedr::AppSpec s = cedr::parse_app_spec(text);
    if (s.instances < 1 || s.instances > 1000000 || !(s.period_us >= 0) || !std::isfinite(s.period_us) ||
        s.path.empty() || text.compare(0, s.path.size(), s.path) != 0) {
      std::fprintf(stderr, "parse_app_spec accepted '%s' as path '%s', %d instances, period %g\n", text.c_str(),
                   s.path.c_str(), s.instances, s.period_us);
      std::abort();
    }
  } catch (const cedr::InputError &e) {
    (void)e;  // the message quotes the spec as given (a spec with a newline gives one with a newline)
  } catch (const std::exception &e) {
    std::fprintf(stderr, "parse_app_spec threw a non-InputError: %s\n", e.what());
    std::abort();
  }
  return 0;
}

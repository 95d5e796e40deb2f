// app_spec.cpp - parsing an app spec (APP.so:INSTANCES:PERIOD_US); on its own so that the parser
// links without the rest of the runtime (tests/fuzz/fuzz_app_spec.cpp).
#include <cerrno>
#include <cmath>
#include <cstdlib>

#include "apps.h"
#include "common.h"

namespace cedr {

AppSpec parse_app_spec(const std::string &text) {
  const std::string form = "app spec '" + text + "': expected APP.so:INSTANCES:PERIOD_US";
  size_t c2 = text.rfind(':');
  if (c2 == std::string::npos || c2 == 0) throw InputError(form);
  size_t c1 = text.rfind(':', c2 - 1);
  if (c1 == std::string::npos || c1 == 0) throw InputError(form);
  AppSpec s;
  s.text = text;
  s.path = text.substr(0, c1);
  const std::string n = text.substr(c1 + 1, c2 - c1 - 1), p = text.substr(c2 + 1);
  if (n.empty() || p.empty()) throw InputError(form);
  char *end = nullptr;
  errno = 0;
  long long inst = std::strtoll(n.c_str(), &end, 10);
  if (*end != '\0' || errno != 0) throw InputError("app spec '" + text + "': INSTANCES '" + n + "' is not a whole number");
  if (inst < 1) throw InputError("app spec '" + text + "': INSTANCES must be at least 1, got " + n);
  if (inst > 1000000) throw InputError("app spec '" + text + "': INSTANCES " + n + " is too large (at most 1000000)");
  errno = 0;
  double period = std::strtod(p.c_str(), &end);
  if (*end != '\0' || errno != 0 || !std::isfinite(period))
    throw InputError("app spec '" + text + "': PERIOD_US '" + p + "' is not a number");
  if (period < 0) throw InputError("app spec '" + text + "': PERIOD_US must not be negative, got " + p);
  s.instances = int(inst);
  s.period_us = period;
  return s;
}

}  // namespace cedr

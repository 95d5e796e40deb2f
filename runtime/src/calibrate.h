// calibrate.h - fits size-aware cost functions (fixed_ns + ns_per_unit * work) per API and PE
// type by running synthetic calls through the same worker path as real tasks.
#ifndef CEDR_CALIBRATE_H
#define CEDR_CALIBRATE_H

#include <string>
#include <vector>

#include "config.h"
#include "libraries.h"

namespace cedr {

struct CalibPoint {
  double work, ns;
};

// Weighted least squares of ns = fixed + slope * work minimising relative error; both clamped
// to >= 0 (refitting the other one when one is clamped).
void fit_cost(const std::vector<CalibPoint> &pts, double &fixed_ns, double &ns_per_unit);

// Writes OUT (InputError if it cannot be written); returns the exit code.
int calibrate(const RunConfig &cfg, const Libraries &libs, const std::string &out_path, uint64_t seed, bool quiet,
              double budget_s = 18.0);

}  // namespace cedr

#endif  // CEDR_CALIBRATE_H

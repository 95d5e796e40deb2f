// api_table.h - what the runtime knows about each kernel API's argument list: how many argument
// pointers a call carries, the problem-size measure ("work") its cost functions scale with, and
// how to build a synthetic call of a given size for `calibrate`. APIs not in this table still
// run (the symbol convention is enough); their cost is size-independent.
#ifndef CEDR_API_TABLE_H
#define CEDR_API_TABLE_H

#include <memory>
#include <random>
#include <string>
#include <vector>

namespace cedr {

// One synthetic call, owning its buffers (used by calibration and benchmarks).
struct ApiCase {
  std::vector<void *> args;         // pointers to the argument values, in API order, no barrier
  double work = 0;                  // the API's work measure for this call
  std::shared_ptr<void> storage;    // keeps buffers and argument values alive
};

struct ApiInfo {
  std::string api;    // "DASH_FFT"
  std::string prec;   // "flt" or "int"
  unsigned n_args;    // argument pointers in a call, barrier excluded
  std::string unit;   // what one unit of work is, e.g. "n*log2(n) butterflies", "M*N*K MACs"
  // work measure of a call, read through the argument pointers the runtime received
  double (*work)(void *const *args);
  // a synthetic call; level 0..4 gives increasing sizes spanning the API's useful range
  ApiCase (*make_case)(int level, std::mt19937_64 &rng);
};

const std::vector<ApiInfo> &known_apis();
// nullptr when the API is not known
const ApiInfo *find_api(const std::string &api, const std::string &prec);

}  // namespace cedr

#endif  // CEDR_API_TABLE_H

// cost_model.h - size-aware predicted execution times: cost(api, prec, PE type, call) =
// fixed_ns + ns_per_unit * work(call). Sources, most specific first:
//   1. "API Cost Functions": {"DASH_FFT_flt": {"cpu": {"fixed_ns": 900, "ns_per_unit": 1.8}}}
//      (written by `onnx2cedr calibrate`)
//   2. for an accelerator type whose implementation exports an estimator
//      (kernels/include/dash_accel.h): its cycles and bytes through the type's "Accelerators"
//      latency model (applied by Runtime::predict, before this table is consulted)
//   3. the public constant "DASH API Costs": {"DASH_FFT_cpu": 30000} (any precision)
//   4. a built-in default (documented in docs/runtime.md), so an uncalibrated config still
//      prefers accelerators for large calls.
#ifndef CEDR_COST_MODEL_H
#define CEDR_COST_MODEL_H

#include <map>
#include <string>
#include <utility>

namespace cedr {

struct CostFn {
  double fixed_ns = 0;
  double ns_per_unit = 0;
  double operator()(double work) const { return fixed_ns + ns_per_unit * work; }
};

class CostModel {
 public:
  // api_prec: "DASH_FFT_flt"; type: "cpu", "fft", ...
  void set_function(const std::string &api_prec, const std::string &type, CostFn f) { fn_[{api_prec, type}] = f; }
  // api: "DASH_FFT" (no precision), as in the public "DASH API Costs" key "DASH_FFT_cpu"
  void set_constant(const std::string &api, const std::string &type, double ns) { const_[{api, type}] = ns; }
  // Predicted ns for one call of `work` units.
  double predict(const std::string &api, const std::string &prec, const std::string &type, double work) const;
  // Where a prediction comes from: "function", "constant" or "default" (for summaries/docs).
  const char *source(const std::string &api, const std::string &prec, const std::string &type) const;

 private:
  std::map<std::pair<std::string, std::string>, CostFn> fn_;
  std::map<std::pair<std::string, std::string>, double> const_;
};

// The built-in default for an API on a PE type (used when the config gives nothing).
CostFn default_cost(const std::string &api, const std::string &prec, const std::string &type);

}  // namespace cedr

#endif  // CEDR_COST_MODEL_H

// cost_model.cpp - predicted execution time of one kernel call on one PE type.
//
// Lookup order (most specific first): the calibrated "API Cost Functions" entry for
// (API_prec, type); the public size-blind constant "DASH API Costs" for (API, type); the
// built-in default below. `onnx2cedr calibrate` measures and replaces the defaults.
// The runtime puts one source between the first two: for a non-CPU type whose implementation
// exports an estimator (kernels/include/dash_accel.h), the accelerator's own cycle / byte model
// through the type's "Accelerators" latency model (runtime.cpp, Runtime::predict).
//
// Built-in defaults: cost = fixed_ns + ns_per_unit * work (work as defined in api_table.cpp).
// CPU rows were measured with the synthetic calls of api_table.cpp on one core of the 2-core
// x86 development machine (onnx2cedr's CPU kernels, -O3 -march=native, best of several runs),
// rounded; fixed_ns absorbs the small-size overhead.
//
//   API                  prec  cpu fixed_ns  cpu ns/unit   unit
//   DASH_FFT             flt        300         1.0       n*log2(n)
//   DASH_FFT             int        400         1.45      n*log2(n)
//   DASH_GEMM            flt       1000         0.10      complex MAC
//   DASH_GEMM            int        300         0.36      complex MAC
//   DASH_ZIP             flt        100         0.30      complex element
//   DASH_ZIP             int        100         3.0       complex element
//   DASH_CONV_2D         int       2000         0.22      MAC
//   DASH_CONV_1D         flt        200         0.55      MAC
//   DASH_GEMM_RE         flt        800         0.022     MAC
//   DASH_CONV            flt       5000         0.029     MAC
//   DASH_CONV_TRANSPOSE  flt       5000         0.030     MAC
//   DASH_POOL            flt       1000         0.15      tap
//   DASH_BINARY          flt         50         0.08      element
//   DASH_UNARY           flt         50         0.47      element
//   DASH_SOFTMAX         flt        100         1.04      element
//   DASH_QCONV           i8        5000         0.020     MAC
//   DASH_QCONV           i16       5000         0.060     MAC
//   DASH_QGEMM           i8         800         0.015     MAC
//   DASH_QGEMM           i16        800         0.060     MAC
//   (other API)          any      10000         0         (size-blind)
//
// Accelerators (no hardware here; these describe the intended shape, not a measurement): an
// accelerator type runs its family of APIs with a fixed invocation + transfer cost and a slope
// ten times smaller than the CPU's, so small calls prefer the CPU and large calls the
// accelerator:
//
//   type   APIs                                             fixed_ns   ns/unit
//   fft    DASH_FFT                                            8000    cpu / 10
//   gemm   DASH_GEMM, DASH_GEMM_RE, DASH_QGEMM                15000    cpu / 10
//   zip    DASH_ZIP, DASH_BINARY, DASH_UNARY                   5000    cpu / 10
//   conv   DASH_CONV_2D, DASH_CONV_1D, DASH_CONV,             20000    cpu / 10
//          DASH_CONV_TRANSPOSE, DASH_QCONV
//   gpu    any known API                                      20000    cpu / 20
//   other  known API outside the type's family                10000    cpu slope (an unknown
//          device is assumed as fast as a CPU, plus an invocation cost)
//   any    unknown API                                        10000    0
//
// Break-even points with these numbers (CPU = accelerator): FFT n ~ 1024, complex GEMM ~ 54^3,
// GEMM_RE ~ 90^3, ZIP ~ 18K elements, CONV ~ 0.6M MACs.
#include "cost_model.h"


namespace cedr {

namespace {

struct CpuDefault {
  const char *api;
  const char *prec;
  double fixed_ns;
  double ns_per_unit;
};

const CpuDefault kCpu[] = {
    {"DASH_FFT", "flt", 300, 1.0},           {"DASH_FFT", "int", 400, 1.45},
    {"DASH_GEMM", "flt", 1000, 0.10},        {"DASH_GEMM", "int", 300, 0.36},
    {"DASH_ZIP", "flt", 100, 0.30},          {"DASH_ZIP", "int", 100, 3.0},
    {"DASH_CONV_2D", "int", 2000, 0.22},     {"DASH_CONV_1D", "flt", 200, 0.55},
    {"DASH_GEMM_RE", "flt", 800, 0.022},     {"DASH_CONV", "flt", 5000, 0.029},
    {"DASH_CONV_TRANSPOSE", "flt", 5000, 0.030},
    {"DASH_POOL", "flt", 1000, 0.15},        {"DASH_BINARY", "flt", 50, 0.08},
    {"DASH_UNARY", "flt", 50, 0.47},         {"DASH_SOFTMAX", "flt", 100, 1.04},
    {"DASH_QCONV", "i8", 5000, 0.020},       {"DASH_QCONV", "i16", 5000, 0.060},
    {"DASH_QGEMM", "i8", 800, 0.015},        {"DASH_QGEMM", "i16", 800, 0.060},
};

struct AccelFamily {
  const char *type;
  double fixed_ns;
  double slope_divisor;
  const char *apis[8];  // nullptr-terminated; empty list = every known API
};

const AccelFamily kAccel[] = {
    {"fft", 8000, 10, {"DASH_FFT", nullptr}},
    {"gemm", 15000, 10, {"DASH_GEMM", "DASH_GEMM_RE", "DASH_QGEMM", nullptr}},
    {"zip", 5000, 10, {"DASH_ZIP", "DASH_BINARY", "DASH_UNARY", nullptr}},
    {"conv", 20000, 10, {"DASH_CONV_2D", "DASH_CONV_1D", "DASH_CONV", "DASH_CONV_TRANSPOSE", "DASH_QCONV", nullptr}},
    {"gpu", 20000, 20, {nullptr}},
};

constexpr double kUnknownNs = 10000;
constexpr double kForeignFixedNs = 10000;

const CpuDefault *cpu_row(const std::string &api, const std::string &prec) {
  const CpuDefault *any_prec = nullptr;
  for (const auto &r : kCpu) {
    if (api != r.api) continue;
    if (prec == r.prec) return &r;
    if (!any_prec) any_prec = &r;
  }
  // a precision we have no row for (e.g. DASH_GEMM_RE_int): the other precision's row
  return any_prec;
}

}  // namespace

CostFn default_cost(const std::string &api, const std::string &prec, const std::string &type) {
  const CpuDefault *row = cpu_row(api, prec);
  if (!row) return CostFn{kUnknownNs, 0};
  if (type == "cpu") return CostFn{row->fixed_ns, row->ns_per_unit};
  for (const auto &fam : kAccel) {
    if (type != fam.type) continue;
    bool member = fam.apis[0] == nullptr;
    for (int i = 0; !member && fam.apis[i]; ++i) member = api == fam.apis[i];
    if (member) return CostFn{fam.fixed_ns, row->ns_per_unit / fam.slope_divisor};
    break;
  }
  return CostFn{kForeignFixedNs, row->ns_per_unit};
}

double CostModel::predict(const std::string &api, const std::string &prec, const std::string &type,
                          double work) const {
  auto f = fn_.find({api + "_" + prec, type});
  if (f != fn_.end()) return f->second(work);
  auto c = const_.find({api, type});
  if (c != const_.end()) return c->second;
  return default_cost(api, prec, type)(work);
}

const char *CostModel::source(const std::string &api, const std::string &prec, const std::string &type) const {
  if (fn_.count({api + "_" + prec, type})) return "function";
  if (const_.count({api, type})) return "constant";
  return "default";
}

}  // namespace cedr

// api_enqueue.h - the blocking and _nb API entry points cedr-run exports to apps (every API of
// dash.h and dash_ml.h), and enqueue_kernel.
#ifndef CEDR_API_ENQUEUE_H
#define CEDR_API_ENQUEUE_H

#include <vector>

namespace cedr {

struct ExportedApi {
  const char *api;   // "DASH_FFT"
  const char *prec;  // "flt"
};

// Every (API, precision) with a blocking DASH_<API>_<prec> and DASH_<API>_<prec>_nb here.
const std::vector<ExportedApi> &exported_apis();

}  // namespace cedr

#endif  // CEDR_API_ENQUEUE_H

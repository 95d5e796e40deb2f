/*
 * dash_accel.h - how an accelerator implementation tells the runtime what its hardware would
 * cost. An implementation DASH_<API>_<prec>_<resource>(&args..., uint8_t idx) computes its result
 * functionally on the host, then reports the cycles its hardware pipeline needs and the bytes it
 * moves over the memory interface:
 *
 *     cedr_accel_account(cycles, bytes_moved);
 *
 * The runtime turns that into a modeled latency for the PE that ran the call
 *     latency = overhead_ns + cycles / clock + bytes_moved / bandwidth
 * (clock, bandwidth and overhead per PE type come from the config's "Accelerators" section) and
 * keeps the PE busy, sleeping, until that latency has passed since the call started.
 *
 * The symbol is weak: outside the runtime (unit tests, a standalone build) it resolves to NULL
 * and reporting is skipped; cedr_accel_report() wraps that check. An implementation that never
 * reports gets the latency its cost function predicts.
 *
 * Estimators (optional). Next to an implementation, a library may export
 *
 *     void DASH_<API>_<prec>_<resource>_estimate(<the implementation's argument pointers>,
 *                                                uint8_t idx, uint64_t *cycles, uint64_t *bytes_moved);
 *
 * e.g. void DASH_FFT_flt_fft_estimate(dash_cmplx_flt_type **in, dash_cmplx_flt_type **out,
 *                                     size_t *n, bool *forward, uint8_t idx,
 *                                     uint64_t *cycles, uint64_t *bytes_moved);
 * It stores the cycles and bytes the implementation would report for that call, computed from
 * the arguments without doing the work: it may read the scalar and parameter arguments and
 * compare buffer addresses (aliasing), never the buffers' contents, and must be cheap (the
 * runtime calls it for every task it schedules). It must agree exactly with what the
 * implementation reports (share the formula code). idx is the instance the prediction is for;
 * the runtime predicts per PE type and passes 0.
 *
 * The runtime predicts a task's time on a non-CPU PE type from it as
 *     overhead_ns + cycles * 1000 / clock_mhz + bytes_moved / bandwidth_gbps
 * (that type's "Accelerators" settings), unless the config has an "API Cost Functions" entry
 * for (<API>_<prec>, <resource>): a calibrated measurement wins. Without an estimator the
 * prediction comes from "DASH API Costs", then the built-in default. The estimator is looked up
 * in the library that provides the implementation the runtime uses.
 */
#ifndef ONNX2CEDR_DASH_ACCEL_H
#define ONNX2CEDR_DASH_ACCEL_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

void cedr_accel_account(uint64_t cycles, uint64_t bytes_moved) __attribute__((weak));

static inline void cedr_accel_report(uint64_t cycles, uint64_t bytes_moved) {
  if (cedr_accel_account) cedr_accel_account(cycles, bytes_moved);
}

/* An accelerator implementation that could not complete the call (a device error, a timeout of
 * its own) reports it with a non-zero code before returning: the runtime then re-runs the task on
 * a CPU PE, and counts the fault in summary.json. Its outputs are not used. */
void cedr_accel_error(int code) __attribute__((weak));

static inline void cedr_accel_fail(int code) {
  if (cedr_accel_error) cedr_accel_error(code);
}

#ifdef __cplusplus
}
#endif

#endif /* ONNX2CEDR_DASH_ACCEL_H */

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

#ifdef __cplusplus
}
#endif

#endif /* ONNX2CEDR_DASH_ACCEL_H */

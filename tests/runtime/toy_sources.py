"""A test-only API (DASH_TOY) with a CPU and an accelerator ('toy') implementation, and an app
that calls it: the C++ sources the runtime tests build."""

# A test-only API with a cpu and an accelerator ("toy") implementation: the accelerator one
# stores its instance index and reports 30000 cycles.
TOY_KERNELS = r"""
#include <cstdint>
extern "C" void cedr_accel_account(uint64_t cycles, uint64_t bytes) __attribute__((weak));
extern "C" void DASH_TOY_flt_cpu(int **slot) { **slot = 100; }
extern "C" void DASH_TOY_flt_toy(int **slot, uint8_t idx) {
  **slot = idx;
  if (cedr_accel_account) cedr_accel_account(30000, 4000);
}
"""

# Six TOY calls _nb with one barrier (through enqueue_kernel, as the runtime exports no DASH_TOY);
# prints what each call stored.
TOY_APP = r"""
#include <cstdio>
#include "dash.h"
extern "C" __attribute__((visibility("default"))) int main(int, char **) {
  int slot[6] = {-1, -1, -1, -1, -1, -1};
  int *ptr[6];
  pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
  pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
  uint32_t done = 0;
  cedr_barrier_t bar{&cv, &mu, &done};
  for (int k = 0; k < 6; ++k) {
    ptr[k] = &slot[k];
    enqueue_kernel("DASH_TOY", "flt", 2, &ptr[k], &bar);
  }
  cedr_barrier_wait(&bar, 6);
  for (int k = 0; k < 6; ++k) std::printf("toy %d %d\n", k, slot[k]);
  return 0;
}
"""

// nop_app.cpp - dispatch benchmark app for cedr-run (runtime/bench/dispatch.py). It issues
// DASH_NOP_flt tasks through enqueue_kernel directly (the runtime exports no blocking NOP).
//   NOP_MODE=latency     NOP_CALLS blocking calls, one at a time (enqueue -> start is the
//                        dispatch latency; the caller waits for each)
//   NOP_MODE=throughput  NOP_BATCHES batches of NOP_BATCH _nb calls sharing one barrier
// Prints one line "nop_app: mode=... tasks=N seconds=S tasks_per_s=R" and returns non-zero if
// some task did not run exactly once.
//   g++ -std=c++17 -O2 -shared -fPIC -I kernels/include nop_app.cpp -o nop_app.so
#include <time.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "dash.h"

namespace {

long env_long(const char *name, long fallback) {
  const char *v = std::getenv(name);
  return (v != nullptr && *v != '\0') ? std::strtol(v, nullptr, 10) : fallback;
}

double seconds() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

struct Barrier {
  pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
  pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
  uint32_t done = 0;
  cedr_barrier_t b{&cv, &mu, &done};
  void wait(uint32_t n) { cedr_barrier_wait(&b, n); }
};

}  // namespace

extern "C" __attribute__((visibility("default"))) int main(int, char **) {
  const char *mode_env = std::getenv("NOP_MODE");
  const bool throughput = mode_env != nullptr && std::strcmp(mode_env, "throughput") == 0;
  long tasks = 0;
  int bad = 0;
  const double t0 = seconds();
  if (!throughput) {
    const long calls = env_long("NOP_CALLS", 2000);
    int counter = 0;
    int *arg = &counter;
    for (long i = 0; i < calls; ++i) {
      Barrier b;
      enqueue_kernel("DASH_NOP", "flt", 2, &arg, &b.b);
      b.wait(1);
    }
    tasks = calls;
    bad = counter != calls;
  } else {
    const long batch = env_long("NOP_BATCH", 1000), batches = env_long("NOP_BATCHES", 50);
    std::vector<int> counters(static_cast<size_t>(batch), 0);
    std::vector<int *> args(static_cast<size_t>(batch));
    for (long i = 0; i < batch; ++i) args[size_t(i)] = &counters[size_t(i)];
    for (long r = 0; r < batches; ++r) {
      Barrier b;
      for (long i = 0; i < batch; ++i) enqueue_kernel("DASH_NOP", "flt", 2, &args[size_t(i)], &b.b);
      b.wait(uint32_t(batch));
    }
    tasks = batch * batches;
    for (int c : counters) bad += c != batches;
  }
  const double dt = seconds() - t0;
  std::printf("nop_app: mode=%s tasks=%ld seconds=%.6f tasks_per_s=%.0f\n", throughput ? "throughput" : "latency",
              tasks, dt, double(tasks) / dt);
  std::fflush(stdout);
  return bad ? 1 : 0;
}

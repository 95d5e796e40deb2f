// zip_app.cpp - public-API benchmark app for runtime/bench/dispatch.py: tiny DASH_ZIP_flt calls
// (ZIP_N complex values, ADD), only through dash.h.
//   ZIP_MODE=blocking  ZIP_CALLS blocking DASH_ZIP_flt calls one after another; each timed by the
//                      app (call to return): prints p50 and p99 in ns
//   ZIP_MODE=nb        ZIP_BATCHES batches of ZIP_BATCH DASH_ZIP_flt_nb calls sharing one barrier
//                      (cedr_barrier_wait of dash.h): tasks per second, first call to last return,
//                      and the CPU time of the whole process per task (every thread of cedr-run)
//   ZIP_MODE=idle      one blocking call, then ZIP_IDLE_MS ms asleep: the process's CPU time
//                      (getrusage, every thread of cedr-run) over the sleep, and the wall time
// Prints one line "zip_app: mode=... key=value ..." and returns non-zero if a result is wrong.
//   g++ -std=c++17 -O2 -shared -fPIC -I kernels/include zip_app.cpp -o zip_app.so
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "dash.h"

namespace {

long env_long(const char *name, long fallback) {
  const char *v = std::getenv(name);
  return (v != nullptr && *v != '\0') ? std::strtol(v, nullptr, 10) : fallback;
}

long long now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

double cpu_s() {
  rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return double(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) + 1e-6 * double(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

// out[i] == a[i] + b[i] for the values set by fill_inputs(k)
void fill_inputs(std::vector<dash_cmplx_flt_type> &a, std::vector<dash_cmplx_flt_type> &b, long k) {
  for (size_t i = 0; i < a.size(); ++i) {
    a[i] = {float(k % 1000) + float(i), float(i)};
    b[i] = {1.0f, float(k % 7)};
  }
}
bool check(const std::vector<dash_cmplx_flt_type> &out, long k) {
  for (size_t i = 0; i < out.size(); ++i)
    if (out[i].re != float(k % 1000) + float(i) + 1.0f || out[i].im != float(i) + float(k % 7)) return false;
  return true;
}

}  // namespace

extern "C" __attribute__((visibility("default"))) int main(int, char **) {
  const char *m = std::getenv("ZIP_MODE");
  const std::string mode = m != nullptr ? m : "blocking";
  const size_t n = size_t(env_long("ZIP_N", 4));
  int bad = 0;
  if (mode == "blocking") {
    const long calls = env_long("ZIP_CALLS", 5000);
    std::vector<dash_cmplx_flt_type> a(n), b(n), out(n);
    std::vector<long long> lat;
    lat.reserve(size_t(calls));
    for (long k = 0; k < calls; ++k) {
      fill_inputs(a, b, k);
      const long long t0 = now_ns();
      DASH_ZIP_flt(a.data(), b.data(), out.data(), n, ZIP_ADD);
      lat.push_back(now_ns() - t0);
      bad += !check(out, k);
    }
    std::sort(lat.begin(), lat.end());
    std::printf("zip_app: mode=blocking calls=%ld p50_ns=%lld p99_ns=%lld bad=%d\n", calls, lat[lat.size() / 2],
                lat[lat.size() * 99 / 100], bad);
  } else if (mode == "nb") {
    const long batch = env_long("ZIP_BATCH", 1000), batches = env_long("ZIP_BATCHES", 50);
    using Vec = std::vector<dash_cmplx_flt_type>;
    std::vector<Vec> a(static_cast<size_t>(batch), Vec(n));
    std::vector<Vec> b = a, out = a;
    std::vector<dash_cmplx_flt_type *> pa(a.size()), pb(a.size()), po(a.size());
    for (long i = 0; i < batch; ++i) {
      pa[size_t(i)] = a[size_t(i)].data();
      pb[size_t(i)] = b[size_t(i)].data();
      po[size_t(i)] = out[size_t(i)].data();
    }
    size_t nn = n;
    zip_op_t op = ZIP_ADD;
    const long long t0 = now_ns();
    const double c0 = cpu_s();
    for (long r = 0; r < batches; ++r) {
      for (long i = 0; i < batch; ++i) fill_inputs(a[size_t(i)], b[size_t(i)], r + i);
      pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
      pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
      uint32_t done = 0;
      cedr_barrier_t bar{&cv, &mu, &done};
      for (long i = 0; i < batch; ++i)
        DASH_ZIP_flt_nb(&pa[size_t(i)], &pb[size_t(i)], &po[size_t(i)], &nn, &op, &bar);
      cedr_barrier_wait(&bar, uint32_t(batch));
      for (long i = 0; i < batch; ++i) bad += !check(out[size_t(i)], r + i);
      pthread_cond_destroy(&cv);
      pthread_mutex_destroy(&mu);
    }
    const double dt = double(now_ns() - t0) * 1e-9, cpu = cpu_s() - c0;
    std::printf("zip_app: mode=nb tasks=%ld seconds=%.6f tasks_per_s=%.0f cpu_ns_per_task=%.0f bad=%d\n",
                batch * batches, dt, double(batch * batches) / dt, cpu * 1e9 / double(batch * batches), bad);
  } else if (mode == "idle") {
    std::vector<dash_cmplx_flt_type> a(n), b(n), out(n);
    fill_inputs(a, b, 1);
    DASH_ZIP_flt(a.data(), b.data(), out.data(), n, ZIP_ADD);
    bad += !check(out, 1);
    const long ms = env_long("ZIP_IDLE_MS", 10000);
    const double c0 = cpu_s();
    const long long t0 = now_ns();
    usleep(useconds_t(ms * 1000));
    std::printf("zip_app: mode=idle wall_s=%.3f cpu_s=%.6f bad=%d\n", double(now_ns() - t0) * 1e-9, cpu_s() - c0,
                bad);
  } else {
    std::fprintf(stderr, "zip_app: unknown ZIP_MODE '%s'\n", mode.c_str());
    return 2;
  }
  std::fflush(stdout);
  return bad ? 1 : 0;
}

// common.h - small pieces shared by the cedr-run sources: the two error kinds (which exit code a
// failure maps to), the monotonic clock and absolute sleeps.
#ifndef CEDR_COMMON_H
#define CEDR_COMMON_H

#include <cstdint>
#include <ctime>
#include <stdexcept>
#include <string>

namespace cedr {

// Bad input found before anything runs: exit code 2.
struct InputError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
// A failure while the run is in progress: exit code 3.
struct FatalError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Nanoseconds of CLOCK_MONOTONIC (the clock of every time in the logs).
inline int64_t now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

// Sleeps (never spins) until CLOCK_MONOTONIC reaches t_ns.
void sleep_until_ns(int64_t t_ns);

// A pause instruction for spin loops.
inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#endif
}

// "dir/name.so" -> "name" (the app name of the logs).
std::string app_name_of(const std::string &path);
// The folder of a path ("" -> ".").
std::string dir_of(const std::string &path);
// Whether a regular file exists at path.
bool file_exists(const std::string &path);
// mkdir -p; false on failure.
bool make_dirs(const std::string &path);

}  // namespace cedr

#endif  // CEDR_COMMON_H

// impl_call.cpp - calling kernel implementations and estimators with N pointer arguments (one
// table of callers per arity), and the accelerator cost reports of the call running on a thread
// (cedr_accel_account, dash_accel.h).
#include <array>
#include <csetjmp>
#include <csignal>
#include <utility>

#include "runtime.h"

namespace {

// Accelerator cost reports of the call running on this thread (cedr_accel_account).
struct AccelAccount {
  uint64_t cycles = 0, bytes = 0;
  bool reported = false;
};
thread_local AccelAccount tl_account;
thread_local int tl_error = 0;                  // cedr_accel_error of the call on this thread
thread_local sigjmp_buf *tl_guard = nullptr;    // set while an accelerator call may crash

}  // namespace

extern "C" __attribute__((visibility("default"))) void cedr_accel_error(int code) {
  if (code != 0 && tl_error == 0) tl_error = code;
}

extern "C" __attribute__((visibility("default"))) void cedr_accel_account(uint64_t cycles, uint64_t bytes_moved) {
  tl_account.cycles += cycles;
  tl_account.bytes += bytes_moved;
  tl_account.reported = true;
}

namespace cedr {

namespace {

// ---- calling an implementation with N pointer arguments ----
template <size_t>
using VoidPtr = void *;
using Caller = void (*)(void *, void *const *, uint8_t);

template <size_t... I>
void cpu_call(void *fn, void *const *a, std::index_sequence<I...>) {
  reinterpret_cast<void (*)(VoidPtr<I>...)>(fn)(a[I]...);
}
template <size_t... I>
void accel_call(void *fn, void *const *a, uint8_t idx, std::index_sequence<I...>) {
  reinterpret_cast<void (*)(VoidPtr<I>..., uint8_t)>(fn)(a[I]..., idx);
}
template <size_t N>
void cpu_n(void *fn, void *const *a, uint8_t) {
  cpu_call(fn, a, std::make_index_sequence<N>{});
}
template <size_t N>
void accel_n(void *fn, void *const *a, uint8_t idx) {
  accel_call(fn, a, idx, std::make_index_sequence<N>{});
}
template <size_t... N>
constexpr std::array<Caller, sizeof...(N)> cpu_callers(std::index_sequence<N...>) {
  return {&cpu_n<N>...};
}
template <size_t... N>
constexpr std::array<Caller, sizeof...(N)> accel_callers(std::index_sequence<N...>) {
  return {&accel_n<N>...};
}
constexpr auto kCpuCallers = cpu_callers(std::make_index_sequence<kMaxArgs + 1>{});
constexpr auto kAccelCallers = accel_callers(std::make_index_sequence<kMaxArgs + 1>{});

// ---- calling an estimator: N pointer arguments, the instance index, cycles and bytes out ----
using EstCaller = void (*)(void *, void *const *, uint8_t, uint64_t *, uint64_t *);
template <size_t... I>
void est_call(void *fn, void *const *a, uint8_t idx, uint64_t *c, uint64_t *b, std::index_sequence<I...>) {
  reinterpret_cast<void (*)(VoidPtr<I>..., uint8_t, uint64_t *, uint64_t *)>(fn)(a[I]..., idx, c, b);
}
template <size_t N>
void est_n(void *fn, void *const *a, uint8_t idx, uint64_t *c, uint64_t *b) {
  est_call(fn, a, idx, c, b, std::make_index_sequence<N>{});
}
template <size_t... N>
constexpr std::array<EstCaller, sizeof...(N)> est_callers(std::index_sequence<N...>) {
  return {&est_n<N>...};
}
constexpr auto kEstCallers = est_callers(std::make_index_sequence<kMaxArgs + 1>{});
}  // namespace

void call_impl(void *fn, void *const *args, unsigned n, bool accel, uint8_t instance_index) {
  (accel ? kAccelCallers : kCpuCallers)[n](fn, args, instance_index);
}

void call_estimate(void *fn, void *const *args, unsigned n, uint8_t instance_index, uint64_t *cycles,
                   uint64_t *bytes_moved) {
  kEstCallers[n](fn, args, instance_index, cycles, bytes_moved);
}

void accel_account_reset() {
  tl_account = AccelAccount{};
  tl_error = 0;
}

int accel_error_code() { return tl_error; }

int guarded_accel_call(void *fn, void *const *args, unsigned n, uint8_t instance_index, bool inject_crash) {
  sigjmp_buf jb;
  const int sig = sigsetjmp(jb, 1);
  if (sig != 0) {
    tl_guard = nullptr;
    return sig;  // came back from the signal handler (accel_guard_jump)
  }
  tl_guard = &jb;
  if (inject_crash) std::raise(SIGSEGV);
  call_impl(fn, args, n, true, instance_index);
  tl_guard = nullptr;
  return 0;
}

void accel_guard_jump(int sig) {
  if (tl_guard == nullptr) return;
  sigjmp_buf *g = tl_guard;
  tl_guard = nullptr;
  siglongjmp(*g, sig);
}

bool accel_account_read(uint64_t *cycles, uint64_t *bytes_moved) {
  *cycles = tl_account.cycles;
  *bytes_moved = tl_account.bytes;
  return tl_account.reported;
}

}  // namespace cedr

// isolate.h - app instances in child processes (`--isolate`, or "Isolation" in the config; off by default).
//
// The instance's thread in the runtime forks a child that runs the app's main. The child shares
// one anonymous MAP_SHARED region with the runtime (no /dev/shm name; it goes when both unmap it):
//   - a call slot: the child's enqueue_kernel writes the API, precision, argument pointers (opaque
//     here), the barrier pointer and the call's work and predicted costs (computed in the child,
//     where the pointers are valid), then waits on a futex until the runtime took it. The
//     instance's thread in the runtime (its proxy) turns it into a normal task: scheduling, PE
//     occupancy, logs and the Gantt chart are those of an in-process run.
//   - one exec slot per PE: when a PE's worker runs a task of the instance, it asks the child to
//     run the chosen implementation in the child's address space (the kernel libraries were loaded
//     before the fork, at the same addresses) and waits for completion; then it asks the child to
//     signal the task's barrier. No data is copied; a crash in a kernel kills only the child.
// A reaper thread waits for every child; a dead child wakes its proxy and any worker waiting on
// it (their tasks are dropped). The proxy kills a child that runs over the instance timeout.
#ifndef CEDR_ISOLATE_H
#define CEDR_ISOLATE_H

#include <sys/types.h>

#include <atomic>
#include <cstdarg>
#include <cstdint>
#include <string>

#include "apps.h"

namespace cedr {

class Runtime;
struct Instance;
struct IsoShared;

// The runtime side of one isolated instance (owned by its Instance).
struct IsoInstance {
  IsoShared *shm = nullptr;
  size_t shm_size = 0;
  pid_t pid = -1;
  std::atomic<bool> dead{false};
  std::atomic<int> in_flight{0};  // its tasks enqueued and not finished or dropped
  int status = 0;                 // waitpid status, valid once dead
  ~IsoInstance();
};

// What the child reported for one implementation run.
struct IsoResult {
  int sig = 0;            // the accelerator call crashed (signal caught in the child)
  int code = 0;           // cedr_accel_error
  bool reported = false;  // cedr_accel_account was called
  uint64_t cycles = 0, bytes = 0;
};

// The body of an isolated instance's thread: forks the child, serves its calls until it ends (or
// is killed at timeout_ns > 0 after its start), records its exit code, signal and times.
void run_instance_isolated(Runtime &rt, Instance &inst, AppMain main, const std::string &output, int64_t timeout_ns);

// A PE worker: runs implementation fn in the instance's child (accel: with the PE's index, a crash
// caught there). A CPU call's barrier (signal_barrier, the child's address; may be null) is
// signalled by the child as soon as the call returns; an accelerator call's by iso_signal, once the
// runtime has checked it. False when the child is gone (the task is to be dropped).
bool iso_execute(IsoInstance &iso, int pe_id, void *fn, void *const *args, unsigned n, bool accel, uint8_t idx,
                 bool inject_crash, IsoResult &res, void *signal_barrier);
// A PE worker: the child signals the barrier at `barrier` (its own address) once; does not wait.
void iso_signal(IsoInstance &iso, int pe_id, void *barrier, bool wake);

// "SIGSEGV", ..., or "signal N".
std::string signal_text(int sig);

// In the child: true; enqueue_kernel then forwards the call to the runtime.
bool iso_in_child();
// The child's enqueue_kernel.
void iso_child_enqueue(const char *api, const char *prec, unsigned n_args, va_list ap);

}  // namespace cedr

#endif  // CEDR_ISOLATE_H

// runtime.h - the live runtime: kernel calls become tasks, scheduling rounds place them on PEs,
// one worker thread per PE runs them and records their times. Sources: runtime.cpp (set-up, API
// slots, enqueue), task_pool.cpp, rounds.cpp (scheduling rounds, dispatch), workers.cpp (PE
// workers, running a task, the blocking caller's inline run), impl_call.cpp (calling kernels).
//
// Hot path (enqueue -> start):
//   enqueue_kernel  a task from a preallocated pool (lock-free free list), work and predicted
//                   costs from the per-API slot (implementations, accelerator estimators and cost
//                   functions resolved once); an accelerator type whose implementation exports an
//                   estimator is predicted from it (overhead + cycles / clock + bytes / bandwidth)
//                   unless a calibrated "API Cost Functions" entry exists
//   submit          under the ready-queue lock: append; if no round is in progress the caller
//                   becomes the round runner ("combining"): it schedules everything that is ready,
//                   repeatedly, until nothing new arrived. Tasks enqueued meanwhile form the next
//                   round's batch.
//   worker          per-PE FIFO (intrusive list under a per-PE mutex); bounded adaptive spin
//                   (shorter after idle periods that saw no task), then a condition variable; runs the implementation, corrects the PE's predicted
//                   availability from the measurement, signals the caller's barrier.
#ifndef CEDR_RUNTIME_H
#define CEDR_RUNTIME_H

#include <pthread.h>

#include <atomic>
#include <condition_variable>
#include <cstdarg>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "api_table.h"
#include "config.h"
#include "dash.h"
#include "libraries.h"
#include "scheduler.h"

namespace cedr {

constexpr int kMaxArgs = 20;
struct IsoInstance;

// Everything the runtime resolved about one (API, precision).
struct ApiSlot {
  std::string api, prec, name;  // "DASH_FFT", "flt", "DASH_FFT_flt"
  const ApiInfo *info = nullptr;
  uint16_t index = 0;
  void *impl[kMaxPeTypes] = {};          // per PE type; nullptr: cannot run there
  // per non-CPU PE type: the implementation's <API>_<prec>_<type>_estimate (dash_accel.h), used
  // unless "API Cost Functions" has an entry for (API_prec, type); nullptr: none or not used
  void *estimate[kMaxPeTypes] = {};
  double fixed_ns[kMaxPeTypes] = {};     // predicted cost = fixed + slope * work (no estimator)
  double slope_ns[kMaxPeTypes] = {};
  bool runnable = false;                 // some configured PE (count > 0) can run it
};

// One running (or finished) app instance.
struct Instance {
  int id = 0;             // app_id of the logs: submission order, app by app (as the public release)
  int index = 0;          // position in the run's instance list (arrival order): TaskRecord::instance
  int app = 0;            // index of its app
  std::string name;       // app name of the logs
  std::atomic<uint32_t> next_task{0};
  int64_t arrival_ns = 0, start_ns = 0, end_ns = 0;
  int exit_code = 0;
  bool finished = false;  // written by its thread before it reports completion
  // isolated (isolate.h): its child process; the signal that ended it (0: none), killed at its timeout
  std::shared_ptr<IsoInstance> iso;
  int signal = 0;
  bool timed_out = false;
};

struct TaskRecord {
  int32_t instance;
  uint32_t task_id;
  uint16_t slot;
  uint16_t pe;
  int64_t enqueue_ns, start_ns, stop_ns;
};

// --task-trace only: what a TaskRecord leaves out (kept parallel to PE::records).
struct TaskTraceExtra {
  double work;
  double pred_ns[kMaxPeTypes];  // per PE type, count-0 types included; < 0: no implementation
};

// A failed accelerator call, re-run on a CPU PE.
enum class FaultKind : uint8_t { error = 1, crash, overrun };
struct FaultRecord {
  int32_t instance;
  uint32_t task_id;
  uint16_t slot;
  uint16_t pe;
  FaultKind kind;
  int detail;            // the reported error code, or the signal
  bool injected;
  int64_t start_ns, stop_ns;
};

struct RoundRecord {
  uint32_t ready;
  int64_t start_ns, stop_ns;
};

struct Task {
  void *args[kMaxArgs + 1];
  unsigned n_args = 0;                 // argument pointers, barrier excluded
  cedr_barrier_t *barrier = nullptr;
  ApiSlot *slot = nullptr;
  Instance *inst = nullptr;
  uint32_t task_id = 0;
  uint64_t seq = 0;                    // enqueue order (TaskView::id)
  int64_t enqueue_ns = 0;
  double work = 1;
  double cost[kMaxPeTypes];            // predicted ns per PE type (< 0: cannot run there)
  double assigned_cost = 0;            // predicted ns on the PE it was given
  double trace_pred[kMaxPeTypes];      // --task-trace only: predicted ns on every PE type with an
                                       // implementation, count-0 types included (< 0: none)
  TaskRecord *report = nullptr;        // calibration: where to copy the finished task's record
  std::atomic<int> *inline_pe = nullptr;  // a blocking caller offers to run it (see run_inline)
  Task *next = nullptr;                // per-PE queue link
  uint32_t pool_index = 0;
  std::atomic<uint32_t> next_free{0};  // pool free-list link (index + 1; 0 ends the list)
};

// A fixed-capacity-per-chunk pool with a tagged lock-free free list; chunks are added (rarely)
// under a mutex and live until the pool is destroyed, so a racing reader never touches freed memory.
class TaskPool {
 public:
  TaskPool();
  ~TaskPool();
  Task *alloc();
  void release(Task *t);

 private:
  static constexpr uint32_t kChunkBits = 12, kChunk = 1u << kChunkBits, kMaxChunks = 4096;
  Task *at(uint32_t index) const { return chunks_[index >> kChunkBits].load(std::memory_order_acquire) + (index & (kChunk - 1)); }
  void grow();
  std::atomic<uint64_t> head_{0};  // (tag << 32) | (index + 1)
  std::atomic<Task *> chunks_[kMaxChunks];
  std::mutex grow_mu_;
  uint32_t n_chunks_ = 0;
};

class Runtime;

struct alignas(64) PE {
  Runtime *owner = nullptr;
  int id = 0, type = 0, index = 0;  // index within its type, from 0 (fft2 -> 1)
  std::string name;
  bool cpu = true;
  AccelModel accel;

  std::mutex mu;
  std::condition_variable cv;
  Task *head = nullptr, *tail = nullptr;  // tasks queued, not started
  double queued_pred_ns = 0;              // their predicted costs (under mu)
  bool sleeping = false;                  // the worker waits on cv (under mu)
  bool busy = false;                      // a task of this PE is running, on its worker or on
                                          // the blocking caller of that task (under mu)
  bool stop = false;                      // drain then exit (under mu)
  double deferred_ns = 0;                 // predicted work of the tasks run since a barrier
                                          // signal was last left to the next task (under mu)
  std::atomic<int> queued{0};             // tasks in the queue (for the spin check)
  std::atomic<int> outstanding{0};        // queued + running (PEView::queued)
  std::atomic<double> avail_ns{0};        // predicted time its queue drains

  // worker-owned until the worker exits
  int spin_misses = 0;                    // idle polls in a row that timed out (adaptive spin)
  std::vector<TaskRecord> records;
  std::vector<FaultRecord> faults;
  std::vector<TaskTraceExtra> trace;      // --task-trace: parallel to records
  int64_t busy_ns = 0;
  uint64_t overruns = 0;
  pthread_t thread{};
  bool started = false;
  std::atomic<bool> exited{false};
};

class Runtime {
 public:
  Runtime(const RunConfig &cfg, const Libraries &libs, const std::string &scheduler, uint64_t seed);
  ~Runtime();
  Runtime(const Runtime &) = delete;
  Runtime &operator=(const Runtime &) = delete;

  // --task-trace: keep, per task, its work and its predicted cost on every PE type that has an
  // implementation, PE types with no workers included (those only predicted, never scheduled).
  // Before start_workers.
  void enable_task_trace() { trace_ = true; }
  bool task_trace() const { return trace_; }

  // Worker threads. spin_ns: how long an idle worker (and a blocking API call) polls before blocking.
  void start_workers(int64_t spin_ns);
  // After the last task: let the workers drain their queues and exit; joins them.
  void stop_workers();
  // Fatal error: workers finish their current task and exit; joins them.
  void abort_workers();

  // The slot of (api, prec), created on first use (implementations looked up once).
  ApiSlot *slot(const char *api, const char *prec);
  ApiSlot *slot(const std::string &api, const std::string &prec) { return slot(api.c_str(), prec.c_str()); }

  // enqueue_kernel's body. Returns false on a fatal error (already recorded).
  bool enqueue(const char *api, const char *prec, unsigned n_args, va_list ap);
  // An isolated instance's call (isolate.h), its argument pointers and barrier opaque here; its work
  // and predicted costs computed in the child (work < 0: not computed, the cost functions are used).
  // False with `err` when the call is refused (the instance fails, the run goes on) or the run aborted.
  // offer: as offer_inline's word, for a blocking call (then see run_inline_remote), or nullptr.
  bool enqueue_remote(Instance *inst, const char *api, const char *prec, unsigned n_args, void *const *args,
                      void *barrier, double work, const double *cost, const double *trace_pred, std::string &err,
                      std::atomic<int> *offer = nullptr);
  // The slot of (api, prec) if it exists, without locking (an isolated child's read-only copy).
  const ApiSlot *find_slot(const char *api, const char *prec) const;
  // A call's work measure and predicted ns per PE type (< 0: no worker can run it there), and with
  // --task-trace on every type with an implementation; the pointers must be valid here.
  void call_costs(const ApiSlot *s, void *const *args, unsigned n_args, double &work, double *cost,
                  double *trace_pred) const;
  // Calibration: runs one call on PE `pe` through the worker path (no scheduling), waits for it.
  TaskRecord run_direct(int pe, ApiSlot *s, const std::vector<void *> &args, double work);
  // A blocking call whose task was handed to CPU PE `pe` while that PE was idle (its hand-off
  // word set to pe by dispatch_to, which then left the worker asleep): runs the task on the
  // calling thread as that PE, if it is still first in the PE's queue and the PE still idle;
  // else makes sure the worker will run it. Returns true if it ran the task here.
  bool run_inline(int pe, const cedr_barrier_t *barrier);
  // run_inline for an isolated instance's blocking call, whose memory is in its child process: when
  // the task can be taken as run_inline takes it, `run(fn, start, stop)` has the child run the
  // implementation `fn` on its calling thread and fills in when it ran (false: the child is gone,
  // the task is dropped); the task is then completed as a worker completes it. True if taken.
  bool run_inline_remote(int pe, const cedr_barrier_t *barrier,
                         const std::function<bool(void *fn, int64_t &start, int64_t &stop)> &run);

  // Instances: the thread running an instance registers it so its tasks are attributed to it.
  static void set_current_instance(Instance *inst);
  void instance_started(Instance *inst);

  // Fatal errors (first one wins); waiters on state_cv are woken.
  void fatal(const std::string &msg);
  bool aborted() const { return aborted_.load(std::memory_order_acquire); }
  std::string fatal_message();

  // After a fatal error: waits (bounded) until no scheduling round is in progress, so that the
  // round log can be read.
  void wait_rounds_idle(int64_t max_wait_ns);
  // The instance the calling thread runs (nullptr outside app threads).
  static Instance *current_instance();

  // Tasks enqueued and not yet finished.
  int64_t outstanding_tasks() const { return outstanding_tasks_.load(std::memory_order_acquire); }

  // Read after the workers stopped.
  std::vector<std::unique_ptr<PE>> &pes() { return pes_; }
  const std::vector<RoundRecord> &rounds() const { return rounds_; }
  const std::vector<std::unique_ptr<ApiSlot>> &slots() const { return slots_; }
  const RunConfig &config() const { return cfg_; }
  const char *scheduler_name() const { return sched_->name(); }

  // Main-thread coordination (instance completion, fatal errors).
  std::mutex state_mu;
  std::condition_variable state_cv;
  int finished_instances = 0;

 private:
  friend void *worker_main(void *);
  void worker_loop(PE &pe);
  Task *take(PE &pe);
  void execute(PE &pe, Task *t);
  void complete(PE &pe, Task *t, int64_t start, int64_t stop, IsoInstance *iso);
  void submit(Task *t);
  void request_round();
  void run_rounds();
  bool round(std::vector<Task *> &batch);
  void fallback_assign(SchedContext &ctx);
  // Predicted ns of one call on PE type `type` (which must have an implementation): the
  // accelerator's estimator through that type's latency model, else the cost function.
  double predict(const ApiSlot *s, int type, void *const *args, unsigned n_args, double work) const;
  void dispatch_to(PE &pe, Task *first, Task *last, int count, double pred_sum, int64_t now);
  // Accelerator faults: whether this call on PE type `type` is to fail, and how (injection); the
  // deadline of a task on an accelerator; a failed task recorded and handed to a CPU PE.
  FaultMode injected_fault(int type);
  int64_t deadline_ns(const Task *t) const;
  void reroute_to_cpu(PE &pe, Task *t, const FaultRecord &f);
  // A task of an isolated instance whose child is gone: released without running.
  void drop_task(PE &pe, Task *t);
  void free_pe(PE &pe);

  const RunConfig &cfg_;
  const Libraries &libs_;
  std::unique_ptr<Scheduler> sched_;
  std::mt19937_64 rng_;
  int n_types_ = 0;
  std::vector<std::unique_ptr<PE>> pes_;
  int64_t spin_ns_ = 0;
  bool trace_ = false;

  // API slots
  std::mutex slots_mu_;
  std::vector<std::unique_ptr<ApiSlot>> slots_;
  std::unordered_map<std::string, ApiSlot *> slot_by_name_;

  TaskPool pool_;
  std::atomic<int64_t> outstanding_tasks_{0};

  // ready queue and round state (under ready_mu_)
  std::mutex ready_mu_;
  std::vector<Task *> ready_in_;
  uint64_t next_seq_ = 0;
  bool round_running_ = false;
  bool rerun_ = false;
  // owned by the current round runner
  std::vector<Task *> batch_;
  std::vector<Task *> pending_;
  std::atomic<int> pending_count_{0};
  std::vector<TaskView> views_;
  std::vector<PEView> pe_views_;
  std::vector<Assignment> assigned_;
  std::vector<char> taken_;
  std::vector<Task *> stage_head_, stage_tail_;
  std::vector<int> stage_count_;
  std::vector<int> expect_outstanding_;
  std::vector<double> stage_pred_;
  std::vector<RoundRecord> rounds_;

  std::atomic<uint64_t> inject_calls_[kMaxPeTypes] = {};
  std::mutex fault_mu_;
  std::mt19937_64 fault_rng_;

  std::atomic<bool> aborted_{false};
  std::mutex fatal_mu_;
  std::string fatal_msg_;
};

// The runtime of this process (enqueue_kernel's target); nullptr outside a run.
extern Runtime *g_runtime;
// How long a blocking API call polls its barrier before sleeping on it (ns).
extern int64_t g_wait_spin_ns;
// The smallest predicted cost (ns) of the last task this thread enqueued: a blocking call only
// polls when its task is predicted to be short.
double last_enqueued_cost_ns();
// The next enqueue on this thread is a blocking call's: `word` (-1 on entry) receives the id of
// the CPU PE its task was given to, idle, without waking its worker (then the caller must call
// Runtime::run_inline), or -3 when the task is not offered; the caller may set -2 (by CAS from
// -1) to withdraw, after which dispatch wakes the worker as usual.
void offer_inline(std::atomic<int> *word);
// The word offer_inline set for this thread's next enqueue (nullptr if none), cleared.
std::atomic<int> *take_inline_offer();

// Calls an implementation with n argument pointers (plus the instance index for accelerators).
void call_impl(void *fn, void *const *args, unsigned n, bool accel, uint8_t instance_index);
// The accelerator cost reports (cedr_accel_account) of the call running on this thread: cleared
// before an accelerator call, read after it (false when the implementation reported nothing).
void accel_account_reset();
bool accel_account_read(uint64_t *cycles, uint64_t *bytes_moved);
// The error code the call running on this thread reported (cedr_accel_error), 0 if none.
int accel_error_code();
// An accelerator call that survives a crash: a fatal signal on this thread while it runs returns
// here (the signal number) instead of ending the process (the handlers call accel_guard_jump
// first). inject_crash: raise SIGSEGV instead of calling (fault injection).
int guarded_accel_call(void *fn, void *const *args, unsigned n, uint8_t instance_index, bool inject_crash);
// In a fatal-signal handler: back to guarded_accel_call if this thread is inside one; else returns.
void accel_guard_jump(int sig);
// Calls an estimator: n argument pointers, the instance index, then where to store cycles and bytes.
void call_estimate(void *fn, void *const *args, unsigned n, uint8_t instance_index, uint64_t *cycles,
                   uint64_t *bytes_moved);

}  // namespace cedr

#endif  // CEDR_RUNTIME_H

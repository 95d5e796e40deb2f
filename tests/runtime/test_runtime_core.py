"""cedr-run itself: hand-written apps compiled here against dash.h, every scheduler on a mixed
SoC, the exact public log formats, summary.json, every bad-input error, --check, --calibrate,
accelerator instance indices and modeled latency, run-time fatal errors, reproducible Poisson
arrivals. No timing assertions (the machine is shared), except lower bounds the runtime
guarantees by construction (a modeled accelerator call never ends before its modeled latency)."""
from __future__ import annotations

import json
import re
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from tests.runtime.toy_sources import TOY_APP, TOY_KERNELS

ROOT = Path(__file__).resolve().parents[2]
INCLUDE = ROOT / "kernels" / "include"
SCHEDULERS = ["SIMPLE", "RANDOM", "MET", "EFT", "ETF", "HEFT_RT"]

TIMING = re.compile(r"^app_id: (\d+), app_name: ([^,]+), task_id: (\d+), task_name: (DASH_\w+), "
                    r"resource_name: ([a-z_]+\d+), ref_start_time: (\d+), ref_stop_time: (\d+), "
                    r"actual_exe_time: (\d+)$")
SCHED = re.compile(r"^ready_queue_size: (\d+), ref_start_time: (\d+), ref_stop_time: (\d+), "
                   r"sheduling_overhead: (\d+) ns$")
# the public file's last line, after the rounds and without a newline
SCHED_TOTAL = re.compile(r"^total_ready_tasks: (\d+), total_scheduling_overhead: (\d+) ns$")
APPRT = re.compile(r"^app_id: (\d+), app_name: ([^,]+), ref_arrival_time: (\d+), ref_start_time: (\d+), "
                   r"ref_end_time: (\d+), app_runtime: (\d+), app_lifetime: (\d+)$")

SUMMARY_KEYS = {"scheduler", "seed", "arrival", "queueing", "isolated", "start_ns", "end_ns", "makespan_ns", "instances",
                "failed_instances", "tasks", "pes", "apps", "scheduling", "dispatch_ns", "failures", "faults"}

# ZIP blocking, then four FFTs issued _nb with one shared barrier; checks itself in double precision.
CORE_APP = r"""
#include <cmath>
#include <cstdio>
#include <vector>
#include "dash.h"

extern "C" __attribute__((visibility("default"))) int main(int, char **) {
  const size_t n = 256;
  std::vector<dash_cmplx_flt_type> a(n), b(n), z(n);
  for (size_t i = 0; i < n; ++i) {
    a[i] = {float(i % 7) - 3.0f, float(i % 5)};
    b[i] = {0.5f, float(i % 3) - 1.0f};
  }
  DASH_ZIP_flt(a.data(), b.data(), z.data(), n, ZIP_ADD);
  int bad = 0;
  for (size_t i = 0; i < n; ++i)
    if (z[i].re != a[i].re + b[i].re || z[i].im != a[i].im + b[i].im) ++bad;

  std::vector<std::vector<dash_cmplx_flt_type>> in(4, std::vector<dash_cmplx_flt_type>(n)), out = in;
  dash_cmplx_flt_type *ip[4], *op[4];
  size_t ns[4];
  bool fw[4];
  for (int k = 0; k < 4; ++k) {
    for (size_t i = 0; i < n; ++i) in[k][i] = {float(std::cos(0.1 * (k + 1) * i)), float((i * (k + 3)) % 11) / 11.0f};
    ip[k] = in[k].data();
    op[k] = out[k].data();
    ns[k] = n;
    fw[k] = (k % 2) == 0;
  }
  pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
  pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
  uint32_t done = 0;
  cedr_barrier_t bar{&cv, &mu, &done};
  for (int k = 0; k < 4; ++k) DASH_FFT_flt_nb(&ip[k], &op[k], &ns[k], &fw[k], &bar);
  cedr_barrier_wait(&bar, 4);

  for (int k = 0; k < 4; ++k) {
    const double sign = fw[k] ? -1.0 : 1.0, scale = fw[k] ? 1.0 : 1.0 / n;
    for (size_t f = 0; f < n; ++f) {
      double re = 0, im = 0;
      for (size_t t = 0; t < n; ++t) {
        const double ang = sign * 2.0 * M_PI * double((f * t) % n) / double(n);
        re += in[k][t].re * std::cos(ang) - in[k][t].im * std::sin(ang);
        im += in[k][t].re * std::sin(ang) + in[k][t].im * std::cos(ang);
      }
      if (std::fabs(re * scale - out[k][f].re) > 1e-3 || std::fabs(im * scale - out[k][f].im) > 1e-3) ++bad;
    }
  }
  if (bad) std::printf("core_app: %d wrong values\n", bad);
  return bad ? 1 : 0;
}
"""

# Returns its own exit code after one real call.
FAIL_APP = r"""
#include "dash.h"
extern "C" __attribute__((visibility("default"))) int main(int, char **) {
  dash_cmplx_flt_type v[4] = {};
  DASH_FFT_flt(v, v, 4, true);
  return 3;
}
"""

# Calls an API by hand that no PE implements: a fatal error at run time.
ROGUE_APP = r"""
#include "dash.h"
extern "C" __attribute__((visibility("default"))) int main(int, char **) {
  int x = 0;
  int *p = &x;
  pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
  pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
  uint32_t done = 0;
  cedr_barrier_t bar{&cv, &mu, &done};
  enqueue_kernel("DASH_MISSING", "flt", 2, &p, &bar);
  cedr_barrier_wait(&bar, 1);
  return 0;
}
"""

# Ends the process from inside the app, or crashes: the runtime reports it in one line (exit 3).
EXIT_APP = r"""
#include <cstdlib>
#include "dash.h"
extern "C" __attribute__((visibility("default"))) int main(int, char **) {
  dash_cmplx_flt_type v[4] = {};
  DASH_FFT_flt(v, v, 4, true);
  std::exit(0);
}
"""
CRASH_APP = r"""
#include <cstdlib>
extern "C" __attribute__((visibility("default"))) int main(int, char **) {
  volatile int *p = nullptr;
  if (std::getenv("PATH")) *p = 1;
  return 0;
}
"""

# Four blocking 32x32x32-channel 3x3 convolutions (9.4 M MACs each); checks one output value.
CONV_APP = r"""
#include <cmath>
#include <cstdio>
#include <vector>
#include "dash_ml.h"
extern "C" __attribute__((visibility("default"))) int main(int, char **) {
  const int C = 32, H = 32, W = 32, O = 32;
  std::vector<float> x(C * H * W), w(O * C * 9), b(O), y(O * H * W);
  for (size_t i = 0; i < x.size(); ++i) x[i] = float(i % 13) * 0.125f - 0.75f;
  for (size_t i = 0; i < w.size(); ++i) w[i] = float(i % 7) * 0.0625f - 0.1875f;
  for (int o = 0; o < O; ++o) b[o] = 0.5f * o;
  dash_conv_params_t p{};
  p.spatial_rank = 2; p.has_bias = 1; p.batch = 1; p.in_channels = C; p.out_channels = O; p.groups = 1;
  p.in_size[0] = H; p.in_size[1] = W; p.out_size[0] = H; p.out_size[1] = W;
  p.kernel[0] = p.kernel[1] = 3; p.stride[0] = p.stride[1] = 1; p.dilation[0] = p.dilation[1] = 1;
  p.pad_begin[0] = p.pad_begin[1] = 1; p.act = {DASH_ACT_NONE, 0.0f, 0.0f};
  for (int k = 0; k < 4; ++k) DASH_CONV_flt(x.data(), w.data(), b.data(), y.data(), &p);
  /* output (o = 5, y = 7, x = 9): every tap in bounds */
  double ref = b[5];
  for (int c = 0; c < C; ++c)
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 3; ++j) ref += double(w[((5 * C + c) * 3 + i) * 3 + j]) * x[(c * H + 6 + i) * W + 8 + j];
  const float got = y[(5 * H + 7) * W + 9];
  if (std::fabs(got - ref) > 1e-3 * (1 + std::fabs(ref))) {
    std::printf("conv_app: %g != %g\n", got, ref);
    return 1;
  }
  return 0;
}
"""

# Blocking and _nb DASH_ZIP_flt calls mixed, from two threads of one instance: tiny blocking calls
# (a blocking caller may run them itself as the PE, see Runtime::run_inline), larger ones, and
# batches of _nb calls sharing a barrier with a blocking call issued while the batch is in
# flight. Every result is checked exactly (float adds); prints the task count it issued.
MIXED_APP = r"""
#include <cstdio>
#include <thread>
#include <vector>
#include "dash.h"

static int run(int seed, long *tasks) {
  int bad = 0;
  auto fill = [&](std::vector<dash_cmplx_flt_type> &a, std::vector<dash_cmplx_flt_type> &b, int k) {
    for (size_t i = 0; i < a.size(); ++i) {
      a[i] = {float((seed * 31 + k + int(i)) % 97), float(i % 5)};
      b[i] = {float(k % 11), 0.5f};
    }
  };
  auto check = [&](const std::vector<dash_cmplx_flt_type> &a, const std::vector<dash_cmplx_flt_type> &b,
                   const std::vector<dash_cmplx_flt_type> &o) {
    for (size_t i = 0; i < o.size(); ++i)
      if (o[i].re != a[i].re + b[i].re || o[i].im != a[i].im + b[i].im) ++bad;
  };
  for (int k = 0; k < 60; ++k) {
    const size_t n = (k % 3 == 2) ? 4096 : 4;
    std::vector<dash_cmplx_flt_type> a(n), b(n), o(n);
    fill(a, b, k);
    DASH_ZIP_flt(a.data(), b.data(), o.data(), n, ZIP_ADD);
    check(a, b, o);
    ++*tasks;
    if (k % 5 == 0) {
      const int m = 8;
      std::vector<std::vector<dash_cmplx_flt_type>> xa(m, std::vector<dash_cmplx_flt_type>(16)), xb = xa, xo = xa;
      dash_cmplx_flt_type *pa[m], *pb[m], *po[m];
      size_t nn = 16;
      zip_op_t op = ZIP_ADD;
      pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
      pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
      uint32_t done = 0;
      cedr_barrier_t bar{&cv, &mu, &done};
      for (int j = 0; j < m; ++j) {
        fill(xa[j], xb[j], k + j);
        pa[j] = xa[j].data();
        pb[j] = xb[j].data();
        po[j] = xo[j].data();
        DASH_ZIP_flt_nb(&pa[j], &pb[j], &po[j], &nn, &op, &bar);
        if (j == m / 2) {  // a blocking call while the batch is in flight
          fill(a, b, k + 1);
          DASH_ZIP_flt(a.data(), b.data(), o.data(), n, ZIP_ADD);
          check(a, b, o);
          ++*tasks;
        }
      }
      cedr_barrier_wait(&bar, m / 2);  // a partial wait first: it must return, though later
      cedr_barrier_wait(&bar, m);      // completions on this barrier may be signalled together
      for (int j = 0; j < m; ++j) check(xa[j], xb[j], xo[j]);
      *tasks += m;
    }
  }
  return bad;
}

extern "C" __attribute__((visibility("default"))) int main(int, char **) {
  long t1 = 0, t2 = 0;
  int bad2 = 0;
  std::thread th([&] { bad2 = run(2, &t2); });
  const int bad1 = run(1, &t1);
  th.join();
  std::printf("mixed_app: tasks=%ld wrong=%d\n", t1 + t2, bad1 + bad2);
  return bad1 + bad2 ? 1 : 0;
}
"""
MIXED_TASKS = 2 * (60 + 12 * 9)  # per instance: 60 blocking + 12 batches of 8 _nb and 1 blocking, per thread

# A DASH_ZIP_flt_cpu that writes the id of the thread running it (mod 65536) into out[0].re, and
# an app that tells whether its blocking / _nb calls ran on its own thread.
TID_ZIP_LIB = r"""
#include <sys/syscall.h>
#include <unistd.h>
#include "dash.h"
extern "C" void DASH_ZIP_flt_cpu(dash_cmplx_flt_type **, dash_cmplx_flt_type **, dash_cmplx_flt_type **out, size_t *,
                                 zip_op_t *) {
  (*out)[0].re = float(syscall(SYS_gettid) % 65536);
}
"""
TID_APP = r"""
#include <sys/syscall.h>
#include <unistd.h>
#include <cstdio>
#include "dash.h"
extern "C" __attribute__((visibility("default"))) int main(int, char **) {
  const float me = float(syscall(SYS_gettid) % 65536);
  dash_cmplx_flt_type a[1] = {}, b[1] = {}, o[1] = {};
  dash_cmplx_flt_type *pa = a, *pb = b, *po = o;
  size_t n = 1;
  zip_op_t op = ZIP_ADD;
  int blocking_here = 0, nb_here = 0;
  for (int k = 0; k < 20; ++k) {
    o[0].re = -1;
    DASH_ZIP_flt(a, b, o, 1, ZIP_ADD);
    blocking_here += o[0].re == me;
    o[0].re = -1;
    pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
    uint32_t done = 0;
    cedr_barrier_t bar{&cv, &mu, &done};
    DASH_ZIP_flt_nb(&pa, &pb, &po, &n, &op, &bar);
    cedr_barrier_wait(&bar, 1);
    nb_here += o[0].re == me;
  }
  std::printf("tid_app: blocking %d nb %d\n", blocking_here, nb_here);
  return 0;
}
"""

ONLY_FFT_LIB = r"""
#include "dash.h"
extern "C" void DASH_FFT_flt_cpu(dash_cmplx_flt_type **, dash_cmplx_flt_type **, size_t *, bool *) {}
"""

UNLOADABLE_LIB = r"""
extern "C" void o2c_nowhere_to_be_found(void);
extern "C" void DASH_FFT_flt_cpu(void **) { o2c_nowhere_to_be_found(); }
"""

NO_MAIN = r"""
extern "C" int not_main(void) { return 0; }
"""


def _so(out: Path, name: str, src: str) -> Path:
    cpp = out / f"{name}.cpp"
    cpp.write_text(src)
    so = out / f"{name}.so"
    r = subprocess.run(["g++", "-std=c++17", "-O1", "-shared", "-fPIC", "-I", str(INCLUDE), str(cpp), "-o", str(so)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return so


@pytest.fixture(scope="module")
def bins(tmp_path_factory, rt):
    d = tmp_path_factory.mktemp("rt_core")
    b = {name: _so(d, name, src) for name, src in [
        ("core_app", CORE_APP), ("toy_app", TOY_APP), ("fail_app", FAIL_APP), ("rogue_app", ROGUE_APP),
        ("conv_app", CONV_APP), ("mixed_app", MIXED_APP), ("tid_app", TID_APP), ("libtidzip", TID_ZIP_LIB),
        ("exit_app", EXIT_APP), ("crash_app", CRASH_APP),
        ("libtoy", TOY_KERNELS), ("libonlyfft", ONLY_FFT_LIB), ("no_main", NO_MAIN)]}
    b["unloadable"] = d / "libunloadable.so"
    r = subprocess.run(["g++", "-shared", "-fPIC", "-x", "c++", "-", "-o", str(b["unloadable"])], input=UNLOADABLE_LIB,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    b["dir"] = d
    return b


def libs_of(rt) -> list[str]:
    out = ["--lib", str(rt.cpu_lib)]
    if rt.accel_lib.exists():
        out += ["--lib", str(rt.accel_lib)]
    return out


def write_config(path: Path, doc: dict) -> Path:
    path.write_text(json.dumps(doc, indent=1))
    return path


def accel_types(rt) -> set[str]:
    """The PE types the accelerator library implements something for (it may be partial)."""
    if not rt.accel_lib.exists():
        return set()
    r = subprocess.run(["nm", "-D", "--defined-only", str(rt.accel_lib)], capture_output=True, text=True)
    return set(re.findall(r" T DASH_\w+_(?:flt|int)_([a-z]+)$", r.stdout, re.M))


def mixed_config(rt, path: Path, **extra) -> Path:
    threads = {"cpu": 3}
    threads.update({t: 1 for t in ("fft", "zip") if t in accel_types(rt)})
    return write_config(path, {"Worker Threads": threads, "Scheduler": "SIMPLE", "Random Seed": 1, **extra})


def cedr(rt, *args, env=None, timeout=120) -> subprocess.CompletedProcess:
    return subprocess.run([str(rt.cedr_run), *map(str, args)], capture_output=True, text=True, timeout=timeout, env=env)


def parse(log_dir: Path):
    timing = [TIMING.match(ln) for ln in (log_dir / "timing_trace.log").read_text().splitlines()]
    sched_text = (log_dir / "schedule_trace.log").read_text()
    *rounds, last = sched_text.split("\n")
    sched = [SCHED.match(ln) for ln in rounds]
    total = SCHED_TOTAL.match(last)
    apprt = [APPRT.match(ln) for ln in (log_dir / "appruntime_trace.log").read_text().splitlines()]
    assert all(timing) and all(sched) and all(apprt) and total, sched_text[-300:]
    assert int(total.group(1)) == sum(int(m.group(1)) for m in sched)
    assert int(total.group(2)) == sum(int(m.group(4)) for m in sched)
    return timing, sched, apprt


# ------------------------------------------------------------------ runs


@pytest.mark.parametrize("scheduler", SCHEDULERS)
def test_core_app_every_scheduler(rt, bins, tmp_path, scheduler):
    cfg = mixed_config(rt, tmp_path / "hw.json")
    log = tmp_path / "logs"
    r = cedr(rt, "--config", cfg, *libs_of(rt), "--log-dir", log, "--scheduler", scheduler, "--quiet",
             f"{bins['core_app']}:3:200")
    assert r.returncode == 0, r.stderr + r.stdout
    assert r.stderr == ""
    timing, sched, apprt = parse(log)
    assert len(timing) == 3 * 5  # one line per task: 1 ZIP + 4 FFT per instance
    per_instance = Counter(m.group(1) for m in timing)
    assert per_instance == {"0": 5, "1": 5, "2": 5}
    for app_id in "012":
        names = sorted((int(m.group(3)), m.group(4)) for m in timing if m.group(1) == app_id)
        assert names == [(0, "DASH_ZIP")] + [(k, "DASH_FFT") for k in range(1, 5)]
    starts = [int(m.group(6)) for m in timing]
    assert starts == sorted(starts)
    for m in timing:
        assert m.group(2) == "core_app"
        assert int(m.group(8)) == int(m.group(7)) - int(m.group(6)) >= 0
    assert sum(int(m.group(1)) for m in sched) >= 15 and len(sched) >= 1
    for m in sched:
        assert int(m.group(4)) == int(m.group(3)) - int(m.group(2))
    assert sorted(int(m.group(1)) for m in apprt) == [0, 1, 2]
    for m in apprt:
        arrival, start, end = int(m.group(3)), int(m.group(4)), int(m.group(5))
        assert arrival <= start <= end and int(m.group(6)) == end - start and int(m.group(7)) == end - arrival

    s = json.loads((log / "summary.json").read_text())
    assert set(s) == SUMMARY_KEYS
    assert s["scheduler"] == scheduler and s["instances"] == 3 and s["failed_instances"] == 0
    assert s["tasks"] == 15 == sum(p["tasks"] for p in s["pes"])
    assert s["makespan_ns"] == s["end_ns"] - s["start_ns"] > 0
    assert s["queueing"] is True and s["arrival"] == "periodic" and s["seed"] == 1 and s["failures"] == []
    for p in s["pes"]:
        assert set(p) == {"name", "type", "tasks", "busy_ns", "utilization", "overruns", "faults"}
    assert [p["name"] for p in s["pes"]][:3] == ["cpu1", "cpu2", "cpu3"]
    (app,) = s["apps"]
    assert set(app) == {"name", "path", "instances", "failed", "latency_ns", "runtime_ns"}
    assert app["name"] == "core_app" and app["instances"] == 3 and app["failed"] == 0
    assert set(app["latency_ns"]) == {"p50", "p95", "max", "mean"} == set(app["runtime_ns"])
    assert set(s["scheduling"]) == {"rounds", "total_ns", "per_task_ns", "per_round_ns"}
    assert s["scheduling"]["rounds"] == len(sched)
    assert set(s["scheduling"]["per_round_ns"]) == {"p50", "p99", "max"} == set(s["dispatch_ns"])


@pytest.mark.parametrize("scheduler,spin", [("SIMPLE", None), ("EFT", None), ("HEFT_RT", None), ("SIMPLE", "0")])
def test_blocking_and_nb_mixed_under_concurrency(rt, bins, tmp_path, scheduler, spin):
    """Sixteen instances at once, two threads each, blocking and _nb calls mixed, on two CPU PEs
    (plus the accelerators, if built): every result exact and every task run once, whether a
    blocking caller runs its own task (the default) or every task waits for its worker (spin 0)."""
    threads = {"cpu": 2}
    threads.update({t: 1 for t in ("zip",) if t in accel_types(rt)})
    cfg = write_config(tmp_path / "hw.json", {"Worker Threads": threads, "Scheduler": scheduler, "Random Seed": 1})
    env = None
    if spin is not None:
        import os
        env = dict(os.environ, CEDR_RUN_SPIN_NS=spin)
    log = tmp_path / "logs"
    r = cedr(rt, "--config", cfg, *libs_of(rt), "--log-dir", log, "--quiet", f"{bins['mixed_app']}:16:0", env=env)
    assert r.returncode == 0, r.stderr + r.stdout
    timing, _, apprt = parse(log)
    # an app's own thread is not tied to its instance: its tasks count for the last instance started
    per = Counter(m.group(1) for m in timing)
    assert sum(per.values()) == 16 * MIXED_TASKS and set(per) == {str(i) for i in range(16)}
    assert min(per.values()) >= MIXED_TASKS // 2
    for app_id, count in per.items():  # task ids 0.. once each
        assert sorted(int(m.group(3)) for m in timing if m.group(1) == app_id) == list(range(count))
    assert len(apprt) == 16
    s = json.loads((log / "summary.json").read_text())
    assert s["failed_instances"] == 0 and s["tasks"] == 16 * MIXED_TASKS == sum(p["tasks"] for p in s["pes"])


def test_blocking_call_runs_on_its_caller_only_when_allowed(rt, bins, tmp_path):
    """Where tasks run, not how fast: a tiny blocking call given to an idle CPU PE runs on the
    calling thread (at least sometimes: a worker still polling may take it first); _nb calls
    never do; with CEDR_RUN_SPIN_NS=0 no call does."""
    import os

    cfg = write_config(tmp_path / "hw.json", {"Worker Threads": {"cpu": 2}, "Scheduler": "SIMPLE"})
    got = {}
    for spin in (None, "0"):
        env = dict(os.environ)
        env.pop("CEDR_RUN_SPIN_NS", None)
        if spin is not None:
            env["CEDR_RUN_SPIN_NS"] = spin
        r = cedr(rt, "--config", cfg, "--lib", bins["libtidzip"], "--log-dir", tmp_path / f"log{spin}", "--quiet",
                 f"{bins['tid_app']}:1:0", env=env)
        assert r.returncode == 0, r.stderr + r.stdout
        (m,) = re.findall(r"^tid_app: blocking (\d+) nb (\d+)$", r.stdout, re.M)
        got[spin] = (int(m[0]), int(m[1]))
    assert got[None][0] >= 1 and got[None][1] == 0
    assert got["0"] == (0, 0)


def test_queueing_off_completes(rt, bins, tmp_path):
    """With "Enable Queueing": false a PE takes one task at a time; rounds that assign nothing
    (every PE busy) must neither end the run nor stall it."""
    cfg = write_config(tmp_path / "hw.json", {"Worker Threads": {"cpu": 1}, "Scheduler": "EFT",
                                              "Features": {"Enable Queueing": False}})
    log = tmp_path / "logs"
    r = cedr(rt, "--config", cfg, *libs_of(rt), "--log-dir", log, "--quiet", f"{bins['core_app']}:4:0")
    assert r.returncode == 0, r.stderr
    timing, sched, _ = parse(log)
    assert len(timing) == 20
    s = json.loads((log / "summary.json").read_text())
    assert s["queueing"] is False and s["tasks"] == 20
    # one PE, one task per round: never more tasks running than PEs
    intervals = sorted((int(m.group(6)), int(m.group(7))) for m in timing)
    assert all(a[1] <= b[0] for a, b in zip(intervals, intervals[1:]))


def test_accelerator_instance_index_and_modeled_latency(rt, bins, tmp_path):
    cfg = write_config(tmp_path / "hw.json", {
        "Worker Threads": {"cpu": 0, "toy": 2}, "Scheduler": "SIMPLE",
        "Accelerators": {"toy": {"clock_mhz": 300, "bandwidth_gbps": 2.0, "overhead_ns": 1000}}})
    log = tmp_path / "logs"
    r = cedr(rt, "--config", cfg, "--lib", bins["libtoy"], "--log-dir", log, "--quiet", f"{bins['toy_app']}:1:0")
    assert r.returncode == 0, r.stderr
    stored = {int(k): int(v) for k, v in re.findall(r"^toy (\d) (-?\d+)$", r.stdout, re.M)}
    timing, _, _ = parse(log)
    assert len(timing) == 6 and len(stored) == 6
    modeled = 1000 + 30000 * 1000 / 300 + 4000 / 2.0  # overhead + cycles/clock + bytes/bandwidth
    for m in timing:
        pe = m.group(5)
        assert pe in ("toy1", "toy2")
        assert stored[int(m.group(3))] == int(pe[-1]) - 1  # toy2 gets instance index 1
        assert int(m.group(8)) >= modeled  # the PE is held until the modeled latency has passed
    assert {m.group(5) for m in timing} == {"toy1", "toy2"}
    s = json.loads((log / "summary.json").read_text())
    assert [p["name"] for p in s["pes"]] == ["toy1", "toy2"]

    # without the model the calls end as soon as the functional run does
    cfg2 = write_config(tmp_path / "hw2.json", {"Worker Threads": {"toy": 1}, "Features": {"Model Accelerator Latency": False}})
    r = cedr(rt, "--config", cfg2, "--lib", bins["libtoy"], "--log-dir", tmp_path / "l2", "--quiet",
             f"{bins['toy_app']}:1:0")
    assert r.returncode == 0, r.stderr
    assert set(re.findall(r"^toy \d (-?\d+)$", r.stdout, re.M)) == {"0"}


def test_accelerator_estimator_drives_prediction(rt, bins, tmp_path):
    """EFT places each big convolution where it is predicted to finish first. The conv PE's
    prediction comes from the accelerator's own model (DASH_CONV_flt_conv_estimate through the
    "Accelerators" clock / bandwidth): a slow clock keeps the convolutions on the CPUs (the built-in
    default, 20 us + MACs / 10 at 0.029 ns, would have sent them to conv1), a fast one moves them to
    conv1. The estimator beats a "DASH API Costs" constant; a calibrated "API Cost Functions" entry
    beats the estimator."""
    if "conv" not in accel_types(rt):
        pytest.skip("no conv accelerator library")

    def placements(name, conv_model, **extra):
        cfg = write_config(tmp_path / f"{name}.json", {
            "Worker Threads": {"cpu": 2, "conv": 1}, "Scheduler": "EFT",
            "Accelerators": {"conv": conv_model}, **extra})
        log = tmp_path / name
        r = cedr(rt, "--config", cfg, *libs_of(rt), "--log-dir", log, "--quiet", f"{bins['conv_app']}:1:0")
        assert r.returncode == 0, r.stderr + r.stdout
        timing, _, _ = parse(log)
        convs = [m.group(5) for m in timing if m.group(4) == "DASH_CONV"]
        assert len(convs) == 4
        return convs

    # 32x32 output, 32 channels, Kg = 288: 2 channel tiles x 32 rows x 2 x tiles x (288 + 32) cycles
    slow = {"clock_mhz": 10, "bandwidth_gbps": 4.0, "overhead_ns": 3000}     # ~4.2 ms predicted
    fast = {"clock_mhz": 100000, "bandwidth_gbps": 1000.0, "overhead_ns": 1000}  # ~1.7 us predicted
    assert all(pe.startswith("cpu") for pe in placements("slow", slow))
    assert placements("fast", fast) == ["conv1"] * 4
    assert all(pe.startswith("cpu") for pe in placements("slow_const", slow, **{"DASH API Costs": {"DASH_CONV_conv": 1}}))
    calibrated = {"API Cost Functions": {"DASH_CONV_flt": {"conv": {"fixed_ns": 1000, "ns_per_unit": 0}}}}
    assert placements("slow_calibrated", slow, **calibrated) == ["conv1"] * 4
    # and the other way round: a calibrated conv cost above the CPU's keeps the fast accelerator idle
    calibrated_slow = {"API Cost Functions": {"DASH_CONV_flt": {"conv": {"fixed_ns": 5e7, "ns_per_unit": 0}}}}
    assert all(pe.startswith("cpu") for pe in placements("fast_calibrated", fast, **calibrated_slow))


def test_failing_instance_exit_1(rt, bins, tmp_path):
    cfg = write_config(tmp_path / "hw.json", {"Worker Threads": {"cpu": 2}})
    log = tmp_path / "logs"
    r = cedr(rt, "--config", cfg, *libs_of(rt), "--log-dir", log, "--quiet", f"{bins['fail_app']}:2:0",
             f"{bins['core_app']}:1:0")
    assert r.returncode == 1, r.stderr
    s = json.loads((log / "summary.json").read_text())
    assert s["failed_instances"] == 2 and s["instances"] == 3
    assert sorted((f["app"], f["exit_code"]) for f in s["failures"]) == [("fail_app", 3), ("fail_app", 3)]
    assert {a["name"]: a["failed"] for a in s["apps"]} == {"fail_app": 2, "core_app": 0}


def test_fatal_error_during_run_exit_3(rt, bins, tmp_path):
    cfg = write_config(tmp_path / "hw.json", {"Worker Threads": {"cpu": 1}})
    log = tmp_path / "logs"
    r = cedr(rt, "--config", cfg, *libs_of(rt), "--log-dir", log, "--quiet", f"{bins['rogue_app']}:1:0")
    assert r.returncode == 3, (r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("cedr-run: error: ")
    assert "rogue_app" in lines[0] and "DASH_MISSING_flt" in lines[0]
    assert (log / "timing_trace.log").exists() and (log / "schedule_trace.log").exists()
    assert not (log / "summary.json").exists()  # an incomplete run has no summary

    for app, needle in (("exit_app", "called exit()"), ("crash_app", "SIGSEGV")):
        r = cedr(rt, "--config", cfg, *libs_of(rt), "--log-dir", tmp_path / app, "--quiet", f"{bins[app]}:1:0")
        assert r.returncode == 3, (app, r.returncode, r.stderr)
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("cedr-run: error: ") and needle in lines[0], r.stderr
        assert not (tmp_path / app / "summary.json").exists()


def test_poisson_arrivals_reproducible(rt, bins, tmp_path):
    cfg = write_config(tmp_path / "hw.json", {"Worker Threads": {"cpu": 2}, "Features": {"Fixed Periodic Injection": False}})

    def offsets(seed: int, name: str) -> list[int]:
        log = tmp_path / name
        r = cedr(rt, "--config", cfg, *libs_of(rt), "--log-dir", log, "--quiet", "--seed", seed,
                 f"{bins['core_app']}:5:300", f"{bins['core_app']}:2:500")
        assert r.returncode == 0, r.stderr
        s = json.loads((log / "summary.json").read_text())
        assert s["arrival"] == "poisson" and s["seed"] == seed
        _, _, apprt = parse(log)
        arr = sorted(int(m.group(3)) for m in apprt)
        return [a - arr[0] for a in arr]

    a, b, c = offsets(7, "a"), offsets(7, "b"), offsets(8, "c")
    assert len(a) == 7 and a == b and a != c
    # --arrival overrides the config: periodic offsets are k * period
    log = tmp_path / "p"
    r = cedr(rt, "--config", cfg, *libs_of(rt), "--log-dir", log, "--quiet", "--arrival", "periodic",
             f"{bins['core_app']}:3:400")
    assert r.returncode == 0, r.stderr
    _, _, apprt = parse(log)
    arr = sorted(int(m.group(3)) for m in apprt)
    assert [x - arr[0] for x in arr] == [0, 400_000, 800_000]


# ------------------------------------------------------------------ check, calibrate


def test_check_lists_pes(rt, bins, tmp_path):
    cfg = write_config(tmp_path / "hw.json", {"Worker Threads": {"cpu": 2, "toy": 1, "gpu": 0}})
    r = cedr(rt, "--config", cfg, *libs_of(rt), "--lib", bins["libtoy"], "--check", f"{bins['core_app']}:1:0")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("cpu1 cpu: ") and lines[1].startswith("cpu2 cpu: ")
    assert "DASH_FFT_flt" in lines[0] and "DASH_GEMM_RE_flt" in lines[0] and "DASH_TOY_flt" in lines[0]
    assert lines[2] == "toy1 toy: DASH_TOY_flt"
    assert lines[3] == "app core_app: DASH_FFT_flt, DASH_ZIP_flt"
    assert len(lines) == 4


def test_calibrate_fits_positive_slopes(rt, bins, tmp_path):
    cfg = write_config(tmp_path / "hw.json", {"Worker Threads": {"cpu": 1}})
    out = tmp_path / "costs.json"
    r = cedr(rt, "--config", cfg, *libs_of(rt), "--calibrate", out, "--quiet", timeout=300)
    assert r.returncode == 0, r.stderr
    doc = json.loads(out.read_text())
    fns = doc["API Cost Functions"]
    for api in ("DASH_FFT_flt", "DASH_GEMM_RE_flt", "DASH_CONV_flt", "DASH_GEMM_flt"):
        f = fns[api]["cpu"]
        assert f["ns_per_unit"] > 0 and f["fixed_ns"] >= 0, (api, f)
    points = doc["Calibration"]["points"]
    assert Counter((p["api"], p["prec"], p["type"]) for p in points)[("DASH_FFT", "flt", "cpu")] == 5
    assert all(p["ns"] > 0 and p["work"] > 0 for p in points)
    # the output feeds a config: it loads, and the run uses it
    merged = write_config(tmp_path / "hw2.json", {"Worker Threads": {"cpu": 1}, **doc})
    r = cedr(rt, "--config", merged, *libs_of(rt), "--log-dir", tmp_path / "l", "--quiet", f"{bins['core_app']}:1:0")
    assert r.returncode == 0, r.stderr


# ------------------------------------------------------------------ bad input


def bad(rt, args, needle: str, tmp_path: Path) -> str:
    log = tmp_path / "badlogs"
    r = cedr(rt, *args, "--log-dir", log)
    assert r.returncode == 2, (args, r.returncode, r.stdout, r.stderr)
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("cedr-run: error: "), r.stderr
    assert needle in lines[0], lines[0]
    assert not (log / "timing_trace.log").exists()
    return lines[0]


def test_bad_inputs_exit_2_one_line(rt, bins, tmp_path):
    app = f"{bins['core_app']}:1:0"
    libs = libs_of(rt)
    good = {"Worker Threads": {"cpu": 2}}

    def cfg(doc, name="c.json", raw=None):
        p = tmp_path / name
        p.write_text(raw if raw is not None else json.dumps(doc, indent=1))
        return p

    # config
    bad(rt, ["--config", cfg(None, raw='{\n "Worker Threads": {"cpu": 2},\n "Scheduler": \n}'), *libs, app], "line 4", tmp_path)
    bad(rt, ["--config", tmp_path / "nope.json", *libs, app], "nope.json", tmp_path)
    bad(rt, ["--config", cfg({"Worker Threads": {"cpu": "2"}}), *libs, app], "must be a number", tmp_path)
    bad(rt, ["--config", cfg({"Worker Threads": {"cpu": -1}}), *libs, app], "negative", tmp_path)
    bad(rt, ["--config", cfg({"Worker Threads": {"cpu": 0}}), *libs, app], "zero PEs", tmp_path)
    bad(rt, ["--config", cfg({"Worker Threads": {"cpu": 1.5}}), *libs, app], "whole number", tmp_path)
    msg = bad(rt, ["--config", cfg({**good, "Scheduler": "FASTEST"}), *libs, app], "FASTEST", tmp_path)
    assert all(s in msg for s in SCHEDULERS)
    bad(rt, ["--config", cfg(good), *libs, "--scheduler", "nope", app], "HEFT_RT", tmp_path)
    bad(rt, ["--config", cfg({**good, "Schedular": "EFT"}), *libs, app], "Schedular", tmp_path)
    bad(rt, ["--config", cfg({**good, "Features": {"Enable Queueing": 1}}), *libs, app], "Enable Queueing", tmp_path)
    bad(rt, ["--config", cfg({**good, "Features": {"Enable Queuing": True}}), *libs, app], "Enable Queuing", tmp_path)
    bad(rt, ["--config", cfg({**good, "DASH API Costs": {"DASH_FFT_cpu": -5}}), *libs, app], "DASH_FFT_cpu", tmp_path)
    bad(rt, ["--config", cfg({**good, "Accelerators": {"fft": {"clock_mhz": 0}}}), *libs, app], "clock_mhz", tmp_path)
    bad(rt, ["--config", cfg({**good, "Accelerators": {"cpu": {"clock_mhz": 100}}}), *libs, app], "cpu", tmp_path)
    bad(rt, ["--config", cfg({"Worker Threads": {"cpu": 1, "npu": 1}}), *libs, app], "unknown PE type 'npu'", tmp_path)
    # public keys without meaning here are accepted
    ok = cfg({**good, "PAPI Counters": ["perf::INSTRUCTIONS"], "Use PAPI": False, "Cache Schedules": False,
              "Features": {"Loosen Thread Permissions": True, "Exit When Idle": True, "Use PAPI": False}}, "ok.json")
    r = cedr(rt, "--config", ok, *libs, "--check", app)
    assert r.returncode == 0, r.stderr

    c = cfg(good, "good.json")
    # libraries
    bad(rt, ["--config", c, "--lib", tmp_path / "missing_lib.so", app], "missing_lib.so", tmp_path)
    bad(rt, ["--config", c, "--lib", c, app], "not a shared object", tmp_path)
    bad(rt, ["--config", c, "--lib", bins["unloadable"], app], "libunloadable.so", tmp_path)
    bad(rt, ["--config", cfg({**good, "DASH Binary Paths": ["nowhere/libx.so"]}), *libs, app], "libx.so", tmp_path)
    bad(rt, ["--config", c, app], "no kernel library", tmp_path)
    # apps
    bad(rt, ["--config", c, *libs, f"{tmp_path / 'ghost.so'}:1:0"], "ghost.so", tmp_path)
    bad(rt, ["--config", c, *libs, f"{c}:1:0"], "not a shared object", tmp_path)
    bad(rt, ["--config", c, *libs, f"{bins['no_main']}:1:0"], "not a CEDR app", tmp_path)
    msg = bad(rt, ["--config", c, "--lib", bins["libonlyfft"], app], "DASH_ZIP_flt", tmp_path)
    assert "core_app" in msg
    bad(rt, ["--config", c, *libs, f"{bins['core_app']}:0:0"], "INSTANCES", tmp_path)
    bad(rt, ["--config", c, *libs, f"{bins['core_app']}:1:-5"], "PERIOD_US", tmp_path)
    bad(rt, ["--config", c, *libs, f"{bins['core_app']}:1"], "APP.so:INSTANCES:PERIOD_US", tmp_path)
    bad(rt, ["--config", c, *libs, f"{bins['core_app']}:x:1"], "INSTANCES", tmp_path)
    # arguments
    bad(rt, ["--config", c, *libs, "--bogus", app], "--bogus", tmp_path)
    bad(rt, ["--config", c, *libs, "--arrival", "sometimes", app], "sometimes", tmp_path)
    bad(rt, ["--config", c, *libs, "--seed", "-3", app], "--seed", tmp_path)
    bad(rt, ["--config", c, *libs], "no app", tmp_path)
    r = cedr(rt, "--config", c, *libs, app)
    assert r.returncode == 2 and "--log-dir" in r.stderr

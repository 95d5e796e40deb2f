#!/usr/bin/env python3
"""Dispatch overhead of cedr-run, measured against the machine's own thread wake-up cost.

Builds (g++, into a cache folder keyed by the sources) cedr-run, an empty API (nop_kernel.cpp ->
libo2c_nop.so) and a benchmark app (nop_app.cpp), unless onnx2cedr.runtime_build.RuntimeBuild
provides cedr-run. Then, with 1 and 2 cpu PEs:
  latency     NOP_CALLS blocking NOP calls one after another: enqueue -> start of execution
              (summary.json "dispatch_ns": median and p99)
  throughput  NOP_BATCHES batches of NOP_BATCH _nb NOPs sharing one barrier: tasks per second
              (measured by the app from its first enqueue to the last completion)
and, in the same run, a reference: the median time to wake a thread blocked on a pthread
condition variable (a two-thread ping-pong, half a round trip), printed with our figures as
ratios against it.

  python3 runtime/bench/dispatch.py [--repeat 3] [--calls 2000] [--batch 1000] [--batches 50]
                                    [--spin NS ...]   (CEDR_RUN_SPIN_NS values to compare)

--public: a public-API app instead (zip_app.cpp: tiny DASH_ZIP_flt calls through dash.h, with the
CPU DASH_ZIP_flt of zip_kernel.cpp), 2 CPU PEs, SIMPLE, each case on a quiet machine and with a
busy-loop process pinned to core 0 (--no-load: quiet only):
  blocking    ZIP_CALLS blocking calls, each timed by the app: p50 and p99 (medians over runs)
  nb          batches of _nb calls sharing one barrier: tasks per second, and the CPU time of
              the whole process per task (less sensitive than tasks/s to what else runs)
  idle        the whole cedr-run process's CPU time while its app sleeps --idle-seconds
With --baseline REV, the same cases also run on the runtime of git revision REV (runtime/src and
kernels/include of that commit, built here the same way) and the table gives new/old ratios.

  python3 runtime/bench/dispatch.py --public [--baseline REV] [--repeat 3] [--zip-calls 5000] [--zip-batch 1000]
                                    [--idle-seconds 10] [--no-load]
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
RT_SRC = ROOT / "runtime" / "src"
INCLUDE = ROOT / "kernels" / "include"
CXX = os.environ.get("CXX", "g++")

PINGPONG = r"""
#include <pthread.h>
#include <time.h>
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <vector>
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int turn = 0;  // 0: main's turn, 1: peer's turn
static long iters;
static long long now() { timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec * 1000000000LL + t.tv_nsec; }
static void *peer(void *) {
  for (long i = 0; i < iters; ++i) {
    pthread_mutex_lock(&mu);
    while (turn != 1) pthread_cond_wait(&cv, &mu);
    turn = 0;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
  }
  return nullptr;
}
int main(int argc, char **argv) {
  iters = argc > 1 ? atol(argv[1]) : 20000;
  pthread_t th;
  pthread_create(&th, nullptr, peer, nullptr);
  std::vector<long long> rt;
  rt.reserve(iters);
  for (long i = 0; i < iters; ++i) {
    long long t0 = now();
    pthread_mutex_lock(&mu);
    turn = 1;
    pthread_cond_broadcast(&cv);
    while (turn != 0) pthread_cond_wait(&cv, &mu);
    pthread_mutex_unlock(&mu);
    rt.push_back(now() - t0);
  }
  pthread_join(th, nullptr);
  std::sort(rt.begin(), rt.end());
  // one wake-up = half a round trip
  std::printf("%.1f %.1f\n", rt[rt.size() / 2] / 2.0, rt[rt.size() * 99 / 100] / 2.0);
  return 0;
}
"""


def sh(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        err = " ".join(r.stderr.split())[:400]
        sys.exit(f"dispatch.py: error: {Path(cmd[0]).name} failed (exit {r.returncode}): {err}")
    return r


def cache_dir() -> Path:
    h = hashlib.blake2b(digest_size=10)
    for f in sorted(list(RT_SRC.glob("*")) + [HERE / n for n in ("nop_kernel.cpp", "nop_app.cpp", "zip_app.cpp",
                                                                 "zip_kernel.cpp")]):
        if f.is_file():
            h.update(f.name.encode())
            h.update(f.read_bytes())
    h.update(PINGPONG.encode())
    d = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "onnx2cedr" / "bench" / h.hexdigest()
    d.mkdir(parents=True, exist_ok=True)
    return d


def build(d: Path) -> dict[str, Path]:
    out = {"nop": d / "libo2c_nop.so", "app": d / "nop_app.so", "pingpong": d / "pingpong", "cedr_run": d / "cedr-run"}
    if not out["nop"].exists():
        sh([CXX, "-std=c++17", "-O2", "-shared", "-fPIC", str(HERE / "nop_kernel.cpp"), "-o", str(out["nop"])])
    if not out["app"].exists():
        sh([CXX, "-std=c++17", "-O2", "-shared", "-fPIC", "-I", str(INCLUDE), str(HERE / "nop_app.cpp"),
            "-o", str(out["app"])])
    if not out["pingpong"].exists():
        src = d / "pingpong.cpp"
        src.write_text(PINGPONG)
        sh([CXX, "-std=c++17", "-O2", "-pthread", str(src), "-o", str(out["pingpong"])])
    try:  # the project's cached build, if this checkout has it
        sys.path.insert(0, str(ROOT))
        from onnx2cedr.runtime_build import RuntimeBuild  # noqa: PLC0415

        out["cedr_run"] = RuntimeBuild().ensure().cedr_run
        return out
    except Exception:  # noqa: BLE001 - fall back to building cedr-run here
        pass
    out["cedr_run"] = compile_runtime(RT_SRC, INCLUDE, d)
    return out


def compile_runtime(src: Path, include: Path, out: Path) -> Path:
    """cedr-run from the runtime sources in src (two compile jobs at a time), cached in out."""
    exe = out / "cedr-run"
    if exe.exists():
        return exe
    out.mkdir(parents=True, exist_ok=True)
    objs = [(f, out / f"{f.stem}.o") for f in sorted(src.glob("*.cpp"))]
    procs: list[subprocess.Popen] = []
    for f, obj in objs:
        if len(procs) == 2:
            procs.pop(0).wait()
        procs.append(subprocess.Popen([CXX, "-std=c++17", "-O2", "-pthread", "-I", str(src), "-I", str(include),
                                       "-c", str(f), "-o", str(obj)]))
    for p in procs:
        p.wait()
    sh([CXX, "-pthread", *[str(o) for _, o in objs], "-rdynamic", "-ldl", "-o", str(exe)])
    return exe


def baseline_runtime(rev: str) -> Path:
    """cedr-run of git revision rev, built from that commit's runtime/src and kernels/include."""
    full = sh(["git", "-C", str(ROOT), "rev-parse", "--verify", rev + "^{commit}"]).stdout.strip()
    d = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "onnx2cedr" / "bench" / f"rev-{full[:16]}"
    if not (d / "cedr-run").exists():
        tree = d / "tree"
        tree.mkdir(parents=True, exist_ok=True)
        arch = subprocess.run(["git", "-C", str(ROOT), "archive", full, "runtime/src", "kernels/include"],
                              capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(tree)], input=arch, check=True)
        compile_runtime(tree / "runtime" / "src", tree / "kernels" / "include", d)
    return d / "cedr-run"


BUSY = "import os\nos.sched_setaffinity(0, {0})\nwhile True:\n    pass\n"


def public_bench(a: argparse.Namespace) -> None:
    d = cache_dir()
    app, lib = d / "zip_app.so", d / "libo2c_benchzip.so"
    if not app.exists():
        sh([CXX, "-std=c++17", "-O2", "-shared", "-fPIC", "-I", str(INCLUDE), str(HERE / "zip_app.cpp"), "-o", str(app)])
    if not lib.exists():
        sh([CXX, "-std=c++17", "-O2", "-shared", "-fPIC", "-I", str(INCLUDE), str(HERE / "zip_kernel.cpp"),
            "-o", str(lib)])
    runtimes = {"new": compile_runtime(RT_SRC, INCLUDE, d / "public")}
    if a.baseline:
        runtimes["old"] = baseline_runtime(a.baseline)

    def once(exe: Path, work: Path, mode: str, extra: dict[str, str]) -> dict[str, str]:
        cfg = work / "cfg.json"
        cfg.write_text(json.dumps({"Worker Threads": {"cpu": 2}, "Scheduler": "SIMPLE"}))
        env = dict(os.environ, ZIP_MODE=mode, ZIP_CALLS=str(a.zip_calls), ZIP_BATCH=str(a.zip_batch),
                   ZIP_BATCHES=str(max(1, 50000 // a.zip_batch)), **extra)
        r = sh([str(exe), "--config", str(cfg), "--lib", str(lib), "--log-dir", str(work / "log"), "--quiet",
                f"{app}:1:0"], env=env)
        line = [ln for ln in r.stdout.splitlines() if ln.startswith("zip_app:")][-1]
        f = dict(kv.split("=") for kv in line.split()[1:])
        if f.get("bad") != "0":
            sys.exit(f"dispatch.py: error: wrong DASH_ZIP_flt results: {line}")
        return f

    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())} ({os.cpu_count()} CPUs)")
    res: dict[tuple[str, str], dict[str, float]] = {}
    loads = ["quiet"] if a.no_load else ["quiet", "loaded"]
    with tempfile.TemporaryDirectory(prefix="cedr_public_") as tmp:
        for load in loads:
            busy = None
            if load == "loaded":
                busy = subprocess.Popen([sys.executable, "-c", BUSY])
            try:
                for _ in range(a.repeat):  # runtimes interleaved, so drift hits both alike
                    for name, exe in runtimes.items():
                        b = once(exe, Path(tmp), "blocking", {})
                        n = once(exe, Path(tmp), "nb", {})
                        r = res.setdefault((name, load), {"p50": [], "p99": [], "tps": [], "cpu": []})
                        r["p50"].append(float(b["p50_ns"]))
                        r["p99"].append(float(b["p99_ns"]))
                        r["tps"].append(float(n["tasks_per_s"]))
                        r["cpu"].append(float(n["cpu_ns_per_task"]))
            finally:
                if busy is not None:
                    busy.kill()
                    busy.wait()
        idle = {name: once(exe, Path(tmp), "idle", {"ZIP_IDLE_MS": str(int(a.idle_seconds * 1000))})
                for name, exe in runtimes.items()}
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"tiny DASH_ZIP_flt (4 complex values, ADD), _nb in batches of {a.zip_batch}, 2 cpu PEs, SIMPLE; "
          f"medians of {a.repeat} runs; "
          f"'loaded': a busy loop pinned to core 0")
    print(f"{'runtime':>8} {'machine':>7} | {'blocking p50':>12} {'p99':>10} | {'_nb tasks/s':>11} "
          f"{'CPU/task':>9}")
    for (name, load), r in res.items():
        print(f"{name:>8} {load:>7} | {statistics.median(r['p50']) / 1e3:>9.2f} us {statistics.median(r['p99']) / 1e3:>7.2f} us"
              f" | {statistics.median(r['tps']):>11.0f} {statistics.median(r['cpu']) / 1e3:>6.2f} us")
    if "old" in runtimes:
        for load in loads:
            n, o = res[("new", load)], res[("old", load)]
            print(f"new/old {load:>7} | p50 x{statistics.median(n['p50']) / statistics.median(o['p50']):.3f}"
                  f"  p99 x{statistics.median(n['p99']) / statistics.median(o['p99']):.3f}"
                  f"  tasks/s x{statistics.median(n['tps']) / statistics.median(o['tps']):.3f}")
    for name, f in idle.items():
        print(f"{name:>8} idle: {float(f['cpu_s']) * 1e3:.2f} ms CPU over {float(f['wall_s']):.1f} s asleep "
              f"({float(f['cpu_s']) / float(f['wall_s']) * 100:.3f}% of one core)")
    print("targets: blocking p50 <= 3 us quiet, <= 10 us loaded; >= 1M _nb tasks/s quiet, >= 500k loaded; "
          "idle ~0")


def run_case(b: dict[str, Path], work: Path, pes: int, mode: str, env_extra: dict[str, str]) -> dict:
    cfg = work / f"cfg{pes}.json"
    cfg.write_text(json.dumps({"Worker Threads": {"cpu": pes}, "Scheduler": "SIMPLE"}))
    log = work / f"log_{pes}_{mode}"
    env = dict(os.environ, NOP_MODE=mode, **env_extra)
    r = sh([str(b["cedr_run"]), "--config", str(cfg), "--lib", str(b["nop"]), "--log-dir", str(log), "--quiet",
            f"{b['app']}:1:0"], env=env)
    s = json.loads((log / "summary.json").read_text())
    line = [ln for ln in r.stdout.splitlines() if ln.startswith("nop_app:")][-1]
    fields = dict(kv.split("=") for kv in line.split()[1:])
    return {"p50": s["dispatch_ns"]["p50"], "p99": s["dispatch_ns"]["p99"], "tps": float(fields["tasks_per_s"]),
            "round_p50": s["scheduling"]["per_round_ns"]["p50"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=3, help="runs per case (medians are reported)")
    ap.add_argument("--calls", type=int, default=2000)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--batches", type=int, default=50)
    ap.add_argument("--spin", type=int, nargs="*", default=None,
                    help="CEDR_RUN_SPIN_NS values to compare (default: the runtime's built-in value)")
    ap.add_argument("--public", action="store_true", help="the public-API DASH_ZIP_flt benchmark (see above)")
    ap.add_argument("--baseline", metavar="REV", help="--public: also run the runtime of this git revision")
    ap.add_argument("--zip-calls", type=int, default=5000)
    ap.add_argument("--zip-batch", type=int, default=1000, help="--public: _nb calls per barrier (50000 in all)")
    ap.add_argument("--idle-seconds", type=float, default=10.0)
    ap.add_argument("--no-load", action="store_true", help="--public: skip the cases with a busy core")
    a = ap.parse_args()
    if a.public:
        public_bench(a)
        return
    b = build(cache_dir())
    pp = [tuple(map(float, sh([str(b["pingpong"]), "20000"]).stdout.split())) for _ in range(a.repeat)]
    wake50 = statistics.median(p[0] for p in pp)
    wake99 = statistics.median(p[1] for p in pp)
    print(f"reference: condition-variable wake-up p50 {wake50 / 1e3:.2f} us, p99 {wake99 / 1e3:.2f} us "
          f"(pthread ping-pong, half round trip)")
    spins = a.spin if a.spin else [None]
    env_base = {"NOP_CALLS": str(a.calls), "NOP_BATCH": str(a.batch), "NOP_BATCHES": str(a.batches)}
    print(f"{'spin':>8} {'PEs':>3} | {'dispatch p50':>12} {'p99':>9} {'x wake':>7} | {'tasks/s':>10} | round p50")
    with tempfile.TemporaryDirectory(prefix="cedr_dispatch_") as tmp:
        for spin in spins:
            env = dict(env_base)
            if spin is not None:
                env["CEDR_RUN_SPIN_NS"] = str(spin)
            for pes in (1, 2):
                lat = [run_case(b, Path(tmp), pes, "latency", env) for _ in range(a.repeat)]
                thr = [run_case(b, Path(tmp), pes, "throughput", env) for _ in range(a.repeat)]
                p50 = statistics.median(x["p50"] for x in lat)
                p99 = statistics.median(x["p99"] for x in lat)
                tps = statistics.median(x["tps"] for x in thr)
                rnd = statistics.median(x["round_p50"] for x in lat)
                label = "default" if spin is None else str(spin)
                print(f"{label:>8} {pes:>3} | {p50 / 1e3:>9.2f} us {p99 / 1e3:>6.2f} us {p50 / wake50:>7.2f} | "
                      f"{tps:>10.0f} | {rnd:.0f} ns")
    print("targets: dispatch p50 <= 5 us, >= 100000 empty tasks/s")


if __name__ == "__main__":
    main()

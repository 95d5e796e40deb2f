"""The non-ML CEDR applications in runtime/apps (radar correlator, pulse-Doppler, 802.11a-like
transmitter), written only against the public kernel API (dash.h).

Each app verifies itself against an in-app double-precision reference and prints one "ok" line.
These tests check that:
  * it builds standalone (libdash_inline.a + libo2c_core.a) and runs to "ok", exit 0;
  * it builds as a CEDR app shared object: exports main, leaves DASH_* undefined, defines no
    mutable data (per-instance state only) and keeps its stack frames small;
  * its self-check can fail: linked against a deliberately broken CPU kernel (zeroed FFT output,
    an FFT 1e-3 off in scale, a ZIP with the conjugation swapped, a GEMM that drops the imaginary
    part of A) it exits 1 with a one-line failure on stderr;
  * 8 instances run concurrently in one process: a host dlopens the .so and runs main on 8
    threads, (a) with the inline kernel library and (b) with a host whose _nb entry points are
    truly asynchronous (worker threads, out-of-order completion, arguments read late).
"""
from __future__ import annotations

import concurrent.futures as cf
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
APPS_DIR = ROOT / "runtime" / "apps"
APPS = ("radar_correlator", "pulse_doppler", "wifi_tx")
# the public kernels each app must use (checked against the .so's undefined symbols)
USES = {
    "radar_correlator": {"FFT", "ZIP", "GEMM"},
    "pulse_doppler": {"FFT", "ZIP"},
    "wifi_tx": {"FFT", "ZIP", "GEMM"},
}
CXX = shutil.which("g++")
pytestmark = pytest.mark.skipif(CXX is None or shutil.which("nm") is None or shutil.which("objdump") is None,
                                reason="needs g++ and binutils")
OK_LINE = re.compile(r"^(\w+): ok, .*max rel err [0-9.e+-]+")
STACK_LIMIT = 64 * 1024  # bytes per frame; instances run on runtime threads

# ----------------------------------------------------------------------------------------------
# broken kernels: each replaces one *_cpu implementation (and its int twin, so that the library's
# archive member is not pulled in as well); linked before libo2c_core.a, the linker takes these.

SHIM_HEAD = r"""
#include "dash.h"
#include <cmath>
#include <cstring>
#include <vector>
"""

SHIMS = {
    # FFT output all zeros
    "fft_zero": ("FFT", SHIM_HEAD + r"""
extern "C" void DASH_FFT_flt_cpu(dash_cmplx_flt_type **in, dash_cmplx_flt_type **out, size_t *n, bool *fwd) {
  (void)in; (void)fwd;
  std::memset(*out, 0, *n * sizeof(dash_cmplx_flt_type));
}
extern "C" void DASH_FFT_int_cpu(dash_cmplx_int_type **in, dash_cmplx_int_type **out, size_t *n, bool *fwd) {
  (void)in; (void)fwd;
  std::memset(*out, 0, *n * sizeof(dash_cmplx_int_type));
}
"""),
    # a correct DFT, but every result 1e-3 too large: peaks stay where they are, so only the
    # app's numerical comparison can notice
    "fft_scale": ("FFT", SHIM_HEAD + r"""
extern "C" void DASH_FFT_flt_cpu(dash_cmplx_flt_type **in, dash_cmplx_flt_type **out, size_t *n, bool *fwd) {
  const size_t N = *n;
  const double sgn = *fwd ? -1.0 : 1.0, scale = (*fwd ? 1.0 : 1.0 / N) * (1.0 + 1e-3);
  std::vector<double> c(N), s(N), re(N), im(N);
  for (size_t j = 0; j < N; ++j) {
    c[j] = std::cos(6.283185307179586 * double(j) / double(N));
    s[j] = sgn * std::sin(6.283185307179586 * double(j) / double(N));
  }
  for (size_t k = 0; k < N; ++k) {
    double sr = 0, si = 0;
    for (size_t t = 0; t < N; ++t) {
      const size_t j = (k * t) % N;
      sr += (*in)[t].re * c[j] - (*in)[t].im * s[j];
      si += (*in)[t].re * s[j] + (*in)[t].im * c[j];
    }
    re[k] = sr * scale; im[k] = si * scale;
  }
  for (size_t k = 0; k < N; ++k) { (*out)[k].re = float(re[k]); (*out)[k].im = float(im[k]); }
}
extern "C" void DASH_FFT_int_cpu(dash_cmplx_int_type **in, dash_cmplx_int_type **out, size_t *n, bool *fwd) {
  (void)in; (void)fwd;
  std::memset(*out, 0, *n * sizeof(dash_cmplx_int_type));
}
"""),
    # MULT and CMP_MULT swapped (the conjugate applied to the wrong call)
    "zip_conj": ("ZIP", SHIM_HEAD + r"""
extern "C" void DASH_ZIP_flt_cpu(dash_cmplx_flt_type **a, dash_cmplx_flt_type **b, dash_cmplx_flt_type **out,
                                 size_t *n, zip_op_t *op) {
  for (size_t i = 0; i < *n; ++i) {
    const float ar = (*a)[i].re, ai = (*a)[i].im, br = (*b)[i].re, bi = (*b)[i].im;
    float r = 0, m = 0;
    switch (*op) {
      case ZIP_ADD: r = ar + br; m = ai + bi; break;
      case ZIP_SUB: r = ar - br; m = ai - bi; break;
      case ZIP_CMP_MULT: r = ar * br - ai * bi; m = ar * bi + ai * br; break;
      case ZIP_MULT: r = ar * br + ai * bi; m = ai * br - ar * bi; break;
      default: { const float d = br * br + bi * bi; r = (ar * br + ai * bi) / d; m = (ai * br - ar * bi) / d; }
    }
    (*out)[i].re = r; (*out)[i].im = m;
  }
}
extern "C" void DASH_ZIP_int_cpu(dash_cmplx_int_type **a, dash_cmplx_int_type **b, dash_cmplx_int_type **out,
                                 size_t *n, zip_op_t *op) {
  (void)a; (void)b; (void)op;
  std::memset(*out, 0, *n * sizeof(dash_cmplx_int_type));
}
"""),
    # C = Re(A) * B: the imaginary part of A is ignored
    "gemm_real_a": ("GEMM", SHIM_HEAD + r"""
extern "C" void DASH_GEMM_flt_cpu(dash_cmplx_flt_type **A, dash_cmplx_flt_type **B, dash_cmplx_flt_type **C,
                                  size_t *rows_A, size_t *cols_A, size_t *cols_B) {
  const size_t M = *rows_A, K = *cols_A, N = *cols_B;
  for (size_t i = 0; i < M; ++i)
    for (size_t j = 0; j < N; ++j) {
      float r = 0, m = 0;
      for (size_t k = 0; k < K; ++k) {
        const dash_cmplx_flt_type a = (*A)[i * K + k], b = (*B)[k * N + j];
        r += a.re * b.re; m += a.re * b.im;
      }
      (*C)[i * N + j].re = r; (*C)[i * N + j].im = m;
    }
}
extern "C" void DASH_GEMM_int_cpu(dash_cmplx_int_type **A, dash_cmplx_int_type **B, dash_cmplx_int_type **C,
                                  size_t *rows_A, size_t *cols_A, size_t *cols_B) {
  (void)A; (void)B; (void)cols_A;
  std::memset(*C, 0, *rows_A * *cols_B * sizeof(dash_cmplx_int_type));
}
"""),
}

# ----------------------------------------------------------------------------------------------
# hosts: dlopen an app .so and run its main on several threads at once

HOST_MAIN = r"""
#include <dlfcn.h>
#include <cstdio>
#include <thread>
#include <vector>

int run_instances(const char *so, int n) {
  void *h = dlopen(so, RTLD_NOW | RTLD_LOCAL);
  if (!h) { std::fprintf(stderr, "dlopen: %s\n", dlerror()); return 100; }
  using main_t = int (*)(int, char **);
  main_t app_main = reinterpret_cast<main_t>(dlsym(h, "main"));
  if (!app_main) { std::fprintf(stderr, "dlsym main: %s\n", dlerror()); return 101; }
  std::vector<int> rc(n, -1);
  std::vector<std::thread> th;
  for (int i = 0; i < n; ++i)
    th.emplace_back([&, i] {
      char name[] = "cedr_app";
      char *argv[] = {name, nullptr};
      rc[i] = app_main(1, argv);
    });
  for (auto &t : th) t.join();
  int failed = 0;
  std::fprintf(stderr, "rcs:");
  for (int r : rc) { std::fprintf(stderr, " %d", r); failed += r != 0; }
  std::fprintf(stderr, "\n");
  dlclose(h);
  return failed;
}
"""

HOST_INLINE = HOST_MAIN + r"""
#include <cstdlib>
int main(int argc, char **argv) { return argc == 3 ? run_instances(argv[1], std::atoi(argv[2])) : 2; }
"""

# The host defines the flt FFT/ZIP/GEMM entry points itself: blocking and _nb calls become tasks
# on two worker threads, taken newest first (completion order differs from issue order), and
# the pointed-to arguments are read only when a task runs, as in the runtime.
HOST_ASYNC = HOST_MAIN + r"""
#include "dash.h"
#include <condition_variable>
#include <cstdlib>
#include <functional>
#include <mutex>

namespace {
std::mutex q_mu;
std::condition_variable q_cv;
std::vector<std::function<void()>> q_tasks;
bool q_stop = false;

void submit(std::function<void()> f) {
  { std::lock_guard<std::mutex> g(q_mu); q_tasks.push_back(std::move(f)); }
  q_cv.notify_one();
}
void worker() {
  for (;;) {
    std::function<void()> f;
    {
      std::unique_lock<std::mutex> g(q_mu);
      q_cv.wait(g, [] { return q_stop || !q_tasks.empty(); });
      if (q_tasks.empty()) return;
      f = std::move(q_tasks.back());  /* LIFO */
      q_tasks.pop_back();
    }
    std::this_thread::yield();
    f();
  }
}
/* a blocking call: one task, waited for on a private barrier */
void run_blocking(std::function<void()> f) {
  pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
  pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
  uint32_t ctr = 0;
  cedr_barrier_t b{&cv, &mu, &ctr};
  submit([f, &b] { f(); cedr_barrier_signal(&b); });
  cedr_barrier_wait(&b, 1);
}
}  // namespace

extern "C" {
void DASH_FFT_flt_nb(dash_cmplx_flt_type **in, dash_cmplx_flt_type **out, size_t *n, bool *fwd, cedr_barrier_t *b) {
  submit([=] { DASH_FFT_flt_cpu(in, out, n, fwd); cedr_barrier_signal(b); });
}
void DASH_FFT_flt(dash_cmplx_flt_type *in, dash_cmplx_flt_type *out, size_t n, bool fwd) {
  run_blocking([&] { DASH_FFT_flt_cpu(&in, &out, &n, &fwd); });
}
void DASH_ZIP_flt_nb(dash_cmplx_flt_type **a, dash_cmplx_flt_type **b, dash_cmplx_flt_type **out, size_t *n,
                     zip_op_t *op, cedr_barrier_t *bar) {
  submit([=] { DASH_ZIP_flt_cpu(a, b, out, n, op); cedr_barrier_signal(bar); });
}
void DASH_ZIP_flt(dash_cmplx_flt_type *a, dash_cmplx_flt_type *b, dash_cmplx_flt_type *out, size_t n, zip_op_t op) {
  run_blocking([&] { DASH_ZIP_flt_cpu(&a, &b, &out, &n, &op); });
}
void DASH_GEMM_flt_nb(dash_cmplx_flt_type **A, dash_cmplx_flt_type **B, dash_cmplx_flt_type **C, size_t *m,
                      size_t *k, size_t *n, cedr_barrier_t *bar) {
  submit([=] { DASH_GEMM_flt_cpu(A, B, C, m, k, n); cedr_barrier_signal(bar); });
}
void DASH_GEMM_flt(dash_cmplx_flt_type *A, dash_cmplx_flt_type *B, dash_cmplx_flt_type *C, size_t m, size_t k,
                   size_t n) {
  run_blocking([&] { DASH_GEMM_flt_cpu(&A, &B, &C, &m, &k, &n); });
}
}

int main(int argc, char **argv) {
  if (argc != 3) return 2;
  std::vector<std::thread> workers;
  for (int i = 0; i < 2; ++i) workers.emplace_back(worker);
  const int rc = run_instances(argv[1], std::atoi(argv[2]));
  { std::lock_guard<std::mutex> g(q_mu); q_stop = true; }
  q_cv.notify_all();
  for (auto &w : workers) w.join();
  return rc;
}
"""


def _run(cmd, **kw):
    res = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kw)
    return res


def _check(cmd):
    res = _run(cmd)
    assert res.returncode == 0, f"{' '.join(map(str, cmd))}\n{res.stdout}\n{res.stderr}"
    return res


def _parallel(fns):
    """Run the build steps with at most 2 compiler jobs at a time."""
    with cf.ThreadPoolExecutor(max_workers=2) as ex:
        return [f.result() for f in [ex.submit(fn) for fn in fns]]


@pytest.fixture(scope="module")
def built(kernel_lib, tmp_path_factory):
    """Every app as a standalone executable, a CEDR shared object and a PIC object file (with
    -fstack-usage), plus the shims and hosts."""
    kl = kernel_lib
    out = tmp_path_factory.mktemp("apps")
    inc = ["-I", kl.include]
    steps = []
    for app in APPS:
        src = APPS_DIR / f"{app}.cpp"
        steps.append(lambda s=src, a=app: _check([CXX, "-std=c++17", "-O2", *inc, s, kl.inline, kl.core, "-pthread",
                                                  "-o", out / a]))
        steps.append(lambda s=src, a=app: _check([CXX, "-std=c++17", "-O2", "-fPIC", "-shared", *inc, s,
                                                  "-o", out / f"{a}.so"]))
        steps.append(lambda s=src, a=app: _check([CXX, "-std=c++17", "-O2", "-fPIC", "-fstack-usage", *inc, "-c", s,
                                                  "-o", out / f"{a}.o"]))
    for name, (_, code) in SHIMS.items():
        (out / f"shim_{name}.cpp").write_text(code)
        steps.append(lambda n=name: _check([CXX, "-std=c++17", "-O2", "-fPIC", *inc, "-c", out / f"shim_{n}.cpp",
                                            "-o", out / f"shim_{n}.o"]))
    (out / "host_inline.cpp").write_text(HOST_INLINE)
    (out / "host_async.cpp").write_text(HOST_ASYNC)
    steps.append(lambda: _check([CXX, "-std=c++17", "-O2", out / "host_inline.cpp", "-rdynamic",
                                 "-Wl,--whole-archive", kl.inline, kl.core, "-Wl,--no-whole-archive",
                                 "-pthread", "-ldl", "-o", out / "host_inline"]))
    steps.append(lambda: _check([CXX, "-std=c++17", "-O2", *inc, out / "host_async.cpp", "-rdynamic",
                                 "-Wl,--whole-archive", kl.core, "-Wl,--no-whole-archive",
                                 "-pthread", "-ldl", "-o", out / "host_async"]))
    # an empty shared object: the toolchain's own data symbols, to tell them from the app's
    (out / "empty.cpp").write_text("int o2c_empty_probe(int x) { return x + 1; }\n")
    steps.append(lambda: _check([CXX, "-std=c++17", "-O2", "-fPIC", "-shared", out / "empty.cpp",
                                 "-o", out / "empty.so"]))
    _parallel(steps)
    return out


def _ok_line(app, res):
    lines = res.stdout.splitlines()
    assert res.returncode == 0, f"{app} exited {res.returncode}: {res.stderr.strip()}"
    assert len(lines) == 1, f"{app} printed {lines!r}"
    m = OK_LINE.match(lines[0])
    assert m and m.group(1) == app, lines[0]
    return lines[0]


def _max_rel_err(line):
    return float(re.search(r"max rel err ([0-9.e+-]+)", line).group(1))


@pytest.mark.parametrize("app", APPS)
def test_standalone_runs_ok(built, app):
    res = _run([built / app], timeout=60)
    line = _ok_line(app, res)
    assert res.stderr == ""
    assert _max_rel_err(line) <= 1e-4
    # deterministic: a second run prints the same line
    assert _run([built / app], timeout=60).stdout.strip() == line


def test_app_details(built):
    """Spot-check what each app reports: detections equal the injected values, call counts."""
    radar = _run([built / "radar_correlator"]).stdout
    m = re.search(r"beam (\d+) lag (\d+) \(injected beam (\d+) lag (\d+)\), (\d+) kernel calls", radar)
    assert m and m.group(1, 2) == m.group(3, 4) and int(m.group(5)) >= 20, radar
    pd = _run([built / "pulse_doppler"]).stdout
    m = re.search(r"target range bin (\d+) doppler bin (\d+), (\d+) kernel calls", pd)
    assert m and int(m.group(2)) != 0 and int(m.group(3)) >= 100, pd
    wifi = _run([built / "wifi_tx"]).stdout
    m = re.search(r"(\d+) symbols x 2 antennas, (\d+) payload bits recovered, (\d+) kernel calls", wifi)
    assert m and int(m.group(2)) > 0 and int(m.group(3)) >= 4 * int(m.group(1)), wifi


def _data_symbols(path):
    """(section, name) of every object symbol defined in a writable data section (.data*,
    .bss*, .tdata, .tbss), from objdump -t."""
    out = _check(["objdump", "-t", path]).stdout
    syms = set()
    for ln in out.splitlines():
        # "<address> <7 flag chars> <section>\t<size> [.hidden] <name>"
        m = re.match(r"^[0-9a-f]+ (.{7}) (\S+)\t[0-9a-f]+\s+(.*)$", ln)
        if not m or "O" not in m.group(1):  # objects only (not section or file symbols)
            continue
        sec, name = m.group(2), m.group(3).split()[-1]
        if re.match(r"^\.(data|bss|tdata|tbss)", sec) and not sec.startswith(".data.rel.ro"):
            if name.startswith("DW.ref."):  # the unwinder's personality pointer, not app state
                continue
            syms.add((sec, name))
    return syms


@pytest.mark.parametrize("app", APPS)
def test_shared_object_abi(built, app):
    so = built / f"{app}.so"
    defined = _check(["nm", "-D", "--defined-only", so]).stdout
    undefined = _check(["nm", "-D", "--undefined-only", so]).stdout
    assert re.search(r"^\S+ T main$", defined, re.M), "main is not exported with default visibility"
    assert "DASH_" not in defined, f"{app}.so defines DASH_* symbols:\n{defined}"
    used = set(re.findall(r"\bDASH_([A-Z0-9]+)_flt(?:_nb)?$", undefined, re.M))
    assert used == USES[app], f"{app} uses {used}"
    # any _nb use must come with the public names only
    for name in re.findall(r"\b(DASH_\w+)$", undefined, re.M):
        assert re.fullmatch(r"DASH_(FFT|ZIP|GEMM)_flt(_nb)?", name), name
    assert "enqueue_kernel" not in undefined


@pytest.mark.parametrize("app", APPS)
def test_no_mutable_globals(built, app):
    obj_syms = _data_symbols(built / f"{app}.o")
    assert not obj_syms, f"{app} defines mutable data (shared by all instances in one process): {sorted(obj_syms)}"
    so_syms = {n for _, n in _data_symbols(built / f"{app}.so")} - {n for _, n in _data_symbols(built / "empty.so")}
    assert not so_syms, f"{app}.so defines mutable data: {sorted(so_syms)}"


def test_mutable_global_check_can_fail(built, kernel_lib, tmp_path):
    """The data-symbol check catches a global counter and a function-local static."""
    src = tmp_path / "bad.cpp"
    src.write_text('#include <cstdio>\nint counter;\nstatic double table[16] = {1.0};\n'
                   'int next_id() { static int id = std::printf("x"); table[counter & 15] += 1.0;\n'
                   '  return ++counter + id + int(table[3]); }\n')
    _check([CXX, "-std=c++17", "-O2", "-fPIC", "-c", src, "-o", tmp_path / "bad.o"])
    names = {n for _, n in _data_symbols(tmp_path / "bad.o")}
    assert "counter" in names and "_ZL5table" in names and any("_ZZ7next_idvE2id" in n for n in names), names


@pytest.mark.parametrize("app", APPS)
def test_stack_usage_small(built, app):
    su = (built / f"{app}.su").read_text() if (built / f"{app}.su").exists() else \
        next(built.glob(f"{app}*.su")).read_text()
    frames = []
    for ln in su.splitlines():
        parts = ln.split("\t")
        if len(parts) >= 3:
            frames.append((int(parts[1]), parts[2], parts[0]))
    assert frames, su
    unbounded = [f for f in frames if f[1] not in ("static", "dynamic,bounded")]
    assert not unbounded, unbounded
    big = [f for f in frames if f[0] > STACK_LIMIT]
    assert not big, big


@pytest.mark.parametrize("app,shim", [(a, s) for a in APPS for s, (k, _) in SHIMS.items() if k in USES[a]])
def test_broken_kernel_is_detected(built, kernel_lib, app, shim):
    exe = built / f"{app}__{shim}"
    _check([CXX, built / f"{app}.o", built / f"shim_{shim}.o", kernel_lib.inline, kernel_lib.core,
            "-pthread", "-o", exe])
    kernel = SHIMS[shim][0]
    res = _run([exe], timeout=120)
    assert res.returncode == 1, f"{app} with broken {kernel} ({shim}) exited {res.returncode}: {res.stdout}"
    assert res.stdout == ""
    lines = res.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{app}: FAIL, "), res.stderr
    if app == "wifi_tx":
        # both of its checks run: the reference comparison, and (for gross faults) the receiver
        assert "samples vs reference: differ" in lines[0], lines[0]
        if shim != "fft_scale":
            assert "receiver: ok" not in lines[0], lines[0]


@pytest.mark.parametrize("app", APPS)
@pytest.mark.parametrize("host", ["host_inline", "host_async"])
def test_concurrent_instances(built, app, host):
    n = 8
    res = _run([built / host, built / f"{app}.so", n], timeout=120)
    assert res.returncode == 0, f"{host} {app}: {res.returncode}\n{res.stderr}"
    assert re.search(r"^rcs:( 0){8}$", res.stderr, re.M), res.stderr
    lines = res.stdout.splitlines()
    assert len(lines) == n, lines
    standalone = _run([built / app]).stdout.strip()
    assert all(ln == standalone for ln in lines), (lines, standalone)

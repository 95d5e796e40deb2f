"""The runtime's API table (runtime/src/api_table.cpp): it covers every API the kernel headers
declare, with the right argument count, and every synthetic call it builds is valid: it runs
through the API's _cpu implementation under AddressSanitizer, and its work measure, read back
through the argument pointers, is positive and grows with the size level."""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
INCLUDE = ROOT / "kernels" / "include"

DRIVER = r"""
#include <dlfcn.h>
#include <cstdio>
#include <string>
#include "api_table.h"
#include "dash_ml.h"
using namespace cedr;
static void hand(const char *api, const char *prec, void *const *args) {
  std::printf("hand %s_%s %.17g\n", api, prec, find_api(api, prec)->work(args));
}
static void hand_calls() {
  size_t n = 100, r = 2, ca = 3, cb = 5; bool fwd = true; void *nul = nullptr;
  void *fft[4] = {&nul, &nul, &n, &fwd};
  hand("DASH_FFT", "int", fft);
  void *gemm[6] = {&nul, &nul, &nul, &r, &ca, &cb};
  hand("DASH_GEMM", "flt", gemm);
  int h = 7, w = 9, m = 3, sz = 11;
  void *c2[6] = {&nul, &h, &w, &nul, &m, &nul};
  hand("DASH_CONV_2D", "int", c2);
  void *c1[5] = {&nul, &sz, &nul, &m, &nul};
  hand("DASH_CONV_1D", "flt", c1);
  dash_conv_params_t cp{};
  cp.spatial_rank = 2; cp.batch = 2; cp.in_channels = 8; cp.out_channels = 4; cp.groups = 2;
  cp.in_size[0] = 6; cp.in_size[1] = 7; cp.out_size[0] = 5; cp.out_size[1] = 3;
  cp.kernel[0] = 3; cp.kernel[1] = 2; cp.in_size[2] = cp.out_size[2] = cp.kernel[2] = 99;  // beyond the rank
  const dash_conv_params_t *pcp = &cp;
  void *conv[5] = {&nul, &nul, &nul, &nul, &pcp};
  hand("DASH_CONV", "flt", conv);
  hand("DASH_CONV_TRANSPOSE", "flt", conv);
  dash_gemm_params_t gp{};
  gp.batch = 3; gp.M = 4; gp.N = 5; gp.K = 6;
  const dash_gemm_params_t *pgp = &gp;
  void *gre[5] = {&nul, &nul, &nul, &nul, &pgp};
  hand("DASH_GEMM_RE", "flt", gre);
  dash_pool_params_t pp{};
  pp.spatial_rank = 1; pp.channels = 6; pp.out_size[0] = 10; pp.kernel[0] = 4; pp.out_size[1] = 99;
  const dash_pool_params_t *ppp = &pp;
  void *pool[3] = {&nul, &nul, &ppp};
  hand("DASH_POOL", "flt", pool);
  dash_binary_params_t bp{};
  bp.rank = 2; bp.out_shape[0] = 3; bp.out_shape[1] = 7; bp.out_shape[2] = 99;
  const dash_binary_params_t *pbp = &bp;
  void *bin[4] = {&nul, &nul, &nul, &pbp};
  hand("DASH_BINARY", "flt", bin);
  dash_softmax_params_t sp{2, 3, 4, 0};
  const dash_softmax_params_t *psp = &sp;
  void *sm[3] = {&nul, &nul, &psp};
  hand("DASH_SOFTMAX", "flt", sm);
}
typedef void (*F3)(void *, void *, void *);
typedef void (*F4)(void *, void *, void *, void *);
typedef void (*F5)(void *, void *, void *, void *, void *);
typedef void (*F6)(void *, void *, void *, void *, void *, void *);
int main() {
  std::mt19937_64 rng(1);
  int bad = 0;
  hand_calls();
  if (find_api("DASH_NOPE", "flt") || find_api("DASH_FFT", "dbl")) { std::printf("FIND unknown\n"); bad = 1; }
  for (const auto &info : known_apis()) {
    if (find_api(info.api, info.prec) != &info) { std::printf("FIND %s\n", info.api.c_str()); bad = 1; }
    const std::string sym = info.api + "_" + info.prec + "_cpu";
    void *f = dlsym(RTLD_DEFAULT, sym.c_str());
    if (!f) { std::printf("MISSING %s\n", sym.c_str()); bad = 1; continue; }
    for (int level = 0; level < 5; ++level) {
      ApiCase c = info.make_case(level, rng);
      const auto &a = c.args;
      if (a.size() != info.n_args) { std::printf("NARGS %s\n", sym.c_str()); bad = 1; continue; }
      switch (a.size()) {
        case 3: ((F3)f)(a[0], a[1], a[2]); break;
        case 4: ((F4)f)(a[0], a[1], a[2], a[3]); break;
        case 5: ((F5)f)(a[0], a[1], a[2], a[3], a[4]); break;
        case 6: ((F6)f)(a[0], a[1], a[2], a[3], a[4], a[5]); break;
        default: std::printf("ARITY %s\n", sym.c_str()); return 1;
      }
      const double w = info.work(a.data());
      std::printf("case %s %s %u %d %.17g %.17g\n", info.api.c_str(), info.prec.c_str(), info.n_args, level, w, c.work);
    }
  }
  return bad;
}
"""


def _header_apis() -> dict[tuple[str, str], int]:
    """(API, prec) -> number of arguments, from the _cpu declarations in dash.h and dash_ml.h."""
    apis = {}
    for h in ("dash.h", "dash_ml.h"):
        text = (INCLUDE / h).read_text()
        for m in re.finditer(r"void\s+(DASH_\w+?)_(flt|int|i8|i16)_cpu\s*\(([^)]*)\)", text):
            apis[(m.group(1), m.group(2))] = len(m.group(3).split(","))
    return apis


@pytest.fixture(scope="module")
def table_run(tmp_path_factory):
    """The driver against the kernel library `convert --sanitize address,undefined` links (from the
    compile cache, shared with tests/test_sanitize*.py), every object of it linked in."""
    from onnx2cedr.build import KernelLib, sanitize_flags

    cxx = shutil.which("g++")
    if not cxx:
        pytest.skip("no g++")
    out = tmp_path_factory.mktemp("api_table")
    (out / "driver.cpp").write_text(DRIVER)
    kl = KernelLib(cxx=cxx, sanitize="address,undefined").ensure()
    exe = out / "api_driver"
    r = subprocess.run([cxx, "-std=c++17", *sanitize_flags(kl.sanitize), "-Wall", "-Wextra", "-Werror",
                        "-I", str(ROOT / "runtime" / "src"), "-I", str(INCLUDE), str(out / "driver.cpp"), str(ROOT / "runtime" / "src" / "api_table.cpp"),
                        "-Wl,--whole-archive", str(kl.core), "-Wl,--no-whole-archive", "-rdynamic", "-ldl",
                        "-pthread", "-o", str(exe)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    res = subprocess.run([str(exe)], capture_output=True, text=True, timeout=300,
                         env={"ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0", "UBSAN_OPTIONS": "halt_on_error=1"})
    return res


def test_cases_run_clean_under_asan(table_run):
    assert table_run.returncode == 0, (table_run.stdout[-2000:], table_run.stderr[-4000:])
    assert "ERROR" not in table_run.stderr and "runtime error" not in table_run.stderr, table_run.stderr[-4000:]


def test_table_covers_the_headers_with_right_arity(table_run):
    header = _header_apis()
    assert len(header) == 19  # FFT, GEMM, ZIP x2 precisions; CONV_2D, CONV_1D; 7 ML APIs; QCONV, QGEMM x i8, i16
    seen = {}
    for line in table_run.stdout.splitlines():
        if line.startswith("case "):
            _, api, prec, nargs, *_ = line.split()
            seen[(api, prec)] = int(nargs)
    assert seen == header


def test_work_positive_consistent_and_increasing(table_run):
    works: dict[tuple[str, str], list[float]] = {}
    for line in table_run.stdout.splitlines():
        if not line.startswith("case "):
            continue
        _, api, prec, _n, level, w, case_w = line.split()
        assert float(w) == float(case_w), line  # read through the pointers == what make_case says
        works.setdefault((api, prec), []).append(float(w))
        assert int(level) == len(works[(api, prec)]) - 1
    assert works
    for key, ws in works.items():
        assert len(ws) == 5, key
        assert ws[0] > 0, key
        assert all(b > a for a, b in zip(ws, ws[1:])), (key, ws)
        assert ws[-1] / ws[0] >= 50, (key, ws)  # spans small to large


def test_work_formulas_by_hand(table_run):
    # level 0 sizes from api_table.cpp, worked out by hand
    first = {}
    for line in table_run.stdout.splitlines():
        if line.startswith("case ") and line.split()[4] == "0":
            _, api, prec, _n, _l, w, _c = line.split()
            first[(api, prec)] = float(w)
    assert first[("DASH_FFT", "flt")] == 64 * 6            # n log2 n, n = 64
    assert first[("DASH_GEMM", "int")] == 16 ** 3
    assert first[("DASH_ZIP", "flt")] == 1024
    assert first[("DASH_CONV_2D", "int")] == 16 * 16 * 9
    assert first[("DASH_CONV_1D", "flt")] == 256 * 16
    assert first[("DASH_GEMM_RE", "flt")] == 16 ** 3
    assert first[("DASH_CONV", "flt")] == 8 * 16 * 16 * 8 * 9
    assert first[("DASH_CONV_TRANSPOSE", "flt")] == 8 * 8 * 8 * 8 * 9
    assert first[("DASH_POOL", "flt")] == 8 * 8 * 8 * 9      # 16x16 -> 8x8, 3x3 taps
    assert first[("DASH_BINARY", "flt")] == 4 * 16 * 16
    assert first[("DASH_UNARY", "flt")] == 1024
    assert first[("DASH_SOFTMAX", "flt")] == 100


def test_work_read_through_hand_made_argument_pointers(table_run):
    got = {}
    for line in table_run.stdout.splitlines():
        if line.startswith("hand "):
            _, key, w = line.split()
            got[key] = float(w)
    assert got == {
        "DASH_FFT_int": 100 * 100,               # not a power of two: direct DFT
        "DASH_GEMM_flt": 2 * 3 * 5,
        "DASH_CONV_2D_int": 7 * 9 * 3 * 3,
        "DASH_CONV_1D_flt": 11 * 3,
        "DASH_CONV_flt": 2 * 4 * (5 * 3) * (8 / 2) * (3 * 2),
        "DASH_CONV_TRANSPOSE_flt": 2 * 8 * (6 * 7) * (4 / 2) * (3 * 2),
        "DASH_GEMM_RE_flt": 3 * 4 * 5 * 6,
        "DASH_POOL_flt": 6 * 10 * 4,
        "DASH_BINARY_flt": 3 * 7,
        "DASH_SOFTMAX_flt": 2 * 3 * 4,
    }

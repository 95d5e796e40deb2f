"""Build, seed and run the fuzz harnesses (issue 18): four libFuzzer harnesses of the C++ parsers
(config JSON, .npy, weights file, app spec; clang's -fsanitize=fuzzer,address,undefined) and one
atheris harness of the Python loader and passes (fuzz_loader.py).

    .venv/bin/python tests/fuzz/harnesses.py [--seconds 60] [--out fuzz-out] [--only NAME ...]

prints, per harness, the inputs executed and the crashes found; a crash's input is saved under
OUT/crashes/ and makes the exit status 1. scripts/fuzz.sh runs this; tests/fuzz/test_fuzz.py runs
every harness for a short budget. Built harnesses are cached under the onnx2cedr cache folder
(keyed by their sources and flags); the corpora grow in OUT/corpus/NAME."""
from __future__ import annotations

import argparse
import functools
import hashlib
import os
import re
import shutil
import subprocess
import sys
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
LENET = ROOT / "models" / "demo" / "lenet5_digits.onnx"
FLAGS = ["-std=c++17", "-gline-tables-only", "-O1", "-fno-omit-frame-pointer", "-fno-sanitize-recover=all"]
INCLUDES = ["-I", str(ROOT / "runtime" / "src"), "-I", str(ROOT / "kernels" / "include"), "-I", str(HERE)]

# name: (harness source, the project sources it links, extra link flags)
_SCHEDULERS = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "runtime" / "src").glob("sched_*.cpp"))
NATIVE = {
    "config": ("fuzz_config.cpp", ["runtime/src/config.cpp", "runtime/src/json.cpp", "runtime/src/common.cpp",
                                   "runtime/src/scheduler.cpp", *_SCHEDULERS], []),
    "npy": ("fuzz_npy.cpp", ["kernels/src/cpu/npy.cpp"], []),
    "weights": ("fuzz_weights.cpp", ["kernels/src/support/model_support.cpp", "kernels/src/support/crc32.cpp"],
                ["-ldl"]),
    "app_spec": ("fuzz_app_spec.cpp", ["runtime/src/app_spec.cpp", "runtime/src/common.cpp"], []),
}
PYTHON = ("loader",)
ALL = tuple(NATIVE) + PYTHON
# the npy harness's expected dtypes, in fuzz_npy.cpp's order (its first input byte picks one)
NPY_DTYPES = ("<f4", "<f8", "<i8", "<i4", "|u1", "|b1", "<f2", "<u2", ">f4", "<c8")


class Unavailable(Exception):
    """No clang with libFuzzer (or no atheris): the harness cannot be built here."""


# ------------------------------------------------------------------------------------------------ build

def clang() -> str:
    """clang++ ($O2C_FUZZ_CXX) when it has libFuzzer, else Unavailable."""
    cxx = os.environ.get("O2C_FUZZ_CXX") or shutil.which("clang++")
    if not cxx:
        raise Unavailable("clang++ not found (apt-get install clang, or bash scripts/setup.sh --fuzz)")
    p = subprocess.run([cxx, "-print-runtime-dir"], capture_output=True, text=True)
    rt = Path(p.stdout.strip())
    if p.returncode != 0 or not any(rt.glob("libclang_rt.fuzzer*")):
        raise Unavailable(f"{cxx} has no libFuzzer (no libclang_rt.fuzzer in '{rt}')")
    return cxx


def _run(cmd: list[str], what: str) -> None:
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        tail = "\n".join(p.stderr.strip().splitlines()[-15:])
        raise RuntimeError(f"{what} failed:\n{' '.join(cmd)}\n{tail}")


def _headers_digest() -> str:
    h = hashlib.sha256()
    for d in (ROOT / "runtime" / "src", ROOT / "kernels" / "include", ROOT / "kernels" / "src" / "cpu", HERE):
        for p in sorted(d.glob("*.h")):
            h.update(p.name.encode() + p.read_bytes())
    return h.hexdigest()


def build(names=tuple(NATIVE), jobs: int = 2) -> dict[str, Path]:
    """The libFuzzer binaries of the named harnesses (built once per sources and flags)."""
    from onnx2cedr.build import cache_root

    cxx = clang()
    out = cache_root() / "fuzz"
    out.mkdir(parents=True, exist_ok=True)
    headers = _headers_digest()

    def key(src: Path, flags: list[str]) -> str:
        h = hashlib.sha256((cxx + " ".join(flags) + headers).encode())
        h.update(src.read_bytes())
        return h.hexdigest()[:16]

    def obj(src: Path) -> Path:  # a project source or a harness, instrumented; shared between harnesses
        flags = FLAGS + ["-fsanitize=fuzzer-no-link,address,undefined"]
        o = out / f"{src.stem}-{key(src, flags)}.o"
        if not o.exists():
            tmp = o.with_suffix(f".{os.getpid()}.tmp.o")
            _run([cxx] + flags + INCLUDES + ["-c", str(src), "-o", str(tmp)], f"compiling {src.name}")
            os.replace(tmp, o)
        return o

    srcs = sorted({HERE / NATIVE[n][0] for n in names} | {ROOT / s for n in names for s in NATIVE[n][1]})
    with ThreadPoolExecutor(max(1, jobs)) as pool:
        objs = dict(zip(srcs, pool.map(obj, srcs)))
    bins = {}
    for n in names:
        harness, sources, ldflags = NATIVE[n]
        parts = [objs[HERE / harness]] + [objs[ROOT / s] for s in sources]
        link = FLAGS + ["-fsanitize=fuzzer,address,undefined"]
        b = out / f"fuzz_{n}-{hashlib.sha256(''.join(p.name for p in parts).encode()).hexdigest()[:16]}"
        if not b.exists():
            tmp = b.with_suffix(f".{os.getpid()}.tmp")
            _run([cxx] + link + [str(p) for p in parts] + ldflags + ["-o", str(tmp)], f"linking fuzz_{n}")
            os.replace(tmp, b)
        bins[n] = b
    return bins


# ------------------------------------------------------------------------------------------------ seeds

@functools.lru_cache(maxsize=1)
def _lenet():
    """LeNet-5 compiled as convert compiles it: its default inputs and its weights file's bytes."""
    import tempfile

    from onnx2cedr.compiler import compile_model, default_inputs
    from onnx2cedr.plan import write_weights

    c = compile_model(str(LENET))
    ins = [np.asarray(a).astype(c.graph.values[n].dtype) for n, a in zip(c.graph.inputs, default_inputs(c.graph))]
    with tempfile.TemporaryDirectory() as d:
        write_weights(c.plan, Path(d) / "w.weights")
        weights = (Path(d) / "w.weights").read_bytes()
    return ins, weights


def _npy_bytes(arr: np.ndarray, version=None) -> bytes:
    import io

    buf = io.BytesIO()
    np.lib.format.write_array(buf, arr, version=version, allow_pickle=False)
    return buf.getvalue()


def _npy_seed(arr: np.ndarray, version=None) -> bytes:
    """fuzz_npy.cpp's input for a file holding arr, expecting exactly arr's dtype and shape."""
    descr = np.lib.format.dtype_to_descr(arr.dtype)
    if descr not in NPY_DTYPES:
        raise ValueError(f"dtype {descr} is not one the npy harness expects")
    if arr.ndim > 4 or any(d > 0xFFFF for d in arr.shape):
        raise ValueError(f"shape {arr.shape} does not fit the npy harness's prefix")
    prefix = bytes([NPY_DTYPES.index(descr), arr.ndim]) + b"".join(int(d).to_bytes(2, "little") for d in arr.shape)
    return prefix + _npy_bytes(arr, version)


def _weights_file(payload: bytes, model_id: int) -> bytes:
    """A weights file as onnx2cedr/plan.py write_weights lays it out."""
    head = b"O2CWGT02" + model_id.to_bytes(8, "little") + len(payload).to_bytes(8, "little")
    crc = zlib.crc32(bytes(36), zlib.crc32(head, zlib.crc32(payload)))
    return head + crc.to_bytes(4, "little") + bytes(36) + payload


def seeds(name: str, dest: Path) -> list[Path]:
    """Write the seed corpus of a harness into dest (from the repo: configs, LeNet-5's app inputs
    and weights, app specs, models)."""
    dest.mkdir(parents=True, exist_ok=True)
    items: list[tuple[str, bytes]] = []
    if name == "config":
        items = [(p.name, p.read_bytes()) for p in sorted((ROOT / "runtime" / "configs").glob("*.json"))]
        items.append(("minimal.json", b'{"Worker Threads": {"cpu": 1}}'))
    elif name == "app_spec":
        for k, s in enumerate(["out/:8:500", "pulse_doppler:4:1000", "wifi_tx:50:0", "/tmp/a b/app.so:1:2.5e3",
                               "lenet5:1000000:0.001", "x:1:1e308"]):
            items.append((f"spec{k}", s.encode()))
    elif name == "npy":
        ins, _ = _lenet()
        items = [(f"lenet_input_{k}", _npy_seed(a)) for k, a in enumerate(ins)]
        rng = np.random.default_rng(0)
        for k, descr in enumerate(NPY_DTYPES):
            a = (rng.standard_normal((2, 3)) * 10).astype(np.dtype(descr))
            items.append((f"{descr[1:]}_v1", _npy_seed(a)))
            items.append((f"{descr[1:]}_v{2 + k % 2}", _npy_seed(a, (2 + k % 2, 0))))
        items.append(("scalar", _npy_seed(np.float32(1.5).reshape(()))))
        items.append(("empty", _npy_seed(np.zeros((0, 4), np.float32))))
    elif name == "weights":
        _, w = _lenet()
        # mode byte (fuzz_weights.cpp): 2 = expect the header's model id, 3 = also rewrite its CRC
        items = [("lenet_mode2", bytes([2]) + w), ("lenet_mode3", bytes([3]) + w)]
        small = _weights_file(bytes(range(256)) * 2, 0x123456789ABCDEF)
        items += [(f"small_mode{m}", bytes([m]) + small) for m in (0, 2, 3, 6, 10, 22)]
        items.append(("empty_payload", bytes([2]) + _weights_file(b"", 7)))
    elif name == "loader":
        bases = _model_bases(dest.parent / f"{name}-bases")
        items = [(p.stem, p.read_bytes()) for p in bases]
    else:
        raise ValueError(f"unknown harness '{name}' (known: {', '.join(ALL)})")
    out = []
    for stem, data in items:
        p = dest / f"seed-{stem}"
        p.write_bytes(data)
        out.append(p)
    return out


def _model_bases(work: Path) -> list[Path]:
    """scripts/mutants.py's base models (LeNet-5, an MLP with external data, a small convnet)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("o2c_mutants", ROOT / "scripts" / "mutants.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod._base_models(work, None)


# ------------------------------------------------------------------------------------------------ run

def _execs(log: str) -> int:
    """Inputs executed, from libFuzzer's final stats (else its last status line)."""
    m = re.findall(r"stat::number_of_executed_units:\s*(\d+)", log) or re.findall(r"^#(\d+)\s", log, re.M)
    return int(m[-1]) if m else 0


def run(name: str, seconds: int, out: Path, binary: Path | None = None, seed: int = 0) -> dict:
    """Fuzz one harness for `seconds`; {"name", "execs", "crashes": [files], "rc", "log"}.
    seed > 0: libFuzzer's mutations follow that seed (the suite's short runs replay the same inputs
    on every machine, as far as its speed reaches); 0: a random seed, for exploring."""
    corpus, seed_dir, crash_dir = out / "corpus" / name, out / "seeds" / name, out / "crashes"
    for d in (corpus, crash_dir):
        d.mkdir(parents=True, exist_ok=True)
    if seed_dir.exists():
        shutil.rmtree(seed_dir)
    seeds(name, seed_dir)
    opts = [f"-max_total_time={seconds}", "-print_final_stats=1", "-timeout=20", "-rss_limit_mb=3072",
            f"-artifact_prefix={crash_dir}/{name}-"] + ([f"-seed={seed}"] if seed > 0 else [])
    env = dict(os.environ)
    if name in NATIVE:
        cmd = [str(binary or build([name])[name])] + opts + [str(corpus), str(seed_dir)]
        env["ASAN_OPTIONS"] = "detect_leaks=1:allocator_may_return_null=1"
        env["UBSAN_OPTIONS"] = "print_stacktrace=1"
    else:
        cmd = [sys.executable, str(HERE / "fuzz_loader.py"), "-max_len=1000000"] + opts + [str(corpus), str(seed_dir)]
        env["O2C_FUZZ_MODEL_DIR"] = str(out / "model-dir" / name)
    before = set(crash_dir.glob(f"{name}-*"))
    p = subprocess.run(cmd, capture_output=True, text=True, errors="replace", env=env, timeout=seconds * 3 + 600)
    log = p.stdout + p.stderr
    (out / f"{name}.log").write_text(log)
    crashes = sorted(set(crash_dir.glob(f"{name}-*")) - before)
    if p.returncode != 0 and not crashes:  # a failure libFuzzer did not save an input for
        crashes = [out / f"{name}.log"]
    return {"name": name, "execs": _execs(log), "crashes": crashes,
            "rc": p.returncode, "log": log}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=int, default=60, help="budget per harness (default 60)")
    ap.add_argument("--out", type=Path, default=Path("fuzz-out"), help="corpora, crashes and logs (default fuzz-out)")
    ap.add_argument("--only", nargs="+", choices=ALL, default=list(ALL), help="these harnesses only")
    a = ap.parse_args(argv)
    if a.seconds < 1:
        print("error: --seconds must be at least 1", file=sys.stderr)
        return 2
    try:
        native = [n for n in a.only if n in NATIVE]
        bins = build(native) if native else {}
    except Unavailable as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    failed = 0
    print(f"{'harness':10} {'executions':>12} {'crashes':>8}")
    for n in a.only:
        r = run(n, a.seconds, a.out, bins.get(n))
        failed += bool(r["crashes"])
        print(f"{n:10} {r['execs']:>12,} {len(r['crashes']):>8}" + "".join(f"\n  saved: {c}" for c in r["crashes"]),
              flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))  # this tree's onnx2cedr, as `python -m onnx2cedr` from it
    sys.exit(main())

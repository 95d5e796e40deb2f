"""Compile generated code into the three artifacts, with content-hash caching.

The kernel library (kernels/src) is compiled once per (compiler, flags, sources) into a cache
folder; a model build compiles only its model.cpp and links. Finished builds are cached by the
hash of everything that goes into them, so converting the same model again costs no compile.
"""
from __future__ import annotations

import concurrent.futures as cf
import contextlib
import fcntl
import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Iterable

from .errors import BuildError

ARTIFACTS = ("lib", "exe", "app")

# The ML APIs of dash_ml.h (blocking names). An extended app carries an inline fallback for each
# form it calls (kernels/entry/app_fallback.cpp, one archive member per form): the runtime's own
# definition wins where it has one, so on a runtime without them the app degrades instead of failing.
ML_APIS = ("DASH_GEMM_RE_flt", "DASH_CONV_flt", "DASH_CONV_TRANSPOSE_flt", "DASH_POOL_flt",
           "DASH_BINARY_flt", "DASH_UNARY_flt", "DASH_SOFTMAX_flt")
ML_FALLBACK_SYMBOLS = tuple(f"{a}{form}" for a in ML_APIS for form in ("", "_nb"))


def kernels_dir() -> Path:
    """The kernels/ folder: inside the installed package, or the source checkout's."""
    try:
        import importlib.resources as ir

        p = Path(str(ir.files("onnx2cedr._kernels")))
        if (p / "include" / "dash.h").is_file():
            return p
    except (ModuleNotFoundError, TypeError):
        pass
    p = Path(__file__).resolve().parent.parent / "kernels"
    if (p / "include" / "dash.h").is_file():
        return p
    raise BuildError("the kernel sources (kernels/) are missing from this installation of onnx2cedr")


def cache_root() -> Path:
    root = os.environ.get("O2C_CACHE") or os.path.join(os.environ.get("XDG_CACHE_HOME") or
                                                       os.path.expanduser("~/.cache"), "onnx2cedr")
    p = Path(root)
    p.mkdir(parents=True, exist_ok=True)
    return p


def find_compiler() -> str:
    cxx = os.environ.get("CXX")
    if cxx:
        if shutil.which(cxx.split()[0]) is None:
            raise BuildError(f"the C++ compiler named by CXX ('{cxx}') was not found")
        return cxx
    for c in ("g++", "c++", "clang++"):
        if shutil.which(c):
            return c
    raise BuildError("no C++ compiler found: install g++ (e.g. apt-get install g++) or set CXX")


def compile_flags(native: bool = True, debug: bool = False) -> list[str]:
    flags = ["-std=c++20", "-fPIC", "-pthread", "-g0" if not debug else "-g"]
    flags += ["-O0"] if debug else ["-O3", "-DNDEBUG"]
    if native:
        flags.append("-march=native")
    return flags


def _run(cmd: list[str], what: str) -> None:
    try:
        res = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    except FileNotFoundError:
        raise BuildError(f"{what}: '{cmd[0]}' not found") from None
    if res.returncode != 0:
        lines = [ln for ln in res.stdout.splitlines() if "error" in ln] or res.stdout.strip().splitlines() or ["?"]
        raise BuildError(f"{what} failed: {lines[0].strip()[:400]}")


@contextlib.contextmanager
def _locked(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def build_once(final: Path, key: str, build) -> None:
    """Run build(tmp) into a temporary sibling of `final` under a lock, then rename it into place.
    A finished build is marked by final/ok; concurrent callers wait for the first one."""
    if (final / "ok").exists():
        return
    final.parent.mkdir(parents=True, exist_ok=True)
    with _locked(final.parent / f"{key}.lock"):
        if (final / "ok").exists():
            return
        tmp = Path(tempfile.mkdtemp(prefix=f"{key}.", dir=final.parent))
        try:
            build(tmp)
            (tmp / "ok").write_text(key)
            if final.exists():
                shutil.rmtree(final)
            os.rename(tmp, final)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)


def _compiler_id(cxx: str) -> str:
    try:
        return subprocess.run(cxx.split() + ["--version"], capture_output=True, text=True).stdout
    except OSError:
        raise BuildError(f"the C++ compiler '{cxx}' cannot be run") from None


class KernelLib:
    """The compiled kernel library: libo2c_core.a, libdash_inline.a, libdash_fallback.a and the
    entry objects."""

    def __init__(self, native: bool = True):
        self.cxx = find_compiler()
        self.flags = compile_flags(native)
        self.src = kernels_dir()
        h = hashlib.blake2b(digest_size=12)
        h.update(_compiler_id(self.cxx).encode())
        h.update(" ".join(self.flags).encode())
        for f in sorted(self._all_files()):
            h.update(str(f.relative_to(self.src)).encode())
            h.update(f.read_bytes())
        self.key = h.hexdigest()
        self.dir = cache_root() / "kernels" / self.key
        self.include = self.src / "include"

    def _all_files(self) -> Iterable[Path]:
        for sub in ("include", "src", "entry"):
            d = self.src / sub
            if d.is_dir():
                yield from (p for p in d.rglob("*") if p.is_file() and p.suffix in (".h", ".hpp", ".cpp"))

    @property
    def core(self) -> Path:
        return self.dir / "libo2c_core.a"

    @property
    def inline(self) -> Path:
        return self.dir / "libdash_inline.a"

    @property
    def fallback(self) -> Path:
        return self.dir / "libdash_fallback.a"

    def entry(self, which: str) -> Path:
        return self.dir / f"{which}_main.o"

    def ensure(self) -> "KernelLib":
        build_once(self.dir, self.key, self._build_into)
        return self

    def _build_into(self, tmp: Path) -> None:
        srcs = sorted((self.src / "src").rglob("*.cpp"))
        jobs = [(s, tmp / (str(s.relative_to(self.src)).replace("/", "__") + ".o")) for s in srcs]
        jobs += [(self.src / "entry" / f"{w}_main.cpp", tmp / f"{w}_main.o") for w in ("exe", "app")]
        fallbacks = [(self.src / "entry" / "app_fallback.cpp", tmp / f"fallback_{sym}.o", sym)
                     for sym in ML_FALLBACK_SYMBOLS]

        def cc(job):
            s, o = job[:2]
            vis = ["-fvisibility=hidden"] if s.name == "app_main.cpp" else []
            defs = [f"-DO2C_ML_FALLBACK_{job[2]}"] if len(job) > 2 else []
            _run(self.cxx.split() + self.flags + vis + defs + ["-I", str(self.include), "-c", str(s), "-o", str(o)],
                 f"compiling kernel {s.relative_to(self.src)}")

        with cf.ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as ex:
            list(ex.map(cc, jobs + fallbacks))
        core = [o for s, o in jobs if s.parent.name != "entry" and s.name != "api_inline.cpp"]
        inline = [o for s, o in jobs if s.name == "api_inline.cpp"]
        _run(["ar", "rcs", str(tmp / "libo2c_core.a")] + [str(o) for o in core], "archiving the kernels")
        _run(["ar", "rcs", str(tmp / "libdash_inline.a")] + [str(o) for o in inline], "archiving the kernels")
        _run(["ar", "rcs", str(tmp / "libdash_fallback.a")] + [str(f[1]) for f in fallbacks],
             "archiving the kernels")


def app_link_libs(kl: KernelLib, ml_fallbacks: bool = True) -> list[str]:
    """What a CEDR app links after its objects: the ML fallbacks it calls (exported, so that a runtime
    defining the same names interposes them), then the kernels (hidden: --exclude-libs)."""
    return ([str(kl.fallback)] if ml_fallbacks else []) + [str(kl.core), f"-Wl,--exclude-libs,{kl.core.name}", "-ldl"]


def artifact_names(sym: str) -> dict[str, str]:
    return {"lib": f"lib{sym}.so", "exe": sym, "app": f"{sym}-app.so"}


def build_model(src_dir: Path, sym: str, artifacts: Iterable[str] = ARTIFACTS, native: bool = True,
                ml_fallbacks: bool = True) -> dict[str, Path]:
    """Compile src_dir/model.cpp and link the requested artifacts into src_dir. ml_fallbacks: the app
    carries inline fallbacks for the ML API forms it calls (else they stay undefined symbols)."""
    artifacts = [a for a in ARTIFACTS if a in set(artifacts)]
    kl = KernelLib(native).ensure()
    model_cpp = (src_dir / "model.cpp").read_bytes()
    h = hashlib.blake2b(digest_size=16)
    for part in (kl.key.encode(), model_cpp, ",".join(artifacts).encode(), sym.encode(), b"fb%d" % ml_fallbacks):
        h.update(part)
    key = h.hexdigest()
    names = artifact_names(sym)
    cached = cache_root() / "builds" / key

    def build(tmp: Path) -> None:
        obj = tmp / "model.o"
        _run(kl.cxx.split() + kl.flags + ["-fvisibility=hidden", "-I", str(kl.include), "-c",
                                          str(src_dir / "model.cpp"), "-o", str(obj)],
             "compiling the generated model")
        libs = ["-Wl,--exclude-libs,ALL", "-ldl"]
        # the app: its public DASH_* calls stay undefined (the runtime's); its ML calls bind to the
        # fallbacks it exports (libdash_fallback.a, kept out of --exclude-libs), which a runtime
        # defining the same names interposes; the kernels themselves stay hidden
        app_libs = app_link_libs(kl, ml_fallbacks)
        cmds = {
            "lib": (["-shared", str(obj), str(kl.inline), str(kl.core)] + libs, names["lib"]),
            "exe": ([str(kl.entry("exe")), str(obj), str(kl.inline), str(kl.core), "-ldl"], names["exe"]),
            "app": (["-shared", str(kl.entry("app")), str(obj)] + app_libs, names["app"]),
        }

        def link(a):
            args, out = cmds[a]
            _run(kl.cxx.split() + ["-pthread"] + args + ["-o", str(tmp / out)], f"linking the {a} artifact")

        with cf.ThreadPoolExecutor(max_workers=3) as ex:
            list(ex.map(link, artifacts))
        obj.unlink()

    build_once(cached, key, build)
    out = {}
    for a in artifacts:
        dst = src_dir / names[a]
        shutil.copy2(cached / names[a], dst)
        out[a] = dst
    return out

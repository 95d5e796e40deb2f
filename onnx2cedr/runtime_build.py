"""Build the CEDR-compatible runtime and what it loads, cached by content hash.

One build folder per (compiler, flags, sources) under the cache root holds:
  cedr-run          the runtime executable (runtime/src/*.cpp; exports the DASH_* entry points,
                    enqueue_kernel and cedr_accel_account to the apps and libraries it loads)
  cedr-sched-sim    the offline scheduler simulator (runtime/sim + the schedulers)
  libo2c_cpu.so     the CPU implementations DASH_<API>_<prec>_cpu (kernels/src minus the inline
                    entry points)
  libo2c_accel.so   the HLS-style accelerator implementations DASH_<API>_<prec>_<resource>
                    (kernels/accel)
  apps/<name>.so    the bundled non-ML apps (runtime/apps), as CEDR app shared objects
  apps/<name>       ... and as standalone executables (kernels run inline)
The conventions are the same as runtime/CMakeLists.txt's.
"""
from __future__ import annotations

import concurrent.futures as cf
import hashlib
import os
import shutil
from pathlib import Path
from typing import Iterable

from .build import KernelLib, _compiler_id, _run, build_once, cache_root, kernels_dir, sanitize_flags
from .errors import BuildError

RUNTIME_FLAGS = ["-std=c++17", "-O2", "-pthread", "-g0", "-fPIC"]
# Files of runtime/src the simulator links (the schedulers and what they depend on).
SIM_SHARED = ("json.cpp", "scheduler.cpp", "cost_model.cpp", "api_table.cpp")


def runtime_dir() -> Path:
    """The runtime/ folder: inside the installed package, or the source checkout's."""
    try:
        import importlib.resources as ir

        p = Path(str(ir.files("onnx2cedr._runtime")))
        if (p / "src").is_dir():
            return p
    except (ModuleNotFoundError, TypeError):
        pass
    p = Path(__file__).resolve().parent.parent / "runtime"
    if (p / "src").is_dir():
        return p
    raise BuildError("the runtime sources (runtime/) are missing from this installation of onnx2cedr")


class RuntimeBuild:
    """The compiled runtime, simulator, kernel libraries and bundled apps."""

    def __init__(self, native: bool = True, target: str | None = None, cxx: str | None = None,
                 sysroot: str | os.PathLike | None = None, sanitize=()):
        """target, cxx, sysroot: as convert's (a cross build has no cedr-sched-sim: it is a host tool).
        sanitize: as convert's; cedr-run, the kernel libraries and the bundled apps are all built
        instrumented, in a build folder of their own (the flags are in the key)."""
        self.kl = KernelLib(native, target, cxx, sysroot, sanitize)
        self.sanitize = self.kl.sanitize
        self.src = runtime_dir()
        self.kernels = kernels_dir()
        self.cxx = self.kl.cxx
        self.cross = self.kl.tc.cross
        flags = [f for f in RUNTIME_FLAGS if f not in ("-O2", "-g0")] if self.sanitize else RUNTIME_FLAGS
        self.flags = flags + sanitize_flags(self.sanitize) + self.kl.tc.arch + self.kl.tc.sysroot
        h = hashlib.blake2b(digest_size=12)
        h.update(self.kl.key.encode())
        h.update(_compiler_id(self.cxx).encode())
        h.update(" ".join(self.flags).encode())
        for f in sorted(self._all_files()):
            h.update(str(f).encode())
            h.update(f.read_bytes())
        self.key = h.hexdigest()
        self.dir = cache_root() / "runtime" / (f"{self.kl.tc.target}/{self.key}" if self.cross else self.key)

    def _all_files(self) -> Iterable[Path]:
        for d in (self.src / "src", self.src / "sim", self.src / "apps", self.kernels / "accel"):
            if d.is_dir():
                yield from (p for p in d.iterdir() if p.is_file() and p.suffix in (".h", ".hpp", ".cpp"))

    # ---- artifact paths ----
    @property
    def cedr_run(self) -> Path:
        return self.dir / "cedr-run"

    @property
    def sched_sim(self) -> Path:
        return self.dir / "cedr-sched-sim"

    @property
    def cpu_lib(self) -> Path:
        return self.dir / "libo2c_cpu.so"

    @property
    def accel_lib(self) -> Path:
        return self.dir / "libo2c_accel.so"

    @property
    def default_libs(self) -> list[Path]:
        """The kernel libraries every run loads first (the config's paths come after)."""
        return [p for p in (self.cpu_lib, self.accel_lib) if p.exists()]

    def app_names(self) -> list[str]:
        return sorted(p.stem for p in (self.src / "apps").glob("*.cpp"))

    def app_so(self, name: str) -> Path:
        return self.dir / "apps" / f"{name}.so"

    def app_exe(self, name: str) -> Path:
        return self.dir / "apps" / name

    # ---- building ----
    def ensure(self) -> "RuntimeBuild":
        if not (self.dir / "ok").exists():
            self.kl.ensure()
            build_once(self.dir, self.key, self._build_into)
        return self

    def _cc(self, src: Path, obj: Path, extra: list[str] | None = None) -> Path:
        inc = ["-I", str(self.src / "src"), "-I", str(self.kernels / "include")]
        _run(self.cxx.split() + self.flags + (extra or []) + inc + ["-c", str(src), "-o", str(obj)],
             f"compiling {src.parent.name}/{src.name}")
        return obj

    def _link(self, args: list[str], out: Path, what: str) -> None:
        _run(self.cxx.split() + ["-pthread"] + self.kl.ldflags + args + ["-o", str(out)], f"linking {what}")

    def _build_into(self, out: Path) -> None:
        src = self.src / "src"
        objs_dir = out / "obj"
        objs_dir.mkdir()
        (out / "apps").mkdir()
        jobs: list[tuple[Path, Path]] = []
        runtime_srcs = sorted(src.glob("*.cpp"))
        sim_srcs = sorted((self.src / "sim").glob("*.cpp")) if (self.src / "sim").is_dir() and not self.cross else []
        accel_srcs = sorted((self.kernels / "accel").glob("*.cpp")) if (self.kernels / "accel").is_dir() else []
        app_srcs = sorted((self.src / "apps").glob("*.cpp")) if (self.src / "apps").is_dir() else []
        for s in runtime_srcs + sim_srcs + accel_srcs + app_srcs:
            jobs.append((s, objs_dir / f"{s.parent.name}__{s.stem}.o"))
        with cf.ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as ex:
            list(ex.map(lambda j: self._cc(*j), jobs))
        obj = {s: o for s, o in jobs}
        links = []
        if (src / "main.cpp").exists():
            links.append(([str(obj[s]) for s in runtime_srcs] + ["-rdynamic", "-ldl"], out / "cedr-run", "cedr-run"))
        if sim_srcs:
            shared = [obj[s] for s in runtime_srcs if s.name in SIM_SHARED or s.name.startswith("sched_")]
            links.append(([str(obj[s]) for s in sim_srcs] + [str(o) for o in shared], out / "cedr-sched-sim",
                          "cedr-sched-sim"))
        links.append((["-shared", "-Wl,--whole-archive", str(self.kl.core), "-Wl,--no-whole-archive", "-ldl", "-lm"],
                      out / "libo2c_cpu.so", "libo2c_cpu.so"))
        if accel_srcs:
            links.append((["-shared"] + [str(obj[s]) for s in accel_srcs] + ["-lm"], out / "libo2c_accel.so",
                          "libo2c_accel.so"))
        for s in app_srcs:
            links.append((["-shared", str(obj[s])], out / "apps" / f"{s.stem}.so", f"app {s.stem}"))
            links.append(([str(obj[s]), str(self.kl.inline), str(self.kl.core), "-ldl", "-lm"],
                          out / "apps" / s.stem, f"app {s.stem} (standalone)"))
        with cf.ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as ex:
            list(ex.map(lambda job: self._link(*job), links))
        shutil.rmtree(objs_dir)

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
import platform
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Iterable

from .errors import BuildError, O2CError

ARTIFACTS = ("lib", "exe", "app")

# The ML APIs of dash_ml.h (blocking names). An extended app carries an inline fallback for each
# form it calls (kernels/entry/app_fallback.cpp, one archive member per form): the runtime's own
# definition wins where it has one, so on a runtime without them the app degrades instead of failing.
ML_APIS = ("DASH_GEMM_RE_flt", "DASH_CONV_flt", "DASH_CONV_TRANSPOSE_flt", "DASH_POOL_flt",
           "DASH_BINARY_flt", "DASH_UNARY_flt", "DASH_SOFTMAX_flt", "DASH_QCONV_i8", "DASH_QGEMM_i8",
           "DASH_QCONV_i16", "DASH_QGEMM_i16", "DASH_BGEMM_b1", "DASH_BCONV_b1")
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


SANITIZERS = ("address", "undefined", "thread")


def parse_sanitize(spec) -> tuple[str, ...]:
    """The sanitizers of --sanitize / sanitize= ("address,undefined", a list, or None) as a sorted
    tuple; an unknown name, or address with thread (exclusive runtimes), is a one-line error."""
    if not spec:
        return ()
    names = spec.split(",") if isinstance(spec, str) else list(spec)
    names = [str(n).strip() for n in names if str(n).strip()]
    for n in names:
        if n not in SANITIZERS:
            raise O2CError(f"--sanitize: unknown sanitizer '{n}' (choose from {', '.join(SANITIZERS)})")
    if "address" in names and "thread" in names:
        raise O2CError("--sanitize: address and thread cannot be combined (build twice)")
    return tuple(sorted(set(names)))


def sanitize_flags(sanitize: Iterable[str]) -> list[str]:
    """Compile and link flags of an instrumented build (empty without sanitizers). Line tables
    (-g1) are all a report's stack needs; -O0 builds the kernel library about 1.8x faster than
    -O1 (the instrumented runs are short, and the sanitizers see the most at -O0)."""
    sanitize = tuple(sanitize)
    return [f"-fsanitize={','.join(sanitize)}", "-fno-omit-frame-pointer", "-g1", "-O0"] if sanitize else []


# What a sanitized program does on its first report: stop with a non-zero exit (UBSan with a stack).
SANITIZER_OPTIONS = {"ASAN_OPTIONS": "halt_on_error=1", "UBSAN_OPTIONS": "halt_on_error=1:print_stacktrace=1",
                     "TSAN_OPTIONS": "halt_on_error=1"}


def sanitizer_env(env=None) -> dict[str, str]:
    """env (default os.environ) with SANITIZER_OPTIONS put first in each variable: the user's own
    settings come after ours, and a sanitizer's last setting of an option wins."""
    env = dict(os.environ if env is None else env)
    for var, ours in SANITIZER_OPTIONS.items():
        env[var] = f"{ours}:{env[var]}" if env.get(var) else ours
    return env


def sanitizer_preload(cxx: str, sanitize: Iterable[str]) -> list[str]:
    """The sanitizer runtime a process that did not link it (Python loading an instrumented library
    with ctypes) must LD_PRELOAD: libasan or libtsan, none for UBSan alone."""
    sanitize = set(sanitize)
    name = "libasan.so" if "address" in sanitize else "libtsan.so" if "thread" in sanitize else None
    if name is None:
        return []
    try:
        r = subprocess.run(cxx.split() + [f"-print-file-name={name}"], capture_output=True, text=True)
    except OSError:
        raise BuildError(f"the C++ compiler '{cxx}' cannot be run") from None
    path = r.stdout.strip()
    if not os.path.isabs(path) or not os.path.exists(path):
        raise BuildError(f"the compiler '{cxx}' has no {name} (install its sanitizer runtime)")
    return [os.path.realpath(path)]


def compile_flags(native: bool = True, debug: bool = False, sanitize: Iterable[str] = ()) -> list[str]:
    flags = ["-std=c++20", "-fPIC", "-pthread"]
    if sanitize:
        flags += sanitize_flags(sanitize) + ["-DNDEBUG"]
    else:
        flags += ["-g0" if not debug else "-g"]
        flags += ["-O0"] if debug else ["-O3", "-DNDEBUG"]
    if native:
        flags.append("-march=native")
    return flags


# Cross targets: the Debian package of each one's toolchain and its generic architecture flags (no
# -march=native when cross: the build machine's CPU says nothing of the board's).
CROSS_TARGETS = {"aarch64-linux-gnu": ("g++-aarch64-linux-gnu", ["-march=armv8-a"])}


def host_triple() -> str:
    return f"{platform.machine()}-linux-gnu"


def _dumpmachine(cxx: str) -> str:
    try:
        r = subprocess.run(cxx.split() + ["-dumpmachine"], capture_output=True, text=True)
    except OSError:
        raise BuildError(f"the C++ compiler '{cxx}' cannot be run") from None
    return r.stdout.strip()


class Toolchain:
    """The compiler, flags and archiver one build uses: the host's (target None or the host's own
    triple) or a cross target's (CROSS_TARGETS). cxx overrides the compiler (a vendor toolchain's
    g++, flags allowed: "aarch64-xilinx-linux-g++ -mcpu=cortex-a53"); for a cross target $CXX is
    taken when it builds for that target; sysroot adds --sysroot to every compile and link."""

    def __init__(self, target: str | None = None, native: bool = True, cxx: str | None = None,
                 sysroot: str | os.PathLike | None = None):
        if target in (None, "", "host", host_triple()):
            target = None
        elif target not in CROSS_TARGETS:
            raise O2CError(f"unknown target '{target}' (choose from host, {', '.join(CROSS_TARGETS)})")
        if sysroot is not None and not Path(sysroot).is_dir():
            raise O2CError(f"--sysroot '{sysroot}': no such folder")
        self.target = target
        self.sysroot_path = str(Path(sysroot).resolve()) if sysroot is not None else None
        self.sysroot = [f"--sysroot={Path(sysroot).resolve()}"] if sysroot is not None else []
        if target is None:
            if cxx and shutil.which(cxx.split()[0]) is None:
                raise O2CError(f"the C++ compiler '{cxx}' was not found")
            self.cxx = cxx or find_compiler()
            self.arch = ["-march=native"] if native else []
        else:
            self.cxx = self._cross_compiler(target, cxx)
            self.arch = list(CROSS_TARGETS[target][1])
        self.triple = target or host_triple()
        self.ar = self._archiver()

    @property
    def cross(self) -> bool:
        return self.target is not None

    @staticmethod
    def _cross_compiler(target: str, cxx: str | None) -> str:
        package = CROSS_TARGETS[target][0]
        arch = target.split("-")[0]
        if cxx:
            if shutil.which(cxx.split()[0]) is None:
                raise O2CError(f"the C++ compiler '{cxx}' was not found")
            machine = _dumpmachine(cxx)
            if machine.split("-")[0] != arch:
                raise O2CError(f"the C++ compiler '{cxx}' builds for '{machine or '?'}', not {target}")
            return cxx
        env = os.environ.get("CXX")
        if env and shutil.which(env.split()[0]) and _dumpmachine(env).split("-")[0] == arch:
            return env
        for c in [f"{target}-g++"] + (["g++"] if platform.machine() == arch else []):
            if shutil.which(c):
                return c
        raise O2CError(f"no C++ compiler for {target}: install {package} (apt-get install {package}), "
                         f"or name a toolchain with --cxx or CXX")

    def _archiver(self) -> str:
        """The archiver beside the compiler (aarch64-linux-gnu-g++ -> aarch64-linux-gnu-ar), else ar."""
        exe = self.cxx.split()[0]
        for suffix in ("g++", "c++", "clang++"):
            if exe.endswith(suffix):
                cand = exe[: -len(suffix)] + "ar"
                if cand != "ar" and shutil.which(cand):
                    return cand
        return "ar"


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

    def __init__(self, native: bool = True, target: str | None = None, cxx: str | None = None,
                 sysroot: str | os.PathLike | None = None, sanitize=()):
        """sanitize: sanitizers to instrument with (parse_sanitize's forms); they are in the flags,
        and so in the cache key: instrumented and normal builds never mix."""
        self.tc = Toolchain(target, native, cxx, sysroot)
        self.cxx = self.tc.cxx
        self.sanitize = parse_sanitize(sanitize)
        if self.sanitize and self.tc.cross:
            raise O2CError("--sanitize builds for this machine only (not with --target)")
        self.flags = compile_flags(False, sanitize=self.sanitize) + self.tc.arch + self.tc.sysroot
        self.ldflags = list(self.tc.sysroot) + sanitize_flags(self.sanitize)
        self.src = kernels_dir()
        h = hashlib.blake2b(digest_size=12)
        h.update(_compiler_id(self.cxx).encode())
        h.update(" ".join(self.flags).encode())
        if self.tc.cross:
            h.update(self.tc.triple.encode())
        for f in sorted(self._all_files()):
            h.update(str(f.relative_to(self.src)).encode())
            h.update(f.read_bytes())
        self.key = h.hexdigest()
        # a cross target's builds live in their own folder: the caches never mix
        self.dir = cache_root() / "kernels" / (f"{self.tc.target}/{self.key}" if self.tc.cross else self.key)
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

        # largest sources first, so that no long compile starts last and runs alone
        order = sorted(jobs, key=lambda j: -j[0].stat().st_size) + fallbacks
        with cf.ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as ex:
            list(ex.map(cc, order))
        core = [o for s, o in jobs if s.parent.name != "entry" and s.name != "api_inline.cpp"]
        inline = [o for s, o in jobs if s.name == "api_inline.cpp"]
        ar = self.tc.ar
        _run([ar, "rcs", str(tmp / "libo2c_core.a")] + [str(o) for o in core], "archiving the kernels")
        _run([ar, "rcs", str(tmp / "libdash_inline.a")] + [str(o) for o in inline], "archiving the kernels")
        _run([ar, "rcs", str(tmp / "libdash_fallback.a")] + [str(f[1]) for f in fallbacks],
             "archiving the kernels")


def app_link_libs(kl: KernelLib, ml_fallbacks: bool = True) -> list[str]:
    """What a CEDR app links after its objects: the ML fallbacks it calls (exported, so that a runtime
    defining the same names interposes them), then the kernels (hidden: --exclude-libs)."""
    return ([str(kl.fallback)] if ml_fallbacks else []) + [str(kl.core), f"-Wl,--exclude-libs,{kl.core.name}", "-ldl"]


def artifact_names(sym: str) -> dict[str, str]:
    return {"lib": f"lib{sym}.so", "exe": sym, "app": f"{sym}-app.so"}


def build_model(src_dir: Path, sym: str, artifacts: Iterable[str] = ARTIFACTS, native: bool = True,
                ml_fallbacks: bool = True, kl: KernelLib | None = None) -> dict[str, Path]:
    """Compile src_dir/model.cpp and link the requested artifacts into src_dir. ml_fallbacks: the app
    carries inline fallbacks for the ML API forms it calls (else they stay undefined symbols); kl: the
    kernel library (and so the toolchain and target) to build with (default: the host's)."""
    artifacts = [a for a in ARTIFACTS if a in set(artifacts)]
    kl = (kl or KernelLib(native)).ensure()
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
            _run(kl.cxx.split() + ["-pthread"] + kl.ldflags + args + ["-o", str(tmp / out)], f"linking the {a} artifact")

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

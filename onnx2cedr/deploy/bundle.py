"""`onnx2cedr package OUT -o bundle.tar.gz`: everything a board needs to run a converted model, in one
archive written atomically.

<sym>-bundle/
  model/          the convert output (app .so, weights, model.json, executable, library, app_inputs/)
  runtime/        cedr-run, libo2c_cpu.so, libo2c_accel.so and apps/<name>.so (the bundled apps),
                  built for the folder's target (model.json "target") with its toolchain
  config.json     the board: CPUs + the accelerators named, their latency models as soc_demo.json's
  run.sh          runs the model app (beside any app named) on the bundled runtime; honours
                  CEDR_EMULATOR as a command prefix (e.g. "qemu-aarch64 -L /usr/aarch64-linux-gnu")
  README.txt      what is where, how to run it
  PUBLIC_CEDR.txt (an --api public conversion) how to run the app under the public CEDR daemon
"""
from __future__ import annotations

import dataclasses
import io
import json
import os
import tarfile
import tempfile
from pathlib import Path
from typing import Iterable, Sequence

from ..errors import O2CError
from ..runtime_build import RuntimeBuild, runtime_dir

DEFAULT_ACCELS = ("conv", "fft", "zip")  # the seed study's ZCU102 fabric: Conv2D, FFT and ZIP
DEFAULT_CPUS = 3                          # ... beside its 3 Cortex-A53 cores the runtime uses


def _soc_demo() -> dict:
    return json.loads((runtime_dir() / "configs" / "soc_demo.json").read_text())


# The accelerator PE types of the runtime (kernels/accel) and their latency models.
ACCELERATORS: dict = _soc_demo()["Accelerators"]


@dataclasses.dataclass
class PackageResult:
    path: Path
    bytes: int
    target: str
    members: list[str]


def parse_accels(text: str | Sequence[str] | None) -> tuple[str, ...]:
    """'conv,fft,zip' (or a sequence) -> the accelerator types, checked; '' or 'none' -> none."""
    if text is None:
        return DEFAULT_ACCELS
    names = [n.strip() for n in (text.split(",") if isinstance(text, str) else text) if n.strip()]
    if names == ["none"]:
        return ()
    bad = [n for n in names if n not in ACCELERATORS]
    if bad:
        raise O2CError(f"--accel: unknown accelerator '{bad[0]}' (choose from {', '.join(sorted(ACCELERATORS))}, "
                       f"or none)")
    return tuple(dict.fromkeys(names))


def board_config(accels: Iterable[str] = DEFAULT_ACCELS, cpus: int = DEFAULT_CPUS,
                 libraries: Sequence[str] = ("runtime/libo2c_cpu.so", "runtime/libo2c_accel.so")) -> dict:
    """The runtime config for a board: `cpus` CPU PEs and one PE per accelerator, each with
    soc_demo.json's latency model and features; the kernel libraries relative to the config's folder."""
    if isinstance(cpus, bool) or not isinstance(cpus, int) or not 1 <= cpus <= 64:
        raise O2CError(f"--cpus must be an integer from 1 to 64, got {cpus!r}")
    accels = parse_accels(list(accels))
    demo = _soc_demo()
    return {
        "Worker Threads": {"cpu": cpus, **{a: 1 for a in accels}},
        "Scheduler": demo["Scheduler"],
        "Random Seed": 0,
        "DASH Binary Paths": list(libraries),
        "Features": demo["Features"],
        "Accelerators": {a: ACCELERATORS[a] for a in accels},
    }


def _read_output(folder: Path) -> dict:
    folder = Path(folder)
    if not folder.is_dir():
        raise O2CError(f"'{folder}' is not a folder made by `onnx2cedr convert`")
    try:
        desc = json.loads((folder / "model.json").read_text())
        sym, arts = desc["symbol"], desc["artifacts"]
    except (OSError, ValueError, KeyError, TypeError):
        raise O2CError(f"'{folder}' is not a folder made by `onnx2cedr convert` (no readable model.json)") from None
    if "app" not in arts:
        raise O2CError(f"'{folder}' was converted without the app artifact (convert with --artifact app)")
    missing = [n for n in list(arts.values()) + [desc.get("weights_file", f"{sym}.weights")]
               if not (folder / n).is_file()]
    if missing:
        raise O2CError(f"'{folder}' is incomplete: {missing[0]} is missing (convert it again)")
    return desc


RUN_SH = r"""#!/bin/sh
# Run {name} on the bundled CEDR-compatible runtime (built for {target}).
#   ./run.sh [APP[:INSTANCES[:PERIOD_US]] ...]
# APP is "model" (this bundle's app; it runs once when not named), a bundled app ({apps})
# or the path of a CEDR app .so, e.g.  ./run.sh model:4:0 pulse_doppler:4:1000
# Environment:
#   CEDR_EMULATOR  a command prefix for the runtime, e.g. "qemu-aarch64 -L /usr/aarch64-linux-gnu"
#                  to run an aarch64 bundle on an x86 machine
#   CEDR_LOG_DIR   the log folder (default: logs/ here): CEDR's traces, summary.json, app_output/
#   CEDR_CONFIG    another runtime config (default: config.json here; it names the kernel libraries)
#   CEDR_ARGS      more cedr-run options, e.g. "--scheduler HEFT_RT --seed 1"
# Each model instance writes model/app_outputs/instance_<n>/output_<k>.npy from model/app_inputs/.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
log=${{CEDR_LOG_DIR:-$here/logs}}
cfg=${{CEDR_CONFIG:-$here/config.json}}
model_named=0
n=$#
i=0
while [ "$i" -lt "$n" ]; do
  spec=$1
  shift
  name=${{spec%%:*}}
  rest=${{spec#"$name"}}
  case $name in
    model) spec="$here/model/{app}$rest"; model_named=1 ;;
    */*|*.so) ;;
    *)
      if [ -f "$here/runtime/apps/$name.so" ]; then
        spec="$here/runtime/apps/$name.so$rest"
      else
        echo "run.sh: error: unknown app '$name' (model, {apps} or a path to an app .so)" >&2
        exit 2
      fi ;;
  esac
  set -- "$@" "$spec"
  i=$((i + 1))
done
[ "$model_named" = 1 ] || set -- "$here/model/{app}:1:0" "$@"
mkdir -p "$log"
# CEDR_EMULATOR and CEDR_ARGS are split into words on purpose
exec ${{CEDR_EMULATOR:-}} "$here/runtime/cedr-run" --config "$cfg" --log-dir "$log" \
  --app-output "$log/app_output" ${{CEDR_ARGS:-}} "$@"
"""

README = """{name}: a model converted by {generator} for {target}, with the runtime to run it.

  ./run.sh                              the model app once, on config.json's PEs
  ./run.sh model:8:500 pulse_doppler:4:1000
                                        8 instances every 500 us beside 4 pulse_doppler instances
  CEDR_EMULATOR="qemu-aarch64 -L /usr/aarch64-linux-gnu" ./run.sh    the same on an x86 machine
  model/{exe} model/app_inputs/input_0.npy -o out/
                                        the standalone executable (one inference, out/output_0.npy)

model/       the convert output: {app} (the CEDR app), {weights} (memory-mapped), model.json
             (layers, placements, inputs and outputs), {exe} (standalone), {lib} (C ABI)
runtime/     cedr-run (the CEDR-compatible runtime), libo2c_cpu.so and libo2c_accel.so (the CPU and
             accelerator kernel libraries), apps/ (bundled apps: {apps})
config.json  the board: {pes} (scheduler {sched}); edit "Worker Threads" to change them
run.sh       the command above; logs go to logs/ (CEDR_LOG_DIR), model outputs to
             model/app_outputs/instance_<n>/output_<k>.npy; app inputs are model/app_inputs/input_<k>.npy
"""

PUBLIC_NOTE = """{name} was converted with --api public: its app calls only the public CEDR release's APIs
({apis}), the other layers run inline in the app. It runs under the bundled runtime (run.sh) and
under the public CEDR daemon:

1. Build the public release for the board (github.com/UA-RCL/CEDR), cross-compiled from its checkout:
     cmake -B build-arm --toolchain=toolchains/aarch64-linux-gnu.toolchain.cmake && cmake --build build-arm -j
   and copy build-arm/ (cedr, sub_dag, kill_daemon, libdash-rt/) and daemon_config.json to the board.
2. On the board, from that build folder (the daemon opens ./libdash-rt/libdash-rt.so):
     ./cedr -c ../daemon_config.json &
     ./sub_dag -a $PWD/../{bundle}/model/{app} -n 1 -p 0
     ./kill_daemon                     # when its instances are done
   Its "Worker Threads" (cpu, fft, gemm, zip) choose the PEs; the bundled config.json does not apply.
3. Each instance reads model/app_inputs/input_<k>.npy and writes model/app_outputs/instance_<n>/
   output_<k>.npy (set O2C_APP_OUTPUTS to put them elsewhere), as under run.sh.
See docs/api_public.md and docs/deploy.md of onnx2cedr.
"""


def _text_member(tar: tarfile.TarFile, name: str, text: str, mode: int = 0o644) -> None:
    data = text.encode()
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = mode
    tar.addfile(info, io.BytesIO(data))


def _no_run_outputs(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
    parts = Path(info.name).parts
    if "app_outputs" in parts or any(p.startswith(".") for p in parts):
        return None
    if info.isdir():
        info.mode = 0o755  # convert's folder is made private (mkdtemp); the board's user needs it
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def package(folder: str | os.PathLike, output: str | os.PathLike, accels: Iterable[str] | str | None = None,
            cpus: int = DEFAULT_CPUS, cxx: str | None = None, sysroot: str | os.PathLike | None = None,
            rb: RuntimeBuild | None = None) -> PackageResult:
    """Write the bundle of a convert output folder to `output` (a .tar.gz, replaced atomically).
    accels: accelerator PE types for config.json (default conv, fft, zip); cxx, sysroot: the toolchain
    that builds the runtime (default: the one the folder was built with, from model.json)."""
    folder = Path(folder)
    desc = _read_output(folder)
    accels = parse_accels(accels)
    config = board_config(accels, cpus)
    output = Path(output)
    if output.is_dir():
        raise O2CError(f"output '{output}' is a folder; name the archive, e.g. {output}/bundle.tar.gz")
    cross = bool(desc.get("cross_built"))
    target = desc.get("target") or "the build machine"
    if rb is None:
        tc = desc.get("toolchain") or {}
        rb = RuntimeBuild(target=desc["target"] if cross else None, cxx=cxx or (tc.get("cxx") if cross else None),
                          sysroot=sysroot or tc.get("sysroot"))
    rb.ensure()
    sym = desc["symbol"]
    arts = desc["artifacts"]
    top = f"{sym}-bundle"
    apps = rb.app_names()
    fmt = dict(name=desc.get("name", sym), target=target, apps=", ".join(apps), app=arts["app"],
               exe=arts.get("exe", "(not built)"), lib=arts.get("lib", "(not built)"),
               weights=desc.get("weights_file", f"{sym}.weights"), generator=desc.get("generator", "onnx2cedr"),
               sched=config["Scheduler"], bundle=top,
               pes=", ".join(f"{n} {k}" for k, n in config["Worker Threads"].items()),
               apis=", ".join(desc.get("apis", [])) or "none")
    output.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{output.name}.", dir=output.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as f, tarfile.open(fileobj=f, mode="w:gz") as tar:
            tar.add(folder, arcname=f"{top}/model", filter=_no_run_outputs)
            for p in (rb.cedr_run, rb.cpu_lib, rb.accel_lib):
                tar.add(p, arcname=f"{top}/runtime/{p.name}")
            for a in apps:
                tar.add(rb.app_so(a), arcname=f"{top}/runtime/apps/{a}.so")
            _text_member(tar, f"{top}/config.json", json.dumps(config, indent=1) + "\n")
            _text_member(tar, f"{top}/run.sh", RUN_SH.format(**fmt), 0o755)
            _text_member(tar, f"{top}/README.txt", README.format(**fmt))
            if desc.get("api") == "public":
                _text_member(tar, f"{top}/PUBLIC_CEDR.txt", PUBLIC_NOTE.format(**fmt))
            members = tar.getnames()
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # as an ordinary new file (mkstemp's is private)
        os.replace(tmp, output)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return PackageResult(output, output.stat().st_size, target, members)

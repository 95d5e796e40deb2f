"""The NEON kernels' speed against the portable code, as guest instructions executed under qemu-aarch64
(no aarch64 board at hand), for the table of docs/deploy.md's NEON section.

    .venv/bin/python bench/neon_icount.py                    # every kernel class
    .venv/bin/python bench/neon_icount.py --classes dw3x3_s1,sigmoid

bench/neon_icount.cpp calls one kernel class of libo2c_core REPS times. It is linked statically for
aarch64 twice, in the same run: with the aarch64 kernel library of the compile cache (its NEON paths),
and with the kernel files that have NEON paths recompiled -DO2C_NO_NEON and linked ahead of the library
(the portable code). Each program runs under `qemu-aarch64 -d in_asm,exec,nochain`: every translated
block is logged once with its instructions, and every execution of a block once (nochain: no block jumps
to the next without the log seeing it), so the executed instructions are the sum over executions of the
block's length. Debian's qemu-user ships no TCG plugins (libinsn.so), hence the log. The count per
call is the difference between 3 calls and 1 call, halved: set-up, start-up and first-call costs drop
out. The ratio is portable / NEON instructions per call; it counts instructions, not cycles (a NEON
instruction does 4 lanes of work, and a real core's cycles per instruction differ between the two), and
wall time under qemu says nothing (qemu runs vector instructions through helper calls). The script
prints figures; it asserts nothing, except that both builds print the same checksum for the classes
whose NEON path gives the portable code's bits.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from onnx2cedr.build import KernelLib  # noqa: E402

TARGET = "aarch64-linux-gnu"
SRC = ROOT / "bench" / "neon_icount.cpp"
# the kernel files with NEON paths (internal.h's exp/sigmoid/tanh are inline in eltwise and softmax)
NEON_FILES = ["gemm", "conv_direct", "conv_lanes", "conv_depthwise", "pool", "eltwise", "softmax"]
# classes through polynomial exp/tanh on NEON and the C library's on the portable path (not bit-equal)
INEXACT = {"sigmoid", "tanh", "swish", "gelu_tanh", "softmax_1000"}
WHAT = {  # what each class runs (the size of one call)
    "gemm_128": "o2c_gemm 128x128x128, bias, Relu",
    "conv3x3_direct": "conv 16->16, 32x32, 3x3 pad 1 (direct path)",
    "conv3x3_lanes": "conv 64->64, 8x8, 3x3 pad 1, packed (lanes path)",
    "dw3x3_s1": "depthwise 32 ch, 32x32, 3x3 s1",
    "dw3x3_s2": "depthwise 32 ch, 32x32, 3x3 s2",
    "dw5x5_s1": "depthwise 32 ch, 32x32, 5x5 s1",
    "maxpool2x2_s2": "MaxPool 2x2/2, 32 ch 32x32",
    "avgpool2x2_s2": "AveragePool 2x2/2, 32 ch 32x32",
    "maxpool3x3_s1_7x7": "MaxPool 3x3/1, 256 ch 7x7",
    "add": "Add, 32x1024 + 32x1024",
    "add_relu": "Add + Relu, 32x1024",
    "mul_per_channel": "Mul by a per-row value, 32x1024",
    "sigmoid": "Sigmoid, 16384 values",
    "tanh": "Tanh, 16384 values",
    "swish": "Swish (SiLU), 16384 values",
    "gelu_tanh": "Gelu (tanh form), 16384 values",
    "softmax_1000": "Softmax, 16 rows of 1000",
}


def fail(msg: str) -> None:
    print(f"error: neon_icount: {msg}", file=sys.stderr)
    sys.exit(2)


def run(cmd: list[str], what: str) -> str:
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        fail(f"{what} failed: {' '.join(cmd)}\n{r.stderr[-3000:]}")
    return r.stdout


def build(work: Path) -> dict[str, Path]:
    """The two static programs: NEON (the library as built) and portable (NEON files -DO2C_NO_NEON)."""
    kl = KernelLib(target=TARGET).ensure()
    cc = kl.cxx.split() + kl.flags + ["-I", str(kl.include)]
    run(cc + ["-c", str(SRC), "-o", str(work / "main.o")], "compiling neon_icount.cpp")
    objs = []
    for f in NEON_FILES:
        obj = work / f"{f}_portable.o"
        run(cc + ["-DO2C_NO_NEON", "-c", str(kl.src / "src" / "cpu" / f"{f}.cpp"), "-o", str(obj)],
            f"compiling {f}.cpp -DO2C_NO_NEON")
        objs.append(str(obj))
    exes = {}
    for name, extra in (("neon", []), ("portable", objs)):
        exe = work / f"icount_{name}"
        run(kl.cxx.split() + ["-static", "-pthread", str(work / "main.o")] + extra + [str(kl.core), "-o", str(exe)],
            f"linking the {name} program")
        exes[name] = exe
    return exes


def count(exe: Path, cls: str, reps: int, work: Path) -> tuple[int, str]:
    """Guest instructions executed by one run, streamed from qemu's log through a FIFO."""
    fifo = work / f"log_{os.getpid()}"
    if fifo.exists():
        fifo.unlink()
    os.mkfifo(fifo)
    proc = subprocess.Popen(["qemu-aarch64", "-d", "in_asm,exec,nochain", "-D", str(fifo), str(exe), cls, str(reps)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out: dict[str, str] = {}
    reader = threading.Thread(target=lambda: out.update(zip(("stdout", "stderr"), proc.communicate())))
    reader.start()
    total = 0
    length: dict[int, int] = {}
    with open(fifo, "r", errors="replace") as log:
        block_pc, n = None, 0
        for line in log:
            if line.startswith("Trace "):
                # Trace 0: 0x... [cs_base/pc/flags/cflags] symbol
                total += length.get(int(line.split("[", 1)[1].split("/", 2)[1], 16), 0)
            elif line.startswith("0x"):
                if block_pc is None:
                    block_pc = int(line.split(":", 1)[0], 16)
                n += 1
            elif line.startswith("IN:") or line.startswith("---"):
                block_pc, n = None, 0
            elif not line.strip() and block_pc is not None:
                length[block_pc] = n
                block_pc, n = None, 0
    reader.join()
    fifo.unlink()
    if proc.returncode != 0:
        fail(f"{exe.name} {cls} {reps} exited with {proc.returncode}: {out.get('stderr', '')[-2000:]}")
    return total, out.get("stdout", "").strip()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--classes", help="comma-separated kernel classes (default: all)")
    args = ap.parse_args()
    classes = list(WHAT)
    if args.classes:
        classes = [c.strip() for c in args.classes.split(",") if c.strip()]
        bad = [c for c in classes if c not in WHAT]
        if bad:
            fail(f"unknown class '{bad[0]}' (choose from {', '.join(WHAT)})")
    for tool in ("qemu-aarch64", "aarch64-linux-gnu-g++"):
        if not any((Path(p) / tool).exists() for p in os.environ.get("PATH", "").split(os.pathsep)):
            fail(f"{tool} not found (bash scripts/setup.sh --aarch64)")
    with tempfile.TemporaryDirectory(prefix="neon_icount_") as tmp:
        work = Path(tmp)
        exes = build(work)
        print(f"| kernel class | one call | portable instr. | NEON instr. | ratio |")
        print(f"|---|---|---|---|---|")
        for cls in classes:
            per, sums = {}, {}
            for name, exe in exes.items():
                c1, s1 = count(exe, cls, 1, work)
                c3, _ = count(exe, cls, 3, work)
                per[name], sums[name] = (c3 - c1) // 2, s1
            if cls not in INEXACT and sums["neon"] != sums["portable"]:
                fail(f"{cls}: the NEON and portable checksums differ ({sums['neon']} vs {sums['portable']})")
            ratio = per["portable"] / per["neon"] if per["neon"] else float("nan")
            print(f"| {cls} | {WHAT[cls]} | {per['portable']:,} | {per['neon']:,} | {ratio:.2f}x |", flush=True)


if __name__ == "__main__":
    main()

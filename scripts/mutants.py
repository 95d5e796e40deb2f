#!/usr/bin/env python
"""Mutants of the bundled models through `inspect` and `convert`: every one must end cleanly.

    .venv/bin/python scripts/mutants.py [--seed 0] [--inspect 10000] [--convert 500] [--jobs 2]
                                        [--zoo DIR] [--save mutants-failed] [--kind KIND ...]
                                        [--first K] [--deep-max 50000] [--json rows.jsonl]
    .venv/bin/python scripts/mutants.py --table rows.jsonl [more.jsonl ...]   # the table of saved rows

From the seed, deterministically, mutant k (k = 0, 1, ...) takes mutation kind KINDS[k % len(KINDS)]
and a base model (LeNet-5 of models/demo, two small hand-made models, one of them with its weights
in external data, and the .onnx files of --zoo DIR, e.g. made by `python -m models.export --out DIR`)
and writes the mutated model into its own folder. The first --inspect mutants go through
`onnx2cedr inspect`, the first --convert through `onnx2cedr convert -o OUT` (--first K starts both
at mutant K, to split a run).

A clean end is exit 0 (the mutant is still a valid model; convert made OUT/model.json), or exit 2
with exactly one stderr line starting with 'error: ', no traceback, and (convert) neither OUT nor a
temporary folder beside it left behind. Anything else is unclean: an exception that escaped (a
traceback), another exit code, more than one stderr line, a leftover folder, a crash or a memory-cap
hit of the worker, or the time bound. Unclean mutants are named, copied to --save DIR (one folder
each: the model, its data file, why.txt) and make the exit status 1.

Mutants run in-process in worker subprocesses (the CLI's entry point, SystemExit caught, stderr
captured at the file-descriptor level) under an address-space cap (--mem-gib, setrlimit); a worker
that dies or exceeds the time bound (--timeout; deep graphs get --deep-timeout) is replaced.
"""
from __future__ import annotations

import argparse
import collections
import contextlib
import io
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LENET = ROOT / "models" / "demo" / "lenet5_digits.onnx"

KINDS = ("truncate", "corrupt_bytes", "cycle", "dangling_input", "hostile_names", "bad_attribute",
         "drop_initializer", "bad_opset", "huge_shape", "absurd_attribute", "deep_graph",
         "external_claim", "bad_dtype")
DEEP_MAX = 50_000  # the deepest chain of Relu; built for one deep_graph mutant in 100
HOSTILE = ['x"; system("rm -rf /"); //', "../../etc/passwd", "*/ #error", "a\\", "\u202egnp.exe", "名前 テンソル",
           "\x00nul", "${HOME}", " ", "line\nbreak", "??=", "9lives", "%s%n%x", "a" * 4096, "__output_0", "arena",
           "inputs", "w", "kModelId", ""]


# ---------------------------------------------------------------------------------------------- bases

def _base_models(work: Path, zoo: Path | None) -> list[Path]:
    """The models mutants start from (written into work/bases)."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    bases = [LENET]
    d = work / "bases"
    d.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    H = helper.make_node
    # a small MLP whose weights live in external data (weights.bin beside it)
    w1 = numpy_helper.from_array(rng.standard_normal((16, 96)).astype(np.float32), "w1")
    b1 = numpy_helper.from_array(rng.standard_normal(96).astype(np.float32), "b1")
    w2 = numpy_helper.from_array(rng.standard_normal((96, 10)).astype(np.float32), "w2")
    g = helper.make_graph([H("MatMul", ["x", "w1"], ["h"], name="mm"), H("Add", ["h", "b1"], ["hb"], name="add"),
                           H("Relu", ["hb"], ["r"], name="relu"), H("MatMul", ["r", "w2"], ["y"], name="mm2"),
                           H("Softmax", ["y"], ["p"], name="softmax", axis=-1)], "mlp",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 16])],
                          [helper.make_tensor_value_info("p", TensorProto.FLOAT, [2, 10])], [w1, b1, w2])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 10
    mlp = d / "mlp_ext" / "mlp_ext.onnx"
    mlp.parent.mkdir(exist_ok=True)
    onnx.save(m, str(mlp), save_as_external_data=True, all_tensors_to_one_file=True, location="weights.bin",
              size_threshold=0)
    bases.append(mlp)
    # a small convolutional net with the attributes the absurd_attribute mutants go for
    cw = numpy_helper.from_array(rng.standard_normal((4, 3, 3, 3)).astype(np.float32), "cw")
    shp = numpy_helper.from_array(np.array([1, -1], np.int64), "shp")
    gw = numpy_helper.from_array(rng.standard_normal((4 * 4 * 4, 5)).astype(np.float32), "gw")
    g = helper.make_graph([
        H("Conv", ["x", "cw"], ["c"], name="conv", kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[1, 1],
          dilations=[1, 1], group=1),
        H("MaxPool", ["c"], ["mp"], name="pool", kernel_shape=[2, 2], strides=[2, 2]),
        H("Transpose", ["mp"], ["t"], name="transpose", perm=[0, 1, 3, 2]),
        H("Reshape", ["t", "shp"], ["f"], name="reshape"),
        H("Gemm", ["f", "gw"], ["z"], name="gemm", transB=0, alpha=1.0),
        H("Concat", ["z", "z"], ["cc"], name="concat", axis=1),
        H("Softmax", ["cc"], ["y"], name="softmax", axis=1)], "convnet",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])], [cw, shp, gw])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    conv = d / "convnet.onnx"
    onnx.save(m, str(conv))
    bases.append(conv)
    if zoo is not None:
        bases += sorted(Path(zoo).glob("*.onnx"))
    return bases


# ---------------------------------------------------------------------------------------------- mutations

def _load(path: Path):
    import onnx

    return onnx.load(str(path), load_external_data=False)


def _save(m, dest: Path) -> Path:
    p = dest / "model.onnx"
    p.write_bytes(m.SerializeToString())
    return p


def _bytes_mutant(rng, base: Path, dest: Path, kind: str) -> Path:
    data = bytearray(base.read_bytes())
    if kind == "truncate":
        data = data[:int(rng.integers(0, len(data)))]
    else:
        for _ in range(int(rng.integers(1, 9))):
            at = int(rng.integers(0, len(data)))
            data[at] ^= int(rng.integers(1, 256))
    p = dest / "model.onnx"
    p.write_bytes(bytes(data))
    return p


def _node_tensors(m) -> list[str]:
    return [t for n in m.graph.node for t in list(n.input) + list(n.output) if t]


def _rename_everywhere(m, old: str, new: str) -> None:
    g = m.graph
    for n in g.node:
        n.input[:] = [new if x == old else x for x in n.input]
        n.output[:] = [new if x == old else x for x in n.output]
    for coll in (g.input, g.output, g.value_info):
        for vi in coll:
            if vi.name == old:
                vi.name = new
    for t in g.initializer:
        if t.name == old:
            t.name = new


def _mutate(rng, kind: str, m, base: Path, dest: Path, index: int, deep_max: int = DEEP_MAX) -> None:
    """Mutate the proto m in place (kinds that edit the graph)."""
    import numpy as np
    from onnx import AttributeProto, TensorProto, helper

    g = m.graph
    nodes = list(g.node)
    pick = lambda seq: seq[int(rng.integers(0, len(seq)))]  # noqa: E731
    if kind == "cycle":
        i = int(rng.integers(0, len(nodes)))
        j = int(rng.integers(i, len(nodes)))
        if nodes[i].input:
            nodes[i].input[int(rng.integers(0, len(nodes[i].input)))] = pick([o for o in nodes[j].output if o] or ["x"])
    elif kind == "dangling_input":
        n = pick(nodes)
        if n.input:
            n.input[int(rng.integers(0, len(n.input)))] = f"missing_{int(rng.integers(0, 1 << 30))}"
        else:
            n.input.append("missing")
    elif kind == "hostile_names":
        name = pick(HOSTILE)
        how = int(rng.integers(0, 4))
        if how == 0:
            pick(nodes).name = name
        elif how == 1:
            _rename_everywhere(m, pick(_node_tensors(m)), name)
        elif how == 2:
            g.name = name
        else:  # one occurrence only: a dangling or duplicated name
            n = pick(nodes)
            (n.output if rng.integers(0, 2) else n.input)[0] = name
    elif kind == "bad_attribute":
        n = pick([n for n in nodes if n.attribute] or nodes)
        how = int(rng.integers(0, 5))
        if how == 0 or not n.attribute:
            n.attribute.append(helper.make_attribute("bogus_" + str(int(rng.integers(0, 99))), 1))
        elif how == 1:
            del n.attribute[int(rng.integers(0, len(n.attribute)))]
        elif how == 2:  # the same name, another type
            a = pick(list(n.attribute))
            name = a.name
            n.attribute.remove(a)
            n.attribute.append(pick([helper.make_attribute(name, "text"), helper.make_attribute(name, 2.5),
                                     helper.make_attribute(name, [1, 2, 3, 4, 5, 6, 7]),
                                     helper.make_attribute(name, [0.5, 0.25])]))
        elif how == 3:  # a list of the wrong length
            a = pick(list(n.attribute))
            if a.type == AttributeProto.INTS:
                a.ints.append(1)
            else:
                a.ints.extend([1, 1, 1])
                a.type = AttributeProto.INTS
        else:  # duplicated attribute
            n.attribute.append(pick(list(n.attribute)))
    elif kind == "drop_initializer":
        if g.initializer:
            k = int(rng.integers(0, len(g.initializer)))
            name = g.initializer[k].name
            del g.initializer[k]
            if rng.integers(0, 2):  # also from the inputs, when listed there
                keep = [vi for vi in g.input if vi.name != name]
                del g.input[:]
                g.input.extend(keep)
    elif kind == "bad_opset":
        how = int(rng.integers(0, 4))
        if how == 0:
            for imp in m.opset_import:
                if imp.domain in ("", "ai.onnx"):
                    imp.version = int(pick([0, 1, 3, 6, 7, 22, 25, 26, 99, 1 << 40, -1]))
        elif how == 1:
            del m.opset_import[:]
            m.opset_import.append(helper.make_opsetid("com.example", 1))
        elif how == 2:
            m.ir_version = int(pick([0, 1, 2, 3, 11, 99, -5]))
        else:
            pick(nodes).domain = pick(["com.microsoft", "ai.onnx.ml", "evil.domain", "ai.onnx"])
    elif kind == "huge_shape":
        how = int(rng.integers(0, 3))
        if how == 0 or not g.initializer:
            vi = pick([vi for vi in g.input if vi.name not in {t.name for t in g.initializer}] or list(g.input))
            dims = vi.type.tensor_type.shape.dim
            if dims:
                dims[int(rng.integers(0, len(dims)))].dim_value = int(pick([10 ** 12, 10 ** 9, 1 << 62, 1 << 31]))
        elif how == 1:  # an initializer claiming a huge shape (its data unchanged)
            t = pick(list(g.initializer))
            if t.dims:
                t.dims[0] = 10 ** 12
            else:
                t.dims.append(10 ** 12)
        else:  # a declared graph output shape
            vi = pick(list(g.output))
            if vi.type.tensor_type.HasField("shape") and vi.type.tensor_type.shape.dim:
                vi.type.tensor_type.shape.dim[0].dim_value = 10 ** 12
    elif kind == "absurd_attribute":
        n = pick(nodes)
        choices = [("kernel_shape", [10 ** 9, 10 ** 9]), ("pads", [-5, -5, -5, -5]), ("strides", [0, 0]),
                   ("dilations", [0, 0]), ("group", 0), ("group", 10 ** 9), ("axis", 10 ** 6), ("axis", -(10 ** 6)),
                   ("perm", [3, 3, 0, 9]), ("transB", 7), ("alpha", float("nan")), ("alpha", float("inf")),
                   ("kernel_shape", [0, 0]), ("pads", [10 ** 9, 10 ** 9, 10 ** 9, 10 ** 9]), ("strides", [-1, -1]),
                   ("ceil_mode", 5), ("epsilon", -1.0)]
        name, value = pick(choices)
        if rng.integers(0, 4) == 0:  # a Reshape target of absurd size
            for t in g.initializer:
                if t.data_type == TensorProto.INT64 and len(t.dims) == 1:
                    from onnx import numpy_helper
                    arr = np.array(pick([[10 ** 12, -1], [-2, 7], [0, 0, 0], [1 << 62, 4]]), np.int64)
                    t.CopyFrom(numpy_helper.from_array(arr, t.name))
                    return
        keep = [a for a in n.attribute if a.name != name]
        del n.attribute[:]
        n.attribute.extend(keep)
        n.attribute.append(helper.make_attribute(name, value))
    elif kind == "deep_graph":
        depth = deep_max if (index // len(KINDS)) % 100 == 0 else int(pick([10, 100, 1000, 3000]))
        out = g.output[0]
        prev = out.name
        chain = []
        for k in range(depth):
            nxt = f"deep_{k}"
            chain.append(helper.make_node("Relu", [prev], [nxt], name=f"deep_relu_{k}"))
            prev = nxt
        g.node.extend(chain)
        out.name = prev
    elif kind == "bad_dtype":
        how = int(rng.integers(0, 3))
        if how == 0:
            vi = pick(list(g.input))
            vi.type.tensor_type.elem_type = int(rng.integers(0, 26))
        elif how == 1 and g.initializer:
            t = pick(list(g.initializer))
            t.data_type = int(pick([0, 2, 3, 8, 9, 10, 16, 17, 23, 99]))
        elif g.initializer:  # dims that do not match the data
            t = pick(list(g.initializer))
            t.dims[:] = [int(d) + 1 for d in t.dims] or [3]
    elif kind == "external_claim":
        _external_claim(rng, m, base, dest)
    else:
        raise ValueError(kind)


def _external_claim(rng, m, base: Path, dest: Path) -> None:
    """Initializers whose external_data claims are absurd or point past their file."""
    import numpy as np
    from onnx import TensorProto

    g = m.graph
    ext = [t for t in g.initializer if t.data_location == TensorProto.EXTERNAL]
    if ext:
        t = ext[int(rng.integers(0, len(ext)))]
    elif g.initializer:  # make one external, with its data in a file beside the mutant
        t = g.initializer[int(rng.integers(0, len(g.initializer)))]
        from onnx import numpy_helper
        arr = numpy_helper.to_array(t)
        (dest / "weights.bin").write_bytes(np.ascontiguousarray(arr).astype(arr.dtype.newbyteorder("<")).tobytes())
        t.ClearField("raw_data")
        for f in ("float_data", "int32_data", "int64_data", "double_data", "uint64_data", "string_data"):
            t.ClearField(f)
        t.data_location = TensorProto.EXTERNAL
        del t.external_data[:]
        for k, v in (("location", "weights.bin"), ("offset", "0"), ("length", str(arr.nbytes))):
            t.external_data.add(key=k, value=v)
    else:
        return
    info = {e.key: e.value for e in t.external_data}
    claims = [("length", str(10 ** 15)), ("offset", str(10 ** 15)), ("offset", "-4096"), ("length", "-1"),
              ("length", "abc"), ("offset", "1e3"), ("location", "missing.bin"), ("location", "../outside.bin"),
              ("location", "/etc/passwd"), ("location", "w\x00.bin"), ("location", ""), ("dims", 10 ** 12),
              ("dims", 2)]
    key, value = claims[int(rng.integers(0, len(claims)))]
    if key == "dims":
        if t.dims:
            t.dims[0] = int(t.dims[0]) * value if value == 2 else value
        else:
            t.dims.append(value)
        return
    info[key] = value
    del t.external_data[:]
    for k, v in info.items():
        t.external_data.add(key=k, value=v)


def make_mutant(seed: int, index: int, bases: list[Path], dest: Path, deep_max: int = DEEP_MAX) -> tuple[str, str, Path]:
    """Mutant `index` of the run with `seed`, written into dest: (kind, base name, model path)."""
    import numpy as np

    kind = KINDS[index % len(KINDS)]
    rng = np.random.default_rng([seed, index])
    base = bases[int(rng.integers(0, len(bases)))]
    if kind == "external_claim" and rng.integers(0, 2):
        base = next((b for b in bases if b.parent.name == "mlp_ext"), base)
    dest.mkdir(parents=True, exist_ok=True)
    for f in base.parent.glob("*.bin"):  # external data travels with its model
        shutil.copy2(f, dest / f.name)
    if kind in ("truncate", "corrupt_bytes"):
        return kind, base.stem, _bytes_mutant(rng, base, dest, kind)
    m = _load(base)
    _mutate(rng, kind, m, base, dest, index, deep_max)
    return kind, base.stem, _save(m, dest)


# ---------------------------------------------------------------------------------------------- worker

def _worker(mem_gib: float) -> None:
    """Run CLI invocations read as JSON lines from stdin; answer each on the saved stdout."""
    import resource

    cap = int(mem_gib * (1 << 30))
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    proto_out = os.fdopen(os.dup(1), "w", buffering=1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    sys.path.insert(0, str(ROOT))
    from onnx2cedr import cli  # noqa: F401  (imported once: every run after is in-process)

    for line in sys.stdin:
        job = json.loads(line)
        proto_out.write(json.dumps(_run_cli(job["argv"])) + "\n")


def _run_cli(argv: list[str]) -> dict:
    """One CLI invocation in this process: its exit code and stderr (Python- and C-level)."""
    from onnx2cedr import cli

    err_file = tempfile.TemporaryFile(mode="w+b")
    saved = os.dup(2)
    py_err, py_out = io.StringIO(), io.StringIO()
    code, tb = None, ""
    os.dup2(err_file.fileno(), 2)
    old_argv = sys.argv
    try:
        sys.argv = ["onnx2cedr", *argv]
        with warnings.catch_warnings(record=True) as caught, contextlib.redirect_stderr(py_err), \
                contextlib.redirect_stdout(py_out):
            warnings.simplefilter("always")
            try:
                cli.main()
                code = 0
            except SystemExit as e:
                code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
            except BaseException:  # noqa: BLE001  an escaped exception: what a user would see as a traceback
                tb = traceback.format_exc()
                code = 1
        # warnings a fresh process would print, once each
        seen = set()
        for w in caught:
            key = (str(w.message), w.category, w.filename, w.lineno)
            if key not in seen:
                seen.add(key)
                py_err.write(warnings.formatwarning(w.message, w.category, w.filename, w.lineno))
    finally:
        sys.argv = old_argv
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
    err_file.seek(0)
    c_err = err_file.read().decode(errors="replace")
    err_file.close()
    return {"code": code, "stderr": c_err + py_err.getvalue() + tb, "traceback": bool(tb)}


class Worker:
    def __init__(self, mem_gib: float):
        self.mem_gib = mem_gib
        self.proc = None

    def start(self) -> None:
        self.proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--worker",
                                      "--mem-gib", str(self.mem_gib)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=str(ROOT))

    def run(self, argv: list[str], timeout: float) -> dict:
        if self.proc is None or self.proc.poll() is not None:
            self.start()
        self.proc.stdin.write(json.dumps({"argv": argv}) + "\n")
        self.proc.stdin.flush()
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            self.kill()
            return {"code": None, "stderr": "", "traceback": False, "end": "timeout"}
        line = self.proc.stdout.readline()
        if not line:  # the worker died: a crash, or the memory cap (MemoryError outside the run)
            rc = self.proc.wait()
            self.proc = None
            return {"code": None, "stderr": "", "traceback": False, "end": f"crash (worker exit {rc})"}
        return json.loads(line)

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


# ---------------------------------------------------------------------------------------------- judging

def judge(res: dict, out: Path | None) -> str:
    """'valid' (exit 0), 'refused' (exit 2, one line), or what made the end unclean."""
    if res.get("end"):
        return res["end"]
    if res["traceback"] or "Traceback (most recent call last)" in res["stderr"]:
        return "traceback"
    lines = [ln for ln in res["stderr"].splitlines() if ln.strip()]
    if res["code"] == 0:
        if out is not None and not (out / "model.json").is_file():
            return "exit 0 without model.json"
        return "valid"
    if res["code"] != 2:
        return f"exit {res['code']}"
    if len(lines) != 1:
        return f"{len(lines)} stderr lines"
    if not lines[0].startswith("error: "):
        return "not an 'error: ' line"
    if out is not None:
        left = [p.name for p in out.parent.iterdir() if p.name == out.name or p.name.startswith(f".{out.name}.")]
        if left:
            return "folder left behind"
    return "refused"


CLEAN = ("valid", "refused")


def run(seed: int, n_inspect: int, n_convert: int, jobs: int, mem_gib: float, timeout: float,
        deep_timeout: float, zoo: Path | None, save: Path | None, kinds: tuple[str, ...] = (),
        progress=None, deep_max: int = DEEP_MAX, first: int = 0, rows_file: Path | None = None) -> dict:
    """Run the mutants; returns {'rows': [...], 'unclean': [...], 'seconds': ...}. rows_file: each
    row is appended to it as one JSON line as soon as its mutant is judged."""
    import concurrent.futures as cf
    import threading

    t0 = time.monotonic()
    rows, unclean = [], []
    with tempfile.TemporaryDirectory(prefix="o2c-mutants-") as tmp:
        work = Path(tmp)
        bases = _base_models(work, zoo)
        plan = [("inspect", k) for k in range(first, n_inspect)] + [("convert", k) for k in range(first, n_convert)]
        if kinds:
            plan = [(c, k) for c, k in plan if KINDS[k % len(KINDS)] in kinds]
        pool = [Worker(mem_gib) for _ in range(max(1, jobs))]
        free = list(pool)
        lock = threading.Lock()
        done = [0]

        def one(item):
            cmd, k = item
            dest = work / cmd / f"{k:05d}"
            kind, base, path = make_mutant(seed, k, bases, dest, deep_max)
            out = dest / "out" if cmd == "convert" else None
            argv = [cmd, str(path)] + (["-o", str(out)] if out is not None else [])
            with lock:
                w = free.pop()
            try:
                res = w.run(argv, deep_timeout if kind == "deep_graph" else timeout)
            finally:
                with lock:
                    free.append(w)
            verdict = judge(res, out)
            row = {"command": cmd, "index": k, "kind": kind, "base": base, "outcome": verdict,
                   "exit": res["code"], "stderr": res["stderr"][-2000:]}
            if verdict not in CLEAN and save is not None:
                keep = save / f"{cmd}-{k:05d}-{kind}"
                if keep.exists():
                    shutil.rmtree(keep)
                shutil.copytree(dest, keep, ignore=shutil.ignore_patterns("out", ".out.*"))
                (keep / "why.txt").write_text(f"onnx2cedr {' '.join(argv[:1])} model.onnx: {verdict}\n"
                                              f"exit code {res['code']}\n\n{res['stderr']}")
                row["saved"] = str(keep)
            shutil.rmtree(dest, ignore_errors=True)
            with lock:
                if rows_file is not None:
                    with open(rows_file, "a") as f:
                        f.write(json.dumps(row) + "\n")
                done[0] += 1
                if progress and (verdict not in CLEAN or done[0] % 500 == 0):
                    progress(done[0], len(plan), row)
            return row

        try:
            with cf.ThreadPoolExecutor(max_workers=len(pool)) as ex:
                rows = list(ex.map(one, plan))
        finally:
            for w in pool:
                w.kill()
    unclean = [r for r in rows if r["outcome"] not in CLEAN]
    return {"rows": rows, "unclean": unclean, "seconds": time.monotonic() - t0}


def summary_table(rows: list[dict]) -> str:
    """Counts per (command, mutation kind) and outcome."""
    outcomes = ["valid", "refused"] + sorted({r["outcome"] for r in rows} - set(CLEAN))
    count = collections.Counter((r["command"], r["kind"], r["outcome"]) for r in rows)
    lines = []
    head = f"{'command':8s} {'kind':18s} " + " ".join(f"{o[:24]:>10s}" for o in outcomes) + f" {'total':>7s}"
    lines.append(head)
    lines.append("-" * len(head))
    for cmd in ("inspect", "convert"):
        for kind in KINDS:
            n = [count[(cmd, kind, o)] for o in outcomes]
            if sum(n):
                lines.append(f"{cmd:8s} {kind:18s} " + " ".join(f"{x:>10d}" for x in n) + f" {sum(n):>7d}")
        tot = [sum(count[(cmd, k, o)] for k in KINDS) for o in outcomes]
        if sum(tot):
            lines.append(f"{cmd:8s} {'all':18s} " + " ".join(f"{x:>10d}" for x in tot) + f" {sum(tot):>7d}")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--inspect", type=int, default=10000, help="mutants through inspect")
    ap.add_argument("--convert", type=int, default=500, help="mutants through convert")
    ap.add_argument("--jobs", type=int, default=2, help="worker processes")
    ap.add_argument("--mem-gib", type=float, default=8.0, help="address-space cap of a worker (GiB)")
    ap.add_argument("--timeout", type=float, default=300.0, help="seconds per mutant")
    ap.add_argument("--deep-timeout", type=float, default=900.0, help="seconds per deep_graph mutant")
    ap.add_argument("--zoo", type=Path, default=None, help="also mutate every .onnx in this folder")
    ap.add_argument("--save", type=Path, default=Path("mutants-failed"), help="where unclean mutants are copied")
    ap.add_argument("--kind", action="append", choices=KINDS, help="only these mutation kinds (repeatable)")
    ap.add_argument("--json", type=Path, default=None, help="append every mutant's row here (JSON lines), "
                    "as it ends")
    ap.add_argument("--table", type=Path, nargs="+", help="only print the table of these --json files' rows")
    ap.add_argument("--first", type=int, default=0, help="start at this mutant index (to split a run)")
    ap.add_argument("--deep-max", type=int, default=DEEP_MAX, help="depth of the deepest deep_graph mutant")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.worker:
        _worker(a.mem_gib)
        return 0
    if a.table:
        rows = [json.loads(ln) for f in a.table for ln in f.read_text().splitlines() if ln.strip()]
        print(summary_table(rows))
        print(f"{len(rows)} mutants: {sum(r['outcome'] == 'valid' for r in rows)} valid, "
              f"{sum(r['outcome'] == 'refused' for r in rows)} refused in one line, "
              f"{sum(r['outcome'] not in CLEAN for r in rows)} unclean")
        return 0

    def progress(done, total, row):
        tag = "" if row["outcome"] in CLEAN else f"  UNCLEAN {row['command']} #{row['index']} {row['kind']} " \
                                                 f"({row['base']}): {row['outcome']}"
        print(f"[{done}/{total}]{tag}", file=sys.stderr, flush=True)

    res = run(a.seed, a.inspect, a.convert, a.jobs, a.mem_gib, a.timeout, a.deep_timeout, a.zoo, a.save,
              tuple(a.kind or ()), progress, a.deep_max, a.first, a.json)
    print(summary_table(res["rows"]))
    print(f"{len(res['rows'])} mutants (seed {a.seed}) in {res['seconds']:.0f} s: "
          f"{sum(r['outcome'] == 'valid' for r in res['rows'])} valid, "
          f"{sum(r['outcome'] == 'refused' for r in res['rows'])} refused in one line, {len(res['unclean'])} unclean")
    for r in res["unclean"]:
        first = (r["stderr"].strip().splitlines() or ["(no stderr)"])[-1][:300]
        print(f"UNCLEAN {r['command']} #{r['index']} {r['kind']} ({r['base']}): {r['outcome']}: {first}"
              + (f" -> {r['saved']}" if r.get("saved") else ""))
    return 1 if res["unclean"] else 0


if __name__ == "__main__":
    sys.exit(main())

"""Reliability (issue 18): mutants of the bundled models end cleanly (scripts/mutants.py, a small run
here), and the regressions it and the issue name: absurd declared shapes, a flipped byte in the
weights file, external-data claims past their file."""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import onnx2cedr
from onnx2cedr.runner import ModelLibrary
from tests.app_host import build_app_host
from tests.test_errors import assert_one_line_error, cli

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "models" / "demo" / "lenet5_digits.onnx"
H = helper.make_node


def _mutants():
    spec = importlib.util.spec_from_file_location("o2c_mutants", ROOT / "scripts" / "mutants.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_small_mutant_run_ends_cleanly(tmp_path):
    """Two mutants of every kind through inspect, in one worker; every end is clean (a deep graph of
    2,000 Relu stands in for the 50,000 of the full run)."""
    m = _mutants()
    res = m.run(seed=7, n_inspect=2 * len(m.KINDS), n_convert=0, jobs=1, mem_gib=8, timeout=120, deep_timeout=120,
                zoo=None, save=tmp_path / "failed", deep_max=2000)
    assert len(res["rows"]) == 2 * len(m.KINDS)
    assert {r["kind"] for r in res["rows"]} == set(m.KINDS)
    assert not res["unclean"], res["unclean"]
    outcomes = {r["outcome"] for r in res["rows"]}
    assert outcomes == {"valid", "refused"}, outcomes  # both ends are reached (hostile names stay valid)
    table = m.summary_table(res["rows"])
    assert "truncate" in table and "refused" in table


def test_mutants_are_deterministic(tmp_path):
    m = _mutants()
    bases = m._base_models(tmp_path / "w", None)
    a = m.make_mutant(3, 5, bases, tmp_path / "a")
    b = m.make_mutant(3, 5, bases, tmp_path / "b")
    assert a[:2] == b[:2] and a[2].read_bytes() == b[2].read_bytes()
    c = m.make_mutant(4, 5, bases, tmp_path / "c")
    assert c[0] == a[0]  # the kind follows the index; the mutation, the seed


def test_judge_flags_unclean_ends(tmp_path):
    m = _mutants()
    assert m.judge({"code": 2, "stderr": "error: bad\n", "traceback": False}, None) == "refused"
    assert m.judge({"code": 0, "stderr": "", "traceback": False}, None) == "valid"
    assert m.judge({"code": 1, "stderr": "Traceback (most recent call last):\n", "traceback": True}, None) == "traceback"
    assert m.judge({"code": 2, "stderr": "error: a\nwarning: b\n", "traceback": False}, None) == "2 stderr lines"
    assert m.judge({"code": 3, "stderr": "error: build\n", "traceback": False}, None) == "exit 3"
    out = tmp_path / "out"
    (tmp_path / ".out.x1y2").mkdir()
    assert m.judge({"code": 2, "stderr": "error: x\n", "traceback": False}, out) == "folder left behind"
    assert m.judge({"code": 0, "stderr": "", "traceback": False}, out) == "exit 0 without model.json"


def _save_model(path: Path, nodes, x_shape, inits=()) -> Path:
    """A graph of `nodes` from input x (float, x_shape) to output y, saved at opset 17."""
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x_shape))],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], list(inits))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 10
    onnx.save(m, str(path))
    return path


def _huge_batch_model(path: Path, batch: int = 10 ** 12) -> Path:
    return _save_model(path, [H("Relu", ["x"], ["y"])], [batch, 3, 32, 32])


@pytest.mark.parametrize("command", ["inspect", "convert", "validate"])
def test_huge_declared_batch_is_refused_before_allocation(tmp_path, command):
    p = _huge_batch_model(tmp_path / "huge.onnx")
    out = tmp_path / "out"
    args = [command, p] + (["-o", out] if command == "convert" else [])
    assert_one_line_error(cli(*args), "graph input 'x'", "[1000000000000, 3, 32, 32]", "cap")
    assert not out.exists() and not [q for q in tmp_path.iterdir() if q.name.startswith(".out")]


def test_huge_intermediate_and_arena_caps(tmp_path, monkeypatch):
    """A tensor made inside the graph is refused by name (node and output); the arena's total too, and
    the caps follow their environment variables."""
    # Tile's output: 64 x 2^26 elements (2^32 > the cap) from a small input
    reps = numpy_helper.from_array(np.array([1, 1 << 26], np.int64), "reps")
    p = _save_model(tmp_path / "tile.onnx", [H("Tile", ["x", "reps"], ["t"], name="tile"),
                                              H("Relu", ["t"], ["y"], name="relu")], [64, 1], [reps])
    assert_one_line_error(cli("inspect", p), "output 't' of node 'tile'", "[64, 67108864]")
    # under the element cap (raised), over a total cap (lowered): the arena is named
    monkeypatch.setenv("O2C_MAX_TENSOR_ELEMENTS", str(1 << 33))
    monkeypatch.setenv("O2C_MAX_TOTAL_BYTES", str(1 << 30))
    assert_one_line_error(cli("inspect", p), "activation arena", "O2C_MAX_TOTAL_BYTES")
    monkeypatch.setenv("O2C_MAX_TOTAL_BYTES", "lots")
    assert_one_line_error(cli("inspect", p), "O2C_MAX_TOTAL_BYTES")


def _ext_model(tmp_path: Path, **claim) -> Path:
    d = tmp_path / "m"
    d.mkdir(exist_ok=True)
    w = np.arange(64 * 64, dtype=np.float32).reshape(64, 64)
    (d / "w.bin").write_bytes(w.tobytes())
    t = numpy_helper.from_array(w, "w")
    t.ClearField("raw_data")
    t.data_location = TensorProto.EXTERNAL
    info = {"location": "w.bin", "offset": "0", "length": str(w.nbytes)}
    dims = claim.pop("dims", None)
    info.update(claim)
    for k, v in info.items():
        t.external_data.add(key=k, value=v)
    if dims is not None:
        t.dims[:] = dims
    return _save_model(d / "m.onnx", [H("MatMul", ["x", "w"], ["y"])], [1, 64], [t])


@pytest.mark.parametrize("claim,needle", [
    ({"length": str(10 ** 15)}, "length"),
    ({"offset": str(10 ** 15)}, "shorter than offset+length"),
    ({"offset": "-4096"}, "negative"),
    ({"length": "abc"}, "not an integer"),
    ({"location": "w\x00.bin"}, "NUL"),
    ({"dims": [10 ** 12, 64]}, "[1000000000000, 64]"),
    ({"dims": [128, 64]}, "does not match its shape [128, 64]"),
    ({"dims": [128, 64], "length": ""}, "shorter than offset+length"),
])
def test_external_data_claims_refused(tmp_path, claim, needle):
    p = _ext_model(tmp_path, **claim)
    assert_one_line_error(cli("inspect", p), "initializer 'w'", needle)


def test_external_data_location_not_utf8(tmp_path):
    """Mutant inspect #1236 (seed 0, corrupt_bytes): a location whose bytes are not UTF-8 reached the
    loader as bytes and raised TypeError; now it is a file that is not there."""
    p = _ext_model(tmp_path)
    data = p.read_bytes()
    assert data.count(b"w.bin") == 1
    p.write_bytes(data.replace(b"w.bin", b"w\xffbin"))
    assert_one_line_error(cli("inspect", p), "initializer 'w'", "not found beside the model")


@pytest.mark.parametrize("name", ["wq", "mm_node"])
def test_names_not_utf8(tmp_path, name):
    """Mutant inspect #2952 of seed 0 (corrupt_bytes): an initializer name whose bytes are not UTF-8
    reached numpy_helper as bytes and raised UnicodeDecodeError; every name is now checked when the
    file is read."""
    w = numpy_helper.from_array(np.ones((8, 8), np.float32), "wq")
    p = _save_model(tmp_path / "m.onnx", [H("MatMul", ["x", "wq"], ["y"], name="mm_node")], [1, 8], [w])
    data = p.read_bytes()
    p.write_bytes(data.replace(name.encode(), name[0].encode() + b"\x89" + name[2:].encode()))
    assert_one_line_error(cli("inspect", p), "is not valid UTF-8")


def test_external_data_model_still_loads(tmp_path):
    p = _ext_model(tmp_path)
    d = onnx2cedr.inspect(p)
    assert d["memory"]["weights_bytes"] >= 64 * 64 * 4


@pytest.fixture(scope="module")
def lenet_out(tmp_path_factory):
    out = tmp_path_factory.mktemp("crc") / "lenet"
    onnx2cedr.convert(DEMO, out)
    return out


def _flip(path: Path, at: int) -> bytes:
    data = path.read_bytes()
    b = bytearray(data)
    b[at] ^= 0x01
    path.write_bytes(bytes(b))
    return data


@pytest.mark.parametrize("where", ["payload", "header_crc", "magic"])
def test_flipped_weights_byte_refused_by_executable(lenet_out, tmp_path, where):
    desc = json.loads((lenet_out / "model.json").read_text())
    wf = lenet_out / desc["weights_file"]
    exe = lenet_out / desc["artifacts"]["exe"]
    x = np.load(lenet_out / "app_inputs" / "input_0.npy")
    np.save(tmp_path / "x.npy", x)
    ok = subprocess.run([str(exe), str(tmp_path / "x.npy"), "-o", str(tmp_path / "o")], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    at = {"payload": 64 + wf.stat().st_size // 2 - 32, "header_crc": 25, "magic": 3}[where]
    original = _flip(wf, at)
    try:
        r = subprocess.run([str(exe), str(tmp_path / "x.npy"), "-o", str(tmp_path / "o2")], capture_output=True,
                           text=True)
        line = assert_one_line_error(r, f"weights file '{wf}'", "checksum mismatch",
                                     f"expected {desc['weights_crc32']}", "corrupt or from another conversion")
        assert r.returncode == 2, line
        assert not (tmp_path / "o2").exists()
        # the check can be switched off: then the run goes on (the header's fields still checked)
        if where == "payload":
            off = subprocess.run([str(exe), str(tmp_path / "x.npy"), "-o", str(tmp_path / "o3")],
                                 capture_output=True, text=True, env={"O2C_WEIGHTS_CHECK": "0"})
            assert off.returncode == 0, off.stderr
    finally:
        wf.write_bytes(original)


def test_flipped_weights_byte_refused_by_library_and_app(lenet_out, tmp_path):
    desc = json.loads((lenet_out / "model.json").read_text())
    wf = lenet_out / desc["weights_file"]
    x = np.load(lenet_out / "app_inputs" / "input_0.npy")
    original = _flip(wf, 64 + 100)
    try:
        # the library, in a child process (a process maps a model's weights once)
        code = ("import sys, numpy as np\n"
                "from onnx2cedr.runner import ModelLibrary\n"
                "from onnx2cedr.errors import O2CError\n"
                "try:\n"
                f"    ModelLibrary({str(lenet_out)!r}).run([np.load({str(lenet_out / 'app_inputs' / 'input_0.npy')!r})])\n"
                "except O2CError as e:\n"
                "    print(e); sys.exit(2)\n")
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
        assert r.returncode == 2, r.stdout + r.stderr
        assert "checksum mismatch" in r.stdout and r.stdout.count("\n") == 1
        # the C ABI: an error code and the reason from <sym>_last_error
        code = ("import ctypes, sys\n"
                f"lib = ctypes.CDLL({str(lenet_out / desc['artifacts']['lib'])!r})\n"
                f"run = lib.{desc['symbol']}_run\n"
                f"err = lib.{desc['symbol']}_last_error; err.restype = ctypes.c_char_p\n"
                "buf = (ctypes.c_float * 4096)()\n"
                "ptrs = (ctypes.c_void_p * 1)(ctypes.addressof(buf))\n"
                "rc = run(ptrs, ptrs)\n"
                "print(rc, err().decode())\n")
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        rc, msg = r.stdout.split(" ", 1)
        assert int(rc) == 1 and "checksum mismatch" in msg, r.stdout + r.stderr
        # the CEDR app: main() as a runtime calls it
        host = build_app_host(tmp_path)
        r = subprocess.run([str(host), str(lenet_out / desc["artifacts"]["app"])], capture_output=True, text=True)
        assert r.returncode == 2, r.stderr
        lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
        assert len(lines) == 1 and "error: weights file" in lines[0] and "checksum mismatch" in lines[0], r.stderr
    finally:
        wf.write_bytes(original)
    lib_ok = ModelLibrary(lenet_out).run([x])[0]
    assert lib_ok.shape == (1, 10)


def test_weights_crc_matches_zlib(lenet_out):
    """The CRC convert records is zlib's over the payload and the header without its CRC field."""
    import zlib

    desc = json.loads((lenet_out / "model.json").read_text())
    blob = (lenet_out / desc["weights_file"]).read_bytes()
    crc = zlib.crc32(blob[28:64], zlib.crc32(blob[:24], zlib.crc32(blob[64:])))
    assert f"{crc:08x}" == desc["weights_crc32"] == blob[24:28][::-1].hex()
    assert blob[:8] == b"O2CWGT02"
    assert f"0x{desc['weights_crc32']}u" in (lenet_out / "model.cpp").read_text()


def test_library_error_is_o2c_error(lenet_out, tmp_path):
    """ModelLibrary reports a missing weights file in one line (the library's own reason)."""
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(lenet_out, copy)
    desc = json.loads((copy / "model.json").read_text())
    (copy / desc["weights_file"]).unlink()
    code = ("import numpy as np\nfrom onnx2cedr.runner import ModelLibrary\n"
            f"ModelLibrary({str(copy)!r}).run([np.load({str(copy / 'app_inputs' / 'input_0.npy')!r})])\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode != 0 and "cannot open weights file" in r.stderr.splitlines()[-1]
    assert "O2CError: cannot open weights file" in r.stderr  # the reason itself, not "failed (code 1)"

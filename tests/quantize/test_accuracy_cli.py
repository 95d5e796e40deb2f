"""`onnx2cedr accuracy`: per scheme top-1 of the generated code, the drop against float, weights size and
latency, printed and written as JSON; bad input in one line."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.oncheck import cli, one_line_error

ROOT = Path(__file__).resolve().parents[2]
LENET = ROOT / "models" / "demo" / "lenet5_digits.onnx"
DIGITS = ROOT / "models" / "demo" / "digits_test.npz"


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    d = tmp_path_factory.mktemp("acc")
    z = np.load(DIGITS)
    np.savez(d / "cal.npz", input=z["x"][:40])
    np.savez(d / "test.npz", input=z["x"][100:220], y=z["y"][100:220])
    return d


def test_schemes_table_and_json(data, tmp_path):
    js = tmp_path / "acc.json"
    r = cli("accuracy", LENET, "--inputs", data / "test.npz", "--labels", "y", "--schemes", "int8,int16",
            "--calib", data / "cal.npz", "--runs", "5", "--json", js)
    assert r.exit_code == 0, r.output
    rows = {s["scheme"]: s for s in json.loads(js.read_text())["schemes"]}
    assert list(rows) == ["float", "int8", "int16"]  # float is added: the drop is measured against it
    f, q8, q16 = rows["float"], rows["int8"], rows["int16"]
    assert f["drop_points"] == 0.0 and 0.9 < f["top1"] <= 1.0
    assert q8["drop_points"] == pytest.approx(100 * (f["top1"] - q8["top1"]))
    assert q8["integer_layers"] == 5 and q16["integer_layers"] == 5  # int16: DASH_Q*_i16
    assert q8["weights_bytes"] < f["weights_bytes"] / 3  # int8 weights, not float
    assert all(s["latency_us"] > 0 for s in rows.values())
    for s in ("float", "int8", "int16"):
        assert s in r.output


@pytest.mark.parametrize("args, needle", [
    (["--schemes", "int3"], "unknown scheme 'int3'"),
    (["--labels", "nope"], "no labels array 'nope'"),
    (["--schemes", "float,int8", "--no-calib"], "--calib is needed"),
])
def test_bad_input_is_one_line(data, args, needle):
    base = ["accuracy", LENET, "--inputs", data / "test.npz", "--labels", "y", "--calib", data / "cal.npz"]
    if "--no-calib" in args:
        base = base[:-2]
        args = [a for a in args if a != "--no-calib"]
    if "--labels" in args:
        base = base[:4] + base[6:]
    r = cli(*base, *args)
    assert r.exit_code == 2
    assert needle in one_line_error(r)

"""The onnx package's conformance data (backend node tests and model folders) through the compiler.

One harness run (cases batched into a few shared objects, run in-process) feeds most tests here.
A case passes only when every output of every data set matches its reference in shape, element type
and value; the set of cases that pass is kept in tests/conformance_passing.txt, and a case that
leaves it fails the suite by name. The harness itself is shown to catch what it claims to catch.
"""
from __future__ import annotations

import json
from pathlib import Path

import ml_dtypes
import numpy as np
import pytest
from onnx import TensorProto, helper
from typer.testing import CliRunner

from onnx2cedr import conformance as cf
from onnx2cedr.cli import app

ROOT = Path(__file__).resolve().parent.parent
PASS_SET = ROOT / "tests" / "conformance_passing.txt"
DOC = ROOT / "docs" / "ops.md"


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    res, _ = cf.run_suite(work=tmp_path_factory.mktemp("conformance"))
    return res


def test_no_case_leaves_the_pass_set(results):
    s = cf.summarize(results)
    assert s["node_total"] > 1500, "the onnx package's node test cases were not all collected"
    lost = cf.lost_cases(results, cf.read_pass_set(PASS_SET))
    assert not lost, (f"{len(lost)} case(s) of {PASS_SET.name} no longer pass: " + "; ".join(lost[:20]))


def test_no_compiler_bugs(results):
    """mismatch and crash compute wrong numbers; error and build-error are compiler bugs."""
    bad = [f"{r.name} ({r.status}: {r.reason})" for r in results if r.status in cf.FAILURES]
    assert not bad, f"{len(bad)} case(s) fail: " + "; ".join(bad[:20])


def test_model_folders(results):
    models = [r for r in results if r.kind != "node"]
    assert {r.kind for r in models} == set(cf.MODEL_FOLDERS)
    for r in models:  # every case passes or has its reason for the report
        assert r.passed or r.reason, r.name
    assert all(r.status in ("pass", "unsupported", "no-data") for r in models), \
        [(r.name, r.status) for r in models if r.status not in ("pass", "unsupported", "no-data")]


def test_sub_byte_casts_follow_the_spec(results):
    """Casts from floats to 4-/2-bit integers match the spec rule whatever ml_dtypes is installed:
    each such case passes (the shipped reference agrees) or is disputed (it does not), never wrong."""
    subs = [r for r in results if r.kind == "node" and r.op in ("Cast", "CastLike")
            and any(f"FLOAT{w}_to_{t}" in r.name for w in ("", "16") for t in ("INT4", "UINT4", "INT2", "UINT2"))]
    assert len(subs) == 24, [r.name for r in subs]
    assert all(r.status in ("pass", "disputed") for r in subs), [(r.name, r.status, r.reason) for r in subs]
    disputed = [r for r in results if r.status == "disputed"]
    assert {r.name for r in disputed} <= {r.name for r in subs}
    for r in disputed:
        assert f"ml_dtypes {ml_dtypes.__version__}" in r.reason and "round half to even" in r.reason, r.reason


def test_failures_are_one_line_reasons(results):
    for r in results:
        if not r.passed:
            assert r.reason and "\n" not in r.reason, r.name


def test_report(results):
    text = cf.render_report(results)
    s = cf.summarize(results)
    assert f"{s['node_pass']} of {s['node_total']} pass" in text
    assert "### DASH_CONV" in text and "| Trilu |" in text and "## Disputed references" in text
    for r in results:
        if r.kind != "node":
            assert f"| {r.name} |" in text


def test_docs_ops_md_is_what_the_harness_writes_today(results):
    import importlib.util

    spec = importlib.util.spec_from_file_location("check_lock", ROOT / "scripts" / "check_lock.py")
    cl = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cl)
    drift = cl.drifts(cl.read_lock(ROOT / "requirements.lock"), cl.installed())
    if drift:
        pytest.skip(f"docs/ops.md describes the locked environment; here {drift[0]}")
    assert DOC.read_text() == cf.render_report(results), (
        "docs/ops.md is stale: onnx2cedr conformance --write docs/ops.md")


def test_op_table_lists_each_op_once_with_its_opsets():
    rows = cf.op_table()
    names = [r["op"] for r in rows]
    assert len(names) == len(set(names)) and not any(n.startswith("onnx2cedr.") for n in names)
    by = {r["op"]: r for r in rows}
    assert by["Conv"]["opsets"].endswith("+") and by["Conv"]["maps_to"].startswith("DASH_CONV")
    assert by["RMSNormalization"]["opsets"] == "23+"
    assert all("?" not in r["opsets"] for r in rows)


# ---- the harness catches what it claims to catch ----
def _relu_case() -> cf.Case:
    return next(c for c in cf.node_cases() if c.name == "test_relu")


def _cast_case(values, ref) -> cf.Case:
    g = helper.make_graph([helper.make_node("Cast", ["x"], ["y"], to=TensorProto.INT4)], "c",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [len(values)])],
                          [helper.make_tensor_value_info("y", TensorProto.INT4, [len(values)])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 21)])
    m.ir_version = 10
    return cf.Case("cast_to_int4", "node", "Cast", m, [np.asarray(values, np.float32)],
                   [np.asarray(ref, np.int8).astype(ml_dtypes.int4)])


@pytest.fixture(scope="module")
def altered(tmp_path_factory):
    """Known-good and deliberately altered cases through one harness run."""
    relu = _relu_case()
    x, (y,) = relu.inputs[0], relu.outputs
    variants = {
        "as shipped": relu,
        "flattened": cf.Case(relu.name, "node", "Relu", relu.model, relu.inputs, [y.reshape(-1)]),
        "dims reversed": cf.Case(relu.name, "node", "Relu", relu.model, relu.inputs, [y.reshape(y.shape[::-1])]),
        "two data sets": cf.Case(relu.name, "node", "Relu", relu.model, relu.inputs, [y],
                                 [([-x], [np.maximum(-x, 0)])]),
        "second set wrong": cf.Case(relu.name, "node", "Relu", relu.model, relu.inputs, [y],
                                    [([-x], [np.maximum(-x, 0) + 1])]),
        # the spec rule: -9 -> -8, 2.5 -> 2, 7.6 -> 7, 100 -> 7 (saturate, half to even)
        "cast, spec reference": _cast_case([-9, 2.5, 7.6, 100], [-8, 2, 7, 7]),
        "cast, wrapped reference": _cast_case([-9, 2.5, 7.6, 100], [7, 2, 7, 4]),
    }
    res = cf.run_cases(list(variants.values()), work=tmp_path_factory.mktemp("altered"))
    return dict(zip(variants, res))


def test_shape_that_differs_from_the_reference_is_a_mismatch(altered):
    assert altered["as shipped"].status == "pass"
    for k in ("flattened", "dims reversed"):
        r = altered[k]
        assert r.status == "mismatch" and "shape" in r.reason, (k, r.status, r.reason)


def test_every_data_set_is_compared(altered):
    assert altered["two data sets"].status == "pass"
    r = altered["second set wrong"]
    assert r.status == "mismatch" and r.reason.startswith("data set 1: "), r.reason


def test_disputed_reference_is_kept_apart(altered):
    assert altered["cast, spec reference"].status == "pass"
    r = altered["cast, wrapped reference"]
    assert r.status == "disputed" and "differs at 2 of 4 elements" in r.reason, r.reason
    assert not r.passed


def test_pass_set_names_the_lost_case(tmp_path, altered):
    res = list(altered.values())
    path = tmp_path / "passing.txt"
    n = cf.write_pass_set(res, path)  # one key per case name: the relu variants share theirs
    assert n == 2 and cf.read_pass_set(path) == {"node/test_relu", "node/cast_to_int4"}
    worse = [cf.Result("test_relu", "node", "Relu", "unsupported", reason="gone"),
             cf.Result("test_other", "node", "Abs", "pass")]
    assert cf.lost_cases(worse, {"node/test_relu", "node/test_missing"}) == [
        "node/test_missing (not collected)", "node/test_relu (unsupported: gone)"]


# ---- the CLI command ----
def test_conformance_cli_writes_report_pass_set_and_json(tmp_path):
    r = CliRunner().invoke(app, ["conformance", "--only", "^test_(relu|abs)$", "--write", str(tmp_path / "ops.md"),
                                 "--save-passing", str(tmp_path / "pass.txt"), "--json", str(tmp_path / "r.json")])
    assert r.exit_code == 0, r.output
    assert "node cases: 2 / 2 pass" in r.output
    assert cf.read_pass_set(tmp_path / "pass.txt") == {"node/test_relu", "node/test_abs"}
    assert "| Relu | 1 / 1 |" in (tmp_path / "ops.md").read_text()
    rows = json.loads((tmp_path / "r.json").read_text())
    assert {(d["name"], d["status"]) for d in rows} == {("test_relu", "pass"), ("test_abs", "pass")}


@pytest.mark.parametrize("only, msg", [("(", "not a regular expression"), ("^no_such_case$", "matches no case")])
def test_conformance_cli_bad_only_is_one_line(only, msg):
    r = CliRunner().invoke(app, ["conformance", "--only", only])
    assert r.exit_code == 2
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and msg in lines[0], r.output


def test_inputs_that_decide_shapes_through_shape_arithmetic():
    """An integer input gathered into Range's limit (through a Gather and an If branch) decides a shape;
    one only added to data does not."""
    H = helper.make_node
    branch = helper.make_graph([H("Gather", ["size", "i1"], ["w_b"], axis=0)], "b", [],
                               [helper.make_tensor_value_info("w_b", TensorProto.INT64, [1])],
                               [helper.make_tensor("i1", TensorProto.INT64, [1], [1])])
    nodes = [H("Size", ["size"], ["n"]), H("Equal", ["n", "two"], ["c"]),
             H("If", ["c"], ["w"], then_branch=branch, else_branch=branch),
             H("Range", ["zero", "w", "one"], ["r"]), H("Add", ["k", "k"], ["y"])]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("size", TensorProto.INT64, [2]),
                                       helper.make_tensor_value_info("k", TensorProto.INT64, [3])],
                          [helper.make_tensor_value_info("r", TensorProto.INT64, None),
                           helper.make_tensor_value_info("y", TensorProto.INT64, None)],
                          [helper.make_tensor(n, TensorProto.INT64, [], [v]) for n, v in
                           (("two", 2), ("zero", 0), ("one", 1))])
    m = helper.make_model(g)
    feeds = {"size": np.array([2, 5], np.int64), "k": np.arange(3, dtype=np.int64)}
    assert cf._decides_shapes(m, "size") and not cf._decides_shapes(m, "k")
    assert cf._shape_inputs(m, feeds) == ["size"]
    assert "size" not in cf._freezable(m, feeds)  # read as data (Size's input 0): the first rule keeps it


def test_float_scalars_that_make_a_trip_count_decide_shapes():
    """Range's function body: (limit - start) / delta, Ceil, Cast -> a Loop's trip count. Both bounds decide
    the output's length; a float input only multiplied with itself does not."""
    H = helper.make_node
    body = helper.make_graph([H("Identity", ["cond_in"], ["cond_out"]), H("Identity", ["acc"], ["acc_out"])], "body",
                             [helper.make_tensor_value_info("i", TensorProto.INT64, []),
                              helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
                              helper.make_tensor_value_info("acc", TensorProto.FLOAT, [])],
                             [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
                              helper.make_tensor_value_info("acc_out", TensorProto.FLOAT, [])])
    nodes = [H("Sub", ["limit", "start"], ["d"]), H("Ceil", ["d"], ["c"]),
             H("Cast", ["c"], ["n"], to=TensorProto.INT64),
             H("Loop", ["n", "", "start"], ["out"], body=body), H("Mul", ["v", "v"], ["y"])]
    f = TensorProto.FLOAT
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info(k, f, s) for k, s in
                                       (("start", []), ("limit", []), ("v", [3]))],
                          [helper.make_tensor_value_info("out", f, None), helper.make_tensor_value_info("y", f, None)])
    m = helper.make_model(g)
    feeds = {"start": np.array(1, np.float32), "limit": np.array(4.5, np.float32), "v": np.ones(3, np.float32)}
    assert cf._shape_inputs(m, feeds) == ["start", "limit"]

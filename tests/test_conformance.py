"""The onnx package's conformance data (backend node tests and model folders) through the compiler.

One harness run (cases batched into a few shared objects, run in-process) feeds every test here.
A case counts as passing only when all its outputs match the reference under its op class's
tolerance; a case that converts and runs but disagrees is a bug, never an acceptable result.
"""
from __future__ import annotations

import pytest

from onnx2cedr import conformance as cf

# What the suite reached when this floor was set; raise it when more cases pass, never lower it.
NODE_PASS_FLOOR = 1588
MODEL_PASS_FLOOR = 130


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    res, _ = cf.run_suite(work=tmp_path_factory.mktemp("conformance"))
    return res


def test_node_pass_count_does_not_drop(results):
    s = cf.summarize(results)
    assert s["node_total"] > 1500, "the onnx package's node test cases were not all collected"
    assert s["node_pass"] >= NODE_PASS_FLOOR, (
        f"{s['node_pass']} node cases pass, the floor is {NODE_PASS_FLOOR}; by status: {s['by_status']}")


def test_model_folders(results):
    models = [r for r in results if r.kind != "node"]
    assert {r.kind for r in models} == set(cf.MODEL_FOLDERS)
    assert sum(r.passed for r in models) >= MODEL_PASS_FLOOR
    for r in models:  # every case passes or has its reason for the report
        assert r.passed or r.reason, r.name


def test_no_wrong_numbers(results):
    """A case we compile and run must match: a mismatch or crash is a bug in an op we claim."""
    bad = [f"{r.name} ({r.status}: {r.reason})" for r in results if r.status in ("mismatch", "crash")]
    assert not bad, f"{len(bad)} case(s) compile but compute something else: " + "; ".join(bad[:20])


def test_failures_are_one_line_reasons(results):
    for r in results:
        if not r.passed:
            assert r.reason and "\n" not in r.reason, r.name


def test_report(results):
    text = cf.render_report(results)
    s = cf.summarize(results)
    assert f"{s['node_pass']} of {s['node_total']} pass" in text
    assert "### DASH_CONV" in text and "| Trilu |" in text
    for r in results:
        if r.kind != "node":
            assert f"| {r.name} |" in text


def test_op_table_lists_each_op_once_with_its_opsets():
    rows = cf.op_table()
    names = [r["op"] for r in rows]
    assert len(names) == len(set(names)) and not any(n.startswith("onnx2cedr.") for n in names)
    by = {r["op"]: r for r in rows}
    assert by["Conv"]["opsets"].endswith("+") and by["Conv"]["maps_to"].startswith("DASH_CONV")
    assert by["RMSNormalization"]["opsets"] == "23+"
    assert all("?" not in r["opsets"] for r in rows)

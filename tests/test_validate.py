"""The validation oracle can fail: the pass rule (scale rule + element-wise rule on elements that
are not tiny) on hand-made arrays; generated code made wrong on purpose (one activation constant
changed in the plan before codegen) fails `validate()` and `onnx2cedr validate`; outputs are
paired by name; a different number of outputs is a one-line error."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import helper
from typer.testing import CliRunner

import onnx2cedr
from onnx2cedr import compiler
from onnx2cedr import validation as V
from onnx2cedr.cli import app
from onnx2cedr.errors import ModelError
from tests.oncheck import make_model, rand

RTOL, ATOL = 1e-4, 1e-5  # validate()'s defaults


# ------------------------------------------------------------------ the comparison itself


def test_defaults_are_the_documented_ones():
    import inspect

    sig = inspect.signature(V.validate)
    assert (sig.parameters["rtol"].default, sig.parameters["atol"].default) == (RTOL, ATOL)
    assert V.TINY == 1e-2


def test_moderate_value_with_large_relative_error_fails():
    """One element of moderate size (5% of the largest) is 0.1% off: the error is 5e-5 of the
    output's largest magnitude, which the scale rule alone accepts; the element-wise rule does not."""
    ref = np.array([100.0, -40.0, 5.0, 3.0, -7.0], np.float32)
    ours = ref.copy()
    ours[2] = 5.005
    c = V.close(ours, ref, RTOL, ATOL)
    assert c.max_rel_err <= RTOL  # the old rule (max |err| / max |ref|) would have passed it
    assert not c.passed
    assert c.max_elem_rel_err == pytest.approx(1e-3, rel=1e-3)
    # the same error on the largest element is within the element-wise bound too
    ours = ref.copy()
    ours[0] = np.float32(100.005)
    c = V.close(ours, ref, RTOL, ATOL)
    assert c.passed and c.max_elem_rel_err == pytest.approx(5e-5, rel=1e-3)


def test_tiny_elements_are_held_to_the_scale_rule_only():
    scale = 100.0
    ref = np.array([scale, 0.5 * V.TINY * scale, 0.0], np.float64)
    ours = ref.copy()
    ours[1] += 0.9 * RTOL * scale   # 180% off, but below 1% of the scale: rounding noise territory
    ours[2] += 0.9 * RTOL * scale
    c = V.close(ours, ref, RTOL, ATOL)
    assert c.passed
    assert c.max_elem_rel_err == 0.0  # the only non-tiny element is exact
    # ... and a tiny element over the scale rule fails
    ours[2] = 1.1 * RTOL * scale
    assert not V.close(ours, ref, RTOL, ATOL).passed
    # an element at exactly TINY * scale is judged element-wise
    ref = np.array([scale, V.TINY * scale])
    ours = ref.copy()
    ours[1] *= 1 + 10 * RTOL
    c = V.close(ours, ref, RTOL, ATOL)
    assert not c.passed and c.max_elem_rel_err == pytest.approx(10 * RTOL)


def test_element_bound_is_atol_plus_rtol_times_ref():
    ref = np.array([10.0, 1.0])
    allowed = ATOL + RTOL * 1.0
    assert V.close(ref + [0.0, 0.99 * allowed], ref, RTOL, ATOL).passed
    assert not V.close(ref + [0.0, 1.01 * allowed], ref, RTOL, ATOL).passed
    # atol alone lets an output of small values pass
    small = np.array([1e-6, -2e-6, 3e-6])
    assert V.close(small + 5e-6, small, 0.0, 1e-5).passed
    assert not V.close(small + 5e-6, small, 0.0, 1e-6).passed


def test_non_finite_and_integer_outputs():
    ref = np.array([1.0, np.inf, np.nan])
    assert V.close(ref.copy(), ref, RTOL, ATOL).passed
    assert not V.close(np.array([1.0, -np.inf, np.nan]), ref, RTOL, ATOL).passed
    assert not V.close(np.array([1.0, np.inf, 0.0]), ref, RTOL, ATOL).passed
    ints = np.array([3, 7, 1000000], np.int64)
    assert V.close(ints.copy(), ints, RTOL, ATOL).passed
    assert not V.close(ints + [0, 0, 1], ints, RTOL, ATOL).passed  # integers are exact at the defaults


def test_compare_keeps_its_three_numbers():
    ref = np.array([2.0, -4.0])
    mabs, rel, cos = V.compare(np.array([2.0, -4.1]), ref)
    assert mabs == pytest.approx(0.1) and rel == pytest.approx(0.025) and 0.99 < cos < 1.0


# ------------------------------------------------------------------ pairing outputs


def test_outputs_paired_by_name_then_by_position():
    assert V.match_outputs(["a", "b"], ["b", "a"]) == [1, 0]
    assert V.match_outputs(["a", "x"], ["y", "a"]) == [1, 0]
    assert V.match_outputs(["x", "y"], ["p", "q"]) == [0, 1]


def test_different_output_counts_are_one_line_error():
    with pytest.raises(ModelError) as e:
        V.match_outputs(["y"], ["y", "extra"])
    msg = str(e.value)
    assert "\n" not in msg and "onnxruntime gives 2 output(s)" in msg and "the compiled model 1" in msg
    assert "'extra'" in msg


# ------------------------------------------------------------------ whole validate(), code made wrong


def _conv_leaky(path):
    """Conv -> LeakyRelu(0.1): the activation is fused into the CEDR conv call (its params' act.alpha)."""
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], name="conv", pads=[1, 1, 1, 1]),
             helper.make_node("LeakyRelu", ["c"], ["y"], name="leaky", alpha=0.1)]
    m = make_model(nodes, {"x": rand(1, 3, 8, 8)}, ["y"], {"w": rand(6, 3, 3, 3, seed=1), "b": rand(6, seed=2)})
    onnx.save(m, str(path))
    return path


@pytest.fixture
def model_path(tmp_path):
    return _conv_leaky(tmp_path / "conv_leaky.onnx")


def _break_alpha(monkeypatch, alpha: float) -> list:
    """Codegen gets a plan whose conv call carries another LeakyRelu alpha. Returns the list of
    changed calls (so a test can check the change happened)."""
    changed = []
    original = compiler.generate

    def generate(plan, *args, **kwargs):
        for p in plan.nodes:
            for c in p.calls:
                act = c.params.fields.get("act") if c.params is not None else None
                if isinstance(act, dict) and act.get("op") == "DASH_ACT_LEAKY_RELU":
                    act["alpha"] = alpha
                    changed.append(c)
        return original(plan, *args, **kwargs)

    monkeypatch.setattr(compiler, "generate", generate)
    return changed


def test_correct_code_passes(model_path):
    rep = onnx2cedr.validate(model_path, samples=5)
    assert rep.passed, rep.as_dict()


def test_wrong_constant_fails_validate_and_cli(model_path, monkeypatch, tmp_path):
    changed = _break_alpha(monkeypatch, 0.3)
    rep = onnx2cedr.validate(model_path, samples=3, out_dir=tmp_path / "out", per_layer=True)
    assert len(changed) == 1
    assert ".alpha = 0.3" in (tmp_path / "out" / "model.cpp").read_text()  # the wrong constant was built
    assert not rep.passed and not rep.outputs[0].passed
    assert rep.outputs[0].max_rel_err > 1e-2
    assert rep.first_divergence is not None and rep.first_divergence.node == "conv"
    r = CliRunner().invoke(app, ["validate", str(model_path), "--samples", "3"])
    assert r.exit_code == 1, r.output
    assert "validation failed: output 'y'" in r.output and "FAIL" in r.output


def test_small_value_error_fails_only_by_the_element_rule(model_path, monkeypatch):
    """alpha 0.1 -> 0.10005: the negative outputs (a tenth of the positives' size) are 5e-4 off
    relatively; measured against the largest output that is well under rtol, so the scale rule
    alone would pass this wrong code."""
    changed = _break_alpha(monkeypatch, 0.10005)
    rep = onnx2cedr.validate(model_path, samples=3)
    assert len(changed) == 1
    o = rep.outputs[0]
    assert o.max_rel_err < RTOL, o  # the old rule's number: within tolerance
    assert o.max_elem_rel_err > 4e-4, o
    assert not o.passed and not rep.passed
    r = CliRunner().invoke(app, ["validate", str(model_path), "--samples", "3"])
    assert r.exit_code == 1, r.output
    assert "max element rel err" in r.output


def _two_output_model(path):
    nodes = [helper.make_node("Relu", ["x"], ["pos"]), helper.make_node("Neg", ["x"], ["neg"])]
    onnx.save(make_model(nodes, {"x": rand(2, 5)}, ["pos", "neg"]), str(path))
    return path


def test_outputs_matched_by_name_in_validate(tmp_path, monkeypatch):
    """onnxruntime lists the outputs in the other order: each is still compared with its namesake."""
    p = _two_output_model(tmp_path / "two.onnx")
    original = V._ort_session

    def reversed_session(model, notes, extra_outputs=()):
        proto = onnx.load(str(model))
        outs = list(proto.graph.output)
        del proto.graph.output[:]
        proto.graph.output.extend(outs[::-1])
        return original(proto, notes, extra_outputs)

    monkeypatch.setattr(V, "_ort_session", reversed_session)
    rep = onnx2cedr.validate(p, samples=3)
    assert [o.name for o in rep.outputs] == ["pos", "neg"]
    assert rep.passed and all(o.max_abs_err == 0.0 for o in rep.outputs), rep.as_dict()


def test_output_count_mismatch_is_an_error(tmp_path, monkeypatch):
    """onnxruntime gives an output the compiled model does not have: a one-line error (exit 2 from
    the CLI), not a comparison of the first outputs only."""
    p = _two_output_model(tmp_path / "two.onnx")
    original = V._ort_session

    def session_with_extra(model, notes, extra_outputs=()):
        proto = onnx.load(str(model))
        proto.graph.node.append(helper.make_node("Abs", ["x"], ["extra"]))
        proto.graph.output.append(onnx.ValueInfoProto(name="extra"))
        return original(proto, notes, extra_outputs)

    monkeypatch.setattr(V, "_ort_session", session_with_extra)
    with pytest.raises(ModelError, match=r"onnxruntime gives 3 output\(s\) .*, the compiled model 2 "):
        onnx2cedr.validate(p, samples=1)
    r = CliRunner().invoke(app, ["validate", str(p), "--samples", "1"])
    assert r.exit_code == 2, r.output
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and "3 output(s)" in lines[0] and "compiled model 2" in lines[0], r.output

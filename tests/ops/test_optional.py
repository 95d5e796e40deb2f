"""Optionals resolved at compile time: an optional(tensor) graph input is compiled as that tensor
(present), OptionalHasElement folds (true for a tensor, false for an absent input), OptionalGetElement
of a tensor is a view of it."""
from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper

import onnx2cedr
from onnx2cedr.errors import UnsupportedError
from tests.oncheck import run_ours

H = helper.make_node


def _model(nodes, inputs, outputs):
    g = helper.make_graph(nodes, "g", inputs, outputs)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 18)])
    m.ir_version = 8
    return m


def test_optional_tensor_input_is_present():
    t = helper.make_tensor_type_proto(TensorProto.FLOAT, [2, 3])
    vi = helper.make_value_info("o", helper.make_optional_type_proto(t))
    nodes = [H("OptionalHasElement", ["o"], ["has"]), H("OptionalGetElement", ["o"], ["x"]),
             H("Mul", ["x", "x"], ["sq"]), H("OptionalHasElement", [""], ["none"])]
    m = _model(nodes, [vi], [helper.make_tensor_value_info("has", TensorProto.BOOL, []),
                             helper.make_tensor_value_info("sq", TensorProto.FLOAT, [2, 3]),
                             helper.make_tensor_value_info("none", TensorProto.BOOL, [])])
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    has, sq, none = run_ours(m, {"o": x})
    assert has.dtype == np.bool_ and bool(has) is True and bool(none) is False
    np.testing.assert_array_equal(sq, x * x)
    layers = [ly["op"] for ly in onnx2cedr.inspect(m)["layers"]]
    assert "OptionalHasElement" not in layers  # folded


def test_get_element_of_an_absent_optional_is_refused():
    m = _model([H("OptionalGetElement", [""], ["y"])], [], [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    with pytest.raises((UnsupportedError, onnx2cedr.errors.ModelError), match="absent|OptionalGetElement"):
        run_ours(m, {})

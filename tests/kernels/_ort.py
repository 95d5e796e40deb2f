"""Run a single ONNX node with onnxruntime (one thread) as a reference."""
from __future__ import annotations

import numpy as np
import onnxruntime as ort
from onnx import TensorProto, helper


def run_node(op_type: str, inputs: dict[str, np.ndarray], attrs: dict, opset: int = 19) -> np.ndarray:
    ins = [helper.make_tensor_value_info(n, TensorProto.FLOAT, list(a.shape)) for n, a in inputs.items()]
    out = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    node = helper.make_node(op_type, list(inputs), ["y"], **attrs)
    graph = helper.make_graph([node], "g", ins, [out])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 9
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    return sess.run(None, inputs)[0]

"""PyTorch frontend: torch.onnx's dynamo exporter (default) or the legacy TorchScript one."""
from __future__ import annotations

import os
import tempfile
from typing import Any, Sequence

import numpy as np
import onnx

from ..errors import O2CError
from . import parity
from .common import (FrontendError, as_arrays, finalize, first_line, flatten_outputs, parity_samples, quiet,
                     require)

EXPORTERS = ("dynamo", "legacy")
# Export leaf modules one by one to find the one at fault only for models of modest size.
_MAX_ISOLATED = 300


def _torch():
    return require("torch", "PyTorch", "torch")


def _exporter_label(torch, exporter: str) -> str:
    return f"torch.onnx {exporter} exporter (torch {torch.__version__.split('+')[0]})"


def _export(module, args: tuple, exporter: str, opset: int | None, input_names, output_names,
            workdir: str) -> onnx.ModelProto:
    torch = _torch()
    with quiet():
        if exporter == "dynamo":
            prog = torch.onnx.export(module, args, dynamo=True, opset_version=opset or 18, optimize=True,
                                     verify=False, verbose=False, input_names=input_names,
                                     output_names=output_names)
            return prog.model_proto
        # the legacy exporter writes weights over 2 GiB beside the file, so it gets a real file
        path = os.path.join(workdir, "legacy.onnx")
        torch.onnx.export(module, args, path, dynamo=False, opset_version=opset or 17, do_constant_folding=True,
                          training=torch.onnx.TrainingMode.EVAL, input_names=input_names,
                          output_names=output_names)
        return onnx.load_model(path, load_external_data=True)


def _leaf_calls(module, args: tuple) -> list[tuple[str, Any, tuple]]:
    """(qualified name, module, its positional inputs) of every leaf module, in call order."""
    torch = _torch()
    names = {id(m): n for n, m in module.named_modules()}
    calls: list[tuple[str, Any, tuple]] = []
    hooks = []
    for name, m in module.named_modules():
        if name and not any(True for _ in m.children()):
            hooks.append(m.register_forward_pre_hook(
                lambda mod, inp: calls.append((names[id(mod)], mod, tuple(inp))) if len(calls) < _MAX_ISOLATED
                else None))
    try:
        with torch.no_grad():
            module(*args)
    except Exception:
        pass
    finally:
        for h in hooks:
            h.remove()
    return calls


def failing_layer(module, args: tuple, exporter: str, opset: int | None) -> str | None:
    """The first leaf module (in call order) that fails to export on its own, as 'name (Class)'."""
    torch = _torch()
    seen: set[int] = set()
    with tempfile.TemporaryDirectory(prefix="o2c-torch-") as tmp:
        for name, m, inputs in _leaf_calls(module, args):
            if id(m) in seen or not all(isinstance(i, torch.Tensor) for i in inputs):
                continue
            seen.add(id(m))
            try:
                _export(m, inputs, exporter, opset, None, None, tmp)
            except Exception:
                return f"'{name}' ({type(m).__name__})"
    return None


def from_torch(module, example_inputs, *, exporter: str = "dynamo", opset: int | None = None,
               input_names: Sequence[str] | None = None, output_names: Sequence[str] | None = None,
               name: str | None = None, samples: int = 3, rtol: float = 1e-4, atol: float = 1e-5,
               seed: int = 0) -> onnx.ModelProto:
    """Export a torch.nn.Module (put in eval mode) to ONNX and check it against PyTorch.

    example_inputs: a tensor/array or a tuple of them (fixes the model's input shapes).
    exporter: 'dynamo' (torch.export based, the default) or 'legacy' (TorchScript tracing).
    The parity check runs the example inputs and samples-1 random ones of the same shapes."""
    torch = _torch()
    if exporter not in EXPORTERS:
        raise O2CError(f"unknown PyTorch exporter '{exporter}' (choose from {', '.join(EXPORTERS)})")
    if not isinstance(module, torch.nn.Module):
        raise O2CError(f"from_torch needs a torch.nn.Module, got {type(module).__name__}")
    arrays = as_arrays(example_inputs)
    if not arrays:
        raise O2CError("from_torch needs example inputs (e.g. --input-shape 1x3x32x32)")
    args = tuple(torch.from_numpy(np.ascontiguousarray(a)) for a in arrays)
    module.eval()
    label = _exporter_label(torch, exporter)
    with tempfile.TemporaryDirectory(prefix="o2c-torch-") as tmp:
        try:
            model = _export(module, args, exporter, opset, list(input_names) if input_names else None,
                            list(output_names) if output_names else None, tmp)
        except Exception as e:
            where = failing_layer(module, args, exporter, opset)
            raise FrontendError(f"{label} failed" + (f" at layer {where}" if where else
                                f" in {type(module).__name__}.forward (no single layer fails alone)")
                                + f": {first_line(e)}") from None
    model = finalize(model, name or type(module).__name__, label)

    def run(*xs):
        with torch.no_grad():
            out = module(*(torch.from_numpy(np.ascontiguousarray(x)) for x in xs))
        return flatten_outputs(out)

    parity.check(model, run, parity_samples(arrays, samples, seed), "PyTorch", label, rtol, atol)
    return model

"""What the frontends share: importing a framework (or saying which extra installs it), turning an
exporter's output into a clean ONNX model, sample inputs, factories named on the command line, and
saving with external data."""
from __future__ import annotations

import contextlib
import importlib
import importlib.util
import io
import os
import sys
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import onnx

from ..errors import ModelError, O2CError

# onnxruntime 1.31 refuses IR versions above 10; every model a frontend returns declares at most this.
MAX_IR_VERSION = 10
# A protobuf message cannot be serialized past 2 GiB: bigger models are saved with external data.
PROTO_LIMIT = (2 << 30) - (64 << 20)


class FrontendError(ModelError):
    """An exporter could not produce a usable ONNX model (the message names the layer at fault)."""


def require(module: str, framework: str, extra: str):
    """Import `module`, or fail in one line naming the pip extra that installs it."""
    try:
        if sys.modules.get(module) is not None:
            return sys.modules[module]
        with quiet():
            return importlib.import_module(module)
    except ImportError as e:
        missing = getattr(e, "name", None) or module
        raise O2CError(f"{framework} frontend needs '{missing}', which is not installed: "
                       f"pip install 'onnx2cedr[{extra}]'") from None


def first_line(e: BaseException, limit: int = 300) -> str:
    """The first meaningful line of an exception message (exporters' messages run for pages)."""
    for line in str(e).splitlines():
        line = line.strip()
        if line and not set(line) <= set("-=*~ "):
            # drop ANSI colour codes some exporters print
            import re

            line = re.sub(r"\x1b\[[0-9;]*m", "", line)
            return line[:limit] if len(line) <= limit else line[:limit - 3] + "..."
    return type(e).__name__


@contextlib.contextmanager
def _quiet_fds():
    """Silence file descriptors 1 and 2 themselves: TensorFlow's C++ logging (absl, oneDNN notices)
    writes to them directly, past sys.stdout/sys.stderr."""
    import tempfile

    try:
        sys.stdout.flush()
        sys.stderr.flush()
        saved = [os.dup(1), os.dup(2)]
    except (OSError, ValueError):  # no real descriptors (embedded interpreters): Python-level only
        yield
        return
    with tempfile.TemporaryFile() as sink:
        try:
            os.dup2(sink.fileno(), 1)
            os.dup2(sink.fileno(), 2)
            yield
        finally:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


@contextlib.contextmanager
def quiet():
    """Exporters print progress to stdout/stderr (Python and C++); their news arrives as
    exceptions or in the model."""
    import warnings

    out, err = io.StringIO(), io.StringIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), _quiet_fds():
        warnings.simplefilter("ignore")
        yield


def finalize(model: onnx.ModelProto, name: str | None = None, producer: str = "") -> onnx.ModelProto:
    """An exporter's model made uniform: local functions inlined, IR version onnxruntime accepts,
    a graph name, and where the model came from in its metadata."""
    if model.functions:
        try:
            import onnx.inliner

            model = onnx.inliner.inline_local_functions(model)
        except Exception as e:
            raise FrontendError(f"inlining the exported model's local functions failed: {first_line(e)}") from None
    if model.ir_version > MAX_IR_VERSION or model.ir_version == 0:
        model.ir_version = MAX_IR_VERSION
    if name:
        model.graph.name = name
    if producer:
        set_metadata(model, "onnx2cedr.exporter", producer)
    return model


def set_metadata(model: onnx.ModelProto, key: str, value: str) -> None:
    for p in model.metadata_props:
        if p.key == key:
            p.value = value
            return
    model.metadata_props.add(key=key, value=value)


def get_metadata(model: onnx.ModelProto, key: str) -> str | None:
    for p in model.metadata_props:
        if p.key == key:
            return p.value
    return None


def unknown_ops(model: onnx.ModelProto) -> list[onnx.NodeProto]:
    """Nodes of the main graph that are no ONNX operator: what an exporter that 'continues on
    error' (tf2onnx) leaves behind for ops it could not convert."""
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    bad = []
    for n in model.graph.node:
        if n.domain not in ("", "ai.onnx"):
            continue
        try:
            onnx.defs.get_schema(n.op_type, opset, "")
        except onnx.defs.SchemaError:
            bad.append(n)
    return bad


def as_arrays(inputs: Any) -> list[np.ndarray]:
    """Example inputs (one array or a sequence of them, framework tensors included) as numpy."""
    if inputs is None:
        return []
    if isinstance(inputs, (list, tuple)):
        return [to_numpy(x) for x in inputs]
    return [to_numpy(inputs)]


def to_numpy(x) -> np.ndarray:
    if isinstance(x, np.ndarray):
        return x
    if hasattr(x, "detach"):  # torch
        return x.detach().cpu().numpy()
    if hasattr(x, "numpy"):  # tf / keras tensors
        return np.asarray(x.numpy())
    return np.asarray(x)


def random_like(arrays: Sequence[np.ndarray], seed: int) -> list[np.ndarray]:
    """Fresh inputs of the same shapes and dtypes: standard normal floats, small integers."""
    rng = np.random.default_rng(seed)
    out = []
    for a in arrays:
        if np.issubdtype(a.dtype, np.floating):
            out.append(rng.standard_normal(a.shape).astype(a.dtype))
        elif a.dtype == np.bool_:
            out.append(rng.integers(0, 2, a.shape).astype(np.bool_))
        else:
            out.append(rng.integers(0, 4, a.shape).astype(a.dtype))
    return out


def parity_samples(example: Sequence[np.ndarray], samples: int, seed: int) -> list[list[np.ndarray]]:
    """The example inputs, then random ones of the same kind: `samples` sets in all."""
    if samples < 1:
        raise O2CError("the parity check needs at least 1 sample")
    return [list(example)] + [random_like(example, seed + k) for k in range(1, samples)]


def parse_dims(spec: str) -> tuple[int, ...]:
    import re

    if not re.fullmatch(r"\s*\d+(x\d+)*\s*", spec):
        raise O2CError(f"bad --input-shape '{spec}': expected DxDxD, e.g. 1x3x32x32")
    return tuple(int(d) for d in spec.strip().split("x"))


def load_factory(spec: str) -> tuple[Any, str]:
    """'path/to/file.py:NAME' -> (the result of calling NAME(), or NAME itself when it is not a
    plain function or class, NAME). The file is imported as a module of its own."""
    path, sep, attr = str(spec).rpartition(":")
    if not sep or not path.endswith(".py") or not attr.isidentifier():
        raise O2CError(f"'{spec}' is not FILE.py:FACTORY (e.g. model.py:build)")
    p = Path(path)
    if not p.is_file():
        raise O2CError(f"model file '{path}' does not exist")
    mod_name = f"_o2c_user_{p.stem}_{abs(hash(str(p.resolve()))) % 10**8}"
    loader_spec = importlib.util.spec_from_file_location(mod_name, p)
    module = importlib.util.module_from_spec(loader_spec)
    sys.modules[mod_name] = module
    sys.path.insert(0, str(p.resolve().parent))  # the file may import its neighbours
    try:
        loader_spec.loader.exec_module(module)
    except O2CError:
        raise
    except Exception as e:
        raise O2CError(f"importing '{path}' failed: {type(e).__name__}: {first_line(e)}") from None
    finally:
        with contextlib.suppress(ValueError):
            sys.path.remove(str(p.resolve().parent))
    if not hasattr(module, attr):
        raise O2CError(f"'{path}' defines no '{attr}'")
    obj = getattr(module, attr)
    import inspect

    if inspect.isfunction(obj) and not _takes_arguments(obj):
        try:
            obj = obj()
        except O2CError:
            raise
        except Exception as e:
            raise O2CError(f"calling {attr}() from '{path}' failed: {type(e).__name__}: {first_line(e)}") from None
    return obj, attr


def _takes_arguments(fn: Callable) -> bool:
    import inspect

    return any(p.default is inspect.Parameter.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
               for p in inspect.signature(fn).parameters.values())


def save(model: onnx.ModelProto, path: str | os.PathLike, external_data: bool | None = None) -> list[Path]:
    """Write the model; weights go to PATH.data when asked or when the model is too big for one
    protobuf message. Returns the files written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if external_data is None:
        external_data = model.ByteSize() > PROTO_LIMIT
    if not external_data:
        onnx.save_model(model, str(path))
        return [path]
    data = path.with_name(path.name + ".data")
    if data.exists():
        data.unlink()  # onnx appends to an existing file
    onnx.save_model(model, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                    location=data.name, size_threshold=1024)
    return [path, data] if data.exists() else [path]


def flatten_outputs(out, leaves: Callable[[Any], Iterable[Any]] | None = None) -> list[np.ndarray]:
    """A framework's result (tensor, tuple, list, dict; nested) as a flat list of numpy arrays, in
    the order exporters give outputs (dicts in insertion order)."""
    if leaves is not None:
        return [to_numpy(x) for x in leaves(out)]
    flat: list[np.ndarray] = []

    def walk(o):
        if isinstance(o, dict):
            for v in o.values():
                walk(v)
        elif isinstance(o, (list, tuple)):
            for v in o:
                walk(v)
        elif o is not None:
            flat.append(to_numpy(o))

    walk(out)
    return flat


def fix_io_shapes(model: onnx.ModelProto, inputs: Sequence[np.ndarray], outputs: Sequence[np.ndarray]) -> None:
    """Replace symbolic dimensions (tf2onnx makes the batch one symbolic) of the graph's inputs and
    outputs by the sizes of the example run: the compiler needs static shapes."""
    init = {t.name for t in model.graph.initializer}
    real = [i for i in model.graph.input if i.name not in init]
    for vis, arrays in ((real, inputs), (model.graph.output, outputs)):
        if len(vis) != len(arrays):
            continue
        for vi, a in zip(vis, arrays):
            dims = vi.type.tensor_type.shape.dim
            if len(dims) != np.ndim(a):
                continue
            for d, size in zip(dims, np.shape(a)):
                if not d.HasField("dim_value"):
                    d.dim_value = int(size)

"""onnx2cedr: compile ONNX models into C++ applications for the CEDR heterogeneous-SoC runtime.

Python API (mirrors the CLI):
    onnx2cedr.convert(model, out_dir, ...)   -> ConvertResult (built artifacts in out_dir)
    onnx2cedr.validate(model, ...)           -> ValidationReport (vs onnxruntime)
    onnx2cedr.inspect(model, ...)            -> dict (graph after passes, placement, FLOPs, memory)
    onnx2cedr.ModelLibrary(out_dir).run(inputs)

Frontends (each returns an onnx.ModelProto checked against onnxruntime; see docs/frontends.md):
    onnx2cedr.from_torch(module, example_inputs)        pip install 'onnx2cedr[torch]'
    onnx2cedr.from_keras(model_or_path)                 pip install 'onnx2cedr[tf]'
    onnx2cedr.from_tf(saved_model_dir)                  pip install 'onnx2cedr[tf]'
    onnx2cedr.from_jax(fn, params, example_inputs)      pip install 'onnx2cedr[jax]'
"""
__version__ = "0.1.0"


def convert(model, out_dir, **kwargs):
    from .compiler import convert as _convert

    return _convert(model, out_dir, **kwargs)


def validate(model, **kwargs):
    from .validation import validate as _validate

    return _validate(model, **kwargs)


def inspect(model, **kwargs):
    from .compiler import compile_model, describe

    return describe(compile_model(model, **kwargs))


def from_torch(module, example_inputs, **kwargs):
    from .frontends import from_torch as _f

    return _f(module, example_inputs, **kwargs)


def from_keras(model_or_path, example_inputs=None, **kwargs):
    from .frontends import from_keras as _f

    return _f(model_or_path, example_inputs, **kwargs)


def from_tf(saved_model_dir, example_inputs=None, **kwargs):
    from .frontends import from_tf as _f

    return _f(saved_model_dir, example_inputs, **kwargs)


def from_jax(fn, params=None, example_inputs=(), **kwargs):
    from .frontends import from_jax as _f

    return _f(fn, params, example_inputs, **kwargs)


def __getattr__(name):
    if name == "ModelLibrary":
        from .runner import ModelLibrary

        return ModelLibrary
    if name in ("O2CError", "ModelError", "UnsupportedError", "BuildError", "ValidationError"):
        from . import errors

        return getattr(errors, name)
    raise AttributeError(name)

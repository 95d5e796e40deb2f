"""onnx2cedr: compile ONNX models into C++ applications for the CEDR heterogeneous-SoC runtime.

Python API (mirrors the CLI):
    onnx2cedr.convert(model, out_dir, ...)   -> ConvertResult (built artifacts in out_dir)
    onnx2cedr.validate(model, ...)           -> ValidationReport (vs onnxruntime)
    onnx2cedr.inspect(model, ...)            -> dict (graph after passes, placement, FLOPs, memory)
    onnx2cedr.ModelLibrary(out_dir).run(inputs)
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


def __getattr__(name):
    if name == "ModelLibrary":
        from .runner import ModelLibrary

        return ModelLibrary
    if name in ("O2CError", "ModelError", "UnsupportedError", "BuildError", "ValidationError"):
        from . import errors

        return getattr(errors, name)
    raise AttributeError(name)

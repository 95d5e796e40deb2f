"""The op registry: one module per op family; importing this package registers them all."""
from . import conv, eltwise, gemm, movement, norm, pool, resize, softmax  # noqa: F401  (registration)
from .base import (Alias, Call, Lowered, NullArg, OpDef, Params, TensorArg, Unsupported, all_ops,
                   check_supported, get_op)

__all__ = ["Alias", "Call", "Lowered", "NullArg", "OpDef", "Params", "TensorArg", "Unsupported", "all_ops",
           "check_supported", "get_op"]

"""The op registry: one module per op family; importing this package registers them all."""
from . import conv, eltwise, gemm, movement, norm, pool, resize, softmax  # noqa: F401  (registration)
from . import einsum, math, normalization, rnn  # noqa: F401  (registration)
from . import index, logic  # noqa: F401  (registration; after eltwise/movement, whose ops they extend)
from . import attention, binary, causal_conv, control, loss, quant, qeltwise, qlinear, qonnx, rearrange, sampling, spectral  # noqa: F401  (registration)
from . import bounded  # noqa: F401  (registration; after movement and index, whose NonZero and TopK it extends)
from .base import (Alias, Call, ExtentArg, Lowered, NullArg, OpDef, Params, ScalarArg, TensorArg, Unsupported, all_ops,
                   check_supported, get_op, lower_for)

__all__ = ["Alias", "Call", "ExtentArg", "Lowered", "NullArg", "OpDef", "Params", "ScalarArg", "TensorArg", "Unsupported", "all_ops",
           "check_supported", "get_op", "lower_for"]

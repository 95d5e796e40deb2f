"""ctypes mirrors of the kernel headers' structs (kernels/include/dash.h, dash_ml.h, o2c_kernels.h)
and the argument types of every exported function the kernel tests call.

The layout is checked against the C compiler in test_kernel_abi.py (offsetof/sizeof of every field).
"""
from __future__ import annotations

import ctypes as C

import numpy as np

MAX_RANK = 8
MAX_SPATIAL = 3

I64x3 = C.c_int64 * MAX_SPATIAL
I64x8 = C.c_int64 * MAX_RANK
I32x8 = C.c_int32 * MAX_RANK

# dash_unary_op_t
ACT_NONE, ACT_RELU, ACT_LEAKY_RELU, ACT_CLIP, ACT_SIGMOID, ACT_TANH = 0, 1, 2, 3, 4, 5
ACT_HARD_SIGMOID, ACT_HARD_SWISH, ACT_ELU = 6, 7, 8
UNARY_LAST_ACTIVATION = 8
(UNARY_IDENTITY, UNARY_EXP, UNARY_LOG, UNARY_SQRT, UNARY_ABS, UNARY_NEG, UNARY_RECIPROCAL, UNARY_FLOOR,
 UNARY_CEIL, UNARY_ERF, UNARY_SOFTPLUS, UNARY_SIN, UNARY_COS, UNARY_ROUND, UNARY_SIGN, UNARY_AFFINE) = range(9, 25)

POOL_MAX, POOL_AVG, POOL_LP = 0, 1, 2
BIN_ADD, BIN_SUB, BIN_MUL, BIN_DIV, BIN_MAX, BIN_MIN, BIN_POW, BIN_PRELU = range(8)
PAD_CONSTANT, PAD_REFLECT, PAD_EDGE, PAD_WRAP = range(4)
(REDUCE_SUM, REDUCE_MEAN, REDUCE_MAX, REDUCE_MIN, REDUCE_PROD, REDUCE_L1, REDUCE_L2, REDUCE_LOG_SUM_EXP,
 REDUCE_SUM_SQUARE, REDUCE_LOG_SUM) = range(10)
ZIP_ADD, ZIP_SUB, ZIP_MULT, ZIP_DIV, ZIP_CMP_MULT = range(5)


class Act(C.Structure):
    _fields_ = [("op", C.c_int32), ("alpha", C.c_float), ("beta", C.c_float)]


class GemmParams(C.Structure):
    _fields_ = [
        ("batch", C.c_int64), ("M", C.c_int64), ("N", C.c_int64), ("K", C.c_int64),
        ("stride_a", C.c_int64), ("stride_b", C.c_int64), ("stride_c", C.c_int64),
        ("trans_a", C.c_int32), ("trans_b", C.c_int32),
        ("alpha", C.c_float), ("beta", C.c_float),
        ("bias_kind", C.c_int32),
        ("act", Act),
    ]


class ConvParams(C.Structure):
    _fields_ = [
        ("spatial_rank", C.c_int32), ("has_bias", C.c_int32),
        ("batch", C.c_int64), ("in_channels", C.c_int64), ("out_channels", C.c_int64), ("groups", C.c_int64),
        ("in_size", I64x3), ("out_size", I64x3), ("kernel", I64x3), ("stride", I64x3),
        ("dilation", I64x3), ("pad_begin", I64x3),
        ("act", Act),
        ("packed", C.c_void_p),
    ]


class PoolParams(C.Structure):
    _fields_ = [
        ("kind", C.c_int32), ("spatial_rank", C.c_int32), ("count_include_pad", C.c_int32), ("p", C.c_int32),
        ("channels", C.c_int64),
        ("in_size", I64x3), ("out_size", I64x3), ("kernel", I64x3), ("stride", I64x3),
        ("dilation", I64x3), ("pad_begin", I64x3), ("pad_end", I64x3),
    ]


class BinaryParams(C.Structure):
    _fields_ = [
        ("op", C.c_int32), ("rank", C.c_int32),
        ("out_shape", I64x8), ("a_stride", I64x8), ("b_stride", I64x8),
        ("act", Act),
    ]


class UnaryParams(C.Structure):
    _fields_ = [("n", C.c_int64), ("op", Act)]


class SoftmaxParams(C.Structure):
    _fields_ = [("outer", C.c_int64), ("axis", C.c_int64), ("inner", C.c_int64), ("log", C.c_int32)]


class CopyParams(C.Structure):
    _fields_ = [
        ("rank", C.c_int32), ("elem_size", C.c_int32), ("src_offset", C.c_int64),
        ("shape", I64x8), ("src_stride", I64x8), ("dst_stride", I64x8),
    ]


class PadParams(C.Structure):
    _fields_ = [
        ("rank", C.c_int32), ("mode", C.c_int32), ("value", C.c_float),
        ("in_shape", I64x8), ("out_shape", I64x8), ("pad_begin", I64x8),
    ]


class ResizeParams(C.Structure):
    _fields_ = [("rank", C.c_int32), ("taps", C.c_int32), ("in_shape", I64x8), ("out_shape", I64x8),
                ("extrapolate", C.c_int32), ("extrapolation_value", C.c_float)]


class ChannelAffineParams(C.Structure):
    _fields_ = [("outer", C.c_int64), ("channels", C.c_int64), ("inner", C.c_int64), ("act", Act)]


class LrnParams(C.Structure):
    _fields_ = [
        ("batch", C.c_int64), ("channels", C.c_int64), ("inner", C.c_int64), ("size", C.c_int64),
        ("alpha", C.c_float), ("beta", C.c_float), ("bias", C.c_float),
    ]


class ReduceParams(C.Structure):
    _fields_ = [("op", C.c_int32), ("rank", C.c_int32), ("in_shape", I64x8), ("reduce", I32x8), ("type", C.c_int32)]


class CmplxFlt(C.Structure):
    _fields_ = [("re", C.c_float), ("im", C.c_float)]


class CmplxInt(C.Structure):
    _fields_ = [("im", C.c_short), ("re", C.c_short)]


class Barrier(C.Structure):
    _fields_ = [("cond", C.c_void_p), ("mutex", C.c_void_p), ("completion_ctr", C.POINTER(C.c_uint32))]


# C struct name -> ctypes mirror (for the layout check)
STRUCTS = {
    "dash_act_t": Act,
    "dash_gemm_params_t": GemmParams,
    "dash_conv_params_t": ConvParams,
    "dash_pool_params_t": PoolParams,
    "dash_binary_params_t": BinaryParams,
    "dash_unary_params_t": UnaryParams,
    "dash_softmax_params_t": SoftmaxParams,
    "o2c_copy_params_t": CopyParams,
    "o2c_pad_params_t": PadParams,
    "o2c_resize_params_t": ResizeParams,
    "o2c_channel_affine_params_t": ChannelAffineParams,
    "o2c_lrn_params_t": LrnParams,
    "o2c_reduce_params_t": ReduceParams,
    "dash_cmplx_flt_type": CmplxFlt,
    "dash_cmplx_int_type": CmplxInt,
    "cedr_barrier_t": Barrier,
}

# ---------------------------------------------------------------------------------------------
# argument types
# ---------------------------------------------------------------------------------------------
vp = C.c_void_p
P = C.POINTER
pp = P(C.c_void_p)  # pointer-to-pointer arguments of the _cpu / _nb forms

SIGNATURES = {
    "o2c_gemm": [vp, vp, vp, vp, P(GemmParams)],
    "o2c_conv": [vp, vp, vp, vp, P(ConvParams)],
    "o2c_conv_transpose": [vp, vp, vp, vp, P(ConvParams)],
    "o2c_pool": [vp, vp, P(PoolParams)],
    "o2c_binary": [vp, vp, vp, P(BinaryParams)],
    "o2c_unary": [vp, vp, P(UnaryParams)],
    "o2c_softmax": [vp, vp, P(SoftmaxParams)],
    "o2c_copy": [vp, vp, P(CopyParams)],
    "o2c_fill": [vp, C.c_int64, C.c_int32, vp],
    "o2c_pad": [vp, vp, P(PadParams)],
    "o2c_resize": [vp, vp, vp, vp, P(ResizeParams)],
    "o2c_channel_affine": [vp, vp, vp, vp, P(ChannelAffineParams)],
    "o2c_lrn": [vp, vp, P(LrnParams)],
    "o2c_reduce": [vp, vp, P(ReduceParams)],
    "o2c_npy_read": [C.c_char_p, C.c_char_p, P(C.c_int64), C.c_int32, vp, C.c_int64, C.c_char_p, C.c_size_t],
    "o2c_npy_write": [C.c_char_p, C.c_char_p, P(C.c_int64), C.c_int32, vp, C.c_int64],
    # public APIs, blocking
    "DASH_FFT_flt": [vp, vp, C.c_size_t, C.c_bool],
    "DASH_FFT_int": [vp, vp, C.c_size_t, C.c_bool],
    "DASH_GEMM_flt": [vp, vp, vp, C.c_size_t, C.c_size_t, C.c_size_t],
    "DASH_GEMM_int": [vp, vp, vp, C.c_size_t, C.c_size_t, C.c_size_t],
    "DASH_ZIP_flt": [vp, vp, vp, C.c_size_t, C.c_int],
    "DASH_ZIP_int": [vp, vp, vp, C.c_size_t, C.c_int],
    "DASH_CONV_2D_int": [vp, C.c_int, C.c_int, vp, C.c_int, vp],
    "DASH_CONV_1D_flt": [vp, C.c_int, vp, C.c_int, vp],
    # ML APIs, blocking
    "DASH_GEMM_RE_flt": [vp, vp, vp, vp, P(GemmParams)],
    "DASH_CONV_flt": [vp, vp, vp, vp, P(ConvParams)],
    "DASH_CONV_TRANSPOSE_flt": [vp, vp, vp, vp, P(ConvParams)],
    "DASH_POOL_flt": [vp, vp, P(PoolParams)],
    "DASH_BINARY_flt": [vp, vp, vp, P(BinaryParams)],
    "DASH_UNARY_flt": [vp, vp, P(UnaryParams)],
    "DASH_SOFTMAX_flt": [vp, vp, P(SoftmaxParams)],
}

# number of API arguments (the _cpu form takes that many pointers, _nb one more: the barrier)
API_ARITY = {
    "DASH_FFT_flt": 4, "DASH_FFT_int": 4, "DASH_GEMM_flt": 6, "DASH_GEMM_int": 6,
    "DASH_ZIP_flt": 5, "DASH_ZIP_int": 5, "DASH_CONV_2D_int": 6, "DASH_CONV_1D_flt": 5,
    "DASH_GEMM_RE_flt": 5, "DASH_CONV_flt": 5, "DASH_CONV_TRANSPOSE_flt": 5, "DASH_POOL_flt": 3,
    "DASH_BINARY_flt": 4, "DASH_UNARY_flt": 3, "DASH_SOFTMAX_flt": 3,
}


def setup_signatures(lib: C.CDLL) -> C.CDLL:
    for name, args in SIGNATURES.items():
        fn = getattr(lib, name)
        fn.argtypes = args
        fn.restype = C.c_int if name.startswith("o2c_npy") else None
    for api, n in API_ARITY.items():
        getattr(lib, api + "_cpu").argtypes = [vp] * n
        getattr(lib, api + "_cpu").restype = None
        getattr(lib, api + "_nb").argtypes = [vp] * n + [P(Barrier)]
        getattr(lib, api + "_nb").restype = None
    return lib


def ptr(a: np.ndarray | None) -> int | None:
    """Address of a numpy array's data (None for None)."""
    if a is None:
        return None
    return a.ctypes.data


def i64x(values, n: int = MAX_RANK):
    vals = list(values) + [0] * (n - len(values))
    return (C.c_int64 * n)(*vals)


def act(op: int = ACT_NONE, alpha: float = 0.0, beta: float = 0.0) -> Act:
    return Act(op, alpha, beta)

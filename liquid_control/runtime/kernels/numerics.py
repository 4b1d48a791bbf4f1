"""What every liquid-cell kernel shares: the Numba compile settings and the scalar and SIMD-friendly math.

``_jit`` compiles a kernel (cached on disk, fast-math flags that keep NaN and Inf visible, numpy's
error model); ``_inline`` marks helpers inlined into them. The float32 exp, sigmoid and tanh here are
straight-line arithmetic, so loops over agents in the batch kernels vectorise.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

_FLAGS = {"reassoc", "contract", "arcp", "nsz"}  # no 'nnan'/'ninf': NaN must stay visible
# error_model="numpy": x / 0 gives inf or NaN as in torch, instead of a Python ZeroDivisionError
# check whose branch also keeps loops from being vectorised.
_jit = numba.njit(cache=True, fastmath=_FLAGS, nogil=True, error_model="numpy")
_inline = numba.njit(inline="always", fastmath=_FLAGS, error_model="numpy")

# Activation codes for CfC backbones (liquid_control.nets.cfc.ACTIVATIONS).
ACTIVATION_CODES = {"lecun_tanh": 0, "silu": 1, "relu": 2, "tanh": 3, "gelu": 4}
# CfC modes.
MODE_CODES = {"default": 0, "no_gate": 1, "pure": 2}


@_jit
def _sigmoid(x):
    return 1.0 / (1.0 + math.exp(-x))


# ----------------------------------------------------------------- vectorisable exp for the batch kernels
# libm's exp is a call the compiler cannot vectorise; across a batch of agents that call is most of
# the time. The batch kernels compute in float32, as the torch model does, with this exp: range
# reduction by ln 2, a degree-6 polynomial, 2**n built in the exponent bits: straight-line
# arithmetic, so a loop over agents becomes 8-wide SIMD code (AVX2); it stays within float32
# rounding of libm's sigmoid. Inputs are clamped to [-87, 87] (no float32 sigmoid or tanh changes);
# NaN passes.
@intrinsic
def _bits_as_float32(typingctx, bits):
    signature = types.float32(types.int32)

    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], ir.FloatType())

    return signature, codegen


_F = np.float32
_ZERO, _HALF, _ONE, _TWO = _F(0.0), _F(0.5), _F(1.0), _F(2.0)
_EXP_LOW, _EXP_HIGH, _LOG2_E = _F(-87.0), _F(87.0), _F(1.4426950408889634)
_LN2_HIGH, _LN2_LOW = _F(0.693359375), _F(-2.12194440e-4)  # ln 2 split in two for an exact reduction
_C2, _C3, _C4, _C5, _C6 = _F(1 / 2), _F(1 / 6), _F(1 / 24), _F(1 / 120), _F(1 / 720)


@_inline
def _vexp(x):
    y = min(max(x, _EXP_LOW), _EXP_HIGH)
    n = np.floor(y * _LOG2_E + _HALF)
    r = (y - n * _LN2_HIGH) - n * _LN2_LOW
    p = _ONE + r * (_ONE + r * (_C2 + r * (_C3 + r * (_C4 + r * (_C5 + r * _C6)))))
    result = p * _bits_as_float32((np.int32(n) + np.int32(127)) << np.int32(23))
    return result if x == x else x


@_inline
def _vsigmoid(x):
    return _ONE / (_ONE + _vexp(-x))


@_inline
def _vtanh(x):
    return _ONE - _TWO / (_vexp(_TWO * x) + _ONE)


# Agents per block in the batch kernels: the block's working set stays in L1.
_BLOCK = 64


@_jit
def _activation(x, code):
    if code == 0:
        return 1.7159 * math.tanh(0.666 * x)
    if code == 1:
        return x / (1.0 + math.exp(-x))
    if code == 2:
        return 0.0 if x <= 0.0 else x  # NaN stays NaN
    if code == 3:
        return math.tanh(x)
    return 0.5 * x * (1.0 + math.erf(x * 0.7071067811865476))


# SPDX-License-Identifier: Apache-2.0
"""The TFLite schema's codes as patchbench names them (types, activations, paddings, op kinds)."""

from __future__ import annotations

from tflite.TensorType import TensorType
from tflite.utils import BUILTIN_OPCODE2NAME

from harness.ir.graph import OP_KINDS
from harness.ir.opdefs import OP_DEFS, kinds

FILE_IDENTIFIER = b"TFL3"
SCHEMA_VERSION = 3


class TFLiteImportError(ValueError):
    """A .tflite file patchbench cannot import; the message names the op/tensor/field and its index."""


_DTYPE_OF_TYPE = {
    TensorType.FLOAT32: "float32",
    TensorType.INT32: "int32",
    TensorType.INT8: "int8",
    TensorType.INT16: "int16",
}
_TYPE_OF_DTYPE = {dtype: code for code, dtype in _DTYPE_OF_TYPE.items()}
_TYPE_NAMES = {v: k for k, v in vars(TensorType).items() if not k.startswith("_") and isinstance(v, int)}

_ACTIVATION_OF_CODE = {0: "NONE", 1: "RELU", 2: "RELU_N1_TO_1", 3: "RELU6"}
_CODE_OF_ACTIVATION = {name: code for code, name in _ACTIVATION_OF_CODE.items()}
_ACTIVATION_NAMES = {4: "TANH", 5: "SIGN_BIT"}
_PADDING_OF_CODE = {0: "SAME", 1: "VALID"}
_CODE_OF_PADDING = {name: code for code, name in _PADDING_OF_CODE.items()}

_CODE_OF_KIND = {name: code for code, name in BUILTIN_OPCODE2NAME.items() if name in OP_KINDS}
_CUSTOM_CODE = 32

# Ops with a fused activation (TFLite applies it as an int8 clamp in the output's quantization).
_FUSED_ACTIVATION_OPS = kinds(fused_activation=True)
_POOL_OPS = kinds(family="pool")
# (min, max) number of inputs per op kind; None = any number >= min (harness/ir/opdefs.py).
_INPUT_COUNTS: dict[str, tuple[int, int | None]] = {kind: d.inputs for kind, d in OP_DEFS.items()}
# Inputs that must be constants, by position: (position, role, dtype).
_CONST_INPUTS: dict[str, tuple[tuple[int, str, str], ...]] = {
    kind: d.consts for kind, d in OP_DEFS.items() if d.consts
}

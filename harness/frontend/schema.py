"""The TFLite schema's codes as patchbench names them (types, activations, paddings, op kinds)."""

from __future__ import annotations

from tflite.TensorType import TensorType
from tflite.utils import BUILTIN_OPCODE2NAME

from harness.ir.graph import OP_KINDS

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
_FUSED_ACTIVATION_OPS = (
    "CONV_2D",
    "DEPTHWISE_CONV_2D",
    "FULLY_CONNECTED",
    "ADD",
    "SUB",
    "MUL",
    "TRANSPOSE_CONV",
)
_POOL_OPS = ("AVERAGE_POOL_2D", "MAX_POOL_2D")
# (min, max) number of inputs per op kind; None = any number >= min.
_INPUT_COUNTS: dict[str, tuple[int, int | None]] = {
    "CONV_2D": (3, 3),
    "DEPTHWISE_CONV_2D": (3, 3),
    "FULLY_CONNECTED": (2, 3),
    "ADD": (2, 2),
    "SUB": (2, 2),
    "MUL": (2, 2),
    "MAXIMUM": (2, 2),
    "MINIMUM": (2, 2),
    "PRELU": (2, 2),
    "AVERAGE_POOL_2D": (1, 1),
    "MAX_POOL_2D": (1, 1),
    "MEAN": (2, 2),
    "PAD": (2, 2),
    "PADV2": (2, 3),
    "SLICE": (3, 3),
    "STRIDED_SLICE": (4, 4),
    "SPLIT": (2, 2),
    "SPLIT_V": (3, 3),
    "RESHAPE": (1, 2),
    "TRANSPOSE": (2, 2),
    "CONCATENATION": (1, None),
    "RESIZE_NEAREST_NEIGHBOR": (2, 2),
    "SOFTMAX": (1, 1),
    "QUANTIZE": (1, 1),
    "DEQUANTIZE": (1, 1),
    "LOGISTIC": (1, 1),
    "TANH": (1, 1),
    "HARD_SWISH": (1, 1),
    "LEAKY_RELU": (1, 1),
    "RELU": (1, 1),
    "RELU6": (1, 1),
    "RELU_N1_TO_1": (1, 1),
    "TRANSPOSE_CONV": (3, 4),
    "RESIZE_BILINEAR": (2, 2),
    "DEPTH_TO_SPACE": (1, 1),
    "SPACE_TO_DEPTH": (1, 1),
}
# Inputs that must be constants, by position: (position, role, dtype).
_CONST_INPUTS: dict[str, tuple[tuple[int, str, str], ...]] = {
    "CONV_2D": ((1, "filter", "int8"), (2, "bias", "int32")),
    "DEPTHWISE_CONV_2D": ((1, "filter", "int8"), (2, "bias", "int32")),
    "FULLY_CONNECTED": ((1, "weights", "int8"), (2, "bias", "int32")),
    "MEAN": ((1, "axes", "int32"),),
    "PAD": ((1, "paddings", "int32"),),
    "PADV2": ((1, "paddings", "int32"), (2, "constant value", "int8")),
    "SLICE": ((1, "begin", "int32"), (2, "size", "int32")),
    "STRIDED_SLICE": ((1, "begin", "int32"), (2, "end", "int32"), (3, "strides", "int32")),
    "SPLIT": ((0, "axis", "int32"),),
    "SPLIT_V": ((1, "size_splits", "int32"), (2, "axis", "int32")),
    "RESHAPE": ((1, "shape", "int32"),),
    "TRANSPOSE": ((1, "perm", "int32"),),
    "RESIZE_NEAREST_NEIGHBOR": ((1, "size", "int32"),),
    "RESIZE_BILINEAR": ((1, "size", "int32"),),
    "TRANSPOSE_CONV": ((0, "output shape", "int32"), (1, "filter", "int8"), (3, "bias", "int32")),
}

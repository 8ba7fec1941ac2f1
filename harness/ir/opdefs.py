# SPDX-License-Identifier: Apache-2.0
"""One definition per op kind: everything about an op that is data, and the parts of it that other layers
register by kind.

An ``OpDef`` holds what patchbench knows about an op kind independent of any layer: its schema (how many
inputs, which of them are constants, its builtin options and the IR attributes they become, the op
version the export writes), what kind of computation it is (a convolution, an elementwise op, a tile
rearrangement, ...), whether and how the patch stage runs it, and the C kernels that run it on the
device. The tables of the layers derive from these records: ``graph.OP_KINDS``, ``UNARY_KINDS`` and
``BROADCAST_KINDS``; ``geometry``'s window, tile and single-activation kinds; the front end's input
counts, constant inputs, op versions and option fields; the schedule's patch-stage capability; the kinds
with a DSP kernel (read from the C, ``harness.codegen.kernels.dsp_kinds``).

The parts that are code live in the layer that owns their imports, registered under the kind; a test
(``tests/ir/test_opdefs.py``) names each part an op kind lacks:

| part | where, keyed by kind |
| --- | --- |
| shape rule | ``shape`` here, or ``harness/ir/shapes.py``'s ``_RULES`` |
| reference | ``harness/reference/runner.py``'s ``_KERNELS`` |
| options read / write | generic from ``options`` + ``fields`` here, or ``harness/frontend/reader.py`` / ``writer.py`` |
| emitter and its check | ``harness/codegen/ops.py``'s ``EMITTERS`` and ``_CHECKS`` |
| C kernels | ``kernels`` here: each defined in ``codegen/kernels/pb_<op>.c``, its declaration derived from there |
| CMSIS-NN call (optional) | ``harness/codegen/ops.py``'s ``CMSIS_NN`` (the function: ``cmsis_nn`` here) |

Adding an op: a record below, its reference, its emitter, its C kernel, and its tests.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# How the patch stage runs an op (None: per layer only). The scheduler's rules per capability:
PATCH_WINDOW = "window"  # a sliding window over the image (harness/ir/geometry.py input_window)
PATCH_ELEMENTWISE = "elementwise"  # every output pixel from the same pixel of each operand
PATCH_TILE = "tile"  # an output tile reads one input window by the op's own index rule (tile_input_window)
PATCH_PAD = "pad"  # a PAD: the patch reads the unpadded part of its window
PATCH_SLICE = "slice"  # a 4-D slice keeping every axis (slicing.is_local_slice)
PATCH_CONCAT = "concat"  # channels of several operands side by side
PATCH_CAPABILITIES = (PATCH_WINDOW, PATCH_ELEMENTWISE, PATCH_TILE, PATCH_PAD, PATCH_SLICE, PATCH_CONCAT)

# What kind of computation an op is, where layers treat a family alike.
FAMILIES = ("conv", "pool", "broadcast", "unary", "")


@dataclass(frozen=True)
class Field:
    """One field of an op's TFLite builtin-options table and the IR attribute it becomes.

    ``name`` is the schema's (``AlignCorners``): the reader calls ``options.<name>()``, the writer
    ``tflite.<Table>Add<name>``. ``default`` is what an op without the table gets; None: the op needs
    its table (importing one without it is refused) and the export needs the attribute."""

    attr: str
    name: str
    type: type = int
    default: Any = None


@dataclass(frozen=True)
class OpDef:
    kind: str
    inputs: tuple[int, int | None]  # (fewest, most) inputs; None: any number
    consts: tuple[tuple[int, str, str], ...] = ()  # inputs that must be constants: (position, role, dtype)
    version: int = 1  # the op version patchbench's export writes (int8)
    # The builtin options table read and written field by field (``fields``); None with fields: the op's
    # own reader and writer in harness/frontend/ (convolutions, pools, ... whose options need checks).
    options: str | None = None
    fields: tuple[Field, ...] = ()
    family: str = ""
    fused_activation: bool = False  # its options carry a fused activation (an int8 clamp of the output)
    patch: str | None = None  # one of PATCH_CAPABILITIES, or None: never in the patch stage
    single_activation: bool = False  # inputs after the first are constants (weights, axes, sizes, ...)
    several_outputs: bool = False  # SPLIT, SPLIT_V: the importer rewrites them into SLICEs
    kernels: tuple[str, ...] = ()  # the C functions that run it (kernels/*.c); a `<name>_dsp` = DSP variant
    # the CMSIS-NN function TensorFlow Lite Micro's CMSIS-NN build runs it with (kernels/cmsis_nn/*.cc);
    # patchbench's CMSIS-NN kernel set calls it where harness/codegen/ops.py has its call (CMSIS_NN)
    cmsis_nn: str | None = None
    # None: it writes an int8 activation (quantized per tensor); else the dtype of the plain values it
    # writes (ARG_MAX: int32 indices), which no op after it reads as an activation
    output_dtype: str | None = None
    shape: Callable[[Any], Any] | None = None  # its shape rule (harness/ir/shapes.py's context -> shape)

    def __post_init__(self) -> None:
        if self.patch is not None and self.patch not in PATCH_CAPABILITIES:
            raise ValueError(
                f"{self.kind}: patch capability {self.patch!r} is not one of {PATCH_CAPABILITIES}"
            )
        if self.family not in FAMILIES:
            raise ValueError(f"{self.kind}: family {self.family!r} is not one of {FAMILIES}")
        if self.fields and self.options is None:
            raise ValueError(f"{self.kind}: fields without an options table")


TENSOR_TYPE_INT32 = 2  # the TFLite schema's TensorType.INT32


def _arg_max_shape(ctx):
    """ARG_MAX: the input's shape without the axis it reduces (one int32 axis, negative from the end).
    ``output_type`` is the schema's TensorType of the indices: INT32, the one TFLite Micro writes."""
    shape = ctx.shape(0, "input")
    axis = ctx.const(1, "axis").reshape(-1)
    if axis.size != 1 or not -len(shape) <= int(axis[0]) < len(shape):
        raise ctx.error(f"axis {axis.tolist()} must be one axis of the rank-{len(shape)} input")
    if int(ctx.op.attrs.get("output_type", TENSOR_TYPE_INT32)) != TENSOR_TYPE_INT32:
        raise ctx.error(f"output_type {ctx.op.attrs['output_type']} is not INT32 ({TENSOR_TYPE_INT32})")
    drop = int(axis[0]) % len(shape)
    return shape[:drop] + shape[drop + 1 :]


def batch_matmul_dims(lhs, rhs, adj_x: bool, adj_y: bool) -> tuple[tuple[int, ...], int, int, int]:
    """BATCH_MATMUL of lhs [..., M, K] and rhs [..., K, N] (``adj_x`` / ``adj_y``: that operand is stored
    with its last two axes swapped): (output shape [batch..., M, N], M, K, N); the batch axes broadcast.
    Raises ValueError naming what does not fit."""
    lhs, rhs = tuple(int(d) for d in lhs), tuple(int(d) for d in rhs)
    if len(lhs) < 2 or len(rhs) < 2:
        raise ValueError(f"lhs {lhs} and rhs {rhs} must both have rank 2 or more")
    m, k = (lhs[-1], lhs[-2]) if adj_x else (lhs[-2], lhs[-1])
    k_rhs, n = (rhs[-1], rhs[-2]) if adj_y else (rhs[-2], rhs[-1])
    if k != k_rhs:
        raise ValueError(
            f"lhs {lhs} and rhs {rhs} do not share the summed axis ({k} != {k_rhs}; adj_x {adj_x}, adj_y {adj_y})"
        )
    rank = max(len(lhs), len(rhs)) - 2
    a, b = (1,) * (rank + 2 - len(lhs)) + lhs[:-2], (1,) * (rank + 2 - len(rhs)) + rhs[:-2]
    if any(x != y and 1 not in (x, y) for x, y in zip(a, b, strict=True)):
        raise ValueError(f"the batch axes of lhs {lhs} and rhs {rhs} do not broadcast")
    return tuple(max(x, y) for x, y in zip(a, b, strict=True)) + (m, n), m, k, n


def _batch_matmul_shape(ctx):
    attrs = ctx.op.attrs
    lhs, rhs = ctx.shape(0, "lhs"), ctx.shape(1, "rhs")
    try:
        return batch_matmul_dims(lhs, rhs, bool(attrs.get("adj_x")), bool(attrs.get("adj_y")))[0]
    except ValueError as error:
        raise ctx.error(str(error)) from None


_CONV_CONSTS = ((1, "filter", "int8"), (2, "bias", "int32"))
_RESIZE_FIELDS = (
    Field("align_corners", "AlignCorners", bool, False),
    Field("half_pixel_centers", "HalfPixelCenters", bool, False),
)
_UNARY = dict(inputs=(1, 1), family="unary", patch=PATCH_ELEMENTWISE, kernels=("pb_lut_s8",))
_BINARY = dict(inputs=(2, 2), family="broadcast", patch=PATCH_ELEMENTWISE)

_DEFS = (
    OpDef("CONV_2D", (3, 3), _CONV_CONSTS, 3, family="conv", patch=PATCH_WINDOW, single_activation=True,
          cmsis_nn="arm_convolve_wrapper_s8", fused_activation=True, kernels=("pb_conv2d_s8", "pb_conv1x1_s8")),
    OpDef("DEPTHWISE_CONV_2D", (3, 3), _CONV_CONSTS, 3, family="conv", patch=PATCH_WINDOW,
          single_activation=True, cmsis_nn="arm_depthwise_conv_wrapper_s8",
          fused_activation=True, kernels=("pb_depthwise_conv2d_s8", "pb_depthwise_conv2d_s8_inplace")),
    OpDef("FULLY_CONNECTED", (2, 3), ((1, "weights", "int8"), (2, "bias", "int32")), 4,
          single_activation=True, cmsis_nn="arm_fully_connected_wrapper_s8", fused_activation=True,
          kernels=("pb_fully_connected_s8",)),
    OpDef("ADD", version=2, cmsis_nn="arm_elementwise_add_s8", fused_activation=True,
          kernels=("pb_add_s8",), **_BINARY),
    OpDef("SUB", version=2, fused_activation=True, kernels=("pb_sub_s8",), **_BINARY),
    OpDef("MUL", version=2, cmsis_nn="arm_elementwise_mul_s8", fused_activation=True,
          kernels=("pb_mul_s8",), **_BINARY),
    OpDef("MAXIMUM", version=2, cmsis_nn="arm_maximum_s8", kernels=("pb_maximum_s8",), **_BINARY),
    OpDef("MINIMUM", version=2, cmsis_nn="arm_minimum_s8", kernels=("pb_minimum_s8",), **_BINARY),
    OpDef("PRELU", version=1, kernels=("pb_prelu_s8",), **_BINARY),
    OpDef("AVERAGE_POOL_2D", (1, 1), version=2, family="pool", patch=PATCH_WINDOW, cmsis_nn="arm_avgpool_s8",
          kernels=("pb_avg_pool_s8",)),
    OpDef("MAX_POOL_2D", (1, 1), version=2, family="pool", patch=PATCH_WINDOW, cmsis_nn="arm_max_pool_s8",
          kernels=("pb_max_pool_s8",)),
    OpDef("MEAN", (2, 2), ((1, "axes", "int32"),), 2, single_activation=True,
          kernels=("pb_mean_axes_s8", "pb_mean_s8")),
    OpDef("PAD", (2, 2), ((1, "paddings", "int32"),), 2, patch=PATCH_PAD, single_activation=True,
          cmsis_nn="arm_pad_s8", kernels=("pb_pad_s8",)),
    OpDef("PADV2", (2, 3), ((1, "paddings", "int32"), (2, "constant value", "int8")), 2, patch=PATCH_PAD,
          single_activation=True, cmsis_nn="arm_pad_s8", kernels=("pb_pad_s8",)),
    OpDef("SLICE", (3, 3), ((1, "begin", "int32"), (2, "size", "int32")), 2, patch=PATCH_SLICE,
          single_activation=True, kernels=("pb_slice_s8",)),
    OpDef("STRIDED_SLICE", (4, 4), ((1, "begin", "int32"), (2, "end", "int32"), (3, "strides", "int32")), 2,
          patch=PATCH_SLICE, single_activation=True, kernels=("pb_slice_s8",)),
    OpDef("SPLIT", (2, 2), ((0, "axis", "int32"),), 2, several_outputs=True),
    OpDef("SPLIT_V", (3, 3), ((1, "size_splits", "int32"), (2, "axis", "int32")), 2, several_outputs=True),
    OpDef("RESHAPE", (1, 2), ((1, "shape", "int32"),), 1, single_activation=True),
    OpDef("TRANSPOSE", (2, 2), ((1, "perm", "int32"),), 2, single_activation=True, cmsis_nn="arm_transpose_s8",
          kernels=("pb_transpose_s8",)),
    OpDef("CONCATENATION", (1, None), version=2, patch=PATCH_CONCAT, kernels=("pb_concat_s8",)),
    OpDef("RESIZE_NEAREST_NEIGHBOR", (2, 2), ((1, "size", "int32"),), 2, "ResizeNearestNeighborOptions",
          _RESIZE_FIELDS, patch=PATCH_TILE, single_activation=True, kernels=("pb_resize_nearest_s8",)),
    OpDef("SOFTMAX", (1, 1), version=2, options="SoftmaxOptions", fields=(Field("beta", "Beta", float, 1.0),),
          cmsis_nn="arm_softmax_s8", kernels=("pb_softmax_s8",)),
    OpDef("QUANTIZE", (1, 1), version=1, patch=PATCH_ELEMENTWISE,
          kernels=("pb_quantize_f32_s8", "pb_requantize_tensor_s8")),
    OpDef("DEQUANTIZE", (1, 1), version=2, patch=PATCH_ELEMENTWISE, kernels=("pb_dequantize_s8_f32",)),
    OpDef("LOGISTIC", version=2, **_UNARY),
    OpDef("TANH", version=2, **_UNARY),
    OpDef("HARD_SWISH", version=1, **_UNARY),
    OpDef("LEAKY_RELU", version=2, options="LeakyReluOptions", fields=(Field("alpha", "Alpha", float, 0.0),),
          **_UNARY),
    OpDef("RELU", version=2, **_UNARY),
    OpDef("RELU6", version=2, **_UNARY),
    OpDef("RELU_N1_TO_1", version=1, **_UNARY),
    OpDef("TRANSPOSE_CONV", (3, 4), ((0, "output shape", "int32"), (1, "filter", "int8"), (3, "bias", "int32")),
          3, patch=PATCH_TILE, cmsis_nn="arm_transpose_conv_wrapper_s8", fused_activation=True,
          kernels=("pb_transpose_conv_s8",)),
    OpDef("RESIZE_BILINEAR", (2, 2), ((1, "size", "int32"),), 2, "ResizeBilinearOptions", _RESIZE_FIELDS,
          patch=PATCH_TILE, single_activation=True, kernels=("pb_resize_bilinear_s8",)),
    # The converter writes 2 for int8; LiteRT's BUILTIN_REF registers only version 1, whose kernel takes
    # int8 as well, so patchbench's exports say 1 and both resolvers load them.
    OpDef("DEPTH_TO_SPACE", (1, 1), version=1, options="DepthToSpaceOptions",
          fields=(Field("block_size", "BlockSize"),), patch=PATCH_TILE, kernels=("pb_depth_to_space_s8",)),
    OpDef("SPACE_TO_DEPTH", (1, 1), version=2, options="SpaceToDepthOptions",
          fields=(Field("block_size", "BlockSize"),), patch=PATCH_TILE, kernels=("pb_space_to_depth_s8",)),
    OpDef("ARG_MAX", (2, 2), ((1, "axis", "int32"),), 2, "ArgMaxOptions",
          (Field("output_type", "OutputType", int, TENSOR_TYPE_INT32),), single_activation=True,
          kernels=("pb_arg_max_s8",), output_dtype="int32", shape=_arg_max_shape),
    OpDef("BATCH_MATMUL", (2, 2), version=2, options="BatchMatMulOptions",
          fields=(Field("adj_x", "AdjX", bool, False), Field("adj_y", "AdjY", bool, False)),
          cmsis_nn="arm_batch_matmul_s8", kernels=("pb_batch_matmul_s8",), shape=_batch_matmul_shape),
)  # fmt: skip

OP_DEFS: dict[str, OpDef] = {d.kind: d for d in _DEFS}


def kinds(**where: Any) -> tuple[str, ...]:
    """The kinds whose definitions have these field values, in definition order
    (``kinds(family="unary")``, ``kinds(patch=PATCH_TILE)``)."""
    return tuple(d.kind for d in _DEFS if all(getattr(d, key) == value for key, value in where.items()))

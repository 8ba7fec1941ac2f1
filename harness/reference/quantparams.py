# SPDX-License-Identifier: Apache-2.0
"""Integer parameters of each op, derived from the graph's scales the way TFLite derives them.

The C kernels take these field for field: harness/codegen/cparams.py declares the C structs
(``pb_add_params`` and ``pb_mul_params`` are AddQuant and MulQuant in their field order).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from harness.ir import quant
from harness.ir.graph import Graph, Op, Tensor


class ReferenceError(ValueError):
    """Bad input to the reference (wrong shape, dtype, unsupported attribute); the message says what to do."""


@dataclass(frozen=True)
class ConvQuant:
    """Integer parameters of CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED (per output channel)."""

    input_zero_point: int
    output_zero_point: int
    multipliers: np.ndarray  # int64 [Cout] (one entry for per-tensor FULLY_CONNECTED)
    shifts: np.ndarray  # int64 [Cout]
    act_min: int
    act_max: int
    filter_zero_point: int = 0  # only per-tensor FULLY_CONNECTED applies it (TFLite's rule)
    # double(input_scale) * double(filter_scale) / double(output_scale): the float requantization
    effective_scales: np.ndarray | None = None


@dataclass(frozen=True)
class AddQuant:
    """TFLite's int8 ADD parameters (left shift 20, both inputs rescaled to twice the larger scale)."""

    input1_offset: int
    input2_offset: int
    output_offset: int
    left_shift: int
    input1_multiplier: int
    input1_shift: int
    input2_multiplier: int
    input2_shift: int
    output_multiplier: int
    output_shift: int
    act_min: int
    act_max: int


@dataclass(frozen=True)
class MulQuant:
    input1_offset: int
    input2_offset: int
    output_offset: int
    output_multiplier: int
    output_shift: int
    act_min: int
    act_max: int


@dataclass(frozen=True)
class PreluQuant:
    """TFLite's int8 PRELU: one multiplier where the input is >= its zero point, one (times alpha) below."""

    input_offset: int
    alpha_offset: int
    output_offset: int
    output_multiplier_1: int  # input_scale / output_scale
    output_shift_1: int
    output_multiplier_2: int  # input_scale * alpha_scale / output_scale
    output_shift_2: int


# PRELU's multipliers. The runtimes compute the real multipliers differently, which now and then moves
# a multiplier by one step:
# - PRELU_FLOAT32: LiteRT (activations.cc PreluPrepare) divides and multiplies the float scales in
#   float32, then widens to double. patchbench's reference and firmware follow it (the default).
# - PRELU_DOUBLE: TFLite Micro (prelu_common.cc) casts each scale to double first.
PRELU_FLOAT32 = "float32"
PRELU_DOUBLE = "double"


@dataclass(frozen=True)
class SoftmaxQuant:
    """gemmlowp fixed-point softmax parameters (TFLite's PreprocessSoftmaxScaling, 5 integer bits)."""

    input_multiplier: int
    input_left_shift: int
    diff_min: int


# FULLY_CONNECTED requantization. TFLite's kernels disagree here, by one step now and then:
# - FC_FIXED: MultiplyByQuantizedMultiplier, like every other op. TFLite Micro's kernels and LiteRT's
#   optimized kernels do this, and so must patchbench's C kernels. The default.
# - FC_DOUBLE: round(double(acc) * input_scale * filter_scale / output_scale). LiteRT's BUILTIN_REF
#   resolver (ai-edge-litert 2.x reference_integer_ops::FullyConnected) does this.
FC_FIXED = "fixed"
FC_DOUBLE = "double"
FC_REQUANT_MODES = (FC_FIXED, FC_DOUBLE)


def _act_range(op: Op) -> tuple[int, int]:
    return int(op.attrs.get("act_min", quant.INT8_MIN)), int(op.attrs.get("act_max", quant.INT8_MAX))


def _quantized(graph: Graph, name: str, op: Op) -> Tensor:
    tensor = graph.tensor(name)
    if tensor.quant is None:
        raise ReferenceError(
            f"op {op.name!r} ({op.kind}): tensor {name!r} has no quantization parameters; "
            "the int8 reference needs scale and zero point on every activation"
        )
    return tensor


def conv_quant(graph: Graph, op: Op, input_position: int = 0) -> ConvQuant:
    """The integer parameters of a CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED or TRANSPOSE_CONV op
    (whose activation is input 2)."""
    inp = _quantized(graph, op.inputs[input_position], op)
    out = _quantized(graph, op.outputs[0], op)
    weights = _quantized(graph, op.inputs[1], op)
    filter_scales = np.asarray(weights.quant.scale, np.float32)
    multipliers, shifts = quant.conv_multipliers(inp.scale, filter_scales, out.scale)
    effective = np.array([float(inp.scale) * float(s) / float(out.scale) for s in filter_scales], np.float64)
    act_min, act_max = _act_range(op)
    filter_zp = 0
    if op.kind == "FULLY_CONNECTED" and not weights.quant.per_channel:
        filter_zp = int(weights.quant.zero_point[0])
    return ConvQuant(
        input_zero_point=inp.zero_point,
        output_zero_point=out.zero_point,
        multipliers=multipliers,
        shifts=shifts,
        act_min=act_min,
        act_max=act_max,
        filter_zero_point=filter_zp,
        effective_scales=effective,
    )


def add_quant(graph: Graph, op: Op) -> AddQuant:
    a = _quantized(graph, op.inputs[0], op)
    b = _quantized(graph, op.inputs[1], op)
    out = _quantized(graph, op.outputs[0], op)
    left_shift = 20
    twice_max = 2.0 * max(a.scale, b.scale)
    m1, s1 = quantize_multiplier_smaller_than_one_exp(a.scale / twice_max)
    m2, s2 = quantize_multiplier_smaller_than_one_exp(b.scale / twice_max)
    mo, so = quantize_multiplier_smaller_than_one_exp(twice_max / (float(1 << left_shift) * out.scale))
    act_min, act_max = _act_range(op)
    return AddQuant(
        input1_offset=-a.zero_point,
        input2_offset=-b.zero_point,
        output_offset=out.zero_point,
        left_shift=left_shift,
        input1_multiplier=m1,
        input1_shift=s1,
        input2_multiplier=m2,
        input2_shift=s2,
        output_multiplier=mo,
        output_shift=so,
        act_min=act_min,
        act_max=act_max,
    )


def mul_quant(graph: Graph, op: Op) -> MulQuant:
    a = _quantized(graph, op.inputs[0], op)
    b = _quantized(graph, op.inputs[1], op)
    out = _quantized(graph, op.outputs[0], op)
    # TFLite computes this product and quotient in float32 before widening to double.
    real = np.float32(a.quant.scale[0]) * np.float32(b.quant.scale[0]) / np.float32(out.quant.scale[0])
    multiplier, shift = quant.quantize_multiplier(float(real))
    act_min, act_max = _act_range(op)
    return MulQuant(-a.zero_point, -b.zero_point, out.zero_point, multiplier, shift, act_min, act_max)


def prelu_quant(graph: Graph, op: Op, arithmetic: str = PRELU_FLOAT32) -> PreluQuant:
    inp = _quantized(graph, op.inputs[0], op)
    alpha = _quantized(graph, op.inputs[1], op)
    out = _quantized(graph, op.outputs[0], op)
    if alpha.quant.per_channel:
        raise ReferenceError(
            f"op {op.name!r} (PRELU): alpha {alpha.name!r} is quantized per channel; TFLite's int8 PRELU "
            "takes one scale and zero point for alpha"
        )
    scales = [inp.quant.scale[0], alpha.quant.scale[0], out.quant.scale[0]]
    if arithmetic == PRELU_FLOAT32:
        in_s, alpha_s, out_s = (np.float32(s) for s in scales)
    elif arithmetic == PRELU_DOUBLE:
        in_s, alpha_s, out_s = (np.float64(s) for s in scales)
    else:
        raise ReferenceError(
            f"PRELU arithmetic must be {PRELU_FLOAT32!r} or {PRELU_DOUBLE!r}, got {arithmetic!r}"
        )
    m1, s1 = quant.quantize_multiplier(float(in_s / out_s))
    m2, s2 = quant.quantize_multiplier(float(in_s * alpha_s / out_s))
    return PreluQuant(-inp.zero_point, -alpha.zero_point, out.zero_point, m1, s1, m2, s2)


def softmax_quant(input_scale: float, beta: float) -> SoftmaxQuant:
    """TFLite's PreprocessSoftmaxScaling + CalculateInputRadius with 5 integer bits (double rounding)."""
    integer_bits = 5
    real = min(float(np.float32(beta)) * float(input_scale) * (1 << (31 - integer_bits)), (1 << 31) - 1.0)
    multiplier, left_shift = quant.quantize_multiplier(real)
    if left_shift < 0:
        raise ReferenceError(
            f"softmax: beta * input_scale = {beta * input_scale:g} is too small for TFLite's int8 softmax "
            "(needs a multiplier greater than one); use a larger input scale"
        )
    radius = math.floor(((1 << integer_bits) - 1) * float(1 << (31 - integer_bits)) / float(1 << left_shift))
    return SoftmaxQuant(multiplier, left_shift, -radius)


def quantize_multiplier_smaller_than_one_exp(real: float) -> tuple[int, int]:
    """TFLite's QuantizeMultiplierSmallerThanOneExp: a multiplier in [0, 1) as (Q31, shift <= 0)."""
    if not 0.0 <= real < 1.0:
        raise ReferenceError(f"multiplier {real!r} must be in [0, 1) for TFLite's int8 ADD rescaling")
    return quant.quantize_multiplier(real)

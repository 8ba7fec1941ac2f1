"""The bit-exact numpy host reference: runs a Graph the way TFLite's *reference* kernels do.

Every op kind of the IR has one function here that implements the integer arithmetic of LiteRT's
reference resolver (``BUILTIN_REF``, i.e. ``tensorflow/lite/kernels/internal/reference/...``) and of
TFLite Micro's reference kernels: same requantization (``harness.quant``), same rounding, same
clamping. Device output is checked against this module bit for bit.

Entry points
------------

- ``run_graph(graph, inputs)`` runs every op and returns *every* activation by name: the graph
  inputs, each intermediate and the outputs. ``inputs`` is a dict name -> array, or a single array
  when the graph has one input. ``run_outputs`` returns only the graph outputs.
- ``run_op(graph, op, input_arrays, pads=None)`` runs one op. ``input_arrays`` holds the op's
  activation inputs in order (constants such as weights, biases, axes and shapes come from the graph;
  a dict keyed by tensor name works too).

Explicit padding (for the patch executor)
-----------------------------------------

CONV_2D, DEPTHWISE_CONV_2D, AVERAGE_POOL_2D and MAX_POOL_2D take ``pads=(top, bottom, left, right)``.
``pads=None`` in ``run_op`` means the op's own SAME/VALID padding (``op_pads`` gives it as a tuple).
An explicit tuple replaces it: the op then runs VALID over the input grown by exactly those pads, so
a patch executor can run an op on a cropped input region and pad only the sides that touch the image
border. The padding means what it means in the full-image run:

- convolutions pad with the input zero point (TFLite does this implicitly: padded taps contribute
  ``filter * (zp - zp) = 0``);
- AVERAGE_POOL_2D leaves padded positions out of the element count, so a window that overlaps the
  image border is divided by the number of real pixels it covers, exactly as in the full-image run;
- MAX_POOL_2D ignores padded positions.

The output size is ``(in + pad_before + pad_after - effective_kernel) // stride + 1`` per axis.
``input_window(graph, op, out_rows, out_cols)`` gives, for a tile of the full-image output, the input
rows and columns it reads and the pads (the part of its windows outside the image), so that
``run_op(graph, op, [x[:, y0:y1, x0:x1]], pads=pads)`` equals that tile of the full-image run.

Arithmetic notes
----------------

- Accumulators: int32 with two's-complement wrap-around, like TFLite's int32 accumulator; the
  bias is added and the sum wrapped to int32 before the requantization. Products are summed with
  numpy's integer matmul (exact modulo 2**32; no BLAS threads, so timing is steady on a busy host).
- FULLY_CONNECTED: TFLite has two requantizations that differ by one step now and then. The
  default ``fc_requant=FC_FIXED`` is TFLite Micro's (and the firmware's) fixed-point one;
  ``FC_DOUBLE`` is the double-precision rounding of LiteRT's BUILTIN_REF resolver. Pass
  ``fc_requant=FC_DOUBLE`` to ``run_graph`` to reproduce LiteRT's reference interpreter exactly.
- CONCATENATION: TFLite's int8 kernel rejects inputs whose scale or zero point differ from the
  output's. patchbench accepts them and requantizes such an input with TFLite's int8 -> int8
  QUANTIZE arithmetic (``quantize_multiplier(in_scale / out_scale)``, ``multiply_by_quantized_multiplier``),
  which a C kernel can reproduce without floating point.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from harness import quant
from harness.graph import Graph, GraphError, Op, Tensor, conv_out_size, kernel_size, same_padding

Pads = tuple[int, int, int, int]  # (top, bottom, left, right)

_CONV_KINDS = ("CONV_2D", "DEPTHWISE_CONV_2D")
# The ops that take explicit pads.
_SPATIAL_KINDS = (*_CONV_KINDS, "AVERAGE_POOL_2D", "MAX_POOL_2D")
# Ops whose inputs after the first are constants (weights, bias, axes, paddings, perm, shape, size).
_ONE_ACTIVATION_KINDS = (
    *_CONV_KINDS,
    "FULLY_CONNECTED",
    "MEAN",
    "PAD",
    "TRANSPOSE",
    "RESHAPE",
    "RESIZE_NEAREST_NEIGHBOR",
)


class ReferenceError(ValueError):
    """Bad input to the reference (wrong shape, dtype, unsupported attribute); the message says what to do."""


# --- quantization parameters per op -------------------------------------------------------------


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


def conv_quant(graph: Graph, op: Op) -> ConvQuant:
    """The integer parameters of a CONV_2D, DEPTHWISE_CONV_2D or FULLY_CONNECTED op."""
    inp = _quantized(graph, op.inputs[0], op)
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


# --- helpers ------------------------------------------------------------------------------------


def wrap_int32(x: np.ndarray) -> np.ndarray:
    """Two's-complement wrap of int64 values to int32 range (what TFLite's int32 accumulator does)."""
    x = np.asarray(x, np.int64)
    return ((x + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)


def _to_int8(values: np.ndarray, lo: int, hi: int) -> np.ndarray:
    return np.clip(values, lo, hi).astype(np.int8)


def _check_fc_requant(requant: str) -> None:
    if requant not in FC_REQUANT_MODES:
        raise ReferenceError(f"fc_requant must be one of {FC_REQUANT_MODES}, got {requant!r}")


def _check_4d(x: np.ndarray, what: str) -> None:
    if x.ndim != 4:
        raise ReferenceError(f"{what}: expected an NHWC activation of rank 4, got shape {x.shape}")


def _check_pads(pads: Sequence[int], what: str) -> Pads:
    if len(pads) != 4 or any(int(p) < 0 for p in pads):
        raise ReferenceError(
            f"{what}: pads must be four non-negative ints (top, bottom, left, right), got {pads}"
        )
    top, bottom, left, right = (int(p) for p in pads)
    return top, bottom, left, right


def _out_size(size: int, pad_sum: int, kernel: int, stride: int, dilation: int, what: str) -> int:
    effective = (kernel - 1) * dilation + 1
    span = size + pad_sum - effective
    if span < 0:
        raise ReferenceError(
            f"{what}: the padded input ({size} + {pad_sum}) is smaller than the kernel's reach ({effective})"
        )
    return span // stride + 1


def _windows(xp: np.ndarray, kh: int, kw: int, stride, dilation, out_h: int, out_w: int):
    """Yield (i, j, view) with view[n, oh, ow, c] = xp[n, oh*sh + i*dh, ow*sw + j*dw, c]."""
    sh, sw = stride
    dh, dw = dilation
    for i in range(kh):
        for j in range(kw):
            y0, x0 = i * dh, j * dw
            yield i, j, xp[:, y0 : y0 + (out_h - 1) * sh + 1 : sh, x0 : x0 + (out_w - 1) * sw + 1 : sw, :]


def requantize_acc(acc: np.ndarray, q: ConvQuant, requant: str = FC_FIXED) -> np.ndarray:
    """int32 accumulator (already holding the bias) -> int8, per output channel on the last axis."""
    acc = wrap_int32(acc)
    if requant == FC_DOUBLE:
        scaled = quant.std_round(acc.astype(np.float64) * q.effective_scales)
        scaled = np.clip(scaled, quant.INT32_MIN, quant.INT32_MAX).astype(np.int64)
    else:
        scaled = quant.multiply_by_quantized_multiplier(acc, q.multipliers, q.shifts)
    return _to_int8(scaled + q.output_zero_point, q.act_min, q.act_max)


# --- convolutions -------------------------------------------------------------------------------


def conv2d(
    x: np.ndarray,
    filters: np.ndarray,
    bias: np.ndarray | None,
    q: ConvQuant,
    stride: tuple[int, int] = (1, 1),
    dilation: tuple[int, int] = (1, 1),
    pads: Pads = (0, 0, 0, 0),
) -> np.ndarray:
    """CONV_2D per-channel int8 (TFLite ConvPerChannel). filters [Cout, KH, KW, Cin/groups]."""
    _check_4d(x, "CONV_2D")
    top, bottom, left, right = _check_pads(pads, "CONV_2D")
    cout, kh, kw, cin_group = filters.shape
    n, h, w, cin = x.shape
    groups = cin // cin_group if cin_group > 0 else 0
    if groups == 0 or cin % cin_group or cout % groups:
        raise ReferenceError(
            f"CONV_2D: input depth {cin} is not a whole number of groups of the filter depth {cin_group} "
            f"that also divides the {cout} output channels"
        )
    out_h = _out_size(h, top + bottom, kh, stride[0], dilation[0], "CONV_2D")
    out_w = _out_size(w, left + right, kw, stride[1], dilation[1], "CONV_2D")
    # Padding the offset input with 0 is padding the raw input with its zero point.
    xo = x.astype(np.int32) - np.int32(q.input_zero_point)
    xp = np.pad(xo, ((0, 0), (top, bottom), (left, right), (0, 0)))
    # im2col with column order (kh, kw, cin) to match the filter layout.
    cols = np.empty((n, out_h, out_w, kh, kw, cin), np.int32)
    for i, j, view in _windows(xp, kh, kw, stride, dilation, out_h, out_w):
        cols[:, :, :, i, j, :] = view
    rows = n * out_h * out_w
    per_group = cout // groups
    acc = np.empty((rows, cout), np.int32)
    for g in range(groups):
        c0 = g * cin_group
        lhs = cols[..., c0 : c0 + cin_group].reshape(rows, kh * kw * cin_group)
        rhs = filters[g * per_group : (g + 1) * per_group].reshape(per_group, -1).astype(np.int32)
        acc[:, g * per_group : (g + 1) * per_group] = lhs @ rhs.T
    acc = acc.astype(np.int64)
    if bias is not None:
        acc += np.asarray(bias, np.int64)
    return requantize_acc(acc, q).reshape(n, out_h, out_w, cout)


def depthwise_conv2d(
    x: np.ndarray,
    filters: np.ndarray,
    bias: np.ndarray | None,
    q: ConvQuant,
    stride: tuple[int, int] = (1, 1),
    dilation: tuple[int, int] = (1, 1),
    pads: Pads = (0, 0, 0, 0),
    depth_multiplier: int = 1,
) -> np.ndarray:
    """DEPTHWISE_CONV_2D per-channel int8 (TFLite DepthwiseConvPerChannel). filters [1, KH, KW, C*dm]."""
    _check_4d(x, "DEPTHWISE_CONV_2D")
    top, bottom, left, right = _check_pads(pads, "DEPTHWISE_CONV_2D")
    _, kh, kw, cout = filters.shape
    n, h, w, cin = x.shape
    if cin * depth_multiplier != cout:
        raise ReferenceError(
            f"DEPTHWISE_CONV_2D: input depth {cin} x depth multiplier {depth_multiplier} != filter depth {cout}"
        )
    out_h = _out_size(h, top + bottom, kh, stride[0], dilation[0], "DEPTHWISE_CONV_2D")
    out_w = _out_size(w, left + right, kw, stride[1], dilation[1], "DEPTHWISE_CONV_2D")
    xo = x.astype(np.int32) - np.int32(q.input_zero_point)
    if depth_multiplier > 1:
        xo = np.repeat(xo, depth_multiplier, axis=3)  # output channel c*dm + m reads input channel c
    xp = np.pad(xo, ((0, 0), (top, bottom), (left, right), (0, 0)))
    w32 = filters[0].astype(np.int32)
    # |product| <= 255 * 128, so int32 holds any realistic kernel's sum exactly.
    acc = np.zeros((n, out_h, out_w, cout), np.int32)
    for i, j, view in _windows(xp, kh, kw, stride, dilation, out_h, out_w):
        acc += view * w32[i, j]
    acc = acc.astype(np.int64)
    if bias is not None:
        acc += np.asarray(bias, np.int64)
    return requantize_acc(acc, q)


def fully_connected(
    x: np.ndarray,
    weights: np.ndarray,
    bias: np.ndarray | None,
    q: ConvQuant,
    keep_dims: bool = False,
    requant: str = FC_FIXED,
) -> np.ndarray:
    """FULLY_CONNECTED int8: x flattened to [batches, Cin], weights [Cout, Cin]; requant: FC_FIXED/FC_DOUBLE."""
    _check_fc_requant(requant)
    cout, cin = weights.shape
    if x.size % cin:
        raise ReferenceError(f"FULLY_CONNECTED: input of {x.size} elements is not a multiple of depth {cin}")
    lhs = x.reshape(-1, cin).astype(np.int32) - np.int32(q.input_zero_point)
    rhs = weights.astype(np.int32) - np.int32(q.filter_zero_point)
    acc = (lhs @ rhs.T).astype(np.int64)
    if bias is not None:
        acc += np.asarray(bias, np.int64)
    out = requantize_acc(acc, q, requant)
    if keep_dims:
        return out.reshape(*x.shape[:-1], cout)
    return out


# --- pooling ------------------------------------------------------------------------------------


def _pool_geometry(x: np.ndarray, filter_hw, stride, pads: Pads, kind: str) -> tuple[Pads, int, int]:
    """Checked pads and the output size of a pooling window over x."""
    _check_4d(x, kind)
    top, bottom, left, right = _check_pads(pads, kind)
    fh, fw = filter_hw
    out_h = _out_size(x.shape[1], top + bottom, fh, stride[0], 1, kind)
    out_w = _out_size(x.shape[2], left + right, fw, stride[1], 1, kind)
    return (top, bottom, left, right), out_h, out_w


def average_pool2d(
    x: np.ndarray,
    filter_hw: tuple[int, int],
    stride: tuple[int, int],
    pads: Pads = (0, 0, 0, 0),
    act_min: int = quant.INT8_MIN,
    act_max: int = quant.INT8_MAX,
) -> np.ndarray:
    """AVERAGE_POOL_2D int8: raw sum over real pixels, divided by their count, rounded half away."""
    (top, bottom, left, right), out_h, out_w = _pool_geometry(x, filter_hw, stride, pads, "AVERAGE_POOL_2D")
    fh, fw = filter_hw
    n, h, w, c = x.shape
    padding = ((0, 0), (top, bottom), (left, right), (0, 0))
    xp = np.pad(x.astype(np.int32), padding)
    real = np.pad(np.ones((1, h, w, 1), np.int32), padding)
    total = np.zeros((n, out_h, out_w, c), np.int32)
    count = np.zeros((1, out_h, out_w, 1), np.int32)
    for (_, _, view), (_, _, mask) in zip(
        _windows(xp, fh, fw, stride, (1, 1), out_h, out_w),
        _windows(real, fh, fw, stride, (1, 1), out_h, out_w),
        strict=True,
    ):
        total += view
        count += mask
    if np.any(count == 0):
        raise ReferenceError("AVERAGE_POOL_2D: a window covers only padding (TFLite fails on this too)")
    total = total.astype(np.int64)
    count = np.broadcast_to(count, total.shape).astype(np.int64)
    half = count // 2
    # C division truncates toward zero: positive sums round up at .5, others round down at -.5.
    rounded = np.where(total > 0, (total + half) // count, -((half - total) // count))
    return _to_int8(rounded, act_min, act_max)


def max_pool2d(
    x: np.ndarray,
    filter_hw: tuple[int, int],
    stride: tuple[int, int],
    pads: Pads = (0, 0, 0, 0),
    act_min: int = quant.INT8_MIN,
    act_max: int = quant.INT8_MAX,
) -> np.ndarray:
    """MAX_POOL_2D int8: padding never wins (it is the int8 minimum, TFLite's starting value)."""
    (top, bottom, left, right), out_h, out_w = _pool_geometry(x, filter_hw, stride, pads, "MAX_POOL_2D")
    fh, fw = filter_hw
    n, _, _, c = x.shape
    xp = np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)), constant_values=quant.INT8_MIN)
    best = np.full((n, out_h, out_w, c), quant.INT8_MIN, np.int8)
    for _, _, view in _windows(xp, fh, fw, stride, (1, 1), out_h, out_w):
        np.maximum(best, view, out=best)
    return _to_int8(best, act_min, act_max)


# --- elementwise --------------------------------------------------------------------------------


def add(a: np.ndarray, b: np.ndarray, q: AddQuant) -> np.ndarray:
    """ADD int8 (TFLite AddFunc), numpy broadcasting for broadcast shapes."""
    shifted1 = (a.astype(np.int64) + q.input1_offset) * (1 << q.left_shift)
    shifted2 = (b.astype(np.int64) + q.input2_offset) * (1 << q.left_shift)
    scaled1 = quant.multiply_by_quantized_multiplier_smaller_than_one_exp(
        shifted1, q.input1_multiplier, q.input1_shift
    )
    scaled2 = quant.multiply_by_quantized_multiplier_smaller_than_one_exp(
        shifted2, q.input2_multiplier, q.input2_shift
    )
    raw = quant.multiply_by_quantized_multiplier_smaller_than_one_exp(
        scaled1 + scaled2, q.output_multiplier, q.output_shift
    )
    return _to_int8(raw + q.output_offset, q.act_min, q.act_max)


def mul(a: np.ndarray, b: np.ndarray, q: MulQuant) -> np.ndarray:
    """MUL int8 (TFLite MulElementwise)."""
    product = (a.astype(np.int64) + q.input1_offset) * (b.astype(np.int64) + q.input2_offset)
    raw = quant.multiply_by_quantized_multiplier(product, q.output_multiplier, q.output_shift)
    return _to_int8(raw + q.output_offset, q.act_min, q.act_max)


# --- reductions and shape ops -------------------------------------------------------------------


def mean(
    x: np.ndarray,
    axes: Sequence[int],
    keep_dims: bool,
    input_scale: float,
    input_zero_point: int,
    output_scale: float,
    output_zero_point: int,
) -> np.ndarray:
    """MEAN int8 (TFLite's QuantizedMeanOrSum: 1/count folded into the fixed-point multiplier)."""
    resolved = sorted({int(a) + x.ndim if int(a) < 0 else int(a) for a in axes})
    if any(not 0 <= a < x.ndim for a in resolved):
        raise ReferenceError(f"MEAN: axes {list(axes)} out of range for rank {x.ndim}")
    count = int(np.prod([x.shape[a] for a in resolved], dtype=np.int64))
    total = x.astype(np.int64).sum(axis=tuple(resolved), keepdims=keep_dims)
    multiplier, shift = quant.quantize_multiplier(float(input_scale) / float(output_scale))
    if count == 0:
        return np.zeros(total.shape, np.int8)
    shift_count = min(count.bit_length() - 1, 32, 31 + shift)
    multiplier = (multiplier << shift_count) // count
    shift -= shift_count
    shifted = wrap_int32(total - input_zero_point * count)
    out = quant.multiply_by_quantized_multiplier(shifted, multiplier, shift) + output_zero_point
    return _to_int8(out, quant.INT8_MIN, quant.INT8_MAX)


def pad(x: np.ndarray, paddings: np.ndarray, pad_value: int) -> np.ndarray:
    """PAD: paddings [rank, 2] (before, after); int8 pads with the output zero point."""
    paddings = np.asarray(paddings, np.int64).reshape(-1, 2)
    if paddings.shape[0] != x.ndim or np.any(paddings < 0):
        raise ReferenceError(f"PAD: paddings {paddings.tolist()} do not fit an input of rank {x.ndim}")
    return np.pad(x, [tuple(int(v) for v in row) for row in paddings], constant_values=pad_value)


def concatenation(
    arrays: Sequence[np.ndarray],
    axis: int,
    input_qparams: Sequence[tuple[float, int]],
    output_qparams: tuple[float, int],
) -> np.ndarray:
    """CONCATENATION int8; an input with other qparams than the output is requantized (module doc)."""
    out_scale, out_zp = output_qparams
    parts = []
    for array, (scale, zp) in zip(arrays, input_qparams, strict=True):
        if float(scale) == float(out_scale) and int(zp) == int(out_zp):
            parts.append(array)
        else:
            parts.append(requantize_int8(array, scale, zp, out_scale, out_zp))
    return np.concatenate(parts, axis=axis)


def requantize_int8(x: np.ndarray, in_scale: float, in_zp: int, out_scale: float, out_zp: int) -> np.ndarray:
    """QUANTIZE int8 -> int8 (TFLite Requantize)."""
    multiplier, shift = quant.quantize_multiplier(float(in_scale) / float(out_scale))
    out = quant.multiply_by_quantized_multiplier(x.astype(np.int64) - in_zp, multiplier, shift) + out_zp
    return _to_int8(out, quant.INT8_MIN, quant.INT8_MAX)


def quantize_float(x: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """QUANTIZE float32 -> int8 (TFLite AffineQuantize: float32 division, round half away)."""
    scaled = np.asarray(x, np.float32) / np.float32(scale)
    out = quant.round_half_away(scaled.astype(np.float64)) + zero_point
    return _to_int8(out, quant.INT8_MIN, quant.INT8_MAX)


def dequantize(x: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """DEQUANTIZE int8 -> float32: double scale times (q - zp), then narrowed to float32."""
    return quant.dequantize(x, scale, zero_point)


def resize_nearest_neighbor(
    x: np.ndarray, size: tuple[int, int], align_corners: bool, half_pixel_centers: bool
) -> np.ndarray:
    """RESIZE_NEAREST_NEIGHBOR (TFLite reference: float32 source-index arithmetic)."""
    _check_4d(x, "RESIZE_NEAREST_NEIGHBOR")
    _, h, w, _ = x.shape
    rows = _nearest_indices(h, int(size[0]), align_corners, half_pixel_centers)
    cols = _nearest_indices(w, int(size[1]), align_corners, half_pixel_centers)
    return x[:, rows][:, :, cols]


def _nearest_indices(
    in_size: int, out_size: int, align_corners: bool, half_pixel_centers: bool
) -> np.ndarray:
    if align_corners and out_size > 1:
        scale = np.float32(in_size - 1) / np.float32(out_size - 1)
    else:
        scale = np.float32(in_size) / np.float32(out_size)
    offset = np.float32(0.5) if half_pixel_centers else np.float32(0.0)
    positions = (np.arange(out_size, dtype=np.float32) + offset) * scale
    if align_corners:
        index = quant.round_half_away(positions.astype(np.float64))
    else:
        index = np.floor(positions)
    index = np.minimum(index.astype(np.int64), in_size - 1)
    if half_pixel_centers:
        index = np.maximum(index, 0)
    return index


# --- softmax (gemmlowp fixed point) -------------------------------------------------------------


def _srdhm(a, b) -> np.ndarray:
    return quant.saturating_rounding_doubling_high_mul(a, b)


def _rdbpot(x, exponent: int) -> np.ndarray:
    return quant.rounding_divide_by_pot(x, exponent)


def _saturating_shift_left(x: np.ndarray, exponent: int) -> np.ndarray:
    """gemmlowp SaturatingRoundingMultiplyByPOT with a positive exponent on int32."""
    threshold = (1 << (31 - exponent)) - 1
    shifted = np.asarray(x, np.int64) << exponent
    return np.where(x > threshold, quant.INT32_MAX, np.where(x < -threshold, quant.INT32_MIN, shifted))


def _exp_on_interval_between_negative_one_quarter_and_0_excl(a: np.ndarray) -> np.ndarray:
    """gemmlowp: exp(a) for Q0.31 a in [-1/4, 0), Taylor series around -1/8."""
    constant_term = 1895147668  # exp(-1/8) in Q0.31
    one_third = 715827883
    x = a + (1 << 28)  # a + 1/8
    x2 = _srdhm(x, x)
    x3 = _srdhm(x2, x)
    x4 = _srdhm(x2, x2)
    x4_over_4 = _rdbpot(x4, 2)
    poly = _rdbpot(_srdhm(x4_over_4 + x3, one_third) + x2, 1)
    return constant_term + _srdhm(constant_term, x + poly)


# (k, exp(-2**k) in Q0.31), gemmlowp's constants.
_EXP_BARREL = (
    (-2, 1672461947),
    (-1, 1302514674),
    (0, 790015084),
    (1, 290630308),
    (2, 39332535),
    (3, 720401),
    (4, 242),
)


def exp_on_negative_values(a: np.ndarray, integer_bits: int = 5) -> np.ndarray:
    """gemmlowp exp_on_negative_values: Q(integer_bits) input <= 0 -> Q0.31 result."""
    fractional_bits = 31 - integer_bits
    one_quarter = 1 << (fractional_bits - 2)
    a = np.asarray(a, np.int64)
    a_mod_quarter_minus_one_quarter = (a & (one_quarter - 1)) - one_quarter
    result = _exp_on_interval_between_negative_one_quarter_and_0_excl(
        _saturating_shift_left(a_mod_quarter_minus_one_quarter, integer_bits)
    )
    remainder = a_mod_quarter_minus_one_quarter - a
    # One multiplication by exp(-2**k) for every bit k of the whole quarters in -a (a barrel shifter).
    for exponent, multiplier in _EXP_BARREL:
        if integer_bits > exponent:
            bit = 1 << (fractional_bits + exponent)
            result = np.where(remainder & bit, _srdhm(result, multiplier), result)
    if integer_bits > 5:
        clamp = -(1 << (36 - integer_bits))
        result = np.where(a < clamp, 0, result)
    return np.where(a == 0, quant.INT32_MAX, result)


def _one_over_one_plus_x_for_x_in_0_1(a: np.ndarray) -> np.ndarray:
    """gemmlowp: 1 / (1 + a) for Q0.31 a in [0, 1), Newton-Raphson; result Q0.31."""
    total = np.asarray(a, np.int64) + quant.INT32_MAX
    half_denominator = np.where(total >= 0, (total + 1) // 2, -((-total + 1) // 2))
    constant_48_over_17 = 1515870810  # Q2.29
    constant_neg_32_over_17 = -1010580540
    one_q2 = 1 << 29
    x = constant_48_over_17 + _srdhm(half_denominator, constant_neg_32_over_17)
    for _ in range(3):
        half_denominator_times_x = _srdhm(half_denominator, x)
        one_minus = one_q2 - half_denominator_times_x
        x = x + _saturating_shift_left(_srdhm(x, one_minus), 2)
    return _saturating_shift_left(x, 1)


def _count_leading_zeros_32(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.int64) & 0xFFFFFFFF
    bits = np.zeros(x.shape, np.int64)
    nonzero = x > 0
    bits[nonzero] = np.floor(np.log2(x[nonzero].astype(np.float64))).astype(np.int64) + 1
    # log2 of values just below a power of two can round up in float64; fix by checking.
    too_big = nonzero & ((np.int64(1) << np.maximum(bits - 1, 0)) > x)
    bits[too_big] -= 1
    return 32 - bits


def softmax(x: np.ndarray, q: SoftmaxQuant) -> np.ndarray:
    """SOFTMAX int8 -> int8 over the last axis (TFLite reference_ops::Softmax, gemmlowp fixed point)."""
    scaled_diff_integer_bits = 5
    accumulation_integer_bits = 12
    depth = x.shape[-1]
    rows = x.reshape(-1, depth).astype(np.int64)
    diff = rows - rows.max(axis=1, keepdims=True)
    in_range = diff >= q.diff_min
    rescaled = _srdhm(wrap_int32(np.where(in_range, diff, 0) * (1 << q.input_left_shift)), q.input_multiplier)
    exps = exp_on_negative_values(rescaled, scaled_diff_integer_bits)
    # Rescale<12> of a Q0.31 value: a rounding right shift by 12.
    sum_of_exps = np.where(in_range, _rdbpot(exps, accumulation_integer_bits), 0).sum(axis=1, keepdims=True)
    sum_of_exps = wrap_int32(sum_of_exps)
    headroom_plus_one = _count_leading_zeros_32(sum_of_exps)
    num_bits_over_unit = accumulation_integer_bits - headroom_plus_one
    shifted_sum_minus_one = wrap_int32(((sum_of_exps & 0xFFFFFFFF) << headroom_plus_one) - (1 << 31))
    shifted_scale = _one_over_one_plus_x_for_x_in_0_1(shifted_sum_minus_one)
    exponent = num_bits_over_unit + 31 - 8
    unsat = quant.rounding_divide_by_pot(_srdhm(shifted_scale, exps), exponent)
    out = np.where(in_range, np.clip(unsat + quant.INT8_MIN, quant.INT8_MIN, quant.INT8_MAX), quant.INT8_MIN)
    return out.astype(np.int8).reshape(x.shape)


# --- per-op dispatch ----------------------------------------------------------------------------


def op_pads(graph: Graph, op: Op, in_h: int | None = None, in_w: int | None = None) -> Pads:
    """The op's own padding (SAME or VALID) as explicit (top, bottom, left, right).

    ``in_h``/``in_w`` default to the op's input tensor size in the graph.
    """
    if op.kind not in _SPATIAL_KINDS:
        raise ReferenceError(f"op {op.name!r} ({op.kind}) has no spatial padding")
    shape = graph.tensor(op.inputs[0]).shape
    in_h = shape[1] if in_h is None else in_h
    in_w = shape[2] if in_w is None else in_w
    kh, kw = kernel_size(graph, op)
    if op.attrs.get("padding", "VALID") == "VALID":
        return 0, 0, 0, 0
    sh, sw = op.attrs.get("stride", (1, 1))
    dh, dw = op.attrs.get("dilation", (1, 1)) if op.kind in _CONV_KINDS else (1, 1)
    out_h = conv_out_size(in_h, kh, sh, dh, "SAME")
    out_w = conv_out_size(in_w, kw, sw, dw, "SAME")
    total_h = max((out_h - 1) * sh + (kh - 1) * dh + 1 - in_h, 0)
    total_w = max((out_w - 1) * sw + (kw - 1) * dw + 1 - in_w, 0)
    top = same_padding(in_h, kh, sh, dh, out_h)
    left = same_padding(in_w, kw, sw, dw, out_w)
    return top, total_h - top, left, total_w - left


def input_window(
    graph: Graph,
    op: Op,
    out_rows: tuple[int, int],
    out_cols: tuple[int, int],
    in_h: int | None = None,
    in_w: int | None = None,
) -> tuple[tuple[int, int], tuple[int, int], Pads]:
    """The input a tile of a conv's or pool's full-image output reads.

    Output rows ``[r0, r1)`` and columns ``[c0, c1)`` read input rows ``[y0, y1)`` and columns
    ``[x0, x1)``, clipped to the image, plus ``pads`` for the part of their windows outside the image.
    Returns ``((y0, y1), (x0, x1), pads)``; ``in_h``/``in_w`` default to the graph's input size.
    """
    shape = graph.tensor(op.inputs[0]).shape
    in_h = shape[1] if in_h is None else in_h
    in_w = shape[2] if in_w is None else in_w
    top, _, left, _ = op_pads(graph, op, in_h, in_w)
    kh, kw = kernel_size(graph, op)
    sh, sw = op.attrs.get("stride", (1, 1))
    dh, dw = op.attrs.get("dilation", (1, 1)) if op.kind in _CONV_KINDS else (1, 1)
    rows, (pad_top, pad_bottom) = _axis_window(out_rows, sh, (kh - 1) * dh + 1, top, in_h, op)
    cols, (pad_left, pad_right) = _axis_window(out_cols, sw, (kw - 1) * dw + 1, left, in_w, op)
    return rows, cols, (pad_top, pad_bottom, pad_left, pad_right)


def _axis_window(out_range, stride: int, reach: int, pad_before: int, size: int, op: Op):
    start, stop = (int(v) for v in out_range)
    if not 0 <= start < stop:
        raise ReferenceError(f"op {op.name!r}: output range {out_range} is empty or negative")
    first = start * stride - pad_before
    last = (stop - 1) * stride - pad_before + reach  # exclusive
    if first >= size or last <= 0:
        raise ReferenceError(f"op {op.name!r}: output range {out_range} reads no input pixel")
    return (max(first, 0), min(last, size)), (max(-first, 0), max(last - size, 0))


def _const(graph: Graph, op: Op, index: int) -> np.ndarray | None:
    if index >= len(op.inputs) or not op.inputs[index]:
        return None
    tensor = graph.tensor(op.inputs[index])
    if not tensor.is_const:
        raise ReferenceError(
            f"op {op.name!r} ({op.kind}): input {index} ({tensor.name!r}) must be a constant for the reference"
        )
    return tensor.data


def _activation_inputs(graph: Graph, op: Op) -> list[str]:
    """The op's non-constant inputs, in order."""
    if op.kind in _ONE_ACTIVATION_KINDS:
        return [op.inputs[0]]
    return [name for name in op.inputs if name and not graph.tensor(name).is_const]


def _operand(graph: Graph, op: Op, name: str, arrays: Mapping[str, np.ndarray]) -> np.ndarray:
    if name in arrays:
        return arrays[name]
    tensor = graph.tensor(name)
    if tensor.is_const:
        return tensor.data
    raise ReferenceError(f"op {op.name!r} ({op.kind}): no array given for input tensor {name!r}")


def run_op(
    graph: Graph,
    op: Op,
    input_arrays: Sequence[np.ndarray] | Mapping[str, np.ndarray],
    pads: Sequence[int] | None = None,
    fc_requant: str = FC_FIXED,
) -> np.ndarray:
    """Run one op on the given activation inputs; ``pads`` overrides a conv's or pool's padding.

    ``fc_requant`` picks FULLY_CONNECTED's requantization (FC_FIXED or FC_DOUBLE, see the module doc).
    """
    _check_fc_requant(fc_requant)
    if isinstance(input_arrays, Mapping):
        arrays = dict(input_arrays)
    else:
        names = _activation_inputs(graph, op)
        if len(input_arrays) != len(names):
            raise ReferenceError(
                f"op {op.name!r} ({op.kind}) takes {len(names)} activation input(s) {names}, "
                f"got {len(input_arrays)} array(s)"
            )
        arrays = dict(zip(names, input_arrays, strict=True))
    if pads is not None and op.kind not in _SPATIAL_KINDS:
        raise ReferenceError(
            f"op {op.name!r} ({op.kind}): explicit pads apply only to {', '.join(_SPATIAL_KINDS)}"
        )
    if op.kind not in _KERNELS:
        raise ReferenceError(f"op {op.name!r}: kind {op.kind} has no reference kernel")
    kernel = _KERNELS[op.kind]
    x = _operand(graph, op, op.inputs[0], arrays)
    if op.kind in _SPATIAL_KINDS:
        _check_4d(x, f"op {op.name!r} ({op.kind})")
        explicit = op_pads(graph, op, x.shape[1], x.shape[2]) if pads is None else _check_pads(pads, op.name)
        return kernel(graph, op, x, arrays, explicit)
    if op.kind == "FULLY_CONNECTED":
        return _run_fully_connected(graph, op, x, fc_requant)
    return kernel(graph, op, x, arrays)


def _run_conv(graph: Graph, op: Op, x: np.ndarray, arrays, pads: Pads) -> np.ndarray:
    q = conv_quant(graph, op)
    stride = tuple(op.attrs.get("stride", (1, 1)))
    dilation = tuple(op.attrs.get("dilation", (1, 1)))
    filters = _const(graph, op, 1)
    bias = _const(graph, op, 2)
    if op.kind == "CONV_2D":
        return conv2d(x, filters, bias, q, stride, dilation, pads)
    dm = int(op.attrs.get("depth_multiplier", 1))
    return depthwise_conv2d(x, filters, bias, q, stride, dilation, pads, dm)


def _run_pool(graph: Graph, op: Op, x: np.ndarray, arrays, pads: Pads) -> np.ndarray:
    act_min, act_max = _act_range(op)
    filter_hw = kernel_size(graph, op)
    stride = tuple(op.attrs.get("stride", (1, 1)))
    if op.kind == "AVERAGE_POOL_2D":
        return average_pool2d(x, filter_hw, stride, pads, act_min, act_max)
    return max_pool2d(x, filter_hw, stride, pads, act_min, act_max)


def _run_fully_connected(graph: Graph, op: Op, x: np.ndarray, fc_requant: str) -> np.ndarray:
    q = conv_quant(graph, op)
    out = fully_connected(x, _const(graph, op, 1), _const(graph, op, 2), q, requant=fc_requant)
    return out.reshape(graph.tensor(op.outputs[0]).shape)


def _run_add(graph: Graph, op: Op, x: np.ndarray, arrays) -> np.ndarray:
    return add(x, _operand(graph, op, op.inputs[1], arrays), add_quant(graph, op))


def _run_mul(graph: Graph, op: Op, x: np.ndarray, arrays) -> np.ndarray:
    return mul(x, _operand(graph, op, op.inputs[1], arrays), mul_quant(graph, op))


def _run_mean(graph: Graph, op: Op, x: np.ndarray, arrays) -> np.ndarray:
    inp = _quantized(graph, op.inputs[0], op)
    out = _quantized(graph, op.outputs[0], op)
    axes = np.asarray(_const(graph, op, 1)).reshape(-1).tolist()
    keep_dims = bool(op.attrs.get("keep_dims", False))
    return mean(x, axes, keep_dims, inp.scale, inp.zero_point, out.scale, out.zero_point)


def _run_pad(graph: Graph, op: Op, x: np.ndarray, arrays) -> np.ndarray:
    out = graph.tensor(op.outputs[0])
    pad_value = out.zero_point if out.quant is not None else 0
    return pad(x, _const(graph, op, 1), pad_value)


def _run_reshape(graph: Graph, op: Op, x: np.ndarray, arrays) -> np.ndarray:
    return x.reshape(graph.tensor(op.outputs[0]).shape)


def _run_transpose(graph: Graph, op: Op, x: np.ndarray, arrays) -> np.ndarray:
    perm = np.asarray(_const(graph, op, 1)).reshape(-1).tolist()
    return np.ascontiguousarray(np.transpose(x, perm))


def _run_concatenation(graph: Graph, op: Op, x: np.ndarray, arrays) -> np.ndarray:
    parts = [_operand(graph, op, name, arrays) for name in op.inputs]
    qparams = [(t.scale, t.zero_point) for t in (_quantized(graph, name, op) for name in op.inputs)]
    out = _quantized(graph, op.outputs[0], op)
    axis = int(op.attrs.get("axis", -1))
    return concatenation(parts, axis, qparams, (out.scale, out.zero_point))


def _run_resize(graph: Graph, op: Op, x: np.ndarray, arrays) -> np.ndarray:
    size = np.asarray(_const(graph, op, 1)).reshape(-1)
    return resize_nearest_neighbor(
        x,
        (int(size[0]), int(size[1])),
        bool(op.attrs.get("align_corners", False)),
        bool(op.attrs.get("half_pixel_centers", False)),
    )


def _run_softmax(graph: Graph, op: Op, x: np.ndarray, arrays) -> np.ndarray:
    inp = _quantized(graph, op.inputs[0], op)
    out = _quantized(graph, op.outputs[0], op)
    if out.zero_point != -128 or abs(out.scale - 1.0 / 256) > 0.001 / 256:
        raise ReferenceError(
            f"op {op.name!r} (SOFTMAX): int8 output must have scale 1/256 and zero point -128 "
            f"(TFLite's rule), got scale {out.scale} and zero point {out.zero_point}"
        )
    return softmax(x, softmax_quant(inp.scale, float(op.attrs.get("beta", 1.0))))


def _run_quantize(graph: Graph, op: Op, x: np.ndarray, arrays) -> np.ndarray:
    out = _quantized(graph, op.outputs[0], op)
    if x.dtype == np.float32:
        return quantize_float(x, out.scale, out.zero_point)
    inp = _quantized(graph, op.inputs[0], op)
    return requantize_int8(x, inp.scale, inp.zero_point, out.scale, out.zero_point)


def _run_dequantize(graph: Graph, op: Op, x: np.ndarray, arrays) -> np.ndarray:
    inp = _quantized(graph, op.inputs[0], op)
    return dequantize(x, inp.scale, inp.zero_point)


_KERNELS = {
    "CONV_2D": _run_conv,
    "DEPTHWISE_CONV_2D": _run_conv,
    "FULLY_CONNECTED": None,  # run_op calls _run_fully_connected with fc_requant
    "ADD": _run_add,
    "MUL": _run_mul,
    "AVERAGE_POOL_2D": _run_pool,
    "MAX_POOL_2D": _run_pool,
    "MEAN": _run_mean,
    "PAD": _run_pad,
    "RESHAPE": _run_reshape,
    "TRANSPOSE": _run_transpose,
    "CONCATENATION": _run_concatenation,
    "RESIZE_NEAREST_NEIGHBOR": _run_resize,
    "SOFTMAX": _run_softmax,
    "QUANTIZE": _run_quantize,
    "DEQUANTIZE": _run_dequantize,
}


# --- whole graph --------------------------------------------------------------------------------


def _graph_inputs(graph: Graph, inputs: Mapping[str, np.ndarray] | np.ndarray) -> dict[str, np.ndarray]:
    if isinstance(inputs, np.ndarray):
        if len(graph.inputs) != 1:
            raise ReferenceError(
                f"graph {graph.name!r} has {len(graph.inputs)} inputs {graph.inputs}; pass a dict name -> array"
            )
        inputs = {graph.inputs[0]: inputs}
    missing = [name for name in graph.inputs if name not in inputs]
    if missing:
        raise ReferenceError(f"graph {graph.name!r}: no array given for input(s) {missing}")
    checked = {}
    for name in graph.inputs:
        tensor = graph.tensor(name)
        array = np.asarray(inputs[name])
        if tuple(array.shape) != tuple(tensor.shape):
            raise ReferenceError(
                f"graph {graph.name!r}: input {name!r} must have shape {tuple(tensor.shape)}, got {array.shape}"
            )
        if array.dtype != np.dtype(tensor.dtype):
            raise ReferenceError(
                f"graph {graph.name!r}: input {name!r} must be {tensor.dtype}, got {array.dtype} "
                f"(quantize it first, e.g. harness.quant.quantize)"
            )
        checked[name] = array
    return checked


def run_graph(
    graph: Graph, inputs: Mapping[str, np.ndarray] | np.ndarray, fc_requant: str = FC_FIXED
) -> dict[str, np.ndarray]:
    """Run the graph; return every activation (inputs, intermediates, outputs) by tensor name."""
    _check_fc_requant(fc_requant)
    values = _graph_inputs(graph, inputs)
    for op in graph.ops:
        names = _activation_inputs(graph, op)
        absent = [name for name in names if name not in values]
        if absent:
            raise GraphError(f"graph {graph.name!r}, op {op.name!r}: input(s) {absent} are not computed yet")
        result = run_op(graph, op, {name: values[name] for name in names}, fc_requant=fc_requant)
        expected = graph.tensor(op.outputs[0])
        if tuple(result.shape) != tuple(expected.shape) or result.dtype != np.dtype(expected.dtype):
            raise GraphError(
                f"graph {graph.name!r}, op {op.name!r} ({op.kind}): computed {result.dtype}{list(result.shape)} "
                f"but tensor {expected.name!r} is {expected.dtype}{list(expected.shape)}; the graph is inconsistent"
            )
        values[op.outputs[0]] = result
    return values


def run_outputs(
    graph: Graph, inputs: Mapping[str, np.ndarray] | np.ndarray, fc_requant: str = FC_FIXED
) -> dict[str, np.ndarray]:
    """Run the graph; return only its outputs by name."""
    values = run_graph(graph, inputs, fc_requant)
    return {name: values[name] for name in graph.outputs}


# --- command line: time the reference on a model -------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m harness.reference MODEL [--inputs N]``: run a .tflite (or an MLPerf Tiny name) and
    print the reference's time per input."""
    import argparse
    import time
    from pathlib import Path

    from harness.paths import MLPERF_MODELS, mlperf_model
    from harness.tflite_io import load_tflite

    parser = argparse.ArgumentParser(prog="python -m harness.reference", description=main.__doc__)
    parser.add_argument("model", help=f"a .tflite path or one of {', '.join(MLPERF_MODELS)}")
    parser.add_argument("--inputs", type=int, default=20, help="random int8 inputs to time (default 20)")
    parser.add_argument("--fc-requant", choices=FC_REQUANT_MODES, default=FC_FIXED)
    args = parser.parse_args(argv)
    path = mlperf_model(args.model) if args.model in MLPERF_MODELS else Path(args.model)
    graph = load_tflite(path)
    rng = np.random.default_rng(0)
    feeds = [
        {
            name: rng.integers(-128, 128, size=graph.tensor(name).shape).astype(graph.tensor(name).dtype)
            for name in graph.inputs
        }
        for _ in range(args.inputs)
    ]
    run_graph(graph, feeds[0], args.fc_requant)  # warm up
    start = time.perf_counter()
    for feed in feeds:
        run_graph(graph, feed, args.fc_requant)
    per_input = (time.perf_counter() - start) / len(feeds)
    print(f"{graph.name}: {len(graph.ops)} ops, {per_input * 1000:.1f} ms per input ({len(feeds)} inputs)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

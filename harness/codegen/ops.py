# SPDX-License-Identifier: Apache-2.0
"""One emitter per op kind: the C function of one graph op, its flash constants and, in the patch stage,
its per-patch step table.

``emit_op(ctx)`` returns an ``OpCode``; ``templates/ops.c.j2`` has one macro per ``OpCode.macro`` that
writes the function. The emitter computes every number (quantization parameters, regions, offsets) and
every C expression the macro pastes; the template only lays them out.

``unsupported_reason(graph, op, in_stage)`` is the single place that says which ops the kernels cannot
run: generation refuses such a graph up front, naming each op (index, name, kind) and why.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from harness import reference
from harness.codegen import kernels
from harness.ir import quant, slicing
from harness.ir.geometry import activation_inputs, block_size, hwc
from harness.ir.graph import BROADCAST_KINDS, UNARY_KINDS, Graph, Op
from harness.ir.opdefs import OP_DEFS, batch_matmul_dims
from harness.reference.runner import batch_matmul_quant
from harness.schedule.arena import ArenaPlan
from harness.schedule.fusion import epilogue_chunk_rows, epilogue_rows

from .broadcast import broadcast_walk, row_strides
from .carrays import C_TYPES, CArray, c_double, c_float, c_ints, c_struct
from .cparams import (
    PB_ADD_PARAMS,
    PB_MEAN_VIEW,
    PB_MUL_PARAMS,
    PB_PRELU_PARAMS,
    PB_REQUANT,
    PB_RESIZE_SHAPE,
    PB_TILE,
    PB_TRANSPOSE_CONV_SHAPE,
)
from .layout import StageLayout, StepIO, stage_steps
from .options import CodegenError

ROW = "y"  # the row variable of the stage's row loops


@dataclass
class OpContext:
    graph: Graph
    op: Op
    index: int
    arena: ArenaPlan
    stage: StageLayout | None  # set when the op runs in the patch stage
    optimized: bool

    @property
    def in_stage(self) -> bool:
        return self.stage is not None

    def tensor(self, position: int):
        return self.graph.tensor(self.op.inputs[position])

    @property
    def out(self):
        return self.graph.tensor(self.op.outputs[0])

    def activation_slot(self, position: int) -> int:
        """Index into the stage step's input[] of op.inputs[position]."""
        return activation_inputs(self.graph, self.op).index(position)

    def input_ptr(self, position: int, per_row: bool = False) -> str:
        """C expression of the first element op.inputs[position] is read from (a constant's array)."""
        name = self.op.inputs[position]
        if self.graph.tensor(name).is_const:
            return f"{self.op.name}_operand{position}"
        if not self.in_stage:
            return _typed(f"arena + {buffer_macro(self.graph, name)}", self.graph.tensor(name).dtype, True)
        slot = self.activation_slot(position)
        row = f" + {ROW} * s->input_row_stride[{slot}]" if per_row else ""
        return _typed(f"arena + s->input[{slot}]", self.graph.tensor(name).dtype, True) + row

    def output_ptr(self, per_row: bool = False) -> str:
        dtype = self.out.dtype
        if not self.in_stage:
            return _typed(f"arena + {buffer_macro(self.graph, self.op.outputs[0])}", dtype, False)
        return _typed("arena + s->output", dtype, False) + (
            f" + {ROW} * s->region.out_row_stride" if per_row else ""
        )

    @property
    def scratch_ptr(self) -> str:
        name = f"scratch:{self.op.name}"
        if any(b.name == name for b in self.arena.buffers):
            return f"arena + SCRATCH_{self.op.name}"
        return "NULL"


def _typed(pointer: str, dtype: str, const: bool) -> str:
    """An arena pointer as the element type of the tensor (row strides then count elements)."""
    if dtype == "int8":
        return pointer
    return f"({'const ' if const else ''}{C_TYPES[dtype]} *)({pointer})"


@dataclass
class OpCode:
    """The C of one op: what ops.c.j2's macro ``macro`` needs."""

    name: str
    kind: str
    comment: str
    in_stage: bool
    macro: str
    constants: list[CArray] = field(default_factory=list)
    structs: list[str] = field(default_factory=list)  # "static const T name = {...};" lines
    fields: dict[str, object] = field(default_factory=dict)
    steps: list[StepIO] = field(default_factory=list)

    @property
    def signature(self) -> str:
        return f"static void {self.name}({'const stage_step *s' if self.in_stage else 'void'})"


def buffer_macro(graph: Graph, tensor: str) -> str:
    """model.h's name of a tensor's arena offset: BUF_<producing op>, BUF_INPUT (or BUF_INPUT<k>)."""
    if tensor in graph.inputs:
        return "BUF_INPUT" if len(graph.inputs) == 1 else f"BUF_INPUT{graph.inputs.index(tensor)}"
    producer = graph.producer(tensor)
    if producer is None:
        raise CodegenError(f"internal error: tensor {tensor!r} has no producer")
    return f"BUF_{producer.name}"


# --- what the kernels cannot do --------------------------------------------------------------------


def unsupported_reason(graph: Graph, op: Op, in_stage: bool) -> str | None:
    """Why the C kernels cannot run ``op`` (None: they can)."""
    for position, name in [*enumerate(op.inputs), *((-1, n) for n in op.outputs)]:
        if not name:
            continue
        tensor = graph.tensor(name)
        # The float ends of a float model: QUANTIZE's input and DEQUANTIZE's output.
        float_end = (op.kind, position) in (("QUANTIZE", 0), ("DEQUANTIZE", -1))
        plain_out = position == -1 and tensor.dtype == OP_DEFS[op.kind].output_dtype  # ARG_MAX's indices
        if (
            not tensor.is_const
            and tensor.dtype != "int8"
            and not (float_end and tensor.dtype == "float32")
            and not plain_out
        ):
            return (
                f"tensor {name!r} is {tensor.dtype}; the C kernels run int8 activations (float32 only into a "
                "QUANTIZE or out of a DEQUANTIZE)"
            )
    check = _CHECKS.get(op.kind)
    if check is None:
        return f"no C kernel for {op.kind}; supported: {', '.join(sorted(EMITTERS))}"
    return check(graph, op, in_stage)


def _check_conv(graph: Graph, op: Op, in_stage: bool) -> str | None:
    if (
        op.kind == "CONV_2D"
        and graph.tensor(op.inputs[1]).shape[3] != hwc(graph.tensor(op.inputs[0]).shape)[2]
    ):
        return "grouped convolution (filter depth != input depth) has no C kernel"
    if len(graph.tensor(op.inputs[0]).shape) != 4:
        return "the input must be a 4-D NHWC tensor"
    return None


def _check_fully_connected(graph: Graph, op: Op, in_stage: bool) -> str | None:
    weights = graph.tensor(op.inputs[1])
    if not weights.quant.per_channel and int(weights.quant.zero_point[0]) != 0:
        return "a weight zero point != 0 has no C kernel (TFLite int8 weights are symmetric)"
    return None


def _check_binary(graph: Graph, op: Op, in_stage: bool) -> str | None:
    out_shape = graph.tensor(op.outputs[0]).shape
    shapes = [tuple(graph.tensor(name).shape) for name in op.inputs]
    if broadcast_walk(out_shape, *shapes) is None:
        return (
            f"operand shapes {shapes} broadcast to {list(out_shape)} over more than four dims (after merging "
            "the dims both operands read alike); the C kernels walk at most four"
        )
    if in_stage:
        for name, shape in zip(op.inputs, shapes, strict=True):
            padded = (1,) * (4 - len(shape)) + shape
            if graph.tensor(name).is_const and (len(shape) > 4 or padded[1] > 1 or padded[2] > 1):
                return (
                    f"the constant operand {name!r} {list(shape)} varies over rows or columns, so a patch "
                    "would need its own part of it; end the patch stage before it"
                )
    return None


def _check_mean(graph: Graph, op: Op, in_stage: bool) -> str | None:
    if mean_view(graph, op) is None:
        shape = graph.tensor(op.inputs[0]).shape
        return (
            f"MEAN over axes {_mean_axes(graph, op)} of {list(shape)}: the reduced axes (of size > 1) form more "
            "than two separate runs"
        )
    return None


def _mean_axes(graph: Graph, op: Op) -> list[int]:
    rank = len(graph.tensor(op.inputs[0]).shape)
    return sorted({int(a) % rank for a in np.asarray(graph.tensor(op.inputs[1]).data).reshape(-1)})


MeanView = tuple[int, int, int, int, int]


def mean_view(graph: Graph, op: Op) -> MeanView | None:
    """The MEAN input as [outer, count, middle, count2, inner]: the reduced axes (those of size > 1) are
    at most two runs of adjacent axes, ``count`` and ``count2`` elements, with the kept axes between them
    ``middle`` (any set of axes of a 4-D tensor is such). None when the reduced axes form three runs."""
    shape = graph.tensor(op.inputs[0]).shape
    axes = set(_mean_axes(graph, op))
    runs: list[list[int]] = []  # runs of reduced axes; kept axes of size 1 join any run
    for axis, size in enumerate(shape):
        if size == 1:
            continue
        if axis in axes:
            if runs and runs[-1][-1] == _previous_sized(shape, axis) and runs[-1][-1] in axes:
                runs[-1].append(axis)
            else:
                runs.append([axis])
    if len(runs) > 2:
        return None
    size = lambda axes_: int(np.prod([shape[a] for a in axes_], dtype=np.int64))  # noqa: E731
    if not runs:
        return size(range(len(shape))), 1, 1, 1, 1
    first = runs[0]
    second = runs[1] if len(runs) == 2 else []
    end_first = first[-1] + 1
    end_second = second[-1] + 1 if second else end_first
    return (
        size(range(first[0])),
        size(first),
        size(range(end_first, second[0])) if second else 1,
        size(second) if second else 1,
        size(range(end_second, len(shape))),
    )


def _previous_sized(shape: tuple[int, ...], axis: int) -> int:
    """The nearest axis before ``axis`` of size > 1 (-1 when none)."""
    return next((a for a in range(axis - 1, -1, -1) if shape[a] > 1), -1)


def _check_quantize(graph: Graph, op: Op, in_stage: bool) -> str | None:
    if op.kind == "QUANTIZE" and graph.tensor(op.outputs[0]).dtype != "int8":
        return "QUANTIZE to a type other than int8"
    return None


def _check_transpose(graph: Graph, op: Op, in_stage: bool) -> str | None:
    if len(graph.tensor(op.inputs[0]).shape) > 4:
        return "TRANSPOSE of a tensor of rank > 4"
    return None


def _check_pad(graph: Graph, op: Op, in_stage: bool) -> str | None:
    if len(graph.tensor(op.inputs[0]).shape) > 4:
        return "PAD of a tensor of rank > 4"
    return None


def _check_slice(graph: Graph, op: Op, in_stage: bool) -> str | None:
    box = slicing.op_box(graph, op)
    if len(box.count) > 4:
        return f"{op.kind} of a tensor of rank {len(box.count)} > 4"
    if in_stage and not slicing.is_local_slice(graph, op):
        return "a slice that drops an axis or cuts the batch cannot run patch by patch; end the patch stage before it"
    return None


def _check_concat(graph: Graph, op: Op, in_stage: bool) -> str | None:
    if in_stage and any(graph.tensor(n).is_const for n in op.inputs):
        return "a constant input cannot be concatenated patch by patch; end the patch stage before it"
    return None


def _check_softmax(graph: Graph, op: Op, in_stage: bool) -> str | None:
    out = graph.tensor(op.outputs[0])
    if out.zero_point != -128 or abs(out.scale - 1.0 / 256) > 0.001 / 256:
        return "int8 SOFTMAX output must have scale 1/256 and zero point -128 (TFLite's rule)"
    return None


def _check_nhwc_input(graph: Graph, op: Op, in_stage: bool) -> str | None:
    if len(graph.tensor(op.inputs[0]).shape) != 4:
        return "the input must be a 4-D NHWC tensor"
    return None


def _check_transpose_conv(graph: Graph, op: Op, in_stage: bool) -> str | None:
    if len(graph.tensor(op.inputs[2]).shape) != 4:
        return "the input must be a 4-D NHWC tensor"
    return None


def _no_check(graph: Graph, op: Op, in_stage: bool) -> str | None:
    return None


# --- the emitters ----------------------------------------------------------------------------------


def _shape(graph: Graph, name: str) -> str:
    h, w, c = hwc(graph.tensor(name).shape)
    return f"{h}x{w}x{c}"


def _comment(ctx: OpContext, detail: str = "") -> str:
    op, graph = ctx.op, ctx.graph
    inputs = " + ".join(_shape(graph, op.inputs[i]) for i in activation_inputs(graph, op))
    where = "; patch stage: runs on each patch's region (see its steps table)" if ctx.in_stage else ""
    detail = f" {detail}" if detail else ""
    return f"{op.name}: {op.kind}{detail}, {inputs} -> {_shape(graph, op.outputs[0])}{where}"


def _window_detail(ctx: OpContext) -> str:
    window = kernels.window_for_op(ctx.graph, ctx.op)
    text = f"{window.kernel_h}x{window.kernel_w} s{window.stride_h}"
    if window.stride_w != window.stride_h:
        text += f"x{window.stride_w}"
    if (window.dilation_h, window.dilation_w) != (1, 1):
        text += f" d{window.dilation_h}x{window.dilation_w}"
    padding = ctx.op.attrs.get("padding", "VALID")
    if padding == "EXPLICIT":  # a folded PAD: its amounts are this op's pads, the padded copy never exists
        top, bottom, left, right = ctx.op.attrs["pads"]
        return f"{text} pads t{top} b{bottom} l{left} r{right} ({ctx.op.attrs['folded_pad']} folded in)"
    return f"{text} {padding}"


def _window_fields(ctx: OpContext) -> tuple[dict[str, object], list[str], list[StepIO]]:
    """The region (per-layer: a static const; stage: the step's) and the window struct."""
    graph, op = ctx.graph, ctx.op
    window = kernels.window_for_op(graph, op)
    structs = [f"static const pb_window {op.name}_window = {window.c_initializer()};"]
    if ctx.in_stage:
        steps = stage_steps(ctx.stage, op)
        return {"region_ref": "&s->region"}, structs, steps
    region = kernels.region_for_op(graph, op)
    if len(graph.tensor(op.inputs[0]).shape) != 4:
        raise CodegenError(f"op {op.name!r}: a window op needs a 4-D input")
    try:
        kernels.check_region(region, window)
    except kernels.KernelError as err:
        raise CodegenError(f"op {ctx.index} {op.name!r} ({op.kind}): {err}") from None
    return {"region_ref": "&region", "region_init": region.c_initializer()}, structs, []


def _requant_struct(ctx: OpContext, q: reference.ConvQuant, channels: int,
                    prepared: CArray | None = None) -> tuple[list[CArray], str]:  # fmt: skip
    name = ctx.op.name
    multipliers = np.broadcast_to(np.asarray(q.multipliers, np.int64), (channels,))
    shifts = np.broadcast_to(np.asarray(q.shifts, np.int64), (channels,))
    arrays = [
        CArray(
            f"{name}_multiplier",
            "int32",
            multipliers,
            f"{name}: per-channel requantization multipliers (Q31)",
        ),
        CArray(
            f"{name}_shift",
            "int32",
            shifts,
            f"{name}: per-channel shifts (real = multiplier * 2^(shift - 31))",
        ),
    ]
    fields = {
        "input_zero_point": q.input_zero_point,
        "output_zero_point": q.output_zero_point,
        "act_min": q.act_min,
        "act_max": q.act_max,
        "multiplier": f"{name}_multiplier",
        "shift": f"{name}_shift",
        "prepared": prepared.name if prepared is not None else "NULL",
    }
    if prepared is not None:
        arrays.append(prepared)
    return arrays, f"static const pb_requant {name}_requant = {PB_REQUANT.initializer(fields)};"


def _runs_per_tile(ctx: OpContext) -> bool:
    """Whether the op's DSP kernel runs once per tile of a patch stage (where a table made at generation pays)."""
    return ctx.optimized and type(ctx.stage) is StageLayout


def _bias_data(ctx: OpContext):
    """The op's int32 bias values, or None without a bias."""
    return ctx.tensor(2).data if len(ctx.op.inputs) > 2 and ctx.op.inputs[2] else None


def _channel_table(ctx: OpContext, q: reference.ConvQuant, kernel: str, steps: list[StepIO]) -> CArray | None:
    """The DSP conv kernel's channel table made once (kernels.conv_channel_table), for a conv that runs on every
    tile of a patch stage: that kernel makes it at every call, some 28 instructions an output channel. Made for
    the doubling most of the op's calls take (the others make their own), marked where every call takes it
    and where every call is a dense 1x1 call (the kernel then skips those tests), and padded where k % 4 != 0
    (emit_conv pads the filter array: the assembly takes the last channel too); a conv fused with its residual
    ADD runs on dense chunks of rows. Elsewhere (per layer, a row-streamed segment) only a conv with a k % 4
    tail gets one, for its padded filter, which every block of six pixels takes (a model's first conv, 3x3 over
    3 channels: about 130 instructions a block); the rest of the table pays once a call there, and would take
    flash that some of those points lack."""
    if not ctx.optimized or kernel not in ("pb_conv2d_s8", "pb_conv1x1_s8"):
        return None
    op = ctx.op
    _, kh, kw, cin = ctx.tensor(1).shape
    k = kh * kw * cin
    if not _runs_per_tile(ctx) and not kernels.conv_filter_padding(k):
        return None
    fused = ctx.arena.epilogue_of(op.name) is not None
    regions = [replace(step.region, out_row_stride=0) if fused else step.region for step in steps]
    votes = [kernels.conv_doubling(region, q.act_min, q.act_max, k) for region in regions]
    doubling = votes.count(True) > votes.count(False)
    window = kernels.window_for_op(ctx.graph, op)
    dense = kernel == "pb_conv1x1_s8" and all(
        kernels.conv_dense_call(region, window, q.act_min, q.act_max, k) for region in regions
    )
    table = kernels.conv_channel_table(
        q.multipliers, q.shifts, _bias_data(ctx), q.output_zero_point, k, doubling,
        every_call=len(set(votes)) == 1, dense=dense, padded=True,
    )  # fmt: skip
    return CArray(f"{op.name}_prepared", "int32", table,
                  f"{op.name}: the DSP kernel's channel table (doubling, form, then per channel multiplier, add2, "
                  f"shift, next bias)")  # fmt: skip


def _plane3_table(ctx: OpContext, q: reference.ConvQuant, kernel: str, steps: list[StepIO]) -> CArray | None:
    """The DSP depthwise kernel's 3x3 plane preparation made once (kernels.depthwise_plane3_table), for a 3x3
    stride-1 depthwise conv that runs on every tile of a patch stage and whose tiles take the planes (6 x 6
    outputs and more): the kernel makes it at every call, about 100 instructions a channel. 40 bytes of flash
    a channel; None elsewhere (per layer an op runs once)."""
    op = ctx.op
    if not _runs_per_tile(ctx) or not kernel.startswith("pb_depthwise_conv2d_s8"):
        return None
    window = kernels.window_for_op(ctx.graph, op)
    _, kh, kw, channels = ctx.tensor(1).shape
    if ((kh, kw) != (3, 3) or (window.stride_h, window.stride_w, window.dilation_h, window.dilation_w) != (1, 1, 1, 1)
            or hwc(ctx.graph.tensor(op.inputs[0]).shape)[2] != channels
            or not any(min(step.region.out_h, step.region.out_w) >= kernels.depthwise_planes_least(3)
                    for step in steps)):  # fmt: skip
        return None
    table = kernels.depthwise_plane3_table(q.multipliers, q.shifts, _bias_data(ctx), ctx.tensor(1).data,
                                           q.input_zero_point, q.output_zero_point)  # fmt: skip
    return CArray(
        f"{op.name}_prepared",
        "int32",
        table,
        f"{op.name}: the DSP kernel's 3x3 plane channels (multiplier, add2, shift, bias, weight pairs)",
    )


def _group_table(ctx: OpContext, q: reference.ConvQuant, kernel: str, steps: list[StepIO]) -> CArray | None:
    """The DSP depthwise group kernel's preparation made once (kernels.depthwise_group_table), for a depthwise conv
    (no depth multiplier) that runs on every tile of a patch stage without a plane table (_plane3_table: its tiles
    take the group kernel, dw_dsp: stride 2, tiles under 6 x 6 outputs, 5x5 and 7x7 windows): the kernel makes it at
    every call, about 200 instructions a 3x3 group of four channels. 136 bytes of flash a 3x3 group; None elsewhere
    (per layer an op runs once) and where a group does not take the doubled form."""
    op = ctx.op
    if not _runs_per_tile(ctx) or not kernel.startswith("pb_depthwise_conv2d_s8"):
        return None
    _, kh, kw, channels = ctx.tensor(1).shape
    window = kernels.window_for_op(ctx.graph, op)
    planes = (kh == kw and kw in (5, 7) and (window.stride_h, window.stride_w, window.dilation_h, window.dilation_w)
              == (1, 1, 1, 1))  # fmt: skip
    if hwc(ctx.graph.tensor(op.inputs[0]).shape)[2] != channels or (
        planes
        and all(
            min(step.region.out_h, step.region.out_w) >= kernels.depthwise_planes_least(kw) for step in steps
        )
    ):  # (5x5 and 7x7 tiles of 16 x 16 outputs and more take the planes, which read no table)
        return None
    table = kernels.depthwise_group_table(q.multipliers, q.shifts, _bias_data(ctx), ctx.tensor(1).data,
                                          q.output_zero_point)  # fmt: skip
    if table is None:
        return None
    return CArray(
        f"{op.name}_prepared",
        "int32",
        table,
        f"{op.name}: the DSP kernel's channel groups (tag, then per group of four multiplier, add2, shift, doubled "
        f"biases, doubled widened weights)",
    )


def _weights(ctx: OpContext, position: int, what: str, padding: int = 0) -> CArray:
    tensor = ctx.tensor(position)
    values, comment = tensor.data, f"{ctx.op.name}: {what} {list(tensor.shape)}"
    if padding:  # zeros after the filter: the DSP channel loop reads its last tail group whole
        values = np.concatenate([np.asarray(values).reshape(-1), np.zeros(padding, np.int8)])
        comment += f" and {padding} bytes of 0"
    return CArray(f"{ctx.op.name}_{what}", "int8", values, comment)


def _bias(ctx: OpContext) -> tuple[list[CArray], str]:
    if len(ctx.op.inputs) < 3 or not ctx.op.inputs[2]:
        return [], "NULL"
    tensor = ctx.tensor(2)
    array = CArray(f"{ctx.op.name}_bias", "int32", tensor.data, f"{ctx.op.name}: bias [{tensor.size}]")
    return [array], array.name


def emit_conv(ctx: OpContext) -> OpCode:
    op, graph = ctx.op, ctx.graph
    fields, structs, steps = _window_fields(ctx)
    out_c = hwc(graph.tensor(op.outputs[0]).shape)[2]
    q = reference.conv_quant(graph, op)
    bias_arrays, bias = _bias(ctx)
    window = kernels.window_for_op(graph, op)
    buffer = ctx.arena.buffer(op.outputs[0])
    # a row-streamed segment's output over its input (overwrites_rows) is no in-place kernel: its rows
    # land behind the rows read
    in_place = buffer.writes_over == op.inputs[0] and not buffer.overwrites_rows
    if in_place and op.kind != "DEPTHWISE_CONV_2D":
        raise CodegenError(
            f"internal error: op {op.name!r} ({op.kind}) was planned in place; no kernel runs it so"
        )
    if in_place:
        kernel = "pb_depthwise_conv2d_s8_inplace"
    elif op.kind == "DEPTHWISE_CONV_2D":
        kernel = "pb_depthwise_conv2d_s8"
    elif (window.kernel_h, window.kernel_w) == (1, 1) and _never_padded(ctx, steps):
        kernel = "pb_conv1x1_s8"
    else:
        kernel = "pb_conv2d_s8"
    prepared = (_channel_table(ctx, q, kernel, steps) or _plane3_table(ctx, q, kernel, steps)
                or _group_table(ctx, q, kernel, steps))  # fmt: skip
    requant_arrays, requant = _requant_struct(ctx, q, out_c, prepared)
    _, kh, kw, cin = ctx.tensor(1).shape
    conv_table = prepared is not None and kernel in ("pb_conv2d_s8", "pb_conv1x1_s8")
    filter_padding = kernels.conv_filter_padding(kh * kw * cin) if conv_table else 0  # as _channel_table's
    for step in steps if in_place else []:
        r = step.region
        if (r.in_row_stride, r.out_row_stride) != (r.in_w * r.in_c, r.out_w * r.out_c):
            raise CodegenError(f"internal error: in-place op {op.name!r} reads or writes a strided window")
    fields.update(kernel=kernel, input=ctx.input_ptr(0), output=ctx.output_ptr(), bias=bias,
                  filter=f"{op.name}_filter", scratch=ctx.scratch_ptr, in_place=in_place)  # fmt: skip
    if ctx.in_stage and op.name in ctx.stage.sliced:  # rows.py ch=: a slice of the output channels a call
        chunk, slices = ctx.stage.sliced[op.name]
        _, kh, kw, cin = ctx.tensor(1).shape
        fields.update(chunk=chunk, slices=slices, depth=kh * kw * cin)
    code = OpCode(
        name=op.name, kind=op.kind, comment=_comment(ctx, _window_detail(ctx)), in_stage=ctx.in_stage,
        macro="conv", constants=[_weights(ctx, 1, "filter", filter_padding), *bias_arrays, *requant_arrays],
        structs=[*structs, requant], fields=fields, steps=steps,
    )  # fmt: skip
    add_name = ctx.arena.epilogue_of(op.name)
    if add_name is None:
        return code
    return _with_stage_epilogue(ctx, code, add_name) if ctx.in_stage else _with_epilogue(ctx, code, add_name)


def _never_padded(ctx: OpContext, steps: list[StepIO]) -> bool:
    if ctx.in_stage:
        return not any(any(step.region.pads) for step in steps)
    return not any(kernels.region_for_op(ctx.graph, ctx.op).pads)


def emit_pool(ctx: OpContext) -> OpCode:
    op = ctx.op
    fields, structs, steps = _window_fields(ctx)
    act_min, act_max = (
        int(op.attrs.get("act_min", quant.INT8_MIN)),
        int(op.attrs.get("act_max", quant.INT8_MAX)),
    )
    if ctx.in_stage and op.name in ctx.stage.accumulating:  # a global pool, row by row (rows.py)
        height = hwc(ctx.tensor(0).shape)[0]
        group = max(step.region.in_h for step in steps)  # rows per step: every step's but the last's
        chunk, slices = ctx.stage.sliced.get(op.name, (0, 1))  # channel slices of the conv before it
        fields.update(kernel="pb_avg_pool_rows_s8", input=ctx.input_ptr(0), output=ctx.output_ptr(),
                      act_min=act_min, act_max=act_max, height=height, group=group, chunk=chunk, slices=slices,
                      scratch=ctx.scratch_ptr)  # fmt: skip
        comment = f"{op.name}: AVERAGE_POOL_2D of the whole {height}-row map, row by row into int32 sums"
        if chunk:
            comment += f", {chunk} channels a step ({slices} steps a row step)"
        return OpCode(op.name, op.kind, comment, True, "pool_rows", fields=fields, steps=steps)
    kernel = "pb_avg_pool_s8" if op.kind == "AVERAGE_POOL_2D" else "pb_max_pool_s8"
    fields.update(kernel=kernel, input=ctx.input_ptr(0), output=ctx.output_ptr(), act_min=act_min,
                  act_max=act_max)  # fmt: skip
    return OpCode(op.name, op.kind, _comment(ctx, _window_detail(ctx)), ctx.in_stage, "pool",
                  structs=structs, fields=fields, steps=steps)  # fmt: skip


def emit_fully_connected(ctx: OpContext) -> OpCode:
    op, graph = ctx.op, ctx.graph
    out_features, in_features = ctx.tensor(1).shape
    batches = ctx.tensor(0).size // in_features
    q = reference.conv_quant(graph, op)
    requant_arrays, requant = _requant_struct(ctx, q, out_features)
    bias_arrays, bias = _bias(ctx)
    fields = dict(batches=batches, in_features=in_features, out_features=out_features, input=ctx.input_ptr(0),
                  weights=f"{op.name}_weights", bias=bias, output=ctx.output_ptr(), scratch=ctx.scratch_ptr)  # fmt: skip
    comment = f"{op.name}: FULLY_CONNECTED {in_features} -> {out_features} (x{batches})"
    return OpCode(op.name, op.kind, comment, False, "fully_connected",
                  constants=[_weights(ctx, 1, "weights"), *bias_arrays, *requant_arrays], structs=[requant],
                  fields=fields)  # fmt: skip


def _constant_operands(ctx: OpContext) -> list[CArray]:
    return [
        CArray(
            f"{ctx.op.name}_operand{i}", "int8", ctx.tensor(i).data, f"{ctx.op.name}: constant operand {i}"
        )
        for i in range(len(ctx.op.inputs))
        if ctx.op.inputs[i] and ctx.tensor(i).is_const
    ]


_BINARY_KERNELS = {
    "ADD": "pb_add_s8",
    "SUB": "pb_sub_s8",
    "MUL": "pb_mul_s8",
    "MAXIMUM": "pb_maximum_s8",
    "MINIMUM": "pb_minimum_s8",
    "PRELU": "pb_prelu_s8",
}


def _binary_params(ctx: OpContext) -> tuple[str | None, str]:
    """(the parameter struct's definition, the kernel's leading parameter argument) of a two-operand op."""
    op, graph = ctx.op, ctx.graph
    if op.kind in ("ADD", "SUB"):
        struct, values = PB_ADD_PARAMS, PB_ADD_PARAMS.values_of(reference.add_quant(graph, op))
    elif op.kind == "MUL":
        struct, values = PB_MUL_PARAMS, PB_MUL_PARAMS.values_of(reference.mul_quant(graph, op))
    elif op.kind == "PRELU":
        struct, values = PB_PRELU_PARAMS, PB_PRELU_PARAMS.values_of(reference.prelu_quant(graph, op))
    else:
        return None, ""  # MAXIMUM / MINIMUM compare raw values
    return (
        f"static const {struct.typedef} {op.name}_params = {struct.initializer(values)};",
        f"&{op.name}_params, ",
    )


def emit_binary(ctx: OpContext) -> OpCode:
    """ADD, SUB, MUL, MAXIMUM, MINIMUM, PRELU with numpy broadcasting (harness.codegen.broadcast)."""
    op = ctx.op
    a, b, out = ctx.tensor(0), ctx.tensor(1), ctx.out
    struct, params = _binary_params(ctx)
    channels = hwc(out.shape)[2]
    if ctx.in_stage:  # one output row of the patch at a time; an operand of height 1 is read from its start
        (a_w, a_c), (b_w, b_c) = (row_strides(t.shape, channels) for t in (a, b))
        dims, a_strides, b_strides = (
            f"{{1, 1, s->region.out_w, {channels}}}",
            f"{{0, 0, {a_w}, {a_c}}}",
            f"{{0, 0, {b_w}, {b_c}}}",
        )
        pointers = [ctx.input_ptr(i, per_row=not ctx.tensor(i).is_const) for i in (0, 1)]
    else:
        walk = broadcast_walk(out.shape, a.shape, b.shape)
        if walk is None:
            raise CodegenError(f"internal error: op {op.name!r}: operands that unsupported_reason refuses")
        dims, a_strides, b_strides = walk.c_arrays()
        pointers = [ctx.input_ptr(i) for i in (0, 1)]
    fields = dict(kernel=_BINARY_KERNELS[op.kind], params=params, dims=dims, a_strides=a_strides,
                  b_strides=b_strides, a=pointers[0], b=pointers[1], output=ctx.output_ptr(per_row=ctx.in_stage),
                  size=out.size if not ctx.in_stage else f"s->region.out_w * {channels}")  # fmt: skip
    steps = stage_steps(ctx.stage, op) if ctx.in_stage else []
    fused_into = {add: conv for conv, add in ctx.arena.epilogues}.get(op.name)
    if fused_into is not None:  # its struct and call live in the conv's function
        comment = f"{_comment(ctx)}: runs as the epilogue of {fused_into}, chunk by chunk"
        # in the patch stage no patch calls it: no function at all (per layer it stays a timed unit)
        macro = "omitted" if ctx.in_stage else "fused"
        return OpCode(op.name, op.kind, comment, False, macro, fields={**fields, "struct": struct})
    detail = "" if a.shape == b.shape else f"broadcast {list(a.shape)} with {list(b.shape)}"
    return OpCode(op.name, op.kind, _comment(ctx, detail), ctx.in_stage, "binary",
                  constants=_constant_operands(ctx), structs=[struct] if struct else [], fields=fields,
                  steps=steps)  # fmt: skip


def _with_epilogue(ctx: OpContext, code: OpCode, add_name: str) -> OpCode:
    """A 1x1 conv whose output only an ADD reads (harness/schedule/fusion.py): chunks of rows into the
    conv's chunk buffer, each added at once to the other operand's rows into the ADD's output."""
    graph, op = ctx.graph, ctx.op
    add = graph.op(add_name)
    height, width, out_c = hwc(ctx.out.shape)
    in_c = hwc(ctx.tensor(0).shape)[2]
    rows = epilogue_chunk_rows(height, width)
    chunk = f"arena + {buffer_macro(graph, op.outputs[0])}"
    operands = [
        chunk if name == op.outputs[0] else f"arena + {buffer_macro(graph, name)} + y * {width * out_c}"
        for name in add.inputs
    ]
    add_code = emit_binary(OpContext(graph, add, ctx.index, ctx.arena, None, ctx.optimized))
    a, b = operands  # both of the ADD's output shape (fusion.residual_epilogues): one contiguous run
    code.structs.append(add_code.fields["struct"])
    last = height % rows
    code.fields.update(
        macro_rows=rows, height=height, row_in=width * in_c, row_out=width * out_c, add=add_name, a=a, b=b,
        add_output=f"arena + {buffer_macro(graph, add.outputs[0])} + y * {width * out_c}",
        region_init=kernels.Region(rows, width, in_c, rows, width, out_c).c_initializer(),
        last_init=kernels.Region(last, width, in_c, last, width, out_c).c_initializer() if last else "",
        input=ctx.input_ptr(0), kernel="pb_conv1x1_s8",
    )  # fmt: skip
    code.macro = "conv_add"
    code.comment += f"; fused with {add_name}: {rows} output row(s) at a time, added into {add_name}'s output"
    return code


def _with_stage_epilogue(ctx: OpContext, code: OpCode, add_name: str) -> OpCode:
    """The same inside the patch stage: per patch, ``epilogue_rows`` rows of the patch's region at a time
    into the chunk buffer, each added to the other operand's rows (its window, with its row stride) into
    the ADD's output (a window of the shortcut's buffer, its own buffer or the stage output). One step
    table: the conv's input and the ADD's other operand as inputs 0 and 1, the ADD's output as output."""
    graph, op = ctx.graph, ctx.op
    add = graph.op(add_name)
    add_ctx = OpContext(graph, add, ctx.index, ctx.arena, ctx.stage, ctx.optimized)
    conv_out = op.outputs[0]
    other = next(i for i, name in enumerate(add.inputs) if name != conv_out)
    other_slot = activation_inputs(graph, add).index(other)
    add_steps = stage_steps(ctx.stage, add)
    if [s.patch for s in add_steps] != [s.patch for s in code.steps]:
        raise CodegenError(
            f"internal error: {op.name!r} and its epilogue {add_name!r} run in different patches"
        )
    code.steps = [
        replace(
            conv,
            inputs=(conv.inputs[0], fused.inputs[other_slot]),
            input_row_strides=(conv.input_row_strides[0], fused.input_row_strides[other_slot]),
            output=fused.output,
            region=replace(conv.region, out_row_stride=fused.region.out_row_stride),
            reads=(conv.reads[0], fused.reads[other_slot]),
        )
        for conv, fused in zip(code.steps, add_steps, strict=True)
    ]
    out_c = hwc(ctx.out.shape)[2]
    rows = epilogue_rows(graph, ctx.stage.plan, op.name)
    # each operand's first row and row stride: the chunk (dense) and the other operand's window
    chunk = (f"arena + {buffer_macro(graph, conv_out)}", f"s->region.out_w * {out_c}")
    other_rows = ("arena + s->input[1] + y * s->input_row_stride[1]", "s->input_row_stride[1]")
    operands = [chunk if name == conv_out else other_rows for name in add.inputs]
    (a, a_rs), (b, b_rs) = operands  # both of the ADD's output shape (fusion.residual_epilogues): whole rows
    code.structs.append(emit_binary(add_ctx).fields["struct"])
    code.fields.update(
        macro_rows=rows, add=add_name, a=a, a_rs=a_rs, b=b, b_rs=b_rs, out_c=out_c, kernel="pb_conv1x1_s8",
        chunk=chunk[0],
    )  # fmt: skip
    code.macro = "stage_conv_add"
    code.comment += f"; fused with {add_name}: {rows} output row(s) at a time, added into {add_name}'s output"
    return code


def emit_quantize(ctx: OpContext) -> OpCode:
    """QUANTIZE int8 -> int8 (a change of scale) or float32 -> int8; DEQUANTIZE int8 -> float32."""
    op = ctx.op
    inp, out = ctx.tensor(0), ctx.out
    channels = hwc(ctx.graph.tensor(op.outputs[0]).shape)[2]
    fields = dict(input=ctx.input_ptr(0, per_row=ctx.in_stage), output=ctx.output_ptr(per_row=ctx.in_stage),
                  size=out.size if not ctx.in_stage else f"s->region.out_w * {channels}")  # fmt: skip
    if op.kind == "DEQUANTIZE":
        call = f"pb_dequantize_s8_f32({{size}}, {c_double(np.float64(inp.scale))}, {inp.zero_point}, "
    elif inp.dtype == "float32":
        call = f"pb_quantize_f32_s8({{size}}, {c_float(out.scale)}, {out.zero_point}, "
    else:
        multiplier, shift = quant.quantize_multiplier(float(inp.scale) / float(out.scale))
        call = (
            f"pb_requantize_tensor_s8({{size}}, {inp.zero_point}, {out.zero_point}, {multiplier}, {shift}, "
        )
    fields["call"] = call.format(size=fields["size"]) + f"{fields['input']}, {fields['output']});"
    steps = stage_steps(ctx.stage, op) if ctx.in_stage else []
    return OpCode(op.name, op.kind, _comment(ctx), ctx.in_stage, "quantize", fields=fields, steps=steps)


def emit_transpose(ctx: OpContext) -> OpCode:
    op = ctx.op
    shape = list(ctx.tensor(0).shape)
    perm = [int(v) % len(shape) for v in np.asarray(ctx.tensor(1).data).reshape(-1)]
    lead = 4 - len(shape)
    dims = [1] * lead + shape
    perm4 = list(range(lead)) + [p + lead for p in perm]
    fields = dict(dims=c_ints(dims), perm=c_ints(perm4), input=ctx.input_ptr(0), output=ctx.output_ptr())
    comment = f"{op.name}: TRANSPOSE {shape} by {perm} -> {list(ctx.out.shape)}"
    return OpCode(op.name, op.kind, comment, False, "transpose", fields=fields)


def emit_mean(ctx: OpContext) -> OpCode:
    op = ctx.op
    inp, out = ctx.tensor(0), ctx.out
    outer, count, middle, count2, inner = mean_view(ctx.graph, op)
    multiplier, shift = kernels.mean_params(inp.scale, out.scale, count * count2)
    view = dict(outer=outer, count=count, middle=middle, count2=count2, inner=inner)
    fields = dict(view=PB_MEAN_VIEW.initializer(view), input_zero_point=inp.zero_point,
                  output_zero_point=out.zero_point, multiplier=multiplier, shift=shift, input=ctx.input_ptr(0),
                  output=ctx.output_ptr())  # fmt: skip
    shown = f"[{outer}, {count}, {inner}] -> [{outer}, {inner}]"
    if count2 > 1 or middle > 1:
        shown = f"[{outer}, {count}, {middle}, {count2}, {inner}] -> [{outer}, {middle}, {inner}]"
    detail = f"over axes {_mean_axes(ctx.graph, op)}: {shown}"
    return OpCode(op.name, op.kind, _comment(ctx, detail), False, "mean", fields=fields)


def emit_unary(ctx: OpContext) -> OpCode:
    """LOGISTIC, TANH, HARD_SWISH, LEAKY_RELU and the ReLUs: a 256-entry table (reference.unary_table)."""
    op = ctx.op
    table = CArray(f"{op.name}_table", "int8", reference.unary_table(ctx.graph, op),
                   f"{op.name}: {op.kind} of every int8 input (index: input + 128), LiteRT's arithmetic")  # fmt: skip
    channels = hwc(ctx.out.shape)[2]
    fields = dict(table=table.name, input=ctx.input_ptr(0, per_row=ctx.in_stage),
                  output=ctx.output_ptr(per_row=ctx.in_stage),
                  size=ctx.out.size if not ctx.in_stage else f"s->region.out_w * {channels}")  # fmt: skip
    steps = stage_steps(ctx.stage, op) if ctx.in_stage else []
    return OpCode(op.name, op.kind, _comment(ctx), ctx.in_stage, "lut", constants=[table], fields=fields,
                  steps=steps)  # fmt: skip


def emit_transpose_conv(ctx: OpContext) -> OpCode:
    op, graph = ctx.op, ctx.graph
    in_h, in_w, in_c = hwc(graph.tensor(op.inputs[2]).shape)
    out_h, out_w, out_c = hwc(ctx.out.shape)
    _, kh, kw, _ = ctx.tensor(1).shape
    sh, sw = op.attrs.get("stride", (1, 1))
    top, left = reference.transpose_conv_pads(graph, op)
    q = reference.conv_quant(graph, op, input_position=2)
    requant_arrays, requant = _requant_struct(ctx, q, out_c)
    bias_arrays = []
    bias = "NULL"
    if len(op.inputs) > 3 and op.inputs[3]:
        tensor = ctx.tensor(3)
        bias_arrays = [CArray(f"{op.name}_bias", "int32", tensor.data, f"{op.name}: bias [{tensor.size}]")]
        bias = bias_arrays[0].name
    shape = dict(in_h=in_h, in_w=in_w, in_c=in_c, out_h=out_h, out_w=out_w, out_c=out_c, kernel_h=kh,
                 kernel_w=kw, stride_h=sh, stride_w=sw, pad_top=top, pad_left=left)  # fmt: skip
    structs = [
        requant,
        f"static const pb_transpose_conv_shape {op.name}_shape = {PB_TRANSPOSE_CONV_SHAPE.initializer(shape)};",
    ]
    call = (f"pb_transpose_conv_s8(&{op.name}_shape, &{op.name}_requant, &tile, {ctx.input_ptr(2)}, "
            f"{op.name}_filter, {bias}, {ctx.output_ptr()});")  # fmt: skip
    fields = dict(call=call, tile_init=PB_TILE.initializer(_whole_tile(in_w * in_c, out_h, out_w, out_c)))
    detail = f"{kh}x{kw} stride {sh}x{sw} {op.attrs.get('padding', 'VALID')}"
    steps = stage_steps(ctx.stage, op) if ctx.in_stage else []
    return OpCode(op.name, op.kind, _comment(ctx, detail), ctx.in_stage, "tile",
                  constants=[_weights(ctx, 1, "filter"), *bias_arrays, *requant_arrays], structs=structs,
                  fields=fields, steps=steps)  # fmt: skip


def _whole_tile(in_row_stride: int, out_h: int, out_w: int, out_c: int) -> dict[str, int]:
    """The pb_tile of a whole map (per layer)."""
    return dict(out_y0=0, out_x0=0, out_h=out_h, out_w=out_w, in_y0=0, in_x0=0, in_row_stride=in_row_stride,
                out_row_stride=out_w * out_c)  # fmt: skip


def emit_softmax(ctx: OpContext) -> OpCode:
    op = ctx.op
    q = reference.softmax_quant(ctx.tensor(0).scale, float(op.attrs.get("beta", 1.0)))
    shape = ctx.tensor(0).shape
    depth = int(shape[-1]) if shape else 1
    fields = dict(rows=ctx.tensor(0).size // depth, depth=depth, input_multiplier=q.input_multiplier,
                  input_left_shift=q.input_left_shift, diff_min=q.diff_min, input=ctx.input_ptr(0),
                  output=ctx.output_ptr())  # fmt: skip
    return OpCode(op.name, op.kind, _comment(ctx), False, "softmax", fields=fields)


def emit_reshape(ctx: OpContext) -> OpCode:
    op = ctx.op
    same = ctx.arena.offset(op.inputs[0]) == ctx.arena.offset(op.outputs[0])
    fields = dict(input=ctx.input_ptr(0), output=ctx.output_ptr(), size=ctx.out.nbytes, same_buffer=same)
    comment = (
        f"{op.name}: RESHAPE {list(ctx.tensor(0).shape)} -> {list(ctx.out.shape)} (the bytes do not change)"
    )
    return OpCode(op.name, op.kind, comment, False, "reshape", fields=fields)


def emit_pad(ctx: OpContext) -> OpCode:
    op = ctx.op
    paddings = np.asarray(ctx.tensor(1).data, np.int64).reshape(-1, 2)
    rank = paddings.shape[0]
    dims = [1] * (4 - rank) + list(ctx.tensor(0).shape)
    pads = [0, 0] * (4 - rank) + paddings.reshape(-1).tolist()
    pad_value = reference.pad_value(ctx.graph, op)
    fields = dict(input=ctx.input_ptr(0, per_row=False), output=ctx.output_ptr(), pad_value=pad_value,
                  dims=c_ints(dims), pads=c_ints(pads), out_c=hwc(ctx.graph.tensor(op.outputs[0]).shape)[2],
                  in_c=hwc(ctx.graph.tensor(op.inputs[0]).shape)[2], channel_pads=f"{pads[6]}, {pads[7]}")  # fmt: skip
    steps = stage_steps(ctx.stage, op) if ctx.in_stage else []
    detail = "pads " + " ".join(f"{int(a)}/{int(b)}" for a, b in paddings.tolist())
    return OpCode(op.name, op.kind, _comment(ctx, detail), ctx.in_stage, "pad", fields=fields, steps=steps)


def emit_slice(ctx: OpContext) -> OpCode:
    """SLICE / STRIDED_SLICE: per layer the whole box (pb_slice_s8); in the patch stage (a local slice,
    ``slicing.is_local_slice``) one output row at a time, from every ``step``-th input row and column of the
    window the step points at (its first element is the box's first for this patch)."""
    op = ctx.op
    box = slicing.op_box(ctx.graph, op)
    lead = 4 - len(box.count)
    in_dims = [1] * lead + list(ctx.tensor(0).shape)
    begin, step, out_dims = (
        [0] * lead + list(box.start),
        [1] * lead + list(box.step),
        [1] * lead + list(box.count),
    )
    if ctx.in_stage:
        in_c, out_c = in_dims[3], out_dims[3]
        fields = dict(in_dims=f"{{1, 1, s->region.in_w, {in_c}}}", begin=c_ints([0, 0, 0, begin[3]]),
                      step=c_ints([1, 1, step[2], step[3]]), out_dims=f"{{1, 1, s->region.out_w, {out_c}}}")  # fmt: skip
        row = (
            f" + {ROW} * {step[1]} * s->input_row_stride[0]"
            if step[1] != 1
            else f" + {ROW} * s->input_row_stride[0]"
        )
        fields.update(input=ctx.input_ptr(0) + row, output=ctx.output_ptr(per_row=True))
    else:
        fields = dict(
            in_dims=c_ints(in_dims), begin=c_ints(begin), step=c_ints(step), out_dims=c_ints(out_dims)
        )
        fields.update(input=ctx.input_ptr(0), output=ctx.output_ptr())
    detail = "from " + " ".join(
        f"{b}:{b + (c - 1) * k + 1 if c else b}:{k}"
        for b, c, k in zip(box.start, box.count, box.step, strict=True)
    )
    steps = stage_steps(ctx.stage, op) if ctx.in_stage else []
    return OpCode(op.name, op.kind, _comment(ctx, detail), ctx.in_stage, "slice", fields=fields, steps=steps)


def emit_concatenation(ctx: OpContext) -> OpCode:
    op, graph = ctx.op, ctx.graph
    out = ctx.out
    axis = int(op.attrs.get("axis", -1)) % len(out.shape)
    outer = int(np.prod(out.shape[:axis], dtype=np.int64))
    inputs = []
    for position, name in enumerate(op.inputs):
        tensor = graph.tensor(name)
        inner = tensor.size // outer
        if float(tensor.scale) == float(out.scale) and tensor.zero_point == out.zero_point:
            multiplier, shift = 0, 0
        else:
            multiplier, shift = quant.quantize_multiplier(float(tensor.scale) / float(out.scale))
        data = ctx.input_ptr(position, per_row=ctx.in_stage)
        if ctx.in_stage:  # one output row at a time: each input contributes its channels of each pixel
            inner = hwc(graph.tensor(name).shape)[2]
        inputs.append("{" + f"{data}, {inner}, {tensor.zero_point}, {multiplier}, {shift}" + "}")
    fields = dict(inputs=inputs, count=len(inputs), outer=outer, output_zero_point=out.zero_point,
                  output=ctx.output_ptr(per_row=ctx.in_stage))  # fmt: skip
    constants = _constant_operands(ctx)
    steps = stage_steps(ctx.stage, op) if ctx.in_stage else []
    return OpCode(op.name, op.kind, _comment(ctx, f"axis {axis}"), ctx.in_stage, "concatenation",
                  constants=constants, fields=fields, steps=steps)  # fmt: skip


def emit_tile(ctx: OpContext) -> OpCode:
    """RESIZE_NEAREST_NEIGHBOR, RESIZE_BILINEAR, DEPTH_TO_SPACE, SPACE_TO_DEPTH (one kernel file each): the whole map per
    layer; in the patch stage the patch's tile, placed by the step's origin."""
    op = ctx.op
    in_h, in_w, in_c = hwc(ctx.tensor(0).shape)
    out_h, out_w, out_c = hwc(ctx.out.shape)
    structs, detail = [], ""
    if op.kind in ("RESIZE_NEAREST_NEIGHBOR", "RESIZE_BILINEAR"):
        align, half = (
            int(bool(op.attrs.get("align_corners", False))),
            int(bool(op.attrs.get("half_pixel_centers", False))),
        )
        shape = dict(in_h=in_h, in_w=in_w, out_h=out_h, out_w=out_w, channels=in_c, align_corners=align,
                     half_pixel_centers=half)  # fmt: skip
        structs.append(
            f"static const pb_resize_shape {op.name}_shape = {PB_RESIZE_SHAPE.initializer(shape)};"
        )
        kernel = "pb_resize_nearest_s8" if op.kind == "RESIZE_NEAREST_NEIGHBOR" else "pb_resize_bilinear_s8"
        call = f"{kernel}(&{op.name}_shape, &tile, {ctx.input_ptr(0)}, {ctx.output_ptr()});"
        detail = f"align_corners={align} half_pixel_centers={half}"
    else:
        block = block_size(op)
        kernel, channels = (
            ("pb_depth_to_space_s8", out_c) if op.kind == "DEPTH_TO_SPACE" else ("pb_space_to_depth_s8", in_c)
        )
        call = f"{kernel}({block}, {channels}, &tile, {ctx.input_ptr(0)}, {ctx.output_ptr()});"
        detail = f"block {block}"
    fields = dict(call=call, tile_init=PB_TILE.initializer(_whole_tile(in_w * in_c, out_h, out_w, out_c)))
    steps = stage_steps(ctx.stage, op) if ctx.in_stage else []
    return OpCode(op.name, op.kind, _comment(ctx, detail), ctx.in_stage, "tile", structs=structs, fields=fields,
                  steps=steps)  # fmt: skip


def emit_arg_max(ctx: OpContext) -> OpCode:
    """ARG_MAX (pb_arg_max.c): the input viewed as [outer, count, inner] around the axis."""
    shape = [int(d) for d in ctx.tensor(0).shape]
    axis = int(np.asarray(ctx.tensor(1).data).reshape(-1)[0]) % len(shape)
    outer, count, inner = math.prod(shape[:axis]), shape[axis], math.prod(shape[axis + 1 :])
    call = f"pb_arg_max_s8({outer}, {count}, {inner}, {ctx.input_ptr(0)}, {ctx.output_ptr()});"
    detail = f"along axis {axis}: [{outer}, {count}, {inner}] -> [{outer}, {inner}] int32 indices"
    return OpCode(ctx.op.name, ctx.op.kind, _comment(ctx, detail), False, "call", fields=dict(call=call))


def _batch_matmul_view(graph: Graph, op: Op) -> tuple[list[int], list[int]]:
    """BATCH_MATMUL as pb_batch_matmul_s8 sees it: [batches, M, K, N], and each operand's element strides
    (lhs: batch, row, depth; rhs: batch, depth, column); a batch stride of 0 reuses the one matrix of an
    operand whose batch axes are all broadcast; adj_x / adj_y swap an operand's two strides."""
    lhs, rhs = (tuple(graph.tensor(name).shape) for name in op.inputs)
    adj_x, adj_y = bool(op.attrs.get("adj_x")), bool(op.attrs.get("adj_y"))
    out_shape, m, k, n = batch_matmul_dims(lhs, rhs, adj_x, adj_y)
    batches = math.prod(out_shape[:-2])
    lhs_batch = m * k if math.prod(lhs[:-2]) == batches else 0
    rhs_batch = k * n if math.prod(rhs[:-2]) == batches else 0
    strides = [lhs_batch, *((1, m) if adj_x else (k, 1)), rhs_batch, *((1, k) if adj_y else (n, 1))]
    return [batches, m, k, n], strides


def _check_batch_matmul(graph: Graph, op: Op, in_stage: bool) -> str | None:
    (batches, *_), _ = _batch_matmul_view(graph, op)
    for name in op.inputs:
        shape = graph.tensor(name).shape
        if math.prod(shape[:-2]) not in (1, batches):
            return (f"operand {name!r} {list(shape)} broadcasts along some batch axes only; the C kernel takes "
                    "an operand with all of the output's batch axes or none")  # fmt: skip
    return None


def emit_batch_matmul(ctx: OpContext) -> OpCode:
    """BATCH_MATMUL (pb_batch_matmul.c), TFLite's int8 arithmetic (reference.batch_matmul_quant)."""
    op = ctx.op
    dims, strides = _batch_matmul_view(ctx.graph, op)
    multiplier, shift, lhs_zero, rhs_zero, out_zero = batch_matmul_quant(ctx.graph, op)
    views = [CArray(f"{op.name}_dims", "int32", np.array(dims, np.int32), f"{op.name}: batches, M, K, N"),
             CArray(f"{op.name}_strides", "int32", np.array(strides, np.int32),
                    f"{op.name}: element strides, lhs batch, row, depth; rhs batch, depth, column")]  # fmt: skip
    call = (f"pb_batch_matmul_s8({op.name}_dims, {op.name}_strides, {lhs_zero}, {rhs_zero}, {out_zero}, {multiplier}, "
            f"{shift}, {ctx.input_ptr(0)}, {ctx.input_ptr(1)}, {ctx.output_ptr()});")  # fmt: skip
    batches, m, k, n = dims
    adj = "".join(f" {flag}" for flag in ("adj_x", "adj_y") if op.attrs.get(flag))
    detail = f"[{batches}, {m}, {k}] x [{k}, {n}]{adj}"
    return OpCode(op.name, op.kind, _comment(ctx, detail), False, "call",
                  constants=[*views, *_constant_operands(ctx)], fields=dict(call=call))  # fmt: skip


EMITTERS: dict[str, Callable[[OpContext], OpCode]] = {
    "CONV_2D": emit_conv,
    "DEPTHWISE_CONV_2D": emit_conv,
    "FULLY_CONNECTED": emit_fully_connected,
    "AVERAGE_POOL_2D": emit_pool,
    "MAX_POOL_2D": emit_pool,
    **{kind: emit_binary for kind in BROADCAST_KINDS},
    "QUANTIZE": emit_quantize,
    "DEQUANTIZE": emit_quantize,
    "TRANSPOSE": emit_transpose,
    "MEAN": emit_mean,
    "SOFTMAX": emit_softmax,
    "RESHAPE": emit_reshape,
    "PAD": emit_pad,
    "PADV2": emit_pad,
    "SLICE": emit_slice,
    "STRIDED_SLICE": emit_slice,
    "CONCATENATION": emit_concatenation,
    "RESIZE_NEAREST_NEIGHBOR": emit_tile,
    "RESIZE_BILINEAR": emit_tile,
    "DEPTH_TO_SPACE": emit_tile,
    "SPACE_TO_DEPTH": emit_tile,
    "TRANSPOSE_CONV": emit_transpose_conv,
    **{kind: emit_unary for kind in UNARY_KINDS},
    "ARG_MAX": emit_arg_max,
    "BATCH_MATMUL": emit_batch_matmul,
}

_CHECKS: dict[str, Callable[[Graph, Op, bool], str | None]] = {
    "CONV_2D": _check_conv,
    "DEPTHWISE_CONV_2D": _check_conv,
    "FULLY_CONNECTED": _check_fully_connected,
    "AVERAGE_POOL_2D": _no_check,
    "MAX_POOL_2D": _no_check,
    **{kind: _check_binary for kind in BROADCAST_KINDS},
    "QUANTIZE": _check_quantize,
    "DEQUANTIZE": _check_quantize,
    "TRANSPOSE": _check_transpose,
    "MEAN": _check_mean,
    "SOFTMAX": _check_softmax,
    "RESHAPE": _no_check,
    "PAD": _check_pad,
    "PADV2": _check_pad,
    "SLICE": _check_slice,
    "STRIDED_SLICE": _check_slice,
    "CONCATENATION": _check_concat,
    "RESIZE_NEAREST_NEIGHBOR": _check_nhwc_input,
    "RESIZE_BILINEAR": _check_nhwc_input,
    "DEPTH_TO_SPACE": _check_nhwc_input,
    "SPACE_TO_DEPTH": _check_nhwc_input,
    "TRANSPOSE_CONV": _check_transpose_conv,
    **{kind: _no_check for kind in UNARY_KINDS},
    "ARG_MAX": _no_check,
    "BATCH_MATMUL": _check_batch_matmul,
}


def emit_op(ctx: OpContext) -> OpCode:
    return EMITTERS[ctx.op.kind](ctx)


# --- the CMSIS-NN kernel set's calls ----------------------------------------------------------------------
# An op kind whose definition names a CMSIS-NN function (OpDef.cmsis_nn) has its call here, beside its
# portable emitter: harness/codegen/cmsis_nn.py runs it for the cmsis-nn kernel set. Each call takes the
# op's portable OpCode (its constants and structs serve both) and turns it into the CMSIS-NN call.


def _always_supported(graph: Graph, op: Op) -> str | None:
    return None


@dataclass(frozen=True)
class CmsisCall:
    """How the CMSIS-NN kernel set runs an op kind with the function its definition names: ``emit`` makes
    the call of the op's portable OpCode; ``unsupported`` says why one op of the kind cannot take it (it
    then runs patchbench's portable kernel, named with the reason), None when it can."""

    emit: Callable[[OpContext, OpCode], OpCode]
    unsupported: Callable[[Graph, Op], str | None] = _always_supported


def _cmsis_scratch(ctx: OpContext) -> tuple[str, int]:
    name = f"scratch:{ctx.op.name}"
    buffer = next((b for b in ctx.arena.buffers if b.name == name), None)
    return (f"arena + SCRATCH_{ctx.op.name}", buffer.size) if buffer else ("NULL", 0)


def _cmsis_window(ctx: OpContext, code: OpCode) -> OpCode:
    op, graph = ctx.op, ctx.graph
    scratch, scratch_size = _cmsis_scratch(ctx)
    region = code.fields["region_ref"]
    if op.kind in ("CONV_2D", "DEPTHWISE_CONV_2D"):
        q = reference.conv_quant(graph, op)
        params = dict(input_offset=-q.input_zero_point, output_offset=q.output_zero_point, act_min=q.act_min,
                      act_max=q.act_max, quant=f"{{(int32_t *){op.name}_multiplier, (int32_t *){op.name}_shift}}")  # fmt: skip
        code.structs.append(f"static const pb_cmsis_conv_quant {op.name}_cmsis = {c_struct(params)};")
        depthwise = int(op.kind == "DEPTHWISE_CONV_2D")
        f = code.fields
        call = (f'pb_cmsis_conv_s8("{op.name}", {depthwise}, {region}, &{op.name}_window, &{op.name}_cmsis, '
                f"{f['input']},\n        {f['filter']}, {f['bias']}, {f['output']}, {scratch}, {scratch_size})")  # fmt: skip
        portable = (f"{f['kernel']}({region}, &{op.name}_window, &{op.name}_requant, {f['input']}, {f['filter']}, "
                    f"{f['bias']}, {f['output']}, NULL)")  # fmt: skip
    else:
        f = code.fields
        average = int(op.kind == "AVERAGE_POOL_2D")
        call = (f'pb_cmsis_pool_s8("{op.name}", {average}, {region}, &{op.name}_window, {f["act_min"]}, '
                f"{f['act_max']}, {f['input']},\n        {f['output']}, {scratch}, {scratch_size})")  # fmt: skip
        portable = (f"{f['kernel']}({region}, &{op.name}_window, {f['act_min']}, {f['act_max']}, {f['input']}, "
                    f"{f['output']})")  # fmt: skip
    if not ctx.in_stage:  # a whole layer is always dense: no portable fall-back to keep parameters for
        code.structs = [line for line in code.structs if not line.startswith("static const pb_requant ")]
    code.fields.update(cmsis_call=call, portable_call=portable)
    code.macro = "cmsis_window"
    code.comment += f" [CMSIS-NN {OP_DEFS[op.kind].cmsis_nn}]"
    return code


def _cmsis_fully_connected(ctx: OpContext, code: OpCode) -> OpCode:
    op, graph = ctx.op, ctx.graph
    q = reference.conv_quant(graph, op)
    f = code.fields
    per_channel = int(np.size(q.multipliers) > 1 and graph.tensor(op.inputs[1]).quant.per_channel)
    batches, in_features, out_features = f["batches"], f["in_features"], f["out_features"]
    lines = [
        f"static const cmsis_nn_fc_params params = {{.input_offset = {-q.input_zero_point}, .filter_offset = 0, "
        f".output_offset = {q.output_zero_point}, .activation = {{{q.act_min}, {q.act_max}}}}};",
        f"static const cmsis_nn_quant_params quant = {{(int32_t *){op.name}_multiplier, (int32_t *){op.name}_shift, "
        f"{per_channel}}};",
        f"static const cmsis_nn_dims input_dims = {{{batches}, 1, 1, {in_features}}};",
        f"static const cmsis_nn_dims filter_dims = {{{in_features}, 1, 1, {out_features}}};",
        f"static const cmsis_nn_dims bias_dims = {{1, 1, 1, {out_features}}};",
        f"static const cmsis_nn_dims output_dims = {{{batches}, 1, 1, {out_features}}};",
        "const cmsis_nn_context ctx = {NULL, 0};",
        f'pb_cmsis_check("{op.name}", arm_fully_connected_wrapper_s8(&ctx, &params, &quant, &input_dims, '
        f"{f['input']}, &filter_dims,\n        {f['weights']}, &bias_dims, {f['bias']}, &output_dims, {f['output']}));",
    ]  # fmt: skip
    code.structs = []  # the portable kernel's pb_requant is not used
    return _cmsis_body(code, lines, "arm_fully_connected_wrapper_s8")


def _cmsis_binary(ctx: OpContext, code: OpCode) -> OpCode:
    op, graph = ctx.op, ctx.graph
    f = code.fields
    a, b, size = f["a"], f["b"], f["size"]
    if op.kind == "ADD":
        q = reference.add_quant(graph, op)
        call = (f"arm_elementwise_add_s8({a}, {b}, {q.input1_offset}, {q.input1_multiplier}, {q.input1_shift}, "
                f"{q.input2_offset}, {q.input2_multiplier}, {q.input2_shift},\n        {q.left_shift}, {f['output']}, "
                f"{q.output_offset}, {q.output_multiplier}, {q.output_shift}, {q.act_min}, {q.act_max}, {size})")  # fmt: skip
    else:
        q = reference.mul_quant(graph, op)
        call = (f"arm_elementwise_mul_s8({a}, {b}, {q.input1_offset}, {q.input2_offset}, {f['output']}, "
                f"{q.output_offset}, {q.output_multiplier},\n        {q.output_shift}, {q.act_min}, {q.act_max}, {size})")  # fmt: skip
    code.structs = []  # the portable kernel's parameter struct is not used
    line = f'pb_cmsis_check("{op.name}", {call});'
    if ctx.in_stage:
        # row by row: each operand's window has its own row stride (ops.py's per-row pointers)
        lines = [
            "for (int32_t y = 0; y < s->region.out_h; y++) {",
            "    " + line.replace("\n", "\n    "),
            "}",
        ]
    else:
        lines = [line]
    return _cmsis_body(code, lines, OP_DEFS[op.kind].cmsis_nn)


def _cmsis_softmax(ctx: OpContext, code: OpCode) -> OpCode:
    f = code.fields
    line = (f"arm_softmax_s8({f['input']}, {f['rows']}, {f['depth']}, {f['input_multiplier']}, "
            f"{f['input_left_shift']}, {f['diff_min']}, {f['output']});")  # fmt: skip
    return _cmsis_body(code, [line], "arm_softmax_s8")


def _cmsis_batch_matmul(ctx: OpContext, code: OpCode) -> OpCode:
    """arm_batch_matmul_s8 takes the rhs as rows of K (stored transposed): an adj_y rhs as it is, a constant
    one transposed here, once (TFLite Micro transposes it once at run time)."""
    op, graph = ctx.op, ctx.graph
    multiplier, shift, lhs_zero, rhs_zero, out_zero = batch_matmul_quant(graph, op)
    rhs = graph.tensor(op.inputs[1])
    rhs_rows = ctx.input_ptr(1)
    code.constants = [c for c in code.constants if c.name not in (f"{op.name}_dims", f"{op.name}_strides")]
    rows_shape = tuple(rhs.shape)
    if not op.attrs.get("adj_y"):
        rows_shape = (*rhs.shape[:-2], rhs.shape[-1], rhs.shape[-2])
        transposed = np.ascontiguousarray(np.swapaxes(np.asarray(rhs.data), -1, -2))
        code.constants = [c for c in code.constants if c.name != f"{op.name}_operand1"]
        code.constants.append(
            CArray(f"{op.name}_rhs_rows", "int8", transposed, f"{op.name}: rhs as rows of K")
        )
        rhs_rows = f"{op.name}_rhs_rows"

    def dims(shape) -> str:
        return "{" + ", ".join(str(int(d)) for d in (1,) * (4 - len(shape)) + tuple(shape)) + "}"

    lines = [
        "const cmsis_nn_context ctx = {NULL, 0};",
        f"static const cmsis_nn_bmm_params params = {{0, 1, {{.input_offset = {-lhs_zero}, .filter_offset = "
        f"{-rhs_zero}, .output_offset = {out_zero}, .activation = {{-128, 127}}}}}};",
        f"static const cmsis_nn_per_tensor_quant_params quant = {{{multiplier}, {shift}}};",
        f"static const cmsis_nn_dims lhs_dims = {dims(graph.tensor(op.inputs[0]).shape)};",
        f"static const cmsis_nn_dims rhs_dims = {dims(rows_shape)};",
        f"static const cmsis_nn_dims output_dims = {dims(ctx.out.shape)};",
        f'pb_cmsis_check("{op.name}", arm_batch_matmul_s8(&ctx, &params, &quant, &lhs_dims, {ctx.input_ptr(0)}, '
        f"&rhs_dims, {rhs_rows},\n        &output_dims, {ctx.output_ptr()}));",
    ]  # fmt: skip
    return _cmsis_body(code, lines, "arm_batch_matmul_s8")


def _cmsis_body(code: OpCode, lines: list[str], function: str) -> OpCode:
    code.fields["body"] = "\n".join("    " + line.replace("\n", "\n    ") for line in lines)
    code.macro = "cmsis_body"
    code.comment += f" [CMSIS-NN {function}]"
    return code


def _cmsis_depthwise_unsupported(graph: Graph, op: Op) -> str | None:
    return "depth multiplier != 1" if int(op.attrs.get("depth_multiplier", 1)) != 1 else None


def _cmsis_binary_unsupported(graph: Graph, op: Op) -> str | None:
    sizes = {graph.tensor(name).size for name in op.inputs}
    if sizes != {graph.tensor(op.outputs[0]).size}:
        return f"{op.kind} with a broadcast operand (TFLite Micro runs its reference kernel)"
    return None


def _cmsis_batch_matmul_unsupported(graph: Graph, op: Op) -> str | None:
    rhs = graph.tensor(op.inputs[1])
    if op.attrs.get("adj_x"):
        return "adj_x (TFLite Micro transposes the lhs into a scratch tensor at run time)"
    if not op.attrs.get("adj_y") and not rhs.is_const:
        return (
            "an rhs computed at run time and not stored transposed (adj_y; TFLite Micro transposes it first)"
        )
    if max(len(graph.tensor(name).shape) for name in (*op.inputs, *op.outputs)) > 4:
        return "an operand of rank > 4"
    return None


CMSIS_NN: dict[str, CmsisCall] = {
    "CONV_2D": CmsisCall(_cmsis_window),
    "DEPTHWISE_CONV_2D": CmsisCall(_cmsis_window, _cmsis_depthwise_unsupported),
    "FULLY_CONNECTED": CmsisCall(_cmsis_fully_connected),
    "ADD": CmsisCall(_cmsis_binary, _cmsis_binary_unsupported),
    "MUL": CmsisCall(_cmsis_binary, _cmsis_binary_unsupported),
    "AVERAGE_POOL_2D": CmsisCall(_cmsis_window),
    "MAX_POOL_2D": CmsisCall(_cmsis_window),
    "SOFTMAX": CmsisCall(_cmsis_softmax),
    "BATCH_MATMUL": CmsisCall(_cmsis_batch_matmul, _cmsis_batch_matmul_unsupported),
}

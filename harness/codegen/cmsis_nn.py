# SPDX-License-Identifier: Apache-2.0
"""The CMSIS-NN kernel set: per op, the CMSIS-NN s8 function TensorFlow Lite Micro calls on an Arm core,
with the parameters in CMSIS-NN's conventions; every other op runs patchbench's portable kernel and is
named (``fallback_reason``).

What TFLite Micro's CMSIS-NN kernels call, and how the numbers are passed (arm_nn_types.h, TFLM's
``kernels/cmsis_nn``): input offsets are *minus* the input zero point, output offsets *plus* the output
zero point, shifts keep TFLite's sign (positive: left), the fused activation is an int8 clamp.

- CONV_2D: ``arm_convolve_wrapper_s8`` (1x1 fast, 1x1, 1xN or the im2col kernel, picked by CMSIS-NN);
- DEPTHWISE_CONV_2D (multiplier 1): ``arm_depthwise_conv_wrapper_s8`` (3x3 or the generic kernel);
- FULLY_CONNECTED: ``arm_fully_connected_wrapper_s8`` (per-tensor or per-channel weights);
- ADD / MUL of two same-shape operands: ``arm_elementwise_add_s8`` / ``arm_elementwise_mul_s8``
  (TFLM runs its reference kernel for a broadcast, so does patchbench: the portable one);
- AVERAGE_POOL_2D / MAX_POOL_2D: ``arm_avgpool_s8`` / ``arm_max_pool_s8``; SOFTMAX: ``arm_softmax_s8``.

Window ops go through harness/codegen/cmsis/pb_cmsis.c, which cuts a pb_region (a layer, or a patch tile
with its own pads and row strides) into the dense calls CMSIS-NN takes. Their scratch comes from
CMSIS-NN's own ``*_get_buffer_size`` functions (``cmsis_scratch``) and is in the arena plan.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from harness import reference
from harness.codegen import kernels
from harness.firmware import cmsis
from harness.ir.graph import Graph, Op
from harness.ir.opdefs import OP_DEFS
from harness.reference.runner import batch_matmul_quant
from harness.schedule.arena import KernelShapes, ScratchFn

from .carrays import CArray, c_struct
from .ops import OpCode, OpContext, emit_op

KERNEL_SET = "cmsis-nn"
HELPER_DIR = Path(__file__).resolve().parent / "cmsis"  # pb_cmsis.c/.h: CMSIS-NN on pb_regions
CALLS = {
    "CONV_2D": "arm_convolve_wrapper_s8",
    "DEPTHWISE_CONV_2D": "arm_depthwise_conv_wrapper_s8",
    "FULLY_CONNECTED": "arm_fully_connected_wrapper_s8",
    "ADD": "arm_elementwise_add_s8",
    "MUL": "arm_elementwise_mul_s8",
    "AVERAGE_POOL_2D": "arm_avgpool_s8",
    "MAX_POOL_2D": "arm_max_pool_s8",
    "SOFTMAX": "arm_softmax_s8",
    "BATCH_MATMUL": "arm_batch_matmul_s8",
}
NO_ARITHMETIC = ("RESHAPE",)  # moves no values: no kernel to compare


def fallback_reason(graph: Graph, op: Op) -> str | None:
    """Why CMSIS-NN does not run ``op`` (it runs patchbench's portable kernel), or None when it does."""
    if op.kind in NO_ARITHMETIC:
        return None
    if op.kind not in CALLS:
        function = OP_DEFS[op.kind].cmsis_nn
        if function is None:
            return f"CMSIS-NN has no s8 kernel for {op.kind} (TFLite Micro runs its reference kernel)"
        return f"patchbench does not call CMSIS-NN's {function} yet (TFLite Micro's CMSIS-NN build does)"
    if op.kind == "BATCH_MATMUL":
        rhs = graph.tensor(op.inputs[1])
        if op.attrs.get("adj_x"):
            return "adj_x (TFLite Micro transposes the lhs into a scratch tensor at run time)"
        if not op.attrs.get("adj_y") and not rhs.is_const:
            return "an rhs computed at run time and not stored transposed (adj_y; TFLite Micro transposes it first)"
        if max(len(graph.tensor(name).shape) for name in (*op.inputs, *op.outputs)) > 4:
            return "an operand of rank > 4"
    if op.kind == "DEPTHWISE_CONV_2D" and int(op.attrs.get("depth_multiplier", 1)) != 1:
        return "depth multiplier != 1"
    if op.kind in ("ADD", "MUL"):
        sizes = {graph.tensor(name).size for name in op.inputs}
        if sizes != {graph.tensor(op.outputs[0]).size}:
            return f"{op.kind} with a broadcast operand (TFLite Micro runs its reference kernel)"
    return None


def runs_cmsis(graph: Graph, op: Op) -> bool:
    return op.kind in CALLS and fallback_reason(graph, op) is None


def functions_called(graph: Graph) -> frozenset[str]:
    """The CMSIS-NN functions a model's C calls (what the firmware compiles, with their closure)."""
    return frozenset(CALLS[op.kind] for op in graph.ops if runs_cmsis(graph, op))


def fallbacks(graph: Graph) -> dict[str, str]:
    """Op name -> why it runs the portable kernel, for every op CMSIS-NN does not run."""
    reasons = {op.name: fallback_reason(graph, op) for op in graph.ops}
    return {name: reason for name, reason in reasons.items() if reason is not None}


# --- scratch ----------------------------------------------------------------------------------------------


def cmsis_scratch(graph: Graph, op: Op, shapes: KernelShapes) -> int:
    """The arena planner's scratch rule for this kernel set: CMSIS-NN's ``*_get_buffer_size_dsp`` of the
    call(s) one run of the op makes (the helper's per-row calls need no more: the DSP sizes do not
    depend on the number of rows)."""
    if not runs_cmsis(graph, op) or op.kind not in ("CONV_2D", "DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D"):
        return 0
    sizes = cmsis.buffer_sizes()
    (in_h, in_w, in_c), (out_h, out_w, out_c) = shapes.input_shape, shapes.output_shape
    if op.kind == "AVERAGE_POOL_2D":
        return sizes.avgpool(out_w, in_c)
    window = kernels.window_for_op(graph, op)
    top, _, left, _ = shapes.pads
    call = cmsis.ConvCall(in_h, in_w, in_c, out_h, out_w, out_c, window.kernel_h, window.kernel_w,
                          (window.stride_h, window.stride_w), (top, left),
                          (window.dilation_h, window.dilation_w))  # fmt: skip
    return sizes.depthwise(call) if op.kind == "DEPTHWISE_CONV_2D" else sizes.conv(call)


def scratch_rule() -> ScratchFn:
    return cmsis_scratch


# --- emission ---------------------------------------------------------------------------------------------


def _scratch(ctx: OpContext) -> tuple[str, int]:
    name = f"scratch:{ctx.op.name}"
    buffer = next((b for b in ctx.arena.buffers if b.name == name), None)
    return (f"arena + SCRATCH_{ctx.op.name}", buffer.size) if buffer else ("NULL", 0)


def emit(ctx: OpContext) -> OpCode:
    """The op's C: the CMSIS-NN call, or (an op it does not run) patchbench's portable kernel."""
    code = emit_op(ctx)  # the portable kernel's OpCode: its constants and structs serve both
    if not runs_cmsis(ctx.graph, ctx.op):
        reason = fallback_reason(ctx.graph, ctx.op)
        if reason:
            code.comment += f" [portable kernel: {reason}]"
        return code
    return _EMITTERS[ctx.op.kind](ctx, code)


def _window_op(ctx: OpContext, code: OpCode) -> OpCode:
    op, graph = ctx.op, ctx.graph
    scratch, scratch_size = _scratch(ctx)
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
    code.comment += f" [CMSIS-NN {CALLS[op.kind]}]"
    return code


def _fully_connected(ctx: OpContext, code: OpCode) -> OpCode:
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
    return _body(code, lines, "arm_fully_connected_wrapper_s8")


def _binary(ctx: OpContext, code: OpCode) -> OpCode:
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
    return _body(code, lines, CALLS[op.kind])


def _softmax(ctx: OpContext, code: OpCode) -> OpCode:
    f = code.fields
    line = (f"arm_softmax_s8({f['input']}, {f['rows']}, {f['depth']}, {f['input_multiplier']}, "
            f"{f['input_left_shift']}, {f['diff_min']}, {f['output']});")  # fmt: skip
    return _body(code, [line], "arm_softmax_s8")


def _batch_matmul(ctx: OpContext, code: OpCode) -> OpCode:
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
    return _body(code, lines, "arm_batch_matmul_s8")


def _body(code: OpCode, lines: list[str], function: str) -> OpCode:
    code.fields["body"] = "\n".join("    " + line.replace("\n", "\n    ") for line in lines)
    code.macro = "cmsis_body"
    code.comment += f" [CMSIS-NN {function}]"
    return code


_EMITTERS = {
    "CONV_2D": _window_op,
    "DEPTHWISE_CONV_2D": _window_op,
    "AVERAGE_POOL_2D": _window_op,
    "MAX_POOL_2D": _window_op,
    "FULLY_CONNECTED": _fully_connected,
    "ADD": _binary,
    "MUL": _binary,
    "SOFTMAX": _softmax,
    "BATCH_MATMUL": _batch_matmul,
}


def firmware_sources(graph: Graph) -> tuple[dict[str, str], tuple[Path, ...], str]:
    """(sources to add to the firmware, include folders, CMSIS-NN version) for ``graph``'s calls: the
    helper (pb_cmsis.c, whose window functions call the conv and depthwise wrappers; pb_cmsis_pool.c when
    a pool runs on CMSIS-NN) and the CMSIS-NN files those calls need, nothing else."""
    located = cmsis.locate()
    called = functions_called(graph) | {"arm_convolve_wrapper_s8", "arm_depthwise_conv_wrapper_s8"}
    helpers = ["pb_cmsis.h", "pb_cmsis.c"]
    if called & {"arm_avgpool_s8", "arm_max_pool_s8"}:
        called |= {"arm_avgpool_s8", "arm_max_pool_s8"}
        helpers.append("pb_cmsis_pool.c")
    sources = {name: (HELPER_DIR / name).read_text() for name in helpers}
    sources.update(cmsis.firmware_sources(located, called))
    return sources, located.include_dirs, located.version


def portable_tiles(steps, window: kernels.Window) -> int:
    """How many of a window op's patch steps run the portable kernel: a window of a wider input (the whole
    image) with right padding, which no CMSIS-NN call can read (pb_cmsis.c rows_per_call returns 0)."""
    return sum(
        1
        for step in steps
        if step.region.in_row_stride not in (0, step.region.in_w * step.region.in_c)
        and (window.kernel_h, window.kernel_w) != (1, 1)
        and step.region.pad_right > 0
    )


__all__ = [
    "CALLS",
    "KERNEL_SET",
    "emit",
    "fallback_reason",
    "fallbacks",
    "firmware_sources",
    "portable_tiles",
]

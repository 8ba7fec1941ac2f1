# SPDX-License-Identifier: Apache-2.0
"""The CMSIS-NN kernel set: per op, the CMSIS-NN s8 function TensorFlow Lite Micro calls on an Arm core,
with the parameters in CMSIS-NN's conventions; every other op runs patchbench's portable kernel and is
named (``fallback_reason``).

What TFLite Micro's CMSIS-NN kernels call, and how the numbers are passed (arm_nn_types.h, TFLM's
``kernels/cmsis_nn``): input offsets are *minus* the input zero point, output offsets *plus* the output
zero point, shifts keep TFLite's sign (positive: left), the fused activation is an int8 clamp.

Which function an op kind calls is its definition's (``OpDef.cmsis_nn``); how, and which ops of the kind
cannot take it, is the kind's ``CmsisCall`` in harness/codegen/ops.py (``CMSIS_NN``), beside its portable
emitter. This module runs them for the kernel set: the fall-back reasons, the scratch CMSIS-NN asks for,
and the CMSIS-NN sources a firmware compiles.

Window ops go through harness/codegen/cmsis/pb_cmsis.c, which cuts a pb_region (a layer, or a patch tile
with its own pads and row strides) into the dense calls CMSIS-NN takes. Their scratch comes from
CMSIS-NN's own ``*_get_buffer_size`` functions (``cmsis_scratch``) and is in the arena plan.
"""

from __future__ import annotations

from pathlib import Path

from harness.codegen import kernels
from harness.firmware import cmsis
from harness.ir.graph import Graph, Op
from harness.ir.opdefs import OP_DEFS
from harness.schedule.arena import KernelShapes, ScratchFn

from .ops import CMSIS_NN, OpCode, OpContext, emit_op
from .options import CodegenError

KERNEL_SET = "cmsis-nn"
HELPER_DIR = Path(__file__).resolve().parent / "cmsis"  # pb_cmsis.c/.h: CMSIS-NN on pb_regions
# op kind -> the CMSIS-NN function this kernel set calls for it: the kinds with a call (ops.CMSIS_NN),
# each with the function its definition names (OpDef.cmsis_nn)
CALLS = {kind: OP_DEFS[kind].cmsis_nn for kind in CMSIS_NN}
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
    return CMSIS_NN[op.kind].unsupported(graph, op)


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


def emit(ctx: OpContext) -> OpCode:
    """The op's C: the CMSIS-NN call (its kind's in harness/codegen/ops.py CMSIS_NN), or (an op it does
    not run) patchbench's portable kernel."""
    code = emit_op(ctx)  # the portable kernel's OpCode: its constants and structs serve both
    if code.macro == "pool_rows":  # a global pool row by row into int32 sums: patchbench's kernel only
        return code
    if code.fields.get("chunk"):
        raise CodegenError(
            f"op {ctx.op.name!r}: a conv on slices of its output channels (rows ... ch=) runs on patchbench's "
            "kernels only; drop ch= from the schedule for the CMSIS-NN kernel set"
        )
    if not runs_cmsis(ctx.graph, ctx.op):
        reason = fallback_reason(ctx.graph, ctx.op)
        if reason:
            code.comment += f" [portable kernel: {reason}]"
        return code
    return CMSIS_NN[ctx.op.kind].emit(ctx, code)


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

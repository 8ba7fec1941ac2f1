# SPDX-License-Identifier: Apache-2.0
"""The int8 C kernels (harness/codegen/kernels) seen from Python.

- Where the C lives: ``KERNELS_DIR``, ``kernel_sources()`` (what a firmware compiles) and
  ``KERNELS_DIR`` as the include folder. The kernels pick their variant at build time: the Cortex-M
  DSP kernels when the compiler defines ``__ARM_FEATURE_DSP`` (M4, M7), else the portable ones;
  ``-DPB_KERNELS_OPTIMIZED=0`` forces the portable ones (``optimized_define(False)``).
- What the code generator emits: ``Region`` / ``Window`` (the ``pb_region`` / ``pb_window`` C
  structs, with ``c_initializer()``), ``region_for_op`` (a whole-layer region of a graph op),
  ``mean_params``, and ``scratch_bytes`` / ``op_scratch_bytes`` (the arena planner's scratch per op).
  The other ops' parameters come from ``harness.reference`` (``conv_quant``, ``add_quant``,
  ``mul_quant``, ``softmax_quant``). Every parameter struct is declared once, in ``cparams.py``: the
  ctypes structs below and the generated C initializers come from there, and a test checks
  ``pb_kernels.h`` against it.
  Weights keep TFLite's layout: nothing to pack.
- Host testing: ``harness/codegen/host_kernels.py`` (the kernels as a host shared library, called
  through ctypes).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from harness.ir import quant
from harness.ir.geometry import (
    WINDOW_KINDS,
    hwc,
    kernel_size,
    op_pads,
    reach,
    stride_dilation,
    window_count,
)
from harness.ir.graph import Graph, Op
from harness.ir.opdefs import OP_DEFS
from harness.schedule.arena import depthwise_inplace_schedule

from .cparams import Region, Window

KERNELS_DIR = Path(__file__).resolve().parent / "kernels"
PUBLIC_HEADER = "pb_kernels.h"
VARIANTS = ("portable", "dsp", "default")  # default: what pb_<op>_s8 resolves to in this build

ALIGNMENT_SLACK = 3  # the DSP kernels align their scratch pointer to 4 bytes themselves
DSP_BLOCK_COLS = 6  # pixels per block of the DSP conv kernels (PB_BLOCK_COLS in pb_conv_dsp.c)


class KernelError(ValueError):
    """Arguments that the C kernels cannot take; the message says what is wrong and what to do."""


def kernel_sources() -> list[Path]:
    """The C files a firmware compiles (headers are in KERNELS_DIR)."""
    return sorted(KERNELS_DIR.glob("*.c"))


def kernel_headers() -> list[Path]:
    return sorted(KERNELS_DIR.glob("*.h"))


def defined_functions() -> frozenset[str]:
    """The ``pb_*`` functions the kernels' C files define (not only declare)."""
    definition = re.compile(r"^[a-z][\w \t*]*?\b(pb_\w+)\s*\([^;{]*\)\s*\{", re.M)
    return frozenset(name for path in kernel_sources() for name in definition.findall(path.read_text()))


def dsp_kinds() -> tuple[str, ...]:
    """The op kinds with a DSP kernel: one of their C functions (``OpDef.kernels``) has a ``<name>_dsp``
    variant defined in the C (read from the C, so it cannot drift from it)."""
    defined = defined_functions()
    return tuple(kind for kind, d in OP_DEFS.items() if any(f"{k}_dsp" in defined for k in d.kernels))


def optimized_define(optimized: bool) -> str:
    """The -D that selects the kernel variant (without it: DSP where the core has it)."""
    return f"PB_KERNELS_OPTIMIZED={1 if optimized else 0}"


# --- the region of a graph op -------------------------------------------------------------------------


def check_region(region: Region, window: Window) -> None:
    """Raise KernelError unless the output size follows from input, padding and window (pb_region_check)."""
    if min(region.in_h, region.in_w, region.in_c, region.out_h, region.out_w, region.out_c) <= 0:
        raise KernelError(f"{region}: every size must be positive")
    if min(region.pads) < 0:
        raise KernelError(f"{region}: pads must be >= 0")
    for axis, size, before, after, kernel, stride, dilation, out in (
        ("rows", region.in_h, region.pad_top, region.pad_bottom, window.kernel_h, window.stride_h,
         window.dilation_h, region.out_h),
        ("columns", region.in_w, region.pad_left, region.pad_right, window.kernel_w, window.stride_w,
         window.dilation_w, region.out_w),
    ):  # fmt: skip
        fits = before + size + after >= reach(kernel, dilation)
        expected = window_count(before + size + after, kernel, stride, dilation) if fits else 0
        if not fits or expected != out:
            raise KernelError(
                f"{region} with {window}: {out} output {axis} do not follow from {size} input {axis} padded "
                f"by {before}+{after} (that gives {expected}); fix the region's sizes or pads"
            )


def window_for_op(graph: Graph, op: Op) -> Window:
    """The op's window: kernel from the filter (convs) or attrs (pools), stride and dilation."""
    if op.kind not in WINDOW_KINDS:
        raise KernelError(f"op {op.name!r} ({op.kind}) has no window; only convs and pools do")
    kh, kw = kernel_size(graph, op)
    (sh, sw), (dh, dw) = stride_dilation(op)
    return Window(int(kh), int(kw), sh, sw, dh, dw)


def region_for_op(graph: Graph, op: Op) -> Region:
    """The whole-layer region of a conv or pool (its own SAME/VALID padding)."""
    in_h, in_w, in_c = hwc(graph.tensor(op.inputs[0]).shape)
    out_h, out_w, out_c = hwc(graph.tensor(op.outputs[0]).shape)
    return Region(in_h, in_w, in_c, out_h, out_w, out_c, *op_pads(graph, op))


# --- parameters that only the kernels need ----------------------------------------------------------


def mean_params(input_scale: float, output_scale: float, count: int) -> tuple[int, int]:
    """(multiplier, shift) for pb_mean_s8: in/out scale with 1/count folded in (TFLite QuantizedMeanOrSum)."""
    if count <= 0:
        raise KernelError(f"MEAN over {count} elements: the reduced axes must not be empty")
    multiplier, shift = quant.quantize_multiplier(float(input_scale) / float(output_scale))
    shift_count = min(count.bit_length() - 1, 32, 31 + shift)
    return (multiplier << shift_count) // count, shift - shift_count


# --- scratch ------------------------------------------------------------------------------------------

# The kinds whose kernels take scratch (a ``void *scratch`` in pb_kernels.h: tests/ir/test_opdefs.py checks
# the two against each other), each with its rule below.
SCRATCH_KINDS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")


def scratch_bytes(
    op_kind: str,
    input_shape: tuple[int, ...],
    filter_shape: tuple[int, ...] | None = None,
    *,
    optimized: bool,
    in_place: bool = False,
) -> int:
    """Bytes of scratch the op's kernel needs (the ``void *scratch`` argument), any alignment.

    input_shape: NHWC for convs ([batches, in_features] or any shape ending in in_features for
    FULLY_CONNECTED); filter_shape in the graph's layout. The portable kernels need none; every op
    other than the three below needs none either.
    """
    if not optimized or op_kind not in SCRATCH_KINDS:
        return 0
    if filter_shape is None:
        raise KernelError(f"scratch_bytes({op_kind!r}): the filter shape is needed")
    if op_kind == "CONV_2D":
        cout, kh, kw, cin = filter_shape
        # each output channel's table entry (16 bytes: requantization + next bias, pb_conv_dsp.c
        # channel_entry), then six int16 columns (the DSP kernels' pixel block, pb_conv_dsp.c
        # PB_BLOCK_COLS) + one int8 patch (pb_conv1x1_s8 uses only the table and the columns:
        # 16 * cout + 12 * cin)
        return 16 * cout + (2 * DSP_BLOCK_COLS + 1) * kh * kw * cin + ALIGNMENT_SLACK
    if op_kind == "DEPTHWISE_CONV_2D":
        _, kh, kw, _ = filter_shape
        if len(input_shape) != 4:
            raise KernelError(
                f"scratch_bytes('DEPTHWISE_CONV_2D'): the input shape {input_shape} is not NHWC"
            )
        # one channel group's weights as int16, or the plane kernel's weights and ring of rows; in place the
        # plane kernel runs only where its rows fit the group's weights plus the ring of delayed rows
        # (depthwise_inplace_scratch_bytes), so the part before that ring stays the group's weights
        group = 8 * kh * kw
        plane = 0 if in_place else depthwise_plane_bytes(input_shape[-2], kh, kw)
        return max(group, plane) + ALIGNMENT_SLACK
    _, in_features = filter_shape
    batches = int(np.prod(input_shape, dtype=np.int64)) // in_features
    return (4 if batches > 1 else 2) * in_features + ALIGNMENT_SLACK


def depthwise_plane_bytes(in_w: int, kh: int, kw: int) -> int:
    """The scratch the DSP depthwise kernel's channel-plane path (pb_depthwise_conv_dsp.c, 7x7 windows) takes
    on a region ``in_w`` columns wide: the packed weights (kh rows of (kw + 1) / 2 words) and kh plane rows of
    in_w + kw + 7 bytes (its pads < kw), rounded up to 4; 0 for other windows."""
    if kh != kw or kw != 7:
        return 0
    row = (in_w + kw + 7 + 3) // 4 * 4
    return 4 * kh * ((kw + 1) // 2) + kh * row


def depthwise_inplace_scratch_bytes(region: Region, window: Window, filter_shape, *, optimized: bool) -> int:
    """Scratch of pb_depthwise_conv2d_s8_inplace on ``region``: the out-of-place kernel's, then the row
    schedule and the ring of delayed rows (harness.schedule.arena.depthwise_inplace_schedule)."""
    schedule = depthwise_inplace_schedule(
        (region.in_h, region.in_w), (region.out_h, region.out_w), (window.kernel_h, window.kernel_w),
        (window.stride_h, window.stride_w), (window.dilation_h, window.dilation_w), region.pads,
    )  # fmt: skip
    if schedule is None or region.in_c != region.out_c:
        raise KernelError(f"{region}: a depthwise conv cannot run in place on it (more output than input)")
    base = scratch_bytes("DEPTHWISE_CONV_2D", (1, region.in_h, region.in_w, region.in_c), filter_shape,
                         optimized=optimized, in_place=True)  # fmt: skip
    return base + schedule.scratch_bytes(region.out_w, region.out_c)


def op_scratch_bytes(graph: Graph, op: Op, optimized: bool, in_place: bool = False) -> int:
    """scratch_bytes for one op of a graph (in_place: a depthwise conv planned over its input, before the
    ring of delayed rows the planner adds)."""
    if op.kind not in SCRATCH_KINDS:
        return 0
    return scratch_bytes(
        op.kind, graph.tensor(op.inputs[0]).shape, graph.tensor(op.inputs[1]).shape, optimized=optimized,
        in_place=in_place,
    )  # fmt: skip

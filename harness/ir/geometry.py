# SPDX-License-Identifier: Apache-2.0
"""Window and padding geometry, the one home of TFLite's arithmetic for convolution and pool windows.

Every layer that needs to know what a window reads (the reference, the patch planner, the arena
planner, the code generator) asks here: output sizes, SAME padding as explicit (top, bottom, left,
right) pads, the input rows and columns a tile of the output reads, and the (H, W, C) view of a tensor.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from harness.ir.graph import Graph, GraphError, Op
from harness.ir.opdefs import PATCH_TILE, kinds
from harness.ir.quant import round_half_away

Pads = tuple[int, int, int, int]  # (top, bottom, left, right)

CONV_KINDS = kinds(family="conv")
POOL_KINDS = kinds(family="pool")
# The ops that slide a window over the image and so take explicit pads.
WINDOW_KINDS = (*CONV_KINDS, *POOL_KINDS)
# Ops whose inputs after the first are constants (weights, bias, axes, paddings, perm, shape, size).
SINGLE_ACTIVATION_KINDS = kinds(single_activation=True)


def reach(kernel: int, dilation: int) -> int:
    """Input pixels one window spans along an axis (a dilated kernel's effective size)."""
    return (kernel - 1) * dilation + 1


def window_count(padded_size: int, kernel: int, stride: int, dilation: int) -> int:
    """Windows that fit in ``padded_size`` pixels (input plus explicit pads) along one axis.

    TFLite's ``(padded - effective_kernel) // stride + 1``; zero or negative when not even one fits.
    """
    return (padded_size - reach(kernel, dilation)) // stride + 1


def conv_out_size(size: int, kernel: int, stride: int, dilation: int, padding: str) -> int:
    """Output length along one axis under SAME or VALID padding, TFLite's rule."""
    if padding == "SAME":
        return (size + stride - 1) // stride
    if padding == "VALID":
        return window_count(size, kernel, stride, dilation)
    raise GraphError(f"padding {padding!r} is not supported; use SAME or VALID")


def same_pads(size: int, kernel: int, stride: int, dilation: int) -> tuple[int, int]:
    """(before, after) SAME padding along one axis; TFLite puts the odd pixel after."""
    out_size = conv_out_size(size, kernel, stride, dilation, "SAME")
    total = max((out_size - 1) * stride + reach(kernel, dilation) - size, 0)
    return total // 2, total - total // 2


def stride_dilation(op: Op) -> tuple[tuple[int, int], tuple[int, int]]:
    """((stride_h, stride_w), (dilation_h, dilation_w)) of a conv or pool (pools never dilate)."""
    sh, sw = op.attrs.get("stride", (1, 1))
    dh, dw = op.attrs.get("dilation", (1, 1)) if op.kind in CONV_KINDS else (1, 1)
    return (int(sh), int(sw)), (int(dh), int(dw))


def kernel_size(graph: Graph, op: Op) -> tuple[int, int]:
    """(kh, kw) of a conv or pool, 1x1 for everything else."""
    if op.kind in CONV_KINDS:
        shape = graph.tensor(op.inputs[1]).shape
        return shape[1], shape[2]
    if op.kind in POOL_KINDS:
        return tuple(op.attrs["filter"])
    return 1, 1


def hwc(shape: tuple[int, ...]) -> tuple[int, int, int]:
    """(height, width, channels) of a tensor shape, channels always the last axis.

    NHWC gives its own (H, W, C); a scalar is 1 x 1 x 1; any other rank puts every axis before the
    last into the width (a 2-D [batch, features] tensor is 1 x batch x features), which keeps the
    C kernels' row-major, channels-innermost addressing valid for it.
    """
    if len(shape) == 4:
        return int(shape[1]), int(shape[2]), int(shape[3])
    if len(shape) == 0:
        return 1, 1, 1
    return 1, int(np.prod(shape[:-1], dtype=np.int64)), int(shape[-1])


def op_pads(graph: Graph, op: Op, in_h: int | None = None, in_w: int | None = None) -> Pads:
    """The op's own padding (SAME, VALID or EXPLICIT) as explicit (top, bottom, left, right).

    ``in_h``/``in_w`` default to the op's input tensor size in the graph.
    """
    if op.kind not in WINDOW_KINDS:
        raise GraphError(f"op {op.name!r} ({op.kind}) has no spatial padding")
    if op.attrs.get("padding") == "EXPLICIT":
        return explicit_pads(op)
    shape = graph.tensor(op.inputs[0]).shape
    in_h = shape[1] if in_h is None else in_h
    in_w = shape[2] if in_w is None else in_w
    if op.attrs.get("padding", "VALID") == "VALID":
        return 0, 0, 0, 0
    kh, kw = kernel_size(graph, op)
    (sh, sw), (dh, dw) = stride_dilation(op)
    top, bottom = same_pads(in_h, kh, sh, dh)
    left, right = same_pads(in_w, kw, sw, dw)
    return top, bottom, left, right


def explicit_pads(op: Op) -> Pads:
    """The ``pads`` of an op with EXPLICIT padding (a folded PAD), checked."""
    pads = op.attrs.get("pads")
    if pads is None or len(pads) != 4 or any(int(v) < 0 for v in pads):
        raise GraphError(
            f"op {op.name!r}: EXPLICIT padding needs pads (top, bottom, left, right) >= 0, got {pads!r}"
        )
    top, bottom, left, right = (int(v) for v in pads)
    return top, bottom, left, right


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
    (sh, sw), (dh, dw) = stride_dilation(op)
    rows, (pad_top, pad_bottom) = _axis_window(out_rows, sh, reach(kh, dh), top, in_h, op)
    cols, (pad_left, pad_right) = _axis_window(out_cols, sw, reach(kw, dw), left, in_w, op)
    return rows, cols, (pad_top, pad_bottom, pad_left, pad_right)


def last_covering_output(
    size: int, out_size: int, pad_before: int, kernel: int, stride: int, dilation: int
) -> np.ndarray:
    """Along one axis, for each input index the last output index whose window covers it, -1 where none
    does. Windows are taken whole: a dilation gap counts as covered (what the in-place proofs need)."""
    index = np.arange(size)
    last = np.minimum(out_size - 1, (index + pad_before) // stride)
    first = np.maximum(-((reach(kernel, dilation) - 1 - index - pad_before) // stride), 0)  # ceil, clipped
    return np.where(last >= first, last, -1)


def _axis_window(out_range, stride: int, span: int, pad_before: int, size: int, op: Op):
    start, stop = (int(v) for v in out_range)
    if not 0 <= start < stop:
        raise GraphError(f"op {op.name!r}: output range {out_range} is empty or negative")
    first = start * stride - pad_before
    last = (stop - 1) * stride - pad_before + span  # exclusive
    if first >= size or last <= 0:
        raise GraphError(f"op {op.name!r}: output range {out_range} reads no input pixel")
    return (max(first, 0), min(last, size)), (max(-first, 0), max(last - size, 0))


def pad_input_window(
    graph: Graph, op: Op, out_rows: tuple[int, int], out_cols: tuple[int, int]
) -> tuple[tuple[int, int], tuple[int, int], Pads]:
    """The input a tile of a PAD's output reads: the tile shifted back by the padding before, clipped.

    Returns ``((y0, y1), (x0, x1), pads)`` like ``input_window``; ``pads`` are the tile's rows and
    columns that are padding. A tile made only of padding reads an empty range.
    """
    if op.kind not in ("PAD", "PADV2"):
        raise GraphError(f"op {op.name!r} ({op.kind}) is not a PAD or PADV2")
    _, in_h, in_w, _ = graph.tensor(op.inputs[0]).shape
    paddings = graph.tensor(op.inputs[1]).data
    rows, (top, bottom) = _shifted(out_rows, in_h, int(paddings[1][0]))
    cols, (left, right) = _shifted(out_cols, in_w, int(paddings[2][0]))
    return rows, cols, (top, bottom, left, right)


def _shifted(out_range, size: int, pad_before: int):
    o0, o1 = (int(v) for v in out_range)
    start, end = o0 - pad_before, o1 - pad_before
    clipped_start, clipped_end = min(max(start, 0), size), max(min(end, size), 0)
    if clipped_end < clipped_start:
        clipped_end = clipped_start
    before = min(max(-start, 0), o1 - o0)
    after = (o1 - o0) - before - (clipped_end - clipped_start)
    return (clipped_start, clipped_end), (before, after)


# --- ops that map an output tile to an input window by their own index rule ---------------------------

# Resizes and block rearrangements: output pixel (y, x) reads input pixels that follow from (y, x) and the
# full map sizes alone, so a tile of the output reads one window of the input (``tile_input_window``),
# and a kernel computing the tile needs where the tile and the window lie in the full maps.
TILE_KINDS = kinds(patch=PATCH_TILE)
RESIZE_FRACTION_BITS = 10  # TFLite's int8 bilinear resize works in 1/1024 of an input pixel


@dataclass(frozen=True)
class TileOrigin:
    """Where a TILE_KINDS op's tile lies: output rows ``[r0, r1)`` and columns ``[c0, c1)`` of the full
    output, computed from an input window whose first row and column are ``in_y0`` / ``in_x0``."""

    out_rows: tuple[int, int]
    out_cols: tuple[int, int]
    in_y0: int
    in_x0: int


def resize_bilinear_taps(
    in_size: int, out_size: int, align_corners: bool, half_pixel_centers: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Along one axis of an int8 RESIZE_BILINEAR, per output index: (lower, upper, position), TFLite's
    integer rule (reference_ops::ResizeBilinear for int8).

    ``position`` is the source coordinate in 1/1024 pixel; output index i interpolates input ``lower[i]``
    and ``upper[i]`` with weights ``1024 - (position - 1024 * lower)`` and ``position - 1024 * lower``.
    The scale is rounded to 1/1024 and the divisions truncate toward zero, as in C.
    """
    one = 1 << RESIZE_FRACTION_BITS
    if align_corners and out_size > 1:
        scale = (one * (in_size - 1) + (out_size - 1) // 2) // (out_size - 1)
    else:
        scale = (one * in_size + out_size // 2) // out_size
    index = np.arange(out_size, dtype=np.int64)
    position = index * scale + (scale // 2 - one // 2 if half_pixel_centers else 0)
    lower = np.maximum(_c_div(position, one), 0)
    upper = np.minimum(_c_div(position + one - 1, one), in_size - 1)
    return lower, upper, position


def _c_div(a: np.ndarray, b: int) -> np.ndarray:
    """C's integer division (truncates toward zero) of int64 values by a positive int."""
    return np.where(a >= 0, a // b, -((-a) // b))


def resize_nearest_source(
    in_size: int, out_size: int, align_corners: bool, half_pixel_centers: bool
) -> np.ndarray:
    """Along one axis of RESIZE_NEAREST_NEIGHBOR, the input index of each output index (TFLite's
    reference rule, in float32 arithmetic like its kernel)."""
    if align_corners and out_size > 1:
        scale = np.float32(in_size - 1) / np.float32(out_size - 1)
    else:
        scale = np.float32(in_size) / np.float32(out_size)
    offset = np.float32(0.5) if half_pixel_centers else np.float32(0.0)
    positions = (np.arange(out_size, dtype=np.float32) + offset) * scale
    if align_corners:
        index = round_half_away(positions.astype(np.float64))
    else:
        index = np.floor(positions)
    index = np.minimum(index.astype(np.int64), in_size - 1)
    if half_pixel_centers:
        index = np.maximum(index, 0)
    return index


def block_size(op: Op) -> int:
    """The block size b of DEPTH_TO_SPACE / SPACE_TO_DEPTH."""
    value = int(op.attrs.get("block_size", 0))
    if value < 1:
        raise GraphError(f"op {op.name!r} ({op.kind}): block_size {value} must be a positive int")
    return value


def tile_input_window(
    graph: Graph, op: Op, out_rows: tuple[int, int], out_cols: tuple[int, int]
) -> tuple[tuple[int, int], tuple[int, int]]:
    """The input rows ``[y0, y1)`` and columns ``[x0, x1)`` that output rows ``[r0, r1)`` and columns
    ``[c0, c1)`` of a TILE_KINDS op read: every source pixel of every output pixel of the tile."""
    if op.kind not in TILE_KINDS:
        raise GraphError(f"op {op.name!r} ({op.kind}) is not one of {', '.join(TILE_KINDS)}")
    if op.kind == "TRANSPOSE_CONV":
        return _transpose_conv_window(graph, op, out_rows, out_cols)
    _, in_h, in_w, _ = graph.tensor(op.inputs[0]).shape
    _, out_h, out_w, _ = graph.tensor(op.outputs[0]).shape
    windows = []
    for (start, stop), in_size, out_size in ((out_rows, in_h, out_h), (out_cols, in_w, out_w)):
        start, stop = int(start), int(stop)
        if not 0 <= start < stop <= out_size:
            raise GraphError(
                f"op {op.name!r}: output range {(start, stop)} is empty or outside 0..{out_size}"
            )
        windows.append(_tile_axis_window(op, start, stop, in_size, out_size))
    return windows[0], windows[1]


def transpose_conv_pads(graph: Graph, op: Op) -> tuple[int, int]:
    """(top, left) padding of a TRANSPOSE_CONV: TFLite pads as the forward conv from its output would."""
    _, out_h, out_w, _ = graph.tensor(op.outputs[0]).shape
    _, kh, kw, _ = graph.tensor(op.inputs[1]).shape
    sh, sw = op.attrs.get("stride", (1, 1))
    if op.attrs.get("padding", "VALID") == "VALID":
        return 0, 0
    return same_pads(out_h, kh, sh, 1)[0], same_pads(out_w, kw, sw, 1)[0]


def _transpose_conv_window(
    graph: Graph, op: Op, out_rows, out_cols
) -> tuple[tuple[int, int], tuple[int, int]]:
    """Output row oy of a TRANSPOSE_CONV takes input rows iy with 0 <= oy + pad_top - iy * stride < kernel_h;
    a tile's window is their union, clipped to the input (empty where no input row reaches the tile)."""
    _, in_h, in_w, _ = graph.tensor(op.inputs[2]).shape
    _, kh, kw, _ = graph.tensor(op.inputs[1]).shape
    windows = []
    for (start, stop), size, kernel, stride, pad in zip(
        (out_rows, out_cols),
        (in_h, in_w),
        (kh, kw),
        op.attrs.get("stride", (1, 1)),
        transpose_conv_pads(graph, op),
        strict=True,
    ):
        first = max(
            -((kernel - 1 - start - pad) // int(stride)), 0
        )  # ceil((start + pad - kernel + 1) / stride)
        last = min((int(stop) - 1 + pad) // int(stride), size - 1)
        windows.append((first, max(last + 1, first)) if first < size else (size, size))
    return windows[0], windows[1]


def _tile_axis_window(op: Op, start: int, stop: int, in_size: int, out_size: int) -> tuple[int, int]:
    align, half = bool(op.attrs.get("align_corners", False)), bool(op.attrs.get("half_pixel_centers", False))
    if op.kind == "RESIZE_BILINEAR":
        lower, upper, _ = resize_bilinear_taps(in_size, out_size, align, half)
        return int(lower[start:stop].min()), int(upper[start:stop].max()) + 1
    if op.kind == "RESIZE_NEAREST_NEIGHBOR":
        source = resize_nearest_source(in_size, out_size, align, half)[start:stop]
        return int(source.min()), int(source.max()) + 1
    b = block_size(op)
    if op.kind == "DEPTH_TO_SPACE":  # output pixel y comes from input pixel y // b
        return start // b, (stop - 1) // b + 1
    return start * b, stop * b  # SPACE_TO_DEPTH: output pixel y gathers input pixels y * b .. y * b + b - 1


def activation_inputs(graph: Graph, op: Op) -> list[int]:
    """Indices into ``op.inputs`` of the op's activations: the tensors computed at run time, in order.

    Weights, biases, axes, paddings, permutations and shapes are constants; an op of
    SINGLE_ACTIVATION_KINDS reads only its first input as an activation.
    """
    if op.kind in SINGLE_ACTIVATION_KINDS:
        return [0]
    return [i for i, name in enumerate(op.inputs) if name and not graph.tensor(name).is_const]


def activation_input_names(graph: Graph, op: Op) -> list[str]:
    """The names of ``activation_inputs``."""
    return [op.inputs[i] for i in activation_inputs(graph, op)]

"""Window and padding geometry, the one home of TFLite's arithmetic for convolution and pool windows.

Every layer that needs to know what a window reads (the reference, the patch planner, the arena
planner, the code generator) asks here: output sizes, SAME padding as explicit (top, bottom, left,
right) pads, the input rows and columns a tile of the output reads, and the (H, W, C) view of a tensor.
"""

from __future__ import annotations

import numpy as np

from harness.ir.graph import Graph, GraphError, Op

Pads = tuple[int, int, int, int]  # (top, bottom, left, right)

CONV_KINDS = ("CONV_2D", "DEPTHWISE_CONV_2D")
POOL_KINDS = ("AVERAGE_POOL_2D", "MAX_POOL_2D")
# The ops that slide a window over the image and so take explicit pads.
WINDOW_KINDS = (*CONV_KINDS, *POOL_KINDS)
# Ops whose inputs after the first are constants (weights, bias, axes, paddings, perm, shape, size).
SINGLE_ACTIVATION_KINDS = (
    *CONV_KINDS,
    "FULLY_CONNECTED",
    "MEAN",
    "PAD",
    "PADV2",
    "SLICE",
    "STRIDED_SLICE",
    "TRANSPOSE",
    "RESHAPE",
    "RESIZE_NEAREST_NEIGHBOR",
)


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
    if op.kind != "PAD":
        raise GraphError(f"op {op.name!r} ({op.kind}) is not a PAD")
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

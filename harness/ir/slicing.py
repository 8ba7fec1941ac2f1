# SPDX-License-Identifier: Apache-2.0
"""SLICE, STRIDED_SLICE and SPLIT / SPLIT_V as one thing: a box of the input, start/count/step per axis.

TFLite's rules, in one place for shape inference, the reference, the code generator and the importer's
rewrite of SPLIT into SLICEs:

- SLICE(input, begin, size): ``size[i] == -1`` means "to the end"; begin and size must stay inside.
- STRIDED_SLICE(input, begin, end, strides) with ``begin_mask`` / ``end_mask`` (bit i: ignore begin[i] /
  end[i], take from the start / to the end) and ``shrink_axis_mask`` (bit i: take element begin[i] and
  drop the axis). Negative begin/end count from the end; both are then clamped into the axis like
  Python slicing. Axes beyond ``len(begin)`` are taken whole. patchbench takes positive strides only
  and refuses ``ellipsis_mask``, ``new_axis_mask`` and ``offset`` (the converter does not write them for
  CNNs; a clear error names them).
- SPLIT(axis, input) into ``num_splits`` equal parts, SPLIT_V(input, size_splits, axis) into the given
  sizes (one may be -1: the rest): each output is a SLICE along the axis.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from harness.ir.graph import Graph, GraphError, Op

Shape = tuple[int, ...]


@dataclass(frozen=True)
class Box:
    """Per input axis: the first index, how many elements, the step; ``kept``: the axes the output keeps."""

    start: tuple[int, ...]
    count: tuple[int, ...]
    step: tuple[int, ...]
    kept: tuple[bool, ...]

    @property
    def full_shape(self) -> Shape:
        """The output with shrunk axes kept as 1 (the same bytes as the output)."""
        return self.count

    @property
    def shape(self) -> Shape:
        return tuple(c for c, keep in zip(self.count, self.kept, strict=True) if keep)

    def index(self) -> tuple[slice, ...]:
        """The numpy index that cuts the box out of the input (shrunk axes kept, as size 1)."""
        return tuple(
            slice(s, s + (c - 1) * k + 1 if c else s, k)
            for s, c, k in zip(self.start, self.count, self.step, strict=True)
        )


class SliceError(GraphError):
    """A slice TFLite would refuse or that patchbench does not take; the message says which and why."""


def _ints(values, what: str) -> list[int]:
    array = np.asarray(values)
    if array.ndim > 1:
        raise SliceError(f"{what} must be a 1-D list, got shape {list(array.shape)}")
    return [int(v) for v in array.reshape(-1)]


def slice_box(shape: Shape, begin, size) -> Box:
    """SLICE(begin, size) of a tensor of ``shape``."""
    begin, size = _ints(begin, "begin"), _ints(size, "size")
    if len(begin) != len(shape) or len(size) != len(shape):
        raise SliceError(f"begin {begin} and size {size} must have one entry per input axis ({len(shape)})")
    counts = []
    for axis, (dim, b, s) in enumerate(zip(shape, begin, size, strict=True)):
        count = dim - b if s == -1 else s
        if b < 0 or count < 0 or b + count > dim:
            raise SliceError(f"axis {axis}: begin {b} size {s} does not fit the input's {dim}")
        counts.append(count)
    return Box(tuple(begin), tuple(counts), (1,) * len(shape), (True,) * len(shape))


def strided_slice_box(shape: Shape, begin, end, strides, attrs: dict) -> Box:
    """STRIDED_SLICE of a tensor of ``shape`` with TFLite's masks (module doc)."""
    for key in ("ellipsis_mask", "new_axis_mask"):
        if int(attrs.get(key, 0)):
            raise SliceError(f"{key} {attrs[key]} is not supported (only begin/end/shrink_axis masks)")
    if attrs.get("offset", False):
        raise SliceError("offset=True is not supported")
    begin, end = _ints(begin, "begin"), _ints(end, "end")
    strides = [1] * len(begin) if strides is None else _ints(strides, "strides")
    if not len(begin) == len(end) == len(strides) or len(begin) > len(shape):
        raise SliceError(
            f"begin {begin}, end {end}, strides {strides} must have equal lengths of at most rank {len(shape)}"
        )
    begin_mask, end_mask = int(attrs.get("begin_mask", 0)), int(attrs.get("end_mask", 0))
    shrink_mask = int(attrs.get("shrink_axis_mask", 0))
    starts, counts, steps, kept = [], [], [], []
    for axis, dim in enumerate(shape):
        if axis >= len(begin):
            starts.append(0), counts.append(dim), steps.append(1), kept.append(True)
            continue
        step = strides[axis]
        if shrink_mask >> axis & 1:
            index = begin[axis] + dim if begin[axis] < 0 else begin[axis]
            if not 0 <= index < dim:
                raise SliceError(f"axis {axis}: shrink index {begin[axis]} is outside the input's {dim}")
            starts.append(index), counts.append(1), steps.append(1), kept.append(False)
            continue
        if step <= 0:
            raise SliceError(f"axis {axis}: stride {step}; only positive strides are supported")
        start = 0 if begin_mask >> axis & 1 else _clamp(begin[axis], dim)
        stop = dim if end_mask >> axis & 1 else _clamp(end[axis], dim)
        count = max(0, -(-(stop - start) // step))
        starts.append(start), counts.append(count), steps.append(step), kept.append(True)
    return Box(tuple(starts), tuple(counts), tuple(steps), tuple(kept))


def _clamp(index: int, dim: int) -> int:
    """Python's (and TFLite's, for positive strides) reading of a slice bound."""
    index = index + dim if index < 0 else index
    return min(max(index, 0), dim)


def split_boxes(shape: Shape, axis: int, sizes: list[int]) -> list[Box]:
    """One box per part of a split of ``shape`` along ``axis`` into ``sizes``."""
    rank = len(shape)
    if not -rank <= axis < rank:
        raise SliceError(f"split axis {axis} is out of range for rank {rank}")
    axis %= rank
    if sum(sizes) != shape[axis] or min(sizes, default=0) < 0:
        raise SliceError(f"split sizes {sizes} do not add up to the axis' {shape[axis]}")
    boxes, offset = [], 0
    for size in sizes:
        start = tuple(offset if a == axis else 0 for a in range(rank))
        count = tuple(size if a == axis else d for a, d in enumerate(shape))
        boxes.append(Box(start, count, (1,) * rank, (True,) * rank))
        offset += size
    return boxes


def split_sizes(shape: Shape, axis: int, op: Op, graph: Graph) -> list[int]:
    """The part sizes of a SPLIT (``num_splits`` equal parts) or SPLIT_V (``size_splits``, one -1 allowed)."""
    rank = len(shape)
    if not -rank <= axis < rank:
        raise SliceError(f"split axis {axis} is out of range for rank {rank}")
    dim = shape[axis % rank]
    if op.kind == "SPLIT":
        parts = int(op.attrs.get("num_splits", len(op.outputs)))
        if parts < 1 or dim % parts:
            raise SliceError(f"num_splits {parts} does not divide the axis' {dim}")
        return [dim // parts] * parts
    data = graph.tensor(op.inputs[1]).data
    if data is None:
        raise SliceError(f"size_splits {op.inputs[1]!r} must be a constant")
    sizes = _ints(data, "size_splits")
    unknown = [i for i, s in enumerate(sizes) if s == -1]
    if len(unknown) > 1 or any(s < -1 for s in sizes):
        raise SliceError(f"size_splits {sizes} may hold one -1 and no other negative size")
    if unknown:
        sizes[unknown[0]] = dim - sum(s for s in sizes if s != -1)
    return sizes


def split_axis(graph: Graph, op: Op) -> int:
    """The axis operand of a SPLIT (input 0) or SPLIT_V (input 2)."""
    name = op.inputs[0 if op.kind == "SPLIT" else 2]
    data = graph.tensor(name).data
    if data is None or np.asarray(data).size != 1:
        raise SliceError(f"split axis {name!r} must be a constant scalar")
    return int(np.asarray(data).reshape(-1)[0])


def split_input(op: Op) -> str:
    """The data input of a SPLIT (input 1) or SPLIT_V (input 0)."""
    return op.inputs[1] if op.kind == "SPLIT" else op.inputs[0]


def op_box(graph: Graph, op: Op, shape: Shape | None = None) -> Box:
    """The box a SLICE or STRIDED_SLICE op cuts out of its input (``shape``: the input's, by default)."""
    shape = tuple(graph.tensor(op.inputs[0]).shape) if shape is None else shape

    def const(position: int):
        if position >= len(op.inputs) or not op.inputs[position]:
            return None
        tensor = graph.tensor(op.inputs[position])
        if tensor.data is None:
            raise SliceError(f"input {position} ({tensor.name!r}) must be a constant")
        return tensor.data

    if op.kind == "SLICE":
        return slice_box(shape, const(1), const(2))
    if op.kind == "STRIDED_SLICE":
        return strided_slice_box(shape, const(1), const(2), const(3), op.attrs)
    raise SliceError(f"op {op.name!r} ({op.kind}) is not a slice")


def is_local_slice(graph: Graph, op: Op) -> bool:
    """A SLICE / STRIDED_SLICE of a 4-D tensor that keeps all four dims and the batch: each output pixel is
    (some of the channels of) one input pixel, at a fixed offset and stride, so it runs patch by patch."""
    shape = tuple(graph.tensor(op.inputs[0]).shape)
    try:
        box = op_box(graph, op)
    except GraphError:
        return False
    return len(shape) == 4 and all(box.kept) and box.count[0] == shape[0] and box.step[0] == 1


def slice_input_window(box: Box, out_rows: tuple[int, int], out_cols: tuple[int, int]):
    """The input rows [y0, y1) and columns [x0, x1) that output rows ``out_rows`` and columns ``out_cols``
    of a local slice read (the first and the last read, every ``step`` in between)."""
    (r0, r1), (c0, c1) = out_rows, out_cols
    rows = (box.start[1] + r0 * box.step[1], box.start[1] + (r1 - 1) * box.step[1] + 1)
    cols = (box.start[2] + c0 * box.step[2], box.start[2] + (c1 - 1) * box.step[2] + 1)
    return rows, cols

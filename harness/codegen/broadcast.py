# SPDX-License-Identifier: Apache-2.0
"""How the C kernels of two-operand ops walk a broadcast output (pb_kernels.h, "Broadcasting").

The output is walked as four nested dims, row-major and contiguous; each operand is read with its own
element stride per dim, 0 along a dim where it repeats (numpy's broadcasting, TFLite's
``*4DSlow`` kernels). Neighbouring dims that both operands read alike merge, so an elementwise op of
equal shapes is one run of ``size`` elements and a per-channel operand a run of ``channels`` that
restarts every pixel: the kernels then spend their time in the innermost loop.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

MAX_DIMS = 4


@dataclass(frozen=True)
class BroadcastWalk:
    dims: tuple[int, int, int, int]
    a_strides: tuple[int, int, int, int]
    b_strides: tuple[int, int, int, int]

    @property
    def size(self) -> int:
        return math.prod(self.dims)

    def c_arrays(self) -> tuple[str, str, str]:
        return tuple(
            "{" + ", ".join(str(v) for v in values) + "}"
            for values in (self.dims, self.a_strides, self.b_strides)
        )


def _strides(shape: tuple[int, ...], out_shape: tuple[int, ...]) -> list[int]:
    """Element strides of an operand over the output's dims: 0 where it has size 1 (it repeats)."""
    padded = (1,) * (len(out_shape) - len(shape)) + tuple(int(d) for d in shape)
    strides, step = [], 1
    for dim in reversed(padded):
        strides.append(step if dim > 1 else 0)
        step *= dim
    return strides[::-1]


def broadcast_walk(out_shape, a_shape, b_shape) -> BroadcastWalk | None:
    """The walk of ``out_shape`` reading operands of ``a_shape`` and ``b_shape``; None when, merged, it
    still needs more than four dims (or the shapes do not broadcast to ``out_shape``)."""
    out_shape = tuple(int(d) for d in out_shape)
    try:
        if tuple(np.broadcast_shapes(tuple(a_shape), tuple(b_shape), out_shape)) != out_shape:
            return None
    except ValueError:
        return None
    a, b = _strides(a_shape, out_shape), _strides(b_shape, out_shape)
    merged: list[list[int]] = []  # [dim, a stride, b stride], outermost first
    for dim, sa, sb in zip(out_shape, a, b, strict=True):
        if dim == 1:
            continue
        if merged:
            last = merged[-1]
            # The outer dim continues the inner one for both operands: one longer run.
            if last[1] == sa * dim and last[2] == sb * dim:
                merged[-1] = [last[0] * dim, sa, sb]
                continue
        merged.append([dim, sa, sb])
    if len(merged) > MAX_DIMS:
        return None
    merged = [[1, 0, 0]] * (MAX_DIMS - len(merged)) + merged
    dims, a_strides, b_strides = (tuple(int(row[k]) for row in merged) for k in range(3))
    return BroadcastWalk(dims, a_strides, b_strides)  # type: ignore[arg-type]


def row_strides(shape: tuple[int, ...], out_channels: int) -> tuple[int, int]:
    """Within one output row of the patch stage ([out_w, C]): an operand's (column, channel) strides.

    The operand is NHWC (or fewer dims, read as trailing); it repeats along the columns when its width
    is 1 and along the channels when it has one channel.
    """
    padded = (1,) * (4 - len(shape)) + tuple(int(d) for d in shape)
    width, channels = padded[2], padded[3]
    return (channels if width > 1 else 0), (1 if channels > 1 and out_channels > 1 else 0)

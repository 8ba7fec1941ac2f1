# SPDX-License-Identifier: Apache-2.0
"""Shape inference for the int8 IR: every op's output shape from its inputs and attrs.

The TFLite importer rejects a file whose stored shapes disagree with this inference, and the zoo
builders call ``infer_op_shape`` to size the output tensor of each op they add. The rules are
TFLite's (``conv_out_size`` for convs and pools, numpy broadcasting for ADD/MUL).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from harness.ir import slicing
from harness.ir.geometry import conv_out_size, explicit_pads, window_count
from harness.ir.graph import MULTI_OUTPUT_KINDS, Graph, GraphError, Op
from harness.ir.opdefs import OP_DEFS

Shape = tuple[int, ...]
ShapeOf = Callable[[str], Shape]


def infer_op_shape(graph: Graph, op: Op, shape_of: ShapeOf | None = None) -> Shape:
    """The shape of ``op.outputs[0]`` computed from the op's inputs and attrs.

    ``shape_of`` gives the shape of an input tensor by name; by default the shape stored in the graph.
    Raises GraphError, naming the op and the disagreeing tensors, when the inputs do not fit together.
    """
    return infer_op_shapes(graph, op, shape_of)[0]


def infer_op_shapes(graph: Graph, op: Op, shape_of: ShapeOf | None = None) -> list[Shape]:
    """The shapes of every output of ``op`` (one for all ops but SPLIT / SPLIT_V)."""
    index = next((i for i, other in enumerate(graph.ops) if other is op), -1)
    return _infer(graph, index, op, shape_of)


def _infer(graph: Graph, index: int, op: Op, shape_of: ShapeOf | None = None) -> list[Shape]:
    shape_of = shape_of or (lambda name: tuple(graph.tensor(name).shape))
    ctx = _Context(graph, index, op, shape_of)
    if op.kind in MULTI_OUTPUT_KINDS:
        return _split(ctx)
    rule = _RULES.get(op.kind) or (OP_DEFS[op.kind].shape if op.kind in OP_DEFS else None)
    if rule is None:
        raise GraphError(f"{_where(graph, index, op)}: no shape rule for op kind {op.kind!r}")
    return [rule(ctx)]


def infer_shapes(graph: Graph) -> dict[str, Shape]:
    """Shapes of the graph inputs and every op output, each op inferred from the inferred shapes of its
    producers (so a builder can rely on it before setting any output shape right)."""
    shapes: dict[str, Shape] = {name: tuple(graph.tensor(name).shape) for name in graph.inputs}

    def shape_of(name: str) -> Shape:
        if name in shapes:
            return shapes[name]
        return tuple(graph.tensor(name).shape)

    for index, op in enumerate(graph.ops):
        for name, shape in zip(op.outputs, _infer(graph, index, op, shape_of), strict=False):
            shapes[name] = shape
    return shapes


def check_shapes(graph: Graph) -> None:
    """Raise GraphError at the first op whose stored output shape differs from the inferred one."""
    for index, op in enumerate(graph.ops):
        inferred_shapes = _infer(graph, index, op)
        if len(op.outputs) != len(inferred_shapes):
            wanted = f"{len(inferred_shapes)}" if op.kind in MULTI_OUTPUT_KINDS else "one"
            raise GraphError(f"{_where(graph, index, op)}: has {len(op.outputs)} outputs; it needs {wanted}")
        for name, inferred in zip(op.outputs, inferred_shapes, strict=True):
            stored = tuple(graph.tensor(name).shape)
            if inferred != stored:
                raise GraphError(
                    f"{_where(graph, index, op)}: output tensor {name!r} has shape {stored}, but the "
                    f"op's inputs and attrs give {inferred}"
                )


def _where(graph: Graph, index: int, op: Op) -> str:
    return f"graph {graph.name!r}, op {index} ({op.kind} {op.name!r})"


class _Context:
    """What one shape rule needs: the op, its input shapes and constant operands, and error wording."""

    def __init__(self, graph: Graph, index: int, op: Op, shape_of: ShapeOf):
        self.graph, self.index, self.op, self.shape_of = graph, index, op, shape_of

    def error(self, message: str) -> GraphError:
        return GraphError(f"{_where(self.graph, self.index, self.op)}: {message}")

    def input_name(self, position: int, role: str) -> str:
        if position >= len(self.op.inputs) or not self.op.inputs[position]:
            raise self.error(f"input {position} ({role}) is missing")
        return self.op.inputs[position]

    def has_input(self, position: int) -> bool:
        return position < len(self.op.inputs) and bool(self.op.inputs[position])

    def shape(self, position: int, role: str, rank: int | None = None) -> Shape:
        name = self.input_name(position, role)
        shape = tuple(int(d) for d in self.shape_of(name))
        if rank is not None and len(shape) != rank:
            raise self.error(f"{role} {name!r} has shape {shape}; it must have rank {rank}")
        return shape

    def const(self, position: int, role: str) -> np.ndarray:
        name = self.input_name(position, role)
        tensor = self.graph.tensor(name)
        if tensor.data is None:
            raise self.error(f"{role} {name!r} must be a constant tensor")
        return np.asarray(tensor.data).astype(np.int64)

    def pair(self, key: str, default: tuple[int, int]) -> tuple[int, int]:
        value = tuple(int(v) for v in self.op.attrs.get(key, default))
        if len(value) != 2 or min(value) < 1:
            raise self.error(f"attr {key}={value} must be two positive ints")
        return value

    def axis(self, axis: int, rank: int, what: str) -> int:
        if not -rank <= axis < rank:
            raise self.error(f"{what} {axis} is out of range for rank {rank}")
        return axis % rank


def _spatial(ctx: _Context, in_h: int, in_w: int, kh: int, kw: int, dilation: tuple[int, int]) -> Shape:
    sh, sw = ctx.pair("stride", (1, 1))
    padding = ctx.op.attrs.get("padding", "VALID")
    if padding == "EXPLICIT":  # a folded PAD (harness/schedule/fusion.py)
        try:
            top, bottom, left, right = explicit_pads(ctx.op)
        except GraphError as err:
            raise ctx.error(str(err)) from None
        out_h = window_count(in_h + top + bottom, kh, sh, dilation[0])
        out_w = window_count(in_w + left + right, kw, sw, dilation[1])
    elif padding not in ("SAME", "VALID"):
        raise ctx.error(f"padding {padding!r} is not supported; use SAME or VALID")
    else:
        out_h = conv_out_size(in_h, kh, sh, dilation[0], padding)
        out_w = conv_out_size(in_w, kw, sw, dilation[1], padding)
    if out_h < 1 or out_w < 1:
        raise ctx.error(
            f"a {kh}x{kw} window (dilation {dilation}) does not fit a {in_h}x{in_w} input with "
            f"{padding} padding"
        )
    return out_h, out_w


def _check_bias(ctx: _Context, channels: int) -> None:
    bias = ctx.shape(2, "bias")
    if bias != (channels,):
        raise ctx.error(f"bias {ctx.op.inputs[2]!r} has shape {bias}; it must be ({channels},)")


def _conv_2d(ctx: _Context) -> Shape:
    n, h, w, cin = ctx.shape(0, "input", rank=4)
    cout, kh, kw, filter_cin = ctx.shape(1, "filter", rank=4)
    if filter_cin != cin:
        raise ctx.error(
            f"filter {ctx.op.inputs[1]!r} has {filter_cin} input channels but the input has {cin} "
            "(grouped convolutions are not supported)"
        )
    _check_bias(ctx, cout)
    return (n, *_spatial(ctx, h, w, kh, kw, ctx.pair("dilation", (1, 1))), cout)


def _depthwise_conv_2d(ctx: _Context) -> Shape:
    n, h, w, c = ctx.shape(0, "input", rank=4)
    one, kh, kw, filter_c = ctx.shape(1, "filter", rank=4)
    if one != 1:
        raise ctx.error(f"filter {ctx.op.inputs[1]!r} must have shape [1, KH, KW, C]; it has first dim {one}")
    # Output channel k reads input channel k // multiplier; TFLite takes the multiplier from the shapes.
    if c < 1 or filter_c % c:
        raise ctx.error(
            f"filter {ctx.op.inputs[1]!r} has {filter_c} channels, not a multiple of the input's {c} "
            "(a depthwise filter has input channels x depth multiplier)"
        )
    multiplier = int(ctx.op.attrs.get("depth_multiplier", filter_c // c))
    if multiplier != filter_c // c:
        raise ctx.error(
            f"depth_multiplier {multiplier} disagrees with the filter's {filter_c} channels over the input's "
            f"{c} (that is {filter_c // c})"
        )
    _check_bias(ctx, filter_c)
    return (n, *_spatial(ctx, h, w, kh, kw, ctx.pair("dilation", (1, 1))), filter_c)


def _fully_connected(ctx: _Context) -> Shape:
    shape = ctx.shape(0, "input")
    cout, cin = ctx.shape(1, "weights", rank=2)
    if ctx.has_input(2):
        _check_bias(ctx, cout)
    size = int(np.prod(shape, dtype=np.int64))
    if ctx.op.attrs.get("keep_dims", False):
        if not shape or shape[-1] != cin:
            raise ctx.error(f"input shape {shape} must end in the weights' {cin} input features (keep_dims)")
        return (*shape[:-1], cout)
    if size % cin:
        raise ctx.error(f"input shape {shape} ({size} values) is not a whole number of {cin}-feature rows")
    return size // cin, cout


def _elementwise(ctx: _Context) -> Shape:
    a, b = ctx.shape(0, "input a"), ctx.shape(1, "input b")
    try:
        return tuple(int(d) for d in np.broadcast_shapes(a, b))
    except ValueError:
        raise ctx.error(f"input shapes {a} and {b} do not broadcast") from None


def _pool_2d(ctx: _Context) -> Shape:
    n, h, w, c = ctx.shape(0, "input", rank=4)
    fh, fw = ctx.pair("filter", (1, 1))
    return (n, *_spatial(ctx, h, w, fh, fw, (1, 1)), c)


def _mean(ctx: _Context) -> Shape:
    shape = ctx.shape(0, "input")
    axes = {ctx.axis(int(a), len(shape), "axis") for a in ctx.const(1, "axes").reshape(-1)}
    if ctx.op.attrs.get("keep_dims", False):
        return tuple(1 if i in axes else d for i, d in enumerate(shape))
    return tuple(d for i, d in enumerate(shape) if i not in axes)


def _pad(ctx: _Context) -> Shape:
    shape = ctx.shape(0, "input")
    paddings = ctx.const(1, "paddings")
    if ctx.op.kind == "PADV2" and ctx.has_input(2) and ctx.const(2, "constant value").size != 1:
        raise ctx.error("the constant value must be one value")
    if paddings.shape != (len(shape), 2):
        raise ctx.error(
            f"paddings have shape {paddings.shape}; a rank-{len(shape)} input needs ({len(shape)}, 2)"
        )
    if (paddings < 0).any():
        raise ctx.error(f"paddings {paddings.tolist()} must not be negative")
    return tuple(int(d + before + after) for d, (before, after) in zip(shape, paddings, strict=True))


def _reshape(ctx: _Context) -> Shape:
    shape = ctx.shape(0, "input")
    size = int(np.prod(shape, dtype=np.int64))
    if not ctx.has_input(1):
        # Without a shape operand the output tensor's own shape is the target.
        target = tuple(int(d) for d in ctx.graph.tensor(ctx.op.outputs[0]).shape)
    else:
        target = tuple(int(d) for d in ctx.const(1, "shape").reshape(-1))
    unknown = [i for i, d in enumerate(target) if d == -1]
    if len(unknown) > 1 or any(d < -1 for d in target):
        raise ctx.error(f"target shape {target} may hold at most one -1 and no other negative dims")
    known = int(np.prod([d for d in target if d != -1], dtype=np.int64))
    if unknown:
        if known == 0 or size % known:
            raise ctx.error(f"cannot reshape {shape} ({size} values) to {target}")
        target = tuple(size // known if d == -1 else d for d in target)
    elif known != size:
        raise ctx.error(f"cannot reshape {shape} ({size} values) to {target} ({known} values)")
    return target


def _transpose(ctx: _Context) -> Shape:
    shape = ctx.shape(0, "input")
    perm = [int(p) for p in ctx.const(1, "perm").reshape(-1)]
    if sorted(perm) != list(range(len(shape))):
        raise ctx.error(f"perm {perm} is not a permutation of the input's {len(shape)} axes")
    return tuple(shape[p] for p in perm)


def _concatenation(ctx: _Context) -> Shape:
    shapes = [ctx.shape(i, f"input {i}") for i in range(len(ctx.op.inputs))]
    if not shapes:
        raise ctx.error("has no inputs")
    rank = len(shapes[0])
    axis = ctx.axis(int(ctx.op.attrs.get("axis", -1)), rank, "axis")
    for i, shape in enumerate(shapes):
        if len(shape) != rank or any(
            d != d0 for k, (d, d0) in enumerate(zip(shape, shapes[0], strict=True)) if k != axis
        ):
            raise ctx.error(
                f"input {i} has shape {shape}, input 0 has {shapes[0]}: all dims but axis {axis} must agree"
            )
    out = list(shapes[0])
    out[axis] = sum(shape[axis] for shape in shapes)
    return tuple(out)


def _resize(ctx: _Context) -> Shape:
    n, _, _, c = ctx.shape(0, "input", rank=4)
    size = ctx.const(1, "size").reshape(-1)
    if size.shape != (2,) or (size < 1).any():
        raise ctx.error(f"size {size.tolist()} must be two positive ints (new height, new width)")
    if ctx.op.attrs.get("align_corners") and ctx.op.attrs.get("half_pixel_centers"):
        raise ctx.error("align_corners and half_pixel_centers cannot both be set (TFLite refuses it too)")
    return n, int(size[0]), int(size[1]), c


def _block(ctx: _Context) -> int:
    block = int(ctx.op.attrs.get("block_size", 0))
    if block < 1:
        raise ctx.error(f"block_size {block} must be a positive int")
    return block


def _depth_to_space(ctx: _Context) -> Shape:
    n, h, w, c = ctx.shape(0, "input", rank=4)
    b = _block(ctx)
    if c % (b * b):
        raise ctx.error(f"the input's {c} channels are not a multiple of block_size^2 = {b * b}")
    return n, h * b, w * b, c // (b * b)


def _space_to_depth(ctx: _Context) -> Shape:
    n, h, w, c = ctx.shape(0, "input", rank=4)
    b = _block(ctx)
    if h % b or w % b:
        raise ctx.error(f"the input's {h}x{w} pixels are not a whole number of {b}x{b} blocks")
    return n, h // b, w // b, c * b * b


def _transpose_conv(ctx: _Context) -> Shape:
    out = tuple(int(d) for d in ctx.const(0, "output shape").reshape(-1))
    n, h, w, cin = ctx.shape(2, "input", rank=4)
    cout, kh, kw, filter_cin = ctx.shape(1, "filter", rank=4)
    if len(out) != 4 or out[0] != n or out[3] != cout or filter_cin != cin:
        raise ctx.error(
            f"output shape {list(out)} does not fit input {[n, h, w, cin]} and filter {[cout, kh, kw, filter_cin]}"
        )
    sh, sw = ctx.pair("stride", (1, 1))
    padding = ctx.op.attrs.get("padding", "VALID")
    for size, in_size, k, s in ((out[1], h, kh, sh), (out[2], w, kw, sw)):
        # The transposed conv's output is an input that the forward conv maps back onto ``in_size``.
        if conv_out_size(size, k, s, 1, padding) != in_size:
            raise ctx.error(
                f"output shape {list(out)} is not a {padding} stride-{s} preimage of input {[n, h, w, cin]}"
            )
    return out


def _slice(ctx: _Context) -> Shape:
    try:
        return slicing.op_box(ctx.graph, ctx.op, ctx.shape(0, "input")).shape
    except GraphError as err:
        raise ctx.error(str(err)) from None


def _split(ctx: _Context) -> list[Shape]:
    position = 1 if ctx.op.kind == "SPLIT" else 0
    shape = ctx.shape(position, "input")
    try:
        axis = slicing.split_axis(ctx.graph, ctx.op)
        sizes = slicing.split_sizes(shape, axis, ctx.op, ctx.graph)
        boxes = slicing.split_boxes(shape, axis, sizes)
    except GraphError as err:
        raise ctx.error(str(err)) from None
    if len(boxes) != len(ctx.op.outputs):
        raise ctx.error(f"splits into {len(boxes)} parts but has {len(ctx.op.outputs)} outputs")
    return [box.shape for box in boxes]


def _same_shape(ctx: _Context) -> Shape:
    return ctx.shape(0, "input")


_RULES: dict[str, Callable[[_Context], Shape]] = {
    "CONV_2D": _conv_2d,
    "DEPTHWISE_CONV_2D": _depthwise_conv_2d,
    "FULLY_CONNECTED": _fully_connected,
    "ADD": _elementwise,
    "SUB": _elementwise,
    "MUL": _elementwise,
    "MAXIMUM": _elementwise,
    "MINIMUM": _elementwise,
    "PRELU": _elementwise,
    "AVERAGE_POOL_2D": _pool_2d,
    "MAX_POOL_2D": _pool_2d,
    "MEAN": _mean,
    "PAD": _pad,
    "PADV2": _pad,
    "SLICE": _slice,
    "STRIDED_SLICE": _slice,
    "RESHAPE": _reshape,
    "TRANSPOSE": _transpose,
    "CONCATENATION": _concatenation,
    "RESIZE_NEAREST_NEIGHBOR": _resize,
    "RESIZE_BILINEAR": _resize,
    "DEPTH_TO_SPACE": _depth_to_space,
    "SPACE_TO_DEPTH": _space_to_depth,
    "SOFTMAX": _same_shape,
    "QUANTIZE": _same_shape,
    "DEQUANTIZE": _same_shape,
    "LOGISTIC": _same_shape,
    "TANH": _same_shape,
    "HARD_SWISH": _same_shape,
    "LEAKY_RELU": _same_shape,
    "RELU": _same_shape,
    "RELU6": _same_shape,
    "RELU_N1_TO_1": _same_shape,
    "TRANSPOSE_CONV": _transpose_conv,
}

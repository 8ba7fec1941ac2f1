# SPDX-License-Identifier: Apache-2.0
"""Import canonicalization: the TFLite converter's op patterns rewritten into the IR's own ops.

The converter writes a Keras model's static shapes as run-time plumbing (SHAPE, STRIDED_SLICE, PACK
for a Flatten), nearest-neighbour upsampling as EXPAND_DIMS + TILE + RESHAPE, a dilated convolution
as SPACE_TO_BATCH_ND + conv + BATCH_TO_SPACE_ND, and a ReLU after such a block as its own op. Each
rewrite here is one small function that changes the graph only when the result computes exactly the
same int8 values (tests/frontend/test_converter_models.py checks every tensor against LiteRT), and each
application is recorded as a ``Rewrite`` that ``patchbench check`` prints.

The batch is fixed at 1: SHAPE folds to the tensor's stored shape, whose batch the converter writes
as 1. A file's stored shape of a tensor computed from run-time plumbing may be a placeholder (the
converter writes 1 for a dynamic dimension); the rewrites re-infer such shapes from the folded values.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from harness.ir import quant, shapes, slicing
from harness.ir.geometry import conv_out_size, same_pads
from harness.ir.graph import MULTI_OUTPUT_KINDS, Graph, GraphError, Op, Tensor

# Op kinds the importer reads only so that a rewrite here can remove them.
SOURCE_ONLY_KINDS = (
    "SHAPE",
    "PACK",
    "GATHER",
    "EXPAND_DIMS",
    "SQUEEZE",
    "TILE",
    "SPACE_TO_BATCH_ND",
    "BATCH_TO_SPACE_ND",
)


@dataclass(frozen=True)
class Rewrite:
    """One application of a rewrite rule: which file ops it replaced and what stands in their place."""

    rule: str
    source_ops: tuple[str, ...]  # names of the imported ops it replaced ("opNN_kind")
    result: str  # the op it produced, or the constant tensor it folded to
    detail: str

    def __str__(self) -> str:
        return f"{self.rule}: {', '.join(self.source_ops)} -> {self.result} ({self.detail})"


class _Rewriter:
    """The graph being canonicalized plus the record of what changed."""

    def __init__(self, graph: Graph):
        self.graph = graph
        self.record: list[Rewrite] = []

    def note(self, rule: str, ops: list[Op], result: str, detail: str) -> None:
        self.record.append(Rewrite(rule, tuple(op.name for op in ops), result, detail))

    def sole_consumer(self, tensor: str) -> Op | None:
        """The one op reading ``tensor`` when exactly one does and it is not a graph output."""
        if tensor in self.graph.outputs:
            return None
        readers = self.graph.consumers(tensor)
        return readers[0] if len(readers) == 1 else None

    def const(self, name: str) -> np.ndarray | None:
        if not name:
            return None
        tensor = self.graph.tensors.get(name)
        return None if tensor is None or tensor.data is None else np.asarray(tensor.data)

    def remove(self, ops: list[Op]) -> None:
        gone = {id(op) for op in ops}
        self.graph.ops = [op for op in self.graph.ops if id(op) not in gone]

    def replace(self, ops: list[Op], new: Op) -> None:
        """Put ``new`` where the last of ``ops`` was and drop ``ops``."""
        position = max(i for i, op in enumerate(self.graph.ops) if any(op is o for o in ops))
        self.graph.ops[position] = new
        self.remove([op for op in ops if op is not self.graph.ops[position]])

    def unique_name(self, base: str) -> str:
        name = base
        while name in self.graph.tensors:
            name += "_"
        return name

    def add_const(self, base: str, data: np.ndarray) -> str:
        name = self.unique_name(base)
        self.graph.tensors[name] = Tensor(name, tuple(data.shape), str(data.dtype), None, data)
        return name

    def same_quant(self, a: str, b: str) -> bool:
        qa, qb = self.graph.tensor(a).quant, self.graph.tensor(b).quant
        if qa is None or qb is None:
            return qa is qb
        return bool(np.array_equal(qa.scale, qb.scale) and np.array_equal(qa.zero_point, qb.zero_point))


# --- constant folding of shape plumbing -----------------------------------------------------------


def _fold_value(rw: _Rewriter, op: Op) -> np.ndarray | None:
    """The op's output as a constant when it is shape plumbing over constants, else None."""
    graph = rw.graph
    if op.kind == "SHAPE":
        source = graph.tensor(op.inputs[0])
        return np.array(source.shape, np.int32)
    values = [rw.const(name) for name in op.inputs if name]
    if any(v is None for v in values) or any(v.dtype != np.int32 for v in values):
        return None  # only int32 shape arithmetic folds; int8 data keeps its ops
    if op.kind in ("STRIDED_SLICE", "SLICE"):
        try:
            box = slicing.op_box(graph, op)
        except GraphError:
            return None  # left to the importer, which names what it refuses
        return np.ascontiguousarray(values[0][box.index()]).reshape(box.shape).astype(np.int32)
    if op.kind == "PACK":
        return np.stack(values, axis=int(op.attrs.get("axis", 0))).astype(np.int32)
    if op.kind == "GATHER":
        if int(op.attrs.get("batch_dims", 0)) != 0:
            return None
        return np.take(values[0], values[1], axis=int(op.attrs.get("axis", 0))).astype(np.int32)
    if op.kind == "CONCATENATION":
        return np.concatenate(values, axis=int(op.attrs.get("axis", 0))).astype(np.int32)
    if op.kind in ("RESHAPE", "EXPAND_DIMS", "SQUEEZE"):
        return values[0].reshape(graph.tensor(op.outputs[0]).shape)
    return None


def fold_shape_plumbing(rw: _Rewriter) -> None:
    """SHAPE, STRIDED_SLICE, SLICE, PACK, GATHER, CONCATENATION, RESHAPE of int32 constants -> constants;
    an op whose shape operand became constant gets its output shape re-inferred from it."""
    folded: list[Op] = []
    for op in list(rw.graph.ops):
        value = _fold_value(rw, op)
        if value is None:
            if any(name in {o.outputs[0] for o in folded} for name in op.inputs):
                _reinfer_output(rw.graph, op)
            continue
        out = rw.graph.tensor(op.outputs[0])
        rw.graph.tensors[out.name] = Tensor(out.name, tuple(value.shape), "int32", None, value)
        rw.remove([op])
        folded.append(op)
        rw.note("fold constant", [op], out.name, f"{op.kind} = {value.tolist()}")


def _reinfer_output(graph: Graph, op: Op) -> None:
    try:
        graph.tensor(op.outputs[0]).shape = shapes.infer_op_shape(graph, op)
    except GraphError:
        pass  # an op kind without a shape rule is one the importer refuses, naming it


# --- SPLIT / SPLIT_V --------------------------------------------------------------------------------


def split_as_slices(rw: _Rewriter) -> None:
    """SPLIT and SPLIT_V (the IR's only ops with several outputs) are one SLICE per output: the same
    bytes, and every later step of patchbench handles ops of one output."""
    graph = rw.graph
    for op in list(graph.ops):
        if op.kind not in MULTI_OUTPUT_KINDS:
            continue
        source = slicing.split_input(op)
        shape = tuple(graph.tensor(source).shape)
        try:
            axis = slicing.split_axis(graph, op)
            boxes = slicing.split_boxes(shape, axis, slicing.split_sizes(shape, axis, op, graph))
        except GraphError:
            continue  # the importer's shape check names the problem
        if len(boxes) != len(op.outputs):
            continue
        slices = []
        for k, (name, box) in enumerate(zip(op.outputs, boxes, strict=True)):
            begin = rw.add_const(f"{name}/begin", np.array(box.start, np.int32))
            size = rw.add_const(f"{name}/size", np.array(box.count, np.int32))
            slices.append(Op("SLICE", f"{op.name}_slice{k}", [source, begin, size], [name]))
        position = graph.ops.index(op)
        graph.ops[position : position + 1] = slices
        rw.note(
            "split as SLICEs", [op], ", ".join(s.name for s in slices),
            f"{op.kind} of {list(shape)} along axis {axis % len(shape)} into {[b.count[axis % len(shape)] for b in boxes]}",
        )  # fmt: skip


# --- views ----------------------------------------------------------------------------------------


def views_as_reshape(rw: _Rewriter) -> None:
    """EXPAND_DIMS and SQUEEZE change no bytes: a RESHAPE to the output's shape."""
    for op in list(rw.graph.ops):
        if op.kind not in ("EXPAND_DIMS", "SQUEEZE"):
            continue
        source = rw.graph.tensor(op.inputs[0])
        target = _view_shape(op, source.shape, rw.const(op.inputs[1]) if len(op.inputs) > 1 else None)
        if target is None:
            continue
        out = rw.graph.tensor(op.outputs[0])
        out.shape = target
        shape_name = rw.add_const(f"{out.name}/shape", np.array(target, np.int32))
        reshape = Op(
            "RESHAPE", op.name.replace(op.kind.lower(), "reshape"), [op.inputs[0], shape_name], [out.name]
        )
        rw.replace([op], reshape)
        rw.note("view as RESHAPE", [op], reshape.name, f"{op.kind} {list(source.shape)} -> {list(target)}")


def _view_shape(op: Op, shape: tuple[int, ...], axis_value) -> tuple[int, ...] | None:
    if op.kind == "EXPAND_DIMS":
        if axis_value is None or axis_value.size != 1:
            return None
        axis = int(axis_value.reshape(-1)[0])
        axis = axis + len(shape) + 1 if axis < 0 else axis
        return (*shape[:axis], 1, *shape[axis:])
    dims = [int(d) % len(shape) for d in op.attrs.get("squeeze_dims", ())] or [
        i for i, d in enumerate(shape) if d == 1
    ]
    if any(shape[d] != 1 for d in dims):
        return None
    return tuple(d for i, d in enumerate(shape) if i not in dims)


# --- nearest-neighbour upsampling -----------------------------------------------------------------


def tile_upsampling_as_resize(rw: _Rewriter) -> None:
    """RESHAPE(x -> 5-D with a 1 after H or W) + TILE(k on that axis) + RESHAPE(-> 4-D) is a
    nearest-neighbour resize of that axis by k (after views_as_reshape turned EXPAND_DIMS into RESHAPE)."""
    graph = rw.graph
    for expand in list(graph.ops):
        if expand.kind != "RESHAPE" or expand not in graph.ops:
            continue
        source = graph.tensor(expand.inputs[0])
        expanded = graph.tensor(expand.outputs[0])
        if len(source.shape) != 4 or len(expanded.shape) != 5 or source.shape[0] != 1:
            continue
        axis = next((a for a in (2, 3) if expanded.shape == (*source.shape[:a], 1, *source.shape[a:])), None)
        tile = rw.sole_consumer(expanded.name)
        if axis is None or tile is None or tile.kind != "TILE":
            continue
        multiples = rw.const(tile.inputs[1])
        if multiples is None or multiples.size != 5:
            continue
        factor = int(multiples[axis])
        if factor < 1 or any(int(m) != 1 for i, m in enumerate(multiples) if i != axis):
            continue
        collapse = rw.sole_consumer(tile.outputs[0])
        if collapse is None or collapse.kind != "RESHAPE":
            continue
        n, h, w, c = source.shape
        size = (h * factor, w) if axis == 2 else (h, w * factor)
        out = graph.tensor(collapse.outputs[0])
        target = rw.const(collapse.inputs[1]) if len(collapse.inputs) > 1 else np.array(out.shape)
        if target is None or tuple(int(d) for d in target.reshape(-1)) != (n, *size, c):
            continue
        if not (rw.same_quant(source.name, out.name) and _nearest_is_repeat(size, (h, w))):
            continue
        out.shape = (n, *size, c)
        size_name = rw.add_const(f"{out.name}/size", np.array(size, np.int32))
        resize = Op(
            "RESIZE_NEAREST_NEIGHBOR",
            collapse.name.replace("reshape", "resize_nearest_neighbor"),
            [source.name, size_name],
            [out.name],
            {"align_corners": False, "half_pixel_centers": False},
        )
        rw.replace([expand, tile, collapse], resize)
        rw.note(
            "upsampling as RESIZE_NEAREST_NEIGHBOR",
            [expand, tile, collapse],
            resize.name,
            f"{'rows' if axis == 2 else 'columns'} x{factor}: {list(source.shape)} -> {list(out.shape)}",
        )


def merge_resizes(rw: _Rewriter) -> None:
    """Two nearest-neighbour resizes in a row, each repeating pixels a whole number of times, are one."""
    graph = rw.graph
    for first in list(graph.ops):
        if first.kind != "RESIZE_NEAREST_NEIGHBOR" or first not in graph.ops or _resize_flags(first):
            continue
        second = rw.sole_consumer(first.outputs[0])
        if second is None or second.kind != "RESIZE_NEAREST_NEIGHBOR" or _resize_flags(second):
            continue
        source, middle, out = (
            graph.tensor(n) for n in (first.inputs[0], first.outputs[0], second.outputs[0])
        )
        in_hw, mid_hw, out_hw = source.shape[1:3], middle.shape[1:3], out.shape[1:3]
        if not (_nearest_is_repeat(mid_hw, in_hw) and _nearest_is_repeat(out_hw, mid_hw)):
            continue
        if not (_nearest_is_repeat(out_hw, in_hw) and rw.same_quant(source.name, middle.name)):
            continue
        size_name = rw.add_const(f"{out.name}/size", np.array(out_hw, np.int32))
        merged = Op(second.kind, second.name, [source.name, size_name], [out.name], dict(second.attrs))
        rw.replace([first, second], merged)
        rw.note("merge resizes", [first, second], merged.name, f"{list(source.shape)} -> {list(out.shape)}")


def _resize_flags(op: Op) -> bool:
    return bool(op.attrs.get("align_corners") or op.attrs.get("half_pixel_centers"))


def _nearest_is_repeat(out_hw, in_hw) -> bool:
    """TFLite's nearest index (float32 arithmetic) repeats every input pixel out // in times, exactly."""
    for out_size, in_size in zip(out_hw, in_hw, strict=True):
        if out_size % in_size:
            return False
        scale = np.float32(in_size) / np.float32(out_size)
        index = np.minimum(
            np.floor(np.arange(out_size, dtype=np.float32) * scale).astype(np.int64), in_size - 1
        )
        if not np.array_equal(index, np.arange(out_size) // (out_size // in_size)):
            return False
    return True


# --- SPACE_TO_BATCH_ND / BATCH_TO_SPACE_ND around a conv --------------------------------------------


def space_to_batch_as_dilation(rw: _Rewriter) -> None:
    """SPACE_TO_BATCH_ND(block b, pads) + VALID stride-1 conv + BATCH_TO_SPACE_ND(block b, no crops)
    is the conv with dilation b on the input padded by ``pads``: SAME when the pads are SAME's."""
    graph = rw.graph
    for s2b in list(graph.ops):
        if s2b.kind != "SPACE_TO_BATCH_ND" or s2b not in graph.ops:
            continue
        block, pads = rw.const(s2b.inputs[1]), rw.const(s2b.inputs[2])
        conv = rw.sole_consumer(s2b.outputs[0])
        if block is None or pads is None or conv is None or conv.kind not in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            continue
        b2s = rw.sole_consumer(conv.outputs[0])
        if b2s is None or b2s.kind != "BATCH_TO_SPACE_ND":
            continue
        block2, crops = rw.const(b2s.inputs[1]), rw.const(b2s.inputs[2])
        if block2 is None or crops is None or not np.array_equal(block, block2) or np.any(crops != 0):
            continue
        if conv.attrs.get("padding") != "VALID" or tuple(conv.attrs.get("stride", (1, 1))) != (1, 1):
            continue
        if tuple(conv.attrs.get("dilation", (1, 1))) != (1, 1) or block.shape != (2,) or pads.shape != (2, 2):
            continue
        source, out = graph.tensor(s2b.inputs[0]), graph.tensor(b2s.outputs[0])
        if not (rw.same_quant(source.name, s2b.outputs[0]) and rw.same_quant(conv.outputs[0], out.name)):
            continue
        _, h, w, _ = source.shape
        kh, kw = graph.tensor(conv.inputs[1]).shape[1:3]
        dilation = (int(block[0]), int(block[1]))
        top, bottom, left, right = (int(v) for v in pads.reshape(-1))
        out_h = conv_out_size(h + top + bottom, kh, 1, dilation[0], "VALID")
        out_w = conv_out_size(w + left + right, kw, 1, dilation[1], "VALID")
        if (out_h, out_w) != tuple(out.shape[1:3]):
            continue
        padding, conv_input, extra = _padding_for(
            rw, source, (kh, kw), dilation, (top, bottom, left, right), conv
        )
        attrs = dict(conv.attrs, dilation=dilation, padding=padding)
        dilated = Op(conv.kind, conv.name, [conv_input, *conv.inputs[1:]], [out.name], attrs)
        rw.replace([s2b, conv, b2s], dilated)
        if extra is not None:
            graph.ops.insert(graph.ops.index(dilated), extra)
        rw.note(
            "dilated convolution",
            [s2b, conv, b2s],
            dilated.name,
            f"{kh}x{kw} dilation {dilation}, padding {padding}" + (f" after {extra.name}" if extra else ""),
        )


def _padding_for(rw: _Rewriter, source: Tensor, kernel, dilation, pads, conv: Op):
    """The dilated conv's padding: SAME or VALID when the pads are theirs, else an explicit PAD op."""
    _, h, w, _ = source.shape
    same = [*same_pads(h, kernel[0], 1, dilation[0]), *same_pads(w, kernel[1], 1, dilation[1])]
    if tuple(pads) == tuple(same):
        return "SAME", source.name, None
    if not any(pads):
        return "VALID", source.name, None
    paddings = np.array([[0, 0], [pads[0], pads[1]], [pads[2], pads[3]], [0, 0]], np.int32)
    padded_name = rw.unique_name(f"{source.name}/padded")
    padded_shape = (1, h + pads[0] + pads[1], w + pads[2] + pads[3], source.shape[3])
    rw.graph.tensors[padded_name] = Tensor(padded_name, padded_shape, source.dtype, source.quant)
    paddings_name = rw.add_const(f"{padded_name}/paddings", paddings)
    pad = Op("PAD", conv.name.replace(conv.kind.lower(), "pad"), [source.name, paddings_name], [padded_name])
    return "VALID", padded_name, pad


# --- standalone activations -----------------------------------------------------------------------

_CLAMP_OPS = (
    "CONV_2D",
    "DEPTHWISE_CONV_2D",
    "FULLY_CONNECTED",
    "ADD",
    "MUL",
    "AVERAGE_POOL_2D",
    "MAX_POOL_2D",
)
_ACTIVATION_OPS = ("RELU", "RELU6", "RELU_N1_TO_1")


def fold_activation_into_producer(rw: _Rewriter) -> None:
    """A RELU/RELU6/RELU_N1_TO_1 whose input has its output's quantization is a clamp; when its
    producer's fused activation and this clamp together are one of TFLite's fused activations, the
    producer takes it and the op goes."""
    graph = rw.graph
    for act in list(graph.ops):
        if act.kind not in _ACTIVATION_OPS:
            continue
        producer = graph.producer(act.inputs[0])
        if producer is None or producer.kind not in _CLAMP_OPS or rw.sole_consumer(act.inputs[0]) is not act:
            continue
        if not rw.same_quant(act.inputs[0], act.outputs[0]):
            continue
        out = graph.tensor(act.outputs[0])
        lo, hi = quant.activation_range(act.kind, out.scale, out.zero_point)
        combined = (max(lo, producer.attrs.get("act_min", -128)), min(hi, producer.attrs.get("act_max", 127)))
        name = next(
            (
                n
                for n in ("NONE", "RELU", "RELU6", "RELU_N1_TO_1")
                if quant.activation_range(n, out.scale, out.zero_point) == combined
            ),
            None,
        )
        if name is None:
            continue
        old = producer.attrs.get("activation", "NONE")
        producer.attrs.update(activation=name, act_min=combined[0], act_max=combined[1])
        producer.outputs = [out.name]
        graph.tensors.pop(act.inputs[0], None)
        rw.remove([act])
        rw.note("fold activation", [act], producer.name, f"{old} + {act.kind} -> fused {name}")


# --- the pass -------------------------------------------------------------------------------------


def _drop_unused(graph: Graph) -> None:
    used = set(graph.inputs) | set(graph.outputs)
    for op in graph.ops:
        used.update(n for n in op.inputs + op.outputs if n)
    for name in [n for n in graph.tensors if n not in used]:
        del graph.tensors[name]
        graph.source_tensor_index.pop(name, None)


def canonicalize(graph: Graph) -> list[Rewrite]:
    """Rewrite ``graph`` in place into the IR's own ops where that is exact; return what changed.

    Ops that no rule removes stay; the importer then names the first one it cannot import.
    """
    rw = _Rewriter(graph)
    fold_shape_plumbing(rw)
    split_as_slices(rw)
    views_as_reshape(rw)
    tile_upsampling_as_resize(rw)
    merge_resizes(rw)
    space_to_batch_as_dilation(rw)
    fold_activation_into_producer(rw)
    _drop_unused(graph)
    return rw.record

# SPDX-License-Identifier: Apache-2.0
"""The int8 graph IR that every step of patchbench shares.

A Graph is a list of ops in execution (topological) order over named tensors. Activations are NHWC.
Weights keep TFLite's layouts so that import, export, the numpy reference and the C kernels agree:

| op                  | inputs (tensor names)           | weight layout            |
| ------------------- | ------------------------------- | ------------------------ |
| CONV_2D             | input, filter, bias             | filter [Cout, KH, KW, Cin], bias int32 [Cout] |
| DEPTHWISE_CONV_2D   | input, filter, bias             | filter [1, KH, KW, C*m], bias int32 [C*m]     |
| FULLY_CONNECTED     | input, weights, bias (or "")    | weights [Cout, Cin]                           |
| ADD, SUB, MUL, MAXIMUM, MINIMUM | a, b (numpy broadcasting, rank <= 4 in C) |     |
| PRELU               | input, alpha (broadcast to the input) | alpha int8, per-tensor quantized |
| AVERAGE/MAX_POOL_2D | input                           |                          |
| MEAN                | input, axes (int32 const)       |                          |
| PAD                 | input, paddings (int32 const [rank, 2]) |                  |
| PADV2               | input, paddings, constant value (int8 const scalar; absent: zero point) | |
| SLICE               | input, begin, size (int32 consts) |                        |
| STRIDED_SLICE       | input, begin, end, strides (int32 consts) | masks in attrs  |
| SPLIT / SPLIT_V     | axis, input / input, size_splits, axis | several outputs; import makes SLICEs |
| RESHAPE             | input (, shape const)           |                          |
| TRANSPOSE           | input, perm (int32 const)       |                          |
| CONCATENATION       | input 0 .. input k-1            |                          |
| RESIZE_NEAREST_NEIGHBOR, RESIZE_BILINEAR | input, size (int32 const [2]) |       |
| DEPTH_TO_SPACE, SPACE_TO_DEPTH | input                 |                          |
| SOFTMAX, QUANTIZE, DEQUANTIZE | input                 |                          |
| LOGISTIC, TANH, HARD_SWISH, LEAKY_RELU, RELU, RELU6, RELU_N1_TO_1 | input |          |
| TRANSPOSE_CONV      | output shape (int32 const), filter, input, bias (or "") | filter [Cout, KH, KW, Cin] |
| ARG_MAX             | input, axis (int32 const [1])   | output: int32 indices    |
| BATCH_MATMUL        | lhs [..., M, K], rhs [..., K, N] (activation or int8 const) | |

Attributes (``Op.attrs``), by key:

- ``stride``: (sh, sw); ``dilation``: (dh, dw); ``padding``: "SAME" | "VALID"  (convs, pools), or
  "EXPLICIT" with ``pads``: (top, bottom, left, right): a PAD op folded into the window op by the
  scheduler (harness/schedule/fusion.py); such a graph is for running, not for export to .tflite
- ``filter``: (fh, fw)  (pools)
- ``activation``: fused activation name ("NONE", "RELU", "RELU6", "RELU_N1_TO_1"), kept for export;
  ``act_min`` / ``act_max``: the same activation as an int8 clamp in the output's quantization,
  which is what the kernels apply.
- ``depth_multiplier``: int m  (DEPTHWISE_CONV_2D; output channel k reads input channel k // m)
- ``alpha``: float  (LEAKY_RELU)
- ``axis``: int  (CONCATENATION)
- ``keep_dims``: bool  (MEAN, FULLY_CONNECTED)
- ``beta``: float  (SOFTMAX)
- ``align_corners`` / ``half_pixel_centers``: bool  (RESIZE_NEAREST_NEIGHBOR, RESIZE_BILINEAR)
- ``block_size``: int  (DEPTH_TO_SPACE, SPACE_TO_DEPTH)
- ``begin_mask``, ``end_mask``, ``shrink_axis_mask`` (and, refused, ``ellipsis_mask``,
  ``new_axis_mask``, ``offset``): STRIDED_SLICE, TFLite's meaning (see ``harness.ir.slicing``)
- ``num_splits``: int  (SPLIT)
- ``output_type``: the schema's TensorType of the indices, 2 (INT32)  (ARG_MAX)
- ``adj_x`` / ``adj_y``: bool, that operand is stored with its last two axes swapped  (BATCH_MATMUL)

Every kind's definition (inputs, options, patch-stage capability, kernels) is in ``harness.ir.opdefs``.

SPLIT and SPLIT_V are the only ops with several outputs; the importer rewrites each into one SLICE per
output (frontend/canonicalize.py), so the schedule and the code generator never meet them.

A *block* groups consecutive ops (a MobileNetV2 inverted-residual block, say). Zoo builders set
blocks; imported models have none, and then every op is its own layer (see ``Graph.layers``).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from harness.ir.opdefs import OP_DEFS, kinds

# Every kind patchbench takes, in the order of their definitions (harness/ir/opdefs.py).
OP_KINDS = tuple(OP_DEFS)

# Elementwise ops of one int8 input: every output value is a function of the input value alone, so
# the reference and the kernels compute them as a 256-entry table (reference.unary_table).
UNARY_KINDS = kinds(family="unary")
# Ops of two operands that numpy-broadcast against each other (the output has the broadcast shape).
BROADCAST_KINDS = kinds(family="broadcast")
# Ops with several outputs (every other op has one).
MULTI_OUTPUT_KINDS = kinds(several_outputs=True)

DTYPES = ("int8", "int16", "int32", "float32")
# The largest tensor patchbench takes: the C code addresses the arena and weights with 32-bit offsets,
# and a Cortex-M has a few MB at most. Anything bigger is refused before an array is allocated.
MAX_TENSOR_BYTES = 1 << 31
MAX_RANK = 8


class GraphError(ValueError):
    """A graph that breaks the IR's rules; the message names the op or tensor and what to do."""


@dataclass
class QParams:
    """Affine quantization: real = scale * (q - zero_point).

    One scale/zero point for a per-tensor quantized tensor, one per channel along ``axis`` for
    per-channel weights.
    """

    scale: np.ndarray  # float32 [1] or [channels]
    zero_point: np.ndarray  # int64 [1] or [channels]
    axis: int = 0

    @property
    def per_channel(self) -> bool:
        return self.scale.size > 1

    @classmethod
    def per_tensor(cls, scale: float, zero_point: int) -> QParams:
        return cls(np.array([scale], np.float32), np.array([zero_point], np.int64))


@dataclass
class Tensor:
    name: str
    shape: tuple[int, ...]
    dtype: str
    quant: QParams | None = None
    data: np.ndarray | None = None  # set for constants (weights, bias, shape operands)

    @property
    def is_const(self) -> bool:
        return self.data is not None

    @property
    def size(self) -> int:
        return math.prod(int(d) for d in self.shape)  # Python ints: exact, never wraps like int64

    @property
    def nbytes(self) -> int:
        return self.size * np.dtype(self.dtype).itemsize

    @property
    def scale(self) -> float:
        """The per-tensor scale (activations)."""
        return float(self.quant.scale[0])

    @property
    def zero_point(self) -> int:
        return int(self.quant.zero_point[0])


@dataclass
class Op:
    kind: str
    name: str  # a C identifier: codegen names the layer's function after it
    inputs: list[str]  # tensor names; "" marks an absent optional input
    outputs: list[str]
    attrs: dict[str, Any] = field(default_factory=dict)


@dataclass
class Block:
    name: str
    ops: list[str]  # op names, consecutive in Graph.ops


@dataclass
class Graph:
    name: str
    tensors: dict[str, Tensor]
    ops: list[Op]
    inputs: list[str]
    outputs: list[str]
    blocks: list[Block] | None = None
    # Tensor name -> tensor index in the .tflite file the graph was imported from (empty for graphs the
    # zoo builds), so a test can read any intermediate tensor from LiteRT by its index.
    source_tensor_index: dict[str, int] = field(default_factory=dict)
    # The .tflite file itself (None for zoo graphs): what an engine that runs the file (TFLite Micro) loads.
    source_bytes: bytes | None = field(default=None, repr=False, compare=False)

    def tensor(self, name: str) -> Tensor:
        try:
            return self.tensors[name]
        except KeyError:
            raise GraphError(f"graph {self.name!r}: no tensor named {name!r}") from None

    def op(self, name: str) -> Op:
        for op in self.ops:
            if op.name == name:
                return op
        raise GraphError(f"graph {self.name!r}: no op named {name!r}")

    def producer(self, tensor_name: str) -> Op | None:
        for op in self.ops:
            if tensor_name in op.outputs:
                return op
        return None

    def consumers(self, tensor_name: str) -> list[Op]:
        return [op for op in self.ops if tensor_name in op.inputs]

    def activations(self) -> list[Tensor]:
        """Every non-constant tensor: the graph inputs and every op output."""
        return [t for t in self.tensors.values() if not t.is_const]

    @property
    def layers(self) -> list[list[Op]]:
        """The units that the patch-stage depth n counts: blocks where the graph has them, else ops."""
        if self.blocks is None:
            return [[op] for op in self.ops]
        by_name = {op.name: op for op in self.ops}
        return [[by_name[n] for n in block.ops] for block in self.blocks]

    @property
    def layer_names(self) -> list[str]:
        if self.blocks is None:
            return [op.name for op in self.ops]
        return [block.name for block in self.blocks]


def op_macs(graph: Graph, op: Op) -> int:
    """Multiply-accumulates of one op (the paper's count: one per weight use)."""
    out = graph.tensor(op.outputs[0])
    if op.kind == "CONV_2D":
        cout, kh, kw, cin = graph.tensor(op.inputs[1]).shape
        return out.size * kh * kw * cin
    if op.kind == "DEPTHWISE_CONV_2D":
        _, kh, kw, _ = graph.tensor(op.inputs[1]).shape
        return out.size * kh * kw
    if op.kind == "FULLY_CONNECTED":
        cout, cin = graph.tensor(op.inputs[1]).shape
        return (out.size // cout) * cout * cin
    if op.kind == "TRANSPOSE_CONV":
        cout, kh, kw, cin = graph.tensor(op.inputs[1]).shape
        return graph.tensor(op.inputs[2]).size * kh * kw * cout
    return 0


def total_macs(graph: Graph) -> int:
    return sum(op_macs(graph, op) for op in graph.ops)


def param_count(graph: Graph) -> int:
    """Parameters: elements of every weight and bias tensor (shape operands are not parameters)."""
    return sum(graph.tensor(name).size for name in _weight_tensor_names(graph))


def weight_bytes(graph: Graph) -> int:
    """Bytes of weights and biases as stored in flash (int8 weights, int32 biases)."""
    return sum(graph.tensor(name).nbytes for name in _weight_tensor_names(graph))


def content_digest(graph: Graph) -> str:
    """A hash (hex) of everything in the graph that its firmware is made from: every tensor (name, shape,
    type, quantization, data), every op (kind, name, operands, attributes), the inputs, outputs and
    blocks. Two graphs with equal digests generate the same C; a point's identity carries it, so two
    models of the same name are never one point (harness.results.record.PointIdentity.model_hash)."""
    digest = hashlib.sha256()

    def put(value: Any) -> None:
        if isinstance(value, np.ndarray):
            digest.update(f"array {value.dtype.str} {value.shape}:".encode())
            digest.update(np.ascontiguousarray(value).tobytes())
        elif isinstance(value, dict):
            digest.update(f"dict {len(value)}:".encode())
            for key in sorted(value, key=str):
                put(str(key))
                put(value[key])
        elif isinstance(value, list | tuple):
            digest.update(f"seq {len(value)}:".encode())
            for item in value:
                put(item)
        else:
            digest.update(f"{type(value).__name__} {value!r};".encode())

    for tensor in graph.tensors.values():
        quant = tensor.quant
        put([tensor.name, tuple(tensor.shape), tensor.dtype, tensor.data])
        put(None if quant is None else [quant.scale, quant.zero_point, quant.axis])
    for op in graph.ops:
        put([op.kind, op.name, op.inputs, op.outputs, op.attrs])
    put([graph.inputs, graph.outputs, [(b.name, b.ops) for b in graph.blocks or ()]])
    return digest.hexdigest()


def _weight_tensor_names(graph: Graph) -> set[str]:
    names = set()
    for op in graph.ops:
        if op.kind in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
            names.update(n for n in op.inputs[1:3] if n)
        elif op.kind == "TRANSPOSE_CONV":
            names.update(n for n in (op.inputs[1], *op.inputs[3:4]) if n)
        elif op.kind in (*BROADCAST_KINDS, "CONCATENATION"):
            names.update(n for n in op.inputs if n and graph.tensor(n).is_const)
    return names


def check_tensor_size(label: str, shape: tuple[int, ...], dtype: str, where: str) -> None:
    """Refuse a shape with negative dims, too many dims or more than MAX_TENSOR_BYTES, with the numbers."""
    # label names the tensor in the message: "tensor 'x'", "tensor 3 'x'".
    if len(shape) > MAX_RANK:
        raise GraphError(f"{where}: {label} has rank {len(shape)}; at most {MAX_RANK} dims are supported")
    if any(int(d) < 0 for d in shape):
        raise GraphError(f"{where}: {label} has shape {list(shape)}; negative dims are not supported")
    nbytes = math.prod(int(d) for d in shape) * (np.dtype(dtype).itemsize if dtype in DTYPES else 1)
    if nbytes > MAX_TENSOR_BYTES:
        raise GraphError(
            f"{where}: {label} of shape {list(shape)} ({dtype}) needs {nbytes:,} bytes; patchbench "
            f"takes tensors up to {MAX_TENSOR_BYTES:,} bytes (a microcontroller has a few MB at most)"
        )


def validate(graph: Graph) -> None:
    """Check the IR's invariants: at least one op, inputs that are fed (not constants), known ops,
    tensors defined before use, unique op names."""
    if not graph.ops:
        raise GraphError(
            f"graph {graph.name!r} has no operators (inputs {graph.inputs}, outputs {graph.outputs}): there is "
            "nothing to run or measure; export the network itself"
        )
    for name in graph.inputs:
        if name in graph.tensors and graph.tensors[name].is_const:
            raise GraphError(
                f"graph {graph.name!r}: input {name!r} holds constant data ({graph.tensors[name].nbytes} bytes in "
                "its buffer); a graph input is what the firmware is fed at run time: re-export the model with "
                "an empty input tensor (or make the data a constant operand of the op that reads it)"
            )
    defined = set(graph.inputs) | {n for n, t in graph.tensors.items() if t.is_const}
    seen_names = set()
    for index, op in enumerate(graph.ops):
        where = f"graph {graph.name!r}, op {index} ({op.kind} {op.name!r})"
        if op.kind not in OP_KINDS:
            raise GraphError(f"{where}: op kind not supported; supported: {', '.join(OP_KINDS)}")
        if op.name in seen_names:
            raise GraphError(f"{where}: op name used twice")
        seen_names.add(op.name)
        for name in op.inputs:
            if name and name not in defined:
                raise GraphError(f"{where}: input tensor {name!r} is used before any op produces it")
        for name in op.outputs:
            if name not in graph.tensors:
                raise GraphError(f"{where}: output tensor {name!r} is not in the tensor table")
            defined.add(name)
    for name in graph.outputs:
        if name not in defined:
            raise GraphError(f"graph {graph.name!r}: output {name!r} is never produced")
    for tensor in graph.tensors.values():
        check_tensor_size(f"tensor {tensor.name!r}", tensor.shape, tensor.dtype, f"graph {graph.name!r}")
    if graph.blocks is not None:
        listed = [n for block in graph.blocks for n in block.ops]
        if listed != [op.name for op in graph.ops]:
            raise GraphError(f"graph {graph.name!r}: blocks must list every op once, in order")

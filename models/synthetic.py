# SPDX-License-Identifier: Apache-2.0
"""Small random int8 conv stacks for the scheduler's property tests (and anyone else's).

``build_stack`` turns a list of ``LayerSpec`` into a valid, fully quantized ``Graph``: random int8
weights, per-channel weight scales, int32 biases, and per-tensor activation scales with *non-zero*
zero points, so that a patch executor that pads with 0 instead of the input zero point is caught.
Each spec becomes one block (or, with ``blocks=False``, its ops count as separate layers).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from harness.ir import quant
from harness.ir.geometry import conv_out_size
from harness.ir.graph import Block, Graph, Op, QParams, Tensor, validate

LAYER_KINDS = ("conv", "depthwise", "pad", "residual", "mbconv", "avg_pool", "max_pool", "concat", "mul")


@dataclass(frozen=True)
class LayerSpec:
    """One block of a random stack.

    - conv / depthwise: one conv (``kernel``, ``stride``, ``padding``; conv has ``channels`` outputs, the
      depthwise conv ``multiplier`` outputs per input channel)
    - pad: an explicit PAD op with ``pads`` (top, bottom, left, right)
    - residual: conv kxk SAME stride 1 keeping the channels, then ADD with the block input
    - mbconv: 1x1 expand, kxk depthwise (``stride``), 1x1 project; ADD with the input when shapes allow
    - avg_pool / max_pool: a pool with a ``kernel`` x ``kernel`` window
    - concat: a 1x1 conv and a kxk SAME conv of the input, concatenated along channels
    - mul: the input times a 1x1 conv of itself (elementwise MUL)
    """

    kind: str
    kernel: int = 3
    stride: int = 1
    padding: str = "SAME"
    channels: int = 4
    pads: tuple[int, int, int, int] = (1, 1, 1, 1)
    multiplier: int = 1


class StackError(ValueError):
    """A spec that does not fit the feature map it meets (kernel larger than the map, say)."""


class _StackBuilder:
    def __init__(self, name: str, input_shape: tuple[int, int, int, int], seed: int):
        self.rng = np.random.default_rng(seed)
        self.tensors: dict[str, Tensor] = {}
        self.ops: list[Op] = []
        self.blocks: list[Block] = []
        self.name = name
        self.input = self._activation("input", input_shape)

    # tensors
    def _activation(self, name: str, shape) -> str:
        scale = float(np.float32(self.rng.uniform(0.01, 0.05)))
        zero_point = int(self.rng.integers(-40, 41))
        self.tensors[name] = Tensor(
            name, tuple(int(s) for s in shape), "int8", QParams.per_tensor(scale, zero_point)
        )
        return name

    def _const(self, name: str, data: np.ndarray, qparams: QParams | None = None) -> str:
        self.tensors[name] = Tensor(name, tuple(data.shape), str(data.dtype), qparams, data)
        return name

    def shape(self, name: str) -> tuple[int, int, int, int]:
        return self.tensors[name].shape

    def _add_op(self, kind: str, name: str, inputs: list[str], out_shape, attrs: dict) -> str:
        out = self._activation(f"{name}_out", out_shape)
        activation = attrs.get("activation")
        if activation is not None:
            t = self.tensors[out]
            attrs["act_min"], attrs["act_max"] = quant.activation_range(activation, t.scale, t.zero_point)
        self.ops.append(Op(kind, name, inputs, [out], attrs))
        return out

    # ops
    def conv(
        self,
        name: str,
        x: str,
        cout: int,
        kernel: int,
        stride: int,
        padding: str,
        depthwise=False,
        multiplier: int = 1,
    ) -> str:
        _, h, w, cin = self.shape(x)
        if padding == "VALID" and (kernel > h or kernel > w):
            raise StackError(f"{name}: a {kernel}x{kernel} VALID conv does not fit a {h}x{w} map")
        out_h = conv_out_size(h, kernel, stride, 1, padding)
        out_w = conv_out_size(w, kernel, stride, 1, padding)
        cout = cin * multiplier if depthwise else cout
        shape = (1, kernel, kernel, cout) if depthwise else (cout, kernel, kernel, cin)
        weights = self.rng.integers(-127, 128, size=shape).astype(np.int8)
        w_scales = self.rng.uniform(0.5, 1.0, size=cout).astype(np.float32) / 127.0
        fan_in = kernel * kernel * (1 if depthwise else cin)
        in_scale = self.tensors[x].scale
        bias = self.rng.integers(-2000, 2001, size=cout).astype(np.int32)
        axis = 3 if depthwise else 0
        wq = QParams(w_scales, np.zeros(cout, np.int64), axis)
        bq = QParams((in_scale * w_scales).astype(np.float32), np.zeros(cout, np.int64), 0)
        kind = "DEPTHWISE_CONV_2D" if depthwise else "CONV_2D"
        attrs = {
            "stride": (stride, stride),
            "dilation": (1, 1),
            "padding": padding,
            "activation": str(self.rng.choice(["NONE", "RELU", "RELU6"])),
        }
        if depthwise:
            attrs["depth_multiplier"] = multiplier
        out = self._add_op(
            kind,
            name,
            [x, self._const(f"{name}_filter", weights, wq), self._const(f"{name}_bias", bias, bq)],
            (1, out_h, out_w, cout),
            attrs,
        )
        # An output scale that keeps the accumulator inside int8 most of the time.
        t = self.tensors[out]
        t.quant = QParams.per_tensor(
            float(np.float32(in_scale * 40.0 * math.sqrt(fan_in) / 127.0)), t.zero_point
        )
        attrs["act_min"], attrs["act_max"] = quant.activation_range(
            attrs["activation"], t.scale, t.zero_point
        )
        return out

    def pad(self, name: str, x: str, pads) -> str:
        _, h, w, c = self.shape(x)
        top, bottom, left, right = pads
        paddings = np.array([[0, 0], [top, bottom], [left, right], [0, 0]], np.int32)
        out = self._add_op(
            "PAD",
            name,
            [x, self._const(f"{name}_paddings", paddings)],
            (1, h + top + bottom, w + left + right, c),
            {},
        )
        self.tensors[out].quant = self.tensors[x].quant  # PAD keeps the quantization
        return out

    def pool(self, name: str, x: str, kind: str, kernel: int, stride: int, padding: str) -> str:
        _, h, w, c = self.shape(x)
        if padding == "VALID" and (kernel > h or kernel > w):
            raise StackError(f"{name}: a {kernel}x{kernel} VALID pool does not fit a {h}x{w} map")
        out_h = conv_out_size(h, kernel, stride, 1, padding)
        out_w = conv_out_size(w, kernel, stride, 1, padding)
        attrs = {
            "stride": (stride, stride),
            "filter": (kernel, kernel),
            "padding": padding,
            "activation": "NONE",
        }
        out = self._add_op(kind, name, [x], (1, out_h, out_w, c), attrs)
        self.tensors[out].quant = self.tensors[x].quant  # TFLite pools keep the quantization
        attrs["act_min"], attrs["act_max"] = quant.INT8_MIN, quant.INT8_MAX
        return out

    def binary(self, name: str, kind: str, a: str, b: str) -> str:
        attrs = {"activation": "NONE"}
        out = self._add_op(kind, name, [a, b], self.shape(a), attrs)
        return out

    def concat(self, name: str, parts: list[str]) -> str:
        _, h, w, _ = self.shape(parts[0])
        channels = sum(self.shape(p)[3] for p in parts)
        return self._add_op(
            "CONCATENATION", name, parts, (1, h, w, channels), {"axis": 3, "activation": "NONE"}
        )

    def block(self, name: str, first_op: int) -> None:
        self.blocks.append(Block(name, [op.name for op in self.ops[first_op:]]))


def build_stack(
    specs: list[LayerSpec],
    input_shape: tuple[int, int, int, int] = (1, 12, 12, 3),
    seed: int = 0,
    name: str = "stack",
    blocks: bool = True,
) -> Graph:
    """A valid quantized graph of the given blocks; raises StackError if a block does not fit its map."""
    b = _StackBuilder(name, input_shape, seed)
    x = b.input
    for index, spec in enumerate(specs):
        prefix = f"b{index}_{spec.kind}"
        first = len(b.ops)
        k, s = spec.kernel, spec.stride
        if spec.kind == "conv":
            x = b.conv(f"{prefix}_conv", x, spec.channels, k, s, spec.padding)
        elif spec.kind == "depthwise":
            x = b.conv(f"{prefix}_dw", x, 0, k, s, spec.padding, depthwise=True, multiplier=spec.multiplier)
        elif spec.kind == "pad":
            x = b.pad(f"{prefix}_pad", x, spec.pads)
        elif spec.kind == "residual":
            y = b.conv(f"{prefix}_conv", x, b.shape(x)[3], k, 1, "SAME")
            x = b.binary(f"{prefix}_add", "ADD", x, y)
        elif spec.kind == "mbconv":
            cin = b.shape(x)[3]
            e = b.conv(f"{prefix}_expand", x, 2 * cin, 1, 1, "SAME")
            d = b.conv(f"{prefix}_dw", e, 0, k, s, spec.padding, depthwise=True)
            y = b.conv(f"{prefix}_project", d, cin, 1, 1, "SAME")
            x = b.binary(f"{prefix}_add", "ADD", x, y) if b.shape(y) == b.shape(x) else y
        elif spec.kind in ("avg_pool", "max_pool"):
            kind = "AVERAGE_POOL_2D" if spec.kind == "avg_pool" else "MAX_POOL_2D"
            x = b.pool(f"{prefix}_pool", x, kind, k, s, spec.padding)
        elif spec.kind == "concat":
            left = b.conv(f"{prefix}_a", x, spec.channels, 1, 1, "SAME")
            right = b.conv(f"{prefix}_b", x, spec.channels, k, 1, "SAME")
            x = b.concat(f"{prefix}_concat", [left, right])
        elif spec.kind == "mul":
            y = b.conv(f"{prefix}_gate", x, b.shape(x)[3], 1, 1, "SAME")
            x = b.binary(f"{prefix}_mul", "MUL", x, y)
        else:
            raise StackError(f"layer kind {spec.kind!r} unknown; use one of {', '.join(LAYER_KINDS)}")
        b.block(f"block{index}", first)
    graph = Graph(name, b.tensors, b.ops, [b.input], [x], b.blocks if blocks else None)
    validate(graph)
    return graph

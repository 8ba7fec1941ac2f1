# SPDX-License-Identifier: Apache-2.0
"""A zoo network exported the way MCUNet's released .tflite files are made: explicit PAD ops before strided
convolutions.

MCUNet's models come from PyTorch, whose convolutions pad ``kernel // 2`` on every side; its TFLite files
carry that as a ``PAD`` op (symmetric ``kernel // 2``) followed by a ``VALID`` convolution wherever the
stride is above 1 (at stride 1 with an odd kernel SAME already pads symmetrically). TFLite's SAME at
stride 2 on an even input pads 0 before and 1 after instead, so the two are different networks with the
same shapes. TinyEngine's generator reads neither form's padding option and always pads ``kernel // 2``
on every side (folding a PAD before a conv into it): this export is the pattern it handles, and the same
file every engine runs (``<zoo name>-explicit-pad`` in the registry).

The weights and quantization are the zoo network's; a PAD keeps its input's quantization (it pads with
the zero point), so each rewritten conv reads the padded input in the same scale.
"""

from __future__ import annotations

import copy

import numpy as np

from harness.ir.graph import Block, Graph, Op, Tensor, validate
from harness.ir.model_name import EXPLICIT_PAD_SUFFIX

SUFFIX = EXPLICIT_PAD_SUFFIX
PADDED_KINDS = ("CONV_2D", "DEPTHWISE_CONV_2D")


def needs_explicit_pad(graph: Graph, op: Op) -> bool:
    """A SAME conv with a stride above 1 and a kernel above 1: the ones MCUNet's files pad explicitly."""
    if op.kind not in PADDED_KINDS or op.attrs.get("padding") != "SAME":
        return False
    _, kh, kw, _ = graph.tensor(op.inputs[1]).shape
    return max(op.attrs.get("stride", (1, 1))) > 1 and max(kh, kw) > 1


def with_explicit_pads(graph: Graph, name: str | None = None) -> Graph:
    """A copy of ``graph`` in which every strided SAME conv reads a ``PAD`` of ``kernel // 2`` on every side
    and pads ``VALID`` (the output shapes are unchanged for odd kernels; checked)."""
    result = copy.deepcopy(graph)
    result.name = name or f"{graph.name}{SUFFIX}"
    ops: list[Op] = []
    added: dict[str, str] = {}  # conv name -> its PAD's name
    for op in result.ops:
        if not needs_explicit_pad(result, op):
            ops.append(op)
            continue
        source = result.tensor(op.inputs[0])
        _, kh, kw, _ = result.tensor(op.inputs[1]).shape
        if kh % 2 == 0 or kw % 2 == 0:
            raise ValueError(
                f"{graph.name}: {op.name} has an even kernel {kh}x{kw}; PyTorch-style padding needs odd"
            )
        batch, height, width, channels = source.shape
        pad_h, pad_w = kh // 2, kw // 2
        paddings = f"{op.name}_pad_paddings"
        padded = f"{op.name}_pad_out"
        result.tensors[paddings] = Tensor(
            paddings,
            (4, 2),
            "int32",
            data=np.array([[0, 0], [pad_h, pad_h], [pad_w, pad_w], [0, 0]], np.int32),
        )
        result.tensors[padded] = Tensor(
            padded,
            (batch, height + 2 * pad_h, width + 2 * pad_w, channels),
            source.dtype,
            copy.deepcopy(source.quant),
        )
        ops.append(Op("PAD", f"{op.name}_pad", [op.inputs[0], paddings], [padded]))
        added[op.name] = f"{op.name}_pad"
        op.inputs = [padded, *op.inputs[1:]]
        op.attrs = {**op.attrs, "padding": "VALID"}
        ops.append(op)
    result.ops = ops
    if result.blocks is not None:
        result.blocks = [
            Block(block.name, [name for op_name in block.ops for name in ([added[op_name]] if op_name in added else [])
                               + [op_name]])
            for block in result.blocks
        ]  # fmt: skip
    validate(result)
    for op in result.ops:
        if op.name in added:
            before = graph.tensor(graph.op(op.name).outputs[0]).shape
            if result.tensor(op.outputs[0]).shape != before:
                raise ValueError(f"{graph.name}: {op.name}'s output shape changed with an explicit PAD")
    return result


__all__ = ["SUFFIX", "needs_explicit_pad", "with_explicit_pads"]

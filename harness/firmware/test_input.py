# SPDX-License-Identifier: Apache-2.0
"""The benchmark's test input, the Python twin of pb_test_input.c: element ``i`` of an input is a function of
(seed, i) alone, so the device generates it (a whole input before a run, or one tile at a time when the
input is streamed) and the host reproduces it for the reference. No image is compiled into flash: the
flash a point reports is what a deployment would flash.

``bits(seed, i)`` is the 32-bit hash lowbias32 (C. Wellons' xorshift-multiply constants) of
``i + seed * 0x9E3779B9``. An int8 element is the hash's top byte; a float32 element of an input that a
QUANTIZE(scale, zero_point) reads is ``(top byte as int8 - zero_point + next byte / 256) * scale`` in
float32 (the int8 range and a fraction of a step; the sum is exact, the product rounds once, on the
device as here). tests/firmware/test_test_input.py checks the two agree on the device.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.ir.graph import Graph

SEED = 0  # the seed every point's firmware and reference use
C_SOURCE, C_HEADER = "pb_test_input.c", "pb_test_input.h"  # beside this module (harness/firmware)


def bits(seed: int, indices: np.ndarray) -> np.ndarray:
    """pb_test_input_bits(seed, i) for every i of ``indices``, as uint32."""
    x = (np.asarray(indices, dtype=np.uint64) + np.uint64((seed * 0x9E3779B9) & 0xFFFFFFFF)) & 0xFFFFFFFF
    x ^= x >> np.uint64(16)
    x = (x * np.uint64(0x7FEB352D)) & 0xFFFFFFFF
    x ^= x >> np.uint64(15)
    x = (x * np.uint64(0x846CA68B)) & 0xFFFFFFFF
    x ^= x >> np.uint64(16)
    return x.astype(np.uint32)


def int8_input(shape: tuple[int, ...], seed: int = SEED, first: int = 0) -> np.ndarray:
    """The int8 elements first, first + 1, ... of an input of ``shape`` (row-major)."""
    count = int(np.prod(shape, dtype=np.int64))
    top = (bits(seed, np.arange(first, first + count, dtype=np.uint64)) >> np.uint32(24)).astype(np.uint8)
    return top.view(np.int8).reshape(shape)


def float32_input(shape: tuple[int, ...], scale: float, zero_point: int, seed: int = SEED,
                  first: int = 0) -> np.ndarray:  # fmt: skip
    """The float32 elements of an input quantized with (``scale``, ``zero_point``)."""
    count = int(np.prod(shape, dtype=np.int64))
    x = bits(seed, np.arange(first, first + count, dtype=np.uint64))
    step = (x >> np.uint32(24)).astype(np.uint8).view(np.int8).astype(np.int32) - np.int32(zero_point)
    fraction = ((x >> np.uint32(16)) & np.uint32(0xFF)).astype(np.float32) * np.float32(1 / 256)
    return ((step.astype(np.float32) + fraction) * np.float32(scale)).astype(np.float32).reshape(shape)


class TestInputError(ValueError):
    """A graph input the generator cannot fill (not int8, nor float32 read by a QUANTIZE op)."""


@dataclass(frozen=True)
class InputSpec:
    """How the generator fills one graph input: its element type and, for float32, the quantization of
    the QUANTIZE op that reads it. Input ``k`` of a graph uses seed ``seed + k``."""

    name: str
    dtype: str  # "int8" or "float32"
    shape: tuple[int, ...]
    seed: int
    scale: float = 1.0  # float32 only
    zero_point: int = 0  # float32 only

    @property
    def count(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    def values(self, first: int = 0, count: int | None = None) -> np.ndarray:
        """Elements first .. first + count - 1 (default: the whole input, in its shape)."""
        shape = self.shape if count is None else (count,)
        if self.dtype == "int8":
            return int8_input(shape, self.seed, first)
        return float32_input(shape, self.scale, self.zero_point, self.seed, first)


@dataclass(frozen=True)
class SeededInput:
    """The benchmark's test input of a graph: generated on the device from ``seed`` (what a point runs)."""

    seed: int = SEED

    def specs(self, graph: Graph) -> list[InputSpec]:
        return [_spec(graph, name, self.seed + index) for index, name in enumerate(graph.inputs)]

    def arrays(self, graph: Graph) -> dict[str, np.ndarray]:
        """Every input's values, as the device generates them (the reference's input)."""
        return {spec.name: spec.values() for spec in self.specs(graph)}


def _spec(graph: Graph, name: str, seed: int) -> InputSpec:
    tensor = graph.tensor(name)
    shape = tuple(int(d) for d in tensor.shape)
    if tensor.dtype == "int8":
        return InputSpec(name, "int8", shape, seed)
    quantize = next((op for op in graph.consumers(name) if op.kind == "QUANTIZE"), None)
    if tensor.dtype != "float32" or quantize is None:
        raise TestInputError(
            f"graph {graph.name!r}: input {name!r} is {tensor.dtype}; the test input generator fills int8 "
            "inputs, or float32 inputs that a QUANTIZE op reads"
        )
    q = graph.tensor(quantize.outputs[0])
    return InputSpec(name, "float32", shape, seed, float(np.float32(q.scale)), int(q.zero_point))


def sources() -> dict[str, str]:
    """The generator's C (file name -> text), for a build that does not link the board support's copy
    (the host run of generated C)."""
    here = Path(__file__).resolve().parent
    return {name: (here / name).read_text() for name in (C_SOURCE, C_HEADER)}

# SPDX-License-Identifier: Apache-2.0
"""Which op's output differs first: the per-op CRC diagnosis of a point that is not bit-exact.

A diagnosis build of the same graph, engine and kernel set (per layer, the engine's ``generate(...,
op_crcs=True)``; only engines with ``per_op_outputs`` have one) reports the
CRC32 of every op's whole output tensor, as it leaves the op, instead of the model's output. The host
compares them, op by op, with the reference's tensors: the first op whose CRC differs is where the
device's arithmetic leaves the reference's (a CMSIS-NN kernel that is not bit-exact with TFLite's
reference, say). For a per-patch point the per-layer build still names the op when the kernel is wrong
on whole layers; when every op matches per layer, the difference comes from the patch stage's tiles.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

from harness import reference
from harness.boards import Resource, firmware_platform, open_board, run_firmware
from harness.boards.base import Board
from harness.engines import Engine, get_engine
from harness.firmware.build import BuildOptions, DoesNotFit
from harness.firmware.targets import Target, load_target
from harness.firmware.test_input import SeededInput
from harness.ir.graph import Graph, Op
from harness.schedule.plan import make_plan

DIAGNOSIS_TIMEOUT_S = 600.0


@dataclass(frozen=True)
class OpDifference:
    """The first op whose output differs from the reference's, and what ran it."""

    index: int
    op: str
    kind: str
    kernel: str  # the engine's op_kernel: "CMSIS-NN arm_convolve_wrapper_s8", "DSP", "portable"
    device_crc: int
    reference_crc: int

    def describe(self) -> str:
        return (
            f"first op whose output differs: op {self.index} {self.op!r} ({self.kind}, {self.kernel}): per-op "
            f"CRC32 device {self.device_crc:08x}, reference {self.reference_crc:08x}"
        )


@dataclass(frozen=True)
class Diagnosis:
    difference: OpDifference | None  # None: every op's output equals the reference's per layer
    ops: int
    # the CRC32 of the network's (first) output in the per-layer build, when its last CRC is of that output:
    # a patch point's output compares with it (its patch stage, or the per-layer arithmetic?)
    per_layer_output_crc: int | None = None

    def describe(self) -> str:
        if self.difference is not None:
            return self.difference.describe()
        return (
            f"per layer, all {self.ops} ops' outputs equal the reference's (per-op CRCs): the difference comes "
            "from the patch stage's tiles"
        )


def reference_crcs(graph: Graph, x: np.ndarray, ops: list[Op] | None = None) -> list[int]:
    """CRC32 of the output tensor of each of ``ops`` (None: every op, in op order) in the reference."""
    values = reference.run_graph(graph, x)
    return [zlib.crc32(np.ascontiguousarray(values[op.outputs[0]]).tobytes()) for op in ops or graph.ops]


def diagnose(
    graph: Graph,
    target: Target | str,
    kernels: str,
    x: SeededInput | np.ndarray,
    *,
    engine: Engine | None = None,
    board: Board | None = None,
    backend: str = "qemu",
    expected: list[int] | None = None,
    timeout: float = DIAGNOSIS_TIMEOUT_S,
) -> Diagnosis:
    """Build and run the per-op CRC firmware of ``graph`` with ``engine`` (None: the default) and its
    ``kernels`` on ``x`` (a SeededInput: generated on the device; arrays: compiled in); compare with
    ``expected`` (default: the reference's per-op CRCs)."""
    target = load_target(target) if isinstance(target, str) else target
    given = x
    if isinstance(x, SeededInput):
        x = x.arrays(graph)
        x = x[graph.inputs[0]] if len(graph.inputs) == 1 else x
    engine = engine or get_engine()
    generated = engine.generate(
        graph, make_plan(graph, 1, 0), target, given, engine.options(kernels), op_crcs=True
    )
    platform = board.firmware_platform if board is not None else firmware_platform(backend)
    firmware = engine.build(generated, target, BuildOptions(platform=platform, runs=1, warmup=0))
    if isinstance(firmware, DoesNotFit):
        raise RuntimeError(f"the per-op CRC build does not fit: {firmware.reason}")
    if board is not None:
        record = run_firmware(board, firmware, timeout=timeout)
    else:
        with open_board(Resource(target.name, backend)) as opened:
            record = run_firmware(opened, firmware, timeout=timeout)
    device = np.frombuffer(record.output, "<u4").tolist()
    # an engine that folds ops into others (TinyEngine: PADs, RESHAPEs) sends the CRCs of the ops it runs
    ops = graph.ops if generated.crc_ops is None else [graph.op(name) for name in generated.crc_ops]
    expected = expected if expected is not None else reference_crcs(graph, x, ops)
    output_crc = device[-1] if ops and ops[-1].outputs[0] == graph.outputs[0] else None
    for op, got, want in zip(ops, device, expected, strict=True):
        if got != want:
            kernel = engine.op_kernel(graph, op, kernels)
            difference = OpDifference(graph.ops.index(op), op.name, op.kind, kernel, got, want)
            return Diagnosis(difference, len(ops), output_crc)
    return Diagnosis(None, len(ops), output_crc)

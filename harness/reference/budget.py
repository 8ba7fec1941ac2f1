# SPDX-License-Identifier: Apache-2.0
"""How much host memory the reference needs for a graph, checked before it allocates anything.

``run_graph`` keeps every activation, and a convolution builds an int32 im2col matrix of
output pixels x (KH * KW * Cin) plus an int64 accumulator; a model that is far too big for a
microcontroller can still ask the host for tens of gigabytes. ``check_host_memory`` refuses it with the
numbers instead of letting numpy raise MemoryError (or the kernel's OOM killer end the session).
"""

from __future__ import annotations

import math
import os

from harness.ir.graph import Graph, Op
from harness.reference.quantparams import ReferenceError

# The reference may use at most this share of the memory the host has available now.
HOST_MEMORY_SHARE = 0.5
_INT32, _INT64 = 4, 8


def op_working_bytes(graph: Graph, op: Op) -> int:
    """The temporary arrays the reference kernel of ``op`` allocates (beyond its input and output)."""
    out = graph.tensor(op.outputs[0]).size
    if op.kind == "CONV_2D":
        cout, *_ = graph.tensor(op.inputs[1]).shape
        window = graph.tensor(op.inputs[1]).size // max(int(cout), 1)
        return out * window * _INT32 + out * _INT32 * 2 + out * _INT64
    if op.kind == "FULLY_CONNECTED":
        weights = graph.tensor(op.inputs[1]).size
        inputs = graph.tensor(op.inputs[0]).size
        return (weights + inputs) * _INT32 + out * _INT64
    largest_input = max((graph.tensor(name).size for name in op.inputs if name), default=0)
    return (largest_input + out) * _INT64 * 2  # int32/int64 copies of an operand and the result


def host_bytes_needed(graph: Graph) -> int:
    """Every activation (run_graph keeps them all) plus the largest op's temporaries."""
    activations = sum(t.nbytes for t in graph.tensors.values() if not t.is_const)
    return activations + max((op_working_bytes(graph, op) for op in graph.ops), default=0)


def available_host_bytes() -> int | None:
    """Memory the host has available now (Linux), or None where the OS does not say."""
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_host_memory(graph: Graph, available: int | None = None) -> None:
    available = available_host_bytes() if available is None else available
    if available is None:
        return
    needed = host_bytes_needed(graph)
    allowed = math.floor(available * HOST_MEMORY_SHARE)
    if needed > allowed:
        raise ReferenceError(
            f"graph {graph.name!r}: the host reference needs about {needed / 2**20:,.0f} MiB (activations "
            f"and the largest op's im2col), more than {HOST_MEMORY_SHARE:.0%} of the "
            f"{available / 2**20:,.0f} MiB this host has available; use a smaller model (width, resolution)"
        )

# SPDX-License-Identifier: Apache-2.0
"""Points that clearly cannot fit a board, decided from the graph before any C is generated.

Generating and linking a model only to hear that it overflows the board costs seconds for a small model
and gigabytes of C for a big one (one literal per weight byte). Two lower bounds are exact, so a point
over either one is a does-not-fit result without building anything:

- flash: every constant (weights, biases, shape operands) is compiled into flash;
- SRAM: every tensor computed layer by layer (after the patch stage, the stage output, and the image when
  it is counted in SRAM) sits whole in the arena at some step.

A point over a bound by less than ``CLEAR_MARGIN`` times still goes to the linker, which reports the
exact SRAM and flash it needs (README: does-not-fit points carry the linker's numbers); only a point
that could not fit even a board ``CLEAR_MARGIN`` times bigger is decided here.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.firmware.targets import Target
from harness.ir.graph import Graph
from harness.schedule.plan import PatchPlan

KB = 1024
CLEAR_MARGIN = 4  # "clearly": a lower bound above 4x the budget


@dataclass(frozen=True)
class ClearlyTooBig:
    region: str  # "FLASH" | "RAM"
    needed_bytes: int  # the lower bound
    budget_bytes: int
    what: str

    @property
    def reason(self) -> str:
        memory = "flash" if self.region == "FLASH" else "SRAM"
        return (
            f"needs at least {self.needed_bytes / KB:,.1f} kB {memory} ({self.what}), board has "
            f"{self.budget_bytes / KB:,.1f} kB (decided before code generation)"
        )


def flash_lower_bound(graph: Graph) -> int:
    return sum(t.nbytes for t in graph.tensors.values() if t.is_const)


def sram_lower_bound(graph: Graph, plan: PatchPlan, input_mode: str = "counted") -> tuple[int, str]:
    """The largest tensor that must sit whole in SRAM, and which one it is."""
    stage_ops = set(plan.stage_ops)
    whole = [(op.outputs[0], f"output of {op.name}") for op in graph.ops if op.name not in stage_ops]
    if input_mode == "counted" or plan.is_per_layer:
        whole += [(name, "the input image") for name in graph.inputs]
    if not whole:
        return 0, "nothing"
    name, what = max(whole, key=lambda item: graph.tensor(item[0]).nbytes)
    tensor = graph.tensor(name)
    return tensor.nbytes, f"{what} {list(tensor.shape)} alone"


def clearly_too_big(
    graph: Graph, plan: PatchPlan, target: Target, input_mode: str = "counted"
) -> ClearlyTooBig | None:
    flash = flash_lower_bound(graph)
    if flash > CLEAR_MARGIN * target.flash_budget_bytes:
        return ClearlyTooBig("FLASH", flash, target.flash_budget_bytes, "the weights alone")
    sram, what = sram_lower_bound(graph, plan, input_mode)
    if sram > CLEAR_MARGIN * target.sram_budget_bytes:
        return ClearlyTooBig("RAM", sram, target.sram_budget_bytes, what)
    return None

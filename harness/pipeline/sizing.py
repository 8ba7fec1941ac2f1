# SPDX-License-Identifier: Apache-2.0
"""What a point's firmware needs in flash and SRAM, from a sizing build: the real firmware, compiled and
linked, never run.

The weights alone do not say whether a model fits: the kernels, the generated per-op code, the patch
tables and the benchmark loop take flash too (tens of kB; more than the weights for a small model), and
the stack takes SRAM beside the arena. A sizing build links the point's firmware against budgets far
above any board's, so that the linker reports every section's size even when the real board is too
small; the verdict then compares those sizes with the board's budgets.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from harness.engines import Engine, get_engine
from harness.firmware.build import BuildOptions, DoesNotFit
from harness.firmware.targets import Target
from harness.firmware.test_input import SeededInput
from harness.ir.graph import Graph, weight_bytes
from harness.schedule.plan import make_plan

# The sizing build's budgets: no board is this big, so the link never overflows.
SIZING_BUDGET_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class FirmwareSize:
    """The sections of a built firmware, as the board would hold them."""

    flash_bytes: int  # .text + .rodata + .data: code and weights (the test input is generated, not stored)
    weights_bytes: int  # weights and biases (harness.ir.graph.weight_bytes; part of flash_bytes)
    sram_bytes: int  # .data + .bss (the arena included) + the planned stack: what the linker places in SRAM

    @property
    def code_bytes(self) -> int:
        """Flash beside the weights: code, patch tables, other constants (shape operands, lookup tables),
        the benchmark loop and the test input's generator."""
        return self.flash_bytes - self.weights_bytes

    def fits(self, target: Target) -> bool:
        return self.flash_bytes <= target.flash_budget_bytes and self.sram_bytes <= target.sram_budget_bytes


def firmware_size(
    graph: Graph, target: Target, p: int, n: int, options=None, *, engine: Engine | None = None
) -> FirmwareSize:
    """The flash and SRAM of the (``p``, ``n``) point's firmware on ``target`` built by ``engine`` (None:
    the default) with its ``options`` (None: its defaults) (a sizing build, cached like any build; raises
    CodegenError, EngineError or BuildError when it cannot be generated or compiled)."""
    engine = engine or get_engine()
    options = options if options is not None else engine.options()
    generated = engine.generate(graph, make_plan(graph, p, n), target, SeededInput(), options)
    roomy = replace(target, sram_budget_bytes=SIZING_BUDGET_BYTES, flash_budget_bytes=SIZING_BUDGET_BYTES)
    built = engine.build(generated, roomy, BuildOptions(runs=1, warmup=0, stack_bytes=None))  # stack planned
    if isinstance(built, DoesNotFit):  # cannot happen below SIZING_BUDGET_BYTES; said plainly if it does
        raise RuntimeError(
            f"the sizing build of {graph.name} overflowed {SIZING_BUDGET_BYTES} bytes: {built.reason}"
        )
    sizes = built.sizes
    return FirmwareSize(
        flash_bytes=sizes.flash_bytes,
        weights_bytes=weight_bytes(graph),
        sram_bytes=sizes.static_ram_bytes + sizes.stack_reserved,
    )

# SPDX-License-Identifier: Apache-2.0
"""One point through the pipeline's stages on the emulated STM32F746, as the fusion tests run it."""

from __future__ import annotations

from harness.codegen import CodegenOptions
from harness.pipeline.measure import (
    PlannedPoint,
    PointResult,
    build_point,
    new_result,
    note_build,
    plan_point,
    run_point,
)


def run_on_f746(graph, p: int, n: int, options: CodegenOptions) -> tuple[PlannedPoint, PointResult]:
    """(the planned point, its result): planned, built (the build must succeed) and run once."""
    result = new_result(graph, "stm32f746", p, n, options=options)
    planned = plan_point(result, graph, "stm32f746", repeat=1, warmup=0, options=options)
    built = build_point(planned)
    assert note_build(result, built), result.summary()
    return planned, run_point(planned, built)

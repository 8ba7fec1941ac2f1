# SPDX-License-Identifier: Apache-2.0
"""A PAD folded into the depthwise conv after it, on the emulator: bit-exact with the reference with
patchbench's portable and optimized kernels, and the measured peak SRAM goes down where the padded
copy was the peak (per layer) and in the patch stage. Same graph as test_fusion_pad.pad_peak_graph."""

from __future__ import annotations

from dataclasses import replace

import pytest
from device_point import run_on_f746
from machine import needs
from test_fusion_pad import pad_peak_graph

from harness.engines import get_engine

pytestmark = [pytest.mark.emulator, needs("arm-none-eabi-gcc", "qemu-system-arm")]


def _run(p: int, n: int, kernels: str, input_mode: str, fold: bool):
    options = get_engine().options(kernels, input_mode=input_mode)
    options = replace(options, inplace=replace(options.inplace, fold_pads=fold))
    planned, result = run_on_f746(pad_peak_graph(), p, n, options)
    assert bool(planned.generated.codegen.folds) == fold
    return result


@pytest.mark.parametrize(
    "p, n, input_mode, kernels",
    [(1, 0, "counted", "portable"), (1, 0, "counted", "optimized"), (2, 4, "streamed", "optimized")],
)
def test_a_folded_pad_is_exact_on_the_device_and_lowers_the_measured_peak(p, n, input_mode, kernels):
    before = _run(p, n, kernels, input_mode, fold=False)
    after = _run(p, n, kernels, input_mode, fold=True)
    for result in (before, after):
        assert result.status == "passed" and result.exact, result.summary()
        assert result.sram_measured <= result.sram_planned, result.summary()
    assert before.identity != after.identity  # folding off is part of the point's identity
    assert after.sram_planned < before.sram_planned and after.sram_measured < before.sram_measured, (
        before.summary(),
        after.summary(),
    )
    print(
        f"pad_peak p={p} n={n} {input_mode} {kernels}: planned {before.sram_planned} -> {after.sram_planned}, "
        f"measured {before.sram_measured} -> {after.sram_measured} bytes; "
        f"instructions {before.latency} -> {after.latency}"
    )

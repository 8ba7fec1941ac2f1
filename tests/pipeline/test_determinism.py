# SPDX-License-Identifier: Apache-2.0
"""Two identical sweeps on the emulator give identical figures: instructions (total and per timed unit),
measured SRAM, flash and the output CRC. Each sweep builds its firmware from scratch (its own build
folder), so the build is checked as well as the run. This is what lets the nightly compare treat any
difference on the emulator as a regression (regression.toml: any_change)."""

from __future__ import annotations

import pytest
from machine import needs

from harness.paths import REPO_ROOT
from harness.pipeline.measure import measure
from harness.pipeline.sweep import load_sweep

pytestmark = [pytest.mark.emulator, needs("arm-none-eabi-gcc", "qemu-system-arm")]

FIGURES = ("latency", "latency_unit", "layer_latency", "sram_measured", "flash_bytes", "output_crc",
           "stack_bytes", "firmware_hash")  # fmt: skip


def test_two_identical_sweeps_give_identical_figures(tmp_path):
    points = load_sweep(REPO_ROOT / "sweeps" / "smoke.toml").points()[:2]  # per-layer and one patch grid
    sweeps = []
    for number in (1, 2):
        results = [
            measure(
                pt.model,
                pt.target,
                pt.p,
                pt.n,
                kernels=pt.kernels,
                repeat=1,
                build_root=tmp_path / str(number),
            )
            for pt in points
        ]
        assert all(r.status == "passed" for r in results), [r.summary() for r in results]
        sweeps.append([{name: getattr(r, name) for name in FIGURES} for r in results])
    first, second = sweeps
    assert first == second
    assert first[0]["latency_unit"] == "instructions" and first[0]["latency"] != first[1]["latency"]

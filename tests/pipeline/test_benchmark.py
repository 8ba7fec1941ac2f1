# SPDX-License-Identifier: Apache-2.0
"""The benchmark tests: one test per (target, model, p, n, kernel set) point of the sweep.

Each point generates the firmware (fixture ``plan``), builds it (``firmware``: once per point), runs it
on the session's board for the target (``device_run``: a farm board, Renode or QEMU), checks the
device's outputs against the host reference bit for bit and stores the result (``record``). Every byte
is planned: a passed point's measured peak SRAM is at most its plan (arena + reserved stack), and the
plan at most 10 % above it (DESIGN.md, "Every byte the firmware uses is planned"). A point
that does not fit the board is skipped with the linker's numbers, and stored; a point that cannot be
planned or built is an error in setup, and stored.
Select points with -k, e.g. ``-k "stm32f746 and vww_96_int8 and p4"``; options: see ``pytest --help``.
"""

import pytest

pytestmark = pytest.mark.board


def test_inference(point, board, device_run, record):
    """The plugin's stage fixtures did the work (plan, firmware, device_run); this stores and judges."""
    record(device_run)
    if device_run.status == "inexact":  # a peer engine's output differs: a finding about it, stored, reported
        pytest.xfail(f"{point.test_id}: engine {point.engine} is not bit-exact: {device_run.reason}")
    assert device_run.status == "passed", (
        f"{point.test_id} on {board.choice.explanation}: {device_run.reason}"
    )
    assert device_run.exact and device_run.output == device_run.expected
    measured, planned = device_run.sram_measured, device_run.sram_planned
    assert measured <= planned <= 1.10 * measured, (
        f"{point.test_id}: measured {measured} B, planned {planned} B (arena {device_run.arena_bytes} + "
        f"stack {device_run.stack_reserved}): {'an unplanned buffer' if measured > planned else 'a loose plan'}"
    )

"""The benchmark tests: one test per (target, model, p, n, kernel set) point of the sweep.

Each point generates the firmware, builds it, runs it on the session's board for the target (a farm
board, Renode or QEMU), checks the device's output against the host reference bit for bit and stores
the result row. A point that does not fit the board is skipped with the linker's numbers, and stored.
Select points with -k, e.g. ``-k "stm32f746 and vww_96_int8 and p4"``; options: see ``pytest --help``.
"""

import pytest

from harness.pipeline.measure import measure

pytestmark = pytest.mark.hil


def test_inference(point, board, repeat, record, run_id):
    result = measure(
        point.model,
        point.target,
        point.p,
        point.n,
        kernels=point.kernels,
        repeat=repeat,
        board=board.board,
    )
    record(result.as_record(run_id))
    if result.status == "does_not_fit":
        pytest.skip(f"does not fit: {result.reason}")
    assert result.status == "passed", f"{point.test_id} on {board.choice.explanation}: {result.reason}"
    assert result.exact and result.output == result.expected

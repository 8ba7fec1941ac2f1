"""The paper's Figure 6: the table from stored rows (harness/report/figure6.py), its report section, the
``figure6`` command, and sweeps/figure6.toml against the schedule search.

The full reproduction (five networks on emulated STM32F746) is the named sweep, not part of the default
suite; ``test_figure6_command_end_to_end`` runs the command on one small network and checks the printed
table against the database row by row.
"""

from __future__ import annotations

import re

import pytest

from harness.report.figure6 import COLUMNS, figure6_rows, summary_line
from harness.report.page import write_report
from harness.results.db import ResultsDB
from harness.results.record import PointIdentity, PointRecord

KB = 1024


def row(p: int, n: int, input_mode: str = "streamed", status: str = "passed", **values) -> dict:
    """A stored row of mbv2 on the emulated F746 as the report reads it (flat values)."""
    identity = PointIdentity("stm32f746", "qemu", "mbv2-w0.35-r144-head448", p, n, input_mode=input_mode)
    figures = {
        "exact": True,
        "latency": 1_000.0,
        "latency_unit": "instructions",
        "macs": 100,
        "mac_overhead": 0.0,
    }
    if status != "passed":
        figures = {"exact": False} if status == "failed" else {}
    record = PointRecord(identity=identity, run_id="r1", status=status, **{**figures, **values})
    return record.to_flat()


def test_per_layer_beside_the_streamed_2x2_or_3x3_point_with_least_measured_sram():
    records = [
        row(1, 0, "counted", sram_measured=300 * KB),
        row(2, 3, sram_measured=90 * KB, mac_overhead=0.01, latency=1_020.0),
        row(3, 5, sram_measured=60 * KB, mac_overhead=0.147, latency=1_250.0),
        row(3, 5, "counted", sram_measured=50 * KB),  # input in SRAM: not the figure's
        row(4, 5, sram_measured=40 * KB),  # 4x4: not the figure's
    ]
    (figure,) = figure6_rows(records)
    assert (figure.per_patch["p"], figure.per_patch["n"]) == (3, 5)
    assert figure.reduction == pytest.approx(5.0) and figure.meets_target
    assert figure.cells()[: len(COLUMNS) - 1] == (
        "mbv2-w0.35-r144-head448", "stm32f746/qemu", "300.0 kB", "p=3 n=5", "60.0 kB", "5.00x",
        "+14.7%", "+25.0%", "yes",
    )  # fmt: skip
    assert summary_line([figure]) == "reduction >= 4x (bit-exact) on 1 of 1: mbv2-w0.35-r144-head448"


def test_a_point_that_is_not_bit_exact_is_shown_and_not_counted():
    records = [
        row(1, 0, "counted", sram_measured=300 * KB),
        row(3, 5, status="failed", sram_measured=50 * KB),
    ]
    (figure,) = figure6_rows(records)
    assert figure.cells()[8] == "yes / NO" and figure.reduction == pytest.approx(6.0)
    assert not figure.meets_target
    assert summary_line([figure]).startswith("reduction >= 4x (bit-exact) on 0 of 1")


def test_no_measured_patch_point_says_what_happened():
    records = [
        row(1, 0, "counted", sram_measured=300 * KB),
        row(3, 5, status="does_not_fit", sram_needed=400 * KB),
    ]
    (figure,) = figure6_rows(records)
    assert figure.per_patch is None and figure.reduction is None
    assert figure.cells()[3] == "none measured (p=3 n=5 does_not_fit)"
    assert figure6_rows(records[1:]) == []  # no per-layer row: nothing to set beside


def test_the_report_and_the_command_show_the_stored_table(tmp_path, capsys):
    from harness import cli

    db_path = tmp_path / "results.sqlite"
    records = [row(1, 0, "counted", sram_measured=300 * KB), row(3, 5, sram_measured=60 * KB)]
    with ResultsDB(db_path) as db:
        db.start_run("r1", None, "host", {})
        for record in records:
            db.add(PointRecord.from_flat(record))
        db.finish_run("r1")
    page = write_report(db_path, "r1", tmp_path / "report").read_text()
    section = page[page.index('<section id="figure6">') :]
    section = section[: section.index("</section>")]
    cells = [re.sub(r"<[^>]+>", "", cell) for cell in re.findall(r"<td>(.*?)</td>", section)]
    assert cells == list(figure6_rows(records)[0].cells())
    assert "reduction &gt;= 4x (bit-exact) on 1 of 1" in section
    assert cli.main(["figure6", "--results", str(db_path), "--run", "r1", "--no-why"]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed_rows(printed) == [list(figure6_rows(records)[0].cells()[:-1])]
    assert "reduction >= 4x (bit-exact) on 1 of 1: mbv2-w0.35-r144-head448" in printed


def printed_rows(lines: list[str]) -> list[list[str]]:
    """The cells of the command's table (columns are two or more spaces apart; the header first)."""
    header = next(i for i, line in enumerate(lines) if line.startswith("model "))
    rows = []
    for line in lines[header + 2 :]:
        if not line.strip() or line.startswith("reduction >="):
            break
        rows.append(re.split(r"\s{2,}", line.strip()))
    return rows


def test_a_sweep_gives_a_model_its_own_patches(tmp_path):
    from harness.pipeline.sweep import SweepError, load_sweep

    path = tmp_path / "sweep.toml"
    base = '[sweep]\ntargets = ["stm32f746"]\nmodels = ["vww_96_int8", "mcunet-in1"]\npatches = [1, 3]\n'
    path.write_text(base + 'depths = [5]\n[models."mcunet-in1"]\npatches = [1, 2]\ndepths = [4]\n')
    assert [(p.model, p.p, p.n) for p in load_sweep(path).points()] == [
        ("vww_96_int8", 1, 0), ("vww_96_int8", 3, 5), ("mcunet-in1", 1, 0), ("mcunet-in1", 2, 4),
    ]  # fmt: skip
    path.write_text(base.replace("[1, 3]", "[1]") + '[models."mcunet-in1"]\npatches = [2]\n')
    with pytest.raises(SweepError, match=r"patches > 1 need depths .*mcunet-in1"):
        load_sweep(path)


def test_the_arena_high_water_names_the_buffers_alive_at_its_top():
    from harness.schedule.arena import ArenaBuffer, ArenaPlan

    buffers = (
        ArenaBuffer("a", "activation", 0, 100, 0, 1),
        ArenaBuffer("b", "activation", 112, 50, 1, 2),
        ArenaBuffer("c", "activation", 0, 60, 2, 3),
        ArenaBuffer("scratch:y", "scratch", 176, 8, 2, 2),
    )
    plan = ArenaPlan("g", 1, 0, "counted", "best", 16, ("x", "y", "z", "w"), buffers, 192)
    step, alive = plan.high_water()
    assert (step, [b.name for b in alive]) == (2, ["c", "b", "scratch:y"])

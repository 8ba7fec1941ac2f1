# SPDX-License-Identifier: Apache-2.0
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


def row(
    p: int, n: int, input_mode: str = "streamed", status: str = "passed", segments: str = "", **values
) -> dict:
    """A stored row of mbv2 on the emulated F746 as the report reads it (flat values); ``segments``: a
    schedule beyond one patch stage (p = n = 0)."""
    identity = PointIdentity(
        "stm32f746", "qemu", "mbv2-w0.35-r144-head448", p, n, input_mode=input_mode, segments=segments
    )
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


def test_schedules_beyond_one_patch_stage_are_candidates_named_by_their_label():
    rows_label, patched_rows, four = "rows n=3 + rows n=5", "p=2 n=3 + rows n=4", "p=4 n=3 + rows n=4"
    records = [
        row(1, 0, "counted", sram_measured=300 * KB),
        row(3, 5, sram_measured=90 * KB),
        row(0, 0, segments=rows_label, sram_measured=60 * KB),
        row(0, 0, "counted", segments=rows_label, sram_measured=50 * KB),  # input in SRAM: not the figure's
        row(0, 0, segments=four, sram_measured=40 * KB),  # a 4x4 patch stage: not the figure's
    ]
    (figure,) = figure6_rows(records)
    assert figure.per_patch["segments"] == rows_label and figure.cells()[3] == rows_label
    assert figure.reduction == pytest.approx(5.0) and figure.meets_target
    (figure,) = figure6_rows([*records, row(0, 0, segments=patched_rows, sram_measured=55 * KB)])
    assert figure.cells()[3] == patched_rows
    (figure,) = figure6_rows([records[0], row(0, 0, segments=rows_label, status="does_not_fit")])
    assert figure.cells()[3] == f"none measured ({rows_label} does_not_fit)"


def test_each_kernel_set_is_its_own_row_named_beside_the_board():
    records = [row(1, 0, "counted", sram_measured=300 * KB), row(3, 5, sram_measured=60 * KB)]
    figures = figure6_rows(records + [{**r, "kernels": "portable"} for r in records])
    assert [f.where for f in figures] == ["stm32f746/qemu", "stm32f746/qemu portable"]
    assert [f.per_patch["kernels"] for f in figures] == ["optimized", "portable"]


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
    table = section[section.index("<table") :]
    cells = [re.sub(r"<[^>]+>", "", cell) for cell in re.findall(r"<td>(.*?)</td>", table)]
    assert cells == list(figure6_rows(records)[0].cells())
    assert "reduction &gt;= 4x (bit-exact) on 1 of 1" in section
    assert section.count("<svg") == 1  # the bar chart of the one board
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


def test_the_figure6_sweep_measures_the_search_choice_on_networks_scaled_to_fit():
    """sweeps/figure6.toml: each model's patch point is the search's smallest arena over p in {2, 3}
    (input streamed), and its schedule beyond one patch stage plans smaller; per-layer inference fits the
    F746 (planned arena + stack) and, for the zoo's scaled networks, the next resolution up (r + 16) does
    not: r is the largest that fits. mcunet-in3's schedule plans as small as the segment search's smallest."""
    import models
    from harness.cli.figure6 import figure6_sweep
    from harness.engines import get_engine
    from harness.firmware.build import BuildOptions
    from harness.firmware.targets import load_target
    from harness.pipeline.sweep import load_sweep
    from harness.schedule.arena import plan_arena
    from harness.schedule.plan import make_plan
    from harness.schedule.search import search

    sweep = load_sweep(figure6_sweep())
    target = load_target("stm32f746")
    stack = BuildOptions().stack_bytes

    def per_layer_planned(name: str) -> int:
        graph = models.get_model(name)
        return plan_arena(graph, make_plan(graph, 1, 0), "counted").arena_bytes + stack

    assert sweep.targets == ["stm32f746"] and sweep.input_modes == ["streamed"]
    points = sweep.points()
    # mcunet-in3's schedule of segments plans as small as the segment search's smallest (within 1 %: paths
    # of equal cost may trade places as kernels' scratch changes)
    engine, in3 = get_engine(), models.get_model("mcunet-in3")
    options = {"input_mode": "streamed", "scratch": engine.scratch(engine.default_kernels)}
    smallest = search(in3, target.sram_budget_bytes, patches=(1, 2, 3), method="segments", **options).smallest
    (mine,) = [p.segments for p in points if p.model == "mcunet-in3" and p.segments]
    (planned,) = search(in3, target.sram_budget_bytes, points=[mine], **options).candidates
    assert planned.sram_bytes <= smallest.sram_bytes * 1.01 and planned.macs == smallest.macs
    for name in sweep.models:
        graph = models.get_model(name)
        chosen = search(graph, target.sram_budget_bytes, patches=(2, 3), input_mode="streamed").smallest
        mine = [(p.p, p.n, p.input_mode) for p in points if p.model == name and not p.segments]
        assert mine == [(1, 0, "counted"), (chosen.p, chosen.n, "streamed")], name
        # beyond the paper: one schedule of segments, streamed, planned smaller than the patch point
        (beyond,) = [p for p in points if p.model == name and p.segments]
        assert beyond.input_mode == "streamed"
        planned = search(graph, target.sram_budget_bytes, input_mode="streamed", points=[beyond.segments])
        assert planned.candidates[0].sram_bytes < chosen.sram_bytes, name
        assert per_layer_planned(name) <= target.sram_budget_bytes, name
        if not name.startswith("mcunet-"):
            resolution = int(re.search(r"-r(\d+)", name)[1])
            bigger = name.replace(f"-r{resolution}", f"-r{resolution + 16}")
            assert per_layer_planned(bigger) > target.sram_budget_bytes, bigger


@pytest.mark.emulator
def test_figure6_command_end_to_end(tmp_path):
    """The command on one small network: the sweep runs on QEMU, the rows land in the database, the
    printed table is the database's, and the run's report draws it."""
    import os
    import subprocess
    import sys

    from harness.paths import REPO_ROOT
    from harness.report.figure6 import stored_rows

    sweep = tmp_path / "figure6-small.toml"
    sweep.write_text(
        '[sweep]\ntargets = ["stm32f746"]\nmodels = ["mbv2-w0.35-r48-head64"]\npatches = [1, 3]\n'
        'depths = [3]\ninput_modes = ["streamed"]\nrepeat = 1\n'
    )
    results, report = tmp_path / "results.sqlite", tmp_path / "report"
    env = {k: v for k, v in os.environ.items() if k != "PATCHBENCH_RUN_ID"}
    done = subprocess.run(
        [sys.executable, "-m", "harness", "figure6", "--sweep", str(sweep), "--results", str(results),
         "--report", str(report), "-j", "0"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    printed = done.stdout.splitlines()
    with ResultsDB(results) as db:
        (run_id,) = db.run_ids()
        rows = stored_rows(db, run_id)
    assert [r.per_patch["p"] for r in rows] == [3] and rows[0].exact
    assert printed_rows(printed) == [list(r.cells()[:-1]) for r in rows]
    assert any(line.startswith("  mbv2-w0.35-r48-head64 p=3 n=3: arena ") for line in printed)
    assert any(line.startswith("  mbv2-w0.35-r48-head64 per-layer: arena ") for line in printed)
    page = (report / f"run-{run_id}.html").read_text()
    assert '<section id="figure6">' in page and rows[0].cells()[4] in page


def test_the_figure6_command_gives_bench_every_option_bench_reads():
    """figure6 runs ``bench`` with a namespace of its own: it must carry every option of bench's parser
    (a new bench option broke it once: 'Namespace' object has no attribute 'schedules')."""
    import argparse

    from harness.cli.figure6 import _bench_args
    from harness.cli.registry import COMMANDS

    bench = argparse.ArgumentParser()
    for argument in COMMANDS["bench"].arguments:
        bench.add_argument(*argument.flags, **argument.options)
    wanted = {action.dest for action in bench._actions if action.dest != "help"}
    given = argparse.Namespace(sweep=None, models=None, results=None, report=None, jobs="0")
    assert wanted <= set(vars(_bench_args(given)))

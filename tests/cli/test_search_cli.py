# SPDX-License-Identifier: Apache-2.0
"""The ``search`` command: fewest MACs within a budget, smallest SRAM under a MAC cap, the Pareto set."""

from __future__ import annotations

import re

import pytest
from machine import needs

import models
from harness.cli import main
from harness.engines import get_engine
from harness.firmware.targets import load_target
from harness.results.db import ResultsDB
from harness.schedule.search import search

MODEL = "mcunet-in0"
# a schedule: per-layer, p=4 n=5, rows n=3 + per-layer n=1 + rows n=9 (no token of it is a bare number)
ROW = re.compile(r"^  (\S.*?)\s+([\d.]+)\s+([\d.]+)\s+[\d.]+\s+([\d.]+)\s+[+-][\d.]+%(?:\s+(yes|no))?$")


def searched(input_mode: str, points=None, rows: bool = False):
    """The search the command runs: the target's budgets, the default engine's kernel scratch (``points``:
    these schedules, as the command plans the ranked ones in the other input mode)."""
    target, engine = load_target("stm32f412"), get_engine()
    return search(
        models.get_model(MODEL),
        target.sram_budget_bytes,
        target.flash_budget_bytes,
        input_mode=input_mode,
        scratch=engine.scratch(engine.default_kernels),
        method="segments",
        rows=rows,
        points=points,
    )


@pytest.fixture(scope="module")
def result():
    return searched("streamed")


def sections(out: str) -> dict[str, list[tuple[str, float, float, str | None]]]:
    """Each section's table rows: (schedule, SRAM kB, MACs M, fits)."""
    found: dict[str, list] = {}
    current = None
    for line in out.splitlines():
        if line and not line.startswith(" "):
            current = line.split(":")[0]
            found[current] = []
        elif match := ROW.match(line):
            found[current].append((match[1], float(match[2]), float(match[4]), match[5]))
    return found


def test_every_objective_prints_what_the_search_found(capsys, result):
    assert main(["search", MODEL, "--target", "stm32f412", "--no-rows"]) == 0
    out = sections(capsys.readouterr().out)
    assert out["fewest MACs within the budget"] == [
        (
            result.best.label(),
            round(result.best.sram_bytes / 1024, 1),
            round(result.best.macs / 1e6, 2),
            "yes",
        )
    ]
    smallest = result.smallest_within()
    assert [row[0] for row in out["smallest SRAM (no MAC cap)"]] == [smallest.label()]
    front = out["Pareto set of (SRAM, MACs)"]
    assert [row[0] for row in front] == [c.label() for c in result.pareto] and len(front) >= 2
    # A Pareto set by SRAM: SRAM rises and MACs fall down the table; its first row is the smallest.
    assert [r[1] for r in front] == sorted(r[1] for r in front)
    assert [r[2] for r in front] == sorted((r[2] for r in front), reverse=True)
    assert front[0][0] == smallest.label() and front[-1][0] == result.best.label()


def test_a_mac_cap_trades_sram_for_fewer_macs(capsys, result):
    per_layer = next(c for c in result.candidates if c.p == 1)
    smallest = result.smallest_within()
    assert main(["search", MODEL, "--objective", "smallest-sram", "--max-overhead", "5%", "--no-rows"]) == 0
    out = capsys.readouterr().out
    capped = result.smallest_within(int(per_layer.macs * 1.05))
    assert f"smallest SRAM (at most {per_layer.macs * 1.05 / 1e6:,.2f}M MACs): {capped.label()} needs" in out
    assert capped.macs <= per_layer.macs * 1.05 < smallest.macs and capped.sram_bytes >= smallest.sram_bytes
    assert (
        main(["search", MODEL, "--objective", "smallest-sram", "--max-macs", "1k", "--no-rows"]) == 1
    )  # a result
    assert (
        "smallest SRAM (at most 1,000 MACs): no schedule is that cheap; the cheapest needs"
        in capsys.readouterr().out
    )


def test_a_budget_nothing_fits_is_a_result_with_the_shortfall(capsys):
    assert main(["search", MODEL, "--objective", "fewest-macs", "--sram-budget", "4kB"]) == 1
    assert "no schedule fits 4.0 kB" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--max-macs", "30M", "--max-overhead", "5%"], "--max-macs or --max-overhead, not both"),
        (["--max-macs", "lots"], "MAC count 'lots' not understood"),
        (["--max-overhead", "x%"], "MAC overhead 'x%' not understood"),
        (["--objective", "fewest-macs"], "fewest-macs needs a budget: give --sram-budget or --target"),
        (["--target", "stm32f999"], "stm32f999"),
        (["--strips", "1"], "--strips '1' not understood"),
    ],
)
def test_bad_search_options_are_one_clear_line(capsys, argv, message):
    assert main(["search", MODEL, *argv]) == 2
    assert message in capsys.readouterr().err


def test_the_input_mode_is_stated_streamed_first_and_counted_beside(capsys, result):
    counted = {c.label(): c for c in searched("counted", [c.schedule for c in result.candidates]).candidates}
    assert main(["search", MODEL, "--target", "stm32f412", "--objective", "pareto", "--no-rows"]) == 0
    out = capsys.readouterr().out
    head, _, table = out.partition("\n\n")
    assert "input streamed (read tile by tile, as the paper measures" in head and "counted beside" in head
    assert table.splitlines()[1].split()[1:3] == ["streamed", "kB"]
    rows = [ROW.match(line) for line in table.splitlines()[2:]]
    assert len(rows) == len(result.pareto) >= 2
    for row, candidate in zip(rows, result.pareto, strict=True):
        assert row[1] == candidate.label()
        assert float(row[2]) == round(candidate.sram_bytes / 1024, 1)  # ranked: streamed
        assert float(row[3]) == round(counted[candidate.label()].sram_bytes / 1024, 1)  # beside: counted
    # a patch point streams the image: it needs less than with the image counted; per-layer reads it whole
    patched = [row for row in rows if row[1] != "per-layer"]
    assert patched and all(float(row[2]) <= float(row[3]) for row in patched)
    assert any(float(row[2]) < float(row[3]) for row in patched)
    assert (
        main(["search", MODEL, "--target", "stm32f412", "--objective", "pareto", "--input", "counted"]) == 0
    )
    out = capsys.readouterr().out
    assert "input counted (the whole image in SRAM), streamed beside" in out


def test_max_sram_is_the_sram_cap_of_the_fewest_macs_objective(capsys, result):
    cap = result.pareto[1].sram_bytes  # the second smallest of the Pareto set: it fits exactly
    assert main(["search", MODEL, "--objective", "fewest-macs", "--max-sram", str(cap), "--no-rows"]) == 0
    out = sections(capsys.readouterr().out)["fewest MACs within the budget"]
    assert out == [
        (result.pareto[1].label(), round(cap / 1024, 1), round(result.pareto[1].macs / 1e6, 2), "yes")
    ]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--run"], "--run measures on a board: give --target"),
        (["--run", "--target", "stm32f412", "--objective", "pareto"], "--run measures the chosen point"),
    ],
)
def test_run_without_a_board_or_a_chosen_point_is_one_clear_line(capsys, argv, message):
    assert main(["search", MODEL, *argv]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.emulator
@needs("arm-none-eabi-gcc", "qemu-system-arm")
def test_run_measures_the_chosen_point_and_stores_it(capsys, tmp_path):
    """The least SRAM within +10 % MACs (row-streamed segments), measured on QEMU: its line as
    harness.pipeline prints it, bit-exact, stored as a run of its own in the database given; --beside
    measures MCUNetV2's (p, n) point of equal or larger SRAM in the same run, recomputation and all."""
    model, target, db_path = "vww_96_int8", "stm32f746", tmp_path / "results.sqlite"
    argv = [
        "search",
        model,
        "--target",
        target,
        "--max-overhead",
        "10%",
        "--objective",
        "smallest-sram",
    ]
    assert main([*argv, "--run", "--beside", "--results", str(db_path)]) == 0
    out = capsys.readouterr().out
    chosen = re.search(r"smallest SRAM \(at most [\d.,]+M MACs\): (\S.*?) needs ([\d.]+) kB", out)
    assert chosen, out
    assert f"{target}/qemu {model} {chosen[1]} streamed: passed" in out
    measured = re.search(r"SRAM measured ([\d.]+) kB, planned ([\d.]+) kB \(arena ([\d.]+)", out)
    assert measured and re.search(r"latency [\d,]+ instructions", out)
    assert float(measured[3]) == float(chosen[2])  # the arena searched is the arena the firmware got
    assert float(measured[1]) <= float(measured[2])
    assert "bit-exact with the host reference: yes" in out
    with ResultsDB(db_path) as db:
        (run_id,) = db.run_ids()
        assert db.run_finished(run_id) and f"stored as run {run_id}" in out
        record, theirs = db.records(run_id)
    assert record.identity.schedule == chosen[1] and record.identity.input_mode == "streamed"
    beside = re.search(r"MCUNetV2's \(p, n\) point of equal or larger SRAM: (p=\d n=\d+), ([\d.]+) kB", out)
    assert theirs.identity.schedule == beside[1] and theirs.status == "passed" and theirs.exact
    assert float(beside[2]) >= float(chosen[2]) and theirs.macs > record.macs
    assert (
        f"{chosen[1]}: {record.latency:,.0f} instructions, {record.sram_measured / 1024:,.1f} kB SRAM measured; "
        f"MCUNetV2's {beside[1]}: {theirs.latency:,.0f} ({theirs.latency / record.latency:.2f}x the chosen's), "
        f"{theirs.sram_measured / 1024:,.1f} kB"
    ) in out
    assert record.status == "passed" and record.exact and record.mac_overhead <= 0.10
    assert "rows n=" in chosen[1] and record.identity.segments == chosen[1]


def test_a_row_streamed_choice_is_set_beside_mcunetv2s_point_of_equal_or_larger_sram(capsys):
    """At per-layer MACs the search picks row-streamed segments; the command names the (p, n) point that
    needs the least SRAM of those needing as much or more, and its MACs against the chosen one's."""
    assert main(["search", MODEL, "--objective", "smallest-sram", "--max-overhead", "0%"]) == 0
    out = capsys.readouterr().out
    result = searched("streamed", rows=True)
    chosen = result.smallest_within(next(c for c in result.candidates if c.p == 1).macs)
    assert not chosen.is_one_stage and "rows n=" in chosen.label()
    every = search(models.get_model(MODEL), 1 << 40, input_mode="streamed", scratch=_scratch())
    larger = [c for c in every.candidates if c.p > 1 and c.sram_bytes >= chosen.sram_bytes]
    best = min(larger, key=lambda c: (c.sram_bytes, c.macs))
    assert f"beside {chosen.label()} ({chosen.sram_bytes / 1024:,.1f} kB, +0.0% MACs):" in out
    assert (
        f"MCUNetV2's (p, n) point of equal or larger SRAM: {best.label()}, {best.sram_bytes / 1024:,.1f} kB, "
        f"{best.plan.mac_overhead:+.1%} MACs ({best.macs / chosen.macs:.2f}x the chosen schedule's MACs)"
    ) in out
    assert best.macs > chosen.macs  # one patch stage pays with recomputation


def _scratch():
    engine = get_engine()
    return engine.scratch(engine.default_kernels)


def test_patches_none_searches_per_layer_and_row_streamed_segments_only(capsys):
    assert main(["search", MODEL, "--objective", "pareto", "--patches", "none", "--input", "counted"]) == 0
    rows = [ROW.match(line) for line in capsys.readouterr().out.splitlines()]
    labels = [row[1] for row in rows if row]
    assert labels and all(label == "per-layer" or label.startswith("rows n=") for label in labels)
    assert main(["search", MODEL, "--patches", "1,9"]) == 2
    assert "--patches '1,9' not understood" in capsys.readouterr().err

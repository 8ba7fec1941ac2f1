# SPDX-License-Identifier: Apache-2.0
"""The ``search`` command: fewest MACs within a budget, smallest SRAM under a MAC cap, the Pareto set."""

from __future__ import annotations

import re

import pytest

import models
from harness.cli import main
from harness.firmware.targets import load_target
from harness.schedule.search import search

MODEL = "mcunet-in0"
ROW = re.compile(
    r"^  (per-layer|p=\d n=\d+)\s+([\d.]+)\s+[\d.]+\s+[\d.]+\s+([\d.]+)\s+[+-][\d.]+%(?:\s+(yes|no))?$"
)


@pytest.fixture(scope="module")
def result():
    target = load_target("stm32f412")
    return search(
        models.get_model(MODEL), target.sram_budget_bytes, target.flash_budget_bytes, input_mode="streamed"
    )


def sections(out: str) -> dict[str, list[tuple[str, float, float, str | None]]]:
    """Each section's table rows: (schedule, SRAM kB, MACs M, fits)."""
    found: dict[str, list] = {}
    current = None
    for line in out.splitlines():
        if line and not line.startswith(" "):
            current = line.split(":")[0]
            found[current] = []
        elif match := ROW.match(line):
            found[current].append((match[1], float(match[2]), float(match[3]), match[4]))
    return found


def test_every_objective_prints_what_the_search_found(capsys, result):
    assert main(["search", MODEL, "--target", "stm32f412"]) == 0
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
    assert main(["search", MODEL, "--objective", "smallest-sram", "--max-overhead", "5%"]) == 0
    out = capsys.readouterr().out
    capped = result.smallest_within(int(per_layer.macs * 1.05))
    assert f"smallest SRAM (at most {per_layer.macs * 1.05 / 1e6:,.2f}M MACs): {capped.label()} needs" in out
    assert capped.macs <= per_layer.macs * 1.05 < smallest.macs and capped.sram_bytes >= smallest.sram_bytes
    assert main(["search", MODEL, "--objective", "smallest-sram", "--max-macs", "1k"]) == 1  # a result
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
    ],
)
def test_bad_search_options_are_one_clear_line(capsys, argv, message):
    assert main(["search", MODEL, *argv]) == 2
    assert message in capsys.readouterr().err

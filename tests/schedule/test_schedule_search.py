# SPDX-License-Identifier: Apache-2.0
"""Schedule search: fitting schedules ranked by MACs, the shortfall when nothing fits; and the SVG plot."""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree

import numpy as np
import pytest

import models
from harness.ir.graph import weight_bytes
from harness.pipeline.analysis import point_analysis
from harness.report.plots import memory_profile_svg
from harness.schedule.plan import ScheduleError, make_plan
from harness.schedule.search import NoScheduleFits, auto, parse_size, search, valid_depths


@pytest.fixture(scope="module")
def graph():
    return models.get_model("mcunet-in1")


@pytest.fixture(scope="module")
def generous(graph):
    return search(graph, parse_size("10MB"))


def test_candidates_cover_every_valid_point(graph, generous):
    points = {(c.p, c.n) for c in generous.candidates}
    expected = {(1, 0)} | {(p, n) for p in (2, 3, 4) for n in valid_depths(graph, p)}
    assert points == expected
    assert {label for label, _ in generous.rejected}.isdisjoint(c.label() for c in generous.candidates)
    assert all(reason for _, reason in generous.rejected)


def test_a_generous_budget_picks_per_layer(generous):
    # Nothing recomputes less than per-layer inference.
    assert generous.best.p == 1 and generous.best.macs == generous.best.plan.macs_per_layer
    assert generous.shortfall == 0 and "fits" in generous.summary()


def test_ranking_fitting_by_macs(graph, generous):
    per_layer = generous.candidates[0].sram_bytes
    budget = (per_layer + generous.smallest.sram_bytes) // 2
    result = search(graph, budget)
    assert result == generous.rebudget(budget)  # re-ranking without replanning agrees
    best = result.best
    assert best is not None and best.p > 1 and best.sram_bytes <= budget
    fitting = result.fitting
    assert all(c.sram_bytes <= budget for c in fitting)
    assert [c.macs for c in fitting] == sorted(c.macs for c in fitting)
    assert all(c.sram_bytes > budget for c in result.candidates if not c.fits)
    assert auto(graph, budget).plan == best.plan


def test_nothing_fits_reports_the_smallest_need_and_the_miss(graph, generous):
    smallest = generous.smallest
    budget = smallest.sram_bytes - 1000
    result = generous.rebudget(budget)
    assert result.best is None and result.fitting == ()
    assert result.smallest.sram_bytes == smallest.sram_bytes
    assert result.shortfall == 1000
    assert "misses by 1.0 kB" in result.summary() and smallest.label() in result.summary()
    with pytest.raises(NoScheduleFits) as error:
        auto(graph, budget)
    assert error.value.result.shortfall == 1000


def test_flash_budget(graph, generous):
    flash = weight_bytes(graph)
    assert generous.rebudget(parse_size("10MB"), flash_budget=flash).best is not None
    result = generous.rebudget(parse_size("10MB"), flash_budget=flash - 1)
    assert result.best is None and not result.flash_fits and "flash" in result.summary()


def test_analytic_measure_and_input_modes():
    graph = models.get_model("mcunet-in0")
    counted = search(graph, parse_size("10MB"), memory="analytic", input_mode="counted")
    streamed = search(graph, parse_size("10MB"), memory="analytic", input_mode="streamed")
    by_point = {(c.p, c.n): c for c in streamed.candidates}
    for c in counted.candidates:
        assert c.sram_bytes == c.analytic_bytes >= by_point[(c.p, c.n)].sram_bytes
    with pytest.raises(ScheduleError, match="memory measure"):
        search(graph, 1000, memory="guess")


@pytest.mark.parametrize(
    ("text", "size"),
    [("256kB", 262144), ("256 KiB", 262144), ("1MB", 1048576), ("1000", 1000), ("0.5k", 512)],
)
def test_parse_size(text, size):
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "kB", "12 parsecs", "-5kB", "0"])
def test_parse_size_rejects(text):
    with pytest.raises(ScheduleError, match="size"):
        parse_size(text)


def test_memory_profile_svg(graph):
    plan = make_plan(graph, 4, 5)
    svg = memory_profile_svg(point_analysis(graph, plan), sram_budget=parse_size("256kB"))
    assert svg.startswith("<svg") and svg.rstrip().endswith("</svg>")
    root = ElementTree.fromstring(svg)  # well-formed, inline-able
    assert root.tag.endswith("svg")
    text = "".join(root.itertext())
    assert "SRAM budget 256 kB" in text and "input counted" in text
    assert all(name in text for name in graph.layer_names)
    per_layer = memory_profile_svg(point_analysis(graph, make_plan(graph, 1, 0)), input_mode="streamed")
    assert "budget" not in "".join(ElementTree.fromstring(per_layer).itertext())


def test_a_schedule_is_named_one_way_everywhere(graph, generous):
    """The search, the generated firmware, the stored results and the report name a (p, n) alike."""
    from harness.codegen.generate import generate_model
    from harness.ir.schedule_name import schedule_label
    from harness.report import cells
    from harness.results.record import PointIdentity

    assert (schedule_label(1, 0), schedule_label(4, 5)) == ("per-layer", "p=4 n=5")
    for candidate in generous.candidates[:3]:
        assert candidate.label() == schedule_label(candidate.p, candidate.n)
        identity = PointIdentity("stm32f746", "qemu", graph.name, candidate.p, candidate.n)
        assert identity.schedule == candidate.label()
    row = {"p": 4, "n": 5, "input_mode": "streamed"}
    assert cells.point_name(row) == "p=4 n=5 streamed"
    assert cells.schedule_title({**row, "p": 1, "n": 0}) == "per-layer"
    tiny = models.get_model("resnet8-r32")
    image = np.zeros(tiny.tensor(tiny.inputs[0]).shape, np.int8)
    assert (
        generate_model(tiny, make_plan(tiny, 2, 1), "stm32f746", image).schedule
        == "per-patch p=2 n=1 input=counted"
    )
    assert generate_model(tiny, make_plan(tiny, 1, 1), "stm32f746", image).schedule == "per-layer"


def test_search_objectives_smallest_under_a_mac_cap_and_the_pareto_set(generous):
    per_layer = next(c for c in generous.candidates if c.p == 1)
    assert generous.smallest_within() == generous.smallest
    # with no MAC overhead allowed only per-layer inference qualifies
    assert generous.smallest_within(per_layer.macs) == per_layer
    capped = generous.smallest_within(int(per_layer.macs * 1.10))
    assert capped.macs <= per_layer.macs * 1.10 and capped.sram_bytes < per_layer.sram_bytes
    assert all(
        c.sram_bytes >= capped.sram_bytes for c in generous.candidates if c.macs <= per_layer.macs * 1.10
    )
    assert generous.smallest_within(1) is None
    front = generous.pareto
    assert front[0] == generous.smallest and front[-1].macs == per_layer.macs
    for a, b in zip(front, front[1:], strict=False):
        assert a.sram_bytes <= b.sram_bytes and a.macs > b.macs
    for c in generous.candidates:  # every schedule is dominated by (or is) a point of the set
        assert any(f.sram_bytes <= c.sram_bytes and f.macs <= c.macs for f in front)

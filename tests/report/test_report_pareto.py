# SPDX-License-Identifier: Apache-2.0
"""The report sets input counted beside streamed, draws the measured Pareto set of (SRAM, latency) per
model and board, names the fastest and the smallest point that fit side by side, and draws what a point
that does not fit needs."""

from __future__ import annotations

import re

import pytest
from test_report import F746, KB, ResultRow, group, metric_cells, parse, passed_row

from harness.report.page import write_report
from harness.results.db import ResultsDB

RUN = "20261123-010000-pareto"
MODEL = "vww_96_int8"
# (p, n, input mode) -> (latency in instructions, analytic peak SRAM counted, arena bytes)
PASSED = {
    (1, 0, "counted"): (14_382_115, 55_296, 55_296),
    (2, 5, "counted"): (14_702_390, 61_080, 61_080),
    (2, 5, "streamed"): (14_802_390, 61_080, 36_864),
    (4, 5, "streamed"): (15_310_644, 50_136, 30_000),
    (3, 5, "streamed"): (15_400_000, 50_136, 41_000),  # dominated: more SRAM and slower than p=2 streamed
}


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    root = tmp_path_factory.mktemp("pareto")
    db_path = root / "results.sqlite"
    with ResultsDB(db_path) as db:
        db.start_run(RUN, "abc", "ci", {})
        for (p, n, mode), (latency, counted, arena) in PASSED.items():
            db.add(passed_row(RUN, F746, MODEL, p, n, latency=latency, sram_analytic_counted=counted,
                              sram_analytic_streamed=36_864, arena_bytes=arena, flash_bytes=412_876,
                              input_mode=mode, macs=7_500_000 + p))  # fmt: skip
        db.add(ResultRow(run_id=RUN, target="stm32f746", backend="qemu", model=MODEL, p=4, n=5, status="does_not_fit",
                         reason="stm32f746: needs 401.0 kB SRAM, board has 320.0 kB", sram_planned=400_000,
                         sram_needed=410_624, sram_budget=F746["sram_budget"], flash_budget=F746["flash_budget"]))  # fmt: skip
        db.add(ResultRow(run_id=RUN, target="stm32f746", backend="qemu", model=MODEL, p=3, n=5, status="does_not_fit",
                         reason="stm32f746: needs 1,855.5 kB flash, board has 1,024.0 kB", sram_planned=60_000,
                         flash_needed=1_900_000, sram_budget=F746["sram_budget"], flash_budget=F746["flash_budget"]))  # fmt: skip
        db.finish_run(RUN)
        rows = db.results(RUN).to_dict("records")
    text = write_report(db_path, RUN, root / "out").read_text()
    return {"html": text, "tree": parse(text), "rows": rows}


def figures(page: dict) -> dict[str, str]:
    """Figure caption -> its SVG."""
    return {
        title: re.search(r"<svg\b.*?</svg>", page["html"].split(f">{title}</figcaption>", 1)[1], re.S)[0]
        for title in re.findall(r"<figcaption>([^<]+)</figcaption>", page["html"])
    }


def test_input_counted_and_streamed_side_by_side_in_one_table(page):
    section = group(page["tree"], "stm32f746", MODEL)  # one section for both modes
    header = {th.attrs["data-point"]: th.text for th in section.find("th") if "data-point" in th.attrs}
    assert list(header) == [
        "p1-n0",
        "p2-n5",
        "p2-n5-streamed",
        "p3-n5",
        "p3-n5-streamed",
        "p4-n5",
        "p4-n5-streamed",
    ]
    assert "input streamed" in header["p2-n5-streamed"] and "streamed" not in header["p2-n5"]
    measured = {r["p"] * 10 + (r["input_mode"] == "streamed"): r["sram_measured"] for r in page["rows"]}
    reduction = metric_cells(section, "sram_reduction")  # streamed points against the per-layer one too
    assert reduction["p2-n5-streamed"].text == f"{measured[10] / measured[21]:.2f}x"
    assert metric_cells(section, "status")["p4-n5"].text == "does not fit"


def test_summary_names_the_fastest_and_the_smallest_point_that_fit(page):
    (row,) = page["tree"].find("tr", data_anchor=group(page["tree"], "stm32f746", MODEL).attrs["id"])
    fastest, smallest = (
        row.find("td", **{"class": "fastest"})[0].text,
        row.find("td", **{"class": "smallest"})[0].text,
    )
    assert fastest.startswith("per-layer: 14,382,115 instructions")
    p4 = next(r for r in page["rows"] if r["p"] == 4 and r["status"] == "passed")
    assert smallest.startswith(
        f"per-patch p=4 n=5, input streamed: {p4['sram_measured'] / KB:,.1f} kB SRAM measured"
    )
    assert f"({15_310_644 / 14_382_115 - 1:+.1%} latency vs the fastest)" in smallest


def test_a_pareto_chart_of_measured_sram_against_instructions(page):
    charts = figures(page)
    svg = charts["Pareto set: peak SRAM measured vs latency (instructions)"]
    # The caption counts the set: p=3 streamed is beaten by p=2 streamed on both axes, p=2 counted by
    # per-layer; the set is p=4 streamed, p=2 streamed, per-layer.
    caption = page["html"].split("Pareto set: peak SRAM measured vs latency (instructions)</figcaption>", 1)[
        1
    ]
    assert "the Pareto set (3 of 5:" in caption.split("</figure>")[0]
    # matplotlib writes each text as a comment: the axis says instructions, never cycles or time.
    assert "<!-- latency (instructions) -->" in svg and "<!-- peak SRAM measured (kB) -->" in svg
    assert "cycles" not in svg and not re.search(r"\bms\b", svg)
    assert "<!-- p=3 n=5 streamed -->" in svg and "<!-- SRAM budget 320 kB" in svg


def test_a_point_that_does_not_fit_draws_what_it_needs(page):
    sram = figures(page)["Peak SRAM over the (p, n) grid"]
    assert "<!-- needed, does not fit (linker) -->" in sram  # its legend entry: the bar was drawn
    assert "<pattern" in sram  # hatched
    assert "<!-- p=4 n=5 -->" in sram and "<!-- p=4 n=5 streamed -->" in sram
    flash = figures(page)["Flash over the (p, n) grid"]  # the point over the flash budget draws its need
    assert "<!-- needed, does not fit (linker) -->" in flash and "<pattern" in flash
    assert "<!-- flash budget 1,024 kB -->" in flash


def test_without_a_point_that_does_not_fit_nothing_is_hatched(tmp_path):
    db_path = tmp_path / "r.sqlite"
    with ResultsDB(db_path) as db:
        db.start_run("fits", "abc", "ci", {})
        db.add(
            passed_row("fits", F746, MODEL, 1, 0, latency=1_000, sram_analytic_counted=55_296, flash_bytes=1)
        )
    text = write_report(db_path, "fits", tmp_path / "out").read_text()
    sram = figures({"html": text})["Peak SRAM over the (p, n) grid"]
    assert "needed, does not fit" not in sram and "<pattern" not in sram


def mac_chart_of(tmp_path, model: str) -> tuple[str, str]:
    """The SVG and caption of the SRAM-against-MACs chart of five points of ``model``: per layer, three
    (p, n) points, and row-streamed segments (p = n = 0, named by ``segments``)."""
    db_path = tmp_path / f"{model}.sqlite"
    points = {  # (p, n, input mode) -> (arena bytes, MAC overhead)
        (1, 0, "counted"): (240_000, 0.0),
        (2, 3, "streamed"): (100_000, 0.012),
        (4, 5, "streamed"): (60_000, 0.26),
        (3, 5, "streamed"): (90_000, 0.30),  # beaten by p=4 on both
        (0, 0, "streamed"): (70_000, 0.0),  # rows n=3 + rows n=5: beats per layer and p=2 n=3 on both
    }
    with ResultsDB(db_path) as db:
        db.start_run("macs", "abc", "ci", {})
        for (p, n, mode), (arena, overhead) in points.items():
            db.add(passed_row("macs", F746 | {"sram_budget": 512 * KB}, model, p, n, latency=1_000_000 + p,
                              sram_analytic_counted=arena, arena_bytes=arena, flash_bytes=1, input_mode=mode,
                              mac_overhead=overhead, segments="rows n=3 + rows n=5" if p == 0 else ""))  # fmt: skip
    html = write_report(db_path, "macs", tmp_path / f"out-{model}").read_text()
    svg = figures({"html": html})["Pareto set: peak SRAM measured vs MACs"]
    caption = html.split("Pareto set: peak SRAM measured vs MACs</figcaption>", 1)[1].split("</figure>")[0]
    return svg, caption


def test_a_chart_of_measured_sram_against_macs_with_the_published_marks(tmp_path):
    """mbv2-w0.35-r144 has msf-CNN's published points: they stand beside the measured ones as stars,
    labelled published with their accounting; the measured (SRAM, MACs) Pareto set is joined."""
    svg, caption = mac_chart_of(tmp_path, "mbv2-w0.35-r144")
    assert "the Pareto set (2 of 5:" in caption
    assert "<!-- + rows n=5 streamed -->" in svg and "<!-- row-streamed / several segments -->" in svg
    assert (
        "msf-CNN (Huang &amp; Baccelli, NeurIPS 2025)&#39;s published points for mbv2-w0.35-r144" in caption
    )
    assert "leave out the network&#39;s input and final output" in caption
    assert "<!-- MACs above per-layer (%) -->" in svg and "<!-- p=3 n=5 streamed -->" in svg
    for mark in ("published 83.1 kB, +1.9%", "published 25.8 kB, +25.0%", "published 8.6 kB, +68.0%"):
        assert f"<!-- {mark} -->" in svg
    assert "without input and final output" in svg
    assert "<!-- per layer -->" in svg and "<!-- MCUNetV2 (p, n) patches, input streamed -->" in svg


def test_a_model_without_published_marks_has_none(tmp_path):
    svg, caption = mac_chart_of(tmp_path, "mcunet-in1")
    assert "published" not in svg and "published" not in caption and "<!-- p=4 n=5 streamed -->" in svg


def test_a_long_schedule_name_is_wrapped_so_the_bar_charts_still_lay_out():
    import warnings

    from harness.report.charts import Series, grouped_bars_svg, wrap_schedule

    long = "rows n=3 + rows n=1 + rows n=1 + rows n=1 + rows n=2 + rows n=4 + rows n=3 + rows n=3 streamed"
    wrapped = wrap_schedule(long)
    assert wrapped.replace("\n", " ") == long and max(map(len, wrapped.splitlines())) <= 24
    assert wrap_schedule("p=2 n=5 streamed") == "p=2 n=5 streamed"
    labels = ["per-layer", long, "p=4 n=7 streamed", long.replace("n=3 streamed", "n=2 streamed")]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # matplotlib warns when tight_layout cannot fit the tick labels
        svg = grouped_bars_svg("SRAM", labels, [Series("measured", [200.0, 90.0, 120.0, 95.0])], "kB")
    assert "<!-- + rows n=3 streamed -->" in svg

# SPDX-License-Identifier: Apache-2.0
"""The report's "Engines side by side": per model and board, every engine and kernel set beside the
reference row (the default engine's default kernel set, per layer), each figure's ratio to it, and the
figure TinyEngine's README published for the column the point stands beside, with the published ratio;
a measured ratio more than 25 % from the published one is marked."""

from __future__ import annotations

import pytest
from test_report import F746, ResultRow, parse, passed_row

from harness.report.engines import engine_comparisons
from harness.report.page import write_report
from harness.results.db import ResultsDB
from harness.results.published import published

H743 = {**F746, "target": "stm32h743", "board_id": "qemu:mps2-an500"}


def _rows(run_id: str) -> list:
    common = dict(sram_analytic_counted=90_000, macs=1_000_000)
    return [
        passed_row(run_id, H743, "mcunet-in1", 1, 0, latency=20_000_000, flash_bytes=760_000,
                   published_as="tinyengine", **common),
        passed_row(run_id, H743, "mcunet-in1", 4, 5, latency=26_000_000, flash_bytes=770_000, input_mode="streamed",
                   published_as="tinyengine", sram_analytic_counted=35_000, macs=1_800_000),
        passed_row(run_id, H743, "mcunet-in1", 1, 0, latency=60_000_000, flash_bytes=950_000, engine="toy",
                   kernels="plain", planner="toy", inplace="off", published_as="cmsis-nn", **common),
        ResultRow(run_id=run_id, target="stm32h743", backend="qemu", model="mcunet-in1", p=4, n=5, engine="toy",
                  kernels="plain", planner="toy", inplace="off", input_mode="streamed", status="unsupported",
                  reason="not supported by engine toy: the toy engine runs per layer only",
                  sram_budget=H743["sram_budget"], flash_budget=H743["flash_budget"]),
    ]  # fmt: skip


def test_the_engines_are_set_beside_the_reference_with_the_published_ratios():
    (comparison,) = engine_comparisons([row.to_flat() for row in _rows("run")])
    reference, toy, patched, unsupported = comparison.rows  # per layer first, then patch points
    assert reference.reference and (reference.engine, reference.schedule) == ("patchbench", "per-layer")
    assert toy.latency.ratio == pytest.approx(3.0) and toy.flash.ratio == pytest.approx(950 / 760)
    assert toy.per_mac == pytest.approx(60.0)
    ours, theirs = published("mcunet-in1", "tinyengine"), published("mcunet-in1", "cmsis-nn")
    assert toy.latency.published == theirs.latency_ms
    assert toy.latency.published_ratio == pytest.approx(theirs.latency_ms / ours.latency_ms)
    # measured 3.0x against the published 103 / 56 = 1.84x: more than 25 % apart, marked
    assert toy.latency.flagged and (toy, "latency", toy.latency) in comparison.flagged
    assert patched.schedule == "p=4 n=5 streamed" and patched.latency.ratio == pytest.approx(1.3)
    assert patched.latency.published is None and not patched.latency.flagged  # the table is per layer
    assert unsupported.status == "unsupported" and unsupported.latency.value is None
    assert comparison.units and toy.layer_latency and not patched.layer_latency


def test_one_engine_only_is_no_comparison():
    rows = [row.to_flat() for row in _rows("run") if row.identity.engine == "patchbench"]
    assert engine_comparisons(rows) == []


def test_the_report_draws_the_engines_section(tmp_path):
    db_path = tmp_path / "r.sqlite"
    with ResultsDB(db_path) as db:
        db.start_run("run", "abc", "host", {})
        for row in _rows("run"):
            db.add(row)
    tree = parse(write_report(db_path, "run", tmp_path / "out").read_text())
    (section,) = tree.find("section", id="engines")
    rows = section.find("tr", data_engine="toy")
    assert len(rows) == 2 and "≠" in rows[0].text and "not supported by engine toy" in rows[1].text
    assert "3.00x" in rows[0].text

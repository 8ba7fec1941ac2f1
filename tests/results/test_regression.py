# SPDX-License-Identifier: Apache-2.0
"""Regression verdicts: a run against a baseline, through the API and through `python -m harness compare`."""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
import pytest
from machine import require_tools
from test_report import add_run

from harness.cli import main
from harness.results.db import ResultsDB
from harness.results.regression import (
    PREVIOUS,
    RegressionConfig,
    RegressionError,
    Thresholds,
    compare_frames,
    compare_run,
    format_comparison,
    load_thresholds,
)

BASE = "20261121-010000-base00"
VWW = ("stm32f746", "qemu", "vww_96_int8")


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    path = tmp_path / "results.sqlite"
    with ResultsDB(path) as db:
        add_run(db, BASE, tmp_path / "logs")
    time.sleep(0.002)  # runs are ordered by start time
    return path


def rerun(db_path: Path, run_id: str, changes: dict[tuple[str, int, int], dict] | None = None) -> str:
    """Store a copy of the base run as ``run_id``, with ``changes`` per (target, p, n) point."""
    with ResultsDB(db_path) as db:
        records = db.results(BASE).assign(run_id=run_id).to_dict("records")
        for (target, p, n), values in (changes or {}).items():
            (record,) = [r for r in records if (r["target"], r["p"], r["n"]) == (target, p, n)]
            record.update(values)
        db.start_run(run_id, "abc", "host", {})
        db.add_frame(pd.DataFrame(records))
        db.finish_run(run_id)
    return run_id


def verdicts(comparison) -> set[tuple[str, int, int, str, str]]:
    return {
        (c.key.target, c.key.p, c.key.n, c.metric, c.verdict)
        for c in comparison.changes
        if c.verdict != "note"
    }


def test_unchanged_rerun_passes(db_path, capsys):
    rerun(db_path, "same")
    comparison = compare_run(db_path, "same", BASE)
    assert comparison.ok and comparison.regressions == [] and comparison.improvements == []
    assert comparison.compared == 6
    assert main(["compare", "--results", str(db_path), "--run", "same", "--baseline", BASE]) == 0
    out = capsys.readouterr().out
    assert "OK: 6 points compared, no regression" in out
    assert "stm32f746/qemu vww_96_int8 per-layer" in out


def test_slower_beyond_the_instruction_threshold_is_caught(db_path, capsys):
    # 14,382,115 instructions per-layer; +0.5 % is the threshold for instruction counts.
    rerun(db_path, "slower", {("stm32f746", 1, 0): {"latency": 14_382_115 * 1.006}})
    comparison = compare_run(db_path, "slower", BASE)
    assert verdicts(comparison) == {("stm32f746", 1, 0, "latency", "regression")}
    (change,) = comparison.regressions
    assert change.delta_pct == pytest.approx(0.6)
    assert main(["compare", "--results", str(db_path), "--run", "slower", "--baseline", BASE]) == 1
    out = capsys.readouterr().out
    assert "REGRESSION: 1 regression(s)" in out
    assert "+0.60 %" in out and "slower: latency 14,382,115 -> 14,468,408 instructions" in out


def test_on_the_emulator_any_difference_is_a_regression(db_path):
    """QEMU's figures are deterministic (tests/pipeline/test_determinism.py): one instruction more or less, a byte
    of SRAM or flash, another output CRC: each fails the nightly compare, faster ones included."""
    rerun(db_path, "wiggle", {("stm32f746", 1, 0): {"latency": 14_382_115 + 1},
                              ("stm32f746", 2, 5): {"latency": 14_702_390 * 0.97},
                              ("stm32f746", 4, 5): {"sram_measured": 54_828 + 1, "output_crc": "0x0badc0de"}})  # fmt: skip
    comparison = compare_run(db_path, "wiggle", BASE)
    assert not comparison.ok
    assert verdicts(comparison) == {
        ("stm32f746", 1, 0, "latency", "regression"),
        ("stm32f746", 2, 5, "latency", "regression"),
        ("stm32f746", 4, 5, "sram_measured", "regression"),
        ("stm32f746", 4, 5, "output_crc", "regression"),
    }
    rerun(db_path, "same-again")
    assert compare_run(db_path, "same-again", BASE).regressions == []


def test_thresholds_still_apply_to_board_cycles():
    base = _frame(latency=1_000_000, latency_unit="cycles", output_crc="12345678")
    wiggle = _frame(latency=1_004_000, latency_unit="cycles", sram_measured=60_010, output_crc="12345678")
    assert compare_frames(wiggle, base).changes == []
    assert compare_frames(_frame(latency=960_000, latency_unit="cycles"), base).improvements


def test_cycles_get_the_looser_threshold():
    base = _frame(latency=1_000_000, latency_unit="cycles")
    assert compare_frames(_frame(latency=1_025_000, latency_unit="cycles"), base).ok  # +2.5 % < 3 %
    assert not compare_frames(_frame(latency=1_035_000, latency_unit="cycles"), base).ok
    base_i = _frame(latency=1_000_000, latency_unit="instructions")
    assert not compare_frames(_frame(latency=1_025_000, latency_unit="instructions"), base_i).ok


def test_different_latency_units_are_never_compared():
    comparison = compare_frames(
        _frame(latency=3_000_000, latency_unit="cycles"),
        _frame(latency=1_000_000, latency_unit="instructions"),
    )
    assert comparison.ok
    (note,) = comparison.notes
    assert note.metric == "latency" and "the baseline counts instructions, this run cycles" in note.message


def test_more_sram_needs_both_byte_and_percent_thresholds(db_path):
    # +1 KiB of arena on 53.5 kB measured: beyond 256 B and 0.25 %.
    rerun(db_path, "fatter", {("stm32f746", 4, 5): {"sram_measured": 54_828 + 1024, "arena_bytes": 51_160}})
    comparison = compare_run(db_path, "fatter", BASE)
    assert verdicts(comparison) == {("stm32f746", 4, 5, "sram_measured", "regression")}
    assert comparison.regressions[0].delta == 1024
    # +200 B: below the byte threshold on a board (cycles), not a regression; on the emulator, it is.
    rerun(db_path, "slightly", {("stm32f746", 4, 5): {"sram_measured": 54_828 + 200}})
    assert not compare_run(db_path, "slightly", BASE).ok
    assert compare_frames(_frame(sram_measured=60_200), _frame(sram_measured=60_000)).ok
    # +300 B on a large figure: beyond 256 B but not 0.25 % of 1 MB.
    big = _frame(sram_measured=1_000_000)
    assert compare_frames(_frame(sram_measured=1_000_300), big).ok
    assert not compare_frames(_frame(sram_measured=1_003_000), big).ok


def test_larger_flash_is_caught(db_path):
    rerun(db_path, "flash", {("stm32f412", 2, 4): {"flash_bytes": 598_112 + 4096}})
    assert verdicts(compare_run(db_path, "flash", BASE)) == {("stm32f412", 2, 4, "flash_bytes", "regression")}


def test_lost_exactness_is_caught(db_path, capsys):
    rerun(db_path, "inexact", {("stm32f746", 2, 5): {"exact": False, "status": "failed",
                                                      "reason": "output CRC 0x0bad0bad differs"}})  # fmt: skip
    comparison = compare_run(db_path, "inexact", BASE)
    assert verdicts(comparison) == {
        ("stm32f746", 2, 5, "exact", "regression"),
        ("stm32f746", 2, 5, "status", "regression"),
    }
    assert main(["compare", "--results", str(db_path), "--run", "inexact", "--baseline", BASE]) == 1
    out = capsys.readouterr().out
    assert "output not bit-exact (was bit-exact)" in out and "newly failed (was passed)" in out


def test_exactness_must_hold_even_when_the_baseline_was_wrong_too(db_path):
    with ResultsDB(db_path) as db:
        add_run(db, "bad-base", db_path.parent / "logs", vww_p4_exact=False)
        add_run(db, "bad-again", db_path.parent / "logs", vww_p4_exact=False)
    comparison = compare_run(db_path, "bad-again", "bad-base")
    assert ("stm32f746", 4, 5, "exact", "regression") in verdicts(comparison)
    assert "already was not" in comparison.regressions[0].message


def test_newly_not_fitting_is_caught(db_path, capsys):
    with ResultsDB(db_path) as db:
        add_run(db, "no-fit", db_path.parent / "logs", vww_p4_fits=False)
    comparison = compare_run(db_path, "no-fit", BASE)
    assert verdicts(comparison) == {("stm32f746", 4, 5, "status", "regression")}
    assert comparison.regressions[0].message.startswith(
        "no longer fits (was passed): stm32f746: needs 331.0 kB"
    )
    assert main(["compare", "--results", str(db_path), "--run", "no-fit", "--baseline", BASE]) == 1
    assert "passed -> does_not_fit" in capsys.readouterr().out
    # The other way round it is an improvement, and compare passes.
    assert compare_run(db_path, BASE, "no-fit").improvements[0].message == "now fits and passes"
    assert main(["compare", "--results", str(db_path), "--run", BASE, "--baseline", "no-fit"]) == 0


def test_newly_erroring_is_caught(db_path):
    rerun(db_path, "crash", {("stm32f412", 2, 4): {"status": "error", "reason": "BoardTimeout: no PB1 END",
                                                    "latency": None, "exact": None}})  # fmt: skip
    comparison = compare_run(db_path, "crash", BASE)
    assert verdicts(comparison) == {("stm32f412", 2, 4, "status", "regression")}
    assert "newly erroring (was passed): BoardTimeout" in comparison.regressions[0].message


def test_previous_is_the_latest_earlier_run_on_the_same_board(db_path, capsys):
    rerun(db_path, "middle", {("stm32f746", 1, 0): {"latency": 20_000_000}})
    time.sleep(0.002)
    with ResultsDB(db_path) as db:  # a later run on another board only: not a baseline for stm32f746
        db.start_run("h7-only", "abc", "host", {})
        rows = db.results(BASE)
        db.add_frame(rows[rows["target"] == "stm32f412"].assign(run_id="h7-only", target="stm32h743"))
    time.sleep(0.002)
    rerun(db_path, "latest")
    comparison = compare_run(db_path, "latest", PREVIOUS)
    assert "middle (stm32f746/qemu)" in comparison.baseline and "h7-only" not in comparison.baseline
    # Against "middle" the per-layer point got faster again: on the emulator a change either way fails.
    assert verdicts(comparison) == {("stm32f746", 1, 0, "latency", "regression")}
    assert main(["compare", "--results", str(db_path), "--baseline", "previous"]) == 1
    with pytest.raises(RegressionError, match="no run before"):
        compare_run(db_path, BASE, PREVIOUS)


def test_baseline_from_an_export_of_another_database(db_path, tmp_path):
    with ResultsDB(db_path) as db:
        json_export = db.export(tmp_path / "baseline.json", BASE)
        csv_export = db.export(tmp_path / "baseline.csv", BASE)
    other = tmp_path / "nightly.sqlite"
    with ResultsDB(other) as db:
        add_run(db, "tonight", tmp_path / "logs2", slowdown=1.01)
    for export in (json_export, csv_export):
        comparison = compare_run(other, "tonight", str(export))
        assert comparison.baseline == f"file {export}"
        assert comparison.compared == 6
        assert {c.metric for c in comparison.regressions} == {"latency"}
        assert len(comparison.regressions) == 4  # the four points with a latency, 1 % slower each
    with ResultsDB(other) as db:
        add_run(db, "tonight-again", tmp_path / "logs2")
    assert compare_run(other, "tonight-again", str(csv_export)).ok  # exact stays bool through CSV


def test_missing_points_fail_unless_allowed_and_new_points_are_notes(db_path, capsys):
    with ResultsDB(db_path) as db:
        rows = db.results(BASE)
        db.start_run("partial", "abc", "host", {})
        db.add_frame(rows[rows["p"] != 2].assign(run_id="partial"))
        db.finish_run("partial")
    comparison = compare_run(db_path, "partial", BASE)
    assert not comparison.ok
    assert sorted(c.message for c in comparison.regressions if c.metric == "point") == [
        "not measured in this run (was passed)",
        "not measured in this run (was passed)",
    ]
    allowed = compare_run(db_path, "partial", BASE, allow_partial=True)
    assert allowed.ok and len([c for c in allowed.notes if c.metric == "point"]) == 2
    lenient = RegressionConfig(Thresholds(), {}, fail_on_missing=False)
    assert compare_run(db_path, "partial", BASE, lenient).ok
    reverse = compare_run(db_path, BASE, "partial")
    assert [c.message for c in reverse.notes if c.metric == "point"] == [
        "new point (passed); not in the baseline"
    ] * 2
    assert main(["compare", "--results", str(db_path), "--run", "partial", "--baseline", BASE]) == 1
    assert main(["compare", "--results", str(db_path), "--run", "partial", "--baseline", BASE,
                 "--allow-partial"]) == 0  # fmt: skip


def test_an_interrupted_run_with_no_rows_fails_compare_instead_of_passing_0_points(db_path, capsys):
    """Issue 22 finding 4: a killed run (started, no row stored, never finished) printed "OK: 0 points
    compared" and exited 0."""
    with ResultsDB(db_path) as db:
        db.start_run("killed", "abc", "host", {})
    argv = ["compare", "--results", str(db_path), "--run", "killed", "--baseline", BASE]
    assert main(argv) == 1
    out = capsys.readouterr().out
    assert "\nOK:" not in out and "problems:" in out
    assert "run killed did not finish (killed, interrupted or still running)" in out
    assert out.count("not measured in this run (was ") == 6  # every baseline point is missing
    comparison = compare_run(db_path, "killed", BASE)
    assert comparison.compared == 0 and not comparison.run_finished and len(comparison.problems) == 2
    assert main([*argv, "--allow-partial"]) == 0
    assert "allowed (--allow-partial):" in capsys.readouterr().out
    with ResultsDB(db_path) as db:  # finished, but sharing no point with the baseline
        db.start_run("elsewhere", "abc", "host", {})
        rows = db.results(BASE).assign(run_id="elsewhere", target="stm32h743")
        db.add_frame(rows)
        db.finish_run("elsewhere")
    assert main(["compare", "--results", str(db_path), "--run", "elsewhere", "--baseline", BASE]) == 1
    assert "NOT OK: 0 points compared: run elsewhere and run " in capsys.readouterr().out


def test_previous_skips_a_run_that_did_not_finish(db_path):
    rerun(db_path, "good")
    time.sleep(0.002)
    with ResultsDB(db_path) as db:
        db.start_run("half", "abc", "host", {})
        db.add_frame(db.results(BASE).iloc[:1].assign(run_id="half"))
    time.sleep(0.002)
    rerun(db_path, "tonight")
    comparison = compare_run(db_path, "tonight", PREVIOUS)
    assert comparison.ok and "good" in comparison.baseline and "half" not in comparison.baseline


def test_thresholds_file(tmp_path):
    config = load_thresholds()
    assert config.for_unit("instructions").any_change and not config.for_unit("cycles").any_change
    assert config.for_unit("cycles").latency_pct == 3.0
    assert config.for_unit("instructions").sram_bytes == config.defaults.sram_bytes == 256
    custom = tmp_path / "t.toml"
    custom.write_text("[defaults]\nlatency_pct = 10\n[latency_unit.cycles]\nflash_bytes = 0\n")
    config = load_thresholds(custom)
    assert config.for_unit("cycles") == Thresholds(latency_pct=10, flash_bytes=0)
    custom.write_text("[defaults]\nlatncy_pct = 1\n")
    with pytest.raises(RegressionError, match="unknown key.*latncy_pct"):
        load_thresholds(custom)
    custom.write_text("[latency_unit.instructions]\nany_change = 1\n")
    with pytest.raises(RegressionError, match="any_change must be true or false"):
        load_thresholds(custom)
    custom.write_text("[defaults]\nlatency_pct = -1\n")
    with pytest.raises(RegressionError, match="latency_pct must be a number >= 0"):
        load_thresholds(custom)


def test_cli_errors_for_bad_baselines(db_path, capsys):
    assert main(["compare", "--results", str(db_path), "--baseline", "nope"]) == 2
    assert "baseline 'nope' is neither a run" in capsys.readouterr().err
    assert main(["compare", "--results", str(db_path), "--baseline", "missing.json"]) == 2
    assert "baseline file missing.json not found" in capsys.readouterr().err
    assert main(["compare", "--results", str(db_path.parent / "none.sqlite"), "--baseline", BASE]) == 2
    assert "not found" in capsys.readouterr().err


def test_table_lists_every_point_with_its_deltas(db_path):
    rerun(db_path, "slower", {("stm32f746", 2, 5): {"latency": 14_702_390 * 1.02}})
    text = format_comparison(compare_run(db_path, "slower", BASE))
    header = text.splitlines()[2]
    for column in (
        "point",
        "status",
        "latency",
        "unit",
        "Δ latency",
        "SRAM (B)",
        "Δ SRAM",
        "flash (B)",
        "verdict",
    ):
        assert column in header
    line = next(line for line in text.splitlines() if line.startswith("stm32f746/qemu vww_96_int8 p=2 n=5"))
    assert "14,702,390 -> 14,996,438" in line and "+2.00 %" in line and line.endswith("regression")


def _frame(**values):
    row = {"target": "stm32f746", "backend": "pyocd", "model": "vww_96_int8", "p": 1, "n": 0, "status": "passed",
           "latency": 1_000_000, "latency_unit": "cycles", "sram_measured": 60_000, "flash_bytes": 400_000,
           "exact": True}  # fmt: skip
    row.update(values)
    return pd.DataFrame([row])


# --- real runs on the emulator -------------------------------------------------------------------


def _need_emulator() -> None:
    require_tools("qemu-system-arm", "arm-none-eabi-gcc")


def _store(db_path: Path, run_id: str, results) -> None:
    from harness.results.environment import describe_environment

    env = describe_environment()
    with ResultsDB(db_path) as db:
        db.start_run(run_id, env.get("git_commit"), env.get("host") or "", env)
        for result in results:
            db.add(result.as_record(run_id))
        db.finish_run(run_id)
    time.sleep(0.002)


@pytest.mark.emulator
@pytest.mark.slow
def test_real_qemu_runs_rerun_is_unchanged_and_portable_kernels_are_not_compared(tmp_path, capsys):
    """VWW per-layer on the STM32F746 under QEMU: instruction counts are deterministic, so a rerun is
    unchanged; the portable kernels (no DSP) are another point, never set against the DSP one."""
    _need_emulator()
    from harness.pipeline.measure import measure

    def point(kernels: str):
        result = measure("vww_96_int8", "stm32f746", 1, 0, backend="qemu", kernels=kernels, repeat=1)
        assert result.status == "passed", result.summary()
        return result

    db_path = tmp_path / "results.sqlite"
    first, again, portable = point("optimized"), point("optimized"), point("portable")
    _store(db_path, "optimized", [first])
    _store(db_path, "optimized-again", [again])
    _store(db_path, "portable", [portable])

    assert again.latency == first.latency and again.latency_unit == "instructions"
    assert (again.sram_measured, again.flash_bytes) == (first.sram_measured, first.flash_bytes)
    assert again.identity == first.identity and first.identity.compiler
    assert portable.identity.kernels == "portable" and portable.latency > 1.5 * first.latency
    unchanged = compare_run(db_path, "optimized-again", "optimized")
    assert unchanged.ok and unchanged.compared == 1 and not unchanged.improvements

    not_compared = compare_run(db_path, "portable", "optimized")
    assert not not_compared.regressions and not_compared.compared == 0, format_comparison(not_compared)
    assert not not_compared.ok  # nothing compared: compare says so and fails, unless --allow-partial
    argv = ["compare", "--results", str(db_path), "--run", "portable", "--baseline", "optimized"]
    assert main(argv) == 1 and main([*argv, "--allow-partial"]) == 0
    assert "kernels optimized instead of portable" in capsys.readouterr().out

    from harness.report.page import write_report

    page = write_report(db_path, "portable", tmp_path / "report", baseline="optimized").read_text()
    assert "no match in the baseline" in page and "latency (instructions)" in page
    assert f"{portable.latency:,.0f}" in page and f'data-value="{portable.sram_measured}"' in page


# --- only equal identities are compared ------------------------------------------------------------


@pytest.mark.parametrize(
    ("differs", "words"),
    [({"kernels": "portable"}, "kernels optimized instead of portable"),
     ({"input_mode": "streamed"}, "input_mode counted instead of streamed"),
     ({"compiler": "0123456789ab"}, "compiler - instead of 0123456789ab"),
     ({"kernels": "cmsis-nn", "engine": "cmsis-nn"},
      "kernels optimized instead of cmsis-nn, engine patchbench instead of cmsis-nn")],
    ids=["dsp-vs-portable", "counted-vs-streamed", "compiler", "patchbench-vs-cmsis-nn"],
)  # fmt: skip
def test_points_of_another_identity_are_never_compared(differs, words):
    # The run is 3x slower and uses 4x the SRAM: a regression, were the two points comparable.
    baseline = _frame(latency=1_000_000)
    current = _frame(latency=3_000_000, sram_measured=240_000, **differs)
    comparison = compare_frames(current, baseline, RegressionConfig(Thresholds(), {}, fail_on_missing=True))
    assert comparison.compared == 0 and comparison.problems[0].startswith("0 points compared")
    assert not comparison.regressions and not comparison.improvements
    assert {c.metric for c in comparison.changes} == {"point"}
    messages = sorted(c.message for c in comparison.notes)
    assert len(messages) == 2 and all("not compared" in m for m in messages), messages
    assert any(f"no match in the baseline, which measured it with {words}" in m for m in messages), messages
    text = format_comparison(comparison)
    assert "OK: 0 points compared" in text and "no match in this run" in text


def test_compare_of_stored_runs_with_other_kernels_says_no_match(db_path, capsys):
    with ResultsDB(db_path) as db:
        records = db.results(BASE).assign(run_id="portable", kernels="portable", latency=99_000_000.0)
        db.start_run("portable", "abc", "host", {})
        db.add_frame(records)
        db.finish_run("portable")
    comparison = compare_run(db_path, "portable", BASE)
    assert not comparison.regressions and comparison.compared == 0 and not comparison.improvements
    assert main(["compare", "--results", str(db_path), "--run", "portable", "--baseline", BASE]) == 1
    out = capsys.readouterr().out
    assert "stm32f746/qemu vww_96_int8 per-layer portable: no match in the baseline" in out
    assert "NOT OK: 0 points compared" in out

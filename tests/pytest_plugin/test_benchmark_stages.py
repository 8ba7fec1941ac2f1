# SPDX-License-Identifier: Apache-2.0
"""The plugin's stage fixtures, through a whole pytest session each: a build failure is an error in
setup, a firmware that does not fit is a skip with the numbers, each stored; a point's firmware is
built once however many tests use it."""

from __future__ import annotations

import pytest

from harness.paths import REPO_ROOT
from harness.results.db import ResultsDB

pytestmark = pytest.mark.emulator

# Injected into the inner session: build_point replaced (and counted) before any fixture calls it.
CONFTEST = """
import json, os
from pathlib import Path

import pytest

from harness.firmware.build import BuildError, DoesNotFit, RegionOverflow
from harness.pipeline import measure as stages

real_build = stages.build_point
MODE = os.environ["STAGE_MODE"]


def fake_build(planned, **kwargs):
    with open(os.environ["STAGE_CALLS"], "a") as calls:
        calls.write(planned.result.label + "\\n")
    if MODE == "build-fails":
        raise BuildError("compiling model.c: error: the compiler said no")
    if MODE == "does-not-fit":
        return DoesNotFit(
            build_id="feedface", target="stm32f746", platform="qemu",
            overflows=(RegionOverflow("RAM", 339_968, 327_680),), stack_reserved=4096,
            cflags=("-O2",), ldflags=(), gcc_version="gcc", build_dir=Path("."), linker_output="overflowed",
        )
    return real_build(planned, **kwargs)


@pytest.fixture(autouse=True)
def _fake_build(monkeypatch):
    monkeypatch.setattr(stages, "build_point", fake_build)
"""

TESTS = """
import pytest

pytestmark = pytest.mark.emulator


def test_one(firmware, record, device_run):
    record(device_run)
    assert device_run.status == "passed"


def test_two(firmware, plan):
    assert plan.result.firmware_hash == firmware.build_id
"""


@pytest.fixture
def session(pytester, monkeypatch, tmp_path):
    def run(mode: str, model: str = "vww_96_int8", target: str = "stm32f746"):
        monkeypatch.delenv("PATCHBENCH_RUN_ID", raising=False)
        monkeypatch.setenv("STAGE_MODE", mode)
        calls = tmp_path / f"{mode}.calls"
        monkeypatch.setenv("STAGE_CALLS", str(calls))
        pytester.makeconftest(CONFTEST)
        pytester.makepyfile(test_points=TESTS)
        results = tmp_path / f"{mode}.sqlite"
        outcome = pytester.runpytest_subprocess(
            "-p", "harness.pytest_plugin", "-p", "no:cacheprovider", "-p", "no:labgrid", "--rootdir",
            str(pytester.path), "--backend", "qemu", "--pb-target", target, "--models", model,
            "--patches", "1", "--repeat", "1", "--results", str(results), "-rs",
        )  # fmt: skip
        with ResultsDB(results) as db:
            records = db.records()
        built = calls.read_text().splitlines() if calls.exists() else []
        return outcome, records, built

    monkeypatch.setenv("PYTHONPATH", str(REPO_ROOT))
    return run


def test_a_build_failure_is_an_error_in_setup_and_stored(session):
    outcome, records, built = session("build-fails")
    outcome.assert_outcomes(errors=2)
    assert "BuildError: compiling model.c: error: the compiler said no" in outcome.stdout.str()
    assert {(r.status, r.reason) for r in records} == {
        ("error", "BuildError: compiling model.c: error: the compiler said no")
    }
    assert records[0].analysis is not None  # what the plan stage found is kept


def test_a_firmware_that_does_not_fit_is_a_skip_with_the_numbers_and_stored(session):
    outcome, records, built = session("does-not-fit")
    outcome.assert_outcomes(skipped=2)
    assert (
        "does not fit: stm32f746: needs 332.0 kB SRAM (incl. 4.0 kB reserved stack), board has 320.0 kB"
        in (outcome.stdout.str())
    )
    (stored,) = records
    assert stored.status == "does_not_fit" and stored.sram_needed == 339_968 and stored.sram_budget == 327_680
    assert built == ["stm32f746/qemu vww_96_int8 per-layer"]  # once for both tests


def test_the_firmware_is_built_once_per_point(session):
    outcome, records, built = session("real")
    outcome.assert_outcomes(passed=2)
    assert built == ["stm32f746/qemu vww_96_int8 per-layer"]
    (stored,) = records
    assert stored.status == "passed" and stored.runs == 1 and stored.exact is True


def test_a_point_clearly_too_big_is_a_skip_before_any_build(session):
    outcome, records, built = session("real", "mbv2-w1.0-r224", "stm32f412")
    outcome.assert_outcomes(skipped=2)
    assert "does not fit: " in outcome.stdout.str()
    (stored,) = records
    assert stored.status == "does_not_fit" and stored.sram_needed > 4 * stored.sram_budget
    assert built == []

# SPDX-License-Identifier: Apache-2.0
"""Tests never write into the user's results: a pytest session without --results stores its points in a
temporary database, and (tests/conftest.py) the whole suite fails when build/results.sqlite or
build/report changed while it ran."""

from __future__ import annotations

from user_paths import snapshot

from harness.paths import BUILD_DIR, REPO_ROOT

STORE_A_POINT = """
from harness.results.record import PointIdentity, PointRecord


def test_store_a_point(results_db, record):
    record(PointRecord(identity=PointIdentity("stm32f746", "qemu", "m", 1, 0), status="passed"))
    print("DATABASE", results_db.path)
"""


def test_a_session_without_results_stores_its_points_in_a_temporary_database(pytester, monkeypatch):
    """Issue 22 finding 6: `./run.sh test` appended a run to build/results.sqlite, the main job's."""
    for name in ("PATCHBENCH_RUN_ID", "PATCHBENCH_RESULTS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PYTHONPATH", str(REPO_ROOT))
    before = snapshot()
    pytester.makepyfile(test_store=STORE_A_POINT)
    result = pytester.runpytest_subprocess("-p", "harness.pytest_plugin", "-p", "no:labgrid", "-s",
                                           "--report", str(pytester.path / "report"))  # fmt: skip
    result.assert_outcomes(passed=1)
    (database,) = [line.split("DATABASE ", 1)[1] for line in result.outlines if "DATABASE " in line]
    assert not database.startswith(str(BUILD_DIR)), database
    result.stdout.fnmatch_lines([f"patchbench run *: results in {database} (a temporary database: pass "
                                 "--results FILE to keep the results)"])  # fmt: skip
    assert (pytester.path / "report" / "index.html").is_file()  # the report went where it was told
    assert snapshot() == before  # the user's database and report folder: not a byte, not a file


def test_the_snapshot_sees_a_changed_database_and_report(tmp_path):
    database, report = tmp_path / "results.sqlite", tmp_path / "report"
    before = snapshot(database, report)
    database.write_bytes(b"x")
    after_db = snapshot(database, report)
    (report / "run.html").parent.mkdir()
    (report / "run.html").write_text("x")
    assert before != after_db != snapshot(database, report)

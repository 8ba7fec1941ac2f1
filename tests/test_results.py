import multiprocessing
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from harness.results.db import ResultRow, ResultsDB, ResultsError, read_export


def _row(run_id="r1", model="m", p=1, n=0, **kw) -> ResultRow:
    defaults = dict(target="stm32f412", backend="qemu", status="passed", latency=1234.0, exact=True)
    defaults.update(kw)
    return ResultRow(run_id=run_id, model=model, p=p, n=n, **defaults)


def test_rows_round_trip(tmp_path):
    with ResultsDB(tmp_path / "r.sqlite") as db:
        db.start_run("r1", "abc123", "host", {"gcc": "12.2"})
        db.add(_row(layer_latency=[("conv0", 10.0), ("dw1", 20.0)], sram_measured=5000))
        db.add(
            _row(p=2, n=3, status="does_not_fit", reason="needs 301 kB SRAM, board has 256 kB", exact=None)
        )
        frame = db.results("r1")
    assert list(frame["p"]) == [1, 2]
    assert frame.loc[0, "layer_latency"] == [["conv0", 10.0], ["dw1", 20.0]]
    assert frame.loc[0, "exact"] is True and frame.loc[1, "exact"] is None
    assert frame.loc[1, "reason"].startswith("needs 301 kB")


def test_rerun_of_a_point_replaces_it(tmp_path):
    with ResultsDB(tmp_path / "r.sqlite") as db:
        db.start_run("r1", None, "h", {})
        db.add(_row(latency=1.0))
        db.add(_row(latency=2.0))
        assert list(db.results()["latency"]) == [2.0]


def test_unknown_status_is_rejected():
    with pytest.raises(ValueError, match="status 'ok' is not one of"):
        _row(status="ok")


def test_export_csv_and_json_read_back(tmp_path):
    with ResultsDB(tmp_path / "r.sqlite") as db:
        db.start_run("r1", None, "h", {})
        db.add(_row(layer_latency=[("a", 1.0)]))
        for name in ("out.csv", "out.json"):
            frame = read_export(db.export(tmp_path / name))
            assert frame.loc[0, "model"] == "m" and frame.loc[0, "layer_latency"] == [["a", 1.0]]
        with ResultsDB(tmp_path / "other.sqlite") as other:
            other.start_run("r1", None, "h", {})
            other.add_frame(read_export(tmp_path / "out.json"))
            assert other.results().loc[0, "latency"] == 1234.0


def test_garbage_file_is_a_clear_error(tmp_path):
    path = tmp_path / "not-a-db.sqlite"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(ResultsError, match="not a usable patchbench results database"):
        ResultsDB(path)


def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "r.sqlite"
    ResultsDB(path).close()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(ResultsError, match="newer than this patchbench knows"):
        ResultsDB(path)


def _writer(path, worker, count):
    db = ResultsDB(path)
    for i in range(count):
        db.add(_row(model=f"w{worker}", p=i + 1))
    db.close()


def test_concurrent_writers_lose_nothing(tmp_path):
    path = tmp_path / "r.sqlite"
    with ResultsDB(path) as db:
        db.start_run("r1", None, "h", {})
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(path, w, 25)) for w in range(4)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(60)
        assert proc.exitcode == 0
    with ResultsDB(path) as db:
        assert len(db.results()) == 100


def test_killed_writer_keeps_completed_rows(tmp_path):
    path = tmp_path / "r.sqlite"
    script = (
        "import sys, time\n"
        "from harness.results.db import ResultsDB, ResultRow\n"
        "db = ResultsDB(sys.argv[1]); db.start_run('r1', None, 'h', {})\n"
        "for i in range(1, 100000):\n"
        "    db.add(ResultRow(run_id='r1', target='t', backend='qemu', model='m', p=i, n=0, status='passed'))\n"
        "    print(i, flush=True)\n"
        "    time.sleep(0.01)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script, str(path)], stdout=subprocess.PIPE, text=True)
    written = 0
    while written < 20:
        written = int(proc.stdout.readline())
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    time.sleep(0.1)
    with ResultsDB(path) as db:
        assert db.schema_version == 1
        assert len(db.results()) >= written
        assert sqlite3.connect(path).execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def _open_and_write(path, worker, barrier, outcomes):
    barrier.wait()  # open at the same moment, as xdist workers starting together do
    try:
        db = ResultsDB(path)
        db.start_run("r1", None, "h", {})
        db.add(_row(model=f"w{worker}"))
        db.close()
        outcomes.put("ok")
    except Exception as err:  # reported to the test, which names it
        outcomes.put(repr(err))


def test_many_processes_creating_the_same_new_database_at_once(tmp_path):
    # What pytest-xdist workers do with a --results file that does not exist yet: SQLite answers
    # "database is locked" at once to a second process switching a new file to WAL (seen ~1 in 10).
    ctx = multiprocessing.get_context("fork")
    for attempt in range(20):
        path = tmp_path / f"new{attempt}.sqlite"
        barrier, outcomes = ctx.Barrier(6), ctx.Queue()
        procs = [ctx.Process(target=_open_and_write, args=(path, w, barrier, outcomes)) for w in range(6)]
        for proc in procs:
            proc.start()
        for proc in procs:
            proc.join(60)
        problems = [r for r in (outcomes.get(timeout=10) for _ in procs) if r != "ok"]
        assert not problems, f"attempt {attempt}: {problems[0]}"
        with ResultsDB(path) as db:
            assert len(db.results()) == 6 and db.schema_version == 1

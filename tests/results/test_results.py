# SPDX-License-Identifier: Apache-2.0
import multiprocessing
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from harness.results.db import ResultsDB, ResultsError, read_export
from harness.results.record import PointRecord

SCHEMA_VERSION = 8


def _row(run_id="r1", model="m", p=1, n=0, **kw) -> PointRecord:
    defaults = dict(target="stm32f412", backend="qemu", status="passed", latency=1234.0, exact=True)
    defaults.update(kw)
    return PointRecord.from_flat(dict(run_id=run_id, model=model, p=p, n=n, **defaults))


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
        "from harness.results.db import ResultsDB\n"
        "from harness.results.record import PointRecord\n"
        "db = ResultsDB(sys.argv[1]); db.start_run('r1', None, 'h', {})\n"
        "for i in range(1, 100000):\n"
        "    db.add(PointRecord.from_flat(dict(run_id='r1', target='t', backend='qemu', model='m', p=i, n=0,\n"
        "                                      status='passed')))\n"
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
        assert db.schema_version == SCHEMA_VERSION
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
            assert len(db.results()) == 6 and db.schema_version == SCHEMA_VERSION


# --- the one record: every field stored, the identity the key, old databases migrated ----------------


def _every_field_set() -> PointRecord:
    """A record whose every field (identity included) holds a value that is not its default."""
    from harness.results.record import LayerProfile, PlanSummary, PointAnalysis, PointIdentity

    layer = LayerProfile("b0", True, (96, 96, 3), (48, 48, 8), 34_560, 9_216, 36_864, 1_000, 1_200)
    analysis = PointAnalysis(
        graph_name="vww_96_int8", rules="paper", input_shapes=((1, 96, 96, 3),), output_shapes=((1, 2),),
        plan=PlanSummary(4, 8, "vww: 4x4 patches", ("b0",), "t7", (30, 30), 7_800_000, 7_400_000, 900_000,
                         1_300_000),
        layers=(layer, layer),
    )  # fmt: skip
    identity = PointIdentity(
        target="stm32f746", backend="pyocd", model="vww_96_int8", p=4, n=8, place="desk-f746",
        kernels="portable", engine="cmsis-nn", input_mode="streamed", planner="greedy", inplace="rowmajor",
        compiler="0123456789ab", model_hash="00112233deadbeef", segments="p=4 n=8 + rows n=2",
    )  # fmt: skip
    return PointRecord(
        identity=identity, run_id="r1", status="failed", reason="output differs", sram_measured=60_001,
        sram_planned=61_002, sram_analytic_counted=50_003, sram_analytic_streamed=40_004, sram_measured_streamed=55_010, arena_bytes=52_005,
        scratch_bytes=2_306, stack_reserved=4_096, stack_bytes=1_807, data_bytes=308, bss_bytes=53_009,
        flash_bytes=400_010, sram_budget=327_680, flash_budget=1_048_576, sram_needed=331_011,
        flash_needed=1_100_012, latency=9_812_013.5, latency_unit="cycles", runs=5,
        layer_latency=[("conv0", 10.5), ("dw1", 20.0)], latency_estimated_cycles=11_774_416.0,
        latency_estimated_ms=54.51, layer_latency_estimated_ms=[("conv0", 0.25), ("dw1", 0.5)],
        timing_model="timing-model 1 (llvm-mca cortex-m7)", macs=7_753_184, macs_patch_stage=1_599_840,
        mac_overhead=0.03518, exact=False, oracle_exact=True, oracle="LiteRT BUILTIN_REF: equal on 1 output",
        portable_ops="mean0: no CMSIS-NN kernel", published_as="tinyengine", output_crc="5a17c3e2",
        firmware_hash="feedfacecafe",
        flags="-mcpu=cortex-m7 -O2", board_id="0669FF555052836687031520", log_path="logs/p4.log",
        analysis=analysis, created_at=1_790_000_000.25,
    )  # fmt: skip


def test_a_record_with_every_field_set_reads_back_equal(tmp_path):
    from dataclasses import fields

    from harness.results.record import COLUMNS, PointIdentity

    record = _every_field_set()
    defaults = PointRecord(identity=PointIdentity("t", "b", "m", 1, 0))
    unset = [f.name for f in fields(PointRecord) if getattr(record, f.name) == getattr(defaults, f.name)]
    unset += [f.name for f in fields(PointIdentity) if getattr(record.identity, f.name) == getattr(
        PointIdentity("t", "b", "m", 1, 0), f.name)]  # fmt: skip
    assert not unset, f"the test record leaves {unset} at their defaults"
    with ResultsDB(tmp_path / "r.sqlite") as db:
        db.start_run("r1", None, "h", {})
        db.add(record)
        (back,) = db.records("r1")
        assert back == record
        # The DataFrame, the export and a database filled from the export hold every column too.
        assert list(db.results().columns) == list(COLUMNS)
        for name in ("out.json", "out.csv"):
            with ResultsDB(tmp_path / f"copy-{name}.sqlite") as copy:
                copy.start_run("r1", None, "h", {})
                copy.add_frame(read_export(db.export(tmp_path / name)))
                assert copy.records("r1") == [record], name
    # The JUnit properties are every scalar field.
    properties = dict(record.properties())
    assert set(properties) == {n for n, kind in COLUMNS.items() if kind != "TEXT_JSON"}
    assert properties["kernels"] == "portable" and properties["scratch_bytes"] == 2_306


def test_the_same_point_with_another_identity_is_another_row(tmp_path):
    with ResultsDB(tmp_path / "r.sqlite") as db:
        db.start_run("r1", None, "h", {})
        db.add(_row(latency=1.0))
        db.add(_row(latency=2.0, kernels="portable"))
        db.add(_row(latency=3.0, input_mode="streamed"))
        db.add(_row(latency=4.0, compiler="abc"))
        assert sorted(db.results()["latency"]) == [1.0, 2.0, 3.0, 4.0]


# The schema of version 1 (git show 276f71e:harness/results/db.py), as it was.
OLD_SCHEMA = """
CREATE TABLE runs (run_id TEXT PRIMARY KEY, started_at REAL NOT NULL, finished_at REAL, git_commit TEXT,
    host TEXT, environment TEXT);
CREATE TABLE results (
    id INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT NOT NULL REFERENCES runs(run_id), target TEXT NOT NULL,
    backend TEXT NOT NULL, model TEXT NOT NULL, p INTEGER NOT NULL, n INTEGER NOT NULL, status TEXT NOT NULL,
    reason TEXT, latency REAL, latency_unit TEXT, layer_latency TEXT, macs INTEGER, macs_patch_stage INTEGER,
    mac_overhead REAL, sram_measured INTEGER, sram_planned INTEGER, sram_analytic_counted INTEGER,
    sram_analytic_streamed INTEGER, arena_bytes INTEGER, stack_bytes INTEGER, data_bytes INTEGER,
    bss_bytes INTEGER, flash_bytes INTEGER, sram_budget INTEGER, flash_budget INTEGER, exact INTEGER,
    output_crc TEXT, firmware_hash TEXT, flags TEXT, board_id TEXT, log_path TEXT, created_at REAL NOT NULL,
    UNIQUE (run_id, target, backend, model, p, n));
CREATE INDEX results_point ON results (target, model, p, n);
PRAGMA user_version = 1;
"""
OLD_FLAGS = '-mcpu=cortex-m7 -O2 -DPB_KERNELS_OPTIMIZED={} -DPB_BUILD_ID="{}"'
OLD_GCC = "arm-none-eabi-gcc (15:12.2.rel1-1) 12.2.1 20221205"


def test_a_database_of_the_old_schema_keeps_its_rows(tmp_path):
    from harness.results.record import compiler_id

    path = tmp_path / "old.sqlite"
    conn = sqlite3.connect(path)
    conn.executescript(OLD_SCHEMA)
    conn.execute("INSERT INTO runs VALUES ('old', 1.0, 2.0, 'abc', 'h', ?)", (f'{{"gcc": "{OLD_GCC}"}}',))
    insert = (
        "INSERT INTO results (run_id, target, backend, model, p, n, status, latency, latency_unit, "
        "layer_latency, sram_measured, exact, flags, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
    )
    conn.execute(
        insert,
        (
            "old",
            "stm32f746",
            "qemu",
            "vww_96_int8",
            1,
            0,
            "passed",
            14_382_115.0,
            "instructions",
            '[["op00", 5.0]]',
            61_000,
            1,
            OLD_FLAGS.format(1, "aa"),
            3.0,
        ),
    )
    conn.execute(
        insert,
        (
            "old",
            "stm32f746",
            "qemu",
            "vww_96_int8",
            4,
            8,
            "passed",
            20_000_000.0,
            "instructions",
            "[]",
            41_000,
            1,
            OLD_FLAGS.format(0, "bb"),
            4.0,
        ),
    )
    conn.execute(insert, ("old", "stm32f412", "qemu", "mcunet-in1", 1, 0, "does_not_fit", None, None, None,
                          None, None, None, 5.0))  # fmt: skip
    conn.commit()
    conn.close()
    with ResultsDB(path) as db:
        assert db.schema_version == SCHEMA_VERSION
        records = db.records("old")
    assert [(r.identity.model, r.identity.p, r.status) for r in records] == [
        ("vww_96_int8", 1, "passed"), ("vww_96_int8", 4, "passed"), ("mcunet-in1", 1, "does_not_fit")
    ]  # fmt: skip
    first, second, third = records
    assert first.latency == 14_382_115.0 and first.layer_latency == [("op00", 5.0)] and first.exact is True
    assert first.sram_measured == 61_000 and first.created_at == 3.0
    # What old runs ran with: the kernel set from the build's define, the compiler from flags and gcc.
    assert (first.identity.kernels, second.identity.kernels) == ("optimized", "portable")
    assert first.identity.compiler == compiler_id(OLD_GCC, OLD_FLAGS.format(1, "cc"))
    assert first.identity.compiler == second.identity.compiler != ""
    assert third.identity.compiler == "" and third.identity.kernels == "optimized"
    for record in records:
        assert (record.identity.input_mode, record.identity.engine, record.identity.planner,
                record.identity.inplace, record.identity.place) == ("counted", "patchbench", "best", "rowmajor", "")  # fmt: skip
    # And the migrated file takes new rows.
    with ResultsDB(path) as db:
        db.add(_row(run_id="old", latency=1.0))
        assert len(db.records()) == 4


def test_rows_whose_engine_was_the_cmsis_nn_kernel_set_get_patchbench(tmp_path):
    """Schema 7: before engines had kernel sets, a CMSIS-NN point named the library its engine."""
    path = tmp_path / "v6.sqlite"
    with ResultsDB(path) as db:
        db.start_run("r", None, "h", {})
        db.add(_row(run_id="r", latency=1.0, kernels="cmsis-nn", engine="cmsis-nn"))
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 6")
    conn.commit()
    conn.close()
    with ResultsDB(path) as db:
        (record,) = db.records("r")
    assert (record.identity.engine, record.identity.kernels) == ("patchbench", "cmsis-nn")


def test_the_identity_defaults_are_what_measure_uses():
    from harness.engines import DEFAULT_ENGINE, get_engine
    from harness.results.record import PointIdentity
    from harness.schedule.arena import INPLACE_POLICIES

    defaults = PointIdentity("t", "b", "m", 1, 0)
    engine = get_engine()
    options = engine.options()
    assert INPLACE_POLICIES[defaults.inplace] == options.inplace
    assert (defaults.engine, defaults.kernels) == (DEFAULT_ENGINE, engine.default_kernels)
    assert {name: getattr(defaults, name) for name in engine.identity(options)} == engine.identity(options)


def test_schedules_beyond_one_patch_stage_are_their_own_points_and_old_rows_keep_theirs(tmp_path):
    """Schema 8: the identity's segments (a row-streamed / several-segment schedule's label, p = n = 0).
    A version-7 file (without the column, and without sram_measured_streamed, which the second step named
    _schema_7 left out) keeps every row with its (p, n) identity."""
    path = tmp_path / "v7.sqlite"
    with ResultsDB(path) as db:
        db.start_run("r", None, "h", {})
        db.add(_row(run_id="r", p=4, n=5, latency=7.0, sram_measured=5000))
    conn = sqlite3.connect(path)
    columns = [row[1] for row in conn.execute("PRAGMA table_info(results)")]
    kept = [c for c in columns if c not in ("segments", "sram_measured_streamed")]
    conn.execute(f"CREATE TABLE old AS SELECT {', '.join(kept)} FROM results")
    conn.execute("DROP TABLE results")
    conn.execute("ALTER TABLE old RENAME TO results")
    conn.execute("PRAGMA user_version = 7")
    conn.commit()
    conn.close()
    with ResultsDB(path) as db:
        assert db.schema_version == SCHEMA_VERSION
        (old,) = db.records("r")
        assert (old.identity.schedule, old.identity.segments, old.latency, old.sram_measured) == (
            "p=4 n=5",
            "",
            7.0,
            5000,
        )
        label = "rows n=3 + per-layer n=1 + rows n=2"
        db.add(_row(run_id="r", p=0, n=0, segments=label, latency=5.0))
        db.add(_row(run_id="r", p=0, n=0, segments="rows n=4", latency=6.0))
        records = {r.identity.schedule: r for r in db.records("r")}
    assert set(records) == {"p=4 n=5", label, "rows n=4"}
    assert (
        records[label].latency == 5.0 and records[label].identity.group == records["p=4 n=5"].identity.group
    )


def _columns(path) -> list[tuple[str, str]]:
    conn = sqlite3.connect(path)
    try:
        return [(row[1], row[2]) for row in conn.execute("PRAGMA table_info(results)")]
    finally:
        conn.close()


@pytest.mark.parametrize("version", [1, 6])
def test_a_migrated_database_has_the_columns_of_a_fresh_one(tmp_path, version):
    """Every step runs on the way from an old file (step 7 once had two definitions of one name, and the
    second hid the first): a file from version 1, or one from version 6 lacking what steps 7 and 8 add,
    ends with the same columns, in the same order and of the same types, as a new file."""
    from harness.results import db as db_module

    assert len({step.__name__ for step in db_module.MIGRATIONS}) == len(db_module.MIGRATIONS)
    fresh = tmp_path / "fresh.sqlite"
    with ResultsDB(fresh):
        pass
    old = tmp_path / f"v{version}.sqlite"
    if version == 1:
        conn = sqlite3.connect(old)
        conn.executescript(OLD_SCHEMA)
    else:
        with ResultsDB(old):
            pass
        conn = sqlite3.connect(old)
        added = ("sram_measured_streamed", "published_as", "segments")
        kept = [name for name, _ in _columns(old) if name not in added]
        conn.execute(f"CREATE TABLE before AS SELECT {', '.join(kept)} FROM results")
        conn.execute("DROP TABLE results")
        conn.execute("ALTER TABLE before RENAME TO results")
        conn.execute(f"PRAGMA user_version = {version}")
    conn.commit()
    conn.close()
    assert "sram_measured_streamed" not in {name for name, _ in _columns(old)}
    with ResultsDB(old) as db:
        assert db.schema_version == SCHEMA_VERSION
    assert _columns(old) == _columns(fresh)
    assert "sram_measured_streamed" in {name for name, _ in _columns(fresh)}


def test_step_7_gives_a_version_6_file_both_of_its_columns(tmp_path):
    """Step 7 alone (the file then at version 7) adds sram_measured_streamed and published_as."""
    from harness.results import db as db_module

    path = tmp_path / "v6.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE results (id INTEGER PRIMARY KEY, engine TEXT, kernels TEXT)")
    conn.execute("INSERT INTO results (engine, kernels) VALUES ('cmsis-nn', 'cmsis-nn')")
    db_module.MIGRATIONS[6](conn)
    names = {row[1] for row in conn.execute("PRAGMA table_info(results)")}
    assert {"sram_measured_streamed", "published_as"} <= names
    assert conn.execute("SELECT engine FROM results").fetchall() == [("patchbench",)]
    conn.close()

# SPDX-License-Identifier: Apache-2.0
"""The results database: one SQLite file, one row per point identity per run.

The results table's columns, types and unique key are derived from ``harness.results.record``
(``PointRecord``, ``PointIdentity``): a field added there is a column here. Every row is committed on
its own, in WAL mode, so concurrent pytest-xdist workers can write to the same file and an interrupted
run keeps every completed row. The schema is versioned (``PRAGMA user_version``): ``MIGRATIONS`` lists
the steps from an empty file to the current schema and opening a database applies the missing ones.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterable
from dataclasses import fields
from pathlib import Path

import pandas as pd

from harness.results.record import (
    COLUMNS,
    IDENTITY_FIELDS,
    LEGACY_IDENTITY,
    STATUSES,
    UNIT_LIST_FIELDS,
    PointIdentity,
    PointRecord,
    compiler_id,
    decode,
    encode,
    legacy_kernels,
)

__all__ = ["STATUSES", "ResultsDB", "ResultsError", "read_export"]

LOCK_WAIT_S = 60.0  # how long a writer waits for another process's transaction
# SQLite's application id (the file header's "what program is this for"): "PBR1". A file that carries
# another id, or tables of another program, is refused before anything is written to it.
APPLICATION_ID = 0x50425231
PATCHBENCH_TABLES = frozenset({"runs", "results"})
ROW_COLUMNS = list(COLUMNS)
_JSON_COLUMNS = [name for name, kind in COLUMNS.items() if kind == "TEXT_JSON"]

# Version 1 (before the one record): the key was (run, target, backend, model, p, n) and the kernel
# set, input mode, compiler and several figures were not stored.
_SCHEMA_1 = """
    CREATE TABLE runs (
        run_id TEXT PRIMARY KEY,
        started_at REAL NOT NULL,
        finished_at REAL,
        git_commit TEXT,
        host TEXT,
        environment TEXT          -- JSON: toolchain, QEMU/Renode/pyocd versions, python, ...
    );
    CREATE TABLE results (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id TEXT NOT NULL REFERENCES runs(run_id),
        target TEXT NOT NULL,
        backend TEXT NOT NULL,
        model TEXT NOT NULL,
        p INTEGER NOT NULL,
        n INTEGER NOT NULL,
        status TEXT NOT NULL,
        reason TEXT,
        latency REAL,
        latency_unit TEXT,
        layer_latency TEXT,
        macs INTEGER,
        macs_patch_stage INTEGER,
        mac_overhead REAL,
        sram_measured INTEGER,
        sram_planned INTEGER,
        sram_analytic_counted INTEGER,
        sram_analytic_streamed INTEGER,
        arena_bytes INTEGER,
        stack_bytes INTEGER,
        data_bytes INTEGER,
        bss_bytes INTEGER,
        flash_bytes INTEGER,
        sram_budget INTEGER,
        flash_budget INTEGER,
        exact INTEGER,
        output_crc TEXT,
        firmware_hash TEXT,
        flags TEXT,
        board_id TEXT,
        log_path TEXT,
        created_at REAL NOT NULL,
        UNIQUE (run_id, target, backend, model, p, n)
    );
    CREATE INDEX results_point ON results (target, model, p, n);
"""


def results_table_sql(table: str = "results") -> str:
    """CREATE TABLE of the results, from the record: identity columns NOT NULL, unique per run."""
    lines = ["id INTEGER PRIMARY KEY AUTOINCREMENT"]
    for name, kind in COLUMNS.items():
        sql = "TEXT" if kind == "TEXT_JSON" else kind
        required = name in IDENTITY_FIELDS or name in ("run_id", "status", "created_at")
        lines.append(f"{name} {sql}" + (" NOT NULL" if required else ""))
    lines.append(f"UNIQUE (run_id, {', '.join(IDENTITY_FIELDS)})")
    return f"CREATE TABLE {table} (\n    " + ",\n    ".join(lines) + "\n)"


def _schema_1(conn: sqlite3.Connection) -> None:
    for statement in _SCHEMA_1.split(";"):
        if statement.strip():
            conn.execute(statement)


def _schema_2(conn: sqlite3.Connection) -> None:
    """The one record: every field stored, the identity the key. Old rows keep every figure and get
    the identity they ran with: the kernel set from their flags, the compiler from their flags and
    the run's gcc, the defaults of then for the rest (input counted, planner best, in-place rowmajor,
    engine patchbench, no farm place: LEGACY_IDENTITY where those are no longer the defaults)."""
    conn.execute(results_table_sql("results_new"))
    gcc = {
        run_id: json.loads(environment or "{}").get("gcc")
        for run_id, environment in conn.execute("SELECT run_id, environment FROM runs")
    }
    old = conn.execute("SELECT * FROM results ORDER BY id")
    names = [d[0] for d in old.description]
    for values in old.fetchall():
        row = dict(zip(names, values, strict=True))
        flat = {k: decode(k, v) for k, v in row.items() if k in COLUMNS}
        flat.update(LEGACY_IDENTITY, kernels=legacy_kernels(row["flags"]))
        flat["compiler"] = compiler_id(gcc.get(row["run_id"]), row["flags"])
        columns = {"id": row["id"], **PointRecord.from_flat(flat).to_flat()}
        conn.execute(
            f"INSERT INTO results_new ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})",
            [value if name == "id" else encode(name, value) for name, value in columns.items()],
        )
    conn.execute("DROP TABLE results")
    conn.execute("ALTER TABLE results_new RENAME TO results")
    conn.execute(f"CREATE INDEX results_point ON results ({', '.join(IDENTITY_FIELDS)})")


def _schema_3(conn: sqlite3.Connection) -> None:
    """portable_ops: the ops a kernel library (CMSIS-NN) left to patchbench's portable kernels. (A new
    database got it from step 2, which builds the table from today's record.)"""
    if "portable_ops" not in {row[1] for row in conn.execute("PRAGMA table_info(results)")}:
        conn.execute("ALTER TABLE results ADD COLUMN portable_ops TEXT")


def _add_columns(conn: sqlite3.Connection, names: tuple[str, ...]) -> None:
    """Add the record's columns ``names`` that the table lacks (old rows read them as NULL: unknown)."""
    stored = {row[1] for row in conn.execute("PRAGMA table_info(results)")}
    for name in names:
        if name not in stored:
            kind = COLUMNS[name]
            conn.execute(f"ALTER TABLE results ADD COLUMN {name} {'TEXT' if kind == 'TEXT_JSON' else kind}")


def _schema_4(conn: sqlite3.Connection) -> None:
    """The TFLite oracle's verdict on the point's model (oracle_exact, oracle); old rows: not checked."""
    _add_columns(conn, ("oracle_exact", "oracle"))


def _schema_5(conn: sqlite3.Connection) -> None:
    """The model's content in the identity (model_hash): the table is rebuilt so that the unique key
    holds it (two models of one name in one run are two rows). Old rows keep every value; their
    model_hash is "" (not known), which regression.compare_frames matches with any content."""
    _rebuild_with_identity(conn)


def _rebuild_with_identity(conn: sqlite3.Connection) -> None:
    """The table rebuilt from today's record, so that its unique key holds every identity field: old rows
    keep every value, an identity field they lack gets its default, a column they lack is NULL."""
    conn.execute(results_table_sql("results_new"))
    old = {row[1] for row in conn.execute("PRAGMA table_info(results)")}
    defaults = {f.name: f.default for f in fields(PointIdentity)}
    names = ["id", *(name for name in COLUMNS if name in old or name in IDENTITY_FIELDS)]
    values = [name if name in old else "?" for name in names]
    conn.execute(
        f"INSERT INTO results_new ({', '.join(names)}) SELECT {', '.join(values)} FROM results",
        [defaults[name] for name in names if name not in old],
    )
    conn.execute("DROP TABLE results")
    conn.execute("ALTER TABLE results_new RENAME TO results")
    conn.execute(f"CREATE INDEX results_point ON results ({', '.join(IDENTITY_FIELDS)})")


def _schema_6(conn: sqlite3.Connection) -> None:
    """The cycle model's estimate of an emulator run (latency_estimated_cycles, latency_estimated_ms,
    layer_latency_estimated_ms, timing_model); old rows: none."""
    _add_columns(
        conn,
        ("latency_estimated_cycles", "latency_estimated_ms", "layer_latency_estimated_ms", "timing_model"),
    )


# Each step takes the database from its index to the next version; append, never edit, a step.
def _schema_7(conn: sqlite3.Connection) -> None:
    """Two changes that both became step 7 (two branches each appended one; the second definition hid
    the first, so files migrated then lacked sram_measured_streamed until step 8's rebuild): step 7 does
    both, each only where the file lacks it, so a file that reached 7 by either one is the same after 8.
    - sram_measured_streamed: a counted point's measured SRAM less the input image an engine keeps
      outside its arena (TinyEngine's patch mode); old rows: none.
    - Engines with kernel sets (harness/engines): the published column a point's engine and kernel set
      stand beside (published_as; old rows: none), and rows stored when the CMSIS-NN kernel set named
      itself the engine get the engine that ran them, patchbench's (kernels cmsis-nn)."""
    _add_columns(conn, ("sram_measured_streamed", "published_as"))
    conn.execute(
        "UPDATE results SET engine = 'patchbench' WHERE engine = 'cmsis-nn' AND kernels = 'cmsis-nn'"
    )


def _schema_8(conn: sqlite3.Connection) -> None:
    """Schedules beyond one patch stage in the identity (segments: a row-streamed or several-segment
    schedule's label, p = n = 0): the table is rebuilt so that the unique key holds it. Old rows keep
    every value and their (p, n) identity (segments ""). A database that reached version 7 without
    sram_measured_streamed (by the older step 7 that added only published_as) gets it here."""
    _rebuild_with_identity(conn)


MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [
    _schema_1, _schema_2, _schema_3, _schema_4, _schema_5, _schema_6, _schema_7, _schema_8,
]  # fmt: skip


class ResultsError(RuntimeError):
    """The results database cannot be opened or written; the message says which file and why."""


def path_problem(path: Path) -> str | None:
    """Why ``path`` cannot be a results database file, in words (None: it can, or will be created)."""
    if path.is_dir():
        return f"a folder, not a results database file: pass a file such as {path / 'results.sqlite'}"
    if path.is_symlink() and not path.exists():
        target = path.readlink()
        if not (path.parent / target).parent.is_dir():
            return f"a symlink to {target}, whose folder does not exist: fix the link or pass another --results file"
    if path.exists() and not path.is_file():
        return "not a regular file: pass a results database file (--results)"
    return None


class ResultsDB:
    """A results database file. Open it with ``ResultsDB(path)``; it is created and migrated."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        problem = path_problem(self.path)
        if problem:
            raise ResultsError(f"{self.path}: {problem}")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise ResultsError(
                f"{self.path}: cannot create its folder ({err.strerror}); pass a writable --results file"
            ) from None
        try:
            self._conn = sqlite3.connect(self.path, timeout=LOCK_WAIT_S, isolation_level=None)
            self._conn.execute(f"PRAGMA busy_timeout={int(LOCK_WAIT_S * 1000)}")
            self._refuse_foreign_file()
            self._refuse_unknown_schema()
            self._enable_wal()
            self._migrate()
        except sqlite3.DatabaseError as err:
            raise ResultsError(
                f"{self.path}: not a usable patchbench results database ({err}); "
                "move it aside or pass another --results file"
            ) from err

    def _refuse_foreign_file(self) -> None:
        """A SQLite file of another program gets no patchbench tables: it must carry patchbench's
        application id, or be empty, or be a patchbench database from before the id (its schema)."""
        app_id = self._conn.execute("PRAGMA application_id").fetchone()[0]
        if app_id == APPLICATION_ID:
            return
        tables = {
            row[0]
            for row in self._conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            if not row[0].startswith("sqlite_")
        }
        version = self._conn.execute("PRAGMA user_version").fetchone()[0]
        ours_before_the_id = app_id == 0 and version >= 1 and tables == PATCHBENCH_TABLES
        if (app_id == 0 and not tables) or ours_before_the_id:
            return
        what = f"application id {app_id:#010x}" if app_id else f"tables {', '.join(sorted(tables)) or 'none'}"
        raise ResultsError(
            f"{self.path}: a SQLite database of another program ({what}), not a patchbench results "
            "database; patchbench will not add its tables to it: pass another --results file"
        )

    def _refuse_unknown_schema(self) -> None:
        """A schema newer than this patchbench, or today's schema missing a column, is refused before
        anything (not even the journal mode) is written to the file."""
        version = self._conn.execute("PRAGMA user_version").fetchone()[0]
        if version > len(MIGRATIONS):
            raise ResultsError(
                f"{self.path}: schema version {version} is newer than this patchbench knows "
                f"({len(MIGRATIONS)}); upgrade patchbench"
            )
        if version == len(MIGRATIONS):
            self._refuse_missing_columns()

    def _refuse_missing_columns(self) -> None:
        stored = {row[1] for row in self._conn.execute("PRAGMA table_info(results)")}
        if missing := [c for c in COLUMNS if c not in stored]:
            raise ResultsError(
                f"{self.path}: the results table lacks column(s) {', '.join(missing)} that schema version "
                f"{len(MIGRATIONS)} has: another program (or a damaged copy) changed the file. Nothing was "
                "written to it; pass another --results file (the file's rows stay readable with sqlite3)"
            )

    def _enable_wal(self) -> None:
        # Switching a new file to WAL needs it to itself, and SQLite answers "locked" at once instead
        # of waiting when another process (an xdist worker) opens the same new file: wait here.
        deadline = time.monotonic() + LOCK_WAIT_S
        while True:
            try:
                self._conn.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as err:
                if "locked" not in str(err) or time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    def _migrate(self) -> None:
        # BEGIN IMMEDIATE serializes concurrent openers so a migration runs once.
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            version = self._conn.execute("PRAGMA user_version").fetchone()[0]
            if version > len(MIGRATIONS):
                raise ResultsError(
                    f"{self.path}: schema version {version} is newer than this patchbench knows "
                    f"({len(MIGRATIONS)}); upgrade patchbench"
                )
            for step in range(version, len(MIGRATIONS)):
                MIGRATIONS[step](self._conn)
                self._conn.execute(f"PRAGMA user_version = {step + 1}")
            if self._conn.execute("PRAGMA application_id").fetchone()[0] != APPLICATION_ID:
                self._conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            self._refuse_missing_columns()
            self._conn.execute("COMMIT")
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise

    @property
    def schema_version(self) -> int:
        return self._conn.execute("PRAGMA user_version").fetchone()[0]

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> ResultsDB:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- runs ---------------------------------------------------------------------------------

    def start_run(self, run_id: str, git_commit: str | None, host: str, environment: dict) -> None:
        try:
            self._conn.execute(
                "INSERT OR IGNORE INTO runs (run_id, started_at, git_commit, host, environment) VALUES (?,?,?,?,?)",
                (run_id, time.time(), git_commit, host, json.dumps(environment, sort_keys=True)),
            )
        except sqlite3.Error as err:
            raise ResultsError(f"{self.path}: cannot store the run {run_id} ({err})") from err

    def finish_run(self, run_id: str) -> None:
        """The run's session ended (an interrupted or killed one never says so: ``run_finished``)."""
        try:
            self._conn.execute("UPDATE runs SET finished_at = ? WHERE run_id = ?", (time.time(), run_id))
        except sqlite3.Error as err:
            raise ResultsError(f"{self.path}: cannot mark the run {run_id} finished ({err})") from err

    def run_finished(self, run_id: str) -> bool:
        """Whether the run's session ended (``finish_run``): not killed, interrupted or still running."""
        row = self._conn.execute("SELECT finished_at FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        return row is not None and row[0] is not None

    def runs(self) -> pd.DataFrame:
        return pd.read_sql_query("SELECT * FROM runs ORDER BY started_at", self._conn)

    def run_environment(self, run_id: str) -> dict:
        row = self._conn.execute("SELECT environment FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        if row is None:
            raise ResultsError(f"{self.path}: no run {run_id!r}; known runs: {', '.join(self.run_ids())}")
        return json.loads(row[0] or "{}")

    def run_ids(self) -> list[str]:
        return [r[0] for r in self._conn.execute("SELECT run_id FROM runs ORDER BY started_at")]

    def latest_run_id(self) -> str | None:
        row = self._conn.execute("SELECT run_id FROM runs ORDER BY started_at DESC LIMIT 1").fetchone()
        return row[0] if row else None

    # --- results ------------------------------------------------------------------------------

    def add(self, record: PointRecord) -> None:
        """Store one point; a rerun of the same point (same identity) in the same run replaces it.
        ResultsError when the file takes no write (read-only, disk full): the caller keeps the point."""
        values = record.to_flat()
        marks = ", ".join("?" for _ in ROW_COLUMNS)
        try:
            self._conn.execute(
                f"INSERT OR REPLACE INTO results ({', '.join(ROW_COLUMNS)}) VALUES ({marks})",
                [encode(name, values[name]) for name in ROW_COLUMNS],
            )
        except sqlite3.Error as err:
            raise ResultsError(f"{self.path}: cannot store the point {record.label} ({err})") from err

    def add_many(self, records: Iterable[PointRecord]) -> None:
        for record in records:
            self.add(record)

    def records(self, run_id: str | None = None) -> list[PointRecord]:
        """The stored points (all runs, or one) as records, in the order they were stored."""
        query = f"SELECT {', '.join(ROW_COLUMNS)} FROM results"
        params: tuple = ()
        if run_id is not None:
            query += " WHERE run_id = ?"
            params = (run_id,)
        rows = self._conn.execute(query + " ORDER BY id", params).fetchall()
        return [
            PointRecord.from_flat({n: decode(n, v) for n, v in zip(ROW_COLUMNS, row, strict=True)})
            for row in rows
        ]

    def results(self, run_id: str | None = None) -> pd.DataFrame:
        """Result rows as a DataFrame (all runs, or one): one column per record field; layer_latency
        decoded to lists, exact to bool, the analysis left as its JSON text."""
        query = f"SELECT {', '.join(ROW_COLUMNS)} FROM results"
        params: tuple = ()
        if run_id is not None:
            query += " WHERE run_id = ?"
            params = (run_id,)
        frame = pd.read_sql_query(query + " ORDER BY id", self._conn, params=params)
        for name in UNIT_LIST_FIELDS:
            frame[name] = frame[name].map(lambda s: json.loads(s) if s else [])
        frame["exact"] = frame["exact"].map(lambda v: None if pd.isna(v) else bool(v))
        return frame

    def add_frame(self, frame: pd.DataFrame) -> None:
        """Store rows from a DataFrame with the record's columns (e.g. another database's export)."""
        for row in frame.to_dict("records"):
            values = {k: decode(k, _plain(v)) for k, v in row.items() if k in COLUMNS}
            self.add(PointRecord.from_flat(values))

    def export(self, path: str | Path, run_id: str | None = None) -> Path:
        """Write results to .csv or .json (chosen by the suffix)."""
        path = Path(path)
        frame = self.results(run_id)
        if path.suffix == ".csv":
            frame.assign(**{name: frame[name].map(json.dumps) for name in UNIT_LIST_FIELDS}).to_csv(
                path, index=False
            )
        elif path.suffix == ".json":
            frame.to_json(path, orient="records", indent=1)
        else:
            raise ValueError(f"cannot export to {path.name!r}: use a .csv or .json file name")
        return path


def read_export(path: str | Path) -> pd.DataFrame:
    """Read a .csv or .json export back into a DataFrame shaped like ResultsDB.results(). An export
    written before the identity was stored gets it as the migration gives old rows (the compiler id
    without the gcc version, which the export does not hold)."""
    path = Path(path)
    if path.suffix not in (".csv", ".json"):
        raise ValueError(f"cannot read {path.name!r}: use a .csv or .json export")
    try:
        if path.suffix == ".csv":
            frame = pd.read_csv(path)
            for name in UNIT_LIST_FIELDS:
                if name in frame.columns:  # an export from before the estimate lacks it
                    frame[name] = frame[name].map(lambda s: json.loads(s) if isinstance(s, str) else [])
        else:
            frame = pd.DataFrame(json.loads(path.read_text()))
    except (ValueError, TypeError, UnicodeDecodeError, pd.errors.ParserError) as err:
        raise ValueError(
            f"export {path} is not a patchbench export ({type(err).__name__}: {err}); write one with "
            "`patchbench export FILE`"
        ) from None
    _check_numbers(frame, path)
    if "kernels" not in frame.columns and "flags" in frame.columns:
        for name, value in LEGACY_IDENTITY.items():
            frame[name] = value
        frame["kernels"] = frame["flags"].map(lambda f: legacy_kernels(f if isinstance(f, str) else None))
        frame["compiler"] = frame["flags"].map(lambda f: compiler_id(None, f if isinstance(f, str) else None))
    return frame


def _check_numbers(frame: pd.DataFrame, path: Path) -> None:
    """Every number column of an export holds numbers (or nothing): text where a figure goes is named
    (file, column, record, value), never a TypeError in a comparison later."""
    for name in frame.columns:
        if COLUMNS.get(name) not in ("INTEGER", "REAL") or name == "exact":
            continue
        numbers = pd.to_numeric(frame[name], errors="coerce")
        wrong = frame[name].notna() & numbers.isna()
        if wrong.any():
            row = int(wrong.to_numpy().nonzero()[0][0])
            raise ValueError(
                f"export {path}: column {name!r} holds {frame[name].iloc[row]!r} in record {row + 1}, where a "
                "number goes; fix the file or write it again with `patchbench export FILE`"
            )
        frame[name] = numbers


def _plain(value):
    """A pandas/numpy cell as a plain Python value sqlite3 can bind (NaN -> None)."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and value != value:
        return None
    return value

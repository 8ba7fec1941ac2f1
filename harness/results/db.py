"""The results database: one SQLite file, one row per (run, target, backend, model, p, n).

Every row is committed on its own, in WAL mode, so concurrent pytest-xdist workers can write to the
same file and an interrupted run keeps every completed row. The schema is versioned: ``MIGRATIONS``
lists the steps from an empty file to the current schema and opening a database applies the missing
ones.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import pandas as pd

STATUSES = ("passed", "failed", "does_not_fit", "error")
LOCK_WAIT_S = 60.0  # how long a writer waits for another process's transaction

MIGRATIONS: list[str] = [
    # 1: runs and results
    """
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
        latency REAL,             -- median over the timed runs
        latency_unit TEXT,        -- 'instructions' (emulators) or 'cycles' (boards)
        layer_latency TEXT,       -- JSON list of [layer name, latency]
        macs INTEGER,
        macs_patch_stage INTEGER,
        mac_overhead REAL,        -- overall MACs / per-layer MACs - 1
        sram_measured INTEGER,    -- .data + .bss + stack high-water
        sram_planned INTEGER,     -- arena + scratch + stack
        sram_analytic_counted INTEGER,   -- the paper's accounting, input image in SRAM
        sram_analytic_streamed INTEGER,  -- the paper's accounting, input image streamed
        arena_bytes INTEGER,
        stack_bytes INTEGER,
        data_bytes INTEGER,
        bss_bytes INTEGER,
        flash_bytes INTEGER,
        sram_budget INTEGER,
        flash_budget INTEGER,
        exact INTEGER,            -- 1: device output equals the host reference bit for bit
        output_crc TEXT,
        firmware_hash TEXT,
        flags TEXT,
        board_id TEXT,            -- probe unique id / serial / 'qemu:<machine>'
        log_path TEXT,
        created_at REAL NOT NULL,
        UNIQUE (run_id, target, backend, model, p, n)
    );
    CREATE INDEX results_point ON results (target, model, p, n);
    """,
]


class ResultsError(RuntimeError):
    """The results database cannot be opened or written; the message says which file and why."""


@dataclass
class ResultRow:
    run_id: str
    target: str
    backend: str
    model: str
    p: int
    n: int
    status: str
    reason: str | None = None
    latency: float | None = None
    latency_unit: str | None = None
    layer_latency: list[tuple[str, float]] = field(default_factory=list)
    macs: int | None = None
    macs_patch_stage: int | None = None
    mac_overhead: float | None = None
    sram_measured: int | None = None
    sram_planned: int | None = None
    sram_analytic_counted: int | None = None
    sram_analytic_streamed: int | None = None
    arena_bytes: int | None = None
    stack_bytes: int | None = None
    data_bytes: int | None = None
    bss_bytes: int | None = None
    flash_bytes: int | None = None
    sram_budget: int | None = None
    flash_budget: int | None = None
    exact: bool | None = None
    output_crc: str | None = None
    firmware_hash: str | None = None
    flags: str | None = None
    board_id: str | None = None
    log_path: str | None = None
    created_at: float = field(default_factory=time.time)

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status {self.status!r} is not one of {', '.join(STATUSES)}")


ROW_COLUMNS = [f.name for f in fields(ResultRow)]


class ResultsDB:
    """A results database file. Open it with ``ResultsDB(path)``; it is created and migrated."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._conn = sqlite3.connect(self.path, timeout=LOCK_WAIT_S, isolation_level=None)
            self._conn.execute(f"PRAGMA busy_timeout={int(LOCK_WAIT_S * 1000)}")
            self._enable_wal()
            self._migrate()
        except sqlite3.DatabaseError as err:
            raise ResultsError(
                f"{self.path}: not a usable patchbench results database ({err}); "
                "move it aside or pass another --results file"
            ) from err

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
                for statement in MIGRATIONS[step].split(";"):
                    if statement.strip():
                        self._conn.execute(statement)
                self._conn.execute(f"PRAGMA user_version = {step + 1}")
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
        self._conn.execute(
            "INSERT OR IGNORE INTO runs (run_id, started_at, git_commit, host, environment) VALUES (?,?,?,?,?)",
            (run_id, time.time(), git_commit, host, json.dumps(environment, sort_keys=True)),
        )

    def finish_run(self, run_id: str) -> None:
        self._conn.execute("UPDATE runs SET finished_at = ? WHERE run_id = ?", (time.time(), run_id))

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

    def add(self, row: ResultRow) -> None:
        """Store one point; a rerun of the same point in the same run replaces it."""
        values = asdict(row)
        values["layer_latency"] = json.dumps(values["layer_latency"])
        if values["exact"] is not None:
            values["exact"] = int(values["exact"])
        columns = ", ".join(ROW_COLUMNS)
        marks = ", ".join("?" for _ in ROW_COLUMNS)
        self._conn.execute(
            f"INSERT OR REPLACE INTO results ({columns}) VALUES ({marks})", [values[c] for c in ROW_COLUMNS]
        )

    def add_many(self, rows: Iterable[ResultRow]) -> None:
        for row in rows:
            self.add(row)

    def results(self, run_id: str | None = None) -> pd.DataFrame:
        """Result rows as a DataFrame (all runs, or one); layer_latency decoded to lists."""
        query = f"SELECT {', '.join(ROW_COLUMNS)} FROM results"
        params: tuple = ()
        if run_id is not None:
            query += " WHERE run_id = ?"
            params = (run_id,)
        frame = pd.read_sql_query(query + " ORDER BY id", self._conn, params=params)
        frame["layer_latency"] = frame["layer_latency"].map(lambda s: json.loads(s) if s else [])
        frame["exact"] = frame["exact"].map(lambda v: None if pd.isna(v) else bool(v))
        return frame

    def add_frame(self, frame: pd.DataFrame) -> None:
        """Store rows from a DataFrame with ResultRow's columns (e.g. from another database's export)."""
        for record in frame.to_dict("records"):
            kwargs = {k: _plain(v) for k, v in record.items() if k in ROW_COLUMNS}
            kwargs["layer_latency"] = kwargs.get("layer_latency") or []
            self.add(ResultRow(**kwargs))

    def export(self, path: str | Path, run_id: str | None = None) -> Path:
        """Write results to .csv or .json (chosen by the suffix)."""
        path = Path(path)
        frame = self.results(run_id)
        if path.suffix == ".csv":
            frame.assign(layer_latency=frame["layer_latency"].map(json.dumps)).to_csv(path, index=False)
        elif path.suffix == ".json":
            frame.to_json(path, orient="records", indent=1)
        else:
            raise ValueError(f"cannot export to {path.name!r}: use a .csv or .json file name")
        return path


def read_export(path: str | Path) -> pd.DataFrame:
    """Read a .csv or .json export back into a DataFrame shaped like ResultsDB.results()."""
    path = Path(path)
    if path.suffix == ".csv":
        frame = pd.read_csv(path)
        frame["layer_latency"] = frame["layer_latency"].map(
            lambda s: json.loads(s) if isinstance(s, str) else []
        )
    elif path.suffix == ".json":
        frame = pd.DataFrame(json.loads(path.read_text()))
    else:
        raise ValueError(f"cannot read {path.name!r}: use a .csv or .json export")
    return frame


def _plain(value):
    """A pandas/numpy cell as a plain Python value sqlite3 can bind (NaN -> None)."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and value != value:
        return None
    return value

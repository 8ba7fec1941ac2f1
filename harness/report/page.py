"""The HTML benchmark report: one self-contained page per run, and an index of the runs.

``write_report(db_path, run_id, out_dir, baseline=None)`` reads one run from the results database and
writes ``out_dir/run-<run id>.html``: a summary, per model and board the per-layer schedule beside every
per-patch one (memory measured, planned and analytic, flash, latency in the row's own unit, MACs,
overheads, exactness), charts (memory profile, the (p, n) grid against the board's budgets, the layer
breakdown of the chosen schedule, trends over the stored runs), the points that did not fit or failed
with their logs, the changes since a baseline, and the environment. ``write_index`` writes
``out_dir/index.html`` listing every stored run.

The page opens offline: CSS is inlined, charts are inline SVG, there is no script, and a Content
Security Policy forbids loading anything. Logs are copied beside the page (``logs-<run id>/``) so the
folder can be uploaded as one artifact. Templates are jinja2 with autoescaping on: every string from
the database is escaped; only the SVG charts (written by matplotlib, which escapes their text) and the
CSS file are inserted as markup.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd
from markupsafe import Markup

from harness.ir.schedule_name import schedule_label
from harness.paths import BUILD_DIR, REPO_ROOT, REPORTS_DIR
from harness.report import charts
from harness.report.charts import Chart
from harness.report.kernel_sets import kernel_set_comparisons
from harness.results.db import STATUSES, ResultsDB, ResultsError
from harness.results.record import COLUMNS, PointIdentity, decode, identity_of, variant_words
from harness.results.regression import (
    DELTA_COLUMNS,
    Comparison,
    RegressionError,
    compare_frames,
    delta_rows,
    load_thresholds,
    point_label,
    resolve_baseline,
)

TEMPLATES_DIR = REPORTS_DIR / "templates"
STATIC_DIR = REPORTS_DIR / "static"
DEFAULT_REPORT_DIR = BUILD_DIR / "report"  # where `bench` writes it too
KB = 1024
MAX_TREND_RUNS = 30
STATUS_TEXT = {"passed": "passed", "failed": "failed", "does_not_fit": "does not fit", "error": "error"}


class ReportError(ValueError):
    """The report cannot be written (no such database or run); the message says what to do."""


# --- the page's data ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    text: str
    value: str | None = None  # the exact figure behind the text (data-value), e.g. bytes
    note: str | None = None  # tooltip
    css: str = ""
    href: str | None = None


NA = Cell("—", css="na")


@dataclass(frozen=True)
class Column:
    """One schedule point of a model on a board."""

    key: str  # "p1-n0"
    title: str
    per_layer: bool
    status: str
    chosen: bool


@dataclass(frozen=True)
class Line:
    """One metric across the points of a group."""

    metric: str
    label: str
    cells: tuple[Cell, ...]


@dataclass
class Group:
    """One model on one board through one backend."""

    anchor: str
    target: str
    backend: str
    model: str
    board_ids: str
    sram_budget: Cell
    flash_budget: Cell
    columns: list[Column]
    lines: list[Line]
    chosen: str
    charts: list[Chart] = field(default_factory=list)
    trends: list[Chart] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Problem:
    point: str
    anchor: str
    status: str
    reason: str
    log: Cell


@dataclass(frozen=True)
class BaselineSection:
    label: str
    error: str | None
    ok: bool
    compared: int
    changes: list[dict[str, str]]
    delta_columns: tuple[str, ...]
    delta_rows: list[tuple[str, ...]]


# --- entry points ---------------------------------------------------------------------------------


def report_filename(run_id: str) -> str:
    return f"run-{_slug(run_id)}.html"


def write_report(
    db_path: str | Path,
    run_id: str | None = None,
    out_dir: str | Path = DEFAULT_REPORT_DIR,
    baseline: str | None = None,
    thresholds: str | Path | None = None,
) -> Path:
    """Write the report of ``run_id`` (default: the latest run) and refresh the index; returns the page."""
    db_path = Path(db_path)
    out_dir = Path(out_dir)
    with _open_db(db_path) as db:
        run_id = _resolve_run(db, run_id)
        out_dir.mkdir(parents=True, exist_ok=True)
        html = render_report(db, run_id, out_dir, baseline, thresholds)
    path = out_dir / report_filename(run_id)
    path.write_text(html, encoding="utf-8")
    write_index(db_path, out_dir)
    return path


def write_index(db_path: str | Path, out_dir: str | Path = DEFAULT_REPORT_DIR) -> Path:
    """Write ``out_dir/index.html``: every stored run, linked to its page when that page exists."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with _open_db(Path(db_path)) as db:
        runs = db.runs()
        results = db.results()
    entries = []
    for run in reversed(runs.to_dict("records")):
        rows = results[results["run_id"] == run["run_id"]]
        page = report_filename(run["run_id"])
        counts = rows["status"].value_counts()
        checked = rows["exact"].dropna()
        entries.append(
            {
                "run_id": run["run_id"],
                "href": page if (out_dir / page).is_file() else None,
                "started": _when(run["started_at"]),
                "finished": _when(run["finished_at"]),
                "git_commit": _text(run["git_commit"]),
                "host": _text(run["host"]),
                "targets": ", ".join(dict.fromkeys(rows["target"])),
                "backends": ", ".join(dict.fromkeys(rows["backend"])),
                "models": len(set(rows["model"])),
                "counts": {s: int(counts.get(s, 0)) for s in STATUSES},
                "points": len(rows),
                "exact": f"{int(checked.sum())}/{len(checked)}" if len(checked) else "—",
            }
        )
    html = (
        _jinja()
        .get_template("index.html.j2")
        .render(css=_css(), runs=entries, statuses=STATUSES, status_text=STATUS_TEXT, database=str(db_path))
    )
    path = out_dir / "index.html"
    path.write_text(html, encoding="utf-8")
    return path


def render_report(
    db: ResultsDB,
    run_id: str,
    out_dir: Path,
    baseline: str | None = None,
    thresholds: str | Path | None = None,
) -> str:
    """The HTML of one run's page (copies the run's logs into ``out_dir``)."""
    runs = db.runs().set_index("run_id")
    run = runs.loc[run_id]
    rows = db.results(run_id)
    records = [_record(r) for r in rows.to_dict("records")]
    environment = db.run_environment(run_id)
    logs = _LogPublisher(out_dir, run_id, db.path)
    groups = [_group(key, members, logs) for key, members in _grouped(records).items()]
    history = _history(db, runs, run["started_at"])
    for group in groups:
        group.trends = _trend_charts(group, history)
    page = {
        "run_id": run_id,
        "title": f"patchbench run {run_id}",
        "started": _when(run["started_at"]),
        "finished": _when(run["finished_at"]),
        "git_commit": _text(run["git_commit"]),
        "host": _text(run["host"]),
        "database": str(db.path),
        "generated": _when(time.time()),
    }
    return (
        _jinja()
        .get_template("run.html.j2")
        .render(
            css=_css(),
            page=page,
            summary=_summary(records, groups),
            baseline=_baseline_section(db, run_id, rows, baseline, thresholds),
            groups=groups,
            problems=_problems(records, logs),
            kernel_comparisons=kernel_set_comparisons(records),
            environment=_environment_lines(run, environment, records),
        )
    )


# --- groups: per-layer against per-patch ----------------------------------------------------------


def _grouped(records: list[dict]) -> dict[PointIdentity, list[dict]]:
    """The points of one model on one board with one kernel set, input mode, ... (all identity but
    p and n): the points a table sets side by side."""
    groups: dict[PointIdentity, list[dict]] = {}
    for record in records:
        groups.setdefault(identity_of(record).group, []).append(record)
    for members in groups.values():
        members.sort(key=lambda r: (r["p"], r["n"]))
    return groups


def group_anchor(group: PointIdentity) -> str:
    """The page anchor of a group: board, backend and model, plus what is not the default."""
    words = [group.place, *variant_words(group)]
    return _slug("-".join([group.target, group.backend, group.model, *filter(None, words)]))


def _group(key: PointIdentity, members: list[dict], logs: _LogPublisher) -> Group:
    target, backend, model = key.target, key.backend, key.model
    reference = next((r for r in members if r["p"] == 1), None)
    chosen = choose_schedule(members)
    columns = [
        Column(_point_key(r), _schedule_title(r), r["p"] == 1, r["status"], r is chosen) for r in members
    ]
    units = {r["latency_unit"] for r in members if r["latency_unit"]}
    latency_label = f"latency ({units.pop()})" if len(units) == 1 else "latency (unit per point)"
    per_cell_unit = len({r["latency_unit"] for r in members if r["latency_unit"]}) > 1

    def line(metric: str, label: str, make) -> Line:
        return Line(metric, label, tuple(make(r) for r in members))

    lines = [
        line(
            "status",
            "status",
            lambda r: Cell(STATUS_TEXT[r["status"]], r["status"], r["reason"], f"status-{r['status']}"),
        ),
        line("sram_measured", "peak SRAM, measured", lambda r: _bytes(r["sram_measured"])),
        line(
            "sram_planned",
            "peak SRAM, planned (arena + scratch + stack)",
            lambda r: _bytes(r["sram_planned"]),
        ),
        line(
            "sram_analytic_counted",
            "peak SRAM, analytic, input counted",
            lambda r: _bytes(r["sram_analytic_counted"]),
        ),
        line(
            "sram_analytic_streamed",
            "peak SRAM, analytic, input streamed",
            lambda r: _bytes(r["sram_analytic_streamed"]),
        ),
        line(
            "sram_reduction",
            "SRAM reduction vs per-layer (measured)",
            lambda r: _reduction(reference, r, "sram_measured"),
        ),
        line(
            "sram_reduction_analytic",
            "SRAM reduction vs per-layer (analytic, input counted)",
            lambda r: _reduction(reference, r, "sram_analytic_counted"),
        ),  # fmt: skip
        line("arena_bytes", "arena", lambda r: _bytes(r["arena_bytes"])),
        line("flash_bytes", "flash", lambda r: _bytes(r["flash_bytes"])),
        line("latency", latency_label, lambda r: _latency(r, per_cell_unit)),
        line("latency_overhead", "latency overhead vs per-layer", lambda r: _latency_overhead(reference, r)),
        line("macs", "MACs", lambda r: _macs(r["macs"])),
        line("macs_patch_stage", "MACs, patch stage", lambda r: _macs(r["macs_patch_stage"])),
        line(
            "mac_overhead",
            "MAC overhead vs per-layer",
            lambda r: _percent(r["mac_overhead"], r["mac_overhead"]),
        ),
        line("exact", "bit-exact with the host reference", _exact),
        line("log", "log", lambda r: logs.cell(r)),
    ]
    group = Group(
        anchor=group_anchor(key),
        target=target,
        backend=backend,
        model=model,
        board_ids=", ".join(dict.fromkeys(r["board_id"] for r in members if r["board_id"])) or "—",
        sram_budget=_bytes(_first(members, "sram_budget")),
        flash_budget=_bytes(_first(members, "flash_budget")),
        columns=columns,
        lines=lines,
        chosen=_chosen_text(chosen, reference),
    )
    group.charts = _group_charts(group, members, chosen)
    return group


def choose_schedule(members: Iterable[dict]) -> dict | None:
    """The point a deployment would pick: passed, bit-exact, within both budgets, then the fastest
    (ties: less SRAM). None when no point qualifies."""
    candidates = [
        r
        for r in members
        if r["status"] == "passed"
        and r["exact"] is not False
        and r["latency"] is not None
        and _within(r["sram_measured"], r["sram_budget"])
        and _within(r["flash_bytes"], r["flash_budget"])
    ]
    if not candidates:
        return None
    return min(candidates, key=lambda r: (r["latency"], r["sram_measured"] or 0, r["p"], r["n"]))


def _within(value: int | None, budget: int | None) -> bool:
    return value is None or budget is None or value <= budget


def _chosen_text(chosen: dict | None, reference: dict | None) -> str:
    if chosen is None:
        return "no point passed bit-exact within the board's budgets"
    text = f"{_schedule_title(chosen)}: {chosen['latency']:,.0f} {chosen['latency_unit']}"
    if chosen["sram_measured"] is not None:
        text += f", {chosen['sram_measured'] / KB:,.1f} kB SRAM measured"
    if (
        reference is not None
        and reference is not chosen
        and reference["sram_measured"]
        and chosen["sram_measured"]
    ):
        text += f" ({reference['sram_measured'] / chosen['sram_measured']:.2f}x less than per-layer)"
    return text


def _point_key(r: dict) -> str:
    return f"p{r['p']}-n{r['n']}"


def _schedule_title(r: dict) -> str:
    return schedule_label(r["p"], r["n"]) if r["p"] == 1 else f"per-patch {schedule_label(r['p'], r['n'])}"


def _first(members: list[dict], column: str) -> Any:
    return next((r[column] for r in members if r[column] is not None), None)


# --- cells ----------------------------------------------------------------------------------------


def _bytes(value: int | None) -> Cell:
    if value is None:
        return NA
    return Cell(f"{value / KB:,.1f} kB", str(int(value)), f"{int(value):,} bytes")


def _macs(value: int | None) -> Cell:
    if value is None:
        return NA
    return Cell(f"{value / 1e6:,.2f} M", str(int(value)), f"{int(value):,} MACs")


def _percent(value: float | None, exact: float | None = None) -> Cell:
    if value is None:
        return NA
    return Cell(f"{100 * value:+.1f} %", repr(exact if exact is not None else value))


def _latency(r: dict, with_unit: bool) -> Cell:
    if r["latency"] is None:
        return NA
    text = f"{r['latency']:,.0f}" + (f" {r['latency_unit']}" if with_unit else "")
    return Cell(text, repr(r["latency"]), f"{r['latency']:,.0f} {r['latency_unit']} (median)")


def _latency_overhead(reference: dict | None, r: dict) -> Cell:
    if reference is None or r is reference:
        return Cell("reference", css="na") if r is reference else NA
    if reference["latency"] in (None, 0) or r["latency"] is None:
        return NA
    if reference["latency_unit"] != r["latency_unit"]:
        # Instructions and cycles are different quantities: no ratio between them.
        return Cell("— (units differ)", css="na")
    return _percent(r["latency"] / reference["latency"] - 1)


def _reduction(reference: dict | None, r: dict, column: str) -> Cell:
    if reference is None or r is reference:
        return Cell("reference", css="na") if r is reference else NA
    before, now = reference[column], r[column]
    if not before or not now:
        return NA
    return Cell(f"{before / now:.2f}x", repr(before / now), f"{before:,} / {now:,} bytes")


def _exact(r: dict) -> Cell:
    if r["exact"] is None:
        return Cell("not checked", css="na")
    if r["exact"]:
        return Cell("yes", "1", r["output_crc"] and f"output CRC {r['output_crc']}", "exact-yes")
    return Cell("NO", "0", r["output_crc"] and f"output CRC {r['output_crc']}", "exact-no")


# --- charts ---------------------------------------------------------------------------------------


def _group_charts(group: Group, members: list[dict], chosen: dict | None) -> list[Chart]:
    title = f"{group.model} on {group.target} ({group.backend})"
    missing = [None if r["status"] == "passed" else STATUS_TEXT[r["status"]] for r in members]
    found = charts.grid_charts(title, group.anchor, members, missing)
    if chosen is not None and (layers := charts.layer_chart(title, group.anchor, chosen)):
        found.append(layers)
    point = best_patch_point(members)
    shown = point or next((r for r in members if r["p"] == 1), members[0])
    what = "per-layer only (no per-patch point in this run)" if point is None else _schedule_title(point)
    analysis = decode("analysis", shown["analysis"])
    if analysis is None:
        group.notes.append(
            f"Memory profile not drawn: {group.model} p={shown['p']} n={shown['n']}: no analytic profile "
            "stored with this point (stored before profiles were, or the point failed before its plan)"
        )
    else:
        found.insert(
            0, charts.memory_profile_chart(analysis, _first(members, "sram_budget"), group.anchor, what)
        )
    return found


def best_patch_point(members: list[dict]) -> dict | None:
    """The per-patch point whose memory profile the report draws: the chosen per-patch schedule,
    else the per-patch point that needs the least analytic SRAM."""
    patched = [r for r in members if r["p"] > 1]
    chosen = choose_schedule(patched)
    if chosen is not None:
        return chosen
    with_memory = [r for r in patched if r["sram_analytic_counted"] is not None]
    if with_memory:
        return min(with_memory, key=lambda r: (r["sram_analytic_counted"], r["p"], r["n"]))
    return patched[0] if patched else None


def _history(db: ResultsDB, runs: pd.DataFrame, until: float) -> pd.DataFrame:
    """Passed rows of every run that started no later than this one (the newest MAX_TREND_RUNS)."""
    earlier = runs[runs["started_at"] <= until].sort_values("started_at")
    keep = list(earlier.index[-MAX_TREND_RUNS:])
    rows = db.results()
    rows = rows[rows["run_id"].isin(keep) & (rows["status"] == "passed")].copy()
    rows["run_order"] = rows["run_id"].map({run: i for i, run in enumerate(keep)})
    return rows


def _trend_charts(group: Group, history: pd.DataFrame) -> list[Chart]:
    mine = history[
        (history["target"] == group.target)
        & (history["backend"] == group.backend)
        & (history["model"] == group.model)
    ]
    return charts.trend_charts(f"{group.model} on {group.target}", group.anchor, mine)


# --- summary, problems, baseline, environment ------------------------------------------------------


def _summary(records: list[dict], groups: list[Group]) -> dict:
    checked = [r for r in records if r["exact"] is not None]
    inexact = [r for r in checked if not r["exact"]]
    if not checked:
        exactness = "no point was checked against the reference"
    elif inexact:
        exactness = f"NOT all bit-exact: {len(inexact)} of {len(checked)} checked points differ"
    else:
        exactness = f"all {len(checked)} checked points bit-exact"
    boards: dict[str, list[str]] = {}
    for r in records:
        ids = boards.setdefault(r["target"], [])
        if r["board_id"] and r["board_id"] not in ids:
            ids.append(r["board_id"])
    return {
        "boards": [{"target": t, "board_ids": ", ".join(ids) or "—"} for t, ids in boards.items()],
        "backends": list(dict.fromkeys(r["backend"] for r in records)),
        "models": list(dict.fromkeys(r["model"] for r in records)),
        "counts": {s: sum(r["status"] == s for r in records) for s in STATUSES},
        "total": len(records),
        "exactness": exactness,
        "all_exact": bool(checked) and not inexact,
        "units": list(dict.fromkeys(r["latency_unit"] for r in records if r["latency_unit"])),
        "choices": [
            {
                "anchor": g.anchor,
                "model": g.model,
                "target": g.target,
                "backend": g.backend,
                "chosen": g.chosen,
            }
            for g in groups
        ],
    }


def _problems(records: list[dict], logs: _LogPublisher) -> list[Problem]:
    found = []
    for r in records:
        if r["status"] == "passed" and r["exact"] is not False:
            continue
        reason = r["reason"] or ("output not bit-exact" if r["exact"] is False else "no reason recorded")
        found.append(
            Problem(
                point=point_label(identity_of(r)),
                anchor=group_anchor(identity_of(r).group),
                status=STATUS_TEXT[r["status"]],
                reason=reason,
                log=logs.cell(r),
            )
        )
    return found


def _baseline_section(
    db: ResultsDB, run_id: str, rows: pd.DataFrame, baseline: str | None, thresholds: str | Path | None
) -> BaselineSection | None:
    if not baseline:
        return None
    try:
        base = resolve_baseline(db, run_id, baseline)
        comparison = compare_frames(rows, base.rows, load_thresholds(thresholds), run_id, base.label)
    except (RegressionError, ResultsError, ValueError) as error:
        return BaselineSection(str(baseline), str(error), True, 0, [], DELTA_COLUMNS, [])
    return _comparison_section(comparison)


def _comparison_section(comparison: Comparison) -> BaselineSection:
    order = {"regression": 0, "improvement": 1, "note": 2}
    changes = [
        {"verdict": c.verdict, "point": point_label(c.key), "metric": c.metric, "message": c.message}
        for c in sorted(comparison.changes, key=lambda c: order[c.verdict])
    ]
    return BaselineSection(
        label=comparison.baseline,
        error=None,
        ok=comparison.ok,
        compared=comparison.compared,
        changes=changes,
        delta_columns=DELTA_COLUMNS,
        delta_rows=delta_rows(comparison),
    )


def _environment_lines(run: pd.Series, environment: dict, records: list[dict]) -> list[tuple[str, str]]:
    lines = [("git commit", _text(run["git_commit"])), ("host", _text(run["host"]))]
    for key, value in sorted(environment.items()):
        if key in ("git_commit", "host"):
            continue
        lines.append((key, "—" if value is None else value if isinstance(value, str) else json.dumps(value)))
    for column, label in (("flags", "flags"), ("board_id", "board ids"), ("backend", "backends")):
        values = list(dict.fromkeys(r[column] for r in records if r[column]))
        for index, value in enumerate(values):
            lines.append((label if index == 0 else "", str(value)))
    hashes = {r["firmware_hash"] for r in records if r["firmware_hash"]}
    lines.append(("firmware builds", str(len(hashes))))
    return lines


# --- logs -----------------------------------------------------------------------------------------


class _LogPublisher:
    """Copies each point's log beside the page (logs-<run>/<point>.log) and links it relatively.

    Only a ``.log`` file inside the build folder (or the ``logs`` folder beside the database) is copied,
    symlinks resolved: the report folder is what CI uploads, and a planted or foreign database must not
    pull any other readable file (``/etc/passwd``, a key) into it."""

    def __init__(self, out_dir: Path, run_id: str, db_path: Path):
        self.folder_name = f"logs-{_slug(run_id)}"
        self.folder = out_dir / self.folder_name
        self.search = [Path.cwd(), db_path.resolve().parent, REPO_ROOT]
        self.allowed = [BUILD_DIR.resolve(), db_path.resolve().parent / "logs"]
        self._done: dict[str, Cell] = {}

    def cell(self, r: dict) -> Cell:
        if not r["log_path"]:
            return NA
        key = point_label(identity_of(r))
        if key not in self._done:
            self._done[key] = self._publish(Path(r["log_path"]), _slug(key))
        return self._done[key]

    def _publish(self, source: Path, name: str) -> Cell:
        found = (
            source
            if source.is_absolute()
            else next((d / source for d in self.search if (d / source).is_file()), source)
        )
        if not found.is_file():
            return Cell("log missing", css="na", note=f"{source} no longer exists")
        real = found.resolve()
        if real.suffix != ".log" or not any(real.is_relative_to(root) for root in self.allowed):
            return Cell(
                "log not copied", css="na",
                note=f"{source} is not a .log file inside {BUILD_DIR} (or a logs folder beside the database)",
            )  # fmt: skip
        self.folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(real, self.folder / f"{name}.log")
        return Cell("log", note=str(source), href=f"{self.folder_name}/{name}.log")


# --- helpers --------------------------------------------------------------------------------------

_ROW_INTS = tuple(name for name, kind in COLUMNS.items() if kind == "INTEGER" and name != "exact")


def _record(raw: dict) -> dict:
    """A results row as plain Python values: NaN -> None, integer columns as int."""
    record = {}
    for key, value in raw.items():
        if hasattr(value, "item") and not isinstance(value, list | str):
            value = value.item()
        if isinstance(value, float) and math.isnan(value):
            value = None
        record[key] = value
    for key in _ROW_INTS:
        if record.get(key) is not None:
            record[key] = int(record[key])
    return record


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", str(text)).strip("._") or "x"


def _when(stamp: float | None) -> str:
    if stamp is None or (isinstance(stamp, float) and math.isnan(stamp)):
        return "—"
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(float(stamp)))


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return str(value)


def _css() -> Markup:
    # Markup: the stylesheet is our own file; escaping would break selectors like "a > b".
    return Markup((STATIC_DIR / "report.css").read_text(encoding="utf-8"))


def _jinja() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _open_db(db_path: Path) -> ResultsDB:
    if not db_path.is_file():
        raise ReportError(f"results database {db_path} not found; run the benchmark first or pass --results")
    return ResultsDB(db_path)


def _resolve_run(db: ResultsDB, run_id: str | None) -> str:
    if run_id is None:
        run_id = db.latest_run_id()
        if run_id is None:
            raise ReportError(f"{db.path} holds no run yet; run the benchmark first")
    elif run_id not in db.run_ids():
        raise ReportError(
            f"no run {run_id!r} in {db.path}; latest runs: {', '.join(db.run_ids()[-5:]) or 'none'}"
        )
    return run_id

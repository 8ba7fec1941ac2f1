# SPDX-License-Identifier: Apache-2.0
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

import os
import time
from pathlib import Path

import jinja2
from markupsafe import Markup

from harness.paths import BUILD_DIR, REPORTS_DIR
from harness.report.cells import STATUS_TEXT, plain_record, slug, text_or_dash, when
from harness.report.engines import RATIO_GAP, TINYENGINE_SOURCE, engine_comparisons
from harness.report.figure6 import figure6_section
from harness.report.groups import grouped, history, make_group, models_of_several_contents, trend_charts_of
from harness.report.kernel_sets import kernel_set_comparisons
from harness.report.logs import LogPublisher
from harness.report.op_profiles import op_profiles
from harness.report.sections import baseline_section, describe_backend, environment_lines, problems, summary
from harness.results.db import STATUSES, ResultsDB, path_problem

TEMPLATES_DIR = REPORTS_DIR / "templates"
STATIC_DIR = REPORTS_DIR / "static"
DEFAULT_REPORT_DIR = BUILD_DIR / "report"  # where `bench` writes it too


class ReportError(ValueError):
    """The report cannot be written (no such database or run); the message says what to do."""


def report_filename(run_id: str) -> str:
    return f"run-{slug(run_id)}.html"


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
        _make_out_dir(out_dir)
        html = render_report(db, run_id, out_dir, baseline, thresholds)
    path = out_dir / report_filename(run_id)
    path.write_text(html, encoding="utf-8")
    write_index(db_path, out_dir)
    return path


def write_index(db_path: str | Path, out_dir: str | Path = DEFAULT_REPORT_DIR) -> Path:
    """Write ``out_dir/index.html``: every stored run, linked to its page when that page exists."""
    out_dir = Path(out_dir)
    _make_out_dir(out_dir)
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
                "started": when(run["started_at"]),
                "finished": when(run["finished_at"]),
                "git_commit": text_or_dash(run["git_commit"]),
                "host": text_or_dash(run["host"]),
                "targets": ", ".join(dict.fromkeys(rows["target"])),
                "backends": ", ".join(describe_backend(b) for b in dict.fromkeys(rows["backend"])),
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
    records = [plain_record(r) for r in rows.to_dict("records")]
    environment = db.run_environment(run_id)
    logs = LogPublisher(out_dir, run_id, db.path)
    by_key = grouped(records)
    ambiguous = models_of_several_contents(by_key)
    groups = [make_group(key, members, logs, ambiguous) for key, members in by_key.items()]
    earlier = history(db, runs, run["started_at"])
    for group in groups:
        group.trends = trend_charts_of(group, earlier)
    page = {
        "run_id": run_id,
        "title": f"patchbench run {run_id}",
        "started": when(run["started_at"]),
        "finished": when(run["finished_at"]),
        "git_commit": text_or_dash(run["git_commit"]),
        "host": text_or_dash(run["host"]),
        "database": str(db.path),
        "generated": when(time.time()),
    }
    return (
        _jinja()
        .get_template("run.html.j2")
        .render(
            css=_css(),
            page=page,
            summary=summary(records, groups),
            baseline=baseline_section(db, run_id, rows, baseline, thresholds),
            groups=groups,
            problems=problems(records, logs),
            kernel_comparisons=kernel_set_comparisons(records),
            engine_comparisons=engine_comparisons(records),
            published_source=TINYENGINE_SOURCE,
            ratio_gap=RATIO_GAP,
            figure6=figure6_section(records),
            op_profiles=op_profiles(records),
            environment=environment_lines(run, environment, records),
        )
    )


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
        problem = path_problem(db_path) or "not found; run the benchmark first or pass --results"
        raise ReportError(f"results database {db_path}: {problem}")
    return ResultsDB(db_path)


def _make_out_dir(out_dir: Path) -> None:
    """The report folder, made if it is not there; a file in its place or a folder that takes no write
    is a ReportError (the results stay in the database: write the report elsewhere)."""
    if out_dir.exists() and not out_dir.is_dir():
        raise ReportError(
            f"report folder {out_dir} is a file, not a folder; pass another folder (--out / --report)"
        )
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        probe = out_dir / f".pb-write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        raise ReportError(
            f"report folder {out_dir} cannot be written ({err.strerror}); pass a writable folder (--out / "
            "--report): the results are untouched in the database"
        ) from None


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

# SPDX-License-Identifier: Apache-2.0
"""Regression verdicts: one run compared with a baseline, point by point.

A point is keyed by its identity (``harness.results.record.PointIdentity``: target, backend and board,
model, p, n, kernel set and engine, input mode, planner and in-place policy, compiler). Only equal
identities are compared: a DSP run is never set against a portable one, nor streamed input against
counted; a baseline point whose identity this run does not have is a note saying what differs. For
every point both sides measured, the run's
latency, measured SRAM and flash are set against the baseline's with the thresholds of
``regression.toml`` (per latency unit: instruction counts from QEMU are deterministic and allow a tight
threshold, DWT cycles on a board need a looser one), and the status and exactness are checked:

- regressions (``compare`` exits non-zero): slower beyond the threshold, more SRAM or flash beyond
  both the byte and the percentage threshold, a point that is not bit-exact, a point that passed and
  now fails, a point that fitted and now does not;
- improvements: the same changes in the good direction; reported, never a failure;
- notes: anything worth saying that is neither (latency units that differ and so are not compared, a
  point only one side has, a point measured with another identity, a point that was and still is
  failing).

The baseline is a run id of the same database, ``"previous"`` (for each board and backend of the run,
the latest earlier run that measured it), or a ``.csv``/``.json`` export of another database
(``ResultsDB.export``).
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from harness.paths import REGRESSION_FILE
from harness.results.db import ResultsDB, path_problem, read_export
from harness.results.record import PointIdentity, identity_of, point_label

__all__ = ["point_label"]  # re-exported: the report labels points with it too

DEFAULT_THRESHOLDS_FILE = REGRESSION_FILE
PREVIOUS = "previous"
FAILING = ("failed", "error")
# What must match for two points to be "the same point measured differently" (a no-match note).
_COUNTERPART = ("target", "backend", "model", "p", "n")

PointKey = PointIdentity
Verdict = Literal["regression", "improvement", "note"]


class RegressionError(ValueError):
    """A baseline or thresholds file that cannot be used; the message says which and what to do."""


# --- thresholds ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Thresholds:
    """How far a figure may move before it counts (percentages are percent: 0.5 means 0.5 %)."""

    latency_pct: float = 1.0
    sram_bytes: int = 256
    sram_pct: float = 0.25
    flash_bytes: int = 512
    flash_pct: float = 0.25
    # Deterministic figures (QEMU's instruction counts, its SRAM, flash and output CRC): any difference,
    # either way, is a regression; the thresholds above do not apply.
    any_change: bool = False


@dataclass(frozen=True)
class RegressionConfig:
    defaults: Thresholds = field(default_factory=Thresholds)
    by_unit: dict[str, Thresholds] = field(default_factory=dict)
    fail_on_missing: bool = True
    source: Path | None = None

    def for_unit(self, unit: str | None) -> Thresholds:
        return self.by_unit.get(unit or "", self.defaults)


_THRESHOLD_KEYS = {f.name for f in fields(Thresholds)}


def load_thresholds(path: str | Path | None = None) -> RegressionConfig:
    """The thresholds of ``path`` (default: regression.toml at the repository root, or built-in
    defaults when that file is absent)."""
    if path is None and not DEFAULT_THRESHOLDS_FILE.is_file():
        return RegressionConfig()
    path = Path(path) if path is not None else DEFAULT_THRESHOLDS_FILE
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise RegressionError(f"thresholds file {path} not found") from None
    except tomllib.TOMLDecodeError as err:
        raise RegressionError(f"thresholds file {path} is not valid TOML: {err}") from None
    unknown = set(data) - {"defaults", "latency_unit"}
    if unknown:
        raise RegressionError(
            f"{path}: unknown table(s) {', '.join(sorted(unknown))}; use [defaults] and [latency_unit.<unit>]"
        )
    base = dict(data.get("defaults", {}))
    fail_on_missing = base.pop("fail_on_missing", True)
    if not isinstance(fail_on_missing, bool):
        raise RegressionError(f"{path}: [defaults] fail_on_missing must be true or false")
    defaults = _thresholds(base, Thresholds(), f"{path} [defaults]")
    by_unit = {
        unit: _thresholds(values, defaults, f"{path} [latency_unit.{unit}]")
        for unit, values in data.get("latency_unit", {}).items()
    }
    return RegressionConfig(defaults, by_unit, fail_on_missing, path)


def _thresholds(values: dict[str, Any], inherit: Thresholds, where: str) -> Thresholds:
    unknown = set(values) - _THRESHOLD_KEYS
    if unknown:
        raise RegressionError(
            f"{where}: unknown key(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(_THRESHOLD_KEYS))}"
        )
    merged = {name: getattr(inherit, name) for name in _THRESHOLD_KEYS} | values
    if not isinstance(merged["any_change"], bool):
        raise RegressionError(f"{where}: any_change must be true or false, not {merged['any_change']!r}")
    for name, value in merged.items():
        if name == "any_change":
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise RegressionError(f"{where}: {name} must be a number >= 0, not {value!r}")
    return Thresholds(**merged)


# --- baselines ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Baseline:
    label: str  # what the baseline is, for people: "run 20260101-...", "file baselines/x.json", ...
    rows: pd.DataFrame
    run_ids: tuple[str, ...] = ()  # the stored runs it came from, when it came from this database


def resolve_baseline(db: ResultsDB, run_id: str, baseline: str) -> Baseline:
    """The baseline rows that ``run_id`` is compared with: a run id, ``"previous"`` or an export file."""
    if baseline == PREVIOUS:
        return previous_baseline(db, run_id)
    if baseline in db.run_ids():
        return Baseline(f"run {baseline}", db.results(baseline), (baseline,))
    path = Path(baseline)
    if path.suffix in (".csv", ".json"):
        if not path.is_file():
            raise RegressionError(f"baseline file {path} not found")
        frame = _latest_per_point(read_export(path))
        return Baseline(f"file {path}", frame)
    known = db.run_ids()[-5:]
    raise RegressionError(
        f"baseline {baseline!r} is neither a run in {db.path} (latest: {', '.join(known) or 'none'}), "
        f"a .csv/.json export, nor {PREVIOUS!r}"
    )


def previous_baseline(db: ResultsDB, run_id: str) -> Baseline:
    """For each (target, backend) the run measured, that pair's rows of the latest earlier run."""
    runs = db.runs()
    if run_id not in set(runs["run_id"]):
        raise RegressionError(f"no run {run_id!r} in {db.path}")
    started = runs.set_index("run_id")["started_at"]
    finished = runs.set_index("run_id")["finished_at"].notna()
    # A run that did not finish is no baseline: the points it did not reach would all be "missing".
    earlier = [r for r in runs["run_id"] if started[r] < started[run_id] and finished[r]]
    all_rows = db.results()
    current = all_rows[all_rows["run_id"] == run_id]
    pairs = sorted(set(zip(current["target"], current["backend"], strict=True)))
    parts, sources, run_ids, missing = [], [], [], []
    for target, backend in pairs:
        pair_rows = all_rows[(all_rows["target"] == target) & (all_rows["backend"] == backend)]
        candidates = [r for r in reversed(earlier) if (pair_rows["run_id"] == r).any()]
        if not candidates:
            missing.append(f"{target}/{backend}")
            continue
        parts.append(pair_rows[pair_rows["run_id"] == candidates[0]])
        sources.append(f"{candidates[0]} ({target}/{backend})")
        run_ids.append(candidates[0])
    if not parts:
        raise RegressionError(
            f"no run before {run_id!r} in {db.path} measured {', '.join(missing) or 'any point'}; "
            "there is nothing to compare with yet"
        )
    label = "previous run " + ", ".join(sources)
    if missing:
        label += f"; none before for {', '.join(missing)}"
    return Baseline(label, pd.concat(parts, ignore_index=True), tuple(dict.fromkeys(run_ids)))


def _latest_per_point(frame: pd.DataFrame) -> pd.DataFrame:
    """An export of several runs: per point (identity), the newest row."""
    missing = [c for c in (*_COUNTERPART, "status") if c not in frame.columns]
    if missing:
        raise RegressionError(
            f"baseline export lacks column(s) {', '.join(missing)}: not a patchbench export"
        )
    if "created_at" in frame.columns:
        frame = frame.sort_values("created_at", kind="stable")
    keys = frame.apply(lambda row: identity_of(row), axis=1)
    return frame[~keys.duplicated(keep="last")].reset_index(drop=True)


# --- comparison ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    key: PointKey
    metric: str  # "status", "exact", "latency", "sram_measured", "flash_bytes", "point"
    verdict: Verdict
    message: str
    baseline: Any = None
    current: Any = None
    delta: float | None = None  # current - baseline
    delta_pct: float | None = None  # percent of the baseline


@dataclass(frozen=True)
class PointComparison:
    key: PointKey
    baseline: dict[str, Any] | None  # the baseline's row (None: new point)
    current: dict[str, Any] | None  # the run's row (None: missing from the run)
    changes: tuple[Change, ...]

    @property
    def verdict(self) -> str:
        verdicts = {c.verdict for c in self.changes}
        for verdict in ("regression", "improvement"):
            if verdict in verdicts:
                return verdict
        return "unchanged"

    def value(self, side: str, column: str) -> Any:
        row = self.baseline if side == "baseline" else self.current
        return None if row is None else _clean(row.get(column))


@dataclass(frozen=True)
class Comparison:
    run_id: str
    baseline: str
    config: RegressionConfig
    points: tuple[PointComparison, ...]
    run_finished: bool = True  # the run's session ended (not killed, interrupted, or still running)
    allow_partial: bool = False  # an unfinished run, missing points and nothing compared are notes

    @property
    def problems(self) -> list[str]:
        """What makes the comparison itself unsound, whatever the figures say: each fails ``compare``
        unless ``allow_partial``."""
        found = []
        if not self.run_finished:
            found.append(
                f"run {self.run_id} did not finish (killed, interrupted or still running): a point it "
                "did not reach is not compared; compare a finished run, or pass --allow-partial"
            )
        if self.compared == 0:
            found.append(
                f"0 points compared: run {self.run_id} and {self.baseline} have no point in common; "
                "check --run and --baseline, or pass --allow-partial"
            )
        return found

    @property
    def changes(self) -> list[Change]:
        return [c for p in self.points for c in p.changes]

    @property
    def regressions(self) -> list[Change]:
        return [c for c in self.changes if c.verdict == "regression"]

    @property
    def improvements(self) -> list[Change]:
        return [c for c in self.changes if c.verdict == "improvement"]

    @property
    def notes(self) -> list[Change]:
        return [c for c in self.changes if c.verdict == "note"]

    @property
    def ok(self) -> bool:
        return not self.regressions and (self.allow_partial or not self.problems)

    @property
    def compared(self) -> int:
        return sum(1 for p in self.points if p.baseline is not None and p.current is not None)


def compare_frames(
    current: pd.DataFrame,
    baseline: pd.DataFrame,
    config: RegressionConfig | None = None,
    run_id: str = "",
    baseline_label: str = "baseline",
    *,
    run_finished: bool = True,
    allow_partial: bool = False,
) -> Comparison:
    """Every point of ``current`` against the point of ``baseline`` with the same identity. A baseline
    point the run lacks is a regression (``fail_on_missing``, the default) unless ``allow_partial``."""
    config = config or load_thresholds()
    now = _by_key(current)
    before = _by_key(baseline)
    before, now = _adopt_content(before, now), _adopt_content(now, before)
    # Points of the baseline on boards/backends the run did not use are out of scope, not missing
    # (a run with no point at all used none: then every baseline point is missing).
    used = {(k.target, k.backend) for k in now} or {(k.target, k.backend) for k in before}
    keys = sorted(set(now) | {k for k in before if (k.target, k.backend) in used})
    unmatched_now = _by_counterpart(k for k in now if k not in before)
    unmatched_before = _by_counterpart(k for k in before if k not in now)
    points = []
    for key in keys:
        b, c = before.get(key), now.get(key)
        if b is None:
            changes = [
                _no_match(key, unmatched_before, "the baseline")
                or Change(key, "point", "note", f"new point ({c['status']}); not in the baseline")
            ]
        elif c is None:
            verdict: Verdict = "regression" if config.fail_on_missing and not allow_partial else "note"
            changes = [
                _no_match(key, unmatched_now, "this run")
                or Change(key, "point", verdict, f"not measured in this run (was {b['status']})")
            ]
        else:
            changes = _compare_point(key, b, c, config)
        points.append(PointComparison(key, b, c, tuple(changes)))
    return Comparison(run_id, baseline_label, config, tuple(points), run_finished, allow_partial)


def _adopt_content(rows: dict[PointKey, dict], others: dict[PointKey, dict]) -> dict[PointKey, dict]:
    """Rows stored before the model's content was recorded (model_hash "") take the content of the one
    point of ``others`` they equal otherwise: an old baseline stays comparable, two contents never are."""
    contents: dict[PointKey, list[PointKey]] = {}
    for key in others:
        contents.setdefault(replace(key, model_hash=""), []).append(key)
    adopted = {}
    for key, row in rows.items():
        found = contents.get(key, []) if not key.model_hash else []
        adopted[found[0] if len(found) == 1 else key] = row
    return adopted


def _by_counterpart(keys: Iterable[PointIdentity]) -> dict[tuple, list[PointIdentity]]:
    found: dict[tuple, list[PointIdentity]] = {}
    for key in keys:
        found.setdefault(tuple(getattr(key, name) for name in _COUNTERPART), []).append(key)
    return found


def _no_match(key: PointIdentity, others: dict[tuple, list[PointIdentity]], there: str) -> Change | None:
    """A note when ``there`` measured this point only with another identity: not compared, never a
    regression (the run changed what it measures, e.g. the kernel set, not how fast it is)."""
    counterparts = others.get(tuple(getattr(key, name) for name in _COUNTERPART))
    if not counterparts:
        return None
    what = " / ".join(", ".join(other.differences(key)) for other in counterparts)
    return Change(key, "point", "note", f"no match in {there}, which measured it with {what}: not compared")


def compare_run(
    db_path: str | Path,
    run_id: str | None = None,
    baseline: str = PREVIOUS,
    thresholds: str | Path | RegressionConfig | None = None,
    *,
    allow_partial: bool = False,
) -> Comparison:
    """Compare a stored run (default: the latest) with ``baseline``; an unfinished run, a baseline
    point the run lacks, or no point compared fail it unless ``allow_partial``."""
    config = thresholds if isinstance(thresholds, RegressionConfig) else load_thresholds(thresholds)
    db_path = Path(db_path)
    if not db_path.is_file():
        problem = path_problem(db_path) or "not found; run the benchmark first or pass --results"
        raise RegressionError(f"results database {db_path}: {problem}")
    with ResultsDB(db_path) as db:
        run_id = run_id or db.latest_run_id()
        if run_id is None:
            raise RegressionError(f"{db_path} holds no run yet")
        if run_id not in db.run_ids():
            raise RegressionError(f"no run {run_id!r} in {db_path}; known: {', '.join(db.run_ids()[-5:])}")
        base = resolve_baseline(db, run_id, baseline)
        current = db.results(run_id)
        finished = db.run_finished(run_id)
    return compare_frames(current, base.rows, config, run_id, base.label, run_finished=finished,
                          allow_partial=allow_partial)  # fmt: skip


def _by_key(frame: pd.DataFrame) -> dict[PointKey, dict[str, Any]]:
    rows = {}
    for record in frame.to_dict("records"):
        record = {k: _clean(v) for k, v in record.items()}
        record["exact"] = _as_bool(record.get("exact"))
        rows[identity_of(record)] = record
    return rows


def _clean(value: Any) -> Any:
    if hasattr(value, "item") and not isinstance(value, list | dict | str):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _as_bool(value: Any) -> bool | None:
    """exact as stored (bool), or as an export reads it back (1.0, "True", "1")."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return bool(value)


def _compare_point(key: PointKey, b: dict, c: dict, config: RegressionConfig) -> list[Change]:
    changes = _status_changes(key, b, c)
    if c.get("exact") is False:
        was = {True: "was bit-exact", False: "already was not", None: "baseline did not check"}[
            b.get("exact")
        ]
        changes.append(
            Change(key, "exact", "regression", f"output not bit-exact ({was})", b.get("exact"), False)
        )
    elif b.get("exact") is False and c.get("exact") is True:
        changes.append(Change(key, "exact", "improvement", "output bit-exact again", False, True))
    unit = c.get("latency_unit") or b.get("latency_unit")
    thresholds = config.for_unit(unit)
    changes += _latency_change(key, b, c, thresholds)
    changes += _memory_change(key, "sram_measured", "SRAM", b, c, thresholds, "sram")
    changes += _memory_change(key, "flash_bytes", "flash", b, c, thresholds, "flash")
    if thresholds.any_change:
        before, now = _clean(b.get("output_crc")), _clean(c.get("output_crc"))
        if before is not None and now is not None and before != now:
            changes.append(
                Change(key, "output_crc", "regression", f"output CRC {before} -> {now}", before, now)
            )
    return changes


def _status_changes(key: PointKey, b: dict, c: dict) -> list[Change]:
    was, now = b["status"], c["status"]
    reason = f": {c['reason']}" if c.get("reason") else ""
    if was == now:
        if now == "passed":
            return []
        return [Change(key, "status", "note", f"still {_status_text(now)}{reason}", was, now)]
    if now in FAILING:
        return [
            Change(
                key,
                "status",
                "regression",
                f"newly {_status_text(now)} (was {_status_text(was)}){reason}",
                was,
                now,
            )
        ]
    if now == "does_not_fit":
        verdict: Verdict = "regression" if was == "passed" else "note"
        return [Change(key, "status", verdict, f"no longer fits (was {_status_text(was)}){reason}", was, now)]
    # now passed, was not
    message = "now fits and passes" if was == "does_not_fit" else f"now passes (was {_status_text(was)})"
    return [Change(key, "status", "improvement", message, was, now)]


def _status_text(status: str) -> str:
    return {"does_not_fit": "not fitting", "error": "erroring"}.get(status, status)


def _latency_change(key: PointKey, b: dict, c: dict, thresholds: Thresholds) -> list[Change]:
    before, now = b.get("latency"), c.get("latency")
    if before is None or now is None:
        return []
    b_unit, c_unit = b.get("latency_unit"), c.get("latency_unit")
    if b_unit != c_unit:
        return [
            Change(
                key,
                "latency",
                "note",
                f"latency not compared: the baseline counts {b_unit}, this run {c_unit}",
                before,
                now,
            )
        ]
    delta = now - before
    pct = _pct(delta, before)
    if pct is None:
        return []
    if thresholds.any_change:
        if delta == 0:
            return []
        text = (
            f"latency {before:,.0f} -> {now:,.0f} {c_unit} ({pct:+.2f} %; any change counts: deterministic)"
        )
        what = "slower: " if delta > 0 else "faster (still a change): "
        return [Change(key, "latency", "regression", what + text, before, now, delta, pct)]
    text = (
        f"latency {before:,.0f} -> {now:,.0f} {c_unit} ({pct:+.2f} %, threshold {thresholds.latency_pct} %)"
    )
    if pct > thresholds.latency_pct:
        return [Change(key, "latency", "regression", "slower: " + text, before, now, delta, pct)]
    if pct < -thresholds.latency_pct:
        return [Change(key, "latency", "improvement", "faster: " + text, before, now, delta, pct)]
    return []


def _memory_change(
    key: PointKey, column: str, what: str, b: dict, c: dict, thresholds: Thresholds, prefix: str
) -> list[Change]:
    max_bytes, max_pct = getattr(thresholds, f"{prefix}_bytes"), getattr(thresholds, f"{prefix}_pct")
    before, now = _clean(b.get(column)), _clean(c.get(column))
    if before is None or now is None:
        return []
    delta = int(now) - int(before)
    if thresholds.any_change:
        if delta == 0:
            return []
        text = (
            f"{what} {int(before):,} -> {int(now):,} bytes ({delta:+,} B; any change counts: deterministic)"
        )
        return [Change(key, column, "regression", f"{what} changed: {text}", before, now, delta)]
    pct = _pct(delta, before)
    if pct is None:
        pct = math.inf if delta > 0 else (-math.inf if delta < 0 else 0.0)
    text = (
        f"{what} {int(before):,} -> {int(now):,} bytes ({delta:+,} B, {pct:+.2f} %; "
        f"thresholds {max_bytes} B and {max_pct} %)"
    )
    if delta > max_bytes and pct > max_pct:
        return [Change(key, column, "regression", f"more {what}: {text}", before, now, delta, pct)]
    if -delta > max_bytes and -pct > max_pct:
        return [Change(key, column, "improvement", f"less {what}: {text}", before, now, delta, pct)]
    return []


def _pct(delta: float, base: float) -> float | None:
    return None if not base else 100.0 * delta / base


# --- text output --------------------------------------------------------------------------------


DELTA_COLUMNS = (
    "point",
    "status",
    "latency",
    "unit",
    "Δ latency",
    "SRAM (B)",
    "Δ SRAM",
    "flash (B)",
    "Δ flash",
    "verdict",
)


def delta_rows(comparison: Comparison) -> list[tuple[str, ...]]:
    """One text row per point: baseline -> run for status, latency, SRAM and flash, and the verdict."""
    rows = []
    for point in comparison.points:
        b_status, c_status = point.value("baseline", "status"), point.value("current", "status")
        if b_status == c_status:
            status = c_status
        else:
            status = f"{b_status or '-'} -> {c_status or '-'}"
        unit = point.value("current", "latency_unit") or point.value("baseline", "latency_unit") or ""
        rows.append(
            (
                point_label(point.key),
                status,
                _pair(point, "latency"),
                unit,
                _delta(point, "latency", pct=True),
                _pair(point, "sram_measured"),
                _delta(point, "sram_measured"),
                _pair(point, "flash_bytes"),
                _delta(point, "flash_bytes"),
                point.verdict,
            )
        )
    return rows


def _pair(point: PointComparison, column: str) -> str:
    before, now = point.value("baseline", column), point.value("current", column)
    if before is None and now is None:
        return "-"
    if before == now:
        return f"{now:,.0f}"
    return f"{_num(before)} -> {_num(now)}"


def _num(value: Any) -> str:
    return "-" if value is None else f"{value:,.0f}"


def _delta(point: PointComparison, column: str, pct: bool = False) -> str:
    before, now = point.value("baseline", column), point.value("current", column)
    if before is None or now is None:
        return ""
    delta = now - before
    if pct:
        share = _pct(delta, before)
        return "" if share is None else f"{share:+.2f} %"
    share = _pct(delta, before)
    return f"{delta:+,.0f}" + ("" if share is None or delta == 0 else f" ({share:+.2f} %)")


def format_comparison(comparison: Comparison) -> str:
    """The table of deltas, then the regressions and improvements, then the verdict line."""
    from harness.results.table import format_table

    lines = [f"run {comparison.run_id} against {comparison.baseline}", ""]
    lines.append(format_table(DELTA_COLUMNS, delta_rows(comparison)) if comparison.points else "(no points)")
    for title, changes in (
        ("regressions", comparison.regressions),
        ("improvements", comparison.improvements),
        ("notes", comparison.notes),
    ):
        if changes:
            lines += ["", f"{title}:"]
            lines += [f"  {point_label(c.key)}: {c.message}" for c in changes]
    if comparison.problems:
        lines += ["", "allowed (--allow-partial):" if comparison.allow_partial else "problems:"]
        lines += [f"  {problem}" for problem in comparison.problems]
    lines.append("")
    where = f"thresholds: {comparison.config.source or 'built-in defaults'}"
    if not comparison.regressions and not comparison.ok:
        lines.append(f"NOT OK: {comparison.problems[0]}")
    elif comparison.ok:
        lines.append(
            f"OK: {comparison.compared} points compared, no regression, "
            f"{len(comparison.improvements)} improvement(s) ({where})"
        )
    else:
        lines.append(
            f"REGRESSION: {len(comparison.regressions)} regression(s) in {comparison.compared} compared points "
            f"({where})"
        )
    return "\n".join(lines)


def changes_by_point(changes: Iterable[Change]) -> dict[PointKey, list[Change]]:
    grouped: dict[PointKey, list[Change]] = {}
    for change in changes:
        grouped.setdefault(change.key, []).append(change)
    return grouped

# SPDX-License-Identifier: Apache-2.0
"""The report's other sections: the summary, the points that did not pass, the changes since a
baseline and the environment a run ran in."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from harness.boards.registry import BACKENDS
from harness.report.cells import STATUS_TEXT, Cell, text_or_dash
from harness.report.groups import Group, group_anchor, table_identity
from harness.report.logs import LogPublisher
from harness.results.db import STATUSES, ResultsDB, ResultsError
from harness.results.record import identity_of
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


def describe_backend(name: str) -> str:
    """E.g. "qemu (emulator)", "pyocd (board)": what kind of device a run's points came from, by the
    backend registry; a name it does not know (an older database's) as it is."""
    spec = BACKENDS.get(name)
    return f"{name} ({spec.kind})" if spec is not None else name


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


def summary(records: list[dict], groups: list[Group]) -> dict:
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
        "backends": [describe_backend(name) for name in dict.fromkeys(r["backend"] for r in records)],
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
                "smallest": g.smallest,
            }
            for g in groups
        ],
    }


def problems(records: list[dict], logs: LogPublisher) -> list[Problem]:
    found = []
    for r in records:
        if r["status"] == "passed" and r["exact"] is not False:
            continue
        reason = r["reason"] or ("output not bit-exact" if r["exact"] is False else "no reason recorded")
        found.append(
            Problem(
                point=point_label(identity_of(r)),
                anchor=group_anchor(table_identity(identity_of(r))),
                status=STATUS_TEXT[r["status"]],
                reason=reason,
                log=logs.cell(r),
            )
        )
    return found


def baseline_section(
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


def environment_lines(run: pd.Series, environment: dict, records: list[dict]) -> list[tuple[str, str]]:
    lines = [("git commit", text_or_dash(run["git_commit"])), ("host", text_or_dash(run["host"]))]
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

# SPDX-License-Identifier: Apache-2.0
"""The report's groups: one model on one board with one kernel set (every identity field but p, n and the
input mode), its points side by side (per-layer beside per-patch, input counted beside streamed), the
schedule a deployment would choose beside the smallest one, and its charts and trends."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

import pandas as pd

from harness.report import charts, pareto
from harness.report.cells import (
    KB,
    STATUS_TEXT,
    Cell,
    bytes_cell,
    count_cell,
    estimated_ms_cell,
    exact_cell,
    latency_cell,
    latency_overhead_cell,
    macs_cell,
    oracle_cell,
    percent_cell,
    point_key,
    reduction_cell,
    schedule_title,
    slug,
)
from harness.report.charts import Chart
from harness.report.logs import LogPublisher
from harness.results.db import ResultsDB
from harness.results.record import FIELD_META, PointIdentity, decode, identity_of, variant_words

MAX_TREND_RUNS = 30


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
    model: str  # for people: the name, with its content's hash where the run has two models of the name
    board_ids: str
    sram_budget: Cell
    flash_budget: Cell
    columns: list[Column]
    lines: list[Line]
    chosen: str  # the fastest point that fits
    smallest: str  # the point that fits with the least SRAM
    charts: list[Chart] = field(default_factory=list)
    trends: list[Chart] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    key: PointIdentity | None = None  # the group's identity (model by name and by content)


def table_identity(identity: PointIdentity) -> PointIdentity:
    """The identity of a point's table: all but p, n and the input mode (a per-patch point with its input
    counted sits beside the same point streamed, and both beside per-layer, whose input is counted)."""
    return replace(identity.group, input_mode="counted")


def grouped(records: list[dict]) -> dict[PointIdentity, list[dict]]:
    """The points of one model on one board with one kernel set, ... (all identity but p, n and the
    input mode): the points a table sets side by side, the input counted before streamed."""
    groups: dict[PointIdentity, list[dict]] = {}
    for record in records:
        groups.setdefault(table_identity(identity_of(record)), []).append(record)
    for members in groups.values():
        members.sort(key=lambda r: (r["p"], r["n"], r["input_mode"] == "streamed"))
    return groups


def group_anchor(group: PointIdentity) -> str:
    """The page anchor of a group: board, backend and model (and its content's hash), plus what is not
    the default."""
    words = [group.model_hash[:8], group.place, *variant_words(group)]
    return slug("-".join([group.target, group.backend, group.model, *filter(None, words)]))


def models_of_several_contents(keys: Iterable[PointIdentity]) -> set[str]:
    """Model names that stand for two contents or more among ``keys`` (two files named net.tflite)."""
    contents: dict[str, set[str]] = {}
    for key in keys:
        contents.setdefault(key.model, set()).add(key.model_hash)
    return {name for name, found in contents.items() if len(found) > 1}


def model_title(key: PointIdentity, ambiguous: set[str]) -> str:
    """The model's name, and its content's hash when the name alone is ambiguous."""
    if key.model in ambiguous:
        return f"{key.model} (content {key.model_hash[:8] or 'not recorded'})"
    return key.model


def make_group(
    key: PointIdentity, members: list[dict], logs: LogPublisher, ambiguous: set[str] = frozenset()
) -> Group:
    """The table of one group: a line per record field the report shows (its ``show`` metadata, in
    the record's order), with the lines that set a point against the per-layer one after their field.
    ``ambiguous``: the model names of the run that stand for several contents (models_of_several_contents)."""
    target, backend, model = key.target, key.backend, model_title(key, ambiguous)
    reference = next((r for r in members if r["p"] == 1), None)
    chosen = choose_schedule(members)
    columns = [
        Column(point_key(r), schedule_title(r), r["p"] == 1, r["status"], r is chosen) for r in members
    ]
    units = {r["latency_unit"] for r in members if r["latency_unit"]}
    latency_label = f"latency ({units.pop()})" if len(units) == 1 else "latency (unit per point)"
    per_cell_unit = len({r["latency_unit"] for r in members if r["latency_unit"]}) > 1
    cell_of: dict[str, Callable[[str, dict], Cell]] = {
        "status": lambda _, r: Cell(
            STATUS_TEXT[r["status"]], r["status"], r["reason"], f"status-{r['status']}"
        ),
        "bytes": lambda name, r: bytes_cell(r[name]),
        "macs": lambda name, r: macs_cell(r[name]),
        "percent": lambda name, r: percent_cell(r[name], r[name]),
        "count": lambda name, r: count_cell(r[name]),
        "ms": lambda name, r: estimated_ms_cell(r[name]),
        "latency": lambda _, r: latency_cell(r, per_cell_unit),
        "exact": lambda _, r: exact_cell(r),
        "oracle": lambda _, r: oracle_cell(r),
        "log": lambda _, r: logs.cell(r),
    }
    against_per_layer = {
        "sram_analytic_streamed": [
            ("sram_reduction", "SRAM reduction vs per-layer (measured)",
             lambda r: reduction_cell(reference, r, "sram_measured")),
            ("sram_reduction_analytic", "SRAM reduction vs per-layer (analytic, input counted)",
             lambda r: reduction_cell(reference, r, "sram_analytic_counted")),
        ],
        "latency": [
            ("latency_overhead", "latency overhead vs per-layer", lambda r: latency_overhead_cell(reference, r))
        ],
    }  # fmt: skip
    lines = []
    for name, meta in FIELD_META.items():
        show = meta.get("show")
        if show is None or (show == "ms" and all(r[name] is None for r in members)):
            continue  # no line; estimated ms only where the timing model made an estimate
        label = latency_label if show == "latency" else meta["label"]
        make = cell_of[show]
        lines.append(Line("log" if show == "log" else name, label, tuple(make(name, r) for r in members)))
        for metric, text, against in against_per_layer.get(name, ()):
            lines.append(Line(metric, text, tuple(against(r) for r in members)))
    group = Group(
        anchor=group_anchor(key),
        target=target,
        backend=backend,
        model=model,
        board_ids=", ".join(dict.fromkeys(r["board_id"] for r in members if r["board_id"])) or "—",
        sram_budget=bytes_cell(first_value(members, "sram_budget")),
        flash_budget=bytes_cell(first_value(members, "flash_budget")),
        columns=columns,
        lines=lines,
        chosen=_chosen_text(chosen, reference),
        smallest=_smallest_text(pareto.smallest(members), chosen),
        key=key,
    )
    group.charts = _group_charts(group, members, chosen)
    return group


def choose_schedule(members: Iterable[dict]) -> dict | None:
    """The point a deployment would pick: passed, bit-exact, within both budgets, then the fastest
    (ties: less SRAM). None when no point qualifies."""
    return pareto.fastest(members)


def _chosen_text(chosen: dict | None, reference: dict | None) -> str:
    if chosen is None:
        return "no point passed bit-exact within the board's budgets"
    text = f"{schedule_title(chosen)}: {chosen['latency']:,.0f} {chosen['latency_unit']}"
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


def _smallest_text(smallest: dict | None, fastest: dict | None) -> str:
    if smallest is None:
        return "no point passed bit-exact within the board's budgets"
    text = f"{schedule_title(smallest)}: {smallest['sram_measured'] / KB:,.1f} kB SRAM measured, "
    text += f"{smallest['latency']:,.0f} {smallest['latency_unit']}"
    if smallest is fastest:
        return text + " (also the fastest)"
    if fastest is not None and fastest["latency_unit"] == smallest["latency_unit"] and fastest["latency"]:
        text += f" ({smallest['latency'] / fastest['latency'] - 1:+.1%} latency vs the fastest)"
    return text


def first_value(members: list[dict], column: str) -> Any:
    return next((r[column] for r in members if r[column] is not None), None)


def _group_charts(group: Group, members: list[dict], chosen: dict | None) -> list[Chart]:
    title = f"{group.model} on {group.target} ({group.backend})"
    missing = [None if r["status"] == "passed" else STATUS_TEXT[r["status"]] for r in members]
    found = charts.grid_charts(title, group.anchor, members, missing)
    macs = pareto.mac_chart(title, group.anchor, members)
    found[1:1] = pareto.pareto_charts(title, group.anchor, members) + ([macs] if macs else [])
    if chosen is not None and (layers := charts.layer_chart(title, group.anchor, chosen)):
        found.append(layers)
    point = best_patch_point(members)
    shown = point or next((r for r in members if r["p"] == 1), members[0])
    what = "per-layer only (no per-patch point in this run)" if point is None else schedule_title(point)
    analysis = decode("analysis", shown["analysis"])
    if analysis is None:
        group.notes.append(
            f"Memory profile not drawn: {group.model} p={shown['p']} n={shown['n']}: no analytic profile "
            "stored with this point (stored before profiles were, or the point failed before its plan)"
        )
    else:
        found.insert(
            0, charts.memory_profile_chart(analysis, first_value(members, "sram_budget"), group.anchor, what)
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


def history(db: ResultsDB, runs: pd.DataFrame, until: float) -> pd.DataFrame:
    """Passed rows of every run that started no later than this one (the newest MAX_TREND_RUNS)."""
    earlier = runs[runs["started_at"] <= until].sort_values("started_at")
    keep = list(earlier.index[-MAX_TREND_RUNS:])
    rows = db.results()
    rows = rows[rows["run_id"].isin(keep) & (rows["status"] == "passed")].copy()
    rows["run_order"] = rows["run_id"].map({run: i for i, run in enumerate(keep)})
    return rows


def trend_charts_of(group: Group, history: pd.DataFrame) -> list[Chart]:
    name = group.key.model if group.key is not None else group.model
    mine = history[
        (history["target"] == group.target)
        & (history["backend"] == group.backend)
        & (history["model"] == name)
    ]
    if group.key is not None and group.key.model_hash:  # the same content (or one not recorded then)
        mine = mine[mine["model_hash"].isin(["", group.key.model_hash])]
    return charts.trend_charts(f"{group.model} on {group.target}", group.anchor, mine)

# SPDX-License-Identifier: Apache-2.0
"""Engines side by side: for every model and board a run measured with more than one engine, each engine
and kernel set's per-layer point (and the reference engine's patch points) with its peak SRAM, flash,
latency (total, per MAC, per timed unit), exactness and each figure's ratio to the reference row; beside
it the figure TinyEngine's README published (per layer) for the engine column a per-layer point stands
beside (the record's ``published_as``, which the engine declares), and the published ratio to the
reference row's column.
Where a measured ratio and the published one differ by more than ``RATIO_GAP`` the cell says so.

The reference row is the default engine's default kernel set, per layer (a point's identity defaults:
nothing here knows an engine or a kernel set by its name). Published figures are other people's
measurements on a real STM32H743 at 480 MHz (ms); the emulator's are instructions: only ratios compare.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from harness.results.published import TINYENGINE_SOURCE, PublishedFigure, published
from harness.results.record import IDENTITY_DEFAULTS, identity_of, where_label

RATIO_GAP = 0.25  # a measured ratio more than 25 % away from the published one is flagged


@dataclass(frozen=True)
class Figure:
    """One figure of a row: measured, its ratio to the reference row, the published one and its ratio."""

    value: float | None
    ratio: float | None = None  # value / the reference row's
    published: float | None = None
    published_ratio: float | None = None  # published / the reference row's published

    @property
    def gap(self) -> float | None:
        """How far the measured ratio is from the published one (measured / published - 1)."""
        if self.ratio is None or self.published_ratio is None:
            return None
        return self.ratio / self.published_ratio - 1

    @property
    def flagged(self) -> bool:
        return self.gap is not None and abs(self.gap) > RATIO_GAP


@dataclass(frozen=True)
class EngineRow:
    engine: str
    kernels: str
    schedule: str
    status: str
    exact: bool | None
    reason: str | None
    unit: str | None
    sram: Figure
    flash: Figure
    latency: Figure
    per_mac: float | None
    published_as: str | None
    layer_latency: list[tuple[str, float]] = field(default_factory=list)
    reference: bool = False

    @property
    def label(self) -> str:
        return f"{self.engine} {self.kernels} {self.schedule}"


@dataclass(frozen=True)
class EngineComparison:
    title: str
    anchor: str
    model: str
    target: str
    rows: list[EngineRow]
    units: list[str]  # every timed unit name of the per-layer rows, in order

    @property
    def flagged(self) -> list[tuple[EngineRow, str, Figure]]:
        """(row, figure name, figure) of every measured ratio more than RATIO_GAP from the published one."""
        return [(row, name, figure) for row in self.rows for name, figure in
                (("SRAM", row.sram), ("flash", row.flash), ("latency", row.latency)) if figure.flagged]  # fmt: skip


def engine_comparisons(records: list[dict]) -> list[EngineComparison]:
    """One comparison per (model, board) of ``records`` (a run's rows) with points of two or more engines."""
    groups: dict[object, list[dict]] = {}
    for record in records:
        identity = identity_of(record)
        key = replace(identity, p=0, n=0, kernels="", engine="", compiler="", inplace="", planner="",
                      input_mode="")  # fmt: skip
        groups.setdefault(key, []).append(record)
    comparisons = []
    for key, rows in sorted(groups.items(), key=lambda item: str(item[0])):
        engines = {r.get("engine") or IDENTITY_DEFAULTS["engine"] for r in rows}
        if len(engines) < 2:
            continue
        comparisons.append(_comparison(key, rows))
    return comparisons


def _is_reference(record: dict) -> bool:
    identity = identity_of(record)
    return (identity.engine, identity.kernels, identity.p) == (
        IDENTITY_DEFAULTS["engine"],
        IDENTITY_DEFAULTS["kernels"],
        1,
    )


def _comparison(key, records: list[dict]) -> EngineComparison:
    reference = next((r for r in records if _is_reference(r)), None)
    ref_published = _published(reference)
    rows = []
    for record in records:
        identity = identity_of(record)
        mine = _published(record)
        latency, macs = record.get("latency"), record.get("macs")
        rows.append(EngineRow(
            engine=identity.engine, kernels=identity.kernels,
            schedule=identity.schedule + ("" if identity.p == 1 else f" {identity.input_mode}"),
            status=record.get("status", "error"), exact=record.get("exact"), reason=record.get("reason"),
            unit=record.get("latency_unit"),
            sram=_figure(record, reference, "sram_measured", mine, ref_published, "sram_kb"),
            flash=_figure(record, reference, "flash_bytes", mine, ref_published, "flash_kb"),
            latency=_figure(record, reference, "latency", mine, ref_published, "latency_ms"),
            per_mac=latency / macs if latency and macs else None, published_as=record.get("published_as"),
            layer_latency=list(record.get("layer_latency") or []) if identity.p == 1 else [],
            reference=record is reference,
        ))  # fmt: skip
    rows.sort(key=lambda row: (not row.reference, row.schedule != "per-layer"))  # stable: run order kept
    units: list[str] = []
    for row in rows:
        units += [name for name, _ in row.layer_latency if name not in units]
    title = f"{key.model} on {where_label(key)}"
    anchor = "engines-" + "-".join(str(part) for part in (key.target, key.backend, key.model))
    return EngineComparison(title, anchor, key.model, key.target, rows, units)


def _published(record: dict | None) -> PublishedFigure | None:
    """The published figures a point stands beside: its engine column's, for a per-layer point (the
    table was measured per layer)."""
    if record is None or not record.get("published_as") or identity_of(record).p != 1:
        return None
    return published(record["model"], record["published_as"])


def _figure(record: dict, reference: dict | None, column: str, mine: PublishedFigure | None,
            theirs: PublishedFigure | None, published_field: str) -> Figure:  # fmt: skip
    value = record.get(column)
    base = reference.get(column) if reference else None
    ours_published = getattr(mine, published_field) if mine else None
    ref_published = getattr(theirs, published_field) if theirs else None
    return Figure(
        value=value,
        ratio=value / base if value and base else None,
        published=ours_published,
        published_ratio=ours_published / ref_published if ours_published and ref_published else None,
    )


__all__ = ["RATIO_GAP", "TINYENGINE_SOURCE", "EngineComparison", "EngineRow", "Figure", "engine_comparisons"]

# SPDX-License-Identifier: Apache-2.0
"""Kernel sets side by side: for every model, board and schedule a run measured with more than one kernel
set, the totals (instructions or cycles, per MAC, SRAM with the scratch in it, flash), each timed unit
per set with the fastest named, and the ops a kernel set left to its fallback kernels.

The points compared differ only in their kernel set and what follows from it (the engine, the compiler
flags that name a library's headers, and the in-place policy a set allows); everything else of their
identity is equal. The first column and the reference of every ratio is the default kernel set (a
point's identity default) when it was measured, else the first set the run measured; the others follow
in the order the run measured them. Nothing here knows a kernel set by its name.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from harness.results.record import IDENTITY_DEFAULTS, identity_of, where_label


@dataclass(frozen=True)
class SetTotals:
    kernels: str
    status: str
    latency: float | None
    unit: str | None
    per_mac: float | None
    sram_measured: int | None
    scratch_bytes: int | None
    flash_bytes: int | None
    exact: bool | None
    reason: str | None
    portable_ops: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class UnitRow:
    name: str
    latency: dict[str, float | None]  # kernel set -> latency of this unit
    fastest: str | None
    ratios: dict[str, float]  # other kernel set -> the reference set's latency / its latency, for this unit

    @property
    def ratio(self) -> float | None:
        """The reference set / the first other set, for this unit."""
        return next(iter(self.ratios.values()), None)


@dataclass(frozen=True)
class KernelComparison:
    title: str
    anchor: str
    sets: list[str]
    totals: list[SetTotals]
    units: list[UnitRow]
    ratios: dict[str, float]  # whole model: other kernel set -> the reference set's latency / its latency

    @property
    def reference(self) -> str:
        return self.sets[0]

    @property
    def ratio(self) -> float | None:
        """The reference set / the first other set, whole model."""
        return next(iter(self.ratios.values()), None)

    @property
    def slower_units(self) -> list[UnitRow]:
        """The units where the reference set takes more than another set."""
        return [u for u in self.units if any(r > 1.0 for r in u.ratios.values())]


def kernel_set_comparisons(records: list[dict]) -> list[KernelComparison]:
    """One comparison per point measured with two or more kernel sets in ``records`` (a run's rows)."""
    points: dict[object, dict[str, dict]] = {}
    for record in records:
        identity = identity_of(record)
        key = replace(identity, kernels="", engine="", compiler="", inplace="")
        points.setdefault(key, {})[identity.kernels] = record
    comparisons = []
    for key, by_set in sorted(points.items(), key=lambda item: str(item[0])):
        if len(by_set) < 2:
            continue
        sets = sorted(by_set, key=lambda k: k != IDENTITY_DEFAULTS["kernels"])  # stable: run order kept
        totals = [_totals(k, by_set[k]) for k in sets]
        units = _units(sets, by_set)
        title = f"{key.model} on {where_label(key)}, {key.schedule}"
        anchor = "kernels-" + "-".join(
            str(part) for part in (key.target, key.backend, key.model, key.p, key.n)
        )
        latency = {k: by_set[k].get("latency") for k in sets}
        comparisons.append(KernelComparison(title, anchor, sets, totals, units, _ratios(sets, latency)))
    return comparisons


def _totals(kernels: str, r: dict) -> SetTotals:
    latency, macs = r.get("latency"), r.get("macs")
    portable = [part.strip() for part in (r.get("portable_ops") or "").split(";") if part.strip()]
    return SetTotals(
        kernels=kernels, status=r.get("status", "error"), latency=latency, unit=r.get("latency_unit"),
        per_mac=latency / macs if latency and macs else None, sram_measured=r.get("sram_measured"),
        scratch_bytes=r.get("scratch_bytes"), flash_bytes=r.get("flash_bytes"), exact=r.get("exact"),
        reason=r.get("reason"), portable_ops=portable,
    )  # fmt: skip


def _units(sets: list[str], by_set: dict[str, dict]) -> list[UnitRow]:
    per_set = {k: dict(by_set[k].get("layer_latency") or []) for k in sets}
    names: list[str] = []
    for k in sets:
        names += [name for name, _ in by_set[k].get("layer_latency") or [] if name not in names]
    rows = []
    for name in names:
        values = {k: per_set[k].get(name) for k in sets}
        measured = {k: v for k, v in values.items() if v is not None}
        fastest = min(measured, key=measured.get) if len(measured) > 1 else None
        rows.append(UnitRow(name, values, fastest, _ratios(sets, values)))
    return rows


def _ratios(sets: list[str], values: dict[str, float | None]) -> dict[str, float]:
    """Other set -> the reference (first) set's value / its value, where both were measured."""
    ours = values.get(sets[0])
    return {k: ours / values[k] for k in sets[1:] if ours and values.get(k)}

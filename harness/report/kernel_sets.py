"""Kernel sets side by side: for every model, board and schedule a run measured with more than one kernel
set (patchbench's DSP kernels, its portable ones, CMSIS-NN), the totals (instructions or cycles,
per MAC, SRAM with the scratch in it, flash), each timed unit per set with the fastest named, and the
ops a kernel library left to the portable kernels.

The points compared differ only in their kernel set and what follows from it (the engine, the compiler
flags that name the library's headers, and the in-place policy: CMSIS-NN's depthwise kernels cannot
write over their input); everything else of their identity is equal.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from harness.results.record import identity_of, where_label

ORDER = ("optimized", "cmsis-nn", "portable")  # columns: patchbench DSP, CMSIS-NN, portable
REFERENCE_SET, PEER_SET = "optimized", "cmsis-nn"  # the ratio shown: patchbench / CMSIS-NN


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
    ratio: float | None  # patchbench DSP / CMSIS-NN for this unit


@dataclass(frozen=True)
class KernelComparison:
    title: str
    anchor: str
    sets: list[str]
    totals: list[SetTotals]
    units: list[UnitRow]
    ratio: float | None  # whole model: patchbench DSP / CMSIS-NN

    @property
    def slower_units(self) -> list[UnitRow]:
        """The units where patchbench's DSP kernels take more than CMSIS-NN's."""
        return [u for u in self.units if u.ratio is not None and u.ratio > 1.0]


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
        sets = sorted(by_set, key=lambda k: ORDER.index(k) if k in ORDER else len(ORDER))
        totals = [_totals(k, by_set[k]) for k in sets]
        units = _units(sets, by_set)
        title = f"{key.model} on {where_label(key)}, {key.schedule}"
        anchor = "kernels-" + "-".join(
            str(part) for part in (key.target, key.backend, key.model, key.p, key.n)
        )
        comparisons.append(KernelComparison(title, anchor, sets, totals, units, _ratio(by_set, "latency")))
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
        ours, peer = values.get(REFERENCE_SET), values.get(PEER_SET)
        rows.append(UnitRow(name, values, fastest, ours / peer if ours and peer else None))
    return rows


def _ratio(by_set: dict[str, dict], column: str) -> float | None:
    ours, peer = (by_set.get(k, {}).get(column) for k in (REFERENCE_SET, PEER_SET))
    return ours / peer if ours and peer else None

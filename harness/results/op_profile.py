# SPDX-License-Identifier: Apache-2.0
"""The per-op profile of a measured point: where its instructions (and the cycle model's estimated cycles)
go, per op and per kernel shape.

A point's record holds one latency per timed unit (``layer_latency``: instructions on the emulator, cycles
on a board), the cycle model's estimated milliseconds per unit (``layer_latency_estimated_ms``) and, in its
analysis, every op's shape (``OpShape``: kind, window, channels, map sizes, MACs, and the op whose unit
runs it when it is fused or folded into another). This module joins them: one row per timed op with its
latency per MAC and per output pixel, then the rows grouped by kernel shape (kind, window, stride,
channels, map size) and by kernel class (kind, window, stride), each with its share of the whole.

Estimated cycles of a unit are its estimated milliseconds at the rate of the whole run
(``latency_estimated_cycles / latency_estimated_ms``): the model's estimate, labelled so wherever shown.
A patch stage's units (one per patch) are one row, "patch stage", with the stage's MACs under the plan.
An op fused into another (a residual ADD run as a 1x1 conv's epilogue) keeps its own unit, which times
only its call; its work is in the unit of the op it runs in, whose label says "+ ADD".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from harness.results.record import OpShape, PointAnalysis, PointRecord, decode

# Short names of the kinds the profile meets most
_SHORT = {"CONV_2D": "conv", "DEPTHWISE_CONV_2D": "depthwise", "FULLY_CONNECTED": "fc",
          "AVERAGE_POOL_2D": "avg pool", "MAX_POOL_2D": "max pool", "TRANSPOSE_CONV": "transpose conv"}  # fmt: skip
PATCH_STAGE = "patch stage"


class _Rates:
    """Per MAC and per output pixel figures of a row with latency, macs, pixels and cycles_estimated."""

    latency: float
    macs: int
    pixels: int
    cycles_estimated: float | None

    @property
    def per_mac(self) -> float | None:
        return self.latency / self.macs if self.macs else None

    @property
    def per_pixel(self) -> float | None:
        return self.latency / self.pixels if self.pixels else None

    @property
    def cycles_per_mac(self) -> float | None:
        return self.cycles_estimated / self.macs if self.macs and self.cycles_estimated is not None else None


@dataclass(frozen=True)
class OpRow(_Rates):
    """One timed op (or the patch stage) of a point."""

    name: str
    kind: str  # the op kind ("patch stage" for the stage's units)
    kernel_class: str  # kind, window and stride: "conv 1x1/1", "depthwise 3x3/2", "ADD"
    shape: str  # kernel_class with channels and map size: "conv 1x1/1 16>48 24x24"
    macs: int
    pixels: int  # output pixels (height x width)
    outputs: int  # output elements
    latency: float  # of its timed unit(s), in ``unit``
    cycles_estimated: float | None  # the cycle model's estimate of the same unit(s)
    runs_in: str | None = None  # the op whose unit runs its work (fused / folded)


@dataclass(frozen=True)
class GroupRow(_Rates):
    """Ops of one kernel shape or class, summed."""

    key: str
    ops: tuple[str, ...]
    macs: int
    pixels: int
    latency: float
    cycles_estimated: float | None
    share: float  # of the point's summed unit latency


@dataclass(frozen=True)
class OpProfile:
    unit: str  # the latency unit: instructions (emulator) or cycles (board)
    rows: list[OpRow]
    estimated: bool  # whether estimated cycles are there (an emulator run with the cycle model)

    @property
    def latency(self) -> float:
        return sum(row.latency for row in self.rows)

    @property
    def macs(self) -> int:
        return sum(row.macs for row in self.rows)

    def by_shape(self) -> list[GroupRow]:
        """Grouped by kernel shape (kind, window, stride, channels, map size), the costliest first."""
        return self._grouped(lambda row: row.shape)

    def by_class(self) -> list[GroupRow]:
        """Grouped by kernel class (kind, window, stride), the costliest first."""
        return self._grouped(lambda row: row.kernel_class)

    def _grouped(self, key) -> list[GroupRow]:
        groups: dict[str, list[OpRow]] = {}
        for row in self.rows:
            groups.setdefault(key(row), []).append(row)
        total = self.latency or 1.0
        out = [
            GroupRow(
                key=name, ops=tuple(r.name for r in rows), macs=sum(r.macs for r in rows),
                pixels=sum(r.pixels for r in rows), latency=sum(r.latency for r in rows),
                cycles_estimated=_sum_or_none(r.cycles_estimated for r in rows),
                share=sum(r.latency for r in rows) / total,
            )
            for name, rows in groups.items()
        ]  # fmt: skip
        return sorted(out, key=lambda g: -g.latency)


def op_profile(record: PointRecord | Mapping[str, Any]) -> OpProfile | None:
    """The per-op profile of a measured point (a record, or a results row as a mapping); None when it has no
    per-unit latency or no op shapes (a failed point, a result stored before the shapes were)."""
    get = _get(record)
    analysis = _analysis(record)
    units = _unit_list(get("layer_latency"), "layer_latency")
    if analysis is None or not analysis.ops or not units:
        return None
    estimated_ms = dict(_unit_list(get("layer_latency_estimated_ms"), "layer_latency_estimated_ms"))
    total_cycles, total_ms = get("latency_estimated_cycles"), get("latency_estimated_ms")
    rate = total_cycles / total_ms if total_cycles and total_ms and estimated_ms else None
    shapes = {op.name: op for op in analysis.ops}
    hosts = {op.runs_in for op in analysis.ops if op.runs_in and op.kind in ("ADD", "SUB", "MUL")}
    fused_kind = {op.runs_in: op.kind for op in analysis.ops if op.runs_in in hosts}
    rows, stage_units = [], []
    for name, latency in units:
        op = shapes.get(name)
        cycles = estimated_ms[name] * rate if rate is not None and name in estimated_ms else None
        if op is None:
            stage_units.append((latency, cycles))
            continue
        rows.append(_row(op, latency, cycles, fused_kind.get(name)))
    if stage_units:
        stage = OpRow(
            name=PATCH_STAGE, kind=PATCH_STAGE, kernel_class=PATCH_STAGE,
            shape=f"{PATCH_STAGE} ({len(stage_units)} patches, {analysis.plan.n} layers)",
            macs=analysis.plan.stage_macs_patched, pixels=0, outputs=0,
            latency=sum(latency for latency, _ in stage_units),
            cycles_estimated=_sum_or_none(cycles for _, cycles in stage_units),
        )  # fmt: skip
        rows.insert(0, stage)
    return OpProfile(unit=get("latency_unit") or "", rows=rows, estimated=rate is not None)


@dataclass(frozen=True)
class RecomputeShare:
    """What a schedule's recomputation costs against the same model per layer, measured the same way.

    ``share`` is the latency overhead the point would have if each recomputed MAC cost what its op's MACs
    cost per layer: every op's per-layer latency scaled by its MACs under the schedule over its per-layer
    MACs (ops outside any patch stage or row segment: unchanged; ops without MACs, an ADD or a PAD: their
    per-layer latency, unscaled). ``beyond`` is what the point costs on top of that: the schedule's own
    overhead (per-tile calls, setup repeated per patch, kernels slower on tiles than on whole maps)."""

    macs: int  # under the schedule
    macs_per_layer: int
    latency: float  # summed units, as the profile sums them
    latency_per_layer: float
    latency_share: float  # the per-layer latency with every op's recomputed MACs added at its own rate

    @property
    def mac_overhead(self) -> float:
        return self.macs / self.macs_per_layer - 1.0

    @property
    def latency_overhead(self) -> float:
        return self.latency / self.latency_per_layer - 1.0

    @property
    def share(self) -> float:
        return self.latency_share / self.latency_per_layer - 1.0

    @property
    def beyond(self) -> float:
        return self.latency_overhead - self.share


def recompute_share(
    per_layer: PointRecord | Mapping[str, Any], point: PointRecord | Mapping[str, Any]
) -> RecomputeShare | None:
    """The recomputation share of ``point`` against ``per_layer`` (the same model, target, engine, kernels
    and backend, per layer); None when either has no per-op profile or ``point`` has no per-op MACs under
    its schedule (stored before they were)."""
    base, found = op_profile(per_layer), op_profile(point)
    analysis = _analysis(point)
    if base is None or found is None or analysis is None:
        return None
    ratios = recompute_ratios(base, analysis)
    if ratios is None:
        return None
    scheduled = {op.name: op.macs_scheduled for op in analysis.ops}
    share = sum(row.latency * ratios[row.name] for row in base.rows)
    return RecomputeShare(
        macs=sum(scheduled.values()), macs_per_layer=sum(op.macs for op in analysis.ops),
        latency=found.latency, latency_per_layer=base.latency, latency_share=share,
    )  # fmt: skip


def recompute_ratios(per_layer: OpProfile, analysis: PointAnalysis) -> dict[str, float] | None:
    """Each per-layer op's MACs under the schedule of ``analysis`` over its per-layer MACs (1.0 outside the
    schedule's stages and for ops without MACs); None when the analysis has no MACs under its schedule."""
    scheduled = {op.name: op.macs_scheduled for op in analysis.ops}
    if any(value is None for value in scheduled.values()):
        return None
    return {
        row.name: scheduled.get(row.name, row.macs) / row.macs if row.macs else 1.0 for row in per_layer.rows
    }


@dataclass(frozen=True)
class FunctionShare:
    """One C function's (or assembly routine's) instructions in a point against its recompute share: its
    instructions in each per-layer unit scaled by that op's recompute ratio (``recompute_ratios``)."""

    name: str
    measured: int
    share: float

    @property
    def beyond(self) -> float:
        return self.measured - self.share


def recompute_functions(
    ratios: Mapping[str, float],
    per_layer: Mapping[str, Mapping[str, int]],
    point: Mapping[str, Mapping[str, int]],
) -> list[FunctionShare]:
    """Where a point's instructions beyond its recompute share are, per function: ``per_layer`` and
    ``point`` hold each timed unit's instructions per function (harness.boards.execution_profile.
    function_instructions); the per-layer units are ops named in ``ratios``. Largest beyond first; the
    beyonds sum to the point's instructions less its share."""
    share: dict[str, float] = {}
    for unit, functions in per_layer.items():
        for name, count in functions.items():
            share[name] = share.get(name, 0.0) + count * ratios.get(unit, 1.0)
    measured: dict[str, int] = {}
    for functions in point.values():
        for name, count in functions.items():
            measured[name] = measured.get(name, 0) + count
    rows = [
        FunctionShare(name, measured.get(name, 0), share.get(name, 0.0)) for name in share.keys() | measured
    ]
    return sorted(rows, key=lambda row: (-row.beyond, row.name))


def kernel_class(op: OpShape, fused: str | None = None) -> str:
    """ "conv 1x1/1", "depthwise 3x3/2", "fc", "ADD"; "+ ADD" where an ADD runs in the op's unit."""
    name = _SHORT.get(op.kind, op.kind)
    if op.kernel != (1, 1) or op.stride != (1, 1) or op.kind in ("CONV_2D", "DEPTHWISE_CONV_2D"):
        kh, kw = op.kernel
        sh, sw = op.stride
        name += f" {kh}x{kw}/{sh}" + (f"x{sw}" if sw != sh else "")
    return name + (f" + {fused}" if fused else "")


def shape_label(op: OpShape, fused: str | None = None) -> str:
    (in_h, in_w), (out_h, out_w) = op.in_hw, op.out_hw
    return f"{kernel_class(op, fused)} {op.in_c}>{op.out_c} {in_h}x{in_w}>{out_h}x{out_w}"


def _row(op: OpShape, latency: float, cycles: float | None, fused: str | None) -> OpRow:
    pixels = op.out_hw[0] * op.out_hw[1]
    return OpRow(
        name=op.name, kind=op.kind, kernel_class=kernel_class(op, fused), shape=shape_label(op, fused),
        macs=op.macs, pixels=pixels, outputs=pixels * op.out_c, latency=latency, cycles_estimated=cycles,
        runs_in=op.runs_in,
    )  # fmt: skip


def _get(record: PointRecord | Mapping[str, Any]):
    return (lambda name: getattr(record, name)) if isinstance(record, PointRecord) else record.get


def _analysis(record: PointRecord | Mapping[str, Any]) -> PointAnalysis | None:
    analysis = _get(record)("analysis")
    if analysis is not None and not isinstance(analysis, PointAnalysis):
        analysis = decode("analysis", analysis)
    return analysis


def _unit_list(value: Any, name: str) -> list[tuple[str, float]]:
    if not value:
        return []
    return (
        value
        if isinstance(value, list) and (not value or isinstance(value[0], tuple))
        else decode(name, value)
    )


def _sum_or_none(values: Iterable[float | None]) -> float | None:
    values = list(values)
    return None if not values or any(v is None for v in values) else sum(values)


def format_profile(profile: OpProfile, title: str) -> str:
    """The profile as text: the kernel classes, the kernel shapes, then every op (bench_kernels prints it)."""
    unit = profile.unit or "latency"
    est = profile.estimated
    lines = [f"{title}: {profile.latency:,.0f} {unit} over {profile.macs:,} MACs "
             f"({profile.latency / max(profile.macs, 1):.2f} per MAC)"]  # fmt: skip
    head = f"{'':<44}{'ops':>4}{'MACs':>12}{unit:>14}{'share':>7}{'/MAC':>7}{'/pixel':>9}"
    head += f"{'est. cycles':>14}{'cyc/MAC':>8}" if est else ""

    def group_line(g: GroupRow) -> str:
        line = (f"{g.key:<44.44}{len(g.ops):>4}{g.macs:>12,}{g.latency:>14,.0f}{g.share:>7.1%}"
                f"{_num(g.per_mac, 7, 2)}{_num(g.per_pixel, 9, 0)}")  # fmt: skip
        if est:
            line += f"{_num(g.cycles_estimated, 14, 0, ',')}{_num(g.cycles_per_mac, 8, 2)}"
        return line

    lines += ["", "by kernel class (kind, window/stride)", head]
    lines += [group_line(g) for g in profile.by_class()]
    lines += ["", "by kernel shape (class, channels in>out, map in>out)", head]
    lines += [group_line(g) for g in profile.by_shape()]
    lines += ["", "per op, in execution order", f"{'op':<24}{'shape':<44}{unit:>14}{'/MAC':>7}{'/pixel':>9}"
              + (f"{'est. cycles':>14}" if est else "")]  # fmt: skip
    for row in profile.rows:
        line = f"{row.name:<24.24}{row.shape:<44.44}{row.latency:>14,.0f}{_num(row.per_mac, 7, 2)}"
        line += _num(row.per_pixel, 9, 0)
        if est:
            line += _num(row.cycles_estimated, 14, 0, ",")
        if row.runs_in:
            line += f"  (runs in {row.runs_in})"
        lines.append(line)
    if est:
        lines.append(
            "est. cycles: the cycle model's estimate (harness.boards.timing_model), not a measurement"
        )
    return "\n".join(lines)


def _num(value: float | None, width: int, digits: int, sep: str = "") -> str:
    return f"{'-':>{width}}" if value is None else f"{value:>{width}{sep}.{digits}f}"

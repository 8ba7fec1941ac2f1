# SPDX-License-Identifier: Apache-2.0
"""The paper's Figure 6 from a run's stored rows: per model and board, per-layer peak SRAM beside the
best 2x2 or 3x3 patch point with the input streamed, the reduction, the MAC and latency overheads, and
whether both are bit-exact.

MCUNetV2 measured a 4-6x lower peak SRAM on an STM32F746 with 2x2 and 3x3 patches (METHOD.md).
Per-layer inference reads the whole image, so its input is counted in SRAM; the patch points are those
with the input streamed (read tile by tile), as in the paper. The candidates are the measured p = 2 and
p = 3 streamed points and, beyond the paper, the streamed points of schedules beyond one patch stage
(row-streamed segments, a 2x2 or 3x3 patch stage followed by them: ``segments`` names them); the best is
the one with the least *measured* SRAM (fewer MACs on a tie); a point that is not bit-exact is still
shown (its row says so) but does not count towards the target.

Everything here comes from the stored rows (measured, planned and the stored analytic profile), never
from the zoo, so an old run's figure stays what was measured. ``rows_as_text`` is what the command line
prints and what the report's table shows, cell for cell.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from markupsafe import Markup

from harness.ir.schedule_name import point_schedule
from harness.report.cells import plain_record
from harness.report.charts import MEASURED, NEUTRAL, Budget, Series, grouped_bars_svg, inline
from harness.results.db import ResultsDB
from harness.results.record import PointAnalysis, decode, identity_of, variant_words, where_label

KB = 1024
PATCH_GRIDS = (2, 3)  # the paper's Figure 6: 2x2 and 3x3 patches
TARGET_REDUCTION = 4.0  # the paper: 4-6x
COLUMNS = (
    "model",
    "board",
    "per-layer SRAM",
    "patch point",
    "per-patch SRAM",
    "reduction",
    "MAC overhead",
    "latency overhead",
    "bit-exact",
    "per-patch peak at",
)


@dataclass(frozen=True)
class Figure6Row:
    model: str
    where: str  # target/backend[@place], and the kernel set etc. when not the default
    per_layer: dict | None  # the per-layer row (input counted)
    per_patch: dict | None  # the best measured 2x2 / 3x3 row with the input streamed
    tried: tuple[dict, ...]  # every 2x2 / 3x3 streamed row of this model and board

    @property
    def reduction(self) -> float | None:
        before = self.per_layer and self.per_layer.get("sram_measured")
        after = self.per_patch and self.per_patch.get("sram_measured")
        return before / after if before and after else None

    @property
    def exact(self) -> bool:
        return bool(
            self.per_layer and self.per_layer.get("exact") and self.per_patch and self.per_patch.get("exact")
        )

    @property
    def meets_target(self) -> bool:
        return self.exact and self.reduction is not None and self.reduction >= TARGET_REDUCTION

    @property
    def latency_overhead(self) -> float | None:
        if not self.per_layer or not self.per_patch:
            return None
        before, after = self.per_layer.get("latency"), self.per_patch.get("latency")
        if (
            not before
            or after is None
            or self.per_layer.get("latency_unit") != self.per_patch.get("latency_unit")
        ):
            return None
        return after / before - 1

    @property
    def peak_at(self) -> str | None:
        """Where the patch point's analytic peak is (the paper's accounting, input streamed): the layer,
        its shapes, and whether it is in the patch stage or after it."""
        analysis = _analysis(self.per_patch)
        if analysis is None:
            return None
        layer = max(analysis.layers, key=lambda layer: layer.per_patch_bytes)
        stage = "its segments" if self.per_patch.get("segments") else "the patch stage"
        where = f"in {stage}" if layer.in_patch_stage else f"after {stage}"
        shapes = f"{_shape(layer.input_shape)} -> {_shape(layer.output_shape)}"
        return f"{layer.name} {shapes}, {where} ({layer.per_patch_bytes / KB:.1f} kB analytic)"

    def cells(self) -> tuple[str, ...]:
        """The row as the text the command line prints and the report shows (COLUMNS)."""
        per_layer, per_patch = self.per_layer, self.per_patch
        return (
            self.model,
            self.where,
            _kb(per_layer),
            _point(per_patch, self.tried),
            _kb(per_patch),
            f"{self.reduction:.2f}x" if self.reduction is not None else "—",
            f"{per_patch['mac_overhead']:+.1%}"
            if per_patch and per_patch.get("mac_overhead") is not None
            else "—",
            f"{self.latency_overhead:+.1%}" if self.latency_overhead is not None else "—",
            _exact(per_layer, per_patch),
            self.peak_at or "—",
        )


def figure6_rows(records: list[dict]) -> list[Figure6Row]:
    """One row per (model, board and the rest of the identity) that has a per-layer row and at least one
    2x2 / 3x3 row with the input streamed, in the order the run stored them."""
    groups: dict[object, dict[str, list[dict]]] = {}
    for record in records:
        identity = identity_of(record)
        key = replace(identity.group, input_mode="")
        if identity.p == 1:
            groups.setdefault(key, {"per_layer": [], "patch": []})["per_layer"].append(record)
        elif _candidate(identity) and identity.input_mode == "streamed":
            groups.setdefault(key, {"per_layer": [], "patch": []})["patch"].append(record)
    rows = []
    for key, members in groups.items():
        if not members["per_layer"] or not members["patch"]:
            continue
        measured = [r for r in members["patch"] if r.get("sram_measured")]
        best = min(measured, key=lambda r: (r["sram_measured"], r.get("macs") or 0)) if measured else None
        # Another kernel set or planner than the default is named beside the board (input modes are fixed).
        where = " ".join([where_label(key), *variant_words(replace(key, input_mode="counted"))])
        rows.append(Figure6Row(key.model, where, members["per_layer"][-1], best, tuple(members["patch"])))
    return rows


def _candidate(identity) -> bool:
    """A 2x2 or 3x3 patch point, or a schedule beyond one patch stage whose patch stage (if any) is one."""
    if not identity.segments:
        return identity.p in PATCH_GRIDS
    first = identity.segments.split(" + ")[0]
    return not first.startswith("p=") or any(first.startswith(f"p={p} ") for p in PATCH_GRIDS)


def stored_rows(db: ResultsDB, run_id: str) -> list[Figure6Row]:
    """The figure of a stored run, from the database alone."""
    return figure6_rows([plain_record(r) for r in db.results(run_id).to_dict("records")])


def summary_line(rows: list[Figure6Row]) -> str:
    """How many rows reach the paper's reduction, bit-exact."""
    met = [row.model for row in rows if row.meets_target]
    return f"reduction >= {TARGET_REDUCTION:g}x (bit-exact) on {len(met)} of {len(rows)}" + (
        f": {', '.join(met)}" if met else ""
    )


@dataclass(frozen=True)
class Figure6Section:
    """What the report's Figure 6 section shows."""

    summary: str
    columns: tuple[str, ...]
    rows: list[Figure6Row]
    charts: list[Markup]  # one bar chart per board: the paper's figure


def figure6_section(records: list[dict]) -> Figure6Section | None:
    """The report's section for a run's rows; None when the run has no per-layer and 2x2 / 3x3 streamed
    pair to set side by side."""
    rows = figure6_rows(records)
    if not rows:
        return None
    boards = {row.where: [r for r in rows if r.where == row.where] for row in rows}
    charts = [inline(bars_svg(where, members), f"figure6-{where}") for where, members in boards.items()]
    return Figure6Section(summary_line(rows), COLUMNS, rows, charts)


def bars_svg(where: str, rows: list[Figure6Row]) -> str:
    """Measured peak SRAM per model, per-layer beside the best patch point, with the board's budget."""

    def kb(record: dict | None) -> float | None:
        return record["sram_measured"] / KB if record and record.get("sram_measured") else None

    labels = [
        f"{row.model}\n{row.reduction:.2f}x" if row.reduction is not None else row.model for row in rows
    ]
    budget = next((row.per_layer.get("sram_budget") for row in rows if row.per_layer), None)
    return grouped_bars_svg(
        f"Peak SRAM measured, {where}",
        labels,
        [
            Series("per-layer (input in SRAM)", [kb(row.per_layer) for row in rows], NEUTRAL),
            Series("per-patch (input streamed)", [kb(row.per_patch) for row in rows], MEASURED),
        ],
        "kB",
        Budget("SRAM budget", budget / KB) if budget else None,
    )


def _analysis(record: dict | None) -> PointAnalysis | None:
    if not record or not record.get("analysis"):
        return None
    value = record["analysis"]
    return value if isinstance(value, PointAnalysis) else decode("analysis", value)


def _kb(record: dict | None) -> str:
    if not record:
        return "—"
    if record.get("sram_measured"):
        return f"{record['sram_measured'] / KB:.1f} kB"
    needed = record.get("sram_needed")
    return f"{record.get('status', 'error')}" + (f" (needs {needed / KB:.1f} kB)" if needed else "")


def _point(record: dict | None, tried: tuple[dict, ...]) -> str:
    if record is None:
        statuses = ", ".join(f"{_schedule(r)} {r.get('status')}" for r in tried)
        return f"none measured ({statuses})"
    return _schedule(record)


def _schedule(record: dict) -> str:
    return point_schedule(record["p"], record["n"], record.get("segments") or "")


def _exact(per_layer: dict | None, per_patch: dict | None) -> str:
    def word(record: dict | None) -> str:
        if not record or record.get("exact") is None:
            return "—"
        return "yes" if record["exact"] else "NO"

    both = (word(per_layer), word(per_patch))
    return both[0] if both[0] == both[1] else f"{both[0]} / {both[1]}"


def _shape(shape: tuple[int, ...]) -> str:
    return "x".join(str(d) for d in shape[1:] if d) if len(shape) == 4 else "x".join(map(str, shape))

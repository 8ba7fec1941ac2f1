# SPDX-License-Identifier: Apache-2.0
"""The measured trade-off of one model on one board: which points fit, the fastest and the smallest of
them, the Pareto set of (peak SRAM measured, latency), and its chart.

A point *fits* when it passed bit-exact with its measured SRAM and flash within the board's budgets.
The Pareto set holds the fitting points no other fitting point beats on both SRAM and latency (of one
latency unit: instructions on an emulator, cycles on a board, never mixed). The schedule search
(``python -m harness search``) gives the analytic (SRAM, MACs) set; this is the measured one.

A second chart sets the same points' measured SRAM against their MACs (the overhead above per-layer
inference): the plane other schedulers publish in. Per-layer, MCUNetV2's (p, n) patch points and the
schedules beyond one patch stage (row-streamed, several segments) each have their marker, and another
scheduler's published points for the model (harness/results/published.py ``schedule_marks``: msf-CNN's)
stand beside them as reference marks, labelled as published with their own accounting (msf-CNN's peaks
leave out the network's input and final output; ours are measured, whole program).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import matplotlib

matplotlib.use("Agg")  # no display on CI and board-farm hosts

import matplotlib.pyplot as plt  # noqa: E402

from harness.ir.model_name import network_name  # noqa: E402
from harness.report.cells import KB, point_name  # noqa: E402
from harness.report.charts import (  # noqa: E402
    ANALYTIC_COUNTED,
    BUDGET,
    MEASURED,
    NEUTRAL,
    Chart,
    figure_svg,
    inline,
    plain,
    thousands,
    wrap_schedule,
)
from harness.results.published import ScheduleMark, schedule_marks  # noqa: E402

# A schedule's kind, from its name (harness/ir/schedule_name.py): how the MAC chart marks it.
PER_LAYER, PATCH, BEYOND = "per layer", "MCUNetV2 (p, n) patches", "row-streamed / several segments"
NEW_SCHEDULE = "#2ca02c"  # the schedules beyond one patch stage


def fitting(members: Iterable[dict]) -> list[dict]:
    """The points a deployment could use: passed, bit-exact, timed, within both budgets."""
    return [
        r
        for r in members
        if r["status"] == "passed"
        and r["exact"] is not False
        and r["latency"] is not None
        and _within(r["sram_measured"], r["sram_budget"])
        and _within(r["flash_bytes"], r["flash_budget"])
    ]


def fastest(members: Iterable[dict]) -> dict | None:
    """The fitting point with the least latency (ties: less SRAM); None when nothing fits."""
    found = fitting(members)
    return (
        min(found, key=lambda r: (r["latency"], r["sram_measured"] or 0, r["p"], r["n"])) if found else None
    )


def smallest(members: Iterable[dict]) -> dict | None:
    """The fitting point with the least measured SRAM (ties: less latency); None when nothing fits."""
    found = [r for r in fitting(members) if r["sram_measured"] is not None]
    return min(found, key=lambda r: (r["sram_measured"], r["latency"], r["p"], r["n"])) if found else None


def pareto_front(points: Sequence[dict]) -> list[dict]:
    """The (sram_measured, latency) Pareto set of ``points`` (one latency unit), by SRAM."""
    front: list[dict] = []
    for r in sorted(points, key=lambda r: (r["sram_measured"], r["latency"], r["p"], r["n"])):
        if not front or r["latency"] < front[-1]["latency"]:
            front.append(r)
    return front


def pareto_charts(title: str, scope: str, members: Sequence[dict]) -> list[Chart]:
    """Per latency unit: every fitting point's measured SRAM against its latency, the Pareto set joined,
    the board's SRAM budget as a vertical line."""
    found = []
    usable = [r for r in fitting(members) if r["sram_measured"] is not None]
    budget = next((r["sram_budget"] for r in members if r["sram_budget"]), None)
    for unit in dict.fromkeys(r["latency_unit"] for r in usable):
        points = [r for r in usable if r["latency_unit"] == unit]
        front = pareto_front(points)
        svg = _scatter_svg(f"{title}: SRAM vs latency ({unit})", points, front, unit, budget)
        found.append(
            Chart(
                f"Pareto set: peak SRAM measured vs latency ({unit})",
                inline(svg, f"{scope}-pareto-{unit}"),
                f"Each point that passed bit-exact within the board's budgets; the line joins the Pareto set "
                f"({len(front)} of {len(points)}: no other point needs less SRAM and fewer {unit}). "
                "Circles: input image counted in SRAM; triangles: input streamed.",
            )
        )
    return found


def schedule_kind(record: dict) -> str:
    """PER_LAYER, PATCH (MCUNetV2's one p x p stage) or BEYOND (row-streamed, or several segments), read
    off the point's schedule name: ``per-layer``, ``p=4 n=5``; ``rows n=12``, ``p=2 n=3 + rows n=6``."""
    name = point_name(record)
    if name.startswith("per-layer") and "+" not in name:
        return PER_LAYER
    return BEYOND if "rows" in name or "+" in name else PATCH


def mac_points(members: Sequence[dict]) -> list[dict]:
    """The fitting points with a measured SRAM and a MAC overhead (what the MAC chart draws)."""
    return [
        r for r in fitting(members) if r["sram_measured"] is not None and r.get("mac_overhead") is not None
    ]


def mac_front(points: Sequence[dict]) -> list[dict]:
    """The (sram_measured, MACs) Pareto set of ``points``, by SRAM."""
    front: list[dict] = []
    for r in sorted(points, key=lambda r: (r["sram_measured"], r["mac_overhead"], point_name(r))):
        if not front or r["mac_overhead"] < front[-1]["mac_overhead"]:
            front.append(r)
    return front


def mac_chart(title: str, scope: str, members: Sequence[dict]) -> Chart | None:
    """Measured SRAM against MAC overhead, with the published marks of the model (None: fewer than two
    points to set against each other and no published mark)."""
    points = mac_points(members)
    model = next((r["model"] for r in members), "")
    marks = schedule_marks(network_name(model))
    if len(points) < 2 and not (points and marks):
        return None
    front = mac_front(points)
    kinds = ", ".join(dict.fromkeys(schedule_kind(r) for r in points))
    published = (
        f" Stars: {marks[0].source}'s published points for {network_name(model)}, as published: their peaks leave out "
        "the network's input and final output, and are not measured here."
        if marks
        else ""
    )
    return Chart(
        "Pareto set: peak SRAM measured vs MACs",
        inline(_mac_svg(f"{title}: SRAM vs MACs", points, front, marks), f"{scope}-pareto-macs"),
        f"Each point that passed bit-exact within the board's budgets ({kinds}); the line joins the Pareto set "
        f"({len(front)} of {len(points)}: no other point needs less SRAM and fewer MACs). Squares: per layer; "
        "circles / triangles: MCUNetV2's (p, n) patches, input counted / streamed; diamonds: row-streamed or "
        f"several segments.{published}",
    )


def _mac_svg(title: str, points: list[dict], front: list[dict], marks: tuple[ScheduleMark, ...]) -> str:
    fig, ax = plt.subplots(figsize=(7.0, 3.6))
    on_front = {id(r) for r in front}
    styles = (
        (PER_LAYER, None, "s", NEUTRAL),
        (PATCH, "counted", "o", MEASURED),
        (PATCH, "streamed", "^", MEASURED),
        (BEYOND, None, "D", NEW_SCHEDULE),
    )
    for kind, mode, marker, color in styles:
        chosen = [r for r in points if schedule_kind(r) == kind and mode in (None, r["input_mode"])]
        if chosen:
            ax.scatter(
                [r["sram_measured"] / KB for r in chosen],
                [100 * r["mac_overhead"] for r in chosen],
                marker=marker,
                s=28,
                color=color,
                edgecolors=["black" if id(r) in on_front else color for r in chosen],
                label=plain(kind + (f", input {mode}" if mode else "")),
                zorder=3,
            )
    ax.step(
        [r["sram_measured"] / KB for r in front],
        [100 * r["mac_overhead"] for r in front],
        where="post",
        color=MEASURED,
        linewidth=1,
        zorder=2,
        label="measured Pareto set",
    )
    for r in points:
        ax.annotate(
            plain(wrap_schedule(point_name(r))),
            (r["sram_measured"] / KB, 100 * r["mac_overhead"]),
            textcoords="offset points",
            xytext=(4, 4),
            fontsize=5 if "+" in point_name(r) else 6,
        )
    if marks:
        ax.scatter(
            [m.sram_kb for m in marks],
            [100 * m.mac_overhead for m in marks],
            marker="*",
            s=70,
            facecolors="none",
            edgecolors=ANALYTIC_COUNTED,
            label=plain(f"{marks[0].source.split(' (')[0]}, published\n(without input and final output)"),
            zorder=4,
        )
        for m in marks:
            ax.annotate(
                plain(f"published {m.sram_kb:g} kB, {m.mac_overhead:+.1%}"),
                (m.sram_kb, 100 * m.mac_overhead),
                textcoords="offset points",
                xytext=(5, -3),
                fontsize=5,
                color=ANALYTIC_COUNTED,
            )
    ax.set_xlim(left=0)
    ax.set_xlabel("peak SRAM (kB)")
    ax.set_ylabel("MACs above per-layer (%)")
    ax.set_title(plain(title), fontsize=9)
    ax.legend(fontsize=6, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    return figure_svg(fig)


def _scatter_svg(title: str, points: list[dict], front: list[dict], unit: str, budget: int | None) -> str:
    fig, ax = plt.subplots(figsize=(6.0, 3.6))
    on_front = {id(r) for r in front}
    for mode, marker in (("counted", "o"), ("streamed", "^")):
        for best in (True, False):
            chosen = [r for r in points if r["input_mode"] == mode and (id(r) in on_front) == best]
            if chosen:
                ax.scatter(
                    [r["sram_measured"] / KB for r in chosen],
                    [r["latency"] for r in chosen],
                    marker=marker,
                    s=28,
                    color=MEASURED if best else NEUTRAL,
                    label=plain(f"{'Pareto set' if best else 'dominated'}, input {mode}"),
                    zorder=3,
                )
    ax.step(
        [r["sram_measured"] / KB for r in front],
        [r["latency"] for r in front],
        where="post",
        color=MEASURED,
        linewidth=1,
        zorder=2,
    )
    for r in points:
        ax.annotate(
            plain(wrap_schedule(point_name(r))),
            (r["sram_measured"] / KB, r["latency"]),
            textcoords="offset points",
            xytext=(4, 4),
            fontsize=6,
        )
    srams = [r["sram_measured"] / KB for r in points]
    latencies = [r["latency"] for r in points]
    # Zoomed on the points (a few percent of latency apart), the budget line drawn when it is near them.
    left, right = min(srams), max(srams)
    if budget and budget / KB <= 1.5 * right:
        right = max(right, budget / KB)
        ax.axvline(budget / KB, color=BUDGET, linestyle="--", linewidth=1.2,
                   label=plain(f"SRAM budget {budget / KB:,.0f} kB"))  # fmt: skip
    elif budget:
        ax.plot([], [], " ", label=plain(f"SRAM budget {budget / KB:,.0f} kB (right of the chart)"))
    x_margin = max((right - left) * 0.08, 1.0)
    y_margin = max((max(latencies) - min(latencies)) * 0.12, max(latencies) * 0.005)
    ax.set_xlim(max(left - x_margin, 0), right + x_margin)
    ax.set_ylim(min(latencies) - y_margin, max(latencies) + 2 * y_margin)
    ax.set_xlabel("peak SRAM measured (kB)")
    ax.set_ylabel(plain(f"latency ({unit})"))
    ax.yaxis.set_major_formatter(thousands)
    ax.set_title(plain(title), fontsize=9)
    ax.legend(fontsize=6, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    return figure_svg(fig)


def _within(value: int | None, budget: int | None) -> bool:
    return value is None or budget is None or value <= budget

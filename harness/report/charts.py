# SPDX-License-Identifier: Apache-2.0
"""Report charts as inline SVG (matplotlib, Agg): the (p, n) grid, the layer breakdown, trends.

The memory profile (the paper's Figure 1) is harness/report/plots.py's, drawn from the point's stored
analysis; this module adds the charts of
measured results, and assembles the report's charts of one model on one board (``grid_charts``,
``layer_chart``, ``memory_profile_chart``, ``trend_charts``). Every function returns an SVG string that can sit inside an HTML page: no XML
prolog, its element ids prefixed so that several charts on one page never share an id, and no date in
its metadata, so the same data gives the same bytes.

Chart text comes from the results database (model names, say): a ``$`` would start matplotlib's
math mode, so text passes through ``plain`` first. Escaping for HTML is matplotlib's SVG writer's job
(it writes text as XML-escaped comments and glyph paths).
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import matplotlib
import pandas as pd
from markupsafe import Markup

matplotlib.use("Agg")  # no display on CI and board-farm hosts

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402

from harness.report.cells import point_name  # noqa: E402
from harness.report.plots import memory_profile_svg  # noqa: E402
from harness.results.record import PointAnalysis  # noqa: E402

KB = 1024
# Colors of the series, the same in every chart: per-layer grey, measured blue, budgets red.
MEASURED = "#1f77b4"
PLANNED = "#9ecae1"
ANALYTIC_COUNTED = "#ff7f0e"
ANALYTIC_STREAMED = "#ffbb78"
BUDGET = "#d62728"
NEUTRAL = "#7f7f7f"

# Whole numbers with separators: an instruction count reads 14,382,115, not 1.44 x 1e7.
thousands = FuncFormatter(lambda value, _: f"{value:,.0f}" if abs(value) >= 100 else f"{value:g}")
_ID = re.compile(r'\bid="([^"]+)"')
_ID_OR_REFERENCE = re.compile(r'(\bid="|href="#|url\(#)([^"\)]+)')


@dataclass(frozen=True)
class Series:
    """One bar series of a grouped bar chart: a value per x position (None: nothing to draw)."""

    name: str
    values: Sequence[float | None]
    color: str = MEASURED
    hatch: str | None = None


@dataclass(frozen=True)
class Budget:
    """A horizontal line: the board's SRAM or flash budget, in the chart's y unit."""

    label: str
    value: float


def plain(text: object) -> str:
    """Text for a chart label: shown literally, never as matplotlib math."""
    return str(text).replace("$", r"\$")


def scope_ids(svg: str, prefix: str) -> str:
    """Prefix every id in ``svg`` and every reference to one (``href="#id"``, ``url(#id)``)."""
    ids = set(_ID.findall(svg))

    def rename(match: re.Match) -> str:
        name = match.group(2)
        return match.group(1) + (f"{prefix}-{name}" if name in ids else name)

    return _ID_OR_REFERENCE.sub(rename, svg)


def figure_svg(fig) -> str:
    """``fig`` as an inline-able SVG string; closes the figure."""
    buffer = io.StringIO()
    with plt.rc_context({"svg.hashsalt": "patchbench", "svg.fonttype": "path"}):
        fig.savefig(buffer, format="svg", metadata={"Date": None})
    plt.close(fig)
    svg = buffer.getvalue()
    return svg[svg.index("<svg") :]


def wrap_schedule(label: str, width: int = 24) -> str:
    """A long schedule name over several lines, broken after its " + " (``rows n=4 + rows n=1 + ...``):
    a tick label of one line would push the axes out of the figure."""
    if len(label) <= width or " + " not in label:
        return label
    lines = [""]
    for index, part in enumerate(label.split(" + ")):
        piece = part if index == 0 else f"+ {part}"
        if lines[-1] and len(lines[-1]) + 1 + len(piece) > width:
            lines.append(piece)
        else:
            lines[-1] = f"{lines[-1]} {piece}".strip()
    return "\n".join(lines)


def grouped_bars_svg(
    title: str,
    labels: Sequence[str],
    series: Sequence[Series],
    ylabel: str,
    budget: Budget | None = None,
    missing_text: Sequence[str | None] | None = None,
) -> str:
    """Bars per x position, one per series side by side, with an optional budget line.

    ``missing_text``: per x position, a word to write in the first series' slot when that series has no
    value there ("does not fit" where no SRAM could be measured).
    """
    count = max(len(series), 1)
    width = 0.8 / count
    fig, ax = plt.subplots(figsize=(max(5.0, 0.9 * len(labels) * max(1, count / 2) + 2.0), 3.4))
    for index, one in enumerate(series):
        xs = [x + (index - (count - 1) / 2) * width for x in range(len(labels))]
        points = [(x, v) for x, v in zip(xs, one.values, strict=True) if v is not None]
        if points:
            ax.bar(
                [x for x, _ in points],
                [v for _, v in points],
                width,
                label=plain(one.name),
                color=one.color,
                hatch=one.hatch,
                edgecolor="#333333" if one.hatch else None,
                linewidth=0.5 if one.hatch else 0,
            )
    top = max(
        [v for one in series for v in one.values if v is not None] + [budget.value if budget else 0] + [1]
    )
    first = (count - 1) / 2 * width
    for x, text in enumerate(missing_text or []):
        if text and (not series or series[0].values[x] is None):
            ax.text(
                x - first,
                top * 0.02,
                plain(text),
                rotation=90,
                ha="center",
                va="bottom",
                fontsize=7,
                color=BUDGET,
            )
    if budget is not None:
        ax.axhline(budget.value, color=BUDGET, linestyle="--", linewidth=1.2, label=plain(budget.label))
    ax.set_xticks(list(range(len(labels))))
    labels = [wrap_schedule(label) for label in labels]
    tilted = len(labels) > 6 or sum(map(len, labels)) > 9 * len(labels)  # "p=2 n=5 streamed" would overlap
    ax.set_xticklabels(
        [plain(label) for label in labels],
        fontsize=8,
        rotation=30 if tilted else 0,
        ha="right" if tilted else "center",
    )
    ax.set_ylabel(plain(ylabel))
    ax.set_ylim(0, top * 1.12)
    ax.set_title(plain(title), fontsize=9)
    if ax.get_legend_handles_labels()[0]:
        # Outside the axes: inside, it would hide the budget line or the tallest bars.
        ax.legend(fontsize=7, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.yaxis.set_major_formatter(thousands)
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    return figure_svg(fig)


def layer_latency_svg(title: str, layers: Sequence[tuple[str, float]], unit: str) -> str:
    """Horizontal bars: each layer's latency (in ``unit``) and its share of the total, in run order."""
    names = [plain(name) for name, _ in layers]
    values = [float(value) for _, value in layers]
    total = sum(values) or 1.0
    fig, ax = plt.subplots(figsize=(7.5, max(2.0, 0.22 * len(names) + 1.0)))
    positions = list(range(len(names)))
    ax.barh(positions, values, color=MEASURED)
    for y, value in zip(positions, values, strict=True):
        ax.text(value, y, f" {100 * value / total:.1f} %", va="center", fontsize=6)
    ax.set_yticks(positions)
    ax.set_yticklabels(names, fontsize=6)
    ax.invert_yaxis()  # first layer on top, as it runs
    ax.set_xlabel(plain(f"latency ({unit})"))
    ax.xaxis.set_major_formatter(thousands)
    ax.set_xlim(0, max(values + [1.0]) * 1.15)
    ax.set_title(plain(title), fontsize=9)
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    return figure_svg(fig)


def trend_svg(title: str, runs: Sequence[str], lines: dict[str, Sequence[float | None]], ylabel: str) -> str:
    """One line per point over the runs (oldest left); gaps where a run did not measure the point."""
    fig, ax = plt.subplots(figsize=(max(5.0, 0.6 * len(runs) + 3.0), 3.0))
    xs = list(range(len(runs)))
    for name, values in lines.items():
        ax.plot(
            [x for x, v in zip(xs, values, strict=True) if v is not None],
            [v for v in values if v is not None],
            marker="o",
            markersize=3,
            linewidth=1,
            label=plain(name),
        )
    ax.set_xticks(xs)
    ax.set_xticklabels([plain(run) for run in runs], rotation=30, ha="right", fontsize=6)
    ax.set_ylabel(plain(ylabel))
    ax.yaxis.set_major_formatter(thousands)
    ax.set_title(plain(title), fontsize=9)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=6, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    return figure_svg(fig)


# --- the report's charts of one model on one board ------------------------------------------------
# Rows are results rows as plain dicts (ResultsDB columns; None where a figure is missing), one per
# schedule point, in the order the report's table shows them.


@dataclass(frozen=True)
class Chart:
    title: str
    svg: Markup  # safe to insert into the page as it is
    caption: str = ""


def inline(svg: str, scope: str) -> Markup:
    """An SVG for the page, ids scoped. Markup: it is matplotlib's output, whose writer XML-escapes
    every text it holds."""
    return Markup(scope_ids(svg, re.sub(r"[^A-Za-z0-9_-]+", "_", scope)))


def grid_charts(title: str, scope: str, rows: Sequence[dict], missing: Sequence[str | None]) -> list[Chart]:
    """Peak SRAM (measured, planned, analytic both ways) and flash against the board's budgets, and
    latency (one chart per unit: instructions and cycles never share an axis), over the points.

    ``missing``: per point, why it has no measurement ("does not fit"), written where its bar would be.
    A point that does not fit draws what it needs instead: its planned SRAM, and the SRAM or flash the
    linker said it needed (or the lower bound that decided it before the build), hatched.
    """
    labels = [point_name(r) for r in rows]
    sram_budget = next((r["sram_budget"] for r in rows if r["sram_budget"]), None)
    flash_budget = next((r["flash_budget"] for r in rows if r["flash_budget"]), None)

    def kb(column: str) -> list[float | None]:
        return [None if r[column] is None else r[column] / KB for r in rows]

    def budget(what: str, value: int | None) -> Budget | None:
        return Budget(f"{what} budget {value / KB:,.0f} kB", value / KB) if value else None

    sram = [
        Series("measured", kb("sram_measured"), MEASURED),
        Series("planned", kb("sram_planned"), PLANNED),
        Series("analytic, input counted", kb("sram_analytic_counted"), ANALYTIC_COUNTED),
        Series("analytic, input streamed", kb("sram_analytic_streamed"), ANALYTIC_STREAMED),
        Series("needed, does not fit (linker)", kb("sram_needed"), BUDGET, "//"),
    ]
    found = [
        Chart(
            "Peak SRAM over the (p, n) grid",
            inline(
                grouped_bars_svg(
                    f"{title}: peak SRAM", labels, sram, "SRAM (kB)", budget("SRAM", sram_budget), missing
                ),
                scope + "-sram",
            ),
            "Bars above the dashed line do not fit the board's SRAM; hatched: what a point that does not "
            "fit needs (the linker's figure, or the lower bound that decided it before the build).",
        ),
        Chart(
            "Flash over the (p, n) grid",
            inline(
                grouped_bars_svg(
                    f"{title}: flash",
                    labels,
                    [
                        Series("flash (.text + .rodata + .data)", kb("flash_bytes"), MEASURED),
                        Series("needed, does not fit (linker)", kb("flash_needed"), BUDGET, "//"),
                    ],
                    "flash (kB)",
                    budget("flash", flash_budget),
                    missing,
                ),
                scope + "-flash",
            ),
        ),
    ]
    for unit in dict.fromkeys(r["latency_unit"] for r in rows if r["latency_unit"]):
        values = [r["latency"] if r["latency_unit"] == unit else None for r in rows]
        svg = grouped_bars_svg(
            f"{title}: latency", labels, [Series(unit, values)], f"latency ({unit})", None, missing
        )
        found.append(Chart(f"Latency over the (p, n) grid ({unit})", inline(svg, f"{scope}-latency-{unit}")))
    return found


def layer_chart(title: str, scope: str, row: dict) -> Chart | None:
    """The latency of each timed layer of one point (from its layer_latency), in its own unit."""
    if not row["layer_latency"]:
        return None
    label = point_name(row)
    layers = [(str(name), float(value)) for name, value in row["layer_latency"]]
    svg = layer_latency_svg(f"{title}, {label}: latency per layer", layers, row["latency_unit"] or "")
    return Chart(f"Per-layer latency of the chosen schedule ({label})", inline(svg, scope + "-layers"))


def memory_profile_chart(analysis: PointAnalysis, sram_budget: int | None, scope: str, what: str) -> Chart:
    """The per-layer memory profile (the paper's Figure 1) of a point, from its stored analysis."""
    return Chart(
        f"Memory profile per block: per-layer vs {what}",
        inline(memory_profile_svg(analysis, sram_budget=sram_budget), scope + "-profile"),
        "Analytic activation memory of each layer (block) with the input image counted; "
        "the dashed red line is the board's SRAM budget, the dotted line ends the patch stage.",
    )


def trend_charts(title: str, scope: str, history: pd.DataFrame) -> list[Chart]:
    """Latency (per unit) and measured SRAM of every point over the runs of ``history``: passed rows
    of one model on one board, with a ``run_order`` column (oldest first). None when under two runs."""
    runs = list(dict.fromkeys(history.sort_values("run_order")["run_id"]))
    if len(runs) < 2:
        return []
    modes = history["input_mode"].fillna("counted").replace("", "counted")
    points = sorted(set(zip(history["p"], history["n"], modes, strict=True)))
    found = []
    series = [("latency", unit) for unit in dict.fromkeys(history["latency_unit"].dropna())]
    for column, unit in [*series, ("sram_measured", None)]:
        lines: dict[str, list[float | None]] = {}
        for p, n, mode in points:
            rows = history[(history["p"] == p) & (history["n"] == n) & (modes == mode)]
            if unit is not None:
                rows = rows[rows["latency_unit"] == unit]
            by_run = dict(zip(rows["run_id"], rows[column], strict=True))
            values = [_number(by_run.get(run)) for run in runs]
            if unit is None:
                values = [None if v is None else v / KB for v in values]
            if any(v is not None for v in values):
                lines[point_name({"p": int(p), "n": int(n), "input_mode": mode})] = values
        if not lines:
            continue
        what = "latency" if unit else "peak SRAM measured"
        svg = trend_svg(
            f"{title}: {what}", runs, lines, f"latency ({unit})" if unit else "SRAM measured (kB)"
        )
        found.append(
            Chart(
                f"Trend of {what} over {len(runs)} runs" + (f" ({unit})" if unit else ""),
                inline(svg, f"{scope}-trend-{column}-{unit or ''}"),
            )
        )
    return found


def _number(value: object) -> float | None:
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else value

# SPDX-License-Identifier: Apache-2.0
"""SVG charts for reports: the per-layer vs per-patch memory profile (the paper's Figure 1).

Drawn from a point's stored analysis (``harness.results.record.PointAnalysis``), never from the zoo
or the scheduler: a report re-rendered later draws what the run measured. For a Graph and a plan
at hand (the ``profile --svg`` command), ``harness.pipeline.analysis.point_analysis`` makes one.
"""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")  # no display on CI and board-farm hosts

import matplotlib.pyplot as plt  # noqa: E402

from harness.results.record import PointAnalysis  # noqa: E402

KB = 1024


def memory_profile_svg(
    analysis: PointAnalysis, sram_budget: int | None = None, input_mode: str = "counted"
) -> str:
    """Per-layer (block) memory, per-layer inference beside the plan's, as an inline-able SVG string.

    ``sram_budget`` (bytes) draws a horizontal budget line. The legend says whether the input image is
    counted or streamed in the patch stage.
    """
    if input_mode not in ("counted", "streamed"):
        raise ValueError(f"input_mode {input_mode!r} unknown; use 'counted' or 'streamed'")
    with plt.rc_context({"svg.fonttype": "none", "svg.hashsalt": "patchbench"}):
        return _draw(analysis, sram_budget, input_mode)


def _draw(analysis: PointAnalysis, sram_budget: int | None, input_mode: str) -> str:
    # Text stays text (svg.fonttype none: searchable, small); ids are seeded, no date: the same input
    # gives the same SVG.
    layers = analysis.layers
    plan = analysis.plan
    names = [layer.name for layer in layers]
    per_layer = [layer.per_layer_bytes / KB for layer in layers]
    key = "per_patch_bytes" if input_mode == "streamed" else "per_patch_counted_bytes"
    scheduled = [getattr(layer, key) / KB for layer in layers]
    positions = range(len(names))
    width = 0.4
    fig, ax = plt.subplots(figsize=(max(6.0, 0.32 * len(names) + 2.0), 3.6))
    ax.bar([x - width / 2 for x in positions], per_layer, width, label="per-layer", color="#b0b0b0")
    if plan.is_per_layer:
        label = "scheduled: per-layer"
    else:
        label = f"per-patch ({plan.p}x{plan.p}, n={plan.n}; input {input_mode})"
    ax.bar([x + width / 2 for x in positions], scheduled, width, label=label, color="#1f77b4")
    if not plan.is_per_layer:
        boundary = len(plan.stage_layers) - 0.5
        ax.axvline(boundary, color="#555555", linestyle=":", linewidth=1)
    if sram_budget is not None:
        ax.axhline(
            sram_budget / KB,
            color="#d62728",
            linestyle="--",
            linewidth=1.2,
            label=f"SRAM budget {sram_budget / KB:.0f} kB",
        )
    ax.set_xticks(list(positions))
    ax.set_xticklabels(names, rotation=60, ha="right", fontsize=7)
    ax.set_ylabel("activation memory (kB)")
    ax.set_title(
        f"{analysis.graph_name}: peak {analysis.peak_per_layer / KB:.0f} kB per-layer, "
        f"{analysis.peak(input_mode) / KB:.0f} kB scheduled ({analysis.rules} rules)",
        fontsize=9,
    )
    ax.legend(fontsize=7, frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", metadata={"Date": None})
    plt.close(fig)
    svg = buffer.getvalue()
    return svg[svg.index("<svg") :]  # drop the XML prolog and doctype so it can be inlined in HTML

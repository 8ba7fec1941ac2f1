# SPDX-License-Identifier: Apache-2.0
"""msf-CNN's formulation of the schedule search: a schedule is a path through the layer boundaries.

Written from the paper's description (Huang & Baccelli, "msf-CNN", NeurIPS 2025, arXiv 2505.11483,
../shared/METHOD.md), not from its code. The network is a graph whose nodes are the boundaries between
layers (0 = the network input, L = its output; a boundary between two blocks is crossed by one tensor)
and whose edges are *segments*: a run of layers ``[start, end)`` executed one way (per layer, patch by
patch on a p x p grid with the halo recomputed, row-streamed). Each edge has a memory cost (the most any
of its layers needs under it, its input and output buffers included) and a MAC cost (its layers' MACs
under it, recomputation included). A schedule is a path from 0 to L; its peak memory is the *largest*
edge cost on the path and its MACs the *sum*. So:

- least memory under a MAC cap, least MACs under a memory cap and the (memory, MACs) Pareto set are all
  read off the Pareto labels of node L;
- those labels come from one forward pass over the boundaries (the graph is a chain, so a DAG): each node
  keeps the (memory, MACs) pairs of the paths reaching it that no other path beats on both, each pair
  extended by every segment leaving the node. Dominance survives extension (max and + are monotone), so
  pruning a dominated label never loses an optimal path.

Costs are analytic (the paper's accounting, harness/schedule/profile.py, input counted or streamed); the
arena planner's figure differs by kernel scratch and alignment, so ``slack`` keeps a label that another
beats by less than that fraction of memory (near-ties are left for the arena planner to rank;
schedule/search.py does that).

Which segments exist is ``segment_options``: today per-layer layers and a patch segment over the first n
layers for each p (MCUNetV2's one stage); a segment kind the plans support elsewhere in the graph is one
more option per (start, end), and the search needs nothing else.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from harness.ir.graph import Graph
from harness.ir.schedule_name import schedule_label
from harness.schedule.plan import ScheduleError, make_plan
from harness.schedule.profile import PAPER_RULES, InputMode, MemoryRules, _check_mode, profile

PER_LAYER = "per-layer"
PATCH = "patch"
DEFAULT_SLACK = 0.03  # near-ties in analytic memory kept for the arena planner to rank


@dataclass(frozen=True)
class SegmentOption:
    """One edge of the boundary graph: layers ``[start, end)`` run one way, with its costs."""

    start: int
    end: int
    kind: str  # PER_LAYER, PATCH, ...
    p: int  # patches per side (1 for per-layer)
    memory: int  # analytic bytes: the most any of its layers needs run this way
    macs: int  # its layers' MACs run this way (recomputation included)

    def label(self) -> str:
        if self.kind == PER_LAYER:
            return f"per-layer {self.start}..{self.end - 1}"
        return f"{self.kind} p={self.p} layers {self.start}..{self.end - 1}"


@dataclass(frozen=True)
class SegmentPath:
    """A schedule as a path of segments from boundary 0 to L, with its peak memory and MACs."""

    segments: tuple[SegmentOption, ...]
    memory: int  # the largest segment memory
    macs: int  # the sum of segment MACs

    @property
    def point(self) -> tuple[int, int]:
        """The (p, n) of a path of one patch segment from layer 0 and per-layer segments after it
        (every path ``segment_options`` makes today); (1, 0) for all per-layer."""
        patched = [s for s in self.segments if s.kind != PER_LAYER]
        if not patched:
            return 1, 0
        if len(patched) > 1 or patched[0].start != 0 or patched[0].kind != PATCH:
            raise ScheduleError(f"path {self.label()} is not a (p, n) schedule")
        return patched[0].p, patched[0].end

    def label(self) -> str:
        patched = [s for s in self.segments if s.kind != PER_LAYER]
        if not patched:
            return PER_LAYER
        return " + ".join(s.label() for s in patched)


@dataclass(frozen=True)
class _Label:
    memory: int
    macs: int
    segment: SegmentOption | None  # the last edge (None at node 0)
    previous: _Label | None

    def path(self) -> tuple[SegmentOption, ...]:
        found, label = [], self
        while label is not None and label.segment is not None:
            found.append(label.segment)
            label = label.previous
        return tuple(reversed(found))


def pareto_paths(
    layers: int, options: Iterable[SegmentOption], slack: float = 0.0
) -> tuple[SegmentPath, ...]:
    """The paths from boundary 0 to ``layers`` that no other path beats on both memory and MACs, by
    memory (``slack``: a path beaten on memory by less than this fraction is kept too)."""
    if not 0 <= slack < 1:
        raise ScheduleError(f"slack {slack!r} must be in [0, 1)")
    leaving: dict[int, list[SegmentOption]] = {}
    for option in options:
        if not 0 <= option.start < option.end <= layers:
            raise ScheduleError(f"segment {option.label()} is outside layers 0..{layers - 1}")
        leaving.setdefault(option.start, []).append(option)
    labels: dict[int, list[_Label]] = {0: [_Label(0, 0, None, None)]}
    for node in range(layers):
        for label in labels.get(node, ()):
            for option in leaving.get(node, ()):
                reached = _Label(max(label.memory, option.memory), label.macs + option.macs, option, label)
                labels[option.end] = _keep(labels.get(option.end, []), reached, slack)
    if layers not in labels:
        raise ScheduleError(f"no path of segments covers layers 0..{layers - 1}")
    return tuple(
        SegmentPath(label.path(), label.memory, label.macs)
        for label in sorted(labels[layers], key=lambda label: (label.memory, label.macs))
    )


def _beats(a: _Label, b: _Label, slack: float) -> bool:
    return (
        a.macs <= b.macs and a.memory <= b.memory * (1 - slack)
        if slack
        else (a.macs <= b.macs and a.memory <= b.memory)
    )


def _keep(labels: list[_Label], new: _Label, slack: float) -> list[_Label]:
    if any(_beats(old, new, slack) for old in labels):
        return labels
    return [old for old in labels if not _beats(new, old, slack)] + [new]


def least_memory(paths: Iterable[SegmentPath], max_macs: int | None = None) -> SegmentPath | None:
    """The path needing the least memory with at most ``max_macs`` MACs (None: no cap)."""
    capped = [path for path in paths if max_macs is None or path.macs <= max_macs]
    return min(capped, key=lambda path: (path.memory, path.macs)) if capped else None


def fewest_macs(paths: Iterable[SegmentPath], max_memory: int | None = None) -> SegmentPath | None:
    """The path with the fewest MACs needing at most ``max_memory`` bytes (None: no cap)."""
    capped = [path for path in paths if max_memory is None or path.memory <= max_memory]
    return min(capped, key=lambda path: (path.macs, path.memory)) if capped else None


def segment_options(
    graph: Graph,
    input_mode: InputMode = "streamed",
    *,
    patches: tuple[int, ...] = (2, 3, 4),
    rules: MemoryRules = PAPER_RULES,
) -> tuple[list[SegmentOption], list[tuple[int, int, str]]]:
    """The segments of ``graph`` the plans support, with their analytic costs; and the (p, n) refused,
    with why. Per-layer: every layer alone (the image counted: per-layer inference reads it whole).
    Patch: the first n layers on a p x p grid (``input_mode``: the image streamed or counted)."""
    _check_mode(input_mode)
    per_layer = profile(graph, make_plan(graph, 1, 0), rules).layers
    options = [
        SegmentOption(index, index + 1, PER_LAYER, 1, layer.per_layer_bytes, layer.macs_per_layer)
        for index, layer in enumerate(per_layer)
    ]
    rejected = []
    for p in patches:
        for n in range(1, len(graph.layers) + 1):
            try:
                plan = make_plan(graph, p, n)
            except ScheduleError as error:
                rejected.append((p, n, str(error)))
                continue
            stage = profile(graph, plan, rules).layers[:n]
            need = max(
                layer.per_patch_bytes if input_mode == "streamed" else layer.per_patch_counted_bytes
                for layer in stage
            )
            options.append(SegmentOption(0, n, PATCH, p, need, sum(layer.macs_scheduled for layer in stage)))
    return options, rejected


def search_points(
    graph: Graph,
    input_mode: InputMode = "streamed",
    *,
    patches: tuple[int, ...] = (2, 3, 4),
    rules: MemoryRules = PAPER_RULES,
    slack: float = DEFAULT_SLACK,
) -> tuple[tuple[SegmentPath, ...], list[tuple[int, int, str]]]:
    """The boundary graph's Pareto paths of ``graph`` (with ``slack``) and the segments refused."""
    options, rejected = segment_options(graph, input_mode, patches=patches, rules=rules)
    return pareto_paths(len(graph.layers), options, slack), rejected


def describe(path: SegmentPath) -> str:
    """``p=4 n=7`` for a (p, n) path, its segments otherwise."""
    try:
        return schedule_label(*path.point)
    except ScheduleError:
        return path.label()

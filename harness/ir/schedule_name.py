# SPDX-License-Identifier: Apache-2.0
"""The name of a schedule, the one way every layer writes and reads it.

It lives in the IR, below the scheduler, because the results and the report name schedules too and
the report may not import ``harness.schedule`` (it draws what a run stored, never today's plans).

A schedule is a list of segments over the graph's layers (``Graph.layers``), in order; whatever the
segments leave after them runs per layer. A segment is

- ``p=4 n=5``: a p x p patch stage over n layers (MCUNetV2's, with recomputation; first segment only);
- ``rows n=12``: n layers row-streamed (full-width rows, rings of rows, nothing recomputed); ``rows n=12
  g=2``: the same, each op computing two rows per step (fewer kernel calls, rings larger); ``rows n=2
  ch=160``: a segment ending in a global average pool runs the conv that feeds the pool 160 output
  channels per call, each slice's rows added into the slice's sums at once (its scratch and ring a slice's);
  ``rows n=5 strips=2``: the segment's output in two column strips, one after the other, each row-streamed
  over the columns it needs (rings a strip wide, the halo columns between strips recomputed);
- ``per-layer n=2``: n layers run one after the other on whole tensors (between two other segments).

The label joins the segments with `` + ``: ``p=2 n=3 + rows n=6``, ``rows n=3 + per-layer n=1 + rows n=2``.
Today's one-stage labels stay exactly as they were: ``per-layer`` (no segment) and ``p=4 n=5``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

SegmentKind = Literal["patches", "rows", "per-layer"]
SEPARATOR = " + "
_PATCHES = re.compile(r"^p=(\d+) n=(\d+)$")
_ROWS = re.compile(r"^rows n=(\d+)(?: g=(\d+))?(?: strips=(\d+))?(?: ch=(\d+))?$")
_LAYERS = re.compile(r"^per-layer n=(\d+)$")


class ScheduleNameError(ValueError):
    """A schedule label that names no schedule; the message says what is allowed."""


@dataclass(frozen=True)
class Segment:
    """One segment of a schedule: ``n`` consecutive layers run one way."""

    kind: SegmentKind
    n: int
    p: int = 1  # patches per side (kind "patches")
    g: int = 1  # output rows per step (kind "rows")
    ch: int = 0  # kind "rows": output channels per call of the conv feeding a global pool (0: all at once)
    strips: int = 1  # kind "rows": column strips, run one after the other

    @property
    def label(self) -> str:
        if self.kind == "patches":
            return f"p={self.p} n={self.n}"
        if self.kind == "rows":
            return rows_label(self.n, self.g, self.ch, self.strips)
        return f"{self.kind} n={self.n}"


@dataclass(frozen=True)
class Schedule:
    """The segments of a schedule, in layer order; the layers after the last run per layer."""

    segments: tuple[Segment, ...] = ()

    def __post_init__(self):
        # the layers after the last segment run per layer anyway: one schedule, one label
        segments = tuple(self.segments)
        while segments and segments[-1].kind == "per-layer":
            segments = segments[:-1]
        object.__setattr__(self, "segments", segments)

    @property
    def label(self) -> str:
        return SEPARATOR.join(segment.label for segment in self.segments) or "per-layer"

    @property
    def layers(self) -> int:
        """Layers the segments cover (from the first)."""
        return sum(segment.n for segment in self.segments)

    @property
    def is_patch_stage(self) -> bool:
        """Today's (p, n) schedules: per layer, or one patch stage then per layer."""
        return not self.segments or (len(self.segments) == 1 and self.segments[0].kind == "patches")

    @property
    def pn(self) -> tuple[int, int]:
        """(p, n) of a one-stage schedule (``per-layer``: (1, 0))."""
        if not self.is_patch_stage:
            raise ScheduleNameError(f"schedule {self.label!r} is not one patch stage: it has no (p, n)")
        return (self.segments[0].p, self.segments[0].n) if self.segments else (1, 0)

    @classmethod
    def from_pn(cls, p: int, n: int) -> Schedule:
        return cls(() if p == 1 else (Segment("patches", n, p),))


def schedule_label(p: int, n: int) -> str:
    """``per-layer`` for p = 1, else ``p=4 n=5`` (p patches per side over the first n layers)."""
    return "per-layer" if p == 1 else f"p={p} n={n}"


def point_fields(label: str) -> tuple[int, int, str]:
    """(p, n, segments) a result stores for a schedule: a one-stage schedule its (p, n) and "" (exactly as
    before there were others), any other p = n = 0 and its label (``PointIdentity.segments``)."""
    schedule = parse_schedule(label)
    if schedule.is_patch_stage:
        return (*schedule.pn, "")
    return 0, 0, schedule.label


def point_schedule(p: int, n: int, segments: str = "") -> str:
    """The label of a stored point's schedule: its ``segments``, else its (p, n)'s."""
    return segments or schedule_label(p, n)


def rows_label(n: int, g: int = 1, ch: int = 0, strips: int = 1) -> str:
    """``rows n=12``: n layers row-streamed (full-width rows, nothing recomputed); ``rows n=12 g=2``: two
    output rows per step (fewer kernel calls, larger rings); ``ch=160``: the conv feeding the segment's
    global pool 160 output channels per call; ``strips=2``: two column strips."""
    return (
        f"rows n={n}"
        + (f" g={g}" if g != 1 else "")
        + (f" strips={strips}" if strips != 1 else "")
        + (f" ch={ch}" if ch else "")
    )


def parse_schedule(label: str) -> Schedule:
    """The schedule a label names (``per-layer``, ``p=4 n=5``, ``rows n=12``, ``p=2 n=3 + rows n=6``, ...).

    Raises ScheduleNameError naming the part it cannot read. Trailing ``per-layer n=..`` segments are
    dropped (the rest of the graph runs per layer anyway), so one schedule has one label.
    """
    text = " ".join(label.split())
    if text == "per-layer":
        return Schedule()
    segments = []
    for part in text.split("+"):
        part = part.strip()
        if m := _PATCHES.match(part):
            segment = Segment("patches", int(m.group(2)), int(m.group(1)))
            if segment.p == 1:
                raise ScheduleNameError(f"schedule {label!r}: {part!r} has p=1; write 'per-layer n=..'")
            if segments:
                raise ScheduleNameError(
                    f"schedule {label!r}: a patch stage ({part!r}) can only be the first segment"
                )
        elif m := _ROWS.match(part):
            segment = Segment(
                "rows",
                int(m.group(1)),
                g=int(m.group(2) or 1),
                ch=int(m.group(4) or 0),
                strips=int(m.group(3) or 1),
            )
            if segment.strips < 1:
                raise ScheduleNameError(f"schedule {label!r}: {part!r} has strips=0; use 1 or more")
            if segment.g < 1:
                raise ScheduleNameError(
                    f"schedule {label!r}: {part!r} has g={segment.g}; rows per step are 1 or more"
                )
            if m.group(4) is not None and segment.ch < 1:
                raise ScheduleNameError(
                    f"schedule {label!r}: {part!r} has ch={segment.ch}; channels per call are 1 or more"
                )
        elif m := _LAYERS.match(part):
            segment = Segment("per-layer", int(m.group(1)))
        else:
            raise ScheduleNameError(
                f"schedule {label!r}: cannot read {part!r}; segments are 'p=P n=N' (patches), 'rows n=N' "
                "(row-streamed; optional g=G, strips=S, ch=C in that order) or 'per-layer n=N', joined by ' + '; or the whole label 'per-layer'"
            )
        if segment.n < 1:
            raise ScheduleNameError(f"schedule {label!r}: segment {part!r} covers no layer (n must be >= 1)")
        segments.append(segment)
    return Schedule(tuple(segments))

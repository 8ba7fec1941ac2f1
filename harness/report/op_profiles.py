# SPDX-License-Identifier: Apache-2.0
"""Where the time goes, per op: the per-op profile (harness.results.op_profile) of every passed per-layer
point of a run whose record holds its ops' shapes, by kernel class, by kernel shape and per op; and beside
it what each of the run's schedules of the same model costs against it (``recompute_share``): its MAC and
latency overheads, the share its recomputed MACs account for at the per-layer rates, and what is beyond."""

from __future__ import annotations

from dataclasses import dataclass, replace

from harness.results.op_profile import OpProfile, RecomputeShare, op_profile, recompute_share
from harness.results.record import PointIdentity, identity_of, point_label


@dataclass(frozen=True)
class PointProfile:
    title: str
    anchor: str
    profile: OpProfile
    # the run's other schedules of the point's model, engine and kernels (either input mode), each with
    # what it costs against this per-layer point: (schedule, input mode, share), in schedule order
    schedules: tuple[tuple[str, str, RecomputeShare], ...] = ()


def op_profiles(records: list[dict]) -> list[PointProfile]:
    """One profile per passed per-layer point of ``records`` (a run's rows) that has per-op shapes."""
    passed = [(identity_of(record), record) for record in records if record.get("status") == "passed"]
    out = []
    for identity, record in passed:
        if identity.p != 1:
            continue
        found = op_profile(record)
        if found is None:
            continue
        anchor = "ops-" + "-".join(str(part) for part in (identity.target, identity.backend, identity.model,
                                                             identity.kernels, identity.engine, identity.input_mode))  # fmt: skip
        schedules = []
        for other, point in passed:
            share = None
            if other.p != 1 and _same_but_schedule(other, identity):
                share = recompute_share(record, point)
            if share is not None:
                schedules.append((other.schedule, other.input_mode, share))
        schedules.sort(key=lambda row: (row[2].macs, row[0], row[1]))
        out.append(PointProfile(point_label(identity), anchor, found, tuple(schedules)))
    return sorted(out, key=lambda p: p.title)


def _same_but_schedule(point: PointIdentity, per_layer: PointIdentity) -> bool:
    return replace(point.group, input_mode="") == replace(per_layer.group, input_mode="")

# SPDX-License-Identifier: Apache-2.0
"""Where the time goes, per op: the per-op profile (harness.results.op_profile) of every passed per-layer
point of a run whose record holds its ops' shapes, by kernel class, by kernel shape and per op."""

from __future__ import annotations

from dataclasses import dataclass

from harness.results.op_profile import OpProfile, op_profile
from harness.results.record import identity_of, point_label


@dataclass(frozen=True)
class PointProfile:
    title: str
    anchor: str
    profile: OpProfile


def op_profiles(records: list[dict]) -> list[PointProfile]:
    """One profile per passed per-layer point of ``records`` (a run's rows) that has per-op shapes."""
    out = []
    for record in records:
        identity = identity_of(record)
        if record.get("status") != "passed" or identity.p != 1:
            continue
        found = op_profile(record)
        if found is None:
            continue
        anchor = "ops-" + "-".join(str(part) for part in (identity.target, identity.backend, identity.model,
                                                             identity.kernels, identity.engine, identity.input_mode))  # fmt: skip
        out.append(PointProfile(point_label(identity), anchor, found))
    return sorted(out, key=lambda p: p.title)

# SPDX-License-Identifier: Apache-2.0
"""The name of a (p, n) schedule, the one way every layer writes it.

It lives in the IR, below the scheduler, because the results and the report name schedules too and
the report may not import ``harness.schedule`` (it draws what a run stored, never today's plans).
"""

from __future__ import annotations


def schedule_label(p: int, n: int) -> str:
    """``per-layer`` for p = 1, else ``p=4 n=5`` (p patches per side over the first n layers)."""
    return "per-layer" if p == 1 else f"p={p} n={n}"

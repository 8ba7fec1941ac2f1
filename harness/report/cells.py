# SPDX-License-Identifier: Apache-2.0
"""The report's table cells and text formatting: a figure as text for people, with the exact value
behind it (``data-value``) and a tooltip; slugs, times and plain-Python rows for the templates."""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass
from typing import Any

from harness.ir.schedule_name import point_schedule, schedule_label
from harness.results.record import COLUMNS

KB = 1024
STATUS_TEXT = {"passed": "passed", "failed": "failed", "inexact": "inexact (peer engine)", "does_not_fit": "does not fit",
               "unsupported": "not supported by its engine", "error": "error"}  # fmt: skip


@dataclass(frozen=True)
class Cell:
    text: str
    value: str | None = None  # the exact figure behind the text (data-value), e.g. bytes
    note: str | None = None  # tooltip
    css: str = ""
    href: str | None = None


NA = Cell("—", css="na")


def bytes_cell(value: int | None) -> Cell:
    if value is None:
        return NA
    return Cell(f"{value / KB:,.1f} kB", str(int(value)), f"{int(value):,} bytes")


def macs_cell(value: int | None) -> Cell:
    if value is None:
        return NA
    return Cell(f"{value / 1e6:,.2f} M", str(int(value)), f"{int(value):,} MACs")


def percent_cell(value: float | None, exact: float | None = None) -> Cell:
    if value is None:
        return NA
    return Cell(f"{100 * value:+.1f} %", repr(exact if exact is not None else value))


def count_cell(value: int | None) -> Cell:
    if value is None:
        return NA
    return Cell(f"{int(value):,}", str(int(value)))


def latency_cell(r: dict, with_unit: bool) -> Cell:
    if r["latency"] is None:
        return NA
    text = f"{r['latency']:,.0f}" + (f" {r['latency_unit']}" if with_unit else "")
    return Cell(text, repr(r["latency"]), f"{r['latency']:,.0f} {r['latency_unit']} (median)")


def estimated_ms_cell(value: float | None) -> Cell:
    """Milliseconds the cycle model estimates (harness.boards.timing_model): labelled estimated."""
    if value is None:
        return NA
    return Cell(f"{value:,.2f} ms (est.)", repr(value), f"{value:,.3f} ms, estimated by the timing model")


def latency_overhead_cell(reference: dict | None, r: dict) -> Cell:
    if reference is None or r is reference:
        return Cell("reference", css="na") if r is reference else NA
    if reference["latency"] in (None, 0) or r["latency"] is None:
        return NA
    if reference["latency_unit"] != r["latency_unit"]:
        # Instructions and cycles are different quantities: no ratio between them.
        return Cell("— (units differ)", css="na")
    return percent_cell(r["latency"] / reference["latency"] - 1)


def reduction_cell(reference: dict | None, r: dict, column: str) -> Cell:
    if reference is None or r is reference:
        return Cell("reference", css="na") if r is reference else NA
    before, now = reference[column], r[column]
    if not before or not now:
        return NA
    return Cell(f"{before / now:.2f}x", repr(before / now), f"{before:,} / {now:,} bytes")


def exact_cell(r: dict) -> Cell:
    if r["exact"] is None:
        return Cell("not checked", css="na")
    if r["exact"]:
        return Cell("yes", "1", r["output_crc"] and f"output CRC {r['output_crc']}", "exact-yes")
    return Cell("NO", "0", r["output_crc"] and f"output CRC {r['output_crc']}", "exact-no")


def oracle_cell(r: dict) -> Cell:
    """The host reference against TFLite's interpreter (its stored line in the tooltip)."""
    agrees, line = r.get("oracle_exact"), r.get("oracle")
    if agrees is None:
        return Cell("no oracle" if line else "not checked", note=line, css="na")
    runtime = line.split(":", 1)[0] if line else "oracle"
    if agrees:
        return Cell(f"yes ({runtime})", "1", line, "exact-yes")
    return Cell(f"NO ({runtime})", "0", line, "exact-no")


def schedule_title(r: dict) -> str:
    """'per-layer', 'per-patch p=2 n=5', 'per-patch p=2 n=5, input streamed' (a table's column title)."""
    if r["p"] == 1:
        return schedule_label(r["p"], r["n"])
    if r.get("segments"):  # row-streamed, or several segments
        return r["segments"] + (", input streamed" if _streamed(r) else "")
    return f"per-patch {schedule_label(r['p'], r['n'])}" + (", input streamed" if _streamed(r) else "")


def point_name(r: dict) -> str:
    """A point of one table, short (a chart's tick label): 'per-layer', 'p=2 n=5', 'p=2 n=5 streamed'."""
    return point_schedule(r["p"], r["n"], r.get("segments") or "") + (" streamed" if _streamed(r) else "")


def point_key(r: dict) -> str:
    """A point's key within its table (the column's data-point): 'p1-n0', 'p2-n5', 'p2-n5-streamed'."""
    schedule = f"p{r['p']}-n{r['n']}"
    if r.get("segments"):  # 'rows n=3 + rows n=1' -> 'rows-n3+rows-n1'
        schedule = r["segments"].replace("=", "").replace(" + ", "+").replace(" ", "-")
    return schedule + ("-streamed" if _streamed(r) else "")


def _streamed(r: dict) -> bool:
    return r.get("input_mode") == "streamed"


_ROW_INTS = tuple(name for name, kind in COLUMNS.items() if kind == "INTEGER" and name != "exact")


def plain_record(raw: dict) -> dict:
    """A results row as plain Python values: NaN -> None, integer columns as int."""
    record = {}
    for key, value in raw.items():
        if hasattr(value, "item") and not isinstance(value, list | str):
            value = value.item()
        if isinstance(value, float) and math.isnan(value):
            value = None
        record[key] = value
    for key in _ROW_INTS:
        if record.get(key) is not None:
            record[key] = int(record[key])
    return record


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", str(text)).strip("._") or "x"


def when(stamp: float | None) -> str:
    if stamp is None or (isinstance(stamp, float) and math.isnan(stamp)):
        return "—"
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(float(stamp)))


def text_or_dash(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return str(value)

# SPDX-License-Identifier: Apache-2.0
"""The one record of a benchmark point: ``PointRecord``, with its ``PointIdentity``.

Everything else is derived from these dataclasses: the SQL columns and types of the results table
(``COLUMNS``, ``harness.results.db``), the database row (``to_flat`` / ``from_flat``), the JUnit XML
properties of a pytest point (``properties``), the columns of an export and the report's metric lines
(each field's ``label`` and ``show`` metadata). Adding a field here adds it everywhere.

A point's *identity* is everything that changes the firmware or the measurement (DESIGN.md): target,
backend and board (farm board or labgrid place), model by name and by content (a hash of the graph the
firmware is made from), p, n, kernel set and engine, input mode, the arena planner and in-place policy,
and the compiler (a hash of its version and flags). Two results are
compared only when their identities are equal; ``point_label`` names an identity for people.

The record also stores what the report draws (``PointAnalysis``: the analytic per-layer memory profile,
the plan's summary, the model's MACs and shapes), so an old run's report never depends on today's zoo.
"""

from __future__ import annotations

import hashlib
import json
import time
import typing
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import MISSING, asdict, dataclass, field, fields
from typing import Any

from harness.ir.schedule_name import point_schedule

# inexact: a peer engine ran and its output differs from the reference (a finding about that engine,
# reported; patchbench's own engine is "failed" then); unsupported: the engine does not run the point
# (a patch schedule of a per-layer engine), with its reason
STATUSES = ("passed", "failed", "inexact", "does_not_fit", "unsupported", "error")
# The default engine and its default kernel set (harness.engines: its first engine and that engine's
# first kernel set; a test keeps them equal). Also what results stored before these fields ran with.
DEFAULT_ENGINE = "patchbench"
DEFAULT_KERNELS = "optimized"
# The compiler id leaves out the defines that are not "the compiler": the build id (a hash of the
# sources) and the kernel selection (its own identity field).
_NOT_COMPILER_FLAGS = ("-DPB_BUILD_ID=", "-DPB_KERNELS_OPTIMIZED=")


def _meta(label: str, show: str | None = None) -> dict[str, str | None]:
    """A field's metadata: its label for people, and how the report shows it (None: not a line)."""
    return {"label": label, "show": show}


@dataclass(frozen=True, order=True)
class PointIdentity:
    """What makes two results comparable: equal identities measured the same firmware the same way."""

    target: str = field(metadata=_meta("board"))
    backend: str = field(metadata=_meta("backend"))
    model: str = field(metadata=_meta("model"))
    p: int = field(metadata=_meta("patches per side"))
    n: int = field(metadata=_meta("patch-stage depth"))
    place: str = field(default="", metadata=_meta("farm board / place"))  # "": an emulator
    kernels: str = field(default=DEFAULT_KERNELS, metadata=_meta("kernel set"))
    engine: str = field(default=DEFAULT_ENGINE, metadata=_meta("kernel engine"))
    input_mode: str = field(default="counted", metadata=_meta("input image"))
    planner: str = field(default="best", metadata=_meta("arena planner"))
    # harness.schedule.arena's DEFAULT_INPLACE by its INPLACE_POLICIES name (a test keeps them equal)
    inplace: str = field(default="row_buffered", metadata=_meta("in-place policy"))
    compiler: str = field(default="", metadata=_meta("compiler id"))  # compiler_id(); "": unknown
    # The model by content (harness.ir.graph.content_digest of the graph that runs, 16 hex digits): two
    # files of one name, or a zoo builder that changed, are other points. "": stored before it was kept.
    model_hash: str = field(default="", metadata=_meta("model content"))
    # A schedule beyond one patch stage (row-streamed or several segments, harness/ir/schedule_name.py):
    # its label, with p = n = 0. "": the (p, n) schedule (every point stored before there were others).
    segments: str = field(default="", metadata=_meta("schedule segments"))

    @property
    def schedule(self) -> str:
        return point_schedule(self.p, self.n, self.segments)

    @property
    def group(self) -> PointIdentity:
        """The identity without the schedule: the points a report sets side by side."""
        return PointIdentity(**{**asdict(self), "p": 0, "n": 0, "segments": ""})

    def differences(self, other: PointIdentity) -> list[str]:
        """What differs from ``other``, for people: ["kernels optimized instead of portable", ...]."""
        return [
            f"{f.name} {getattr(self, f.name) or '-'} instead of {getattr(other, f.name) or '-'}"
            for f in fields(self)
            if getattr(self, f.name) != getattr(other, f.name)
        ]


IDENTITY_FIELDS = tuple(f.name for f in fields(PointIdentity))
# The identity's defaults: what a point not saying otherwise ran with (and what old results ran with).
_DEFAULTS = {f.name: f.default for f in fields(PointIdentity) if f.default is not MISSING}
IDENTITY_DEFAULTS = _DEFAULTS


def identity_of(row: Mapping[str, Any]) -> PointIdentity:
    """The identity of a flat row (a database row, an export's record): absent or empty fields take
    their defaults, numbers their type."""
    values = {}
    for name in IDENTITY_FIELDS:
        value = row.get(name)
        if value is None or (isinstance(value, float) and value != value):
            continue  # absent (an old export), or NaN (pandas' empty cell)
        values[name] = int(value) if name in ("p", "n") else str(value)
    return PointIdentity(**values)


def point_label(identity: PointIdentity) -> str:
    """``stm32f746/qemu vww_96_int8 p=4 n=5``, with whatever is not the default added
    (``@desk-f746``, ``portable``, ``streamed``, ``engine tflm``, ``planner ...``, ``inplace ...``).
    The compiler id is not in the label: ``PointIdentity.differences`` names it where it matters."""
    return " ".join([where_label(identity), identity.model, identity.schedule, *variant_words(identity)])


def where_label(identity: PointIdentity) -> str:
    return f"{identity.target}/{identity.backend}" + (f"@{identity.place}" if identity.place else "")


def variant_words(identity: PointIdentity) -> list[str]:
    """What in the identity is not the default, as words ("portable", "streamed", "engine tflm")."""
    words = []
    if identity.kernels != _DEFAULTS["kernels"]:
        words.append(identity.kernels)
    if identity.input_mode != _DEFAULTS["input_mode"]:
        words.append(identity.input_mode)
    for name in ("engine", "planner", "inplace"):
        if getattr(identity, name) != _DEFAULTS[name]:
            words.append(f"{name} {getattr(identity, name)}")
    return words


def compiler_id(gcc_version: str | None, cflags: Sequence[str] | str | None) -> str:
    """A short hash of the compiler (``gcc --version``'s first line) and its flags; "" when unknown."""
    if not cflags:
        return ""
    flags = cflags.split() if isinstance(cflags, str) else list(cflags)
    kept = [flag for flag in flags if not flag.startswith(_NOT_COMPILER_FLAGS)]
    text = "\0".join([gcc_version or "", *kept])
    return hashlib.sha256(text.encode()).hexdigest()[:12]


# What results stored before the identity (schema 1) ran with, where it is not the default now.
LEGACY_IDENTITY = {"inplace": "rowmajor"}


def legacy_kernels(flags: str | None) -> str:
    """The kernel set of a result stored before it was recorded: the build's selection define."""
    return "portable" if flags and "-DPB_KERNELS_OPTIMIZED=0" in flags.split() else "optimized"


# --- what the report draws ----------------------------------------------------------------------


@dataclass(frozen=True)
class LayerProfile:
    """One layer (block) of the analytic memory profile under the point's plan."""

    name: str
    in_patch_stage: bool
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    per_layer_bytes: int  # per-layer inference, input image counted
    per_patch_bytes: int  # under the plan, input streamed
    per_patch_counted_bytes: int  # under the plan, input image counted
    macs_per_layer: int
    macs_scheduled: int


@dataclass(frozen=True)
class OpShape:
    """One op of the graph a point ran, with what its kernel's cost depends on (the per-op profile:
    harness.results.op_profile). Window ops give their kernel and stride; the others (1, 1)."""

    name: str
    kind: str
    kernel: tuple[int, int]
    stride: tuple[int, int]
    in_c: int
    out_c: int
    in_hw: tuple[int, int]  # (height, width) of its first activation input (1, 1 for a vector)
    out_hw: tuple[int, int]
    macs: int  # per-layer (graph.op_macs)
    # The op whose timed unit runs this one (a residual ADD fused as a conv's epilogue, a PAD folded
    # into the window op that reads it); None: its own unit
    runs_in: str | None = None
    # Its MACs under the point's schedule (a patch stage's or row segment's op: over all its patches or
    # rows, recomputed halos counted); None in results stored before it was
    macs_scheduled: int | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> OpShape:
        pairs = ("kernel", "stride", "in_hw", "out_hw")
        return cls(**{k: tuple(v) if k in pairs else v for k, v in data.items()})


@dataclass(frozen=True)
class PlanSummary:
    p: int
    n: int
    description: str  # PatchPlan.describe()
    stage_layers: tuple[str, ...]
    stage_output: str | None
    input_patch: tuple[int, ...] | None  # (h, w) of the largest input tile; None per-layer
    macs: int  # the whole graph under the plan (recomputation included)
    macs_per_layer: int
    stage_macs_per_layer: int
    stage_macs_patched: int

    @property
    def is_per_layer(self) -> bool:
        return self.p == 1


@dataclass(frozen=True)
class PointAnalysis:
    """The analytic side of a point, computed when it was measured (harness.pipeline.analysis)."""

    graph_name: str
    rules: str  # the memory accounting rules' name ("paper")
    input_shapes: tuple[tuple[int, ...], ...]
    output_shapes: tuple[tuple[int, ...], ...]
    plan: PlanSummary
    layers: tuple[LayerProfile, ...]
    ops: tuple[OpShape, ...] = ()  # every op in execution order (results stored before it: none)

    @property
    def peak_per_layer(self) -> int:
        return max(layer.per_layer_bytes for layer in self.layers)

    def peak(self, input_mode: str = "streamed") -> int:
        key = "per_patch_bytes" if input_mode == "streamed" else "per_patch_counted_bytes"
        return max(getattr(layer, key) for layer in self.layers)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PointAnalysis:
        plan = dict(data["plan"])
        plan["stage_layers"] = tuple(plan["stage_layers"])
        plan["input_patch"] = None if plan["input_patch"] is None else tuple(plan["input_patch"])
        layers = tuple(
            LayerProfile(**{**layer, "input_shape": tuple(layer["input_shape"]),
                            "output_shape": tuple(layer["output_shape"])})
            for layer in data["layers"]
        )  # fmt: skip
        return cls(
            graph_name=data["graph_name"],
            rules=data["rules"],
            input_shapes=tuple(tuple(s) for s in data["input_shapes"]),
            output_shapes=tuple(tuple(s) for s in data["output_shapes"]),
            plan=PlanSummary(**plan),
            layers=layers,
            ops=tuple(OpShape.from_json(op) for op in data.get("ops", ())),
        )


# --- the record ---------------------------------------------------------------------------------


@dataclass(kw_only=True)
class PointRecord:
    """Every stored figure of one point of one run. Sizes in bytes; latency in ``latency_unit``."""

    identity: PointIdentity
    run_id: str = field(default="", metadata=_meta("run"))
    status: str = field(default="error", metadata=_meta("status", "status"))
    reason: str | None = field(default=None, metadata=_meta("reason"))
    sram_measured: int | None = field(default=None, metadata=_meta("peak SRAM, measured", "bytes"))
    sram_planned: int | None = field(
        default=None, metadata=_meta("peak SRAM, planned (arena + scratch + stack)", "bytes")
    )
    sram_analytic_counted: int | None = field(
        default=None, metadata=_meta("peak SRAM, analytic, input counted", "bytes")
    )
    sram_analytic_streamed: int | None = field(
        default=None, metadata=_meta("peak SRAM, analytic, input streamed", "bytes")
    )
    # Where the firmware holds the whole input image outside what a streamed run needs (an engine's
    # FirmwareSources.counted_input_bytes: TinyEngine's patch mode): the measured figure without it
    sram_measured_streamed: int | None = field(
        default=None, metadata=_meta("peak SRAM, measured, less the counted input image", "bytes")
    )
    arena_bytes: int | None = field(default=None, metadata=_meta("arena", "bytes"))
    scratch_bytes: int | None = field(
        default=None, metadata=_meta("largest kernel scratch (in the arena)", "bytes")
    )
    stack_reserved: int | None = field(default=None, metadata=_meta("stack reserved", "bytes"))
    stack_bytes: int | None = field(default=None, metadata=_meta("stack high-water, measured", "bytes"))
    data_bytes: int | None = field(default=None, metadata=_meta(".data"))
    bss_bytes: int | None = field(default=None, metadata=_meta(".bss"))
    flash_bytes: int | None = field(default=None, metadata=_meta("flash", "bytes"))
    sram_budget: int | None = field(default=None, metadata=_meta("SRAM budget"))
    flash_budget: int | None = field(default=None, metadata=_meta("flash budget"))
    sram_needed: int | None = field(default=None, metadata=_meta("SRAM the linker needed", "bytes"))
    flash_needed: int | None = field(default=None, metadata=_meta("flash the linker needed", "bytes"))
    latency: float | None = field(default=None, metadata=_meta("latency", "latency"))  # median of runs
    latency_unit: str | None = field(default=None, metadata=_meta("latency unit"))  # instructions|cycles
    runs: int | None = field(default=None, metadata=_meta("timed runs", "count"))
    layer_latency: list[tuple[str, float]] = field(default_factory=list, metadata=_meta("latency per unit"))
    # An emulator run's cycles and milliseconds as the cycle model estimates them on the real board
    # (harness.boards.timing_model): estimated, never measured; ``latency`` stays the measured figure.
    latency_estimated_cycles: float | None = field(
        default=None, metadata=_meta("latency, estimated cycles (timing model)")
    )
    latency_estimated_ms: float | None = field(
        default=None, metadata=_meta("latency, estimated ms (timing model)", "ms")
    )
    layer_latency_estimated_ms: list[tuple[str, float]] = field(
        default_factory=list, metadata=_meta("estimated ms per unit (timing model)")
    )
    timing_model: str | None = field(default=None, metadata=_meta("timing model"))
    macs: int | None = field(default=None, metadata=_meta("MACs", "macs"))
    macs_patch_stage: int | None = field(default=None, metadata=_meta("MACs, patch stage", "macs"))
    mac_overhead: float | None = field(default=None, metadata=_meta("MAC overhead vs per-layer", "percent"))
    exact: bool | None = field(default=None, metadata=_meta("bit-exact with the host reference", "exact"))
    # The host reference against TFLite's interpreter on the same input (harness.reference.oracle):
    # True equal, False it differs (the point fails), None no interpreter could load the file.
    oracle_exact: bool | None = field(
        default=None, metadata=_meta("host reference equals the TFLite oracle", "oracle")
    )
    oracle: str | None = field(default=None, metadata=_meta("TFLite oracle"))  # the verdict's line
    # The ops the kernel set has no kernel for, which ran the engine's fallback kernel (the engine's
    # FirmwareSources.fallbacks): "name: why; name: why" (None: every op ran the set's own kernel).
    portable_ops: str | None = field(default=None, metadata=_meta("ops on fallback kernels"))
    # The engine column of TinyEngine's README table (harness.results.published) that this engine and
    # kernel set stand beside (the engine says which: Engine.published_as); None: none
    published_as: str | None = field(default=None, metadata=_meta("published counterpart"))
    output_crc: str | None = field(default=None, metadata=_meta("output CRC-32"))
    firmware_hash: str | None = field(default=None, metadata=_meta("firmware build id"))
    flags: str | None = field(default=None, metadata=_meta("compiler flags"))
    board_id: str | None = field(default=None, metadata=_meta("board id"))
    log_path: str | None = field(default=None, metadata=_meta("log", "log"))
    analysis: PointAnalysis | None = field(default=None, metadata=_meta("analytic profile"))
    created_at: float = field(default_factory=time.time, metadata=_meta("stored at"))

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status {self.status!r} is not one of {', '.join(STATUSES)}")

    @property
    def label(self) -> str:
        return point_label(self.identity)

    def to_flat(self) -> dict[str, Any]:
        """One value per column (COLUMNS), as Python values: lists and the analysis stay objects."""
        values = {name: getattr(self.identity, name) for name in IDENTITY_FIELDS}
        values.update({name: getattr(self, name) for name in MEASUREMENT_FIELDS})
        return values

    @classmethod
    def from_flat(cls, values: Mapping[str, Any]) -> PointRecord:
        """A record from one value per column; identity fields that are absent take their defaults,
        unknown keys are an error (a misspelt column must not vanish)."""
        unknown = set(values) - set(COLUMNS)
        if unknown:
            raise ValueError(
                f"unknown result field(s) {', '.join(sorted(unknown))}; known: {', '.join(COLUMNS)}"
            )
        rest = {k: v for k, v in values.items() if k in MEASUREMENT_FIELDS}
        return cls(identity=identity_of(values), **rest)

    def properties(self) -> Iterator[tuple[str, Any]]:
        """(name, value) of every set scalar field: the JUnit XML properties of the point."""
        for name, value in self.to_flat().items():
            if value is not None and value != "" and COLUMNS[name] != "TEXT_JSON":
                yield name, value


MEASUREMENT_FIELDS = tuple(f.name for f in fields(PointRecord) if f.name != "identity")


def _sql_type(annotation: Any) -> str:
    """INTEGER, REAL, TEXT, or TEXT_JSON (stored as JSON text) for a field's type."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)] or [annotation]
    kind = args[0]
    if kind is bool or kind is int:
        return "INTEGER"
    if kind is float:
        return "REAL"
    if kind is str:
        return "TEXT"
    return "TEXT_JSON"


_HINTS = typing.get_type_hints(PointRecord) | typing.get_type_hints(PointIdentity)
# Column name -> SQL type, in table order: the identity, then the measurements.
COLUMNS: dict[str, str] = {name: _sql_type(_HINTS[name]) for name in IDENTITY_FIELDS + MEASUREMENT_FIELDS}
FIELD_META: dict[str, Mapping[str, Any]] = {
    f.name: f.metadata for f in (*fields(PointIdentity), *fields(PointRecord)) if f.name != "identity"
}


def encode(name: str, value: Any) -> Any:
    """A field's value as sqlite3 binds it."""
    if value is None:
        return None
    if COLUMNS[name] == "TEXT_JSON":
        return json.dumps(asdict(value) if hasattr(value, "__dataclass_fields__") else value)
    if _HINTS[name] in (bool, bool | None):
        return int(value)
    return value


# The (unit name, value) lists of a record: per timed unit, in order.
UNIT_LIST_FIELDS = ("layer_latency", "layer_latency_estimated_ms")


def decode(name: str, value: Any) -> Any:
    """A stored value back as the field's Python type (the inverse of ``encode``)."""
    if value is None or (isinstance(value, float) and value != value):
        return [] if name in UNIT_LIST_FIELDS else None
    if name in UNIT_LIST_FIELDS:
        items = json.loads(value) if isinstance(value, str) else value
        return [(str(unit), float(latency)) for unit, latency in items]
    if name == "analysis":
        return PointAnalysis.from_json(json.loads(value) if isinstance(value, str) else value)
    if _HINTS[name] in (bool, bool | None):
        if isinstance(value, str):  # a CSV export's "True" / "False"
            return value.strip().lower() in ("true", "1")
        return bool(value)
    kind = COLUMNS[name]
    if kind == "INTEGER":
        return int(value)
    if kind == "REAL":
        return float(value)
    return str(value)

# SPDX-License-Identifier: Apache-2.0
"""Engines: what turns a model and a schedule into firmware that speaks PB1. One module per engine, each
registered in ``ENGINES`` below (the one place); the pipeline, the pytest plugin, the sweep, ``check``
and the diagnosis reach an engine only through this interface and never test an engine's or a kernel
set's name.

An engine (``base.Engine``) has:

- ``name`` (a point's ``PointIdentity.engine``) and ``description``;
- ``kernel_sets``: its kernel sets or modes (``KernelSet``: name, description), the first the default
  (a point's ``PointIdentity.kernels``); ``check_available(kernels)`` says up front when one cannot be
  built here (its sources are missing) and where to get it;
- ``options(kernels, **settings)`` and ``identity(options)``: a point's options (input mode, and
  whatever else the engine plans by) and the identity fields they give (kernels, input_mode, planner,
  inplace);
- ``unsupported(graph, plan, options)``: why it does not run a model under a schedule (an op, a patch
  schedule of a per-layer-only engine), or None; such a point is stored with that reason, never faked;
- ``generate(graph, plan, target, test_input, options, op_crcs=False)`` -> ``FirmwareSources``: the
  firmware's sources, which fill the input from the test input's seed (``SeededInput``: the generator
  of harness/firmware/pb_test_input.h, linked into every firmware; the host reproduces it, so every
  engine gets the same input and no image in flash) (C and C++), -D flags, include folders, extra compiler flags, the timed units in
  order, the planned arena, the output sizes and the ops that ran a fallback kernel (``fallbacks``);
  ``per_op_outputs``: whether ``op_crcs=True`` gives the per-op CRC firmware the diagnosis needs;
- ``build(generated, target, build_options)``: compile with the board support (an engine with a cached
  library step overrides it to build the library once and link it);
- ``timed_units``, ``sram_accounting``, ``flash_accounting``: how its record's figures are accounted;
- ``peer``: an engine measured beside patchbench's own: output that differs from the reference is stored
  as ``inexact`` (with the first differing op when it has ``per_op_outputs``) and reported, not failed;
- ``op_kernel(graph, op, kernels)``: which kernel runs an op (``check``, the diagnosis);
  ``scratch(kernels)``: the kernels' scratch rule for the schedule search.

Adding an engine: one module here with an ``Engine`` subclass, and its instance in ``ENGINES``.
"""

from __future__ import annotations

from harness.engines.base import Engine, EngineError, EngineUnsupported, FirmwareSources, KernelSet
from harness.engines.patchbench import PatchbenchEngine
from harness.engines.tflm import TflmEngine
from harness.engines.tinyengine.engine import TinyEngineEngine

ENGINES: dict[str, Engine] = {
    engine.name: engine for engine in (PatchbenchEngine(), TinyEngineEngine(), TflmEngine())
}
DEFAULT_ENGINE = next(
    iter(ENGINES)
)  # the first registered; results.record.PointIdentity's default (a test keeps them equal)


def get_engine(name: str | None = None) -> Engine:
    """The engine called ``name`` (None: the default), or EngineError naming the engines there are."""
    name = name or DEFAULT_ENGINE
    if name not in ENGINES:
        raise EngineError(f"engine {name!r} unknown; use one of {', '.join(ENGINES)}")
    return ENGINES[name]


def kernel_set_names() -> tuple[str, ...]:
    """Every kernel set name of every engine, once, in registration order (CLI and pytest choices)."""
    names = [k.name for engine in ENGINES.values() for k in engine.kernel_sets]
    return tuple(dict.fromkeys(names))


def kernel_set_help() -> str:
    """The kernel sets for a help text: "optimized (patchbench's kernels with ...), portable (...)"."""
    return "; ".join(
        f"{engine.name}: " + ", ".join(f"{k.name} ({k.description})" for k in engine.kernel_sets)
        for engine in ENGINES.values()
    )


__all__ = [
    "DEFAULT_ENGINE",
    "ENGINES",
    "Engine",
    "EngineError",
    "EngineUnsupported",
    "FirmwareSources",
    "KernelSet",
    "get_engine",
    "kernel_set_help",
    "kernel_set_names",
]

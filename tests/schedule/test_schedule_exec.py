# SPDX-License-Identifier: Apache-2.0
"""The host patch executor is bit-exact with per-layer inference for every valid (p, n), p in 1..4.

Quick runs: the zoo's architectures at small resolutions (every valid point), mcunet-in0 and the MLPerf
Tiny conv models at their own resolution (every valid point), and one point of each remaining
zoo model at its published resolution (the paper's split, 4x4). ``-m slow`` adds the full grid of every zoo model at its
published resolution (minutes).
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

import models
from harness import reference
from harness.schedule.executor import run_patched
from harness.schedule.plan import ScheduleError, make_plan
from harness.schedule.profile import paper_patch_depth
from harness.schedule.search import valid_depths

SMALL_VARIANTS = (
    "mbv2-w0.35-r48",
    "mbv2-rd-w0.35-r48",
    "mnasnet-a1-w0.35-r48",
    "fbnet-a-r32",
    "mbv1-w0.25-r48",
    "resnet8-r32",
    "mcunet-in0",
)
MLPERF_CONV = ("vww_96_int8", "pretrainedResnet_quant", "kws_ref_model")
PATCHES = (1, 2, 3, 4)
FULL_ZOO = tuple(name for name in models.list_models() if name not in ("ad01_int8", *MLPERF_CONV))


@functools.lru_cache(maxsize=4)
def _reference(name: str):
    graph = models.get_model(name)
    x = np.random.default_rng(1).integers(-128, 128, graph.tensor(graph.inputs[0]).shape).astype(np.int8)
    return graph, x, reference.run_graph(graph, x)


def _check_point(name: str, p: int, n: int) -> None:
    graph, x, expected = _reference(name)
    plan = make_plan(graph, p, n)
    got = run_patched(graph, plan, x)
    compared = [name for name in got if name in expected]
    assert set(graph.outputs) <= set(compared)
    if plan.stage_output is not None:
        assert plan.stage_output in compared
    for tensor in compared:
        if not np.array_equal(got[tensor], expected[tensor]):
            diff = np.argwhere(got[tensor] != expected[tensor])
            pytest.fail(
                f"{name} p={p} n={n}: {tensor!r} differs at {len(diff)} positions, first {diff[0].tolist()}"
            )


def _check_grid(name: str, p: int) -> int:
    graph = _reference(name)[0]
    depths = valid_depths(graph, p)
    assert depths, f"{name}: no valid n for p={p}"
    for n in depths:
        _check_point(name, p, n)
    return len(depths)


@pytest.mark.parametrize("p", PATCHES)
@pytest.mark.parametrize("name", SMALL_VARIANTS + MLPERF_CONV)
def test_every_valid_point_is_bit_exact(name, p):
    _check_grid(name, p)


@pytest.mark.parametrize("name", [n for n in FULL_ZOO if n not in SMALL_VARIANTS])
def test_published_resolution_samples_are_bit_exact(name):
    """The paper's split (the first 1/8-resolution output) with 4x4 patches."""
    graph = _reference(name)[0]
    _check_point(name, 4, paper_patch_depth(graph))


@pytest.mark.slow
@pytest.mark.parametrize("p", PATCHES)
@pytest.mark.parametrize("name", FULL_ZOO)
def test_full_grid_at_published_resolution_is_bit_exact(name, p, request):
    # About 13 minutes on 2 cores: only when asked for by name (-m slow), not in a plain run.
    expression = request.config.option.markexpr or ""
    if "slow" not in expression or "not slow" in expression:
        pytest.skip("the full published-resolution grid runs only with -m slow")
    _check_grid(name, p)


def test_invalid_points_are_rejected_not_run():
    graph = _reference("vww_96_int8")[0]
    valid = set(valid_depths(graph, 4))
    invalid = [n for n in range(1, len(graph.layers) + 1) if n not in valid]
    assert invalid  # the global pool, reshape, FC and softmax cannot be in a patch stage
    for n in invalid:
        with pytest.raises(ScheduleError):
            make_plan(graph, 4, n)

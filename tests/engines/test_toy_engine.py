# SPDX-License-Identifier: Apache-2.0
"""Adding an engine: the toy engine of tests/engines/toy_engine.py (one module) registered in harness.engines.ENGINES
is measured by a sweep that names it beside patchbench's own: its per-layer point passes with its own
identity, its patch point is stored as not supported by it, and a differing output is a finding about it
(inexact), where patchbench's own fails."""

from __future__ import annotations

import pytest
from machine import needs
from toy_engine import ToyEngine

from harness import engines
from harness.frontend.writer import graph_to_bytes
from harness.pipeline import measure as measure_module
from harness.pipeline.measure import measure
from harness.pipeline.sweep import load_sweep
from models.synthetic import LayerSpec, build_stack


@pytest.fixture
def toy(monkeypatch):
    """The toy engine, registered (its one line in harness.engines.ENGINES)."""
    monkeypatch.setitem(engines.ENGINES, "toy", ToyEngine())
    return engines.ENGINES["toy"]


@pytest.fixture
def model_file(tmp_path):
    specs = [
        LayerSpec("conv", 3, 2, channels=8),
        LayerSpec("depthwise", 3, 1),
        LayerSpec("conv", 1, 1, channels=4),
    ]
    path = tmp_path / "toy_stack.tflite"
    path.write_bytes(graph_to_bytes(build_stack(specs, input_shape=(1, 16, 16, 3), seed=4, blocks=False)))
    return path


def _sweep(tmp_path, model_file, engines_line: str):
    path = tmp_path / "sweep.toml"
    path.write_text(f'[sweep]\ntargets = ["stm32f746"]\nmodels = ["{model_file}"]\npatches = [1, 2]\ndepths = [2]\n'
                    f"{engines_line}\nrepeat = 1\n")  # fmt: skip
    return load_sweep(path)


def test_a_sweep_names_the_registered_engine_and_its_kernel_sets(toy, tmp_path, model_file):
    sweep = _sweep(
        tmp_path, model_file, 'engines = ["patchbench", "toy"]\nkernels = ["portable", "toy:plain"]'
    )
    assert [(p.engine, p.kernels, p.p) for p in sweep.points()] == [
        ("patchbench", "portable", 1), ("toy", "plain", 1), ("patchbench", "portable", 2), ("toy", "plain", 2),
    ]  # fmt: skip
    assert sweep.points()[1].test_id.endswith("-p1-n0-toy")
    assert "plain" in engines.kernel_set_names()


@pytest.mark.emulator
@needs("arm-none-eabi-gcc", "qemu-system-arm")
def test_a_sweep_measures_the_toy_engine(toy, tmp_path, model_file):
    sweep = _sweep(tmp_path, model_file, 'engines = ["toy"]')
    results = [measure(p.model, p.target, p.p, p.n, repeat=1, warmup=0, engine=p.engine, kernels=p.kernels)
               for p in sweep.points()]  # fmt: skip
    per_layer, patched = results
    assert per_layer.status == "passed", per_layer.summary()
    assert (per_layer.identity.engine, per_layer.identity.kernels) == ("toy", "plain")
    assert per_layer.latency > 0 and per_layer.flash_bytes > 0 and per_layer.sram_measured > 0
    assert patched.status == "unsupported" and "toy engine runs per layer only" in patched.reason


@pytest.mark.emulator
@needs("arm-none-eabi-gcc", "qemu-system-arm")
def test_a_peer_engine_that_differs_is_inexact_and_patchbench_fails(toy, monkeypatch, model_file):
    real = measure_module.expected_outputs

    def altered(graph, x):  # as a kernel that is not bit-exact would make it
        first, *rest = real(graph, x)
        return (bytes([first[0] ^ 1]) + first[1:], *rest)

    monkeypatch.setattr(measure_module, "expected_outputs", altered)
    peer = measure(str(model_file), "stm32f746", 1, 0, repeat=1, warmup=0, engine="toy")
    assert peer.status == "inexact" and not peer.exact
    assert "differs from the host reference" in peer.reason and "exposes no per-op outputs" in peer.reason
    own = measure(str(model_file), "stm32f746", 1, 0, repeat=1, warmup=0, kernels="portable")
    assert own.status == "failed" and "first op whose output differs" not in own.reason

# SPDX-License-Identifier: Apache-2.0
"""The TFLite oracle in a point's verdict (harness.reference.oracle): device == reference == LiteRT
BUILTIN_REF (else TFLite Micro), checked once per model content, stored with every point."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from machine import needs

from harness.frontend import graph_to_bytes
from harness.ir.graph import QParams
from harness.paths import converter_model
from harness.reference import oracle
from harness.reference.oracle import LITERT, TFLM, oracle_verdict
from models.synthetic import LayerSpec, build_stack


def extreme_scales():
    """One conv with valid but extreme scales (input 1e30, weights 1e-30, output 1e-30): patchbench's
    reference and its firmware agree with each other, and not with LiteRT (256 of 256 values)."""
    graph = build_stack([LayerSpec("conv", 3, 1, channels=4)], input_shape=(1, 8, 8, 3), blocks=False,
                        name="extreme")  # fmt: skip
    tensors = dict(graph.tensors)

    def rescale(name, scale):
        tensor = tensors[name]
        tensors[name] = dataclasses.replace(
            tensor,
            quant=QParams(
                np.full_like(tensor.quant.scale, scale), tensor.quant.zero_point, tensor.quant.axis
            ),
        )

    rescale(graph.inputs[0], 1e30)
    for name, tensor in graph.tensors.items():
        if tensor.is_const and tensor.quant is not None:
            rescale(name, 1e-30 if tensor.dtype == "int8" else 1.0)
    rescale(graph.outputs[0], 1e-30)
    return dataclasses.replace(graph, tensors=tensors)


def _input(graph):
    return [np.random.default_rng(0).integers(-128, 128, graph.tensor(graph.inputs[0]).shape).astype(np.int8)]


@needs("arm-none-eabi-gcc", "qemu-system-arm")
def test_a_point_whose_reference_is_not_tflites_fails_though_the_device_equals_the_reference(tmp_path):
    from harness.pipeline.measure import measure

    result = measure(extreme_scales(), "stm32f746", 1, 0, repeat=1, warmup=0, build_root=tmp_path)
    assert result.exact is True and result.output == result.expected  # the device follows the reference
    assert result.status == "failed" and result.oracle_exact is False
    assert result.reason.startswith("the device equals the host reference, but the reference is not TFLite's")
    assert f"{LITERT}: the host reference differs" in result.reason and "256 values differ" in result.oracle


def test_the_verdict_is_checked_once_per_model_content(tmp_path, monkeypatch):
    graph = build_stack([LayerSpec("conv", 3, 1, channels=4)], input_shape=(1, 8, 8, 3), blocks=False,
                        name="cached")  # fmt: skip
    model, x = graph_to_bytes(graph), _input(graph)
    first = oracle_verdict(graph, model, x, cache_dir=tmp_path)
    assert (first.runtime, first.agrees, first.text) == (LITERT, True, f"{LITERT}: equal on 1 output")
    assert len(list(tmp_path.glob("*.json"))) == 1
    monkeypatch.setattr(oracle, "_check", lambda *a: pytest.fail("checked again"))
    assert oracle_verdict(graph, model, x, cache_dir=tmp_path) == first  # in memory
    oracle._MEMORY.clear()
    assert oracle_verdict(graph, model, x, cache_dir=tmp_path) == first  # on disk (another worker)
    (tmp_path / next(tmp_path.glob("*.json")).name).write_text("{not json")  # corrupt: checked again
    monkeypatch.undo()
    oracle._MEMORY.clear()
    assert oracle_verdict(graph, model, x, cache_dir=tmp_path) == first
    other = extreme_scales()  # other content: another verdict
    assert oracle_verdict(other, graph_to_bytes(other), x, cache_dir=tmp_path).agrees is False


def test_tflite_micro_is_the_oracle_where_litert_cannot_load_the_file_and_says_so(tmp_path, monkeypatch):
    from harness.reference.outside import OutsideRuntimeError

    def refuse(*args, **kwargs):
        raise OutsideRuntimeError("litert BUILTIN_REF failed on the model (exit 1): Registration failed.")

    graph = build_stack([LayerSpec("conv", 3, 1, channels=4)], input_shape=(1, 8, 8, 3), blocks=False,
                        name="micro")  # fmt: skip
    monkeypatch.setattr(oracle, "run_litert", refuse)
    verdict = oracle_verdict(graph, graph_to_bytes(graph), _input(graph), cache_dir=tmp_path)
    assert verdict.runtime == TFLM and verdict.agrees is True
    assert verdict.text == (f"{TFLM}: equal on 1 output (used because {LITERT} cannot load the file "
                            "(litert BUILTIN_REF failed on the model (exit 1): Registration failed.))")  # fmt: skip


def test_a_file_no_interpreter_loads_is_stored_as_such():
    from harness.frontend import load_tflite

    path = converter_model("keras_tiny_detector_r128x160")  # TILE v3: neither LiteRT nor TFLite Micro here
    graph = load_tflite(path)
    x = [np.zeros(graph.tensor(graph.inputs[0]).shape, graph.tensor(graph.inputs[0]).dtype)]
    verdict = oracle_verdict(graph, path.read_bytes(), x)
    assert verdict.agrees is None and verdict.runtime == ""
    assert (
        verdict.text.startswith(f"no oracle: {LITERT} cannot load the file")
        and f"{TFLM} cannot load" in verdict.text
    )

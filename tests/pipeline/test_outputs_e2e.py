# SPDX-License-Identifier: Apache-2.0
"""Several outputs and float ends on the emulator: the firmware sends each graph output from where it
sits in the arena with its own CRC, measure() checks each against the host reference apart (a point
whose output differs names which one), and every byte of the float ends is in the plan: measured peak
SRAM <= planned (arena + reserved stack) <= 1.10 x measured.

The small graph is built with the project's graph builders (tests/codegen_graphs.three_head_detector_graph:
a float32 image, three float32 heads at three scales); the converter corpus's detector, made float-ended
with a third output the same way, runs under -m slow.
"""

from __future__ import annotations

import pytest
from codegen_graphs import float_ended, three_head_detector_graph
from machine import needs

from harness.paths import converter_model
from harness.pipeline import measure as measure_module
from harness.pipeline.measure import measure

pytestmark = [pytest.mark.emulator, needs("arm-none-eabi-gcc", "qemu-system-arm")]


def _within_plan(result) -> None:
    assert result.sram_measured <= result.sram_planned <= 1.10 * result.sram_measured, result.summary()


@pytest.mark.parametrize(
    ("p", "n", "kernels"), [(1, 0, "optimized"), (1, 0, "portable"), (2, 2, "optimized")]
)
def test_three_float_outputs_each_checked_with_its_crc(p, n, kernels):
    graph = three_head_detector_graph()
    result = measure(graph, "stm32f746", p, n, kernels=kernels, repeat=1, warmup=0)
    assert result.status == "passed", result.summary()
    assert len(result.outputs) == 3 and result.outputs == result.expected_outputs
    assert [len(o) for o in result.outputs] == [graph.tensor(name).nbytes for name in graph.outputs]
    assert len(result.output_crc.split()) == 3  # one device CRC per output, stored
    _within_plan(result)


def test_a_differing_output_is_named(monkeypatch):
    """The reference's second output altered after the fact: the point fails and says which output."""
    real = measure_module.expected_outputs

    def altered(graph, x):
        first, second, third = real(graph, x)
        return first, second[:4] + bytes([second[4] ^ 1]) + second[5:], third

    monkeypatch.setattr(measure_module, "expected_outputs", altered)
    result = measure(three_head_detector_graph(), "stm32f746", 1, 0, repeat=1, warmup=0)
    assert result.status == "failed" and not result.exact
    assert "output 1 of 3 'head1_out_float' (float32[1, 12, 10, 6]) differs" in result.reason
    assert "at 1 of 720 elements (first at 1:" in result.reason
    assert "2 of 3 outputs equal the reference" in result.reason
    assert "output 0 of 3" not in result.reason and "output 2 of 3" not in result.reason


def float_detector():
    """The converter corpus's detector with float ends: a float32 image, its two heads and the
    upsampling branch's concatenated map as three float32 outputs."""
    from models import get_model

    graph = get_model(str(converter_model("keras_tiny_detector_r128x160")))
    concat = next(op for op in graph.ops if op.kind == "CONCATENATION").outputs[0]
    return float_ended(graph, [*graph.outputs, concat])


@pytest.mark.slow
@pytest.mark.parametrize(("p", "n", "input_mode"), [(1, 0, "counted"), (2, 4, "counted"), (2, 4, "streamed")])
def test_float_ended_corpus_detector_is_exact_and_within_its_plan(p, n, input_mode):
    """The float32 image is planned in the arena when counted (240 kB of the 300 kB per layer); streamed,
    each patch quantizes its own tile and the point needs about 107 kB."""
    graph = float_detector()
    assert [graph.tensor(name).dtype for name in graph.outputs] == ["float32"] * 3
    result = measure(graph, "stm32f746", p, n, repeat=1, warmup=0, input_mode=input_mode)
    print(result.summary())
    assert result.status == "passed", result.summary()
    assert result.outputs == result.expected_outputs and len(result.output_crc.split()) == 3
    _within_plan(result)

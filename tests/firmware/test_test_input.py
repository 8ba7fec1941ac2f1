# SPDX-License-Identifier: Apache-2.0
"""The test input generator: the C (harness/firmware/pb_test_input.c, what every firmware links) and its
Python twin (harness/firmware/test_input.py, what the reference is fed) give the same elements, and a
generated model whose input comes from the seed (per layer, and streamed tile by tile) computes the
reference's output on the host."""

from __future__ import annotations

import ctypes
import subprocess

import numpy as np
import pytest
from codegen_graphs import float_ends_graph
from machine import needs

from harness.codegen import CodegenOptions, generate_model
from harness.codegen.hostrun import run_on_host
from harness.firmware import test_input
from harness.firmware.build import BOARD_SUPPORT_DIR
from harness.firmware.test_input import SeededInput
from harness.pipeline.measure import expected_output, make_test_input
from harness.schedule.plan import make_plan
from models.synthetic import LayerSpec, build_stack

SEEDS = (0, 1, 7, 0x12345678, 0xFFFFFFFF)
FIRSTS = (0, 1, 1000, 0xFFFFFF00)  # the last one wraps the 32-bit index like the C


@pytest.fixture(scope="module")
def c_generator(tmp_path_factory):
    """pb_test_input.c compiled for the host."""
    folder = tmp_path_factory.mktemp("pb_test_input")
    library = folder / "libpb_test_input.so"
    subprocess.run(["gcc", "-std=c11", "-O2", "-shared", "-fPIC", "-o", str(library),
                    str(BOARD_SUPPORT_DIR / test_input.C_SOURCE)], check=True)  # fmt: skip
    lib = ctypes.CDLL(str(library))
    lib.pb_test_input_bits.restype = ctypes.c_uint32
    lib.pb_test_input_bits.argtypes = (ctypes.c_uint32, ctypes.c_uint32)
    return lib


def _c_s8(lib, seed: int, first: int, count: int) -> np.ndarray:
    out = np.zeros(count, np.int8)
    lib.pb_test_input_s8(out.ctypes.data_as(ctypes.c_void_p), ctypes.c_uint32(seed), ctypes.c_uint32(first),
                         ctypes.c_uint32(count))  # fmt: skip
    return out


def _c_f32(lib, seed: int, first: int, count: int, scale: float, zero_point: int) -> np.ndarray:
    out = np.zeros(count, np.float32)
    lib.pb_test_input_f32(out.ctypes.data_as(ctypes.c_void_p), ctypes.c_uint32(seed), ctypes.c_uint32(first),
                          ctypes.c_uint32(count), ctypes.c_float(scale), ctypes.c_int32(zero_point))  # fmt: skip
    return out


@needs("gcc")
@pytest.mark.parametrize("seed", SEEDS)
def test_the_c_and_the_python_generator_agree(c_generator, seed):
    for first in FIRSTS:
        indices = (np.arange(first, first + 300, dtype=np.uint64)) & 0xFFFFFFFF
        bits = test_input.bits(seed, indices)
        assert [c_generator.pb_test_input_bits(seed, int(i)) for i in indices[:40]] == bits[:40].tolist()
        assert np.array_equal(
            _c_s8(c_generator, seed, first, 300), test_input.int8_input((300,), seed, first)
        )
        for scale, zero_point in ((0.0078125, 0), (1 / 255, -128), (0.37113, 5), (2.5e-5, 127)):
            want = test_input.float32_input((300,), scale, zero_point, seed, first)
            got = _c_f32(c_generator, seed, first, 300, float(np.float32(scale)), zero_point)
            assert got.view(np.uint32).tolist() == want.view(np.uint32).tolist()


def test_the_generated_input_covers_the_int8_range_and_any_element_comes_from_its_index():
    values = test_input.int8_input((96, 96, 3))
    assert values.min() == -128 and values.max() == 127 and abs(float(values.mean())) < 2
    tile = test_input.int8_input((5 * 3,), first=(10 * 96 + 20) * 3)  # row 10, columns 20..24
    assert np.array_equal(tile.reshape(5, 3), values[10, 20:25])
    assert not np.array_equal(test_input.int8_input((64,), seed=1), test_input.int8_input((64,), seed=0))


@needs("gcc")
@pytest.mark.parametrize("p, n, input_mode", [(1, 0, "counted"), (3, 3, "streamed"), (2, 2, "counted")])
def test_a_model_fed_from_the_seed_computes_the_reference_on_the_host(p, n, input_mode):
    specs = [
        LayerSpec("conv", 3, 2, channels=8),
        LayerSpec("depthwise", 3, 1),
        LayerSpec("conv", 1, 1, channels=6),
    ]
    graph = build_stack(specs, input_shape=(1, 14, 14, 3), seed=3, blocks=False)
    model = generate_model(graph, make_plan(graph, p, n), "stm32f746", SeededInput(),
                           CodegenOptions(optimized=False, input_mode=input_mode))  # fmt: skip
    assert "model_test_input" not in model.sources["model_weights.h"]  # no image in flash
    assert run_on_host(model) == expected_output(graph, make_test_input(graph))


@needs("gcc")
@pytest.mark.parametrize("p, n, input_mode", [(1, 0, "counted"), (2, 4, "streamed")])
def test_a_float_input_from_the_seed_computes_the_reference_on_the_host(p, n, input_mode):
    graph = float_ends_graph()
    x = make_test_input(graph)
    assert x.dtype == np.float32 and len(np.unique(x)) > 100
    model = generate_model(graph, make_plan(graph, p, n), "stm32f746", SeededInput(),
                           CodegenOptions(optimized=False, input_mode=input_mode))  # fmt: skip
    assert run_on_host(model) == expected_output(graph, x)

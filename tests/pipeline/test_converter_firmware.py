# SPDX-License-Identifier: Apache-2.0
"""The converter corpus on the emulator: per-layer firmware (DSP and portable kernels) and a per-patch
point (p = 2) where the model's first layers allow a patch stage, each bit-exact against the host
reference (which tests/frontend/test_converter_models.py checks against LiteRT), through measure(), and each
within its memory plan: measured peak SRAM <= planned (arena + planned stack) <= 1.10 x measured.

The three small models run in the default suite; the others, and the DSP/portable pairs of the big
ones, under ``-m slow``. keras_mbv3small_a075_r96_floatio (float32 in and out) needs 1.2 MB of flash:
it runs on the STM32H743.
"""

from __future__ import annotations

import pytest
from machine import needs

from harness.paths import converter_model
from harness.pipeline.measure import measure

pytestmark = [pytest.mark.emulator, needs("arm-none-eabi-gcc", "qemu-system-arm")]

M7 = "stm32f746"
H7 = "stm32h743"

# (model, target, p, n, kernels)
SMALL = [
    ("keras_transpose_mean_head", M7, 1, 0, "optimized"),
    ("keras_transpose_mean_head", M7, 1, 0, "portable"),
    ("keras_transpose_mean_head", M7, 2, 3, "optimized"),
    ("keras_dilated_transposed_r32", M7, 1, 0, "optimized"),
    ("keras_dilated_transposed_r32", M7, 1, 0, "portable"),
    ("keras_dilated_transposed_r32", M7, 2, 3, "optimized"),
    ("keras_dscnn_kws", M7, 1, 0, "optimized"),
]
LARGE = [
    ("keras_dscnn_kws", M7, 1, 0, "portable"),
    ("keras_dscnn_kws", M7, 2, 3, "optimized"),
    ("keras_resnet_like_r64", M7, 1, 0, "optimized"),
    ("keras_resnet_like_r64", M7, 1, 0, "portable"),
    ("keras_resnet_like_r64", M7, 2, 2, "optimized"),
    ("keras_effnet_like_r80", M7, 1, 0, "optimized"),
    ("keras_effnet_like_r80", M7, 1, 0, "portable"),
    ("keras_effnet_like_r80", M7, 2, 3, "optimized"),
    ("keras_tiny_detector_r128x160", M7, 1, 0, "optimized"),
    ("keras_tiny_detector_r128x160", M7, 1, 0, "portable"),
    ("keras_tiny_detector_r128x160", M7, 2, 4, "optimized"),
    ("keras_mbv2_a035_r96", M7, 1, 0, "optimized"),
    ("keras_mbv2_a035_r96", M7, 1, 0, "portable"),
    ("keras_mbv2_a035_r96", M7, 2, 6, "optimized"),
    ("keras_mbv3small_a075_r96_floatio", H7, 1, 0, "optimized"),
    ("keras_mbv3small_a075_r96_floatio", H7, 1, 0, "portable"),
    ("keras_mbv3small_a075_r96_floatio", H7, 2, 3, "optimized"),
]


def _id(point) -> str:
    model, target, p, n, kernels = point
    return f"{model}-{target}-p{p}-n{n}-{kernels}"


def _check(point) -> None:
    model, target, p, n, kernels = point
    result = measure(str(converter_model(model)), target, p, n, kernels=kernels, repeat=1, warmup=0)
    print(result.summary())
    assert result.status == "passed", f"{_id(point)}: {result.status}: {result.reason}"
    assert result.exact and result.output == result.expected
    assert result.sram_measured <= result.sram_planned <= 1.10 * result.sram_measured, result.summary()


@pytest.mark.parametrize("case", SMALL, ids=_id)
def test_small_converter_model_runs_bit_exact(case):
    _check(case)


@pytest.mark.slow
@pytest.mark.parametrize("case", LARGE, ids=_id)
def test_converter_model_runs_bit_exact(case):
    _check(case)

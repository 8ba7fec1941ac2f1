# SPDX-License-Identifier: Apache-2.0
"""The reference's two-operand ops beyond ADD and MUL (reference/ops.py): SUB, MAXIMUM, MINIMUM, PRELU.

Every one numpy-broadcasts its operands, as TFLite's ``BroadcastBinaryFunction4DSlow`` / ``*4DSlow``
kernels do, so per-channel ([1, 1, 1, C]), per-row ([1, H, 1, 1]) and scalar operands all work.
"""

from __future__ import annotations

import numpy as np

from harness.ir import quant
from harness.reference.ops import requantize_sum, rescaled_operands
from harness.reference.quantparams import AddQuant, PreluQuant


def sub(a: np.ndarray, b: np.ndarray, q: AddQuant) -> np.ndarray:
    """SUB int8 (TFLite's quantized SUB: ADD's parameters, the rescaled inputs subtracted)."""
    scaled1, scaled2 = rescaled_operands(a, b, q)
    return requantize_sum(scaled1 - scaled2, q)


def maximum(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """MAXIMUM int8: the raw values compared, as both runtimes do (they assume one quantization)."""
    return np.maximum(a, b).astype(np.int8)


def minimum(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.minimum(a, b).astype(np.int8)


def prelu(x: np.ndarray, alpha: np.ndarray, q: PreluQuant) -> np.ndarray:
    """PRELU int8 (reference_ops::BroadcastPrelu4DSlow): x >= its zero point rescaled by multiplier 1;
    below it, (x - zp) * (alpha - alpha_zp) rescaled by multiplier 2."""
    value = x.astype(np.int64) + q.input_offset
    slope = alpha.astype(np.int64) + q.alpha_offset
    value, slope = np.broadcast_arrays(value, slope)
    positive = quant.multiply_by_quantized_multiplier(value, q.output_multiplier_1, q.output_shift_1)
    negative = quant.multiply_by_quantized_multiplier(value * slope, q.output_multiplier_2, q.output_shift_2)
    out = np.where(value >= 0, positive, negative) + q.output_offset
    return np.clip(out, quant.INT8_MIN, quant.INT8_MAX).astype(np.int8)

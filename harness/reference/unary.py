# SPDX-License-Identifier: Apache-2.0
"""Elementwise int8 activations (ir.graph.UNARY_KINDS) as 256-entry tables.

Every output of these ops is a function of one int8 input value, so the reference computes the whole
function once, for the 256 possible inputs, and looks values up; the C kernel (pb_lut_s8) looks up
the same table, which codegen writes to flash. Each table follows LiteRT's BUILTIN_REF kernel:

- LOGISTIC, TANH: LiteRT's int8 kernels outside the fixed-point-optimized build fill a table with
  float32 arithmetic (``LUTPopulate``: dequantize, std::exp / std::tanh in float, scale by 1/output
  scale, std::round, add the zero point, clamp). TFLite Micro agreed on every quantization tested
  (tests/reference/test_unary_ops.py).
- HARD_SWISH: reference_ops::HardSwish, int16 fixed point (its parameters from HardSwishPrepare).
- LEAKY_RELU: QuantizeLeakyRelu, MultiplyByQuantizedMultiplier with one multiplier per sign.
- RELU, RELU6, RELU_N1_TO_1: QuantizedReluX, the input rescaled to the output's quantization and
  clamped to the activation's range there. TFLite Micro's RELU6 differs where the output's
  quantization is not the input's: it clamps in the input's quantization and does not rescale.
  patchbench (host reference and firmware) follows LiteRT; TFLite Micro has no RELU_N1_TO_1.
"""

from __future__ import annotations

import numpy as np

from harness.ir import quant
from harness.ir.graph import Graph, Op
from harness.reference.quantparams import ReferenceError, _quantized

INT8_VALUES = np.arange(-128, 128, dtype=np.int64)


def unary_table(graph: Graph, op: Op) -> np.ndarray:
    """The op's output for every int8 input: int8[256], entry i for input value i - 128."""
    inp = _quantized(graph, op.inputs[0], op)
    out = _quantized(graph, op.outputs[0], op)
    in_q = (np.float32(inp.quant.scale[0]), int(inp.zero_point))
    out_q = (np.float32(out.quant.scale[0]), int(out.zero_point))
    if op.kind == "LOGISTIC":
        return _float_table(in_q, out_q, lambda x: np.float32(1) / (np.float32(1) + np.exp(-x)))
    if op.kind == "TANH":
        return _float_table(in_q, out_q, np.tanh)
    if op.kind == "HARD_SWISH":
        return hard_swish_table(in_q, out_q)
    if op.kind == "LEAKY_RELU":
        return leaky_relu_table(in_q, out_q, float(op.attrs.get("alpha", 0.2)))
    if op.kind in _RELU_RANGES:
        return relu_table(in_q, out_q, *_RELU_RANGES[op.kind])
    raise ReferenceError(f"op {op.name!r}: {op.kind} is not an elementwise table op")


def apply_table(x: np.ndarray, table: np.ndarray) -> np.ndarray:
    return table[x.astype(np.int64) + 128]


def _float_table(in_q, out_q, transform) -> np.ndarray:
    in_scale, in_zp = in_q
    out_scale, out_zp = out_q
    dequantized = (in_scale * (INT8_VALUES - in_zp).astype(np.float32)).astype(np.float32)
    with np.errstate(over="ignore"):
        transformed = np.asarray(transform(dequantized), np.float32)
    inverse = np.float32(1) / out_scale
    rescaled = quant.std_round((transformed * inverse).astype(np.float32).astype(np.float64))
    return np.clip(rescaled + out_zp, -128, 127).astype(np.int8)


# --- HARD_SWISH -----------------------------------------------------------------------------------


def _srdhm16(a: np.ndarray, b: int) -> np.ndarray:
    """gemmlowp SaturatingRoundingDoublingHighMul on int16."""
    a = np.asarray(a, np.int64)
    ab = a * b
    nudge = np.where(ab >= 0, 1 << 14, 1 - (1 << 14))
    total = ab + nudge
    high = np.where(total >= 0, total >> 15, -((-total) >> 15))
    return np.where((a == -32768) & (b == -32768), 32767, high)


def _sdhm16(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """TFLite's SaturatingDoublingHighMul on int16 (truncating division by 2^15)."""
    ab = np.asarray(a, np.int64) * np.asarray(b, np.int64)
    high = np.where(ab >= 0, ab >> 15, -((-ab) >> 15))
    return np.where((a == -32768) & (b == -32768), 32767, high)


def _saturating_left_shift16(x: np.ndarray, amount: int) -> np.ndarray:
    return np.clip(np.asarray(x, np.int64) * (1 << amount), -32768, 32767)


def _downscale_to_int16(multiplier: int) -> int:
    """TFLite's DownScaleInt32ToInt16Multiplier."""
    if multiplier >= (1 << 31) - 1 - (1 << 15):
        return 32767
    return (multiplier + (1 << 15)) >> 16


def hard_swish_params(in_scale: np.float32, out_scale: np.float32) -> tuple[int, int, int, int]:
    """(output multiplier int16, output exponent, reluish multiplier int16, reluish exponent), float32
    products as in HardSwishPrepare."""
    hires_input_scale = np.float32(1.0 / 128.0) * np.float32(in_scale)
    reluish_scale = np.float32(3.0) / np.float32(32768.0)
    output_multiplier, output_exponent = quant.quantize_multiplier(
        float(hires_input_scale / np.float32(out_scale))
    )
    reluish_multiplier, reluish_exponent = quant.quantize_multiplier(float(hires_input_scale / reluish_scale))
    if output_exponent > 0:
        raise ReferenceError(
            f"HARD_SWISH: input scale {in_scale} / 128 over output scale {out_scale} needs a left shift; "
            "TFLite refuses this quantization too"
        )
    return (
        _downscale_to_int16(output_multiplier),
        output_exponent,
        _downscale_to_int16(reluish_multiplier),
        reluish_exponent,
    )


def hard_swish_table(in_q, out_q) -> np.ndarray:
    (in_scale, in_zp), (out_scale, out_zp) = in_q, out_q
    out_mult, out_exp, relu_mult, relu_exp = hard_swish_params(in_scale, out_scale)
    x = INT8_VALUES - in_zp
    hires = x * 128
    preshift = _srdhm16(hires, out_mult)
    reluish = hires
    if relu_exp > 0:
        reluish = _saturating_left_shift16(reluish, relu_exp - 1)
    reluish = _srdhm16(reluish, relu_mult)
    if relu_exp > 0:
        reluish = _saturating_left_shift16(reluish, 1)
    if relu_exp < 0:
        reluish = quant.rounding_divide_by_pot(reluish, -relu_exp)
    reluish = (reluish + (1 << 15)) >> 1
    product = _sdhm16(reluish, preshift)
    value = quant.rounding_divide_by_pot(product, -out_exp) + out_zp
    return np.clip(value, -128, 127).astype(np.int8)


# --- LEAKY_RELU and the ReLUs ---------------------------------------------------------------------


def leaky_relu_table(in_q, out_q, alpha: float) -> np.ndarray:
    (in_scale, in_zp), (out_scale, out_zp) = in_q, out_q
    if alpha < 0:
        raise ReferenceError(f"LEAKY_RELU: alpha {alpha} < 0 is not supported (needs a negative multiplier)")
    alpha_m, alpha_s = quant.quantize_multiplier(float(in_scale * np.float32(alpha) / out_scale))
    ident_m, ident_s = quant.quantize_multiplier(float(in_scale / out_scale))
    x = INT8_VALUES - in_zp
    positive = quant.multiply_by_quantized_multiplier(x, ident_m, ident_s)
    negative = quant.multiply_by_quantized_multiplier(x, alpha_m, alpha_s)
    return np.clip(np.where(x >= 0, positive, negative) + out_zp, -128, 127).astype(np.int8)


_RELU_RANGES = {"RELU": (0.0, None), "RELU6": (0.0, 6.0), "RELU_N1_TO_1": (-1.0, 1.0)}


def relu_table(in_q, out_q, low: float, high: float | None) -> np.ndarray:
    (in_scale, in_zp), (out_scale, out_zp) = in_q, out_q
    act_min = max(-128, out_zp + int(quant.std_round(np.float32(low) / out_scale)))
    act_max = 127 if high is None else min(127, out_zp + int(quant.std_round(np.float32(high) / out_scale)))
    multiplier, shift = quant.quantize_multiplier(float(in_scale / out_scale))
    value = out_zp + quant.multiply_by_quantized_multiplier(INT8_VALUES - in_zp, multiplier, shift)
    return np.clip(value, act_min, act_max).astype(np.int8)

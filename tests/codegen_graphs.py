# SPDX-License-Identifier: Apache-2.0
"""Graphs that exercise the code generator: every op kind the kernels run, and a float model's ends.
Shared by tests/codegen/test_codegen.py (host runs) and tests/pipeline/test_e2e_qemu.py (the emulator)."""

from __future__ import annotations

import copy

import numpy as np

from harness.ir.graph import Op, QParams, Tensor, validate
from harness.ir.shapes import infer_op_shape, infer_op_shapes
from models.synthetic import LayerSpec, build_stack

# --- a graph with every op kind the kernels run ---------------------------------------------------------


class Appender:
    """Adds ops after a graph's output, shapes from harness.ir.shapes."""

    def __init__(self, graph, seed: int = 1):
        self.graph = graph
        self.rng = np.random.default_rng(seed)
        self.x = graph.outputs[0]

    def const(self, name: str, data: np.ndarray, qparams: QParams | None = None) -> str:
        self.graph.tensors[name] = Tensor(name, tuple(data.shape), str(data.dtype), qparams, data)
        return name

    def int8_const(self, name: str, shape) -> str:
        data = self.rng.integers(-128, 128, shape).astype(np.int8)
        return self.const(name, data, QParams.per_tensor(float(self.rng.uniform(0.01, 0.05)), 3))

    def op(self, kind: str, name: str, inputs: list[str], attrs=None, scale=None, zero_point=None) -> str:
        first = self.graph.tensor(inputs[0])
        scale = first.scale if scale is None else scale
        zero_point = first.zero_point if zero_point is None else zero_point
        out = f"{name}_out"
        self.graph.tensors[out] = Tensor(out, (), "int8", QParams.per_tensor(scale, zero_point))
        op = Op(kind, name, inputs, [out], dict(attrs or {}))
        self.graph.ops.append(op)
        self.graph.tensors[out].shape = tuple(infer_op_shape(self.graph, op))
        self.graph.outputs = [out]
        return out

    def split(self, kind: str, name: str, inputs: list[str], parts: int) -> list[str]:
        """SPLIT / SPLIT_V into ``parts`` outputs, each with the split input's quantization."""
        source = self.graph.tensor(inputs[1] if kind == "SPLIT" else inputs[0])
        outs = [f"{name}_out{k}" for k in range(parts)]
        for out in outs:
            self.graph.tensors[out] = Tensor(out, (), "int8", source.quant)
        op = Op(kind, name, inputs, outs, {"num_splits": parts})
        self.graph.ops.append(op)
        for out, shape in zip(outs, infer_op_shapes(self.graph, op), strict=True):
            self.graph.tensors[out].shape = shape
        self.graph.outputs = outs
        return outs


def every_op_graph():
    """Every op kind the kernels run. Ops 0-14 can form a patch stage (convs, PAD, depthwise VALID,
    residual ADD, MUL, pools, channel concat, QUANTIZE, ADD and MUL with per-channel constants, the MUL's
    constant first); the rest runs per layer (RESIZE, PAD, CONCAT along rows, MEAN, RESHAPE,
    FULLY_CONNECTED, SOFTMAX)."""
    specs = [LayerSpec("conv", 3, 1, channels=8), LayerSpec("pad", pads=(1, 0, 0, 2)),
             LayerSpec("depthwise", 3, 2, "VALID"), LayerSpec("residual", 3), LayerSpec("mul"),
             LayerSpec("max_pool", 2, 1), LayerSpec("concat", 3, channels=4), LayerSpec("avg_pool", 3, 2)]  # fmt: skip
    graph = build_stack(specs, input_shape=(1, 22, 18, 3), seed=3, name="every_op", blocks=False)
    a = Appender(graph)
    x = a.op("QUANTIZE", "requantize", [a.x], scale=graph.tensor(a.x).scale * 1.7, zero_point=-11)
    x = a.op("ADD", "add_bias", [x, a.int8_const("channel_bias", (8,))], {"activation": "RELU"}, 0.05, -20)
    graph.ops[-1].attrs.update(act_min=-20, act_max=127)
    x = a.op(
        "MUL", "scale_channels", [a.int8_const("channel_scale", (1, 1, 1, 8)), x], scale=0.02, zero_point=5
    )
    x = a.op("RESIZE_NEAREST_NEIGHBOR", "upsample", [x, a.const("size", np.array([12, 10], np.int32))])
    x = a.op(
        "PAD", "pad_late", [x, a.const("late_pads", np.array([[0, 0], [2, 1], [0, 1], [1, 0]], np.int32))]
    )
    x = a.op("CONCATENATION", "stack_rows", [x, x], {"axis": 1, "activation": "NONE"})
    x = a.op("TRANSPOSE", "swap_rows_columns", [x, a.const("perm", np.array([0, 2, 1, 3], np.int32))])
    x = a.op("MEAN", "global_mean", [x, a.const("axes", np.array([1, 2], np.int32))], {"keep_dims": True},
             scale=graph.tensor(x).scale * 0.8, zero_point=-7)  # fmt: skip
    x = a.op("RESHAPE", "flatten", [x, a.const("flat_shape", np.array([1, 9], np.int32))])
    weights = a.const("fc_weights", a.rng.integers(-127, 128, (10, 9)).astype(np.int8),
                      QParams.per_tensor(0.01, 0))  # fmt: skip
    in_scale = graph.tensor(x).scale
    bias = a.const("fc_bias", a.rng.integers(-3000, 3000, 10).astype(np.int32),
                   QParams.per_tensor(in_scale * 0.01, 0))  # fmt: skip
    x = a.op(
        "FULLY_CONNECTED", "classifier", [x, weights, bias], {"keep_dims": False}, scale=0.1, zero_point=4
    )
    a.op("SOFTMAX", "probabilities", [x], {"beta": 1.0}, scale=1.0 / 256, zero_point=-128)
    validate(graph)
    return graph


STAGE_ENDS = {"avg_pool": 12, "constants": 15}  # n: the stage ends after the avg pool / the constant ops


def float_ends_graph():
    """A float model's ends: a float32 image quantized by the first op, the result dequantized."""
    specs = [
        LayerSpec("conv", 3, 2, channels=6),
        LayerSpec("residual", 3),
        LayerSpec("conv", 1, 1, channels=4),
    ]
    graph = build_stack(specs, input_shape=(1, 14, 12, 3), seed=4, name="float_ends", blocks=False)
    image, quantized = "image", graph.inputs[0]
    graph.tensors[image] = Tensor(image, graph.tensor(quantized).shape, "float32")
    # A power-of-two scale, so that the image can hold exact ties (k + 0.5 steps) for the rounding.
    graph.tensor(quantized).quant = QParams.per_tensor(0.0625, graph.tensor(quantized).zero_point)
    graph.ops.insert(0, Op("QUANTIZE", "quantize_image", [image], [quantized], {}))
    graph.inputs = [image]
    a = Appender(graph)
    out = "probabilities"
    graph.tensors[out] = Tensor(out, graph.tensor(a.x).shape, "float32")
    graph.ops.append(Op("DEQUANTIZE", "dequantize", [a.x], [out], {}))
    graph.outputs = [out]
    validate(graph)
    return graph


def float_image(graph):
    q = graph.tensor(graph.ops[0].outputs[0])
    real = q.scale * (np.random.default_rng(5).uniform(-140, 140, graph.tensor("image").shape) - q.zero_point)
    real.reshape(-1)[:4] = q.scale * (np.array([0.5, -0.5, 2.5, -127.5]) - q.zero_point)  # exact ties
    return real.astype(np.float32)


# --- the patterns of converter-made models (tests/codegen/test_converter_patterns.py) ---------------------------


def _conv1x1(a: Appender, name: str, x: str, cout: int, scale: float, zero_point: int) -> str:
    cin = a.graph.tensor(x).shape[-1]
    w_scales = a.rng.uniform(0.005, 0.02, cout).astype(np.float32)
    weights = a.const(f"{name}_w", a.rng.integers(-127, 128, (cout, 1, 1, cin)).astype(np.int8),
                      QParams(w_scales, np.zeros(cout, np.int64), 0))  # fmt: skip
    bias_scales = (np.float64(a.graph.tensor(x).scale) * w_scales).astype(np.float32)
    bias = a.const(f"{name}_b", a.rng.integers(-2000, 2000, cout).astype(np.int32),
                   QParams(bias_scales, np.zeros(cout, np.int64), 0))  # fmt: skip
    attrs = {"stride": (1, 1), "dilation": (1, 1), "padding": "VALID", "activation": "NONE",
             "act_min": -128, "act_max": 127}  # fmt: skip
    return a.op("CONV_2D", name, [x, weights, bias], attrs, scale, zero_point)


def converter_patterns_graph():
    """What PyTorch/ONNX and Keras exports bring, on one small network: a float32 image quantized; an
    explicit PAD before a stride-2 VALID conv; swish (LOGISTIC, MUL); a squeeze-excite block (MEAN over
    H, W, 1x1 convs, HARD_SWISH, LOGISTIC, a per-channel MUL); a PyTorch head (TRANSPOSE to NCHW, one
    MEAN per axis, FULLY_CONNECTED) dequantized to float32; and a second, int8 output (the SE result)."""
    specs = [LayerSpec("conv", 3, 1, channels=8), LayerSpec("pad", pads=(1, 1, 1, 1)),
             LayerSpec("conv", 3, 2, "VALID", channels=12)]  # fmt: skip
    graph = build_stack(specs, input_shape=(1, 18, 16, 3), seed=6, name="converter_patterns", blocks=False)
    image, quantized = "image", graph.inputs[0]
    graph.tensors[image] = Tensor(image, graph.tensor(quantized).shape, "float32")
    graph.ops.insert(0, Op("QUANTIZE", "quantize_image", [image], [quantized], {}))
    graph.inputs = [image]
    a = Appender(graph, seed=9)
    x = a.x
    sig = a.op("LOGISTIC", "swish_sigmoid", [x], scale=1 / 256, zero_point=-128)
    x = a.op("MUL", "swish", [x, sig], {"activation": "NONE", "act_min": -128, "act_max": 127}, 0.03, -30)
    squeezed = a.op("MEAN", "se_mean", [x, a.const("se_axes", np.array([1, 2], np.int32))], {"keep_dims": True},
                    scale=0.02, zero_point=-10)  # fmt: skip
    reduced = _conv1x1(a, "se_reduce", squeezed, 4, 0.05, 3)
    reduced = a.op("HARD_SWISH", "se_hard_swish", [reduced], scale=0.03, zero_point=-90)
    expanded = _conv1x1(a, "se_expand", reduced, 12, 0.06, -5)
    gate = a.op("LOGISTIC", "se_gate", [expanded], scale=1 / 256, zero_point=-128)
    excited = a.op("MUL", "se_scale", [x, gate], {"activation": "NONE", "act_min": -128, "act_max": 127},
                   0.02, -25)  # fmt: skip
    nchw = a.op("TRANSPOSE", "to_nchw", [excited, a.const("nchw", np.array([0, 3, 1, 2], np.int32))])
    rows = a.op("MEAN", "mean_w", [nchw, a.const("axis_w", np.array([3], np.int32))], {"keep_dims": False},
                scale=0.015, zero_point=-20)  # fmt: skip
    pooled = a.op("MEAN", "mean_h", [rows, a.const("axis_h", np.array([2], np.int32))], {"keep_dims": False},
                  scale=0.012, zero_point=-22)  # fmt: skip
    weights = a.const(
        "head_w", a.rng.integers(-127, 128, (5, 12)).astype(np.int8), QParams.per_tensor(0.01, 0)
    )
    bias = a.const("head_b", a.rng.integers(-3000, 3000, 5).astype(np.int32),
                   QParams.per_tensor(graph.tensor(pooled).scale * 0.01, 0))  # fmt: skip
    logits = a.op("FULLY_CONNECTED", "head", [pooled, weights, bias],
                  {"keep_dims": False, "activation": "NONE", "act_min": -128, "act_max": 127}, 0.05, 2)  # fmt: skip
    out = "logits_float"
    graph.tensors[out] = Tensor(out, graph.tensor(logits).shape, "float32")
    graph.ops.append(Op("DEQUANTIZE", "dequantize_logits", [logits], [out], {}))
    graph.outputs = [out, excited]
    validate(graph)
    return graph


# --- float ends and several outputs (tests/pipeline/test_outputs_e2e.py) ------------------------------------------


def float_ended(graph, outputs: list[str]):
    """A copy of ``graph`` as a float model sees it: its int8 input read from a float32 image through a
    QUANTIZE, and each tensor of ``outputs`` (graph outputs or inner tensors) a graph output dequantized to
    float32, in that order. (A copy: model registries hand out shared graphs.)"""
    graph = copy.deepcopy(graph)
    (quantized,) = graph.inputs
    image = "image_float"
    graph.tensors[image] = Tensor(image, graph.tensor(quantized).shape, "float32")
    graph.ops.insert(0, Op("QUANTIZE", "quantize_image", [image], [quantized], {}))
    graph.inputs = [image]
    graph.outputs = []
    for index, name in enumerate(outputs):
        out = f"{name}_float"
        graph.tensors[out] = Tensor(out, graph.tensor(name).shape, "float32")
        graph.ops.append(Op("DEQUANTIZE", f"dequantize_output{index}", [name], [out], {}))
        graph.outputs.append(out)
    validate(graph)
    return graph


def three_head_detector_graph():
    """A small detector: a backbone, then three 1x1 heads on maps of three scales, every output float32
    (a float32 image in)."""
    specs = [LayerSpec("conv", 3, 1, channels=8), LayerSpec("depthwise", 3, 2), LayerSpec("conv", 1, 1, channels=12),
             LayerSpec("depthwise", 3, 2), LayerSpec("conv", 1, 1, channels=16)]  # fmt: skip
    graph = build_stack(specs, input_shape=(1, 24, 20, 3), seed=11, name="three_heads", blocks=False)
    a = Appender(graph, seed=12)
    maps = [op.outputs[0] for op in graph.ops if op.kind == "CONV_2D"]  # 24x20x8, 12x10x12, 6x5x16
    heads = [_conv1x1(a, f"head{k}", name, 6, 0.04 + 0.01 * k, k - 1) for k, name in enumerate(maps)]
    return float_ended(graph, heads)


# --- the data ops of issue 10 (tests/reference/test_data_ops.py, tests/codegen/test_data_ops_firmware.py) -----------------

NO_ACTIVATION = {"activation": "NONE", "act_min": -128, "act_max": 127}


def data_ops_graph():
    """PRELU, SUB, MAXIMUM, MINIMUM with broadcast constants, PADV2 with a constant that is not the zero
    point, STRIDED_SLICEs that crop and stride rows, columns and channels, their ADD, and a MUL by one column
    of it (a SLICE): all spatially local, the first ``DATA_OPS_STAGE_END`` ops. Then, per layer: SPLIT,
    SPLIT_V, MAXIMUM of two split parts, strided slices, an ADD broadcasting one row over the rows, and a
    slice that drops the batch axis (which ends any patch stage); two graph outputs. SPLIT and SPLIT_V stay
    in this graph (the IR's multi-output ops); importing its export turns them into SLICEs, which is what
    the code generator runs."""
    graph = build_stack([LayerSpec("conv", 3, 1, channels=8)], input_shape=(1, 14, 12, 3), seed=21,
                        name="data_ops", blocks=False)  # fmt: skip
    a = Appender(graph, seed=21)
    x = a.x
    alpha = a.const(
        "alpha", a.rng.integers(-128, 128, (1, 1, 8)).astype(np.int8), QParams.per_tensor(0.01, -3)
    )
    x = a.op("PRELU", "prelu", [x, alpha], scale=0.03, zero_point=-40)
    x = a.op("SUB", "sub_channels", [x, a.int8_const("channel_offsets", (8,))], NO_ACTIVATION, 0.04, -10)
    floor = a.const("floor", np.array(-60, np.int8), graph.tensor(x).quant)
    x = a.op("MAXIMUM", "maximum_scalar", [floor, x])
    ceiling = a.const("ceiling", a.rng.integers(0, 100, (1, 1, 1, 8)).astype(np.int8), graph.tensor(x).quant)
    x = a.op("MINIMUM", "minimum_channels", [x, ceiling])
    pads = a.const("pads", np.array([[0, 0], [1, 2], [2, 0], [0, 0]], np.int32))
    value = a.const("pad_value", np.array(graph.tensor(x).zero_point + 50, np.int8), graph.tensor(x).quant)
    x = a.op("PADV2", "pad_v2", [x, pads, value])  # 17 x 14 x 8

    def strided(name, source, begin, end, strides, masks=(0, 0, 0)):
        consts = [
            a.const(f"{name}_{k}", np.array(v, np.int32))
            for k, v in (("begin", begin), ("end", end), ("strides", strides))
        ]
        attrs = dict(zip(("begin_mask", "end_mask", "shrink_axis_mask"), masks, strict=True))
        return a.op("STRIDED_SLICE", name, [source, *consts], attrs)

    left = strided("crop_rows_by_two", x, [0, 1, 2, 2], [1, 17, 14, 6], [1, 2, 1, 1])  # 8 x 12 x 4
    right = strided("every_other", x, [0, 0, 0, 1], [1, 16, 12, 8], [1, 2, 1, 2], (0b0001, 0b0001, 0))
    x = a.op("ADD", "add_slices", [left, right], NO_ACTIVATION, 0.05, 3)
    column = a.op("SLICE", "one_column", [x, a.const("col_begin", np.array([0, 0, 5, 3], np.int32)),
                                          a.const("col_size", np.array([1, -1, 1, 1], np.int32))])  # fmt: skip
    x = a.op("MUL", "mul_by_column", [x, column], NO_ACTIVATION, 0.06, -2)  # 8 x 12 x 4
    # per layer from here
    halves = a.split("SPLIT", "split_channels", [a.const("split_axis", np.array(3, np.int32)), x], 2)
    x = a.op("MAXIMUM", "maximum_halves", halves)
    rows = a.split("SPLIT_V", "split_rows", [x, a.const("row_sizes", np.array([3, -1, 2], np.int32)),
                                             a.const("row_axis", np.array([1], np.int32))], 3)  # fmt: skip
    skipped = strided("strided_rows", rows[1], [0, 0, -13, 0], [1, 8, 100, 2], [1, 2, 3, 1])  # 2 x 4 x 2
    first_row = strided("first_row", rows[0], [0, 0, 1, 0], [1, 1, 14, 2], [1, 1, 3, 1])  # 1 x 4 x 2
    x = a.op("ADD", "add_row", [skipped, first_row], NO_ACTIVATION, 0.07, 5)
    out = strided("drop_batch", x, [0, 0, 0, 0], [1, 2, 4, 2], [1, 1, 1, 1], (0, 0, 0b0001))  # 2 x 4 x 2
    graph.outputs = [out, rows[2]]
    validate(graph)
    return graph


DATA_OPS_STAGE_END = 11  # the conv and the ten spatially local ops after it

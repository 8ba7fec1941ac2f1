# SPDX-License-Identifier: Apache-2.0
"""Shared pieces of the zoo: a small float network spec, calibrated and quantized into a ``Graph``.

A builder script calls ``NetworkBuilder`` methods (conv, depthwise, add, pool, FC) inside named blocks.
Every call runs the new layer at once, in float numpy, on a few seeded random calibration images, so
the builder knows each activation's float range when it quantizes.

Synthetic weights, why data-dependent: random He-initialized weights alone make activations drift
(explode or vanish) with depth, and a quantized tensor whose values use three of its 256 levels tells
a benchmark nothing. So each conv's per-channel output statistics on the calibration images are folded
into its weights and bias the way a trained BatchNorm would be: pre-activations of a ReLU layer come out
with mean ~2 and std ~0.8 (few exact zeros, little clipping at 6), linear (projection) outputs with mean
~0 and std ~0.85. The float network is then quantized the TFLite way: per-channel symmetric int8 conv
weights, int32 biases, per-tensor asymmetric int8 activations with the calibrated min/max.

Everything is seeded by the model name, so two builds of one name are identical.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from harness.ir import quant
from harness.ir.graph import Block, Graph, GraphError, Op, QParams, Tensor, validate

# The graph input: int8 with real = q / 128, i.e. an image normalized to [-1, 1).
INPUT_NAME = "input"
INPUT_SCALE = 1.0 / 128.0
INPUT_ZERO_POINT = 0
CALIBRATION_IMAGES = 2

# Targets of the folded normalization (uniform ranges per channel; see the module docstring).
ACTIVE_MEAN, ACTIVE_STD = (1.5, 2.5), (0.6, 1.0)
LINEAR_MEAN, LINEAR_STD = (-0.3, 0.3), (0.7, 1.0)
LOGIT_STD = 2.0

ACTIVATIONS = ("NONE", "RELU", "RELU6")


def make_divisible(value: float, divisor: int = 8, min_value: int | None = None) -> int:
    """Round a channel count to a multiple of ``divisor``, never more than 10% below ``value``.

    The rule of the reference MobileNetV2 (and MnasNet, MCUNet): round to nearest, at least
    ``min_value`` (default: the divisor), and one divisor up if rounding lost more than 10%.
    """
    min_value = divisor if min_value is None else min_value
    rounded = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


def model_seed(name: str) -> int:
    """A seed from the model name (Python's hash() is salted per process, sha256 is not)."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "little")


@dataclass
class FloatLayer:
    """One op of the float network, weights in TFLite layout with the normalization folded in."""

    kind: str
    name: str
    inputs: list[str]  # activation tensor names
    output: str
    attrs: dict = field(default_factory=dict)
    weights: np.ndarray | None = None
    bias: np.ndarray | None = None


class NetworkBuilder:
    """Builds one network layer by layer, running each layer on the calibration images as it is added."""

    def __init__(self, name: str, input_shape: tuple[int, ...], calibration_images: int = CALIBRATION_IMAGES):
        self.name = name
        self.input_shape = tuple(input_shape)
        seeds = np.random.SeedSequence(model_seed(name)).spawn(2)
        self._weights_rng = np.random.default_rng(seeds[0])
        images = np.random.default_rng(seeds[1]).integers(-128, 128, (calibration_images, *input_shape))
        self.values: dict[str, np.ndarray] = {INPUT_NAME: (images * INPUT_SCALE).astype(np.float32)}
        self.layers: list[FloatLayer] = []
        self.blocks: list[Block] = []
        self._block: Block | None = None

    # --- structure ---------------------------------------------------------------------------

    @property
    def input(self) -> str:
        return INPUT_NAME

    def shape(self, tensor: str) -> tuple[int, ...]:
        """The tensor's shape without the batch dimension."""
        return self.values[tensor].shape[1:]

    def channels(self, tensor: str) -> int:
        return self.values[tensor].shape[-1]

    @contextmanager
    def block(self, name: str) -> Iterator[None]:
        """Ops added inside the ``with`` form one block (one unit of the patch-stage depth n)."""
        if self._block is not None:
            raise GraphError(f"{self.name}: block {name!r} opened inside block {self._block.name!r}")
        self._block = Block(name, [])
        try:
            yield
        finally:
            block, self._block = self._block, None
        if block.ops:
            self.blocks.append(block)

    def _add_layer(self, layer: FloatLayer, value: np.ndarray) -> str:
        if self._block is None:
            raise GraphError(
                f"{self.name}: op {layer.name!r} added outside a block; wrap it in builder.block()"
            )
        if layer.output in self.values:
            raise GraphError(f"{self.name}: tensor {layer.output!r} defined twice (op names must be unique)")
        self.layers.append(layer)
        self._block.ops.append(layer.name)
        self.values[layer.output] = value
        return layer.output

    # --- layers ------------------------------------------------------------------------------

    def conv2d(
        self,
        x: str,
        out_channels: int,
        kernel: int,
        stride: int,
        activation: str,
        name: str,
        mean_range: tuple[float, float] | None = None,
    ) -> str:
        """A full convolution (CONV_2D), SAME padding, BN folded, fused activation.

        ``mean_range`` overrides the normalization's target mean (ResNet's linear convs that feed a
        ReLU'd ADD need a positive one, or half of the sum would be clamped to zero).
        """
        in_channels = self.channels(x)
        fan_in = kernel * kernel * in_channels
        weights = self._weights_rng.normal(
            0.0, np.sqrt(2.0 / fan_in), (out_channels, kernel, kernel, in_channels)
        )
        raw = _conv2d(self.values[x], weights.astype(np.float32), stride)
        scale, bias, value = self._normalize(raw, activation, mean_range)
        layer = FloatLayer(
            "CONV_2D",
            name,
            [x],
            f"{name}_out",
            _conv_attrs(stride, activation),
            (weights * scale[:, None, None, None]).astype(np.float32),
            bias,
        )
        return self._add_layer(layer, value)

    def depthwise_conv2d(self, x: str, kernel: int, stride: int, activation: str, name: str) -> str:
        """A depthwise convolution (multiplier 1), SAME padding, BN folded, fused activation."""
        channels = self.channels(x)
        weights = self._weights_rng.normal(
            0.0, np.sqrt(2.0 / (kernel * kernel)), (1, kernel, kernel, channels)
        )
        raw = _depthwise_conv2d(self.values[x], weights.astype(np.float32), stride)
        scale, bias, value = self._normalize(raw, activation)
        attrs = _conv_attrs(stride, activation) | {"depth_multiplier": 1}
        layer = FloatLayer(
            "DEPTHWISE_CONV_2D", name, [x], f"{name}_out", attrs, (weights * scale).astype(np.float32), bias
        )
        return self._add_layer(layer, value)

    def add(self, a: str, b: str, name: str, activation: str = "NONE") -> str:
        """A residual ADD of two same-shape tensors, with an optional fused activation."""
        if self.shape(a) != self.shape(b):
            raise GraphError(f"{self.name}: ADD {name!r} of shapes {self.shape(a)} and {self.shape(b)}")
        value = _activate(self.values[a] + self.values[b], activation)
        attrs = {"activation": _checked_activation(activation)}
        return self._add_layer(FloatLayer("ADD", name, [a, b], f"{name}_out", attrs), value)

    def global_average_pool(self, x: str, pool_name: str = "pool", flatten_name: str = "flatten") -> str:
        """AVERAGE_POOL_2D over the whole map (same quantization in and out), then RESHAPE to [1, C]."""
        height, width, channels = self.shape(x)
        value = self.values[x].mean(axis=(1, 2), keepdims=True)
        attrs = {"filter": (height, width), "stride": (1, 1), "padding": "VALID", "activation": "NONE"}
        pooled = self._add_layer(
            FloatLayer("AVERAGE_POOL_2D", pool_name, [x], f"{pool_name}_out", attrs), value
        )
        attrs = {"new_shape": (1, channels)}
        flat = FloatLayer("RESHAPE", flatten_name, [pooled], f"{flatten_name}_out", attrs)
        return self._add_layer(flat, value.reshape(value.shape[0], channels))

    def fully_connected(self, x: str, out_features: int, name: str) -> str:
        """The classifier (FULLY_CONNECTED, no activation), logits scaled to std ~2 over all classes.

        One normalization for the whole layer, not per output: the pooled features of random images
        barely vary from image to image, so per-class statistics over a few images would be noise.
        """
        in_features = self.channels(x)
        weights = self._weights_rng.normal(0.0, np.sqrt(1.0 / in_features), (out_features, in_features))
        bias = self._weights_rng.normal(0.0, 0.1, out_features)
        raw = self.values[x] @ weights.T.astype(np.float32)
        scale = LOGIT_STD / max(float(raw.std()), 1e-6)
        value = (raw * scale + bias).astype(np.float32)
        attrs = {"activation": "NONE", "keep_dims": False}
        layer = FloatLayer(
            "FULLY_CONNECTED", name, [x], f"{name}_out", attrs, (weights * scale).astype(np.float32), bias
        )
        return self._add_layer(layer, value)

    def _normalize(
        self, raw: np.ndarray, activation: str, mean_range: tuple[float, float] | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Fold a per-channel BatchNorm that gives ``raw`` the target mean/std: (scale, bias, activated)."""
        channels = raw.shape[-1]
        default_mean, std_range = (
            (LINEAR_MEAN, LINEAR_STD) if activation == "NONE" else (ACTIVE_MEAN, ACTIVE_STD)
        )
        mean_range = default_mean if mean_range is None else mean_range
        target_mean = self._weights_rng.uniform(*mean_range, channels)
        target_std = self._weights_rng.uniform(*std_range, channels)
        mean = raw.mean(axis=(0, 1, 2), dtype=np.float64)
        std = raw.std(axis=(0, 1, 2), dtype=np.float64)
        scale = target_std / np.maximum(std, 1e-4)
        bias = target_mean - mean * scale
        value = _activate((raw * scale.astype(np.float32) + bias.astype(np.float32)), activation)
        return scale, bias, value

    # --- quantization ------------------------------------------------------------------------

    def to_graph(self) -> Graph:
        """Quantize the float network into the int8 IR (TFLite's scheme) and validate it."""
        tensors: dict[str, Tensor] = {
            INPUT_NAME: Tensor(
                INPUT_NAME, (1, *self.input_shape), "int8", QParams.per_tensor(INPUT_SCALE, INPUT_ZERO_POINT)
            )
        }
        ops = [self._quantize_layer(layer, tensors) for layer in self.layers]
        graph = Graph(
            self.name, tensors, ops, [INPUT_NAME], [self.layers[-1].output], blocks=list(self.blocks)
        )
        validate(graph)
        return graph

    def _quantize_layer(self, layer: FloatLayer, tensors: dict[str, Tensor]) -> Op:
        source = tensors[layer.inputs[0]]
        out_shape = (1, *self.shape(layer.output))
        attrs = dict(layer.attrs)
        inputs = list(layer.inputs)
        if layer.kind in ("AVERAGE_POOL_2D", "RESHAPE"):
            # TFLite's int8 pooling and reshape keep the input's scale and zero point.
            out_quant = QParams.per_tensor(source.scale, source.zero_point)
        else:
            value = self.values[layer.output]
            out_quant = QParams.per_tensor(
                *quant.choose_activation_qparams(float(value.min()), float(value.max()))
            )
        if layer.kind in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
            inputs += self._quantize_weights(layer, source.scale, tensors)
        if layer.kind == "RESHAPE":
            shape_name = f"{layer.name}_shape"
            tensors[shape_name] = Tensor(
                shape_name, (2,), "int32", data=np.array(attrs["new_shape"], np.int32)
            )
            inputs.append(shape_name)
        if "activation" in attrs:
            attrs["act_min"], attrs["act_max"] = quant.activation_range(
                attrs["activation"], float(out_quant.scale[0]), int(out_quant.zero_point[0])
            )
        tensors[layer.output] = Tensor(layer.output, out_shape, "int8", out_quant)
        return Op(layer.kind, layer.name, inputs, [layer.output], attrs)

    def _quantize_weights(
        self, layer: FloatLayer, input_scale: float, tensors: dict[str, Tensor]
    ) -> list[str]:
        if layer.kind == "FULLY_CONNECTED":
            # Per-tensor, as TFLite's converter quantizes dense layers (per-channel FC is opt-in there).
            flat, scales = quant.quantize_weights_per_channel(layer.weights.reshape(1, -1), axis=0)
            weights_q, axis = flat.reshape(layer.weights.shape), 0
        else:
            # TFLite's quantized_dimension: Cout for CONV_2D [Cout,KH,KW,Cin], C for DEPTHWISE [1,KH,KW,C].
            axis = 0 if layer.kind == "CONV_2D" else 3
            weights_q, scales = quant.quantize_weights_per_channel(layer.weights, axis=axis)
        bias_q = quant.quantize_bias(np.asarray(layer.bias, np.float64), input_scale, scales)
        bias_scales = (np.float64(input_scale) * scales.astype(np.float64)).astype(np.float32)
        weights_name, bias_name = f"{layer.name}_filter", f"{layer.name}_bias"
        if layer.kind == "FULLY_CONNECTED":
            weights_name = f"{layer.name}_weights"
        tensors[weights_name] = Tensor(
            weights_name,
            weights_q.shape,
            "int8",
            QParams(scales, np.zeros(scales.size, np.int64), axis if scales.size > 1 else 0),
            weights_q,
        )
        tensors[bias_name] = Tensor(
            bias_name,
            bias_q.shape,
            "int32",
            QParams(bias_scales, np.zeros(bias_scales.size, np.int64)),
            bias_q,
        )
        return [weights_name, bias_name]


# --- MBConv networks (MobileNetV2, MbV2-RD, MCUNet/ProxylessNAS, MnasNet, FBNet) --------------------


@dataclass(frozen=True)
class MBConvSpec:
    """One inverted-residual (MBConv) block.

    ``mid_channels`` None means no expansion 1x1 (expand ratio 1); ``depthwise`` False drops the kxk
    depthwise conv (MbV2-RD's first block is a lone 1x1 projection). ``residual`` None means the usual
    rule: a shortcut ADD when the stride is 1 and the channel count is unchanged.
    """

    out_channels: int
    kernel: int = 3
    stride: int = 1
    mid_channels: int | None = None
    depthwise: bool = True
    residual: bool | None = None


@dataclass(frozen=True)
class MBConvNetSpec:
    """A whole MBConv network: stem conv, blocks, optional feature-mix 1x1, pool, FC classifier."""

    resolution: int
    stem_channels: int
    blocks: tuple[MBConvSpec, ...]
    feature_mix_channels: int | None
    classes: int = 1000
    stem_kernel: int = 3
    stem_stride: int = 2
    activation: str = "RELU6"
    input_channels: int = 3


def inverted_residual(builder: NetworkBuilder, x: str, spec: MBConvSpec, block: str, activation: str) -> str:
    """Ops ``{block}_expand``, ``{block}_dw``, ``{block}_project``, ``{block}_add`` (those that apply)."""
    in_channels = builder.channels(x)
    residual = spec.residual
    if residual is None:
        residual = spec.stride == 1 and in_channels == spec.out_channels
    if residual and (spec.stride != 1 or in_channels != spec.out_channels):
        raise GraphError(
            f"{builder.name}: block {block} has a shortcut but changes the shape "
            f"(stride {spec.stride}, {in_channels} -> {spec.out_channels} channels)"
        )
    if not spec.depthwise and spec.stride != 1:
        raise GraphError(
            f"{builder.name}: block {block} without a depthwise conv cannot have stride {spec.stride}"
        )
    y = x
    if spec.mid_channels is not None:
        y = builder.conv2d(y, spec.mid_channels, 1, 1, activation, f"{block}_expand")
    if spec.depthwise:
        y = builder.depthwise_conv2d(y, spec.kernel, spec.stride, activation, f"{block}_dw")
    y = builder.conv2d(y, spec.out_channels, 1, 1, "NONE", f"{block}_project")
    if residual:
        y = builder.add(x, y, f"{block}_add")
    return y


def build_mbconv_network(name: str, spec: MBConvNetSpec) -> Graph:
    """Blocks: ``first_conv``, ``b0`` .. ``b{k-1}``, ``feature_mix`` (if any), ``pool``, ``classifier``."""
    builder = NetworkBuilder(name, (spec.resolution, spec.resolution, spec.input_channels))
    with builder.block("first_conv"):
        x = builder.conv2d(
            builder.input,
            spec.stem_channels,
            spec.stem_kernel,
            spec.stem_stride,
            spec.activation,
            "first_conv",
        )
    for index, block_spec in enumerate(spec.blocks):
        with builder.block(f"b{index}"):
            x = inverted_residual(builder, x, block_spec, f"b{index}", spec.activation)
    if spec.feature_mix_channels is not None:
        with builder.block("feature_mix"):
            x = builder.conv2d(x, spec.feature_mix_channels, 1, 1, spec.activation, "feature_mix")
    add_classifier_tail(builder, x, spec.classes)
    return builder.to_graph()


def add_classifier_tail(builder: NetworkBuilder, x: str, classes: int) -> str:
    """Blocks ``pool`` (global AVERAGE_POOL_2D + RESHAPE) and ``classifier`` (FULLY_CONNECTED)."""
    with builder.block("pool"):
        x = builder.global_average_pool(x)
    with builder.block("classifier"):
        return builder.fully_connected(x, classes, "classifier")


# --- float kernels (calibration only; the int8 arithmetic lives in harness/reference.py) -------------


def _checked_activation(activation: str) -> str:
    if activation not in ACTIVATIONS:
        raise GraphError(f"activation {activation!r} is not supported by the zoo; use one of {ACTIVATIONS}")
    return activation


def _conv_attrs(stride: int, activation: str) -> dict:
    return {
        "stride": (stride, stride),
        "dilation": (1, 1),
        "padding": "SAME",
        "activation": _checked_activation(activation),
    }


def _activate(x: np.ndarray, activation: str) -> np.ndarray:
    if activation == "RELU6":
        return np.clip(x, 0.0, 6.0)
    if activation == "RELU":
        return np.maximum(x, 0.0)
    return x


def _pad_same(x: np.ndarray, kernel: int, stride: int) -> tuple[np.ndarray, int, int]:
    """Pad NHWC for SAME, TFLite's way (the odd pixel goes after); returns (padded, out_h, out_w)."""
    _, height, width, _ = x.shape
    out_h, out_w = -(-height // stride), -(-width // stride)
    pad_h = max((out_h - 1) * stride + kernel - height, 0)
    pad_w = max((out_w - 1) * stride + kernel - width, 0)
    if pad_h or pad_w:
        x = np.pad(x, ((0, 0), (pad_h // 2, pad_h - pad_h // 2), (pad_w // 2, pad_w - pad_w // 2), (0, 0)))
    return x, out_h, out_w


def _taps(x: np.ndarray, kernel: int, stride: int) -> Iterator[np.ndarray]:
    """The kernel*kernel strided views of the padded input, in (kh, kw) order."""
    padded, out_h, out_w = _pad_same(x, kernel, stride)
    for i in range(kernel):
        for j in range(kernel):
            yield padded[
                :, i : i + stride * (out_h - 1) + 1 : stride, j : j + stride * (out_w - 1) + 1 : stride, :
            ]


def _conv2d(x: np.ndarray, weights: np.ndarray, stride: int) -> np.ndarray:
    out_channels, kernel, _, in_channels = weights.shape
    if kernel == 1 and stride == 1:
        columns = x
    else:
        columns = np.concatenate(list(_taps(x, kernel, stride)), axis=-1)  # (kh, kw, cin) order
    flat = columns.reshape(-1, columns.shape[-1]) @ weights.reshape(out_channels, -1).T
    return flat.reshape(*columns.shape[:-1], out_channels)


def _depthwise_conv2d(x: np.ndarray, weights: np.ndarray, stride: int) -> np.ndarray:
    kernel = weights.shape[1]
    out = None
    for tap, w in zip(_taps(x, kernel, stride), weights[0].reshape(kernel * kernel, -1), strict=True):
        out = tap * w if out is None else out + tap * w
    return out

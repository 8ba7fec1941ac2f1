# SPDX-License-Identifier: Apache-2.0
"""MobileNetV1 (Howard et al. 2017): a 3x3 s2 stem and 13 depthwise-separable blocks, ReLU6.

Each block ``b{i}`` is a depthwise 3x3 (``b{i}_dw``) and a pointwise 1x1 (``b{i}_pw``), both ReLU6; then
global average pool and FC 1000. Width multiplier w: int(c * w) channels, as Keras' MobileNet and the
MLPerf Tiny VWW model (MobileNetV1 0.25x) compute them. At w1.0 r224: 569M MACs, 4.2M parameters.
"""

from __future__ import annotations

from harness.ir.graph import Graph
from models.builder import NetworkBuilder, add_classifier_tail

STEM_CHANNELS = 32
# (pointwise channels, depthwise stride) of the 13 blocks.
MBV1_BLOCKS = (
    (64, 1),
    (128, 2),
    (128, 1),
    (256, 2),
    (256, 1),
    (512, 2),
    (512, 1),
    (512, 1),
    (512, 1),
    (512, 1),
    (512, 1),
    (1024, 2),
    (1024, 1),
)


def build_mobilenet_v1(name: str, width: float, resolution: int, classes: int = 1000) -> Graph:
    builder = NetworkBuilder(name, (resolution, resolution, 3))
    with builder.block("first_conv"):
        x = builder.conv2d(builder.input, max(1, int(STEM_CHANNELS * width)), 3, 2, "RELU6", "first_conv")
    for index, (channels, stride) in enumerate(MBV1_BLOCKS):
        with builder.block(f"b{index}"):
            x = builder.depthwise_conv2d(x, 3, stride, "RELU6", f"b{index}_dw")
            x = builder.conv2d(x, max(1, int(channels * width)), 1, 1, "RELU6", f"b{index}_pw")
    add_classifier_tail(builder, x, classes)
    return builder.to_graph()

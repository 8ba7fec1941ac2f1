# SPDX-License-Identifier: Apache-2.0
"""ResNet-8 for CIFAR-10, the MLPerf Tiny image-classification network, with residual ADDs.

Stem 3x3 16 ReLU; three residual stacks of 16, 32, 64 channels (the last two start with stride 2):
conv 3x3 ReLU, conv 3x3 linear, shortcut (identity, or a 1x1 stride-2 conv where the shape changes),
ADD with fused ReLU; global average pool; FC 10. Blocks: ``first_conv``, ``b0``..``b2``, ``pool``,
``classifier``. At r32: 12.5M MACs, 78k parameters, like MLPerf's pretrainedResnet_quant.tflite.
"""

from __future__ import annotations

from harness.ir.graph import Graph
from models.builder import NetworkBuilder, add_classifier_tail

STEM_CHANNELS = 16
STACKS = ((16, 1), (32, 2), (64, 2))  # (channels, first stride)
CLASSES = 10
# Target mean of the linear convs feeding the ReLU'd ADD: positive, so the sum is mostly above zero
# (like a trained ResNet's, and so its int8 output is not half zero-point).
ADD_BRANCH_MEAN = (0.75, 1.25)


def build_resnet8(name: str, resolution: int) -> Graph:
    builder = NetworkBuilder(name, (resolution, resolution, 3))
    with builder.block("first_conv"):
        x = builder.conv2d(builder.input, STEM_CHANNELS, 3, 1, "RELU", "first_conv")
    for index, (channels, stride) in enumerate(STACKS):
        block = f"b{index}"
        with builder.block(block):
            y = builder.conv2d(x, channels, 3, stride, "RELU", f"{block}_conv1")
            y = builder.conv2d(y, channels, 3, 1, "NONE", f"{block}_conv2", ADD_BRANCH_MEAN)
            shortcut = x
            if stride != 1 or builder.channels(x) != channels:
                shortcut = builder.conv2d(
                    x, channels, 1, stride, "NONE", f"{block}_shortcut", ADD_BRANCH_MEAN
                )
            x = builder.add(shortcut, y, f"{block}_add", activation="RELU")
    add_classifier_tail(builder, x, CLASSES)
    return builder.to_graph()

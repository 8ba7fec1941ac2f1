# SPDX-License-Identifier: Apache-2.0
"""MnasNet-A1 (Tan et al. 2019), without its squeeze-and-excitation.

Block list of the reference (TensorFlow TPU models' ``mnasnet_a1``): stem 3x3 s2 32; a SepConv (depthwise
3x3 + linear 1x1 to 16, no shortcut); then stages of MBConv blocks (repeats, kernel, first stride,
expand ratio, channels): (2, 3, 2, 6, 24), (3, 5, 2, 3, 40, SE), (4, 3, 2, 6, 80), (2, 3, 1, 6, 112, SE),
(3, 5, 2, 6, 160, SE), (1, 3, 1, 6, 320); head 1x1 1280; pool; FC 1000. ReLU throughout.

No SE: an SE block needs a sigmoid (LOGISTIC is not in patchbench's op set) and a whole-map MEAN, which
cannot run patch by patch. Without it the network keeps MnasNet-A1's kernels (5x5 in the 40- and
160-channel stages), widths and depths, which is what drives memory and patch overhead; SE adds under
1% of the MACs. At w1.0 r224: 312M MACs, 3.9M parameters in the paper (with SE); here 311.3M, 3.61M.
Width multiplier w: make_divisible(c * w, 8) for every channel count but the 1280 head.
"""

from __future__ import annotations

from harness.ir.graph import Graph
from models.builder import MBConvNetSpec, MBConvSpec, build_mbconv_network, make_divisible

STEM_CHANNELS = 32
SEPCONV_CHANNELS = 16
# (repeats, kernel, first stride, expand ratio, channels) after the SepConv.
MNASNET_A1_STAGES = (
    (2, 3, 2, 6, 24),
    (3, 5, 2, 3, 40),
    (4, 3, 2, 6, 80),
    (2, 3, 1, 6, 112),
    (3, 5, 2, 6, 160),
    (1, 3, 1, 6, 320),
)
HEAD_CHANNELS = 1280


def mnasnet_a1_spec(width: float, resolution: int, head: int | None = None) -> MBConvNetSpec:
    """``head``: the last 1x1 conv's channels; None: the reference's 1280."""
    stem = make_divisible(STEM_CHANNELS * width)
    sepconv = MBConvSpec(make_divisible(SEPCONV_CHANNELS * width), 3, 1, None, residual=False)
    blocks = [sepconv]
    in_channels = sepconv.out_channels
    for repeats, kernel, first_stride, expand, channels in MNASNET_A1_STAGES:
        out_channels = make_divisible(channels * width)
        for repeat in range(repeats):
            stride = first_stride if repeat == 0 else 1
            blocks.append(MBConvSpec(out_channels, kernel, stride, in_channels * expand))
            in_channels = out_channels
    head = HEAD_CHANNELS if head is None else head
    return MBConvNetSpec(resolution, stem, tuple(blocks), head, activation="RELU")


def build_mnasnet_a1(name: str, width: float, resolution: int, head: int | None = None) -> Graph:
    return build_mbconv_network(name, mnasnet_a1_spec(width, resolution, head))

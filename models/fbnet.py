# SPDX-License-Identifier: Apache-2.0
"""FBNet-A (Wu et al. 2019), the searched block list of facebookresearch's reference model definition.

Stem 3x3 s2 16 (its following "skip" block is the identity), then inverted-residual blocks ``ir_k{k}``
with expand ratio e; ReLU; shortcut when stride 1 and channels unchanged; head 1x1 1504; pool; FC 1000.
A "skip" block with unchanged shape is the identity and adds no block. Where the reference uses grouped
(g2) linear 1x1 projections in three e1 blocks, patchbench uses a dense 1x1 (grouped convs are not in
its op set); that adds 2.9M MACs. At r224: 249M MACs, 4.3M parameters in the paper; here 247.3M, 4.30M.

Width multiplier w (FBNet's own scaled-down variants are searched, not scaled; this follows MobileNetV2's
rule so the network can be sized for a microcontroller): every channel count but the 1504 head is
make_divisible(c * w); at w1.0 every count is already a multiple of 8, so w1.0 is the network above.
"""

from __future__ import annotations

from harness.ir.graph import Graph
from models.builder import MBConvNetSpec, MBConvSpec, build_mbconv_network, make_divisible

STEM_CHANNELS = 16
# (kernel, expand ratio, channels, stride); identity "skip" blocks left out.
FBNET_A_BLOCKS = (
    (3, 3, 24, 2),
    (3, 1, 24, 1),
    (5, 6, 32, 2),
    (3, 3, 32, 1),
    (5, 1, 32, 1),
    (3, 3, 32, 1),
    (5, 6, 64, 2),
    (5, 3, 64, 1),
    (5, 1, 64, 1),
    (5, 6, 64, 1),
    (3, 6, 112, 1),
    (5, 1, 112, 1),
    (5, 3, 112, 1),
    (3, 1, 112, 1),
    (5, 6, 184, 2),
    (5, 6, 184, 1),
    (5, 3, 184, 1),
    (5, 6, 184, 1),
    (5, 6, 352, 1),
)
HEAD_CHANNELS = 1504


def fbnet_a_spec(resolution: int, width: float = 1.0, head: int | None = None) -> MBConvNetSpec:
    """``head``: the last 1x1 conv's channels; None: the reference's 1504."""
    stem = make_divisible(STEM_CHANNELS * width)
    blocks = []
    in_channels = stem
    for kernel, expand, channels, stride in FBNET_A_BLOCKS:
        out_channels = make_divisible(channels * width)
        mid = None if expand == 1 else in_channels * expand
        blocks.append(MBConvSpec(out_channels, kernel, stride, mid))
        in_channels = out_channels
    head = HEAD_CHANNELS if head is None else head
    return MBConvNetSpec(resolution, stem, tuple(blocks), head, activation="RELU")


def build_fbnet_a(name: str, resolution: int, width: float = 1.0, head: int | None = None) -> Graph:
    return build_mbconv_network(name, fbnet_a_spec(resolution, width, head))

# SPDX-License-Identifier: Apache-2.0
"""MobileNetV2 (Sandler et al. 2018) and MbV2-RD, its receptive-field-redistributed form (MCUNetV2).

MobileNetV2, as the reference implementation builds it: a 3x3 stride-2 stem of 32 channels, 17
inverted-residual blocks (expand 1x1 -> depthwise 3x3 -> linear project 1x1, ReLU6, shortcut ADD when
stride 1 and channels unchanged), a 1280-channel 1x1 feature mix, global average pool, FC 1000. Width
multiplier w: every channel count is make_divisible(c * w, 8); the last conv stays 1280 for w <= 1.
At w1.0 r224: 300.8M MACs, 3.49M parameters (BN folded into the biases).

MbV2-RD. MCUNetV2's Table 1 (224x224, 4x4 patches) gives input patch 63x63 (MbV2: 75x75), patch-stage
MACs 73M (+18%), overall 301M (+3%), the same 1372 kB per-layer peak; the text says "smaller kernels
and fewer blocks in the per-patch stage, more blocks in the per-layer stage" but not the block list.
The one below meets every figure:

- Patch stage = the blocks down to the first 28x28 output, the split the paper uses for MbV2 (that is
  what makes MbV2's patch 75: a 7x7 output patch grows 7 -> 15 (b3 dw s2) -> 17 (b2) -> 35 (b1 dw s2) ->
  37 (b0 dw) -> 75 (stem s2)).
- RD's patch stage: stem 3x3 s2 (32) -> b0: a lone linear 1x1 projection 32 -> 16 (MbV2's b0 depthwise
  3x3 dropped: the smaller kernel) -> b1 MB6 k3 s2 (24) -> b2 MB6 k3 s2 (32; MbV2's second 24-channel
  block at 56x56 dropped: the fewer blocks). A 7x7 output patch needs 7 -> 15 -> 31 -> 31 -> 63. Its
  MACs are 61.9M per layer; 4x4 patches of full 63x63 size cost 73.3M (+18%), Table 1's 73M and +18%.
- The 1372 kB per-layer peak (b1's expand: 112x112x16 in + 112x112x96 out) is untouched, since the stem
  and b1 are MbV2's.
- Per-layer stage: MbV2's, plus one more block in the 32-channel stage (28x28) and one more in the
  64-channel stage (14x14), the "more blocks later". 292.7M MACs per layer, 3.55M parameters.
- harness.schedule.profile.table1() on this network: input patch 63x63, patch stage 73.3M (+18.3%),
  overall 304.0M (+3.9%) counting every patch at full size as the paper does for the patch stage, or
  301.1M (+2.9%) counting border patches without their padding; per-layer peak 1372 kB, per-patch
  171.5 kB. Table 1: 63x63, 73M (+18%), 301M (+3%), 1372 kB, 172 kB. (The paper's own MbV2 line, 130M
  and 330M on 300M, mixes the two counts the same way.)
"""

from __future__ import annotations

from harness.ir.graph import Graph
from models.builder import MBConvNetSpec, MBConvSpec, build_mbconv_network, make_divisible

# (expand ratio t, channels c, repeats n, first stride s) of MobileNetV2's bottleneck stages.
MBV2_STAGES = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)
# MbV2-RD: the first stage is a 1x1 projection only (see the module docstring); 24: 2 -> 1 block,
# 32: 3 -> 4 blocks, 64: 4 -> 5 blocks.
MBV2_RD_STAGES = (
    (1, 16, 1, 1),
    (6, 24, 1, 2),
    (6, 32, 4, 2),
    (6, 64, 5, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)
STEM_CHANNELS = 32
LAST_CHANNELS = 1280


def mobilenet_v2_spec(
    width: float, resolution: int, redistributed: bool = False, head: int | None = None
) -> MBConvNetSpec:
    """``head``: the last 1x1 conv's channels; None: the reference's (1280, scaled only for w > 1)."""
    stages = MBV2_RD_STAGES if redistributed else MBV2_STAGES
    stem = make_divisible(STEM_CHANNELS * width)
    blocks = []
    in_channels = stem
    for stage_index, (expand, channels, repeats, first_stride) in enumerate(stages):
        out_channels = make_divisible(channels * width)
        for repeat in range(repeats):
            mid = None if expand == 1 else in_channels * expand
            pointwise_only = redistributed and stage_index == 0
            stride = first_stride if repeat == 0 else 1
            blocks.append(MBConvSpec(out_channels, 3, stride, mid, depthwise=not pointwise_only))
            in_channels = out_channels
    if head is None:
        head = make_divisible(LAST_CHANNELS * width) if width > 1.0 else LAST_CHANNELS
    return MBConvNetSpec(resolution, stem, tuple(blocks), head)


def build_mobilenet_v2(name: str, width: float, resolution: int, head: int | None = None) -> Graph:
    return build_mbconv_network(name, mobilenet_v2_spec(width, resolution, head=head))


def build_mobilenet_v2_rd(name: str, width: float, resolution: int, head: int | None = None) -> Graph:
    return build_mbconv_network(name, mobilenet_v2_spec(width, resolution, redistributed=True, head=head))

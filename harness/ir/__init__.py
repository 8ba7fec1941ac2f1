# SPDX-License-Identifier: Apache-2.0
"""The int8 IR: the Graph (tensors with scale and zero point, ops, blocks), TFLite's fixed-point
quantization arithmetic (``quant``), shape inference (``shapes``) and the one home of window and
padding geometry, ``hwc`` and an op's activation inputs (``geometry``)."""

# SPDX-License-Identifier: Apache-2.0
"""The bit-exact numpy host reference: runs a Graph the way TFLite's *reference* kernels do.

Every op kind of the IR has one function here that implements the integer arithmetic of LiteRT's
reference resolver (``BUILTIN_REF``, i.e. ``tensorflow/lite/kernels/internal/reference/...``) and of
TFLite Micro's reference kernels: same requantization (``harness.ir.quant``), same rounding, same
clamping. Device output is checked against this module bit for bit.

Entry points
------------

- ``run_graph(graph, inputs)`` runs every op and returns *every* activation by name: the graph
  inputs, each intermediate and the outputs. ``inputs`` is a dict name -> array, or a single array
  when the graph has one input. ``run_outputs`` returns only the graph outputs.
- ``run_op(graph, op, input_arrays, pads=None)`` runs one op. ``input_arrays`` holds the op's
  activation inputs in order (constants such as weights, biases, axes and shapes come from the graph;
  a dict keyed by tensor name works too).

Explicit padding (for the patch executor)
-----------------------------------------

CONV_2D, DEPTHWISE_CONV_2D, AVERAGE_POOL_2D and MAX_POOL_2D take ``pads=(top, bottom, left, right)``.
``pads=None`` in ``run_op`` means the op's own SAME/VALID padding (``op_pads`` gives it as a tuple).
An explicit tuple replaces it: the op then runs VALID over the input grown by exactly those pads, so
a patch executor can run an op on a cropped input region and pad only the sides that touch the image
border. The padding means what it means in the full-image run:

- convolutions pad with the input zero point (TFLite does this implicitly: padded taps contribute
  ``filter * (zp - zp) = 0``);
- AVERAGE_POOL_2D leaves padded positions out of the element count, so a window that overlaps the
  image border is divided by the number of real pixels it covers, exactly as in the full-image run;
- MAX_POOL_2D ignores padded positions.

The output size is ``(in + pad_before + pad_after - effective_kernel) // stride + 1`` per axis.
``input_window(graph, op, out_rows, out_cols)`` gives, for a tile of the full-image output, the input
rows and columns it reads and the pads (the part of its windows outside the image), so that
``run_op(graph, op, [x[:, y0:y1, x0:x1]], pads=pads)`` equals that tile of the full-image run.

Arithmetic notes
----------------

- Accumulators: int32 with two's-complement wrap-around, like TFLite's int32 accumulator; the
  bias is added and the sum wrapped to int32 before the requantization. Products are summed with
  numpy's integer matmul (exact modulo 2**32; no BLAS threads, so timing is steady on a busy host).
- FULLY_CONNECTED: TFLite has two requantizations that differ by one step now and then. The
  default ``fc_requant=FC_FIXED`` is TFLite Micro's (and the firmware's) fixed-point one;
  ``FC_DOUBLE`` is the double-precision rounding of LiteRT's BUILTIN_REF resolver. Pass
  ``fc_requant=FC_DOUBLE`` to ``run_graph`` to reproduce LiteRT's reference interpreter exactly.
- CONCATENATION: TFLite's int8 kernel rejects inputs whose scale or zero point differ from the
  output's. patchbench accepts them and requantizes such an input with TFLite's int8 -> int8
  QUANTIZE arithmetic (``quantize_multiplier(in_scale / out_scale)``, ``multiply_by_quantized_multiplier``),
  which a C kernel can reproduce without floating point.
"""

from harness.ir.geometry import input_window, op_pads  # noqa: F401
from harness.reference.binary import maximum, minimum, prelu, sub  # noqa: F401
from harness.reference.ops import (  # noqa: F401
    add,
    average_of_sums,
    average_pool2d,
    concatenation,
    conv2d,
    depth_to_space,
    depthwise_conv2d,
    dequantize,
    fully_connected,
    max_pool2d,
    mean,
    mul,
    pad,
    quantize_float,
    requantize_acc,
    requantize_int8,
    resize_bilinear,
    resize_nearest_neighbor,
    space_to_depth,
    wrap_int32,
)
from harness.reference.quantparams import (  # noqa: F401
    FC_DOUBLE,
    FC_FIXED,
    FC_REQUANT_MODES,
    PRELU_DOUBLE,
    PRELU_FLOAT32,
    AddQuant,
    ConvQuant,
    MulQuant,
    PreluQuant,
    ReferenceError,
    SoftmaxQuant,
    add_quant,
    conv_quant,
    mul_quant,
    prelu_quant,
    quantize_multiplier_smaller_than_one_exp,
    softmax_quant,
)
from harness.reference.runner import (  # noqa: F401
    pad_value,
    run_graph,
    run_op,
    run_outputs,
    run_tile,
    transpose_conv_pads,  # harness.ir.geometry's, where the tile geometry needs it too
)
from harness.reference.softmax import exp_on_negative_values, softmax  # noqa: F401
from harness.reference.unary import unary_table  # noqa: F401

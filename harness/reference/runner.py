# SPDX-License-Identifier: Apache-2.0
"""Runs one op or a whole graph through the reference kernels, returning every tensor."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from harness.ir import quant, slicing
from harness.ir.geometry import (
    TILE_KINDS,
    WINDOW_KINDS,
    Pads,
    TileOrigin,
    activation_input_names,
    block_size,
    kernel_size,
    op_pads,
    resize_nearest_source,
    transpose_conv_pads,
)
from harness.ir.graph import MULTI_OUTPUT_KINDS, UNARY_KINDS, Graph, GraphError, Op
from harness.reference.binary import maximum, minimum, prelu, sub
from harness.reference.budget import check_host_memory
from harness.reference.ops import (
    _check_4d,
    _check_fc_requant,
    _check_pads,
    add,
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
    transpose_conv2d,
    wrap_int32,
)
from harness.reference.quantparams import (
    FC_FIXED,
    ReferenceError,
    _act_range,
    _quantized,
    add_quant,
    conv_quant,
    mul_quant,
    prelu_quant,
    softmax_quant,
)
from harness.reference.softmax import softmax
from harness.reference.unary import apply_table, unary_table


def _const(graph: Graph, op: Op, index: int) -> np.ndarray | None:
    if index >= len(op.inputs) or not op.inputs[index]:
        return None
    tensor = graph.tensor(op.inputs[index])
    if not tensor.is_const:
        raise ReferenceError(
            f"op {op.name!r} ({op.kind}): input {index} ({tensor.name!r}) must be a constant for the reference"
        )
    return tensor.data


def _operand(graph: Graph, op: Op, name: str, arrays: Mapping[str, np.ndarray]) -> np.ndarray:
    if name in arrays:
        return arrays[name]
    tensor = graph.tensor(name)
    if tensor.is_const:
        return tensor.data
    raise ReferenceError(f"op {op.name!r} ({op.kind}): no array given for input tensor {name!r}")


def run_op(
    graph: Graph,
    op: Op,
    input_arrays: Sequence[np.ndarray] | Mapping[str, np.ndarray],
    pads: Sequence[int] | None = None,
    fc_requant: str = FC_FIXED,
) -> np.ndarray | list[np.ndarray]:
    """Run one op on the given activation inputs; ``pads`` overrides a conv's or pool's padding.

    Returns the output array; for SPLIT / SPLIT_V (graph.MULTI_OUTPUT_KINDS) the list of output arrays.

    ``fc_requant`` picks FULLY_CONNECTED's requantization (FC_FIXED or FC_DOUBLE, see the module doc).
    """
    _check_fc_requant(fc_requant)
    if isinstance(input_arrays, Mapping):
        arrays = dict(input_arrays)
    else:
        names = activation_input_names(graph, op)
        if len(input_arrays) != len(names):
            raise ReferenceError(
                f"op {op.name!r} ({op.kind}) takes {len(names)} activation input(s) {names}, "
                f"got {len(input_arrays)} array(s)"
            )
        arrays = dict(zip(names, input_arrays, strict=True))
    if pads is not None and op.kind not in WINDOW_KINDS:
        raise ReferenceError(
            f"op {op.name!r} ({op.kind}): explicit pads apply only to {', '.join(WINDOW_KINDS)}"
        )
    if op.kind not in _KERNELS:
        raise ReferenceError(f"op {op.name!r}: kind {op.kind} has no reference kernel")
    kernel = _KERNELS[op.kind]
    x = _operand(graph, op, op.inputs[0], arrays)
    if op.kind in WINDOW_KINDS:
        _check_4d(x, f"op {op.name!r} ({op.kind})")
        explicit = op_pads(graph, op, x.shape[1], x.shape[2]) if pads is None else _check_pads(pads, op.name)
        return kernel(graph, op, x, arrays, explicit)
    if op.kind == "FULLY_CONNECTED":
        return _run_fully_connected(graph, op, x, fc_requant)
    return kernel(graph, op, x, arrays)


def _run_conv(graph: Graph, op: Op, x: np.ndarray, arrays, pads: Pads) -> np.ndarray:
    q = conv_quant(graph, op)
    stride = tuple(op.attrs.get("stride", (1, 1)))
    dilation = tuple(op.attrs.get("dilation", (1, 1)))
    filters = _const(graph, op, 1)
    bias = _const(graph, op, 2)
    if op.kind == "CONV_2D":
        return conv2d(x, filters, bias, q, stride, dilation, pads)
    dm = int(op.attrs.get("depth_multiplier", 1))
    return depthwise_conv2d(x, filters, bias, q, stride, dilation, pads, dm)


def _run_pool(graph: Graph, op: Op, x: np.ndarray, arrays, pads: Pads) -> np.ndarray:
    act_min, act_max = _act_range(op)
    filter_hw = kernel_size(graph, op)
    stride = tuple(op.attrs.get("stride", (1, 1)))
    if op.kind == "AVERAGE_POOL_2D":
        return average_pool2d(x, filter_hw, stride, pads, act_min, act_max)
    return max_pool2d(x, filter_hw, stride, pads, act_min, act_max)


def _run_fully_connected(graph: Graph, op: Op, x: np.ndarray, fc_requant: str) -> np.ndarray:
    q = conv_quant(graph, op)
    out = fully_connected(x, _const(graph, op, 1), _const(graph, op, 2), q, requant=fc_requant)
    return out.reshape(graph.tensor(op.outputs[0]).shape)


def _run_transpose_conv(graph: Graph, op: Op, x: np.ndarray, arrays) -> np.ndarray:
    source = _operand(graph, op, op.inputs[2], arrays)
    q = conv_quant(graph, op, input_position=2)
    out = graph.tensor(op.outputs[0])
    stride = tuple(op.attrs.get("stride", (1, 1)))
    bias = _const(graph, op, 3)
    return transpose_conv2d(
        source, _const(graph, op, 1), bias, q, out.shape[1:3], stride, transpose_conv_pads(graph, op)
    )


def _run_unary(graph: Graph, op: Op, x: np.ndarray, arrays) -> np.ndarray:
    return apply_table(x, unary_table(graph, op))


def _run_add(graph: Graph, op: Op, x: np.ndarray, arrays) -> np.ndarray:
    return add(x, _operand(graph, op, op.inputs[1], arrays), add_quant(graph, op))


def _run_mul(graph: Graph, op: Op, x: np.ndarray, arrays) -> np.ndarray:
    return mul(x, _operand(graph, op, op.inputs[1], arrays), mul_quant(graph, op))


def _run_sub(graph: Graph, op: Op, x: np.ndarray, arrays) -> np.ndarray:
    return sub(x, _operand(graph, op, op.inputs[1], arrays), add_quant(graph, op))


def _run_maximum_minimum(graph: Graph, op: Op, x: np.ndarray, arrays) -> np.ndarray:
    function = maximum if op.kind == "MAXIMUM" else minimum
    return function(x, _operand(graph, op, op.inputs[1], arrays))


def _run_prelu(graph: Graph, op: Op, x: np.ndarray, arrays) -> np.ndarray:
    return prelu(x, _operand(graph, op, op.inputs[1], arrays), prelu_quant(graph, op))


def pad_value(graph: Graph, op: Op) -> int:
    """What PAD / PADV2 writes into the padding: PADV2's constant (raw int8, as both runtimes take it),
    else the output zero point (TFLite's PAD)."""
    if op.kind == "PADV2" and len(op.inputs) > 2 and op.inputs[2]:
        return int(np.asarray(_const(graph, op, 2)).reshape(-1)[0])
    out = graph.tensor(op.outputs[0])
    return out.zero_point if out.quant is not None else 0


def _run_slice(graph: Graph, op: Op, x: np.ndarray, arrays) -> np.ndarray:
    box = slicing.op_box(graph, op, tuple(x.shape))
    return np.ascontiguousarray(x[box.index()]).reshape(box.shape)


def _run_split(graph: Graph, op: Op, x: np.ndarray, arrays) -> list[np.ndarray]:
    source = _operand(graph, op, slicing.split_input(op), arrays)
    axis = slicing.split_axis(graph, op)
    sizes = slicing.split_sizes(tuple(source.shape), axis, op, graph)
    return [
        np.ascontiguousarray(source[box.index()]) for box in slicing.split_boxes(source.shape, axis, sizes)
    ]


def _run_mean(graph: Graph, op: Op, x: np.ndarray, arrays) -> np.ndarray:
    inp = _quantized(graph, op.inputs[0], op)
    out = _quantized(graph, op.outputs[0], op)
    axes = np.asarray(_const(graph, op, 1)).reshape(-1).tolist()
    keep_dims = bool(op.attrs.get("keep_dims", False))
    return mean(x, axes, keep_dims, inp.scale, inp.zero_point, out.scale, out.zero_point)


def _run_pad(graph: Graph, op: Op, x: np.ndarray, arrays) -> np.ndarray:
    return pad(x, _const(graph, op, 1), pad_value(graph, op))


def _run_reshape(graph: Graph, op: Op, x: np.ndarray, arrays) -> np.ndarray:
    return x.reshape(graph.tensor(op.outputs[0]).shape)


def _run_transpose(graph: Graph, op: Op, x: np.ndarray, arrays) -> np.ndarray:
    perm = np.asarray(_const(graph, op, 1)).reshape(-1).tolist()
    return np.ascontiguousarray(np.transpose(x, perm))


def _run_concatenation(graph: Graph, op: Op, x: np.ndarray, arrays) -> np.ndarray:
    parts = [_operand(graph, op, name, arrays) for name in op.inputs]
    qparams = [(t.scale, t.zero_point) for t in (_quantized(graph, name, op) for name in op.inputs)]
    out = _quantized(graph, op.outputs[0], op)
    axis = int(op.attrs.get("axis", -1))
    return concatenation(parts, axis, qparams, (out.scale, out.zero_point))


def _run_resize(graph: Graph, op: Op, x: np.ndarray, arrays) -> np.ndarray:
    size = np.asarray(_const(graph, op, 1)).reshape(-1)
    return resize_nearest_neighbor(
        x,
        (int(size[0]), int(size[1])),
        bool(op.attrs.get("align_corners", False)),
        bool(op.attrs.get("half_pixel_centers", False)),
    )


def _run_resize_bilinear(
    graph: Graph, op: Op, x: np.ndarray, arrays, tile: TileOrigin | None = None
) -> np.ndarray:
    _check_4d(x, f"op {op.name!r} (RESIZE_BILINEAR)")
    _, in_h, in_w, _ = graph.tensor(op.inputs[0]).shape
    _, out_h, out_w, _ = graph.tensor(op.outputs[0]).shape
    align, half = bool(op.attrs.get("align_corners", False)), bool(op.attrs.get("half_pixel_centers", False))
    return resize_bilinear(x, (in_h, in_w), (out_h, out_w), align, half, tile)


def _run_depth_to_space(
    graph: Graph, op: Op, x: np.ndarray, arrays, tile: TileOrigin | None = None
) -> np.ndarray:
    _check_4d(x, f"op {op.name!r} (DEPTH_TO_SPACE)")
    return depth_to_space(x, block_size(op), tile)


def _run_space_to_depth(
    graph: Graph, op: Op, x: np.ndarray, arrays, tile: TileOrigin | None = None
) -> np.ndarray:
    _check_4d(x, f"op {op.name!r} (SPACE_TO_DEPTH)")
    return space_to_depth(x, block_size(op))


def run_tile(graph: Graph, op: Op, window: np.ndarray, tile: TileOrigin) -> np.ndarray:
    """One tile of a TILE_KINDS op (resize, depth/space rearrangement) from the input ``window`` it reads
    (geometry.tile_input_window): the patch executor's call for these ops."""
    if op.kind == "RESIZE_NEAREST_NEIGHBOR":
        _, in_h, in_w, _ = graph.tensor(op.inputs[0]).shape
        _, out_h, out_w, _ = graph.tensor(op.outputs[0]).shape
        align, half = (
            bool(op.attrs.get("align_corners", False)),
            bool(op.attrs.get("half_pixel_centers", False)),
        )
        rows = resize_nearest_source(in_h, out_h, align, half)[slice(*tile.out_rows)] - tile.in_y0
        cols = resize_nearest_source(in_w, out_w, align, half)[slice(*tile.out_cols)] - tile.in_x0
        return window[:, rows][:, :, cols]
    if op.kind == "TRANSPOSE_CONV":
        return _transpose_conv_tile(graph, op, window, tile)
    runs = {"RESIZE_BILINEAR": _run_resize_bilinear, "DEPTH_TO_SPACE": _run_depth_to_space,
            "SPACE_TO_DEPTH": _run_space_to_depth}  # fmt: skip
    if op.kind not in runs:
        raise ReferenceError(f"op {op.name!r} ({op.kind}) has no tile kernel; only {', '.join(TILE_KINDS)}")
    return runs[op.kind](graph, op, window, {}, tile)


def _transpose_conv_tile(graph: Graph, op: Op, window: np.ndarray, tile: TileOrigin) -> np.ndarray:
    """A tile of a TRANSPOSE_CONV gathered per output pixel: output (oy, ox) takes tap (ky, kx) of input
    (iy, ix) where iy * stride - pad_top + ky == oy (same for columns); the sum of TFLite's scatter."""
    filters = _const(graph, op, 1).astype(np.int64)
    q = conv_quant(graph, op, input_position=2)
    (sh, sw), (top, left) = tuple(op.attrs.get("stride", (1, 1))), transpose_conv_pads(graph, op)
    _, in_h, in_w, _ = graph.tensor(op.inputs[2]).shape
    cout, kh, kw, _ = filters.shape
    rows, cols = np.arange(*tile.out_rows), np.arange(*tile.out_cols)
    x = window.astype(np.int64) - q.input_zero_point
    acc = np.zeros((1, rows.size, cols.size, cout), np.int64)
    for ky in range(kh):
        ty = rows + top - ky
        row_ok = (ty >= 0) & (ty % sh == 0) & (ty // sh < in_h)
        for kx in range(kw):
            tx = cols + left - kx
            col_ok = (tx >= 0) & (tx % sw == 0) & (tx // sw < in_w)
            if not row_ok.any() or not col_ok.any():
                continue
            iy, ix = ty[row_ok] // sh - tile.in_y0, tx[col_ok] // sw - tile.in_x0
            taps = x[:, iy][:, :, ix] @ filters[:, ky, kx, :].T
            acc[:, np.flatnonzero(row_ok)[:, None], np.flatnonzero(col_ok)[None, :], :] += taps
    acc = wrap_int32(acc)
    bias = _const(graph, op, 3)
    if bias is not None:
        acc = acc + np.asarray(bias, np.int64)
    return requantize_acc(acc, q)


def _run_softmax(graph: Graph, op: Op, x: np.ndarray, arrays) -> np.ndarray:
    inp = _quantized(graph, op.inputs[0], op)
    out = _quantized(graph, op.outputs[0], op)
    if out.zero_point != -128 or abs(out.scale - 1.0 / 256) > 0.001 / 256:
        raise ReferenceError(
            f"op {op.name!r} (SOFTMAX): int8 output must have scale 1/256 and zero point -128 "
            f"(TFLite's rule), got scale {out.scale} and zero point {out.zero_point}"
        )
    return softmax(x, softmax_quant(inp.scale, float(op.attrs.get("beta", 1.0))))


def _run_quantize(graph: Graph, op: Op, x: np.ndarray, arrays) -> np.ndarray:
    out = _quantized(graph, op.outputs[0], op)
    if x.dtype == np.float32:
        return quantize_float(x, out.scale, out.zero_point)
    inp = _quantized(graph, op.inputs[0], op)
    return requantize_int8(x, inp.scale, inp.zero_point, out.scale, out.zero_point)


def _run_dequantize(graph: Graph, op: Op, x: np.ndarray, arrays) -> np.ndarray:
    inp = _quantized(graph, op.inputs[0], op)
    return dequantize(x, inp.scale, inp.zero_point)


def _run_arg_max(graph: Graph, op: Op, x: np.ndarray, arrays) -> np.ndarray:
    """The index of the first largest value along the axis (TFLite's ArgMinMax: a later value wins only
    when strictly greater; numpy's argmax keeps the first too), as int32."""
    axis = int(np.asarray(graph.tensor(op.inputs[1]).data).reshape(-1)[0]) % x.ndim
    return np.argmax(x, axis=axis).astype(np.int32)


def batch_matmul_quant(graph: Graph, op: Op) -> tuple[int, int, int, int, int]:
    """BATCH_MATMUL's integers, TFLite's: (multiplier, shift of lhs_scale * rhs_scale / output_scale in
    double, lhs, rhs and output zero points); no fused activation (the int8 range)."""
    lhs, rhs, out = (graph.tensor(name) for name in (*op.inputs, op.outputs[0]))
    multipliers, shifts = quant.conv_multipliers(lhs.scale, np.array([rhs.scale]), out.scale)
    return int(multipliers[0]), int(shifts[0]), lhs.zero_point, rhs.zero_point, out.zero_point


def _run_batch_matmul(graph: Graph, op: Op, x: np.ndarray, arrays) -> np.ndarray:
    multiplier, shift, lhs_zero, rhs_zero, out_zero = batch_matmul_quant(graph, op)
    lhs = x.astype(np.int64) - lhs_zero
    rhs = np.asarray(_operand(graph, op, op.inputs[1], arrays), np.int64) - rhs_zero
    if op.attrs.get("adj_x"):
        lhs = np.swapaxes(lhs, -1, -2)
    if op.attrs.get("adj_y"):
        rhs = np.swapaxes(rhs, -1, -2)
    acc = np.matmul(lhs, rhs)  # exact in int64; TFLite's int32 sum cannot overflow for K < 33025
    return quant.requantize(acc, multiplier, shift, out_zero, -128, 127)


_KERNELS = {
    "CONV_2D": _run_conv,
    "DEPTHWISE_CONV_2D": _run_conv,
    "FULLY_CONNECTED": None,  # run_op calls _run_fully_connected with fc_requant
    "ADD": _run_add,
    "SUB": _run_sub,
    "MUL": _run_mul,
    "MAXIMUM": _run_maximum_minimum,
    "MINIMUM": _run_maximum_minimum,
    "PRELU": _run_prelu,
    "AVERAGE_POOL_2D": _run_pool,
    "MAX_POOL_2D": _run_pool,
    "MEAN": _run_mean,
    "PAD": _run_pad,
    "PADV2": _run_pad,
    "SLICE": _run_slice,
    "STRIDED_SLICE": _run_slice,
    "SPLIT": _run_split,
    "SPLIT_V": _run_split,
    "RESHAPE": _run_reshape,
    "TRANSPOSE": _run_transpose,
    "CONCATENATION": _run_concatenation,
    "RESIZE_NEAREST_NEIGHBOR": _run_resize,
    "RESIZE_BILINEAR": _run_resize_bilinear,
    "DEPTH_TO_SPACE": _run_depth_to_space,
    "SPACE_TO_DEPTH": _run_space_to_depth,
    "SOFTMAX": _run_softmax,
    "QUANTIZE": _run_quantize,
    "DEQUANTIZE": _run_dequantize,
    "TRANSPOSE_CONV": _run_transpose_conv,
    **{kind: _run_unary for kind in UNARY_KINDS},
    "ARG_MAX": _run_arg_max,
    "BATCH_MATMUL": _run_batch_matmul,
}


# --- whole graph --------------------------------------------------------------------------------


def _graph_inputs(graph: Graph, inputs: Mapping[str, np.ndarray] | np.ndarray) -> dict[str, np.ndarray]:
    if isinstance(inputs, np.ndarray):
        if len(graph.inputs) != 1:
            raise ReferenceError(
                f"graph {graph.name!r} has {len(graph.inputs)} inputs {graph.inputs}; pass a dict name -> array"
            )
        inputs = {graph.inputs[0]: inputs}
    missing = [name for name in graph.inputs if name not in inputs]
    if missing:
        raise ReferenceError(f"graph {graph.name!r}: no array given for input(s) {missing}")
    checked = {}
    for name in graph.inputs:
        tensor = graph.tensor(name)
        array = np.asarray(inputs[name])
        if tuple(array.shape) != tuple(tensor.shape):
            raise ReferenceError(
                f"graph {graph.name!r}: input {name!r} must have shape {tuple(tensor.shape)}, got {array.shape}"
            )
        if array.dtype != np.dtype(tensor.dtype):
            raise ReferenceError(
                f"graph {graph.name!r}: input {name!r} must be {tensor.dtype}, got {array.dtype} "
                f"(quantize it first, e.g. harness.ir.quant.quantize)"
            )
        checked[name] = array
    return checked


def run_graph(
    graph: Graph, inputs: Mapping[str, np.ndarray] | np.ndarray, fc_requant: str = FC_FIXED
) -> dict[str, np.ndarray]:
    """Run the graph; return every activation (inputs, intermediates, outputs) by tensor name."""
    _check_fc_requant(fc_requant)
    check_host_memory(graph)
    values = _graph_inputs(graph, inputs)
    for op in graph.ops:
        names = activation_input_names(graph, op)
        absent = [name for name in names if name not in values]
        if absent:
            raise GraphError(f"graph {graph.name!r}, op {op.name!r}: input(s) {absent} are not computed yet")
        result = run_op(graph, op, {name: values[name] for name in names}, fc_requant=fc_requant)
        results = result if op.kind in MULTI_OUTPUT_KINDS else [result]
        for name, value in zip(op.outputs, results, strict=True):
            expected = graph.tensor(name)
            if tuple(value.shape) != tuple(expected.shape) or value.dtype != np.dtype(expected.dtype):
                raise GraphError(
                    f"graph {graph.name!r}, op {op.name!r} ({op.kind}): computed {value.dtype}{list(value.shape)} "
                    f"but tensor {expected.name!r} is {expected.dtype}{list(expected.shape)}; the graph is "
                    "inconsistent"
                )
            values[name] = value
    return values


def run_outputs(
    graph: Graph, inputs: Mapping[str, np.ndarray] | np.ndarray, fc_requant: str = FC_FIXED
) -> dict[str, np.ndarray]:
    """Run the graph; return only its outputs by name."""
    values = run_graph(graph, inputs, fc_requant)
    return {name: values[name] for name in graph.outputs}

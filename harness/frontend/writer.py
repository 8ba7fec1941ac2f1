# SPDX-License-Identifier: Apache-2.0
"""The int8 Graph IR -> a TFLite flatbuffer (schema 3, one subgraph) that LiteRT and TFLite Micro run."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import flatbuffers
import numpy as np
import tflite
from tflite.BuiltinOptions import BuiltinOptions

from harness.frontend.schema import (
    _CODE_OF_ACTIVATION,
    _CODE_OF_KIND,
    _CODE_OF_PADDING,
    _TYPE_OF_DTYPE,
    FILE_IDENTIFIER,
    SCHEMA_VERSION,
)
from harness.ir import shapes
from harness.ir.graph import Graph, GraphError, Op, Tensor, validate
from harness.ir.opdefs import OP_DEFS

# --- Graph -> flatbuffer ----------------------------------------------------------------------------

# The operator version the TFLite converter writes for int8 ops (op_version.cc); the runtimes pick the
# kernel registration by it (harness/ir/opdefs.py: OpDef.version).
_INT8_OP_VERSIONS = {kind: d.version for kind, d in OP_DEFS.items()}
# deprecated_builtin_code is an int8: codes above 127 are written as this placeholder.
_PLACEHOLDER_FOR_GREATER_OP_CODES = 127
# Constant buffers aligned like the TFLite converter aligns them, so runtimes may read them in place.
_BUFFER_ALIGNMENT = 16


def save_tflite(graph: Graph, path: str | Path) -> None:
    """Write the graph as a .tflite file (see graph_to_bytes)."""
    Path(path).write_bytes(graph_to_bytes(graph))


def graph_to_bytes(graph: Graph) -> bytes:
    """The graph as a TFLite flatbuffer (schema version 3, one subgraph) that LiteRT and TFLite Micro run.

    Only tensors that an op or the graph's inputs/outputs use are written, in ``graph.tensors`` order,
    under their names. Op names and blocks are not exported (TFLite operators carry no name), so a
    re-imported graph names its ops ``opNN_kind``. Raises GraphError for a graph that breaks the IR's
    rules or whose shapes do not agree.
    """
    validate(graph)
    shapes.check_shapes(graph)
    referenced = set(graph.inputs) | set(graph.outputs)
    for op in graph.ops:
        referenced.update(n for n in op.inputs + op.outputs if n)
    names = [name for name in graph.tensors if name in referenced]
    index_of = {name: i for i, name in enumerate(names)}

    const_bytes = sum(graph.tensors[n].nbytes for n in names if graph.tensors[n].is_const)
    builder = flatbuffers.Builder(const_bytes + 64 * 1024)
    buffer_offsets = [_buffer(builder, None)]  # buffer 0: the empty buffer every activation points to
    tensor_offsets = []
    for name in names:
        tensor = graph.tensors[name]
        buffer_index = 0
        if tensor.is_const:
            buffer_index = len(buffer_offsets)
            buffer_offsets.append(_buffer(builder, _tensor_bytes(graph, tensor)))
        tensor_offsets.append(_tensor_table(builder, tensor, buffer_index))

    kinds = list(dict.fromkeys(op.kind for op in graph.ops))
    operator_offsets = []
    for op in graph.ops:
        operator_offsets.append(_operator_table(builder, graph, op, kinds.index(op.kind), index_of))
    opcode_offsets = [_operator_code_table(builder, kind, _op_version(graph, kind)) for kind in kinds]

    subgraph_name = builder.CreateString(graph.name)
    tensors_vector = _offset_vector(builder, tensor_offsets)
    operators_vector = _offset_vector(builder, operator_offsets)
    inputs_vector = builder.CreateNumpyVector(np.array([index_of[n] for n in graph.inputs], np.int32))
    outputs_vector = builder.CreateNumpyVector(np.array([index_of[n] for n in graph.outputs], np.int32))
    tflite.SubGraphStart(builder)
    tflite.SubGraphAddTensors(builder, tensors_vector)
    tflite.SubGraphAddInputs(builder, inputs_vector)
    tflite.SubGraphAddOutputs(builder, outputs_vector)
    tflite.SubGraphAddOperators(builder, operators_vector)
    tflite.SubGraphAddName(builder, subgraph_name)
    subgraph = tflite.SubGraphEnd(builder)

    description = builder.CreateString(f"patchbench export of {graph.name}")
    opcodes_vector = _offset_vector(builder, opcode_offsets)
    subgraphs_vector = _offset_vector(builder, [subgraph])
    buffers_vector = _offset_vector(builder, buffer_offsets)
    tflite.ModelStart(builder)
    tflite.ModelAddVersion(builder, SCHEMA_VERSION)
    tflite.ModelAddOperatorCodes(builder, opcodes_vector)
    tflite.ModelAddSubgraphs(builder, subgraphs_vector)
    tflite.ModelAddDescription(builder, description)
    tflite.ModelAddBuffers(builder, buffers_vector)
    model = tflite.ModelEnd(builder)
    builder.Finish(model, file_identifier=FILE_IDENTIFIER)
    return bytes(builder.Output())


def _offset_vector(builder: flatbuffers.Builder, offsets: list[int]) -> int:
    builder.StartVector(4, len(offsets), 4)
    for offset in reversed(offsets):
        builder.PrependUOffsetTRelative(offset)
    return builder.EndVector()


def _tensor_bytes(graph: Graph, tensor: Tensor) -> bytes:
    data = np.asarray(tensor.data)
    if data.size != tensor.size:
        raise GraphError(
            f"graph {graph.name!r}: constant tensor {tensor.name!r} holds {data.size} values but its shape "
            f"{tensor.shape} needs {tensor.size}"
        )
    if tensor.dtype not in _TYPE_OF_DTYPE:
        raise GraphError(
            f"graph {graph.name!r}: tensor {tensor.name!r} has dtype {tensor.dtype!r}; cannot export"
        )
    converted = data.astype(tensor.dtype)
    if not np.array_equal(converted, data):
        raise GraphError(
            f"graph {graph.name!r}: constant tensor {tensor.name!r} holds {data.dtype} values that {tensor.dtype} "
            "cannot represent exactly; quantize them first (harness.ir.quant)"
        )
    return np.ascontiguousarray(converted, np.dtype(tensor.dtype).newbyteorder("<")).tobytes()


def _buffer(builder: flatbuffers.Builder, payload: bytes | None) -> int:
    data_vector = None
    if payload:
        builder.StartVector(1, len(payload), _BUFFER_ALIGNMENT)
        builder.head -= len(payload)
        builder.Bytes[builder.head : builder.head + len(payload)] = payload
        data_vector = builder.EndVector()
    tflite.BufferStart(builder)
    if data_vector is not None:
        tflite.BufferAddData(builder, data_vector)
    return tflite.BufferEnd(builder)


def _tensor_table(builder: flatbuffers.Builder, tensor: Tensor, buffer_index: int) -> int:
    name = builder.CreateString(tensor.name)
    shape = builder.CreateNumpyVector(np.array(tensor.shape, np.int32))
    quantization = None
    if tensor.quant is not None:
        scale = builder.CreateNumpyVector(np.asarray(tensor.quant.scale, np.float32).reshape(-1))
        zero_point = builder.CreateNumpyVector(np.asarray(tensor.quant.zero_point, np.int64).reshape(-1))
        tflite.QuantizationParametersStart(builder)
        tflite.QuantizationParametersAddScale(builder, scale)
        tflite.QuantizationParametersAddZeroPoint(builder, zero_point)
        tflite.QuantizationParametersAddQuantizedDimension(
            builder, tensor.quant.axis if tensor.quant.per_channel else 0
        )
        quantization = tflite.QuantizationParametersEnd(builder)
    tflite.TensorStart(builder)
    tflite.TensorAddShape(builder, shape)
    tflite.TensorAddType(builder, _TYPE_OF_DTYPE[tensor.dtype])
    tflite.TensorAddBuffer(builder, buffer_index)
    tflite.TensorAddName(builder, name)
    if quantization is not None:
        tflite.TensorAddQuantization(builder, quantization)
    return tflite.TensorEnd(builder)


def _op_version(graph: Graph, kind: str) -> int:
    version = _INT8_OP_VERSIONS[kind]
    if kind in ("RESIZE_NEAREST_NEIGHBOR", "RESIZE_BILINEAR") and any(
        op.attrs.get("half_pixel_centers") for op in graph.ops if op.kind == kind
    ):
        version = 3
    if kind == "TRANSPOSE_CONV" and any(
        op.attrs.get("activation", "NONE") != "NONE" for op in graph.ops if op.kind == kind
    ):
        version = 4  # the fused activation came with version 4
    return version


def _operator_code_table(builder: flatbuffers.Builder, kind: str, version: int) -> int:
    code = _CODE_OF_KIND[kind]
    tflite.OperatorCodeStart(builder)
    tflite.OperatorCodeAddDeprecatedBuiltinCode(builder, min(code, _PLACEHOLDER_FOR_GREATER_OP_CODES))
    tflite.OperatorCodeAddBuiltinCode(builder, code)
    tflite.OperatorCodeAddVersion(builder, version)
    return tflite.OperatorCodeEnd(builder)


def _operator_table(builder: flatbuffers.Builder, graph: Graph, op: Op, opcode_index: int, index_of) -> int:
    inputs = builder.CreateNumpyVector(np.array([index_of[n] if n else -1 for n in op.inputs], np.int32))
    outputs = builder.CreateNumpyVector(np.array([index_of[n] for n in op.outputs], np.int32))
    options_type, options = _options(builder, graph, op)
    tflite.OperatorStart(builder)
    tflite.OperatorAddOpcodeIndex(builder, opcode_index)
    tflite.OperatorAddInputs(builder, inputs)
    tflite.OperatorAddOutputs(builder, outputs)
    if options is not None:
        tflite.OperatorAddBuiltinOptionsType(builder, options_type)
        tflite.OperatorAddBuiltinOptions(builder, options)
    return tflite.OperatorEnd(builder)


def _attr(graph: Graph, op: Op, key: str, default: Any = None) -> Any:
    if key in op.attrs:
        return op.attrs[key]
    if default is None:
        raise GraphError(
            f"graph {graph.name!r}, op {op.name!r} ({op.kind}): attr {key!r} is missing; cannot export"
        )
    return default


def _padding_code(graph: Graph, op: Op) -> int:
    padding = _attr(graph, op, "padding")
    if padding == "EXPLICIT":
        raise GraphError(
            f"graph {graph.name!r}, op {op.name!r} ({op.kind}): EXPLICIT padding (a PAD folded in by the "
            "scheduler) has no .tflite form; export the graph as it was before folding"
        )
    if padding not in _CODE_OF_PADDING:
        raise GraphError(
            f"graph {graph.name!r}, op {op.name!r} ({op.kind}): padding {padding!r} is not SAME or VALID"
        )
    return _CODE_OF_PADDING[padding]


def _activation_code(graph: Graph, op: Op) -> int:
    activation = _attr(graph, op, "activation", "NONE")
    if activation not in _CODE_OF_ACTIVATION:
        raise GraphError(
            f"graph {graph.name!r}, op {op.name!r} ({op.kind}): activation {activation!r} is not one of "
            f"{', '.join(_CODE_OF_ACTIVATION)}"
        )
    return _CODE_OF_ACTIVATION[activation]


def _options(builder: flatbuffers.Builder, graph: Graph, op: Op) -> tuple[int, int | None]:
    """(builtin_options_type, offset of the options table) of one op; (NONE, None) for option-less ops."""
    writer = _OPTION_WRITERS.get(op.kind)
    if writer is not None:
        return writer(builder, graph, op)
    if OP_DEFS[op.kind].fields:
        return _defined_options(builder, graph, op)
    return BuiltinOptions.NONE, None


def _defined_options(builder, graph: Graph, op: Op) -> tuple[int, int]:
    """The options table of an op whose definition lists its fields (harness/ir/opdefs.py)."""
    definition = OP_DEFS[op.kind]
    table = definition.options
    getattr(tflite, f"{table}Start")(builder)
    for field in definition.fields:
        if field.default is None:
            value = _attr(graph, op, field.attr)
        else:
            value = op.attrs.get(field.attr, field.default)
        getattr(tflite, f"{table}Add{field.name}")(builder, field.type(value))
    return getattr(BuiltinOptions, table), getattr(tflite, f"{table}End")(builder)


def _conv_options(builder, graph: Graph, op: Op) -> tuple[int, int]:
    stride_h, stride_w = _attr(graph, op, "stride", (1, 1))
    dilation_h, dilation_w = _attr(graph, op, "dilation", (1, 1))
    padding = _padding_code(graph, op)
    activation = _activation_code(graph, op)
    if op.kind == "CONV_2D":
        tflite.Conv2DOptionsStart(builder)
        tflite.Conv2DOptionsAddPadding(builder, padding)
        tflite.Conv2DOptionsAddStrideW(builder, int(stride_w))
        tflite.Conv2DOptionsAddStrideH(builder, int(stride_h))
        tflite.Conv2DOptionsAddFusedActivationFunction(builder, activation)
        tflite.Conv2DOptionsAddDilationWFactor(builder, int(dilation_w))
        tflite.Conv2DOptionsAddDilationHFactor(builder, int(dilation_h))
        return BuiltinOptions.Conv2DOptions, tflite.Conv2DOptionsEnd(builder)
    tflite.DepthwiseConv2DOptionsStart(builder)
    tflite.DepthwiseConv2DOptionsAddPadding(builder, padding)
    tflite.DepthwiseConv2DOptionsAddStrideW(builder, int(stride_w))
    tflite.DepthwiseConv2DOptionsAddStrideH(builder, int(stride_h))
    tflite.DepthwiseConv2DOptionsAddDepthMultiplier(builder, int(op.attrs.get("depth_multiplier", 1)))
    tflite.DepthwiseConv2DOptionsAddFusedActivationFunction(builder, activation)
    tflite.DepthwiseConv2DOptionsAddDilationWFactor(builder, int(dilation_w))
    tflite.DepthwiseConv2DOptionsAddDilationHFactor(builder, int(dilation_h))
    return BuiltinOptions.DepthwiseConv2DOptions, tflite.DepthwiseConv2DOptionsEnd(builder)


def _pool_options(builder, graph: Graph, op: Op) -> tuple[int, int]:
    stride_h, stride_w = _attr(graph, op, "stride", (1, 1))
    filter_h, filter_w = _attr(graph, op, "filter")
    tflite.Pool2DOptionsStart(builder)
    tflite.Pool2DOptionsAddPadding(builder, _padding_code(graph, op))
    tflite.Pool2DOptionsAddStrideW(builder, int(stride_w))
    tflite.Pool2DOptionsAddStrideH(builder, int(stride_h))
    tflite.Pool2DOptionsAddFilterWidth(builder, int(filter_w))
    tflite.Pool2DOptionsAddFilterHeight(builder, int(filter_h))
    tflite.Pool2DOptionsAddFusedActivationFunction(builder, _activation_code(graph, op))
    return BuiltinOptions.Pool2DOptions, tflite.Pool2DOptionsEnd(builder)


def _fully_connected_options(builder, graph: Graph, op: Op) -> tuple[int, int]:
    tflite.FullyConnectedOptionsStart(builder)
    tflite.FullyConnectedOptionsAddFusedActivationFunction(builder, _activation_code(graph, op))
    tflite.FullyConnectedOptionsAddKeepNumDims(builder, bool(op.attrs.get("keep_dims", False)))
    return BuiltinOptions.FullyConnectedOptions, tflite.FullyConnectedOptionsEnd(builder)


def _add_options(builder, graph: Graph, op: Op) -> tuple[int, int]:
    tflite.AddOptionsStart(builder)
    tflite.AddOptionsAddFusedActivationFunction(builder, _activation_code(graph, op))
    return BuiltinOptions.AddOptions, tflite.AddOptionsEnd(builder)


def _sub_options(builder, graph: Graph, op: Op) -> tuple[int, int]:
    tflite.SubOptionsStart(builder)
    tflite.SubOptionsAddFusedActivationFunction(builder, _activation_code(graph, op))
    return BuiltinOptions.SubOptions, tflite.SubOptionsEnd(builder)


def _strided_slice_options(builder, graph: Graph, op: Op) -> tuple[int, int]:
    tflite.StridedSliceOptionsStart(builder)
    tflite.StridedSliceOptionsAddBeginMask(builder, int(op.attrs.get("begin_mask", 0)))
    tflite.StridedSliceOptionsAddEndMask(builder, int(op.attrs.get("end_mask", 0)))
    tflite.StridedSliceOptionsAddEllipsisMask(builder, int(op.attrs.get("ellipsis_mask", 0)))
    tflite.StridedSliceOptionsAddNewAxisMask(builder, int(op.attrs.get("new_axis_mask", 0)))
    tflite.StridedSliceOptionsAddShrinkAxisMask(builder, int(op.attrs.get("shrink_axis_mask", 0)))
    tflite.StridedSliceOptionsAddOffset(builder, bool(op.attrs.get("offset", False)))
    return BuiltinOptions.StridedSliceOptions, tflite.StridedSliceOptionsEnd(builder)


def _split_options(builder, graph: Graph, op: Op) -> tuple[int, int]:
    parts = int(op.attrs.get("num_splits", len(op.outputs)))
    if op.kind == "SPLIT":
        tflite.SplitOptionsStart(builder)
        tflite.SplitOptionsAddNumSplits(builder, parts)
        return BuiltinOptions.SplitOptions, tflite.SplitOptionsEnd(builder)
    tflite.SplitVOptionsStart(builder)
    tflite.SplitVOptionsAddNumSplits(builder, parts)
    return BuiltinOptions.SplitVOptions, tflite.SplitVOptionsEnd(builder)


def _mul_options(builder, graph: Graph, op: Op) -> tuple[int, int]:
    tflite.MulOptionsStart(builder)
    tflite.MulOptionsAddFusedActivationFunction(builder, _activation_code(graph, op))
    return BuiltinOptions.MulOptions, tflite.MulOptionsEnd(builder)


def _mean_options(builder, graph: Graph, op: Op) -> tuple[int, int]:
    tflite.ReducerOptionsStart(builder)
    tflite.ReducerOptionsAddKeepDims(builder, bool(op.attrs.get("keep_dims", False)))
    return BuiltinOptions.ReducerOptions, tflite.ReducerOptionsEnd(builder)


def _reshape_options(builder, graph: Graph, op: Op) -> tuple[int, int | None]:
    if len(op.inputs) > 1 and op.inputs[1]:
        return BuiltinOptions.NONE, None  # the shape operand says it all
    # Without a shape operand the runtimes read the target shape from the options.
    new_shape = builder.CreateNumpyVector(np.array(graph.tensor(op.outputs[0]).shape, np.int32))
    tflite.ReshapeOptionsStart(builder)
    tflite.ReshapeOptionsAddNewShape(builder, new_shape)
    return BuiltinOptions.ReshapeOptions, tflite.ReshapeOptionsEnd(builder)


def _concatenation_options(builder, graph: Graph, op: Op) -> tuple[int, int]:
    if _activation_code(graph, op) != _CODE_OF_ACTIVATION["NONE"]:
        # TFLite's int8 kernels ignore it, so the runtimes and patchbench's kernels would disagree.
        raise GraphError(
            f"graph {graph.name!r}, op {op.name!r}: a fused activation on CONCATENATION cannot be exported"
        )
    tflite.ConcatenationOptionsStart(builder)
    tflite.ConcatenationOptionsAddAxis(builder, int(_attr(graph, op, "axis")))
    return BuiltinOptions.ConcatenationOptions, tflite.ConcatenationOptionsEnd(builder)


def _transpose_conv_options(builder, graph: Graph, op: Op) -> tuple[int, int]:
    stride_h, stride_w = _attr(graph, op, "stride", (1, 1))
    tflite.TransposeConvOptionsStart(builder)
    tflite.TransposeConvOptionsAddPadding(builder, _padding_code(graph, op))
    tflite.TransposeConvOptionsAddStrideW(builder, int(stride_w))
    tflite.TransposeConvOptionsAddStrideH(builder, int(stride_h))
    tflite.TransposeConvOptionsAddFusedActivationFunction(builder, _activation_code(graph, op))
    return BuiltinOptions.TransposeConvOptions, tflite.TransposeConvOptionsEnd(builder)


_OPTION_WRITERS: dict[str, Callable[[flatbuffers.Builder, Graph, Op], tuple[int, int | None]]] = {
    "CONV_2D": _conv_options,
    "DEPTHWISE_CONV_2D": _conv_options,
    "AVERAGE_POOL_2D": _pool_options,
    "MAX_POOL_2D": _pool_options,
    "FULLY_CONNECTED": _fully_connected_options,
    "ADD": _add_options,
    "SUB": _sub_options,
    "MUL": _mul_options,
    "STRIDED_SLICE": _strided_slice_options,
    "SPLIT": _split_options,
    "SPLIT_V": _split_options,
    "MEAN": _mean_options,
    "RESHAPE": _reshape_options,
    "CONCATENATION": _concatenation_options,
    "TRANSPOSE_CONV": _transpose_conv_options,
}

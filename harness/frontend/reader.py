# SPDX-License-Identifier: Apache-2.0
"""Reads a .tflite flatbuffer into plain records; a corrupt file fails here, as "malformed"."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import tflite
from tflite.utils import BUILTIN_OPCODE2NAME

from harness.frontend.canonicalize import SOURCE_ONLY_KINDS
from harness.frontend.schema import _CUSTOM_CODE, _POOL_OPS, TFLiteImportError
from harness.ir.graph import OP_KINDS
from harness.ir.opdefs import OP_DEFS

# --- the raw flatbuffer, read into plain records --------------------------------------------------


@dataclass
class _RawTensor:
    index: int
    name: str
    shape: tuple[int, ...]
    type_code: int
    data: bytes | None  # None: no buffer data (an activation)
    scale: np.ndarray | None
    zero_point: np.ndarray | None
    quantized_dimension: int
    is_variable: bool
    sparse: bool


@dataclass
class _RawOp:
    index: int
    kind: str  # the builtin operator's name, or the custom code for CUSTOM ops
    inputs: list[int]
    outputs: list[int]
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class _RawModel:
    version: int
    subgraph_count: int
    tensors: list[_RawTensor]
    ops: list[_RawOp]
    inputs: list[int]
    outputs: list[int]


def _read_model(data: bytes, where: str) -> _RawModel:
    model = tflite.Model.GetRootAs(data, 0)
    subgraph_count = _length(model.SubgraphsLength(), 4, data, "subgraphs", where)
    if subgraph_count != 1:
        return _RawModel(model.Version(), subgraph_count, [], [], [], [])
    buffer_count = _length(model.BuffersLength(), 4, data, "buffers", where)
    kinds = []
    for i in range(_length(model.OperatorCodesLength(), 4, data, "operator_codes", where)):
        opcode = model.OperatorCodes(i)
        # deprecated_builtin_code is an int8 capped at 127; builtin_code holds the real code in newer files.
        code = max(opcode.DeprecatedBuiltinCode(), opcode.BuiltinCode())
        if code == _CUSTOM_CODE:
            kinds.append(f"CUSTOM ({(opcode.CustomCode() or b'').decode(errors='replace')})")
        else:
            kinds.append(BUILTIN_OPCODE2NAME.get(code, f"unknown builtin operator {code}"))

    subgraph = model.Subgraphs(0)
    tensors = []
    for i in range(_length(subgraph.TensorsLength(), 4, data, "tensors", where)):
        tensors.append(_read_tensor(model, subgraph.Tensors(i), i, buffer_count, data, where))
    ops = []
    for i in range(_length(subgraph.OperatorsLength(), 4, data, "operators", where)):
        operator = subgraph.Operators(i)
        opcode_index = operator.OpcodeIndex()
        if not 0 <= opcode_index < len(kinds):
            raise TFLiteImportError(
                f"{where}: op {i} has opcode_index {opcode_index}; the model has {len(kinds)}"
            )
        kind = kinds[opcode_index]
        ops.append(
            _RawOp(
                index=i,
                kind=kind,
                inputs=_int_vector(operator.InputsAsNumpy, operator.InputsIsNone),
                outputs=_int_vector(operator.OutputsAsNumpy, operator.OutputsIsNone),
                options=_read_options(kind, operator) if kind in OP_KINDS + SOURCE_ONLY_KINDS else {},
            )
        )
    return _RawModel(
        version=model.Version(),
        subgraph_count=1,
        tensors=tensors,
        ops=ops,
        inputs=_int_vector(subgraph.InputsAsNumpy, subgraph.InputsIsNone),
        outputs=_int_vector(subgraph.OutputsAsNumpy, subgraph.OutputsIsNone),
    )


def _length(length: int, element_size: int, data: bytes, field_name: str, where: str) -> int:
    """A vector length from the file, refused when it could not fit in the file (garbage offsets)."""
    if length < 0 or length * element_size > len(data):
        raise TFLiteImportError(
            f"{where}: malformed TFLite flatbuffer: field {field_name} claims {length} entries in a "
            f"{len(data)}-byte file"
        )
    return length


def _int_vector(as_numpy, is_none) -> list[int]:
    if is_none():
        return []
    return [int(v) for v in as_numpy()]


def _read_tensor(model, tensor, index: int, buffer_count: int, data: bytes, where: str) -> _RawTensor:
    buffer_index = tensor.Buffer()
    if not 0 <= buffer_index < buffer_count:
        raise TFLiteImportError(
            f"{where}: tensor {index} refers to buffer {buffer_index}; the model has {buffer_count}"
        )
    payload = None
    if buffer_index:
        buffer = model.Buffers(buffer_index)
        if buffer.Offset() > 1:
            # Large models keep buffer data after the flatbuffer, addressed by offset and size.
            start, size = buffer.Offset(), buffer.Size()
            if start + size > len(data):
                raise TFLiteImportError(
                    f"{where}: buffer {buffer_index} (tensor {index}) lies past the end of the file; "
                    "the file is truncated"
                )
            payload = data[start : start + size]
        elif not buffer.DataIsNone() and buffer.DataLength():
            payload = buffer.DataAsNumpy().tobytes()
    quantization = tensor.Quantization()
    scale = zero_point = None
    dimension = 0
    if quantization is not None and not quantization.ScaleIsNone() and quantization.ScaleLength():
        scale = quantization.ScaleAsNumpy().astype(np.float32)
        zero_point = (
            np.zeros(scale.shape, np.int64)
            if quantization.ZeroPointIsNone()
            else quantization.ZeroPointAsNumpy().astype(np.int64)
        )
        dimension = quantization.QuantizedDimension()
    return _RawTensor(
        index=index,
        name=(tensor.Name() or b"").decode(errors="replace"),
        shape=tuple(_int_vector(tensor.ShapeAsNumpy, tensor.ShapeIsNone)),
        type_code=tensor.Type(),
        data=payload,
        scale=scale,
        zero_point=zero_point,
        quantized_dimension=dimension,
        is_variable=bool(tensor.IsVariable()),
        sparse=tensor.Sparsity() is not None,
    )


def _options_table(operator, options_class):
    table = operator.BuiltinOptions()
    if table is None:
        return None
    options = options_class()
    options.Init(table.Bytes, table.Pos)
    return options


def _read_options(kind: str, operator) -> dict[str, Any]:
    """The op's builtin options as plain values (raw codes; _op_attrs turns them into attrs)."""
    if kind in ("CONV_2D", "DEPTHWISE_CONV_2D"):
        cls = tflite.Conv2DOptions if kind == "CONV_2D" else tflite.DepthwiseConv2DOptions
        o = _options_table(operator, cls)
        if o is None:
            return {"missing": True}
        options = {
            "padding": o.Padding(),
            "stride": (o.StrideH(), o.StrideW()),
            "dilation": (o.DilationHFactor(), o.DilationWFactor()),
            "activation": o.FusedActivationFunction(),
        }
        if kind == "DEPTHWISE_CONV_2D":
            options["depth_multiplier"] = o.DepthMultiplier()
        return options
    if kind in _POOL_OPS:
        o = _options_table(operator, tflite.Pool2DOptions)
        if o is None:
            return {"missing": True}
        return {
            "padding": o.Padding(),
            "stride": (o.StrideH(), o.StrideW()),
            "filter": (o.FilterHeight(), o.FilterWidth()),
            "activation": o.FusedActivationFunction(),
        }
    if kind == "FULLY_CONNECTED":
        o = _options_table(operator, tflite.FullyConnectedOptions)
        if o is None:
            return {"activation": 0, "keep_dims": False, "weights_format": 0}
        return {
            "activation": o.FusedActivationFunction(),
            "keep_dims": bool(o.KeepNumDims()),
            "weights_format": o.WeightsFormat(),
        }
    if kind in ("ADD", "SUB", "MUL"):
        cls = {"ADD": tflite.AddOptions, "SUB": tflite.SubOptions, "MUL": tflite.MulOptions}[kind]
        o = _options_table(operator, cls)
        return {"activation": 0 if o is None else o.FusedActivationFunction()}
    if kind in ("SPLIT", "SPLIT_V"):
        o = _options_table(operator, tflite.SplitOptions if kind == "SPLIT" else tflite.SplitVOptions)
        return {} if o is None else {"num_splits": o.NumSplits()}
    if kind == "MEAN":
        o = _options_table(operator, tflite.ReducerOptions)
        return {"keep_dims": False if o is None else bool(o.KeepDims())}
    if kind == "CONCATENATION":
        o = _options_table(operator, tflite.ConcatenationOptions)
        if o is None:
            return {"missing": True}
        return {"axis": o.Axis(), "activation": o.FusedActivationFunction()}
    if kind == "STRIDED_SLICE":
        o = _options_table(operator, tflite.StridedSliceOptions)
        if o is None:
            return {}
        return {
            "begin_mask": o.BeginMask(),
            "end_mask": o.EndMask(),
            "ellipsis_mask": o.EllipsisMask(),
            "new_axis_mask": o.NewAxisMask(),
            "shrink_axis_mask": o.ShrinkAxisMask(),
            "offset": bool(o.Offset()),
        }
    if kind == "PACK":
        o = _options_table(operator, tflite.PackOptions)
        return {"axis": 0 if o is None else o.Axis()}
    if kind == "GATHER":
        o = _options_table(operator, tflite.GatherOptions)
        return {"axis": 0, "batch_dims": 0} if o is None else {"axis": o.Axis(), "batch_dims": o.BatchDims()}
    if kind == "SQUEEZE":
        o = _options_table(operator, tflite.SqueezeOptions)
        if o is None or o.SqueezeDimsIsNone():
            return {"squeeze_dims": ()}
        return {"squeeze_dims": tuple(int(d) for d in o.SqueezeDimsAsNumpy())}
    if kind == "TRANSPOSE_CONV":
        o = _options_table(operator, tflite.TransposeConvOptions)
        if o is None:
            return {"missing": True}
        return {
            "padding": o.Padding(),
            "stride": (o.StrideH(), o.StrideW()),
            "activation": o.FusedActivationFunction(),
        }
    if kind == "RESHAPE":
        o = _options_table(operator, tflite.ReshapeOptions)
        if o is None or o.NewShapeIsNone():
            return {}
        return {"new_shape": tuple(int(d) for d in o.NewShapeAsNumpy())}
    if kind in OP_DEFS and OP_DEFS[kind].fields:
        return _defined_options(kind, operator)
    return {}


def _defined_options(kind: str, operator) -> dict[str, Any]:
    """The options of an op whose definition lists its fields (harness/ir/opdefs.py), by attribute name;
    an absent table gives the defaults, or ``missing`` when a field has none."""
    definition = OP_DEFS[kind]
    o = _options_table(operator, getattr(tflite, definition.options))
    if o is None:
        if any(field.default is None for field in definition.fields):
            return {"missing": True}
        return {field.attr: field.default for field in definition.fields}
    return {field.attr: field.type(getattr(o, field.name)()) for field in definition.fields}

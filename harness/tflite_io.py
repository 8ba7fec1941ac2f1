"""TFLite flatbuffers <-> the int8 Graph IR.

Import reads a ``.tflite`` file with the generated reader classes of the ``tflite`` package. That
package is a runtime dependency of patchbench (pyproject ``dependencies``) and also carries the
generated *builder* functions that export needs, whereas ai-edge-litert is a dev-only, platform-specific
binary wheel; so both directions use one schema and one package.

The importer accepts one subgraph of the ops in ``graph.OP_KINDS`` with int8 activations, and rejects
anything else with a ``TFLiteImportError`` that names the op or tensor, its index, and what is supported.
It reads the whole flatbuffer into plain records first (``_read_model``), so that a corrupt file fails
there, as "malformed", and never deep inside the semantic checks.

Imported graphs keep ``Graph.source_tensor_index`` (tensor name -> tensor index in the file), so a test
can compare any intermediate tensor with LiteRT's ``interpreter.get_tensor(index)``.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import flatbuffers
import numpy as np
import tflite
from tflite.BuiltinOptions import BuiltinOptions
from tflite.TensorType import TensorType
from tflite.utils import BUILTIN_OPCODE2NAME

from harness import quant, shapes
from harness.graph import OP_KINDS, Graph, GraphError, Op, QParams, Tensor, validate

__all__ = ["TFLiteImportError", "load_tflite", "graph_from_bytes", "save_tflite", "graph_to_bytes"]

FILE_IDENTIFIER = b"TFL3"
SCHEMA_VERSION = 3


class TFLiteImportError(ValueError):
    """A .tflite file patchbench cannot import; the message names the op/tensor/field and its index."""


_DTYPE_OF_TYPE = {
    TensorType.FLOAT32: "float32",
    TensorType.INT32: "int32",
    TensorType.INT8: "int8",
    TensorType.INT16: "int16",
}
_TYPE_OF_DTYPE = {dtype: code for code, dtype in _DTYPE_OF_TYPE.items()}
_TYPE_NAMES = {v: k for k, v in vars(TensorType).items() if not k.startswith("_") and isinstance(v, int)}

_ACTIVATION_OF_CODE = {0: "NONE", 1: "RELU", 2: "RELU_N1_TO_1", 3: "RELU6"}
_CODE_OF_ACTIVATION = {name: code for code, name in _ACTIVATION_OF_CODE.items()}
_ACTIVATION_NAMES = {4: "TANH", 5: "SIGN_BIT"}
_PADDING_OF_CODE = {0: "SAME", 1: "VALID"}
_CODE_OF_PADDING = {name: code for code, name in _PADDING_OF_CODE.items()}

_CODE_OF_KIND = {name: code for code, name in BUILTIN_OPCODE2NAME.items() if name in OP_KINDS}
_CUSTOM_CODE = 32

# Ops with a fused activation (TFLite applies it as an int8 clamp in the output's quantization).
_FUSED_ACTIVATION_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "ADD", "MUL")
_POOL_OPS = ("AVERAGE_POOL_2D", "MAX_POOL_2D")
# (min, max) number of inputs per op kind; None = any number >= min.
_INPUT_COUNTS: dict[str, tuple[int, int | None]] = {
    "CONV_2D": (3, 3),
    "DEPTHWISE_CONV_2D": (3, 3),
    "FULLY_CONNECTED": (2, 3),
    "ADD": (2, 2),
    "MUL": (2, 2),
    "AVERAGE_POOL_2D": (1, 1),
    "MAX_POOL_2D": (1, 1),
    "MEAN": (2, 2),
    "PAD": (2, 2),
    "RESHAPE": (1, 2),
    "TRANSPOSE": (2, 2),
    "CONCATENATION": (1, None),
    "RESIZE_NEAREST_NEIGHBOR": (2, 2),
    "SOFTMAX": (1, 1),
    "QUANTIZE": (1, 1),
    "DEQUANTIZE": (1, 1),
}
# Inputs that must be constants, by position: (position, role, dtype).
_CONST_INPUTS: dict[str, tuple[tuple[int, str, str], ...]] = {
    "CONV_2D": ((1, "filter", "int8"), (2, "bias", "int32")),
    "DEPTHWISE_CONV_2D": ((1, "filter", "int8"), (2, "bias", "int32")),
    "FULLY_CONNECTED": ((1, "weights", "int8"), (2, "bias", "int32")),
    "MEAN": ((1, "axes", "int32"),),
    "PAD": ((1, "paddings", "int32"),),
    "RESHAPE": ((1, "shape", "int32"),),
    "TRANSPOSE": ((1, "perm", "int32"),),
    "RESIZE_NEAREST_NEIGHBOR": ((1, "size", "int32"),),
}


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


def load_tflite(path: str | Path, name: str | None = None) -> Graph:
    """Import a .tflite file as a Graph named ``name`` (default: the file's stem)."""
    path = Path(path)
    if not path.is_file():
        raise TFLiteImportError(
            f"{path}: no such .tflite file (check the path; MLPerf models: paths.MLPERF_DIR)"
        )
    try:
        data = path.read_bytes()
    except OSError as err:
        raise TFLiteImportError(f"{path}: cannot read the .tflite file ({err})") from err
    return graph_from_bytes(data, name or path.stem)


def graph_from_bytes(data: bytes, name: str) -> Graph:
    """Import a TFLite flatbuffer held in memory as a Graph named ``name``."""
    data = bytes(data)
    where = f"model {name!r}"
    if len(data) < 8 or data[4:8] != FILE_IDENTIFIER:
        raise TFLiteImportError(
            f"{where}: not a TFLite flatbuffer (no {FILE_IDENTIFIER.decode()!r} identifier at bytes 4..8; "
            f"{len(data)} bytes); pass a .tflite model file"
        )
    try:
        raw = _read_model(data, where)
    except TFLiteImportError:
        raise
    except (struct.error, ValueError, IndexError, TypeError, UnicodeDecodeError, OverflowError) as err:
        # The generated reader trusts every offset; a corrupt or truncated file fails in it like this.
        raise TFLiteImportError(
            f"{where}: malformed or truncated TFLite flatbuffer ({type(err).__name__}: {err}); "
            "re-export or re-download the .tflite file"
        ) from err
    graph = _graph_from_raw(raw, name)
    try:
        validate(graph)
        shapes.check_shapes(graph)
    except GraphError as err:
        raise TFLiteImportError(str(err)) from err
    return graph


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
                options=_read_options(kind, operator) if kind in OP_KINDS else {},
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
    if kind in ("ADD", "MUL"):
        o = _options_table(operator, tflite.AddOptions if kind == "ADD" else tflite.MulOptions)
        return {"activation": 0 if o is None else o.FusedActivationFunction()}
    if kind == "MEAN":
        o = _options_table(operator, tflite.ReducerOptions)
        return {"keep_dims": False if o is None else bool(o.KeepDims())}
    if kind == "CONCATENATION":
        o = _options_table(operator, tflite.ConcatenationOptions)
        if o is None:
            return {"missing": True}
        return {"axis": o.Axis(), "activation": o.FusedActivationFunction()}
    if kind == "SOFTMAX":
        o = _options_table(operator, tflite.SoftmaxOptions)
        return {"beta": 1.0 if o is None else float(o.Beta())}
    if kind == "RESIZE_NEAREST_NEIGHBOR":
        o = _options_table(operator, tflite.ResizeNearestNeighborOptions)
        if o is None:
            return {"align_corners": False, "half_pixel_centers": False}
        return {"align_corners": bool(o.AlignCorners()), "half_pixel_centers": bool(o.HalfPixelCenters())}
    if kind == "RESHAPE":
        o = _options_table(operator, tflite.ReshapeOptions)
        if o is None or o.NewShapeIsNone():
            return {}
        return {"new_shape": tuple(int(d) for d in o.NewShapeAsNumpy())}
    return {}


# --- plain records -> Graph -------------------------------------------------------------------------


def _graph_from_raw(raw: _RawModel, name: str) -> Graph:
    where = f"model {name!r}"
    if raw.subgraph_count != 1:
        raise TFLiteImportError(
            f"{where}: has {raw.subgraph_count} subgraphs; patchbench supports exactly one "
            "(no control flow, no multi-signature models)"
        )
    supported = ", ".join(OP_KINDS)
    for op in raw.ops:
        if op.kind not in OP_KINDS:
            raise TFLiteImportError(f"{where}: op {op.index} is {op.kind}; supported: {supported}")
    count = len(raw.tensors)
    for position, index in enumerate(raw.inputs + raw.outputs):
        if not 0 <= index < count:
            kind = "input" if position < len(raw.inputs) else "output"
            raise TFLiteImportError(
                f"{where}: subgraph {kind} tensor index {index} is out of range ({count} tensors)"
            )
    for op in raw.ops:
        for index in op.inputs + op.outputs:
            if index != -1 and not 0 <= index < count:
                raise TFLiteImportError(
                    f"{where}: op {op.index} ({op.kind}) refers to tensor {index}; the model has {count}"
                )

    used = sorted(
        set(raw.inputs) | set(raw.outputs) | {i for op in raw.ops for i in op.inputs + op.outputs if i != -1}
    )
    names = _unique_names(raw.tensors, used)
    tensors = {names[i]: _tensor(raw.tensors[i], names[i], where) for i in used}
    graph_inputs = [names[i] for i in raw.inputs]
    graph_outputs = [names[i] for i in raw.outputs]

    ops = []
    for op in raw.ops:
        kind = op.kind
        op_where = f"{where}: op {op.index} ({kind})"
        low, high = _INPUT_COUNTS[kind]
        if len(op.inputs) < low or (high is not None and len(op.inputs) > high):
            wanted = f"{low}" if low == high else f"{low}..{high if high is not None else 'n'}"
            raise TFLiteImportError(f"{op_where}: has {len(op.inputs)} inputs; {kind} takes {wanted}")
        if len(op.outputs) != 1:
            raise TFLiteImportError(f"{op_where}: has {len(op.outputs)} outputs; patchbench ops have one")
        inputs = [names[i] if i != -1 else "" for i in op.inputs]
        outputs = [names[i] for i in op.outputs]
        _check_operands(kind, op, inputs, outputs, tensors, graph_inputs, graph_outputs, op_where)
        attrs = _op_attrs(kind, op.options, tensors[outputs[0]], op_where)
        if kind == "DEPTHWISE_CONV_2D":
            attrs["depth_multiplier"] = _depth_multiplier(tensors[inputs[0]], tensors[inputs[1]], op_where)
        ops.append(Op(kind, f"op{op.index:02d}_{kind.lower()}", inputs, outputs, attrs))

    return Graph(
        name=name,
        tensors=tensors,
        ops=ops,
        inputs=graph_inputs,
        outputs=graph_outputs,
        source_tensor_index={names[i]: i for i in used},
    )


def _unique_names(raw_tensors: list[_RawTensor], used: list[int]) -> dict[int, str]:
    """The file's tensor names where they are non-empty and unique, else name#index (stable per file)."""
    counts: dict[str, int] = {}
    for i in used:
        counts[raw_tensors[i].name] = counts.get(raw_tensors[i].name, 0) + 1
    names: dict[int, str] = {}
    taken: set[str] = {n for n, c in counts.items() if c == 1 and n}
    for i in used:
        original = raw_tensors[i].name
        if original and counts[original] == 1:
            names[i] = original
            continue
        candidate = f"{original or 'tensor'}#{i}"
        while candidate in taken:
            candidate += "_"
        taken.add(candidate)
        names[i] = candidate
    return names


def _tensor(raw: _RawTensor, name: str, where: str) -> Tensor:
    tensor_where = f"{where}: tensor {raw.index} {raw.name!r}"
    if raw.type_code not in _DTYPE_OF_TYPE:
        type_name = _TYPE_NAMES.get(raw.type_code, str(raw.type_code))
        raise TFLiteImportError(
            f"{tensor_where} has type {type_name}; supported tensor types: {', '.join(_DTYPE_OF_TYPE.values())}"
        )
    if raw.is_variable:
        raise TFLiteImportError(
            f"{tensor_where} is a variable tensor; patchbench supports stateless models only"
        )
    if raw.sparse:
        raise TFLiteImportError(f"{tensor_where} is sparse; patchbench supports dense tensors only")
    if any(d < 0 for d in raw.shape):
        raise TFLiteImportError(
            f"{tensor_where} has shape {list(raw.shape)}; negative dims are not supported"
        )
    dtype = _DTYPE_OF_TYPE[raw.type_code]
    shape = tuple(int(d) for d in raw.shape)
    qparams = None
    if raw.scale is not None:
        if raw.zero_point.shape != raw.scale.shape:
            raise TFLiteImportError(
                f"{tensor_where}: quantization has {raw.scale.size} scales but {raw.zero_point.size} zero points"
            )
        axis = raw.quantized_dimension
        if raw.scale.size > 1 and (not 0 <= axis < len(shape) or shape[axis] != raw.scale.size):
            raise TFLiteImportError(
                f"{tensor_where}: {raw.scale.size} per-channel scales along quantized_dimension {axis} do "
                f"not match shape {shape}"
            )
        qparams = QParams(raw.scale.copy(), raw.zero_point.copy(), axis if raw.scale.size > 1 else 0)
    values = None
    if raw.data is not None:
        itemsize = np.dtype(dtype).itemsize
        needed = int(np.prod(shape, dtype=np.int64)) * itemsize
        if len(raw.data) != needed:
            raise TFLiteImportError(
                f"{tensor_where}: its buffer holds {len(raw.data)} bytes but shape {shape} of {dtype} needs {needed}"
            )
        values = np.frombuffer(raw.data, np.dtype(dtype).newbyteorder("<")).astype(dtype).reshape(shape)
    return Tensor(name, shape, dtype, qparams, values)


def _check_operands(
    kind, op: _RawOp, inputs, outputs, tensors, graph_inputs, graph_outputs, op_where
) -> None:
    """int8 activations with per-tensor quantization; constant weights of the right type; float only
    at a QUANTIZE of a graph input or a DEQUANTIZE into a graph output."""
    for position, role, dtype in _CONST_INPUTS.get(kind, ()):
        if position >= len(inputs) or not inputs[position]:
            if kind == "FULLY_CONNECTED" and role == "bias" or kind == "RESHAPE":
                continue
            raise TFLiteImportError(f"{op_where}: has no {role} (input {position}); {kind} needs one")
        tensor = tensors[inputs[position]]
        index = op.inputs[position]
        if not tensor.is_const:
            raise TFLiteImportError(
                f"{op_where}: {role} (tensor {index} {tensor.name!r}) is not a constant; patchbench needs "
                "constant weights and shape operands"
            )
        if tensor.dtype == "float32":
            raise TFLiteImportError(
                f"{op_where}: {role} (tensor {index} {tensor.name!r}) is float32; patchbench runs int8-quantized "
                "models only: convert with full-integer quantization (int8 weights and activations)"
            )
        if tensor.dtype != dtype:
            raise TFLiteImportError(
                f"{op_where}: {role} (tensor {index} {tensor.name!r}) is {tensor.dtype}; it must be {dtype}"
            )
        if role in ("filter", "weights", "bias") and tensor.quant is None:
            raise TFLiteImportError(
                f"{op_where}: {role} (tensor {index} {tensor.name!r}) has no quantization"
            )

    activations = [(p, n, op.inputs[p]) for p, n in enumerate(inputs) if n and not tensors[n].is_const]
    activations += [(f"out{p}", n, op.outputs[p]) for p, n in enumerate(outputs)]
    if kind == "QUANTIZE":
        source, target = tensors[inputs[0]], tensors[outputs[0]]
        if source.dtype != "float32" or inputs[0] not in graph_inputs or target.dtype != "int8":
            raise TFLiteImportError(
                f"{op_where}: QUANTIZE is supported only from a float32 graph input to int8 "
                f"(here {source.dtype} -> {target.dtype})"
            )
        activations = activations[1:]
    elif kind == "DEQUANTIZE":
        source, target = tensors[inputs[0]], tensors[outputs[0]]
        if source.dtype != "int8" or outputs[0] not in graph_outputs or target.dtype != "float32":
            raise TFLiteImportError(
                f"{op_where}: DEQUANTIZE is supported only from int8 to a float32 graph output "
                f"(here {source.dtype} -> {target.dtype})"
            )
        activations = activations[:-1]
    for _, name, index in activations:
        tensor = tensors[name]
        if tensor.dtype == "float32":
            raise TFLiteImportError(
                f"{op_where}: computes in float32 (tensor {index} {name!r}); patchbench runs int8-quantized "
                "models only: convert with full-integer quantization (int8 weights and activations)"
            )
        if tensor.dtype != "int8":
            raise TFLiteImportError(
                f"{op_where}: activation tensor {index} {name!r} is {tensor.dtype}; activations must be int8"
            )
        if tensor.quant is None or tensor.quant.per_channel:
            raise TFLiteImportError(
                f"{op_where}: activation tensor {index} {name!r} needs per-tensor quantization (one scale "
                "and zero point)"
            )


def _activation(code: int, op_where: str) -> str:
    if code not in _ACTIVATION_OF_CODE:
        name = _ACTIVATION_NAMES.get(code, str(code))
        raise TFLiteImportError(
            f"{op_where}: fused activation {name} is not supported; supported: {', '.join(_CODE_OF_ACTIVATION)}"
        )
    return _ACTIVATION_OF_CODE[code]


def _op_attrs(kind: str, options: dict[str, Any], output: Tensor, op_where: str) -> dict[str, Any]:
    if options.get("missing"):
        raise TFLiteImportError(f"{op_where}: has no builtin options; {kind} needs them")
    attrs: dict[str, Any] = {}
    if "padding" in options:
        if options["padding"] not in _PADDING_OF_CODE:
            raise TFLiteImportError(
                f"{op_where}: padding code {options['padding']} is not SAME (0) or VALID (1)"
            )
        attrs["padding"] = _PADDING_OF_CODE[options["padding"]]
        attrs["stride"] = tuple(int(s) for s in options["stride"])
        if min(attrs["stride"]) < 1:
            raise TFLiteImportError(f"{op_where}: stride {attrs['stride']} must be positive")
    if "dilation" in options:
        attrs["dilation"] = tuple(int(d) for d in options["dilation"])
        if min(attrs["dilation"]) < 1:
            raise TFLiteImportError(f"{op_where}: dilation {attrs['dilation']} must be positive")
    if "filter" in options:
        attrs["filter"] = tuple(int(f) for f in options["filter"])
        if min(attrs["filter"]) < 1:
            raise TFLiteImportError(f"{op_where}: pool filter {attrs['filter']} must be positive")
    if kind == "FULLY_CONNECTED" and options["weights_format"] != 0:
        raise TFLiteImportError(
            f"{op_where}: weights_format {options['weights_format']} is not supported; only DEFAULT"
        )
    if kind in ("FULLY_CONNECTED", "MEAN"):
        attrs["keep_dims"] = bool(options["keep_dims"])
    if kind == "CONCATENATION":
        attrs["axis"] = int(options["axis"])
        if options["activation"] != 0:
            # TFLite's int8 concatenation ignores a fused activation; refuse rather than guess.
            raise TFLiteImportError(f"{op_where}: a fused activation on CONCATENATION is not supported")
    if kind == "SOFTMAX":
        attrs["beta"] = float(options["beta"])
    if kind == "RESIZE_NEAREST_NEIGHBOR":
        attrs["align_corners"] = bool(options["align_corners"])
        attrs["half_pixel_centers"] = bool(options["half_pixel_centers"])
    if kind in _FUSED_ACTIVATION_OPS or kind in _POOL_OPS:
        activation = _activation(options["activation"], op_where)
        attrs["activation"] = activation
        attrs["act_min"], attrs["act_max"] = quant.activation_range(
            activation, output.scale, output.zero_point
        )
    return attrs


def _depth_multiplier(source: Tensor, weights: Tensor, op_where: str) -> int:
    # TFLite derives the multiplier from the shapes (the option is unreliable in old files).
    in_channels, out_channels = source.shape[-1], weights.shape[-1]
    if in_channels and out_channels % in_channels == 0 and out_channels // in_channels != 1:
        raise TFLiteImportError(
            f"{op_where}: depth multiplier {out_channels // in_channels} ({in_channels} -> {out_channels} "
            "channels) is not supported; only 1 is"
        )
    return 1


# --- Graph -> flatbuffer ----------------------------------------------------------------------------

# The operator version the TFLite converter writes for int8 ops (op_version.cc); the runtimes pick the
# kernel registration by it.
_INT8_OP_VERSIONS = {
    "CONV_2D": 3,
    "DEPTHWISE_CONV_2D": 3,
    "FULLY_CONNECTED": 4,
    "ADD": 2,
    "MUL": 2,
    "AVERAGE_POOL_2D": 2,
    "MAX_POOL_2D": 2,
    "MEAN": 2,
    "PAD": 2,
    "RESHAPE": 1,
    "TRANSPOSE": 2,
    "CONCATENATION": 2,
    "RESIZE_NEAREST_NEIGHBOR": 2,
    "SOFTMAX": 2,
    "QUANTIZE": 1,
    "DEQUANTIZE": 2,
}
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
            "cannot represent exactly; quantize them first (harness.quant)"
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
    if kind == "RESIZE_NEAREST_NEIGHBOR" and any(
        op.attrs.get("half_pixel_centers") for op in graph.ops if op.kind == kind
    ):
        version = 3
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
    if writer is None:
        return BuiltinOptions.NONE, None
    return writer(builder, graph, op)


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


def _softmax_options(builder, graph: Graph, op: Op) -> tuple[int, int]:
    tflite.SoftmaxOptionsStart(builder)
    tflite.SoftmaxOptionsAddBeta(builder, float(op.attrs.get("beta", 1.0)))
    return BuiltinOptions.SoftmaxOptions, tflite.SoftmaxOptionsEnd(builder)


def _resize_nearest_neighbor_options(builder, graph: Graph, op: Op) -> tuple[int, int]:
    tflite.ResizeNearestNeighborOptionsStart(builder)
    tflite.ResizeNearestNeighborOptionsAddAlignCorners(builder, bool(op.attrs.get("align_corners", False)))
    tflite.ResizeNearestNeighborOptionsAddHalfPixelCenters(
        builder, bool(op.attrs.get("half_pixel_centers", False))
    )
    return BuiltinOptions.ResizeNearestNeighborOptions, tflite.ResizeNearestNeighborOptionsEnd(builder)


_OPTION_WRITERS: dict[str, Callable[[flatbuffers.Builder, Graph, Op], tuple[int, int | None]]] = {
    "CONV_2D": _conv_options,
    "DEPTHWISE_CONV_2D": _conv_options,
    "AVERAGE_POOL_2D": _pool_options,
    "MAX_POOL_2D": _pool_options,
    "FULLY_CONNECTED": _fully_connected_options,
    "ADD": _add_options,
    "MUL": _mul_options,
    "MEAN": _mean_options,
    "RESHAPE": _reshape_options,
    "CONCATENATION": _concatenation_options,
    "SOFTMAX": _softmax_options,
    "RESIZE_NEAREST_NEIGHBOR": _resize_nearest_neighbor_options,
}

# SPDX-License-Identifier: Apache-2.0
"""TFLite flatbuffer -> the int8 Graph IR: ``load_tflite`` and ``graph_from_bytes`` (see harness/frontend)."""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness.frontend.canonicalize import SOURCE_ONLY_KINDS, Rewrite, canonicalize
from harness.frontend.reader import _RawModel, _RawTensor, _read_model
from harness.frontend.schema import (
    _ACTIVATION_NAMES,
    _ACTIVATION_OF_CODE,
    _CODE_OF_ACTIVATION,
    _CONST_INPUTS,
    _DTYPE_OF_TYPE,
    _FUSED_ACTIVATION_OPS,
    _INPUT_COUNTS,
    _PADDING_OF_CODE,
    _POOL_OPS,
    _TYPE_NAMES,
    FILE_IDENTIFIER,
    TFLiteImportError,
)
from harness.ir import quant, shapes
from harness.ir.graph import (
    MULTI_OUTPUT_KINDS,
    OP_KINDS,
    Graph,
    GraphError,
    Op,
    QParams,
    Tensor,
    check_tensor_size,
    validate,
)
from harness.ir.opdefs import OP_DEFS


def load_tflite(path: str | Path, name: str | None = None) -> Graph:
    """Import a .tflite file as a Graph named ``name`` (default: the file's stem)."""
    return import_tflite(path, name).graph


def import_tflite(path: str | Path, name: str | None = None) -> ImportResult:
    """Import a .tflite file: the Graph and the canonicalization rewrites that made it."""
    path = Path(path)
    if not path.is_file():
        raise TFLiteImportError(
            f"{path}: no such .tflite file (check the path; MLPerf models: paths.MLPERF_DIR)"
        )
    try:
        with path.open("rb") as file:  # the identifier first: a huge file of another kind is not read whole
            head = file.read(8)
            size = path.stat().st_size
            if len(head) < 8 or head[4:8] != FILE_IDENTIFIER:
                raise TFLiteImportError(_not_tflite(f"model {name or path.stem!r} ({path})", head, size))
            if size > MAX_FLATBUFFER_BYTES:
                raise TFLiteImportError(
                    f"{path}: {size:,} bytes; a TFLite flatbuffer is at most {MAX_FLATBUFFER_BYTES:,} bytes "
                    "(flatbuffers' 2 GiB limit): this file is not one model"
                )
            data = head + file.read()
    except OSError as err:
        raise TFLiteImportError(f"{path}: cannot read the .tflite file ({err})") from err
    return import_bytes(data, name or path.stem)


MAX_FLATBUFFER_BYTES = 2**31 - 1


def _not_tflite(where: str, head: bytes, size: int) -> str:
    return (
        f"{where}: not a TFLite flatbuffer (no {FILE_IDENTIFIER.decode()!r} identifier at bytes 4..8; "
        f"{size} bytes); pass a .tflite model file"
    )


def graph_from_bytes(data: bytes, name: str) -> Graph:
    """Import a TFLite flatbuffer held in memory as a Graph named ``name``."""
    return import_bytes(data, name).graph


@dataclass
class ImportResult:
    graph: Graph
    rewrites: list[Rewrite]  # what canonicalization changed, in order (see frontend/canonicalize.py)


def import_bytes(data: bytes, name: str) -> ImportResult:
    """Import a TFLite flatbuffer held in memory; the Graph plus the rewrites applied to it."""
    data = bytes(data)
    where = f"model {name!r}"
    if len(data) < 8 or data[4:8] != FILE_IDENTIFIER:
        raise TFLiteImportError(_not_tflite(where, data[:8], len(data)))
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
    try:
        graph, rewrites = _graph_from_raw(raw, name)
        validate(graph)
        shapes.check_shapes(graph)
    except TFLiteImportError:
        raise
    except GraphError as err:
        raise TFLiteImportError(str(err)) from err
    except (ArithmeticError, IndexError, KeyError, TypeError, ValueError) as err:
        # A well-formed flatbuffer whose fields contradict each other in a way no check above names.
        raise TFLiteImportError(
            f"{where}: inconsistent model ({type(err).__name__}: {err}); the file's shapes, options or "
            "quantization do not fit together: re-export it from the converter"
        ) from err
    graph.source_bytes = data
    return ImportResult(graph, rewrites)


# --- plain records -> Graph -------------------------------------------------------------------------


def _graph_from_raw(raw: _RawModel, name: str) -> tuple[Graph, list[Rewrite]]:
    where = f"model {name!r}"
    if raw.subgraph_count != 1:
        raise TFLiteImportError(
            f"{where}: has {raw.subgraph_count} subgraphs; patchbench supports exactly one "
            "(no control flow, no multi-signature models)"
        )
    for op in raw.ops:
        if op.kind not in OP_KINDS and op.kind not in SOURCE_ONLY_KINDS:
            raise TFLiteImportError(_unsupported_op(where, op.index, op.kind))
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
        if len(op.outputs) != 1 and not (kind in MULTI_OUTPUT_KINDS and op.outputs):
            raise TFLiteImportError(f"{op_where}: has {len(op.outputs)} outputs; {kind} has one")
        inputs = [names[i] if i != -1 else "" for i in op.inputs]
        outputs = [names[i] for i in op.outputs]
        if kind in SOURCE_ONLY_KINDS:
            attrs = dict(op.options)
        else:
            low, high = _INPUT_COUNTS[kind]
            if len(op.inputs) < low or (high is not None and len(op.inputs) > high):
                wanted = f"{low}" if low == high else f"{low}..{high if high is not None else 'n'}"
                raise TFLiteImportError(f"{op_where}: has {len(op.inputs)} inputs; {kind} takes {wanted}")
            attrs = _op_attrs(kind, op.options, tensors[outputs[0]], op_where)
        ops.append(Op(kind, f"op{op.index:02d}_{kind.lower()}", inputs, outputs, attrs))

    graph = Graph(
        name=name,
        tensors=tensors,
        ops=ops,
        inputs=graph_inputs,
        outputs=graph_outputs,
        source_tensor_index={names[i]: i for i in used},
    )
    # The converter's plumbing becomes the IR's ops first; the operand rules apply to what is left.
    try:
        rewrites = canonicalize(graph)
    except (GraphError, ValueError, IndexError, KeyError, TypeError, AttributeError, ArithmeticError) as err:
        raise TFLiteImportError(f"{where}: cannot canonicalize the converter's op patterns ({err})") from err
    for op in graph.ops:
        index = int(op.name[2:].split("_", 1)[0])
        if op.kind not in OP_KINDS:
            raise TFLiteImportError(_unsupported_op(where, index, op.kind, op_is_left=True))
        op_where = f"{where}: op {index} ({op.kind})"
        _check_operands(op.kind, graph, op, graph_inputs, graph_outputs, op_where)
        if op.kind == "DEPTHWISE_CONV_2D":
            op.attrs["depth_multiplier"] = _depth_multiplier(
                graph.tensor(op.inputs[0]), graph.tensor(op.inputs[1]), op_where
            )
    return graph, rewrites


def _unsupported_op(where: str, index: int, kind: str, op_is_left: bool = False) -> str:
    """The one line a user gets for an op patchbench cannot run: which, where, and what to do."""
    why = (
        "no canonicalization rule removes it here (the pattern around it is not one patchbench rewrites)"
        if op_is_left
        else "patchbench has no kernel for it"
    )
    return (
        f"{where}: op {index} is {kind}; {why}. Replace it in the source model with supported ops "
        f"({', '.join(OP_KINDS)}) and convert again, or file an issue naming {kind}"
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
    dtype = _DTYPE_OF_TYPE[raw.type_code]
    shape = tuple(int(d) for d in raw.shape)
    try:
        check_tensor_size(f"tensor {raw.index} {raw.name!r}", shape, dtype, where)
    except GraphError as err:
        raise TFLiteImportError(str(err)) from None
    qparams = None
    if raw.scale is not None:
        zero_point = raw.zero_point
        if zero_point.size == 1 and raw.scale.size > 1:
            # One zero point for every channel: TFLite Micro reads it so (micro_allocator.cc,
            # InitializeTfLiteTensorFromFlatbuffer: "zero point arrays for weights can be reduced to a
            # single value").
            zero_point = np.full(raw.scale.shape, zero_point[0], zero_point.dtype)
        if zero_point.shape != raw.scale.shape:
            raise TFLiteImportError(
                f"{tensor_where}: quantization has {raw.scale.size} scales but {raw.zero_point.size} zero points"
            )
        axis = raw.quantized_dimension
        if raw.scale.size > 1 and len(shape) == 1 and shape[0] == raw.scale.size and axis != 0:
            # A 1-D tensor (a bias) has one axis: older converters wrote the filter's quantized_dimension
            # onto it. TFLite Micro runs such files (micro_allocator.cc copies quantized_dimension
            # unchecked; its kernels read a bias per output channel); LiteRT's interpreter refuses them,
            # so the oracle of such a file is TFLite Micro (harness.reference.oracle).
            axis = 0
        if raw.scale.size > 1 and (not 0 <= axis < len(shape) or shape[axis] != raw.scale.size):
            raise TFLiteImportError(
                f"{tensor_where}: {raw.scale.size} per-channel scales along quantized_dimension {axis} do "
                f"not match shape {shape}"
            )
        if raw.scale.size == 0 or not np.all(np.isfinite(raw.scale)) or np.any(raw.scale <= 0):
            raise TFLiteImportError(
                f"{tensor_where}: quantization scale {raw.scale.tolist()[:8]} must be positive and finite"
            )
        if dtype == "int8" and (zero_point.min() < -128 or zero_point.max() > 127):
            raise TFLiteImportError(
                f"{tensor_where}: int8 zero point {zero_point.tolist()[:8]} is outside -128..127"
            )
        qparams = QParams(raw.scale.copy(), zero_point.copy(), axis if raw.scale.size > 1 else 0)
    values = None
    if raw.data is not None:
        itemsize = np.dtype(dtype).itemsize
        needed = math.prod(shape) * itemsize
        if len(raw.data) != needed:
            raise TFLiteImportError(
                f"{tensor_where}: its buffer holds {len(raw.data)} bytes but shape {shape} of {dtype} needs {needed}"
            )
        values = np.frombuffer(raw.data, np.dtype(dtype).newbyteorder("<")).astype(dtype).reshape(shape)
    return Tensor(name, shape, dtype, qparams, values)


def _check_operands(kind, graph: Graph, graph_op: Op, graph_inputs, graph_outputs, op_where) -> None:
    """int8 activations with per-tensor quantization; constant weights of the right type; float only
    at a QUANTIZE of a graph input or a DEQUANTIZE into a graph output."""
    inputs, outputs, tensors = graph_op.inputs, graph_op.outputs, graph.tensors
    op = _FileIndices(
        [graph.source_tensor_index.get(n, "(new)") if n else -1 for n in inputs],
        [graph.source_tensor_index.get(n, "(new)") for n in outputs],
    )
    for position, role, dtype in _CONST_INPUTS.get(kind, ()):
        if position >= len(inputs) or not inputs[position]:
            optional = (role == "bias" and kind in ("FULLY_CONNECTED", "TRANSPOSE_CONV")) or (
                kind == "RESHAPE" or (kind, role) == ("PADV2", "constant value")
            )
            if optional:
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
        if role in QUANTIZED_CONSTANT_RULES:
            _check_constant_quantization(kind, role, tensor, index, graph, inputs, op_where)

    if kind == "PRELU":
        alpha = tensors[inputs[1]]
        if alpha.dtype != "int8" or alpha.quant is None or alpha.quant.per_channel:
            raise TFLiteImportError(
                f"{op_where}: alpha (tensor {op.inputs[1]} {alpha.name!r}) must be int8 with one scale and zero "
                "point (TFLite's int8 PRELU)"
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
    plain = OP_DEFS[kind].output_dtype if kind in OP_DEFS else None
    if plain is not None:  # plain values out (ARG_MAX's int32 indices), not a quantized activation
        for index, name in zip(op.outputs, outputs, strict=True):
            if tensors[name].dtype != plain:
                raise TFLiteImportError(
                    f"{op_where}: output (tensor {index} {name!r}) is {tensors[name].dtype}; {kind} writes {plain} "
                    "here (TFLite Micro's kernel takes no other)"
                )
        activations = [a for a in activations if not str(a[0]).startswith("out")]
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


# The TFLite int8 quantization rules of an op's constant operands that change what the op computes,
# each checked where TFLite checks it (https://ai.google.dev/edge/litert/models/quantization_spec; the
# TFLite Micro kernel's Prepare named). A file that breaks one is refused naming the tensor: what
# would run is not what the file declares.
#
# - filter / weights zero point 0 (spec: CONV_2D, DEPTHWISE_CONV_2D, TRANSPOSE_CONV, FULLY_CONNECTED
#   weights "restriction: zero_point = 0"; fully_connected_common.cc FullyConnectedPrepare's
#   CalculateOpDataFullyConnected: TFLITE_DCHECK(filter->params.zero_point == 0); the per-channel conv
#   kernels of TFLite Micro ignore a filter zero point, so a non-zero one silently computes another
#   function; LiteRT refuses the file)
# - bias zero point 0 (spec: every bias "restriction: zero_point = 0"; TFLite Micro's kernels add the
#   int32 bias as it is)
# - per-channel filter scales: one per output channel, along the output-channel axis (conv_common.cc
#   ConvPrepare and transpose_conv.cc TransposeConvPrepare: scale size 1 or filter dim 0;
#   depthwise_conv_common.cc DepthwiseConvPrepare: dim 3; fully_connected_common.cc
#   CalculateOpDataFullyConnected: filter dim quantized_dimension, which the spec puts at 0)
QUANTIZED_CONSTANT_RULES = ("filter", "weights", "bias")
_OUTPUT_CHANNEL_AXIS = {"CONV_2D": 0, "DEPTHWISE_CONV_2D": 3, "TRANSPOSE_CONV": 0, "FULLY_CONNECTED": 0}


def _check_constant_quantization(kind, role, tensor, index, graph, inputs, op_where) -> None:
    quant = tensor.quant
    named = f"{role} (tensor {index} {tensor.name!r})"
    if np.any(quant.zero_point != 0):
        if role == "bias":
            raise TFLiteImportError(
                f"{op_where}: {named} has zero point {quant.zero_point.tolist()[:8]}; TFLite's int32 bias is "
                "symmetric (quantization spec: zero_point = 0) and its kernels add it as it is: re-convert the "
                "model with the TFLite converter's int8 quantization"
            )
        raise TFLiteImportError(
            f"{op_where}: {named} has zero point {quant.zero_point.tolist()[:8]}; TFLite's int8 {kind} weights "
            "are symmetric (quantization spec: zero_point = 0): TFLite Micro would ignore it and compute another "
            "function, LiteRT refuses the file. Re-quantize the weights symmetrically (the TFLite converter's "
            "int8 quantization does)"
        )
    axis = _OUTPUT_CHANNEL_AXIS.get(kind)
    if role == "bias" or axis is None or not quant.per_channel:
        return
    channels = tensor.shape[axis] if axis < len(tensor.shape) else None
    if quant.scale.size != channels or quant.axis != axis:
        raise TFLiteImportError(
            f"{op_where}: {named} of shape {list(tensor.shape)} has {quant.scale.size} per-channel scales along "
            f"dimension {quant.axis}; {kind} takes one scale, or one per output channel along dimension {axis} "
            f"({channels} here), as TFLite Micro's Prepare checks"
        )


@dataclass
class _FileIndices:
    """An op's tensor indices in the file, for messages ("(new)" for a tensor a rewrite made)."""

    inputs: list
    outputs: list


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
    for field in OP_DEFS[kind].fields if kind in OP_DEFS else ():  # its definition's (harness/ir/opdefs.py)
        attrs[field.attr] = field.type(options[field.attr])
    if kind == "STRIDED_SLICE":
        for key in ("begin_mask", "end_mask", "shrink_axis_mask", "ellipsis_mask", "new_axis_mask"):
            attrs[key] = int(options.get(key, 0))
        attrs["offset"] = bool(options.get("offset", False))
    if kind in ("SPLIT", "SPLIT_V") and "num_splits" in options:
        attrs["num_splits"] = int(options["num_splits"])
    if "block_size" in attrs:
        if attrs["block_size"] < 1:
            raise TFLiteImportError(f"{op_where}: block_size {attrs['block_size']} must be positive")
    if kind in _FUSED_ACTIVATION_OPS or kind in _POOL_OPS:
        activation = _activation(options["activation"], op_where)
        attrs["activation"] = activation
        if output.quant is not None:  # else _check_operands refuses the float output, naming it
            attrs["act_min"], attrs["act_max"] = quant.activation_range(
                activation, output.scale, output.zero_point
            )
    return attrs


def _depth_multiplier(source: Tensor, weights: Tensor, op_where: str) -> int:
    # TFLite derives the multiplier from the shapes (the option is unreliable in old files).
    if not source.shape or len(weights.shape) != 4:
        raise TFLiteImportError(
            f"{op_where}: input shape {list(source.shape)} and filter shape {list(weights.shape)}; "
            "DEPTHWISE_CONV_2D needs a 4-D input and a [1, KH, KW, C] filter"
        )
    in_channels, out_channels = source.shape[-1], weights.shape[-1]
    if not in_channels or out_channels % in_channels:
        raise TFLiteImportError(
            f"{op_where}: {out_channels} filter channels are not a multiple of the {in_channels} input "
            "channels; the file is inconsistent"
        )
    return out_channels // in_channels

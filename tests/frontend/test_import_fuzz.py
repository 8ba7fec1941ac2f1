# SPDX-License-Identifier: Apache-2.0
"""Structure-aware fuzzing of the TFLite importer: hypothesis rewrites fields of the real MLPerf Tiny
models in place (tensor shapes, types, buffer indices, buffer offsets and lengths, quantization scales,
zero points and axes, op codes, operator inputs and outputs, every field of every option table) and the
importer must answer each file with a clean Graph or a TFLiteImportError; nothing else may escape.

300 cases in the default suite; ``pytest -m slow tests/frontend/test_import_fuzz.py`` runs 5,000 (the same test).
"""

from __future__ import annotations

import functools
import math
import re
import struct
from dataclasses import dataclass

import pytest
import tflite
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.frontend.importer import graph_from_bytes
from harness.frontend.schema import TFLiteImportError
from harness.ir.graph import validate
from harness.paths import MLPERF_DIR, MLPERF_MODELS

# vtable slots of the fields in TFLite's schema.fbs (4 + 2 * field id)
MODEL_OPERATOR_CODES, MODEL_SUBGRAPHS, MODEL_BUFFERS = 6, 8, 12
SUBGRAPH_TENSORS, SUBGRAPH_INPUTS, SUBGRAPH_OUTPUTS, SUBGRAPH_OPERATORS = 4, 6, 8, 10
TENSOR_SHAPE, TENSOR_TYPE, TENSOR_BUFFER, TENSOR_NAME, TENSOR_QUANT = 4, 6, 8, 10, 12
QUANT_SCALE, QUANT_ZERO_POINT, QUANT_DIMENSION = 8, 10, 16
OP_OPCODE_INDEX, OP_INPUTS, OP_OUTPUTS, OP_OPTIONS_TYPE, OP_OPTIONS = 4, 6, 8, 10, 12
OPCODE_DEPRECATED, OPCODE_BUILTIN = 4, 10
BUFFER_DATA, BUFFER_OFFSET, BUFFER_SIZE = 4, 6, 8


@dataclass(frozen=True)
class Site:
    position: int  # byte offset in the file
    fmt: str  # struct format of the value there
    what: str  # for the failure report

    @functools.cached_property  # read for every site at each draw of a mutation: worked out once
    def kind(self) -> str:
        """The field, without the index: 'tensor shape', 'op option slot', ... (drawn evenly)."""
        return re.sub(r"\s*\d+|\[\d+\]", "", self.what)


def _sites(data: bytes) -> list[Site]:
    """Every mutable field of the model, found by walking its flatbuffer tables."""
    sites: list[Site] = []
    model = tflite.Model.GetRootAs(data, 0)._tab

    def scalar(tab, slot, fmt, what):
        offset = tab.Offset(slot)
        if offset:
            sites.append(Site(tab.Pos + offset, fmt, what))

    def vector(tab, slot, fmt, what, length_too=False):
        offset = tab.Offset(slot)
        if not offset:
            return
        start, count = tab.Vector(offset), tab.VectorLen(offset)
        size = struct.calcsize(fmt)
        sites.extend(Site(start + i * size, fmt, f"{what}[{i}]") for i in range(count))
        if length_too:
            sites.append(Site(start - 4, "I", f"{what} length"))

    def tables(tab, slot):
        offset = tab.Offset(slot)
        if not offset:
            return []
        start, count = tab.Vector(offset), tab.VectorLen(offset)
        result = []
        for i in range(count):
            child = type(tab)(tab.Bytes, tab.Indirect(start + 4 * i))
            result.append(child)
        return result

    def table(tab, slot):
        offset = tab.Offset(slot)
        return type(tab)(tab.Bytes, tab.Indirect(tab.Pos + offset)) if offset else None

    for i, code in enumerate(tables(model, MODEL_OPERATOR_CODES)):
        scalar(code, OPCODE_DEPRECATED, "b", f"opcode {i} deprecated_builtin_code")
        scalar(code, OPCODE_BUILTIN, "i", f"opcode {i} builtin_code")
    for i, buffer in enumerate(tables(model, MODEL_BUFFERS)):
        offset = buffer.Offset(BUFFER_DATA)
        if offset:
            sites.append(Site(buffer.Vector(offset) - 4, "I", f"buffer {i} data length"))
        scalar(buffer, BUFFER_OFFSET, "Q", f"buffer {i} offset")
        scalar(buffer, BUFFER_SIZE, "Q", f"buffer {i} size")
    for subgraph in tables(model, MODEL_SUBGRAPHS):
        vector(subgraph, SUBGRAPH_INPUTS, "i", "subgraph inputs")
        vector(subgraph, SUBGRAPH_OUTPUTS, "i", "subgraph outputs")
        for i, tensor in enumerate(tables(subgraph, SUBGRAPH_TENSORS)):
            vector(tensor, TENSOR_SHAPE, "i", f"tensor {i} shape", length_too=True)
            scalar(tensor, TENSOR_TYPE, "b", f"tensor {i} type")
            scalar(tensor, TENSOR_BUFFER, "I", f"tensor {i} buffer")
            quantization = table(tensor, TENSOR_QUANT)
            if quantization is not None:
                vector(quantization, QUANT_SCALE, "f", f"tensor {i} scale", length_too=True)
                vector(quantization, QUANT_ZERO_POINT, "q", f"tensor {i} zero_point", length_too=True)
                scalar(quantization, QUANT_DIMENSION, "i", f"tensor {i} quantized_dimension")
        for i, op in enumerate(tables(subgraph, SUBGRAPH_OPERATORS)):
            scalar(op, OP_OPCODE_INDEX, "I", f"op {i} opcode_index")
            vector(op, OP_INPUTS, "i", f"op {i} inputs", length_too=True)
            vector(op, OP_OUTPUTS, "i", f"op {i} outputs")
            scalar(op, OP_OPTIONS_TYPE, "B", f"op {i} builtin_options_type")
            options = table(op, OP_OPTIONS)
            if options is not None:  # every field present in the option table, as its low byte
                vtable = options.Pos - struct.unpack_from("<i", data, options.Pos)[0]
                vtable_size = struct.unpack_from("<H", data, vtable)[0]
                for slot in range(4, vtable_size, 2):
                    scalar(options, slot, "b", f"op {i} option slot {slot}")
    return sites


MODELS = {name: (MLPERF_DIR / f"{name}.tflite").read_bytes() for name in MLPERF_MODELS}
SITES = {name: _sites(data) for name, data in MODELS.items()}
KINDS = {name: sorted({site.kind for site in sites}) for name, sites in SITES.items()}

_INTERESTING = {
    "b": [0, 1, -1, 2, 3, 9, 17, 127, -128],
    "B": [0, 1, 2, 3, 17, 255],
    "i": [0, 1, -1, 2, 3, 4, 7, 1 << 15, 1 << 30, 2**31 - 1, -(2**31)],
    "I": [0, 1, 2, 3, 100, 1 << 20, 2**32 - 1],
    "q": [0, 1, -1, 127, 128, -129, 2**63 - 1, -(2**63)],
    "Q": [0, 1, 8, 1 << 20, 1 << 40, 2**64 - 1],
    "f": [0.0, -0.0, -1.0, 1e-38, 1e-45, 1e38, math.inf, -math.inf, math.nan, 1.0],
}
_RANGES = {"b": 8, "B": 8, "i": 32, "I": 32, "q": 64, "Q": 64}


def _value(fmt: str) -> st.SearchStrategy:
    if fmt == "f":
        return st.one_of(st.sampled_from(_INTERESTING["f"]), st.floats(width=32))
    bits = _RANGES[fmt]
    low, high = (0, 2**bits - 1) if fmt.isupper() else (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
    return st.one_of(st.sampled_from(_INTERESTING[fmt]), st.integers(low, high))


@dataclass(frozen=True)
class Mutated:
    name: str
    data: bytes
    changes: tuple[str, ...]

    def __repr__(self) -> str:  # the changes, not a megabyte of bytes
        return f"Mutated({self.name!r}, {list(self.changes)})"


@st.composite
def mutated_models(draw) -> Mutated:
    name = draw(st.sampled_from(sorted(MODELS)))
    data = bytearray(MODELS[name])
    changes = []
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(KINDS[name]))  # first the field, then where: a rare field is not drowned
        sites = [site for site in SITES[name] if site.kind == kind]
        site = sites[draw(st.integers(0, len(sites) - 1))]
        value = draw(_value(site.fmt))
        struct.pack_into("<" + site.fmt, data, site.position, value)
        changes.append(f"{site.what} = {value!r}")
    return Mutated(name, bytes(data), tuple(changes))


def _import_is_clean(case: Mutated) -> None:
    try:
        graph = graph_from_bytes(case.data, case.name)
    except TFLiteImportError as err:
        assert repr(case.name) in str(err), (case, str(err))  # the message names the model
        return
    validate(graph)  # a graph that comes out must satisfy the IR's invariants


DEFAULT_CASES, SLOW_CASES = 300, 5000


def fuzz(cases: int) -> settings:
    return settings(
        max_examples=cases,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


def test_every_model_offers_fields_of_each_kind():
    for name, sites in SITES.items():
        kinds = {site.what.split()[0] for site in sites}
        assert {"opcode", "buffer", "tensor", "op", "subgraph"} <= kinds, name
        assert any("option slot" in site.what for site in sites), name


@pytest.mark.slow  # selected by -m slow too, and then it runs 5,000 cases
def test_mutated_real_models_import_or_fail_with_an_import_error(request):
    expression = request.config.option.markexpr or ""
    cases = SLOW_CASES if "slow" in expression and "not slow" not in expression else DEFAULT_CASES

    @fuzz(cases)
    @given(mutated_models())
    def import_is_clean(case):
        _import_is_clean(case)

    import_is_clean()

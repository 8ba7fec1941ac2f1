# SPDX-License-Identifier: Apache-2.0
"""The C kernels' parameter structs, declared once: every field's name, C type and place.

``pb_kernels.h`` declares the same structs for the C side; tests/codegen/test_kernels.py parses its typedefs and
checks them field for field against ``STRUCTS`` (name, type, order), so the two cannot drift apart.
From these declarations come the ctypes structs the host tests call the kernels with
(``CStruct.ctypes_value``) and the C initializers the code generator emits (``CStruct.initializer``).

Where a Python dataclass holds a struct's values (``Region``, ``Window`` here, ``AddQuant`` and
``MulQuant`` in ``harness.reference.quantparams``), the declaration names it and its fields must be
the struct's fields; ``Window``, ``AddQuant`` and ``MulQuant`` also give the C order.
"""

from __future__ import annotations

import ctypes
import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

from harness.reference.quantparams import AddQuant, MulQuant, PreluQuant

# The C types a parameter struct may use, and how ctypes holds each.
C_FIELD_TYPES = {
    "int32_t": ctypes.c_int32,
    "const int32_t *": ctypes.POINTER(ctypes.c_int32),
    "const int8_t *": ctypes.POINTER(ctypes.c_int8),
}


@dataclass(frozen=True)
class Region:
    """``pb_region``: the input rows/columns one call holds, its padding, the output it produces."""

    in_h: int
    in_w: int
    in_c: int
    out_h: int
    out_w: int
    out_c: int
    pad_top: int = 0
    pad_bottom: int = 0
    pad_left: int = 0
    pad_right: int = 0
    in_row_stride: int = 0  # int8 elements between input rows; 0: in_w * in_c
    out_row_stride: int = 0  # 0: out_w * out_c

    @property
    def pads(self) -> tuple[int, int, int, int]:
        return self.pad_top, self.pad_bottom, self.pad_left, self.pad_right

    def c_initializer(self) -> str:
        return PB_REGION.initializer(PB_REGION.values_of(self))


@dataclass(frozen=True)
class Window:
    """``pb_window``: kernel, stride and dilation of a conv or pool."""

    kernel_h: int
    kernel_w: int
    stride_h: int = 1
    stride_w: int = 1
    dilation_h: int = 1
    dilation_w: int = 1

    def c_initializer(self) -> str:
        return PB_WINDOW.initializer(PB_WINDOW.values_of(self))


@dataclass(frozen=True)
class CField:
    name: str
    ctype: str  # a key of C_FIELD_TYPES


@dataclass(frozen=True)
class CStruct:
    """One C struct: its typedef name and its fields in C order."""

    typedef: str
    fields: tuple[CField, ...]
    holder: type | None = None  # the dataclass whose fields are the struct's, if any

    def __post_init__(self) -> None:
        for f in self.fields:
            if f.ctype not in C_FIELD_TYPES:
                raise TypeError(
                    f"{self.typedef}.{f.name}: C type {f.ctype!r} is not one of {list(C_FIELD_TYPES)}"
                )
        if self.holder is not None:
            held = {f.name for f in dataclasses.fields(self.holder)}
            if held != set(self.names):
                raise TypeError(
                    f"{self.typedef} has fields {sorted(self.names)} but {self.holder.__name__} has {sorted(held)}"
                )

    @classmethod
    def of_dataclass(cls, typedef: str, holder: type, ctype: str = "int32_t") -> CStruct:
        """A struct whose fields are the dataclass's, in its order, all of one C type."""
        return cls(typedef, tuple(CField(f.name, ctype) for f in dataclasses.fields(holder)), holder)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    def values_of(self, holder: object) -> dict[str, object]:
        """The struct's fields read off an object that has them as attributes."""
        return {name: getattr(holder, name) for name in self.names}

    def _check(self, values: Mapping[str, object]) -> None:
        if set(values) != set(self.names):
            missing, extra = set(self.names) - set(values), set(values) - set(self.names)
            raise ValueError(f"{self.typedef}: values for {sorted(missing)} missing, {sorted(extra)} unknown")

    def initializer(self, values: Mapping[str, object]) -> str:
        """``{.a = 1, .b = x}`` in C order; a value is an int or a C expression (a str)."""
        self._check(values)
        text = (v if isinstance(v, str) else str(int(v)) for v in (values[name] for name in self.names))
        return (
            "{" + ", ".join(f".{name} = {value}" for name, value in zip(self.names, text, strict=True)) + "}"
        )

    @property
    def ctypes_type(self) -> type[ctypes.Structure]:
        return _ctypes_type(self)

    def ctypes_value(self, values: Mapping[str, object]) -> ctypes.Structure:
        """A ctypes instance; int fields take ints, pointer fields ctypes pointers (or None)."""
        self._check(values)
        return self.ctypes_type(**{name: _ctypes_field(values[name]) for name in self.names})


_CTYPES_CACHE: dict[str, type[ctypes.Structure]] = {}


def _ctypes_type(struct: CStruct) -> type[ctypes.Structure]:
    if struct.typedef not in _CTYPES_CACHE:
        fields = [(f.name, C_FIELD_TYPES[f.ctype]) for f in struct.fields]
        _CTYPES_CACHE[struct.typedef] = type(struct.typedef, (ctypes.Structure,), {"_fields_": fields})
    return _CTYPES_CACHE[struct.typedef]


def _ctypes_field(value: object) -> object:
    return value if value is None or isinstance(value, ctypes._Pointer) else int(value)


def _int32(*names: str) -> tuple[CField, ...]:
    return tuple(CField(name, "int32_t") for name in names)


PB_REGION = CStruct(
    "pb_region",
    _int32(
        "in_h",
        "in_w",
        "in_c",
        "in_row_stride",
        "pad_top",
        "pad_bottom",
        "pad_left",
        "pad_right",
        "out_h",
        "out_w",
        "out_c",
        "out_row_stride",
    ),  # fmt: skip
    Region,
)
PB_WINDOW = CStruct.of_dataclass("pb_window", Window)
PB_REQUANT = CStruct(
    "pb_requant",
    (
        *_int32("input_zero_point", "output_zero_point", "act_min", "act_max"),
        CField("multiplier", "const int32_t *"),
        CField("shift", "const int32_t *"),
        CField("prepared", "const int32_t *"),
    ),  # fmt: skip
)
PB_ADD_PARAMS = CStruct.of_dataclass("pb_add_params", AddQuant)
PB_MUL_PARAMS = CStruct.of_dataclass("pb_mul_params", MulQuant)
PB_PRELU_PARAMS = CStruct.of_dataclass("pb_prelu_params", PreluQuant)
PB_CONCAT_INPUT = CStruct(
    "pb_concat_input",
    (CField("data", "const int8_t *"), *_int32("inner_size", "zero_point", "multiplier", "shift")),
)
PB_TRANSPOSE_CONV_SHAPE = CStruct(
    "pb_transpose_conv_shape",
    _int32(
        "in_h",
        "in_w",
        "in_c",
        "out_h",
        "out_w",
        "out_c",
        "kernel_h",
        "kernel_w",
        "stride_h",
        "stride_w",
        "pad_top",
        "pad_left",
    ),  # fmt: skip
)
PB_TILE = CStruct(
    "pb_tile",
    _int32("out_y0", "out_x0", "out_h", "out_w", "in_y0", "in_x0", "in_row_stride", "out_row_stride"),
)
PB_RESIZE_SHAPE = CStruct(
    "pb_resize_shape",
    _int32("in_h", "in_w", "out_h", "out_w", "channels", "align_corners", "half_pixel_centers"),
)
PB_MEAN_VIEW = CStruct("pb_mean_view", _int32("outer", "count", "middle", "count2", "inner"))
STRUCTS = (
    PB_REGION,
    PB_WINDOW,
    PB_REQUANT,
    PB_ADD_PARAMS,
    PB_MUL_PARAMS,
    PB_PRELU_PARAMS,
    PB_CONCAT_INPUT,
    PB_TRANSPOSE_CONV_SHAPE,
    PB_TILE,
    PB_RESIZE_SHAPE,
    PB_MEAN_VIEW,
)

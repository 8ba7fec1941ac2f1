# SPDX-License-Identifier: Apache-2.0
"""Constant data as C: numpy arrays -> ``static const`` array definitions, structs -> initializers."""

from __future__ import annotations

import string
from dataclasses import dataclass

import numpy as np

C_TYPES = {"int8": "int8_t", "int32": "int32_t", "uint8": "uint8_t", "float32": "float"}
VALUES_PER_LINE = {"int8": 24, "int32": 8, "uint8": 24, "float32": 4}
_RANGES = {"int8": (-128, 127), "int32": (-(2**31), 2**31 - 1), "uint8": (0, 255)}


@dataclass(frozen=True)
class CArray:
    """One ``static const`` array in flash."""

    name: str
    dtype: str  # "int8" | "int32" | "uint8"
    values: np.ndarray
    comment: str = ""

    @property
    def nbytes(self) -> int:
        return int(self.values.size) * np.dtype(self.dtype).itemsize

    def definition(self) -> str:
        values = np.asarray(self.values).reshape(-1)
        per_line = VALUES_PER_LINE[self.dtype]
        if self.dtype == "float32":
            items = [c_float(v) for v in values.astype(np.float32).tolist()]
        else:
            low, high = _RANGES[self.dtype]
            if values.size and (values.min() < low or values.max() > high):
                raise ValueError(f"C array {self.name}: values outside {self.dtype}")
            items = [str(v) for v in values.astype(np.int64).tolist()]
        lines = ["    " + ", ".join(items[i : i + per_line]) + "," for i in range(0, len(items), per_line)]
        comment = f"/* {c_comment(self.comment)} */\n" if self.comment else ""
        # Word alignment lets the DSP kernels read weights a word at a time without penalties.
        head = f"static const {C_TYPES[self.dtype]} {self.name}[{max(values.size, 1)}] __attribute__((aligned(4)))"
        body = "\n".join(lines) if lines else "    0,"
        return f"{comment}{head} = {{\n{body}\n}};\n"


def c_struct(fields: dict[str, object]) -> str:
    """``{.a = 1, .b = x}`` from a dict (values already C expressions or ints)."""
    return "{" + ", ".join(f".{name} = {value}" for name, value in fields.items()) + "}"


def c_ints(values) -> str:
    """``{1, 2, 3}``."""
    return "{" + ", ".join(str(int(v)) for v in values) + "}"


def c_float(value: float) -> str:
    """A float32 value as an exact C literal (hexadecimal floating point, suffix f)."""
    value = float(np.float32(value))
    if not np.isfinite(value):
        raise ValueError(f"cannot write the non-finite float {value} as a C constant")
    return f"{value.hex()}f"


def c_double(value: float) -> str:
    """A double as an exact C literal (hexadecimal floating point)."""
    return float(value).hex()


# Text from a model (its file name, tensor names) reaches the generated C only through these two, so a
# name such as ``*/ int pwn; /*`` stays text: it can neither close a comment nor end a string.
_COMMENT_SAFE = frozenset(string.ascii_letters + string.digits + " _.,:;()[]{}<>=+-*/#@!%&|^~'\"$")
_STRING_PLAIN = frozenset(string.ascii_letters + string.digits + " _.,:;()[]{}<>=+-#@!%&|^~'$/")
NAME_TEXT_LIMIT = 120


def c_comment(text: str, limit: int | None = None) -> str:
    """``text`` made safe inside a ``/* ... */`` comment: one line of printable ASCII without ``\\`` or
    ``?`` (no line splice, no trigraph; other characters become ``_``) in which ``*/`` and ``/*`` are
    broken up as ``*_/`` and ``/_*``; cut to ``limit`` characters with an ellipsis when given."""
    safe = "".join(ch if ch in _COMMENT_SAFE else "_" for ch in str(text))
    if limit is not None and len(safe) > limit:
        safe = safe[: limit - 3] + "..."
    while "*/" in safe or "/*" in safe:
        safe = safe.replace("*/", "*_/").replace("/*", "/_*")
    return safe


def c_string(text: str, limit: int = NAME_TEXT_LIMIT) -> str:
    """``text`` as a quoted C string literal of one line of printable ASCII: characters outside a plain
    set as three-digit octal escapes (``"`` ``\\`` ``?`` included), control and non-ASCII characters as
    ``_`` (the firmware prints the string as a protocol line), cut to ``limit`` characters."""
    text = str(text)[:limit]
    printable = "".join(ch if 32 <= ord(ch) < 127 else "_" for ch in text)
    return '"' + "".join(ch if ch in _STRING_PLAIN else f"\\{ord(ch):03o}" for ch in printable) + '"'

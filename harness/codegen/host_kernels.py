# SPDX-License-Identifier: Apache-2.0
"""The C kernels on the host, for tests and experiments: ``host_kernels()`` compiles every kernel (the DSP
ones with a C emulation of the DSP instructions, ``kernels/host/``) into a shared library with the host's
gcc, cached in BUILD_DIR/kernels, and calls it through ctypes on numpy arrays. The ctypes structs come
from ``cparams.py``, like the generated C's initializers."""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.ir import quant
from harness.ir.geometry import TileOrigin
from harness.paths import BUILD_DIR

from .broadcast import broadcast_walk
from .cparams import (
    PB_ADD_PARAMS,
    PB_CONCAT_INPUT,
    PB_MUL_PARAMS,
    PB_PRELU_PARAMS,
    PB_REGION,
    PB_REQUANT,
    PB_RESIZE_SHAPE,
    PB_TILE,
    PB_TRANSPOSE_CONV_SHAPE,
    PB_WINDOW,
    Region,
    Window,
)
from .kernels import KERNELS_DIR, VARIANTS, KernelError, kernel_headers, kernel_sources

HOST_ONLY_DIR = KERNELS_DIR / "host"  # ctypes exports of the inline helpers; never in a firmware
HOST_CFLAGS = ("-std=c99", "-O2", "-fPIC", "-shared", "-fwrapv", "-Wall", "-Wextra", "-Werror")


class KernelBuildError(RuntimeError):
    """The host compiler failed on the kernels; carries its output."""


def _host_library_path() -> Path:
    sources = kernel_sources() + sorted(HOST_ONLY_DIR.glob("*.c"))
    digest = hashlib.sha256()
    for path in sources + kernel_headers():
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    digest.update(" ".join(HOST_CFLAGS).encode())
    return BUILD_DIR / "kernels" / f"libpbkernels-host-{digest.hexdigest()[:16]}.so"


def build_host_library(compiler: str = "gcc") -> Path:
    """Compile every kernel for the host into a shared library (cached by a hash of the sources)."""
    target = _host_library_path()
    if target.is_file():
        return target
    if shutil.which(compiler) is None:
        raise KernelBuildError(f"host C compiler {compiler!r} not found; install gcc to test the kernels")
    target.parent.mkdir(parents=True, exist_ok=True)
    sources = [str(p) for p in kernel_sources() + sorted(HOST_ONLY_DIR.glob("*.c"))]
    # Build beside the target and rename: parallel test workers never see a half-written library.
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        partial = Path(tmp) / target.name
        command = [compiler, *HOST_CFLAGS, f"-I{KERNELS_DIR}", "-o", str(partial), *sources, "-lm"]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            raise KernelBuildError(f"{' '.join(command)} failed:\n{done.stderr}")
        os.replace(partial, target)
    return target


def _ptr(array: np.ndarray | None, ctype=ctypes.c_int8):
    if array is None:
        return None
    return array.ctypes.data_as(ctypes.POINTER(ctype))


def _int32(values) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(values, np.int64).astype(np.int32))


def _int8(values: np.ndarray, what: str) -> np.ndarray:
    array = np.asarray(values)
    if array.dtype != np.int8:
        raise KernelError(f"{what} must be int8, got {array.dtype}")
    return np.ascontiguousarray(array)


@dataclass(frozen=True)
class Requant:
    """A pb_requant's values (reference.ConvQuant has the same fields)."""

    input_zero_point: int
    output_zero_point: int
    multipliers: np.ndarray
    shifts: np.ndarray
    act_min: int = quant.INT8_MIN
    act_max: int = quant.INT8_MAX


class HostKernels:
    """The kernels compiled for the host, called on numpy arrays (for tests and experiments).

    ``variant``: "portable", "dsp" (the optimized kernels' C, with emulated DSP instructions) or
    "default" (the plain pb_<op>_s8 name: portable on the host).
    """

    def __init__(self, path: Path):
        self.path = path
        self.lib = ctypes.CDLL(str(path))
        self.lib.pb_export_multiply_by_quantized_multiplier.restype = ctypes.c_int64
        self.lib.pb_export_requantize_s8.restype = ctypes.c_int8
        self.lib.pb_export_requantize_s8_fast.restype = ctypes.c_int8
        self.lib.pb_region_check.restype = ctypes.c_int32

    def _function(self, name: str, variant: str):
        if variant not in VARIANTS:
            raise KernelError(f"variant must be one of {VARIANTS}, got {variant!r}")
        return getattr(self.lib, name if variant == "default" else f"{name}_{variant}")

    # fixed-point helpers
    def srdhm(self, a: int, b: int) -> int:
        return self.lib.pb_export_srdhm(ctypes.c_int32(a), ctypes.c_int32(b))

    def rounding_divide_by_pot(self, x: int, exponent: int) -> int:
        return self.lib.pb_export_rounding_divide_by_pot(ctypes.c_int32(x), ctypes.c_int32(exponent))

    def multiply_by_quantized_multiplier(self, x: int, multiplier: int, shift: int) -> int:
        args = (ctypes.c_int32(x), ctypes.c_int32(multiplier), ctypes.c_int32(shift))
        return self.lib.pb_export_multiply_by_quantized_multiplier(*args)

    def requantize(
        self, acc: int, multiplier: int, shift: int, zero_point: int, act_min: int, act_max: int
    ) -> int:
        args = (acc, multiplier, shift, zero_point, act_min, act_max)
        return self.lib.pb_export_requantize_s8(*(ctypes.c_int32(v) for v in args))

    def requantize_fast(self, acc: int, multiplier: int, shift: int, zero_point: int, act_min: int,
                        act_max: int) -> int:  # fmt: skip
        args = (acc, multiplier, shift, zero_point, act_min, act_max)
        return self.lib.pb_export_requantize_s8_fast(*(ctypes.c_int32(v) for v in args))

    def requantize_folded(self, acc: int, multiplier: int, shift: int, zero_point: int, act_min: int,
                          act_max: int) -> int | None:  # fmt: skip
        """The DSP conv kernels' per-channel requantization; None where a channel falls back to
        requantize_fast (shift outside [-23, -2])."""
        args = (acc, multiplier, shift, zero_point, act_min, act_max)
        value = self.lib.pb_export_requantize_folded(*(ctypes.c_int32(v) for v in args))
        return None if value == -1000 else value

    def requantize_x2(self, acc: int, multiplier: int, shift: int, zero_point: int, act_min: int,
                      act_max: int) -> int | None:  # fmt: skip
        """The DSP convs' SMMLAR requantization of a doubled sum (pb_requant_x2); None where the
        channel or acc does not qualify (shift outside [-23, -2], |acc| >= 2^30)."""
        args = (acc, multiplier, shift, zero_point, act_min, act_max)
        value = self.lib.pb_export_requantize_x2(*(ctypes.c_int32(v) for v in args))
        return None if value == -1000 else value

    def region_check(self, region: Region, window: Window) -> int:
        return self.lib.pb_region_check(ctypes.byref(_c_region(region)), ctypes.byref(_c_window(window)))

    # convolutions
    def conv(
        self,
        kind: str,
        region: Region,
        window: Window,
        q: Requant,
        input: np.ndarray,
        filter: np.ndarray,
        bias: np.ndarray | None,
        output: np.ndarray,
        variant: str = "default",
        scratch: np.ndarray | None = None,
    ) -> None:
        """Run pb_conv2d_s8 / pb_conv1x1_s8 / pb_depthwise_conv2d_s8 (kind: conv2d, conv1x1, depthwise)
        writing into ``output`` (an int8 array the caller sized, strides included)."""
        names = {"conv2d": "pb_conv2d_s8", "conv1x1": "pb_conv1x1_s8", "depthwise": "pb_depthwise_conv2d_s8"}
        function = self._function(names[kind], variant)
        multipliers, shifts = _int32(q.multipliers), _int32(q.shifts)
        c_q = _c_requant(q, multipliers, shifts)
        bias32 = None if bias is None else _int32(bias)
        if not output.flags.c_contiguous or output.dtype != np.int8:
            raise KernelError("output must be a C-contiguous int8 array")
        function(
            ctypes.byref(_c_region(region)),
            ctypes.byref(_c_window(window)),
            ctypes.byref(c_q),
            _ptr(_int8(input, "input")),
            _ptr(_int8(filter, "filter")),
            _ptr(bias32, ctypes.c_int32),
            _ptr(output),
            None if scratch is None else scratch.ctypes.data_as(ctypes.c_void_p),
        )

    def depthwise_inplace(self, region: Region, window: Window, q: Requant, buffer: np.ndarray,
                          filter: np.ndarray, bias: np.ndarray | None, scratch: np.ndarray,
                          variant: str = "default") -> None:  # fmt: skip
        """Run pb_depthwise_conv2d_s8_inplace: ``buffer`` (int8, C-contiguous) holds the input and receives
        the output; ``scratch`` must hold depthwise_inplace_scratch_bytes(...)."""
        if not buffer.flags.c_contiguous or buffer.dtype != np.int8:
            raise KernelError("buffer must be a C-contiguous int8 array")
        multipliers, shifts = _int32(q.multipliers), _int32(q.shifts)
        c_q = _c_requant(q, multipliers, shifts)
        bias32 = None if bias is None else _int32(bias)
        self._function("pb_depthwise_conv2d_s8_inplace", variant)(
            ctypes.byref(_c_region(region)), ctypes.byref(_c_window(window)),
            ctypes.byref(c_q), _ptr(buffer), _ptr(_int8(filter, "filter")), _ptr(bias32, ctypes.c_int32),
            scratch.ctypes.data_as(ctypes.c_void_p),
        )  # fmt: skip

    def depthwise_inplace_schedule(self, region: Region, window: Window) -> tuple[int, list[int]]:
        """pb_depthwise_inplace_schedule: (ring rows or -1, the schedule bytes)."""
        schedule = np.zeros(max(region.out_h, 1), np.uint8)
        rows = self.lib.pb_depthwise_inplace_schedule(
            ctypes.byref(_c_region(region)), ctypes.byref(_c_window(window)),
            schedule.ctypes.data_as(ctypes.POINTER(ctypes.c_uint8)),
        )  # fmt: skip
        return rows, schedule.tolist()

    def fully_connected(self, q: Requant, input: np.ndarray, weights: np.ndarray, bias, variant="default",
                        scratch: np.ndarray | None = None) -> np.ndarray:  # fmt: skip
        out_features, in_features = weights.shape
        batches = input.size // in_features
        output = np.zeros((batches, out_features), np.int8)
        multipliers, shifts = _int32(q.multipliers), _int32(q.shifts)
        c_q = _c_requant(q, multipliers, shifts)
        bias32 = None if bias is None else _int32(bias)
        self._function("pb_fully_connected_s8", variant)(
            batches, in_features, out_features, ctypes.byref(c_q), _ptr(_int8(input, "input")),
            _ptr(_int8(weights, "weights")), _ptr(bias32, ctypes.c_int32), _ptr(output),
            None if scratch is None else scratch.ctypes.data_as(ctypes.c_void_p),
        )  # fmt: skip
        return output

    # pooling and reductions
    def pool(self, kind: str, region: Region, window: Window, act_min: int, act_max: int, input: np.ndarray,
             output: np.ndarray) -> None:  # fmt: skip
        function = {"avg": self.lib.pb_avg_pool_s8, "max": self.lib.pb_max_pool_s8}[kind]
        function(ctypes.byref(_c_region(region)), ctypes.byref(_c_window(window)), act_min, act_max, _ptr(_int8(input, "input")), _ptr(output))  # fmt: skip

    def mean(self, input: np.ndarray, input_zero_point: int, output_zero_point: int, multiplier: int,
             shift: int) -> np.ndarray:  # fmt: skip
        h, w, c = input.shape[-3:]
        output = np.zeros(c, np.int8)
        self.lib.pb_mean_s8(h, w, c, input_zero_point, output_zero_point, multiplier, shift,
                            _ptr(_int8(input, "input")), _ptr(output))  # fmt: skip
        return output

    # elementwise
    def add(self, params, a: np.ndarray, b: np.ndarray, variant: str = "default") -> np.ndarray:
        """params: reference.AddQuant (or anything with its fields); a and b numpy-broadcast."""
        return self.binary("ADD", params, a, b, variant)

    def mul(self, params, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return self.binary("MUL", params, a, b)

    def binary(self, kind: str, params, a: np.ndarray, b: np.ndarray, variant: str = "default") -> np.ndarray:
        """A two-operand op (graph.BROADCAST_KINDS) of a and b, broadcast as numpy does; params: its
        reference parameters (AddQuant for ADD and SUB, MulQuant, PreluQuant; None for MAXIMUM / MINIMUM).
        ``variant``: of a kind with a DSP kernel (ADD), "portable" or "dsp" picks one."""
        out_shape = np.broadcast_shapes(a.shape, b.shape)
        walk = broadcast_walk(out_shape, a.shape, b.shape)
        if walk is None:
            raise KernelError(f"{kind} of {a.shape} and {b.shape}: more than four dims after merging")
        output = np.zeros(out_shape, np.int8)
        arrays = [(ctypes.c_int32 * 4)(*values) for values in (walk.dims, walk.a_strides, walk.b_strides)]
        operands = [
            *arrays,
            _ptr(_int8(np.ascontiguousarray(a), "a")),
            _ptr(_int8(np.ascontiguousarray(b), "b")),
            _ptr(output),
        ]
        struct = {
            "ADD": PB_ADD_PARAMS,
            "SUB": PB_ADD_PARAMS,
            "MUL": PB_MUL_PARAMS,
            "PRELU": PB_PRELU_PARAMS,
        }.get(kind)
        function = self._function(f"pb_{kind.lower()}_s8", variant)
        if struct is None:
            function(*operands)
        else:
            function(ctypes.byref(struct.ctypes_value(struct.values_of(params))), *operands)
        return output

    def slice(self, input: np.ndarray, begin, step, out_dims) -> np.ndarray:
        """pb_slice_s8 of a 4-D input: the box begin[d] + i * step[d], i < out_dims[d]."""
        output = np.zeros(tuple(out_dims), np.int8)
        arrays = [
            (ctypes.c_int32 * 4)(*(int(v) for v in values)) for values in (input.shape, begin, step, out_dims)
        ]
        self.lib.pb_slice_s8(
            *arrays[:3], arrays[3], _ptr(_int8(np.ascontiguousarray(input), "input")), _ptr(output)
        )
        return output

    def requantize_tensor(self, input: np.ndarray, input_zero_point: int, output_zero_point: int,
                          multiplier: int, shift: int) -> np.ndarray:  # fmt: skip
        output = np.zeros(input.shape, np.int8)
        self.lib.pb_requantize_tensor_s8(input.size, input_zero_point, output_zero_point, multiplier, shift,
                                         _ptr(_int8(input, "input")), _ptr(output))  # fmt: skip
        return output

    def softmax(
        self, input: np.ndarray, input_multiplier: int, input_left_shift: int, diff_min: int
    ) -> np.ndarray:
        depth = input.shape[-1]
        output = np.zeros(input.shape, np.int8)
        self.lib.pb_softmax_s8(input.size // depth, depth, input_multiplier, input_left_shift, diff_min,
                               _ptr(_int8(input, "input")), _ptr(output))  # fmt: skip
        return output

    # data movement
    def pad(self, input: np.ndarray, paddings: np.ndarray, pad_value: int) -> np.ndarray:
        dims = _int32(input.shape)
        pads = _int32(np.asarray(paddings).reshape(-1))
        output = np.zeros(tuple(d + int(p[0]) + int(p[1]) for d, p in zip(input.shape, paddings, strict=True)),
                          np.int8)  # fmt: skip
        self.lib.pb_pad_s8(_ptr(dims, ctypes.c_int32), _ptr(pads, ctypes.c_int32), ctypes.c_int8(pad_value),
                           _ptr(_int8(input, "input")), _ptr(output))  # fmt: skip
        return output

    def concat(self, arrays: list[np.ndarray], axis: int, requants: list[tuple[int, int, int]],
               output_zero_point: int) -> np.ndarray:  # fmt: skip
        """requants[k]: (zero_point, multiplier, shift) of input k, multiplier 0 for a plain copy."""
        arrays = [_int8(a, f"input {k}") for k, a in enumerate(arrays)]
        axis = axis % arrays[0].ndim
        outer = int(np.prod(arrays[0].shape[:axis], dtype=np.int64))
        c_inputs = (PB_CONCAT_INPUT.ctypes_type * len(arrays))(*[
            PB_CONCAT_INPUT.ctypes_value(dict(data=_ptr(a), inner_size=a.size // outer, zero_point=zp, multiplier=m,
                                              shift=s))
            for a, (zp, m, s) in zip(arrays, requants, strict=True)
        ])  # fmt: skip
        shape = list(arrays[0].shape)
        shape[axis] = sum(a.shape[axis] for a in arrays)
        output = np.zeros(shape, np.int8)
        self.lib.pb_concat_s8(len(arrays), c_inputs, outer, output_zero_point, _ptr(output))
        return output

    # tiles (pb_resize_*.c, pb_depth_to_space.c, pb_space_to_depth.c): ``window`` holds the input from tile.in_y0 / tile.in_x0; None: the whole map
    def resize(self, kind: str, window: np.ndarray, in_hw: tuple[int, int], out_hw: tuple[int, int],
               align_corners: bool, half_pixel_centers: bool, tile: TileOrigin | None = None) -> np.ndarray:  # fmt: skip
        """pb_resize_nearest_s8 (kind "nearest") or pb_resize_bilinear_s8 ("bilinear") on one tile."""
        function = {"nearest": self.lib.pb_resize_nearest_s8, "bilinear": self.lib.pb_resize_bilinear_s8}[
            kind
        ]
        channels = window.shape[-1]
        shape = PB_RESIZE_SHAPE.ctypes_value(dict(in_h=in_hw[0], in_w=in_hw[1], out_h=out_hw[0], out_w=out_hw[1],
                                                  channels=channels, align_corners=int(align_corners),
                                                  half_pixel_centers=int(half_pixel_centers)))  # fmt: skip
        tile = tile or TileOrigin((0, out_hw[0]), (0, out_hw[1]), 0, 0)
        return self._tile_call(lambda t, i, o: function(ctypes.byref(shape), t, i, o), window, tile, channels)

    def depth_to_space(self, window: np.ndarray, block: int, tile: TileOrigin) -> np.ndarray:
        channels = window.shape[-1] // (block * block)
        return self._tile_call(lambda t, i, o: self.lib.pb_depth_to_space_s8(block, channels, t, i, o), window,
                               tile, channels)  # fmt: skip

    def space_to_depth(self, window: np.ndarray, block: int, tile: TileOrigin) -> np.ndarray:
        channels = window.shape[-1]
        return self._tile_call(lambda t, i, o: self.lib.pb_space_to_depth_s8(block, channels, t, i, o), window,
                               tile, channels * block * block)  # fmt: skip

    def transpose_conv(self, shape: dict[str, int], q: Requant, window: np.ndarray, filter: np.ndarray,
                       bias: np.ndarray | None, tile: TileOrigin, variant: str = "default") -> np.ndarray:  # fmt: skip
        """pb_transpose_conv_s8 on one tile; ``shape``: pb_transpose_conv_shape's fields (the full maps)."""
        multipliers, shifts = _int32(q.multipliers), _int32(q.shifts)
        c_q = _c_requant(q, multipliers, shifts)
        c_shape = PB_TRANSPOSE_CONV_SHAPE.ctypes_value(shape)
        bias32 = None if bias is None else _int32(bias)
        function = self._function("pb_transpose_conv_s8", variant)
        filter = _int8(filter, "filter")
        return self._tile_call(
            lambda t, i, o: function(ctypes.byref(c_shape), ctypes.byref(c_q), t, i, _ptr(filter),
                                     _ptr(bias32, ctypes.c_int32), o),
            window, tile, shape["out_c"],
        )  # fmt: skip

    def _tile_call(self, call, window: np.ndarray, tile: TileOrigin, out_c: int) -> np.ndarray:
        window = _int8(window, "input")
        (r0, r1), (c0, c1) = tile.out_rows, tile.out_cols
        output = np.zeros((1, r1 - r0, c1 - c0, out_c), np.int8)
        c_tile = PB_TILE.ctypes_value(dict(out_y0=r0, out_x0=c0, out_h=r1 - r0, out_w=c1 - c0, in_y0=tile.in_y0,
                                           in_x0=tile.in_x0, in_row_stride=window.shape[2] * window.shape[3],
                                           out_row_stride=(c1 - c0) * out_c))  # fmt: skip
        call(ctypes.byref(c_tile), _ptr(window), _ptr(output))
        return output


def _c_region(region: Region):
    return PB_REGION.ctypes_value(PB_REGION.values_of(region))


def _c_window(window: Window):
    return PB_WINDOW.ctypes_value(PB_WINDOW.values_of(window))


def _c_requant(q: Requant, multipliers: np.ndarray, shifts: np.ndarray):
    values = dict(
        input_zero_point=q.input_zero_point,
        output_zero_point=q.output_zero_point,
        act_min=q.act_min,
        act_max=q.act_max,
        multiplier=_ptr(multipliers, ctypes.c_int32),
        shift=_ptr(shifts, ctypes.c_int32),
        prepared=None,
    )
    return PB_REQUANT.ctypes_value(values)  # fmt: skip


@functools.cache
def host_kernels() -> HostKernels:
    """The host build of the kernels, compiled on first use."""
    return HostKernels(build_host_library())

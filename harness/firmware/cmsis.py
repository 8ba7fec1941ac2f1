# SPDX-License-Identifier: Apache-2.0
"""CMSIS-NN, the third kernel set: where its sources are, which of its files a firmware compiles, and its
``*_get_buffer_size`` functions run on the host (the arena planner sizes the kernels' scratch with them).

The sources are Arm's, used from where they sit and never copied into the repository: the pinned
snapshots in ``../shared/third_party/CMSIS-NN`` and ``CMSIS-Core`` (``VERSION`` names each commit), or
the folders named by ``PATCHBENCH_CMSIS_NN`` / ``PATCHBENCH_CMSIS_CORE``. A firmware compiles only the
files its calls need: ``source_closure`` follows the ``arm_*`` functions each file calls to the files
that define them. The build cache covers them like any other source (their text is part of the build
hash, and their include folders are hashed by ``BuildOptions.include_dirs``).
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from harness.paths import BUILD_DIR, SHARED_DIR

NN_ENV, CORE_ENV = "PATCHBENCH_CMSIS_NN", "PATCHBENCH_CMSIS_CORE"
# The pinned snapshots (shared/third_party/*/VERSION): where a machine without them gets the same code.
PINNED = {
    "CMSIS-NN": ("https://github.com/ARM-software/CMSIS-NN", "99f736a63036613032f9b70de36b493bcd7802d4"),
    "CMSIS-Core": ("https://github.com/ARM-software/CMSIS_6", "7f62ddc8ab8e9af22039912b8f9f46a9290f49ba"),
}
# The files that hold the *_get_buffer_size functions of the s8 kernels patchbench calls.
BUFFER_SIZE_SOURCES = (
    "ConvolutionFunctions/arm_convolve_get_buffer_sizes_s8.c",
    "ConvolutionFunctions/arm_depthwise_conv_get_buffer_sizes_s8.c",
    "FullyConnectedFunctions/arm_fully_connected_get_buffer_sizes_s8.c",
    "PoolingFunctions/arm_avgpool_get_buffer_sizes_s8.c",
)
_DEFINITION = re.compile(r"^[A-Za-z_][\w \t\*]*?\b(arm_\w+)\s*\(", re.MULTILINE)
_CALL = re.compile(r"\b(arm_\w+)\s*\(")


class CmsisNotFound(FileNotFoundError):
    """The CMSIS-NN or CMSIS-Core sources are not where patchbench looks; the message says where to get them."""


@dataclass(frozen=True)
class CmsisSources:
    nn: Path  # the CMSIS-NN folder (Include/, Source/, VERSION)
    core: Path  # the CMSIS-Core folder (CMSIS/Core/Include)

    @property
    def include_dirs(self) -> tuple[Path, Path]:
        return self.nn / "Include", self.core / "CMSIS" / "Core" / "Include"

    @property
    def version(self) -> str:
        """The CMSIS-NN commit line of its VERSION file (part of a point's build identity)."""
        path = self.nn / "VERSION"
        return path.read_text().splitlines()[0].strip() if path.is_file() else "unknown"


def _version_hint(folder: str) -> str:
    url, commit = PINNED[folder]
    what = " (its CMSIS/Core folder is the one used)" if folder == "CMSIS-Core" else ""
    return f"`git clone {url}` and `git checkout {commit}`{what}"


def locate() -> CmsisSources:
    """The CMSIS-NN and CMSIS-Core folders, or CmsisNotFound naming what is missing and where to get it."""
    third_party = SHARED_DIR / "third_party"
    nn = Path(os.environ.get(NN_ENV) or third_party / "CMSIS-NN").resolve()
    core = Path(os.environ.get(CORE_ENV) or third_party / "CMSIS-Core").resolve()
    problems = []
    if not (nn / "Include" / "arm_nnfunctions.h").is_file() or not (nn / "Source").is_dir():
        problems.append(
            f"CMSIS-NN not found at {nn} (no Include/arm_nnfunctions.h and Source/): "
            f"{_version_hint('CMSIS-NN')} there, or set {NN_ENV} to such a checkout"
        )
    if not (core / "CMSIS" / "Core" / "Include" / "cmsis_compiler.h").is_file():
        problems.append(
            f"CMSIS-Core not found at {core} (no CMSIS/Core/Include/cmsis_compiler.h): "
            f"{_version_hint('CMSIS-Core')} there, or set {CORE_ENV} to such a checkout"
        )
    if problems:
        raise CmsisNotFound("--kernels cmsis-nn needs Arm's sources: " + "; ".join(problems))
    return CmsisSources(nn, core)


@functools.cache
def _definitions(source_dir: Path) -> dict[str, Path]:
    """Function name -> the .c file of CMSIS-NN's Source/ that defines it (the int8 ones and helpers)."""
    found: dict[str, Path] = {}
    for path in sorted(source_dir.glob("*/*.c")):
        text = path.read_text(errors="replace")
        for match in _DEFINITION.finditer(text):
            body, semicolon = text.find("{", match.end()), text.find(";", match.end())
            is_definition = body != -1 and (semicolon == -1 or body < semicolon)
            if is_definition and not match.group(0).lstrip().startswith(("static", "__STATIC")):
                found.setdefault(match.group(1), path)  # file-local helpers and declarations stay out
    return found


def source_closure(sources: CmsisSources, functions: set[str] | frozenset[str]) -> list[Path]:
    """The Source/ files a firmware must compile to call ``functions``: their definitions and, transitively,
    the files defining every arm_* function those call. Raises KeyError naming a function nobody defines."""
    definitions = _definitions(sources.nn / "Source")
    missing = sorted(name for name in functions if name not in definitions)
    if missing:
        raise KeyError(f"CMSIS-NN at {sources.nn} defines no {', '.join(missing)}")
    wanted = [definitions[name] for name in sorted(functions)]
    files: set[Path] = set()
    while wanted:
        path = wanted.pop()
        if path in files:
            continue
        files.add(path)
        for name in set(_CALL.findall(path.read_text(errors="replace"))):
            other = definitions.get(name)
            if other is not None and other not in files:
                wanted.append(other)
    return sorted(files, key=lambda p: p.name)


def firmware_sources(sources: CmsisSources, functions: set[str] | frozenset[str]) -> dict[str, str]:
    """File name -> text of the CMSIS-NN files to compile into a firmware calling ``functions``."""
    return {path.name: path.read_text() for path in source_closure(sources, functions)}


# --- *_get_buffer_size on the host ---------------------------------------------------------------------


class _Dims(ctypes.Structure):
    _fields_ = [("n", ctypes.c_int32), ("h", ctypes.c_int32), ("w", ctypes.c_int32), ("c", ctypes.c_int32)]


class _Tile(ctypes.Structure):
    _fields_ = [("w", ctypes.c_int32), ("h", ctypes.c_int32)]


class _Activation(ctypes.Structure):
    _fields_ = [("min", ctypes.c_int32), ("max", ctypes.c_int32)]


class _ConvParams(ctypes.Structure):
    _fields_ = [("input_offset", ctypes.c_int32), ("output_offset", ctypes.c_int32), ("stride", _Tile),
                ("padding", _Tile), ("dilation", _Tile), ("activation", _Activation)]  # fmt: skip


class _DwParams(ctypes.Structure):
    _fields_ = [("input_offset", ctypes.c_int32), ("output_offset", ctypes.c_int32), ("ch_mult", ctypes.c_int32),
                ("stride", _Tile), ("padding", _Tile), ("dilation", _Tile), ("activation", _Activation)]  # fmt: skip


@dataclass(frozen=True)
class ConvCall:
    """The dims and geometry of one conv/depthwise call, as CMSIS-NN's structs hold them."""

    in_h: int
    in_w: int
    in_c: int
    out_h: int
    out_w: int
    out_c: int
    kernel_h: int
    kernel_w: int
    stride: tuple[int, int] = (1, 1)  # (h, w)
    padding: tuple[int, int] = (0, 0)  # (top, left): CMSIS-NN pads bottom/right by the output size
    dilation: tuple[int, int] = (1, 1)


class BufferSizes:
    """CMSIS-NN's ``*_get_buffer_size_dsp`` functions (the variant a Cortex-M4/M7 build calls), compiled
    for the host from the same sources the firmware builds."""

    def __init__(self, library: Path):
        self.lib = ctypes.CDLL(str(library))

    def _conv_structs(self, call: ConvCall, depthwise: bool):
        tiles = dict(stride=_Tile(call.stride[1], call.stride[0]), padding=_Tile(call.padding[1], call.padding[0]),
                     dilation=_Tile(call.dilation[1], call.dilation[0]), activation=_Activation(-128, 127))  # fmt: skip
        params = _DwParams(0, 0, 1, **tiles) if depthwise else _ConvParams(0, 0, **tiles)
        input_dims = _Dims(1, call.in_h, call.in_w, call.in_c)
        filter_dims = (_Dims(1, call.kernel_h, call.kernel_w, call.out_c) if depthwise
                       else _Dims(call.out_c, call.kernel_h, call.kernel_w, call.in_c))  # fmt: skip
        output_dims = _Dims(1, call.out_h, call.out_w, call.out_c)
        return params, input_dims, filter_dims, output_dims

    def conv(self, call: ConvCall) -> int:
        structs = self._conv_structs(call, depthwise=False)
        return int(self.lib.arm_convolve_wrapper_s8_get_buffer_size_dsp(*(ctypes.byref(s) for s in structs)))

    def depthwise(self, call: ConvCall) -> int:
        structs = self._conv_structs(call, depthwise=True)
        function = self.lib.arm_depthwise_conv_wrapper_s8_get_buffer_size_dsp
        return int(function(*(ctypes.byref(s) for s in structs)))

    def fully_connected(self, in_features: int, out_features: int) -> int:
        dims = _Dims(in_features, 1, 1, out_features)  # filter dims: n = accumulation depth, c = outputs
        return int(self.lib.arm_fully_connected_s8_get_buffer_size_dsp(ctypes.byref(dims)))

    def avgpool(self, out_w: int, channels: int) -> int:
        return int(self.lib.arm_avgpool_s8_get_buffer_size_dsp(ctypes.c_int(out_w), ctypes.c_int(channels)))


@functools.cache
def buffer_sizes(compiler: str = "gcc") -> BufferSizes:
    """The host build of the buffer-size functions (cached under BUILD_DIR/cmsis by a hash of the sources)."""
    sources = locate()
    files = [sources.nn / "Source" / name for name in BUFFER_SIZE_SOURCES]
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.read_bytes())
    for folder in sources.include_dirs[:1]:
        for path in sorted(folder.rglob("*.h")):
            digest.update(path.read_bytes())
    target = BUILD_DIR / "cmsis" / f"libcmsis-buffer-sizes-{digest.hexdigest()[:16]}.so"
    if not target.is_file():
        if shutil.which(compiler) is None:
            raise CmsisNotFound(f"host C compiler {compiler!r} not found; install gcc")
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
            partial = Path(tmp) / target.name
            includes = [f"-I{d}" for d in sources.include_dirs]
            command = [compiler, "-O1", "-fPIC", "-shared", *includes, "-o", str(partial), *map(str, files)]
            done = subprocess.run(command, capture_output=True, text=True)
            if done.returncode != 0:
                raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr}")
            os.replace(partial, target)
    return BufferSizes(target)

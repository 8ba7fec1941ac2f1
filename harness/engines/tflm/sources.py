# SPDX-License-Identifier: Apache-2.0
"""TensorFlow Lite Micro's sources: where they are, which of them patchbench compiles, and how.

The sources are the pinned snapshots in ``../shared/third_party`` (``tflite-micro``, its header-only
dependencies in ``tflite-micro-deps``, ``CMSIS-NN`` and ``CMSIS-Core``; ``PATCHBENCH_TFLM`` /
``PATCHBENCH_TFLM_DEPS`` point elsewhere), used where they sit, never copied into the repository. The
library is compiled from patchbench's own source list, not TFLM's Makefile (which downloads and parses
examples):

- the interpreter, allocator, memory planner, flatbuffer parsing and kernel utilities (``CORE_SOURCES``),
  at ``-Os`` as TFLM's Makefile builds its core;
- one kernel file per op in ``OPS`` (the ops patchbench's models and the converter's files use), found
  from the registration function ``MicroMutableOpResolver`` calls for it, with its ``*_common.cc``, at
  ``-O2`` as TFLM's kernels; kernel set ``cmsis-nn`` takes ``kernels/cmsis_nn/<file>`` instead where
  that exists (defining ``CMSIS_NN``, as TFLM's ``OPTIMIZED_KERNEL_DIR=cmsis_nn`` does) and CMSIS-NN's C
  files those call;
- C++ with ``CXX_FLAGS``, TFLM's headers as ``-isystem`` (they warn under ``-Wextra``).

One fix is applied to the build, and named in its log: the gemmlowp snapshot holds only ``fixedpoint/``,
whose ``fixedpoint.h`` includes ``../internal/detect_platform.h``; the build writes that header (our
own, ``DETECT_PLATFORM_H``) defining none of the SIMD platforms fixedpoint.h tests (NEON, SSE4, AVX2,
MSA), which is what gemmlowp's own header concludes on a Cortex-M.
"""

from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass
from pathlib import Path

from harness.firmware.cmsis import CmsisNotFound, CmsisSources, source_closure
from harness.firmware.cmsis import locate as locate_cmsis
from harness.firmware.library import ENTRY_PLACEHOLDER, LibrarySpec, LibraryUnit
from harness.paths import SHARED_DIR

TFLM_ENV, DEPS_ENV = "PATCHBENCH_TFLM", "PATCHBENCH_TFLM_DEPS"
PINNED = ("https://github.com/tensorflow/tflite-micro", "90b983c2b3f1480642e040bbd2ddb37b998f3424")
KERNEL_SETS = ("reference", "cmsis-nn")

CXX_FLAGS = ("-std=c++17", "-fno-rtti", "-fno-exceptions", "-fno-threadsafe-statics")
# TFLM's Makefile's COMMON_FLAGS for a Cortex-M build (no error-string stripping: the profiler needs the
# op names, and the interpreter's messages say why a model does not load).
COMMON_FLAGS = ("-ffunction-sections", "-fdata-sections", "-fno-unwind-tables",
                "-fno-asynchronous-unwind-tables", "-DTF_LITE_STATIC_MEMORY", "-DTF_LITE_DISABLE_X86_NEON",
                "-DARM_NN_ENABLE_F16=0", "-DARM_NN_ENABLE_F32=0")  # fmt: skip
CORE_OPTIMIZATION, KERNEL_OPTIMIZATION = "-Os", "-O2"  # TFLM's Makefile: CORE_ / KERNEL_OPTIMIZATION_LEVEL

CORE_SOURCES = (
    "tensorflow/lite/micro/flatbuffer_utils.cc",
    "tensorflow/lite/micro/memory_helpers.cc",
    "tensorflow/lite/micro/micro_allocation_info.cc",
    "tensorflow/lite/micro/micro_allocator.cc",
    "tensorflow/lite/micro/micro_context.cc",
    "tensorflow/lite/micro/micro_interpreter.cc",
    "tensorflow/lite/micro/micro_interpreter_context.cc",
    "tensorflow/lite/micro/micro_interpreter_graph.cc",
    "tensorflow/lite/micro/micro_log.cc",
    "tensorflow/lite/micro/micro_op_resolver.cc",
    "tensorflow/lite/micro/micro_resource_variable.cc",
    "tensorflow/lite/micro/micro_utils.cc",
    "tensorflow/lite/micro/arena_allocator/non_persistent_arena_buffer_allocator.cc",
    "tensorflow/lite/micro/arena_allocator/persistent_arena_buffer_allocator.cc",
    "tensorflow/lite/micro/arena_allocator/single_arena_buffer_allocator.cc",
    "tensorflow/lite/micro/memory_planner/greedy_memory_planner.cc",
    "tensorflow/lite/micro/memory_planner/linear_memory_planner.cc",
    "tensorflow/lite/micro/memory_planner/non_persistent_buffer_planner_shim.cc",
    "tensorflow/lite/micro/tflite_bridge/flatbuffer_conversions_bridge.cc",
    "tensorflow/lite/micro/tflite_bridge/micro_error_reporter.cc",
    "tensorflow/compiler/mlir/lite/core/api/error_reporter.cc",
    "tensorflow/compiler/mlir/lite/schema/schema_utils.cc",
    "tensorflow/lite/core/api/flatbuffer_conversions.cc",
    "tensorflow/lite/core/api/tensor_utils.cc",
    "tensorflow/lite/core/c/common.cc",
    "tensorflow/lite/kernels/kernel_util.cc",
    "tensorflow/lite/kernels/internal/common.cc",
    "tensorflow/lite/kernels/internal/portable_tensor_utils.cc",
    "tensorflow/lite/kernels/internal/quantization_util.cc",
    "tensorflow/lite/kernels/internal/runtime_shape.cc",
    "tensorflow/lite/kernels/internal/tensor_ctypes.cc",
    "tensorflow/lite/kernels/internal/tensor_utils.cc",
    "tensorflow/lite/micro/kernels/kernel_util.cc",
    "tensorflow/lite/micro/kernels/micro_tensor_utils.cc",
)
# The ops the library has kernels for: those of the MLPerf Tiny models, the converter corpus (with the
# converter's plumbing: SHAPE, PACK, EXPAND_DIMS, ...) and the zoo's exports (MobileNetV2, MCUNet, ...).
# TFLM has ~100 more; they stay out because each kernel file costs seconds of compile time in CI. A model
# with another op is "not supported by this engine", naming the op and this list, never half-built.
OPS = (
    "ADD", "AVERAGE_POOL_2D", "BATCH_TO_SPACE_ND", "CONCATENATION", "CONV_2D", "DEPTHWISE_CONV_2D",
    "DEQUANTIZE", "EXPAND_DIMS", "FULLY_CONNECTED", "HARD_SWISH", "LOGISTIC", "MAX_POOL_2D", "MEAN", "MUL",
    "PACK", "PAD", "QUANTIZE", "RELU", "RELU6", "RESHAPE", "SHAPE", "SOFTMAX", "SPACE_TO_BATCH_ND",
    "STRIDED_SLICE", "TRANSPOSE", "TRANSPOSE_CONV",
)  # fmt: skip

DETECT_PLATFORM_H = """\
/* Written by patchbench's TFLite Micro build (harness/engines/tflm/sources.py): the gemmlowp snapshot in
 * ../shared/third_party/tflite-micro-deps holds only fixedpoint/, whose fixedpoint.h includes this file.
 * gemmlowp's own detect_platform.h defines GEMMLOWP_NEON / _SSE4 / _AVX2 / _MSA only on cores with those
 * SIMD units; a Cortex-M has none, so none is defined here and fixedpoint.h keeps its portable code. */
#ifndef PB_GEMMLOWP_DETECT_PLATFORM_H
#define PB_GEMMLOWP_DETECT_PLATFORM_H
#endif
"""
GEMMLOWP_FIX = "include/gemmlowp/internal/detect_platform.h"
GEMMLOWP_FIX_DIR = "include/gemmlowp/fixedpoint"  # "../internal/..." from here reaches the fix
GEMMLOWP_FIX_DIR_README = (
    'An empty folder on the include path (-isystem): fixedpoint.h\'s #include "../internal/detect_platform.h"\n'
    "resolves from here to ../internal/detect_platform.h, the fix written beside it.\n"
)
# "TfLiteStatus AddConv2D(const TFLMRegistration& registration = Register_CONV_2D()) {
#      return AddBuiltin(BuiltinOperator_CONV_2D, registration, ParseConv2D);", or the registration inline
_REGISTRATION = re.compile(
    r"TfLiteStatus Add(\w+)\(([^)]*\)?)\s*\)\s*\{\s*return AddBuiltin\(\s*BuiltinOperator_(\w+),\s*([^,]*),",
    re.S,
)


class TflmNotFound(FileNotFoundError):
    """TFLite Micro, its header dependencies or CMSIS are not where patchbench looks; says where to get them."""


@dataclass(frozen=True)
class TflmSources:
    root: Path  # the tflite-micro checkout (tensorflow/lite/micro/...)
    deps: Path  # flatbuffers/include, gemmlowp, ruy
    cmsis: CmsisSources

    @property
    def version(self) -> str:
        """The commit lines of TFLM's and CMSIS-NN's VERSION files (part of a point's identity)."""
        path = self.root / "VERSION"
        tflm = path.read_text().split()[1] if path.is_file() else "unknown"
        return f"tflite-micro {tflm[:12]}, CMSIS-NN {self.cmsis.version.split()[1][:12]}"

    @property
    def include_dirs(self) -> tuple[Path, ...]:
        nn, core = self.cmsis.include_dirs
        return (self.root, self.deps / "flatbuffers" / "include", self.deps / "gemmlowp", self.deps / "ruy",
                nn.parent, core)  # fmt: skip

    def include_flags(self) -> tuple[str, ...]:
        """-isystem for every header folder, the build's gemmlowp fix included (through the entry)."""
        folders = [*map(str, self.include_dirs), f"{ENTRY_PLACEHOLDER}/{GEMMLOWP_FIX_DIR}"]
        return tuple(flag for folder in folders for flag in ("-isystem", folder))


def locate() -> TflmSources:
    """The TFLM, deps and CMSIS folders, or TflmNotFound naming what is missing and where to get it."""
    third_party = SHARED_DIR / "third_party"
    root = Path(os.environ.get(TFLM_ENV) or third_party / "tflite-micro").resolve()
    deps = Path(os.environ.get(DEPS_ENV) or third_party / "tflite-micro-deps").resolve()
    problems = []
    if not (root / "tensorflow" / "lite" / "micro" / "micro_interpreter.h").is_file():
        problems.append(f"TensorFlow Lite Micro not found at {root}: `git clone {PINNED[0]}` and `git checkout "
                        f"{PINNED[1]}` there, or set {TFLM_ENV} to such a checkout")  # fmt: skip
    if not (deps / "flatbuffers" / "include" / "flatbuffers" / "flatbuffers.h").is_file():
        problems.append(f"TFLM's header dependencies not found at {deps} (flatbuffers/include, gemmlowp, ruy: "
                        f"the versions tensorflow/lite/micro/tools/make/third_party_downloads.inc names); set "
                        f"{DEPS_ENV} to such a folder")  # fmt: skip
    try:
        cmsis = locate_cmsis()
    except CmsisNotFound as err:
        problems.append(str(err))
    if problems:
        raise TflmNotFound("the tflm engine needs TensorFlow Lite Micro's sources: " + "; ".join(problems))
    return TflmSources(root, deps, cmsis)


@functools.cache
def registrations(root: Path) -> dict[str, tuple[str, str]]:
    """Builtin op name -> (MicroMutableOpResolver method, registration function), read from TFLM's own
    micro_mutable_op_resolver.h: e.g. "CONV_2D" -> ("AddConv2D", "Register_CONV_2D")."""
    header = (root / "tensorflow/lite/micro/micro_mutable_op_resolver.h").read_text()
    found = {}
    for method, parameter, op, argument in _REGISTRATION.findall(header):
        function = re.search(r"Register_\w+", parameter + argument)
        if function:
            found[op] = (f"Add{method}", function.group(0))
    return found


def kernel_files(sources: TflmSources, kernels: str) -> list[Path]:
    """The kernel sources of OPS for ``kernels``: the file defining each op's registration function (the
    cmsis_nn/ one where it exists, for "cmsis-nn"), and each one's *_common.cc."""
    folder = sources.root / "tensorflow/lite/micro/kernels"
    defined = _registration_files(folder)
    table = registrations(sources.root)
    files: list[Path] = []
    for op in OPS:
        path = defined[table[op][1]]
        if kernels == "cmsis-nn" and (folder / "cmsis_nn" / path.name).is_file():
            path = folder / "cmsis_nn" / path.name
        common = folder / f"{path.stem}_common.cc"
        for item in (path, common):
            if item.is_file() and item not in files:
                files.append(item)
    return files


@functools.cache
def _registration_files(folder: Path) -> dict[str, Path]:
    """Registration function -> the reference kernel file under ``folder`` that defines it."""
    found: dict[str, Path] = {}
    for path in sorted(folder.glob("*.cc")):
        if path.name.endswith("_test.cc"):
            continue
        for name in re.findall(r"^TFLMRegistration (Register_\w+)\(\)\s*\{", path.read_text(), re.M):
            found.setdefault(name, path)
    return found


def _cmsis_functions(files: list[Path]) -> set[str]:
    """The CMSIS-NN functions the cmsis_nn/ kernel files call."""
    return {name for path in files if path.parent.name == "cmsis_nn"
            for name in re.findall(r"\b(arm_\w+)\s*\(", path.read_text())}  # fmt: skip


def library_spec(sources: TflmSources, kernels: str) -> LibrarySpec:
    """The TFLM library for kernel set ``kernels`` ("reference" or "cmsis-nn"), ready for build_library."""
    if kernels not in KERNEL_SETS:
        raise ValueError(f"TFLite Micro kernel set {kernels!r} unknown; use one of {', '.join(KERNEL_SETS)}")
    includes = sources.include_flags()
    defines = COMMON_FLAGS + (("-DCMSIS_NN",) if kernels == "cmsis-nn" else ())
    kernel_paths = kernel_files(sources, kernels)
    units = [LibraryUnit(sources.root / path, (*CXX_FLAGS, CORE_OPTIMIZATION, *defines, *includes))
             for path in CORE_SOURCES]  # fmt: skip
    units += [
        LibraryUnit(path, (*CXX_FLAGS, KERNEL_OPTIMIZATION, *defines, *includes)) for path in kernel_paths
    ]
    if kernels == "cmsis-nn":
        c_includes = tuple(f"-I{folder}" for folder in sources.cmsis.include_dirs)
        cmsis_files = source_closure(sources.cmsis, _cmsis_functions(kernel_paths))
        units += [
            LibraryUnit(path, ("-std=c11", KERNEL_OPTIMIZATION, *defines, *c_includes))
            for path in cmsis_files
        ]
    notes = (
        f"TensorFlow Lite Micro {sources.version}, kernel set {kernels}: {len(CORE_SOURCES)} core files, "
        f"{len(kernel_paths)} kernel files for {len(OPS)} ops ({', '.join(OPS)})",
        f"fix: wrote {GEMMLOWP_FIX} (the gemmlowp snapshot has only fixedpoint/; see sources.DETECT_PLATFORM_H)",
    )
    return LibrarySpec(
        name=f"tflm-{kernels}",
        units=tuple(units),
        header_dirs=sources.include_dirs,
        generated={GEMMLOWP_FIX: DETECT_PLATFORM_H, f"{GEMMLOWP_FIX_DIR}/README": GEMMLOWP_FIX_DIR_README},
        notes=notes,
    )


def firmware_cxx_flags(sources: TflmSources, kernels: str) -> tuple[str, ...]:
    """What the adapter compiles with beside the firmware's own flags (ENTRY_PLACEHOLDER still in them:
    ``Library.flags`` fills it in)."""
    return (*COMMON_FLAGS, *(("-DCMSIS_NN",) if kernels == "cmsis-nn" else ()), *sources.include_flags())

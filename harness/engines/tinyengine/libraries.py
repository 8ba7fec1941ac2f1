# SPDX-License-Identifier: Apache-2.0
"""TinyEngine's C as two cached static libraries, compiled with their own flags (patchbench's C stays strict).

- ``tinyengine-kernels``: TinyEngine's kernels (``TinyEngine/src/kernels/int_forward_op`` and
  ``fp_requantize_op``) and the three CMSIS-NN sources of TinyEngine's pinned CMSIS 5 that they call
  (``../shared/third_party/CMSIS_5-tinyengine``): once per (sources, flags, core, compiler).
- ``tinyengine-model``: what the generator wrote for one model (``genModel.c`` split into layer functions,
  the depthwise kernels it specializes, ``genModel.h`` with the weights and ``static signed char
  buffer[PEAK_MEM]``): once per generated folder (whose key hashes the model, the mode, the patch
  settings, the generator copy and its patches) and core and compiler.

Both compile with ``THIRD_PARTY_CFLAGS``: gcc's default warnings, not ``-Wall -Wextra -Werror`` (TinyEngine's
sources give ~240 warnings there: implicit declarations of its own helpers, sign conversions); the warnings
are kept in each library's build.log. Archives: the linker takes only the members a firmware calls.
"""

from __future__ import annotations

from pathlib import Path

from harness.firmware.library import Library, LibrarySpec, LibraryUnit, build_library
from harness.firmware.targets import Target
from harness.paths import SHARED_DIR

from .generator import SNAPSHOT_DIR, Generated, patch_files

TINYENGINE_DIR = SNAPSHOT_DIR / "TinyEngine"
CMSIS5_DIR = SHARED_DIR / "third_party" / "CMSIS_5-tinyengine" / "CMSIS"
KERNEL_FOLDERS = ("src/kernels/int_forward_op", "src/kernels/fp_requantize_op")
# What TinyEngine's kernels call of CMSIS-NN (the rest of its CMSIS 5 is headers)
CMSIS5_SOURCES = (
    "NN/Source/ConvolutionFunctions/arm_nn_mat_mult_kernel_s8_s16.c",
    "NN/Source/ConvolutionFunctions/arm_nn_mat_mult_kernel_s8_s16_reordered.c",
    "NN/Source/NNSupportFunctions/arm_q7_to_q15_with_offset.c",
)
THIRD_PARTY_CFLAGS = ("-O2", "-g", "-std=gnu11", "-ffunction-sections", "-fdata-sections", "-fno-common")
# tinyengine_function.h includes the generator's genInclude.h (its depthwise kernels' prototypes); the
# kernels library has no model, so it gets an empty one.
EMPTY_GEN_INCLUDE = "/* patchbench: the kernels library is built without a model; no generated kernels */\n"


class TinyEngineSourcesMissing(FileNotFoundError):
    """TinyEngine's or its CMSIS 5's sources are not where patchbench expects them."""


def check_sources() -> None:
    for folder in (TINYENGINE_DIR / "include", CMSIS5_DIR / "NN" / "Include"):
        if not folder.is_dir():
            raise TinyEngineSourcesMissing(
                f"{folder} not found: the tinyengine engine needs ../shared/third_party/tinyengine and "
                "CMSIS_5-tinyengine beside the repository (see ../shared/third_party/README.md)"
            )


def include_flags(*first: Path) -> tuple[str, ...]:
    folders = [*first, TINYENGINE_DIR / "include", CMSIS5_DIR / "NN" / "Include", CMSIS5_DIR / "DSP" / "Include",
               CMSIS5_DIR / "Core" / "Include"]  # fmt: skip
    return tuple(f"-I{folder}" for folder in folders)


def header_dirs() -> tuple[Path, ...]:
    return (TINYENGINE_DIR / "include", CMSIS5_DIR / "NN" / "Include", CMSIS5_DIR / "DSP" / "Include",
            CMSIS5_DIR / "Core" / "Include")  # fmt: skip


def kernels_spec() -> LibrarySpec:
    check_sources()
    flags = THIRD_PARTY_CFLAGS + include_flags(Path("{entry}/include"))
    sources = [path for folder in KERNEL_FOLDERS for path in sorted((TINYENGINE_DIR / folder).glob("*.c"))]
    sources += [CMSIS5_DIR / name for name in CMSIS5_SOURCES]
    return LibrarySpec(
        name="tinyengine-kernels",
        units=tuple(LibraryUnit(path, flags) for path in sources),
        header_dirs=header_dirs(),
        generated={"include/genInclude.h": EMPTY_GEN_INCLUDE},
        notes=(f"TinyEngine {TINYENGINE_DIR} and CMSIS 5 {CMSIS5_DIR}, compiled with {' '.join(THIRD_PARTY_CFLAGS)} "
               "(third-party code: gcc's default warnings, not patchbench's -Werror)",),
    )  # fmt: skip


def model_spec(generated: Generated) -> LibrarySpec:
    check_sources()
    flags = THIRD_PARTY_CFLAGS + include_flags(generated.include_dir)
    return LibrarySpec(
        name=f"tinyengine-model-{generated.key}",
        units=tuple(LibraryUnit(path, flags) for path in sorted(generated.source_dir.glob("*.c"))),
        header_dirs=(generated.include_dir, *header_dirs()),
        notes=(f"TinyEngine's generated code for {generated.model} ({generated.mode} mode) from {generated.folder}",
               *(f"generator patch {patch.name}" for patch in patch_files())),
    )  # fmt: skip


def build_libraries(generated: Generated, target: Target, *, build_root: Path | None = None,
                    gcc: str = "arm-none-eabi-gcc") -> tuple[Library, Library]:  # fmt: skip
    """The model's library and the kernels library, in link order (cached)."""
    model = build_library(model_spec(generated), target, gcc=gcc, build_root=build_root)
    kernels = build_library(kernels_spec(), target, gcc=gcc, build_root=build_root)
    return model, kernels


__all__ = ["THIRD_PARTY_CFLAGS", "TinyEngineSourcesMissing", "build_libraries", "check_sources", "kernels_spec",
           "model_spec"]  # fmt: skip

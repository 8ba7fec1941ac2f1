# SPDX-License-Identifier: Apache-2.0
"""What the code generator takes (CodegenOptions), what it gives (GeneratedModel), how it refuses (CodegenError)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from harness.schedule.arena import DEFAULT_INPLACE, ArenaPlan, InplacePolicy
from harness.schedule.profile import InputMode


class CodegenError(ValueError):
    """A graph or schedule the code generator cannot turn into C; the message names the op (index, name,
    kind) or the setting at fault and what to do. Raised at generation time, never as a compile error."""


@dataclass(frozen=True)
class CodegenOptions:
    """How to generate one model.

    ``optimized``: build against the DSP kernels (``PB_KERNELS_OPTIMIZED=1``) and size their scratch;
    False: the portable C kernels (no scratch). Recorded in the generated C and in the build flags.

    ``input_mode``: "counted" keeps the whole input image in the arena (pb_model_prepare_input generates
    the test input there before every run, or copies a given image from flash); "streamed" (p > 1 only)
    never holds the whole image in SRAM: each patch fills its own input tile in a patch buffer at the
    start of the patch, as a camera or decoder delivering tiles would: generated from the seed with the
    timer stopped, or (a given image) copied from its flash copy as part of the patch's timing.

    ``op_crcs``: see the field; timings of such a build include the CRCs and mean nothing.

    ``cmsis_nn``: every op CMSIS-NN has an s8 kernel for calls it (harness/codegen/cmsis_nn.py), the
    others run the portable kernels (so ``optimized`` is False); scratch from CMSIS-NN's
    ``*_get_buffer_size``; no in-place depthwise (CMSIS-NN's kernels read their input while writing) and no
    residual ADD fused into a conv (CMSIS-NN, like TFLite Micro, runs the ADD on its own).
    """

    optimized: bool = True
    input_mode: InputMode = "counted"
    planner: str = "best"
    inplace: InplacePolicy = DEFAULT_INPLACE
    alignment: int = 16
    cmsis_nn: bool = False
    # A diagnosis build (per-layer only): the firmware's output is the CRC32 of every op's output tensor,
    # 4 bytes an op (little-endian) in op order, to find the first op whose output differs.
    op_crcs: bool = False

    def __post_init__(self) -> None:
        if self.input_mode not in ("counted", "streamed"):
            raise CodegenError(f"input_mode {self.input_mode!r} unknown; use 'counted' or 'streamed'")
        if self.cmsis_nn:
            object.__setattr__(self, "optimized", False)
            # CMSIS-NN's depthwise kernels read their input while writing; its convs have no ADD epilogue;
            # a folded PAD's pads are not checked against what its calls take (TFLite Micro keeps PAD too)
            object.__setattr__(
                self,
                "inplace",
                replace(
                    self.inplace,
                    depthwise="off",
                    residual_add=False,
                    residual_add_in_stage=False,
                    fold_pads=False,
                ),
            )


@dataclass(frozen=True)
class GeneratedModel:
    """The C of one (graph, schedule, test input) and the memory plan it was generated against."""

    graph_name: str
    p: int
    n: int
    sources: dict[str, str]  # file name -> text: model.c, model.h, model_weights.h and the kernel sources
    arena: ArenaPlan
    input_in_sram: bool  # True: the whole input image lives in the arena (input_mode "counted")
    schedule: str  # the text the firmware prints in its SCHEDULE line
    layer_names: tuple[str, ...]  # the timed units, in order: patch_r<i>_c<j> ..., then one per op
    options: CodegenOptions
    output_sizes: tuple[int, ...]  # bytes of each pb_model_output(k), in the graph's output order
    defines: tuple[str, ...] = field(default=())  # -D flags the build must pass (kernel selection)
    include_dirs: tuple[Path, ...] = field(default=())  # header folders outside the sources (CMSIS-NN's)
    # ops that run patchbench's portable kernel under the CMSIS-NN kernel set: op name -> why
    portable_ops: dict[str, str] = field(default_factory=dict)
    kernel_library: str = ""  # the CMSIS-NN version line, when it is built in
    folds: tuple[str, ...] = ()  # PAD ops folded into their readers (harness/schedule/fusion.py)
    # op -> the op whose function runs it: a residual ADD fused as a conv's epilogue, a folded PAD
    runs_in: dict[str, str] = field(default_factory=dict)

    @property
    def output_bytes(self) -> int:
        """The outputs' bytes end to end."""
        return sum(self.output_sizes)

    @property
    def arena_bytes(self) -> int:
        return self.arena.arena_bytes

    @property
    def scratch_bytes(self) -> int:
        """The largest kernel scratch buffer (part of the arena)."""
        return self.arena.scratch_bytes

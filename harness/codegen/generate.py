# SPDX-License-Identifier: Apache-2.0
"""generate_model: a Graph + PatchPlan + test input -> readable C (model.c, model.h, model_weights.h) that
implements harness/firmware/model_api.h with patchbench's int8 kernels; build_model: that C -> firmware.

The steps, each in its own module: check that every op can be emitted (``ops.unsupported_reason``; an op
that cannot is a CodegenError naming it, never dropped), plan the arena with the kernels' real scratch
(``layout.plan_model_arena``), emit one function per op (``ops.emit_op``), one function per patch that
calls the stage ops on that patch's regions, and render the templates in ``templates/``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import jinja2
import numpy as np

from harness.codegen import cmsis_nn, kernels
from harness.firmware.build import BuildOptions, BuildResult, build_firmware
from harness.firmware.targets import Target, load_target
from harness.firmware.test_input import InputSpec, SeededInput, TestInputError
from harness.ir.geometry import TILE_KINDS, activation_inputs, hwc
from harness.ir.graph import Graph, GraphError, validate
from harness.schedule.arena import ArenaPlan
from harness.schedule.fusion import fold_pads
from harness.schedule.plan import PatchPlan, Region
from harness.schedule.rows import RowPlan
from harness.schedule.segments import StagedPlan

from .carrays import NAME_TEXT_LIMIT, CArray, c_comment, c_ints, c_string
from .layout import RowLayout, StageLayout, StepIO, plan_model_arena
from .ops import OpCode, OpContext, buffer_macro, emit_op, unsupported_reason
from .options import CodegenError, CodegenOptions, GeneratedModel

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
GENERATED_FILES = ("model.c", "model.h", "model_weights.h")
DSP_CORES = ("cortex-m4", "cortex-m7", "cortex-m33", "cortex-m35p", "cortex-m55", "cortex-m85")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_C_KEYWORDS = frozenset(
    "auto break case char const continue default do double else enum extern float for goto if inline int "
    "long register restrict return short signed sizeof static struct switch typedef union unsigned void "
    "volatile while _Bool _Complex _Imaginary _Alignas _Alignof _Atomic _Generic _Noreturn _Static_assert "
    "_Thread_local".split()
)
# Names model.c defines itself; an op may not take them.
_RESERVED = frozenset({"arena", "stage_step", "load_tile", "model_outputs", "region", "inputs", "dims", "pads",
                       "perm", "row", "in_y", "main", "memcpy", "memset", "tile"})  # fmt: skip


def generate_model(
    graph: Graph,
    plan: PatchPlan | StagedPlan,
    target: Target | str,
    test_input: SeededInput | np.ndarray | Mapping[str, np.ndarray],
    options: CodegenOptions | None = None,
) -> GeneratedModel:
    """The firmware C of ``graph`` run under ``plan`` on ``target`` with ``test_input``: a SeededInput (the
    benchmark's: generated on the device from its seed, harness/firmware/pb_test_input.h; no image in
    flash) or arrays (compiled into flash as they are: a given image).

    Raises CodegenError for anything it cannot emit (an op the kernels cannot run, a name that is not a
    C identifier, a test input of the wrong shape), naming the op or input and what to do.
    """
    options = options or CodegenOptions()
    target = load_target(target) if isinstance(target, str) else target
    _check_inputs(graph, plan, target, options)
    inputs = _test_inputs(graph, test_input)
    # the diagnosis build reports one CRC per op of the graph it was given: nothing folded away there
    if options.inplace.fold_pads and not options.op_crcs:
        folded = fold_pads(graph, plan)
        graph, plan, folds = folded.graph, folded.plan, folded.folds
    else:
        folds = ()
    extra_sources, include_dirs, library = (
        cmsis_nn.firmware_sources(graph) if options.cmsis_nn else ({}, (), "")
    )
    scratch = cmsis_nn.scratch_rule() if options.cmsis_nn else None
    arena = plan_model_arena(graph, plan, options, scratch)
    # the patch stage (a PatchPlan's, or a StagedPlan's first segment) and the row-streamed segments
    staged = isinstance(plan, StagedPlan)
    patch_part = next((part for part in plan.parts if isinstance(part, PatchPlan)), None) if staged else plan
    if patch_part is not None and patch_part.is_per_layer:
        patch_part = None
    patch_ops = set(patch_part.stage_ops) if patch_part else set()
    stage_ops = set(plan.stage_ops)
    layouts = {
        "patch": StageLayout(graph, patch_part, arena) if patch_part else None,
        "rows": RowLayout(graph, plan, arena) if staged else None,
    }

    def layout_of(op):
        if op.name not in stage_ops:
            return None
        return layouts["patch"] if op.name in patch_ops else layouts["rows"]

    emit = cmsis_nn.emit if options.cmsis_nn else emit_op
    op_codes = [
        emit(OpContext(graph, op, index, arena, layout_of(op), options.optimized))
        for index, op in enumerate(graph.ops)
    ]
    portable_ops = _portable_ops(graph, op_codes) if options.cmsis_nn else {}
    in_patches = [code for code, op in zip(op_codes, graph.ops, strict=True) if op.name in patch_ops]
    in_rows = [code for code, op in zip(op_codes, graph.ops, strict=True) if op.name in stage_ops - patch_ops]
    patches = _patch_functions(graph, patch_part, arena, in_patches, inputs) if patch_part else []
    segments = _row_functions(graph, plan, arena, in_rows, inputs) if staged else []
    first_op = {
        segment.first_op: segment.name for segment in segments
    }  # a segment's unit sits where it starts
    layer_names = tuple([patch.name for patch in patches] + [first_op.get(op.name, op.name) for op in graph.ops
                                                             if op.name in first_op or op.name not in stage_ops])  # fmt: skip
    _check_identifiers(op_codes, layer_names)

    label = plan.label
    if plan.is_per_layer:
        schedule = label
    elif staged:
        schedule = f"{label} input={arena.input_mode}"
    else:
        schedule = f"per-patch {label} input={arena.input_mode}"
    streamed = arena.input_mode == "streamed"
    outputs = _outputs(graph)
    output_sizes = tuple(output["size"] for output in outputs)
    op_crcs = [dict(name=op.name, macro=buffer_macro(graph, op.outputs[0]), size=graph.tensor(op.outputs[0]).nbytes)
               for op in graph.ops] if options.op_crcs else []  # fmt: skip
    if op_crcs:
        output_sizes = (4 * len(op_crcs),)
    context = dict(
        graph_name=graph.name, schedule=schedule, arena=arena, p=patch_part.p if patch_part else 1, op_codes=op_codes,
        patches=patches, segments=segments, row_loads=any(seg.loads for seg in segments),
        stage_ops=patch_part.stage_ops if patch_part else (), layer_names=layer_names, streamed=streamed, inputs=inputs, outputs=outputs,
        output_bytes=sum(output_sizes), optimized=int(options.optimized), cmsis_nn=options.cmsis_nn, op_crcs=op_crcs,
        kernels=_kernels_note(options, library, portable_ops), generated_input=inputs[0].spec is not None,
        input_note=_input_note(streamed, inputs[0].spec is not None), max_inputs=_max_stage_inputs(graph, plan),
        stage_output_macro=buffer_macro(graph, patch_part.stage_output) if patch_part else "",
        stage_steps=len(patch_ops), buffers=_buffer_rows(graph, arena),
        arrays=[a for code in op_codes for a in code.constants] + [i.array_data for i in inputs if i.spec is None],
    )  # fmt: skip
    context["row_load"] = _row_load(graph, inputs[0]) if context["row_loads"] else ""
    environment = _environment()
    # the steps carry their tile's origin when an op of the stage needs it (TILE_KINDS: resizes, ...)
    context["step_origin"] = any(op.kind in TILE_KINDS for op in graph.ops if op.name in stage_ops)
    environment.globals["step_initializer"] = lambda step: _step_initializer(
        step, context["max_inputs"], context["step_origin"]
    )
    sources = {
        "model.c": environment.get_template("model.c.j2").render(context),
        "model.h": environment.get_template("model.h.j2").render(context),
        "model_weights.h": environment.get_template("model_weights.h.j2").render(context),
    }
    sources.update(kernels.kernel_files())
    sources.update(extra_sources)
    return GeneratedModel(
        graph_name=graph.name, p=getattr(plan, "p", 0), n=getattr(plan, "n", 0), sources=sources, arena=arena, input_in_sram=not streamed,
        schedule=schedule, layer_names=layer_names, options=options, output_sizes=output_sizes,
        defines=(kernels.optimized_define(options.optimized), *_kernel_path_defines(graph, op_codes)),
        include_dirs=include_dirs,
        portable_ops=portable_ops, kernel_library=library, folds=tuple(fold.describe() for fold in folds),
        runs_in={**{fold.pad: fold.into for fold in folds}, **{add: conv for conv, add in arena.epilogues}},
    )  # fmt: skip


def build_model(
    model: GeneratedModel,
    target: Target | str,
    build_options: BuildOptions | None = None,
    *,
    build_root: Path | None = None,
) -> BuildResult:
    """Build the firmware of a generated model (Firmware, or DoesNotFit with the numbers)."""
    build_options = build_options or BuildOptions()
    defines = tuple(d for d in build_options.defines if not d.startswith("PB_KERNELS_OPTIMIZED"))
    include_dirs = tuple(build_options.include_dirs) + tuple(model.include_dirs)
    build_options = replace(build_options, defines=defines + model.defines, include_dirs=include_dirs,
                            timed_units=len(model.layer_names))  # fmt: skip
    return build_firmware(model.sources, target, build_options, build_root=build_root)


def _kernel_path_defines(graph: Graph, op_codes: list[OpCode]) -> tuple[str, ...]:
    """kernels.kernel_path_defines over the model's convs, each on the regions its C calls take."""
    calls = [
        (code.fields["kernel"], kernels.window_for_op(graph, op),
         [step.region for step in code.steps] or [kernels.region_for_op(graph, op)])
        for code, op in zip(op_codes, graph.ops, strict=True)
        if op.kind in ("CONV_2D", "DEPTHWISE_CONV_2D") and isinstance(code.fields.get("kernel"), str)
    ]  # fmt: skip
    return kernels.kernel_path_defines(calls)


def _portable_ops(graph: Graph, op_codes: list[OpCode]) -> dict[str, str]:
    """Under CMSIS-NN: the ops (and patch tiles) that run patchbench's portable kernel, and why."""
    found = cmsis_nn.fallbacks(graph)
    for code, op in zip(op_codes, graph.ops, strict=True):
        if code.macro == "cmsis_window" and code.steps:
            tiles = cmsis_nn.portable_tiles(code.steps, kernels.window_for_op(graph, op))
            if tiles:
                found[op.name] = (f"{tiles} of {len(code.steps)} patch tiles read a window of the whole input "
                                  "image with right padding, which no CMSIS-NN call reads")  # fmt: skip
    return found


def _kernels_note(options: CodegenOptions, library: str, portable_ops: dict[str, str]) -> str:
    if not options.cmsis_nn:
        return "optimized (Cortex-M DSP)" if options.optimized else "portable C"
    note = f"CMSIS-NN ({library}) where it has an s8 kernel"
    if portable_ops:
        note += "; portable C for " + ", ".join(sorted(portable_ops))
    return note


# --- checks ----------------------------------------------------------------------------------------


def _check_inputs(graph: Graph, plan: PatchPlan, target: Target, options: CodegenOptions) -> None:
    try:
        validate(graph)
    except GraphError as err:
        raise CodegenError(f"cannot generate code for an invalid graph: {err}") from None
    if plan.graph_name != graph.name:
        raise CodegenError(f"the plan was made for graph {plan.graph_name!r}, not {graph.name!r}")
    if options.op_crcs and not plan.is_per_layer:
        raise CodegenError("op_crcs (the per-op CRC diagnosis build) needs the per-layer schedule (p = 1)")
    if options.input_mode == "streamed" and plan.is_per_layer:
        raise CodegenError(
            "input_mode 'streamed' needs a patch stage (p > 1): per-layer inference reads the whole image"
        )
    if isinstance(plan, StagedPlan):
        if options.input_mode == "streamed" and not set(graph.inputs) <= set(plan.parts[0].stage_inputs):
            raise CodegenError(f"schedule {plan.label!r}: input_mode 'streamed' needs the first segment to read "
                               "the graph's input row by row (a row-streamed segment from layer 0)")  # fmt: skip
    if options.optimized and target.core not in DSP_CORES:
        raise CodegenError(
            f"target {target.name!r} ({target.core}) has no DSP extension for the optimized kernels; "
            "generate with CodegenOptions(optimized=False)"
        )
    stage_ops = set(plan.stage_ops)
    problems = []
    for index, op in enumerate(graph.ops):
        if not _IDENTIFIER.match(op.name) or op.name in _C_KEYWORDS or op.name in _RESERVED:
            problems.append(
                f"op {index} {op.name!r} ({op.kind}): its name is not a usable C identifier (letters, digits, "
                "underscores; not a C keyword or a name model.c uses); rename the op"
            )
            continue
        if op.name.startswith(("pb_", "PB_", "patch_r", "BUF_", "SCRATCH_", "model_")):
            problems.append(
                f"op {index} {op.name!r} ({op.kind}): names starting with pb_, patch_r, BUF_, SCRATCH_ or "
                "model_ are taken by the generated code and the kernels; rename the op"
            )
            continue
        reason = unsupported_reason(graph, op, op.name in stage_ops)
        if reason is not None:
            where = "in the patch stage" if op.name in stage_ops else "per layer"
            problems.append(f"op {index} {op.name!r} ({op.kind}, {where}): {reason}")
    for name in graph.outputs:
        if name in graph.inputs:
            problems.append(f"graph output {name!r} is a graph input; there is nothing to compute")
    if problems:
        raise CodegenError(
            f"graph {graph.name!r}: cannot generate C for {len(problems)} op(s):\n  " + "\n  ".join(problems)
        )


def _check_identifiers(op_codes: list[OpCode], layer_names: tuple[str, ...]) -> None:
    seen: dict[str, str] = {}
    for code in op_codes:
        names = [code.name, *(a.name for a in code.constants)]
        names += [re.search(r"(\w+)\s*=", s).group(1) for s in code.structs]
        if code.steps:
            names.append(f"{code.name}_steps")
        for name in names:
            if name in seen and seen[name] != code.name:
                raise CodegenError(
                    f"ops {seen[name]!r} and {code.name!r} both need the C name {name!r}; rename one of them"
                )
            seen[name] = code.name
    for name in layer_names:
        if name.startswith("patch_r") and name in seen:
            raise CodegenError(f"op {seen[name]!r} clashes with the patch function {name!r}; rename the op")


@dataclass(frozen=True)
class _InputSlot:
    name: str  # tensor name
    macro: str  # model.h offset name
    array: str  # the flash array holding the test input
    size: int  # bytes
    shape: tuple[int, ...]
    data: np.ndarray | None  # a given image (compiled into flash); None: generated (spec)
    spec: InputSpec | None = None  # the generator's, for a SeededInput

    @property
    def itemsize(self) -> int:
        return np.dtype(self.spec.dtype if self.spec else self.data.dtype).itemsize

    @property
    def scale_literal(self) -> str:
        """The float32 scale as an exact C literal (hexadecimal)."""
        return float(np.float32(self.spec.scale)).hex() + "f"

    @property
    def array_data(self) -> CArray:
        return CArray(
            self.array,
            str(self.data.dtype),
            self.data,
            f"test input {c_comment(self.name, NAME_TEXT_LIMIT)} {list(self.shape)}",
        )


def _test_inputs(graph: Graph, test_input) -> list[_InputSlot]:
    if isinstance(test_input, SeededInput):
        try:
            specs = test_input.specs(graph)
        except TestInputError as err:
            raise CodegenError(str(err)) from None
        suffix = lambda index: "" if len(graph.inputs) == 1 else str(index)  # noqa: E731
        return [_InputSlot(spec.name, buffer_macro(graph, spec.name), f"model_test_input{suffix(index)}",
                           graph.tensor(spec.name).nbytes, spec.shape, None, spec)
                for index, spec in enumerate(specs)]  # fmt: skip
    if not isinstance(test_input, Mapping):
        if len(graph.inputs) != 1:
            raise CodegenError(
                f"graph {graph.name!r} has inputs {graph.inputs}; pass test_input as a dict name -> array"
            )
        test_input = {graph.inputs[0]: test_input}
    slots = []
    for index, name in enumerate(graph.inputs):
        if name not in test_input:
            raise CodegenError(f"graph {graph.name!r}: no test input given for input {name!r}")
        tensor = graph.tensor(name)
        array = np.asarray(test_input[name])
        if tuple(array.shape) != tuple(tensor.shape) or array.dtype != np.dtype(tensor.dtype):
            raise CodegenError(
                f"graph {graph.name!r}: test input {name!r} must be {tensor.dtype}{list(tensor.shape)}, got "
                f"{array.dtype}{list(array.shape)}"
            )
        if tensor.dtype not in ("int8", "float32"):
            raise CodegenError(f"graph {graph.name!r}: input {name!r} is {tensor.dtype}; use int8 or float32")
        suffix = "" if len(graph.inputs) == 1 else str(index)
        slots.append(_InputSlot(name, buffer_macro(graph, name), f"model_test_input{suffix}", array.nbytes,
                                tuple(tensor.shape), array))  # fmt: skip
    return slots


def _outputs(graph: Graph) -> list[dict]:
    outputs = []
    for index, name in enumerate(graph.outputs):
        tensor = graph.tensor(name)
        what = f"output {index}: {c_comment(name, NAME_TEXT_LIMIT)} {tensor.dtype}{list(tensor.shape)}"
        outputs.append(dict(macro=buffer_macro(graph, name), size=tensor.nbytes, what=what))
    return outputs


# --- the patch stage -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _PatchFunction:
    name: str
    row: int
    col: int
    output: Region
    calls: tuple[str, ...]
    loads: tuple[str, ...]  # load_tile(...) arguments (input streamed)
    input_note: str


def _patch_functions(graph: Graph, plan: PatchPlan, arena: ArenaPlan, op_codes: list[OpCode],
                     inputs: list[_InputSlot]) -> list[_PatchFunction]:  # fmt: skip
    step_counter = {code.name: 0 for code in op_codes if code.in_stage}
    fused_adds = {add for _, add in arena.epilogues}
    streamed = arena.input_mode == "streamed"
    slots = {slot.name: slot for slot in inputs}
    functions = []
    for patch in plan.patches:
        calls = []
        for step in patch.steps:
            if step.op in fused_adds:
                continue  # a residual ADD that runs inside its conv's function (the conv's step has its windows)
            index = step_counter[step.op]
            step_counter[step.op] += 1
            calls.append(f"{step.op}(&{step.op}_steps[{index}]);")
        loads, notes = [], []
        for name in plan.stage_inputs:
            region = patch.tensors.get(name)
            if region is None:
                continue
            notes.append(f"input {region}")
            if streamed:
                _, width, channels = hwc(graph.tensor(name).shape)
                slot = slots[name]
                first = (region.y0 * width + region.x0) * channels  # in elements
                if slot.spec is not None:  # generated: by element index
                    loads.append(f"load_tile{inputs.index(slot)}(arena + {slot.macro}, {first}u, {region.height}, "
                                 f"{region.width * channels}, {width * channels})")  # fmt: skip
                    continue
                size = slot.itemsize  # bytes per element: the copy is in bytes
                loads.append(f"load_tile(arena + {slot.macro}, (const int8_t *){slot.array} + {first * size}, "
                             f"{region.height}, {region.width * channels * size}, {width * channels * size})")  # fmt: skip
        note = f"; reads {', '.join(notes)}" if notes else ""
        functions.append(_PatchFunction(f"patch_r{patch.row}_c{patch.col}", patch.row, patch.col, patch.output,
                                        tuple(calls), tuple(loads), note))  # fmt: skip
    for code in op_codes:
        if code.in_stage and step_counter[code.name] != len(code.steps):
            raise CodegenError(f"internal error: op {code.name!r} has {len(code.steps)} steps but is called "
                               f"{step_counter[code.name]} times")  # fmt: skip
    return functions


@dataclass(frozen=True)
class _RowFunction:
    """One row-streamed segment: its timed unit and its table of row steps (model.c.j2 renders both)."""

    name: str  # rows_s<k>
    first_op: str  # where the segment sits among the per-layer ops
    label: str
    steps: tuple[tuple[str, str], ...]  # (row_step initializer, comment)
    loads: bool  # it loads rows of the streamed input
    rings: tuple[str, ...]  # one line per ring, for the comment


def _row_functions(graph: Graph, plan: StagedPlan, arena: ArenaPlan, op_codes: list[OpCode],
                   inputs: list[_InputSlot]) -> list[_RowFunction]:  # fmt: skip
    """The row steps of every row-streamed segment, in the order harness/schedule/rows.py planned them:
    before a row goes into a full ring, the ring's live rows move to its start (memmove: the kernels read
    every window as dense rows); then the op runs on its row (its ``*_steps`` entry) or, input streamed, the
    input row is loaded into its ring."""
    step_counter = {code.name: 0 for code in op_codes if code.in_stage}
    if len(graph.inputs) != 1 and arena.input_mode == "streamed":
        raise CodegenError(f"graph {graph.name!r}: row-streamed input needs a graph of one input")
    functions = []
    for index, part in enumerate(part for part in plan.parts if isinstance(part, RowPlan)):
        steps, loads = [], False
        for step in part.steps:
            ring = step.tensor in part.capacity and arena.buffer(step.tensor).kind == "rows"
            if step.op is None and not ring:
                continue  # input counted: the whole image is in the arena already
            move, note = "0u, 0u, 0u", ""
            if ring:
                offset = arena.offset(step.tensor)
                _, width, channels = hwc(graph.tensor(step.tensor).shape)  # the full map's (input rows)
                # a ring's row: the widest strip's columns (all of them without strips) of its channels
                ring_row = part.widths[step.tensor] * part.ring_channels(graph, step.tensor)
                row_bytes = ring_row * np.dtype(graph.tensor(step.tensor).dtype).itemsize
                if step.shift is not None and step.shift[1] > 0:
                    first, rows = step.shift
                    move = f"{offset}u, {offset + first * row_bytes}u, {rows * row_bytes}u"
                    note = f"; first rows {step.origins[step.tensor]}..{step.origins[step.tensor] + rows - 1} moved to the ring's start"
            if step.op is None:
                loads = True
                at = offset + (step.row - step.origins[step.tensor]) * row_bytes
                first_element = step.row * width * channels
                steps.append(
                    (f"{{NULL, NULL, {at}u, {first_element}u, {move}}}", f"input row {step.row}{note}")
                )
                continue
            k = step_counter[step.op]
            step_counter[step.op] += 1
            rows = f"row {step.row}" if step.rows == 1 else f"rows {step.row}..{step.row + step.rows - 1}"
            steps.append((f"{{{step.op}, &{step.op}_steps[{k}], 0u, 0u, {move}}}", f"{step.op} {rows}{note}"))
        rings = tuple(
            f"{_describe(graph, name)}: {rows} of {graph.tensor(name).shape[1]} rows"
            for name, rows in part.capacity.items()
            if arena.buffer(name).kind == "rows"
        )
        layers = f"{part.stage_layers[0]} .. {part.stage_layers[-1]}"
        functions.append(_RowFunction(f"rows_s{index}", part.stage_ops[0], f"{part.label} (layers {layers})",
                                      tuple(steps), loads, rings))  # fmt: skip
    for code in op_codes:
        if code.in_stage and step_counter[code.name] != len(code.steps):
            raise CodegenError(f"internal error: op {code.name!r} has {len(code.steps)} steps but is called "
                               f"{step_counter[code.name]} times")  # fmt: skip
    return functions


def _row_load(graph: Graph, slot: _InputSlot) -> str:
    """run_rows' call loading one row of the streamed input (row_step r: where, and its first element)."""
    _, width, channels = hwc(graph.tensor(slot.name).shape)
    row = width * channels
    if slot.spec is not None:  # generated from its seed, by element index
        return f"load_tile0(arena + r->at, r->first, 1, {row}, {row})"
    size = slot.itemsize
    return (f"load_tile(arena + r->at, (const int8_t *){slot.array} + r->first * {size}u, 1, {row * size}, "
            f"{row * size})")  # fmt: skip


def _max_stage_inputs(graph: Graph, plan: PatchPlan) -> int:
    ops = [op for op in graph.ops if op.name in set(plan.stage_ops)]
    return max((len(activation_inputs(graph, op)) for op in ops), default=1)


def _step_initializer(step: StepIO, max_inputs: int, origin: bool) -> str:
    pad = max_inputs - len(step.inputs)
    return (
        "{" + f".region = {step.region.c_initializer()}, .input = {c_ints(list(step.inputs) + [0] * pad)}, "
        f".input_row_stride = {c_ints(list(step.input_row_strides) + [0] * pad)}, .output = {step.output}"
        + (f", .origin = {c_ints(list(step.origin))}" if origin else "")
        + "}"
    )


# --- rendering -------------------------------------------------------------------------------------


def _input_note(streamed: bool, generated: bool) -> str:
    if generated and streamed:
        return (
            "generated from its seed (pb_test_input.h, no image in flash): each patch generates its own input "
            "tile into the tile buffer BUF_INPUT at its start, with the timer stopped (a camera would deliver "
            "it), so the whole image never sits in SRAM."
        )
    if generated:
        return (
            "generated from its seed (pb_test_input.h, no image in flash) into the arena's input buffer "
            "BUF_INPUT by pb_model_prepare_input before every run (not timed); the whole image counts in SRAM."
        )
    if streamed:
        return (
            "model_test_input stays in flash; each patch copies its own input tile into the tile buffer "
            "BUF_INPUT at its start (timed with the patch), so the whole image never sits in SRAM."
        )
    return (
        "model_test_input (flash) is copied into the arena's input buffer BUF_INPUT by "
        "pb_model_prepare_input before every run (not timed); the whole image counts in SRAM."
    )


def _buffer_rows(graph: Graph, arena: ArenaPlan) -> list[dict]:
    rows = []
    for buffer in sorted(arena.buffers, key=lambda b: (b.offset, b.first)):
        if buffer.name.startswith("scratch:"):
            op = buffer.name.split(":", 1)[1]
            macro, what = f"SCRATCH_{op}", f"scratch of {op}"
        else:
            macro = buffer_macro(graph, buffer.name)
            what = f"{_describe(graph, buffer.name)} {list(graph.tensor(buffer.name).shape)}"
            if buffer.writes_over:
                what += f", in place over {_describe(graph, buffer.writes_over)}"
        rows.append(dict(macro=macro, offset=buffer.offset, size=buffer.size, kind=buffer.kind,
                         first=buffer.first, last=buffer.last, what=what))  # fmt: skip
    return rows


def _describe(graph: Graph, tensor: str) -> str:
    """A short name for a buffer (imported tensor names run to hundreds of characters)."""
    if tensor in graph.inputs:
        return f"input {tensor!r}" if len(tensor) <= 40 else "input"
    return f"output of {graph.producer(tensor).name}"


def _environment() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=False,
        lstrip_blocks=False,
        autoescape=False,
    )
    environment.filters["c_comment"] = c_comment
    environment.filters["c_string"] = c_string
    return environment

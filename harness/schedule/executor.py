# SPDX-License-Identifier: Apache-2.0
"""The host patch executor: runs a PatchPlan in numpy, patch by patch, with the reference kernels.

It is the executable statement of the plan: every op of the patch stage runs on the cropped region the
plan names, with the plan's border pads, and each patch's result is written into the full-size stage
output buffer; then the rest of the graph runs per layer. Its result must equal
``reference.run_graph`` bit for bit (tests/schedule/test_schedule_exec.py), which is how the plan's regions,
pads and residual alignment are proven right.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from harness import reference
from harness.ir import slicing
from harness.ir.geometry import (
    TILE_KINDS,
    TileOrigin,
    activation_input_names,
    activation_inputs,
    hwc,
    kernel_size,
    op_pads,
)
from harness.ir.graph import Graph, Op
from harness.schedule.arena import ArenaPlan, depthwise_inplace_schedule, stage_layout_source
from harness.schedule.fusion import epilogue_chunk_rows, epilogue_rows
from harness.schedule.plan import OpStep, PatchPlan, Region, ScheduleError
from harness.schedule.rows import RowPlan
from harness.schedule.segments import StagedPlan


def run_patched(
    graph: Graph,
    plan: PatchPlan,
    x: np.ndarray | Mapping[str, np.ndarray],
    keep_stage_tensors: bool = False,
) -> dict[str, np.ndarray]:
    """Run ``graph`` under ``plan``; return the activations by tensor name, like ``reference.run_graph``.

    The graph inputs, the stage output and every tensor after the stage are full arrays. Tensors inside
    the patch stage exist only patch-wise; with ``keep_stage_tensors`` they are assembled from the
    patches into full-size arrays too (pixels no patch computes stay 0), for debugging and tests.
    """
    if plan.graph_name != graph.name:
        raise ScheduleError(f"plan was made for graph {plan.graph_name!r}, not {graph.name!r}")
    values = _graph_inputs(graph, x)
    ops = {op.name: op for op in graph.ops}
    if not plan.is_per_layer:
        values.update(_run_stage(graph, plan, values, ops, keep_stage_tensors))
    stage = set(plan.stage_ops)
    for op in graph.ops:
        if op.name in stage:
            continue
        inputs = activation_input_names(graph, op)
        missing = [name for name in inputs if name not in values]
        if missing:
            raise ScheduleError(
                f"op {op.name!r} after the patch stage reads {missing}, which no step computed"
            )
        values[op.outputs[0]] = reference.run_op(graph, op, {name: values[name] for name in inputs})
    return values


def _graph_inputs(graph: Graph, x) -> dict[str, np.ndarray]:
    if isinstance(x, Mapping):
        return {name: np.asarray(x[name]) for name in graph.inputs}
    if len(graph.inputs) != 1:
        raise ScheduleError(f"graph {graph.name!r} has inputs {graph.inputs}; pass a dict name -> array")
    expected = graph.tensor(graph.inputs[0])
    x = np.asarray(x)
    if tuple(x.shape) != tuple(expected.shape) or x.dtype != np.dtype(expected.dtype):
        raise ScheduleError(
            f"graph {graph.name!r}: input must be {expected.dtype}{list(expected.shape)}, got {x.dtype}{list(x.shape)}"
        )
    return {graph.inputs[0]: x}


def _run_stage(
    graph: Graph, plan: PatchPlan, values, ops: dict[str, Op], keep: bool
) -> dict[str, np.ndarray]:
    out_tensor = graph.tensor(plan.stage_output)
    stage_output = np.zeros(out_tensor.shape, np.dtype(out_tensor.dtype))
    written = np.zeros(out_tensor.shape[1:3], np.int32)  # how often each pixel was written: must be 1
    assembled: dict[str, np.ndarray] = {}
    for patch in plan.patches:
        # tensor -> (region held, array holding exactly that region)
        local: dict[str, tuple[Region, np.ndarray]] = {}
        for name in plan.stage_inputs:
            region = patch.tensors.get(name)
            if region is None:
                continue  # a patch made of padding only reads nothing of the image
            rows, cols = region.relative_to(Region(0, values[name].shape[1], 0, values[name].shape[2]))
            local[name] = (region, values[name][:, rows, cols, :])
        for step in patch.steps:
            op = ops[step.op]
            arrays = {}
            for name, need in zip(op.inputs, step.inputs, strict=True):
                if need is None:
                    continue
                arrays[name] = _crop(local, name, need, graph, op)
            result = _run_step(graph, op, arrays, step)
            expected = (1, step.output.height, step.output.width)
            if tuple(result.shape[:3]) != expected:
                raise ScheduleError(
                    f"internal error: op {op.name!r} computed {result.shape[1:3]} pixels for region {step.output} "
                    f"of patch ({patch.row}, {patch.col})"
                )
            local[op.outputs[0]] = (step.output, result)
            if keep:
                full = assembled.setdefault(
                    op.outputs[0], np.zeros(graph.tensor(op.outputs[0]).shape, result.dtype)
                )
                full[:, step.output.y0 : step.output.y1, step.output.x0 : step.output.x1, :] = result
        region, result = local[plan.stage_output]
        rows, cols = slice(region.y0, region.y1), slice(region.x0, region.x1)
        stage_output[:, rows, cols, :] = result
        written[rows, cols] += 1
    if not (written == 1).all():
        raise ScheduleError(
            f"internal error: the patches do not write every pixel of {plan.stage_output!r} once"
        )
    assembled[plan.stage_output] = stage_output
    return assembled


def _crop(local, name: str, need: Region, graph: Graph, op: Op) -> np.ndarray:
    if need.is_empty:
        channels = graph.tensor(name).shape[3]
        return np.zeros(
            (1, max(need.height, 0), max(need.width, 0), channels), np.dtype(graph.tensor(name).dtype)
        )
    if name not in local:
        raise ScheduleError(
            f"internal error: op {op.name!r} reads {name!r}, which this patch did not compute"
        )
    held, array = local[name]
    if not held.contains(need):
        raise ScheduleError(
            f"internal error: op {op.name!r} reads {name!r}{need} but the patch holds only {held}"
        )
    rows, cols = need.relative_to(held)
    return array[:, rows, cols, :]


def _run_step(graph: Graph, op: Op, arrays: dict[str, np.ndarray], step: OpStep) -> np.ndarray:
    pads = step.pads
    if op.kind in TILE_KINDS:  # the tile's own place in the full maps decides what it computes
        position = activation_inputs(graph, op)[0]
        window = step.inputs[position]
        origin = TileOrigin(
            (step.output.y0, step.output.y1), (step.output.x0, step.output.x1), window.y0, window.x0
        )
        return reference.run_tile(graph, op, arrays[op.inputs[position]], origin)
    if op.kind in ("PAD", "PADV2"):
        # The plan's pads replace the op's: only the rows/columns of padding that fall in this patch.
        top, bottom, left, right = pads
        paddings = np.array(graph.tensor(op.inputs[1]).data, np.int64).reshape(4, 2).copy()
        paddings[1] = (top, bottom)
        paddings[2] = (left, right)
        return reference.pad(arrays[op.inputs[0]], paddings, reference.pad_value(graph, op))
    if op.kind in ("SLICE", "STRIDED_SLICE"):
        # A local slice (plan.py): the patch read exactly the rows and columns from the first to the last it
        # takes; every step-th of them, and the op's channels.
        box = slicing.op_box(graph, op)
        channels = box.index()[3]
        return np.ascontiguousarray(arrays[op.inputs[0]][:, :: box.step[1], :: box.step[2], channels])
    return reference.run_op(graph, op, arrays, pads=pads)


# --- running inside a planned arena -----------------------------------------------------------------------


def run_in_arena(
    graph: Graph, plan: PatchPlan, arena: ArenaPlan, x: np.ndarray, seed: int = 0
) -> dict[str, np.ndarray]:
    """Run ``graph`` with every activation stored at its planned offset in one byte array.

    This is the arena plan's proof: the arena starts as random bytes, each kernel's scratch is
    overwritten with random bytes before the kernel runs, and in-place depthwise convs run pixel by
    row by row over the shared bytes as the C kernels do (``depthwise_inplace_schedule``; the ring of
    delayed rows is checked against the scratch the plan reserved). If two
    live buffers overlapped, or an in-place op read a pixel after overwriting it, the outputs would
    differ from ``reference.run_graph``. Returns the graph outputs and the stage output.
    """
    if (arena.graph_name, arena.schedule) != (graph.name, plan.label):
        raise ScheduleError("the arena plan was made for another graph or schedule")
    rng = np.random.default_rng(seed)
    memory = rng.integers(0, 256, arena.arena_bytes, dtype=np.uint8)
    buffers = {b.name: b for b in arena.buffers}
    ops = {op.name: op for op in graph.ops}
    input_name = graph.inputs[0]

    def view(name: str, hwc: tuple[int, ...], batched: bool = True) -> np.ndarray:
        dtype = np.dtype(graph.tensor(name).dtype)
        count = int(np.prod(hwc, dtype=np.int64))
        start, size = buffers[name].offset, buffers[name].size
        if count * dtype.itemsize > size:
            raise ScheduleError(
                f"internal error: {name!r} needs {count * dtype.itemsize} bytes, its buffer {size}"
            )
        shape = (1, *hwc) if batched else tuple(hwc)
        return memory[start : start + count * dtype.itemsize].view(dtype).reshape(shape)

    def full(name: str) -> np.ndarray:
        return view(name, graph.tensor(name).shape, batched=False)

    def poison_scratch(op: Op) -> None:
        scratch = buffers.get(f"scratch:{op.name}")
        if scratch is not None:
            memory[scratch.offset : scratch.offset + scratch.size] = rng.integers(
                0, 256, scratch.size, dtype=np.uint8
            )

    def holding(patch, name: str):
        """What one patch holds of ``name``, in the layout the generated code keeps it in."""
        source = stage_layout_source(arena, graph, name)
        have = patch.tensors[source]
        return view(source, (have.height, have.width, graph.tensor(source).shape[3])), have

    def read(patch, name: str, need: Region) -> np.ndarray:
        channels = graph.tensor(name).shape[3]
        if need.is_empty:
            return np.zeros((1, max(need.height, 0), max(need.width, 0), channels), graph.tensor(name).dtype)
        if buffers[name].kind == "input":
            return full(name)[:, need.y0 : need.y1, need.x0 : need.x1, :].copy()
        array, have = holding(patch, name)
        rows, cols = need.relative_to(have)
        return array[:, rows, cols, :].copy()

    parts = plan.parts if isinstance(plan, StagedPlan) else (plan,)
    patch_part = next((part for part in parts if isinstance(part, PatchPlan)), None)

    def write(patch, name: str, region: Region, values: np.ndarray) -> None:
        if name == patch_part.stage_output:
            full(name)[:, region.y0 : region.y1, region.x0 : region.x1, :] = values
            return
        array, have = holding(patch, name)
        rows, cols = region.relative_to(have)
        array[:, rows, cols, :] = values

    epilogues = dict(arena.epilogues)
    fused_adds = set(epilogues.values())
    if buffers[input_name].kind == "input":
        full(input_name)[...] = x

    def run_patch_stage(stage: PatchPlan) -> None:
        """The patch stage, patch by patch, in its planned buffers (its output whole)."""
        for patch in stage.patches:
            held: dict[str, Region] = {}
            region = patch.tensors.get(input_name)
            if buffers[input_name].kind == "patch" and region is not None:
                view(input_name, (region.height, region.width, x.shape[3]))[...] = x[
                    :, region.y0 : region.y1, region.x0 : region.x1, :
                ]
            for step in patch.steps:
                op = ops[step.op]
                if op.name in fused_adds:
                    continue  # ran in its conv's step
                poison_scratch(op)

                out = op.outputs[0]
                out_channels = graph.tensor(out).shape[3]
                shape = (step.output.height, step.output.width, out_channels)
                if op.name in epilogues:
                    _stage_conv_with_epilogue(
                        graph, stage, op, ops[epilogues[op.name]], patch, step, read, write, view
                    )
                    held[out] = step.output
                    continue
                if buffers[out].writes_over is not None and op.kind == "DEPTHWISE_CONV_2D":
                    source = op.inputs[0]
                    have = patch.tensors[source]
                    src = view(source, (have.height, have.width, graph.tensor(source).shape[3]))
                    _depthwise_in_place(graph, op, src, shape, step.pads, buffers, memory)
                else:
                    arrays = {
                        name: read(patch, name, need)
                        for name, need in zip(op.inputs, step.inputs, strict=True)
                        if need
                    }
                    result = _run_step(graph, op, arrays, step)
                    write(patch, out, step.output, result)
                held[out] = step.output

    if not isinstance(plan, PatchPlan):  # row-streamed segments (after a patch stage, maybe), per layer
        return _run_staged_in_arena(
            graph, parts, x, full, view, poison_scratch, epilogues, buffers, memory, run_patch_stage
        )
    if not plan.is_per_layer:
        run_patch_stage(plan)
    results = {}
    if plan.stage_output is not None:
        results[plan.stage_output] = full(plan.stage_output).copy()  # before later buffers reuse its bytes
    stage = set(plan.stage_ops)
    for op in graph.ops:
        if op.name in stage or op.name in fused_adds:
            continue
        _run_layer_op(graph, op, full, view, poison_scratch, epilogues, buffers, memory)
    results.update({name: full(name).copy() for name in graph.outputs})
    return results


def _run_staged_in_arena(
    graph: Graph, parts, x, full, view, poison_scratch, epilogues, buffers, memory, run_patch_stage
):
    """run_in_arena's loop for plans with row-streamed segments: a patch stage first as run_in_arena runs
    one (``run_patch_stage``), each row segment's rings at their planned offsets, every other op per layer
    as the patch plans' rest runs."""
    ops = {op.name: op for op in graph.ops}
    first_op = {part.stage_ops[0]: part for part in parts}
    in_part = {name for part in parts for name in part.stage_ops}
    fused_adds = set(epilogues.values())
    results = {}
    for op in graph.ops:
        part = first_op.get(op.name)
        if isinstance(part, PatchPlan):
            run_patch_stage(part)
            results[part.stage_output] = full(part.stage_output).copy()
        elif part is not None:
            reads = {name: (x if name in graph.inputs else full(name)) for name in part.stage_inputs}
            sums = buffers.get(f"scratch:{part.accumulates}")
            accumulator = None
            if sums is not None:  # the global pool's sums in its scratch's bytes, kept through the segment
                size = part.accumulator_bytes(graph)
                accumulator = memory[sums.offset : sums.offset + size].view(np.int32)
            _run_row_segment(
                graph, part, reads, ops, False,
                ring_memory=lambda name, shape: view(name, shape, batched=False),
                output=full(part.stage_output), before_step=poison_scratch,
                whole=frozenset(name for name in part.capacity if buffers[name].kind != "rows"),
                accumulator=accumulator,
            )  # fmt: skip
            results[part.stage_output] = full(part.stage_output).copy()
        if op.name in in_part or op.name in fused_adds:
            continue
        _run_layer_op(graph, op, full, view, poison_scratch, epilogues, buffers, memory)
    results.update({name: full(name).copy() for name in graph.outputs})
    return results


def _run_layer_op(graph: Graph, op: Op, full, view, poison_scratch, epilogues, buffers, memory) -> None:
    """One op outside the patch stage and the row segments, in the arena as the firmware runs it: a conv
    with its fused ADD epilogue, an in-place depthwise, or any op from its inputs' bytes."""
    poison_scratch(op)
    out = op.outputs[0]
    if op.name in epilogues:
        _conv_with_epilogue(graph, op, graph.op(epilogues[op.name]), full, view)
    elif buffers[out].writes_over is not None and op.kind == "DEPTHWISE_CONV_2D":
        _depthwise_in_place(graph, op, full(op.inputs[0]), full(out).shape[1:], None, buffers, memory)
    else:
        arrays = {name: full(name).copy() for name in activation_input_names(graph, op)}
        full(out)[...] = reference.run_op(graph, op, arrays)


def _conv_with_epilogue(graph: Graph, conv: Op, add: Op, full, view) -> None:
    """A conv fused with the ADD reading its output (harness/schedule/fusion.py), as the generated code
    runs it: a chunk of conv output rows into the conv's (chunk-sized) buffer, then the ADD of those rows
    with the other operand's rows read from the arena, written to the ADD's output (maybe over them)."""
    conv_out = conv.outputs[0]
    arrays = {name: full(name).copy() for name in activation_input_names(graph, conv)}
    result = reference.run_op(graph, conv, arrays)
    _, height, width, channels = result.shape
    rows = epilogue_chunk_rows(height, width)  # epilogue_rows of a per-layer conv
    for y in range(0, height, rows):
        count = min(rows, height - y)
        chunk = view(conv_out, (count, width, channels))
        chunk[...] = result[:, y : y + count]
        operands = {
            name: (chunk if name == conv_out else full(name)[:, y : y + count]).copy() for name in add.inputs
        }
        full(add.outputs[0])[:, y : y + count] = reference.run_op(graph, add, operands)


def _stage_conv_with_epilogue(
    graph: Graph, plan: PatchPlan, conv: Op, add: Op, patch, step, read, write, view
):
    """The same in one patch: the conv's rows of this patch's region in chunks of ``epilogue_rows``, each
    added to the other operand's rows (read from its patch buffer, or the whole image) into the ADD's
    output (over the shortcut's window, its own patch buffer, or the full stage output)."""
    conv_out, add_out = conv.outputs[0], add.outputs[0]
    result = _run_step(graph, conv, {conv.inputs[0]: read(patch, conv.inputs[0], step.inputs[0])}, step)
    region = step.output
    channels = graph.tensor(add_out).shape[3]
    rows = epilogue_rows(graph, plan, conv.name)
    for y in range(0, region.height, rows):
        count = min(rows, region.height - y)
        chunk = view(conv_out, (count, region.width, channels))
        chunk[...] = result[:, y : y + count]
        band = Region(region.y0 + y, region.y0 + y + count, region.x0, region.x1)
        operands = {
            name: chunk.copy() if name == conv_out else read(patch, name, band) for name in add.inputs
        }
        write(patch, add_out, band, reference.run_op(graph, add, operands))


def _depthwise_in_place(graph: Graph, op: Op, src: np.ndarray, out_hwc, pads, buffers, memory) -> None:
    """The in-place depthwise kernels over shared memory, row by row as ``depthwise_inplace_schedule`` says:
    output row k reads its windows from the shared bytes, then goes to its place (a direct row) or into
    the ring of delayed rows, and the rows the schedule names after k are copied to their place. Every
    window read is checked against the input as it was before the op, and the ring plus the schedule
    must fit the scratch the arena plan reserved for the op.
    """
    _, in_h, in_w, channels = src.shape
    out_h, out_w, _ = out_hwc
    kh, kw = kernel_size(graph, op)
    sh, sw = op.attrs.get("stride", (1, 1))
    dilation = tuple(op.attrs.get("dilation", (1, 1)))
    if pads is None:
        pads = op_pads(graph, op, in_h, in_w)
    top, _, left, _ = pads
    schedule = depthwise_inplace_schedule((in_h, in_w), (out_h, out_w), (kh, kw), (sh, sw), dilation, pads)
    if schedule is None:
        raise ScheduleError(f"in-place depthwise {op.name!r}: {out_h}x{out_w} output does not fit its input")
    scratch = buffers.get(f"scratch:{op.name}")
    planned = scratch.size if scratch is not None else 0
    if schedule.scratch_bytes(out_w, channels) > planned:
        raise ScheduleError(
            f"in-place depthwise {op.name!r} needs {schedule.scratch_bytes(out_w, channels)} bytes of ring and "
            f"schedule, the plan reserved {planned}"
        )
    flat = src.reshape(in_h * in_w * channels)  # a view of the shared memory
    # What the op must produce, from the input before any byte of it is overwritten; the loop below
    # then proves that every window the in-place kernel reads is still that original input.
    original = src.copy()
    expected = reference.run_op(graph, op, [original], pads=pads).reshape(out_h, out_w * channels)
    row_bytes = out_w * channels
    ring: list[int] = []  # delayed output rows, oldest first
    oldest = 0
    for k in range(out_h):
        y0 = k * sh - top
        rows = range(max(y0, 0), min(y0 + (kh - 1) * dilation[0] + 1, in_h))
        c0 = max(-left, 0)
        c1 = min((out_w - 1) * sw - left + (kw - 1) * dilation[1] + 1, in_w)
        for r in rows:
            seen = flat[(r * in_w + c0) * channels : (r * in_w + c1) * channels]
            if not np.array_equal(seen, original[0, r, c0:c1].reshape(-1)):
                raise ScheduleError(
                    f"in-place depthwise {op.name!r}: output row {k} reads input row {r} after it was overwritten"
                )
        if schedule.direct[k]:
            flat[k * row_bytes : (k + 1) * row_bytes] = expected[k]
            oldest = k + 1
        else:
            ring.append(k)
            if len(ring) > schedule.ring_rows:
                raise ScheduleError(f"in-place depthwise {op.name!r}: more delayed rows than its ring holds")
        for _ in range(schedule.flushes[k]):
            row = ring.pop(0)
            if row != oldest:
                raise ScheduleError(f"internal error: in-place depthwise {op.name!r} flushes out of order")
            flat[row * row_bytes : (row + 1) * row_bytes] = expected[row]
            oldest += 1
    if ring:
        raise ScheduleError(f"in-place depthwise {op.name!r}: rows {ring} were never written to their place")


# --- row-streamed segments ------------------------------------------------------------------------------


def run_rows(
    graph: Graph, plan: RowPlan, x: np.ndarray | Mapping[str, np.ndarray], keep_stage_tensors: bool = False
) -> dict[str, np.ndarray]:
    """Run ``graph`` under a row-streamed ``plan``; the activations by tensor name, like ``run_patched``.

    Every ring is a real buffer of its planned rows, starting as random bytes: each step shifts and writes
    exactly as the plan says, and a read of a row the ring no longer holds (dropped too early, shifted
    away, overwritten) raises ScheduleError. The result equal to ``reference.run_graph`` proves the plan's
    windows, pads, ring sizes and shifts.
    """
    return run_schedule(graph, plan, x, keep_stage_tensors)


def run_schedule(
    graph: Graph,
    plan: PatchPlan | RowPlan | StagedPlan,
    x: np.ndarray | Mapping[str, np.ndarray],
    keep_stage_tensors: bool = False,
) -> dict[str, np.ndarray]:
    """Run ``graph`` under any plan (segments.make_schedule_plan's): each segment as it runs (patch by
    patch, row by row), every other op per layer. The activations by tensor name, as ``run_patched``."""
    if plan.graph_name != graph.name:
        raise ScheduleError(f"plan was made for graph {plan.graph_name!r}, not {graph.name!r}")
    if isinstance(plan, PatchPlan):
        return run_patched(graph, plan, x, keep_stage_tensors)
    parts = plan.parts if isinstance(plan, StagedPlan) else (plan,)
    values = _graph_inputs(graph, x)
    ops = {op.name: op for op in graph.ops}
    first_op = {part.stage_ops[0]: part for part in parts}
    in_part = {name for part in parts for name in part.stage_ops}
    for op in graph.ops:
        part = first_op.get(op.name)
        if part is not None:
            missing = [name for name in part.stage_inputs if name not in values]
            if missing:
                raise ScheduleError(
                    f"internal error: segment {part.label!r} reads {missing}, not computed yet"
                )
            if isinstance(part, PatchPlan):
                values.update(_run_stage(graph, part, values, ops, keep_stage_tensors))
            else:
                values.update(_run_row_segment(graph, part, values, ops, keep_stage_tensors))
        if op.name in in_part:
            continue
        inputs = activation_input_names(graph, op)
        missing = [name for name in inputs if name not in values]
        if missing:
            raise ScheduleError(f"op {op.name!r} reads {missing}, which no step computed")
        values[op.outputs[0]] = reference.run_op(graph, op, {name: values[name] for name in inputs})
    return values


def _run_row_segment(
    graph: Graph,
    plan: RowPlan,
    values: Mapping[str, np.ndarray],
    ops: dict[str, Op],
    keep: bool,
    ring_memory=None,
    output: np.ndarray | None = None,
    before_step=None,
    whole: frozenset[str] = frozenset(),
    accumulator: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """One row-streamed segment, step by step. ``values``: the whole tensors it reads from outside (and the
    graph inputs whose rows it loads). Rings are random arrays, or ``ring_memory(name, shape)`` (the arena's
    bytes); the output fills ``output`` (default: a new array); ``before_step(op)`` runs before each op's
    row (the arena run poisons its scratch); ``whole``: graph inputs held whole (input counted), no ring;
    ``accumulator``: the int32 sums of a global pool run row by row (the arena's bytes of its scratch,
    never poisoned between its rows; default: a new array)."""
    rng = np.random.default_rng(0)
    rings = {}
    for name, rows in plan.capacity.items():
        if name in whole:
            continue
        shape = (rows, plan.widths[name], plan.ring_channels(graph, name))
        data = ring_memory(name, shape) if ring_memory else None
        rings[name] = _Ring(name, shape, graph.tensor(name).dtype, rng, data)
    out_tensor = graph.tensor(plan.stage_output)
    stage_output = output if output is not None else np.zeros(out_tensor.shape, np.dtype(out_tensor.dtype))
    written = np.zeros(hwc(out_tensor.shape), np.int32)  # per row, column and channel
    assembled: dict[str, np.ndarray] = {}
    if accumulator is None:  # the global pool's channel sums (int32, as in C)
        accumulator = np.zeros(out_tensor.shape[-1], np.int32)

    def read(name: str, need: Region, op: str, strip: int) -> np.ndarray:
        if name in rings:  # the ring holds the strip's columns of it from its first column
            return rings[name].read(need, op, plan.columns(name, strip))
        return values[name][:, need.y0 : need.y1, need.x0 : need.x1]  # held whole before the segment

    for step in plan.steps:
        ring = rings.get(step.tensor)
        if ring is not None and step.shift is not None:
            ring.shift(*step.shift, origin=step.origins[step.tensor])
        for name, origin in step.origins.items():
            if name in rings and rings[name].origin != origin:
                raise ScheduleError(f"internal error: ring {name!r} starts at row {rings[name].origin}, "
                                    f"the plan says {origin}")  # fmt: skip
        if step.op is None and step.tensor in whole:
            continue
        if step.op is None:
            result = values[step.tensor][:, step.row : step.row + 1]
        else:
            op = ops[step.op]
            if before_step is not None and op.name != plan.accumulates:
                before_step(op)
            arrays = {
                name: read(name, need, op.name, step.strip)
                for name, need in zip(op.inputs, step.inputs, strict=True)
                if need is not None
            }
            if op.name == plan.accumulates:
                sums = accumulator if step.channels is None else accumulator[slice(*step.channels)]
                result = _accumulate(graph, op, arrays[op.inputs[0]], step.inputs[0], sums)
                if result is None:
                    continue  # not the last row: nothing written yet
            else:
                region = plan.step_output(step)
                result = _run_step(graph, op, arrays, OpStep(op.name, region, step.inputs, step.pads))
                if step.channels is not None:  # a call on a slice of the output channels computes those
                    result = result[..., slice(*step.channels)]
        rows = slice(step.row, step.row + step.rows)
        channels = slice(*step.channels) if step.channels is not None else slice(None)
        cols = slice(*step.columns) if step.columns is not None else slice(None)
        if step.tensor == plan.stage_output:
            stage_output[:, rows, cols, channels] = result
            written[rows, cols, channels] += 1
        else:
            for k in range(step.rows):
                ring.write(step.row + k, result[0, k])
        if keep and step.op is not None:
            full = assembled.setdefault(step.tensor, np.zeros(graph.tensor(step.tensor).shape, result.dtype))
            full[:, rows, cols, channels] = result
    if not (written == 1).all():
        raise ScheduleError(f"internal error: the rows do not write every row of {plan.stage_output!r} once")
    assembled[plan.stage_output] = stage_output
    return assembled


def _accumulate(graph: Graph, op: Op, rows: np.ndarray, window: Region, accumulator: np.ndarray):
    """One step of a global average pool run row by row: ``rows`` (its input ``window``) added into the
    int32 ``accumulator`` (zeroed at the first row); after the last row, the pool's output (else None)."""
    height, width = graph.tensor(op.inputs[0]).shape[1:3]
    if window.y0 == 0:
        accumulator[:] = 0
    accumulator += rows.astype(np.int32).sum(axis=(0, 1, 2), dtype=np.int32)
    if window.y1 < height:
        return None
    act_min = int(op.attrs.get("act_min", -128))
    act_max = int(op.attrs.get("act_max", 127))
    average = reference.average_of_sums(accumulator, height * width, act_min, act_max)
    return average.reshape((*graph.tensor(op.outputs[0]).shape[:-1], len(accumulator)))


class _Ring:
    """A ring of rows as the plan keeps it: ``rows`` rows, row r at position r - origin; which row each
    position holds is tracked so that a read of anything else fails."""

    def __init__(
        self, name: str, shape: tuple[int, int, int], dtype: str, rng, data: np.ndarray | None = None
    ):
        self.name, self.origin = name, 0
        if data is None:
            info = np.iinfo(dtype) if np.dtype(dtype).kind in "iu" else None
            low, high = (info.min, info.max) if info else (-1, 1)
            data = rng.integers(low, high, shape, endpoint=True).astype(dtype)
        self.data = data
        self.held = np.full(shape[0], -1, np.int64)

    def shift(self, first: int, rows: int, origin: int) -> None:
        self.data[:rows] = self.data[first : first + rows].copy()
        self.held[:rows] = self.held[first : first + rows]
        self.held[rows:] = -1  # what stays there is stale: never read again
        self.origin = origin

    def write(self, row: int, values: np.ndarray) -> None:
        position = row - self.origin
        if not 0 <= position < len(self.held):
            raise ScheduleError(f"internal error: row {row} of {self.name!r} falls outside its ring of "
                                f"{len(self.held)} rows from row {self.origin}")  # fmt: skip
        self.data[position, : values.shape[0]] = values  # a strip's columns from the ring's first
        self.held[position] = row

    def read(self, need: Region, op: str, columns: tuple[int, int]) -> np.ndarray:
        if need.is_empty:
            shape = (1, max(need.height, 0), max(need.width, 0), self.data.shape[2])
            return np.zeros(shape, self.data.dtype)
        first = need.y0 - self.origin
        if need.x0 < columns[0] or need.x1 > columns[1]:
            raise ScheduleError(f"internal error: op {op!r} reads columns [{need.x0}, {need.x1}) of {self.name!r}, "
                                f"its ring holds [{columns[0]}, {columns[1]})")  # fmt: skip
        if (
            first < 0
            or need.y1 - self.origin > len(self.held)
            or not np.array_equal(self.held[first : first + need.height], np.arange(need.y0, need.y1))
        ):
            raise ScheduleError(f"internal error: op {op!r} reads rows [{need.y0}, {need.y1}) of {self.name!r}, "
                                f"but its ring holds rows {self.held.tolist()}")  # fmt: skip
        x0 = need.x0 - columns[0]
        return self.data[None, first : first + need.height, x0 : x0 + need.width].copy()

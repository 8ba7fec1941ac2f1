"""The host patch executor: runs a PatchPlan in numpy, patch by patch, with the reference kernels.

It is the executable statement of the plan: every op of the patch stage runs on the cropped region the
plan names, with the plan's border pads, and each patch's result is written into the full-size stage
output buffer; then the rest of the graph runs per layer. Its result must equal
``reference.run_graph`` bit for bit (tests/test_schedule_exec.py), which is how the plan's regions,
pads and residual alignment are proven right.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from harness import reference
from harness.graph import Graph, Op
from harness.schedule.plan import PatchPlan, Region, ScheduleError


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
        inputs = _activation_inputs(graph, op)
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


def _activation_inputs(graph: Graph, op: Op) -> list[str]:
    return [name for name in op.inputs if name and not graph.tensor(name).is_const]


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
            result = _run_step(graph, op, arrays, step.pads)
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


def _run_step(graph: Graph, op: Op, arrays: dict[str, np.ndarray], pads) -> np.ndarray:
    if op.kind == "PAD":
        # The plan's pads replace the op's: only the rows/columns of padding that fall in this patch.
        top, bottom, left, right = pads
        paddings = np.array(graph.tensor(op.inputs[1]).data, np.int64).reshape(4, 2).copy()
        paddings[1] = (top, bottom)
        paddings[2] = (left, right)
        out = graph.tensor(op.outputs[0])
        pad_value = out.zero_point if out.quant is not None else 0
        return reference.pad(arrays[op.inputs[0]], paddings, pad_value)
    return reference.run_op(graph, op, arrays, pads=pads)

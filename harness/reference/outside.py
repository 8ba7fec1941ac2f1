# SPDX-License-Identifier: Apache-2.0
"""The outside references, LiteRT and TFLite Micro, run in a child process.

An interpreter that cannot load a model may abort the process (LiteRT's ``allocate_tensors`` does,
on some files); in a child process that is a reported failure, ``OutsideRuntimeError``, not a dead
test session or CLI. The child reads the model and the inputs from a folder and writes every tensor
(LiteRT, with ``experimental_preserve_all_tensors``) or the outputs (TFLite Micro) back as .npz.

Resolvers: ``BUILTIN_REF`` is LiteRT's reference kernels, the arithmetic patchbench's reference
follows; ``BUILTIN`` is LiteRT's optimized kernels, whose int8 arithmetic differs but whose data
movement (TILE, RESHAPE, CONCATENATION, ...) is an oracle for models BUILTIN_REF cannot load.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from harness.ir.graph import Graph
from harness.reference.quantparams import FC_DOUBLE, FC_FIXED
from harness.reference.runner import run_graph, run_outputs

RESOLVERS = ("BUILTIN_REF", "BUILTIN")
RUNTIMES = ("litert", "tflm")
TFLM_ARENA_BYTES = 16 << 20


class OutsideRuntimeError(RuntimeError):
    """The outside runtime refused or crashed on the model; the message carries its last words."""


def run_litert(
    model: bytes, inputs: Sequence[Sequence[np.ndarray]], resolver: str = "BUILTIN_REF", timeout: float = 600
) -> list[dict[int, np.ndarray]]:
    """Every tensor (by tensor index) LiteRT computes for each input set (arrays in input order)."""
    if resolver not in RESOLVERS:
        raise ValueError(f"resolver must be one of {RESOLVERS}, got {resolver!r}")
    return _run("litert", model, inputs, resolver, timeout)


def run_tflm(
    model: bytes, inputs: Sequence[Sequence[np.ndarray]], outputs: int, timeout: float = 600
) -> list[dict[int, np.ndarray]]:
    """The ``outputs`` outputs (by output position) TFLite Micro computes for each input set."""
    return _run("tflm", model, inputs, str(outputs), timeout)


def seeded_inputs(graph: Graph, count: int, seed: int) -> list[list[np.ndarray]]:
    """``count`` input sets (arrays in graph-input order): int8 uniform over the range, float32 normal
    around 0 with a spread of 1.5."""
    rng = np.random.default_rng(seed)
    sets = []
    for _ in range(count):
        arrays = []
        for name in graph.inputs:
            tensor = graph.tensor(name)
            if tensor.dtype == "float32":
                arrays.append(rng.normal(0.0, 1.5, size=tensor.shape).astype(np.float32))
            else:
                arrays.append(rng.integers(-128, 128, size=tensor.shape).astype(tensor.dtype))
        sets.append(arrays)
    return sets


def every_tensor_mismatches(
    graph: Graph, inputs, theirs: list[dict[int, np.ndarray]], fc_requant: str = FC_DOUBLE
) -> tuple[int, list[str]]:
    """(tensors compared, one line per differing tensor): every activation the reference computes for
    each input set against the runtime's tensor of the same file index (graph.source_tensor_index)."""
    compared, found = 0, []
    for i, (arrays, their) in enumerate(zip(inputs, theirs, strict=True)):
        ours = run_graph(graph, dict(zip(graph.inputs, arrays, strict=True)), fc_requant=fc_requant)
        for name, value in ours.items():
            other = their[graph.source_tensor_index[name]]
            compared += 1
            if other.shape != value.shape or other.dtype != value.dtype or not np.array_equal(other, value):
                producer = graph.producer(name)
                where = f"{producer.name} ({producer.kind})" if producer else "input"
                count = int(np.count_nonzero(other != value)) if other.shape == value.shape else other.size
                found.append(
                    f"input set {i}: tensor {name!r} of {where}: {count} of {value.size} values differ"
                )
    return compared, found


def output_mismatches(graph: Graph, inputs, theirs: list[dict[int, np.ndarray]], fc_requant: str = FC_FIXED):
    """One line per (input set, output) where the runtime's output k differs from the reference's."""
    found = []
    for i, (arrays, their) in enumerate(zip(inputs, theirs, strict=True)):
        ours = run_outputs(graph, dict(zip(graph.inputs, arrays, strict=True)), fc_requant=fc_requant)
        for k, name in enumerate(graph.outputs):
            if not np.array_equal(ours[name], their[k]):
                found.append(
                    f"input set {i}: output {k} {name!r}: {int(np.count_nonzero(ours[name] != their[k]))} values differ"
                )
    return found


def _run(runtime: str, model: bytes, inputs, resolver: str, timeout: float) -> list[dict[int, np.ndarray]]:
    with tempfile.TemporaryDirectory(prefix="pb-outside-") as folder:
        root = Path(folder)
        (root / "model.tflite").write_bytes(model)
        for i, arrays in enumerate(inputs):
            np.savez(root / f"in{i}.npz", *arrays)
        command = [
            sys.executable,
            "-m",
            "harness.reference.outside",
            runtime,
            resolver or "-",
            folder,
            str(len(inputs)),
        ]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired as err:
            raise OutsideRuntimeError(f"{runtime} did not finish in {timeout:.0f} s") from err
        if done.returncode != 0:
            last = [line for line in (done.stdout + done.stderr).strip().splitlines() if line.strip()][-4:]
            raise OutsideRuntimeError(
                f"{runtime}{' ' + resolver if runtime == 'litert' else ''} failed on the model (exit {done.returncode}): "
                + " | ".join(last)
            )
        results = []
        for i in range(len(inputs)):
            with np.load(root / f"out{i}.npz") as saved:
                results.append({int(key[1:]): saved[key] for key in saved.files})
        return results


def _child(runtime: str, resolver: str, folder: str, count: int) -> None:
    root = Path(folder)
    model = (root / "model.tflite").read_bytes()
    if runtime == "litert":
        from ai_edge_litert.interpreter import Interpreter, OpResolverType

        interpreter = Interpreter(
            model_content=model,
            experimental_op_resolver_type=getattr(
                OpResolverType, resolver if resolver != "BUILTIN" else "BUILTIN_WITHOUT_DEFAULT_DELEGATES"
            ),
            experimental_preserve_all_tensors=True,
        )
        interpreter.allocate_tensors()
        for i in range(count):
            with np.load(root / f"in{i}.npz") as saved:
                arrays = [saved[f"arr_{k}"] for k in range(len(saved.files))]
            for detail, array in zip(interpreter.get_input_details(), arrays, strict=True):
                interpreter.set_tensor(detail["index"], array)
            interpreter.invoke()
            tensors = {}
            for detail in interpreter.get_tensor_details():
                try:
                    tensors[f"t{detail['index']}"] = interpreter.get_tensor(detail["index"])
                except ValueError:
                    continue  # a tensor without data (an unused optional input)
            np.savez(root / f"out{i}.npz", **tensors)
        return
    from tflite_micro.python.tflite_micro import runtime as tflm

    # The default arena (10x the file) is too small for models with small weights and large images.
    interpreter = tflm.Interpreter.from_bytes(model, arena_size=max(10 * len(model), TFLM_ARENA_BYTES))
    for i in range(count):
        with np.load(root / f"in{i}.npz") as saved:
            arrays = [saved[f"arr_{k}"] for k in range(len(saved.files))]
        for k, array in enumerate(arrays):
            interpreter.set_input(array, k)
        interpreter.invoke()
        np.savez(root / f"out{i}.npz", **{f"o{k}": interpreter.get_output(k) for k in range(int(resolver))})


if __name__ == "__main__":
    _child(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]))

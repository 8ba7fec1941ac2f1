# SPDX-License-Identifier: Apache-2.0
"""The oracle of a model: does patchbench's host reference compute what TFLite's own interpreters compute?

A point is bit-exact when the device's outputs equal the host reference's. That proves the firmware
follows the reference, not that the reference follows TFLite: with extreme but valid scales (1e-30,
1e30) both could agree on another function. So every model's reference is set once against an outside
interpreter on the point's test input, and a point passes only when device == reference == oracle.

The oracle is LiteRT with its reference kernels (``BUILTIN_REF``, the arithmetic the reference follows;
its FULLY_CONNECTED requantizes in double, ``FC_DOUBLE``). Where LiteRT cannot load the file (older
converters' files it refuses, which TFLite Micro runs), it is TFLite Micro (fixed-point FULLY_CONNECTED,
``FC_FIXED``), and the verdict says so. Where neither loads it, the verdict says that (``agrees`` None):
the point is judged against the reference alone, and its stored oracle line shows it.

``oracle_verdict`` is checked once per (model content, test input): in memory, and on disk under
``build/oracle/`` so pytest-xdist workers and later runs reuse it. Every engine's points (patchbench's
kernel sets, and peers) use the same verdict of the same model.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from harness.ir.graph import Graph
from harness.paths import BUILD_DIR
from harness.reference.outside import OutsideRuntimeError, output_mismatches, run_litert, run_tflm
from harness.reference.quantparams import FC_DOUBLE, FC_FIXED

ORACLE_DIR = BUILD_DIR / "oracle"
LITERT = "LiteRT BUILTIN_REF"
TFLM = "TFLite Micro"
CACHE_VERSION = 1  # bump when what a verdict means changes: old cache entries are then not read


@dataclass(frozen=True)
class OracleVerdict:
    """The reference against an outside interpreter, on one model and one input set."""

    runtime: str  # LITERT, TFLM, or "" when no interpreter could load the file
    agrees: bool | None  # None: no interpreter could load the file
    detail: str  # what was compared, or where it differs, or why nothing loaded it

    @property
    def text(self) -> str:
        """One line for a stored point: ``LiteRT BUILTIN_REF: equal on 1 output``."""
        if self.agrees is None:
            return f"no oracle: {self.detail}"
        return f"{self.runtime}: {self.detail}"


def model_digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def oracle_verdict(
    graph: Graph, model: bytes, inputs: Sequence[np.ndarray], *, cache_dir: Path | None = None
) -> OracleVerdict:
    """Whether the host reference's outputs on ``inputs`` (arrays in graph-input order) equal those of
    LiteRT BUILTIN_REF (else TFLite Micro) running the file ``model``; cached by content."""
    key = hashlib.sha256()
    key.update(model_digest(model).encode())
    for array in inputs:
        key.update(str((array.dtype, array.shape)).encode())
        key.update(np.ascontiguousarray(array).tobytes())
    name = f"v{CACHE_VERSION}-{key.hexdigest()[:32]}"
    if name in _MEMORY:
        return _MEMORY[name]
    folder = Path(cache_dir) if cache_dir is not None else ORACLE_DIR
    path = folder / f"{name}.json"
    verdict = _read_cached(path)
    if verdict is None:
        verdict = _check(graph, model, list(inputs))
        _write_cached(path, verdict)
    _MEMORY[name] = verdict
    return verdict


_MEMORY: dict[str, OracleVerdict] = {}


def _check(graph: Graph, model: bytes, inputs: list[np.ndarray]) -> OracleVerdict:
    refusals = []
    for runtime, run, fc_requant in (
        (LITERT, lambda: run_litert(model, [inputs]), FC_DOUBLE),
        (TFLM, lambda: run_tflm(model, [inputs], len(graph.outputs)), FC_FIXED),
    ):
        try:
            theirs = run()
        except OutsideRuntimeError as err:
            refusals.append(f"{runtime} cannot load the file ({err})")
            continue
        if runtime == LITERT:  # every tensor by file index: keep the graph's outputs, by position
            indices = _output_indices(graph, model)
            theirs = [{k: their[index] for k, index in enumerate(indices)} for their in theirs]
        lines = output_mismatches(graph, [inputs], theirs, fc_requant)
        said = "; ".join(refusals)
        if lines:
            return OracleVerdict(runtime, False, "the host reference differs: " + "; ".join(lines[:3])
                                 + (f" (used because {said})" if said else ""))  # fmt: skip
        count = len(graph.outputs)
        return OracleVerdict(runtime, True, f"equal on {count} output{'s' if count > 1 else ''}"
                             + (f" (used because {said})" if said else ""))  # fmt: skip
    return OracleVerdict("", None, "; ".join(refusals))


def _output_indices(graph: Graph, model: bytes) -> list[int]:
    """The file's tensor index of each output, by position (the file is read again: ``graph`` may be
    a zoo build written to ``model``, or an import whose indices are another file's)."""
    from harness.frontend import graph_from_bytes

    read = graph_from_bytes(model, graph.name)
    return [read.source_tensor_index[name] for name in read.outputs]


def _read_cached(path: Path) -> OracleVerdict | None:
    try:
        return OracleVerdict(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):  # absent, or unreadable: checked again
        return None


def _write_cached(path: Path, verdict: OracleVerdict) -> None:
    """Written whole (a temporary file renamed), so a reader never sees half an entry; a cache that
    cannot be written costs only the next check's time."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
        with os.fdopen(handle, "w") as out:
            json.dump(asdict(verdict), out)
        os.replace(temporary, path)
    except OSError:
        pass

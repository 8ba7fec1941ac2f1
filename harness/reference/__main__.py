# SPDX-License-Identifier: Apache-2.0
"""``python -m harness.reference MODEL [--inputs N]``: time the reference on a model."""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from harness.frontend import load_tflite
from harness.paths import MLPERF_MODELS, mlperf_model
from harness.reference.quantparams import FC_FIXED, FC_REQUANT_MODES
from harness.reference.runner import run_graph


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m harness.reference MODEL [--inputs N]``: run a .tflite (or an MLPerf Tiny name) and
    print the reference's time per input."""

    parser = argparse.ArgumentParser(prog="python -m harness.reference", description=main.__doc__)
    parser.add_argument("model", help=f"a .tflite path or one of {', '.join(MLPERF_MODELS)}")
    parser.add_argument("--inputs", type=int, default=20, help="random int8 inputs to time (default 20)")
    parser.add_argument("--fc-requant", choices=FC_REQUANT_MODES, default=FC_FIXED)
    args = parser.parse_args(argv)
    path = mlperf_model(args.model) if args.model in MLPERF_MODELS else Path(args.model)
    graph = load_tflite(path)
    rng = np.random.default_rng(0)
    feeds = [
        {
            name: rng.integers(-128, 128, size=graph.tensor(name).shape).astype(graph.tensor(name).dtype)
            for name in graph.inputs
        }
        for _ in range(args.inputs)
    ]
    run_graph(graph, feeds[0], args.fc_requant)  # warm up
    start = time.perf_counter()
    for feed in feeds:
        run_graph(graph, feed, args.fc_requant)
    per_input = (time.perf_counter() - start) / len(feeds)
    print(f"{graph.name}: {len(graph.ops)} ops, {per_input * 1000:.1f} ms per input ({len(feeds)} inputs)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

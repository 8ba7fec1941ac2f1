# SPDX-License-Identifier: Apache-2.0
"""The zoo's explicit-PAD export (models/explicit_pad.py): a PAD of kernel // 2 on every side before every
strided conv, as MCUNet's released files have; shapes unchanged; the file it writes is one LiteRT runs
as the host reference does."""

from __future__ import annotations

import numpy as np
import pytest

from harness import reference
from harness.frontend.writer import graph_to_bytes
from harness.reference.oracle import oracle_verdict
from models import get_model
from models.explicit_pad import SUFFIX, with_explicit_pads
from models.registry import build_model, canonical_name


def test_every_strided_conv_reads_a_symmetric_pad_and_pads_valid():
    base = get_model("mcunet-in0")
    padded = get_model(f"mcunet-in0{SUFFIX}")
    assert padded.name == f"mcunet-in0{SUFFIX}"
    strided = [op.name for op in base.ops if op.kind in ("CONV_2D", "DEPTHWISE_CONV_2D")
               and max(op.attrs["stride"]) > 1]  # fmt: skip
    assert strided and [op.name for op in padded.ops if op.kind == "PAD"] == [f"{n}_pad" for n in strided]
    for name in strided:
        conv = padded.op(name)
        pad = padded.producer(conv.inputs[0])
        assert pad.kind == "PAD" and conv.attrs["padding"] == "VALID"
        kernel = padded.tensor(conv.inputs[1]).shape[1]
        assert padded.tensor(pad.inputs[1]).data.tolist() == [
            [0, 0],
            [kernel // 2] * 2,
            [kernel // 2] * 2,
            [0, 0],
        ]
        assert padded.tensor(conv.outputs[0]).shape == base.tensor(base.op(name).outputs[0]).shape
    # the stride-1 convs keep SAME (it pads kernel // 2 on every side already), and the blocks hold the PADs
    assert all(op.attrs.get("padding") == "SAME" for op in padded.ops
               if op.kind in ("CONV_2D", "DEPTHWISE_CONV_2D") and op.name not in strided)  # fmt: skip
    assert sum(len(block.ops) for block in padded.blocks) == len(padded.ops)
    assert canonical_name(f"mcunet-in0{SUFFIX}") == f"mcunet-in0{SUFFIX}"
    assert build_model(f"mcunet-in0{SUFFIX}").name == padded.name


def test_the_exported_file_is_the_network_litert_runs():
    graph = with_explicit_pads(get_model("resnet8-r16"))
    x = np.random.default_rng(0).integers(-128, 128, graph.tensor(graph.inputs[0]).shape, dtype=np.int8)
    verdict = oracle_verdict(graph, graph_to_bytes(graph), [x])
    assert verdict.agrees, verdict.text
    # a different network from the SAME one wherever a stride-2 conv meets an even input
    same = get_model("resnet8-r16")
    out = graph.outputs[0]
    assert not np.array_equal(
        reference.run_graph(graph, x)[out], reference.run_graph(same, x)[same.outputs[0]]
    )


def test_an_even_kernel_is_refused():
    graph = get_model("mcunet-in0")
    broken = with_explicit_pads(graph)  # fine
    assert broken.ops[0].kind == "PAD"
    import copy

    odd = copy.deepcopy(graph)
    filt = odd.tensor(odd.ops[0].inputs[1])
    filt.shape = (filt.shape[0], 2, 2, filt.shape[3])
    filt.data = np.zeros(filt.shape, np.int8)
    with pytest.raises(ValueError, match="even kernel"):
        with_explicit_pads(odd)


def test_an_export_takes_its_networks_published_figures():
    from harness.results.published import published

    assert published(f"mcunet-in2{SUFFIX}", "tinyengine") == published("mcunet-in2", "tinyengine")
    assert published(f"mcunet-in2{SUFFIX}", "tinyengine").sram_kb == 215

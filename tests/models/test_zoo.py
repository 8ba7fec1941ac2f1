# SPDX-License-Identifier: Apache-2.0
"""The model zoo: published sizes, MCUNetV2's Table 1 for MbV2 / MbV2-RD, structure (blocks, names),
determinism, int8 activations that use their range, bit-exact agreement with LiteRT, registry errors
and the ``zoo`` command."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from machine import import_or_skip

from harness import cli, paths
from harness.frontend import graph_to_bytes
from harness.ir import graph as g
from harness.ir import shapes
from harness.ir.geometry import kernel_size
from harness.reference import FC_DOUBLE, run_graph
from models import UnknownModelError, build_model, canonical_name, get_model, list_models
from models.builder import make_divisible
from models.mobilenet_v2 import mobilenet_v2_spec
from models.proxyless import ConfigError, config_path, spec_from_config
from models.registry import DEFAULT_ZOO_MODELS

KB = 1024
# Builds that take well under a second; the r224 ones take about one.
SMALL_MODELS = [name for name in DEFAULT_ZOO_MODELS if not name.endswith("r224")]
BIG_MODELS = [name for name in DEFAULT_ZOO_MODELS if name.endswith("r224")]


def _seeded_input(graph: g.Graph, seed: int = 7) -> np.ndarray:
    shape = graph.tensor(graph.inputs[0]).shape
    return np.random.default_rng(seed).integers(-128, 128, shape, dtype=np.int8)


# --- published figures --------------------------------------------------------------------------


def test_mobilenet_v2_matches_published_macs_and_params():
    graph = get_model("mbv2-w1.0-r224")
    assert abs(g.total_macs(graph) - 300e6) <= 0.02 * 300e6
    assert abs(g.param_count(graph) - 3.5e6) <= 0.02 * 3.5e6
    # The exact counts of this block list (conv/FC weights + folded biases), as a regression guard.
    assert g.total_macs(graph) == 300_774_272
    assert g.param_count(graph) == 3_487_816


@pytest.mark.parametrize(
    "name, macs_m, params_m",
    [
        # MCUNet's model zoo (mit-han-lab/mcunet) and MCUNetV2's Table 2.
        ("mcunet-in0", 6.4, 0.75),
        ("mcunet-in1", 12.8, 0.64),
        ("mcunet-in2", 67.3, 0.73),
        ("mcunet-in3", 81.8, 0.74),
        ("mcunet-in4", 125.9, 1.73),
        ("mcunet-mbv2-w0.35-r144", 23.5, 0.75),
        ("proxyless-w0.3-r176", 38.3, 0.75),
        ("mbv1-w0.5-r192", 110.0, 1.33),
        ("mbv1-w1.0-r224", 569.0, 4.2),
        ("mbv2-w1.4-r224", 585.0, 6.06),
        ("fbnet-a-r224", 249.0, 4.3),
        ("mnasnet-a1-w1.0-r224", 312.0, 3.6),  # paper: 3.9M params with SE, which patchbench leaves out
        ("resnet8-r32", 12.5, 0.078),  # MLPerf Tiny's pretrainedResnet_quant.tflite
    ],
)
def test_published_sizes(name, macs_m, params_m):
    graph = get_model(name)
    assert g.total_macs(graph) / 1e6 == pytest.approx(macs_m, rel=0.02)
    assert g.param_count(graph) / 1e6 == pytest.approx(params_m, rel=0.03)


def test_resnet8_has_the_mlperf_models_weight_shapes():
    zoo = get_model("resnet8-r32")
    mlperf = get_model("pretrainedResnet_quant")
    assert g.total_macs(zoo) == g.total_macs(mlperf)
    assert g.param_count(zoo) == g.param_count(mlperf)
    assert [op.kind for op in zoo.ops].count("ADD") == 3


# --- MCUNetV2 Table 1: MbV2 vs MbV2-RD at 224x224 with 4x4 patches ------------------------------


def _stage_end(graph: g.Graph, size: int) -> int:
    """The number of layers up to and including the first whose output is size x size."""
    for index, ops in enumerate(graph.layers):
        if graph.tensor(ops[-1].outputs[0]).shape[1] == size:
            return index + 1
    raise AssertionError(f"no layer outputs {size}x{size}")


def _patch_stage(graph: g.Graph, n: int, patches: int) -> tuple[int, int, int]:
    """(input patch side, per-layer MACs, MACs with p x p full-size patches) of the first n layers,
    the paper's count (every patch computed at its full receptive-field size, border ones too)."""
    ops = [op for layer in graph.layers[:n] for op in layer]
    out = graph.tensor(ops[-1].outputs[0]).shape[1]
    need = {ops[-1].outputs[0]: out // patches}
    patch_macs = 0
    for op in reversed(ops):
        side = need[op.outputs[0]]
        out_side = graph.tensor(op.outputs[0]).shape[1]
        patch_macs += g.op_macs(graph, op) * side * side // (out_side * out_side) * patches * patches
        kh, _ = kernel_size(graph, op)
        stride = op.attrs.get("stride", (1, 1))[0]
        for name in op.inputs:
            if name and not graph.tensor(name).is_const:
                need[name] = max(need.get(name, 0), (side - 1) * stride + kh)
    layer_macs = sum(g.op_macs(graph, op) for op in ops)
    return need[graph.inputs[0]], layer_macs, patch_macs


@pytest.mark.parametrize(
    "name, input_patch, stage_macs_m, stage_overhead, total_m",
    [("mbv2-w1.0-r224", 75, 130, 0.42, 300), ("mbv2-rd-w1.0-r224", 63, 73, 0.18, 301 / 1.03)],
)
def test_table1_patch_stage(name, input_patch, stage_macs_m, stage_overhead, total_m):
    graph = get_model(name)
    n = _stage_end(graph, 28)  # the patch stage ends at the first 28x28 output (stride 8)
    side, layer_macs, patch_macs = _patch_stage(graph, n, patches=4)
    assert side == input_patch
    assert patch_macs / 1e6 == pytest.approx(stage_macs_m, rel=0.02)
    assert patch_macs / layer_macs - 1 == pytest.approx(stage_overhead, abs=0.02)
    assert g.total_macs(graph) / 1e6 == pytest.approx(total_m, rel=0.02)


def test_mbv2_rd_keeps_the_per_layer_peak_of_mbv2():
    """Table 1: both need 1372 kB per layer: b1's expand, 112x112x16 in + 112x112x96 out."""
    for name in ("mbv2-w1.0-r224", "mbv2-rd-w1.0-r224"):
        graph = get_model(name)
        expand = graph.op("b1_expand")
        in_out = graph.tensor(expand.inputs[0]).nbytes + graph.tensor(expand.outputs[0]).nbytes
        assert in_out == 1372 * KB
        peak = max(graph.tensor(op.inputs[0]).nbytes + graph.tensor(op.outputs[0]).nbytes for op in graph.ops)
        assert peak == 1470 * KB  # b1's depthwise, 112x112x96 -> 56x56x96, in both networks


def test_mbv2_rd_block_list():
    graph = get_model("mbv2-rd-w1.0-r224")
    assert [op.name for op in graph.layers[1]] == ["b0_project"]  # the patch stage's smaller kernel
    stage_of_channels = {}
    for block in graph.blocks:
        if re.fullmatch(r"b\d+", block.name):
            channels = graph.tensor(graph.op(block.ops[-1]).outputs[0]).shape[-1]
            stage_of_channels[channels] = stage_of_channels.get(channels, 0) + 1
    assert stage_of_channels == {16: 1, 24: 1, 32: 4, 64: 5, 96: 3, 160: 3, 320: 1}


# --- structure ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", DEFAULT_ZOO_MODELS)
def test_zoo_model_structure(name):
    graph = get_model(name)
    assert graph.name == name
    g.validate(graph)
    shapes.check_shapes(graph)
    assert [op_name for block in graph.blocks for op_name in block.ops] == [op.name for op in graph.ops]
    assert graph.blocks[0].name == "first_conv" and graph.blocks[0].ops == ["first_conv"]
    assert [b.name for b in graph.blocks[-2:]] == ["pool", "classifier"]
    assert all(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", op.name) for op in graph.ops)
    assert all(re.fullmatch(r"b\d+", b.name) for b in graph.blocks[1:-2] if b.name != "feature_mix")
    assert graph.tensor(graph.outputs[0]).shape == (1, 10 if name.startswith("resnet8") else 1000)
    assert graph.tensor(graph.inputs[0]).dtype == "int8"


def test_mbconv_block_op_names():
    graph = get_model("mbv2-w1.0-r224")
    assert graph.layer_names[:3] == ["first_conv", "b0", "b1"]
    b3 = graph.blocks[graph.layer_names.index("b3")]
    assert b3.ops == ["b3_expand", "b3_dw", "b3_project"]  # stride 2: no shortcut
    b4 = graph.blocks[graph.layer_names.index("b4")]
    assert b4.ops == ["b4_expand", "b4_dw", "b4_project", "b4_add"]
    assert graph.op("b4_add").inputs == ["b3_project_out", "b4_project_out"]
    assert graph.layer_names[-4:] == ["b16", "feature_mix", "pool", "classifier"]
    assert [op.kind for op in graph.layers[-2]] == ["AVERAGE_POOL_2D", "RESHAPE"]
    assert graph.tensor("feature_mix_out").shape == (1, 7, 7, 1280)


def test_quantization_follows_tflite():
    graph = get_model("mbv2-w0.35-r144")
    source = graph.tensor("input")
    assert (source.scale, source.zero_point) == (1 / 128, 0)
    conv, dw, fc = graph.op("b1_expand"), graph.op("b1_dw"), graph.op("classifier")
    assert graph.tensor(conv.inputs[1]).quant.axis == 0 and graph.tensor(conv.inputs[1]).quant.per_channel
    assert graph.tensor(dw.inputs[1]).quant.axis == 3 and graph.tensor(dw.inputs[1]).quant.per_channel
    assert not graph.tensor(fc.inputs[1]).quant.per_channel  # dense layers per-tensor, like the converter
    for op in (conv, dw, fc):
        weights, bias = graph.tensor(op.inputs[1]), graph.tensor(op.inputs[2])
        assert weights.dtype == "int8" and bias.dtype == "int32"
        assert np.abs(weights.data.astype(int)).max() <= 127
        expected = np.float32(
            np.float64(graph.tensor(op.inputs[0]).scale) * weights.quant.scale.astype(np.float64)
        )
        np.testing.assert_array_equal(bias.quant.scale, expected)
    # ReLU6 as an int8 clamp: the lower bound is the output zero point (real 0.0).
    out = graph.tensor(conv.outputs[0])
    assert conv.attrs["activation"] == "RELU6" and conv.attrs["act_min"] == out.zero_point
    pool = graph.op("pool")
    assert graph.tensor(pool.outputs[0]).quant.scale == graph.tensor(pool.inputs[0]).quant.scale


def test_make_divisible_matches_the_reference_mobilenet_v2():
    assert [make_divisible(c * 0.35) for c in (32, 16, 24, 64, 96, 160, 320)] == [16, 8, 8, 24, 32, 56, 112]
    assert make_divisible(96 * 0.75) == 72 and make_divisible(1280 * 1.4) == 1792
    assert mobilenet_v2_spec(0.35, 144).feature_mix_channels == 1280  # the last conv stays 1280 for w < 1
    assert mobilenet_v2_spec(1.4, 224).feature_mix_channels == 1792


def test_zero_layer_blocks_add_no_ops():
    config = json.loads(config_path("proxyless-w0.3-r176").read_text())
    zero_blocks = sum(b["mobile_inverted_conv"]["name"] == "ZeroLayer" for b in config["blocks"])
    assert zero_blocks == 2
    graph = get_model("proxyless-w0.3-r176")
    assert sum(re.fullmatch(r"b\d+", name) is not None for name in graph.layer_names) == 22 - zero_blocks


def test_bad_config_names_the_block():
    config = json.loads(config_path("mcunet-in1").read_text())
    config["blocks"][3]["mobile_inverted_conv"]["use_se"] = True
    with pytest.raises(ConfigError, match=r"blocks\[3\].*use_se"):
        spec_from_config(config, "test.json")
    config = json.loads(config_path("mcunet-in1").read_text())
    config["blocks"][5]["mobile_inverted_conv"]["in_channels"] = 7
    with pytest.raises(ConfigError, match=r"blocks\[5\].*in_channels is 7"):
        spec_from_config(config, "test.json")


# --- determinism --------------------------------------------------------------------------------


def _assert_identical(a: g.Graph, b: g.Graph) -> None:
    assert list(a.tensors) == list(b.tensors)
    for name, ta in a.tensors.items():
        tb = b.tensors[name]
        assert ta.shape == tb.shape and ta.dtype == tb.dtype, name
        if ta.quant is not None:
            np.testing.assert_array_equal(ta.quant.scale, tb.quant.scale, err_msg=name)
            np.testing.assert_array_equal(ta.quant.zero_point, tb.quant.zero_point, err_msg=name)
        if ta.is_const:
            np.testing.assert_array_equal(ta.data, tb.data, err_msg=name)
    assert [(op.kind, op.name, op.inputs, op.outputs, op.attrs) for op in a.ops] == [
        (op.kind, op.name, op.inputs, op.outputs, op.attrs) for op in b.ops
    ]


@pytest.mark.parametrize(
    "name",
    [*SMALL_MODELS, *(pytest.param(name, marks=pytest.mark.slow) for name in BIG_MODELS)],
)
def test_builds_are_deterministic(name):
    _assert_identical(build_model(name), build_model(name))


def test_weights_are_seeded_by_the_name():
    a = get_model("mbv2-w0.35-r144").tensor("b2_expand_filter").data
    b = get_model("mbv2-w0.35-r160").tensor("b2_expand_filter").data
    assert a.shape == b.shape and not np.array_equal(a, b)


def test_cached_graphs_are_shared_and_read_only():
    graph = get_model("mcunet-in0")
    assert get_model("mcunet-in0") is graph
    with pytest.raises(ValueError, match="read-only"):
        graph.tensor("first_conv_filter").data[0, 0, 0, 0] = 1


# --- int8 activations and LiteRT ------------------------------------------------------------------


@pytest.mark.parametrize("name", DEFAULT_ZOO_MODELS)
def test_int8_activations_use_their_range(name):
    graph = get_model(name)
    values = run_graph(graph, _seeded_input(graph))
    for tensor in graph.activations():
        q = values[tensor.name].astype(np.int64)
        saturated = np.mean((q == -128) | (q == 127))
        at_zero_point = np.mean(q == tensor.zero_point)
        distinct = np.unique(q).size
        assert saturated < 0.2, f"{tensor.name}: {saturated:.0%} of values at -128/127"
        assert at_zero_point < 0.5, f"{tensor.name}: {at_zero_point:.0%} of values at the zero point"
        assert distinct >= min(16, tensor.size // 2), f"{tensor.name}: only {distinct} distinct values"


@pytest.mark.parametrize("name", DEFAULT_ZOO_MODELS)
def test_litert_agrees_bit_exactly_on_every_tensor(name):
    litert = import_or_skip("ai_edge_litert.interpreter", "ai-edge-litert")
    graph = get_model(name)
    x = _seeded_input(graph, seed=11)
    interpreter = litert.Interpreter(
        model_content=graph_to_bytes(graph),
        experimental_op_resolver_type=litert.OpResolverType.BUILTIN_REF,
        experimental_preserve_all_tensors=True,
    )
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x)
    interpreter.invoke()
    index_of = {d["name"]: d["index"] for d in interpreter.get_tensor_details()}
    # LiteRT's reference FULLY_CONNECTED rounds in double (harness.reference.FC_DOUBLE).
    expected = run_graph(graph, x, fc_requant=FC_DOUBLE)
    out = interpreter.get_output_details()[0]["index"]
    np.testing.assert_array_equal(interpreter.get_tensor(out), expected[graph.outputs[0]])
    for tensor in graph.activations():
        np.testing.assert_array_equal(
            interpreter.get_tensor(index_of[tensor.name]), expected[tensor.name], err_msg=tensor.name
        )


# --- registry ----------------------------------------------------------------------------------


def test_list_models_has_the_defaults_and_the_mlperf_models():
    names = list_models()
    assert names[: len(DEFAULT_ZOO_MODELS)] == list(DEFAULT_ZOO_MODELS)
    assert set(paths.MLPERF_MODELS) <= set(names)
    assert len(set(names)) == len(names)


def test_names_are_canonical():
    assert canonical_name("mbv2-w1-r224") == "mbv2-w1.0-r224"
    assert canonical_name("mbv2-rd-w0.350-r144") == "mbv2-rd-w0.35-r144"
    assert get_model("mbv2-w1-r224") is get_model("mbv2-w1.0-r224")
    assert get_model("mbv1-w0.25-r96").name == "mbv1-w0.25-r96"
    assert canonical_name("fbnet-a-w1-r224") == "fbnet-a-r224"  # w1.0 is FBNet-A itself: one name
    assert canonical_name("fbnet-a-w0.30-r192-head448") == "fbnet-a-w0.3-r192-head448"


def test_head_and_width_scale_the_networks_as_named():
    """-head{c} sets the last 1x1 conv's channels (MCUNet's zoo scales it with w: its mbv2-w0.35-r144
    is ours with -head448, layer for layer); FBNet-A's -w scales every other channel count."""
    ours, mcunet = get_model("mbv2-w0.35-r144-head448"), get_model("mcunet-mbv2-w0.35-r144")
    assert [t.shape for t in ours.tensors.values()] == [t.shape for t in mcunet.tensors.values()]
    assert get_model("mnasnet-a1-w0.35-r144-head448").tensor("feature_mix_out").shape[-1] == 448
    assert get_model("mbv2-rd-w0.35-r144-head448").tensor("feature_mix_out").shape[-1] == 448
    fbnet = get_model("fbnet-a-w0.3-r96-head448")
    assert fbnet.tensor("first_conv_out").shape[-1] == 8  # make_divisible(16 * 0.3)
    assert fbnet.tensor("feature_mix_out").shape[-1] == 448
    assert g.param_count(fbnet) < g.param_count(get_model("fbnet-a-r96")) / 4


def test_unknown_name_lists_the_known_names():
    with pytest.raises(UnknownModelError) as error:
        get_model("mobilenet-huge")
    message = str(error.value)
    assert "'mobilenet-huge'" in message
    assert all(name in message for name in list_models())
    assert "mbv2-w{width}-r{res}" in message and ".tflite" in message


@pytest.mark.parametrize(
    "name, pattern",
    [
        ("mbv2-w0-r224", r"width 0 is out of range"),
        ("mbv2-w5.0-r224", r"width 5.0 is out of range"),
        ("mbv2-w4.0-r1024", r"resolution 1024 is out of range; use 32\.\.512"),
        ("mbv2-w4.0-r224", r"width 4.0 is out of range; use \(0, 2.0\]"),
        ("mbv2-w1.0-r16", r"resolution 16 is out of range; use 32\.\.512"),
        ("resnet8-r4", r"resolution 4 is out of range; use 8\.\.512"),
        ("mbv2-w0.35-r144-head4", r"head 4 is out of range; use 8\.\.4096 channels"),
        ("fbnet-a-w3.0-r96", r"width 3.0 is out of range"),
    ],
)
def test_bad_parameters_are_named(name, pattern):
    with pytest.raises(ValueError, match=pattern):
        get_model(name)


def test_tflite_paths_and_mlperf_names(tmp_path):
    by_name = get_model("vww_96_int8")
    assert by_name.name == "vww_96_int8" and by_name.blocks is None
    by_path = get_model(str(paths.mlperf_model("kws_ref_model")))
    assert g.total_macs(by_path) == g.total_macs(get_model("kws_ref_model"))
    with pytest.raises(FileNotFoundError, match="missing.tflite"):
        get_model(str(tmp_path / "missing.tflite"))


# --- the zoo command -----------------------------------------------------------------------------


def test_zoo_command_prints_a_table(capsys):
    assert cli.main(["zoo", "resnet8-r32", "mcunet-in0", "mbv2-w1-r224"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == [
        "model",
        "resolution",
        "MACs",
        "(M)",
        "params",
        "(M)",
        "weights",
        "(kB)",
        "layers",
    ]
    assert lines[2].split() == ["resnet8-r32", "32x32", "12.5", "0.078", "76.9", "6"]
    assert lines[3].split()[:3] == ["mcunet-in0", "48x48", "6.4"]
    assert lines[4].split()[:3] == ["mbv2-w1.0-r224", "224x224", "300.8"]


def test_zoo_command_csv_and_errors(capsys):
    assert cli.main(["zoo", "--format", "csv", "resnet8-r32", "no-such-model"]) == 1
    captured = capsys.readouterr()
    assert captured.out.splitlines() == [
        "model,resolution,MACs (M),params (M),weights (kB),layers",
        "resnet8-r32,32x32,12.5,0.078,76.9,6",
    ]
    assert "cannot load no-such-model: UnknownModelError" in captured.err


def test_a_command_is_one_function_and_one_registration(capsys):
    @cli.command("test-echo", "echo a word", cli.arg("word"))
    def echo(args):
        if args.word == "bad":
            raise cli.CommandError("'bad' is not a word; pass another")
        print(args.word)
        return 0

    try:
        assert cli.main(["test-echo", "hello"]) == 0
        assert capsys.readouterr().out == "hello\n"
        assert cli.main(["test-echo", "bad"]) == 2
        assert "patchbench test-echo: error: 'bad' is not a word" in capsys.readouterr().err
    finally:
        del cli.COMMANDS["test-echo"]

# SPDX-License-Identifier: Apache-2.0
"""TinyEngine as an engine: its generator from a patched build copy (never ../shared), a failure in one line,
its invoke split into one timed unit per layer; on QEMU (M7) per layer bit-exact where TinyEngine is, and
stored inexact with its first differing layer where it is not."""

from __future__ import annotations

import hashlib

import pytest
from machine import needs

from harness.engines.tinyengine.generator import (
    SNAPSHOT_DIR,
    GeneratorFailed,
    generator_copy,
    patch_files,
    run_generator,
    split_invoke,
)
from harness.frontend.writer import graph_to_bytes
from harness.paths import mlperf_model
from harness.pipeline.measure import measure
from models.builder import MBConvSpec, NetworkBuilder, add_classifier_tail, inverted_residual
from models.explicit_pad import with_explicit_pads


def tiny_network(classifier: bool = False):
    """A zoo-built MCUNet-like stem (explicit-PAD export): first conv 3x3 s2, a residual MBConv, a strided
    MBConv; with ``classifier`` the zoo's tail (global AVERAGE_POOL_2D, RESHAPE, FULLY_CONNECTED)."""
    builder = NetworkBuilder("te_tiny" + ("_classifier" if classifier else ""), (16, 16, 3))
    with builder.block("first_conv"):
        x = builder.conv2d(builder.input, 8, 3, 2, "RELU6", "first_conv")
    with builder.block("b0"):
        x = inverted_residual(builder, x, MBConvSpec(8, 3, 1, 16), "b0", "RELU6")
    with builder.block("b1"):
        x = inverted_residual(builder, x, MBConvSpec(16, 3, 2, 24), "b1", "RELU6")
    if classifier:
        add_classifier_tail(builder, x, 10)
    return with_explicit_pads(builder.to_graph())


def _tree_digest(folder) -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(str(path).encode() + path.read_bytes())
    return digest.hexdigest()


def test_the_generator_runs_from_a_patched_copy_whose_log_names_each_patch(tmp_path):
    before = _tree_digest(SNAPSHOT_DIR / "code_generator")
    copy = generator_copy(tmp_path)
    log = (copy / "build.log").read_text()
    assert patch_files() and all(f"applied patch {patch.name}" in log for patch in patch_files())
    assert "int(weight[j * channel + i])" in (copy / "code_generator" / "CodeGenerator.py").read_text()
    assert _tree_digest(SNAPSHOT_DIR / "code_generator") == before  # ../shared never written
    assert generator_copy(tmp_path) == copy  # cached by the snapshot and the patches


def test_a_generator_failure_is_one_line_naming_the_model_and_its_error(tmp_path):
    with pytest.raises(GeneratorFailed) as failed:
        run_generator(mlperf_model("vww_96_int8").read_bytes(), "vww_96_int8", build_root=tmp_path)
    message = str(failed.value)
    assert "\n" not in message
    assert message.startswith(
        "TinyEngine's generator failed on vww_96_int8: NotImplementedError: Unsupported SOFTMAX"
    )
    assert "parsing op 30 SOFTMAX" in message
    # the failure is cached with the generator's whole log: asked again, the same line at once
    (log,) = (tmp_path / "tinyengine").glob("generated-*/generator.log")
    assert "Traceback" in log.read_text()
    with pytest.raises(GeneratorFailed) as again:
        run_generator(mlperf_model("vww_96_int8").read_bytes(), "vww_96_int8", build_root=tmp_path)
    assert str(again.value) == message
    with pytest.raises(
        GeneratorFailed, match=r"^TinyEngine.s generator failed on garbage: struct.error: [^\n]+$"
    ):
        run_generator(b"not a flatbuffer at all", "garbage", build_root=tmp_path)


def test_invoke_is_split_into_one_function_per_layer():
    text = (
        "void end2endinference(q7_t* img){\n    invoke(NULL);\n}\nvoid invoke(float* labels){\n"
        "/* layer 0:CONV_2D */\nconv(1);\n/* layer 1:ADD */\nadd_params.a = 1;\nadd(2);\n"
        "}\nvoid invoke_inf(){\n}\n"
    )
    split = split_invoke(text, 2, "m")
    assert "void te_layer_0(void){\nconv(1);\n}" in split
    assert "void te_layer_1(void){\nadd_params.a = 1;\nadd(2);\n}" in split
    assert (
        "void invoke(float* labels){\n    (void)labels;\n    te_layer_0();\n    te_layer_1();\n}\nvoid invoke_inf(){"
        in split
    )
    with pytest.raises(GeneratorFailed, match="expected 0..2"):
        split_invoke(text, 3, "m")


def test_the_generated_layers_follow_the_tflite_tensors(tmp_path):
    graph = tiny_network()
    generated = run_generator(graph_to_bytes(graph), graph.name, build_root=tmp_path)
    producers = {op.outputs[0]: op.kind for op in graph.ops}
    # every op but the PADs TinyEngine folds into their convs is one of its layers, in order
    assert [layer.output_name for layer in generated.layers] == [
        op.outputs[0] for op in graph.ops if op.kind != "PAD"
    ]
    assert all(producers[layer.output_name] == layer.op for layer in generated.layers)
    assert generated.peak_mem > 0 and generated.mode == "int"
    assert "te_layer_output" in generated.sources()["genModel.c"]


@pytest.mark.emulator
@needs("arm-none-eabi-gcc", "qemu-system-arm")
def test_per_layer_bit_exact_on_the_m7_where_tinyengine_is_exact():
    result = measure(tiny_network(), "stm32h743", 1, 0, engine="tinyengine", repeat=1, warmup=0)
    assert result.status == "passed", result.reason
    assert result.exact and result.identity.engine == "tinyengine" and result.identity.kernels == "int"
    graph = tiny_network()
    # one timed unit per TinyEngine layer, named after the op writing the same tensor (its PADs folded)
    assert [name for name, _ in result.layer_latency] == [op.name for op in graph.ops if op.kind != "PAD"]
    assert (
        result.arena_bytes and result.sram_measured >= result.arena_bytes
    )  # its buffer[PEAK_MEM] is in .bss


@pytest.mark.emulator
@needs("arm-none-eabi-gcc", "qemu-system-arm")
def test_where_tinyengine_differs_the_first_differing_layer_is_named():
    # the zoo's tail: TinyEngine skips the RESHAPE between the pool and the classifier without linking
    # the classifier to the pool's output, so the classifier reads a part of its arena nothing wrote
    result = measure(
        tiny_network(classifier=True), "stm32h743", 1, 0, engine="tinyengine", repeat=1, warmup=0
    )
    assert result.exact is False and result.status == "inexact"  # a finding about TinyEngine, not a failure
    assert (
        "first op whose output differs: op 12 'classifier' (FULLY_CONNECTED, TinyEngine (int requantization))"
        in result.reason
    )


@pytest.mark.emulator
@needs("arm-none-eabi-gcc", "qemu-system-arm")
def test_patch_based_one_unit_per_patch_and_the_image_counted_outside_its_arena():
    graph = tiny_network()
    result = measure(graph, "stm32h743", 2, 2, engine="tinyengine", repeat=1, warmup=0)
    # a finding about TinyEngine: with a residual ADD in its patch stage its output differs, though every
    # layer is exact per layer (its patch stage misaligns the ADD's shortcut)
    assert result.status == "inexact", result.reason
    assert "per layer, all 8 ops' outputs equal the reference's" in result.reason
    assert "this patch schedule's output differs from the same engine's per-layer output" in result.reason
    units = [name for name, _ in result.layer_latency]
    after_stage = [op.name for op in graph.ops if op.kind != "PAD"][5:]  # the stage: first_conv, b0 (4 ops)
    assert units == ["patch_r0_c0", "patch_r0_c1", "patch_r1_c0", "patch_r1_c1", *after_stage]
    image = graph.tensor(graph.inputs[0]).nbytes  # 16 x 16 x 3, a static array beside its buffer[PEAK_MEM]
    assert result.sram_measured_streamed == result.sram_measured - image
    assert result.sram_measured <= result.sram_planned and result.arena_bytes > image

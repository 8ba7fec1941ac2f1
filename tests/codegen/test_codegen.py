# SPDX-License-Identifier: Apache-2.0
"""The code generator without an emulator: the C it writes (one function per op, named after the op, with
its shapes; patch functions; the arena sized by the planner), the ops it refuses (CodegenError naming
them, never a silent drop), and the generated C run on the host under AddressSanitizer/UBSan, bit-exact
with harness.reference for every op kind, per layer and in the patch stage (the QEMU runs are in
tests/pipeline/test_e2e_qemu.py)."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest
from codegen_graphs import (
    STAGE_ENDS,
    Appender,
    converter_patterns_graph,
    data_ops_graph,
    every_op_graph,
    float_ends_graph,
    float_image,
)
from machine import needs

from harness import reference
from harness.codegen import (
    SUPPORTED_OPS,
    CodegenError,
    CodegenOptions,
    generate_model,
    kernels,
    unsupported_reason,
)
from harness.codegen.hostrun import run_on_host
from harness.firmware.targets import load_target
from harness.ir.graph import MULTI_OUTPUT_KINDS, UNARY_KINDS, Tensor
from harness.pipeline.measure import expected_output, make_test_input
from harness.schedule.fusion import fold_pads
from harness.schedule.plan import make_plan
from models import get_model
from models.synthetic import LayerSpec, build_stack

needs_gcc = needs("gcc")
FUNCTION = re.compile(r"^static void (\w+)\((void|const stage_step \*s)\) \{", re.M)


@pytest.fixture(scope="module")
def graph():
    return every_op_graph()


def _input(graph):
    return np.random.default_rng(7).integers(-128, 128, graph.tensor(graph.inputs[0]).shape).astype(np.int8)


def test_every_op_graph_covers_every_supported_kind(graph):
    kinds = {op.kind for op in graph.ops} | {op.kind for op in float_ends_graph().ops}
    # The converter-made ops: tests/codegen/test_converter_patterns.py and tests/reference/test_unary_ops.py.
    kinds |= {op.kind for op in converter_patterns_graph().ops} | set(UNARY_KINDS) | {"TRANSPOSE_CONV"}
    # Depth multiplier, the bilinear resize, depth/space: tests/reference/test_spatial_ops.py (on the emulator too).
    kinds |= {"RESIZE_BILINEAR", "DEPTH_TO_SPACE", "SPACE_TO_DEPTH"}
    # The data ops: tests/codegen/test_data_ops_firmware.py (SPLIT / SPLIT_V import as SLICEs, which it runs).
    kinds |= {op.kind for op in data_ops_graph().ops} - set(MULTI_OUTPUT_KINDS)
    # ARG_MAX, BATCH_MATMUL: tests/ir/test_arg_max.py, test_batch_matmul.py (host, the emulator per kernel set).
    kinds |= {"ARG_MAX", "BATCH_MATMUL"}
    assert kinds == set(SUPPORTED_OPS)
    plan = make_plan(graph, 3, STAGE_ENDS["constants"])
    stage_kinds = {graph.op(name).kind for name in plan.stage_ops}
    assert stage_kinds == {"CONV_2D", "PAD", "DEPTHWISE_CONV_2D", "ADD", "MUL", "MAX_POOL_2D", "CONCATENATION",
                           "AVERAGE_POOL_2D", "QUANTIZE"}  # fmt: skip


# --- the C it writes -----------------------------------------------------------------------------------


def test_one_function_per_op_named_after_it_with_shapes(graph):
    plan = make_plan(graph, 2, STAGE_ENDS["avg_pool"])
    model = generate_model(graph, plan, "stm32f746", _input(graph))
    code = model.sources["model.c"]
    functions = FUNCTION.findall(code)
    names = [name for name, _ in functions]
    patches = [f"patch_r{i}_c{j}" for i in range(2) for j in range(2)]
    # The PAD before the VALID depthwise conv is folded into it (harness/schedule/fusion.py), and said so.
    folded = fold_pads(graph, plan)
    assert [fold.pad for fold in folded.folds] == ["b1_pad_pad"]
    assert model.folds == ("b1_pad_pad folded into b2_depthwise_dw (pads t1 b0 l0 r2)",)
    graph, plan = folded.graph, folded.plan
    assert sorted(names) == sorted([op.name for op in graph.ops] + patches)  # nothing else dropped or extra
    stage = set(plan.stage_ops)
    for name, argument in functions:
        if name in stage:
            assert argument == "const stage_step *s"
        else:
            assert argument == "void"
    # The shapes comment right above each function.
    assert (
        "/* b2_depthwise_dw: DEPTHWISE_CONV_2D 3x3 s2 pads t1 b0 l0 r2 (b1_pad_pad folded in), 22x18x8 -> 11x9x8; "
        "patch stage" in code
    )
    assert (
        "/* upsample: RESIZE_NEAREST_NEIGHBOR align_corners=0 half_pixel_centers=0, 6x5x8 -> 12x10x8 */\n"
        "static void upsample(void) {"
    ) in code
    assert "/* classifier: FULLY_CONNECTED 9 -> 10 (x1) */" in code
    # Timed units: one per patch, then one per op after the stage.
    assert model.layer_names == tuple(patches + [op.name for op in graph.ops if op.name not in stage])
    table = re.search(r"pb_model_layers\[\] = \{(.*?)\};", code, re.S).group(1)
    assert re.findall(r'\{"(\w+)", (\w+)\}', table) == [(n, n) for n in model.layer_names]
    # Every patch calls every stage op it needs, in order, with its own step.
    for patch in plan.patches:
        body = re.search(
            rf"static void patch_r{patch.row}_c{patch.col}\(void\) \{{(.*?)\n\}}", code, re.S
        ).group(1)
        calls = re.findall(r"(\w+)\(&(\w+)_steps\[(\d+)\]\);", body)
        assert [c[0] for c in calls] == [step.op for step in patch.steps]


ARENA_ROW = re.compile(r"^#define (\w+) +(\d+) /\* (\w+) +(\d+) bytes, steps (\d+)-(\d+): (.*) \*/$", re.M)


def test_the_arena_in_model_h_holds_every_buffer_without_overlap(graph):
    """Checked from the generated model.h alone (not from the planner the generator calls): every buffer
    lies inside PB_ARENA_BYTES, two buffers alive at the same step never share a byte (except an op
    written in place over the input that dies with it), the arena is no bigger than its highest buffer,
    and every op whose kernel needs scratch has that much (the rule measured against the C kernels in
    test_kernels.py::test_scratch_bytes_is_what_the_dsp_kernels_touch)."""
    plan = make_plan(graph, 3, STAGE_ENDS["constants"])
    for optimized in (False, True):
        model = generate_model(graph, plan, "stm32f746", _input(graph), CodegenOptions(optimized=optimized))
        header = model.sources["model.h"]
        arena_bytes = int(re.search(r"^#define PB_ARENA_BYTES (\d+)$", header, re.M).group(1))
        rows = [
            (macro, int(offset), int(size), int(first), int(last), what)
            for macro, offset, _kind, size, first, last, what in ARENA_ROW.findall(header)
        ]
        assert len(rows) == header.count("#define ") - 2  # every buffer row parsed (not the guard/arena)
        assert model.arena_bytes == arena_bytes
        assert "static int8_t arena[PB_ARENA_BYTES]" in model.sources["model.c"]
        assert all(0 <= offset and offset + size <= arena_bytes for _, offset, size, *_ in rows)
        assert arena_bytes <= -(-max(offset + size for _, offset, size, *_ in rows) // 16) * 16
        for i, (name_a, off_a, size_a, first_a, last_a, what_a) in enumerate(rows):
            for name_b, off_b, size_b, first_b, last_b, what_b in rows[i + 1 :]:
                alive_together = first_a <= last_b and first_b <= last_a
                share_bytes = off_a < off_b + size_b and off_b < off_a + size_a
                in_place = ("in place over" in what_b and first_b == last_a) or (
                    "in place over" in what_a and first_a == last_b
                )
                assert not (alive_together and share_bytes) or in_place, (name_a, name_b)
        scratch = {
            macro.removeprefix("SCRATCH_"): size
            for macro, _, size, *_ in rows
            if macro.startswith("SCRATCH_")
        }
        runs = fold_pads(graph, plan).graph  # the graph that runs: a folded PAD's reader reads its input
        for op in runs.ops:
            assert scratch.get(op.name, 0) >= kernels.op_scratch_bytes(runs, op, optimized), op.name
        assert f"-DPB_KERNELS_OPTIMIZED={int(optimized)}" == f"-D{model.defines[0]}"
    assert model.scratch_bytes > 0 and scratch  # the DSP kernels need scratch, the portable ones none


def test_residual_add_in_the_patch_stage_reads_the_shortcuts_window(graph):
    """The shortcut is held wider than the ADD needs (the 3x3 conv beside it reads a halo): the ADD's
    step must read the window at the right offset with the shortcut's row stride."""
    plan = make_plan(graph, 2, STAGE_ENDS["avg_pool"])
    model = generate_model(graph, plan, "stm32f746", _input(graph))
    add = graph.op("b3_residual_add")
    shortcut = add.inputs[0]
    offset = model.arena.offset(shortcut)
    steps = re.search(
        r"stage_step b3_residual_add_steps\[\d+\] = \{(.*?)\n\};", model.sources["model.c"], re.S
    )
    rows = re.findall(r"\.input = \{(\d+), (\d+)\}, \.input_row_stride = \{(\d+), (\d+)\}", steps.group(1))
    assert len(rows) == len(plan.patches)
    for patch, (in0, _, stride0, _) in zip(plan.patches, rows, strict=True):
        held = patch.tensors[shortcut]
        need = next(s for s in patch.steps if s.op == add.name).inputs[0]
        channels = graph.tensor(shortcut).shape[3]
        assert int(stride0) == held.width * channels
        expected = offset + ((need.y0 - held.y0) * held.width + (need.x0 - held.x0)) * channels
        assert int(in0) == expected
    assert any(patch.tensors[shortcut] != patch.output for patch in plan.patches)


def test_test_input_is_compiled_in_and_copied_by_prepare_input():
    g = get_model("vww_96_int8")
    x = make_test_input(g)
    model = generate_model(g, make_plan(g, 1, 0), "stm32f746", x)
    weights = model.sources["model_weights.h"]
    assert "static const int8_t model_test_input[27648]" in weights
    first = re.search(
        r"model_test_input\[27648\] __attribute__\(\(aligned\(4\)\)\) = \{\n\s+([-\d, ]+),", weights
    )
    assert [int(v) for v in first.group(1).split(", ")] == x.reshape(-1)[:24].tolist()
    assert "memcpy(arena + BUF_INPUT, model_test_input, sizeof model_test_input);" in model.sources["model.c"]
    assert model.input_in_sram


# --- what it refuses ------------------------------------------------------------------------------------


def test_unsupported_ops_are_a_codegen_error_naming_each_op(graph):
    broken = dataclasses.replace(graph, ops=list(graph.ops), tensors=dict(graph.tensors))
    a = Appender(broken)
    x = a.op("RESHAPE", "to_5d", [a.x, a.const("shape_5d", np.array([1, 1, 1, 2, 5], np.int32))])
    a.op("TRANSPOSE", "swap_5d", [x, a.const("perm_5d", np.array([0, 1, 2, 4, 3], np.int32))])
    wide = broken.tensors[broken.outputs[0]]
    broken.tensors["wide"] = Tensor("wide", wide.shape, "int16", wide.quant)
    broken.ops[-1].outputs = ["wide"]
    broken.outputs = ["wide"]
    with pytest.raises(CodegenError) as caught:
        generate_model(broken, make_plan(broken, 1, 0), "stm32f746", _input(graph))
    message = str(caught.value)
    index = len(broken.ops) - 1
    assert f"op {index} 'swap_5d' (TRANSPOSE, per layer): tensor 'wide' is int16" in message
    broken.tensors["wide"].dtype = "int8"
    with pytest.raises(
        CodegenError,
        match=rf"op {index} 'swap_5d' \(TRANSPOSE, per layer\): TRANSPOSE of a tensor of rank > 4",
    ):
        generate_model(broken, make_plan(broken, 1, 0), "stm32f746", _input(graph))


def test_depth_multiplier_runs_in_the_patch_stage():
    """A depthwise conv with multiplier 2 in the patch stage: generated (tests/reference/test_spatial_ops.py runs it)."""
    g = build_stack(
        [LayerSpec("conv", 3, 1, channels=4), LayerSpec("depthwise", 3, 1, multiplier=2)],
        input_shape=(1, 8, 8, 3),
    )
    assert unsupported_reason(g, g.ops[1], in_stage=True) is None
    generate_model(g, make_plan(g, 2, 2), "stm32f746", _input(g))


def test_names_that_are_not_c_identifiers_are_refused():
    g = build_stack([LayerSpec("conv", 3, 1, channels=4)], input_shape=(1, 8, 8, 3), blocks=False)
    g.ops[0].name = "conv-1"
    with pytest.raises(
        CodegenError, match=r"op 0 'conv-1' \(CONV_2D\): its name is not a usable C identifier"
    ):
        generate_model(g, make_plan(g, 1, 0), "stm32f746", _input(g))


def test_bad_test_input_and_options_are_refused(graph):
    plan = make_plan(graph, 1, 0)
    with pytest.raises(
        CodegenError, match=r"test input 'input' must be int8\[1, 22, 18, 3\].*got int8\[1, 22, 18\]"
    ):
        generate_model(graph, plan, "stm32f746", _input(graph)[..., 0])
    with pytest.raises(CodegenError, match="input_mode 'streamed' needs a patch stage"):
        generate_model(graph, plan, "stm32f746", _input(graph), CodegenOptions(input_mode="streamed"))
    no_dsp = dataclasses.replace(load_target("stm32f412"), core="cortex-m0", name="m0board")
    with pytest.raises(CodegenError, match="no DSP extension"):
        generate_model(graph, plan, no_dsp, _input(graph))
    with pytest.raises(CodegenError, match="input_mode 'camera' unknown"):
        CodegenOptions(input_mode="camera")


# --- the generated C on the host: bit-exact, sanitizers clean ------------------------------------------------

HOST_CASES = [  # (p, n, optimized, input mode)
    (1, 0, False, "counted"),
    (1, 0, True, "counted"),
    (2, STAGE_ENDS["avg_pool"], True, "counted"),
    (3, STAGE_ENDS["constants"], False, "counted"),
    (3, STAGE_ENDS["constants"], True, "streamed"),
    (4, STAGE_ENDS["avg_pool"], False, "streamed"),
]


@needs_gcc
@pytest.mark.parametrize("p, n, optimized, input_mode", HOST_CASES)
def test_every_op_bit_exact_on_the_host(graph, p, n, optimized, input_mode):
    x = _input(graph)
    model = generate_model(
        graph, make_plan(graph, p, n), "stm32f746", x, CodegenOptions(optimized, input_mode)
    )
    assert model.input_in_sram == (input_mode == "counted")
    assert run_on_host(model) == expected_output(graph, x)


@needs_gcc
@pytest.mark.parametrize("p, optimized", [(2, True), (3, True), (3, False)])
def test_mbconv_blocks_with_residuals_bit_exact_on_the_host(p, optimized):
    """MobileNetV2-like blocks (expand, depthwise, project, residual ADD) with the stage ending mid-network; the
    ADD fused into its conv in the stage runs a chunk's rows by one pb_add_s8_rows call (both variants)."""
    specs = [LayerSpec("conv", 3, 2, channels=8), LayerSpec("mbconv", 3, 1), LayerSpec("mbconv", 5, 2),
             LayerSpec("mbconv", 3, 1), LayerSpec("mbconv", 7, 1), LayerSpec("conv", 3, 2, channels=12)]  # fmt: skip
    g = build_stack(specs, input_shape=(1, 40, 36, 3), seed=11, name="mbconv_stack")
    x = _input(g)
    model = generate_model(g, make_plan(g, p, 5), "stm32f746", x, CodegenOptions(optimized=optimized))
    assert "pb_add_s8_rows(" in model.sources["model.c"]
    assert run_on_host(model) == expected_output(g, x) == reference.run_outputs(g, x)[g.outputs[0]].tobytes()


@needs_gcc
@pytest.mark.parametrize("p, n, input_mode", [(4, 2, "counted"), (5, 3, "streamed")])
def test_patches_made_of_padding_only_bit_exact_on_the_host(p, n, input_mode):
    """A PAD wider than a patch: some patches read nothing of its input and are all padding."""
    specs = [LayerSpec("conv", 3, 1, channels=4), LayerSpec("pad", pads=(4, 5, 4, 3)),
             LayerSpec("conv", 3, 1, "VALID", channels=5)]  # fmt: skip
    g = build_stack(specs, input_shape=(1, 6, 6, 3), seed=5, blocks=False)
    plan = make_plan(g, p, n)
    assert any(s.inputs[0].is_empty for patch in plan.patches for s in patch.steps if s.op == "b1_pad_pad")
    x = _input(g)
    model = generate_model(g, plan, "stm32f746", x, CodegenOptions(optimized=False, input_mode=input_mode))
    assert run_on_host(model) == expected_output(g, x)


@needs_gcc
def test_a_patch_stage_that_is_the_whole_graph_bit_exact_on_the_host():
    g = build_stack([LayerSpec("conv", 3, 2, channels=4), LayerSpec("residual", 3), LayerSpec("depthwise", 5, 1)],
                    input_shape=(1, 16, 16, 3), seed=2)  # fmt: skip
    x = _input(g)
    model = generate_model(g, make_plan(g, 3, 3), "stm32f746", x)
    assert model.layer_names == tuple(f"patch_r{i}_c{j}" for i in range(3) for j in range(3))
    assert run_on_host(model) == expected_output(g, x)


@needs_gcc
@pytest.mark.parametrize("p, n", [(1, 0), (2, 4), (3, 6)])  # stage ends: after the ADD; the whole graph
def test_float_model_ends_bit_exact_on_the_host(p, n):
    g = float_ends_graph()
    x = float_image(g)
    model = generate_model(g, make_plan(g, p, n), "stm32f746", x, CodegenOptions(optimized=p != 3))
    assert (
        "pb_quantize_f32_s8" in model.sources["model.c"]
        and "pb_dequantize_s8_f32" in model.sources["model.c"]
    )
    expected = reference.run_outputs(g, x)["probabilities"]
    assert expected.dtype == np.float32
    assert run_on_host(model) == expected.tobytes() == expected_output(g, x)


# --- names from a model reach the C only as text -------------------------------------------------------

INJECTED_TENSOR = (
    "*/int pwn;/*"  # as long as VWW's input name 'input_1_int8': the flatbuffer keeps its layout
)
INJECTED_GRAPH = 'x"; int pwn2(void) { return 2; } /* \\\n??/'


def _code_only(source: str) -> str:
    """C without its comments and string literals (what the compiler turns into code)."""
    source = re.sub(r"/\*.*?\*/", " ", source, flags=re.S)
    return re.sub(r'"(\\.|[^"\\\n])*"', '""', source)


def test_c_comment_and_c_string_keep_any_text_inert():
    from harness.codegen.carrays import c_comment, c_string

    for text in [INJECTED_TENSOR, INJECTED_GRAPH, "/*/", "**//", "a\nb\r\0c", "é ??= ??/", "x" * 500]:
        comment = c_comment(text)
        assert "*/" not in comment and "/*" not in comment and not set(comment) & set("\\?\n\r\0")
        literal = c_string(text)
        assert re.fullmatch(r'"([A-Za-z0-9 _.,:;()\[\]{}<>=+\-#@!%&|^~\'$/]|\\[0-7]{3})*"', literal), literal
        assert len(literal) <= 2 + 4 * 120


@needs("gcc")
def test_a_tensor_and_graph_name_carrying_c_are_only_text_and_the_model_runs(tmp_path):
    """The review's injection: VWW with its input tensor renamed ``*/int pwn;/*`` (and a graph name that
    closes a C string) generates C that has none of that code, compiles, and runs bit-exact on the host."""
    from harness.frontend.importer import graph_from_bytes
    from harness.paths import MLPERF_DIR

    data = (MLPERF_DIR / "vww_96_int8.tflite").read_bytes()
    assert data.count(b"input_1_int8") == 1
    g = graph_from_bytes(data.replace(b"input_1_int8", INJECTED_TENSOR.encode()), INJECTED_GRAPH)
    assert g.inputs == [INJECTED_TENSOR]
    x = make_test_input(g)
    model = generate_model(g, make_plan(g, 1, 0), "stm32f746", x)
    for name, text in model.sources.items():
        assert "pwn" not in _code_only(text), name
    assert model.sources["model.c"].count("pwn") >= 1  # the names are still shown, as text
    assert run_on_host(model, runs=1) == expected_output(g, x)


@needs_gcc
def test_kernel_paths_no_call_takes_are_left_out_and_forcing_them_off_stays_bit_exact():
    """kernels.kernel_path_defines: a generated model compiles in only the DSP depthwise paths some call of
    it can take (the 3x3 and 5x5/7x7 channel planes on maps of 6 x 6 / 16 x 16 outputs, the depth
    multiplier kernel); each flag only sends a call to the general path, so with every flag forced on a model
    whose calls do take them the host run stays bit-exact (multiplier: the portable kernel)."""
    specs = [LayerSpec("conv", 3, 1, channels=8), LayerSpec("depthwise", 3, 1), LayerSpec("depthwise", 5, 1),
             LayerSpec("depthwise", 3, 1, multiplier=2)]  # fmt: skip
    g = build_stack(specs, input_shape=(1, 20, 20, 3), seed=3, name="dw_paths", blocks=False)
    x = _input(g)
    flags = ("PB_DEPTHWISE_MULTIPLIER=0", "PB_DEPTHWISE_PLANES3=0", "PB_DEPTHWISE_PLANES57=0")
    per_layer = generate_model(g, make_plan(g, 1, 0), "stm32f746", x)
    assert not set(flags) & set(per_layer.defines)  # every path taken: 20 x 20 maps
    patched = generate_model(g, make_plan(g, 4, len(g.ops)), "stm32f746", x)
    assert set(patched.defines) & set(flags) == {
        flags[2]
    }  # the 5x5's 6 x 6 / 7 x 7 tiles; 3x3 tiles of 6 x 6 on
    small = build_stack(specs, input_shape=(1, 5, 5, 3), seed=3, name="dw_paths_small", blocks=False)
    on_small = generate_model(small, make_plan(small, 1, 0), "stm32f746", _input(small))
    assert set(flags[1:]) <= set(on_small.defines) and flags[0] not in on_small.defines  # 5 x 5 maps
    forced = dataclasses.replace(per_layer, defines=per_layer.defines + flags)
    assert run_on_host(forced) == expected_output(g, x)

# SPDX-License-Identifier: Apache-2.0
"""Every op kind is one definition (harness/ir/opdefs.py) with all its parts: the test names the part a
kind lacks, so adding an op half-way fails here rather than on a device."""

from __future__ import annotations

import re

import pytest
import tflite

from harness.codegen import cmsis_nn, kernels
from harness.codegen import ops as emitters
from harness.frontend import writer
from harness.ir import opdefs, shapes
from harness.ir.opdefs import OP_DEFS
from harness.reference import runner

# Kinds that run without a C kernel of their own: RESHAPE moves no bytes (or one memcpy).
NO_KERNEL = ("RESHAPE",)


def _declarations() -> str:
    """What generated code sees of the kernels: pb_kernels.h, then pb_ops.h (derived from the C files)."""
    return (kernels.KERNELS_DIR / kernels.PUBLIC_HEADER).read_text() + kernels.ops_header()


def _declared() -> set[str]:
    return set(re.findall(r"\b(pb_\w+)\s*\(", _declarations()))


def missing_parts(kind: str) -> list[str]:
    """The parts of ``kind``'s definition that no layer provides, each named with where it belongs."""
    definition = OP_DEFS.get(kind)
    if definition is None:
        return [f"{kind}: no definition (harness/ir/opdefs.py)"]
    missing = []
    if definition.shape is None and kind not in shapes._RULES and not definition.several_outputs:
        missing.append(f"{kind}: shape rule (OpDef.shape, or harness/ir/shapes.py _RULES)")
    if kind not in runner._KERNELS:
        missing.append(f"{kind}: reference (harness/reference/runner.py _KERNELS)")
    if definition.options is not None:
        table = getattr(tflite, definition.options, None)
        if table is None:
            missing.append(f"{kind}: options table tflite.{definition.options}")
        for field in definition.fields:
            if table is not None and not hasattr(table, field.name):
                missing.append(f"{kind}: options field {definition.options}.{field.name}")
            if not hasattr(tflite, f"{definition.options}Add{field.name}"):
                missing.append(f"{kind}: options writer tflite.{definition.options}Add{field.name}")
    if not definition.several_outputs:  # the importer rewrites those into SLICEs: no firmware of their own
        if kind not in emitters.EMITTERS:
            missing.append(f"{kind}: emitter (harness/codegen/ops.py EMITTERS)")
        if kind not in emitters._CHECKS:
            missing.append(f"{kind}: emitter check (harness/codegen/ops.py _CHECKS)")
        if not definition.kernels and kind not in NO_KERNEL:
            missing.append(f"{kind}: C kernel (OpDef.kernels)")
    if kind in emitters.CMSIS_NN and definition.cmsis_nn is None:
        missing.append(
            f"{kind}: CMSIS-NN function (OpDef.cmsis_nn) that its call in harness/codegen/ops.py makes"
        )
    declared, defined = _declared(), kernels.defined_functions()
    for function in definition.kernels:
        if function not in declared:
            missing.append(f"{kind}: C kernel {function} declared (by its definition, or in pb_kernels.h)")
        if function not in defined:
            missing.append(f"{kind}: C kernel {function} defined in harness/codegen/kernels/*.c")
    return missing


@pytest.mark.parametrize("kind", list(OP_DEFS))
def test_every_op_kind_has_all_its_parts(kind):
    assert missing_parts(kind) == []


@pytest.mark.parametrize(
    "table, where",
    [
        (shapes._RULES, "RESIZE_BILINEAR: shape rule"),
        (runner._KERNELS, "RESIZE_BILINEAR: reference"),
        (emitters.EMITTERS, "RESIZE_BILINEAR: emitter (harness"),
        (emitters._CHECKS, "RESIZE_BILINEAR: emitter check"),
    ],
)
def test_removing_a_part_names_it(monkeypatch, table, where):
    monkeypatch.delitem(table, "RESIZE_BILINEAR")
    assert [m for m in missing_parts("RESIZE_BILINEAR") if m.startswith(where)]


def test_removing_a_c_kernel_or_an_options_field_names_it(monkeypatch):
    definition = OP_DEFS["RESIZE_BILINEAR"]
    renamed = opdefs.OpDef(**{**definition.__dict__, "kernels": ("pb_resize_bilinear_s8_gone",),
                              "fields": (opdefs.Field("x", "NoSuchField"),)})  # fmt: skip
    monkeypatch.setitem(OP_DEFS, "RESIZE_BILINEAR", renamed)
    missing = missing_parts("RESIZE_BILINEAR")
    assert (
        "RESIZE_BILINEAR: C kernel pb_resize_bilinear_s8_gone declared (by its definition, or in pb_kernels.h)"
        in missing
    )
    assert (
        "RESIZE_BILINEAR: C kernel pb_resize_bilinear_s8_gone defined in harness/codegen/kernels/*.c"
        in missing
    )
    assert "RESIZE_BILINEAR: options field ResizeBilinearOptions.NoSuchField" in missing


def test_no_layer_knows_a_kind_without_a_definition():
    tables = {
        "harness/ir/shapes.py _RULES": shapes._RULES,
        "harness/reference/runner.py _KERNELS": runner._KERNELS,
        "harness/codegen/ops.py EMITTERS": emitters.EMITTERS,
        "harness/codegen/ops.py _CHECKS": emitters._CHECKS,
        "harness/frontend/writer.py _OPTION_WRITERS": writer._OPTION_WRITERS,
        "harness/codegen/ops.py CMSIS_NN": emitters.CMSIS_NN,
    }
    stray = {where: sorted(set(table) - set(OP_DEFS)) for where, table in tables.items()}
    assert not any(stray.values()), stray


def test_the_dsp_kinds_come_from_the_c():
    # pb_conv_dsp.c, pb_depthwise_conv_dsp.c, pb_transpose_conv_dsp.c define the *_dsp variants
    assert kernels.dsp_kinds() == ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "ADD", "TRANSPOSE_CONV")


def test_the_cmsis_nn_calls_are_those_of_the_definitions(monkeypatch):
    # the function an op kind calls is its definition's; a call whose definition names none is named
    assert cmsis_nn.CALLS["BATCH_MATMUL"] == "arm_batch_matmul_s8"
    assert all(cmsis_nn.CALLS[kind] == OP_DEFS[kind].cmsis_nn for kind in emitters.CMSIS_NN)
    unnamed = opdefs.OpDef(**{**OP_DEFS["BATCH_MATMUL"].__dict__, "cmsis_nn": None})
    monkeypatch.setitem(OP_DEFS, "BATCH_MATMUL", unnamed)
    assert missing_parts("BATCH_MATMUL") == [
        "BATCH_MATMUL: CMSIS-NN function (OpDef.cmsis_nn) that its call in harness/codegen/ops.py makes"
    ]


def test_kernels_are_one_op_per_file_with_one_selection_rule():
    """TFLite Micro's layout: the DSP kernels are in files ending in _dsp beside the op's portable file, each
    has a portable twin, and only pb_kernels.h's PB_VARIANT picks between them (no #if of a kernel's own).
    (pb_conv_dsp.c also holds FULLY_CONNECTED's and pb_depthwise_conv_dsp.c the in-place depthwise DSP
    kernel: they share those files' inner loops.)"""
    defined = kernels.defined_functions()
    definition = re.compile(r"^[a-z][\w \t*]*?\b(pb_\w+)\s*\([^;{]*\)\s*\{", re.M)
    for path in kernels.kernel_sources():
        text = path.read_text()
        assert "PB_KERNELS_OPTIMIZED" not in text, f"{path.name} selects a variant itself; use PB_VARIANT"
        if path.stem.endswith("_dsp"):
            assert path.with_name(path.name.replace("_dsp.c", ".c")).exists(), (
                f"{path.name} has no portable file"
            )
        for name in definition.findall(text):
            if name.endswith("_dsp"):
                assert path.stem.endswith("_dsp"), (
                    f"{name} (a DSP kernel) is in {path.name}, not in a *_dsp.c"
                )
                assert name.replace("_dsp", "_portable") in defined, f"{name} has no portable twin"


def test_the_kinds_whose_kernels_take_scratch_have_a_scratch_rule():
    takes_scratch = set(re.findall(r"\b(pb_\w+)\s*\([^;]*\bvoid \*scratch\b[^;]*\);", _declarations()))
    kinds = {kind for kind, d in OP_DEFS.items() if takes_scratch & set(d.kernels)}
    assert kinds == set(kernels.SCRATCH_KINDS)

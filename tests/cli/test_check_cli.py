# SPDX-License-Identifier: Apache-2.0
"""``patchbench check``: the report a user reads before anything else, and its exit status."""

from __future__ import annotations

import json

import pytest
from machine import needs
from test_tflite_io import _tiny_conv_graph

from harness.cli import main
from harness.frontend import graph_to_bytes
from harness.frontend import schema as tflite_schema
from harness.paths import converter_model


def _check(capsys, *args) -> tuple[int, str, str]:
    code = main(["check", *map(str, args)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@needs("arm-none-eabi-gcc")
def test_check_converter_model_reports_ops_rewrites_agreement_and_memory(capsys):
    path = converter_model("keras_resnet_like_r64")
    code, out, _ = _check(capsys, path, "--inputs", "3", "--json", "--target", "stm32f412")
    report = json.loads(out)
    assert code == 0 and report["ok"] and not report["problems"]
    assert [r.split(":")[0] for r in report["rewrites"]] == ["fold constant"] * 3
    kinds = [row["kind"] for row in report["ops"]]
    assert kinds[0] == "CONV_2D" and kinds[-1] == "FULLY_CONNECTED" and "SHAPE" not in kinds
    assert {row["kernel"] for row in report["ops"] if row["kind"] == "CONV_2D"} == {"DSP"}
    assert report["ops"][-1]["patch_stage"] == "no" and "ends the stage" in report["patch_stage"]
    assert report["litert"]["tensors_compared"] == 3 * 17 and report["litert"]["mismatches"] == []
    assert report["tflm"]["file"] == "equal"
    (fit,) = report["targets"]
    assert fit["target"] == "stm32f412" and fit["per_layer_fits"] and fit["weights_bytes"] > 50_000
    streamed, counted = fit["smallest_patch"]  # streamed first: the paper's figure
    assert (streamed["input_mode"], counted["input_mode"]) == ("streamed", "counted")
    assert streamed["arena"] < counted["arena"] < fit["per_layer_arena"]
    assert streamed["fits"] and counted["fits"]
    # the verdict comes from the built firmware: its flash is code + weights (the test input is generated
    # on the device, no image), its SRAM at least the arena and the planned stack (never below 512 B:
    # main, the kernels, one interrupt)
    assert fit["per_layer_flash"] == fit["code_bytes"] + fit["weights_bytes"]
    assert fit["code_bytes"] > 10_000 and "test_input_bytes" not in fit
    assert fit["per_layer_arena"] + 512 <= fit["per_layer_sram"] <= fit["per_layer_arena"] + 4096
    for patch in (streamed, counted):
        assert patch["arena"] + 512 <= patch["sram"] <= patch["arena"] + 4096


@needs("arm-none-eabi-gcc")
def test_check_counts_code_flash_in_the_fit(capsys, monkeypatch):
    """A board whose flash holds the weights but not the code: does not fit."""
    from dataclasses import replace

    from harness.firmware import targets

    path = converter_model("keras_dscnn_kws")
    code, out, _ = _check(capsys, path, "--inputs", "0", "--json", "--target", "stm32f412")
    (roomy,) = json.loads(out)["targets"]
    assert code == 0 and roomy["per_layer_fits"]
    no_room_for_code = roomy["weights_bytes"] + 1024
    real = targets.load_target
    monkeypatch.setattr(
        targets, "load_target", lambda name: replace(real(name), flash_budget_bytes=no_room_for_code)
    )
    code, out, _ = _check(capsys, path, "--inputs", "0", "--json", "--target", "stm32f412")
    report = json.loads(out)
    (tight,) = report["targets"]
    assert code == 1 and "fits none of the targets stm32f412" in report["problems"]
    assert tight["weights_bytes"] < tight["flash_budget"] < tight["per_layer_flash"]
    assert not tight["per_layer_fits"] and not any(patch["fits"] for patch in tight["smallest_patch"])


@needs("arm-none-eabi-gcc")
def test_check_detector_falls_back_to_the_canonicalized_export(capsys):
    code, out, _ = _check(capsys, converter_model("keras_tiny_detector_r128x160"), "--inputs", "2")
    assert code == 0, out
    assert "LiteRT BUILTIN_REF (patchbench's canonicalized export (LiteRT cannot load the file))" in out
    assert "TILE" in out and "upsampling as RESIZE_NEAREST_NEIGHBOR" in out
    assert "OK: every check holds" in out


def test_truncated_file_is_one_line(capsys, tmp_path):
    data = converter_model("keras_dscnn_kws").read_bytes()
    path = tmp_path / "truncated.tflite"
    path.write_bytes(data[: len(data) // 2])
    code, out, err = _check(capsys, path)
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and "malformed or truncated" in err and "re-export" in err


def test_float_only_model_is_one_line(capsys, tmp_path):
    path = tmp_path / "float.tflite"
    path.write_bytes(graph_to_bytes(_tiny_conv_graph(dtype="float32")))
    code, out, err = _check(capsys, path)
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and "float32" in err and "full-integer quantization" in err


def test_unsupported_op_is_one_line_naming_it(capsys, tmp_path, monkeypatch):
    with monkeypatch.context() as patch:
        patch.setitem(tflite_schema._CODE_OF_KIND, "SOFTMAX", 66)  # SIN
        data = graph_to_bytes(_tiny_conv_graph())
    path = tmp_path / "sin.tflite"
    path.write_bytes(data)
    code, out, err = _check(capsys, path)
    assert code == 1 and out == ""
    assert err.count("\n") == 1
    assert "op 1 is SIN; patchbench has no kernel for it. Replace it in the source model" in err


@pytest.mark.emulator
@needs("arm-none-eabi-gcc", "qemu-system-arm")
def test_check_run_gives_a_bit_exact_per_layer_and_per_patch_point(capsys):
    path = converter_model("keras_dilated_transposed_r32")
    code, out, _ = _check(capsys, path, "--inputs", "2", "--run", "--target", "stm32f746", "--json")
    report = json.loads(out)
    assert code == 0, report["problems"]
    # the per-patch point is the smallest one the search finds (p = 4 since TRANSPOSE_CONV joined the stage)
    assert [(r["p"] > 1, r["status"], r["bit_exact"]) for r in report["runs"]] == [
        (False, "passed", True),
        (True, "passed", True),
    ]
    # the emulator's instructions, and the cycle model's estimate beside them, labelled
    for run in report["runs"]:
        assert run["latency_unit"] == "instructions" and run["latency_estimated_ms"] > 0
        assert run["timing_model"].startswith("timing-model")

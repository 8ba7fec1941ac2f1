# SPDX-License-Identifier: Apache-2.0
"""The QEMU timing plugin (harness/boards/qemu-timing-plugin): it changes no instruction count, and its
block counts add up, per timed unit, to the instructions the firmware's timer measured."""

from __future__ import annotations

import pytest
from machine import needs

from harness.boards import QemuBoard, Resource, run_firmware
from harness.boards.execution_profile import (
    PluginError,
    function_instructions,
    function_symbols,
    parse_profile,
    plugin_path,
)
from harness.engines import get_engine
from harness.pipeline.measure import build_point, new_result, note_build, plan_point

pytestmark = [pytest.mark.emulator, needs("gcc", "arm-none-eabi-gcc", "qemu-system-arm")]


@pytest.fixture(scope="module")
def kws_point(tmp_path_factory):
    """kws_ref_model per layer on the emulated F412, built once (about 3 M instructions a run)."""
    result = new_result("kws_ref_model", "stm32f412", 1, 0)
    planned = plan_point(result, "kws_ref_model", "stm32f412", repeat=2, warmup=1)
    built = build_point(planned, build_root=tmp_path_factory.mktemp("builds"))
    assert note_build(result, built), result.summary()
    return planned, built


@pytest.fixture(scope="module")
def kws_streamed_point(tmp_path_factory):
    """kws_ref_model p=2 n=2 with its input streamed on the emulated F412: each patch generates its input
    tile with the firmware's timer paused."""
    options = get_engine().options(input_mode="streamed")
    result = new_result("kws_ref_model", "stm32f412", 2, 2, options=options)
    planned = plan_point(result, "kws_ref_model", "stm32f412", repeat=1, warmup=1, options=options)
    built = build_point(planned, build_root=tmp_path_factory.mktemp("builds"))
    assert note_build(result, built), result.summary()
    return planned, built


def _run(firmware, timing: bool):
    board = QemuBoard(Resource("stm32f412", "qemu"), timing=timing)
    try:
        return run_firmware(board, firmware, timeout=60), board
    finally:
        board.close()


def profile_samples(board) -> dict:
    return board.execution_profile.samples


def test_plugin_changes_no_instruction_count_and_its_counts_add_up(kws_point):
    planned, firmware = kws_point
    with_plugin, board = _run(firmware, timing=True)
    without, _ = _run(firmware, timing=False)
    counts_only, counted = _run(firmware, timing="blocks")
    assert counts_only.run_totals == without.run_totals and counted.execution_profile.samples == {}
    assert profile_samples(board) and not counted.profile_error
    # the emulator's measured latency (QEMU -icount) is the same with and without the plugin
    assert with_plugin.run_totals == without.run_totals
    assert [layer.per_run for layer in with_plugin.layers] == [layer.per_run for layer in without.layers]
    assert with_plugin.output_crc32s == without.output_crc32s

    _assert_counts_match_the_timer(board, with_plugin)


def _assert_counts_match_the_timer(board, record, pauses: int = 0) -> None:
    """The plugin's instructions of each timed run and unit are the ones the firmware's timer measured;
    ``pauses``: how often a run pauses the timer (each stop and restart may lose up to a tick)."""
    profile = board.execution_profile
    assert profile is not None and board.profile_error is None and profile.complete
    totals, units = profile.unit_segments(record.warmup, record.runs, len(record.layers))
    tick = record.resolution * (1 + pauses)  # the timer counts whole SysTick ticks of 40 instructions
    # A unit's two timer reads and the plugin's marks around it are not the same instructions: the
    # SysTick value is QEMU's timer computed from its virtual clock. One unit of the kws point (its fully
    # connected op after 03f5be0: 2045 counted, 2000 and 2040 timed) showed 5 instructions beyond one
    # tick; the cause is not established. A unit attributed to the wrong op is off by whole blocks.
    skew = 16
    for run, segment in enumerate(totals):
        assert abs(profile.instructions(profile.segments[segment]) - record.run_totals[run]) <= tick
        for layer, unit in zip(record.layers, units[run], strict=True):
            counted = profile.instructions(profile.segments[unit])
            assert abs(counted - layer.per_run[run]) <= tick + skew, layer.name
    # every block's branch outcomes are counted once per execution (the last block of a segment may
    # still wait for its successor)
    for segment in profile.segments[1:-1]:
        for count in segment.counts.values():
            assert count.taken + count.not_taken in (count.executions, count.executions - 1)


def test_each_units_instructions_are_split_among_the_functions_that_ran_them(kws_point):
    _, firmware = kws_point
    record, board = _run(firmware, timing="blocks")
    names = [layer.name for layer in record.layers]
    found = function_instructions(board.execution_profile, firmware.elf, record.warmup, record.runs, names)
    _, units = board.execution_profile.unit_segments(record.warmup, record.runs, len(names))
    assert list(found) == names
    for name, segment in zip(names, units[0], strict=True):
        assert sum(found[name].values()) == board.execution_profile.instructions(
            board.execution_profile.segments[segment]
        )
        assert "?" not in found[name], name  # every block lies in a sized function symbol
    # each op's unit runs its own kernel, most of its instructions in the kernel's inner routines
    for name in names:
        if "depthwise" in name:
            assert found[name]["pb_depthwise_conv2d_s8_dsp"] > 0 and found[name].most_common(1)[0][
                0
            ].startswith("dw_")
        elif "conv" in name:
            assert any(f.startswith("pb_conv") for f in found[name]) and found[name].most_common(1)[0][
                0
            ].startswith("matmul_")


def test_what_runs_with_the_timer_paused_is_not_counted(kws_streamed_point):
    """A streamed input's tiles are generated with the timer paused (pb_timer_pause / pb_timer_resume):
    the plugin counts none of it, so the cycle model does not charge it to the patches either."""
    _, firmware = kws_streamed_point
    record, board = _run(firmware, timing="blocks")
    _assert_counts_match_the_timer(board, record, pauses=2 * 2)  # one input tile per patch
    ((start, size, _),) = [f for f in function_symbols(firmware.elf) if f[2] == "pb_test_input_s8"]
    generated = [b.id for b in board.execution_profile.blocks.values() if start <= b.pc < start + size]
    assert generated  # translated (it ran) ...
    assert not any(b in segment.counts for segment in board.execution_profile.segments for b in generated)


def test_unreadable_plugin_output_is_a_clear_error(tmp_path):
    broken = tmp_path / "timing.txt"
    broken.write_text("B 0 0x100 2 4\nI 0x100 2 0000 movs r0, #0\nS 0\n")
    with pytest.raises(PluginError, match="lists 1 instructions, not 2"):
        parse_profile(broken)
    broken.write_text("S 0\nX what\n")
    with pytest.raises(PluginError, match="unreadable timing plugin line"):
        parse_profile(broken)


@needs("gcc")
def test_plugin_builds_from_its_source(tmp_path):
    built = plugin_path(tmp_path)
    assert built.is_file() and built.read_bytes()[:4] == b"\x7fELF"
    assert plugin_path(tmp_path) == built  # up to date: not rebuilt


def test_the_point_record_carries_the_estimate_labelled(kws_point):
    from harness.pipeline.measure import run_point

    planned, firmware = kws_point
    result = run_point(planned, firmware)
    assert result.status == "passed", result.summary()
    assert result.latency_unit == "instructions"  # the measured latency stays the emulator's count
    assert result.timing_model.startswith("timing-model") and "TRM" in result.timing_model
    assert result.latency_estimated_cycles > 0
    assert result.latency_estimated_ms == pytest.approx(
        result.latency_estimated_cycles / 100e6 * 1000, rel=1e-6
    )
    names = [name for name, _ in result.layer_latency]
    assert [name for name, _ in result.layer_latency_estimated_ms] == names
    # the units' estimates add up to the run's (the timer reads between units are a few cycles each)
    unit_sum = sum(ms for _, ms in result.layer_latency_estimated_ms)
    assert unit_sum == pytest.approx(result.latency_estimated_ms, rel=0.01)
    assert "ms estimated" in result.summary()

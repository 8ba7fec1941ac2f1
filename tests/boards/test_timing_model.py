# SPDX-License-Identifier: Apache-2.0
"""The cycle model (harness/boards/timing_model.py) on hand-made blocks: instruction classes, the Cortex-M4
table with its pipelining and branch refill, llvm-mca for the Cortex-M7, the memory term, the per-unit
segments, and the target's [timing] table."""

from __future__ import annotations

import dataclasses

import pytest
from machine import needs

from harness.boards.execution_profile import (
    Block,
    BlockCount,
    ExecutionProfile,
    Instruction,
    MemorySample,
    Segment,
)
from harness.boards.timing_model import (
    M4_BRANCH_REFILL,
    M4_CYCLES,
    classify,
    estimate,
    m4_block_cycles,
    m7_issue_cycles,
    memory_costs,
    plugin_memory_arguments,
)
from harness.firmware.targets import TargetError, load_target, load_target_file


def block(block_id: int, *texts: str, pc: int = 0x1000) -> Block:
    instructions = tuple(Instruction(pc + 2 * i, 2, text) for i, text in enumerate(texts))
    return Block(block_id, pc, instructions)


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("smlad r0, r1, r2, r0", "mac"),
        ("sxtb16 r4, r5", "simd"),
        ("sxtab16 lr, r6, ip", "simd"),
        ("ldr.w r1, [r3], #4", "load"),
        ("ldrsb r4, [r3, #1]!", "load"),
        ("strd r0, r1, [sp]", "store_double"),
        ("push {r4, r5, r6, lr}", "store_multiple"),
        ("pop {r4, r5}", "load_multiple"),
        ("pop {r4, pc}", "indirect"),
        ("bne #0x1000", "branch"),
        ("cbz r0, #0x1000", "branch"),
        ("bl #0x2000", "call"),
        ("bx lr", "indirect"),
        ("ite eq", "it"),
        ("mla r0, r1, r2, r3", "mla"),
        ("sdiv r0, r1, r2", "div"),
        ("adds r0, #1", "alu"),
        ("ldr pc, [sp], #4", "indirect"),
    ],
)
def test_instruction_classes(text, kind):
    mnemonic, _, operands = text.partition(" ")
    assert classify(mnemonic, operands) == kind


def test_m4_table_pipelines_neighbouring_loads_and_counts_register_lists():
    # ldr 2, ldr behind a load 1, smlad 1, push 1 + 3 registers, subs 1, bne 1 (its refill apart)
    loop = block(0, "ldr r1, [r3], #4", "ldr r2, [r4], #4", "smlad r0, r1, r2, r0", "push {r4, r5, lr}",
                 "subs r5, #1", "bne #0x1000")  # fmt: skip
    assert m4_block_cycles(loop) == 2 + 1 + 1 + (1 + 3) + 1 + 1
    assert M4_CYCLES["load"] == 2 and M4_CYCLES["mac"] == 1


def _profile(blocks: list[Block], counts: list[dict[int, BlockCount]], samples=None) -> ExecutionProfile:
    return ExecutionProfile(
        {b.id: b for b in blocks}, [Segment(counts=c) for c in counts], True, samples or {}
    )


def test_m4_estimate_adds_the_refill_of_taken_branches_and_flash_wait_states():
    f412 = load_target("stm32f412")
    loop = block(1, "ldr r1, [r3], #4", "subs r5, #1", "bne #0x1000")
    call = block(2, "movs r0, #0", "bl #0x1000", pc=0x2000)
    # warmup 0, runs 1, one unit (harness/firmware/main.c): segment 0 before the first timer read, 1 the
    # run as a whole, 2 up to the read before the units, 3 the unit, 4 after it
    unit = {1: BlockCount(100, 99, 1), 2: BlockCount(1, 1, 0)}
    samples = {1: MemorySample(100, {"flash_data_misses": 25, "icache_misses": 1})}
    profile = _profile([loop, call], [{}, unit, {}, unit, {}], samples)
    found = estimate(profile, f412, 0, 1, ["conv"])
    name, conv = found.units[0]
    assert name == "conv" and conv.instructions == 302
    assert conv.issue == 100 * (2 + 1 + 1) + (1 + 1)
    assert conv.branches == M4_BRANCH_REFILL * (99 + 1)
    # the issue cycles by instruction class add up to the issue cycles: loads 2, the rest 1
    assert conv.class_issue == {"load": 200, "alu": 101, "branch": 100, "call": 1}
    assert sum(conv.class_issue.values()) == conv.issue
    wait_states = f412.clock.flash_latency
    assert memory_costs(f412).flash_fill == wait_states
    assert conv.memory == pytest.approx(26 * wait_states)
    assert found.ms(conv) == pytest.approx(conv.cycles / 100e6 * 1000)
    assert found.total.cycles == conv.cycles  # the run as a whole: the same counts here


def test_an_estimate_needs_the_runs_the_record_says():
    with pytest.raises(Exception, match="timer reads"):
        _profile([block(1, "nop")], [{}]).unit_segments(1, 1, 3)


@needs("llvm-mca")
def test_m7_issue_cycles_come_from_llvm_mca(tmp_path):
    # two independent ALU ops dual-issue on the Cortex-M7; a dependent chain of SMLADs does not
    pair = block(1, "add.w r0, r0, #1", "add.w r1, r1, #1")
    chain = block(2, "smlad r0, r1, r2, r0", "smlad r0, r1, r2, r0", "bne #0x1000")
    cycles = m7_issue_cycles([pair, chain], tmp_path / "mca.json")
    assert cycles[1] < 2 and cycles[2] >= 2
    assert (tmp_path / "mca.json").is_file()
    assert m7_issue_cycles([pair, chain], tmp_path / "mca.json") == cycles  # from the cache


def test_plugin_memory_arguments_follow_the_target():
    f746 = plugin_memory_arguments(load_target("stm32f746"))
    assert "tcm=0x20000000:0x20010000" in f746 and "dcache=4096:4:32" in f746
    assert any(a.startswith("sram=") for a in f746)
    f412 = plugin_memory_arguments(load_target("stm32f412"))
    assert not any(a.startswith(("sram=", "tcm=")) for a in f412)  # the M4's SRAM is uncached
    assert plugin_memory_arguments(load_target("virtual-m7-2mb")) == []  # no memory system: no estimate
    h743 = load_target("stm32h743")
    costs = memory_costs(h743)  # the AXI bus at half the core clock: a flash line is (4 + 1) * 2 cycles
    assert h743.clock.ahb_divider == 2 and costs.flash_fill == (h743.clock.flash_latency + 1) * 2


def test_a_timing_table_naming_an_unknown_tcm_is_refused(tmp_path):
    source = load_target("stm32f746").source.read_text().replace('tcm = ["DTCM"]', 'tcm = ["ITCM"]')
    path = tmp_path / "stm32f746.toml"
    path.write_text(source)
    with pytest.raises(TargetError, match=r"\[timing\] tcm"):
        load_target_file(path)
    assert dataclasses.is_dataclass(load_target("stm32f746").memory_system)


def test_the_fit_is_least_squares_on_the_relative_error():
    from harness.cli.timing import PointCounts, fit_issue_factor

    def point(issue, other):
        return PointCounts("m", "stm32h743", "cmsis-nn", "f", 1.0, issue, other, 100_000_000, [])

    # both figures met exactly by a factor 1.5: the fit finds it
    a, b = point(1_000_000, 500_000), point(4_000_000, 1_000_000)
    factor = fit_issue_factor([(a, 20.0), (b, 70.0)])
    assert factor == pytest.approx(1.5)
    assert a.ms(factor) == pytest.approx(20.0) and b.ms(factor) == pytest.approx(70.0)


def test_a_board_run_is_set_beside_the_emulator_run_of_the_same_point(tmp_path, capsys):
    from harness.cli import main
    from harness.results.db import ResultsDB
    from harness.results.record import PointIdentity, PointRecord

    emulated = PointIdentity("stm32f746", "qemu", "vww_96_int8", 1, 0, compiler="aaaa")
    board = dataclasses.replace(emulated, backend="pyocd", place="desk-f746", compiler="bbbb")
    other = dataclasses.replace(board, model="kws_ref_model")  # no emulator twin: not listed
    with ResultsDB(tmp_path / "r.sqlite") as db:
        db.start_run("r1", None, "h", {})
        db.add(PointRecord(identity=emulated, run_id="r1", status="passed", latency=12_000_000,
                           latency_unit="instructions", latency_estimated_cycles=16_500_000.0))  # fmt: skip
        db.add(
            PointRecord(
                identity=board, run_id="r1", status="passed", latency=15_000_000, latency_unit="cycles"
            )
        )
        db.add(
            PointRecord(
                identity=other, run_id="r1", status="passed", latency=3_000_000, latency_unit="cycles"
            )
        )
    assert main(["timing", "--boards", "--results", str(tmp_path / "r.sqlite")]) == 0
    out = capsys.readouterr().out
    assert "vww_96_int8" in out and "+10.0%" in out and "kws_ref_model" not in out

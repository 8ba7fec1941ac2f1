# SPDX-License-Identifier: Apache-2.0
"""Target files: the three boards load with their real figures; bad files and names fail clearly."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.firmware.targets import TargetError, list_targets, load_target, load_target_file
from harness.paths import TARGETS_DIR

KB = 1024


def test_the_three_paper_boards_the_l4r5_and_the_virtual_target_are_listed():
    assert list_targets() == ["stm32f412", "stm32f746", "stm32h743", "stm32l4r5", "virtual-m7-2mb"]


def test_the_virtual_target_says_it_is_not_a_real_board():
    """Large enough for the paper's 224x224 networks; QEMU only, and its description says so."""
    target = load_target("virtual-m7-2mb")
    assert target.description.startswith("VIRTUAL (not a real board)")
    assert (target.core, target.qemu_machine) == ("cortex-m7", "mps2-an500")
    assert target.sram_budget_bytes == 2 * 1024 * KB and target.clock is None


@pytest.mark.parametrize(
    "name, core, fpu, clock, sram, flash, machine, pyocd, renode",
    [
        ("stm32f412", "cortex-m4", "fpv4-sp-d16", 100_000_000, 256 * KB, 1024 * KB, "mps2-an386", "stm32f412xg",
         "platforms/cpus/stm32f4.repl"),
        ("stm32f746", "cortex-m7", "fpv5-sp-d16", 216_000_000, 320 * KB, 1024 * KB, "mps2-an500", "stm32f746zgtx",
         "platforms/cpus/stm32f746.repl"),
        ("stm32h743", "cortex-m7", "fpv5-d16", 480_000_000, 512 * KB, 2048 * KB, "mps2-an500", "stm32h743xx",
         "platforms/cpus/stm32h743.repl"),
    ],
)  # fmt: skip
def test_board_figures(name, core, fpu, clock, sram, flash, machine, pyocd, renode):
    target = load_target(name)
    assert (target.core, target.mcpu, target.fpu, target.float_abi) == (core, core, fpu, "hard")
    assert target.clock_hz == clock
    assert (target.sram_budget_bytes, target.flash_budget_bytes) == (sram, flash)
    assert (target.qemu_machine, target.pyocd_target, target.renode_platform) == (machine, pyocd, renode)
    assert target.gcc_cpu_flags == [f"-mcpu={core}", "-mthumb", f"-mfpu={fpu}", "-mfloat-abi=hard"]
    qemu, hardware = target.platform("qemu"), target.platform("hardware")
    assert (qemu.flash_origin, qemu.sram_origin, qemu.console_base) == (0x0, 0x20000000, 0x40004000)
    assert (qemu.console, qemu.latency_unit) == ("cmsdk_uart", "instructions")
    assert (hardware.flash_origin, hardware.console_base, hardware.latency_unit) == (
        0x08000000,
        0x40004800,
        "cycles",
    )
    assert hardware.family == name[:7]  # stm32f4 / stm32f7 / stm32h7


def test_h743_budget_is_its_largest_contiguous_region_not_its_total_sram():
    target = load_target("stm32h743")
    total = sum(region.size for region in target.sram_regions)
    spans = {span.name: span.size for span in target.contiguous_sram_spans()}
    assert total == 992 * KB  # DTCM + AXI + SRAM1-4 (ITCM is not modelled: it is for code)
    assert spans["AXI_SRAM"] == 512 * KB == max(spans.values()) == target.sram_budget_bytes
    assert spans["SRAM1+SRAM2+SRAM3"] == 288 * KB  # adjacent regions merge
    assert target.platform("hardware").sram_origin == 0x24000000  # the firmware's RAM is the AXI SRAM


def test_f746_regions_are_contiguous_so_its_whole_sram_is_usable():
    spans = load_target("stm32f746").contiguous_sram_spans()
    assert [(s.name, s.origin, s.size) for s in spans] == [("DTCM+SRAM1+SRAM2", 0x20000000, 320 * KB)]


def test_qemu_tick_is_40_instructions():
    # MPS2 SysTick at 25 MHz, -icount shift=0 (1 ns per instruction): EMULATION.md's measured fact.
    assert {load_target(name).qemu_instructions_per_tick for name in list_targets()} == {40}


def test_unknown_target_names_the_known_ones():
    with pytest.raises(TargetError, match=r"unknown target 'stm32f999'.*known targets: stm32f412, stm32f746"):
        load_target("stm32f999")


def test_unknown_platform():
    with pytest.raises(TargetError, match="no platform 'renode'; it has hardware, qemu"):
        load_target("stm32f412").platform("renode")


def _edited_copy(tmp_path: Path, name: str, old: str, new: str) -> Path:
    text = (TARGETS_DIR / f"{name}.toml").read_text()
    assert old in text
    path = tmp_path / f"{name}.toml"
    path.write_text(text.replace(old, new, 1))
    return path


def test_budget_larger_than_any_contiguous_block_is_rejected(tmp_path):
    path = _edited_copy(tmp_path, "stm32h743", "sram_budget_bytes = 524_288", "sram_budget_bytes = 1_048_576")
    with pytest.raises(TargetError, match="exceeds the largest contiguous SRAM block"):
        load_target_file(path)


def test_missing_field_names_file_and_field(tmp_path):
    path = _edited_copy(tmp_path, "stm32f412", 'mcpu = "cortex-m4"\n', "")
    with pytest.raises(TargetError, match=r"stm32f412.toml: \[core\] mcpu must be a non-empty string"):
        load_target_file(path)


def test_bad_choice_is_named(tmp_path):
    path = _edited_copy(tmp_path, "stm32f412", 'console = "cmsdk_uart"', 'console = "pl011"')
    with pytest.raises(TargetError, match=r"\[platforms.qemu\] console must be one of"):
        load_target_file(path)


def test_invalid_toml(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text("name = \n")
    with pytest.raises(TargetError, match="not valid TOML"):
        load_target_file(path)


def test_the_l4r5_is_an_m4_with_640_kb_in_one_block_and_an_lpuart_console():
    target = load_target("stm32l4r5")
    assert (target.core, target.fpu, target.clock_hz, target.qemu_machine) == (
        "cortex-m4",
        "fpv4-sp-d16",
        120_000_000,
        "mps2-an386",
    )  # the F412's emulated machine, with the L4R5's budgets
    assert (target.sram_budget_bytes, target.flash_budget_bytes) == (640 * KB, 2048 * KB)
    assert [(s.origin, s.size) for s in target.contiguous_sram_spans()] == [(0x20000000, 640 * KB)]
    hardware = target.platform("hardware")
    assert (hardware.family, hardware.console, hardware.console_base) == (
        "stm32l4",
        "stm32_lpuart",
        0x40008000,
    )
    assert (target.console_instance, target.console_tx_pin, target.console_af) == ("LPUART1", "PG7", 8)
    f746 = load_target("stm32f746")
    assert (f746.console_instance, f746.console_tx_pin, f746.console_af) == ("USART3", "PD8", 7)


@pytest.mark.parametrize(
    "old, new, message",
    [
        ('instance = "LPUART1"', 'instance = "USART3"', r"stm32l4 has no console driver data for 'USART3'; it knows LPUART1"),
        ('tx_pin = "PG7"', 'tx_pin = "G7"', r"pin 'G7' is not a GPIO pin like PD8"),
        ('tx_pin = "PG7"', 'tx_pin = "PG16"', r"pin 'PG16' is not a GPIO pin"),
        ("af = 8 ", "# no af ", r"\[console\] af \(the TX pin's alternate function, 0-15\) is missing"),
        ("af = 8 ", "af = 16 ", r"\[console\] af must be an integer 0..15"),
        ("console_base = 0x40008000", "console_base = 0x40004800", r"LPUART1 of stm32l4 is 'stm32_lpuart' at 0x40008000"),
        ('console = "stm32_lpuart"', 'console = "stm32_usart_v2"', r"LPUART1 of stm32l4 is 'stm32_lpuart'"),
        ('console = "cmsdk_uart"', 'console = "stm32_lpuart"', r"platforms.qemu: console 'stm32_lpuart' is not one of family 'mps2'"),
    ],
)  # fmt: skip
def test_a_console_the_family_cannot_drive_is_named(tmp_path, old, new, message):
    with pytest.raises(TargetError, match=message):
        load_target_file(_edited_copy(tmp_path, "stm32l4r5", old, new))

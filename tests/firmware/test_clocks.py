# SPDX-License-Identifier: Apache-2.0
"""Clock trees of the STM32 targets: the shipped [clock] tables are valid, and wrong ones are refused."""

from __future__ import annotations

import copy
import tomllib
from fractions import Fraction

import pytest

from harness.firmware.clocks import ClockError, clock_config_from_table, hardware_defines
from harness.firmware.targets import TargetError, load_target, load_target_file
from harness.paths import TARGETS_DIR

MHZ = 1_000_000


@pytest.mark.parametrize(
    ("name", "sysclk", "vco", "apb", "latency"),
    [
        ("stm32f412", 100, 200, (50, 100), 3),
        ("stm32f746", 216, 432, (54, 108), 7),
        ("stm32h743", 480, 960, (120, 120, 120, 120), 4),
    ],
)
def test_shipped_targets_reach_their_rated_clock(name, sysclk, vco, apb, latency):
    target = load_target(name)
    clock = target.clock
    assert clock.sysclk_hz == target.clock_hz == sysclk * MHZ
    assert clock.vco_output_hz == vco * MHZ
    assert clock.apb_hz == tuple(Fraction(a * MHZ) for a in apb)
    assert clock.flash_latency == latency
    # HSE 8 MHz bypass, with an HSI fallback that gives the same VCO input.
    assert clock.source == "hse_bypass" and clock.hse_hz == 8 * MHZ
    assert Fraction(clock.limits.hsi_hz, clock.hsi_fallback_m) == clock.vco_input_hz


def test_the_l4r5_reaches_120_mhz_from_hsi16_through_the_pll_r_output_in_boost_mode():
    target = load_target("stm32l4r5")
    clock = target.clock
    assert (clock.family, clock.source, clock.limits.sysclk_output) == ("stm32l4", "hsi", "r")
    assert clock.vco_input_hz == 4 * MHZ and clock.vco_output_hz == 240 * MHZ
    assert clock.sysclk_hz == target.clock_hz == 120 * MHZ and clock.apb_hz == (120 * MHZ, 120 * MHZ)
    assert clock.flash_latency == 5 and clock.voltage_scale == "range1_boost"
    defines = hardware_defines(clock, console_apb=0)
    assert {"PB_CLOCK_BOOST=1", "PB_CLOCK_PLL_R=2u", "PB_CLOCK_CONSOLE_HZ=120000000u"} <= set(defines)
    assert not any(d.startswith("PB_CLOCK_HSE") for d in defines)


def test_defines_carry_register_encodings():
    f746 = hardware_defines(load_target("stm32f746").clock, console_apb=0)
    assert "PB_CLOCK_PPRE_APB1=5u" in f746  # /4
    assert "PB_CLOCK_PPRE_APB2=4u" in f746  # /2
    assert "PB_CLOCK_OVERDRIVE=1" in f746 and "PB_CLOCK_CONSOLE_HZ=54000000u" in f746
    h743 = hardware_defines(load_target("stm32h743").clock, console_apb=1)
    assert "PB_CLOCK_HPRE=8u" in h743  # /2
    assert "PB_CLOCK_PLL_RGE=1u" in h743  # 2.67 MHz: the 2-4 MHz band
    assert "PB_CLOCK_VOS0=1" in h743 and "PB_CLOCK_FLASH_WRHIGHFREQ=2u" in h743
    assert "PB_CLOCK_PLL_M_HSI=24u" in h743
    assert "PB_CLOCK_CONSOLE_HZ=120000000u" in h743  # USART3 on APB1 (the second bus of the H7's list)
    f412 = hardware_defines(load_target("stm32f412").clock, console_apb=0)
    assert not any("OVERDRIVE" in d or "VOS0" in d for d in f412)


def _table(name: str) -> tuple[dict, dict]:
    data = tomllib.loads((TARGETS_DIR / f"{name}.toml").read_text())
    return data, copy.deepcopy(data["clock"])


def _check(name: str, clock: dict):
    data, _ = _table(name)
    family = data["platforms"]["hardware"]["family"]
    return clock_config_from_table(
        clock, target=name, family=family, where=name, rated_hz=data["core"]["clock_hz"]
    )


@pytest.mark.parametrize(
    ("name", "change", "message"),
    [
        ("stm32f412", {"pll": {"m": 2}}, r"VCO input 4 MHz .* outside 1 MHz..2 MHz"),
        ("stm32f412", {"pll": {"n": 120}}, r"SYSCLK = 120 MHz .* not the target's rated clock"),
        ("stm32f412", {"pll": {"p": 3}}, r"pll.p = 3 is not one of"),
        ("stm32f412", {"pll": {"q": 4}}, r"PLL Q output 50 MHz exceeds 48 MHz"),
        ("stm32f412", {"apb_dividers": [1, 1]}, r"APB1 clock 100 MHz exceeds 50 MHz"),
        ("stm32f412", {"flash_latency": 2}, r"needs 3 wait states"),
        ("stm32f412", {"flash_latency": 5}, r"needs 3 wait states"),
        ("stm32f746", {"voltage_scale": "scale1"}, r"SYSCLK 216 MHz exceeds 180 MHz"),
        ("stm32f746", {"apb_dividers": [2, 2]}, r"APB1 clock 108 MHz exceeds 54 MHz"),
        ("stm32f746", {"pll": {"m": 2, "n": 108}}, r"VCO input 4 MHz"),
        ("stm32f746", {"hse_hz": 3_000_000}, r"hse_hz = 3000000 is outside"),
        ("stm32f746", {"hse_hz": 12_000_000, "pll": {"m": 7}}, r"no HSI equivalent"),
        ("stm32h743", {"voltage_scale": "vos1"}, r"VCO output 960 MHz .* outside 192 MHz..836 MHz at vos1"),
        ("stm32h743", {"ahb_divider": 1}, r"HCLK 480 MHz exceeds 240 MHz"),
        ("stm32h743", {"apb_dividers": [2, 1, 2, 2]}, r"APB1 clock 240 MHz exceeds 120 MHz"),
        ("stm32h743", {"pll": {"p": 3}}, r"pll.p = 3 is not one of"),
        ("stm32h743", {"pll": {"m": 6, "n": 360}}, r"VCO input 1.3333 MHz .* outside 2 MHz..16 MHz"),
        ("stm32h743", {"flash_latency": 3}, r"needs 4 wait states"),
        ("stm32h743", {"pll": {"r": None}}, r"pll.r is required"),
        ("stm32f746", {"pll": {"r": 2}}, r"has no PLL R output"),
        ("stm32f746", {"source": "hse"}, r"source must be one of"),
        ("stm32f746", {"source": "hsi"}, r"hse_hz is set but source is 'hsi'"),
        ("stm32l4r5", {"flash_latency": 4}, r"HCLK 120 MHz at range1_boost needs 5 wait states"),
        ("stm32l4r5", {"voltage_scale": "range1"}, r"SYSCLK 120 MHz exceeds 80 MHz at voltage scale range1"),
        ("stm32l4r5", {"pll": {"r": 3}}, r"pll.r = 3 is not one of stm32l4's R dividers 2, 4, 6, 8"),
        ("stm32l4r5", {"pll": {"r": 4}}, r"SYSCLK = 60 MHz \(VCO / r=4\) is not the target's rated clock"),
        ("stm32l4r5", {"pll": {"m": 8, "n": 120}}, r"VCO input 2 MHz .* outside 4 MHz..16 MHz"),
        ("stm32l4r5", {"pll": {"r": None}}, r"pll.r is required for stm32l4"),
    ],
)
def test_wrong_clock_configs_are_refused(name, change, message):
    _, clock = _table(name)
    for key, value in change.items():
        if key == "pll":
            for pll_key, pll_value in value.items():
                if pll_value is None:
                    clock["pll"].pop(pll_key)
                else:
                    clock["pll"][pll_key] = pll_value
        else:
            clock[key] = value
    with pytest.raises(ClockError, match=message):
        _check(name, clock)


def test_hsi_source_config_is_accepted():
    _, clock = _table("stm32f746")
    clock.update(source="hsi")
    clock.pop("hse_hz")
    clock["pll"]["m"] = 8
    config = _check("stm32f746", clock)
    assert config.sysclk_hz == 216 * MHZ and config.hsi_fallback_m == 8
    assert not any(d.startswith("PB_CLOCK_HSE") for d in hardware_defines(config, console_apb=0))


def test_a_target_file_without_clock_is_a_target_error(tmp_path):
    text = (TARGETS_DIR / "stm32f412.toml").read_text()
    start = text.index("\n[clock]\n")
    end = text.index("\n[memory]\n")
    broken = tmp_path / "stm32f412.toml"
    broken.write_text(text[:start] + text[end:])
    with pytest.raises(TargetError, match=r"missing table \[clock\]"):
        load_target_file(broken)
    wrong = tmp_path / "stm32f412.toml"
    wrong.write_text(text.replace("flash_latency = 3 ", "flash_latency = 1 "))
    with pytest.raises(TargetError, match=r"stm32f412.toml: \[clock\] flash_latency = 1"):
        load_target_file(wrong)

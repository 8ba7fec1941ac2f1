# SPDX-License-Identifier: Apache-2.0
"""Clock trees of the STM32 targets: the ``[clock]`` table of a target file, checked against the chip's limits.

A target file states the clock a board user would set up (PLL source and dividers, bus prescalers, flash
wait states, voltage scaling); ``clock_config(target)`` loads it and ``ClockConfig`` computes every
frequency and refuses a configuration outside the reference manual / datasheet limits: a VCO input or
output out of range, SYSCLK not the target's rated ``core.clock_hz``, a bus above its maximum, flash wait
states other than the minimum for the clock and voltage range. ``hardware_defines`` turns a valid
configuration into the ``-D`` defines that ``harness/firmware/clock_stm32.c`` uses; only hardware builds
get them, so QEMU builds are unaffected.

Limits per family (``FAMILY_LIMITS``), from RM0402 (STM32F412), RM0385 (STM32F746), RM0433 and DS12110
(STM32H743, revision V), RM0432 (STM32L4+, L4R5) as quoted in public code and ST's device headers; they have
not been checked on a board here. The family's other data (its clock C file, GPIO, console peripherals) is
in harness/firmware/stm32.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

SOURCES = ("hsi", "hse_bypass", "hse_crystal")
MHZ = 1_000_000


class ClockError(ValueError):
    """A ``[clock]`` table that a chip cannot run: names the target file, the field and the limit."""


@dataclass(frozen=True)
class FlashStep:
    """Wait states needed up to ``max_hz`` of the flash interface clock (HCLK; the AXI clock on H7)."""

    max_hz: int
    latency: int
    wrhighfreq: int = 0  # H7 only: FLASH_ACR.WRHIGHFREQ (programming delay) for this band


@dataclass(frozen=True)
class VoltageScale:
    """One regulator setting and what it permits."""

    name: str
    sysclk_max_hz: int
    hclk_max_hz: int
    apb_max_hz: tuple[int, ...]  # per APB bus, in the order of ClockConfig.apb_dividers
    flash_steps: tuple[FlashStep, ...]  # ascending max_hz
    vco_max_hz: int


@dataclass(frozen=True)
class FamilyLimits:
    family: str
    hsi_hz: int
    hse_range_hz: tuple[int, int]
    apb_names: tuple[str, ...]  # the APB buses, in the order of [clock] apb_dividers
    m_range: tuple[int, int]
    n_range: tuple[int, int]
    p_values: tuple[int, ...]
    q_values: tuple[int, ...]
    r_values: tuple[int, ...] | None  # H7, L4 (F4/F7: no R output the firmware sets)
    vco_in_range_hz: tuple[int, int]
    vco_min_hz: int
    q_max_hz: int | None  # F4/F7: the 48 MHz domain (USB, SDIO, RNG) must not exceed 48 MHz
    ahb_dividers: tuple[int, ...]
    apb_dividers: tuple[int, ...]
    scales: dict[str, VoltageScale]
    sysclk_output: str = "p"  # the PLL output SYSCLK runs from: P (F4, F7, H7) or R (L4)


def _f4_f7_flash(*limits_mhz: int) -> tuple[FlashStep, ...]:
    return tuple(FlashStep(mhz * MHZ, ws) for ws, mhz in enumerate(limits_mhz))


_H7_FLASH_VOS1 = (FlashStep(70 * MHZ, 0, 0), FlashStep(140 * MHZ, 1, 1), FlashStep(185 * MHZ, 2, 1),
                  FlashStep(210 * MHZ, 2, 2), FlashStep(225 * MHZ, 3, 2))  # fmt: skip
_F4_F7_AHB = (1, 2, 4, 8, 16, 64, 128, 256, 512)
_F4_F7_APB = (1, 2, 4, 8, 16)

FAMILY_LIMITS: dict[str, FamilyLimits] = {
    # STM32F412 (RM0402): VDD 2.7-3.6 V wait-state table; VOS scale 1 for 100 MHz.
    "stm32f4": FamilyLimits(
        family="stm32f4",
        hsi_hz=16 * MHZ,
        hse_range_hz=(4 * MHZ, 26 * MHZ),
        apb_names=("APB1", "APB2"),
        m_range=(2, 63),
        n_range=(50, 432),
        p_values=(2, 4, 6, 8),
        q_values=tuple(range(2, 16)),
        r_values=None,
        vco_in_range_hz=(1 * MHZ, 2 * MHZ),
        vco_min_hz=100 * MHZ,
        q_max_hz=48 * MHZ,
        ahb_dividers=_F4_F7_AHB,
        apb_dividers=_F4_F7_APB,
        scales={
            "scale1": VoltageScale(
                "scale1",
                100 * MHZ,
                100 * MHZ,
                (50 * MHZ, 100 * MHZ),
                _f4_f7_flash(30, 64, 90, 100),
                432 * MHZ,
            ),
        },
    ),  # fmt: skip
    # STM32F746 (RM0385): VDD 2.7-3.6 V wait-state table; above 180 MHz needs scale 1 + over-drive.
    "stm32f7": FamilyLimits(
        family="stm32f7",
        hsi_hz=16 * MHZ,
        hse_range_hz=(4 * MHZ, 26 * MHZ),
        apb_names=("APB1", "APB2"),
        m_range=(2, 63),
        n_range=(50, 432),
        p_values=(2, 4, 6, 8),
        q_values=tuple(range(2, 16)),
        r_values=None,
        vco_in_range_hz=(1 * MHZ, 2 * MHZ),
        vco_min_hz=100 * MHZ,
        q_max_hz=48 * MHZ,
        ahb_dividers=_F4_F7_AHB,
        apb_dividers=_F4_F7_APB,
        scales={
            "scale1": VoltageScale(
                "scale1",
                180 * MHZ,
                180 * MHZ,
                (45 * MHZ, 90 * MHZ),
                _f4_f7_flash(30, 60, 90, 120, 150, 180),
                432 * MHZ,
            ),
            "scale1_overdrive": VoltageScale(
                "scale1_overdrive",
                216 * MHZ,
                216 * MHZ,
                (54 * MHZ, 108 * MHZ),
                _f4_f7_flash(30, 60, 90, 120, 150, 180, 210, 216),
                432 * MHZ,
            ),
        },
    ),  # fmt: skip
    # STM32H743 revision V (RM0433, DS12110): VOS0 (= VOS1 + SYSCFG_PWRCR.ODEN) for 480 MHz, VOS1 for
    # 400 MHz. PLL1 in its wide VCO range; P must be even. Flash wait states by AXI clock (= HCLK).
    "stm32h7": FamilyLimits(
        family="stm32h7",
        hsi_hz=64 * MHZ,
        hse_range_hz=(4 * MHZ, 50 * MHZ),
        apb_names=("APB3", "APB1", "APB2", "APB4"),
        m_range=(1, 63),
        n_range=(4, 512),
        p_values=tuple(range(2, 129, 2)),
        q_values=tuple(range(1, 129)),
        r_values=tuple(range(1, 129)),
        vco_in_range_hz=(2 * MHZ, 16 * MHZ),
        vco_min_hz=192 * MHZ,
        q_max_hz=None,
        ahb_dividers=_F4_F7_AHB,
        apb_dividers=_F4_F7_APB,
        scales={
            "vos1": VoltageScale("vos1", 400 * MHZ, 200 * MHZ, (100 * MHZ,) * 4, _H7_FLASH_VOS1, 836 * MHZ),
            "vos0": VoltageScale(
                "vos0",
                480 * MHZ,
                240 * MHZ,
                (120 * MHZ,) * 4,
                _H7_FLASH_VOS1 + (FlashStep(240 * MHZ, 4, 2),),
                960 * MHZ,
            ),
        },
    ),  # fmt: skip
    # STM32L4+ (RM0432): SYSCLK from the main PLL's R output. PLLM 1-16, PLLN 8-127, PLLR and PLLQ 2/4/6/8,
    # PLLP (PLLPDIV) 2-31; VCO 64-344 MHz; the VCO input is held to 4-16 MHz (the L4 range, inside
    # RM0432's). Range 1 boost mode (PWR_CR5.R1MODE = 0) for SYSCLK above 80 MHz, up to 120 MHz; flash
    # wait states in 20 MHz steps of HCLK in Range 1 (5 WS up to 120 MHz).
    "stm32l4": FamilyLimits(
        family="stm32l4",
        hsi_hz=16 * MHZ,
        hse_range_hz=(4 * MHZ, 48 * MHZ),
        apb_names=("APB1", "APB2"),
        m_range=(1, 16),
        n_range=(8, 127),
        p_values=tuple(range(2, 32)),
        q_values=(2, 4, 6, 8),
        r_values=(2, 4, 6, 8),
        vco_in_range_hz=(4 * MHZ, 16 * MHZ),
        vco_min_hz=64 * MHZ,
        q_max_hz=48 * MHZ,
        ahb_dividers=_F4_F7_AHB,
        apb_dividers=_F4_F7_APB,
        scales={
            "range1": VoltageScale(
                "range1", 80 * MHZ, 80 * MHZ, (80 * MHZ, 80 * MHZ), _f4_f7_flash(20, 40, 60, 80), 344 * MHZ
            ),
            "range1_boost": VoltageScale(
                "range1_boost",
                120 * MHZ,
                120 * MHZ,
                (120 * MHZ, 120 * MHZ),
                _f4_f7_flash(20, 40, 60, 80, 100, 120),
                344 * MHZ,
            ),
        },
        sysclk_output="r",
    ),  # fmt: skip
}

# H7 PLL1RGE: the reference clock's (VCO input's) band.
_H7_VCO_INPUT_BANDS = (
    (1 * MHZ, 2 * MHZ, 0),
    (2 * MHZ, 4 * MHZ, 1),
    (4 * MHZ, 8 * MHZ, 2),
    (8 * MHZ, 16 * MHZ, 3),
)


@dataclass(frozen=True)
class Pll:
    m: int
    n: int
    p: int
    q: int
    r: int | None = None  # H7 only


@dataclass(frozen=True)
class ClockConfig:
    """A target's clock tree as its file states it; the properties are the frequencies that result."""

    target: str
    family: str
    source: str  # "hsi" | "hse_bypass" (the ST-LINK's 8 MHz MCO on Nucleo boards) | "hse_crystal"
    hse_hz: int | None
    pll: Pll
    ahb_divider: int
    apb_dividers: tuple[int, ...]  # FamilyLimits.apb_names order
    flash_latency: int
    voltage_scale: str

    @property
    def limits(self) -> FamilyLimits:
        return FAMILY_LIMITS[self.family]

    @property
    def scale(self) -> VoltageScale:
        return self.limits.scales[self.voltage_scale]

    @property
    def pll_input_hz(self) -> int:
        return self.limits.hsi_hz if self.source == "hsi" else self.hse_hz

    @property
    def vco_input_hz(self) -> Fraction:
        return Fraction(self.pll_input_hz, self.pll.m)

    @property
    def vco_output_hz(self) -> Fraction:
        return self.vco_input_hz * self.pll.n

    @property
    def sysclk_divider(self) -> int:
        return self.pll.r if self.limits.sysclk_output == "r" else self.pll.p

    @property
    def sysclk_hz(self) -> Fraction:
        return self.vco_output_hz / self.sysclk_divider

    @property
    def pll_q_hz(self) -> Fraction:
        return self.vco_output_hz / self.pll.q

    @property
    def hclk_hz(self) -> Fraction:
        return self.sysclk_hz / self.ahb_divider

    @property
    def apb_hz(self) -> tuple[Fraction, ...]:
        return tuple(self.hclk_hz / divider for divider in self.apb_dividers)

    def apb_bus_hz(self, index: int) -> Fraction:
        """The clock of APB bus ``index`` (FamilyLimits.apb_names order): a console peripheral's kernel clock."""
        return self.apb_hz[index]

    @property
    def hsi_fallback_m(self) -> int:
        """PLL M that gives the same VCO input from HSI: the firmware's fallback when HSE does not start."""
        return self.pll.m if self.source == "hsi" else self.pll.m * self.limits.hsi_hz // self.hse_hz

    @property
    def flash_step(self) -> FlashStep:
        """The wait-state band the HCLK falls in (validate() has checked that one exists)."""
        return next(step for step in self.scale.flash_steps if self.hclk_hz <= step.max_hz)

    def validate(self, rated_hz: int, where: str) -> None:
        """Raise ClockError naming the first limit this configuration breaks."""
        limits, pll = self.limits, self.pll

        def fail(problem: str) -> ClockError:
            return ClockError(f"{where}: [clock] {problem}")

        def check_range(name: str, value: int, bounds: tuple[int, int]) -> None:
            if not bounds[0] <= value <= bounds[1]:
                raise fail(f"{name} = {value} is outside {bounds[0]}..{bounds[1]} for {self.family}")

        if self.source != "hsi":
            if self.hse_hz is None:
                raise fail(f"source {self.source!r} needs hse_hz (the board's HSE frequency)")
            check_range("hse_hz", self.hse_hz, limits.hse_range_hz)
            if (limits.hsi_hz * pll.m) % self.hse_hz:
                raise fail(
                    f"pll.m = {pll.m} with hse_hz = {self.hse_hz} has no HSI equivalent "
                    f"({limits.hsi_hz} Hz / M giving the same VCO input), which the firmware needs to fall "
                    "back to HSI when HSE does not start; choose m so that HSI/HSE * m is an integer"
                )
            check_range("the HSI fallback's pll.m", self.hsi_fallback_m, limits.m_range)
        check_range("pll.m", pll.m, limits.m_range)
        check_range("pll.n", pll.n, limits.n_range)
        if pll.p not in limits.p_values:
            raise fail(f"pll.p = {pll.p} is not one of {self.family}'s P dividers {_brief(limits.p_values)}")
        if pll.q not in limits.q_values:
            raise fail(f"pll.q = {pll.q} is not one of {self.family}'s Q dividers {_brief(limits.q_values)}")
        if limits.r_values is None:
            if pll.r is not None:
                raise fail(f"pll.r: {self.family} has no PLL R output the firmware sets; remove it")
        elif pll.r is None:
            raise fail(f"pll.r is required for {self.family}")
        elif pll.r not in limits.r_values:
            raise fail(f"pll.r = {pll.r} is not one of {self.family}'s R dividers {_brief(limits.r_values)}")

        vco_in_low, vco_in_high = limits.vco_in_range_hz
        if not vco_in_low <= self.vco_input_hz <= vco_in_high:
            raise fail(
                f"VCO input {_mhz(self.vco_input_hz)} ({_mhz(self.pll_input_hz)} / m={pll.m}) is outside "
                f"{_mhz(vco_in_low)}..{_mhz(vco_in_high)}"
            )
        if not limits.vco_min_hz <= self.vco_output_hz <= self.scale.vco_max_hz:
            raise fail(
                f"VCO output {_mhz(self.vco_output_hz)} (input x n={pll.n}) is outside "
                f"{_mhz(limits.vco_min_hz)}..{_mhz(self.scale.vco_max_hz)} at {self.voltage_scale}"
            )
        if self.sysclk_hz != rated_hz:
            raise fail(
                f"SYSCLK = {_mhz(self.sysclk_hz)} (VCO / {limits.sysclk_output}={self.sysclk_divider}) is not "
                "the target's rated clock "
                f"core.clock_hz = {_mhz(rated_hz)}"
            )
        if self.sysclk_hz > self.scale.sysclk_max_hz:
            raise fail(
                f"SYSCLK {_mhz(self.sysclk_hz)} exceeds {_mhz(self.scale.sysclk_max_hz)} at voltage scale "
                f"{self.voltage_scale}"
            )
        if limits.q_max_hz is not None and self.pll_q_hz > limits.q_max_hz:
            raise fail(f"PLL Q output {_mhz(self.pll_q_hz)} exceeds {_mhz(limits.q_max_hz)}; raise pll.q")
        if self.ahb_divider not in limits.ahb_dividers:
            raise fail(f"ahb_divider = {self.ahb_divider} is not one of {_brief(limits.ahb_dividers)}")
        if self.hclk_hz > self.scale.hclk_max_hz:
            raise fail(f"HCLK {_mhz(self.hclk_hz)} exceeds {_mhz(self.scale.hclk_max_hz)}; raise ahb_divider")
        if len(self.apb_dividers) != len(limits.apb_names):
            raise fail(
                f"apb_dividers needs {len(limits.apb_names)} entries ({', '.join(limits.apb_names)}), "
                f"got {len(self.apb_dividers)}"
            )
        for name, divider, hz, max_hz in zip(limits.apb_names, self.apb_dividers, self.apb_hz,
                                             self.scale.apb_max_hz, strict=True):  # fmt: skip
            if divider not in limits.apb_dividers:
                raise fail(f"{name} divider {divider} is not one of {_brief(limits.apb_dividers)}")
            if hz > max_hz:
                raise fail(f"{name} clock {_mhz(hz)} exceeds {_mhz(max_hz)}; raise its divider")
        fastest = self.scale.flash_steps[-1]
        if self.hclk_hz > fastest.max_hz:
            raise fail(f"HCLK {_mhz(self.hclk_hz)} is above the flash's {_mhz(fastest.max_hz)}")
        needed = self.flash_step.latency
        if self.flash_latency != needed:
            raise fail(
                f"flash_latency = {self.flash_latency}, but HCLK {_mhz(self.hclk_hz)} at {self.voltage_scale} "
                f"needs {needed} wait states (fewer read wrong instructions, more slow every benchmark)"
            )
        for name, hz in zip(limits.apb_names, self.apb_hz, strict=True):
            if hz.denominator != 1:  # the console's baud divisor is computed from it in whole Hz
                raise fail(f"the {name} clock {_mhz(hz)} is not a whole number of Hz")


def clock_config_from_table(
    table: dict, *, target: str, family: str, where: str, rated_hz: int
) -> ClockConfig:
    """Parse and validate a target file's ``[clock]`` table."""
    if family not in FAMILY_LIMITS:
        raise ClockError(f"{where}: [clock] is only for STM32 hardware families, not {family!r}")
    limits = FAMILY_LIMITS[family]

    def integer(source: dict, key: str, name: str, optional: bool = False) -> int | None:
        value = source.get(key)
        if value is None and optional:
            return None
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ClockError(f"{where}: [{name}] {key} must be an integer >= 1 (got {value!r})")
        return value

    source = table.get("source")
    if source not in SOURCES:
        raise ClockError(f"{where}: [clock] source must be one of {', '.join(SOURCES)} (got {source!r})")
    scale = table.get("voltage_scale")
    if scale not in limits.scales:
        raise ClockError(
            f"{where}: [clock] voltage_scale must be one of {', '.join(limits.scales)} for {family} "
            f"(got {scale!r})"
        )
    pll = table.get("pll")
    if not isinstance(pll, dict):
        raise ClockError(f"{where}: [clock.pll] (m, n, p, q{', r' if limits.r_values else ''}) is missing")
    apb = table.get("apb_dividers")
    if not isinstance(apb, list) or not all(isinstance(d, int) and not isinstance(d, bool) for d in apb):
        raise ClockError(
            f"{where}: [clock] apb_dividers must be a list of integers ({', '.join(limits.apb_names)})"
        )
    flash_latency = table.get("flash_latency")
    if not isinstance(flash_latency, int) or isinstance(flash_latency, bool) or flash_latency < 0:
        raise ClockError(f"{where}: [clock] flash_latency must be an integer >= 0 (got {flash_latency!r})")
    config = ClockConfig(
        target=target,
        family=family,
        source=source,
        hse_hz=integer(table, "hse_hz", "clock", optional=True),
        pll=Pll(
            m=integer(pll, "m", "clock.pll"),
            n=integer(pll, "n", "clock.pll"),
            p=integer(pll, "p", "clock.pll"),
            q=integer(pll, "q", "clock.pll"),
            r=integer(pll, "r", "clock.pll", optional=True),
        ),
        ahb_divider=integer(table, "ahb_divider", "clock"),
        apb_dividers=tuple(apb),
        flash_latency=flash_latency,
        voltage_scale=scale,
    )
    if source == "hsi" and config.hse_hz is not None:
        raise ClockError(f"{where}: [clock] hse_hz is set but source is 'hsi'; remove one")
    config.validate(rated_hz, where)
    return config


def hardware_defines(config: ClockConfig, console_apb: int) -> list[str]:
    """The -D defines (without "-D") that the family's clock C file and console_stm32.c read;
    ``console_apb`` is the APB bus (FamilyLimits.apb_names index) of the console peripheral."""
    pll = config.pll
    defines = [
        f"PB_CLOCK_SYSCLK_HZ={int(config.sysclk_hz)}u",
        f"PB_CLOCK_CONSOLE_HZ={int(config.apb_bus_hz(console_apb))}u",
        f"PB_CLOCK_PLL_M={pll.m}u",
        f"PB_CLOCK_PLL_M_HSI={config.hsi_fallback_m}u",
        f"PB_CLOCK_PLL_N={pll.n}u",
        f"PB_CLOCK_PLL_P={pll.p}u",
        f"PB_CLOCK_PLL_Q={pll.q}u",
        f"PB_CLOCK_HPRE={_hpre_bits(config.ahb_divider)}u",
        f"PB_CLOCK_FLASH_LATENCY={config.flash_latency}u",
    ]
    defines += [
        f"PB_CLOCK_PPRE_{name}={_ppre_bits(divider)}u"
        for name, divider in zip(config.limits.apb_names, config.apb_dividers, strict=True)
    ]
    if config.source != "hsi":
        defines.append(f"PB_CLOCK_HSE_HZ={config.hse_hz}u")
        defines.append(f"PB_CLOCK_HSE_BYPASS={1 if config.source == 'hse_bypass' else 0}")
    if config.voltage_scale == "scale1_overdrive":
        defines.append("PB_CLOCK_OVERDRIVE=1")
    if pll.r is not None:
        defines.append(f"PB_CLOCK_PLL_R={pll.r}u")
    if config.voltage_scale == "range1_boost":
        defines.append("PB_CLOCK_BOOST=1")
    if config.family == "stm32h7":
        defines += [
            f"PB_CLOCK_PLL_RGE={_h7_input_band(config.vco_input_hz)}u",
            f"PB_CLOCK_FLASH_WRHIGHFREQ={config.flash_step.wrhighfreq}u",
        ]
        if config.voltage_scale == "vos0":
            defines.append("PB_CLOCK_VOS0=1")
    return defines


def _hpre_bits(divider: int) -> int:
    """RCC HPRE encoding (F4, F7, H7 alike): 0 = /1, then 0b1000 + k for /2, /4, /8, /16, /64 .. /512."""
    return 0 if divider == 1 else 0b1000 + (1, 2, 4, 8, 16, 64, 128, 256, 512).index(divider) - 1


def _ppre_bits(divider: int) -> int:
    """RCC APB prescaler encoding: 0 = /1, 0b100 /2, 0b101 /4, 0b110 /8, 0b111 /16."""
    return 0 if divider == 1 else 0b100 + (2, 4, 8, 16).index(divider)


def _h7_input_band(vco_input_hz: Fraction) -> int:
    # Bands share their edges; take the lowest band that holds the frequency.
    return next(rge for low, high, rge in _H7_VCO_INPUT_BANDS if low <= vco_input_hz <= high)


def _mhz(hz: Fraction | int) -> str:
    value = Fraction(hz) / MHZ
    return f"{float(value):g} MHz" if value.denominator == 1 else f"{float(value):.4f} MHz"


def _brief(values: tuple[int, ...]) -> str:
    return ", ".join(map(str, values)) if len(values) <= 10 else f"{values[0]}, {values[1]}, ... {values[-1]}"


__all__ = [
    "FAMILY_LIMITS",
    "SOURCES",
    "ClockConfig",
    "ClockError",
    "FamilyLimits",
    "Pll",
    "clock_config_from_table",
    "hardware_defines",
]

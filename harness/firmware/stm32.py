# SPDX-License-Identifier: Apache-2.0
"""What the firmware needs to know of each STM32 family besides its clock limits (harness/firmware/clocks.py):
which C file sets its clock up, where its GPIO ports are and how their clocks are enabled, and the serial
peripherals a target file may name as its console.

A new STM32 family is one C file (its clock tree and any console power switch, ``clock_stm32<x>.c``), one
``FAMILIES`` entry here and one ``FAMILY_LIMITS`` entry in clocks.py; a board of it is one target file
whose ``[console]`` names the instance, the TX pin and its alternate function. The console driver
(console_stm32.c) is common: it takes the addresses below as ``PB_CONSOLE_*`` defines.

Addresses: RM0402 (STM32F412), RM0385 (STM32F746), RM0433 (STM32H743), RM0432 (STM32L4+ / L4R5) and ST's
CMSIS device headers for those parts; not run on a board here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

GPIO_PORTS = "ABCDEFGHIJK"
_PIN = re.compile(r"^P([A-K])(\d{1,2})$")


class Stm32Error(ValueError):
    """A console a family cannot drive; the message names what it can."""


@dataclass(frozen=True)
class SerialPeripheral:
    """One serial peripheral a console may use."""

    layout: (
        str  # register layout, the target file's console kind: stm32_usart_v1 | stm32_usart_v2 | stm32_lpuart
    )
    base: int
    apb: int  # index into the family's FamilyLimits.apb_names: the bus whose clock is its kernel clock
    enable_register: int  # the RCC register with its clock enable bit
    enable_bit: int


@dataclass(frozen=True)
class Family:
    name: str
    clock_source: (
        str  # the C file with pb_stm32_raise_clock(), ..._back_to_reset_clock(), ..._console_power()
    )
    reset_clock: tuple[str, int]  # the clock the core runs on after reset (and after a failed clock setup)
    gpio_base: int  # port A; port n at gpio_base + n * 0x400
    gpio_enable_register: int  # the RCC register whose bit n enables port n's clock
    consoles: dict[str, SerialPeripheral]

    def console(self, instance: str) -> SerialPeripheral:
        try:
            return self.consoles[instance]
        except KeyError:
            known = ", ".join(self.consoles)
            raise Stm32Error(
                f"{self.name} has no console driver data for {instance!r}; it knows {known} "
                "(harness/firmware/stm32.py: add the peripheral's base, bus and RCC enable bit)"
            ) from None


_F4_F7_RCC = 0x40023800  # RM0402 / RM0385: RCC; AHB1ENR at +0x30 (GPIOxEN = bit x), APB1ENR at +0x40
_H7_RCC = 0x58024400  # RM0433: RCC; AHB4ENR at +0xE0 (GPIOxEN = bit x), APB1LENR at +0xE8
_L4_RCC = 0x40021000  # RM0432: RCC; AHB2ENR at +0x4C (GPIOxEN = bit x), APB1ENR2 at +0x5C

FAMILIES: dict[str, Family] = {
    "stm32f4": Family(
        "stm32f4", "clock_stm32.c", ("hsi", 16_000_000), 0x40020000, _F4_F7_RCC + 0x30,
        {"USART3": SerialPeripheral("stm32_usart_v1", 0x40004800, 0, _F4_F7_RCC + 0x40, 18)},
    ),
    "stm32f7": Family(
        "stm32f7", "clock_stm32.c", ("hsi", 16_000_000), 0x40020000, _F4_F7_RCC + 0x30,
        {"USART3": SerialPeripheral("stm32_usart_v2", 0x40004800, 0, _F4_F7_RCC + 0x40, 18)},
    ),
    "stm32h7": Family(
        "stm32h7", "clock_stm32.c", ("hsi", 64_000_000), 0x58020000, _H7_RCC + 0xE0,
        {"USART3": SerialPeripheral("stm32_usart_v2", 0x40004800, 1, _H7_RCC + 0xE8, 18)},
    ),
    # STM32L4+ (RM0432): GPIO ports on AHB2 from 0x48000000. LPUART1 at 0x40008000 on APB1, clock enable
    # RCC_APB1ENR2.LPUART1EN (bit 0), kernel clock PCLK1 (RCC_CCIPR.LPUART1SEL reset value 00).
    "stm32l4": Family(
        "stm32l4", "clock_stm32l4.c", ("msi", 4_000_000), 0x48000000, _L4_RCC + 0x4C,
        {"LPUART1": SerialPeripheral("stm32_lpuart", 0x40008000, 0, _L4_RCC + 0x5C, 0)},
    ),
}  # fmt: skip


@dataclass(frozen=True)
class Pin:
    port: str  # "A".."K"
    number: int

    @property
    def port_index(self) -> int:
        return GPIO_PORTS.index(self.port)

    def __str__(self) -> str:
        return f"P{self.port}{self.number}"


def parse_pin(text: str) -> Pin:
    """``"PD8"`` -> Pin("D", 8); anything else is a Stm32Error naming the form."""
    match = _PIN.match(text or "")
    if not match or int(match.group(2)) > 15:
        raise Stm32Error(f"pin {text!r} is not a GPIO pin like PD8 or PG7 (port A-K, pin 0-15)")
    return Pin(match.group(1), int(match.group(2)))


def family_defines(family: str, instance: str, tx_pin: str, alternate_function: int) -> list[str]:
    """The -D defines (without "-D") of the family's reset clock (platform_stm32.c) and of one target's
    console (console_stm32.c)."""
    spec = FAMILIES[family]
    peripheral = spec.console(instance)
    pin = parse_pin(tx_pin)
    reset_source, reset_hz = spec.reset_clock
    return [
        f"PB_CLOCK_RESET_HZ={reset_hz}u",
        f'PB_CLOCK_RESET_SOURCE="{reset_source}"',
        f"PB_CONSOLE_ENABLE_REG={peripheral.enable_register:#x}u",
        f"PB_CONSOLE_ENABLE_BIT={peripheral.enable_bit}u",
        f"PB_CONSOLE_GPIO_BASE={spec.gpio_base + 0x400 * pin.port_index:#x}u",
        f"PB_CONSOLE_GPIO_ENABLE_REG={spec.gpio_enable_register:#x}u",
        f"PB_CONSOLE_GPIO_ENABLE_BIT={pin.port_index}u",
        f"PB_CONSOLE_PIN={pin.number}u",
        f"PB_CONSOLE_AF={alternate_function}u",
        f"PB_CONSOLE_{peripheral.layout.removeprefix('stm32_').upper()}=1",
    ]


__all__ = ["FAMILIES", "Family", "Pin", "SerialPeripheral", "Stm32Error", "family_defines", "parse_pin"]

# SPDX-License-Identifier: Apache-2.0
"""Board descriptions: one TOML file per board in targets/, loaded into a typed ``Target``.

A target says what the firmware may use (the board's SRAM and flash budgets, which the generated linker
script imposes), how to compile for its core, and how each backend reaches it: the QEMU machine that
emulates the core, the Renode platform, the pyocd target name, the UART console.

Firmware is laid out per *platform*: ``"qemu"`` (the MPS2 machine: code at 0x00000000, SRAM at
0x20000000, CMSDK UART, SysTick under ``-icount``) or ``"hardware"`` (the STM32 itself: flash at
0x08000000, its SRAM, the console the ``[console]`` table names, the DWT cycle counter). The budgets are
the board's on both. ``platforms.hardware.family`` is the STM32 family: its clock tree (``[clock]``,
harness/firmware/clocks.py), its clock C file and its peripherals (harness/firmware/stm32.py).
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass
from pathlib import Path

from harness.firmware.clocks import ClockConfig, ClockError, clock_config_from_table
from harness.firmware.stm32 import FAMILIES as STM32_FAMILIES
from harness.firmware.stm32 import Stm32Error, parse_pin
from harness.paths import TARGETS_DIR

PLATFORMS = ("qemu", "hardware")
CONSOLES = ("cmsdk_uart", "stm32_usart_v1", "stm32_usart_v2", "stm32_lpuart")
TIMERS = ("systick_icount", "dwt")
FAMILIES = ("mps2", *STM32_FAMILIES)
FLOAT_ABIS = ("soft", "softfp", "hard")


class TargetError(ValueError):
    """A target that is unknown or whose file is malformed; the message names the file and the field."""


@dataclass(frozen=True)
class MemoryRegion:
    name: str
    origin: int
    size: int

    @property
    def end(self) -> int:
        return self.origin + self.size


@dataclass(frozen=True)
class Platform:
    """Where firmware lives and which peripherals it uses on one platform (qemu or hardware)."""

    name: str  # "qemu" | "hardware"
    family: str  # "mps2" | an STM32 family of harness/firmware/stm32.py: its clock tree and register layouts
    flash_origin: int
    sram_origin: int
    console: str  # the register layout: "cmsdk_uart" | "stm32_usart_v1" | "stm32_usart_v2" | "stm32_lpuart"
    console_base: int
    timer: str  # "systick_icount" (counts instructions) | "dwt" (counts core cycles)

    @property
    def latency_unit(self) -> str:
        return "instructions" if self.timer == "systick_icount" else "cycles"


@dataclass(frozen=True)
class Cache:
    size: int  # bytes
    ways: int
    line: int  # bytes

    @property
    def plugin_value(self) -> str:
        return f"{self.size}:{self.ways}:{self.line}"


@dataclass(frozen=True)
class MemorySystem:
    """What the cycle model (harness/boards/timing_model.py) needs of a board's memory ([timing]): the
    caches in front of the flash (and of the SRAM where ``dcache_sram``), and the SRAM regions the core
    reaches as tightly coupled memory (no cache, no wait state). The flash wait states and the bus clock
    come from [clock] (``flash_latency``, ``ahb_divider``)."""

    icache: Cache | None
    dcache: Cache | None
    dcache_sram: bool  # the data cache also holds SRAM lines (Cortex-M7 L1); False: SRAM is uncached
    tcm: tuple[str, ...]  # names of [[memory.sram]] regions


@dataclass(frozen=True)
class Target:
    name: str
    description: str
    core: str  # "cortex-m4", "cortex-m7"
    mcpu: str  # gcc -mcpu
    fpu: str  # gcc -mfpu
    float_abi: str  # gcc -mfloat-abi
    clock_hz: int
    sram_budget_bytes: int  # the largest contiguous SRAM region: what one static arena can use
    flash_budget_bytes: int
    sram_regions: tuple[MemoryRegion, ...]  # the chip's real SRAM map (hardware addresses)
    flash_regions: tuple[MemoryRegion, ...]
    platforms: dict[str, Platform]
    console_baudrate: int
    console_instance: str  # the peripheral on the real board: "USART3", "LPUART1"
    console_tx_pin: str  # its TX pin: "PD8", "PG7"
    console_af: int | None  # the pin's alternate function for that TX (7, 8); None off STM32 hardware
    qemu_machine: str
    qemu_systick_hz: int
    qemu_icount_shift: int
    renode_platform: str
    pyocd_target: str
    pyocd_pack_part: str | None  # argument to `pyocd pack install` when the target is not built in
    source: Path
    # The clock tree the hardware firmware sets up ([clock], checked by harness/firmware/clocks.py); None for a
    # target whose hardware platform is not an STM32. QEMU builds never use it.
    clock: ClockConfig | None = None
    # The memory system the cycle model needs ([timing]); None: no estimate for this target.
    memory_system: MemorySystem | None = None

    def platform(self, name: str) -> Platform:
        try:
            return self.platforms[name]
        except KeyError:
            raise TargetError(
                f"target {self.name!r} has no platform {name!r}; it has {', '.join(sorted(self.platforms))}"
            ) from None

    @property
    def gcc_cpu_flags(self) -> list[str]:
        return [f"-mcpu={self.mcpu}", "-mthumb", f"-mfpu={self.fpu}", f"-mfloat-abi={self.float_abi}"]

    @property
    def qemu_instructions_per_tick(self) -> int:
        """Instructions per SysTick count under ``-icount shift=N``: QEMU advances virtual time by 2**N ns
        per instruction and SysTick counts at ``qemu_systick_hz``, so 1 count = 1e9/hz/2**N instructions
        (40 on MPS2 with shift=0). A fact of QEMU's icount, not of the real core's cycles."""
        return 1_000_000_000 // (self.qemu_systick_hz << self.qemu_icount_shift)

    def contiguous_sram_spans(self) -> list[MemoryRegion]:
        """Adjacent SRAM regions merged: the blocks a single array can span."""
        spans: list[MemoryRegion] = []
        for region in sorted(self.sram_regions, key=lambda r: r.origin):
            if spans and spans[-1].end == region.origin:
                last = spans.pop()
                region = MemoryRegion(f"{last.name}+{region.name}", last.origin, last.size + region.size)
            spans.append(region)
        return spans


def list_targets() -> list[str]:
    return sorted(path.stem for path in TARGETS_DIR.glob("*.toml"))


def load_target(name: str) -> Target:
    path = TARGETS_DIR / f"{name}.toml"
    if not path.is_file():
        known = ", ".join(list_targets()) or "(none)"
        raise TargetError(f"unknown target {name!r}: no {path}; known targets: {known}")
    return load_target_file(path)


def load_target_file(path: Path) -> Target:
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as err:
        raise TargetError(f"target file {path} is not valid TOML: {err}") from None
    fields = _Fields(data, path)
    core = fields.table("core")
    memory = fields.table("memory")
    qemu = fields.table("qemu")
    console = fields.table("console")
    pyocd = fields.table("pyocd")
    target = Target(
        name=fields.text(data, "name"),
        description=fields.text(data, "description"),
        core=fields.text(core, "name", "core"),
        mcpu=fields.text(core, "mcpu", "core"),
        fpu=fields.text(core, "fpu", "core"),
        float_abi=fields.choice(core, "float_abi", FLOAT_ABIS, "core"),
        clock_hz=fields.integer(core, "clock_hz", "core"),
        sram_budget_bytes=fields.integer(memory, "sram_budget_bytes", "memory"),
        flash_budget_bytes=fields.integer(memory, "flash_budget_bytes", "memory"),
        sram_regions=fields.regions(memory, "sram"),
        flash_regions=fields.regions(memory, "flash"),
        platforms={name: fields.platform(name) for name in PLATFORMS},
        console_baudrate=fields.integer(console, "baudrate", "console"),
        console_instance=fields.text(console, "instance", "console"),
        console_tx_pin=fields.text(console, "tx_pin", "console"),
        console_af=fields.optional_integer(console, "af", "console", maximum=15),
        qemu_machine=fields.text(qemu, "machine", "qemu"),
        qemu_systick_hz=fields.integer(qemu, "systick_hz", "qemu"),
        qemu_icount_shift=fields.integer(qemu, "icount_shift", "qemu", minimum=0),
        renode_platform=fields.text(fields.table("renode"), "platform", "renode"),
        pyocd_target=fields.text(pyocd, "target", "pyocd"),
        pyocd_pack_part=pyocd.get("pack_part"),
        source=path,
    )
    if target.name != path.stem:
        raise TargetError(f"target file {path}: name {target.name!r} must match the file name {path.stem!r}")
    _check_budgets(target)
    return dataclasses.replace(target, clock=_clock(data, target), memory_system=fields.memory_system(target))


def _clock(data: dict, target: Target) -> ClockConfig | None:
    family = target.platforms["hardware"].family
    where = f"target file {target.source}"
    table = data.get("clock")
    if not family.startswith("stm32"):
        if table is not None:
            raise TargetError(f"{where}: [clock] is only for STM32 hardware, not family {family!r}")
        return None
    if not isinstance(table, dict):
        raise TargetError(
            f"{where}: missing table [clock]: the hardware firmware needs the PLL, bus dividers, flash wait "
            "states and voltage scale that reach core.clock_hz (see harness/firmware/clocks.py)"
        )
    try:
        return clock_config_from_table(
            table, target=target.name, family=family, where=where, rated_hz=target.clock_hz
        )
    except ClockError as err:
        raise TargetError(str(err)) from None


def _check_budgets(target: Target) -> None:
    """The budget must be one contiguous block on the chip, and the hardware layout must place it there."""
    where = f"target file {target.source}"
    largest = max(span.size for span in target.contiguous_sram_spans())
    if target.sram_budget_bytes > largest:
        raise TargetError(
            f"{where}: sram_budget_bytes {target.sram_budget_bytes} exceeds the largest contiguous SRAM "
            f"block ({largest} bytes); a single arena cannot use more"
        )
    hardware = target.platforms["hardware"]
    if not any(
        span.origin <= hardware.sram_origin and hardware.sram_origin + target.sram_budget_bytes <= span.end
        for span in target.contiguous_sram_spans()
    ):
        raise TargetError(
            f"{where}: platforms.hardware.sram_origin {hardware.sram_origin:#x} + the budget does not lie "
            "inside one contiguous [[memory.sram]] block"
        )
    flash_total = sum(region.size for region in target.flash_regions)
    if target.flash_budget_bytes > flash_total:
        raise TargetError(f"{where}: flash_budget_bytes exceeds the [[memory.flash]] regions ({flash_total})")
    if 1_000_000_000 % (target.qemu_systick_hz << target.qemu_icount_shift):
        raise TargetError(f"{where}: qemu.systick_hz must divide 1 GHz / 2**icount_shift exactly")
    _check_console(target, where)


def _check_console(target: Target, where: str) -> None:
    """An STM32 console is one its family knows, at its address, in its register layout, on a real pin."""
    hardware = target.platforms["hardware"]
    for platform in target.platforms.values():
        if platform.console.startswith("stm32_") != platform.family.startswith("stm32"):
            raise TargetError(f"{where}: platforms.{platform.name}: console {platform.console!r} is not one "
                              f"of family {platform.family!r}")  # fmt: skip
    if hardware.family not in STM32_FAMILIES:
        return
    try:
        peripheral = STM32_FAMILIES[hardware.family].console(target.console_instance)
        parse_pin(target.console_tx_pin)
    except Stm32Error as err:
        raise TargetError(f"{where}: [console] {err}") from None
    if hardware.console != peripheral.layout or hardware.console_base != peripheral.base:
        raise TargetError(
            f"{where}: platforms.hardware console {hardware.console!r} at {hardware.console_base:#x}: "
            f"{target.console_instance} of {hardware.family} is {peripheral.layout!r} at {peripheral.base:#x}"
        )
    if target.console_af is None:
        raise TargetError(f"{where}: [console] af (the TX pin's alternate function, 0-15) is missing")


class _Fields:
    """Typed access to a target file's fields, with errors that name the file and the field."""

    def __init__(self, data: dict, path: Path):
        self.data = data
        self.path = path

    def _fail(self, key: str, table: str | None, expected: str) -> TargetError:
        where = f"[{table}] {key}" if table else key
        return TargetError(f"target file {self.path}: {where} must be {expected}")

    def table(self, key: str) -> dict:
        value = self.data.get(key)
        if not isinstance(value, dict):
            raise TargetError(f"target file {self.path}: missing table [{key}]")
        return value

    def text(self, table: dict, key: str, name: str | None = None) -> str:
        value = table.get(key)
        if not isinstance(value, str) or not value:
            raise self._fail(key, name, "a non-empty string")
        return value

    def optional_integer(
        self, table: dict, key: str, name: str | None = None, maximum: int = 2**31
    ) -> int | None:
        value = table.get(key)
        if value is None:
            return None
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= maximum:
            raise self._fail(key, name, f"an integer 0..{maximum}")
        return value

    def integer(self, table: dict, key: str, name: str | None = None, minimum: int = 1) -> int:
        value = table.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
            raise self._fail(key, name, f"an integer >= {minimum}")
        return value

    def choice(self, table: dict, key: str, choices: tuple[str, ...], name: str | None = None) -> str:
        value = table.get(key)
        if value not in choices:
            raise self._fail(key, name, f"one of {', '.join(choices)} (got {value!r})")
        return value

    def regions(self, memory: dict, key: str) -> tuple[MemoryRegion, ...]:
        entries = memory.get(key)
        if not isinstance(entries, list) or not entries:
            raise TargetError(f"target file {self.path}: needs at least one [[memory.{key}]] region")
        table = f"memory.{key}"
        return tuple(
            MemoryRegion(
                self.text(e, "name", table),
                self.integer(e, "origin", table, 0),
                self.integer(e, "size", table),
            )
            for e in entries
        )

    def memory_system(self, target: Target) -> MemorySystem | None:
        table = self.data.get("timing")
        if table is None:
            return None
        if not isinstance(table, dict):
            raise TargetError(f"target file {self.path}: [timing] must be a table")
        caches = {}
        for key in ("icache", "dcache"):
            entry = table.get(key)
            if entry is None:
                caches[key] = None
                continue
            if not isinstance(entry, dict):
                raise self._fail(key, "timing", "a table {size, ways, line}")
            cache = Cache(*(self.integer(entry, k, f"timing.{key}") for k in ("size", "ways", "line")))
            if cache.line & (cache.line - 1) or cache.size % (cache.ways * cache.line):
                raise self._fail(
                    key, "timing", "a power-of-two line and a size that is a multiple of ways * line"
                )
            caches[key] = cache
        tcm = table.get("tcm", [])
        names = {region.name for region in target.sram_regions}
        if not isinstance(tcm, list) or any(name not in names for name in tcm):
            raise self._fail(
                "tcm", "timing", f"a list of [[memory.sram]] region names ({', '.join(sorted(names))})"
            )
        dcache_sram = table.get("dcache_sram", False)
        if not isinstance(dcache_sram, bool):
            raise self._fail("dcache_sram", "timing", "true or false")
        if target.clock is None and self.data.get("clock") is None:
            raise TargetError(
                f"target file {self.path}: [timing] needs [clock] (flash wait states, bus clock)"
            )
        return MemorySystem(caches["icache"], caches["dcache"], dcache_sram, tuple(tcm))

    def platform(self, name: str) -> Platform:
        platforms = self.data.get("platforms", {})
        if name not in platforms:
            raise TargetError(f"target file {self.path}: missing table [platforms.{name}]")
        table, where = platforms[name], f"platforms.{name}"
        return Platform(
            name=name,
            family=self.choice(table, "family", FAMILIES, where),
            flash_origin=self.integer(table, "flash_origin", where, 0),
            sram_origin=self.integer(table, "sram_origin", where, 0),
            console=self.choice(table, "console", CONSOLES, where),
            console_base=self.integer(table, "console_base", where, 0),
            timer=self.choice(table, "timer", TIMERS, where),
        )

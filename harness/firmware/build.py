# SPDX-License-Identifier: Apache-2.0
"""Build firmware: generated C sources + board support (harness/firmware) -> an ELF for one target.

``build_firmware(sources, target, options)`` compiles with arm-none-eabi-gcc (newlib-nano, -O2, the
target's -mcpu/-mfpu/-mfloat-abi) against a linker script whose MEMORY regions are the board's SRAM and
flash budgets. It returns either

- ``Firmware``: the ELF plus its section sizes (flash = text + rodata + data, static RAM = data + bss),
  the exact compiler and linker flags and the compiler version, or
- ``DoesNotFit``: the linker said "region `RAM' overflowed by N bytes"; the result carries the bytes
  needed and available per region. Not fitting is a result to record, not an error.

Anything else that fails (a compile error, a missing toolchain) raises ``BuildError`` with the compiler's
output. Builds are cached under BUILD_DIR/firmware/<hash>/, the hash covering the sources, the board
support files the platform compiles (every header, the linker script template, the platform's .c files:
editing STM32-only code leaves QEMU build ids alone), every flag and the compiler version; the hash is
also the build id that the firmware prints, so a record can be matched to the build that produced it.
Within a build, each unit's object comes from the object cache beside (BUILD_DIR/objects/) when the same
preprocessed text was compiled with the same flags before: the kernels and board support every firmware
of a target compiles alike are compiled once per build folder (the same object the compiler would write,
but for the build folder's name in its debug information).

The reserved stack is either fixed (``BuildOptions.stack_bytes``) or, with ``stack_bytes=None``, planned
from the compiler's call graph (harness/firmware/stack.py: every unit is compiled with
``-fcallgraph-info=su``; the plan and its deepest path go to build.log).

Hardware builds also get the target's clock tree (``[clock]``, harness/firmware/clocks.py) as ``PB_CLOCK_*``
defines and its console (``[console]``: peripheral, TX pin, alternate function; harness/firmware/stm32.py) as
``PB_CONSOLE_*`` defines, and compile their family's clock C file (clock_stm32.c, clock_stm32l4.c) and
console_stm32.c; QEMU builds get none of it.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

import jinja2
from elftools.elf.constants import SH_FLAGS
from elftools.elf.elffile import ELFFile

from harness.firmware.cache import discard, entry_lock
from harness.firmware.clocks import hardware_defines
from harness.firmware.stack import StackPlanError, plan_stack
from harness.firmware.stm32 import FAMILIES as STM32_FAMILIES
from harness.firmware.stm32 import family_defines
from harness.firmware.targets import Platform, Target, load_target
from harness.paths import BUILD_DIR

BOARD_SUPPORT_DIR = Path(__file__).resolve().parent  # the board support C sits beside this module
LINKER_TEMPLATE = "linker.ld.j2"
COMMON_SOURCES = (
    "main.c",
    "startup.c",
    "protocol.c",
    "pb_test_input.c",
)  # the generator: any engine calls it
CONSOLE_SOURCES = {"cmsdk_uart": "console_cmsdk_uart.c", "stm32_usart_v1": "console_stm32.c",
                   "stm32_usart_v2": "console_stm32.c", "stm32_lpuart": "console_stm32.c"}  # fmt: skip
TIMER_SOURCES = {"systick_icount": "timer_systick_icount.c", "dwt": "timer_dwt.c"}
# Every STM32 family: platform_stm32.c, and its own clock C file (harness/firmware/stm32.py FAMILIES).
PLATFORM_SOURCES = {"mps2": "platform_mps2.c", **{family: "platform_stm32.c" for family in STM32_FAMILIES}}
BUILD_ID_LENGTH = 16
RESULT_FILE = "build.json"
# The object cache, beside firmware/ in the build folder: one entry per compiled unit (its object, its call
# graph and the compiler's messages), keyed by _object_key, so the kernels every firmware compiles alike
# are compiled once per build folder.
OBJECTS_DIR = "objects"
OBJECT_FILES = ("unit.o", "unit.ci")
OBJECT_RECORD = "object.json"
_SOURCE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*\.(c|cc|cpp|h)$")
CXX_SUFFIXES = (".cc", ".cpp")
# C++ units (an engine's adapter) compile with these instead of -std=c11: no RTTI, exceptions or
# thread-safe statics, which a bare-metal firmware has no runtime for.
CXX_LANGUAGE_FLAGS = ("-std=c++17", "-fno-rtti", "-fno-exceptions", "-fno-threadsafe-statics")
FIXED_STACK_BYTES = 4096  # the reserve when the stack is not planned (or the plan fails)
# Every unit writes its call graph with frame sizes (a .ci file beside the object) for the stack plan. It
# changes no code, so it is not part of the compiler identity (compiler_flags).
CALL_GRAPH_FLAG = "-fcallgraph-info=su"
STACK_PLAN_VERSION = "2"  # in the build hash: a change to the plan's rules rebuilds planned firmware
_OVERFLOW = re.compile(r"region `(\w+)' overflowed by (\d+) bytes")
_REGION_KIND = {"RAM": "SRAM", "FLASH": "flash"}


class BuildError(RuntimeError):
    """The firmware could not be built for a reason other than not fitting; carries the compiler output."""


# Timed runs in one boot: the firmware's counts are C ints, and a thousand runs of a large model already
# take hours on the emulator.
MAX_RUNS = 1000


@dataclass(frozen=True)
class BuildOptions:
    platform: str = "qemu"  # "qemu" (MPS2 emulator) or "hardware" (the real STM32)
    optimization: str = "-O2"
    runs: int = 3  # timed runs; the record's latency is their median
    warmup: int = 1  # untimed runs before them
    # Reserved at the bottom of RAM and counted against the SRAM budget. None: planned, the worst case of
    # the call graph (harness/firmware/stack.py), FIXED_STACK_BYTES when the call graph cannot bound it.
    stack_bytes: int | None = FIXED_STACK_BYTES
    timed_units: int = 0  # the model's timed units: main keeps one 8-byte count per unit on the stack
    defines: tuple[str, ...] = ()  # "NAME" or "NAME=VALUE", e.g. kernel selection
    include_dirs: tuple[Path, ...] = ()  # extra header folders (their files are part of the hash)
    extra_cflags: tuple[str, ...] = ()
    cxx_flags: tuple[str, ...] = ()  # C++ units only (after CXX_LANGUAGE_FLAGS), e.g. -isystem of a library
    libraries: tuple[Path, ...] = ()  # static archives linked after the objects (their bytes are hashed)
    warnings_as_errors: bool = True
    gcc: str = "arm-none-eabi-gcc"

    def __post_init__(self) -> None:
        if not 1 <= self.runs <= MAX_RUNS or not 0 <= self.warmup <= MAX_RUNS:
            raise BuildError(
                f"BuildOptions: runs must be in 1..{MAX_RUNS} and warmup in 0..{MAX_RUNS} (got {self.runs}, "
                f"{self.warmup})"
            )
        if self.stack_bytes is not None and (self.stack_bytes < 512 or self.stack_bytes % 8):
            raise BuildError(
                f"BuildOptions: stack_bytes must be a multiple of 8, >= 512, or None to plan it (got "
                f"{self.stack_bytes})"
            )


@dataclass(frozen=True)
class SectionSizes:
    """Bytes per kind of allocated ELF section. The vector table and .ARM.exidx count as rodata."""

    text: int
    rodata: int
    data: int
    bss: int  # includes the model's static arena
    stack_reserved: int  # the .stack section: reserved, not static data

    @property
    def flash_bytes(self) -> int:
        return self.text + self.rodata + self.data

    @property
    def static_ram_bytes(self) -> int:
        return self.data + self.bss


@dataclass(frozen=True)
class Firmware:
    """A built ELF that fits the board."""

    elf: Path
    build_id: str
    target: str
    platform: str
    latency_unit: str  # what the firmware's timings count: "instructions" (QEMU) or "cycles"
    sizes: SectionSizes
    cflags: tuple[str, ...]
    ldflags: tuple[str, ...]
    gcc_version: str
    build_dir: Path
    compiler_output: str = ""  # warnings, when they are not errors
    cached: bool = False

    fits = True

    @property
    def map_file(self) -> Path:
        return self.build_dir / "firmware.map"


@dataclass(frozen=True)
class RegionOverflow:
    region: str  # the linker region: "RAM" or "FLASH"
    needed_bytes: int
    available_bytes: int

    @property
    def overflow_bytes(self) -> int:
        return self.needed_bytes - self.available_bytes

    @property
    def memory(self) -> str:
        return _REGION_KIND.get(self.region, self.region)


@dataclass(frozen=True)
class DoesNotFit:
    """The firmware does not fit the board: which regions overflowed and by how much."""

    build_id: str
    target: str
    platform: str
    overflows: tuple[RegionOverflow, ...]
    stack_reserved: int  # part of the RAM needed
    cflags: tuple[str, ...]
    ldflags: tuple[str, ...]
    gcc_version: str
    build_dir: Path
    linker_output: str
    cached: bool = False

    fits = False

    def overflow(self, region: str) -> RegionOverflow | None:
        return next((o for o in self.overflows if o.region == region), None)

    @property
    def reason(self) -> str:
        """E.g. "needs 301.2 kB SRAM (incl. 4.0 kB reserved stack), board has 256.0 kB"."""
        parts = []
        for o in self.overflows:
            extra = (
                f" (incl. {self.stack_reserved / 1024:.1f} kB reserved stack)" if o.region == "RAM" else ""
            )
            parts.append(
                f"needs {o.needed_bytes / 1024:.1f} kB {o.memory}{extra}, board has {o.available_bytes / 1024:.1f} kB"
            )
        return f"{self.target}: " + "; ".join(parts)


BuildResult = Firmware | DoesNotFit


def build_firmware(
    sources: Mapping[str, str],
    target: Target | str,
    options: BuildOptions | None = None,
    *,
    build_root: Path | None = None,
) -> BuildResult:
    """Build (or fetch from the cache) the firmware for ``sources`` on ``target``.

    ``sources`` maps file names ("model.c", "kernels.c", "model.h") to their text; every .c is compiled,
    every .cc / .cpp with g++ (``CXX_LANGUAGE_FLAGS`` + ``options.cxx_flags``; the firmware is then linked
    by g++), .h files sit beside them (they include "model_api.h" and "pb_board.h" from harness/firmware).
    """
    target = load_target(target) if isinstance(target, str) else target
    options = options or BuildOptions()
    platform = target.platform(options.platform)
    _check_sources(sources)
    gcc_version = toolchain_version(options.gcc)
    board_files = _board_support_files(platform)
    linker_script = _render_linker_script(target, platform, options.stack_bytes)

    base_cflags = _cflags(target, platform, options)
    ldflags = tuple(
        target.gcc_cpu_flags
        + [
            "-nostartfiles",
            "--specs=nano.specs",
            "-Wl,--gc-sections",
            "-Wl,-T,link.ld",
            "-Wl,-Map=firmware.map",
        ]
    )
    build_id = _build_hash(sources, board_files, linker_script, base_cflags, ldflags, gcc_version, options)
    cflags = base_cflags + (f'-DPB_BUILD_ID="{build_id}"',)

    root = (build_root or BUILD_DIR) / "firmware"
    final_dir = root / build_id
    cached = _load_cached(final_dir)
    if cached is not None:
        return cached
    root.mkdir(parents=True, exist_ok=True)
    # One process at a time builds or repairs an entry; the others wait and then find it in the cache.
    with entry_lock(root / f".{build_id}.lock"):
        cached = _load_cached(final_dir)
        if cached is not None:
            return cached
        if final_dir.exists():
            discard(final_dir)  # a broken entry (bad build.json, ELF gone): rebuilt below, never reused
        work_dir = Path(tempfile.mkdtemp(prefix=f".{build_id}-", dir=root))
        try:
            result = _build_in(work_dir, final_dir, sources, board_files, linker_script, cflags, ldflags,
                               options, target, platform, build_id, gcc_version, root.parent / OBJECTS_DIR)  # fmt: skip
            payload = _to_json(result)
            if isinstance(result, Firmware):  # checked on every reuse: a corrupt ELF is rebuilt, not run
                payload[ELF_HASH_KEY] = _file_sha256(work_dir / "firmware.elf")
            (work_dir / RESULT_FILE).write_text(json.dumps(payload, indent=1))
            work_dir.rename(final_dir)
        except BaseException:
            shutil.rmtree(work_dir, ignore_errors=True)
            raise
    return result


@functools.cache
def toolchain_version(gcc: str = "arm-none-eabi-gcc") -> str:
    """The first line of ``gcc --version``, e.g. "arm-none-eabi-gcc (15:12.2.rel1-1) 12.2.1 20221205"."""
    try:
        done = subprocess.run([gcc, "--version"], capture_output=True, text=True, check=True, timeout=30)
    except FileNotFoundError:
        raise BuildError(
            f"{gcc} not found: install the Arm GNU toolchain (Debian: apt-get install gcc-arm-none-eabi "
            "libnewlib-arm-none-eabi, or ./run.sh setup)"
        ) from None
    return done.stdout.splitlines()[0].strip()


def _check_sources(sources: Mapping[str, str]) -> None:
    if not any(name.endswith((".c", *CXX_SUFFIXES)) for name in sources):
        raise BuildError(
            "build_firmware: sources has no .c (or C++) file (expected the generated model.c and kernels)"
        )
    board_names = {path.name for path in BOARD_SUPPORT_DIR.iterdir()}
    for name in sources:
        if not _SOURCE_NAME.match(name):
            raise BuildError(
                f"build_firmware: source name {name!r} must be a plain file name ending in .c, .cc, .cpp or .h"
            )
        if name in board_names:
            raise BuildError(
                f"build_firmware: source {name!r} would shadow harness/firmware/{name}; rename it"
            )


def _board_support_files(platform: Platform) -> dict[str, str]:
    """What a build of ``platform`` takes from harness/firmware: every header, the linker template and the
    platform's own .c files (not the other platform's, so editing those does not change this build)."""
    sources = set(_platform_sources(platform))
    return {
        path.name: path.read_text()
        for path in sorted(BOARD_SUPPORT_DIR.iterdir())
        if path.is_file() and (path.suffix in (".h", ".j2") or path.name in sources)
    }


def _platform_sources(platform: Platform) -> list[str]:
    family = STM32_FAMILIES.get(platform.family)
    clock = [family.clock_source] if family is not None else []
    return [*COMMON_SOURCES, CONSOLE_SOURCES[platform.console], TIMER_SOURCES[platform.timer],
            PLATFORM_SOURCES[platform.family], *clock]  # fmt: skip


def _render_linker_script(target: Target, platform: Platform, stack_bytes: int | None) -> str:
    """The linker script; with ``stack_bytes`` None, a stand-in (for the build hash) until the plan."""
    template = jinja2.Template(
        (BOARD_SUPPORT_DIR / LINKER_TEMPLATE).read_text(), undefined=jinja2.StrictUndefined
    )
    return template.render(
        target=target.name,
        platform=platform.name,
        flash_origin=platform.flash_origin,
        sram_origin=platform.sram_origin,
        flash_budget=target.flash_budget_bytes,
        sram_budget=target.sram_budget_bytes,
        stack_bytes="planned" if stack_bytes is None else stack_bytes,
    )


def compiler_flags(target: Target, options: BuildOptions) -> tuple[str, ...]:
    """The C flags a build of ``target`` with ``options`` compiles with (all but the build id define,
    which hashes the sources too): known before building, for a result's compiler identity."""
    return _cflags(target, target.platform(options.platform), options)


def _cflags(target: Target, platform: Platform, options: BuildOptions) -> tuple[str, ...]:
    warnings = ["-Wall", "-Wextra"] + (["-Werror"] if options.warnings_as_errors else [])
    defines = [
        f'-DPB_TARGET_NAME="{target.name}"',
        f"-DPB_RUNS={options.runs}",
        f"-DPB_WARMUP={options.warmup}",
        f"-DPB_CONSOLE_BASE={platform.console_base:#x}u",
        f"-DPB_CONSOLE_BAUD={target.console_baudrate}u",
        f"-DPB_FAMILY_{platform.family.upper()}=1",
    ]
    if platform.timer == "systick_icount":
        defines.append(f"-DPB_TICK_SCALE={target.qemu_instructions_per_tick}u")
    if platform.family in STM32_FAMILIES:
        if target.clock is None:
            raise BuildError(f"target {target.name} has no [clock] table: its hardware build needs one")
        console = STM32_FAMILIES[platform.family].console(target.console_instance)
        defines += [f"-D{define}" for define in hardware_defines(target.clock, console.apb)]
        defines += [f"-D{define}" for define in family_defines(platform.family, target.console_instance,
                                                                 target.console_tx_pin, target.console_af)]  # fmt: skip
    defines += [f"-D{define}" for define in options.defines]
    includes = ["-Isrc", "-Iboard"] + [f"-I{Path(d).resolve()}" for d in options.include_dirs]
    return tuple(
        target.gcc_cpu_flags
        + [options.optimization, "-g", "-std=c11", "-ffunction-sections", "-fdata-sections", "-fno-common"]
        + warnings
        + defines
        + includes
        + list(options.extra_cflags)
    )


def _build_hash(sources, board_files, linker_script, cflags, ldflags, gcc_version, options) -> str:
    digest = hashlib.sha256()

    def add(*parts: str) -> None:
        for part in parts:
            data = part.encode()
            digest.update(len(data).to_bytes(8, "little") + data)

    for name in sorted(sources):
        add("source", name, sources[name])
    for name, text in board_files.items():
        add("board", name, text)
    for folder in options.include_dirs:
        for path in sorted(Path(folder).rglob("*")):
            if path.is_file():
                add("include", str(path), path.read_text(errors="replace"))
    for library in options.libraries:
        add("library", Path(library).name, hashlib.sha256(Path(library).read_bytes()).hexdigest())
    if options.cxx_flags:  # only then: a C-only build's id stays what it was before C++ units existed
        add("cxxflags", *options.cxx_flags)
    add(
        "ld",
        linker_script,
        "cflags",
        *cflags,
        "ldflags",
        *ldflags,
        "gcc",
        gcc_version,
        "platform",
        options.platform,
        "stack",
        f"{options.stack_bytes} {options.timed_units} {STACK_PLAN_VERSION}",
    )
    return digest.hexdigest()[:BUILD_ID_LENGTH]


def _build_in(work_dir, final_dir, sources, board_files, linker_script, cflags, ldflags, options, target,
              platform, build_id, gcc_version, objects_dir) -> BuildResult:  # fmt: skip
    (work_dir / "src").mkdir()
    (work_dir / "board").mkdir()
    (work_dir / "obj").mkdir()
    for name, text in sources.items():
        (work_dir / "src" / name).write_text(text)
    for name, text in board_files.items():
        (work_dir / "board" / name).write_text(text)
    (work_dir / "link.ld").write_text(linker_script)

    compile_units = [f"src/{n}" for n in sorted(sources) if n.endswith((".c", *CXX_SUFFIXES))]
    compile_units += [f"board/{n}" for n in _platform_sources(platform)]
    cxx = any(unit.endswith(CXX_SUFFIXES) for unit in compile_units)
    objects, messages = [], []
    for unit in compile_units:
        obj = f"obj/{Path(unit).parent.name}_{Path(unit).stem}.o"
        if unit.endswith(CXX_SUFFIXES):
            flags = [f for f in cflags if f != "-std=c11"] + [*CXX_LANGUAGE_FLAGS, *options.cxx_flags]
            command = [cxx_compiler(options.gcc), *flags, CALL_GRAPH_FLAG, "-c", unit, "-o", obj]
        else:
            command = [options.gcc, *cflags, CALL_GRAPH_FLAG, "-c", unit, "-o", obj]
        messages.append(_compile_unit(command, work_dir, objects_dir, gcc_version, f"compiling {unit}"))
        objects.append(obj)
    libraries = [str(Path(library).resolve()) for library in options.libraries]
    stack_bytes = options.stack_bytes
    if stack_bytes is None:
        stack_bytes, note = _planned_stack(work_dir, options, target)
        messages.append(note)
        (work_dir / "link.ld").write_text(_render_linker_script(target, platform, stack_bytes))

    linker = cxx_compiler(options.gcc) if cxx else options.gcc
    link = subprocess.run(
        [linker, *ldflags, *objects, *libraries, "-o", "firmware.elf"],
        cwd=work_dir,
        capture_output=True,
        text=True,
    )
    log = "\n".join(m for m in messages + [link.stdout, link.stderr] if m.strip())
    (work_dir / "build.log").write_text(log)
    if link.returncode != 0:
        overflows = _parse_overflows(link.stderr, target)
        if not overflows:
            raise BuildError(
                f"linking firmware for {target.name} failed in {work_dir}:\n{link.stderr.strip()}"
            )
        return DoesNotFit(
            build_id=build_id,
            target=target.name,
            platform=platform.name,
            overflows=overflows,
            stack_reserved=stack_bytes,
            cflags=tuple(cflags),
            ldflags=tuple(ldflags),
            gcc_version=gcc_version,
            build_dir=final_dir,
            linker_output=link.stderr.strip(),
        )
    return Firmware(
        elf=final_dir / "firmware.elf",
        build_id=build_id,
        target=target.name,
        platform=platform.name,
        latency_unit=platform.latency_unit,
        sizes=section_sizes(work_dir / "firmware.elf"),
        cflags=tuple(cflags),
        ldflags=tuple(ldflags),
        gcc_version=gcc_version,
        build_dir=final_dir,
        compiler_output="\n".join(m for m in messages if m.strip()),
    )


def _planned_stack(work_dir: Path, options: BuildOptions, target: Target) -> tuple[int, str]:
    """The stack plan's reserve and a line for the build log (the fixed reserve when it fails)."""
    try:
        plan = plan_stack(sorted((work_dir / "obj").glob("*.ci")), timed_units=options.timed_units,
                          fpu=target.float_abi != "soft")  # fmt: skip
    except StackPlanError as error:
        return FIXED_STACK_BYTES, f"stack plan failed ({error}): the fixed {FIXED_STACK_BYTES} B reserve"
    return plan.reserve_bytes, plan.describe()


def cxx_compiler(gcc: str) -> str:
    """The C++ driver beside a C one: arm-none-eabi-gcc -> arm-none-eabi-g++."""
    return gcc[: -len("gcc")] + "g++" if gcc.endswith("gcc") else gcc


def _compile_unit(command: list[str], cwd: Path, objects_dir: Path, gcc_version: str, what: str) -> str:
    """Run ``command`` (``compiler flags... -c unit -o obj``) in ``cwd``, or copy its object and call graph
    from the object cache when a unit of the same preprocessed text was compiled with the same flags and
    compiler before (in any firmware of this build folder); the compiler's messages either way."""
    unit, obj = command[command.index("-c") + 1], cwd / command[command.index("-o") + 1]
    outputs = (obj, obj.with_suffix(".ci"))
    key = _object_key(command, cwd, gcc_version)
    entry = objects_dir / key if key else None
    found = _load_object(entry) if entry else None
    if found is not None:
        for name, target in zip(OBJECT_FILES, outputs, strict=True):
            shutil.copyfile(entry / name, target)
        return found
    messages = _run_gcc(command, cwd, what)
    if entry is not None:
        _store_object(entry, unit, outputs, messages)
    return messages


def _object_key(command: list[str], cwd: Path, gcc_version: str) -> str | None:
    """The object cache's key of a compile: the compiler and its version, every flag but the defines, and
    the unit's preprocessed text (where the defines and every header it includes act; a define no line
    reads, like PB_BUILD_ID in a kernel, changes no object). None when it does not preprocess (the compile
    then says why)."""
    start = command.index("-c")
    flags = command[1:start]
    # -fno-working-directory: no line naming the build's own folder (-g writes it into the debug
    # information only, which is all that may differ between two builds' objects of one key)
    preprocess = [command[0], *(f for f in flags if f != CALL_GRAPH_FLAG), "-fno-working-directory", "-E",
                  command[start + 1]]  # fmt: skip
    done = subprocess.run(preprocess, cwd=cwd, capture_output=True)
    if done.returncode != 0:
        return None
    digest = hashlib.sha256()
    for part in (command[0], gcc_version, *(f for f in flags if not f.startswith("-D")), "-E"):
        digest.update(part.encode() + b"\0")
    digest.update(done.stdout)
    return digest.hexdigest()[:32]


def _load_object(entry: Path) -> str | None:
    """The compiler's messages of a cached object, or None when there is none or it is broken (a file
    missing or not the bytes stored: moved aside, compiled again)."""
    try:
        record = json.loads((entry / OBJECT_RECORD).read_text())
        if all(_file_sha256(entry / name) == record[name] for name in OBJECT_FILES):
            return record["messages"]
    except FileNotFoundError:
        if not entry.exists():
            return None
    except (OSError, ValueError, KeyError, TypeError):
        pass
    discard(entry)
    return None


def _store_object(entry: Path, unit: str, outputs: tuple[Path, ...], messages: str) -> None:
    """Put a compile's object and call graph into the cache: written beside ``entry``, renamed into place
    whole (a process that finds it already there, stored by another, drops its own copy)."""
    entry.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{entry.name}-", dir=entry.parent))
    try:
        record = {"unit": unit, "messages": messages}  # the unit's name: for a reader of the cache
        for name, output in zip(OBJECT_FILES, outputs, strict=True):
            shutil.copyfile(output, work / name)
            record[name] = _file_sha256(work / name)
        (work / OBJECT_RECORD).write_text(json.dumps(record, indent=1))
        work.rename(entry)
    except OSError:  # stored meanwhile by another process (the same bytes), or no room: compiled anyway
        shutil.rmtree(work, ignore_errors=True)


def _run_gcc(command: list[str], cwd: Path, what: str) -> str:
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        raise BuildError(f"{what} failed (in {cwd}):\n{done.stderr.strip()}\ncommand: {' '.join(command)}")
    return done.stderr


def _parse_overflows(linker_stderr: str, target: Target) -> tuple[RegionOverflow, ...]:
    available = {"RAM": target.sram_budget_bytes, "FLASH": target.flash_budget_bytes}
    found: dict[str, int] = {}
    for region, overflow in _OVERFLOW.findall(linker_stderr):
        found[region] = max(found.get(region, 0), int(overflow))
    return tuple(
        RegionOverflow(region, available[region] + overflow, available[region])
        for region, overflow in sorted(found.items())
        if region in available
    )


def section_sizes(elf_path: Path) -> SectionSizes:
    """Sizes of the allocated sections of an ELF, by kind (pyelftools)."""
    sizes = dict(text=0, rodata=0, data=0, bss=0, stack_reserved=0)
    with open(elf_path, "rb") as stream:
        for section in ELFFile(stream).iter_sections():
            flags = section["sh_flags"]
            if not flags & SH_FLAGS.SHF_ALLOC or not section["sh_size"]:
                continue
            if section.name == ".stack":
                kind = "stack_reserved"
            elif section["sh_type"] == "SHT_NOBITS":
                kind = "bss"
            elif flags & SH_FLAGS.SHF_EXECINSTR:
                kind = "text"
            elif flags & SH_FLAGS.SHF_WRITE:
                kind = "data"
            else:
                kind = "rodata"
            sizes[kind] += section["sh_size"]
    return SectionSizes(**sizes)


def _to_json(result: BuildResult) -> dict:
    data = asdict(result)
    data["kind"] = type(result).__name__
    return json.loads(json.dumps(data, default=str))


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


ELF_HASH_KEY = "elf_sha256"  # build.json: the ELF's hash when it was built


def _load_cached(final_dir: Path) -> BuildResult | None:
    """The cached result in ``final_dir``, or None when there is none or it is broken (unreadable or
    foreign build.json, fields missing, the ELF gone, or not the bytes that were built: its hash is
    checked, so a file corrupt past its first bytes is caught): a broken entry is rebuilt, not trusted."""
    try:
        data = json.loads((final_dir / RESULT_FILE).read_text())
        kind = data.pop("kind")
        built_hash = data.pop(ELF_HASH_KEY, None)
        data.update(
            build_dir=final_dir, cached=True, cflags=tuple(data["cflags"]), ldflags=tuple(data["ldflags"])
        )
        if data.get("build_id") != final_dir.name:
            return None
        if kind == "Firmware":
            elf = final_dir / "firmware.elf"
            if built_hash is None or _file_sha256(elf) != built_hash:
                return None
            data.update(elf=elf, sizes=SectionSizes(**data["sizes"]))
            return Firmware(**data)
        if kind != "DoesNotFit":
            return None
        data["overflows"] = tuple(RegionOverflow(**o) for o in data["overflows"])
        return DoesNotFit(**data)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


__all__ = [
    "BOARD_SUPPORT_DIR",
    "BuildError",
    "BuildOptions",
    "BuildResult",
    "DoesNotFit",
    "Firmware",
    "RegionOverflow",
    "SectionSizes",
    "build_firmware",
    "cxx_compiler",
    "section_sizes",
    "toolchain_version",
]

# SPDX-License-Identifier: Apache-2.0
"""Firmware builds: sizes from the ELF, exact flags, the cache, and DoesNotFit from linker overflows."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
from machine import require_tools

from harness.firmware.build import (
    BuildError,
    BuildOptions,
    DoesNotFit,
    Firmware,
    build_firmware,
    toolchain_version,
)
from harness.firmware.targets import load_target

STUB = {"stub_model.c": (Path(__file__).parents[1] / "fixtures" / "stub_model.c").read_text()}
KB = 1024


@pytest.fixture(scope="module")
def build_root(tmp_path_factory) -> Path:
    require_tools("arm-none-eabi-gcc")
    return tmp_path_factory.mktemp("builds")


def _gnu_size(elf: Path) -> dict[str, int]:
    """Section sizes as binutils reports them, to cross-check the pyelftools reading."""
    out = subprocess.run(
        ["arm-none-eabi-size", "-A", str(elf)], capture_output=True, text=True, check=True
    ).stdout
    return {
        parts[0]: int(parts[1])
        for parts in (line.split() for line in out.splitlines()[2:])
        if len(parts) == 3
    }


def test_build_for_m4_records_sizes_flags_and_toolchain(build_root):
    firmware = build_firmware(STUB, "stm32f412", build_root=build_root)
    assert isinstance(firmware, Firmware) and firmware.fits
    assert firmware.elf.is_file() and firmware.elf.parent == build_root / "firmware" / firmware.build_id
    gnu = _gnu_size(firmware.elf)
    sizes = firmware.sizes
    assert sizes.text == gnu[".text"]
    assert sizes.rodata == gnu[".rodata"] + gnu[".isr_vector"] + gnu.get(".ARM.exidx", 0)
    assert (sizes.data, sizes.bss, sizes.stack_reserved) == (gnu.get(".data", 0), gnu[".bss"], 4096)
    assert sizes.bss >= 4096 + 20  # the stub's arena and output buffer
    assert sizes.flash_bytes == sizes.text + sizes.rodata + sizes.data
    assert sizes.static_ram_bytes == sizes.data + sizes.bss
    assert firmware.cflags[:4] == ("-mcpu=cortex-m4", "-mthumb", "-mfpu=fpv4-sp-d16", "-mfloat-abi=hard")
    assert {"-O2", "-ffunction-sections", "-fdata-sections", "-Wall", "-Werror"} <= set(firmware.cflags)
    assert f'-DPB_BUILD_ID="{firmware.build_id}"' in firmware.cflags
    assert {"--specs=nano.specs", "-Wl,--gc-sections"} <= set(firmware.ldflags)
    assert firmware.gcc_version == toolchain_version() and "arm-none-eabi-gcc" in firmware.gcc_version
    assert firmware.latency_unit == "instructions"


def test_linker_script_imposes_the_board_budget_not_the_emulator_memory(build_root):
    firmware = build_firmware(STUB, "stm32f746", build_root=build_root)
    script = (firmware.build_dir / "link.ld").read_text()
    assert "FLASH (rx) : ORIGIN = 0x00000000, LENGTH = 1048576" in script
    assert "RAM (rwx)  : ORIGIN = 0x20000000, LENGTH = 327680" in script


def test_unchanged_config_is_not_rebuilt(build_root):
    first = build_firmware(STUB, "stm32f412", BuildOptions(runs=2), build_root=build_root)
    elf_stamp = first.elf.stat().st_mtime_ns
    again = build_firmware(STUB, "stm32f412", BuildOptions(runs=2), build_root=build_root)
    assert again.cached and again.build_id == first.build_id
    assert again.elf.stat().st_mtime_ns == elf_stamp
    assert (again.sizes, again.cflags, again.ldflags) == (first.sizes, first.cflags, first.ldflags)
    changed_flag = build_firmware(STUB, "stm32f412", BuildOptions(runs=3), build_root=build_root)
    changed_source = build_firmware({"stub_model.c": STUB["stub_model.c"] + "\n"}, "stm32f412",
                                    BuildOptions(runs=2), build_root=build_root)  # fmt: skip
    other_target = build_firmware(STUB, "stm32h743", BuildOptions(runs=2), build_root=build_root)
    ids = {first.build_id, changed_flag.build_id, changed_source.build_id, other_target.build_id}
    assert len(ids) == 4 and not changed_source.cached


def test_too_big_arena_does_not_fit_with_the_numbers(build_root):
    arena = 300 * KB
    options = BuildOptions(defines=(f"STUB_N={arena}",))
    result = build_firmware(STUB, "stm32f412", options, build_root=build_root)
    assert isinstance(result, DoesNotFit) and not result.fits
    ram = result.overflow("RAM")
    assert ram.available_bytes == 256 * KB
    # RAM must hold the arena, the output buffer, the harness's statics and the reserved stack.
    assert arena + 20 + options.stack_bytes < ram.needed_bytes < arena + options.stack_bytes + 1024
    assert f"overflowed by {ram.overflow_bytes} bytes" in result.linker_output
    assert result.overflow("FLASH") is None
    assert result.reason.startswith("stm32f412: needs 30") and "SRAM" in result.reason
    assert "board has 256.0 kB" in result.reason
    # The same firmware fits the board with more SRAM: the budget is the board's, not QEMU's.
    assert build_firmware(STUB, "stm32h743", options, build_root=build_root).fits
    # A DoesNotFit result is cached like a build.
    assert build_firmware(STUB, "stm32f412", options, build_root=build_root) == DoesNotFit(
        **{**result.__dict__, "cached": True}
    )


def test_too_big_constants_overflow_flash(build_root):
    result = build_firmware(STUB, "stm32f746", BuildOptions(defines=("STUB_FLASH_BALLAST=1100000",)),
                            build_root=build_root)  # fmt: skip
    flash = result.overflow("FLASH")
    assert not result.fits and flash.available_bytes == 1024 * KB
    assert 1_100_000 < flash.needed_bytes < 1_100_000 + 16 * KB
    assert "flash" in result.reason


def test_all_targets_build_for_real_hardware(build_root):
    # STM32 USART / LPUART console, DWT timer and M7 cache code compile and link at the STM32 addresses,
    # each family with its own clock file (the L4R5's: clock_stm32l4.c, LPUART1 on PG7).
    clock_files = {"stm32f412": "clock_stm32.c", "stm32f746": "clock_stm32.c", "stm32h743": "clock_stm32.c",
                   "stm32l4r5": "clock_stm32l4.c"}  # fmt: skip
    for name, clock_file in clock_files.items():
        firmware = build_firmware(STUB, name, BuildOptions(platform="hardware"), build_root=build_root)
        assert firmware.fits and firmware.latency_unit == "cycles"
        script = (firmware.build_dir / "link.ld").read_text()
        assert "ORIGIN = 0x08000000" in script
        sram_origin = load_target(name).platform("hardware").sram_origin
        assert f"ORIGIN = {sram_origin:#010x}" in script
        # The clock tree from the target's [clock] table, compiled in.
        clock_hz = load_target(name).clock_hz
        assert f"-DPB_CLOCK_SYSCLK_HZ={clock_hz}u" in firmware.cflags
        assert (firmware.build_dir / "board" / clock_file).is_file()
        assert (firmware.build_dir / "board" / "console_stm32.c").is_file()
        symbols = subprocess.run(["arm-none-eabi-nm", str(firmware.elf)], capture_output=True, text=True,
                                 check=True).stdout  # fmt: skip
        assert " T pb_stm32_raise_clock" in symbols and " T pb_stm32_console_power" in symbols
    l4r5 = build_firmware(STUB, "stm32l4r5", BuildOptions(platform="hardware"), build_root=build_root)
    assert {"-DPB_CONSOLE_LPUART=1", "-DPB_CONSOLE_PIN=7u", "-DPB_CONSOLE_AF=8u", "-DPB_CLOCK_BOOST=1",
            "-DPB_CONSOLE_GPIO_BASE=0x48001800u", "-DPB_CONSOLE_ENABLE_REG=0x4002105cu"} <= set(l4r5.cflags)  # fmt: skip


def test_qemu_builds_get_no_clock_setup_and_ignore_stm32_only_files(build_root):
    firmware = build_firmware(STUB, "stm32h743", build_root=build_root)
    assert not any(flag.startswith("-DPB_CLOCK_") for flag in firmware.cflags)
    board = {path.name for path in (firmware.build_dir / "board").iterdir()}
    # STM32-only C is not part of a QEMU build (nor of its build id): editing it leaves QEMU ids alone.
    assert not board & {
        "clock_stm32.c",
        "clock_stm32l4.c",
        "console_stm32.c",
        "platform_stm32.c",
        "timer_dwt.c",
    }
    assert {"platform_mps2.c", "console_cmsdk_uart.c", "main.c", "pb_board.h"} <= board


def test_compile_error_raises_with_the_compiler_message(build_root):
    broken = {"model.c": "int pb_model_layer_count = ;\n"}
    with pytest.raises(BuildError, match=r"compiling src/model.c failed(.|\n)*error: expected expression"):
        build_firmware(broken, "stm32f412", build_root=build_root)


def test_warnings_are_errors(build_root):
    warning = {"model.c": STUB["stub_model.c"] + "\nstatic int unused_function(void) { return 1; }\n"}
    with pytest.raises(BuildError, match="unused_function"):
        build_firmware(warning, "stm32f412", build_root=build_root)


def test_missing_model_symbols_are_a_link_error_not_a_does_not_fit(build_root):
    with pytest.raises(BuildError, match="undefined reference to `pb_model_layers'"):
        build_firmware({"empty.c": "int unrelated;\n"}, "stm32f412", build_root=build_root)


@pytest.mark.parametrize("name", ["../model.c", "model.cxx", "main.c", "sub/model.c"])
def test_bad_source_names_are_rejected(build_root, name):
    with pytest.raises(BuildError, match="source"):
        build_firmware({name: "int x;\n"}, "stm32f412", build_root=build_root)


def test_bad_options_are_rejected():
    with pytest.raises(BuildError, match=r"runs must be in 1..1000 and warmup in 0..1000 \(got 0, 1\)"):
        BuildOptions(runs=0)
    with pytest.raises(BuildError, match=r"runs must be in 1..1000 .*\(got 1000000, 1\)"):
        BuildOptions(runs=10**6)  # a count the firmware would run for hours, or past its C int
    with pytest.raises(BuildError, match="stack_bytes"):
        BuildOptions(stack_bytes=100)


# --- a broken cache entry is rebuilt, also by two processes at once -----------------------------------

BREAKAGES = {
    "bad build.json": lambda entry: (entry / "build.json").write_text("{not json"),
    "build.json of another kind": lambda entry: (entry / "build.json").write_text('{"kind": "Firmware"}'),
    "ELF missing": lambda entry: (entry / "firmware.elf").unlink(),
    "ELF truncated": lambda entry: (entry / "firmware.elf").write_bytes(b""),
    "ELF corrupt past its first bytes": lambda entry: _flip_byte(entry / "firmware.elf", -100),
}


def _flip_byte(path: Path, offset: int) -> None:
    """One byte of ``path`` changed, far from its header (which still says ELF)."""
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("breakage", BREAKAGES)
def test_a_broken_cache_entry_is_rebuilt(tmp_path, breakage):
    require_tools("arm-none-eabi-gcc")
    first = build_firmware(STUB, "stm32f412", BuildOptions(runs=2), build_root=tmp_path)
    BREAKAGES[breakage](first.build_dir)
    again = build_firmware(STUB, "stm32f412", BuildOptions(runs=2), build_root=tmp_path)
    assert not again.cached and again.build_id == first.build_id and again.sizes == first.sizes
    assert again.elf.read_bytes()[:4] == b"\x7fELF"
    assert build_firmware(STUB, "stm32f412", BuildOptions(runs=2), build_root=tmp_path).cached


_BUILD_IN_A_PROCESS = """
import sys
from pathlib import Path
from harness.firmware.build import BuildOptions, build_firmware
sources = {"stub_model.c": Path(sys.argv[1]).read_text()}
result = build_firmware(sources, "stm32f412", BuildOptions(runs=2), build_root=Path(sys.argv[2]))
print(result.build_id, result.elf)
"""


def test_two_processes_repair_the_same_broken_entry(tmp_path):
    require_tools("arm-none-eabi-gcc")
    first = build_firmware(STUB, "stm32f412", BuildOptions(runs=2), build_root=tmp_path)
    (first.build_dir / "build.json").write_text("{not json")
    stub = Path(__file__).parents[1] / "fixtures" / "stub_model.c"
    command = [sys.executable, "-c", _BUILD_IN_A_PROCESS, str(stub), str(tmp_path)]
    workers = [
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)
    ]
    outputs = [worker.communicate(timeout=300) for worker in workers]
    assert [worker.returncode for worker in workers] == [0, 0], [err[-2000:] for _, err in outputs]
    assert {out.split()[0] for out, _ in outputs} == {first.build_id}
    again = build_firmware(STUB, "stm32f412", BuildOptions(runs=2), build_root=tmp_path)
    assert again.cached and again.sizes == first.sizes
    assert sorted(p.name for p in (tmp_path / "firmware").iterdir() if not p.name.endswith(".lock")) == [
        first.build_id
    ]


# --- the object cache: a unit compiled once per build folder ------------------------------------------


def _loaded_bytes(elf: Path) -> bytes:
    """What is flashed: the ELF's loadable sections as one image (debug information left out)."""
    image = elf.with_suffix(".bin")
    subprocess.run(["arm-none-eabi-objcopy", "-O", "binary", str(elf), str(image)], check=True)
    return image.read_bytes()


def test_a_unit_is_compiled_once_per_build_folder_and_its_object_is_the_compilers(tmp_path):
    require_tools("arm-none-eabi-gcc")
    root, objects = tmp_path / "shared", tmp_path / "shared" / "objects"
    first = build_firmware(STUB, "stm32f412", BuildOptions(runs=2), build_root=root)
    units = len(list((first.build_dir / "obj").glob("*.o")))
    assert len(list(objects.iterdir())) == units  # one entry per unit
    # Every unit's flags name the build id, but only main.c reads it (and PB_RUNS): one unit compiled.
    second = build_firmware(STUB, "stm32f412", BuildOptions(runs=3), build_root=root)
    assert second.build_id != first.build_id and len(list(objects.iterdir())) == units + 1
    # a define the model reads changes its preprocessed text: the model and main.c compiled
    build_firmware(STUB, "stm32f412", BuildOptions(runs=3, defines=("STUB_N=64",)), build_root=root)
    assert len(list(objects.iterdir())) == units + 3
    # another core: every unit compiled for it
    build_firmware(STUB, "stm32f746", BuildOptions(runs=3), build_root=root)
    assert len(list(objects.iterdir())) == 2 * units + 3
    # the firmware of cached objects is the one compiled from scratch: flash image, sizes, stack plan
    alone = build_firmware(STUB, "stm32f412", BuildOptions(runs=3), build_root=tmp_path / "alone")
    assert alone.build_id == second.build_id and alone.sizes == second.sizes
    assert _loaded_bytes(alone.elf) == _loaded_bytes(second.elf)
    assert (alone.build_dir / "build.log").read_text() == (second.build_dir / "build.log").read_text()


def test_a_broken_cached_object_is_compiled_again(tmp_path):
    require_tools("arm-none-eabi-gcc")
    build_firmware(STUB, "stm32f412", BuildOptions(runs=2), build_root=tmp_path)
    unit = {entry: json.loads((entry / "object.json").read_text())["unit"]
            for entry in (tmp_path / "objects").iterdir()}  # fmt: skip
    entries = sorted(entry for entry in unit if unit[entry] != "board/main.c")  # main.c prints the build id
    call_graphs = {entry: (entry / "unit.ci").read_bytes() for entry in entries}
    _flip_byte(entries[0] / "unit.o", -20)
    (entries[1] / "unit.ci").unlink()
    (entries[2] / "object.json").write_text("{not json")
    broken = (entries[0] / "unit.o").read_bytes()
    again = build_firmware(STUB, "stm32f412", BuildOptions(runs=3), build_root=tmp_path)
    for entry in entries[:3]:  # compiled and stored again, whole
        record = json.loads((entry / "object.json").read_text())
        assert record["unit"] == unit[entry] and (entry / "unit.ci").read_bytes() == call_graphs[entry]
        assert all(_sha256(entry / name) == record[name] for name in ("unit.o", "unit.ci"))
    assert (entries[0] / "unit.o").read_bytes() != broken
    alone = build_firmware(STUB, "stm32f412", BuildOptions(runs=3), build_root=tmp_path / "alone")
    assert again.sizes == alone.sizes and _loaded_bytes(again.elf) == _loaded_bytes(alone.elf)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()

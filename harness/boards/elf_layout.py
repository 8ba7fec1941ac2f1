# SPDX-License-Identifier: Apache-2.0
"""Which platform an ELF was linked for: the STM32 itself (flash at 0x08000000) or the QEMU machine
(code at 0x00000000). A physical board or Renode (which emulates the STM32's own peripherals) must
get firmware built with ``BuildOptions(platform="hardware")``; a QEMU build there would not boot and
would print nothing, which is much harder to diagnose than this check."""

from __future__ import annotations

from pathlib import Path

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile

from harness.boards.base import BoardError
from harness.firmware.targets import Target


def loaded_segments(elf: Path) -> list[tuple[int, int]]:
    """(load address, size in the file) of every PT_LOAD segment that carries bytes to program."""
    try:
        with open(elf, "rb") as stream:
            return [
                (segment["p_paddr"], segment["p_filesz"])
                for segment in ELFFile(stream).iter_segments()
                if segment["p_type"] == "PT_LOAD" and segment["p_filesz"] > 0
            ]
    except OSError as err:
        raise BoardError(f"cannot read firmware {elf}: {err}") from None
    except ELFError as err:
        raise BoardError(f"{elf} is not an ELF file ({err})") from None


def require_hardware_layout(elf: Path, target: Target, who: str) -> None:
    """BoardError unless every programmed byte of ``elf`` lands in ``target``'s flash."""
    segments = loaded_segments(elf)
    if not segments:
        raise BoardError(f"{who}: {elf} has nothing to program (no loadable segment with content)")
    for address, size in segments:
        if not any(r.origin <= address and address + size <= r.end for r in target.flash_regions):
            flash = ", ".join(f"{r.name} {r.origin:#010x}..{r.end:#010x}" for r in target.flash_regions)
            qemu = target.platform("qemu").flash_origin
            hint = (
                f"it is linked for the QEMU machine (code at {qemu:#010x}); build it with "
                "BuildOptions(platform='hardware')"
                if address == qemu
                else "was it built for another board?"
            )
            raise BoardError(
                f"{who}: {elf.name} puts {size} bytes at {address:#010x}, outside {target.name}'s flash "
                f"({flash}): {hint}"
            )

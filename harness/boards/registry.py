# SPDX-License-Identifier: Apache-2.0
"""The board backends patchbench knows: the one place each backend's name is defined.

Everything that names a backend reads this table: ``--backend`` of the pytest plugin and of
``patchbench bench`` (``BACKEND_CHOICES``), ``choose_backend`` when it checks a forced backend, the board
pool (is the chosen backend a physical board?), ``open_board`` (which class), the firmware build (which
platform's firmware a backend runs) and the report (what kind of device a result came from).

A backend's class is imported when it is first opened, so a backend whose library is an optional extra
(labgrid: ``pip install 'patchbench[farm]'``) costs nothing to the sessions that do not use it. This module
imports nothing of patchbench, so the report may read it without reaching the firmware build.

Adding a backend: a ``Board`` subclass in its own module of ``harness/boards/``, and one ``Backend`` line
below.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

AUTO = "auto"  # not a backend: ``--backend auto`` lets harness.boards.farm.choose_backend pick one
KINDS = ("emulator", "board")  # an emulator started on this host; a physical board (direct or on a lab)
FIRMWARE_PLATFORMS = ("qemu", "hardware")  # harness.firmware.targets.PLATFORMS


class UnknownBackend(ValueError):
    """A backend name that is not in ``BACKENDS``; the message lists the known ones."""


@dataclass(frozen=True)
class Backend:
    name: str  # in results (the ``backend`` of a point's identity), options and farm files
    kind: str  # one of KINDS
    # The firmware this backend runs (BuildOptions(platform=...)): "qemu" (the MPS2 machine's layout) or
    # "hardware" (the STM32's own: a physical board, or Renode, which emulates the chip itself). A labgrid
    # place's loading driver may say otherwise (harness/boards/lab_board.py).
    firmware_platform: str
    board_class: str  # "module:Class", imported on first use
    summary: str  # one line for --help and the report
    extra: str = ""  # the pip extra its library comes with, when it is not a base dependency

    def __post_init__(self) -> None:
        if self.kind not in KINDS or self.firmware_platform not in FIRMWARE_PLATFORMS:
            raise ValueError(
                f"backend {self.name!r}: kind {self.kind!r} / platform {self.firmware_platform!r}"
            )

    def load(self) -> type[Any]:
        """The backend's ``Board`` subclass."""
        module, _, name = self.board_class.partition(":")
        try:
            return getattr(importlib.import_module(module), name)
        except ImportError as err:
            hint = f": pip install 'patchbench[{self.extra}]'" if self.extra else ""
            raise UnknownBackend(
                f"backend {self.name!r} needs a library that is not installed ({err}){hint}"
            ) from None

    @property
    def is_emulator(self) -> bool:
        return self.kind == "emulator"

    @property
    def latency_unit(self) -> str:
        """What the firmware's timer counts on this backend: QEMU and Renode count instructions."""
        return "instructions" if self.is_emulator else "cycles"


BACKENDS: dict[str, Backend] = {
    backend.name: backend
    for backend in (
        Backend("qemu", "emulator", "qemu", "harness.boards.qemu:QemuBoard",
                "QEMU's MPS2 machine for the target's core (instruction counts)"),
        Backend("renode", "emulator", "hardware", "harness.boards.renode:RenodeBoard",
                "Renode emulating the STM32 itself (instruction counts; renode on PATH)"),
        Backend("pyocd", "board", "hardware", "harness.boards.pyocd_board:PyocdBoard",
                "a farm file's physical board, flashed by pyocd, read over its serial console (DWT cycles)"),
        Backend("labgrid", "board", "hardware", "harness.boards.lab_board:LabgridBoard",
                "a place of a labgrid lab (the farm file's [labgrid]), locked for the session (DWT cycles)",
                extra="farm"),
    )
}  # fmt: skip
BACKEND_NAMES: tuple[str, ...] = tuple(BACKENDS)
BACKEND_CHOICES: tuple[str, ...] = (AUTO, *BACKEND_NAMES)


def backend(name: str) -> Backend:
    try:
        return BACKENDS[name]
    except KeyError:
        raise UnknownBackend(
            f"unknown board backend {name!r}; known backends: {', '.join(BACKEND_NAMES)}"
        ) from None


def backend_help() -> str:
    """The ``--backend`` help text: every choice with what it is."""
    lines = [f"{AUTO}: a labgrid place or farm board when the farm file has one, else Renode when installed, "
             "else QEMU"]  # fmt: skip
    lines += [f"{b.name}: {b.summary}" for b in BACKENDS.values()]
    return "; ".join(lines)


__all__ = [
    "AUTO",
    "BACKENDS",
    "BACKEND_CHOICES",
    "BACKEND_NAMES",
    "Backend",
    "UnknownBackend",
    "backend",
    "backend_help",
]

# SPDX-License-Identifier: Apache-2.0
"""Renode backend: runs the hardware build of the firmware on Renode's model of the target's STM32.

Renode emulates the chip's own peripherals (USART3, flash at 0x08000000), so it takes the same ELF as
a physical board (``BuildOptions(platform="hardware")``). Per run the backend writes a .resc script:

    mach create; machine LoadPlatformDescription @<the target's [renode] platform>
    a DWT (Renode's STM32 platforms leave it out: CYCCNT would read 0) counting at the core clock,
    with the CPU at clock/1e6 MIPS, so one count is one executed instruction
    emulation CreateUartPtyTerminal "term" "<work dir>/console"; connector Connect sysbus.usart3 term
    sysbus LoadELF @<elf>; start

and runs ``renode --disable-xwt --console --plain -e "include @run.resc"`` headless, without a shell,
in a process group of its own. The UART is read with the same ``SerialLineReader`` as every other
backend, opened on the pty Renode links into the run's private work directory. Not a TCP server socket:
Renode's CreateServerSocketTerminal listens on every interface and takes no address, so any host on
the network could take the console; a pty is reachable only by this user on this machine. The host opens
it as soon as the link appears, before ``start`` runs the firmware. The firmware parks after its record,
so ``stop`` asks the monitor to quit and kills the group if it does not.

Counts from Renode are labelled "cycles" by the firmware (it reads the DWT) but are virtual time at
one instruction per cycle: deterministic, not the real core's cycles.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from harness.boards.base import Board, BoardError, Resource
from harness.boards.elf_layout import require_hardware_layout
from harness.boards.process import read_log, start_logged, stop_process
from harness.boards.serial_reader import SerialLineReader
from harness.firmware.targets import Target

RENODE_BINARY = "renode"
RENODE_NOT_FOUND = "renode not found on PATH; install Renode (see README) or use --backend qemu"
START_TIMEOUT_S = 60.0  # Renode (a .NET program) takes seconds to start and load a platform
QUIT_WAIT_S = 2.0
DWT_ADDRESS = 0xE0001000
# Lines of Renode's log that mean the script failed (Renode itself keeps running, waiting for commands).
SCRIPT_ERROR_MARKERS = ("[ERROR]", "There was an error executing command", "Could not find file")
CONSOLE_LINK = "console"  # the pty's link in the run's work directory


def renode_available(binary: str = RENODE_BINARY) -> bool:
    return shutil.which(binary) is not None


def require_renode(binary: str = RENODE_BINARY) -> str:
    path = shutil.which(binary)
    if path is None:
        raise BoardError(
            RENODE_NOT_FOUND if binary == RENODE_BINARY else f"{binary} not found; {RENODE_NOT_FOUND}"
        )
    return path


def renode_script(target: Target, elf: Path, console: Path) -> str:
    """The .resc that runs ``elf`` on ``target``'s Renode platform with its console on a pty linked at
    ``console``."""
    for path in (elf, target.renode_platform, console):
        if any(c.isspace() or c in "\"'" for c in str(path)):
            raise BoardError(f"Renode cannot take the path {str(path)!r} (spaces or quotes) in a script")
    uart = f"sysbus.{target.console_instance.lower()}"
    hardware = target.platform("hardware")
    mips = max(1, target.clock_hz // 1_000_000)
    dwt = f"dwt: Miscellaneous.DWT @ sysbus {DWT_ADDRESS:#x} {{ frequency: {mips * 1_000_000} }}"
    return "\n".join([
        f"# patchbench: {target.name} on Renode (generated for one run)",
        f'mach create "{target.name}"',
        f"machine LoadPlatformDescription @{target.renode_platform}",
        "# the firmware times layers with the DWT cycle counter, which the STM32 platforms leave out;",
        "# at clock/1e6 MIPS and the clock's frequency it counts one per executed instruction",
        f'machine LoadPlatformDescriptionFromString "{dwt}"',
        f"sysbus.cpu PerformanceInMips {mips}",
        "# the console: a pty linked in the run's private folder (no network socket: nothing to bind)",
        f'emulation CreateUartPtyTerminal "term" "{console}"',
        f"connector Connect {uart} term",
        f"sysbus LoadELF @{elf}",
        f"sysbus.cpu VectorTableOffset {hardware.flash_origin:#x}",
        "start",
        "",
    ])  # fmt: skip


def renode_command(renode_binary: str, script: Path) -> list[str]:
    """Headless (no GUI windows), the monitor on stdin/stdout, no colour codes in the log."""
    return [renode_binary, "--disable-xwt", "--console", "--plain", "-e", f"include @{script}"]


class RenodeBoard(Board):
    def __init__(
        self,
        resource: Resource,
        target: Target | None = None,
        *,
        renode_binary: str = RENODE_BINARY,
        start_timeout_s: float = START_TIMEOUT_S,
    ):
        super().__init__(resource, target)
        require_renode(renode_binary)
        self.renode_binary = renode_binary
        self.start_timeout_s = start_timeout_s
        self.process: subprocess.Popen | None = None
        self._work_dir: Path | None = None
        self._command: list[str] = []
        self._last_log = ""

    @property
    def board_id(self) -> str:
        return f"renode:{self.target.name}"

    def flash(self, elf: Path) -> None:
        elf = Path(elf)
        require_hardware_layout(elf, self.target, self.board_id)
        self.elf = elf

    def start(self) -> None:
        self.stop(grace=0)
        if self.elf is None:
            raise BoardError(f"{self.board_id}: nothing flashed; call flash(elf) first")
        renode = require_renode(self.renode_binary)
        self._last_log = ""
        self._work_dir = Path(tempfile.mkdtemp(prefix="patchbench-renode-"))
        # A private copy: the script's path has no spaces, and a rebuild cannot change it mid-run.
        elf = self._work_dir / "firmware.elf"
        shutil.copyfile(self.elf, elf)
        console = self._work_dir / CONSOLE_LINK
        script = self._work_dir / "run.resc"
        script.write_text(renode_script(self.target, elf, console))
        self._command = renode_command(renode, script)
        # stdin stays an open pipe: the console monitor would see end-of-input and quit otherwise.
        self.process = start_logged(self._command, self._work_dir, stdin=subprocess.PIPE)
        try:
            self.reader = SerialLineReader(str(console)).open(
                self.start_timeout_s, alive=self._running_without_errors
            )
        except ConnectionError as err:
            raise self._start_failed(err) from None

    def _start_failed(self, err: ConnectionError) -> BoardError:
        log = self._log()
        script = (self._work_dir / "run.resc").read_text()
        self.stop(grace=0)
        return BoardError(
            f"{self.board_id}: Renode did not start the firmware ({err}); its log:\n{_tail(log)}\n"
            f"command: {' '.join(self._command)}\nscript:\n{script}"
        )

    def console_failed(self, err: ConnectionError) -> BoardError:
        return BoardError(f"{self.board_id}: lost the console: {err}\n{_tail(self._log())}")

    def stop(self, grace: float = 2.0) -> int | None:
        """Quit Renode (the firmware parks after its record: there is no exit code to wait for)."""
        self.close_console()
        self._quit(grace)
        if self._work_dir is not None:
            self._last_log = self._log()
            shutil.rmtree(self._work_dir, ignore_errors=True)
            self._work_dir = None
        return None

    def _quit(self, grace: float) -> None:
        if self.process is not None:
            try:
                self.process.stdin.write(b"quit\n")
                self.process.stdin.close()
            except (BrokenPipeError, OSError, ValueError):
                pass
            stop_process(self.process, min(grace, QUIT_WAIT_S))
            self.process = None

    def diagnostics(self) -> str:
        """Renode's error lines from the last run (its log has many harmless warnings: those are left out)."""
        log = self._log() if self._work_dir is not None else self._last_log
        return "\n".join(line for line in log.splitlines() if any(m in line for m in SCRIPT_ERROR_MARKERS))

    def _log(self) -> str:
        if self._work_dir is None:
            return self._last_log
        return read_log(self._work_dir / "stdout.txt") + read_log(self._work_dir / "stderr.txt")

    def _running_without_errors(self) -> bool:
        if self.process is None or self.process.poll() is not None:
            return False
        return not any(marker in self._log() for marker in SCRIPT_ERROR_MARKERS)


def _tail(log: str, count: int = 20) -> str:
    lines = log.strip().splitlines()
    return "\n".join(f"  | {line}" for line in lines[-count:]) or "  (Renode printed nothing)"

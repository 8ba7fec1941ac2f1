# SPDX-License-Identifier: Apache-2.0
"""QEMU backend: runs firmware on the MPS2 machine that emulates the target's core.

The emulator runs with ``-icount shift=N`` (deterministic instruction counts, see EMULATION.md),
semihosting (the firmware ends QEMU with an exit code) and its UART on a TCP port on 127.0.0.1 with
``wait=on``, so no output is lost before the host connects. The console is read with the same
``SerialLineReader`` (``socket://127.0.0.1:<port>``) that physical boards use.

QEMU runs in its own process group without a shell; ``stop`` kills the group, so a hung firmware never
leaves an emulator behind.

Every run loads patchbench's timing plugin (``harness.boards.execution_profile``): per-block execution
counts and branch outcomes per timed unit, what the cycle model (``harness.boards.timing_model``) turns into
estimated cycles. It leaves the instruction count unchanged. ``timing``: "memory" (the default: counts,
plus the caches sampled over the first whole run), "blocks" (counts only: the estimate has no memory
term), "off" (no plugin); the environment variable PATCHBENCH_QEMU_TIMING sets the default.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from harness.boards.base import Board, BoardError, Resource
from harness.boards.execution_profile import (
    ExecutionProfile,
    PluginError,
    parse_profile,
    plugin_argument,
)
from harness.boards.process import open_console_on_free_port, read_log, start_logged, stop_process
from harness.boards.timing_model import plugin_memory_arguments
from harness.firmware.targets import Target

QEMU_BINARY = "qemu-system-arm"
CONNECT_TIMEOUT_S = 10.0


TIMING_ENV = "PATCHBENCH_QEMU_TIMING"
TIMING_MODES = ("memory", "blocks", "off")


def _timing_mode(timing: bool | str | None) -> str:
    """The plugin's mode: True / None (the environment's, else "memory"), False ("off"), or a mode."""
    if timing is None:
        timing = os.environ.get(TIMING_ENV, "").strip().lower() or "memory"
    if timing is True or timing is False:
        return "memory" if timing else "off"
    if timing not in TIMING_MODES:
        raise BoardError(
            f"QEMU timing mode {timing!r} ({TIMING_ENV}?) is not one of {', '.join(TIMING_MODES)}"
        )
    return timing


class QemuBoard(Board):
    def __init__(
        self,
        resource: Resource,
        target: Target | None = None,
        *,
        qemu_binary: str = QEMU_BINARY,
        extra_args: tuple[str, ...] = (),
        timing: bool | str | None = None,
    ):
        super().__init__(resource, target)
        self.qemu_binary = qemu_binary
        self.extra_args = extra_args
        self.timing = _timing_mode(timing)
        # The last run's block counts (None: timing off, or the plugin's output was unreadable, then
        # profile_error says why).
        self.execution_profile: ExecutionProfile | None = None
        self.profile_error: str | None = None
        self.process: subprocess.Popen | None = None
        self._log_dir: Path | None = None
        self._last_stderr = ""

    @property
    def board_id(self) -> str:
        return f"qemu:{self.target.qemu_machine}"

    def command(self, port: int) -> list[str]:
        if self.elf is None:
            raise BoardError(f"{self.board_id}: nothing flashed; call flash(elf) first")
        return [
            self.qemu_binary,
            "-machine", self.target.qemu_machine,
            "-nographic",
            "-monitor", "none",
            "-icount", f"shift={self.target.qemu_icount_shift}",
            "-semihosting-config", "enable=on,target=native",
            "-kernel", str(self.elf),
            "-serial", f"tcp:127.0.0.1:{port},server=on,wait=on",
            *self._plugin_args(),
            *self.extra_args,
        ]  # fmt: skip

    def _plugin_args(self) -> list[str]:
        if self.timing == "off" or self._log_dir is None:
            return []
        try:
            memory = plugin_memory_arguments(self.target) if self.timing == "memory" else []
            return ["-plugin", plugin_argument(self.elf, self._log_dir / "timing.txt", memory)]
        except PluginError as err:
            raise BoardError(f"{self.board_id}: {err}") from None

    def flash(self, elf: Path) -> None:
        elf = Path(elf)
        try:
            magic = elf.read_bytes()[:4]
        except OSError as err:
            raise BoardError(f"{self.board_id}: cannot read firmware {elf}: {err}") from None
        if magic != b"\x7fELF":
            raise BoardError(f"{self.board_id}: {elf} is not an ELF file")
        self.elf = elf

    def start(self) -> None:
        self.stop(grace=0)
        self._last_stderr = ""
        self.execution_profile, self.profile_error = None, None
        if shutil.which(self.qemu_binary) is None:
            raise BoardError(f"{self.qemu_binary} not found: install qemu-system-arm (./run.sh setup)")
        self.reader = open_console_on_free_port(
            self._launch, self._start_failed, connect_timeout=CONNECT_TIMEOUT_S,
            alive=lambda: self.process is not None and self.process.poll() is None, who=self.board_id,
        )  # fmt: skip

    def _launch(self, port: int) -> None:
        self._log_dir = Path(tempfile.mkdtemp(prefix="patchbench-qemu-"))
        self.process = start_logged(self.command(port), self._log_dir)

    def _start_failed(self, err: ConnectionError, port: int) -> BoardError | None:
        self.stop(grace=1.0)
        message = self.diagnostics().strip()
        if "in use" in message:
            return None
        return BoardError(
            f"{self.board_id}: QEMU did not start ({err}); its stderr:\n{message}\n"
            f"command: {' '.join(self.command(port))}"
        )

    def stop(self, grace: float = 2.0) -> int | None:
        """Wait up to ``grace`` s for QEMU to exit by itself, then kill its process group; the exit code
        (None if it had to be killed)."""
        exit_code = None
        if self.process is not None:
            exit_code = stop_process(self.process, grace)
            self.process = None
        self.close_console()
        if self._log_dir is not None:
            stderr = read_log(self._log_dir / "stderr.txt")
            # QEMU always announces that it waits for the console connection: not worth reporting.
            self._last_stderr = "\n".join(
                line for line in stderr.splitlines() if "QEMU waiting for connection" not in line
            )
            self._read_profile(self._log_dir / "timing.txt")
            shutil.rmtree(self._log_dir, ignore_errors=True)
            self._log_dir = None
        return exit_code

    def _read_profile(self, path: Path) -> None:
        if self.timing == "off" or not path.is_file():
            return
        try:
            self.execution_profile = parse_profile(path)
        except PluginError as err:
            self.profile_error = str(err)

    def diagnostics(self) -> str:
        """What QEMU itself printed on stderr (not the firmware's UART) in the last run."""
        return self._last_stderr

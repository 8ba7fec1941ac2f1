# SPDX-License-Identifier: Apache-2.0
"""The one stand-in of the labgrid tests: an emulated board behind a labgrid exporter.

A physical probe cannot exist here, so the exporter host's "board" is QEMU, and its "probe" is this
small service, run next to ``labgrid-exporter`` in the same process group (one "host"):

- the console port is always open, like ser2net in raw mode: whatever the running firmware prints on
  its UART goes to the connected client (and is lost when nobody is connected, like a real UART);
  the exporter exports it as a ``NetworkSerialPort`` (protocol raw);
- the control port takes ``flash <size>`` + the ELF's bytes, and ``reset``, which (re)starts QEMU
  with the flashed ELF, exactly as patchbench's own QEMU backend runs it (the same command line);
  the exporter exports it as a ``QemuStandInFlasher`` resource.

``QemuStandInDriver`` is the client side: a labgrid driver (BootstrapProtocol + ResetProtocol) bound to
that resource, loaded into a patchbench session with the farm file's ``driver_modules``. Everything
else (coordinator, exporter, places, reservations, locks, the console) is labgrid itself.

``--die-on-reset K --die-after-bytes N``: on the K-th reset, after N console bytes, the whole host
(this service, QEMU and the exporter) is killed with SIGKILL: an exporter gone mid-point.

    python tests/boards/labgrid_standin.py --target stm32f746 --console-port P --control-port Q
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import attr
from labgrid.driver.common import Driver
from labgrid.factory import target_factory
from labgrid.protocol import BootstrapProtocol, ResetProtocol
from labgrid.resource.common import NetworkResource

CONNECT_TIMEOUT_S = 10.0


@target_factory.reg_resource
@attr.s(eq=False)
class QemuStandInFlasher(NetworkResource):
    """The stand-in's control port on the exporter host."""

    port = attr.ib(validator=attr.validators.instance_of(int))


@target_factory.reg_driver
@attr.s(eq=False)
class QemuStandInDriver(Driver, BootstrapProtocol, ResetProtocol):
    bindings = {"flasher": "QemuStandInFlasher"}
    firmware_platform = "qemu"  # the "board" is QEMU's MPS2 machine: the firmware's qemu build

    def _command(self, line: str, payload: bytes = b"") -> None:
        with socket.create_connection((self.flasher.host, self.flasher.port), timeout=CONNECT_TIMEOUT_S) as s:
            s.sendall(line.encode() + b"\n" + payload)
            answer = s.makefile("rb").readline().decode().strip()
        if answer != "ok":
            raise RuntimeError(
                f"stand-in flasher {self.flasher.host}:{self.flasher.port}: {answer or 'no answer'}"
            )

    @Driver.check_active
    def load(self, filename: str):
        data = Path(filename).read_bytes()
        self._command(f"flash {len(data)}", data)

    @Driver.check_active
    def reset(self):
        self._command("reset")


# --- the exporter-side service -------------------------------------------------------------------


class EmulatedBoard:
    def __init__(self, target: str, work_dir: Path, die_on_reset: int, die_after_bytes: int):
        self.target = target
        self.elf = work_dir / "flashed.elf"
        self.work_dir = work_dir
        self.die_on_reset = die_on_reset
        self.die_after_bytes = die_after_bytes
        self.resets = 0
        self.client: socket.socket | None = None  # the console's connected client
        self.qemu: subprocess.Popen | None = None
        self.lock = threading.Lock()

    def serve_console(self, server: socket.socket) -> None:
        while True:
            client, _ = server.accept()
            with self.lock:
                if self.client is not None:
                    self.client.close()
                self.client = client
            threading.Thread(target=self._watch_client, args=(client,), daemon=True).start()

    def _watch_client(self, client: socket.socket) -> None:
        try:
            while client.recv(4096):
                pass  # input to the board's UART: the firmware reads none
        except OSError:
            pass
        with self.lock:
            if self.client is client:
                self.client = None

    def serve_control(self, server: socket.socket) -> None:
        while True:
            conn, _ = server.accept()
            with conn, conn.makefile("rb") as stream:
                line = stream.readline().decode().split()
                try:
                    if line[:1] == ["flash"]:
                        self.elf.write_bytes(stream.read(int(line[1])))
                    elif line == ["reset"]:
                        self.reset()
                    else:
                        raise ValueError(f"unknown command {line}")
                    conn.sendall(b"ok\n")
                except Exception as err:  # the answer carries any failure to the client
                    conn.sendall(f"error {type(err).__name__}: {err}\n".encode())

    def reset(self) -> None:
        from harness.boards import QemuBoard, Resource
        from harness.boards.process import free_port

        if self.qemu is not None:
            self.qemu.kill()
            self.qemu.wait()
        self.resets += 1
        qemu = QemuBoard(Resource(self.target, "qemu"))
        qemu.flash(self.elf)
        port = free_port()
        # In this host's process group (not a session of its own): when the host dies, QEMU dies with it.
        with open(self.work_dir / "stderr.txt", "wb") as stderr:
            self.qemu = subprocess.Popen(
                qemu.command(port), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr
            )
        deadline = time.monotonic() + CONNECT_TIMEOUT_S
        while True:
            try:
                uart = socket.create_connection(("127.0.0.1", port), timeout=1.0)
                break
            except OSError:
                if time.monotonic() > deadline or self.qemu.poll() is not None:
                    raise RuntimeError((self.work_dir / "stderr.txt").read_text()) from None
                time.sleep(0.02)
        dies = self.resets == self.die_on_reset
        threading.Thread(target=self._pump, args=(uart, dies), daemon=True).start()

    def _pump(self, uart: socket.socket, dies: bool) -> None:
        sent = 0
        with uart:
            while True:
                data = uart.recv(4096)
                if not data:
                    return
                if dies and sent + len(data) >= self.die_after_bytes:
                    data = data[: self.die_after_bytes - sent]
                with self.lock:
                    if self.client is not None:
                        try:
                            self.client.sendall(data)
                        except OSError:
                            pass
                sent += len(data)
                if dies and sent >= self.die_after_bytes:
                    self.die()

    def die(self) -> None:
        """The host goes away: QEMU, this service and the exporter, at once."""
        os.killpg(os.getpgrp(), signal.SIGKILL)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--target", required=True)
    parser.add_argument("--console-port", type=int, required=True)
    parser.add_argument("--control-port", type=int, required=True)
    parser.add_argument("--die-on-reset", type=int, default=0)
    parser.add_argument("--die-after-bytes", type=int, default=200)
    args = parser.parse_args()
    work_dir = Path(tempfile.mkdtemp(prefix="patchbench-standin-"))
    board = EmulatedBoard(args.target, work_dir, args.die_on_reset, args.die_after_bytes)
    servers = []
    for port in (args.console_port, args.control_port):
        server = socket.create_server(("127.0.0.1", port), reuse_port=False)
        servers.append(server)
    threading.Thread(target=board.serve_console, args=(servers[0],), daemon=True).start()
    print("stand-in ready", flush=True)
    board.serve_control(servers[1])
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    sys.exit(main())

# SPDX-License-Identifier: Apache-2.0
"""A board on a locked labgrid place: flashed and reset through labgrid drivers, read over its console.

The place's resources come from labgrid itself: an Environment whose target holds a ``RemotePlace``
expands into the place's resources (``NetworkSerialPort``, ``NetworkUSBDebugger``, ...), and the
drivers the farm file names (default ``PyOCDDriver``) bind to them. A driver that loads firmware
(labgrid's ``BootstrapProtocol``) flashes; one with ``ResetProtocol`` resets; its ``firmware_platform``
says which build it takes. The console is the place's ``NetworkSerialPort`` read by the same
``SerialLineReader`` as every other board (``rfc2217://`` or, for a raw port, ``socket://``).

A run: open the console and read away older output, reset (the program starts), read until END.
A place that goes away mid-run (the console closes, or goes quiet while the coordinator says the
place's resources are gone or the place is no longer ours) raises ``PlaceLost`` naming the place and
its exporter; ``lost`` then tells the pool to release it and lock another.
"""

from __future__ import annotations

import importlib
import tempfile
import time
from pathlib import Path

from labgrid import Environment
from labgrid.protocol import BootstrapProtocol, ResetProtocol
from labgrid.resource import NetworkSerialPort, RemotePlace
from labgrid.resource.remote import RemotePlaceManager

from harness.boards.base import Board, BoardError, BoardLost, Resource
from harness.boards.elf_layout import require_hardware_layout
from harness.boards.lab_pyocd import PyOCDDriver  # importing it registers it with labgrid
from harness.boards.lab_session import LabError, LabSession, LockedPlace
from harness.boards.serial_reader import ReadResult, SerialLineReader

CONSOLE_OPEN_TIMEOUT_S = 10.0
GONE_SETTLE_S = 1.0


class PlaceLost(BoardLost):
    """The labgrid place went away mid-run; ``lines`` is what its console printed before."""


def environment_yaml(place: str, coordinator: str, drivers: tuple[str, ...]) -> str:
    lines = ["targets:", "  main:", "    resources:", "      RemotePlace:", f"        name: {place}"]
    lines += ["    drivers:", *[f"      {driver}: {{}}" for driver in drivers]]
    lines += ["options:", f"  coordinator_address: {coordinator}", ""]
    return "\n".join(lines)


class LabgridBoard(Board):
    def __init__(self, resource: Resource, lab: LabSession, place: LockedPlace):
        super().__init__(resource)
        self.lab = lab
        self.place = place
        self.lost = False
        for module in lab.spec.driver_modules:
            importlib.import_module(module)
        lab.share_with_remote_places()
        self._env_dir = tempfile.TemporaryDirectory(prefix="patchbench-labgrid-")
        config = Path(self._env_dir.name) / "env.yaml"
        config.write_text(environment_yaml(place.name, lab.spec.coordinator, lab.spec.drivers))
        try:
            self.lg_target = Environment(str(config)).get_target("main")
            self.console = self.lg_target.get_resource(NetworkSerialPort)
            self.loader = self.lg_target.get_driver(BootstrapProtocol)
            self.resetter = self.lg_target.get_driver(ResetProtocol)
        except Exception as err:  # labgrid raises many kinds (NoResourceFoundError, NoDriverFoundError, ...)
            self._env_dir.cleanup()
            raise LabError(
                f"{self.label}: cannot use it through labgrid ({type(err).__name__}: {err}). A place needs a "
                f"NetworkSerialPort and resources that the farm file's drivers ({', '.join(lab.spec.drivers)}) "
                "bind to; `labgrid-client -p PLACE show` lists what it has"
            ) from None
        # The registry's "hardware" is the usual; the loading driver of a place may say otherwise.
        self.firmware_platform = getattr(self.loader, "firmware_platform", self.firmware_platform)
        if isinstance(self.loader, PyOCDDriver):
            self.loader.target_type = self.loader.target_type or self.target.pyocd_target
            place_tags = self.lg_target.get_resource(RemotePlace).tags
            self.loader.probe_uid = self.loader.probe_uid or place_tags.get("probe")

    @property
    def exporter_host(self) -> str:
        console = getattr(self, "console", None)
        return console.host if console is not None else "?"

    @property
    def board_id(self) -> str:
        """The place and the exporter host it is on: stored with every result row."""
        return f"labgrid:{self.place.name}@{self.exporter_host}"

    @property
    def label(self) -> str:
        return f"{self.place.describe()} (host {self.exporter_host})"

    @property
    def console_url(self) -> str:
        scheme = "rfc2217" if self.console.protocol == "rfc2217" else "socket"
        return f"{scheme}://{self.console.host}:{self.console.port}"

    # --- Board interface ---------------------------------------------------------------------------

    def flash(self, elf: Path) -> None:
        elf = Path(elf)
        if self.firmware_platform == "hardware":
            require_hardware_layout(elf, self.target, self.label)
        try:
            self.loader.load(str(elf))
        except Exception as err:
            unreachable = isinstance(err, OSError)  # the exporter host does not answer
            raise self._failed(
                f"flashing {elf.name} failed ({type(err).__name__}: {err})", [], unreachable
            ) from None
        self.elf = elf

    def start(self) -> None:
        if self.elf is None:
            raise BoardError(f"{self.label}: nothing flashed; call flash(elf) first")
        self.close_console()
        reader = SerialLineReader(self.console_url, self.console.speed)
        try:
            reader.open(CONSOLE_OPEN_TIMEOUT_S)
            if reader.drain().reason == "eof":  # the board is not reset yet: all that arrives is older
                raise ConnectionError("the console closed as soon as it was opened")
        except ConnectionError as err:
            reader.close()
            raise self._failed(
                f"its console {self.console_url} failed ({err})", [], unreachable=True
            ) from None
        self.reader = reader
        try:
            self.resetter.reset()
        except Exception as err:
            raise self._failed(
                f"reset failed ({type(err).__name__}: {err})", [], isinstance(err, OSError)
            ) from None

    def console_failed(self, err: ConnectionError) -> BoardError:
        return self._failed(f"its console failed ({err})", [], unreachable=True)

    def check_read(self, result: ReadResult) -> ReadResult:
        if result.reason == "eof":
            raise self._failed(
                f"its console closed after {len(result.lines)} lines", result.all_lines, unreachable=True
            )
        if result.reason in ("timeout", "silence"):
            gone = self._gone()
            if gone:
                raise self._lost(gone, result.all_lines)
        return result

    def stop(self, grace: float = 2.0) -> int | None:
        """Close the console; the board stays as it is. No exit code on a place: None."""
        self.close_console()
        return None

    def close(self) -> None:
        self.stop(grace=0)
        try:
            self.lg_target.deactivate_all_drivers()
        except Exception:  # a place that went away cannot be talked to any more
            pass
        # labgrid's RemotePlaceManager (one per process) polls every resource it ever expanded; a closed
        # place's resources leave it, or a withdrawn one would break the next place's polling.
        manager = RemotePlaceManager.get()
        manager.resources = [r for r in manager.resources if r.target is not self.lg_target]
        manager.unmanaged_resources = [
            r for r in manager.unmanaged_resources if r.target is not self.lg_target
        ]
        self._env_dir.cleanup()

    # --- a place that went away ----------------------------------------------------------------------

    def _gone(self) -> str:
        """Why the place is no longer usable (the coordinator's view), or "" if it looks fine."""
        try:
            self.lab.refresh()
        except Exception as err:
            return f"the coordinator {self.lab.spec.coordinator} cannot be asked ({err})"
        place = self.lab.places.get(self.place.name)
        if place is None:
            return "the place was deleted on the coordinator"
        if place.acquired != self.lab.user:
            return f"the place is no longer locked by {self.lab.user} (now: {place.acquired or 'nobody'})"
        resources = self._session_resources()
        paths = [tuple(path) for path in place.acquired_resources]
        missing = ["/".join(path) for path in paths if path not in resources or not resources[path].avail]
        if missing:
            return f"its resources are gone from the coordinator (exporter down?): {', '.join(missing)}"
        return ""

    def _session_resources(self) -> dict:
        found = {}
        for exporter, groups in self.lab._session.resources.items():
            for group, entries in groups.items():
                for name, entry in entries.items():
                    if entry.data:  # a resource the exporter withdrew is an empty entry
                        found[(exporter, group, entry.cls, name)] = entry
        return found

    def _failed(self, what: str, lines: list[str], unreachable: bool = False) -> BoardError:
        """A failure on the place. A console or exporter host that cannot be reached (``unreachable``)
        means the place is gone; so does a coordinator that no longer lists the place's resources as
        ours. Anything else is a BoardError of this point only."""
        self.close_console()
        gone = self._gone()
        if not gone and unreachable:
            time.sleep(GONE_SETTLE_S)  # the coordinator learns of a dead exporter a moment later
            gone = self._gone()
        if gone or unreachable:
            return self._lost(f"{what}; {gone or 'the coordinator still lists the place'}", lines)
        return BoardError(f"{self.label}: {what}")

    def _lost(self, why: str, lines: list[str]) -> PlaceLost:
        self.close_console()
        self.lost = True
        return PlaceLost(
            f"{self.label} went away mid-run: {why}. This point was not measured; the session goes on with "
            "another place",
            lines,
        )

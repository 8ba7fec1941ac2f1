# SPDX-License-Identifier: Apache-2.0
"""Physical boards: flash and reset through a debug probe with pyocd, read the console with pyserial.

A board is addressed by its probe's unique id (never "the first probe found": with several boards on
one host that would flash the wrong one) and by its console, which the same ``SerialLineReader`` as
the emulators reads: a device path (/dev/serial/by-id/...), ``rfc2217://host:port`` or
``socket://host:port`` (ser2net on a farm host). The firmware must be the hardware build
(``BuildOptions(platform="hardware")``): its timings are core cycles from the DWT.

The backend holds the probe's ``ProbeLock`` from the first flash until ``close``, so two pytest-xdist
workers never share a board. A board lost mid-run (console closed, probe unplugged) raises
``BoardLost`` naming the board, its probe and console and what to check; the caller keeps the results
it has already stored.

Everything pyocd does goes through ``PyocdApi`` (list probes, open a session, program an ELF); tests
pass a fake of it, the rest (locking, the console, the error handling) runs for real.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.boards.base import Board, BoardError, BoardLost, Resource
from harness.boards.elf_layout import require_hardware_layout
from harness.boards.farm import (
    LOCK_WAIT_S,
    ProbeInfo,
    ProbeLock,
    console_hint,
    list_connected_probes,
    parse_console_url,
)
from harness.boards.serial_reader import ReadResult, SerialLineReader
from harness.firmware.targets import Target

CONSOLE_OPEN_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class PyocdApi:
    """The probe boundary: the pyocd calls this backend makes."""

    list_probes: Callable[[], Sequence[ProbeInfo]]
    session_factory: Callable[..., Any]  # ConnectHelper.session_with_chosen_probe's signature
    program: Callable[[Any, Path], None]  # write an ELF to the target of an open session

    @classmethod
    def real(cls) -> PyocdApi:
        return cls(list_connected_probes, _session_with_chosen_probe, _program_elf)


def _session_with_chosen_probe(**kwargs):
    from pyocd.core.helpers import ConnectHelper

    return ConnectHelper.session_with_chosen_probe(**kwargs)


def _program_elf(session, elf: Path) -> None:
    from pyocd.flash.file_programmer import FileProgrammer

    FileProgrammer(session).program(str(elf), file_format="elf")


def describe_resource(resource: Resource) -> str:
    """E.g. "board 'desk-f746' (probe 0669FF..., console /dev/ttyACM0, desk, left)"."""
    details = [f"probe {resource.probe_uid}", f"console {resource.serial_url}"]
    if resource.location:
        details.append(resource.location)
    name = f"board '{resource.name}'" if resource.name else f"{resource.target} board"
    return f"{name} ({', '.join(details)})"


class PyocdBoard(Board):
    def __init__(
        self,
        resource: Resource,
        target: Target | None = None,
        *,
        probe_api: PyocdApi | None = None,
        lock_dir: Path | None = None,
        lock_timeout_s: float = LOCK_WAIT_S,
        console_timeout_s: float = CONSOLE_OPEN_TIMEOUT_S,
        session_options: Mapping[str, Any] | None = None,
    ):
        super().__init__(resource, target)
        if not resource.probe_uid:
            raise BoardError(
                f"{self.label}: no probe unique id. A physical board is addressed by its debug probe's unique "
                "id (the farm file's 'probe' field; `pyocd list` shows the connected ones), never by taking "
                "the first probe found"
            )
        if not resource.serial_url:
            raise BoardError(f"{self.label}: no console (the farm file's 'serial' field)")
        try:
            parse_console_url(resource.serial_url)
        except ValueError as err:
            raise BoardError(f"{self.label}: {err}") from None
        self.baudrate = resource.baudrate or self.target.console_baudrate
        self.api = probe_api or PyocdApi.real()
        self.lock = ProbeLock(resource.probe_uid, lock_dir)
        self.lock_timeout_s = lock_timeout_s
        self.console_timeout_s = console_timeout_s
        self.session_options = dict(session_options or {})
        self.session: Any = None
        self._core_state = ""

    @property
    def label(self) -> str:
        return describe_resource(self.resource)

    # --- Board interface ---------------------------------------------------------------------------

    def flash(self, elf: Path) -> None:
        elf = Path(elf)
        require_hardware_layout(elf, self.target, self.label)
        session = self._open_session()
        try:
            self.api.program(session, elf)
        except Exception as err:
            raise self._probe_failure(err, f"flashing {elf.name}") from None
        self.elf = elf

    def start(self) -> None:
        if self.elf is None:
            raise BoardError(f"{self.label}: nothing flashed; call flash(elf) first")
        session = self._open_session()
        self.close_console()
        self._core_state = ""
        try:
            session.target.reset_and_halt()
        except Exception as err:
            raise self._probe_failure(err, "resetting the target") from None
        reader = self._open_console()  # while the core is halted: nothing of this run is missed
        try:
            session.target.resume()
        except Exception as err:
            reader.close()
            raise self._probe_failure(err, "starting the target after reset") from None
        self.reader = reader

    def console_failed(self, err: ConnectionError) -> BoardError:
        return self._lost(f"its console failed ({err})", [])

    def check_read(self, result: ReadResult) -> ReadResult:
        if result.reason == "eof":
            raise self._lost(f"its console closed after {len(result.lines)} lines", result.all_lines)
        if result.reason in ("timeout", "silence"):
            self._check_probe(result.all_lines)
        return result

    def stop(self, grace: float = 2.0) -> int | None:
        """Close the console; the core stays parked. A real board has no exit code: None."""
        self.close_console()
        return None

    def close(self) -> None:
        self.stop(grace=0)
        self._drop_session()
        self.lock.release()

    def diagnostics(self) -> str:
        return f"core state when the console went quiet: {self._core_state}" if self._core_state else ""

    # --- the probe -----------------------------------------------------------------------------------

    def _open_session(self):
        if self.session is not None:
            return self.session
        self.lock.acquire(self.lock_timeout_s, who=self.label)
        try:
            self.session = self._connect()
        except BaseException:
            self.lock.release()
            raise
        return self.session

    def _connect(self):
        uid = self.resource.probe_uid
        try:
            probes = list(self.api.list_probes())
        except Exception as err:
            raise BoardError(
                f"{self.label}: cannot list debug probes through pyocd ({type(err).__name__}: {err}); is "
                "libusb installed, and do the udev rules let this user open the probe?"
            ) from None
        ids = [probe.unique_id for probe in probes]
        if uid not in ids:
            partial = [other for other in ids if uid.lower() in other.lower()]
            if partial:
                raise BoardError(
                    f"{self.label}: probe id {uid!r} is only part of the connected probe id(s) "
                    f"{', '.join(partial)}; give the full unique id in the farm file"
                )
            connected = ", ".join(
                f"{p.unique_id} ({p.description})" if p.description else p.unique_id for p in probes
            )
            raise BoardError(
                f"{self.label}: probe {uid} is not connected; connected probes: {connected or 'none'}. Check "
                "the board's USB cable and power, and `pyocd list`"
            )
        try:
            session = self.api.session_factory(
                unique_id=uid, blocking=False, return_first=False, auto_open=False,
                target_override=self.target.pyocd_target, **self.session_options,
            )  # fmt: skip
        except Exception as err:
            raise self._probe_failure(err, "selecting the probe") from None
        if session is None:
            raise BoardError(
                f"{self.label}: pyocd did not select probe {uid}: pyocd matches ids by substring and another "
                f"connected probe's id contains it (connected: {', '.join(ids)}); disconnect that probe"
            )
        try:
            session.open()
        except Exception as err:
            _quiet_close(session)
            raise self._probe_failure(err, "connecting to the target") from None
        if session.probe.unique_id != uid:
            _quiet_close(session)
            raise BoardError(f"{self.label}: pyocd opened probe {session.probe.unique_id} instead of {uid}")
        return session

    def _drop_session(self) -> None:
        if self.session is not None:
            _quiet_close(self.session)
            self.session = None

    def _probe_failure(self, err: Exception, doing: str) -> BoardError:
        """A BoardError for a failure of pyocd (or the USB under it) while ``doing``; other exceptions are
        bugs and are raised as they are."""
        from pyocd.core import exceptions as pyocd_errors

        if not isinstance(err, pyocd_errors.Error | OSError):
            raise err
        what = f"{type(err).__name__}: {err}"
        if isinstance(err, pyocd_errors.TargetSupportError):
            pack = self.target.pyocd_pack_part
            install = (
                f"run `pyocd pack install {pack}` once" if pack else "check the target's [pyocd] target name"
            )
            return BoardError(
                f"{self.label}: pyocd does not know target type {self.target.pyocd_target!r} while {doing} "
                f"({what}); {install}"
            )
        if isinstance(err, pyocd_errors.ProbeError | OSError):
            self._drop_session()
            return BoardLost(
                f"{self.label}: lost the probe while {doing} ({what}). Check the probe's USB cable and that the "
                "board is powered (`pyocd list` must show the probe); results stored so far are kept",
                [],
            )
        if isinstance(err, pyocd_errors.FlashFailure):
            return BoardError(
                f"{self.label}: {doing} failed ({what}); is the flash write-protected (option bytes), or the "
                "image larger than the chip's flash? `pyocd erase --chip` with this probe resets it"
            )
        if isinstance(err, pyocd_errors.TransferError):
            self._drop_session()
            return BoardError(
                f"{self.label}: the probe cannot talk to the target while {doing} ({what}); check the board's "
                "power and the SWD connection (ST-LINK jumpers on a NUCLEO); a firmware that turns the debug "
                "pins off needs session option connect_mode='under-reset'"
            )
        return BoardError(f"{self.label}: pyocd failed while {doing} ({what})")

    def _check_probe(self, lines: list[str]) -> None:
        """The console went quiet: tell a lost probe (BoardLost) from a hung program (the caller's timeout)."""
        try:
            state = self.session.target.get_state()
        except Exception as err:
            failure = self._probe_failure(err, "checking the target after its console went quiet")
            raise BoardLost(getattr(failure, "problem", str(failure)), lines) from None
        self._core_state = getattr(state, "name", str(state))

    # --- the console ---------------------------------------------------------------------------------

    def _open_console(self) -> SerialLineReader:
        url = self.resource.serial_url
        reader = SerialLineReader(url, self.baudrate)
        try:
            reader.open(self.console_timeout_s)
            stale = reader.drain()  # the core is halted: all that arrives now is older output
            if stale.reason == "eof":
                reader.close()
                raise self._lost("its console closed as soon as it was opened", stale.all_lines)
        except ConnectionError as err:
            reader.close()
            raise BoardError(f"{self.label}: cannot open its console ({err}); {console_hint(url)}") from None
        return reader

    def _lost(self, what: str, lines: list[str]) -> BoardLost:
        self.close_console()
        return BoardLost(
            f"{self.label}: lost the board mid-run: {what}. {console_hint(self.resource.serial_url)}; check the "
            "probe too (`pyocd list`). Results stored so far are kept; this run was not measured",
            lines,
        )


def _quiet_close(session) -> None:
    """Close a session that may already be broken (probe gone): its errors say nothing new."""
    try:
        session.close()
    except Exception:  # closing after a failure must not hide the failure
        pass

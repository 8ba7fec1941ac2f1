# SPDX-License-Identifier: Apache-2.0
"""The board farm: which physical boards exist, and which backend a target runs on.

A farm file (TOML, see farms/example.toml) lists physical boards::

    [farm]
    on_missing = "fallback"      # a listed board whose probe is not connected: "fallback" or "fail"

    [[board]]
    name = "desk-f746"           # for people and messages
    target = "stm32f746"         # a targets/<name>.toml
    probe = "0669FF555052836687031520"   # the debug probe's unique id (`pyocd list`)
    serial = "/dev/serial/by-id/usb-STMicroelectronics_STM32_STLink_0669FF...-if02"  # or rfc2217:// or socket://
    baud = 115200                # optional: the target's console baud rate
    location = "desk, left"      # optional

A ``[labgrid]`` section (see lab_spec.py) names a labgrid coordinator and, per target, the tags of
the places it may run on. ``choose_backend`` picks, for one target: a labgrid place, else a connected
farm board, else Renode when it is installed, else QEMU; ``--backend`` forces one. A physical board is used by one process at a time: the pyocd
backend holds a ``ProbeLock`` (an flock on BUILD_DIR/locks/<probe>.lock) while it uses the board, so
pytest-xdist workers never share one.
"""

from __future__ import annotations

import fcntl
import os
import platform
import re
import time
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from harness.boards.base import BoardError, Resource
from harness.boards.lab_spec import LabSpec, LabSpecError, parse_lab
from harness.boards.registry import AUTO, BACKEND_CHOICES, BACKEND_NAMES
from harness.boards.renode import RENODE_NOT_FOUND, renode_available
from harness.firmware.targets import TargetError, load_target
from harness.paths import BUILD_DIR

ON_MISSING = ("fallback", "fail")
BOARD_FIELDS = ("name", "target", "probe", "serial", "baud", "location")
LOCK_DIR = BUILD_DIR / "locks"
LOCK_WAIT_S = 300.0  # another worker's run on the same board should finish well within this
LOCK_POLL_S = 0.1
CONSOLE_URL_FORMS = (
    "a device path (/dev/ttyACM0, /dev/serial/by-id/...), socket://host:port (ser2net raw), "
    "rfc2217://host:port (ser2net telnet) or hwgrep://<pattern>"
)


class FarmError(ValueError):
    """A farm file that cannot be used; the message names the file, the entry and the field."""


# --- console URLs ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConsoleUrl:
    kind: str  # "device" | "socket" | "rfc2217" | "hwgrep"
    url: str
    host: str = ""
    port: int = 0
    path: str = ""  # the device path, or hwgrep's pattern


def parse_console_url(url: str) -> ConsoleUrl:
    """Check a console address that pyserial's ``serial_for_url`` will open; ValueError says what is wrong."""
    if not isinstance(url, str) or not url.strip():
        raise ValueError(f"empty console address; expected {CONSOLE_URL_FORMS}")
    if "://" not in url:
        if url.startswith("/") or re.fullmatch(r"COM\d+", url):
            return ConsoleUrl("device", url, path=url)
        raise ValueError(
            f"console {url!r} is neither an absolute device path nor a URL; expected {CONSOLE_URL_FORMS}"
        )
    scheme = url.split("://", 1)[0].lower()
    if scheme == "hwgrep":
        pattern = url.split("://", 1)[1].split("&", 1)[0]
        if not pattern:
            raise ValueError(f"console {url!r}: hwgrep:// needs a pattern (e.g. the probe's serial number)")
        return ConsoleUrl("hwgrep", url, path=pattern)
    if scheme not in ("socket", "rfc2217"):
        raise ValueError(f"console {url!r}: unsupported scheme {scheme!r}; expected {CONSOLE_URL_FORMS}")
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"console {url!r}: the port must be a number from 1 to 65535") from None
    if not parts.hostname or not port:
        raise ValueError(f"console {url!r}: {scheme}:// needs host:port, e.g. {scheme}://farm-host:4001")
    if parts.path not in ("", "/"):
        raise ValueError(f"console {url!r}: unexpected path {parts.path!r} after host:port")
    return ConsoleUrl(scheme, url, host=parts.hostname, port=port)


def console_hint(url: str) -> str:
    """What to check when a board's console cannot be opened or goes away."""
    try:
        console = parse_console_url(url)
    except ValueError as err:
        return str(err)
    if console.kind == "device":
        return (
            f"check that {console.path} exists (USB cable plugged in, board powered), that you may open it "
            "(the 'dialout' group) and that no other program (screen, minicom, another pytest worker) "
            "has it open"
        )
    if console.kind == "hwgrep":
        return f"check that a serial port matching {console.path!r} is listed by `python -m serial.tools.list_ports -v`"
    return (
        f"check that the serial server (ser2net) on {console.host}:{console.port} is running and reachable and "
        "that the board's USB cable is plugged into that host"
    )


# --- probes and their locks -----------------------------------------------------------------------


@dataclass(frozen=True)
class ProbeInfo:
    unique_id: str
    description: str = ""


def list_connected_probes() -> list[ProbeInfo]:
    """The debug probes pyocd sees now (ST-LINK, CMSIS-DAP, J-Link), without waiting for one."""
    from pyocd.core.helpers import ConnectHelper  # pyocd is slow to import: only when a board is needed

    probes = ConnectHelper.get_all_connected_probes(blocking=False)
    return [ProbeInfo(probe.unique_id, probe.description) for probe in probes]


def connected_probe_ids(list_probes: Callable[[], Sequence[ProbeInfo]] | None = None) -> list[str]:
    return [probe.unique_id for probe in (list_probes or list_connected_probes)()]


class ProbeLock:
    """An exclusive flock on LOCK_DIR/<probe>.lock, held for as long as a process uses the board.

    flock locks belong to an open file: two processes (pytest-xdist workers), or two boards in one
    process, exclude each other; the kernel drops the lock when its holder dies, so a crashed run never
    leaves a board locked. The file names the holder, for the message of whoever has to wait."""

    def __init__(self, probe_uid: str, lock_dir: Path | None = None):
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", probe_uid)
        self.probe_uid = probe_uid
        self.path = Path(lock_dir or LOCK_DIR) / f"{safe}.lock"
        self._file = None

    @property
    def held(self) -> bool:
        return self._file is not None

    def acquire(self, timeout: float = LOCK_WAIT_S, who: str = "") -> None:
        if self._file is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock_file = open(self.path, "a+")  # kept open while the lock is held
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    lock_file.close()
                    raise BoardError(
                        f"{who or 'probe ' + self.probe_uid}: the board is in use by another process "
                        f"({self.holder() or 'holder unknown'}; lock {self.path}) and stayed busy for "
                        f"{timeout:g} s. Physical boards are not shared: give each pytest-xdist worker its own "
                        "board (one per target in the farm) or run the hardware tests with -n 0"
                    ) from None
                time.sleep(LOCK_POLL_S)
        lock_file.seek(0)
        lock_file.truncate()
        lock_file.write(
            f"pid {os.getpid()} on {platform.node()} since {time.strftime('%Y-%m-%d %H:%M:%S')}\n"
        )
        lock_file.flush()
        self._file = lock_file

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None

    def holder(self) -> str:
        try:
            return self.path.read_text().strip()
        except OSError:
            return ""

    def is_free(self) -> bool:
        """True when nobody holds the lock right now (a hint: it can be taken a moment later)."""
        if self._file is not None:
            return False
        if not self.path.exists():
            return True
        with open(self.path, "a+") as lock_file:
            try:
                fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            fcntl.flock(lock_file, fcntl.LOCK_UN)
            return True

    def __enter__(self) -> ProbeLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()


# --- the farm file --------------------------------------------------------------------------------


@dataclass(frozen=True)
class FarmBoard:
    name: str
    target: str
    probe: str  # the debug probe's unique id
    serial: str  # console: device path or URL
    baud: int
    location: str = ""

    def resource(self) -> Resource:
        return Resource(
            self.target, "pyocd", serial_url=self.serial, probe_uid=self.probe, location=self.location,
            name=self.name, baudrate=self.baud,
        )  # fmt: skip

    def describe(self) -> str:
        return f"farm board '{self.name}' (probe {self.probe})"


@dataclass(frozen=True)
class Farm:
    boards: tuple[FarmBoard, ...] = ()
    on_missing: str = "fallback"  # "fallback" | "fail"
    source: Path | None = None
    lab: LabSpec | None = None  # the [labgrid] section: a coordinator and the places of each target

    def boards_for(self, target: str) -> list[FarmBoard]:
        return [board for board in self.boards if board.target == target]

    def resources_for(self, target: str) -> list[Resource]:
        return [board.resource() for board in self.boards_for(target)]


def load_farm(path: Path | str) -> Farm:
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except OSError as err:
        raise FarmError(f"cannot read farm file {path}: {err}") from None
    except tomllib.TOMLDecodeError as err:
        raise FarmError(f"farm file {path} is not valid TOML: {err}") from None
    unknown = sorted(set(data) - {"farm", "board", "labgrid"})
    if unknown:
        raise FarmError(
            f"farm file {path}: unknown top-level key(s) {', '.join(unknown)}; expected [farm], [[board]] "
            "and [labgrid]"
        )
    try:
        lab = parse_lab(data["labgrid"], path) if "labgrid" in data else None
    except LabSpecError as err:
        raise FarmError(str(err)) from None
    settings = data.get("farm", {})
    if not isinstance(settings, dict):
        raise FarmError(f"farm file {path}: 'farm' must be a table ([farm])")
    extra = sorted(set(settings) - {"on_missing"})
    if extra:
        raise FarmError(
            f"farm file {path}: [farm] has unknown field(s) {', '.join(extra)}; it knows on_missing"
        )
    on_missing = settings.get("on_missing", "fallback")
    if on_missing not in ON_MISSING:
        raise FarmError(
            f'farm file {path}: [farm] on_missing must be "fallback" or "fail" (got {on_missing!r})'
        )
    entries = data.get("board", [])
    if not isinstance(entries, list):
        raise FarmError(f"farm file {path}: boards are listed as [[board]] tables")
    boards = tuple(_board(entry, number, path) for number, entry in enumerate(entries, start=1))
    for field in ("name", "probe"):
        seen: dict[str, str] = {}
        for board in boards:
            value = getattr(board, field)
            if value in seen:
                raise FarmError(
                    f"farm file {path}: board '{board.name}' has the same {field} {value!r} as board "
                    f"'{seen[value]}'; each board needs its own"
                )
            seen[value] = board.name
    return Farm(boards, on_missing, path, lab)


def _board(entry, number: int, path: Path) -> FarmBoard:
    if not isinstance(entry, dict):
        raise FarmError(f"farm file {path}: [[board]] entry {number} must be a table")
    label = f"[[board]] entry {number}" + (
        f" ('{entry['name']}')" if isinstance(entry.get("name"), str) else ""
    )

    def fail(field: str, problem: str) -> FarmError:
        return FarmError(f"farm file {path}: {label}: field '{field}' {problem}")

    unknown = sorted(set(entry) - set(BOARD_FIELDS))
    if unknown:
        raise fail(unknown[0], f"is unknown; a board has {', '.join(BOARD_FIELDS)}")

    def text(field: str, what: str, required: bool = True) -> str:
        value = entry.get(field, None if required else "")
        if value is None:
            raise fail(field, f"is missing ({what})")
        if not isinstance(value, str) or (required and not value.strip()):
            raise fail(field, f"must be a non-empty string ({what})")
        return value.strip()

    name = text("name", "what people call the board, e.g. 'desk-f746'")
    target_name = text("target", "a file name in targets/, e.g. 'stm32f746'")
    try:
        target = load_target(target_name)
    except TargetError as err:
        raise fail("target", f"names no usable target: {err}") from None
    probe = text("probe", "the debug probe's unique id, as `pyocd list` shows it")
    serial = text("serial", f"the board's console: {CONSOLE_URL_FORMS}")
    try:
        parse_console_url(serial)
    except ValueError as err:
        raise fail("serial", f"is not a usable console: {err}") from None
    baud = entry.get("baud", target.console_baudrate)
    if not isinstance(baud, int) or isinstance(baud, bool) or baud <= 0:
        raise fail("baud", f"must be a positive integer (got {baud!r})")
    location = text("location", "where the board is, for people", required=False)
    return FarmBoard(name, target_name, probe, serial, baud, location)


# --- choosing a backend ---------------------------------------------------------------------------


@dataclass(frozen=True)
class BackendChoice:
    resource: Resource
    explanation: str  # why this backend: shown to the user, e.g. the fallback from a missing farm board


def choose_backend(
    target: str,
    farm: Farm | None,
    forced: str | None = None,
    *,
    connected: Sequence[str] | Callable[[], Sequence[str]] | None = None,
    renode_installed: bool | None = None,
    lock_dir: Path | None = None,
) -> BackendChoice:
    """Where ``target`` runs: a labgrid place, else a connected farm board, else Renode when installed, else QEMU.

    ``forced`` (a name of harness/boards/registry.py; None or "auto" to choose) is ``--backend``. ``connected``
    (probe ids, or a function returning them) and ``renode_installed`` default to asking pyocd and PATH.
    Raises BoardError when the forced backend is unavailable, or when a farm board for ``target`` is
    missing and the farm says ``on_missing = "fail"``."""
    load_target(target)  # an unknown target fails here, with the list of known ones
    forced = None if forced in (None, AUTO) else forced
    if forced is not None and forced not in BACKEND_NAMES:
        raise BoardError(f"unknown backend {forced!r}; choose one of {', '.join(BACKEND_CHOICES)}")
    if renode_installed is None:
        renode_installed = renode_available()
    if forced == "qemu":
        return BackendChoice(Resource(target, "qemu"), "--backend qemu")
    if forced == "renode":
        if not renode_installed:
            raise BoardError(RENODE_NOT_FOUND)
        return BackendChoice(Resource(target, "renode"), "--backend renode")

    lab_places = farm.lab.filter_for(target) if farm is not None and farm.lab is not None else None
    if forced == "labgrid" and lab_places is None:
        where = f"the farm file {farm.source}" if farm is not None else "no farm file was given (--farm)"
        raise BoardError(
            f"--backend labgrid: no labgrid place for {target}: {where} has no [labgrid] place for it"
        )
    if lab_places is not None and forced in (None, "labgrid"):
        return BackendChoice(
            Resource(target, "labgrid"),
            f"a labgrid place matching {lab_places.describe()} on coordinator {farm.lab.coordinator}",
        )
    boards = farm.boards_for(target) if farm is not None else []
    if forced == "pyocd" and not boards:
        where = f"the farm file {farm.source}" if farm is not None else "no farm file was given (--farm)"
        raise BoardError(f"--backend pyocd: no physical board for {target}: {where} lists none")
    if boards:
        if connected is None:
            connected = connected_probe_ids
        ids = list(connected() if callable(connected) else connected)
        present = [board for board in boards if board.probe in ids]
        if present:
            free = [b for b in present if ProbeLock(b.probe, lock_dir).is_free()]
            board = (free or present)[0]
            busy = "" if free else " (in use by another process: this run will wait for it)"
            return BackendChoice(board.resource(), f"{board.describe()} is connected{busy}")
        missing = "; ".join(f"{board.describe()} is not connected" for board in boards)
        message = f"{missing}; connected probes: {', '.join(ids) or 'none'}"
        if forced == "pyocd":
            raise BoardError(f"--backend pyocd: {message}")
        if farm.on_missing == "fail":
            raise BoardError(
                f'{message}. The farm file {farm.source} says on_missing = "fail"; connect the board (check its '
                'USB cable and `pyocd list`), or set on_missing = "fallback" to use an emulator instead'
            )
        fallback = "renode" if renode_installed else "qemu"
        return BackendChoice(Resource(target, fallback), f"{message}; falling back to {fallback}")
    if renode_installed:
        return BackendChoice(Resource(target, "renode"), f"no farm board for {target}; Renode is installed")
    return BackendChoice(Resource(target, "qemu"), f"no farm board for {target} and Renode is not installed")

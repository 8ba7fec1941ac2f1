# SPDX-License-Identifier: Apache-2.0
"""The ``[labgrid]`` part of a farm file: which labgrid coordinator, and which of its places a target
may run on. Parsing only (no labgrid import): a farm file is checked even where labgrid is not
installed, and the message says to install it (``pip install -e .[farm]``) only when it is used::

    [labgrid]
    coordinator = "lab-server:20408"   # the labgrid-coordinator (host:port; port 20408 when left out)
    priority = 0                       # reservation priority (labgrid: higher goes first)
    wait_s = 600                       # how long to wait for a free place before the point fails
    drivers = ["PyOCDDriver"]          # labgrid drivers that flash and reset a place (the default)
    driver_modules = []                # Python modules that register more drivers/resources with labgrid

    [[labgrid.place]]
    target = "stm32f746"               # a targets/<name>.toml
    tags = { board = "nucleo-f746zg" } # labgrid tags the place must have (the reservation's filter)
    # name = "f746-a"                  # or one place by name (labgrid's "name" filter)
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_PORT = 20408  # labgrid-coordinator's own default
DEFAULT_WAIT_S = 600.0
DEFAULT_DRIVERS = ("PyOCDDriver",)
LAB_FIELDS = ("coordinator", "priority", "wait_s", "drivers", "driver_modules", "place")
PLACE_FIELDS = ("target", "tags", "name")
# labgrid's rule for tag keys (labgrid.remote.common.TAG_KEY); a value is one word ("key=value" on its CLI)
TAG_KEY = re.compile(r"[a-z][a-z0-9_]+")
TAG_VALUE = re.compile(r"[^\s=]+")


class LabSpecError(ValueError):
    """A [labgrid] section that cannot be used; the message names the file and the field."""


@dataclass(frozen=True)
class PlaceFilter:
    """The places one target may run on: every place whose labgrid tags include ``tags``."""

    target: str
    tags: tuple[tuple[str, str], ...]  # sorted (key, value) pairs; ("name", place) selects one place

    @property
    def filters(self) -> dict[str, str]:
        return dict(self.tags)

    def describe(self) -> str:
        return " ".join(f"{k}={v}" for k, v in self.tags)

    def matches(self, place_name: str, place_tags: dict[str, str]) -> bool:
        have = {**place_tags, "name": place_name}
        return all(have.get(k) == v for k, v in self.tags)


@dataclass(frozen=True)
class LabSpec:
    coordinator: str  # host:port
    places: tuple[PlaceFilter, ...]
    priority: int = 0
    wait_s: float = DEFAULT_WAIT_S
    drivers: tuple[str, ...] = DEFAULT_DRIVERS
    driver_modules: tuple[str, ...] = ()
    source: Path | None = field(default=None, compare=False)

    def filter_for(self, target: str) -> PlaceFilter | None:
        return next((p for p in self.places if p.target == target), None)


def parse_lab(table, path: Path) -> LabSpec:
    where = f"farm file {path}: [labgrid]"
    _check_table(table, where, LAB_FIELDS)
    coordinator = table.get("coordinator")
    if not isinstance(coordinator, str) or not coordinator.strip():
        raise LabSpecError(f"{where}: 'coordinator' is missing: the labgrid-coordinator's host:port")
    coordinator = coordinator.strip()
    if ":" not in coordinator:
        coordinator = f"{coordinator}:{DEFAULT_PORT}"
    priority = table.get("priority", 0)
    if not isinstance(priority, int) or isinstance(priority, bool):
        raise LabSpecError(f"{where}: 'priority' must be an integer (got {priority!r})")
    wait_s = table.get("wait_s", DEFAULT_WAIT_S)
    if not isinstance(wait_s, int | float) or isinstance(wait_s, bool) or wait_s <= 0:
        raise LabSpecError(f"{where}: 'wait_s' must be a positive number of seconds (got {wait_s!r})")
    drivers = _names(table.get("drivers", list(DEFAULT_DRIVERS)), f"{where}: 'drivers'")
    modules = _names(table.get("driver_modules", []), f"{where}: 'driver_modules'")
    entries = table.get("place", [])
    if not isinstance(entries, list) or not entries:
        raise LabSpecError(f"{where}: list the places as [[labgrid.place]] tables (target and tags or name)")
    places = tuple(_place(entry, number, path) for number, entry in enumerate(entries, start=1))
    seen = set()
    for place in places:
        if place.target in seen:
            raise LabSpecError(
                f"{where}: two [[labgrid.place]] entries for target {place.target!r}; give one, with tags "
                "that every place of that target has"
            )
        seen.add(place.target)
    return LabSpec(coordinator, places, priority, float(wait_s), drivers, modules, path)


def _check_table(table, where: str, known: tuple[str, ...]) -> None:
    if not isinstance(table, dict):
        raise LabSpecError(f"{where} must be a table")
    unknown = sorted(set(table) - set(known))
    if unknown:
        raise LabSpecError(f"{where}: unknown field(s) {', '.join(unknown)}; it knows {', '.join(known)}")


def _names(value, what: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise LabSpecError(f"{what} must be a list of names")
    return tuple(value)


def _place(entry, number: int, path: Path) -> PlaceFilter:
    where = f"farm file {path}: [[labgrid.place]] entry {number}"
    _check_table(entry, where, PLACE_FIELDS)
    target = entry.get("target")
    if not isinstance(target, str) or not target:
        raise LabSpecError(f"{where}: 'target' is missing (a targets/<name>.toml)")
    from harness.firmware.targets import TargetError, load_target

    try:
        load_target(target)
    except TargetError as err:
        raise LabSpecError(f"{where}: 'target' names no usable target: {err}") from None
    tags = entry.get("tags", {})
    if not isinstance(tags, dict):
        raise LabSpecError(f"{where}: 'tags' must be a table, e.g. tags = {{ board = \"nucleo-f746zg\" }}")
    pairs = {}
    for key, value in tags.items():
        if not isinstance(value, str) or not TAG_KEY.fullmatch(key) or not TAG_VALUE.fullmatch(value):
            raise LabSpecError(
                f"{where}: tag {key}={value!r} is not a labgrid tag (keys [a-z][a-z0-9_]+, values one word)"
            )
        pairs[key] = value
    name = entry.get("name")
    if name is not None:
        if not isinstance(name, str) or not name:
            raise LabSpecError(f"{where}: 'name' must be a place name")
        pairs["name"] = name
    if not pairs:
        raise LabSpecError(f"{where}: give 'tags' or 'name': which places may run {target}")
    return PlaceFilter(target, tuple(sorted(pairs.items())))

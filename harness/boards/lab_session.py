# SPDX-License-Identifier: Apache-2.0
"""A session with a labgrid coordinator: reserve places, lock them, and release them reliably.

labgrid does the scheduling (patchbench has none of its own): a reservation names the tags a place
must have and a priority; the coordinator allocates a free matching place to it, oldest and highest
priority first, and the holder of the reservation locks ("acquires") that place. A lock never expires
in labgrid, so ``LabSession`` releases what it locked on every way out: ``close()`` (the pytest
fixture's teardown, which also runs on a failure and on Ctrl-C), SIGTERM (turned into the same
KeyboardInterrupt as Ctrl-C while places are held) and, as a last resort, ``atexit``. A process killed
with SIGKILL cannot release anything: ``patchbench farm release`` releases what this user on this host
left locked.

A place that went away (its exporter gone, or someone else took or released it) is kept reserved by
this session until it ends, so the coordinator allocates another one to the next reservation instead
of the dead place again.
"""

from __future__ import annotations

import atexit
import os
import signal
import threading
import time
from dataclasses import dataclass, field

from labgrid.remote.client import ServerError, start_session
from labgrid.remote.common import Reservation, ReservationState
from labgrid.remote.generated import labgrid_coordinator_pb2 as pb2
from labgrid.resource.remote import RemotePlaceManager

from harness.boards.base import BoardError
from harness.boards.lab_spec import LabSpec, PlaceFilter

POLL_S = 0.5  # how often a waiting reservation is polled (each poll also keeps it from expiring)


class LabError(BoardError):
    """The lab cannot give a place: coordinator unreachable, no such place, none free in time."""


@dataclass
class LockedPlace:
    name: str
    token: str  # the reservation it was allocated to
    exporters: tuple[str, ...] = ()  # the exporters whose resources the place has

    def describe(self) -> str:
        on = f" on exporter {', '.join(self.exporters)}" if self.exporters else ""
        return f"labgrid place {self.name}{on}"


@dataclass
class LabSession:
    spec: LabSpec
    locked: dict[str, LockedPlace] = field(default_factory=dict)
    _kept_reservations: list[str] = field(default_factory=list)  # reservations holding lost places
    _session: object = None
    _previous_sigterm: object = None

    # --- the connection -----------------------------------------------------------------------------

    def connect(self) -> LabSession:
        if self._session is None:
            try:
                self._session = start_session(self.spec.coordinator)
            except (ServerError, ConnectionError, OSError) as err:
                raise LabError(
                    f"cannot reach the labgrid coordinator {self.spec.coordinator} named in {self.spec.source} "
                    f"({err}); is labgrid-coordinator running there, and is the address host:port right?"
                ) from None
            atexit.register(self.close)
        return self

    def share_with_remote_places(self) -> None:
        """labgrid's ``RemotePlace`` resources talk to the coordinator through one process-wide manager;
        it uses this session's connection instead of opening a second one to the same coordinator."""
        manager = RemotePlaceManager.get()
        if manager.session is None:
            manager.session, manager.loop = self._session, self._session.loop

    def _unshare(self, session) -> None:
        manager = RemotePlaceManager.get()
        if manager.session is session:
            manager.session = manager.loop = None

    @property
    def user(self) -> str:
        """How the coordinator names this client's locks: host/user."""
        return f"{self._session.gethostname()}/{self._session.getuser()}"

    def _run(self, coroutine):
        return self._session.loop.run_until_complete(coroutine)

    def _call(self, method: str, request):
        import grpc

        try:
            return self._run(getattr(self._session.stub, method)(request))
        except grpc.aio.AioRpcError as err:
            raise LabError(
                f"labgrid coordinator {self.spec.coordinator}: {method} failed: {err.details()}"
            ) from None

    def refresh(self) -> None:
        """Take in the coordinator's latest view of places and resources."""
        self._run(self._session.sync_with_coordinator())

    @property
    def places(self) -> dict:
        return self._session.places

    # --- checks up front -----------------------------------------------------------------------------

    def check(self) -> None:
        """Every [[labgrid.place]] filter matches at least one place: else a LabError naming what exists."""
        self.connect()
        for place_filter in self.spec.places:
            if not self.matching(place_filter):
                known = "; ".join(
                    f"{name} ({' '.join(f'{k}={v}' for k, v in sorted(place.tags.items())) or 'no tags'})"
                    for name, place in sorted(self.places.items())
                )
                raise LabError(
                    f"no place on labgrid coordinator {self.spec.coordinator} matches {place_filter.describe()} "
                    f"(target {place_filter.target}, farm file {self.spec.source}); places there: "
                    f"{known or 'none'}. Fix the tags in the farm file, or tag a place with `labgrid-client -p "
                    f"PLACE set-tags {place_filter.describe()}`"
                )

    def matching(self, place_filter: PlaceFilter) -> list[str]:
        return sorted(name for name, p in self.places.items() if place_filter.matches(name, p.tags))

    # --- reserve and lock ----------------------------------------------------------------------------

    def acquire(self, place_filter: PlaceFilter, avoid: set[str] | None = None) -> LockedPlace:
        """Reserve a place matching ``place_filter`` (waiting up to the farm's wait_s), then lock it."""
        self.connect()
        self.keep_alive()
        avoid = avoid or set()
        deadline = time.monotonic() + self.spec.wait_s
        while True:
            token, name = self._reserve(place_filter, deadline)
            if name not in avoid:
                break
            self._kept_reservations.append(token)  # hold the lost place so that it is not allocated again
        self._protect_from_sigterm()
        try:
            self._call("AcquirePlace", pb2.AcquirePlaceRequest(placename=name))
        except BaseException:
            self._cancel(token)  # e.g. someone locked it by hand between allocation and lock
            raise
        self.refresh()
        place = self.places[name]
        exporters = tuple(sorted({path[0] for path in place.acquired_resources}))
        locked = LockedPlace(name, token, exporters)
        self.locked[name] = locked
        return locked

    def _reserve(self, place_filter: PlaceFilter, deadline: float) -> tuple[str, str]:
        request = pb2.CreateReservationRequest(
            filters={"main": pb2.Reservation.Filter(filter=place_filter.filters)}, prio=self.spec.priority
        )
        reservation = Reservation.from_pb2(self._call("CreateReservation", request).reservation)
        token = reservation.token
        try:
            while reservation.state is ReservationState.waiting:
                if time.monotonic() >= deadline:
                    raise LabError(self._nothing_free(place_filter))
                time.sleep(POLL_S)
                response = self._call("PollReservation", pb2.PollReservationRequest(token=token))
                reservation = Reservation.from_pb2(response.reservation)
            if reservation.state is not ReservationState.allocated:
                raise LabError(
                    f"labgrid reservation {token} for {place_filter.describe()} ended as "
                    f"{reservation.state.name} instead of allocated"
                )
        except BaseException:
            self._cancel(token)
            raise
        return token, reservation.allocations["main"][0]

    def _nothing_free(self, place_filter: PlaceFilter) -> str:
        self.refresh()
        busy = [
            f"{name} ({'locked by ' + self.places[name].acquired if self.places[name].acquired else 'reserved'})"
            for name in self.matching(place_filter)
        ]
        return (
            f"no labgrid place matching {place_filter.describe()} became free within {self.spec.wait_s:g} s "
            f"(coordinator {self.spec.coordinator}): {', '.join(busy) or 'none'}. Raise wait_s in the farm "
            "file, run fewer pytest-xdist workers than places, or see `labgrid-client who`"
        )

    # --- release -------------------------------------------------------------------------------------

    def release(self, name: str, keep_reserved: bool = False) -> None:
        """Unlock ``name`` (if it is still ours) and end its reservation; ``keep_reserved`` holds it reserved
        until close() so that this session is not given it again (a place that went away)."""
        locked = self.locked.pop(name, None)
        if locked is None:
            return
        try:
            self._call("ReleasePlace", pb2.ReleasePlaceRequest(placename=name, fromuser=self.user))
        finally:
            if keep_reserved:
                self._kept_reservations.append(locked.token)
            else:
                self._cancel(locked.token)

    def keep_alive(self) -> None:
        """Poll the reservations that hold lost places: labgrid expires an unpolled one after 60 s, and the
        dead place would then be allocated again."""
        for token in self._kept_reservations:
            try:
                self._call("PollReservation", pb2.PollReservationRequest(token=token))
            except LabError:
                pass  # gone: the coordinator restarted, or it expired between two polls

    def _cancel(self, token: str) -> None:
        try:
            self._call("CancelReservation", pb2.CancelReservationRequest(token=token))
        except LabError:
            pass  # already expired or cancelled: nothing is held by it

    def close(self) -> None:
        """Release every place and reservation of this session; safe to call more than once."""
        if self._session is None:
            return
        errors = []
        for name in list(self.locked):
            try:
                self.release(name)
            except LabError as err:
                errors.append(str(err))
        for token in self._kept_reservations:
            self._cancel(token)
        self._kept_reservations.clear()
        self._restore_sigterm()
        session, self._session = self._session, None
        self._unshare(session)
        try:
            session.loop.run_until_complete(session.stop())
            session.loop.run_until_complete(session.close())
        except Exception:  # the coordinator may be gone: the locks went with it
            pass
        atexit.unregister(self.close)
        if errors:
            raise LabError("; ".join(errors))

    def _protect_from_sigterm(self) -> None:
        """While places are locked, SIGTERM ends the process like Ctrl-C does: with teardown, so they are
        released. Only a default handler is replaced, and only from the main thread."""
        if self._previous_sigterm is not None or threading.current_thread() is not threading.main_thread():
            return
        if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
            return
        self._previous_sigterm = signal.signal(signal.SIGTERM, _sigterm_as_interrupt)

    def _restore_sigterm(self) -> None:
        if self._previous_sigterm is not None and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, self._previous_sigterm)
            self._previous_sigterm = None


def _sigterm_as_interrupt(signum, frame) -> None:
    raise KeyboardInterrupt(f"SIGTERM (pid {os.getpid()})")


def release_leftovers(spec: LabSpec, places: list[str] | None = None) -> list[str]:
    """Release the places this user on this host holds locked (all, or those named); their names."""
    session = LabSession(spec).connect()
    try:
        session.refresh()
        mine = sorted(
            name
            for name, place in session.places.items()
            if place.acquired == session.user and (not places or name in places)
        )
        for name in mine:
            session._call("ReleasePlace", pb2.ReleasePlaceRequest(placename=name, fromuser=session.user))
        return mine
    finally:
        session.close()

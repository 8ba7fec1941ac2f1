# SPDX-License-Identifier: Apache-2.0
"""The boards of one session, one per target: opened on first use, kept open, closed at the end.

Which backend a target runs on is ``harness.boards.farm.choose_backend``'s decision (a labgrid place,
a connected farm board, else Renode when installed, else QEMU; ``--backend`` forces one); the
explanation is kept so a report and a failing test can say why a point ran where it did.

A labgrid place is reserved and locked on first use and held until ``close``; one that went away
mid-run is released (and kept reserved, so it is not handed out again) and the next point of its
target locks another place.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace

from harness.boards import Board, open_board
from harness.boards.farm import BackendChoice, Farm, choose_backend
from harness.boards.registry import backend as backend_spec


class FarmFallback(UserWarning):
    """A farm board for the target is not connected, so the target runs on an emulator."""


@dataclass
class PooledBoard:
    board: Board
    choice: BackendChoice

    @property
    def backend(self) -> str:
        return self.choice.resource.backend


class BoardPool:
    def __init__(self, forced_backend: str | None = None, farm: Farm | None = None):
        self.forced_backend = forced_backend
        self.farm = farm
        self._boards: dict[str, PooledBoard] = {}
        self._lab = None  # the labgrid session, opened when a target first runs on a place
        self._lost_places: set[str] = set()

    def get(self, target: str) -> PooledBoard:
        pooled = self._boards.get(target)
        if self._lab is not None:
            self._lab.keep_alive()
        if pooled is not None and getattr(pooled.board, "lost", False):
            self._drop_lost(target, pooled)
            pooled = None
        if pooled is None:
            choice = choose_backend(target, self.farm, self.forced_backend)
            spec = backend_spec(choice.resource.backend)
            if self.farm is not None and self.farm.boards_for(target) and spec.is_emulator:
                # The user asked for a physical board and gets an emulator: say so in the test summary.
                warnings.warn(FarmFallback(f"{target}: {choice.explanation}"), stacklevel=2)
            if spec.name == "labgrid":  # a place is locked through the session's labgrid lab
                board = self._lab_board(choice)
            else:
                board = open_board(choice.resource)
            self._boards[target] = PooledBoard(board, choice)
        return self._boards[target]

    def wanted_backend(self, target: str) -> str:
        """The backend a target was meant to run on when no board could be had (for its error row): the
        forced one, else a farm's physical board or labgrid place, else the emulator's."""
        if self.forced_backend not in (None, "auto"):
            return self.forced_backend
        if (
            self.farm is not None
            and self.farm.lab is not None
            and self.farm.lab.filter_for(target) is not None
        ):
            return "labgrid"
        if self.farm is not None and self.farm.boards_for(target):
            return "pyocd"
        return "qemu"

    def _lab_board(self, choice: BackendChoice) -> Board:
        from harness.boards.lab_session import LabError, LabSession

        if self._lab is None:
            self._lab = LabSession(self.farm.lab).connect()
        place = self._lab.acquire(self.farm.lab.filter_for(choice.resource.target), avoid=self._lost_places)
        try:
            # The place's name is the point's "place" (part of its identity in the results).
            return open_board(replace(choice.resource, name=place.name), lab=self._lab, place=place)
        except LabError:  # the place cannot be used (no console, its exporter gone): not again this session
            self._lost_places.add(place.name)
            self._lab.release(place.name, keep_reserved=True)
            raise
        except BaseException:
            self._lab.release(place.name)
            raise

    def _drop_lost(self, target: str, pooled: PooledBoard) -> None:
        del self._boards[target]
        place = pooled.board.place.name
        self._lost_places.add(place)
        try:
            pooled.board.close()
        finally:
            self._lab.release(place, keep_reserved=True)

    def close(self) -> None:
        try:
            for pooled in self._boards.values():
                pooled.board.close()
        finally:
            self._boards.clear()
            if self._lab is not None:
                lab, self._lab = self._lab, None
                lab.close()

    def __enter__(self) -> BoardPool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

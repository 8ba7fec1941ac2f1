"""The boards of one session, one per target: opened on first use, kept open, closed at the end.

Which backend a target runs on is ``harness.boards.farm.choose_backend``'s decision (a connected farm
board, else Renode when installed, else QEMU; ``--backend`` forces one); the explanation is kept so
a report and a failing test can say why a point ran where it did.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

from harness.boards import Board, open_board
from harness.boards.farm import BackendChoice, Farm, choose_backend


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

    def get(self, target: str) -> PooledBoard:
        if target not in self._boards:
            choice = choose_backend(target, self.farm, self.forced_backend)
            if self.farm is not None and self.farm.boards_for(target) and choice.resource.backend != "pyocd":
                # The user asked for a physical board and gets an emulator: say so in the test summary.
                warnings.warn(FarmFallback(f"{target}: {choice.explanation}"), stacklevel=2)
            self._boards[target] = PooledBoard(open_board(choice.resource), choice)
        return self._boards[target]

    def close(self) -> None:
        for pooled in self._boards.values():
            pooled.board.close()
        self._boards.clear()

    def __enter__(self) -> BoardPool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

# SPDX-License-Identifier: Apache-2.0
"""The report's logs: each point's console log copied beside the page and linked relatively."""

from __future__ import annotations

import shutil
from pathlib import Path

from harness.paths import BUILD_DIR, REPO_ROOT
from harness.report.cells import NA, Cell, slug
from harness.results.record import identity_of, point_label


class LogPublisher:
    """Copies each point's log beside the page (logs-<run>/<point>.log) and links it relatively.

    Only a ``.log`` file inside the build folder (or the ``logs`` folder beside the database) is copied,
    symlinks resolved: the report folder is what CI uploads, and a planted or foreign database must not
    pull any other readable file (``/etc/passwd``, a key) into it."""

    def __init__(self, out_dir: Path, run_id: str, db_path: Path):
        self.folder_name = f"logs-{slug(run_id)}"
        self.folder = out_dir / self.folder_name
        self.search = [Path.cwd(), db_path.resolve().parent, REPO_ROOT]
        self.allowed = [BUILD_DIR.resolve(), db_path.resolve().parent / "logs"]
        self._done: dict[str, Cell] = {}

    def cell(self, r: dict) -> Cell:
        if not r["log_path"]:
            return NA
        key = point_label(identity_of(r))
        if key not in self._done:
            self._done[key] = self._publish(Path(r["log_path"]), slug(key))
        return self._done[key]

    def _publish(self, source: Path, name: str) -> Cell:
        found = (
            source
            if source.is_absolute()
            else next((d / source for d in self.search if (d / source).is_file()), source)
        )
        if not found.is_file():
            return Cell("log missing", css="na", note=f"{source} no longer exists")
        real = found.resolve()
        if real.suffix != ".log" or not any(real.is_relative_to(root) for root in self.allowed):
            return Cell(
                "log not copied", css="na",
                note=f"{source} is not a .log file inside {BUILD_DIR} (or a logs folder beside the database)",
            )  # fmt: skip
        self.folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(real, self.folder / f"{name}.log")
        return Cell("log", note=str(source), href=f"{self.folder_name}/{name}.log")

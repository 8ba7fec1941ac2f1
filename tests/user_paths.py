# SPDX-License-Identifier: Apache-2.0
"""The user's results paths (the main job's database and report folder) as a comparable snapshot."""

from __future__ import annotations

import hashlib
from pathlib import Path

from harness.paths import BUILD_DIR

USER_RESULTS = BUILD_DIR / "results.sqlite"
USER_REPORT = BUILD_DIR / "report"


def snapshot(database: Path = USER_RESULTS, report: Path = USER_REPORT) -> dict[str, str]:
    """Every file of the database (with its -wal: the -shm index changes when a reader opens it) and of the
    report folder, by content hash."""
    files = [database.with_name(database.name + suffix) for suffix in ("", "-wal", "-journal")]
    files += sorted(report.rglob("*")) if report.is_dir() else []
    return {str(path): hashlib.sha256(path.read_bytes()).hexdigest() for path in files if path.is_file()}

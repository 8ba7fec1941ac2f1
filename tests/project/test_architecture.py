# SPDX-License-Identifier: Apache-2.0
"""The package layering of docs/architecture.md holds: import-linter's contracts (pyproject.toml) pass.

A module that imports from a layer above its own, or two modules of a package that import each
other, fail here, in CI, not in review.
"""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness.paths import REPO_ROOT


def _lint_imports() -> str:
    found = shutil.which("lint-imports") or str(Path(sys.executable).with_name("lint-imports"))
    if not Path(found).exists():
        pytest.fail("lint-imports (PyPI import-linter) is not installed; run ./run.sh setup")
    return found


def test_imports_follow_the_data_flow():
    done = subprocess.run(
        [_lint_imports(), "--config", str(REPO_ROOT / "pyproject.toml")],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout

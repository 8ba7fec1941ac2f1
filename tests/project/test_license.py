# SPDX-License-Identifier: Apache-2.0
"""The project's license is stated where tools and people look: LICENSE (Apache-2.0) at the top level,
pyproject's license field, and an SPDX line at the top of every .py, .c, .h, .j2 and .toml file of the
repository. A folder with its own license file (the QEMU plugin's COPYING: GPL-2.0-or-later) keeps its own
identifier in its files."""

from __future__ import annotations

import subprocess
import tomllib
from pathlib import Path

from harness.paths import REPO_ROOT

SUFFIXES = (".py", ".c", ".h", ".j2", ".toml")
APACHE = "SPDX-License-Identifier: Apache-2.0"
HOW = {".py": f"# {APACHE}", ".toml": f"# {APACHE}", ".c": f"/* {APACHE} */", ".h": f"/* {APACHE} */",
       ".j2": "{#- " + APACHE + " -#}"}  # fmt: skip


def _source_files() -> list[Path]:
    """The files of the repository (tracked, and new ones not ignored)."""
    done = subprocess.run(["git", "-C", str(REPO_ROOT), "ls-files", "-co", "--exclude-standard"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    return [REPO_ROOT / name for name in done.stdout.splitlines() if name.endswith(SUFFIXES)]


def _own_license(path: Path) -> bool:
    return any((folder / name).is_file() for folder in path.parents if REPO_ROOT in folder.parents
               for name in ("COPYING", "LICENSE"))  # fmt: skip


def _spdx(path: Path) -> str | None:
    head = path.read_text(errors="replace").splitlines()[:3]
    return next((line for line in head if "SPDX-License-Identifier:" in line), None)


def test_the_license_file_and_the_package_metadata_say_apache_2():
    assert (REPO_ROOT / "LICENSE").read_text().split()[:4] == ["Apache", "License", "Version", "2.0,"]
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "Apache-2.0" and project["license-files"] == ["LICENSE"]


def test_every_source_file_has_an_spdx_line():
    files = _source_files()
    assert len(files) > 200  # the listing works (git is there)
    missing = [path for path in files if not _own_license(path) and APACHE not in (_spdx(path) or "")]
    assert not missing, "no SPDX line in the first 3 lines of: " + ", ".join(
        f"{p.relative_to(REPO_ROOT)} (add: {HOW[p.suffix]})" for p in missing
    )


def test_a_folder_with_its_own_license_keeps_its_identifier():
    own = [path for path in _source_files() if _own_license(path)]
    assert own, "the GPL QEMU plugin's folder (harness/boards/qemu-timing-plugin/) is expected"
    for path in own:
        line = _spdx(path)
        assert line is not None and APACHE not in line, f"{path.relative_to(REPO_ROOT)}: {line}"

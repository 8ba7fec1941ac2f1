# SPDX-License-Identifier: Apache-2.0
"""The tests mirror the packages: a test file sits in the folder of the package it is about
(``tests/schedule/`` for ``harness/schedule/``, ``tests/pytest_plugin/`` for ``harness/pytest_plugin.py``,
``tests/models/`` for ``models/``), each folder below that naming a subpackage or module of it; tests of
the project as a whole (the layering, the license, the docs) are in ``tests/project/``. A test file at the
top of ``tests/`` or in a folder that names no package fails here, so the layout cannot drift. The
shared helpers (``tests/machine.py``, ``tests/codegen_graphs.py``, ...) and ``tests/fixtures/`` stay at
the top: they are no test files."""

from __future__ import annotations

from pathlib import Path

from harness.paths import REPO_ROOT

TESTS = REPO_ROOT / "tests"
# The packages tests mirror: patchbench's own (``harness.<package>``) and the repository's models.
ROOTS = {"models": REPO_ROOT / "models"}
# Tests of the whole project (architecture, license, docs drift, the test machinery, bad inputs layer by
# layer): the one folder that names no package.
PROJECT = "project"


def _test_files() -> list[Path]:
    """What pytest collects as test modules (its default python_files: test_*.py and *_test.py)."""
    return sorted(
        p
        for p in TESTS.rglob("*.py")
        if (p.name.startswith("test_") or p.name.endswith("_test.py")) and "__pycache__" not in p.parts
    )


def _mirrors_a_package(folders: tuple[str, ...]) -> bool:
    """tests/<a>/<b>/... names harness/<a>/<b> (a package or a module), models/<b>/..., or project/."""
    if folders[0] == PROJECT:
        return len(folders) == 1
    place = ROOTS.get(folders[0], REPO_ROOT / "harness" / folders[0])
    for folder in folders[1:]:
        place = place / folder
    return place.is_dir() or place.with_suffix(".py").is_file()


def test_every_test_file_sits_in_the_folder_of_its_package():
    misplaced = []
    for path in _test_files():
        folders = path.relative_to(TESTS).parts[:-1]
        if not folders:
            misplaced.append(f"{path.relative_to(REPO_ROOT)}: at the top of tests/")
        elif not _mirrors_a_package(folders):
            misplaced.append(f"{path.relative_to(REPO_ROOT)}: tests/{'/'.join(folders)}/ names no package")
    assert not misplaced, (
        f"test files outside the layout {misplaced}: move each (git mv) into tests/<package>/ of the package "
        f"it is about (harness/<package>/, or models/), or tests/{PROJECT}/ for the project as a whole"
    )


def test_no_two_test_files_share_a_name():
    """The test folders are no packages (pytest imports a test file by its name, its folder on sys.path:
    tests/conftest.py): two files of one name in two folders would stop the collection."""
    by_name: dict[str, list[str]] = {}
    for path in _test_files():
        by_name.setdefault(path.name, []).append(str(path.relative_to(REPO_ROOT)))
    shared = {name: paths for name, paths in by_name.items() if len(paths) > 1}
    assert not shared, f"test files of the same name {shared}: rename one (its name says what it tests)"


def test_the_check_finds_a_misplaced_file():
    assert _mirrors_a_package(("schedule",)) and _mirrors_a_package(("pytest_plugin",))
    assert _mirrors_a_package(("codegen", "kernels")) and _mirrors_a_package(("models",))
    assert _mirrors_a_package((PROJECT,))
    assert not _mirrors_a_package(("misc",)) and not _mirrors_a_package(("codegen", "misc"))
    assert not _mirrors_a_package((PROJECT, "ir"))

# SPDX-License-Identifier: Apache-2.0
"""The cached static library step (harness/firmware/library.py): built once per key, a broken entry
rebuilt, two processes building the same entry at once leave one good entry."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from machine import needs

from harness.firmware.library import LibraryError, LibrarySpec, LibraryUnit, build_library, library_key
from harness.firmware.targets import load_target

pytestmark = needs("arm-none-eabi-gcc")


def _write(path: Path, text: str) -> None:
    """Only a change is written: the processes of the two-process test call _spec on files another may be
    hashing for the key at that moment (a rewrite truncates first: that process saw another library)."""
    if not path.is_file() or path.read_text() != text:
        path.write_text(text)


def _spec(folder: Path, body: str = "return x + 1;") -> LibrarySpec:
    (folder / "src").mkdir(exist_ok=True)
    one = folder / "src" / "one.c"
    _write(one, f'#include "fix.h"\nint one(int x) {{ {body} }}\n')
    two = folder / "src" / "two.cc"
    _write(two, 'extern "C" int two(int x) { return x * FIX; }\n')
    flags = ("-O2", "-I{entry}/include")
    return LibrarySpec(
        name="toy",
        units=(
            LibraryUnit(one, ("-std=c11", *flags)),
            LibraryUnit(two, ("-std=c++17", *flags, "-include", "{entry}/include/fix.h")),
        ),  # fmt: skip
        generated={"include/fix.h": "#define FIX 2\n"},
        notes=("a toy library",),
    )


def test_built_once_then_taken_from_the_cache(tmp_path):
    spec = _spec(tmp_path)
    target = load_target("stm32f746")
    first = build_library(spec, target, build_root=tmp_path / "build")
    assert not first.cached and first.archive.is_file()
    assert first.entry.name == f"toy-{first.key}" and (first.entry / "include" / "fix.h").is_file()
    assert "a toy library" in (first.entry / "build.log").read_text()
    symbols = subprocess.run(["arm-none-eabi-nm", str(first.archive)], capture_output=True, text=True).stdout
    assert " T one" in symbols and " T two" in symbols
    again = build_library(spec, target, build_root=tmp_path / "build")
    assert again.cached and again.archive == first.archive
    # the core's flags and the sources are in the key
    assert build_library(spec, load_target("stm32f412"), build_root=tmp_path / "build").key != first.key
    before = library_key(spec, tuple(target.gcc_cpu_flags), "gcc")
    edited = _spec(tmp_path, body="return x + 2;")  # the same file, edited
    assert library_key(edited, tuple(target.gcc_cpu_flags), "gcc") != before


def test_a_damaged_or_partial_entry_is_rebuilt(tmp_path):
    spec = _spec(tmp_path)
    target = load_target("stm32f746")
    first = build_library(spec, target, build_root=tmp_path / "build")
    good = first.archive.read_bytes()
    first.archive.write_bytes(good[: len(good) // 2])  # truncated: its checksum no longer matches
    rebuilt = build_library(spec, target, build_root=tmp_path / "build")
    assert not rebuilt.cached and rebuilt.archive.read_bytes() == good
    (rebuilt.entry / "library.json").unlink()  # an entry without its record: partial
    assert not build_library(spec, target, build_root=tmp_path / "build").cached


def test_a_unit_that_does_not_compile_names_itself(tmp_path):
    spec = _spec(tmp_path, body="return y;")
    with pytest.raises(LibraryError, match=r"one\.c for library toy failed"):
        build_library(spec, load_target("stm32f746"), build_root=tmp_path / "build")
    assert not list((tmp_path / "build" / "libraries").glob("toy-*"))  # nothing half-built left as an entry


def test_two_processes_building_at_once_leave_one_good_entry(tmp_path):
    _spec(tmp_path)
    script = (
        "import sys; from pathlib import Path; sys.path[:0] = sys.argv[2:];"
        "from test_library_cache import _spec;"
        "from harness.firmware.library import build_library; from harness.firmware.targets import load_target;"
        "lib = build_library(_spec(Path(sys.argv[1])), load_target('stm32f746'), build_root=Path(sys.argv[1]) / 'build');"
        "print(lib.cached, lib.archive)"
    )
    here = Path(__file__).resolve()
    tests = [str(here.parent), str(here.parents[1])]  # test_library_cache, machine
    runs = [subprocess.Popen([sys.executable, "-c", script, str(tmp_path), *tests], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[2])
            for _ in range(2)]  # fmt: skip
    outputs = [run.communicate(timeout=120) for run in runs]
    assert all(run.returncode == 0 for run in runs), outputs
    cached = sorted(out.split()[0] for out, _ in outputs)
    assert cached == ["False", "True"]  # one built it, the other waited and took it
    entries = list((tmp_path / "build" / "libraries").glob("toy-*"))
    assert len(entries) == 1 and not list((tmp_path / "build" / "libraries").glob(".toy-*-*"))

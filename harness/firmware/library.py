# SPDX-License-Identifier: Apache-2.0
"""A static library compiled once and cached in the build folder, like firmware (an engine's runtime:
TensorFlow Lite Micro's interpreter and kernels).

``build_library(spec, target)`` compiles every unit of ``spec`` with the target's core flags into
``lib<name>.a`` under BUILD_DIR/libraries/<name>-<key>/ and returns it; the next call with the same key
finds it there. The key hashes everything that changes the archive: each unit's path, text and flags,
the text of every header under ``spec.header_dirs``, the files the spec writes into the entry
(``spec.generated``), the core flags and the compiler's version. So a library is compiled once per
(sources, flags, core, compiler), whichever firmware asks first.

The cache is safe for several processes (pytest-xdist workers): one builds an entry under its lock while
the others wait and then take it; an entry is built in a temporary folder and renamed into place whole;
an entry whose archive is missing or whose bytes no longer match the checksum recorded beside it is
moved aside and rebuilt, never used.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from harness.firmware.build import BuildError, cxx_compiler, toolchain_version
from harness.firmware.cache import entry_lock, new_entry
from harness.firmware.targets import Target
from harness.paths import BUILD_DIR

ENTRY_FILE = "library.json"
ENTRY_PLACEHOLDER = "{entry}"  # in a unit's flags: the entry's folder (where ``generated`` files are)
KEY_LENGTH = 16
MAX_JOBS = 2  # compile processes at once (the machines this runs on have two cores)


class LibraryError(BuildError):
    """A library unit did not compile; the message has the compiler's output and the command."""


@dataclass(frozen=True)
class LibraryUnit:
    source: Path  # a .c, .cc or .cpp file (C++ compiles with g++)
    flags: tuple[str, ...]  # its own flags: language, optimization, defines, include folders


@dataclass(frozen=True)
class LibrarySpec:
    name: str  # e.g. "tflm-cmsis-nn": the archive is lib<name>.a
    units: tuple[LibraryUnit, ...]
    header_dirs: tuple[Path, ...] = ()  # folders whose headers the units include (hashed into the key)
    # Files written into the entry before compiling (relative path -> text), e.g. a header a snapshot lacks;
    # units and firmware reach them through ENTRY_PLACEHOLDER in their flags.
    generated: Mapping[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()  # lines for the entry's build.log (fixes applied, what the list holds)


@dataclass(frozen=True)
class Library:
    name: str
    key: str  # the hash of everything it was compiled from (part of a firmware's identity)
    archive: Path
    entry: Path  # the cache folder: the archive, library.json, build.log and the generated files
    cached: bool

    def flags(self, flags: tuple[str, ...]) -> tuple[str, ...]:
        """``flags`` with ENTRY_PLACEHOLDER replaced by this entry's folder (for the firmware's units)."""
        return tuple(flag.replace(ENTRY_PLACEHOLDER, str(self.entry)) for flag in flags)


def build_library(spec: LibrarySpec, target: Target, *, gcc: str = "arm-none-eabi-gcc",
                  build_root: Path | None = None) -> Library:  # fmt: skip
    """The archive of ``spec`` for ``target``'s core, from the cache or compiled now (see the module doc)."""
    cpu_flags = tuple(target.gcc_cpu_flags)
    key = library_key(spec, cpu_flags, toolchain_version(gcc))
    root = (build_root or BUILD_DIR) / "libraries"
    entry = root / f"{spec.name}-{key}"
    found = _load(entry, spec.name, key)
    if found is not None:
        return found
    root.mkdir(parents=True, exist_ok=True)
    with entry_lock(root / f".{entry.name}.lock"):
        found = _load(entry, spec.name, key)
        if found is not None:
            return found
        with new_entry(entry) as work:  # a broken one (archive gone or changed) is rebuilt
            _compile(spec, cpu_flags, gcc, work, entry)
    return Library(spec.name, key, entry / f"lib{spec.name}.a", entry, cached=False)


def library_key(spec: LibrarySpec, cpu_flags: tuple[str, ...], compiler: str) -> str:
    digest = hashlib.sha256()

    def add(*parts: str) -> None:
        for part in parts:
            data = part.encode()
            digest.update(len(data).to_bytes(8, "little") + data)

    add("library", spec.name, "compiler", compiler, "cpu", *cpu_flags)
    for unit in spec.units:
        add("unit", str(unit.source), _file_digest(unit.source), *unit.flags)
    for folder in spec.header_dirs:
        add("headers", str(folder), _headers_digest(Path(folder)))
    for name in sorted(spec.generated):
        add("generated", name, spec.generated[name])
    return digest.hexdigest()[:KEY_LENGTH]


def _file_digest(path: Path) -> str:
    stat = Path(path).stat()
    return _bytes_digest(Path(path), stat.st_mtime_ns, stat.st_size)


@functools.cache
def _bytes_digest(path: Path, mtime_ns: int, size: int) -> str:
    """A file's sha256, read once per (path, mtime, size): a long session hashes each header once."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _headers_digest(folder: Path) -> str:
    """Every header under ``folder`` (name and bytes): a snapshot edited in place changes the key."""
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*.h")):
        digest.update(str(path.relative_to(folder)).encode() + b"\0" + _file_digest(path).encode())
    return digest.hexdigest()


def _compile(spec: LibrarySpec, cpu_flags: tuple[str, ...], gcc: str, work: Path, entry: Path) -> None:
    """Write the generated files, compile every unit (MAX_JOBS at once), archive them, record the checksum."""
    for name, text in spec.generated.items():
        path = work / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    (work / "obj").mkdir()
    commands = []
    for index, unit in enumerate(spec.units):
        compiler = cxx_compiler(gcc) if unit.source.suffix in (".cc", ".cpp") else gcc
        flags = [flag.replace(ENTRY_PLACEHOLDER, str(work)) for flag in unit.flags]
        obj = work / "obj" / f"{index:03d}_{unit.source.stem}.o"
        commands.append([compiler, *cpu_flags, *flags, "-c", str(unit.source), "-o", str(obj)])
    jobs = max(1, min(MAX_JOBS, os.cpu_count() or 1))
    done = []
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {pool.submit(subprocess.run, command, capture_output=True, text=True): command
                   for command in commands}  # fmt: skip
        for future in as_completed(futures):
            result = future.result()
            if result.returncode != 0:  # stop at the first error: the rest would only cost time
                for other in futures:
                    other.cancel()
                command = futures[future]
                raise LibraryError(
                    f"compiling {command[-3]} for library {spec.name} failed:\n{result.stderr.strip()}\n"
                    f"command: {' '.join(command)}"
                )
            done.append(result)
    archive = work / f"lib{spec.name}.a"
    objects = sorted(str(path) for path in (work / "obj").glob("*.o"))
    ar = gcc[: -len("gcc")] + "ar" if gcc.endswith("gcc") else "ar"
    result = subprocess.run([ar, "rcs", str(archive), *objects], capture_output=True, text=True)
    if result.returncode != 0:
        raise LibraryError(f"archiving library {spec.name} failed:\n{result.stderr.strip()}")
    shutil.rmtree(work / "obj")
    warnings = [r.stderr.strip() for r in done if r.stderr.strip()]
    log = [f"library {spec.name}: {len(spec.units)} units, {jobs} compile jobs", *spec.notes]
    log += [" ".join(command) for command in commands] + warnings
    (work / "build.log").write_text("\n".join(log).replace(str(work), str(entry)) + "\n")
    record = {"name": spec.name, "key": entry.name.rsplit("-", 1)[1], "units": len(spec.units),
              "archive_sha256": hashlib.sha256(archive.read_bytes()).hexdigest()}  # fmt: skip
    (work / ENTRY_FILE).write_text(json.dumps(record, indent=1))


def _load(entry: Path, name: str, key: str) -> Library | None:
    """The cached library in ``entry``, or None when there is none or it is broken."""
    try:
        record = json.loads((entry / ENTRY_FILE).read_text())
        archive = entry / f"lib{name}.a"
        if record.get("name") != name or record.get("key") != key:
            return None
        if hashlib.sha256(archive.read_bytes()).hexdigest() != record.get("archive_sha256"):
            return None
    except (OSError, ValueError, AttributeError):
        return None
    return Library(name, key, archive, entry, cached=True)


__all__ = ["ENTRY_PLACEHOLDER", "Library", "LibraryError", "LibrarySpec", "LibraryUnit", "build_library",
           "library_key"]  # fmt: skip

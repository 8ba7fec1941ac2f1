# SPDX-License-Identifier: Apache-2.0
"""Docs that cannot drift: docs/architecture.md names every module, and every path that a C file or a
Python string (a message, a docstring) names exists, as does every dotted name of a
harness module or function they name (``harness.ir.quant.quantize_multiplier``).

A module is named when the doc holds its path below the package root (``codegen/ops.py``) or, in the
data-flow picture, its file name on a line of its package (``harness/codegen/ ... ops.py``, the lines
that follow a package's first line up to the next package belong to it).
"""

from __future__ import annotations

import importlib
import io
import re
import tokenize
from pathlib import Path

from harness.paths import REPO_ROOT

DOC = REPO_ROOT / "docs" / "architecture.md"
PACKAGES = ("harness", "models")
# Top folders of the repository: a string naming a path below one of these names a file that must exist.
TOP_FOLDERS = (
    "harness",
    "models",
    "tests",
    "targets",
    "docs",
    "sweeps",
    "reports",
    "farms",
    "tools",
    "baselines",
)
PATH = re.compile(r"(?<![\w./<-])((?:[\w.-]+/)*[\w.-]+\.(?:py|c|h|toml|md|j2|ld|sh|ini))\b")
# headers of the toolchain (ACLE) and of the pinned CMSIS-NN (../shared/third_party), not of this repository
EXTERNAL = ("arm_acle.h", "arm_nnfunctions.h")
# names in a message that stand for a generated file or a placeholder, not a file of the repository
GENERATED = re.compile(r"(^|/)(model\.[ch]|model_weights\.h|pb_ops\.h|[\w.-]*\*[\w.-]*|x\.\w+)$")


def _modules() -> list[Path]:
    return sorted(
        p.relative_to(REPO_ROOT)
        for package in PACKAGES
        for p in (REPO_ROOT / package).rglob("*.py")
        if p.name != "__init__.py" and "__pycache__" not in p.parts
    )


def _package_blocks(doc: str) -> dict[str, str]:
    """Each package folder named in the doc (``harness/codegen/``) -> the doc's lines from it to the
    next folder named at the same column of the picture (or the next blank line)."""
    blocks: dict[str, list[str]] = {}
    current = None
    for line in doc.splitlines():
        found = re.search(r"\b((?:harness|models)/(?:\w+/)?)(?![\w.])", line)
        if found:
            current = found.group(1).rstrip("/")
        if not line.strip():
            current = None
        if current:
            blocks.setdefault(current, []).append(line)
    return {k: "\n".join(v) for k, v in blocks.items()}


def _named(module: Path, doc: str, blocks: dict[str, str]) -> bool:
    posix = module.as_posix()
    below_root = posix.split("/", 1)[1]
    if re.search(rf"(?<![\w/]){re.escape(posix)}\b|(?<![\w/]){re.escape(below_root)}\b", doc):
        return True
    package = module.parent.as_posix()
    return bool(re.search(rf"(?<![\w/]){re.escape(module.name)}\b", blocks.get(package, "")))


def test_every_module_appears_in_the_architecture_doc():
    doc = DOC.read_text()
    blocks = _package_blocks(doc)
    missing = [m.as_posix() for m in _modules() if not _named(m, doc, blocks)]
    assert not missing, (
        f"docs/architecture.md does not name these modules (add a line saying what each holds): {missing}"
    )


def _exists(name: str, beside: Path) -> bool:
    if GENERATED.search(name) or name in EXTERNAL:
        return True
    if "/" in name:
        return (REPO_ROOT / name).exists() or (beside / name).exists()
    return (
        (beside / name).exists() or any(REPO_ROOT.glob(f"harness/**/{name}")) or (REPO_ROOT / name).exists()
    )


def _c_files() -> list[Path]:
    return sorted(p for p in (REPO_ROOT / "harness").rglob("*") if p.suffix in (".c", ".h", ".j2"))


def _c_names(path: Path) -> list[str]:
    text = re.sub(r"#\s*include\s*<[^>]*>", "", path.read_text())  # system headers are not ours
    return PATH.findall(text)


def test_every_path_a_c_file_names_exists():
    broken = [
        f"{p.relative_to(REPO_ROOT)}: {name}"
        for p in _c_files()
        for name in _c_names(p)
        if not _exists(name, p.parent)
    ]
    assert not broken, f"C files name paths that do not exist: {broken}"


def _python_strings(path: Path) -> list[str]:
    tokens = tokenize.generate_tokens(io.StringIO(path.read_text()).readline)
    return [t.string for t in tokens if t.type == tokenize.STRING]


def test_every_repository_path_a_python_string_names_exists():
    broken = []
    for package in (*PACKAGES, "tests"):
        for path in sorted((REPO_ROOT / package).rglob("*.py")):
            for string in _python_strings(path):
                for name in PATH.findall(string):
                    if (
                        name.split("/", 1)[0] in TOP_FOLDERS
                        and "/" in name
                        and not _exists(name, path.parent)
                    ):
                        broken.append(f"{path.relative_to(REPO_ROOT)}: {name}")
    assert not broken, f"messages and docstrings name paths that do not exist: {broken}"


DOTTED = re.compile(r"(?<![\w.])(harness(?:\.\w+)+)")


def _resolves(dotted: str) -> bool:
    """``harness.codegen.kernels.mean_params``: the longest importable module, then attributes."""
    parts = dotted.split(".")
    for end in range(len(parts), 0, -1):
        try:
            target = importlib.import_module(".".join(parts[:end]))
        except ImportError:
            continue
        for attribute in parts[end:]:
            if not hasattr(target, attribute):
                return False
            target = getattr(target, attribute)
        return True
    return False


def test_every_harness_name_a_c_file_or_a_python_string_names_exists():
    texts = [(p, p.read_text()) for p in _c_files()]
    for package in (*PACKAGES, "tests"):
        texts += [(p, s) for p in sorted((REPO_ROOT / package).rglob("*.py")) for s in _python_strings(p)]
    broken = sorted(
        {
            f"{p.relative_to(REPO_ROOT)}: {name}"
            for p, text in texts
            for name in DOTTED.findall(text)
            if not _resolves(name)
        }
    )
    assert not broken, f"names of modules or functions that do not exist: {broken}"

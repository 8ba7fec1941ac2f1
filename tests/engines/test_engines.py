# SPDX-License-Identifier: Apache-2.0
"""The engine registry (harness/engines): one definition of engines and kernel sets, and no other part of
the harness that knows an engine or a kernel set by its name."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from harness.engines import DEFAULT_ENGINE, ENGINES, EngineError, get_engine, kernel_set_names
from harness.paths import REPO_ROOT
from harness.pipeline.sweep import SweepError, parse_kernel_sets

# The parts that reach engines only through the interface (harness/engines/__init__.py says so).
NAME_BLIND = (
    "harness/pipeline",
    "harness/pytest_plugin.py",
    "harness/cli/check.py",
    "harness/cli/commands.py",
    "harness/report",
    "harness/results/regression.py",
)


def _string_constants(path: Path) -> set[str]:
    """Every string literal of a module that is not a docstring (a test of a name is such a literal)."""
    tree = ast.parse(path.read_text())
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return {
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
    }


def _compared_constants(path: Path) -> set[str]:
    """The string literals a module compares with (==, !=, in, not in)."""
    return {
        side.value
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Compare)
        for side in ast.walk(node)
        if isinstance(side, ast.Constant) and isinstance(side.value, str)
    }


def test_no_part_outside_the_engines_names_an_engine_or_a_kernel_set():
    """No kernel set's name as a literal at all; no engine's name in a comparison (patchbench's engine
    shares the project's name, which labels pytest's option group and the charts). TFLite Micro's kernel
    set "reference" is an ordinary word too (the report's label of the row others are compared with): it
    is only flagged in a comparison."""
    ordinary_words = {"reference"}
    kernel_sets = set(kernel_set_names()) | {name.replace("-", "_") for name in kernel_set_names()}
    compared_names = set(ENGINES) | (kernel_sets & ordinary_words)
    kernel_sets -= ordinary_words
    files = [p for part in NAME_BLIND for p in sorted((REPO_ROOT / part).glob("**/*.py"))
             if p.is_file()] + [REPO_ROOT / part for part in NAME_BLIND if part.endswith(".py")]  # fmt: skip
    found = {
        f"{path.relative_to(REPO_ROOT)}: {literal!r}"
        for path in files
        for literal in (_string_constants(path) & kernel_sets) | (_compared_constants(path) & compared_names)
    }
    assert not found, "a name test outside harness/engines: " + ", ".join(sorted(found))


def test_every_engine_has_kernel_sets_with_unique_names():
    assert DEFAULT_ENGINE == next(iter(ENGINES))
    for name, engine in ENGINES.items():
        assert engine.name == name and engine.kernel_sets
        assert len(set(engine.kernel_set_names)) == len(engine.kernel_sets)
        assert engine.default_kernels == engine.kernel_sets[0].name
        for kernel_set in engine.kernel_sets:
            options = engine.options(kernel_set.name)
            assert engine.identity(options)["kernels"] == kernel_set.name


def test_an_engines_published_counterparts_are_columns_of_the_published_table():
    from harness.results.published import ENGINE_COLUMNS

    for engine in ENGINES.values():
        assert set(engine.published_as) <= set(engine.kernel_set_names)
        assert set(engine.published_as.values()) <= set(ENGINE_COLUMNS)


def test_the_sweep_and_the_options_take_the_registry_kernel_sets():
    assert parse_kernel_sets(",".join(kernel_set_names()), "--kernels") == list(kernel_set_names())
    for engine in ENGINES.values():
        assert parse_kernel_sets([f"{engine.name}:{engine.default_kernels}"], "--kernels")
    with pytest.raises(SweepError, match=r"'fastest'\] unknown; use a kernel set of an engine \(") as unknown:
        parse_kernel_sets("fastest", "--kernels")
    for engine in ENGINES.values():  # every engine's sets are named, under its name
        assert f"{engine.name}: {', '.join(engine.kernel_set_names)}" in str(unknown.value)
    with pytest.raises(SweepError, match="unknown"):
        parse_kernel_sets("nope:" + kernel_set_names()[0], "--kernels")


def test_an_unknown_engine_or_kernel_set_is_a_clear_error():
    with pytest.raises(EngineError, match="engine 'nope' unknown; use one of"):
        get_engine("nope")
    engine = get_engine()
    with pytest.raises(EngineError, match=f"engine {engine.name!r} has no kernel set 'fastest'"):
        engine.options("fastest")

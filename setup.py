# SPDX-License-Identifier: Apache-2.0
"""The wheel carries patchbench's data files (harness/paths.py DATA_FILES: board files, sweeps, report
templates, regression thresholds, the benchmark test) as ``harness/_data/``, so an installed patchbench
finds them without the repository. Everything else is in pyproject.toml."""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
# The same list as harness.paths.DATA_FILES (setup.py cannot import the package it builds).
DATA_FILES = ("targets", "sweeps", "reports", "regression.toml", "tests/pipeline/test_benchmark.py")


class BuildWithData(build_py):
    def run(self) -> None:
        super().run()
        if self.editable_mode:  # an editable install reads the repository's own files
            return
        data = Path(self.build_lib) / "harness" / "_data"
        for name in DATA_FILES:
            source, copy = ROOT / name, data / name
            copy.parent.mkdir(parents=True, exist_ok=True)
            if source.is_dir():
                shutil.copytree(
                    source, copy, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__")
                )
            else:
                shutil.copy2(source, copy)


setup(cmdclass={"build_py": BuildWithData})

# SPDX-License-Identifier: Apache-2.0
"""patchbench installs as a package and a pytest plugin.

A wheel is built from this tree (offline: ``pip wheel --no-build-isolation``) and installed into a fresh
venv (``python -m venv``; ``pip install --no-deps`` of the wheel). The venv gets patchbench's
dependencies from the environment running this test (a .pth line naming its site-packages: they are
not downloaded again) but not patchbench itself, whose only copy is the installed wheel. Then, in a
project folder outside the repository with its own model (a .tflite written here) and its own test file,
and with no conftest.py, no PYTHONPATH and no configuration file:

- ``patchbench --help`` runs and ``harness`` is the venv's copy;
- ``python -m pytest`` loads the plugin by its ``pytest11`` entry point (beside labgrid's plugin, which
  the venv sees too: the ``pb_target`` fixture and ``--pb-target`` option do not clash with its
  ``target``), takes the board file and the report templates from the installed package, and the
  project's test runs its model on the emulator through the plugin's fixtures, bit-exact;
- ``patchbench bench`` runs the same point through the benchmark test that comes with the package.

One schedule point on the emulator; the firmware cache is the test's own.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import pytest
from machine import needs

from harness.paths import REPO_ROOT, SHARED_DIR

pytestmark = [pytest.mark.emulator, pytest.mark.slow]

PROJECT_TEST = """
import pytest

pytestmark = pytest.mark.board


def test_my_model_runs_bit_exact(point, pb_target, device_run, record):
    record(device_run)
    assert pb_target.name == point.target == "stm32f412"
    assert device_run.status == "passed", device_run.reason
    assert device_run.exact and device_run.output == device_run.expected


def test_the_plugin_is_the_installed_one(request):
    manager = request.config.pluginmanager
    plugin = manager.get_plugin("harness.pytest_plugin")
    print("PLUGIN", plugin.__file__, "LABGRID", manager.has_plugin("labgrid"))
"""


def _source_files() -> list[str]:
    """The files of this tree a clone would have (tracked and new, not ignored)."""
    done = subprocess.run(["git", "-C", str(REPO_ROOT), "ls-files", "-co", "--exclude-standard"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    return [name for name in done.stdout.splitlines() if (REPO_ROOT / name).is_file()]


def _run(
    command: list[str], cwd: Path, env: dict[str, str], timeout: float = 300
) -> subprocess.CompletedProcess:
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, (
        f"{' '.join(command)} failed ({done.returncode}):\n{done.stdout[-4000:]}\n{done.stderr[-3000:]}"
    )
    return done


@pytest.fixture(scope="module")
def venv(tmp_path_factory) -> Path:
    """A fresh venv with the wheel of this tree installed."""
    root = tmp_path_factory.mktemp("installed")
    source = root / "source"  # building writes build/ and *.egg-info into the tree: a copy takes them
    for name in _source_files():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO_ROOT / name, source / name)
    env = {**os.environ}
    env.pop("PYTHONPATH", None)
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-index", "--no-deps", "--no-build-isolation",
          "-w", str(root / "wheels"), str(source)], root, env)  # fmt: skip
    (wheel,) = (root / "wheels").glob("patchbench-*.whl")
    venv = root / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], root, env)
    python = venv / "bin" / "python"
    _run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-index", "--no-deps",
          str(wheel)], root, env)  # fmt: skip
    site = Path(
        _run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], root, env
        ).stdout.strip()
    )
    (site / "patchbench-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return venv


@pytest.fixture
def project(tmp_path) -> Path:
    """A project of one's own: its model and its test file, nothing of patchbench's."""
    from harness.frontend.writer import save_tflite
    from models.synthetic import LayerSpec, build_stack

    folder = tmp_path / "my-project"
    folder.mkdir()
    graph = build_stack([LayerSpec("conv", channels=16), LayerSpec("depthwise"), LayerSpec("conv", channels=8)],
                        input_shape=(1, 32, 32, 3), seed=3, name="my_model")  # fmt: skip
    save_tflite(graph, folder / "my_model.tflite")
    (folder / "test_my_model.py").write_text(textwrap.dedent(PROJECT_TEST))
    return folder


def _project_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PATCHBENCH_") and k != "PYTHONPATH"}
    # Its own firmware cache; the shared third-party sources (QEMU's plugin header) from where they are.
    return {**env, "PATCHBENCH_BUILD": str(tmp_path / "build"), "PATCHBENCH_SHARED": str(SHARED_DIR)}


def test_the_wheel_gives_the_command_and_the_package(venv, tmp_path):
    env = _project_env(tmp_path)
    help_text = _run([str(venv / "bin" / "patchbench"), "--help"], tmp_path, env).stdout
    assert "usage: patchbench" in help_text and "bench" in help_text
    where = _run([str(venv / "bin" / "python"), "-c", "import harness.paths as p; print(p.__file__, p.INSTALLED, "
                  "p.TARGETS_DIR)"], tmp_path, env).stdout.split()  # fmt: skip
    assert (
        where[0].startswith(str(venv))
        and where[1] == "True"
        and (Path(where[2]) / "stm32f412.toml").is_file()
    )
    _run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "check"], tmp_path, env)


@needs("arm-none-eabi-gcc", "qemu-system-arm")
def test_a_project_outside_the_repository_uses_the_installed_plugin(venv, project, tmp_path):
    env = _project_env(tmp_path)
    point = ["--models", "my_model.tflite", "--patches", "2", "--depths", "2", "--input-modes", "counted"]
    done = _run([str(venv / "bin" / "python"), "-m", "pytest", "-p", "no:cacheprovider", "-s", "-v",
                 "--pb-target", "stm32f412", *point, "--repeat", "1", "--backend", "qemu",
                 "--results", "results.sqlite", "--report", "report"], project, env)  # fmt: skip
    assert "test_my_model_runs_bit_exact[stm32f412-my_model.tflite-p2-n2] PASSED" in done.stdout
    assert (
        f"PLUGIN {venv}" in done.stdout
        and "site-packages/harness/pytest_plugin.py LABGRID True" in done.stdout
    )
    with sqlite3.connect(project / "results.sqlite") as db:
        assert db.execute("SELECT target, p, n, status, exact FROM results").fetchall() == [
            ("stm32f412", 2, 2, "passed", 1)
        ]
    assert (project / "report" / "index.html").is_file()  # the report's templates came with the package

    bench = _run([str(venv / "bin" / "patchbench"), "bench", "--target", "stm32f412", *point, "--jobs", "0",
                  "--results", "bench.sqlite", "--report", "bench-report"], project, env)  # fmt: skip
    assert "1 passed" in bench.stdout
    with sqlite3.connect(project / "bench.sqlite") as db:
        assert db.execute("SELECT status FROM results").fetchall() == [("passed",)]

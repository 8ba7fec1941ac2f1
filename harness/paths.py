# SPDX-License-Identifier: Apache-2.0
"""Where things are: the repository, the shared models beside it, the build output, the data files.

patchbench runs from a checkout (``pip install -e .``, or the repository on ``PYTHONPATH``) or from an
installed wheel. The data files it reads (board files ``targets/``, ``sweeps/``, the report's
``reports/``, ``regression.toml``, the benchmark test ``tests/pipeline/test_benchmark.py`` that ``patchbench
bench`` runs) are the repository's in a checkout; a wheel carries copies of them in the package
(``harness/_data/``, written by the build step in setup.py), which are used when they are there.
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parent  # the checkout (an installed wheel: its site-packages)
INSTALLED_DATA_DIR = PACKAGE_DIR / "_data"  # only in an installed wheel
INSTALLED = INSTALLED_DATA_DIR.is_dir()
DATA_DIR = INSTALLED_DATA_DIR if INSTALLED else REPO_ROOT
# The folders and files that DATA_DIR holds, and the build step copies into a wheel.
DATA_FILES = ("targets", "sweeps", "reports", "regression.toml", "tests/pipeline/test_benchmark.py")
# ../shared beside the repository; PATCHBENCH_SHARED points elsewhere (a board-farm host, say).
SHARED_DIR = Path(os.environ.get("PATCHBENCH_SHARED", REPO_ROOT.parent / "shared")).resolve()
MLPERF_DIR = SHARED_DIR / "models" / "mlperf-tiny"
MCUNET_CONFIGS_DIR = SHARED_DIR / "models" / "mcunet-configs"
# Models the current TFLite converter wrote from ordinary Keras models (see its README).
CONVERTER_DIR = SHARED_DIR / "models" / "converter"
# Generated firmware, logs, databases and reports; never committed. An installed patchbench writes under
# the working directory (site-packages is no place for them).
BUILD_DIR = Path(
    os.environ.get("PATCHBENCH_BUILD", (Path.cwd() if INSTALLED else REPO_ROOT) / "build")
).resolve()
TARGETS_DIR = DATA_DIR / "targets"
REPORTS_DIR = DATA_DIR / "reports"
SWEEPS_DIR = DATA_DIR / "sweeps"
REGRESSION_FILE = DATA_DIR / "regression.toml"
BENCHMARK_TESTS = DATA_DIR / "tests" / "pipeline" / "test_benchmark.py"

MLPERF_MODELS = ("vww_96_int8", "pretrainedResnet_quant", "kws_ref_model", "ad01_int8")


CONVERTER_MODELS = (
    "keras_mbv2_a035_r96",
    "keras_transpose_mean_head",
    "keras_mbv3small_a075_r96_floatio",
    "keras_effnet_like_r80",
    "keras_tiny_detector_r128x160",
    "keras_resnet_like_r64",
    "keras_dscnn_kws",
    "keras_dilated_transposed_r32",
)


def converter_model(name: str) -> Path:
    path = CONVERTER_DIR / f"{name}.tflite"
    if not path.is_file():
        raise FileNotFoundError(
            f"converter model {name!r} not found at {path}; patchbench expects ../shared/models beside "
            "the repository (or PATCHBENCH_SHARED pointing at a shared/ folder)"
        )
    return path


def mlperf_model(name: str) -> Path:
    path = MLPERF_DIR / f"{name}.tflite"
    if not path.is_file():
        raise FileNotFoundError(
            f"MLPerf Tiny model {name!r} not found at {path}; patchbench expects ../shared/models beside "
            "the repository (or PATCHBENCH_SHARED pointing at a shared/ folder)"
        )
    return path

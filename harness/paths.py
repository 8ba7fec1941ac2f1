"""Where things are: the repository, the shared models beside it, the build output."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
# ../shared beside the repository; PATCHBENCH_SHARED points elsewhere (a board-farm host, say).
SHARED_DIR = Path(os.environ.get("PATCHBENCH_SHARED", REPO_ROOT.parent / "shared")).resolve()
MLPERF_DIR = SHARED_DIR / "models" / "mlperf-tiny"
MCUNET_CONFIGS_DIR = SHARED_DIR / "models" / "mcunet-configs"
# Models the current TFLite converter wrote from ordinary Keras models (see its README).
CONVERTER_DIR = SHARED_DIR / "models" / "converter"
# Generated firmware, logs, databases and reports; never committed.
BUILD_DIR = Path(os.environ.get("PATCHBENCH_BUILD", REPO_ROOT / "build")).resolve()
TARGETS_DIR = REPO_ROOT / "targets"
REPORTS_DIR = REPO_ROOT / "reports"

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

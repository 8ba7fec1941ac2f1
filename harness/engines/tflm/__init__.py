# SPDX-License-Identifier: Apache-2.0
"""TensorFlow Lite Micro as an engine (engine.py): its library compiled from patchbench's source list
(sources.py, cached by harness/firmware/library.py), the generated model file (model.py) beside the
hand-written adapter (adapter.cc), and the firmware with its arena sized in two passes (firmware.py)."""

from harness.engines.tflm.engine import TflmEngine

__all__ = ["TflmEngine"]

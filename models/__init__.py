# SPDX-License-Identifier: Apache-2.0
"""patchbench's model zoo: synthetic-weight int8 builds of the networks the MCUNetV2 paper studies,
plus the MLPerf Tiny .tflite models, all as ``harness.ir.graph.Graph`` (see models/registry.py)."""

from models.registry import UnknownModelError, build_model, canonical_name, get_model, list_models, name_forms

__all__ = ["UnknownModelError", "build_model", "canonical_name", "get_model", "list_models", "name_forms"]

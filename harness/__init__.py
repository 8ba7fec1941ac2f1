# SPDX-License-Identifier: Apache-2.0
"""patchbench: benchmark patch-based int8 CNN inference on Cortex-M boards and emulators."""

__version__ = "0.1.0"

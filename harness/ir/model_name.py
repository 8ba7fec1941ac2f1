# SPDX-License-Identifier: Apache-2.0
"""The names of a model's exports: ``<zoo name>-explicit-pad`` is the zoo network with a PAD before every
strided conv (models/explicit_pad.py), the form MCUNet's released files have. Here, in the IR, so that the
results and the report (which may not import the zoo) read the same suffix: a published figure for
``mcunet-in0`` is one for ``mcunet-in0-explicit-pad``."""

from __future__ import annotations

EXPLICIT_PAD_SUFFIX = "-explicit-pad"


def network_name(model: str) -> str:
    """The network a model name measures: ``mcunet-in0-explicit-pad`` -> ``mcunet-in0``."""
    return model.removesuffix(EXPLICIT_PAD_SUFFIX)

# SPDX-License-Identifier: Apache-2.0
"""The import fuzzing of tests/frontend/test_import_fuzz.py on converter-made models, whose files the
canonicalization rewrites (shape plumbing, TILE upsampling, SPACE_TO_BATCH_ND around a conv): a mutated
file still gives a clean Graph or a TFLiteImportError, nothing else (the TFLiteImportError contract)."""

from __future__ import annotations

import struct

from hypothesis import given
from hypothesis import strategies as st
from test_import_fuzz import DEFAULT_CASES, Mutated, _import_is_clean, _sites, _value, fuzz

from harness.paths import converter_model

MODELS = {
    name: converter_model(name).read_bytes()
    for name in ("keras_tiny_detector_r128x160", "keras_dilated_transposed_r32", "keras_resnet_like_r64")
}
SITES = {name: _sites(data) for name, data in MODELS.items()}


@st.composite
def mutated_converter_models(draw) -> Mutated:
    name = draw(st.sampled_from(sorted(MODELS)))
    data = bytearray(MODELS[name])
    changes = []
    kinds = sorted({site.kind for site in SITES[name]})
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(kinds))
        sites = [site for site in SITES[name] if site.kind == kind]
        site = sites[draw(st.integers(0, len(sites) - 1))]
        value = draw(_value(site.fmt))
        struct.pack_into("<" + site.fmt, data, site.position, value)
        changes.append(f"{site.what} = {value!r}")
    return Mutated(name, bytes(data), tuple(changes))


@fuzz(DEFAULT_CASES)
@given(mutated_converter_models())
def test_mutated_converter_models_import_or_fail_with_an_import_error(case):
    _import_is_clean(case)

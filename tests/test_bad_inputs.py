"""Bad inputs and faults, layer by layer: each case asserts the message a user sees (what is wrong and
what to do) and, where points are being measured, that no completed row is lost.

Index (layer: cases here, and the ones that live beside their module's other tests):
- sweep file: the ``SWEEP_CASES`` below (unknown keys, wrong types, repeat 0, a non-table [models],
  unknown target / model / missing .tflite)
- import: crafted flatbuffers (``IMPORT_CASES``), oversized shapes, zoo names out of range; fuzzing of
  real models in tests/test_import_fuzz.py
- schedule / analytic size: models too big for the host or the board, decided before im2col or codegen
- build: tests/test_build.py (broken cache entries, two processes repairing one entry), names that carry
  C (tests/test_codegen.py::test_a_tensor_and_graph_name_carrying_c_are_only_text_and_the_model_runs)
- command line: newcomer mistakes end in one line and exit 2 (``CLI_CASES``)
"""

from __future__ import annotations

import pytest

from harness.pipeline.sweep import SweepError, load_sweep

# --- sweep file ----------------------------------------------------------------------------------

GOOD_SWEEP = '[sweep]\ntargets = ["stm32f746"]\nmodels = ["vww_96_int8"]\npatches = [1, 2]\ndepths = [5]\n'

SWEEP_CASES = {
    "misspelt repeat": (
        GOOD_SWEEP + "repeats = 10\n",
        r"unknown field\(s\) 'repeats' \(did you mean 'repeat'\?\)",
    ),
    "repeat not a number": (GOOD_SWEEP + 'repeat = "x"\n', r"repeat must be an integer >= 1 \(got 'x'\)"),
    "repeat 0": (GOOD_SWEEP + "repeat = 0\n", r"repeat must be an integer >= 1 \(got 0\)"),
    "repeat true": (GOOD_SWEEP + "repeat = true\n", r"repeat must be an integer >= 1 \(got True\)"),
    "models not a table": (
        'models = "vww"\n' + GOOD_SWEEP,
        r"'models' must be a table of \[models.<name>\] tables",
    ),
    "model entry not a table": (
        GOOD_SWEEP + "[models]\nvww_96_int8 = 3\n",
        r"\[models.vww_96_int8\] must be a table with depths",
    ),
    "unknown top-level table": (GOOD_SWEEP + "[sweeps]\nx = 1\n", r"unknown top-level key\(s\) 'sweeps'"),
    "patches of strings": (
        GOOD_SWEEP.replace("[1, 2]", '["1"]'),
        r"patches must be a non-empty list of integers",
    ),
    "unknown target": (
        GOOD_SWEEP.replace("stm32f746", "stm32f999"),
        r"unknown target 'stm32f999'.*known targets",
    ),
    "unknown model": (GOOD_SWEEP.replace('"vww_96_int8"', '"vww"'), r"unknown model 'vww'\. Known models"),
    "missing model file": (
        GOOD_SWEEP.replace('"vww_96_int8"', '"nowhere/m.tflite"'),
        r"model file 'nowhere/m.tflite' not found",
    ),
    "zoo resolution out of range": (
        GOOD_SWEEP.replace('"vww_96_int8"', '"mbv2-w1.0-r4096"'),
        r"resolution 4096 is out of range; use 32..1024",
    ),
    "not TOML": ("[sweep\n", r"is not valid TOML"),
}


@pytest.mark.parametrize("case", SWEEP_CASES)
def test_a_bad_sweep_file_names_the_field_and_what_it_takes(tmp_path, case):
    text, message = SWEEP_CASES[case]
    path = tmp_path / "sweep.toml"
    path.write_text(text)
    with pytest.raises(SweepError, match=rf"sweep file {path}.*{message}"):
        load_sweep(path)


def test_the_shipped_sweeps_are_valid(tmp_path):
    (tmp_path / "good.toml").write_text(GOOD_SWEEP + "repeat = 2\n[models.vww_96_int8]\ndepths = [3]\n")
    good = load_sweep(tmp_path / "good.toml")
    assert (good.repeat, good.model_depths) == (2, {"vww_96_int8": [3]})
    assert load_sweep().points() and load_sweep("sweeps/smoke.toml").points()

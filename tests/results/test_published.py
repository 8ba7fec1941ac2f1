# SPDX-License-Identifier: Apache-2.0
"""The published figures (harness/results/published.py) are those of ../shared/models/README.md's tables."""

from __future__ import annotations

import re

from harness.paths import SHARED_DIR
from harness.results.published import ENGINE_COLUMNS, TINYENGINE_TABLE, published, schedule_marks

README_COLUMNS = {
    "TFLM": "tflm",
    "CMSIS-NN": "cmsis-nn",
    "X-CUBE-AI 7.3": "x-cube-ai",
    "TinyEngine": "tinyengine",
}
README_MODELS = {"mbv2-w0.35": "mbv2-w0.35-r144", "proxyless-w0.3": "proxyless-w0.3-r176"}


def _tables() -> list[list[list[str]]]:
    """The markdown tables of the README, each a list of rows of cells (header first)."""
    tables, rows = [], []
    for line in (SHARED_DIR / "models" / "README.md").read_text().splitlines():
        if line.startswith("|"):
            cells = [cell.strip() for cell in line.strip("|").split("|")]
            if not all(re.fullmatch(r"-+", cell) for cell in cells):
                rows.append(cells)
        elif rows:
            tables.append(rows)
            rows = []
    return tables + ([rows] if rows else [])


def test_every_figure_of_tinyengines_tables_is_in_the_module_and_no_other():
    memory, latency = _tables()
    seen = set()
    for header, *rows in (memory, latency):
        engines = [README_COLUMNS[name] for name in header[1:]]
        assert tuple(engines) == ENGINE_COLUMNS
        for model, *cells in rows:
            model = README_MODELS.get(model, model)
            for engine, cell in zip(engines, cells, strict=True):
                figure = published(model, engine)
                assert figure is not None, (model, engine)
                seen.add((model, engine))
                if cell == "out of memory":
                    assert figure.latency_ms is None and figure.sram_kb is None
                elif "/" in cell:
                    sram, flash = (float(part.split()[0]) for part in cell.split("/"))
                    assert (figure.sram_kb, figure.flash_kb) == (sram, flash), (model, engine)
                else:
                    assert figure.latency_ms == float(cell), (model, engine)
    assert seen == {(f.model, f.engine) for f in TINYENGINE_TABLE}


def test_msf_cnn_marks_are_on_zoo_models_with_their_overheads():
    marks = schedule_marks("mcunet-in3")
    assert [(m.sram_kb, m.mac_overhead) for m in marks][1:3] == [(94.2, 0.455), (63.5, 1.02)]
    assert all(not m.input_counted for m in marks)
    assert schedule_marks("vww_96_int8") == ()

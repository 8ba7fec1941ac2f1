# SPDX-License-Identifier: Apache-2.0
"""Results: the SQLite database of measured points and runs (``db``), what a run ran on
(``environment``), the regression verdict against a baseline (``regression``) and text tables."""

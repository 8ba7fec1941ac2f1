# SPDX-License-Identifier: Apache-2.0
"""The HTML report of a stored run: the page (``page``), its inline SVG charts (``charts``) and the
paper-style memory profile plot (``plots``). Templates and styles live in reports/."""

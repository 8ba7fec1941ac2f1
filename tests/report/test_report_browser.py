# SPDX-License-Identifier: Apache-2.0
"""The report in a real browser: headless Chromium opens the page offline, draws it, logs nothing.

Chromium comes from Debian (`./run.sh setup` installs it). Without it the test is skipped on a
developer's machine with the reason, but in CI (``CI`` set) a missing browser is a failure.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from machine import skip_or_fail
from PIL import Image
from test_report import F746, add_run, passed_row

from harness.report.page import write_index, write_report
from harness.results.db import ResultsDB

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
WINDOW = (
    1400,
    6000,
)  # tall enough for the summary, the tables and the first charts (the page grew: oracle, estimated ms)
# A name that would log to the console if the page ever let it run.
EVIL_MODEL = '<script>console.error("PATCHBENCH-XSS")</script>'


def find_browser() -> str:
    for name in (os.environ.get("PATCHBENCH_CHROMIUM"), *BROWSERS):
        if name and shutil.which(name):
            return shutil.which(name)
    skip_or_fail("chromium is not installed (apt-get install chromium)")


def open_in_browser(browser: str, page: Path, workdir: Path) -> tuple[Path, str]:
    """Screenshot ``page`` in headless Chromium; returns the PNG and Chromium's log (stderr)."""
    screenshot = workdir / "page.png"
    command = [
        browser,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={workdir / 'profile'}",
        f"--screenshot={screenshot}",
        f"--window-size={WINDOW[0]},{WINDOW[1]}",
        "--enable-logging=stderr",
        "--v=0",
        page.resolve().as_uri(),
    ]
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=90, check=False, stdin=subprocess.DEVNULL
    )
    assert done.returncode == 0, f"chromium exited {done.returncode}:\n{done.stderr[-3000:]}"
    return screenshot, done.stderr


def test_report_renders_in_headless_chromium(tmp_path):
    browser = find_browser()
    db_path = tmp_path / "results.sqlite"
    with ResultsDB(db_path) as db:
        add_run(db, "20261121-010000-before", tmp_path / "logs")
        run_id = add_run(db, "20261122-010000-browse", tmp_path / "logs", slowdown=1.01)
        db.add(passed_row(run_id, F746, EVIL_MODEL, 1, 0, latency=1_000_000, sram_analytic_counted=40_000,
                          flash_bytes=300_000))  # fmt: skip
        # The same point with its input streamed: drawn beside the counted one and in the Pareto chart.
        db.add(passed_row(run_id, F746, "vww_96_int8", 2, 5, latency=14_900_000, sram_analytic_counted=61_080,
                          arena_bytes=36_864, flash_bytes=419_084, input_mode="streamed"))  # fmt: skip
    page = write_report(db_path, run_id, tmp_path / "out", baseline="previous")
    assert "Pareto set: peak SRAM measured vs latency (instructions)" in page.read_text()

    screenshot, log = open_in_browser(browser, page, tmp_path)

    # The page logged nothing: no script ran, and the Content Security Policy refused no load (a
    # refusal would mean the page tried to fetch something and would not open offline).
    console = [line for line in log.splitlines() if ":CONSOLE" in line or "Uncaught" in line]
    assert console == [], "\n".join(console)
    assert "PATCHBENCH-XSS" not in log

    assert screenshot.is_file() and screenshot.stat().st_size > 50_000
    with Image.open(screenshot) as image:
        assert image.size == WINDOW
        pixels = image.convert("RGB").resize((WINDOW[0] // 4, WINDOW[1] // 4))
        colors = pixels.getcolors(maxcolors=1 << 20)
    total = sum(count for count, _ in colors)
    white = sum(count for count, rgb in colors if min(rgb) > 245)
    assert len(colors) > 200, "the screenshot is nearly uniform: the page did not render"
    assert 0.05 < 1 - white / total < 0.9, f"ink covers {1 - white / total:.1%} of the page"
    # The charts were drawn: the measured-SRAM blue of matplotlib's bars is on the page.
    blue = sum(count for count, rgb in colors if _near(rgb, (0x1F, 0x77, 0xB4)))
    assert blue / total > 0.002


def test_report_index_renders(tmp_path):
    browser = find_browser()
    db_path = tmp_path / "results.sqlite"
    with ResultsDB(db_path) as db:
        add_run(db, "20261122-010000-index", tmp_path / "logs")
    page = write_index(db_path, tmp_path / "out")
    screenshot, log = open_in_browser(browser, page, tmp_path)
    assert not re.search(r":CONSOLE|Uncaught", log)
    assert screenshot.stat().st_size > 5_000


def _near(rgb: tuple[int, int, int], target: tuple[int, int, int], tolerance: int = 24) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(rgb, target, strict=True))

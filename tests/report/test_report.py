# SPDX-License-Identifier: Apache-2.0
"""The HTML report: built from a results database written the way the pipeline writes it, then parsed.

``add_run`` (also used by test_regression.py and test_report_browser.py) stores one run of realistic
rows: VWW (MLPerf Tiny) on the STM32F746 under QEMU, per-layer and per-patch, one point not bit-exact;
MobileNetV2-0.35 on the STM32F412, whose per-layer schedule does not fit 256 kB, one point erroring.
The memory figures are the analytic profiler's for those models and plans.
"""

from __future__ import annotations

import functools
import html
import json
import re
import time
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pytest

from harness.report.page import ReportError, report_filename, write_index, write_report
from harness.results.db import ResultsDB
from harness.results.record import PointRecord

KB = 1024
F746 = {
    "target": "stm32f746",
    "backend": "qemu",
    "board_id": "qemu:mps2-an500",
    "sram_budget": 327_680,
    "flash_budget": 1_048_576,
}
F412 = {
    "target": "stm32f412",
    "backend": "qemu",
    "board_id": "qemu:mps2-an386",
    "sram_budget": 262_144,
    "flash_budget": 1_048_576,
}
VWW_LAYERS = [
    f"op{i:02d}_{kind}" for i, kind in enumerate(["conv_2d"] + ["depthwise_conv_2d", "conv_2d"] * 13)
]
CFLAGS = "-mcpu=cortex-m7 -mthumb -mfpu=fpv5-sp-d16 -mfloat-abi=hard -O2 -DPB_KERNELS_DSP"


@functools.cache
def stored_analysis(model: str, p: int, n: int):
    """What the pipeline stores with a point of ``model``: its analysis under make_plan(p, n) (None for
    a name the zoo does not know)."""
    from harness.pipeline.analysis import point_analysis
    from harness.schedule import make_plan
    from models import get_model

    try:
        graph = get_model(model)
    except (ValueError, FileNotFoundError):
        return None
    return point_analysis(graph, make_plan(graph, p, n))


def ResultRow(**values) -> PointRecord:  # noqa: N802 (reads like the constructor it stands for)
    """A stored record from flat values, as the database holds them."""
    return PointRecord.from_flat(values)


def passed_row(run_id: str, board: dict, model: str, p: int, n: int, **values) -> ResultRow:
    """A passed point with the pipeline's full set of metrics; ``values`` sets the figures."""
    latency = values.pop("latency")
    layer_share = [(name, round(latency * w / sum(range(1, len(VWW_LAYERS) + 1)))) for w, name in
                   enumerate(VWW_LAYERS, start=1)]  # fmt: skip
    analytic_counted = values.pop("sram_analytic_counted")
    scratch, stack, data = 2_304, 1_896, 312
    arena = values.pop("arena_bytes", analytic_counted)
    row = dict(
        latency=latency,
        latency_unit="instructions",
        layer_latency=layer_share,
        sram_analytic_counted=analytic_counted,
        sram_planned=arena + scratch + 4_096,
        arena_bytes=arena,
        stack_bytes=stack,
        data_bytes=data,
        bss_bytes=arena + scratch + 180,
        sram_measured=data + arena + scratch + 180 + stack,
        exact=True,
        output_crc="0x5a17c3e2",
        firmware_hash=f"{abs(hash((model, p, n))) % 16**16:016x}",
        flags=CFLAGS,
        board_id=board["board_id"],
    )
    row.update(values)
    return ResultRow(
        run_id=run_id,
        target=board["target"],
        backend=board["backend"],
        model=model,
        p=p,
        n=n,
        status="passed",
        sram_budget=board["sram_budget"],
        flash_budget=board["flash_budget"],
        **row,
    )


def add_run(
    db: ResultsDB,
    run_id: str,
    log_dir: Path,
    *,
    slowdown: float = 1.0,
    extra_sram: int = 0,
    vww_p4_fits: bool = True,
    vww_p4_exact: bool = True,
    model_name: str = "vww_96_int8",
    environment: dict | None = None,
) -> str:
    """Store one run as the pipeline would (returns the run id). The knobs change the VWW points."""
    env = {
        "git_commit": "0a8c0bd1f00dfeed0a8c0bd1f00dfeed0a8c0bd1",
        "host": "ci-runner-3",
        "gcc": "arm-none-eabi-gcc (15:12.2.rel1-1) 12.2.1 20221205",
        "qemu": "QEMU emulator version 7.2.15 (Debian 1:7.2+dfsg-7+deb12u13)",
        "renode": None,
        "pyocd": "0.36.0",
        "python": "3.11.2",
    }
    env.update(environment or {})
    db.start_run(run_id, env["git_commit"], env["host"], env)
    log_dir.mkdir(parents=True, exist_ok=True)

    def log(name: str, text: str) -> str:
        path = log_dir / re.sub(r"[^\w.-]", "_", f"{run_id}-{name}.log")
        path.write_text(text)
        return str(path)

    vww = model_name
    rows = [
        passed_row(run_id, F746, vww, 1, 0, latency=round(14_382_115 * slowdown), macs=7_489_664,
                   macs_patch_stage=0, mac_overhead=0.0, sram_analytic_counted=55_296,
                   sram_analytic_streamed=55_296, flash_bytes=412_876,
                   log_path=log(f"{vww}-p1", "PB1 BEGIN\nPB1 LAT 14382115\nPB1 END\n")),
        passed_row(run_id, F746, vww, 2, 5, latency=round(14_702_390 * slowdown), macs=7_573_216,
                   macs_patch_stage=1_419_872, mac_overhead=0.01116, sram_analytic_counted=61_080,
                   sram_analytic_streamed=36_864, flash_bytes=419_020 + 64),
    ]  # fmt: skip
    if vww_p4_fits:
        rows.append(
            passed_row(
                run_id,
                F746,
                vww,
                4,
                5,
                latency=round(15_010_644 * slowdown),
                macs=7_753_184,
                macs_patch_stage=1_599_840,
                mac_overhead=0.03518,
                sram_analytic_counted=50_136,
                sram_analytic_streamed=36_864,
                arena_bytes=50_136 + extra_sram,
                flash_bytes=421_332,
                exact=vww_p4_exact,
                output_crc="0x5a17c3e2" if vww_p4_exact else "0x0bad0bad",
                log_path=log(f"{vww}-p4", "PB1 BEGIN\nPB1 CRC 0x0bad0bad\n"),
            )  # fmt: skip
        )
        if not vww_p4_exact:
            rows[-1].status = "failed"
            rows[-1].reason = "output CRC 0x0bad0bad differs from the host reference's 0x5a17c3e2"
    else:
        rows.append(
            ResultRow(
                run_id=run_id,
                target="stm32f746",
                backend="qemu",
                model=vww,
                p=4,
                n=5,
                status="does_not_fit",
                reason="stm32f746: needs 331.0 kB SRAM (incl. 4.0 kB reserved stack), board has 320.0 kB",
                macs=7_753_184,
                macs_patch_stage=1_599_840,
                mac_overhead=0.03518,
                sram_analytic_counted=50_136,
                sram_analytic_streamed=36_864,
                sram_planned=338_944,
                sram_budget=327_680,
                flash_budget=1_048_576,
                flags=CFLAGS,
                log_path=log(f"{vww}-p4", "region `RAM' overflowed by 11264 bytes\n"),
            )  # fmt: skip
        )
    rows += [
        ResultRow(run_id=run_id, target="stm32f412", backend="qemu", model="mbv2-w0.35-r144", p=1, n=0,
                  status="does_not_fit",
                  reason="stm32f412: needs 301.2 kB SRAM (incl. 4.0 kB reserved stack), board has 256.0 kB",
                  macs=26_660_752, macs_patch_stage=0, mac_overhead=0.0, sram_analytic_counted=290_304,
                  sram_analytic_streamed=290_304, sram_planned=308_429, sram_budget=262_144,
                  flash_budget=1_048_576, board_id="qemu:mps2-an386",
                  log_path=log("mbv2-p1", "region `RAM' overflowed by 46285 bytes\n")),
        passed_row(run_id, F412, "mbv2-w0.35-r144", 2, 4, latency=round(61_204_337 * slowdown), macs=27_783_696,
                   macs_patch_stage=9_375_872, mac_overhead=0.04212, sram_analytic_counted=157_752,
                   sram_analytic_streamed=95_544, flash_bytes=598_112,
                   flags=CFLAGS.replace("cortex-m7", "cortex-m4").replace("fpv5-sp-d16", "fpv4-sp-d16")),
        ResultRow(run_id=run_id, target="stm32f412", backend="qemu", model="mbv2-w0.35-r144", p=4, n=4,
                  status="error", reason="BoardTimeout: no PB1 END line within 60.0 s (last line: 'PB1 LAYER 17')",
                  macs=30_283_792, macs_patch_stage=11_875_968, mac_overhead=0.13589,
                  sram_analytic_counted=102_200, sram_analytic_streamed=72_576, flash_bytes=601_448,
                  sram_budget=262_144, flash_budget=1_048_576, board_id="qemu:mps2-an386",
                  log_path=str(log_dir / "deleted-since.log")),
    ]  # fmt: skip
    for row in rows:
        row.analysis = stored_analysis(row.identity.model, row.identity.p, row.identity.n)
    db.add_many(rows)
    db.finish_run(run_id)
    return run_id


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> dict:
    """Two runs (the second 2 % slower), the report of the second against the first."""
    root = tmp_path_factory.mktemp("report")
    db_path = root / "results.sqlite"
    with ResultsDB(db_path) as db:
        first = add_run(db, "20261121-010000-aaaaaa", root / "logs")
        time.sleep(0.01)
        second = add_run(db, "20261122-010000-bbbbbb", root / "logs", slowdown=1.02, vww_p4_exact=False)
        rows = db.results(second)
    out = root / "out"
    page = write_report(db_path, second, out, baseline="previous")
    text = page.read_text()
    return {"db": db_path, "page": page, "html": text, "tree": parse(text), "rows": rows, "out": out,
            "first": first, "second": second}  # fmt: skip


# --- a small DOM for assertions --------------------------------------------------------------------


class Node:
    def __init__(self, tag: str, attrs: dict[str, str | None], parent: Node | None):
        self.tag, self.attrs, self.parent = tag, attrs, parent
        self.children: list[Node] = []
        self.text_parts: list[str] = []

    @property
    def text(self) -> str:
        return "".join(self.text_parts + [c.text for c in self.children if c.tag not in ("svg", "style")])

    def iter(self, tag: str | None = None):
        for child in self.children:
            if tag is None or child.tag == tag:
                yield child
            yield from child.iter(tag)

    def find(self, tag: str, **attrs: str) -> list[Node]:
        found = []
        for node in self.iter(tag):
            if all(node.attrs.get(k.replace("_", "-")) == v for k, v in attrs.items()):
                found.append(node)
        return found


VOID = {"meta", "br", "link", "img", "input", "hr", "col", "source", "wbr"}


class TreeBuilder(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.root = Node("#root", {}, None)
        self.current = self.root

    def handle_starttag(self, tag, attrs):
        node = Node(tag, dict(attrs), self.current)
        self.current.children.append(node)
        if tag not in VOID:
            self.current = node

    def handle_startendtag(self, tag, attrs):
        self.current.children.append(Node(tag, dict(attrs), self.current))

    def handle_endtag(self, tag):
        node = self.current
        while node is not self.root and node.tag != tag:
            node = node.parent
        assert node is not self.root, f"unbalanced </{tag}>"
        self.current = node.parent

    def handle_data(self, data):
        self.current.text_parts.append(data)


def parse(text: str) -> Node:
    builder = TreeBuilder()
    builder.feed(text)
    builder.close()
    assert builder.current is builder.root, f"unclosed <{builder.current.tag}>"
    return builder.root


def group(tree: Node, target: str, model: str) -> Node:
    (section,) = tree.find("section", data_target=target, data_model=model)
    return section


def metric_cells(section: Node, metric: str) -> dict[str, Node]:
    """point key ("p1-n0") -> the <td> of ``metric`` in a group's table."""
    header = [
        th.attrs.get("data-point") for th in section.find("table")[0].find("th") if "data-point" in th.attrs
    ]
    (line,) = section.find("tr", data_metric=metric)
    return dict(zip(header, line.find("td"), strict=True))


def point_row(rows, target: str, p: int, n: int) -> dict:
    (row,) = rows[(rows["target"] == target) & (rows["p"] == p) & (rows["n"] == n)].to_dict("records")
    return row


# --- tests ------------------------------------------------------------------------------------------


def test_page_is_well_formed_and_self_contained(rendered):
    text = rendered["html"]
    assert rendered["page"].name == report_filename(rendered["second"])
    assert text.startswith("<!DOCTYPE html>")
    # Nothing fetched from anywhere: no script, no external stylesheet, font, image or frame.
    assert "<script" not in text.lower()
    assert not re.search(r"<link\b|@import|@font-face|<iframe|<img\b", text, re.I)
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", text, re.I)
    assert "default-src 'none'" in text
    # Every inline chart is well-formed XML, and no two charts share an element id.
    svgs = re.findall(r"<svg\b.*?</svg>", text, re.S)
    assert len(svgs) >= 10
    ids = []
    for svg in svgs:
        ET.fromstring(svg)
        own = re.findall(r'\bid="([^"]+)"', svg)
        references = set(re.findall(r'(?:href="#|url\(#)([^"\)]+)', svg))
        assert references <= set(own), "a chart refers to an element of another chart"
        ids += own
    assert len(ids) == len(set(ids))


def test_summary_counts_and_exactness(rendered):
    summary = rendered["tree"].find("section", id="summary")[0]
    counts = {
        s.attrs["data-status"]: int(s.attrs["data-value"])
        for s in summary.find("span")
        if "data-status" in s.attrs
    }
    rows = rendered["rows"]
    assert counts == {
        s: int((rows["status"] == s).sum())
        for s in ("passed", "failed", "inexact", "does_not_fit", "unsupported", "error")
    }
    assert counts == {"passed": 3, "failed": 1, "inexact": 0, "does_not_fit": 1, "unsupported": 0, "error": 1}
    exactness = summary.find("td", id="exactness")[0].text
    assert "NOT all bit-exact: 1 of 4 checked points differ" in exactness
    text = summary.text
    for word in (
        "stm32f746",
        "stm32f412",
        "qemu:mps2-an500",
        "qemu:mps2-an386",
        "vww_96_int8",
        "mbv2-w0.35-r144",
    ):
        assert word in text


def test_per_layer_beside_per_patch_numbers_from_the_database(rendered):
    section = group(rendered["tree"], "stm32f746", "vww_96_int8")
    rows = rendered["rows"]
    header = [th for th in section.find("th") if "data-point" in th.attrs]
    assert [th.attrs["data-point"] for th in header] == ["p1-n0", "p2-n5", "p4-n5"]
    assert "per-layer" in header[0].text and "per-patch p=2 n=5" in header[1].text
    for metric in ("sram_measured", "sram_planned", "sram_analytic_counted", "sram_analytic_streamed",
                   "flash_bytes", "macs"):  # fmt: skip
        cells = metric_cells(section, metric)
        for key, (p, n) in {"p1-n0": (1, 0), "p2-n5": (2, 5), "p4-n5": (4, 5)}.items():
            value = int(point_row(rows, "stm32f746", p, n)[metric])
            assert cells[key].attrs["data-value"] == str(value), (metric, key)
            shown = f"{value / KB:,.1f} kB" if metric != "macs" else f"{value / 1e6:,.2f} M"
            assert cells[key].text == shown
    latency = metric_cells(section, "latency")
    per_layer, p2 = point_row(rows, "stm32f746", 1, 0), point_row(rows, "stm32f746", 2, 5)
    assert latency["p1-n0"].text == f"{per_layer['latency']:,.0f}"
    overhead = metric_cells(section, "latency_overhead")
    assert overhead["p1-n0"].text == "reference"
    assert overhead["p2-n5"].text == f"{100 * (p2['latency'] / per_layer['latency'] - 1):+.1f} %"
    reduction = metric_cells(section, "sram_reduction")
    assert reduction["p2-n5"].text == f"{per_layer['sram_measured'] / p2['sram_measured']:.2f}x"
    assert metric_cells(section, "mac_overhead")["p2-n5"].text == "+1.1 %"
    exact = metric_cells(section, "exact")
    assert (exact["p1-n0"].text, exact["p2-n5"].text, exact["p4-n5"].text) == ("yes", "yes", "NO")
    # The chosen schedule: fastest bit-exact point within budget (per-layer here: patches cost time).
    chosen = [th.attrs["data-point"] for th in header if "chosen" in th.attrs.get("class", "")]
    assert chosen == ["p1-n0"]


def test_latency_is_labelled_with_its_unit(rendered):
    section = group(rendered["tree"], "stm32f746", "vww_96_int8")
    (line,) = section.find("tr", data_metric="latency")
    assert line.find("th")[0].text == "latency (instructions)"
    assert "cycles" not in section.text
    # no estimate stored: no milliseconds either (an emulator's ms are only ever the model's, labelled)
    assert re.search(r"\bms\b|millisecond", rendered["html"]) is None


def test_estimated_ms_are_shown_beside_instructions_labelled(tmp_path):
    db_path = tmp_path / "r.sqlite"
    with ResultsDB(db_path) as db:
        db.start_run("run", "abc", "host", {})
        db.add(passed_row("run", F746, "vww_96_int8", 1, 0, latency=12_000_000, sram_analytic_counted=55_296,
                          latency_estimated_ms=61.25,
                          latency_estimated_cycles=13_230_000.0, timing_model="timing-model 1 (llvm-mca cortex-m7)"))  # fmt: skip
    tree = parse(write_report(db_path, "run", tmp_path / "out").read_text())
    (line,) = tree.find("tr", data_metric="latency_estimated_ms")
    assert line.find("th")[0].text == "latency, estimated ms (timing model)"
    assert line.find("td")[0].text == "61.25 ms (est.)"
    (latency,) = tree.find("tr", data_metric="latency")
    assert latency.find("th")[0].text == "latency (instructions)"


def test_cycles_rows_say_cycles(tmp_path):
    db_path = tmp_path / "r.sqlite"
    with ResultsDB(db_path) as db:
        db.start_run("board-run", "abc", "lab-1", {"pyocd": "0.36.0"})
        db.add(passed_row("board-run", {**F746, "backend": "pyocd", "board_id": "066DFF495251"}, "vww_96_int8",
                          1, 0, latency=9_812_000, latency_unit="cycles", sram_analytic_counted=55_296,
                          flash_bytes=412_876))  # fmt: skip
    tree = parse(write_report(db_path, "board-run", tmp_path / "out").read_text())
    (line,) = tree.find("tr", data_metric="latency")
    assert line.find("th")[0].text == "latency (cycles)"
    assert "instructions" not in tree.text


def test_budgets_are_drawn_and_stated(rendered):
    section = group(rendered["tree"], "stm32f746", "vww_96_int8")
    budgets = section.find("p", **{"class": "budgets"})[0]
    assert [s.attrs["data-value"] for s in budgets.find("span")] == ["327680", "1048576"]
    figures = {f.find("figcaption")[0].text: f for f in section.find("figure")}
    titles = list(figures)
    assert any(t.startswith("Memory profile per block: per-layer vs per-patch") for t in titles)
    assert "Peak SRAM over the (p, n) grid" in titles and "Flash over the (p, n) grid" in titles
    assert "Latency over the (p, n) grid (instructions)" in titles
    assert any(t.startswith("Per-layer latency of the chosen schedule (per-layer)") for t in titles)
    svg_of = {t: re.search(r"<svg\b.*?</svg>", rendered["html"].split(f">{t}</figcaption>", 1)[1], re.S)[0]
              for t in titles}  # fmt: skip
    # matplotlib writes each legend entry as a text comment: the budget lines are labelled in kB.
    assert "SRAM budget 320 kB" in svg_of["Peak SRAM over the (p, n) grid"]
    assert "flash budget 1,024 kB" in svg_of["Flash over the (p, n) grid"]
    profile = next(t for t in titles if t.startswith("Memory profile"))
    assert "SRAM budget 320 kB" in svg_of[profile]


def test_does_not_fit_and_failed_listed_with_reason_and_log(rendered):
    section = rendered["tree"].find("section", id="problems")[0]
    rows = {tr.find("td")[0].text: tr for tr in section.find("tr") if tr.find("td")}
    assert set(rows) == {
        "stm32f746/qemu vww_96_int8 p=4 n=5",
        "stm32f412/qemu mbv2-w0.35-r144 per-layer",
        "stm32f412/qemu mbv2-w0.35-r144 p=4 n=4",
    }
    dnf = rows["stm32f412/qemu mbv2-w0.35-r144 per-layer"].find("td")
    assert dnf[1].text == "does not fit"
    assert dnf[2].text == "stm32f412: needs 301.2 kB SRAM (incl. 4.0 kB reserved stack), board has 256.0 kB"
    link = dnf[3].find("a")[0].attrs["href"]
    assert not link.startswith("/")
    copied = rendered["out"] / link
    assert copied.read_text() == "region `RAM' overflowed by 46285 bytes\n"
    failed = rows["stm32f746/qemu vww_96_int8 p=4 n=5"].find("td")
    assert failed[1].text == "failed" and "differs from the host reference" in failed[2].text
    erroring = rows["stm32f412/qemu mbv2-w0.35-r144 p=4 n=4"].find("td")
    assert erroring[1].text == "error" and erroring[2].text.startswith("BoardTimeout")
    assert erroring[3].text == "log missing"


def test_changes_since_baseline(rendered):
    section = rendered["tree"].find("section", id="changes")[0]
    assert f"previous run {rendered['first']}" in section.text
    assert "REGRESSION" in section.find("p", id="verdict")[0].text
    changes = [
        [td.text for td in tr.find("td")] for tr in section.find("table")[0].find("tr") if tr.find("td")
    ]
    regressions = {(c[1], c[2]) for c in changes if c[0] == "regression"}
    assert ("stm32f746/qemu vww_96_int8 per-layer", "latency") in regressions  # 2 % slower > 0.5 %
    assert ("stm32f746/qemu vww_96_int8 p=4 n=5", "exact") in regressions
    assert ("stm32f746/qemu vww_96_int8 p=4 n=5", "status") in regressions


def test_trends_over_runs(rendered):
    section = group(rendered["tree"], "stm32f746", "vww_96_int8")
    captions = [f.find("figcaption")[0].text for f in section.find("figure")]
    assert "Trend of latency over 2 runs (instructions)" in captions
    assert "Trend of peak SRAM measured over 2 runs" in captions


def test_environment_section(rendered):
    env = rendered["tree"].find("section", id="environment")[0]
    facts = {tr.find("th")[0].text: tr.find("td")[0].text for tr in env.find("tr")}
    assert facts["git commit"] == "0a8c0bd1f00dfeed0a8c0bd1f00dfeed0a8c0bd1"
    assert facts["qemu"].startswith("QEMU emulator version 7.2")
    assert facts["gcc"].startswith("arm-none-eabi-gcc")
    assert facts["pyocd"] == "0.36.0"
    assert facts["flags"] == CFLAGS
    assert "qemu:mps2-an500" in env.text


def test_index_lists_runs_newest_first(rendered):
    page = (rendered["out"] / "index.html").read_text()
    index = parse(page)
    runs = [tr.attrs["data-run"] for tr in index.find("tr") if "data-run" in tr.attrs]
    assert runs == [rendered["second"], rendered["first"]]
    newest = index.find("tr", data_run=rendered["second"])[0]
    assert newest.find("a")[0].attrs["href"] == report_filename(rendered["second"])
    assert "no page yet" in index.find("tr", data_run=rendered["first"])[0].text
    write_index(rendered["db"], rendered["out"])
    assert (rendered["out"] / "index.html").read_text() == page  # writing it again changes nothing


def test_html_in_names_and_metadata_is_escaped(tmp_path):
    evil = "<script>alert(1)</script>"
    db_path = tmp_path / "r.sqlite"
    with ResultsDB(db_path) as db:
        add_run(db, "run-<b>1</b>", tmp_path / "logs", model_name=evil,
                environment={"host": evil, "gcc": '"><img src=x onerror=alert(2)>'})  # fmt: skip
        db.add(ResultRow(run_id="run-<b>1</b>", target="stm32f746", backend="qemu", model="vww_96_int8", p=2, n=9,
                         status="failed", reason=f"compiler said {evil} & more"))  # fmt: skip
    page = write_report(db_path, "run-<b>1</b>", tmp_path / "out", baseline="previous")
    text = page.read_text()
    assert evil not in text
    assert "<img" not in text and "<b>1</b>" not in text
    assert html.escape(evil, quote=False) in text
    assert "compiler said &lt;script&gt;alert(1)&lt;/script&gt; &amp; more" in text
    tree = parse(text)
    assert not list(tree.iter("script"))
    assert tree.find("section", data_model=evil)  # the name is there, as text
    index = (tmp_path / "out" / "index.html").read_text()
    assert "<b>1</b>" not in index and "run-&lt;b&gt;1&lt;/b&gt;" in index
    # A point stored without an analysis has no profile: said so, escaped, the rest of the page intact.
    assert "Memory profile not drawn: &lt;script&gt;" in text


def test_report_of_unknown_run_or_database_says_what_to_do(tmp_path, rendered):
    with pytest.raises(ReportError, match="no run 'nope'.*latest runs"):
        write_report(rendered["db"], "nope", tmp_path)
    with pytest.raises(ReportError, match="not found; run the benchmark first"):
        write_report(tmp_path / "missing.sqlite", None, tmp_path)


def test_baseline_that_cannot_be_resolved_is_a_note_not_a_crash(tmp_path, rendered):
    page = write_report(rendered["db"], rendered["first"], tmp_path / "out", baseline="previous")
    section = parse(page.read_text()).find("section", id="changes")[0]
    assert "Not compared: no run before" in section.text


def test_cli_report_writes_latest_run_and_index(tmp_path, rendered, capsys):
    from harness.cli import main

    assert main(["report", "--results", str(rendered["db"]), "--out", str(tmp_path / "cli")]) == 0
    printed = capsys.readouterr().out
    page = tmp_path / "cli" / report_filename(rendered["second"])
    assert str(page) in printed and page.is_file() and (tmp_path / "cli" / "index.html").is_file()
    assert main(["report", "--results", str(rendered["db"]), "--run", "missing", "--out", str(tmp_path)]) == 2
    assert "no run 'missing'" in capsys.readouterr().err


def test_exported_rows_roundtrip_into_a_report(tmp_path, rendered):
    # A database rebuilt from an export renders the same figures.
    export = tmp_path / "runs.json"
    with ResultsDB(rendered["db"]) as db:
        db.export(export, rendered["second"])
    copy = tmp_path / "copy.sqlite"
    with ResultsDB(copy) as db:
        db.start_run(rendered["second"], "abc", "h", {})
        from harness.results.db import read_export

        db.add_frame(read_export(export))
    tree = parse(write_report(copy, rendered["second"], tmp_path / "out").read_text())
    cells = metric_cells(group(tree, "stm32f746", "vww_96_int8"), "sram_measured")
    assert cells["p1-n0"].attrs["data-value"] == str(
        int(point_row(rendered["rows"], "stm32f746", 1, 0)["sram_measured"])
    )
    assert json.loads(export.read_text())


def test_chart_text_cannot_break_out_of_the_svg():
    from harness.report import charts

    evil = '--><script>alert(1)</script><!-- $x$ & "q"'
    for svg in (
        charts.grouped_bars_svg(
            evil,
            [evil, "b"],
            [charts.Series(evil, [1.0, None])],
            evil,
            charts.Budget(evil, 0.5),
            [None, evil],
        ),  # fmt: skip
        charts.trend_svg(evil, [evil, "r2"], {evil: [1.0, 2.0]}, evil),
        charts.layer_latency_svg(evil, [(evil, 5.0)], evil),
    ):
        assert "<script" not in svg and "-->" not in svg.replace("-->\n", "")
        ET.fromstring(svg)


def test_an_old_run_renders_the_same_after_the_zoo_changed(tmp_path, monkeypatch):
    """The report draws what the run stored: a zoo builder that changes later (here mbv2-w0.35-r144
    gets wider channels) changes nothing on the page of an old run."""
    import models
    import models.registry

    db_path = tmp_path / "r.sqlite"
    with ResultsDB(db_path) as db:
        run_id = add_run(db, "20261121-010000-old000", tmp_path / "logs")

    def page() -> str:
        text = write_report(db_path, run_id, tmp_path / "out").read_text()
        return re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", "<time>", text)

    before = page()
    assert "Memory profile per block" in before and "Memory profile not drawn" not in before
    wider = models.registry.build_model("mbv2-w0.5-r144")
    original = models.get_model

    def changed_zoo(name: str):
        return wider if name == "mbv2-w0.35-r144" else original(name)

    monkeypatch.setattr(models, "get_model", changed_zoo)
    monkeypatch.setattr(models.registry, "get_model", changed_zoo)
    assert models.get_model("mbv2-w0.35-r144") is wider  # the zoo did change
    after = page()
    assert after == before

# SPDX-License-Identifier: Apache-2.0
"""The per-op profile (harness/results/op_profile.py): a point's timed units joined with its ops' shapes
(stored in its analysis), per op, by kernel shape and by kernel class, with the cycle model's estimate
beside; the report's "Where the time goes, per op" and ``bench_kernels --profile`` print it."""

from __future__ import annotations

from dataclasses import replace

import pytest
from test_report import F746, VWW_LAYERS, parse, passed_row, stored_analysis

from harness.bench_kernels import main as bench_kernels_main
from harness.report.page import write_report
from harness.results.db import ResultsDB
from harness.results.op_profile import (
    PATCH_STAGE,
    format_profile,
    op_profile,
    recompute_functions,
    recompute_ratios,
    recompute_share,
)
from harness.results.record import PointAnalysis


def _vww_row(run_id: str = "run", p: int = 1, n: int = 0, **values):
    latencies = [(name, 1000.0 * (i + 1)) for i, name in enumerate(VWW_LAYERS)]
    row = passed_row(run_id, F746, "vww_96_int8", p, n, latency=sum(v for _, v in latencies),
                     sram_analytic_counted=90_000, macs=7_489_664, **values)  # fmt: skip
    row.layer_latency = latencies
    row.analysis = stored_analysis("vww_96_int8", p, n)
    return row


def test_each_timed_op_gets_its_shape_and_its_latency_per_mac_and_per_pixel():
    row = _vww_row()
    found = op_profile(row)
    shapes = {op.name: op for op in row.analysis.ops}
    first = found.rows[0]
    assert first.name == "op00_conv_2d" and first.shape == "conv 3x3/2 3>8 96x96>48x48"
    assert first.kernel_class == "conv 3x3/2" and first.latency == 1000.0
    assert first.macs == shapes["op00_conv_2d"].macs == 48 * 48 * 8 * 27
    assert first.per_mac == pytest.approx(1000.0 / first.macs) and first.per_pixel == pytest.approx(
        1000 / 48**2
    )
    assert [r.name for r in found.rows] == VWW_LAYERS  # the units with their ops, in order
    assert found.latency == sum(v for _, v in row.layer_latency) and found.macs == sum(
        r.macs for r in found.rows
    )
    assert not found.estimated and first.cycles_estimated is None


def test_groups_by_shape_and_by_class_sum_their_ops_and_share_the_whole():
    found = op_profile(_vww_row())
    classes = {g.key: g for g in found.by_class()}
    assert set(classes) == {"conv 3x3/2", "conv 1x1/1", "depthwise 3x3/1", "depthwise 3x3/2"}
    assert sum(g.share for g in classes.values()) == pytest.approx(1.0)
    assert sum(len(g.ops) for g in classes.values()) == len(VWW_LAYERS)
    one_by_one = classes["conv 1x1/1"]
    members = [r for r in found.rows if r.kernel_class == "conv 1x1/1"]
    assert one_by_one.latency == sum(r.latency for r in members) and one_by_one.macs == sum(
        r.macs for r in members
    )
    shapes = found.by_shape()
    assert shapes == sorted(shapes, key=lambda g: -g.latency)  # the costliest first
    repeated = [g for g in shapes if g.key == "conv 1x1/1 128>128 6x6>6x6"]  # vww's five equal 1x1 convs
    assert len(repeated) == 1 and len(repeated[0].ops) == 5


def test_estimated_cycles_are_the_units_estimated_ms_at_the_whole_runs_rate():
    row = _vww_row()
    row.layer_latency_estimated_ms = [(name, 0.5 * (i + 1)) for i, (name, _) in enumerate(row.layer_latency)]
    row.latency_estimated_ms = sum(ms for _, ms in row.layer_latency_estimated_ms)
    row.latency_estimated_cycles = row.latency_estimated_ms * 216_000  # 216 MHz
    found = op_profile(row)
    assert found.estimated
    assert found.rows[0].cycles_estimated == pytest.approx(0.5 * 216_000)
    text = format_profile(found, "vww")
    assert "est. cycles" in text and "the cycle model's estimate" in text


def test_an_op_run_inside_another_marks_its_host_and_a_patch_stage_is_one_row():
    row = _vww_row()
    ops = [replace(op, runs_in="op00_conv_2d") if op.name == "op01_depthwise_conv_2d" else op
           for op in row.analysis.ops]  # fmt: skip
    row.analysis = replace(row.analysis, ops=tuple(ops))
    found = op_profile(row)
    assert found.rows[1].runs_in == "op00_conv_2d"
    assert (
        found.rows[0].kernel_class == "conv 3x3/2"
    )  # only an elementwise op fused in names itself ("+ ADD")
    patched = _vww_row()
    patched.layer_latency = [("patch_r0_c0", 500.0), ("patch_r0_c1", 700.0), *patched.layer_latency[3:]]
    patched.analysis = stored_analysis("vww_96_int8", 2, 8)
    found = op_profile(patched)
    assert found.rows[0].name == PATCH_STAGE and found.rows[0].latency == 1200.0
    assert found.rows[0].macs == patched.analysis.plan.stage_macs_patched


def test_no_profile_without_shapes_or_units():
    row = _vww_row()
    old = PointAnalysis.from_json({**_json(row.analysis), "ops": []})
    assert op_profile(replace(row, analysis=old)) is None
    assert op_profile(replace(row, layer_latency=[])) is None
    assert PointAnalysis.from_json(_json(row.analysis)) == row.analysis  # the ops survive the JSON


def _json(analysis: PointAnalysis) -> dict:
    from dataclasses import asdict

    return asdict(analysis)


def test_the_report_draws_the_per_op_profile(tmp_path):
    db_path = tmp_path / "r.sqlite"
    with ResultsDB(db_path) as db:
        db.start_run("run", "abc", "host", {})
        db.add(_vww_row())
    tree = parse(write_report(db_path, "run", tmp_path / "out").read_text())
    (section,) = tree.find("section", id="op-profiles")
    assert section.find("tr", data_group="conv 1x1/1") and section.find("tr", data_op="op00_conv_2d")
    assert "conv 3x3/2 3>8 96x96>48x48" in section.text


def test_bench_kernels_prints_the_stored_profile(tmp_path, capsys):
    db_path = tmp_path / "r.sqlite"
    with ResultsDB(db_path) as db:
        db.start_run("run", "abc", "host", {})
        db.add(_vww_row())
    assert (
        bench_kernels_main(["--profile", "vww_96_int8", "--targets", "stm32f746", "--results", str(db_path)])
        == 0
    )
    out = capsys.readouterr().out
    assert "by kernel class" in out and "conv 1x1/1" in out and "op00_conv_2d" in out
    assert (
        bench_kernels_main(["--profile", "vww_96_int8", "--targets", "stm32h743", "--results", str(db_path)])
        == 1
    )


def _vww_patched_row(run_id: str = "run"):
    """vww at p=2 n=8: the per-layer row's units after the stage, and four patch units."""
    row = _vww_row(run_id, 2, 8)
    row.macs = row.analysis.plan.macs
    row.layer_latency = [(f"patch_r{i}_c{j}", 11_000.0) for i in range(2) for j in range(2)]
    row.layer_latency += _vww_row().layer_latency[8:]
    row.latency = sum(v for _, v in row.layer_latency)
    return row


def test_each_ops_macs_under_the_schedule_sum_to_the_plans_and_only_stage_ops_grow():
    from harness.pipeline.analysis import point_analysis
    from harness.schedule import make_schedule_plan
    from models import get_model

    graph = get_model("vww_96_int8")
    for label in ("p=2 n=8", "rows n=3 strips=2 + rows n=4"):
        plan = make_schedule_plan(graph, label)
        ops = point_analysis(graph, plan).ops
        assert sum(op.macs_scheduled for op in ops) == plan.macs, label
        grown = {op.name for op in ops if op.macs_scheduled != op.macs}
        assert grown and all(op.macs_scheduled >= op.macs for op in ops), label
        assert grown <= set(plan.stage_ops if hasattr(plan, "stage_ops") else
                            [name for part in plan.parts for name in part.stage_ops]), label  # fmt: skip


def test_the_recompute_share_scales_each_ops_per_layer_latency_by_its_macs_under_the_schedule():
    base, point = _vww_row(), _vww_patched_row()
    found = recompute_share(base, point)
    ops = {op.name: op for op in point.analysis.ops}
    expected = sum(v * ops[name].macs_scheduled / ops[name].macs for name, v in base.layer_latency)
    assert found.latency_share == pytest.approx(expected)
    assert found.latency == 44_000.0 + sum(v for _, v in base.layer_latency[8:])
    assert found.latency_per_layer == sum(v for _, v in base.layer_latency)
    assert (
        found.macs == point.analysis.plan.macs and found.macs_per_layer == point.analysis.plan.macs_per_layer
    )
    assert found.mac_overhead == pytest.approx(
        point.analysis.plan.macs / point.analysis.plan.macs_per_layer - 1
    )
    assert found.latency_overhead == pytest.approx(found.latency / found.latency_per_layer - 1)
    # the stage's units: 36,000 per layer (1000 x (1 + ... + 8)); 44,000 in the patches
    stage_share = sum(v * ops[name].macs_scheduled / ops[name].macs for name, v in base.layer_latency[:8])
    assert found.beyond == pytest.approx((44_000 - stage_share) / found.latency_per_layer)
    assert found.share > 0 and found.beyond < found.latency_overhead
    # a point stored before the MACs under its schedule were: no share
    old = replace(point.analysis, ops=tuple(replace(op, macs_scheduled=None) for op in point.analysis.ops))
    assert recompute_share(base, replace(point, analysis=old)) is None


def test_each_functions_share_is_its_per_layer_instructions_scaled_by_each_ops_recompute_ratio():
    base, point = _vww_row(), _vww_patched_row()
    ratios = recompute_ratios(op_profile(base), point.analysis)
    ops = {op.name: op for op in point.analysis.ops}
    assert ratios["op00_conv_2d"] == ops["op00_conv_2d"].macs_scheduled / ops["op00_conv_2d"].macs > 1
    assert ratios[VWW_LAYERS[-1]] == 1.0  # after the patch stage
    per_layer = {"op00_conv_2d": {"conv": 900, "timer": 10}, VWW_LAYERS[-1]: {"fc": 500, "timer": 10}}
    patched = {"patch_0": {"conv": 700, "timer": 10}, "patch_1": {"conv": 700, "edge": 50, "timer": 10},
               VWW_LAYERS[-1]: {"fc": 500, "timer": 10}}  # fmt: skip
    found = {row.name: row for row in recompute_functions(ratios, per_layer, patched)}
    r = ratios["op00_conv_2d"]
    assert found["conv"].measured == 1400 and found["conv"].share == pytest.approx(900 * r)
    assert found["edge"].share == 0 and found["edge"].beyond == 50  # only on tiles
    assert found["fc"].beyond == 0 and found["timer"].share == pytest.approx(10 * r + 10)
    total = sum(sum(f.values()) for f in patched.values()) - sum(
        sum(f.values()) * ratios[unit] for unit, f in per_layer.items()
    )
    assert sum(row.beyond for row in found.values()) == pytest.approx(total)
    beyonds = [row.beyond for row in recompute_functions(ratios, per_layer, patched)]
    assert beyonds == sorted(beyonds, reverse=True)  # the largest first


def test_bench_kernels_measures_the_functions_now_not_from_a_database(tmp_path, capsys):
    with pytest.raises(SystemExit):
        bench_kernels_main(
            ["--recompute", "vww_96_int8", "--functions", "5", "--results", str(tmp_path / "r")]
        )
    assert "--functions measures the points now" in capsys.readouterr().err


def test_bench_kernels_prints_the_recompute_share_of_the_stored_points(tmp_path, capsys):
    db_path = tmp_path / "r.sqlite"
    with ResultsDB(db_path) as db:
        db.start_run("run", "abc", "host", {})
        db.add(_vww_row())
        db.add(_vww_patched_row())
    argv = ["--recompute", "vww_96_int8", "--targets", "stm32f746", "--results", str(db_path)]
    assert bench_kernels_main(argv) == 1  # the default sweep's other patch points are not stored
    out = capsys.readouterr().out
    found = recompute_share(_vww_row(), _vww_patched_row())
    (line,) = [line for line in out.splitlines() if line.startswith("p=2 n=8   counted")]
    assert line.split()[4:] == [f"{found.mac_overhead:+.1%}", f"{found.latency:,.0f}",
                                f"{found.latency_overhead:+.1%}", f"{found.share:+.1%}", f"{found.beyond:+.1%}"]  # fmt: skip
    assert "p=3 n=8   counted     no passed point" in out


def test_the_report_sets_each_schedule_beside_its_per_layer_point_with_its_recompute_share(tmp_path):
    db_path = tmp_path / "r.sqlite"
    with ResultsDB(db_path) as db:
        db.start_run("run", "abc", "host", {})
        db.add(_vww_row())
        db.add(_vww_patched_row())
        db.add(replace(_vww_patched_row(), identity=replace(_vww_patched_row().identity, kernels="portable")))
    tree = parse(write_report(db_path, "run", tmp_path / "out").read_text())
    (section,) = tree.find("section", id="op-profiles")
    rows = [row for row in section.find("tr") if "data-schedule" in row.attrs]
    assert [row.attrs["data-schedule"] for row in rows] == ["p=2 n=8 counted"]  # not the other kernel set's
    found = recompute_share(_vww_row(), _vww_patched_row())
    cells = [cell.text for cell in rows[0].find("td")]
    assert cells[-2:] == [f"{100 * found.share:+.1f}%", f"{100 * found.beyond:+.1f}%"]


def test_the_engine_names_the_ops_that_run_inside_another():
    from harness.engines import get_engine
    from harness.pipeline.measure import TEST_INPUT
    from harness.schedule import make_plan
    from models import get_model

    graph = get_model("mcunet-in0-explicit-pad")
    engine = get_engine("patchbench")
    generated = engine.generate(graph, make_plan(graph, 1, 0), "stm32h743", TEST_INPUT, engine.options())
    assert generated.runs_in["first_conv_pad"] == "first_conv"  # a PAD folded into its conv
    assert generated.runs_in["b2_add"] == "b2_project"  # a residual ADD as the projection's epilogue
    assert set(generated.runs_in) & set(generated.layer_names) == {n for n in generated.runs_in if "add" in n}

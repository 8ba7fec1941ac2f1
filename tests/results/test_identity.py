# SPDX-License-Identifier: Apache-2.0
"""A point is identified by what it ran: the model by content (harness.ir.graph.content_digest in
PointIdentity.model_hash), so two model files of one name are two points, two firmwares, two rows."""

from __future__ import annotations

import dataclasses
import sqlite3

import numpy as np
import pytest
from machine import needs

from harness.frontend import save_tflite
from harness.ir.graph import content_digest
from harness.paths import REPO_ROOT
from harness.pipeline.measure import new_result
from harness.results.db import MIGRATIONS, ResultsDB
from harness.results.record import PointIdentity, PointRecord
from models.synthetic import LayerSpec, build_stack


def two_files_named_net(root):
    """a/net.tflite and b/net.tflite: the same conv, other weights."""
    graph = build_stack([LayerSpec("conv", 3, 1, channels=4)], input_shape=(1, 8, 8, 3), blocks=False,
                        name="net")  # fmt: skip
    paths = []
    for folder, seed in (("a", 1), ("b", 2)):
        tensors = dict(graph.tensors)
        for name, tensor in graph.tensors.items():
            if tensor.is_const and tensor.dtype == "int8":
                data = np.random.default_rng(seed).integers(-127, 128, tensor.shape).astype(np.int8)
                tensors[name] = dataclasses.replace(tensor, data=data)
        path = root / folder / "net.tflite"
        path.parent.mkdir()
        save_tflite(dataclasses.replace(graph, tensors=tensors), path)
        paths.append(str(path))
    return paths


def test_two_files_of_one_name_are_two_points_two_rows_and_two_report_groups(tmp_path):
    first, second = (new_result(path, "stm32f746", 1, 0) for path in two_files_named_net(tmp_path))
    assert first.identity.model == second.identity.model == "net"
    assert first.identity != second.identity and len(first.identity.model_hash) == 16
    assert first.identity.differences(second.identity) == [
        f"model_hash {first.identity.model_hash} instead of {second.identity.model_hash}"
    ]
    with ResultsDB(tmp_path / "results.sqlite") as db:
        db.start_run("r", None, "host", {})
        for result, crc in ((first, "aaaaaaaa"), (second, "bbbbbbbb")):
            result.status, result.output_crc = "passed", crc
            db.add(result.as_record("r"))
        db.finish_run("r")
        rows = db.results("r")
    assert sorted(rows["output_crc"]) == ["aaaaaaaa", "bbbbbbbb"]  # neither replaced the other

    from harness.report.page import write_report

    page = write_report(tmp_path / "results.sqlite", "r", tmp_path / "report").read_text()
    for identity in (first.identity, second.identity):
        assert f"net (content {identity.model_hash[:8]})" in page
        assert f'id="stm32f746-qemu-net-{identity.model_hash[:8]}"' in page


def test_the_content_digest_covers_what_the_firmware_is_made_from():
    graph = build_stack(
        [LayerSpec("conv", 3, 1, channels=4)], input_shape=(1, 8, 8, 3), blocks=False, name="g"
    )
    digest = content_digest(graph)
    assert digest == content_digest(
        dataclasses.replace(graph, name="another name")
    )  # the name is its own field
    weights = next(name for name, t in graph.tensors.items() if t.is_const and t.dtype == "int8")
    changed = dict(graph.tensors)
    data = graph.tensors[weights].data.copy()
    data.flat[0] ^= 1
    changed[weights] = dataclasses.replace(graph.tensors[weights], data=data)
    assert content_digest(dataclasses.replace(graph, tensors=changed)) != digest
    output = graph.tensors[graph.outputs[0]]
    rescaled = dict(graph.tensors)
    rescaled[output.name] = dataclasses.replace(
        output, quant=dataclasses.replace(output.quant, zero_point=output.quant.zero_point + 1)
    )
    assert content_digest(dataclasses.replace(graph, tensors=rescaled)) != digest
    op = dataclasses.replace(graph.ops[0], attrs={**graph.ops[0].attrs, "stride": (2, 2)})
    assert content_digest(dataclasses.replace(graph, ops=[op, *graph.ops[1:]])) != digest


def test_a_database_from_before_the_content_keeps_its_rows_and_stays_comparable(tmp_path):
    """A schema-4 table (no model_hash; the unique key without it) is rebuilt: every row kept, its
    content "" (not recorded), and compare matches it with today's point of the same name."""
    from harness.results.regression import compare_frames

    path = tmp_path / "old.sqlite"
    identity = PointIdentity("stm32f746", "qemu", "vww_96_int8", 1, 0)
    with ResultsDB(path) as db:
        db.start_run("old", None, "host", {})
        db.add(PointRecord(identity=identity, run_id="old", status="passed", latency=100.0,
                           latency_unit="instructions", output_crc="12345678"))  # fmt: skip
        db.finish_run("old")
    with sqlite3.connect(path) as con:  # back to schema 4: the table as it was before model_hash
        columns = [row[1] for row in con.execute("PRAGMA table_info(results)") if row[1] != "model_hash"]
        identity_columns = [c for c in ("target", "backend", "model", "p", "n", "place", "kernels", "engine",
                                        "input_mode", "planner", "inplace", "compiler") if c in columns]  # fmt: skip
        con.execute(f"CREATE TABLE old_results AS SELECT {', '.join(columns)} FROM results")
        con.execute("DROP TABLE results")
        con.execute(
            f"CREATE TABLE results ({', '.join(columns)}, UNIQUE (run_id, {', '.join(identity_columns)}))"
        )
        con.execute(f"INSERT INTO results SELECT {', '.join(columns)} FROM old_results")
        con.execute("DROP TABLE old_results")
        con.execute("PRAGMA user_version = 4")
    with ResultsDB(path) as db:
        assert db.schema_version == len(MIGRATIONS)
        (old,) = db.records("old")
        assert old.identity == identity and old.identity.model_hash == "" and old.output_crc == "12345678"
        now = dataclasses.replace(identity, model_hash="e9add30df8e6070d")
        db.start_run("new", None, "host", {})
        db.add(PointRecord(identity=now, run_id="new", status="passed", latency=100.0,
                           latency_unit="instructions", output_crc="12345678"))  # fmt: skip
        db.add(PointRecord(identity=dataclasses.replace(now, model_hash="0" * 16), run_id="new",
                           status="passed"))  # fmt: skip
        assert len(db.records("new")) == 2  # two contents of one name: two rows in one run
        comparison = compare_frames(db.results("new").iloc[:1], db.results("old"))
    assert comparison.compared == 1 and comparison.ok


@needs("arm-none-eabi-gcc", "qemu-system-arm")
@pytest.mark.emulator
def test_a_sweep_of_two_files_of_one_name_builds_runs_and_stores_each(pytester, monkeypatch, tmp_path):
    """Issue 22 finding 1: the second of a/net.tflite, b/net.tflite reused the first's firmware, stored
    its CRC and replaced its row."""
    first, second = two_files_named_net(tmp_path)
    for name in ("PATCHBENCH_RUN_ID", "PATCHBENCH_RESULTS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PYTHONPATH", str(REPO_ROOT))
    results = tmp_path / "results.sqlite"
    outcome = pytester.runpytest_subprocess(
        str(REPO_ROOT / "tests" / "pipeline" / "test_benchmark.py"), "-p", "harness.pytest_plugin", "-p", "no:cacheprovider",
        "-p", "no:labgrid", "--rootdir", str(REPO_ROOT), "--backend", "qemu", "--pb-target", "stm32f746",
        "--models", f"{first},{second}", "--patches", "1", "--repeat", "1", "--results", str(results),
    )  # fmt: skip
    # (test_inference may still fail the points on their loose stack plan: a model this small has
    # more stack reserve than use; what is asserted here is what was measured and stored)
    assert "test_inference" in outcome.stdout.str()
    with ResultsDB(results) as db:
        records = db.records()
    assert [r.status for r in records] == ["passed", "passed"], [r.reason for r in records]
    assert len(records) == 2 and {r.identity.model for r in records} == {"net"}
    assert len({r.identity.model_hash for r in records}) == 2
    assert len({r.firmware_hash for r in records}) == 2 and len({r.output_crc for r in records}) == 2

# SPDX-License-Identifier: Apache-2.0
"""Bad inputs and faults, layer by layer: each case asserts the message a user sees (what is wrong and
what to do) and, where points are measured or stored, that nothing stored is lost.

Index (layer: the cases here, then those that live beside their module's other tests). ``MATRIX`` lists
the parametrized case tables by layer; ``test_the_matrix_covers_every_layer`` counts them.
- model: ``IMPORT_CASES`` (crafted well-formed flatbuffers: rank-0 depthwise input, zero or NaN scale,
  zero point out of range, a 2^64-byte tensor, negative dims, a dangling tensor index, an unknown op),
  ``MODEL_FILE_CASES`` (a huge file of another kind refused from its first 8 bytes, an empty or text
  file, no operators, a graph input holding constant data, weights or bias with a zero point, per-channel
  scales on the wrong axis), a folder named like a model, Tensor.size exact, zoo names too big; the
  import rules one by one: tests/frontend/test_import_rules.py; fuzzing of real models: tests/frontend/test_import_fuzz.py
- sweep: ``SWEEP_CASES`` (unknown keys with a did-you-mean, repeat "x" / 0 / true, a non-table
  [models], unknown target / model, a missing .tflite, a zoo name out of range, not TOML),
  ``SWEEP_RANGE_CASES`` (repeat, patches, depths, targets in their ranges when the sweep is read), a depth
  beyond a model's layers; the command line: ``CLI_CASES`` and the pipeline command (one line, exit 2)
- farm: tests/boards/test_farm.py ``FARM_FILE_CASES`` (every field of a farm file), a missing board under
  on_missing = "fail" (here; and the bench run storing it as an error row: test_farm.py
  ::test_bench_keeps_a_farm_files_on_missing_fail_*), labgrid places (tests/boards/test_labgrid_farm.py)
- path: ``RESULTS_PATH_CASES`` (a folder, a dangling link into no folder, a file where the folder goes),
  a symlink to a database (used through it), a session whose --results cannot be used stops before
  measuring; the report's folder (a file, no write: see report); the user's own paths are never written
  by a test session (tests/pytest_plugin/test_user_paths.py)
- process fault: ``POINT_FAULTS`` (a refused console, a full disk, out of memory, a bug: each an error
  row with the exception), a board timeout row with the console tail, a log that cannot be written, a
  point the database does not take (kept in a results export, the line says where); a flooding console
  (tests/boards/test_qemu.py::test_reader_stops_*), Renode's console off the network
  (tests/boards/test_boards_renode.py), corrupted records (tests/boards/test_protocol.py), a firmware-cache entry
  corrupt past its first bytes (tests/firmware/test_build.py BREAKAGES), SIGTERM / SIGHUP keep every row and
  leave no emulator (tests/pipeline/test_termination.py), an interrupted run fails compare
  (tests/results/test_regression.py)
- report: a report folder that is a file or takes no write (one line, results untouched), only logs
  from the build folder are copied into it, check's report when no interpreter loads the file
- results: ``RESULTS_CASES`` (a database of a future schema or missing a column, left as it was; CSV /
  JSON baselines with text where numbers go, not an export, not there), a SQLite file of another
  program is refused and left untouched
- schedule / analytic size: the reference refuses a graph bigger than host memory before allocating;
  points clearly too big for the board are does_not_fit before code generation
- code generation / build: names carrying C (tests/codegen/test_codegen.py::
  test_a_tensor_and_graph_name_carrying_c_are_only_text_and_the_model_runs); broken firmware-cache
  entries, two processes repairing one (tests/firmware/test_build.py)
"""

from __future__ import annotations

import dataclasses
import re
import struct

import numpy as np
import pytest
from machine import needs
from test_import_fuzz import MODELS, SITES

from harness import reference
from harness.frontend.importer import graph_from_bytes
from harness.frontend.schema import TFLiteImportError
from harness.ir.graph import GraphError, Tensor, validate
from harness.paths import REPO_ROOT
from harness.pipeline.fit import clearly_too_big
from harness.pipeline.sweep import SweepError, load_sweep
from harness.reference import budget
from harness.schedule.plan import make_plan
from models import get_model

# --- sweep file ----------------------------------------------------------------------------------

GOOD_SWEEP = '[sweep]\ntargets = ["stm32f746"]\nmodels = ["vww_96_int8"]\npatches = [1, 2]\ndepths = [5]\n'

SWEEP_CASES = {
    "misspelt repeat": (
        GOOD_SWEEP + "repeats = 10\n",
        r"unknown field\(s\) 'repeats' \(did you mean 'repeat'\?\)",
    ),
    "repeat not a number": (
        GOOD_SWEEP + 'repeat = "x"\n',
        r"repeat must be an integer in 1..1000 \(got 'x'\)",
    ),
    "repeat 0": (GOOD_SWEEP + "repeat = 0\n", r"repeat must be an integer in 1..1000 \(got 0\)"),
    "repeat true": (GOOD_SWEEP + "repeat = true\n", r"repeat must be an integer in 1..1000 \(got True\)"),
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
        r"resolution 4096 is out of range; use 32..512",
    ),
    "not TOML": ("[sweep\n", r"is not valid TOML"),
    "unknown input mode": (
        GOOD_SWEEP + 'input_modes = ["counted", "stream"]\n',
        r"input_modes: input mode\(s\) \['stream'\] unknown; use counted, streamed",
    ),
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


# --- import: crafted but well-formed flatbuffers --------------------------------------------------


def crafted(model: str, **fields) -> bytes:
    """``model``'s bytes with fields rewritten in place, e.g. crafted("vww_96_int8", **{"tensor 0 type": 9})."""
    data = bytearray(MODELS[model])
    sites = {site.what: site for site in SITES[model]}
    for what, value in fields.items():
        struct.pack_into("<" + sites[what].fmt, data, sites[what].position, value)
    return bytes(data)


VWW = "vww_96_int8"
VWW_DW_INPUT, VWW_CONV_OUTPUT = 58, 58  # op 01 (DEPTHWISE_CONV_2D) reads what op 00 (CONV_2D, RELU) writes

IMPORT_CASES = {
    "rank-0 depthwise input": (
        {f"tensor {VWW_DW_INPUT} shape length": 0},
        r"op 1 \(DEPTHWISE_CONV_2D\): input shape \[\] and filter shape \[1, 3, 3, 8\].*needs a 4-D input",
    ),
    "zero scale under a fused RELU": (
        {f"tensor {VWW_CONV_OUTPUT} scale[0]": 0.0},
        r"tensor 58 .*quantization scale \[0.0\] must be positive and finite",
    ),
    "NaN scale": ({f"tensor {VWW_CONV_OUTPUT} scale[0]": float("nan")}, r"scale \[nan\] must be positive"),
    "int8 zero point out of range": (
        {f"tensor {VWW_CONV_OUTPUT} zero_point[0]": 300},
        r"int8 zero point \[300\] is outside -128..127",
    ),
    "input of 2^64 bytes": (
        {"tensor 0 shape[1]": 2**30, "tensor 0 shape[2]": 2**30, "tensor 0 shape[3]": 16},
        r"tensor 0 'input_1_int8' of shape \[1, 1073741824, 1073741824, 16\] \(int8\) needs "
        r"18,446,744,073,709,551,616 bytes; patchbench takes tensors up to 2,147,483,648 bytes",
    ),
    "negative dim": ({"tensor 0 shape[1]": -96}, r"shape \[1, -96, 96, 3\]; negative dims are not supported"),
    "op reads a tensor that is not there": ({"op 3 inputs[0]": 9999}, r"op 3 \(.*\) refers to tensor 9999"),
    "unknown op code": (
        {"opcode 0 builtin_code": 1000, "opcode 0 deprecated_builtin_code": 127},
        r"op \d+ is",
    ),
}


@pytest.mark.parametrize("case", IMPORT_CASES)
def test_a_crafted_model_is_an_import_error_naming_the_field(case):
    fields, message = IMPORT_CASES[case]
    with pytest.raises(TFLiteImportError, match=message):
        graph_from_bytes(crafted(VWW, **fields), VWW)


def test_tensor_size_is_exact_and_a_huge_tensor_is_refused_with_the_numbers():
    huge = Tensor("x", (1, 2**30, 2**30, 16), "int8")
    assert huge.size == 2**64 and huge.nbytes == 2**64  # numpy's int64 product wrapped this to 0
    graph = get_model(VWW)
    graph = type(graph)(graph.name, {**graph.tensors, "x": huge}, graph.ops, graph.inputs, graph.outputs)
    with pytest.raises(
        GraphError, match=r"tensor 'x' of shape \[1, 1073741824, 1073741824, 16\] .* needs 18,446,"
    ):
        validate(graph)


def test_a_zoo_name_too_big_for_a_microcontroller_is_refused():
    with pytest.raises(
        ValueError, match=r"model 'mbv2-w4.0-r1024': resolution 1024 is out of range; use 32..512"
    ):
        get_model("mbv2-w4.0-r1024")


# --- schedule / analytic size: decided before allocating -------------------------------------------


def test_the_reference_refuses_a_model_bigger_than_host_memory_before_allocating(monkeypatch):
    graph = get_model(VWW)
    needed = budget.host_bytes_needed(graph)
    assert needed > sum(t.nbytes for t in graph.tensors.values() if not t.is_const)  # im2col counted
    monkeypatch.setattr(budget, "available_host_bytes", lambda: needed)  # half of it is allowed
    x = np.zeros(graph.tensor(graph.inputs[0]).shape, np.int8)
    with pytest.raises(reference.ReferenceError, match=r"needs about .* MiB .* more than 50% of the .* MiB"):
        reference.run_outputs(graph, x)
    monkeypatch.setattr(budget, "available_host_bytes", lambda: 2 * needed)
    assert reference.run_outputs(graph, x)


def test_a_point_that_clearly_cannot_fit_is_decided_from_the_graph():
    from harness.firmware.targets import load_target

    big = get_model("mbv2-w1.0-r224")  # 3.4 MB of weights
    roomy = dataclasses.replace(load_target("stm32f412"), sram_budget_bytes=64 * 2**20)
    assert clearly_too_big(big, make_plan(big, 1, 0), roomy) is None  # under 4x the 1 MB: the linker says
    quarter = dataclasses.replace(roomy, flash_budget_bytes=512 * 1024)
    flash = clearly_too_big(big, make_plan(big, 1, 0), quarter)
    assert flash.region == "FLASH" and flash.needed_bytes > 4 * quarter.flash_budget_bytes
    assert "kB flash (the weights alone), board has 512.0 kB (decided before code generation)" in flash.reason
    vww = get_model(VWW)
    tiny = dataclasses.replace(load_target("stm32f746"), sram_budget_bytes=8 * 1024)
    ram = clearly_too_big(vww, make_plan(vww, 1, 0), tiny)
    assert ram.reason.startswith(
        "needs at least 36.0 kB SRAM (output of op02_conv_2d [1, 48, 48, 16] alone), board has 8.0"
    )
    # with patches the whole-tensor bound drops under the budget: not clearly too big, the linker decides
    assert clearly_too_big(vww, make_plan(vww, 4, 8), tiny, input_mode="streamed") is None
    assert clearly_too_big(vww, make_plan(vww, 1, 0), load_target("stm32f746")) is None  # it fits, really


# --- command line: one line naming the mistake, exit 2 ----------------------------------------------

CLI_CASES = {
    "bench --patches 0": (["bench", "--patches", "0"], r"--patches takes integers >= 1; got 0 in '0'"),
    "bench --depths -1": (["bench", "--depths", "2,-1"], r"--depths takes integers >= 1; got -1"),
    "bench unknown target": (
        ["bench", "--target", "stm32f999"],
        r"unknown target 'stm32f999'.*known targets",
    ),
    "bench unknown model": (["bench", "--models", "vww"], r"unknown model 'vww'\. Known models"),
    "bench missing sweep": (["bench", "--sweep", "nowhere.toml"], r"sweep file nowhere.toml not found"),
    "bench -j x": (["bench", "-j", "x"], r"--jobs takes a number of parallel emulators or 'auto'; got 'x'"),
    "profile unknown model": (["profile", "nosuch"], r"unknown model 'nosuch'"),
    "profile missing file": (["profile", "nowhere.tflite"], r"model file 'nowhere.tflite' not found"),
    "bench --patches 9": (["bench", "--patches", "1,9"], r"--patches takes integers in 1..8; got 9 in '1,9'"),
    "bench --report a file": (
        ["bench", "--report", str(REPO_ROOT / "README.md")],
        r"--report .*README.md is a file, not a folder; pass a folder for the HTML report",
    ),
    "compare --results a folder": (
        ["compare", "--results", str(REPO_ROOT), "--baseline", "previous"],
        r"results database .*: a folder, not a results database file",
    ),
    "export --results a folder": (
        ["export", "x.csv", "--results", str(REPO_ROOT)],
        r"results database .*: a folder, not a results database file",
    ),
}


@pytest.mark.parametrize("case", CLI_CASES)
def test_a_cli_mistake_is_one_line_and_exit_2(case, capsys):
    from harness.cli import main

    argv, message = CLI_CASES[case]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and err.startswith(f"patchbench {argv[0]}: error: "), err
    assert re.search(message, err), err


# --- board, protocol and results: every outcome of a point is a stored row ------------------------


@pytest.fixture(scope="module")
def tiny():
    from models.synthetic import LayerSpec, build_stack

    return build_stack(
        [LayerSpec("conv", 3, 1, channels=4)], input_shape=(1, 8, 8, 3), blocks=False, name="tiny"
    )


@pytest.fixture
def stored(tmp_path):
    """Stores a result as the benchmark test does, and reads every row of the run back."""
    from harness.results.db import ResultsDB

    db = ResultsDB(tmp_path / "results.sqlite")
    db.start_run("r1", None, "host", {})

    def store(result):
        db.add(result.as_record("r1"))
        return db.results("r1")

    yield store
    db.close()


def _raise(error):
    def fail(*args, **kwargs):
        raise error

    return fail


POINT_FAULTS = {  # where it fails -> the exception -> what the row's reason says
    "console refused mid-run": (
        "_run",
        ConnectionError("[Errno 111] Connection refused"),
        r"unexpected ConnectionError: ",
    ),
    "disk full in the build": (
        "build_point",
        OSError(28, "No space left on device"),
        r"unexpected OSError: .*No space left",
    ),
    "out of memory in the reference": ("make_test_input", MemoryError(), r"unexpected MemoryError"),
    "a bug in a stage": (
        "_add_plan_metrics",
        KeyError("op7"),
        r"unexpected KeyError: 'op7' \(please report it",
    ),
}


@needs("arm-none-eabi-gcc")
@pytest.mark.parametrize("case", POINT_FAULTS)
def test_a_point_that_fails_in_any_way_is_an_error_row_with_the_exception(
    tiny, stored, monkeypatch, tmp_path, case
):
    from harness.pipeline import measure as pipeline

    where, error, message = POINT_FAULTS[case]
    monkeypatch.setattr(pipeline, where, _raise(error))
    result = pipeline.measure(tiny, "stm32f746", 1, 0, repeat=1, build_root=tmp_path)
    assert result.status == "error" and re.match(message, result.reason), result.reason
    rows = stored(result)
    assert list(rows["status"]) == ["error"] and re.match(message, rows["reason"][0])


def test_a_board_timeout_row_carries_the_console_tail(tiny, stored, monkeypatch, tmp_path):
    from harness.boards.base import BoardTimeout
    from harness.pipeline import measure as pipeline

    lines = ["PB1 BEGIN build=x *0000", "PB1 MODEL tiny *0000"]
    monkeypatch.setattr(
        pipeline, "build_point", lambda *a, **k: (_ for _ in ()).throw(BoardTimeout("hung", lines))
    )
    result = pipeline.measure(tiny, "stm32f746", 1, 0, repeat=1, build_root=tmp_path)
    assert result.reason.startswith("BoardTimeout: hung") and "PB1 MODEL tiny" in result.reason
    assert "PB1 MODEL tiny" in stored(result)["reason"][0]


def test_a_point_too_big_is_decided_before_its_c_is_generated(stored, monkeypatch):
    from harness.engines.patchbench import PatchbenchEngine
    from harness.firmware.targets import load_target
    from harness.pipeline import measure as pipeline

    monkeypatch.setattr(
        PatchbenchEngine, "generate", _raise(AssertionError("generated C for a point that cannot fit"))
    )
    small = dataclasses.replace(load_target("stm32f746"), sram_budget_bytes=8 * 1024)
    result = pipeline.measure(get_model(VWW), small, 1, 0, repeat=1)
    assert result.status == "does_not_fit" and result.sram_needed == 36_864
    assert result.reason.startswith("needs at least 36.0 kB SRAM (output of op02_conv_2d")
    assert list(stored(result)["status"]) == ["does_not_fit"]


@needs("arm-none-eabi-gcc", "qemu-system-arm")
def test_a_log_that_cannot_be_written_costs_the_log_not_the_measurement(tiny, stored, monkeypatch, tmp_path):
    from harness.pipeline import measure as pipeline

    monkeypatch.setattr(pipeline, "_write_log", _raise(OSError(30, "Read-only file system")))
    result = pipeline.measure(tiny, "stm32f746", 1, 0, repeat=1, build_root=tmp_path)
    assert result.status == "passed" and result.latency > 0 and result.log_path is None
    assert result.reason == "the console log was not written (OSError: [Errno 30] Read-only file system)"
    row = stored(result).iloc[0]
    assert row["status"] == "passed" and row["latency"] == result.latency


def test_the_pipeline_command_refuses_mistakes_in_one_line(capsys):
    from harness.pipeline.measure import main

    for argv, message in [
        (["vww", "stm32f746", "1", "0"], "unknown model 'vww'"),
        (["nowhere.tflite", "stm32f746", "1", "0"], "model file 'nowhere.tflite' not found"),
        ([VWW, "stm32f999", "1", "0"], "unknown target 'stm32f999'"),
        ([VWW, "stm32f746", "0", "0"], "p (patches per side) is 0"),
        ([VWW, "stm32f746", "2", "0"], "n (patch-stage depth) is 0"),
    ]:
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and message in err, err


# --- report: only logs from the build folder go into the uploaded report ------------------------------


def test_the_report_copies_no_file_from_outside_the_build_folder(tmp_path):
    import sqlite3

    from test_report import add_run

    from harness.report.page import write_report
    from harness.results.db import ResultsDB

    secret = tmp_path / "home" / "secret.log"
    secret.parent.mkdir()
    secret.write_text("PRIVATE KEY")
    db_path = tmp_path / "results.sqlite"
    with ResultsDB(db_path) as db:
        run = add_run(db, "20261121-010000-aaaaaa", tmp_path / "logs")
    (tmp_path / "logs" / "link.log").symlink_to(secret)
    with sqlite3.connect(db_path) as con:
        paths = [row[0] for row in con.execute("SELECT id FROM results WHERE run_id = ? ORDER BY id", (run,))]
        planted = [str(secret), str(tmp_path / "logs" / "link.log"), "/etc/passwd"]
        for row_id, path in zip(paths, planted, strict=False):
            con.execute("UPDATE results SET log_path = ? WHERE id = ?", (path, row_id))
    page = write_report(db_path, run, tmp_path / "report")
    copied = [p.read_text() for p in (tmp_path / "report").rglob("*.log")]
    assert not any("PRIVATE KEY" in text or "root:" in text for text in copied)
    assert "log not copied" in page.read_text()
    with ResultsDB(db_path) as db:
        assert len(db.results(run)) == len(paths)  # the rows themselves are all there


# --- results: a SQLite file of another program is not taken over ---------------------------------------


def test_a_sqlite_file_of_another_program_is_refused_and_left_as_it_was(tmp_path):
    import sqlite3

    from harness.results.db import APPLICATION_ID, ResultsDB, ResultsError

    other = tmp_path / "contacts.sqlite"
    with sqlite3.connect(other) as con:
        con.execute("CREATE TABLE contacts (name TEXT)")
    before = other.read_bytes()
    with pytest.raises(
        ResultsError, match=r"another program \(tables contacts\).*pass another --results file"
    ):
        ResultsDB(other)
    assert other.read_bytes() == before and not (tmp_path / "contacts.sqlite-wal").exists()

    stamped = tmp_path / "stamped.sqlite"
    with sqlite3.connect(stamped) as con:
        con.execute("PRAGMA application_id = 1234")
    with pytest.raises(ResultsError, match=r"another program \(application id 0x000004d2\)"):
        ResultsDB(stamped)

    ours = tmp_path / "results.sqlite"
    with ResultsDB(ours) as db:
        db.start_run("r1", None, "host", {})
    with sqlite3.connect(ours) as con:
        assert con.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
        con.execute("PRAGMA application_id = 0")  # a patchbench database from before the id
    with ResultsDB(ours) as db:
        assert db.run_ids() == ["r1"]
    with sqlite3.connect(ours) as con:
        assert con.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID


# --- model files: refused from what they are, naming it ------------------------------------------------


def _tiny_conv(name="net"):
    from models.synthetic import LayerSpec, build_stack

    return build_stack(
        [LayerSpec("conv", 3, 1, channels=4)], input_shape=(1, 8, 8, 3), blocks=False, name=name
    )


def _written(change):
    """The tiny conv written as a .tflite file after ``change(graph)`` (a new Graph), as another tool
    would write it: without patchbench's checks (the writer validates; the file need not be valid)."""
    from unittest import mock

    from harness.frontend import graph_to_bytes, writer

    with mock.patch.object(writer, "validate", lambda graph: None):
        return graph_to_bytes(change(_tiny_conv()))


def _requant(name_of, **changes):
    def change(graph):
        name = name_of(graph)
        tensor = graph.tensors[name]
        tensors = {
            **graph.tensors,
            name: dataclasses.replace(tensor, quant=dataclasses.replace(tensor.quant, **changes)),
        }
        return dataclasses.replace(graph, tensors=tensors)

    return change


def _weights(graph):
    return next(n for n, t in graph.tensors.items() if t.is_const and t.dtype == "int8")


def _bias(graph):
    return next(n for n, t in graph.tensors.items() if t.is_const and t.dtype == "int32")


def _no_ops(graph):
    tensor = graph.tensors[graph.inputs[0]]
    return dataclasses.replace(
        graph, tensors={tensor.name: tensor}, ops=[], outputs=[tensor.name], blocks=None
    )


def _constant_input(graph):
    tensor = graph.tensors[graph.inputs[0]]
    filled = dataclasses.replace(tensor, data=np.zeros(tensor.shape, np.int8))
    return dataclasses.replace(graph, tensors={**graph.tensors, tensor.name: filled})


MODEL_FILE_CASES = {  # the file's bytes -> what the import error says
    "a huge file of another kind": (
        lambda: b"\0" * (64 << 20),
        r"not a TFLite flatbuffer \(no 'TFL3' identifier at bytes 4..8; 67108864 bytes\)",
    ),
    "an empty file": (lambda: b"", r"not a TFLite flatbuffer .*; 0 bytes\); pass a .tflite model file"),
    "a text file named .tflite": (lambda: b"version: 3\nlayers: []\n", r"not a TFLite flatbuffer"),
    "a model with no operators": (lambda: _written(_no_ops), r"has no operators .*nothing to run or measure"),
    "a graph input holding constant data": (
        lambda: _written(_constant_input),
        r"input 'input' holds constant data \(192 bytes in its buffer\); a graph input is what the firmware "
        r"is fed at run time",
    ),
    "int8 conv weights with a non-zero zero point": (
        lambda: _written(_requant(_weights, zero_point=np.full(4, 2, np.int64))),
        r"filter \(tensor 1 'b0_conv_conv_filter'\) has zero point \[2, 2, 2, 2\]; TFLite's int8 CONV_2D weights "
        r"are symmetric",
    ),
    "a bias with a non-zero zero point": (
        lambda: _written(_requant(_bias, zero_point=np.full(4, 1, np.int64))),
        r"bias \(tensor 2 'b0_conv_conv_bias'\) has zero point \[1, 1, 1, 1\]; TFLite's int32 bias is symmetric",
    ),
    "per-channel weight scales along the input channels": (
        lambda: _written(_requant(_weights, scale=np.full(3, 0.01, np.float32), zero_point=np.zeros(3, np.int64),
                                  axis=3)),
        r"has 3 per-channel scales along dimension 3; CONV_2D takes one scale, or one per output channel",
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", MODEL_FILE_CASES)
def test_a_bad_model_file_is_refused_naming_what_it_is(tmp_path, case):
    from harness.frontend.importer import import_tflite

    make, message = MODEL_FILE_CASES[case]
    path = tmp_path / "net.tflite"
    data = make()
    path.write_bytes(data)
    with pytest.raises(TFLiteImportError, match=message):
        import_tflite(path)
    assert path.stat().st_size == len(data)  # the file as it was


def test_a_folder_named_like_a_model_is_said_to_be_a_folder(tmp_path):
    folder = tmp_path / "net.tflite"
    folder.mkdir()
    with pytest.raises(
        SweepError, match=r"model file '.*net.tflite' is a folder; name the .tflite file in it"
    ):
        load_sweep(_sweep_file(tmp_path, GOOD_SWEEP.replace('"vww_96_int8"', f'"{folder}"')))


# --- sweep numbers: each in its range, checked when the sweep is read ---------------------------------


def _sweep_file(tmp_path, text):
    path = tmp_path / "sweep.toml"
    path.write_text(text)
    return path


SWEEP_RANGE_CASES = {
    "repeat a million": (GOOD_SWEEP + "repeat = 1000000\n", r"repeat must be an integer in 1..1000 \(got 1000000\)"),
    "repeat beyond a C int": (GOOD_SWEEP + "repeat = 1099511627776\n", r"repeat must be an integer in 1..1000"),
    "patches beyond 8": (GOOD_SWEEP.replace("[1, 2]", "[1, 9]"), r"patches must be a non-empty list of integers in 1..8"),
    "a model's patches beyond 8": (
        GOOD_SWEEP + "[models.vww_96_int8]\npatches = [64]\n",
        r"patches must be a non-empty list of integers in 1..8 \(got \[64\]\)",
    ),
    "depth 0": (GOOD_SWEEP.replace("depths = [5]", "depths = [0]"), r"depths must be a non-empty list of integers >= 1"),
    "no targets": (GOOD_SWEEP.replace('["stm32f746"]', "[]"), r"targets must be a non-empty list of strings"),
}  # fmt: skip


@pytest.mark.parametrize("case", SWEEP_RANGE_CASES)
def test_a_sweep_number_out_of_its_range_is_refused_when_the_sweep_is_read(tmp_path, case):
    text, message = SWEEP_RANGE_CASES[case]
    path = _sweep_file(tmp_path, text)
    with pytest.raises(SweepError, match=rf"sweep file {path}.*{message}"):
        load_sweep(path)


def test_a_depth_beyond_the_models_layers_is_refused_before_any_point(tmp_path):
    from harness.pipeline.sweep import check_depths

    sweep = load_sweep(_sweep_file(tmp_path, GOOD_SWEEP.replace("depths = [5]", "depths = [5, 99]")))
    with pytest.raises(SweepError, match=r"sweep: patch-stage depth\(s\) 99 of vww_96_int8: it has 31 layers; "
                                         r"use 1..31"):  # fmt: skip
        check_depths(sweep, "sweep")


# --- farm: a board that is not there ---------------------------------------------------------------------


def test_a_missing_farm_board_under_on_missing_fail_names_the_board_and_what_to_do(tmp_path):
    from harness.boards import BoardError
    from harness.boards.farm import Farm, FarmBoard, choose_backend

    board = FarmBoard("desk-f746", "stm32f746", "P1", "/dev/ttyACM0", 115200)
    farm = Farm((board,), "fail", tmp_path / "farm.toml")
    with pytest.raises(BoardError, match=r"farm board 'desk-f746' \(probe P1\) is not connected; connected probes: "
                                         r"none\. The farm file .* says on_missing = \"fail\"; connect the board"):  # fmt: skip
        choose_backend("stm32f746", farm, None, connected=[], renode_installed=False, lock_dir=tmp_path)
    with pytest.raises(
        BoardError, match=r"--backend pyocd: no physical board for stm32f746: no farm file was given"
    ):
        choose_backend("stm32f746", None, "pyocd", connected=[], renode_installed=False, lock_dir=tmp_path)


# --- paths: results and report folders that cannot be used ----------------------------------------------


@pytest.fixture
def db_with_a_point(tmp_path):
    """A results database holding one finished run of one point; ``rows()`` reads it back."""
    from harness.results.db import ResultsDB
    from harness.results.record import PointIdentity, PointRecord

    path = tmp_path / "results.sqlite"
    with ResultsDB(path) as db:
        db.start_run("r1", None, "host", {})
        db.add(PointRecord(identity=PointIdentity("stm32f746", "qemu", VWW, 1, 0, model_hash="ab" * 8), run_id="r1",
                           status="passed", latency=1000.0, latency_unit="instructions", sram_measured=5000,
                           flash_bytes=9000, output_crc="0badf00d"))  # fmt: skip
        db.finish_run("r1")
    return path


def _rows(path):
    from harness.results.db import ResultsDB

    with ResultsDB(path) as db:
        return [(r.identity, r.status, r.latency, r.output_crc) for r in db.records()]


def _dangling(tmp_path):
    link = tmp_path / "gone.sqlite"
    link.symlink_to(tmp_path / "no-such-folder" / "results.sqlite")
    return link


def _under_a_file(tmp_path):
    (tmp_path / "plain").write_text("x")
    return tmp_path / "plain" / "results.sqlite"


RESULTS_PATH_CASES = {  # a --results path -> what ResultsDB says
    "a folder": (lambda tmp: tmp, r": a folder, not a results database file: pass a file such as .*results.sqlite"),
    "a dangling symlink into no folder": (_dangling, r"a symlink to .*no-such-folder/results.sqlite, whose folder does "
                                                     r"not exist"),
    "a file where its folder goes": (_under_a_file, r"cannot create its folder \(File exists\); pass a writable "
                                                    r"--results file"),
}  # fmt: skip


@pytest.mark.parametrize("case", RESULTS_PATH_CASES)
def test_a_results_path_that_cannot_be_a_database_is_one_line(tmp_path, db_with_a_point, case):
    from harness.results.db import ResultsDB, ResultsError

    make, message = RESULTS_PATH_CASES[case]
    before = _rows(db_with_a_point)
    with pytest.raises(ResultsError, match=message):
        ResultsDB(make(tmp_path))
    assert _rows(db_with_a_point) == before


def test_a_results_symlink_to_a_database_is_used_through_the_link(tmp_path, db_with_a_point):
    link = tmp_path / "link.sqlite"
    link.symlink_to(db_with_a_point)
    assert _rows(link) == _rows(db_with_a_point) and len(_rows(link)) == 1


def test_a_session_with_an_unusable_results_path_stops_before_measuring(tmp_path):
    from harness.pytest_plugin import _check_results

    with pytest.raises(pytest.UsageError, match=r"--results: .*a folder, not a results database file.*\(nothing "
                                                r"was measured\)"):  # fmt: skip
        _check_results(tmp_path)


def test_a_point_the_database_does_not_take_is_kept_and_the_line_says_where(
    tmp_path, db_with_a_point, monkeypatch
):
    """A disk that fills (or a file made read-only) mid-run: the measured point goes to a results export in
    the temporary folder, which reads back as the same point."""
    import sqlite3

    from harness.pytest_plugin import keep_unstored
    from harness.results.db import ResultsDB, ResultsError, read_export
    from harness.results.record import PointIdentity, PointRecord

    monkeypatch.setattr("tempfile.gettempdir", lambda: str(tmp_path))
    point = PointRecord(identity=PointIdentity("stm32f746", "qemu", VWW, 2, 8), run_id="r1", status="passed",
                        latency=2000.0, latency_unit="instructions", layer_latency=[("op0", 2000.0)])  # fmt: skip
    with ResultsDB(db_with_a_point) as db:
        db._conn.close()
        db._conn = sqlite3.connect(f"file:{db_with_a_point}?mode=ro", uri=True)  # the file takes no write
        with pytest.raises(ResultsError, match=r"cannot store the point stm32f746/qemu vww_96_int8 p=2 n=8 \("
                                               r"attempt to write a readonly database\)"):  # fmt: skip
            db.add(point)
    where = keep_unstored(point)
    assert where.endswith("(a results export: compare --baseline reads it)")
    kept = read_export(where.split(" ")[0])
    assert list(kept["latency"]) == [2000.0] and list(kept["p"]) == [2]
    assert len(_rows(db_with_a_point)) == 1  # the stored run as it was


# --- report: a folder that cannot take it ----------------------------------------------------------------


def _a_file_there(tmp_path, monkeypatch):
    (tmp_path / "report").write_text("notes")
    return ["--out", str(tmp_path / "report")]


def _no_write(tmp_path, monkeypatch):
    from pathlib import Path

    real = Path.write_bytes

    def refuse(self, data):
        if self.name.startswith(".pb-write-test"):
            raise PermissionError(13, "Permission denied", str(self))
        return real(self, data)

    monkeypatch.setattr(Path, "write_bytes", refuse)
    return ["--out", str(tmp_path / "ro")]


REPORT_CASES = {  # the report command's arguments (made by the function) -> its one line
    "a report folder that is a file": (
        _a_file_there, r"report folder .*report is a file, not a folder; pass another folder \(--out / --report\)"
    ),
    "a report folder that takes no write": (
        _no_write,
        r"report folder .*ro cannot be written \(Permission denied\); pass a writable folder \(--out / --report\): "
        r"the results are untouched in the database",
    ),
    "a run that is not stored": (
        lambda tmp, mp: ["--run", "nosuch", "--out", str(tmp / "rep")], r"no run 'nosuch' in .*; latest runs: r1"
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", REPORT_CASES)
def test_a_report_that_cannot_be_written_is_one_line_and_the_results_stay(
    tmp_path, db_with_a_point, monkeypatch, capsys, case
):
    from harness.cli import main

    make, message = REPORT_CASES[case]
    before = _rows(db_with_a_point)
    assert main(["report", "--results", str(db_with_a_point), *make(tmp_path, monkeypatch)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and err.startswith("patchbench report: error: "), err
    assert re.search(message, err), err
    assert _rows(db_with_a_point) == before
    if (tmp_path / "report").is_file():
        assert (tmp_path / "report").read_text() == "notes"


def test_check_prints_its_report_when_no_interpreter_loads_the_file(monkeypatch, capsys):
    """A traceback (KeyError 'inputs') where --json worked, before."""
    from harness.cli import main
    from harness.paths import mlperf_model
    from harness.reference import outside

    def refuse(*args, **kwargs):
        raise outside.OutsideRuntimeError(
            "litert BUILTIN_REF failed on the model (exit 1): Registration failed."
        )

    monkeypatch.setattr(outside, "run_litert", refuse)
    monkeypatch.setattr(outside, "run_tflm", refuse)
    assert main(["check", str(mlperf_model("ad01_int8")), "--target", "stm32f746", "--inputs", "1"]) == 1
    out = capsys.readouterr().out
    assert "TFLite Micro outputs (1 inputs): the file: does not load: litert BUILTIN_REF failed" in out
    assert "problem: LiteRT runs neither the file nor the canonicalized export" in out and "NOT OK" in out


# --- results: databases and baselines that cannot be read as such ----------------------------------------


def _future_schema(path):
    import sqlite3

    con = sqlite3.connect(path)  # closed: its write is in the database file, not left in the WAL
    with con:
        con.execute("PRAGMA user_version = 99")
    con.close()


def _drop_a_column(path):
    import sqlite3

    con = sqlite3.connect(path)  # closed: its write is in the database file, not left in the WAL
    with con:
        con.execute("ALTER TABLE results DROP COLUMN oracle")
    con.close()


def _export_with(tmp_path, db_path, suffix, column, text):
    from harness.results.db import ResultsDB

    path = tmp_path / f"baseline{suffix}"
    with ResultsDB(db_path) as db:
        db.export(path, "r1")
    if suffix == ".csv":
        lines = path.read_text().splitlines()
        header, row = lines[0].split(","), lines[1].split(",")
        row[header.index(column)] = text
        path.write_text("\n".join([lines[0], ",".join(row)]) + "\n")
    else:
        import json

        records = json.loads(path.read_text())
        records[0][column] = text
        path.write_text(json.dumps(records))
    return path


RESULTS_CASES = {  # (damage the database, or write a baseline) -> the command line's one line
    "a database of a future schema": (
        lambda tmp, db: _future_schema(db), None,
        r"schema version 99 is newer than this patchbench knows \(\d+\); upgrade patchbench",
    ),
    "a database missing a column": (
        lambda tmp, db: _drop_a_column(db), None,
        r"the results table lacks column\(s\) oracle that schema version \d+ has: another program \(or a damaged "
        r"copy\) changed the file\. Nothing was written to it",
    ),
    "a CSV baseline with text where a number goes": (
        None, lambda tmp, db: _export_with(tmp, db, ".csv", "latency", "fast"),
        r"export .*baseline.csv: column 'latency' holds 'fast' in record 1, where a number goes",
    ),
    "a JSON baseline with text where a number goes": (
        None, lambda tmp, db: _export_with(tmp, db, ".json", "sram_measured", "lots"),
        r"export .*baseline.json: column 'sram_measured' holds 'lots' in record 1, where a number goes",
    ),
    "a baseline that is not an export": (
        None, lambda tmp, db: (tmp / "b.json").write_text("{not json") and tmp / "b.json",
        r"export .*b.json is not a patchbench export \(JSONDecodeError",
    ),
    "a baseline file that is not there": (
        None, lambda tmp, db: tmp / "gone.csv", r"baseline file .*gone.csv not found",
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", RESULTS_CASES)
def test_a_bad_database_or_baseline_is_one_line_and_nothing_stored_is_lost(
    tmp_path, db_with_a_point, case, capsys
):
    from harness.cli import main

    damage, baseline, message = RESULTS_CASES[case]
    if damage is not None:
        damage(tmp_path, db_with_a_point)
    before = db_with_a_point.read_bytes()
    where = str(baseline(tmp_path, db_with_a_point)) if baseline is not None else "r1"
    assert main(["compare", "--results", str(db_with_a_point), "--run", "r1", "--baseline", where]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and err.startswith("patchbench compare: error: "), err
    assert re.search(message, err), err
    assert db_with_a_point.read_bytes() == before  # not a byte of the database changed


# --- the matrix: every parametrized table of bad inputs, by layer -------------------------------------


def matrix() -> dict[str, dict]:
    """Layer -> {case: (input, message regex)} of every parametrized table (this file's and the farm
    file's): what the issue's closing note lists, and what the count below checks."""
    from test_farm import FARM_FILE_CASES

    return {
        "model": {**IMPORT_CASES, **MODEL_FILE_CASES},
        "sweep": {**SWEEP_CASES, **SWEEP_RANGE_CASES, **CLI_CASES},
        "farm": {problem: (text, problem) for text, problem in FARM_FILE_CASES},
        "path": RESULTS_PATH_CASES,
        "report": REPORT_CASES,
        "process-fault": {case: (where, message) for case, (where, _, message) in POINT_FAULTS.items()},
        "results": {
            case: (damage or baseline, message) for case, (damage, baseline, message) in RESULTS_CASES.items()
        },
    }


def test_the_matrix_covers_every_layer():
    cases = matrix()
    assert all(cases.values()), [layer for layer, table in cases.items() if not table]
    assert sum(len(table) for table in cases.values()) >= 60

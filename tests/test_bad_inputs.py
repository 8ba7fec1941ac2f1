"""Bad inputs and faults, layer by layer: each case asserts the message a user sees (what is wrong and
what to do) and, where points are measured or stored, that no completed row is lost.

Index (layer: the cases here, then those that live beside their module's other tests):
- sweep file: ``SWEEP_CASES`` (unknown keys with a did-you-mean, repeat "x" / 0 / true, a non-table
  [models], unknown target / model, a missing .tflite, a zoo name out of range, not TOML)
- import: ``IMPORT_CASES`` (crafted well-formed flatbuffers: rank-0 depthwise input, zero or NaN scale,
  zero point out of range, a 2^64-byte tensor, negative dims, a dangling tensor index, an unknown op),
  Tensor.size exact, zoo names too big; fuzzing of real models: tests/test_import_fuzz.py
- schedule / analytic size: the reference refuses a graph bigger than host memory before allocating;
  points clearly too big for the board are does_not_fit before code generation
- code generation: names carrying C (tests/test_codegen.py::
  test_a_tensor_and_graph_name_carrying_c_are_only_text_and_the_model_runs)
- build: broken firmware-cache entries, two processes repairing one (tests/test_build.py)
- command line: ``CLI_CASES`` and the pipeline command (one line, exit 2)
- farm: a missing board under on_missing = "fail" is a stored error row, not a QEMU fallback
  (tests/test_farm.py::test_bench_keeps_a_farm_files_on_missing_fail_*)
- board / protocol: ``POINT_FAULTS`` (a refused console, a full disk, out of memory, a bug: each an error
  row with the exception), a board timeout row with the console tail, a log that cannot be written;
  a flooding console (tests/test_qemu.py::test_reader_stops_*), Renode's console off the network
  (tests/test_boards_renode.py), corrupted records (tests/test_protocol.py)
- session: SIGTERM / SIGHUP keep every row and leave no emulator (tests/test_termination.py)
- results: a SQLite file of another program is refused and left untouched
- report: only logs from the build folder are copied into the uploaded report
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
    "repeat not a number": (GOOD_SWEEP + 'repeat = "x"\n', r"repeat must be an integer in 1..1000 \(got 'x'\)"),
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
    "a bug in a stage": ("generate_model", KeyError("op7"), r"unexpected KeyError: 'op7' \(please report it"),
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
    from harness.firmware.targets import load_target
    from harness.pipeline import measure as pipeline

    monkeypatch.setattr(
        pipeline, "generate_model", _raise(AssertionError("generated C for a point that cannot fit"))
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

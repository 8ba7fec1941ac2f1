# SPDX-License-Identifier: Apache-2.0
"""patchbench's pytest plugin: options, fixtures and the parametrization of the benchmark tests.

Installed (``pip install patchbench``) it loads in every pytest session through its ``pytest11`` entry
point, named like the module (``-p no:harness.pytest_plugin`` turns it off), so a project of one's own
needs no conftest.py; this repository's conftest.py names it too, for a checkout that is not installed.

Every option is also a session fixture of the same name (``sweep``, ``backend``, ``farm``,
``results_db``, ``report_dir``, ``baseline``, ``repeat``, ``kernels``), so a test module can override
one by defining a fixture with that name. A test that asks for ``point`` is parametrized over the
sweep's (target, model, p, n) points with ids like ``stm32f746-vww_96_int8-p4-n5``.

Names other plugins also use are namespaced with ``pb``: the option ``--pb-target`` (pytest-embedded
has a ``--target``) and the fixture ``pb_target`` (labgrid's and pytest-embedded's plugins have a
``target`` fixture). The other options keep their names: no plugin we know of uses them (checked against
labgrid 26, pytest-embedded, pytest-xdist, hypothesis, pytest-html, pytest-repeat, pytest-benchmark).

A point goes through one fixture per stage, each storing the point's record when it ends there:
``plan`` (schedule, memory plan, analytic figures, C; a point that cannot be planned is an ERROR in
setup, one clearly too big for the board a SKIP), ``firmware`` (built once per point in a session and reused by every test of the point; a
build failure is an ERROR in setup, a firmware that does not fit the board is a SKIP with the
linker's numbers, stored as ``does_not_fit``), ``device_run`` (flashed, run ``--repeat`` timed times
in one boot, checked against the reference: a PointResult whatever happens) and ``record`` (stores a
PointRecord in the run, and its fields as JUnit XML properties).

Without ``--results`` the points go to a temporary database (``PATCHBENCH_RESULTS``; its path is printed
at the end): a test session never writes into the user's build/results.sqlite; ``patchbench bench``
passes ``--results`` (default build/results.sqlite). With pytest-xdist the controller creates the run
(one run id, stored in ``PATCHBENCH_RUN_ID``, which the workers inherit with the database's path) and writes the report at the end; the workers write result rows to the same
SQLite file, each row committed on its own so an interrupted run keeps every completed point.
"""

from __future__ import annotations

import json
import os
import platform
import tempfile
import time
import uuid
import warnings
from pathlib import Path

import pytest

from harness.boards.registry import BACKEND_CHOICES, backend_help
from harness.engines import DEFAULT_ENGINE, ENGINES, EngineUnsupported, get_engine, kernel_set_help
from harness.paths import SHARED_DIR
from harness.pipeline.sweep import (
    Point,
    Sweep,
    SweepError,
    check_depths,
    check_engine_kernels,
    check_ranges,
    load_sweep,
    parse_engines,
    parse_input_modes,
    parse_int_list,
    parse_kernel_sets,
    parse_schedules,
)
from harness.schedule.plan import MAX_PATCHES_PER_SIDE

RUN_ID_ENV = "PATCHBENCH_RUN_ID"
# Without --results a session stores its points in a temporary database (its path in this variable,
# which xdist workers inherit with the run id): a test session never writes into the user's
# build/results.sqlite. `patchbench bench` passes --results (default: build/results.sqlite).
RESULTS_ENV = "PATCHBENCH_RESULTS"
# ``-m emulator`` / ``-m board`` select them; ``-m hil`` (the one marker before) still selects both.
MARKERS = {
    "emulator": "runs firmware on an emulator this host starts (QEMU; needs arm-none-eabi-gcc, qemu-system-arm)",
    "board": "a benchmark point: runs on the session's board for its target (a farm board, a labgrid place, "
    "else Renode or QEMU; --backend, --farm)",
    "hil": "either of the two above (the old name): `-m hil` selects every emulator and board test",
    "slow": "takes more than a few seconds",
}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("patchbench", "patchbench benchmarking")
    group.addoption(
        "--pb-target",
        action="append",
        default=[],
        help="board(s) to run on, e.g. stm32f412,stm32f746 (targets/*.toml; `patchbench bench --target`)",
    )
    group.addoption(
        "--backend",
        default="auto",
        choices=BACKEND_CHOICES,
        help=backend_help(),
    )
    group.addoption(
        "--models", default=None, help="comma-separated model names (see `python -m harness zoo`)"
    )
    group.addoption("--patches", default=None, help="patch counts p, e.g. 1,2,3,4 (1 = per-layer)")
    group.addoption("--depths", default=None, help="patch-stage depths n, e.g. 4,6")
    group.addoption(
        "--schedules",
        default=None,
        help="schedules by label, comma-separated, measured besides the (p, n) points: row-streamed and several "
        "segments, e.g. 'rows n=3 + rows n=1,rows n=5' (harness/ir/schedule_name.py)",
    )
    group.addoption("--sweep", default=None, help="a TOML sweep file (default: sweeps/default.toml)")
    group.addoption("--farm", default=None, help="a TOML inventory of physical boards")
    group.addoption(
        "--results",
        default=None,
        help="the results database (SQLite file; default: a temporary one, its path printed at the end; "
        "`patchbench bench` uses build/results.sqlite)",
    )
    group.addoption("--report", default=None, help="write the HTML report of this run into this folder")
    group.addoption("--baseline", default=None, help="a run id, an exported .csv/.json, or 'previous'")
    group.addoption("--repeat", type=int, default=None, help="timed runs per point (median reported)")
    group.addoption(
        "--kernels",
        default=None,
        help="kernel set(s), comma-separated, each point measured with each; a name applies to every engine "
        "that has it, engine:name to one: "
        + kernel_set_help()
        + " (default: the sweep's, else each engine's "
        "first)",
    )
    group.addoption(
        "--engines",
        default=None,
        help="engine(s), comma-separated, each point measured with each (harness/engines): "
        + ", ".join(ENGINES)
        + " (default: the sweep's, else "
        + DEFAULT_ENGINE
        + ")",
    )
    group.addoption(
        "--input-modes",
        default=None,
        help="input mode(s) of per-patch points, comma-separated, each point measured each way: counted "
        "(the image in SRAM), streamed (read tile by tile) (default: the sweep's, else counted)",
    )


# The options that say what to measure: given any, the sweep is loaded and checked when the session starts.
SWEEP_OPTIONS = ("--sweep", "--pb-target", "--models", "--patches", "--depths", "--repeat", "--kernels",
                 "--engines", "--input-modes", "--schedules")  # fmt: skip


def session_sweep(config: pytest.Config) -> Sweep:
    """The session's sweep (the sweep file with the options over it), loaded on first use. An installed
    plugin is in every pytest session of its environment: one that measures nothing never loads it (the
    default sweep's models need ../shared)."""
    sweep = getattr(config, "_patchbench_sweep", None)
    if sweep is None:
        sweep = config._patchbench_sweep = _session_sweep(config)
    return sweep


def _session_sweep(config: pytest.Config) -> Sweep:
    try:
        sweep = load_sweep(config.getoption("--sweep"))
        targets = [t for value in config.getoption("--pb-target") for t in value.split(",") if t]
        if targets:
            sweep.targets = targets
        if config.getoption("--models"):
            sweep.models = [m for m in config.getoption("--models").split(",") if m]
        if config.getoption("--patches"):
            sweep.patches = parse_int_list(
                config.getoption("--patches"), "--patches", 1, MAX_PATCHES_PER_SIDE
            )
            sweep.model_patches = {}
        if config.getoption("--depths"):
            sweep.depths = parse_int_list(config.getoption("--depths"), "--depths")
            sweep.model_depths = {}
        if config.getoption("--schedules"):
            labels = [label for label in config.getoption("--schedules").split(",") if label.strip()]
            sweep.schedules = parse_schedules(labels, "--schedules")
            sweep.model_schedules = {}
        if config.getoption("--repeat") is not None:
            sweep.repeat = config.getoption("--repeat")
        if config.getoption("--engines"):
            sweep.engines = parse_engines(config.getoption("--engines"), "--engines")
        if config.getoption("--kernels"):
            sweep.kernels = parse_kernel_sets(config.getoption("--kernels"), "--kernels")
        if config.getoption("--input-modes"):
            sweep.input_modes = parse_input_modes(config.getoption("--input-modes"), "--input-modes")
            sweep.model_input_modes = {}
        check_ranges(sweep, "--repeat / --patches / sweep")
        # stop the session on a kernel set no engine has, or one that cannot be built here: every such
        # point would fail the same way
        check_engine_kernels(sweep, "--engines / --kernels / sweep")
    except SweepError as err:
        raise pytest.UsageError(str(err)) from None
    _check_names(sweep)
    try:
        check_depths(sweep, "--depths / sweep")
    except SweepError as err:
        raise pytest.UsageError(str(err)) from None
    return sweep


def _check_names(sweep: Sweep) -> None:
    """Unknown boards or models are a usage error up front, not one failing test per point."""
    from harness.firmware.targets import TargetError, load_target
    from models import get_model

    for name in sweep.targets:
        try:
            load_target(name)
        except TargetError as err:
            raise pytest.UsageError(f"--pb-target / sweep: {err}") from None
    for name in sweep.models:
        try:
            get_model(name)
        except (ValueError, FileNotFoundError) as err:
            raise pytest.UsageError(f"--models / sweep: {err}") from None


def pytest_configure(config: pytest.Config) -> None:
    from harness.pipeline.termination import interrupt_on_termination

    interrupt_on_termination()  # SIGTERM/SIGHUP: rows kept, emulators stopped, boards released, as Ctrl-C
    for name, meaning in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {meaning}")
    if any(config.getoption(option) not in (None, []) for option in SWEEP_OPTIONS):
        session_sweep(config)  # what was asked for is checked up front: a mistake is one usage error
    if _is_controller(config):
        _check_lab(config)
    if _is_controller(config) and RUN_ID_ENV not in os.environ:
        os.environ[RUN_ID_ENV] = time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
        config._patchbench_owns_run = True
        if not config.getoption("--results"):
            folder = Path(tempfile.gettempdir()) / f"patchbench-{os.environ[RUN_ID_ENV]}"
            os.environ[RESULTS_ENV] = str(folder / "results.sqlite")  # created when a point is stored
        else:
            _check_results(Path(config.getoption("--results")))


def _check_results(path: Path) -> None:
    """An explicit --results file that cannot take the points (a folder, a dangling link, a read-only
    file system, another program's database) stops the session before anything is measured."""
    from harness.results.db import ResultsDB, ResultsError

    try:
        ResultsDB(path).close()
    except ResultsError as err:
        raise pytest.UsageError(f"--results: {err} (nothing was measured)") from None


def results_path(config: pytest.Config) -> Path:
    """The session's results database: --results, else the session's temporary one."""
    value = config.getoption("--results") or os.environ.get(RESULTS_ENV)
    if not value:
        raise pytest.UsageError(f"no results database: pass --results FILE (or set {RESULTS_ENV})")
    return Path(value)


def _check_lab(config: pytest.Config) -> None:
    """A farm file's labgrid coordinator and places are checked once, up front: a wrong address or tag
    is one usage error, not a failure per point. (Other farm file errors surface in the ``farm`` fixture.)"""
    from harness.boards.farm import FarmError, load_farm

    path = config.getoption("--farm")
    try:
        lab = load_farm(path).lab if path else None
    except FarmError:
        return
    if lab is None:
        return
    try:
        from harness.boards.lab_session import LabError, LabSession
    except ImportError as err:
        raise pytest.UsageError(
            f"--farm {path} names a labgrid lab, and labgrid is not installed ({err}): "
            "pip install -e '.[farm]'"
        ) from None
    session = LabSession(lab)
    try:
        session.check()
    except LabError as err:
        raise pytest.UsageError(f"--farm: {err}") from None
    finally:
        session.close()


def _is_controller(config: pytest.Config) -> bool:
    return not hasattr(config, "workerinput")


@pytest.hookimpl(tryfirst=True)  # before -m selects: the markers it reads are complete
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``hil`` is the union of ``emulator`` and ``board``; a test still marked only ``hil`` needs the
    emulator (every such test did when the marker was split)."""
    for item in items:
        if item.get_closest_marker("emulator") or item.get_closest_marker("board"):
            item.add_marker("hil")
        elif item.get_closest_marker("hil"):
            item.add_marker("emulator")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "point" in metafunc.fixturenames:
        points: list[Point] = session_sweep(metafunc.config).points()
        metafunc.parametrize("point", points, ids=[p.test_id for p in points])


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    if not getattr(config, "_patchbench_owns_run", False):
        return
    from harness.results.db import ResultsDB, ResultsError

    path = results_path(config)
    if not path.exists():
        return
    run_id = os.environ[RUN_ID_ENV]
    try:
        with ResultsDB(path) as db:
            if run_id not in db.run_ids():
                return  # no benchmark point ran: a unit-test session leaves no run behind
            if exitstatus != pytest.ExitCode.INTERRUPTED:  # Ctrl-C, SIGTERM: the run stays unfinished
                db.finish_run(run_id)
    except ResultsError as err:
        config._patchbench_problems = [f"patchbench run {run_id}: {err}"]
        return
    config._patchbench_ran = True
    report_dir = config.getoption("--report")
    if report_dir:
        from harness.report.page import ReportError, write_report

        try:
            page = write_report(path, run_id, Path(report_dir), baseline=config.getoption("--baseline"))
        except (ReportError, ResultsError, OSError) as err:
            config._patchbench_problems = [
                f"patchbench report: not written ({err}); the results are in {path}: "
                f"`patchbench report --results {path} --run {run_id} --out FOLDER` writes it elsewhere"
            ]
            return
        config._patchbench_report = page


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    for problem in getattr(config, "_patchbench_problems", ()):
        terminalreporter.write_line(problem, red=True)
    if getattr(config, "_patchbench_ran", False):
        where = str(results_path(config))
        if not config.getoption("--results"):
            where += " (a temporary database: pass --results FILE to keep the results)"
        terminalreporter.write_line(f"patchbench run {os.environ[RUN_ID_ENV]}: results in {where}")
        report = getattr(config, "_patchbench_report", None)
        if report:
            terminalreporter.write_line(f"patchbench report: {report}")


# --- fixtures: one per option -------------------------------------------------------------------


@pytest.fixture(scope="session")
def sweep(pytestconfig: pytest.Config) -> Sweep:
    return session_sweep(pytestconfig)


@pytest.fixture(scope="session")
def backend(pytestconfig: pytest.Config) -> str:
    return pytestconfig.getoption("--backend")


@pytest.fixture(scope="session")
def farm(pytestconfig: pytest.Config):
    """The board farm (physical boards), or None when no --farm file is given."""
    path = pytestconfig.getoption("--farm")
    if not path:
        return None
    from harness.boards.farm import load_farm

    return load_farm(path)


@pytest.fixture(scope="session")
def results_db(pytestconfig: pytest.Config):
    from harness.results.db import ResultsDB

    db = ResultsDB(results_path(pytestconfig))
    yield db
    db.close()


@pytest.fixture(scope="session")
def report_dir(pytestconfig: pytest.Config) -> Path | None:
    value = pytestconfig.getoption("--report")
    return Path(value) if value else None


@pytest.fixture(scope="session")
def baseline(pytestconfig: pytest.Config) -> str | None:
    return pytestconfig.getoption("--baseline")


@pytest.fixture(scope="session")
def repeat(sweep: Sweep) -> int:
    return sweep.repeat


@pytest.fixture(scope="session")
def kernels(sweep: Sweep) -> list[str]:
    """The kernel sets of this session, each once, as the engines resolve them (each point carries its
    own: ``point.kernels``)."""
    return list(dict.fromkeys(kernels for _, kernels in sweep.engine_kernels()))


@pytest.fixture(scope="session")
def engines(sweep: Sweep) -> list[str]:
    """The engines of this session (each point carries its own: ``point.engine``)."""
    return list(dict.fromkeys(engine for engine, _ in sweep.engine_kernels()))


@pytest.fixture(scope="session")
def run_id(results_db) -> str:
    """This session's run, created in the database by the first worker that stores a point."""
    from harness.results.db import ResultsError
    from harness.results.environment import describe_environment

    env = describe_environment()
    try:
        results_db.start_run(os.environ[RUN_ID_ENV], env.get("git_commit"), platform.node(), env)
    except ResultsError as err:  # the points are still measured, and kept by ``record``
        warnings.warn(UnstoredPoint(str(err)), stacklevel=2)
    return os.environ[RUN_ID_ENV]


@pytest.fixture(scope="session")
def shared_models() -> Path:
    """The folder of real pretrained models beside the project (../shared/models)."""
    path = SHARED_DIR / "models"
    if not path.is_dir():
        pytest.fail(f"{path} not found: patchbench expects ../shared/models beside the repository")
    return path


# --- fixtures: the benchmark pipeline -----------------------------------------------------------


@pytest.fixture
def pb_target(point: Point):
    """The board description (targets/<name>.toml) of this point."""
    from harness.firmware.targets import load_target

    return load_target(point.target)


@pytest.fixture(scope="session")
def boards(backend: str, farm):
    """Session pool of boards, one per device: a farm board when connected, else Renode, else QEMU."""
    from harness.boards.pool import BoardPool

    pool = BoardPool(forced_backend=None if backend == "auto" else backend, farm=farm)
    yield pool
    pool.close()


@pytest.fixture
def board(boards, point: Point, record):
    """The board this point runs on (kept open across the session). A board that cannot be had (a farm
    board missing under ``on_missing = "fail"``, a forced backend that is not there) is the point's
    stored error row, then the setup error it is."""
    from harness.boards.base import BoardError

    try:
        return boards.get(point.target)
    except BoardError as err:
        from harness.pipeline import measure as stages

        options = get_engine(point.engine).options(point.kernels, input_mode=point.input_mode)
        result = stages.new_result(point.model, point.target, point.p, point.n, boards.wanted_backend(point.target),
                                   options=options, engine=point.engine, schedule=point.schedule)  # fmt: skip
        record(stages.note_error(result, err))
        raise


@pytest.fixture
def reference(point: Point):
    """The host reference's output for this point's model on the generated test input."""
    from harness.pipeline.measure import reference_output

    return reference_output(point.model)


@pytest.fixture
def record(results_db, run_id: str, record_property):
    """Stores a point's PointRecord in this run (and every set field as a JUnit XML property)."""

    def store(point_record) -> None:
        from harness.results.db import ResultsError

        point_record.run_id = run_id
        try:
            results_db.add(point_record)
        except ResultsError as err:  # a full disk, a file made read-only mid-run: the point is kept elsewhere
            warnings.warn(UnstoredPoint(f"{err}; kept in {keep_unstored(point_record)}"), stacklevel=2)
        for key, value in point_record.properties():
            record_property(key, value)

    return store


class UnstoredPoint(UserWarning):
    """A measured point the results database did not take; the warning says where it is kept."""


def keep_unstored(point_record) -> str:
    """Where a point the database did not take is kept: appended to a results export (JSON, one per
    worker process) in the temporary folder, which ``compare --baseline`` reads and
    ``ResultsDB.add_frame(read_export(...))`` stores; else, when that cannot be written either, the
    point's values in this line of the session's output."""
    from harness.results.record import COLUMNS, encode

    values = {name: encode(name, value) for name, value in point_record.to_flat().items()}
    for name, kind in COLUMNS.items():
        if kind == "TEXT_JSON" and isinstance(values.get(name), str):
            values[name] = json.loads(values[name])
    path = Path(tempfile.gettempdir()) / f"patchbench-unstored-{point_record.run_id}-{os.getpid()}.json"
    try:
        kept = json.loads(path.read_text()) if path.exists() else []
        path.write_text(json.dumps([*kept, values], indent=1))
    except (OSError, ValueError) as err:
        return f"this line only (the export {path} could not be written either: {err}): {json.dumps(values)}"
    return f"{path} (a results export: compare --baseline reads it)"


@pytest.fixture
def plan(point: Point, board, repeat: int, record):
    """Stage 1: the point's schedule, memory plan, analytic figures and generated C (a PlannedPoint
    whose ``result`` the later stages fill). A point that cannot be planned is stored as ``error`` and
    is an error in setup; one its engine does not run (a patch schedule of a per-layer engine) is stored
    as ``unsupported`` and skipped with the engine's reason."""
    from harness.pipeline import measure as stages

    options = get_engine(point.engine).options(point.kernels, input_mode=point.input_mode)
    result = stages.new_result(
        point.model,
        point.target,
        point.p,
        point.n,
        options=options,
        engine=point.engine,
        board=board.board,
        schedule=point.schedule,
    )
    try:
        return stages.plan_point(
            result, point.model, point.target, repeat=repeat, options=options,
            platform=board.board.firmware_platform,
        )  # fmt: skip
    except stages.PointDoesNotFit as too_big:
        record(stages.note_too_big(result, too_big.what))
        pytest.skip(f"does not fit: {result.reason}")
    except EngineUnsupported as err:
        record(stages.note_unsupported(result, err))
        pytest.skip(str(err))
    except Exception as err:  # stored whatever it is, then the setup error it is
        record(stages.note_error(result, err))
        raise


@pytest.fixture(scope="session")
def built_firmware() -> dict:
    """The session's firmware per point identity (with the build's platform): built once, reused by
    every test of the point (a second test, a rerun, pytest-repeat's --count)."""
    return {}


@pytest.fixture
def firmware(plan, board, record, built_firmware: dict):
    """Stage 2: the point's firmware. A build failure is stored as ``error`` and is an error in setup;
    a firmware that does not fit the board is stored as ``does_not_fit`` and skipped with the numbers."""
    from harness.pipeline import measure as stages

    key = (plan.result.identity, plan.build_options)
    if key not in built_firmware:
        try:
            built_firmware[key] = stages.build_point(plan)
        except Exception as err:  # stored whatever it is, then the setup error it is
            record(stages.note_error(plan.result, err))
            raise
    built = built_firmware[key]
    if not stages.note_build(plan.result, built):
        record(plan.result)
        pytest.skip(f"does not fit: {plan.result.reason}")
    return built


@pytest.fixture
def device_run(plan, firmware, board):
    """Stage 3: the firmware flashed to the point's board, run and checked against the host reference:
    the point's PointResult (passed, failed, or error with the board's message)."""
    from harness.pipeline import measure as stages

    return stages.run_point(plan, firmware, board=board.board, backend=board.backend)

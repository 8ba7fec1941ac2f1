# SPDX-License-Identifier: Apache-2.0
"""The results commands of ``patchbench``: ``zoo``, ``bench``, ``report``, ``compare``, ``export``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from harness.boards.registry import BACKEND_CHOICES, backend_help
from harness.cli.registry import CommandError, arg, command
from harness.engines import ENGINES, kernel_set_help
from harness.results.table import format_table

# --- zoo ----------------------------------------------------------------------------------------

ZOO_COLUMNS = ("model", "resolution", "MACs (M)", "params (M)", "weights (kB)", "layers")


def zoo_rows(names: Sequence[str]) -> tuple[list[tuple[str, ...]], list[str]]:
    """One table row per model (analytic figures of its Graph), and an error line per model that fails."""
    from harness.ir.graph import param_count, total_macs, weight_bytes
    from models import get_model

    rows, errors = [], []
    for name in names:
        try:
            graph = get_model(name)
        except Exception as error:  # a broken model must not hide the others' rows
            errors.append(f"{name}: {type(error).__name__}: {error}")
            continue
        rows.append(
            (
                graph.name,
                _resolution(graph.tensor(graph.inputs[0]).shape),
                f"{total_macs(graph) / 1e6:.1f}",
                f"{param_count(graph) / 1e6:.3f}",
                f"{weight_bytes(graph) / 1024:.1f}",
                str(len(graph.layer_names)),
            )
        )
    return rows, errors


def _resolution(shape: tuple[int, ...]) -> str:
    if len(shape) == 4:
        return f"{shape[1]}x{shape[2]}"
    return "x".join(str(d) for d in shape[1:])


def _print_zoo(names: Sequence[str], output_format: str) -> int:
    from models import list_models

    rows, errors = zoo_rows(list(names) or list_models())
    if output_format == "csv":
        print(",".join(ZOO_COLUMNS))
        for row in rows:
            print(",".join(row))
    else:
        print(format_table(ZOO_COLUMNS, rows))
    for error in errors:
        print(f"patchbench zoo: cannot load {error}", file=sys.stderr)
    return 1 if errors else 0


_MODEL_ARGS = (
    arg("models", nargs="*", help="zoo names or .tflite paths (default: the default zoo, see list_models())"),
    arg("--format", choices=("table", "csv"), default="table", help="output format (default: table)"),
)


@command("zoo", "list the model zoo: resolution, MACs, parameters, weight bytes, layers", *_MODEL_ARGS)
def zoo(args: argparse.Namespace) -> int:
    return _print_zoo(args.models, args.format)


@command(
    "bench",
    "run a benchmark sweep (default: sweeps/default.toml on the emulator) and write the HTML report",
    arg("--sweep", default=None, help="a TOML sweep file (default: sweeps/default.toml)"),
    arg("--target", action="append", default=[], help="board(s), overriding the sweep's"),
    arg("--models", default=None, help="comma-separated models, overriding the sweep's"),
    arg("--patches", default=None, help="patch counts p, e.g. 1,2,3,4"),
    arg("--depths", default=None, help="patch-stage depths n, e.g. 4,6"),
    arg(
        "--schedules",
        default=None,
        help="schedules by label, comma-separated, besides the (p, n) points: "
        "'rows n=3 + rows n=1,rows n=5' (row-streamed, several segments)",
    ),
    arg(
        "--engines",
        default=None,
        help="engine(s), comma-separated, each point with each: " + ", ".join(ENGINES),
    ),
    arg(
        "--kernels",
        default=None,
        help="kernel set(s), comma-separated, each point with each; engine:name for one "
        "engine's: " + kernel_set_help(),
    ),
    arg(
        "--input-modes",
        default=None,
        help="input mode(s) of per-patch points, e.g. counted,streamed (each point both ways)",
    ),
    arg(
        "--backend",
        default=None,
        choices=BACKEND_CHOICES,
        help=backend_help() + " (default: auto with --farm (its boards, and its on_missing), else qemu)",
    ),
    arg("--farm", default=None, help="a TOML inventory of boards (with --backend auto|pyocd|labgrid)"),
    arg("--results", default=None, help="the results database (default: build/results.sqlite)"),
    arg("--report", default=None, help="the report folder (default: build/report)"),
    arg("--baseline", default=None, help="compare with a run id, an export, or 'previous'"),
    arg("--jobs", "-j", default="auto", help="parallel emulators (pytest-xdist -n); 0 runs in-process"),
)
def bench(args: argparse.Namespace) -> int:
    """The sweep runs as the pytest benchmark tests, so CLI and pytest measure through one path."""
    import pytest

    from harness.paths import BENCHMARK_TESTS, BUILD_DIR

    _check_bench_options(args)
    # A farm file's settings (its boards, on_missing) hold under the default: only an explicit
    # --backend overrides them.
    backend = args.backend or ("auto" if args.farm else "qemu")
    results = _results_path(args)
    report = args.report or str(BUILD_DIR / "report")
    pytest_args = [
        str(BENCHMARK_TESTS),
        "-m", "board", "-q", "-p", "no:cacheprovider", "--rootdir", str(BENCHMARK_TESTS.parent.parent),
        # patchbench is imported already, so pytest cannot rewrite its asserts (an installed plugin's
        # package is marked for it): nothing to warn about
        "-W", "ignore::pytest.PytestAssertRewriteWarning",
        "--backend", backend, "--results", str(results), "--report", report,
        "-n", str(args.jobs),
    ]  # fmt: skip
    for option in ("sweep", "models", "patches", "depths", "schedules", "engines", "kernels", "input_modes", "farm",
                   "baseline"):  # fmt: skip
        value = getattr(args, option)
        if value:
            pytest_args += [f"--{option.replace('_', '-')}", value]
    for target in args.target:
        pytest_args += ["--pb-target", target]
    code = pytest.main(pytest_args)
    if code in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
        print(f"patchbench bench: results database {results}")
        print(f"patchbench bench: HTML report in {report}/ (index.html lists every run)")
    if code == pytest.ExitCode.USAGE_ERROR:
        return 2  # pytest printed the mistake; a usage error is exit 2 for every patchbench command
    # A point that failed (not bit-exact, a crash) fails the job; points that do not fit are skips.
    return int(code)


def _check_bench_options(args: argparse.Namespace) -> None:
    """The sweep file and the options that override it, checked before pytest starts: a mistake is one
    line naming it (exit 2), not a session of failing points."""
    from pathlib import Path

    from harness.pipeline.sweep import (
        check_engine_kernels,
        check_names,
        load_sweep,
        parse_engines,
        parse_input_modes,
        parse_int_list,
        parse_kernel_sets,
        parse_schedules,
    )
    from harness.schedule.plan import MAX_PATCHES_PER_SIDE

    sweep = load_sweep(args.sweep)
    if args.schedules:
        parse_schedules([label for label in args.schedules.split(",") if label.strip()], "--schedules")
    if args.engines:
        sweep.engines = parse_engines(args.engines, "--engines")
    if args.kernels:
        sweep.kernels = parse_kernel_sets(args.kernels, "--kernels")
    check_engine_kernels(sweep, "--engines / --kernels / sweep", available=False)
    if args.input_modes:
        parse_input_modes(args.input_modes, "--input-modes")
    if args.patches:
        parse_int_list(args.patches, "--patches", 1, MAX_PATCHES_PER_SIDE)
    if args.depths:
        parse_int_list(args.depths, "--depths")
    models = [m for m in args.models.split(",") if m] if args.models else sweep.models
    targets = [t for value in args.target for t in value.split(",") if t] or sweep.targets
    check_names(targets, models, "--target / --models / sweep")
    if args.report and Path(args.report).exists() and not Path(args.report).is_dir():
        raise CommandError(
            f"--report {args.report} is a file, not a folder; pass a folder for the HTML report"
        )
    if args.jobs != "auto" and not (args.jobs.isdigit()):
        raise CommandError(f"--jobs takes a number of parallel emulators or 'auto'; got {args.jobs!r}")


# --- report and compare -------------------------------------------------------------------------

_RESULTS_ARG = arg("--results", default=None, help="the results database (default: build/results.sqlite)")


def _results_path(args: argparse.Namespace):
    from pathlib import Path

    from harness.paths import BUILD_DIR

    return Path(args.results) if args.results else BUILD_DIR / "results.sqlite"  # the plugin's default


@command(
    "report",
    "write the HTML report of a stored run (and the index of runs)",
    arg("--run", default=None, help="run id (default: the latest run)"),
    arg("--out", default=None, help="output folder (default: build/report)"),
    _RESULTS_ARG,
    arg(
        "--baseline",
        default=None,
        help="add 'Changes since baseline': a run id, an export .csv/.json, or 'previous'",
    ),
    arg("--thresholds", default=None, help="regression thresholds TOML (default: regression.toml)"),
)
def report(args: argparse.Namespace) -> int:
    from harness.report.page import DEFAULT_REPORT_DIR, write_report

    path = write_report(
        _results_path(args), args.run, args.out or DEFAULT_REPORT_DIR, args.baseline, args.thresholds
    )
    print(path)
    return 0


@command(
    "compare",
    "compare a stored run with a baseline; exits 1 on a regression and prints the deltas",
    arg(
        "--baseline", required=True, help="a run id, an export .csv/.json of another database, or 'previous'"
    ),
    arg("--run", default=None, help="run id (default: the latest run)"),
    _RESULTS_ARG,
    arg("--thresholds", default=None, help="regression thresholds TOML (default: regression.toml)"),
    arg(
        "--allow-partial",
        action="store_true",
        help="pass although the run did not finish, lacks baseline points or shares none with it",
    ),
)
def compare(args: argparse.Namespace) -> int:
    from harness.results.regression import compare_run, format_comparison

    comparison = compare_run(
        _results_path(args), args.run, args.baseline, args.thresholds, allow_partial=args.allow_partial
    )
    print(format_comparison(comparison))
    return 0 if comparison.ok else 1


@command(
    "export",
    "write stored results to .csv or .json (a baseline for another database: compare --baseline FILE)",
    arg("file", help="output file, .csv or .json"),
    arg("--run", default=None, help="run id (default: the latest run; 'all' for every run)"),
    _RESULTS_ARG,
)
def export(args: argparse.Namespace) -> int:
    from harness.results.db import ResultsDB

    path = _results_path(args)
    if not path.is_file():
        from harness.results.db import path_problem

        problem = path_problem(path) or "not found; run the benchmark first or pass --results"
        raise CommandError(f"results database {path}: {problem}")
    with ResultsDB(path) as db:
        run_id = None if args.run == "all" else args.run or db.latest_run_id()
        if run_id is not None and run_id not in db.run_ids():
            raise CommandError(
                f"no run {run_id!r} in {path}; latest runs: {', '.join(db.run_ids()[-5:]) or 'none'}"
            )
        written = db.export(args.file, run_id)
    print(written)
    return 0

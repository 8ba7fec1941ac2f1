#!/usr/bin/env bash
# The nightly benchmark job, locally in one command (the same steps as .github/workflows/nightly.yml):
# set up, run the default sweep, write the HTML report, compare with the baseline.
#
#   tools/nightly.sh                              the default sweep on the emulator (QEMU)
#   tools/nightly.sh --backend pyocd --farm farms/lab.toml
#                                                 the same on the board farm (arguments go to bench)
#
# Environment:
#   PATCHBENCH_BUILD     where results.sqlite, report/, logs and firmware go (default: build/nightly);
#                        keep it between nights: "previous" compares with the last run stored there
#   PATCHBENCH_BASELINE  what to compare with: a run id, an exported .csv/.json, or "previous"
#                        (default: baselines/<qemu|boards>.json when committed, else "previous")
#
# Exit status: 0 when the sweep passed and nothing regressed, 1 on a regression or a failed sweep,
# 2 when the job itself could not run (setup, no run stored, an unusable baseline).
set -euo pipefail
cd "$(dirname "$0")/.."

export PATCHBENCH_BUILD="${PATCHBENCH_BUILD:-$PWD/build/nightly}"
PY=.venv/bin/python
flavour=qemu
for arg in "$@"; do
    case "$arg" in --farm | --farm=*) flavour=boards ;; esac
done

say() { echo "nightly: $*" >&2; }

latest_run() {
    "$PY" - <<'PYTHON'
from harness.paths import BUILD_DIR
from harness.results.db import ResultsDB

path = BUILD_DIR / "results.sqlite"
if path.is_file():
    with ResultsDB(path) as db:
        print(db.latest_run_id() or "")
PYTHON
}

./run.sh setup || { say "setup failed"; exit 2; }
mkdir -p "$PATCHBENCH_BUILD"
say "results, reports and logs in $PATCHBENCH_BUILD"

before="$(latest_run)"
bench_status=0
./run.sh bench "$@" || bench_status=$?
run_id="$(latest_run)"
if [ -z "$run_id" ] || [ "$run_id" = "$before" ]; then
    say "the sweep stored no new run in $PATCHBENCH_BUILD/results.sqlite (bench exit status $bench_status)"
    exit 2
fi
say "run $run_id (bench exit status $bench_status)"

baseline="${PATCHBENCH_BASELINE:-}"
if [ -z "$baseline" ]; then
    if [ -f "baselines/$flavour.json" ]; then baseline="baselines/$flavour.json"; else baseline=previous; fi
fi
say "baseline: $baseline"

"$PY" -m harness export "$PATCHBENCH_BUILD/run-$run_id.json" --run "$run_id" >/dev/null
# The report is written whatever the verdict: it is what a person reads to see why a night failed.
report_status=0
"$PY" -m harness report --run "$run_id" --baseline "$baseline" --out "$PATCHBENCH_BUILD/report" || report_status=$?

compare_status=0
"$PY" -m harness compare --run "$run_id" --baseline "$baseline" 2>&1 | tee "$PATCHBENCH_BUILD/compare.txt" \
    || compare_status=${PIPESTATUS[0]}
if [ "$compare_status" -eq 2 ] && [ "$baseline" = previous ] && grep -q "nothing to compare with yet" \
        "$PATCHBENCH_BUILD/compare.txt" 2>/dev/null; then
    compare_status=0  # the first night: tonight's run is the baseline of tomorrow's
fi

say "report: $PATCHBENCH_BUILD/report/index.html"
if [ "$compare_status" -ne 0 ]; then
    say "compare with $baseline: exit status $compare_status"
    exit "$compare_status"
fi
if [ "$bench_status" -ne 0 ] || [ "$report_status" -ne 0 ]; then
    say "the sweep (exit status $bench_status) or the report ($report_status) failed"
    exit 1
fi
say "OK: no regression against $baseline"

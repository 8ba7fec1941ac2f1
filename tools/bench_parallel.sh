#!/usr/bin/env bash
# How much pytest-xdist speeds up the default sweep on this machine: the same sweep with -n 0 (in one
# process) and with -n N (N emulators at once), firmware builds cached beforehand so both time the
# same work (generation, cached build, emulator runs, checks). Prints the wall-clock times and the
# speed-up; results go to build/parallel/ (not the main database).
#   tools/bench_parallel.sh [N] [bench arguments...]
set -euo pipefail
cd "$(dirname "$0")/.."
jobs="${1:-2}"
[ $# -gt 0 ] && shift
out=build/parallel
mkdir -p "$out"
PY=.venv/bin/python
timed() {  # label, then the bench arguments; prints milliseconds
    local start
    start=$(date +%s%N)
    "$PY" -m harness bench --results "$out/$1.sqlite" --report "$out/report-$1" "${@:2}" > "$out/$1.log" 2>&1 || true
    echo $(( ($(date +%s%N) - start) / 1000000 ))
}
echo "warming the firmware cache (first run, -n $jobs)..." >&2
timed warmup -j "$jobs" "$@" > /dev/null
serial=$(timed serial -j 0 "$@")
parallel=$(timed parallel -j "$jobs" "$@")
grep -h "passed\|failed" "$out/serial.log" "$out/parallel.log" | tail -2
"$PY" -c "import sys; s, p = int(sys.argv[1]) / 1e3, int(sys.argv[2]) / 1e3
print(f'sweep with -n 0: {s:.1f} s; with -n $jobs: {p:.1f} s; speed-up {s / p:.2f}x on $(nproc) cores')" \
    "$serial" "$parallel"

#!/usr/bin/env bash
# patchbench's one entry point on a fresh Debian machine: installs what is missing, then does the work.
#   ./run.sh bench [args]   the main job: benchmark sweep on the emulator, writes the HTML report
#   ./run.sh test  [args]   the test suite
#   ./run.sh setup          only the installation
set -euo pipefail
cd "$(dirname "$0")"

# libstdc++-arm-none-eabi-newlib: the C++ headers TensorFlow Lite Micro (the tflm engine) compiles with
APT_PACKAGES=(gcc gcc-arm-none-eabi libnewlib-arm-none-eabi libstdc++-arm-none-eabi-newlib qemu-system-arm llvm
              chromium patch)
VENV=.venv

setup_system() {
    local missing=()
    for pkg in "${APT_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        echo "patchbench: installing system packages: ${missing[*]}"
        local sudo=""
        [ "$(id -u)" -eq 0 ] || sudo="sudo"
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
    fi
}

setup_python() {
    if [ ! -x "$VENV/bin/python" ]; then
        command -v python3 >/dev/null || { echo "patchbench: python3 (3.11+) is required" >&2; exit 1; }
        python3 -m venv "$VENV" || {
            echo "patchbench: python3 -m venv failed; install python3-venv" >&2; exit 1; }
    fi
    local stamp="$VENV/.installed"
    if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
        "$VENV/bin/pip" install -q --upgrade pip
        "$VENV/bin/pip" install -q -e ".[dev]"
        # pyserial-labgrid is the one provider of `serial` (pyproject.toml). A plain pyserial left by an
        # older install shares its files: remove it, then put pyserial-labgrid's files back.
        if "$VENV/bin/pip" show -q pyserial >/dev/null 2>&1; then
            "$VENV/bin/pip" uninstall -y -q pyserial
            "$VENV/bin/pip" install -q --force-reinstall --no-deps pyserial-labgrid
        fi
        touch "$stamp"
    fi
}

# The QEMU timing plugin (harness/boards/qemu-timing-plugin), built with the host compiler into build/.
setup_plugin() {
    "$VENV/bin/python" -c "from harness.boards.execution_profile import plugin_path; plugin_path()"
}

cmd="${1:-}"
[ $# -gt 0 ] && shift
case "$cmd" in
    setup)
        setup_system; setup_python; setup_plugin ;;
    bench)
        setup_system; setup_python; setup_plugin
        exec "$VENV/bin/python" -m harness bench "$@" ;;
    test)
        setup_system; setup_python; setup_plugin
        exec "$VENV/bin/python" -m pytest -n 2 "$@" ;;
    *)
        echo "usage: ./run.sh bench|test|setup [args]" >&2; exit 2 ;;
esac

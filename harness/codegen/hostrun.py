# SPDX-License-Identifier: Apache-2.0
"""Run generated C on the host: the firmware's model.c and kernels compiled with the host's gcc, under
AddressSanitizer and UndefinedBehaviorSanitizer, driven by a small main that does what
harness/firmware/main.c does (prepare the input, run every timed unit, several times).

A quick check without an emulator: the output must equal the host reference, and a kernel that writes
past the arena or overflows an int trips the sanitizers. The DSP kernels compile to their plain-C
emulation here (pb_dsp.h), so ``optimized`` models run too. Not a benchmark: no timings.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
from pathlib import Path

from harness.firmware import test_input
from harness.firmware.build import BOARD_SUPPORT_DIR
from harness.paths import BUILD_DIR

from .generate import GENERATED_FILES
from .options import CodegenError, GeneratedModel

HOST_MAIN = r"""
#include <stdio.h>
#include "model_api.h"

/* the firmware stops its timer while it generates a streamed input tile; the host has no timer */
void pb_timer_pause(void) {}
void pb_timer_resume(void) {}

int main(void) {
    for (int run = 0; run < RUNS; run++) {
        pb_model_prepare_input();
        for (int i = 0; i < pb_model_layer_count; i++) {
            pb_model_layers[i].run();
        }
    }
    for (int k = 0; k < pb_model_output_count; k++) {
        const int8_t *output = pb_model_output(k);
        for (uint32_t i = 0; i < pb_model_output_size(k); i++) {
            printf("%d\n", output[i]);
        }
    }
    return 0;
}
"""
SANITIZE = ("-fsanitize=address,undefined", "-fno-sanitize-recover=undefined", "-fno-omit-frame-pointer")


def run_on_host(model: GeneratedModel, runs: int = 2, sanitize: bool = True, compiler: str = "gcc") -> bytes:
    """Compile ``model`` for the host and run it ``runs`` times; the output bytes of the last run (the
    outputs end to end)."""
    if shutil.which(compiler) is None:
        raise CodegenError(
            f"host C compiler {compiler!r} not found; install gcc to run generated models on the host"
        )
    defines = tuple(f"-D{define}" for define in model.defines)
    flags = (compiler, "-std=c11", "-O1", "-g", *(SANITIZE if sanitize else ()), *defines)
    kernel_sources = {name: text for name, text in model.sources.items() if name not in GENERATED_FILES}
    objects = _kernel_objects(kernel_sources, flags)
    with tempfile.TemporaryDirectory(prefix="patchbench-hostrun-") as folder:
        work = Path(folder)
        for name, text in model.sources.items():
            (work / name).write_text(text)
        for name in ("model_api.h", "pb_board.h"):
            (work / name).write_text((BOARD_SUPPORT_DIR / name).read_text())
        for name, text in test_input.sources().items():  # the generator the firmware links from there
            (work / name).write_text(text)
        (work / "host_main.c").write_text(HOST_MAIN)
        units = [str(work / "model.c"), str(work / "host_main.c"), str(work / test_input.C_SOURCE)]
        command = [
            *flags,
            f"-DRUNS={runs}",
            f"-I{work}",
            *units,
            *map(str, objects),
            "-o",
            str(work / "model"),
            "-lm",
        ]
        built = subprocess.run(command, capture_output=True, text=True)
        if built.returncode != 0:
            raise CodegenError(f"the generated C does not compile on the host:\n{built.stderr[-4000:]}")
        done = subprocess.run([str(work / "model")], capture_output=True, text=True, timeout=600)
        if done.returncode != 0:
            raise CodegenError(
                f"the generated model failed on the host (exit {done.returncode}):\n{done.stderr[-4000:]}"
            )
        values = [int(line) for line in done.stdout.split()]
    return bytes(v & 0xFF for v in values)


def _kernel_objects(sources: dict[str, str], flags: tuple[str, ...]) -> list[Path]:
    """The kernels compiled with ``flags``, cached in BUILD_DIR/hostrun by a hash of sources and flags
    (they are the same for every model; compiling them is most of a host run's time)."""
    digest = hashlib.sha256("\0".join(flags).encode())
    for name in sorted(sources):
        digest.update(name.encode() + b"\0" + sources[name].encode() + b"\0")
    folder = BUILD_DIR / "hostrun" / digest.hexdigest()[:16]
    units = sorted(name for name in sources if name.endswith(".c"))
    objects = [folder / f"{Path(name).stem}.o" for name in units]
    if all(path.is_file() for path in objects):
        return objects
    folder.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder.parent) as partial:
        work = Path(partial)
        for name, text in sources.items():
            (work / name).write_text(text)
        for name in units:
            command = [*flags, f"-I{work}", "-c", str(work / name), "-o", str(work / f"{Path(name).stem}.o")]
            done = subprocess.run(command, capture_output=True, text=True)
            if done.returncode != 0:
                raise CodegenError(f"the kernels do not compile on the host ({name}):\n{done.stderr[-4000:]}")
        (work / "sources").mkdir()
        for name in sources:
            (work / name).rename(work / "sources" / name)
        try:
            work.rename(folder)  # atomic: parallel workers never see half a cache entry
        except OSError:
            if not all(path.is_file() for path in objects):
                raise
    return objects

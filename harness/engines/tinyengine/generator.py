# SPDX-License-Identifier: Apache-2.0
"""TinyEngine's code generator, run from a patched build copy of the shared snapshot.

``generator_copy()`` copies ``../shared/third_party/tinyengine/code_generator`` into
BUILD_DIR/tinyengine/generator-<key>/ and applies the patches in ``patches/`` (each one a fix the snapshot
needs on this machine: see each file's header), named in the copy's ``build.log``. The key hashes the
snapshot's generator files and the patches, so an edited patch makes a new copy; ``../shared`` is never
written.

``run_generator(tflite, model, mode, ...)`` runs the generator (``driver.py``, a child process of the same
Python) on one model and returns ``Generated``: the C it wrote (``genModel.c``, ``genModel.h``,
``genInclude.h`` and the depthwise kernels it specializes), its layers (op, TFLite tensors, where the
output lives in its arena), the arena size (``PEAK_MEM``) and, in patch mode, its patch parameters.
Results are cached under BUILD_DIR/tinyengine/generated-<key>/ (key: the generator copy, the model's
bytes, mode, patch settings, the driver). A generator failure is ``GeneratorFailed`` whose message is one
line naming the model and the generator's own error ("TinyEngine's generator refused vww_96_int8:
NotImplementedError: Unsupported SOFTMAX ...").
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from harness.firmware.cache import entry_lock, new_entry
from harness.paths import BUILD_DIR, SHARED_DIR

SNAPSHOT_DIR = SHARED_DIR / "third_party" / "tinyengine"
PATCHES_DIR = Path(__file__).resolve().parent / "patches"
DRIVER = Path(__file__).resolve().parent / "driver.py"
MODES = ("int", "fp")  # integer requantization (fp_requantize=False), TinyEngine's float requantization
GENERATOR_TIMEOUT_S = 600
KEY_LENGTH = 16
RESULT_FILE = "generated.json"
FAILURE_FILE = "failed.txt"  # a failed generation's one line (its generator.log beside it)


class GeneratorFailed(RuntimeError):
    """TinyEngine's generator failed or refused a model; the message is one line naming both."""


@dataclass(frozen=True)
class Layer:
    """One layer of TinyEngine's generated code (one statement of its ``invoke``)."""

    op: str  # TinyEngine's op name: CONV_2D, DEPTHWISE_CONV_2D, ADD, AVERAGE_POOL_2D, ...
    input_names: tuple[str | None, ...]  # the TFLite tensors it reads (PADs it folds are skipped)
    output_name: str | None  # the TFLite tensor it writes
    output_buffer: str  # where that output lives: a C expression into its arena, "&buffer0[1024]"
    output_shape: tuple[int, int, int]  # (H, W, C)
    output_dtype: str
    is_patch: bool  # in the patch stage (run once per patch by invoke_1patch)

    @property
    def output_bytes(self) -> int:
        height, width, channels = self.output_shape
        return height * width * channels


@dataclass(frozen=True)
class Generated:
    """What TinyEngine's generator wrote for one model."""

    folder: Path  # generated-<key>/: codegen/Include, codegen/Source, generated.json, generator.log
    key: str
    model: str
    mode: str
    peak_mem: int  # PEAK_MEM: its arena, `static signed char buffer[PEAK_MEM]` in genModel.h
    buffers: dict[str, int]  # the arena's parts: input_output, im2col, kernel, ...
    input_buffer: str  # where the network's input lives (a C expression): getInput()
    layers: tuple[Layer, ...]
    patch_params: dict[str, int] | None  # getPatchParams' (n_patch, layer_cnt, pad_l, pad_r, ...)

    @property
    def include_dir(self) -> Path:
        return self.folder / "codegen" / "Include"

    @property
    def source_dir(self) -> Path:
        return self.folder / "codegen" / "Source"

    def sources(self) -> dict[str, str]:
        """Every generated .c and .h by file name."""
        return {path.name: path.read_text() for folder in (self.include_dir, self.source_dir)
                for path in sorted(folder.iterdir()) if path.suffix in (".c", ".h")}  # fmt: skip


def patch_files() -> tuple[Path, ...]:
    return tuple(sorted(PATCHES_DIR.glob("*.patch")))


def _digest(*parts: str | bytes) -> str:
    digest = hashlib.sha256()
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        digest.update(len(data).to_bytes(8, "little") + data)
    return digest.hexdigest()[:KEY_LENGTH]


def _snapshot_files() -> list[Path]:
    folder = SNAPSHOT_DIR / "code_generator"
    if not folder.is_dir():
        raise GeneratorFailed(
            f"TinyEngine's generator not found at {folder}; patchbench expects ../shared/third_party/tinyengine "
            "beside the repository (mit-han-lab/tinyengine at the commit in its VERSION)"
        )
    return sorted(path for path in folder.rglob("*") if path.is_file() and "__pycache__" not in path.parts)


def generator_copy(build_root: Path | None = None) -> Path:
    """The patched build copy of TinyEngine's generator (its root holds ``code_generator/``)."""
    files = _snapshot_files()
    parts: list[str | bytes] = []
    for path in files:
        parts += [str(path.relative_to(SNAPSHOT_DIR)), path.read_bytes()]
    for patch in patch_files():
        parts += [patch.name, patch.read_bytes()]
    key = _digest(*parts)
    root = (build_root or BUILD_DIR) / "tinyengine"
    entry = root / f"generator-{key}"
    if (entry / "build.log").is_file():
        return entry
    root.mkdir(parents=True, exist_ok=True)
    with entry_lock(root / f".{entry.name}.lock"):
        if (entry / "build.log").is_file():
            return entry
        with new_entry(entry) as work:
            for path in files:
                target = work / path.relative_to(SNAPSHOT_DIR)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, target)
            log = [f"TinyEngine generator copied from {SNAPSHOT_DIR / 'code_generator'} ({_version()})"]
            for patch in patch_files():
                try:
                    done = subprocess.run(
                        ["patch", "-p1", "--forward", "--batch", "--no-backup-if-mismatch", "-i", str(patch)],
                        cwd=work, capture_output=True, text=True,
                    )  # fmt: skip
                except FileNotFoundError:
                    raise GeneratorFailed(
                        "the 'patch' program applies TinyEngine's fixes to its generator: install it "
                        "(apt-get install patch, or ./run.sh setup)"
                    ) from None
                if done.returncode != 0:
                    raise GeneratorFailed(
                        f"patch {patch.name} does not apply to {SNAPSHOT_DIR}: "
                        + " ".join((done.stdout + done.stderr).split())
                    )
                log.append(f"applied patch {patch.name}: {patch.read_text().splitlines()[0]}")
            (work / "build.log").write_text("\n".join(log) + "\n")
    return entry


def _version() -> str:
    version = SNAPSHOT_DIR / "VERSION"
    return version.read_text().split()[1] if version.is_file() else "unknown version"


def run_generator(tflite: bytes, model: str, mode: str = "int", *, patches: int = 1, patch_layers: int = 0,
                  build_root: Path | None = None) -> Generated:  # fmt: skip
    """TinyEngine's generated code for the model whose .tflite bytes are ``tflite`` (see the module doc).
    ``patches`` > 1: its patch-based mode, ``patches`` x ``patches`` patches over its first
    ``patch_layers`` layers."""
    if mode not in MODES:
        raise ValueError(f"TinyEngine mode {mode!r} unknown; use one of {', '.join(MODES)}")
    copy = generator_copy(build_root)
    # this module too: it rewrites what the generator wrote (split_invoke, output_getter)
    key = _digest(
        copy.name,
        tflite,
        mode,
        str(patches),
        str(patch_layers),
        DRIVER.read_bytes(),
        Path(__file__).read_bytes(),
    )
    root = (build_root or BUILD_DIR) / "tinyengine"
    entry = root / f"generated-{key}"
    found = _load(entry, model)
    if found is not None:
        return found
    with entry_lock(root / f".{entry.name}.lock"):
        found = _load(entry, model)
        if found is not None:
            return found
        with new_entry(entry) as work:
            (work / "model.tflite").write_bytes(tflite)
            command = [sys.executable, str(DRIVER), str(copy), "model.tflite", mode, str(patches),
                       str(patch_layers), "layers.json"]  # fmt: skip
            try:
                done = subprocess.run(
                    command, cwd=work, capture_output=True, text=True, timeout=GENERATOR_TIMEOUT_S
                )
            except subprocess.TimeoutExpired:
                raise GeneratorFailed(
                    f"TinyEngine's generator did not finish on {model} in {GENERATOR_TIMEOUT_S} s"
                ) from None
            (work / "generator.log").write_text(
                f"{' '.join(command)}\n(in {entry})\n{done.stdout}\n{done.stderr}"
            )
            if done.returncode != 0:
                lines = [line for line in done.stderr.splitlines() if line.strip()]
                reason = lines[-1].strip() if lines else f"exit status {done.returncode}"
                # cached too (a sweep asks again for every kernel set and board), with the generator's log
                (work / FAILURE_FILE).write_text(reason)
                work.rename(entry)  # kept although the block raises: new_entry then finds nothing to delete
                raise GeneratorFailed(f"TinyEngine's generator failed on {model}: {reason}")
            result = json.loads((work / "layers.json").read_text()) | {"mode": mode}
            stage_layers = sum(1 for layer in result["layers"] if not layer["is_patch"])
            source = work / "codegen" / "Source" / "genModel.c"
            source.write_text(
                split_invoke(source.read_text(), stage_layers, model) + output_getter(result["layers"])
            )
            (work / RESULT_FILE).write_text(json.dumps(result, indent=1))
            (work / "layers.json").unlink()
    found = _load(entry, model)
    assert found is not None, entry
    return found


_LAYER_MARK = re.compile(r"^/\* layer (\d+):(\w+) \*/$", re.M)
INVOKE_START = "void invoke(float* labels){\n"
INVOKE_END = "}\nvoid invoke_inf(){"


def layer_function(index: int) -> str:
    """The C function that runs layer ``index`` of the generated ``invoke`` (after split_invoke)."""
    return f"te_layer_{index}"


def split_invoke(text: str, layers: int, model: str) -> str:
    """``genModel.c`` with its ``invoke`` split into one function per layer (``te_layer_<i>``, each holding
    that layer's statements unchanged) and ``invoke`` calling them in order: what lets every layer be a
    timed unit. ``layers``: how many layers ``invoke`` must have."""
    start = text.find(INVOKE_START)
    end = text.find(INVOKE_END, start)
    if start < 0 or end < 0:
        raise GeneratorFailed(f"TinyEngine's generated genModel.c for {model} has no invoke(float* labels)")
    body = text[start + len(INVOKE_START) : end]
    marks = list(_LAYER_MARK.finditer(body))
    if [int(m.group(1)) for m in marks] != list(range(layers)) or (marks and marks[0].start() != 0):
        raise GeneratorFailed(
            f"TinyEngine's invoke() for {model} has layers {[m.group(1) for m in marks]}, expected 0..{layers - 1}"
        )
    functions, calls = [], []
    for index, mark in enumerate(marks):
        stop = marks[index + 1].start() if index + 1 < len(marks) else len(body)
        name = layer_function(index)
        functions.append(
            f"/* layer {index}: {mark.group(2)} */\nvoid {name}(void){{\n{body[mark.end() + 1 : stop]}}}\n"
        )
        calls.append(f"    {name}();\n")
    invoke = f"void invoke(float* labels){{\n    (void)labels;\n{''.join(calls)}"
    return text[:start] + "".join(functions) + invoke + text[end:]


def output_getter(layers: list[dict]) -> str:
    """``te_layer_output(i)``: where layer ``i`` (of generated.json's list) leaves its output, for the
    adapter (TinyEngine's arena is static in genModel.h)."""
    cases = "".join(f"    case {i}: return {layer['output_buffer']};\n" for i, layer in enumerate(layers))
    return (
        "\n/* Added by patchbench (harness/engines/tinyengine/generator.py): each layer's output, by index. */\n"
        f"signed char *te_layer_output(int index){{\n    switch (index) {{\n{cases}    default: return 0;\n    }}\n}}\n"
    )


def _load(entry: Path, model: str) -> Generated | None:
    """The cached generation in ``entry``; GeneratorFailed when the generator failed on it (its log is in
    the entry); None when there is none."""
    failure = entry / FAILURE_FILE
    if failure.is_file():
        raise GeneratorFailed(f"TinyEngine's generator failed on {model}: {failure.read_text().strip()}")
    try:
        data = json.loads((entry / RESULT_FILE).read_text())
        layers = tuple(
            Layer(
                op=layer["op"],
                input_names=tuple(layer["input_names"]),
                output_name=layer["output_name"],
                output_buffer=layer["output_buffer"],
                output_shape=tuple(layer["output_shape"]),
                output_dtype=layer["output_dtype"],
                is_patch=layer["is_patch"],
            )  # fmt: skip
            for layer in data["layers"]
        )
        if not (entry / "codegen" / "Source" / "genModel.c").is_file():
            return None
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return Generated(
        folder=entry, key=entry.name.rsplit("-", 1)[1], model=model, mode=data["mode"], peak_mem=data["peak_mem"],
        buffers=data["buffers"], input_buffer=data["input_buffer"], layers=layers,
        patch_params=data["patch_params"],
    )  # fmt: skip


__all__ = ["MODES", "Generated", "GeneratorFailed", "Layer", "generator_copy", "layer_function", "patch_files",
           "run_generator", "split_invoke"]  # fmt: skip

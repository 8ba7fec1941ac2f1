# SPDX-License-Identifier: Apache-2.0
"""Sweep definitions: which (target, model, p, n, kernel set, input mode) points a run measures, from a
TOML file or options. A sweep that names several kernel sets (``kernels = [...]``, each one of an
engine's, harness.engines) measures every point with each; one that names both input modes (``input_modes = ["counted",
"streamed"]``) measures every per-patch point both ways (per-layer inference reads the whole image, so its
input is always counted). ``schedules = ["rows n=3 + rows n=1", ...]`` (in [sweep], or per model) adds
points of any schedule by its label (harness/ir/schedule_name.py: row-streamed, several segments), each
in every input mode."""

from __future__ import annotations

import difflib
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from harness.engines import DEFAULT_ENGINE, ENGINES, EngineError, get_engine
from harness.firmware.build import MAX_RUNS
from harness.ir.schedule_name import ScheduleNameError, parse_schedule, point_fields
from harness.paths import MLPERF_MODELS, SWEEPS_DIR
from harness.schedule.plan import MAX_PATCHES_PER_SIDE
from harness.schedule.profile import INPUT_MODES

DEFAULT_SWEEP = SWEEPS_DIR / "default.toml"
DEFAULT_KERNELS = get_engine().default_kernels
DEFAULT_INPUT_MODE = "counted"
ALL = "all"  # engines = ["all"]: every registered engine; kernels = ["all"]: every kernel set of each


class SweepError(ValueError):
    """A sweep file or option that cannot be used; the message says which field and what is expected."""


@dataclass(frozen=True, order=True)
class Point:
    target: str
    model: str
    p: int
    n: int
    kernels: str = DEFAULT_KERNELS  # one of the engine's kernel sets
    input_mode: str = DEFAULT_INPUT_MODE  # one of INPUT_MODES; per-layer points are always "counted"
    engine: str = DEFAULT_ENGINE  # one of harness.engines.ENGINES
    segments: str = ""  # a schedule beyond one patch stage by its label (p = n = 0); "": (p, n)

    @property
    def schedule(self) -> str | None:
        """The label to measure instead of (p, n), or None (``measure.new_result``'s ``schedule``)."""
        return self.segments or None

    @property
    def test_id(self) -> str:
        """E.g. stm32f746-vww_96_int8-p4-n8; another engine than the default, another kernel set than the
        engine's default and a streamed input are named: stm32f746-vww_96_int8-p4-n8-cmsis-nn-streamed,
        stm32f746-vww_96_int8-p1-n0-tflm-cmsis-nn."""
        suffix = "" if self.engine == DEFAULT_ENGINE else f"-{self.engine}"
        suffix += "" if self.kernels == get_engine(self.engine).default_kernels else f"-{self.kernels}"
        suffix += "" if self.input_mode == DEFAULT_INPUT_MODE else f"-{self.input_mode}"
        if self.segments:  # 'rows n=3 + rows n=1' -> rows-n3+rows-n1
            words = self.segments.replace("=", "").replace(" + ", "+").replace(" ", "-")
            return f"{self.target}-{self.model}-{words}{suffix}"
        return f"{self.target}-{self.model}-p{self.p}-n{self.n}{suffix}"

    @property
    def per_layer(self) -> bool:
        return self.p == 1


@dataclass
class Sweep:
    targets: list[str]
    models: list[str]
    patches: list[int]
    depths: list[int]
    repeat: int = 3
    model_depths: dict[str, list[int]] = field(default_factory=dict)
    model_patches: dict[str, list[int]] = field(default_factory=dict)  # a model's own patches (p)
    # kernel sets: "name" (every engine of the sweep that has it) or "engine:name"; an engine none of
    # them names runs its default kernel set (none named, the default: every engine's default)
    kernels: list[str] = field(default_factory=list)
    input_modes: list[str] = field(default_factory=lambda: [DEFAULT_INPUT_MODE])
    engines: list[str] = field(default_factory=lambda: [DEFAULT_ENGINE])
    model_input_modes: dict[str, list[str]] = field(default_factory=dict)  # a model's own input modes
    # schedules by label (row-streamed, several segments), measured besides the (p, n) points
    schedules: list[str] = field(default_factory=list)
    model_schedules: dict[str, list[str]] = field(default_factory=dict)

    def engine_kernels(self) -> list[tuple[str, str]]:
        """(engine, kernel set) of every engine of the sweep with each of its kernel sets ``kernels`` names
        (an engine none of them names: its default; ALL: every one), in the order of ``engines``, then
        ``kernels``. ``engines`` ALL: every registered engine."""
        pairs = []
        for name in list(ENGINES) if ALL in self.engines else self.engines:
            engine = get_engine(name)
            chosen = [k.split(":", 1)[-1] for k in self.kernels
                      if (k.split(":", 1)[0] == name if ":" in k else k in engine.kernel_set_names)]  # fmt: skip
            if ALL in self.kernels:
                chosen = list(engine.kernel_set_names)
            pairs += [(name, k) for k in dict.fromkeys(chosen or [engine.default_kernels])]
        return pairs

    def points(self) -> list[Point]:
        """Every point, per-layer (p=1, n=0) once per (target, model) with its input counted, each
        per-patch point in every input mode, each with every engine and kernel set, in a stable order (the
        input modes, then the engines and kernel sets of one schedule point next to each other). A point an
        engine does not run (a patch schedule of a per-layer engine) is one too: stored as unsupported."""
        pairs = self.engine_kernels()
        points = []
        for target in self.targets:
            for model in self.models:
                for p in self.model_patches.get(model, self.patches):
                    depths = [0] if p == 1 else self.model_depths.get(model, self.depths)
                    modes = (
                        [DEFAULT_INPUT_MODE]
                        if p == 1
                        else self.model_input_modes.get(model, self.input_modes)
                    )
                    points.extend(
                        Point(target, model, p, n, k, mode, engine)
                        for n in depths
                        for mode in modes
                        for engine, k in pairs
                    )
                for label in self.model_schedules.get(model, self.schedules):
                    p, n, segments = point_fields(label)
                    modes = (
                        [DEFAULT_INPUT_MODE]
                        if p == 1
                        else self.model_input_modes.get(model, self.input_modes)
                    )
                    points.extend(
                        Point(target, model, p, n, k, mode, engine, segments)
                        for mode in modes
                        for engine, k in pairs
                    )
        return list(dict.fromkeys(points))


SWEEP_FIELDS = (
    "targets",
    "models",
    "patches",
    "depths",
    "repeat",
    "kernels",
    "input_modes",
    "engines",
    "schedules",
)
MODEL_FIELDS = ("depths", "patches", "input_modes", "schedules")


def list_sweeps() -> list[str]:
    """The sweeps that come with patchbench (sweeps/*.toml), by name."""
    return sorted(p.stem for p in SWEEPS_DIR.glob("*.toml"))


def _sweep_path(path: str | Path | None) -> Path:
    """A sweep file's path; a name or path that is no file but names a sweep that comes with patchbench
    (``smoke``, ``sweeps/smoke.toml``) is that one, so the names work from any folder and installed."""
    if not path:
        return DEFAULT_SWEEP
    path = Path(path)
    bundled = SWEEPS_DIR / (path.name if path.suffix == ".toml" else f"{path.name}.toml")
    if not path.is_file() and path.parent in (Path("."), Path("sweeps")) and bundled.is_file():
        return bundled
    return path


def load_sweep(path: str | Path | None = None) -> Sweep:
    """A sweep file, checked the way farm files are: unknown keys, wrong types and names that resolve to
    no target or model are a SweepError naming the file, the field and what it takes."""
    path = _sweep_path(path)
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise SweepError(
            f"sweep file {path} not found (the sweeps that come with patchbench: {', '.join(list_sweeps())})"
        ) from None
    except (OSError, UnicodeDecodeError) as err:
        raise SweepError(f"cannot read sweep file {path}: {err}") from None
    except tomllib.TOMLDecodeError as err:
        raise SweepError(f"sweep file {path} is not valid TOML: {err}") from None
    _known_keys(data, ("sweep", "models"), f"sweep file {path}", "top-level key")
    if "sweep" not in data:
        raise SweepError(f"sweep file {path} has no [sweep] table (targets, models, patches, depths, repeat)")
    body = data["sweep"]
    if not isinstance(body, dict):
        raise SweepError(f"sweep file {path}: 'sweep' must be a table ([sweep])")
    _known_keys(body, SWEEP_FIELDS, f"sweep file {path}: [sweep]", "field")
    repeat = body.get("repeat", 3)
    if not _is_int(repeat) or not 1 <= repeat <= MAX_RUNS:
        raise SweepError(
            f"sweep file {path}: [sweep] repeat must be an integer in 1..{MAX_RUNS} (got {repeat!r})"
        )
    sweep = Sweep(
        targets=_str_list(body, "targets", path),
        models=_str_list(body, "models", path),
        patches=_int_list(body, "patches", path, minimum=1, maximum=MAX_PATCHES_PER_SIDE),
        depths=_int_list(body, "depths", path, minimum=1) if "depths" in body else [],
        repeat=repeat,
    )
    if "kernels" in body:
        sweep.kernels = parse_kernel_sets(
            _str_list(body, "kernels", path), f"sweep file {path}: [sweep] kernels"
        )
    if "input_modes" in body:
        sweep.input_modes = parse_input_modes(
            _str_list(body, "input_modes", path), f"sweep file {path}: [sweep] input_modes"
        )
    if "engines" in body:
        sweep.engines = parse_engines(_str_list(body, "engines", path), f"sweep file {path}: [sweep] engines")
    if "schedules" in body:
        sweep.schedules = parse_schedules(
            _str_list(body, "schedules", path), f"sweep file {path}: [sweep] schedules"
        )
    extras = data.get("models", {})
    if not isinstance(extras, dict):
        raise SweepError(f"sweep file {path}: 'models' must be a table of [models.<name>] tables")
    for model, extra in extras.items():
        where = f"sweep file {path}: [models.{model}]"
        if not isinstance(extra, dict):
            raise SweepError(f"{where} must be a table with depths = [...] and/or patches = [...]")
        _known_keys(extra, MODEL_FIELDS, where, "field")
        if model not in sweep.models:
            raise SweepError(f"{where}: {model!r} is not in [sweep] models {sweep.models}")
        if "depths" in extra:
            sweep.model_depths[model] = _int_list(extra, "depths", path, minimum=1)
        if "patches" in extra:
            sweep.model_patches[model] = _int_list(
                extra, "patches", path, minimum=1, maximum=MAX_PATCHES_PER_SIDE
            )
        if "schedules" in extra:
            sweep.model_schedules[model] = parse_schedules(
                _str_list(extra, "schedules", path), f"{where} schedules"
            )
        if "input_modes" in extra:
            modes = extra["input_modes"]
            if not isinstance(modes, list) or not all(isinstance(mode, str) for mode in modes):
                raise SweepError(f"{where}: input_modes must be a list of strings (got {modes!r})")
            sweep.model_input_modes[model] = parse_input_modes(modes, f"{where} input_modes")
    for model in sweep.models:
        patched = any(p > 1 for p in sweep.model_patches.get(model, sweep.patches))
        if patched and not sweep.model_depths.get(model, sweep.depths):
            raise SweepError(f"sweep file {path}: patches > 1 need depths (in [sweep] or per model: {model})")
    check_names(sweep.targets, sweep.models, f"sweep file {path}")
    check_engine_kernels(sweep, f"sweep file {path}: [sweep] engines / kernels", available=False)
    return sweep


def parse_schedules(labels: list[str], where: str) -> list[str]:
    """Schedule labels (harness/ir/schedule_name.py), each checked and written the one way; a SweepError
    names the one that cannot be read."""
    result = []
    for label in labels:
        try:
            result.append(parse_schedule(label).label)
        except ScheduleNameError as err:
            raise SweepError(f"{where}: {err}") from None
    return result


def check_names(targets: list[str], models: list[str], where: str) -> None:
    """Every target names a target file and every model a zoo name, an MLPerf Tiny model or a .tflite
    file that exists; the SweepError says which one does not (before anything is built)."""
    from harness.firmware.targets import TargetError, load_target
    from models.registry import UnknownModelError, canonical_name

    for target in targets:
        try:
            load_target(target)
        except TargetError as err:
            raise SweepError(f"{where}: {err}") from None
    for model in models:
        if model.endswith(".tflite"):
            path = Path(model).expanduser()
            if path.is_dir():
                raise SweepError(f"{where}: model file {model!r} is a folder; name the .tflite file in it")
            if not path.is_file():
                raise SweepError(f"{where}: model file {model!r} not found")
            continue
        if model in MLPERF_MODELS:
            continue
        try:
            canonical_name(model)
        except (UnknownModelError, ValueError) as err:
            raise SweepError(f"{where}: {err}") from None


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _known_keys(table: dict, known: tuple[str, ...], where: str, what: str) -> None:
    unknown = sorted(set(table) - set(known))
    if unknown:
        hints = [
            f"{key!r} (did you mean {close[0]!r}?)"
            if (close := difflib.get_close_matches(key, known, 1))
            else repr(key)
            for key in unknown
        ]
        raise SweepError(f"{where}: unknown {what}(s) {', '.join(hints)}; it takes {', '.join(known)}")


def parse_int_list(text: str, option: str, minimum: int = 1, maximum: int | None = None) -> list[int]:
    """'1,2,4' -> [1, 2, 4], for command-line options (patch counts and depths: each >= ``minimum``,
    and <= ``maximum`` when given)."""
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise SweepError(f"{option} takes comma-separated integers like 1,2,4; got {text!r}") from None
    if not values:
        raise SweepError(f"{option} is empty")
    small = [value for value in values if value < minimum]
    if small:
        raise SweepError(
            f"{option} takes integers >= {minimum}; got {', '.join(map(str, small))} in {text!r}"
        )
    large = [value for value in values if maximum is not None and value > maximum]
    if large:
        raise SweepError(
            f"{option} takes integers in {minimum}..{maximum}; got {', '.join(map(str, large))} in {text!r}"
        )
    return values


def parse_kernel_sets(values: str | list[str], where: str) -> list[str]:
    """'a,engine:b' (or a list) -> the kernel sets, each one of an engine's (harness.engines; ``engine:``
    names one engine's), in order, once."""
    names = [v.strip() for v in values.split(",")] if isinstance(values, str) else list(values)
    names = list(dict.fromkeys(name for name in names if name))
    if names == [ALL]:
        return names
    known = [f"{e.name}:{k}" for e in ENGINES.values() for k in e.kernel_set_names]
    bare = {entry.split(":", 1)[1] for entry in known}
    unknown = [name for name in names if name not in (known if ":" in name else bare)]
    if unknown or not names:
        choices = ", ".join(f"{e.name}: {', '.join(e.kernel_set_names)}" for e in ENGINES.values())
        raise SweepError(f"{where}: kernel set(s) {unknown or names} unknown; use a kernel set of an engine "
                         f"({choices}), or engine:kernel set for one engine's")  # fmt: skip
    return names


def parse_engines(values: str | list[str], where: str) -> list[str]:
    """'patchbench,tflm' (or a list) -> the engines, each one of harness.engines.ENGINES, in order, once."""
    names = [v.strip() for v in values.split(",")] if isinstance(values, str) else list(values)
    names = list(dict.fromkeys(name for name in names if name))
    if names == [ALL]:
        return names
    unknown = [name for name in names if name not in ENGINES]
    if unknown or not names:
        raise SweepError(f"{where}: engine(s) {unknown or names} unknown; use {', '.join(ENGINES)}")
    return names


def check_engine_kernels(sweep: Sweep, where: str, *, available: bool = True) -> None:
    """Every kernel set a sweep names belongs to one of its engines, and (``available``) each can be built
    here (its sources found): a SweepError naming the first that does not, before any point runs."""
    engines = list(ENGINES) if ALL in sweep.engines else sweep.engines
    for entry in [] if ALL in sweep.kernels else sweep.kernels:
        engine_name, _, name = entry.rpartition(":")
        owners = [e for e in engines
                  if (e == engine_name if engine_name else name in get_engine(e).kernel_set_names)]  # fmt: skip
        if not owners:
            raise SweepError(f"{where}: kernel set {entry!r} belongs to none of the engines {sweep.engines}")
    for engine, kernels in sweep.engine_kernels() if available else ():
        try:
            get_engine(engine).check_available(kernels)
        except EngineError as err:
            raise SweepError(f"{where}: engine {engine}, kernel set {kernels}: {err}") from None


def parse_input_modes(values: str | list[str], where: str) -> list[str]:
    """'counted,streamed' (or a list) -> the input modes of per-patch points, each one of INPUT_MODES,
    in order, once."""
    names = [v.strip() for v in values.split(",")] if isinstance(values, str) else list(values)
    names = list(dict.fromkeys(name for name in names if name))
    unknown = [name for name in names if name not in INPUT_MODES]
    if unknown or not names:
        raise SweepError(
            f"{where}: input mode(s) {unknown or names} unknown; use {', '.join(INPUT_MODES)} "
            "(counted: the input image in SRAM; streamed: read tile by tile, p > 1 only)"
        )
    return names


def _str_list(body: dict, key: str, path: Path) -> list[str]:
    value = body.get(key)
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise SweepError(
            f"sweep file {path}: [sweep] {key} must be a non-empty list of strings (got {value!r})"
        )
    return value


def _int_list(body: dict, key: str, path: Path, minimum: int, maximum: int | None = None) -> list[int]:
    value = body.get(key)
    top = maximum if maximum is not None else float("inf")
    if not isinstance(value, list) or not value or not all(_is_int(v) and minimum <= v <= top for v in value):
        takes = f">= {minimum}" if maximum is None else f"in {minimum}..{maximum}"
        raise SweepError(
            f"sweep file {path}: {key} must be a non-empty list of integers {takes} (got {value!r})"
        )
    return value


def check_ranges(sweep: Sweep, where: str) -> None:
    """The sweep's numbers after the options that override it (--repeat, --patches): each in its range."""
    if not _is_int(sweep.repeat) or not 1 <= sweep.repeat <= MAX_RUNS:
        raise SweepError(f"{where}: repeat must be an integer in 1..{MAX_RUNS} (got {sweep.repeat!r})")
    for model in sweep.models:
        for p in sweep.model_patches.get(model, sweep.patches):
            if not 1 <= p <= MAX_PATCHES_PER_SIDE:
                raise SweepError(f"{where}: patches per side p={p} of {model}; use 1..{MAX_PATCHES_PER_SIDE}")


def check_depths(sweep: Sweep, where: str) -> None:
    """Every per-patch depth n within its model's layers (each model is loaded): a depth too deep is one
    line before anything runs, not an error row per point."""
    from models import get_model

    for model in sweep.models:
        for label in sweep.model_schedules.get(model, sweep.schedules):
            layers = len(get_model(model).layers)
            covered = parse_schedule(label).layers
            if covered > layers:
                raise SweepError(
                    f"{where}: schedule {label!r} of {model} covers {covered} layers; it has {layers}"
                )
        if not any(p > 1 for p in sweep.model_patches.get(model, sweep.patches)):
            continue
        layers = len(get_model(model).layers)
        deep = [n for n in sweep.model_depths.get(model, sweep.depths) if n > layers]
        if deep:
            raise SweepError(
                f"{where}: patch-stage depth(s) {', '.join(map(str, deep))} of {model}: it has {layers} layers; "
                f"use 1..{layers}"
            )

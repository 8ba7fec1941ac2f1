"""Sweep definitions: which (target, model, p, n) points a run measures, from a TOML file or options."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from harness.paths import REPO_ROOT

DEFAULT_SWEEP = REPO_ROOT / "sweeps" / "default.toml"


class SweepError(ValueError):
    """A sweep file or option that cannot be used; the message says which field and what is expected."""


@dataclass(frozen=True, order=True)
class Point:
    target: str
    model: str
    p: int
    n: int

    @property
    def test_id(self) -> str:
        return f"{self.target}-{self.model}-p{self.p}-n{self.n}"

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

    def points(self) -> list[Point]:
        """Every point, per-layer (p=1, n=0) once per (target, model), in a stable order."""
        points = []
        for target in self.targets:
            for model in self.models:
                for p in self.patches:
                    depths = [0] if p == 1 else self.model_depths.get(model, self.depths)
                    points.extend(Point(target, model, p, n) for n in depths)
        return points


def load_sweep(path: str | Path | None = None) -> Sweep:
    path = Path(path) if path else DEFAULT_SWEEP
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise SweepError(f"sweep file {path} not found") from None
    except tomllib.TOMLDecodeError as err:
        raise SweepError(f"sweep file {path} is not valid TOML: {err}") from None
    if "sweep" not in data:
        raise SweepError(f"sweep file {path} has no [sweep] table (targets, models, patches, depths, repeat)")
    body = data["sweep"]
    sweep = Sweep(
        targets=_str_list(body, "targets", path),
        models=_str_list(body, "models", path),
        patches=_int_list(body, "patches", path, minimum=1),
        depths=_int_list(body, "depths", path, minimum=1) if "depths" in body else [],
        repeat=int(body.get("repeat", 3)),
    )
    for model, extra in data.get("models", {}).items():
        sweep.model_depths[model] = _int_list(extra, "depths", path, minimum=1)
    if any(p > 1 for p in sweep.patches) and not sweep.depths and set(sweep.models) - set(sweep.model_depths):
        raise SweepError(f"sweep file {path}: patches > 1 need depths (in [sweep] or per model)")
    return sweep


def parse_int_list(text: str, option: str) -> list[int]:
    """'1,2,4' -> [1, 2, 4], for command-line options."""
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise SweepError(f"{option} takes comma-separated integers like 1,2,4; got {text!r}") from None
    if not values:
        raise SweepError(f"{option} is empty")
    return values


def _str_list(body: dict, key: str, path: Path) -> list[str]:
    value = body.get(key)
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise SweepError(f"sweep file {path}: [sweep] {key} must be a non-empty list of strings")
    return value


def _int_list(body: dict, key: str, path: Path, minimum: int) -> list[int]:
    value = body.get(key)
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(v, int) and v >= minimum for v in value)
    ):
        raise SweepError(f"sweep file {path}: {key} must be a non-empty list of integers >= {minimum}")
    return value

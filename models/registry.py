# SPDX-License-Identifier: Apache-2.0
"""The zoo's names: ``get_model(name) -> Graph`` and ``list_models()``.

Names carry their parameters:

| name                          | network                                                        |
| ----------------------------- | -------------------------------------------------------------- |
| ``mbv2-w{width}-r{res}``      | MobileNetV2, width multiplier, input resolution                 |
| ``mbv2-rd-w{width}-r{res}``   | MbV2-RD, MCUNetV2's receptive-field-redistributed MobileNetV2   |
| ``mnasnet-a1-w{width}-r{res}``| MnasNet-A1 (no squeeze-and-excitation)                          |
| ``mbv1-w{width}-r{res}``      | MobileNetV1                                                     |
| ``fbnet-a[-w{width}]-r{res}`` | FBNet-A (width 1.0 when no -w is given)                         |
| ``resnet8-r{res}``            | ResNet-8, CIFAR style (MLPerf Tiny's), 10 classes               |
| ``mcunet-in0`` .. ``in4``, ``mcunet-mbv2-w0.35-r144``, ``proxyless-w0.3-r176`` | MCUNet JSON configs |
| an MLPerf Tiny name (``vww_96_int8``, ...) or a path ending in ``.tflite`` | imported by harness.frontend |
| any of the above + ``-explicit-pad``  | the same network with a PAD before every strided conv, as MCUNet's released files (models/explicit_pad.py) |

MobileNetV2, MbV2-RD, MnasNet-A1 and FBNet-A take ``-head{channels}`` at the end: the width of the last
1x1 conv (default: the reference's 1280 or 1504, which a width multiplier below 1 leaves alone). MCUNet's
zoo scales it with the width (its ``mbv2-w0.35-r144`` has 448), which is what makes a scaled-down network
fit 1 MB of flash: ``mbv2-w0.35-r144-head448``.

Widths are written as floats (``w1.0``; ``w1`` is accepted and means the same model). Built graphs are
cached and shared: do not modify one (their constant arrays are read-only); ``copy.deepcopy`` it first.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness.ir.graph import Graph
from harness.paths import MLPERF_MODELS, mlperf_model
from models import explicit_pad, fbnet, mnasnet, mobilenet_v1, mobilenet_v2, proxyless, resnet

# The paper's settings: Figure 5's networks at 224x224, Table 2's MCU-sized baselines, MCUNet's zoo,
# MLPerf Tiny's ResNet-8 shape; then the MLPerf Tiny reference models themselves.
DEFAULT_ZOO_MODELS = (
    "mbv2-w1.0-r224",
    "mbv2-rd-w1.0-r224",
    "mnasnet-a1-w1.0-r224",
    "fbnet-a-r224",
    "mbv2-w0.35-r144",
    "mbv1-w0.5-r192",
    "mcunet-in0",
    "mcunet-in1",
    "mcunet-in2",
    "mcunet-in3",
    "mcunet-in4",
    "mcunet-mbv2-w0.35-r144",
    "proxyless-w0.3-r176",
    "resnet8-r32",
)

# Bounds that keep a zoo name a microcontroller model the host can still build and run the reference of:
# the paper's largest setting is w1.4 at r224; mbv2-w2.0-r512 already has a 16 MB activation.
MAX_WIDTH = 2.0
MIN_RESOLUTION, MAX_RESOLUTION = 32, 512
MIN_CIFAR_RESOLUTION = 8
MIN_HEAD, MAX_HEAD = 8, 4096


class UnknownModelError(ValueError):
    """A model name the zoo does not know; the message lists the known names and the name forms."""


@dataclass(frozen=True)
class _Family:
    """One parametrized name form: ``{prefix}-w{width}-r{res}``, the width optional (``width_default``)
    or absent (``width=False``), then an optional ``-head{channels}``."""

    prefix: str
    build: Callable[..., Graph]  # build(name, resolution=..., [width=...], [head=...])
    width: bool = True
    width_default: float | None = None  # the width of a name without -w (None: -w is required)
    head: bool = False  # takes -head{channels}: the last 1x1 conv's width (MCUNet's zoo scales it with w)
    min_resolution: int = MIN_RESOLUTION

    @property
    def form(self) -> str:
        """The name form as shown to users."""
        width = "" if not self.width else "[-w{width}]" if self.width_default else "-w{width}"
        return f"{self.prefix}{width}-r{{res}}" + ("[-head{channels}]" if self.head else "")

    @property
    def pattern(self) -> re.Pattern:
        width = r"-w(?P<width>\d+(?:\.\d+)?)"
        width = "" if not self.width else f"(?:{width})?" if self.width_default else width
        head = r"(?:-head(?P<head>\d+))?" if self.head else ""
        return re.compile(rf"{re.escape(self.prefix)}{width}-r(?P<resolution>\d+){head}")

    def canonical(self, parameters: dict) -> str:
        text = self.prefix
        if self.width and parameters["width"] != self.width_default:
            text += f"-w{parameters['width']!r}"
        text += f"-r{parameters['resolution']}"
        if parameters.get("head") is not None:
            text += f"-head{parameters['head']}"
        return text


_FAMILIES = (
    _Family("mbv2", mobilenet_v2.build_mobilenet_v2, head=True),
    _Family("mbv2-rd", mobilenet_v2.build_mobilenet_v2_rd, head=True),
    _Family("mnasnet-a1", mnasnet.build_mnasnet_a1, head=True),
    _Family("mbv1", mobilenet_v1.build_mobilenet_v1),
    _Family("fbnet-a", fbnet.build_fbnet_a, width_default=1.0, head=True),
    _Family("resnet8", resnet.build_resnet8, width=False, min_resolution=MIN_CIFAR_RESOLUTION),
)


def list_models() -> list[str]:
    """The default zoo: the paper's settings of the parametrized networks, the MCUNet configs, and the
    MLPerf Tiny models."""
    return [*DEFAULT_ZOO_MODELS, *MLPERF_MODELS]


def name_forms() -> list[str]:
    """Every name form get_model accepts (for help texts and error messages)."""
    return [family.form for family in _FAMILIES] + [
        *proxyless.CONFIG_FILES,
        "<MLPerf Tiny name>",
        "<path>.tflite",
        f"<any of these>{explicit_pad.SUFFIX}",
    ]


def get_model(name: str) -> Graph:
    """The int8 Graph of a zoo name, an MLPerf Tiny name or a ``.tflite`` path (cached; do not modify)."""
    if name.endswith(explicit_pad.SUFFIX):
        return _explicit_pad_cached(name)
    if name.endswith(".tflite"):
        path = Path(name).expanduser().resolve()
        if not path.is_file():
            raise FileNotFoundError(f"model file {name!r} not found (resolved to {path})")
        return _load_tflite(str(path), path.stat().st_mtime_ns)
    if name in MLPERF_MODELS:
        path = mlperf_model(name)
        return _load_tflite(str(path), path.stat().st_mtime_ns, name)
    return _build_cached(canonical_name(name))


def build_model(name: str) -> Graph:
    """A fresh, uncached build of a zoo name (tests use it to check determinism)."""
    if name.endswith(explicit_pad.SUFFIX):
        base = build_model(name[: -len(explicit_pad.SUFFIX)])
        return explicit_pad.with_explicit_pads(base, f"{base.name}{explicit_pad.SUFFIX}")
    canonical = canonical_name(name)
    if canonical in proxyless.CONFIG_FILES:
        return proxyless.build_from_config(canonical)
    family, parameters = _match(canonical)
    return family.build(canonical, **parameters)


def canonical_name(name: str) -> str:
    """The zoo name with its parameters in canonical form (``mbv2-w1-r224`` -> ``mbv2-w1.0-r224``)."""
    if name.endswith(explicit_pad.SUFFIX):
        return canonical_name(name[: -len(explicit_pad.SUFFIX)]) + explicit_pad.SUFFIX
    if name in proxyless.CONFIG_FILES:
        return name
    family, parameters = _match(name)
    return family.canonical(parameters)


def _match(name: str) -> tuple[_Family, dict]:
    for family in _FAMILIES:
        match = family.pattern.fullmatch(name)
        if match is None:
            continue
        parameters: dict = {"resolution": int(match["resolution"])}
        if not family.min_resolution <= parameters["resolution"] <= MAX_RESOLUTION:
            raise ValueError(
                f"model {name!r}: resolution {parameters['resolution']} is out of range; "
                f"use {family.min_resolution}..{MAX_RESOLUTION}"
            )
        if family.width:
            parameters["width"] = family.width_default if match["width"] is None else float(match["width"])
            if not 0.0 < parameters["width"] <= MAX_WIDTH:
                raise ValueError(
                    f"model {name!r}: width {match['width']} is out of range; use (0, {MAX_WIDTH}]"
                )
        if family.head and match["head"] is not None:
            parameters["head"] = int(match["head"])
            if not MIN_HEAD <= parameters["head"] <= MAX_HEAD:
                raise ValueError(
                    f"model {name!r}: head {match['head']} is out of range; use {MIN_HEAD}..{MAX_HEAD} channels"
                )
        return family, parameters
    raise UnknownModelError(
        f"unknown model {name!r}. Known models: {', '.join(list_models())}. "
        f"Name forms: {', '.join(name_forms())}"
    )


@functools.lru_cache(maxsize=8)
def _explicit_pad_cached(name: str) -> Graph:
    base = get_model(name[: -len(explicit_pad.SUFFIX)])
    return _read_only(explicit_pad.with_explicit_pads(base, f"{base.name}{explicit_pad.SUFFIX}"))


@functools.lru_cache(maxsize=32)
def _build_cached(canonical: str) -> Graph:
    return _read_only(build_model(canonical))


@functools.lru_cache(maxsize=32)
def _load_tflite(path: str, mtime_ns: int, name: str | None = None) -> Graph:
    # Imported lazily: the importer pulls in the tflite flatbuffer package, which zoo builds do not need.
    from harness.frontend import load_tflite

    return _read_only(load_tflite(path, name))


def _read_only(graph: Graph) -> Graph:
    """Shared cached graphs: make accidental in-place changes to weights fail loudly."""
    for tensor in graph.tensors.values():
        if tensor.data is not None:
            tensor.data.flags.writeable = False
    return graph

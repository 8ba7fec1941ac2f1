# SPDX-License-Identifier: Apache-2.0
"""Figures other people published, to set beside what patchbench measures: the one home for them.

Every figure names where it comes from. They were measured by others, on their boards, with their
methods: the report and the CLI show them as *published*, never as measurements of this project.

- ``TINYENGINE_TABLE``: TinyEngine's README (mit-han-lab/tinyengine), per-layer inference on an
  STM32H743 at 480 MHz, whole-program peak SRAM and flash (kB = 1024 bytes) and latency (ms), per
  engine column: ``tflm`` (TensorFlow Lite Micro, reference kernels), ``cmsis-nn`` (TensorFlow Lite
  Micro with CMSIS-NN kernels), ``x-cube-ai`` (ST X-CUBE-AI 7.3), ``tinyengine``. Copied from
  ../shared/models/README.md. ``None``: out of memory there (or not published).
- ``MLPERF_TINY_VWW``: MLPerf Tiny v1.0 closed division (mlcommons/tiny_results_v1.0), ST's X-CUBE-AI
  on vww_96_int8's network, latency per board (the results files do not state the clocks).
- ``MSF_CNN_POINTS``: msf-CNN (Huang & Baccelli, NeurIPS 2025, arXiv 2505.11483), (peak SRAM kB, MAC
  overhead) points of its multi-stage fused schedules; its peaks leave out the network's input and final
  output (../shared/METHOD.md).
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.ir.model_name import network_name

TINYENGINE_SOURCE = "TinyEngine README (mit-han-lab/tinyengine), STM32H743, per layer"
TINYENGINE_BOARD = "stm32h743"
ENGINE_COLUMNS = ("tflm", "cmsis-nn", "x-cube-ai", "tinyengine")


@dataclass(frozen=True)
class PublishedFigure:
    """One engine's published figures for one model (None where not published or out of memory)."""

    model: str
    engine: str  # one of ENGINE_COLUMNS
    sram_kb: float | None
    flash_kb: float | None
    latency_ms: float | None
    source: str = TINYENGINE_SOURCE


def _row(model: str, memory: dict[str, tuple[float, float] | None], latency: dict[str, float | None]):
    return [
        PublishedFigure(
            model,
            engine,
            memory[engine][0] if memory.get(engine) else None,
            memory[engine][1] if memory.get(engine) else None,
            latency.get(engine),
        )
        for engine in ENGINE_COLUMNS
    ]


_OOM = None
TINYENGINE_TABLE: tuple[PublishedFigure, ...] = tuple(
    figure
    for rows in (
        _row("mcunet-in0", {"tflm": (161, 1072), "cmsis-nn": (161, 1090), "x-cube-ai": (69, 856), "tinyengine": (49, 842)},
             {"tflm": 586, "cmsis-nn": 51, "x-cube-ai": 35, "tinyengine": 25}),
        _row("mcunet-in1", {"tflm": (219, 937), "cmsis-nn": (219, 956), "x-cube-ai": (106, 737), "tinyengine": (96, 727)},
             {"tflm": 1227, "cmsis-nn": 103, "x-cube-ai": 63, "tinyengine": 56}),
        _row("mcunet-in2", {"tflm": (460, 1084), "cmsis-nn": (469, 1102), "x-cube-ai": (238, 849), "tinyengine": (215, 830)},
             {"tflm": 6463, "cmsis-nn": 642, "x-cube-ai": 351, "tinyengine": 280}),
        _row("mcunet-in3", {"tflm": (493, 1091), "cmsis-nn": (493, 1106), "x-cube-ai": (243, 867), "tinyengine": (260, 835)},
             {"tflm": 7821, "cmsis-nn": 770, "x-cube-ai": 414, "tinyengine": 336}),
        _row("mcunet-in4", {"tflm": _OOM, "cmsis-nn": _OOM, "x-cube-ai": (342, 1843), "tinyengine": (416, 1825)},
             {"tflm": _OOM, "cmsis-nn": _OOM, "x-cube-ai": 516, "tinyengine": 463}),
        _row("proxyless-w0.3-r176", {"tflm": (453, 1065), "cmsis-nn": (453, 1084), "x-cube-ai": (221, 865), "tinyengine": (259, 779)},
             {"tflm": 3801, "cmsis-nn": 380, "x-cube-ai": 205, "tinyengine": 176}),
        # latency only: the README's memory table has no row for these
        _row("mcunet-vww0", {}, {"tflm": 587, "cmsis-nn": 53, "x-cube-ai": 32, "tinyengine": 27}),
        _row("mcunet-vww1", {}, {"tflm": 1120, "cmsis-nn": 97, "x-cube-ai": 57, "tinyengine": 51}),
        _row("mcunet-vww2", {}, {"tflm": 5310, "cmsis-nn": 478, "x-cube-ai": 269, "tinyengine": 234}),
        _row("mbv2-w0.35-r144", {}, {"tflm": _OOM, "cmsis-nn": _OOM, "x-cube-ai": 118, "tinyengine": 124}),
    )
    for figure in rows
)  # fmt: skip


def published(model: str, engine: str) -> PublishedFigure | None:
    """TinyEngine's README figures for ``model`` under ``engine`` (one of ENGINE_COLUMNS), if it has any; a
    model's explicit-PAD export (the form MCUNet's released files have) takes its network's figures."""
    model = network_name(model)
    return next((f for f in TINYENGINE_TABLE if f.model == model and f.engine == engine), None)


@dataclass(frozen=True)
class PublishedLatency:
    model: str
    board: str  # the board the figure was measured on (a board name, not a patchbench target)
    core: str
    latency_ms: float
    source: str


MLPERF_TINY_VWW: tuple[PublishedLatency, ...] = (
    PublishedLatency("vww_96_int8", "NUCLEO-L4R5ZI", "cortex-m4", 230.5,
                     "MLPerf Tiny v1.0 closed, ST X-CUBE-AI (4.339 inferences/s)"),
    PublishedLatency("vww_96_int8", "NUCLEO-H7A3ZI-Q", "cortex-m7", 50.7,
                     "MLPerf Tiny v1.0 closed, ST X-CUBE-AI (19.722 inferences/s)"),
)  # fmt: skip


@dataclass(frozen=True)
class ScheduleMark:
    """A published (peak SRAM, MAC overhead) point of another scheduler, drawn as a reference mark."""

    model: str  # the patchbench zoo model it was published for
    sram_kb: float
    mac_overhead: float  # +45.5% -> 0.455
    source: str
    input_counted: bool = False  # msf-CNN's peaks leave out the network's input and final output


MSF_CNN = "msf-CNN (Huang & Baccelli, NeurIPS 2025)"
MSF_CNN_POINTS: tuple[ScheduleMark, ...] = (
    ScheduleMark("mcunet-in3", 156.9, 0.37, MSF_CNN),
    ScheduleMark("mcunet-in3", 94.2, 0.455, MSF_CNN),
    ScheduleMark("mcunet-in3", 63.5, 1.02, MSF_CNN),
    ScheduleMark("mcunet-in3", 51.2, 1.69, MSF_CNN),
    ScheduleMark("mbv2-w0.35-r144", 83.1, 0.019, MSF_CNN),
    ScheduleMark("mbv2-w0.35-r144", 25.8, 0.25, MSF_CNN),
    ScheduleMark("mbv2-w0.35-r144", 15.2, 0.38, MSF_CNN),
    ScheduleMark("mbv2-w0.35-r144", 8.6, 0.68, MSF_CNN),
)


def schedule_marks(model: str) -> tuple[ScheduleMark, ...]:
    """Other schedulers' published points for ``model`` (none for most models)."""
    return tuple(mark for mark in MSF_CNN_POINTS if mark.model == model)

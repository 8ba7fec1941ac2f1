"""Kernel suites on the emulator: instructions per MAC of each kernel, portable vs DSP, on M4 and M7.

``python -m harness.bench_kernels`` builds one firmware per target whose "model" (the
harness/firmware/model_api.h contract) is a list of kernel calls, runs it under QEMU ``-icount`` and
prints instructions per multiply-accumulate. The counts are *instructions* (QEMU's icount, one SysTick
count = 40 instructions), not cycles: an M7 retires two instructions per cycle where an M4 retires
one, which an instruction count cannot show.

The same machinery runs the device tests (tests/test_kernels_device.py): ``KernelCall`` describes one
kernel call with its data, ``suite_sources`` turns calls into the firmware's C, ``run_suite`` builds,
runs and returns each call's output bytes and instruction count.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

import numpy as np

from harness.boards import Resource, open_board, run_firmware
from harness.codegen.kernels import Region, Requant, Window, kernel_headers, kernel_sources, scratch_bytes
from harness.firmware.build import BuildOptions, DoesNotFit, build_firmware
from harness.ir import quant

TARGETS = {"M4": "stm32f412", "M7": "stm32f746"}
CONV_KINDS = {"conv2d": "pb_conv2d_s8", "conv1x1": "pb_conv1x1_s8", "depthwise": "pb_depthwise_conv2d_s8"}
RUN_TIMEOUT_S = 300.0


@dataclass(frozen=True)
class KernelCall:
    """One call of a conv-like kernel with its data. kind: conv2d, conv1x1, depthwise or fc.

    Convs: ``input`` is the held buffer the region reads (row stride included), ``region``/``window``
    set. FC: ``region`` is None and ``fc_shape`` is (batches, in_features, out_features)."""

    name: str
    kind: str
    q: Requant
    input: np.ndarray
    filter: np.ndarray
    bias: np.ndarray | None
    region: Region | None = None
    window: Window | None = None
    fc_shape: tuple[int, int, int] | None = None

    @property
    def output_bytes(self) -> int:
        if self.kind == "fc":
            batches, _, out_features = self.fc_shape
            return batches * out_features
        r = self.region
        row = r.out_row_stride or r.out_w * r.out_c
        return (r.out_h - 1) * row + r.out_w * r.out_c

    @property
    def macs(self) -> int:
        if self.kind == "fc":
            batches, in_features, out_features = self.fc_shape
            return batches * in_features * out_features
        r, w = self.region, self.window
        per_output = w.kernel_h * w.kernel_w * (1 if self.kind == "depthwise" else r.in_c)
        return r.out_h * r.out_w * r.out_c * per_output

    def scratch_bytes(self) -> int:
        op_kind = {"conv2d": "CONV_2D", "conv1x1": "CONV_2D", "depthwise": "DEPTHWISE_CONV_2D"}
        if self.kind == "fc":
            batches, in_features, _ = self.fc_shape
            return scratch_bytes("FULLY_CONNECTED", (batches, in_features), self.filter.shape, optimized=True)
        return scratch_bytes(op_kind[self.kind], self.input.shape, self.filter.shape, optimized=True)


@dataclass(frozen=True)
class SuiteResult:
    outputs: dict[tuple[str, str], bytes]  # (call name, variant) -> output bytes
    instructions: dict[tuple[str, str], int]  # (call name, variant) -> instructions of the call
    unit: str


def _c_array(ctype: str, name: str, values: np.ndarray) -> str:
    flat = np.asarray(values).reshape(-1)
    body = ",".join(str(int(v)) for v in flat) if flat.size else "0"
    return f"static const {ctype} {name}[{max(flat.size, 1)}] = {{{body}}};\n"


def _function_name(kind: str, variant: str) -> str:
    base = "pb_fully_connected_s8" if kind == "fc" else CONV_KINDS[kind]
    return base if variant == "default" else f"{base}_{variant}"


def suite_sources(
    calls: list[KernelCall], variants: tuple[str, ...], *, keep_outputs: bool = True
) -> tuple[dict[str, str], dict[tuple[str, str], tuple[int, int]]]:
    """The firmware's C for running every call in every variant (one timed layer each).

    Returns the sources (model.c plus the kernels) and where each (call, variant) writes its output in
    the record's output: (offset, size). keep_outputs=False lets every call write to the same buffer and
    reports only its first bytes (benchmarks with big outputs)."""
    total = sum(call.output_bytes for call in calls) * len(variants)
    buffer_bytes = total if keep_outputs else max(call.output_bytes for call in calls)
    reported = total if keep_outputs else min(32, buffer_bytes)
    scratch = max(call.scratch_bytes() for call in calls)
    parts = [
        '#include <stdint.h>\n#include "model_api.h"\n#include "pb_kernels.h"\n\n',
        f"static int8_t pb_output_buffer[{buffer_bytes}] __attribute__((aligned(4)));\n",
        f"static int8_t pb_scratch[{max(scratch, 4)}];\n\n",
    ]
    layers, layout = [], {}
    offset = 0
    for index, call in enumerate(calls):
        prefix = f"k{index}"
        parts.append(f"/* {call.name}: {call.kind} */\n")
        parts.append(_c_array("int8_t", f"{prefix}_input", call.input))
        parts.append(_c_array("int8_t", f"{prefix}_filter", call.filter))
        if call.bias is not None:
            parts.append(_c_array("int32_t", f"{prefix}_bias", call.bias))
        parts.append(_c_array("int32_t", f"{prefix}_mult", call.q.multipliers))
        parts.append(_c_array("int32_t", f"{prefix}_shift", call.q.shifts))
        q = call.q
        parts.append(
            f"static const pb_requant {prefix}_q = {{{q.input_zero_point}, {q.output_zero_point}, {q.act_min}, "
            f"{q.act_max}, {prefix}_mult, {prefix}_shift}};\n"
        )
        if call.region is not None:
            parts.append(f"static const pb_region {prefix}_region = {call.region.c_initializer()};\n")
            parts.append(f"static const pb_window {prefix}_window = {call.window.c_initializer()};\n")
        bias = f"{prefix}_bias" if call.bias is not None else "0"
        for variant in variants:
            function = f"{prefix}_{variant}"
            out_offset = offset if keep_outputs else 0
            target = f"pb_output_buffer + {out_offset}"
            if call.kind == "fc":
                batches, in_features, out_features = call.fc_shape
                invocation = (f"{_function_name('fc', variant)}({batches}, {in_features}, {out_features}, &{prefix}_q, "
                              f"{prefix}_input, {prefix}_filter, {bias}, {target}, pb_scratch)")  # fmt: skip
            else:
                invocation = (f"{_function_name(call.kind, variant)}(&{prefix}_region, &{prefix}_window, &{prefix}_q, "
                              f"{prefix}_input, {prefix}_filter, {bias}, {target}, pb_scratch)")  # fmt: skip
            parts.append(f"static void {function}(void) {{ {invocation}; }}\n")
            layers.append((f"{call.name}_{variant}", function))
            layout[(call.name, variant)] = (out_offset, call.output_bytes)
            if keep_outputs:
                offset += call.output_bytes
        parts.append("\n")
    entries = "".join(f'    {{"{name}", {function}}},\n' for name, function in layers)
    parts.append(f"const pb_layer_t pb_model_layers[] = {{\n{entries}}};\n")
    parts.append(f"const int pb_model_layer_count = {len(layers)};\n")
    parts.append('const char pb_model_name[] = "kernel_suite";\n')
    parts.append(f'const char pb_model_schedule[] = "{len(calls)} calls x {"/".join(variants)}";\n')
    parts.append(f"const uint32_t pb_model_arena_bytes = {buffer_bytes};\n")
    parts.append("void pb_model_prepare_input(void) {}\n")
    parts.append("int8_t *pb_model_input(void) { return pb_output_buffer; }\n")
    parts.append("uint32_t pb_model_input_size(void) { return 0; }\n")
    parts.append("const int8_t *pb_model_output(void) { return pb_output_buffer; }\n")
    parts.append(f"uint32_t pb_model_output_size(void) {{ return {reported}; }}\n")
    sources = {"model.c": "".join(parts)}
    for path in kernel_sources() + kernel_headers():
        sources[path.name] = path.read_text()
    return sources, layout


def run_suite(
    calls: list[KernelCall],
    target: str,
    variants: tuple[str, ...] = ("portable", "dsp"),
    *,
    keep_outputs: bool = True,
    defines: tuple[str, ...] = (),
) -> SuiteResult:
    """Build the suite for ``target``, run it once on QEMU, return each call's output and instructions."""
    sources, layout = suite_sources(calls, variants, keep_outputs=keep_outputs)
    options = BuildOptions(runs=1, warmup=0, defines=defines)
    firmware = build_firmware(sources, target, options)
    if isinstance(firmware, DoesNotFit):
        raise RuntimeError(f"kernel suite does not fit {target}: {firmware.reason}; use smaller calls")
    with open_board(Resource(target, "qemu")) as board:
        record = run_firmware(board, firmware, timeout=RUN_TIMEOUT_S)
    medians = dict(record.layer_medians)
    outputs, instructions = {}, {}
    for (name, variant), (offset, size) in layout.items():
        instructions[(name, variant)] = medians[f"{name}_{variant}"]
        if keep_outputs:
            outputs[(name, variant)] = record.output[offset : offset + size]
    return SuiteResult(outputs, instructions, record.unit)


# --- the benchmark ----------------------------------------------------------------------------------


def _requant(rng, channels: int, depth: int) -> Requant:
    input_scale = 0.05
    filter_scales = rng.uniform(0.002, 0.02, channels).astype(np.float32)
    output_scale = input_scale * float(filter_scales.mean()) * np.sqrt(depth) * 40
    multipliers, shifts = quant.conv_multipliers(input_scale, filter_scales, output_scale)
    return Requant(-3, 5, multipliers, shifts, -128, 127)


def benchmark_calls(seed: int = 0) -> list[KernelCall]:
    """MobileNetV2-like layer shapes, one per kernel kind."""
    rng = np.random.default_rng(seed)

    def conv(name, kind, hw, cin, cout, kernel, stride=1):
        pad = (kernel - 1) // 2 if kind != "conv1x1" else 0
        out = (hw + 2 * pad - kernel) // stride + 1
        channels_out = cin if kind == "depthwise" else cout
        shape = (1, kernel, kernel, cin) if kind == "depthwise" else (cout, kernel, kernel, cin)
        depth = kernel * kernel * (1 if kind == "depthwise" else cin)
        return KernelCall(
            name,
            kind,
            _requant(rng, channels_out, depth),
            rng.integers(-128, 128, (1, hw, hw, cin), dtype=np.int8),
            rng.integers(-127, 128, shape, dtype=np.int8),
            rng.integers(-2000, 2000, channels_out).astype(np.int32),
            Region(hw, hw, cin, out, out, channels_out, pad, pad, pad, pad),
            Window(kernel, kernel, stride, stride),
        )

    fc_in, fc_out = 512, 128
    return [
        conv("conv1x1_24x24x32_to_64", "conv1x1", 24, 32, 64, 1),
        conv("conv1x1_24x24x96_to_24", "conv1x1", 24, 96, 24, 1),
        conv("conv1x1_12x12x160_to_96", "conv1x1", 12, 160, 96, 1),
        conv("conv3x3_16x16x16_to_32", "conv2d", 16, 16, 32, 3),
        conv("dw3x3_24x24x64", "depthwise", 24, 64, 64, 3),
        conv("dw5x5_24x24x64", "depthwise", 24, 64, 64, 5),
        conv("dw7x7_24x24x64", "depthwise", 24, 64, 64, 7),
        KernelCall(
            "fc_512_to_128",
            "fc",
            _requant(rng, fc_out, fc_in),
            rng.integers(-128, 128, (1, fc_in), dtype=np.int8),
            rng.integers(-127, 128, (fc_out, fc_in), dtype=np.int8),
            rng.integers(-2000, 2000, fc_out).astype(np.int32),
            fc_shape=(1, fc_in, fc_out),
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cores", nargs="+", default=list(TARGETS), choices=list(TARGETS))
    args = parser.parse_args(argv)
    calls = benchmark_calls()
    results = {core: run_suite(calls, TARGETS[core], keep_outputs=False) for core in args.cores}
    header = f"{'kernel':<26}{'MACs':>10}"
    for core in args.cores:
        header += f"{core + ' portable':>14}{core + ' dsp':>10}{'speedup':>9}"
    print("instructions per MAC (QEMU -icount instruction counts, not cycles; requantization included)")
    print(header)
    for call in calls:
        line = f"{call.name:<26}{call.macs:>10}"
        for core in args.cores:
            portable = results[core].instructions[(call.name, "portable")] / call.macs
            dsp = results[core].instructions[(call.name, "dsp")] / call.macs
            line += f"{portable:>14.2f}{dsp:>10.2f}{portable / dsp:>8.1f}x"
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

# SPDX-License-Identifier: Apache-2.0
"""Kernel suites on the emulator: instructions per MAC of each of patchbench's kernel sets (harness/engines/
patchbench.py: its DSP kernels, its portable C, CMSIS-NN) on the same shapes, on M4 and M7.

``python -m harness.bench_kernels`` builds one firmware per target whose "model" (the
harness/firmware/model_api.h contract) is a list of kernel calls, runs it under QEMU ``-icount`` and
prints instructions per multiply-accumulate and the ratio of the default kernel set to each other. A
kernel set runs as its ``suite_variant``: patchbench's own kernels by their C function suffix ("dsp",
"portable"; "default" is the plain pb_<op>_s8 name), CMSIS-NN ("cmsis") calls the wrapper TFLite Micro calls (arm_convolve_wrapper_s8,
arm_depthwise_conv_wrapper_s8, arm_fully_connected_wrapper_s8) through harness/codegen/cmsis/pb_cmsis.c
with the same data, requantization and scratch from its *_get_buffer_size; its output is checked equal
to the portable kernel's. The counts are *instructions* (QEMU's icount, one SysTick
count = 40 instructions), not cycles: an M7 retires two instructions per cycle where an M4 retires
one, which an instruction count cannot show.

``python -m harness.bench_kernels --profile [MODEL ...]`` prints instead the per-op profile of whole models
(harness.results.op_profile): each model's per-layer point measured on the emulated boards (``--targets``,
default the H743) with the default kernel set (or ``--kernels``), its instructions and the cycle
model's estimated cycles per op, per MAC and per output pixel, grouped by kernel class and kernel shape.
Without a model name it profiles the default sweep's models. ``--results DB`` reads the latest stored
per-layer points there instead of measuring.

``python -m harness.bench_kernels --recompute [MODEL ...]`` prints, for the default sweep's patch points,
what the recomputed MACs account for at each op's per-layer rate ("share") and what the schedule costs
beyond it; ``--functions N`` adds, under each point, the N C functions (or assembly routines) with the most
instructions beyond their share, from the QEMU timing plugin's per-block counts and the ELF's symbols.

``python -m harness.bench_kernels --tiles [MODEL ...]`` prints, op by op, each conv of a model's patch stage
(``--patches`` P, default 2; the default sweep's depth or ``--depth``) per layer against its tiles, as kernel
calls alone: the tiles' instructions, the share of their MACs at the layer's rate and what is beyond it (see
``tile_calls``).

The same machinery runs the device tests (tests/codegen/test_kernels_device.py): ``KernelCall`` describes one
kernel call with its data (``AddCall`` one ADD of two broadcast operands), ``suite_sources`` turns calls into
the firmware's C, ``run_suite`` builds, runs and returns each call's output bytes and instruction count.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, replace

import numpy as np

from harness.boards import Resource, open_board, run_firmware
from harness.boards.execution_profile import function_instructions
from harness.codegen import cmsis_nn
from harness.codegen.broadcast import BroadcastWalk, broadcast_walk
from harness.codegen.cparams import PB_ADD_PARAMS
from harness.codegen.host_kernels import Requant
from harness.codegen.kernels import (
    Region,
    Window,
    conv_channel_table,
    conv_dense_call,
    conv_doubling,
    conv_filter_padding,
    depthwise_group_table,
    depthwise_inplace_scratch_bytes,
    depthwise_plane3_table,
    kernel_files,
    region_for_op,
    scratch_bytes,
    window_for_op,
)
from harness.engines import EngineError, get_engine
from harness.firmware import cmsis
from harness.firmware.build import BuildOptions, DoesNotFit, build_firmware
from harness.ir import quant
from harness.pipeline.measure import measure
from harness.pipeline.sweep import DEFAULT_SWEEP, Point, load_sweep
from harness.reference import AddQuant, conv_quant
from harness.results.db import ResultsDB
from harness.results.op_profile import (
    FunctionShare,
    format_profile,
    op_profile,
    recompute_functions,
    recompute_ratios,
    recompute_share,
)
from harness.schedule.plan import make_plan

TARGETS = {"M4": "stm32f412", "M7": "stm32f746"}
CONV_KINDS = {"conv2d": "pb_conv2d_s8", "conv1x1": "pb_conv1x1_s8", "depthwise": "pb_depthwise_conv2d_s8"}
RUN_TIMEOUT_S = 300.0
ENGINE = get_engine("patchbench")  # the kernel sets measured here are this engine's


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
    in_place: bool = False  # depthwise only: pb_depthwise_conv2d_s8_inplace on a copy of the input in SRAM
    # conv2d / conv1x1: its pb_requant carries the DSP kernel's channel table made once for the call's doubling
    # on the core (conv_channel_table, conv_doubling; marked as every call's, and a dense 1x1 call's where it
    # is one: conv_dense_call), as a patch-stage conv's does; a 3x3 depthwise call on the
    # planes the 3x3 plane channels' (depthwise_plane3_table), another depthwise call its channel groups'
    # (depthwise_group_table), as a patch-stage depthwise conv's
    prepared: bool = False

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

    def cmsis_scratch_bytes(self) -> int:
        """CMSIS-NN's *_get_buffer_size_dsp for this call."""
        if self.kind == "fc":
            _, in_features, out_features = self.fc_shape
            return cmsis.buffer_sizes().fully_connected(in_features, out_features)
        r, w = self.region, self.window
        call = cmsis.ConvCall(r.in_h, r.in_w, r.in_c, r.out_h, r.out_w, r.out_c, w.kernel_h, w.kernel_w,
                              (w.stride_h, w.stride_w), (r.pad_top, r.pad_left), (w.dilation_h, w.dilation_w))  # fmt: skip
        sizes = cmsis.buffer_sizes()
        return sizes.depthwise(call) if self.kind == "depthwise" else sizes.conv(call)

    def scratch_bytes(self) -> int:
        op_kind = {"conv2d": "CONV_2D", "conv1x1": "CONV_2D", "depthwise": "DEPTHWISE_CONV_2D"}
        if self.in_place:
            return depthwise_inplace_scratch_bytes(
                self.region, self.window, self.filter.shape, optimized=True
            )
        if self.kind == "fc":
            batches, in_features, _ = self.fc_shape
            return scratch_bytes("FULLY_CONNECTED", (batches, in_features), self.filter.shape, optimized=True)
        r = self.region  # the input may be a held window of a bigger buffer: the region's shape
        stride = (self.window.stride_h, self.window.stride_w) if self.window is not None else (1, 1)
        return scratch_bytes(
            op_kind[self.kind], (1, r.in_h, r.in_w, r.in_c), self.filter.shape, optimized=True, stride=stride
        )


@dataclass(frozen=True)
class AddCall:
    """One call of pb_add_s8 (its variants pb_add_s8_portable / _dsp): ``a`` and ``b`` numpy-broadcast to
    the output, walked as harness.codegen.broadcast walks them unless ``walk`` says otherwise (a single
    element as a contiguous run of one, say); ``q`` the parameters (reference.add_quant)."""

    name: str
    q: AddQuant
    a: np.ndarray
    b: np.ndarray
    walk: BroadcastWalk | None = None
    kind: str = "add"
    in_place: bool = False
    # pb_add_s8_rows instead (a patch stage's fused ADD): (row_len, out_rs); ``a`` and ``b`` are [rows, a_rs] and
    # [rows, b_rs], of whose rows each run reads the first row_len, written out_rs apart
    rows: tuple[int, int] | None = None

    @property
    def output_shape(self) -> tuple[int, ...]:
        if self.rows is not None:
            row_len, out_rs = self.rows
            return ((self.a.shape[0] - 1) * out_rs + row_len,)
        return tuple(np.broadcast_shapes(self.a.shape, self.b.shape))

    @property
    def output_bytes(self) -> int:
        return int(np.prod(self.output_shape))

    @property
    def macs(self) -> int:
        return 0  # no multiply-accumulates: instructions per MAC do not apply

    def scratch_bytes(self) -> int:
        return 0

    def c_source(self, prefix: str) -> str:
        """The operands, the parameters and the walk as C definitions named ``prefix``_*."""
        if self.rows is not None:
            params = PB_ADD_PARAMS.initializer(PB_ADD_PARAMS.values_of(self.q))
            return (_c_array("int8_t", f"{prefix}_a", self.a) + _c_array("int8_t", f"{prefix}_b", self.b)
                    + f"static const pb_add_params {prefix}_params = {params};\n")  # fmt: skip
        walk = self.walk or broadcast_walk(self.output_shape, self.a.shape, self.b.shape)
        if walk is None:
            raise ValueError(
                f"{self.name}: operands {self.a.shape} and {self.b.shape} need more than four dims"
            )
        dims, a_strides, b_strides = walk.c_arrays()
        params = PB_ADD_PARAMS.initializer(PB_ADD_PARAMS.values_of(self.q))
        return (
            _c_array("int8_t", f"{prefix}_a", self.a) + _c_array("int8_t", f"{prefix}_b", self.b)
            + f"static const pb_add_params {prefix}_params = {params};\n"
            f"static const int32_t {prefix}_dims[4] = {dims}, {prefix}_a_strides[4] = {a_strides}, "
            f"{prefix}_b_strides[4] = {b_strides};\n"
        )  # fmt: skip

    def invocation(self, prefix: str, variant: str, target: str) -> str:
        if self.rows is not None:
            row_len, out_rs = self.rows
            function = "pb_add_s8_rows" if variant == "default" else f"pb_add_s8_rows_{variant}"
            return (f"{function}(&{prefix}_params, {self.a.shape[0]}, {row_len}, {prefix}_a, {self.a.shape[1]}, "
                    f"{prefix}_b, {self.b.shape[1]}, {target}, {out_rs})")  # fmt: skip
        function = "pb_add_s8" if variant == "default" else f"pb_add_s8_{variant}"
        return (f"{function}(&{prefix}_params, {prefix}_dims, {prefix}_a_strides, {prefix}_b_strides, "
                f"{prefix}_a, {prefix}_b, {target})")  # fmt: skip


@dataclass(frozen=True)
class SuiteResult:
    outputs: dict[tuple[str, str], bytes]  # (call name, variant) -> output bytes
    instructions: dict[tuple[str, str], int]  # (call name, variant) -> instructions of the call
    unit: str


def _c_array(ctype: str, name: str, values: np.ndarray) -> str:
    flat = np.asarray(values).reshape(-1)
    body = ",".join(str(int(v)) for v in flat) if flat.size else "0"
    # aligned(4) as the generated model's arrays (harness/codegen/carrays.py): the DSP kernels' word loads of them
    return f"static const {ctype} {name}[{max(flat.size, 1)}] __attribute__((aligned(4))) = {{{body}}};\n"


def _function_name(kind: str, variant: str, in_place: bool = False) -> str:
    base = "pb_fully_connected_s8" if kind == "fc" else CONV_KINDS[kind]
    base = "pb_depthwise_conv2d_s8_inplace" if in_place else base
    return base if variant == "default" else f"{base}_{variant}"


def _copy_layer(name: str) -> str:
    """The layer that times only an in-place call's copies (the input into SRAM, the output out)."""
    return f"{name}_copies"


def takes_plane3_table(call: KernelCall) -> bool:
    """Whether a depthwise call's table is the 3x3 planes' (ops.py's rule for a patch-stage op: a 3x3 window at
    stride 1 on 6 x 6 outputs or more), not the group kernel's."""
    w, r = call.window, call.region
    return ((w.kernel_h, w.kernel_w, w.stride_h, w.stride_w, w.dilation_h, w.dilation_w) == (3, 3, 1, 1, 1, 1)
            and min(r.out_h, r.out_w) >= 6)  # fmt: skip


def suite_sources(
    calls: list[KernelCall | AddCall], variants: tuple[str, ...], *, keep_outputs: bool = True
) -> tuple[dict[str, str], dict[tuple[str, str], tuple[int, int]]]:
    """The firmware's C for running every call in every variant (one timed layer each).

    Returns the sources (model.c plus the kernels) and where each (call, variant) writes its output in
    the record's output: (offset, size). keep_outputs=False lets every call write to the same buffer and
    reports only its first bytes (benchmarks with big outputs)."""
    if any(call.in_place and call.kind != "depthwise" for call in calls):
        raise ValueError("only depthwise calls run in place")
    if "cmsis" in variants and any(call.kind == "add" for call in calls):
        raise ValueError("the suite runs CMSIS-NN's convs and fully connected only, not ADD")
    total = sum(call.output_bytes for call in calls) * len(variants)
    buffer_bytes = total if keep_outputs else max(call.output_bytes for call in calls)
    reported = total if keep_outputs else min(32, buffer_bytes)
    scratch = max(call.scratch_bytes() for call in calls)
    if "cmsis" in variants:
        scratch = max(scratch, *(call.cmsis_scratch_bytes() for call in calls))
    include = '#include "pb_cmsis.h"\n' if "cmsis" in variants else ""
    work = max((call.input.size for call in calls if call.in_place), default=0)
    parts = [
        f'#include <stdint.h>\n#include <string.h>\n#include "model_api.h"\n#include "pb_kernels.h"\n#include "pb_ops.h"\n{include}\n',
        f"static int8_t pb_output_buffer[{buffer_bytes}] __attribute__((aligned(4)));\n",
        f"static int8_t pb_scratch[{max(scratch, 4)}] __attribute__((aligned(4), unused)); /* ADD takes none */\n",
        f"static int8_t pb_work[{work}]; /* in-place calls: the input is copied here first */\n\n"
        if work
        else "\n",
    ]
    layers, layout = [], {}
    offset = 0
    for index, call in enumerate(calls):
        prefix = f"k{index}"
        parts.append(f"/* {call.name}: {call.kind} */\n")
        if call.kind == "add":
            parts.append(call.c_source(prefix))
            for variant in variants:
                out_offset = offset if keep_outputs else 0
                invocation = call.invocation(prefix, variant, f"pb_output_buffer + {out_offset}")
                parts.append(f"static void {prefix}_{variant}(void) {{ {invocation}; }}\n")
                layers.append((f"{call.name}_{variant}", f"{prefix}_{variant}"))
                layout[(call.name, variant)] = (out_offset, call.output_bytes)
                if keep_outputs:
                    offset += call.output_bytes
            parts.append("\n")
            continue
        parts.append(_c_array("int8_t", f"{prefix}_input", call.input))
        padding = 0  # a prepared conv's filter array padded as the generated model's (conv_filter_padding)
        if call.prepared and call.kind in ("conv2d", "conv1x1"):
            padding = conv_filter_padding(call.window.kernel_h * call.window.kernel_w * call.region.in_c)
        filter_values = np.concatenate([call.filter.reshape(-1), np.zeros(padding, np.int8)])
        parts.append(_c_array("int8_t", f"{prefix}_filter", filter_values))
        if call.bias is not None:
            parts.append(_c_array("int32_t", f"{prefix}_bias", call.bias))
        parts.append(_c_array("int32_t", f"{prefix}_mult", call.q.multipliers))
        parts.append(_c_array("int32_t", f"{prefix}_shift", call.q.shifts))
        q = call.q
        prepared = "0"
        if call.prepared and call.kind == "depthwise" and takes_plane3_table(call):
            table = depthwise_plane3_table(q.multipliers, q.shifts, call.bias, call.filter, q.input_zero_point,
                                           q.output_zero_point)  # fmt: skip
        elif call.prepared and call.kind == "depthwise":
            table = depthwise_group_table(
                q.multipliers, q.shifts, call.bias, call.filter, q.output_zero_point
            )
            if table is None:
                raise ValueError(
                    f"{call.name}: a group does not take the doubled form; no group table is made for it"
                )
        elif call.prepared:
            k = call.window.kernel_h * call.window.kernel_w * call.region.in_c
            doubling = conv_doubling(call.region, q.act_min, q.act_max, k)
            dense = call.kind == "conv1x1" and conv_dense_call(
                call.region, call.window, q.act_min, q.act_max, k
            )
            table = conv_channel_table(q.multipliers, q.shifts, call.bias, q.output_zero_point, k, doubling,
                                       every_call=True, dense=dense, padded=True)  # fmt: skip
        if call.prepared:
            parts.append(_c_array("int32_t", f"{prefix}_prepared", table))
            prepared = f"{prefix}_prepared"
        parts.append(
            f"static const pb_requant {prefix}_q = {{{q.input_zero_point}, {q.output_zero_point}, {q.act_min}, "
            f"{q.act_max}, {prefix}_mult, {prefix}_shift, {prepared}}};\n"
        )
        if call.region is not None:
            parts.append(f"static const pb_region {prefix}_region = {call.region.c_initializer()};\n")
            parts.append(f"static const pb_window {prefix}_window = {call.window.c_initializer()};\n")
        bias = f"{prefix}_bias" if call.bias is not None else "0"
        if call.in_place:  # (into the first variant's output, which that variant then writes)
            copies = (f"memcpy(pb_work, {prefix}_input, {call.input.size}); "
                      f"memcpy(pb_output_buffer + {offset if keep_outputs else 0}, pb_work, {call.output_bytes});")  # fmt: skip
            parts.append(f"static void {prefix}_copies(void) {{ {copies} }}\n")
            layers.append((_copy_layer(call.name), f"{prefix}_copies"))
        for variant in variants:
            if call.in_place and variant == "cmsis":
                continue  # CMSIS-NN has no in-place kernel
            function = f"{prefix}_{variant}"
            out_offset = offset if keep_outputs else 0
            target = f"pb_output_buffer + {out_offset}"
            if call.in_place:
                invocation = (f"memcpy(pb_work, {prefix}_input, {call.input.size});\n"
                              f"    {_function_name(call.kind, variant, True)}(&{prefix}_region, &{prefix}_window, "
                              f"&{prefix}_q, pb_work, {prefix}_filter, {bias}, pb_scratch);\n"
                              f"    memcpy({target}, pb_work, {call.output_bytes})")  # fmt: skip
            elif variant == "cmsis":
                invocation = _cmsis_invocation(call, prefix, bias, target, scratch)
            elif call.kind == "fc":
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
    parts.append("const int pb_model_output_count = 1;\n")
    parts.append("const int8_t *pb_model_output(int index) { (void)index; return pb_output_buffer; }\n")
    parts.append(f"uint32_t pb_model_output_size(int index) {{ (void)index; return {reported}; }}\n")
    sources = {"model.c": "".join(parts)}
    sources.update(kernel_files())
    if "cmsis" in variants:
        sources.update(_cmsis_sources())
    return sources, layout


def _cmsis_sources() -> dict[str, str]:
    located = cmsis.locate()
    called = {"arm_convolve_wrapper_s8", "arm_depthwise_conv_wrapper_s8", "arm_fully_connected_wrapper_s8"}
    sources = {name: (cmsis_nn.HELPER_DIR / name).read_text() for name in ("pb_cmsis.h", "pb_cmsis.c")}
    sources.update(cmsis.firmware_sources(located, called))
    return sources


def _cmsis_invocation(call: KernelCall, prefix: str, bias: str, target: str, scratch: int) -> str:
    """The CMSIS-NN call of ``call``: offsets and shifts in CMSIS-NN's conventions (cmsis_nn.py)."""
    q = call.q
    quant = (f"{-q.input_zero_point}, {q.output_zero_point}, {q.act_min}, {q.act_max}, "
             f"{{(int32_t *){prefix}_mult, (int32_t *){prefix}_shift}}")  # fmt: skip
    if call.kind == "fc":
        batches, in_features, out_features = call.fc_shape
        return (
            f"static const cmsis_nn_fc_params params = {{{-q.input_zero_point}, 0, {q.output_zero_point}, "
            f"{{{q.act_min}, {q.act_max}}}}};\n"
            f"    static const cmsis_nn_quant_params quant = {{(int32_t *){prefix}_mult, (int32_t *){prefix}_shift, 1}};\n"
            f"    static const cmsis_nn_dims in = {{{batches}, 1, 1, {in_features}}}, "
            f"filter = {{{in_features}, 1, 1, {out_features}}}, bias_dims = {{1, 1, 1, {out_features}}}, "
            f"out = {{{batches}, 1, 1, {out_features}}};\n"
            f"    const cmsis_nn_context ctx = {{pb_scratch, {scratch}}};\n"
            f'    pb_cmsis_check("{call.name}", arm_fully_connected_wrapper_s8(&ctx, &params, &quant, &in, '
            f"{prefix}_input, &filter, {prefix}_filter, &bias_dims, {bias or 'NULL'}, &out, {target}))"
        )  # fmt: skip
    depthwise = int(call.kind == "depthwise")
    return (
        f"static const pb_cmsis_conv_quant quant = {{{quant}}};\n"
        f'    pb_cmsis_conv_s8("{call.name}", {depthwise}, &{prefix}_region, &{prefix}_window, &quant, {prefix}_input, '
        f"{prefix}_filter, {bias}, {target}, pb_scratch, {scratch})"
    )  # fmt: skip


def run_suite(
    calls: list[KernelCall | AddCall],
    target: str,
    variants: tuple[str, ...] = ("portable", "dsp"),
    *,
    keep_outputs: bool = True,
    defines: tuple[str, ...] = (),
) -> SuiteResult:
    """Build the suite for ``target``, run it once on QEMU, return each call's output and instructions
    (an in-place call's without its two copies: the input into SRAM and the output out)."""
    sources, layout = suite_sources(calls, variants, keep_outputs=keep_outputs)
    include_dirs = cmsis.locate().include_dirs if "cmsis" in variants else ()
    # the stack planned from the call graph, as a model's: main keeps an 8-byte count per timed unit on the
    # stack (one per call and variant, and an in-place call's copies), more than a fixed reserve holds for a
    # suite of a few hundred calls
    units = len(layout) + sum(1 for call in calls if call.in_place)
    options = BuildOptions(runs=1, warmup=0, defines=defines, include_dirs=include_dirs, stack_bytes=None,
                           timed_units=units)  # fmt: skip
    firmware = build_firmware(sources, target, options)
    if isinstance(firmware, DoesNotFit):
        raise RuntimeError(f"kernel suite does not fit {target}: {firmware.reason}; use smaller calls")
    with open_board(Resource(target, "qemu")) as board:
        record = run_firmware(board, firmware, timeout=RUN_TIMEOUT_S)
    medians = dict(record.layer_medians)
    outputs, instructions = {}, {}
    for (name, variant), (offset, size) in layout.items():
        instructions[(name, variant)] = medians[f"{name}_{variant}"] - medians.get(_copy_layer(name), 0)
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
    """MobileNetV2-like layer shapes, one per kernel kind; each depthwise also in place (``_inplace``)."""
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

    depthwise = [
        conv("dw3x3_24x24x64", "depthwise", 24, 64, 64, 3),
        conv("dw3x3s2_24x24x64", "depthwise", 24, 64, 64, 3, stride=2),
        conv("dw5x5_24x24x64", "depthwise", 24, 64, 64, 5),
        conv("dw7x7_24x24x64", "depthwise", 24, 64, 64, 7),
    ]
    in_place = [replace(call, name=f"{call.name}_inplace", in_place=True) for call in depthwise]
    fc_in, fc_out = 512, 128
    return [
        conv("conv1x1_24x24x32_to_64", "conv1x1", 24, 32, 64, 1),
        conv("conv1x1_24x24x96_to_24", "conv1x1", 24, 96, 24, 1),
        conv("conv1x1_12x12x160_to_96", "conv1x1", 12, 160, 96, 1),
        conv("conv3x3_16x16x16_to_32", "conv2d", 16, 16, 32, 3),
        *[call for pair in zip(depthwise, in_place, strict=True) for call in pair],
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


# The depthwise table (``--depthwise``): every depthwise shape of these models, "before" (the DSP kernel with
# its channel-plane path off, PB_DEPTHWISE_PLANES=0: the 4-channel group kernel alone, as it was before the
# planes), "after" (the DSP kernel as built) and CMSIS-NN's wrapper (arm_depthwise_conv_s8 / _opt / the 3x3
# fast path as its wrapper picks). Each shape with its first DEPTHWISE_CHANNELS channels: the kernels work
# per 4-channel group or per channel, so per MAC the figure is the whole layer's, and the firmware stays small.
DEPTHWISE_MODELS = ("vww_96_int8", "mbv2-w0.35-r144", "mcunet-in0", "mcunet-in1", "mcunet-in2")
DEPTHWISE_CHANNELS = 16


def zoo_depthwise_calls(models=DEPTHWISE_MODELS, seed: int = 0) -> list[tuple[KernelCall, list[str]]]:
    """One call per distinct depthwise shape (map, window, stride, pads) of ``models`` per layer, with the
    layers that have it ("model:op")."""
    from models import get_model  # the zoo, as harness.pipeline.measure resolves a model

    rng = np.random.default_rng(seed)
    found: dict[tuple, tuple[KernelCall, list[str]]] = {}
    for model in models:
        graph = get_model(model)
        for op in graph.ops:
            if op.kind != "DEPTHWISE_CONV_2D" or int(op.attrs.get("depth_multiplier", 1)) != 1:
                continue
            region, window = region_for_op(graph, op), window_for_op(graph, op)
            c = min(DEPTHWISE_CHANNELS, region.in_c)
            region = replace(region, in_c=c, out_c=c, in_row_stride=0, out_row_stride=0)
            key = (region, window)
            if key not in found:
                k = window.kernel_h * window.kernel_w
                pads = "".join(str(pad) for pad in region.pads)
                name = (f"dw{window.kernel_h}x{window.kernel_w}s{window.stride_h}_{region.in_h}x{region.in_w}x{c}"
                        f"_to_{region.out_h}x{region.out_w}_p{pads}")  # fmt: skip
                call = KernelCall(
                    name, "depthwise", replace(_requant(rng, c, k), act_min=-128, act_max=int(rng.integers(20, 100))),
                    rng.integers(-128, 128, (1, region.in_h, region.in_w, c), dtype=np.int8),
                    rng.integers(-127, 128, (1, window.kernel_h, window.kernel_w, c), dtype=np.int8),
                    rng.integers(-2000, 2000, c).astype(np.int32), region, window,
                )  # fmt: skip
                found[key] = (call, [])
            found[key][1].append(f"{model}:{op.name}")
    return list(found.values())


def depthwise_table(core: str) -> int:
    """Print the depthwise table on ``core`` (M4 or M7)."""
    ENGINE.check_available("cmsis-nn")
    shapes = zoo_depthwise_calls()
    calls = [call for call, _ in shapes]
    target = TARGETS[core]
    before = run_suite(
        calls, target, ("dsp", "cmsis"), keep_outputs=False, defines=("PB_DEPTHWISE_PLANES=0",)
    )
    after = run_suite(calls, target, ("dsp",), keep_outputs=False)
    print(f"depthwise shapes of {', '.join(DEPTHWISE_MODELS)} on {core} ({target}): instructions per MAC "
          f"(QEMU -icount, not cycles), first {DEPTHWISE_CHANNELS} channels of each layer")  # fmt: skip
    print(
        "before: the DSP kernel without its channel planes (PB_DEPTHWISE_PLANES=0); after: as built; "
        "cmsis-nn: arm_depthwise_conv_wrapper_s8"
    )
    print(f"{'shape':<39}{'MACs':>9}{'before':>8}{'after':>8}{'cmsis-nn':>10}{'after/before':>14}"
          f"{'after/cmsis':>13}  layers")  # fmt: skip
    for call, layers in shapes:
        was = before.instructions[(call.name, "dsp")] / call.macs
        now = after.instructions[(call.name, "dsp")] / call.macs
        arm = before.instructions[(call.name, "cmsis")] / call.macs
        shown = ", ".join(layers[:3]) + (f" (+{len(layers) - 3})" if len(layers) > 3 else "")
        print(f"{call.name:<39}{call.macs:>9}{was:>8.2f}{now:>8.2f}{arm:>10.2f}{now / was:>13.2f}x"
              f"{now / arm:>12.2f}x  {shown}")  # fmt: skip
    return 0


# The tile table (``--tiles``): what a patch stage's tiles cost against per layer, op by op. Each conv of the stage
# (CONV_2D, DEPTHWISE_CONV_2D without a depth multiplier) runs as its per-layer call and as each tile's call of the
# (p, n) plan, with the op's own weights and requantization (its activation range picks the kernel's clamping
# instance), out of place and without a fused ADD, on one random input map: each tile reads its window of it, so
# its output is the layer's at its place (tests/codegen/test_tile_calls.py checks it on the device). The tiles' calls
# carry the channel tables a patch-stage op takes (KernelCall.prepared), the per-layer call only a conv's for its
# padded filter, as harness/codegen/ops.py makes them; where a tile reads the stage's input image or writes the
# stage's output, its rows are the whole map's. So the figures are the kernels' alone, not a generated model's (its
# in-place calls, fused ADDs and per-patch code are in --recompute's --functions); they show where beyond its MACs
# a tile pays: its rows (1/p of the layer's width, p times as many), its calls and channel starts, its halo.


@dataclass(frozen=True)
class StageOpCalls:
    """One conv of a patch stage: its per-layer call, its tiles' calls and where each tile's output lies in the
    layer's (rows y0:y1, columns x0:x1; ``tile_calls``)."""

    op: str
    kernel: str  # "depthwise 3x3/1", "conv 1x1/1"
    per_layer: KernelCall
    tiles: tuple[KernelCall, ...]
    places: tuple[tuple[int, int, int, int], ...]

    @property
    def mac_ratio(self) -> float:
        """The tiles' MACs over the layer's (1 + the op's recompute overhead)."""
        return sum(call.macs for call in self.tiles) / self.per_layer.macs


def tile_calls(model: str, p: int, n: int, seed: int = 0, channels: int | None = None) -> list[StageOpCalls]:
    """Every conv of ``model``'s (p, n) patch stage as kernel calls (see the tile table above); ``channels``: only
    each op's first input and output channels (a small suite)."""
    from models import get_model  # the zoo, as harness.pipeline.measure resolves a model

    graph = get_model(model)
    plan = make_plan(graph, p, n)
    rng = np.random.default_rng(seed)
    found = []
    for op in graph.ops:
        if op.name not in plan.stage_ops or op.kind not in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            continue
        if op.kind == "DEPTHWISE_CONV_2D" and int(op.attrs.get("depth_multiplier", 1)) != 1:
            continue
        window, layer = window_for_op(graph, op), region_for_op(graph, op)
        kind = "depthwise" if op.kind == "DEPTHWISE_CONV_2D" else "conv2d"
        kind = "conv1x1" if kind == "conv2d" and (window.kernel_h, window.kernel_w) == (1, 1) else kind
        q = conv_quant(graph, op)
        weights = np.asarray(graph.tensor(op.inputs[1]).data, dtype=np.int8)
        bias_name = op.inputs[2] if len(op.inputs) > 2 else ""
        bias = np.asarray(graph.tensor(bias_name).data, dtype=np.int32) if bias_name else None
        cin, cout = layer.in_c, layer.out_c
        if channels is not None:
            cin, cout = min(cin, channels), min(cout, channels)
            cout = cin if kind == "depthwise" else cout
            weights = weights[..., :cin] if kind == "depthwise" else weights[:cout, ..., :cin]
            bias = None if bias is None else bias[:cout]
            layer = replace(layer, in_c=cin, out_c=cout)
        requant = Requant(q.input_zero_point, q.output_zero_point, q.multipliers[:cout], q.shifts[:cout],
                          q.act_min, q.act_max)  # fmt: skip
        image = rng.integers(-128, 128, (1, layer.in_h, layer.in_w, cin), dtype=np.int8)
        # the channel tables harness/codegen/ops.py makes: every tile's call takes its op's (a depthwise call off
        # the 3x3 planes the group table, made only where every group takes the doubled form); per layer only a
        # conv with a padded filter (k % 4 != 0) takes one
        k = window.kernel_h * window.kernel_w * (1 if kind == "depthwise" else cin)
        doubled = kind == "depthwise" and (
            depthwise_group_table(requant.multipliers, requant.shifts, bias, weights, q.output_zero_point)
            is not None
        )
        tiles, places = [], []
        for index, step in enumerate(s for patch in plan.patches for s in patch.steps if s.op == op.name):
            read, out = step.inputs[0], step.output
            whole_rows = op.inputs[0] in plan.stage_inputs  # the stage reads the image at full size
            held = (
                image[:, read.y0 : read.y1] if whole_rows else image[:, read.y0 : read.y1, read.x0 : read.x1]
            )
            region = replace(
                layer, in_h=read.height, in_w=read.width, out_h=out.height, out_w=out.width,
                pad_top=step.pads[0], pad_bottom=step.pads[1], pad_left=step.pads[2], pad_right=step.pads[3],
                in_row_stride=layer.in_w * cin if whole_rows else 0,
                out_row_stride=layer.out_w * cout if op.outputs[0] == plan.stage_output else 0,
            )  # fmt: skip
            data = held.reshape(-1)[read.x0 * cin :] if whole_rows else held
            tile = KernelCall(f"{op.name}_t{index}", kind, requant, data, weights, bias, region, window)
            tables = kind != "depthwise" or doubled or takes_plane3_table(tile)
            tiles.append(replace(tile, prepared=tables))
            places.append((out.y0, out.y1, out.x0, out.x1))
        per_layer = KernelCall(f"{op.name}_layer", kind, requant, image, weights, bias, layer, window,
                               prepared=kind != "depthwise" and conv_filter_padding(k) != 0)  # fmt: skip
        label = f"{'depthwise' if kind == 'depthwise' else 'conv'} {window.kernel_h}x{window.kernel_w}/{window.stride_h}"
        found.append(StageOpCalls(op.name, label, per_layer, tuple(tiles), tuple(places)))
    return found


def tiles_table(model: str, p: int, n: int, core: str) -> int:
    """Print the tile table of ``model``'s (p, n) patch stage on ``core``."""
    ops = tile_calls(model, p, n)
    target = TARGETS[core]
    instructions: dict[str, int] = {}
    for op in ops:  # a suite each: a stage's inputs together take more flash than a board has
        run = run_suite([op.per_layer, *op.tiles], target, ("dsp",), keep_outputs=False)
        instructions.update((name, count) for (name, _), count in run.instructions.items())
    print(f"{model} p={p} n={n} on {core} ({target}): each conv of the patch stage per layer and on its {p * p} "
          f"tiles, kernel calls alone (instructions, QEMU -icount)")  # fmt: skip
    print(f"{'op':<24}{'kernel':<18}{'per layer':>11}{'rows':>6}{'tiles':>11}{'rows':>6}{'+MACs':>8}"
          f"{'share':>11}{'beyond':>10}")  # fmt: skip
    total = 0.0
    for op in ops:
        layer = instructions[op.per_layer.name]
        tiles = sum(instructions[call.name] for call in op.tiles)
        share = layer * op.mac_ratio
        total += tiles - share
        rows = sum(call.region.out_h for call in op.tiles)
        print(f"{op.op:<24}{op.kernel:<18}{layer:>11,}{op.per_layer.region.out_h:>6}{tiles:>11,}{rows:>6}"
              f"{op.mac_ratio - 1:>+8.1%}{share:>11,.0f}{tiles - share:>+10,.0f}")  # fmt: skip
    print(f"{'all ' + str(len(ops)) + ' convs':<94}{total:>+10,.0f}")
    print("share: the layer's instructions times the tiles' MACs over its MACs; beyond: the tiles' instructions "
          "less that share (rows of 1/p the width, p * p calls and channel starts, halos)\n")  # fmt: skip
    return 0


def _latest_passed(stored, **equal) -> dict | None:
    """The latest passed row of the engine's in a results frame whose columns equal ``equal``, or None."""
    rows = stored[(stored["engine"] == ENGINE.name) & (stored["status"] == "passed")]
    for column, value in equal.items():
        rows = rows[rows[column] == value]
    return rows.iloc[-1].to_dict() if len(rows) else None


def profile_models(models: list[str], targets: list[str], kernels: str | None, results: str | None) -> int:
    """Print the per-op profile of each model's per-layer point on each target (measured now, or the latest
    stored in ``results``); returns 1 when a point has no profile (it failed, or was never measured)."""
    stored = ResultsDB(results).results() if results else None
    status = 0
    for model in models:
        for target in targets:
            title = f"{model} on {target}/qemu, per-layer, kernels {kernels or ENGINE.default_kernels}"
            if stored is not None:
                record = _latest_passed(stored, model=model, target=target, p=1,
                                        kernels=kernels or ENGINE.default_kernels)  # fmt: skip
            else:
                record = measure(model, target, 1, 0, repeat=1, kernels=kernels)
                if record.status != "passed":
                    print(f"{title}: {record.status} ({record.reason})\n")
                    status = 1
                    continue
            found = op_profile(record) if record is not None else None
            if found is None:
                print(f"{title}: no per-op profile (no passed point with per-op shapes in {results})\n")
                status = 1
                continue
            print(format_profile(found, title) + "\n")
    return status


def recompute_table(
    models: list[str], targets: list[str], kernels: str | None, results: str | None, functions: int = 0
) -> int:
    """Print, for each model's patch points of the default sweep on each target, what the recomputation
    costs against per layer (harness.results.op_profile.recompute_share): the MAC overhead, the instruction
    overhead, the share the recomputed MACs account for at each op's per-layer rate, and what is beyond it.
    Measured now (one timed run each), or the latest stored points in ``results``; returns 1 when a point
    has no figures. ``functions`` > 0 (measured now only): under each point, the C functions with the
    largest instructions beyond their share, from the timing plugin's counts (recompute_functions)."""
    kernels = kernels or ENGINE.default_kernels
    stored = ResultsDB(results).results() if results else None
    sweep = load_sweep(DEFAULT_SWEEP)
    status = 0
    counts: dict[
        Point, dict
    ] = {}  # the measured points' instructions per function (a point names its target)

    def record(model: str, target: str, point) -> dict | None:
        if stored is None:
            with open_board(Resource(target, "qemu")) as board:
                found = measure(model, target, point.p, point.n, board=board, repeat=1, warmup=1,
                                kernels=kernels, input_mode=point.input_mode)  # fmt: skip
                if found.status == "passed" and functions:
                    units = [name for name, _ in found.layer_latency]
                    counts[point] = function_instructions(board.execution_profile, board.elf, 1, 1, units)
            return found if found.status == "passed" else None
        return _latest_passed(stored, model=model, target=target, p=point.p, n=point.n,
                              input_mode=point.input_mode, segments="", kernels=kernels)  # fmt: skip

    for model in models:
        for target in targets:
            grid = replace(sweep, targets=[target], models=[model], schedules=[]).points()
            points = sorted(
                {(pt.p, pt.n, pt.input_mode): pt for pt in grid if pt.engine == ENGINE.name}.values()
            )
            per_layer = next((pt for pt in points if pt.per_layer), None)
            base = record(model, target, per_layer) if per_layer else None
            title = f"{model} on {target}/qemu, kernels {kernels}"
            if base is None:
                print(f"{title}: no passed per-layer point\n")
                status = 1
                continue
            print(f"{title}: each patch point against per layer (instructions, QEMU -icount)")
            print(f"{'point':<10}{'input':<10}{'MACs':>12}{'+MACs':>8}{'instructions':>14}{'+instr':>8}"
                  f"{'share':>8}{'beyond':>8}")  # fmt: skip
            for point in points:
                if point.per_layer:
                    continue
                found = record(model, target, point)
                share = recompute_share(base, found) if found is not None else None
                label = f"p={point.p} n={point.n}"
                if share is None:
                    print(
                        f"{label:<10}{point.input_mode:<10}  no passed point with per-op MACs under its schedule"
                    )
                    status = 1
                    continue
                print(f"{label:<10}{point.input_mode:<10}{share.macs:>12,}{share.mac_overhead:>+8.1%}"
                      f"{share.latency:>14,.0f}{share.latency_overhead:>+8.1%}{share.share:>+8.1%}"
                      f"{share.beyond:>+8.1%}")  # fmt: skip
                if functions:
                    ratios = recompute_ratios(
                        op_profile(base), found.analysis
                    )  # measured now: a PointAnalysis
                    _print_functions(recompute_functions(ratios, counts[per_layer], counts[point]), functions)
            print(
                "share: the instruction overhead if every recomputed MAC cost what its op's MACs cost per layer; "
                "beyond: the instruction overhead less that share (per-tile calls and setup, slower tile kernels)\n"
            )
    return status


def _print_functions(rows: list[FunctionShare], top: int) -> None:
    """The ``top`` functions by instructions beyond their recompute share, then the ``top`` largest savings
    (negative beyond), indented under their point's line."""
    shown = rows[:top] + [row for row in rows[top:][-top:] if row.beyond < 0]
    print(f"    {'beyond, per function (timing plugin)':<44}{'instructions':>14}{'share':>14}{'beyond':>12}")
    for row in shown:
        print(f"    {row.name:<44}{row.measured:>14,}{row.share:>14,.0f}{row.beyond:>+12,.0f}")
    print(f"    {'all ' + str(len(rows)) + ' functions':<44}{sum(r.measured for r in rows):>14,}"
          f"{sum(r.share for r in rows):>14,.0f}{sum(r.beyond for r in rows):>+12,.0f}")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cores", nargs="+", default=list(TARGETS), choices=list(TARGETS))
    parser.add_argument(
        "--kernels", nargs="+", default=None, choices=ENGINE.kernel_set_names,
        help="the kernel sets to measure (default: all; the first is the reference of the ratios); with "
             "--profile one set (default: the engine's default)",
    )  # fmt: skip
    parser.add_argument(
        "--profile", nargs="*", metavar="MODEL", default=None,
        help="print the per-op profile of these models' per-layer points instead (none named: the default "
             "sweep's models)",
    )  # fmt: skip
    parser.add_argument(
        "--recompute", nargs="*", metavar="MODEL", default=None,
        help="print, for these models' patch points of the default sweep (none named: its models), what the "
             "recomputation costs against per layer and what the patch schedule costs beyond it, instead",
    )  # fmt: skip
    parser.add_argument(
        "--functions", type=int, default=0, metavar="N",
        help="--recompute: under each point, the N functions with the most instructions beyond their share "
             "(and the largest savings), from the emulator's timing plugin",
    )  # fmt: skip
    parser.add_argument(
        "--targets", nargs="+", default=["stm32h743"], help="--profile, --recompute: the boards (emulated)"
    )
    parser.add_argument(
        "--results", help="--profile, --recompute: read the latest stored points from this database"
    )
    parser.add_argument(
        "--depthwise", action="store_true",
        help="print every depthwise shape of the zoo's default models before / after the channel planes, "
             "beside CMSIS-NN, instead",
    )  # fmt: skip
    parser.add_argument(
        "--tiles", nargs="*", metavar="MODEL", default=None,
        help="print, for these models' patch stages at --patches (none named: the default sweep's models, at each "
             "depth it lists), each conv per layer against its tiles as kernel calls, instead",
    )  # fmt: skip
    parser.add_argument(
        "--patches", type=int, default=2, metavar="P", help="--tiles: patches per side (default 2)"
    )
    parser.add_argument("--depth", type=int, default=None, metavar="N",
                        help="--tiles: the patch stage's depth (default: the default sweep's for the model)")  # fmt: skip
    args = parser.parse_args(argv)
    if args.tiles is not None:
        sweep = load_sweep(DEFAULT_SWEEP)
        status = 0
        for model in args.tiles or list(sweep.models):
            for n in [args.depth] if args.depth is not None else sweep.model_depths.get(model, sweep.depths):
                for core in args.cores:
                    try:
                        status = max(status, tiles_table(model, args.patches, n, core))
                    except ValueError as err:  # an unknown model, a (p, n) its graph cannot be planned at
                        parser.error(f"--tiles: {err}")
        return status
    if args.depthwise:
        return max(depthwise_table(core) for core in args.cores)
    if args.recompute is not None:
        if args.kernels and len(args.kernels) > 1:
            parser.error("--recompute takes one kernel set")
        if args.functions and args.results:
            parser.error("--functions measures the points now: leave out --results")
        models = args.recompute or list(load_sweep(DEFAULT_SWEEP).models)
        kernels = args.kernels[0] if args.kernels else None
        return recompute_table(models, args.targets, kernels, args.results, args.functions)
    if args.profile is not None:
        if args.kernels and len(args.kernels) > 1:
            parser.error("--profile takes one kernel set")
        models = args.profile or list(load_sweep(DEFAULT_SWEEP).models)
        return profile_models(models, args.targets, args.kernels[0] if args.kernels else None, args.results)
    args.kernels = args.kernels or list(ENGINE.kernel_set_names)
    sets = [ENGINE.kernel_set(name) for name in args.kernels]
    for kernel_set in sets:
        try:
            ENGINE.check_available(kernel_set.name)
        except EngineError as err:
            parser.error(f"{err} (or leave {kernel_set.name} out with --kernels)")
    variants = tuple(k.suite_variant for k in sets)
    calls = benchmark_calls()
    results = {core: run_suite(calls, TARGETS[core], variants, keep_outputs=False) for core in args.cores}
    reference = sets[0]
    header = f"{'kernel':<26}{'MACs':>10}"
    for core in args.cores:
        header += "".join(f"{core + ' ' + k.name:>{len(core) + len(k.name) + 3}}" for k in sets)
        header += "".join(
            f"{reference.name + '/' + k.name:>{len(reference.name) + len(k.name) + 3}}" for k in sets[1:]
        )
    print("instructions per MAC (QEMU -icount instruction counts, not cycles; requantization included)")
    print("; ".join(f"{k.name}: {k.description}" for k in sets))
    print(
        "*_inplace: pb_depthwise_conv2d_s8_inplace, output over its input (ring of delayed rows in scratch)"
    )
    print(header)
    for call in calls:
        line = f"{call.name:<26}{call.macs:>10}"
        for core in args.cores:
            per_mac = {
                k.name: results[core].instructions[(call.name, k.suite_variant)] / call.macs
                for k in sets
                if (call.name, k.suite_variant) in results[core].instructions
            }
            for k in sets:
                width = len(core) + len(k.name) + 3
                line += f"{per_mac[k.name]:>{width}.2f}" if k.name in per_mac else f"{'-':>{width}}"
            for k in sets[1:]:
                width = len(reference.name) + len(k.name) + 3
                both = reference.name in per_mac and k.name in per_mac
                line += (
                    f"{per_mac[reference.name] / per_mac[k.name]:>{width - 1}.2f}x"
                    if both
                    else f"{'-':>{width}}"
                )
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

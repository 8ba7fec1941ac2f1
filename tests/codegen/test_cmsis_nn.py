# SPDX-License-Identifier: Apache-2.0
"""The CMSIS-NN kernel set: where its sources come from, what a firmware compiles of them, and that its
calls (per kernel, per layer and on patch tiles) give the reference's output bit for bit on the emulated
M4 and M7. A missing CMSIS-NN checkout skips these tests on a developer's machine and fails them in CI."""

from __future__ import annotations

import numpy as np
import pytest
from codegen_graphs import STAGE_ENDS, every_op_graph
from machine import needs, require_cmsis_nn

from harness import reference
from harness.bench_kernels import KernelCall, run_suite
from harness.codegen import generate_model
from harness.codegen.host_kernels import Requant
from harness.codegen.kernels import Region, Window
from harness.engines import get_engine
from harness.firmware import cmsis
from harness.ir import quant
from harness.pipeline.measure import make_test_input, measure
from harness.schedule.plan import make_plan


def test_missing_sources_stop_with_where_to_get_the_pinned_commit(tmp_path, monkeypatch):
    monkeypatch.setenv(cmsis.NN_ENV, str(tmp_path / "nn"))
    monkeypatch.setenv(cmsis.CORE_ENV, str(tmp_path / "core"))
    with pytest.raises(cmsis.CmsisNotFound) as caught:
        cmsis.locate()
    message = str(caught.value)
    for needed in ("--kernels cmsis-nn", cmsis.PINNED["CMSIS-NN"][1], cmsis.PINNED["CMSIS-Core"][1],
                   cmsis.NN_ENV, cmsis.CORE_ENV, str(tmp_path / "nn")):  # fmt: skip
        assert needed in message


def test_a_firmware_compiles_only_the_files_its_calls_need():
    sources = require_cmsis_nn()
    names = {path.name for path in cmsis.source_closure(sources, {"arm_convolve_wrapper_s8"})}
    # the wrapper, the kernels it picks and their helpers ...
    assert {"arm_convolve_wrapper_s8.c", "arm_convolve_s8.c", "arm_convolve_1x1_s8_fast.c",
            "arm_nn_mat_mult_kernel_s8_s16.c"} <= names  # fmt: skip
    # ... and nothing else: no float, int16 or int4 kernel, no other op
    others = [n for n in names if n.endswith(("_f32.c", "_f16.c", "_s4.c")) or "softmax" in n or "pool" in n]
    assert not others and "arm_convolve_s16.c" not in names
    with pytest.raises(KeyError, match="arm_no_such_kernel"):
        cmsis.source_closure(sources, {"arm_no_such_kernel"})


def test_generated_model_calls_cmsis_nn_with_its_scratch_and_names_the_portable_ops():
    require_cmsis_nn()
    graph = every_op_graph()
    model = generate_model(graph, make_plan(graph, 1, 0), "stm32f412", make_test_input(graph),
                           get_engine().options("cmsis-nn"))  # fmt: skip
    source = model.sources["model.c"]
    for call in ("arm_fully_connected_wrapper_s8", "arm_softmax_s8", "arm_elementwise_add_s8",
                 "arm_elementwise_mul_s8", "pb_cmsis_conv_s8", "pb_cmsis_pool_s8"):  # fmt: skip
        assert call in source
    assert model.options.cmsis_nn and "arm_convolve_s8.c" in model.sources
    # MEAN, the broadcast ADD/MUL and the data movers run the portable kernels, each named with why
    assert {"global_mean", "add_bias", "scale_channels", "upsample", "swap_rows_columns"} <= set(
        model.portable_ops
    )
    assert "b0_conv_conv" not in model.portable_ops  # a whole layer is always one dense CMSIS-NN call
    conv = next(op for op in graph.ops if op.name == "b0_conv_conv")
    scratch = next(b for b in model.arena.buffers if b.name == f"scratch:{conv.name}")
    h, w, c = graph.tensor(conv.inputs[0]).shape[1:]
    expected = cmsis.buffer_sizes().conv(cmsis.ConvCall(h, w, c, h, w, 8, 3, 3, padding=(1, 1)))
    assert scratch.size >= expected > 0


def _call(rng, name: str, kind: str, kernel: int, stride: int, pads, in_hw, cin: int, cout: int,
          out_row_pad: int = 0) -> KernelCall:  # fmt: skip
    in_h, in_w = in_hw
    out_h = (in_h + pads[0] + pads[1] - kernel) // stride + 1
    out_w = (in_w + pads[2] + pads[3] - kernel) // stride + 1
    cout = cin if kind == "depthwise" else cout
    input_scale, filter_scales = 0.03, rng.uniform(0.002, 0.02, cout).astype(np.float32)
    depth = kernel * kernel * (1 if kind == "depthwise" else cin)
    multipliers, shifts = quant.conv_multipliers(
        input_scale, filter_scales, 0.03 * 0.01 * np.sqrt(depth) * 40
    )
    shape = (1, kernel, kernel, cin) if kind == "depthwise" else (cout, kernel, kernel, cin)
    return KernelCall(
        name, kind, Requant(int(rng.integers(-128, 128)), int(rng.integers(-128, 128)), multipliers, shifts, -100, 120),
        rng.integers(-128, 128, (1, in_h, in_w, cin), dtype=np.int8), rng.integers(-127, 128, shape, dtype=np.int8),
        rng.integers(-3000, 3000, cout).astype(np.int32),
        Region(in_h, in_w, cin, out_h, out_w, cout, *pads, out_row_stride=(out_w + out_row_pad) * cout),
        Window(kernel, kernel, stride, stride),
    )  # fmt: skip


def _expected(call: KernelCall) -> np.ndarray:
    q = call.q
    cq = reference.ConvQuant(
        q.input_zero_point, q.output_zero_point, q.multipliers, q.shifts, q.act_min, q.act_max
    )
    if call.kind == "fc":
        return reference.fully_connected(call.input.reshape(call.fc_shape[:2]), call.filter, call.bias, cq)
    run = reference.depthwise_conv2d if call.kind == "depthwise" else reference.conv2d
    return run(call.input, call.filter, call.bias, cq, (call.window.stride_h,) * 2, (1, 1), call.region.pads)


@pytest.mark.emulator
@needs("arm-none-eabi-gcc", "qemu-system-arm")
@pytest.mark.parametrize("target", ["stm32f412", "stm32f746"])
def test_cmsis_nn_calls_equal_the_reference_on_tiles_with_their_own_pads(target):
    """Tile-shaped calls: uneven pads on every side, and outputs written into wider rows (one CMSIS-NN
    call per output row), through the same pb_cmsis.c the generated models use."""
    require_cmsis_nn()
    rng = np.random.default_rng(13)
    calls = [
        _call(rng, "conv3x3_pads_t1b0l0r1", "conv2d", 3, 1, (1, 0, 0, 1), (6, 7), 5, 6),
        _call(rng, "conv3x3s2_wide_out", "conv2d", 3, 2, (0, 1, 1, 1), (7, 6), 4, 8, out_row_pad=3),
        _call(rng, "conv1x1_wide_out", "conv1x1", 1, 1, (0, 0, 0, 0), (5, 6), 8, 12, out_row_pad=2),
        _call(rng, "dw3x3_pads_t0b1l1r0", "depthwise", 3, 1, (0, 1, 1, 0), (6, 5), 8, 8),
        _call(rng, "dw5x5s2_wide_out", "depthwise", 5, 2, (2, 1, 2, 2), (9, 8), 12, 12, out_row_pad=1),
    ]
    fc = KernelCall("fc_40_to_12", "fc", Requant(7, -3, *quant.conv_multipliers(0.05, rng.uniform(0.002, 0.02, 12)
                    .astype(np.float32), 0.2), -128, 127), rng.integers(-128, 128, (1, 40), dtype=np.int8),
                    rng.integers(-127, 128, (12, 40), dtype=np.int8), rng.integers(-3000, 3000, 12).astype(np.int32),
                    fc_shape=(1, 40, 12))  # fmt: skip
    result = run_suite([*calls, fc], target, ("portable", "cmsis"))
    for call in [*calls, fc]:
        expected = _expected(call).reshape(-1, call.region.out_w * call.region.out_c if call.region else 12)
        row = call.region.out_row_stride if call.region else 12
        device = np.frombuffer(result.outputs[(call.name, "cmsis")], np.int8)
        device = np.pad(device, (0, row * expected.shape[0] - device.size)).reshape(expected.shape[0], row)
        assert np.array_equal(device[:, : expected.shape[1]], expected), call.name


@pytest.mark.emulator
@needs("arm-none-eabi-gcc", "qemu-system-arm")
@pytest.mark.parametrize("target, p", [("stm32f412", 1), ("stm32h743", 3)])
def test_every_op_kind_bit_exact_with_cmsis_nn(target, p):
    """Per layer on the M4 and in a 3x3 patch stage on the M7 (tiles reading a window of the counted image,
    with right padding on some: those run the portable kernel, and the model says which)."""
    require_cmsis_nn()
    result = measure(every_op_graph(), target, p, 0 if p == 1 else STAGE_ENDS["constants"], kernels="cmsis-nn",
                     repeat=1, warmup=0)  # fmt: skip
    assert result.status == "passed", result.summary()
    assert result.identity.kernels == "cmsis-nn" and result.identity.engine == "patchbench"


def test_a_sweep_naming_several_kernel_sets_measures_every_point_with_each(tmp_path):
    from harness.pipeline.sweep import SweepError, load_sweep

    path = tmp_path / "sweep.toml"
    path.write_text('[sweep]\ntargets = ["stm32f746"]\nmodels = ["vww_96_int8"]\npatches = [1, 4]\ndepths = [8]\n'
                    'kernels = ["optimized", "cmsis-nn"]\n')  # fmt: skip
    points = load_sweep(path).points()
    assert [(p.p, p.kernels) for p in points] == [
        (1, "optimized"),
        (1, "cmsis-nn"),
        (4, "optimized"),
        (4, "cmsis-nn"),
    ]
    assert len({p.test_id for p in points}) == 4 and points[1].test_id.endswith("-cmsis-nn")
    path.write_text(path.read_text().replace('"cmsis-nn"', '"cmsis"'))
    with pytest.raises(SweepError, match="'cmsis'.*cmsis-nn"):
        load_sweep(path)


@pytest.mark.emulator
@needs("arm-none-eabi-gcc", "qemu-system-arm")
def test_the_per_op_crcs_name_the_first_op_whose_output_differs():
    """The diagnosis build's per-op CRCs equal the reference's on a bit-exact model, and name the op when
    one differs (here the reference's CRC of one op is altered, as a kernel that is not bit-exact would)."""
    from harness.pipeline.diagnose import diagnose, reference_crcs

    require_cmsis_nn()
    graph = every_op_graph()
    x = make_test_input(graph)
    assert diagnose(graph, "stm32f412", "cmsis-nn", x).difference is None
    expected = reference_crcs(graph, x)
    index = next(i for i, op in enumerate(graph.ops) if op.kind == "DEPTHWISE_CONV_2D")
    expected[index] ^= 1
    difference = diagnose(graph, "stm32f412", "cmsis-nn", x, expected=expected).difference
    assert (difference.index, difference.op) == (index, graph.ops[index].name)
    assert "CMSIS-NN arm_depthwise_conv_wrapper_s8" in difference.describe()


@pytest.mark.emulator
@needs("arm-none-eabi-gcc", "qemu-system-arm")
def test_a_point_that_is_not_bit_exact_fails_with_the_per_op_diagnosis(monkeypatch):
    """The hook in measure(): a mismatch (here a reference output altered after the fact, so that every
    op still matches per layer) fails the point and its reason carries the per-op CRC verdict; the
    record names the ops CMSIS-NN left to the portable kernels."""
    from harness.pipeline import measure as measure_module

    require_cmsis_nn()
    real = measure_module.expected_outputs

    def altered(graph, x):
        first, *rest = real(graph, x)
        return (bytes([first[0] ^ 1]) + first[1:], *rest)

    monkeypatch.setattr(measure_module, "expected_outputs", altered)
    result = measure(every_op_graph(), "stm32f412", 1, 0, kernels="cmsis-nn", repeat=1, warmup=0)
    assert result.status == "failed" and not result.exact
    assert "per layer, all" in result.reason and "ops' outputs equal the reference's" in result.reason
    assert "global_mean: CMSIS-NN has no s8 kernel for MEAN" in result.portable_ops


def test_the_report_sets_kernel_sets_side_by_side_with_the_fastest_per_unit():
    from harness.report.kernel_sets import kernel_set_comparisons

    def record(kernels, latency, units, **extra):
        engine = "cmsis-nn" if kernels == "cmsis-nn" else "patchbench"
        base = dict(target="stm32f746", backend="qemu", model="vww_96_int8", p=1, n=0, kernels=kernels,
                    engine=engine, compiler=kernels, status="passed", exact=True, latency=latency,
                    latency_unit="instructions", macs=1000, layer_latency=units, sram_measured=50_000,
                    scratch_bytes=576, flash_bytes=300_000)  # fmt: skip
        return base | extra

    records = [
        record("optimized", 1200.0, [("conv0", 1000.0), ("softmax", 200.0)]),
        record("cmsis-nn", 2100.0, [("conv0", 2000.0), ("softmax", 100.0)], portable_ops="mean: no kernel"),
        record("optimized", 900.0, [("conv0", 900.0)], target="stm32h743"),  # one set only: no comparison
    ]
    (comparison,) = kernel_set_comparisons(records)
    assert comparison.sets == ["optimized", "cmsis-nn"] and comparison.ratio == pytest.approx(1200 / 2100)
    assert [(u.name, u.fastest) for u in comparison.units] == [
        ("conv0", "optimized"),
        ("softmax", "cmsis-nn"),
    ]
    assert [u.name for u in comparison.slower_units] == ["softmax"]
    assert comparison.totals[1].portable_ops == ["mean: no kernel"] and comparison.totals[0].per_mac == 1.2

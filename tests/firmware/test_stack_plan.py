# SPDX-License-Identifier: Apache-2.0
"""The stack plan (harness/firmware/stack.py) on hand-written call graphs in GCC's -fcallgraph-info format,
and on a real build: its reserve covers the painted high-water mark the firmware measures."""

from __future__ import annotations

import pytest
from machine import needs

from harness.firmware.stack import (
    EXCEPTION_FRAME_BYTES,
    INVISIBLE_LEAF_BYTES,
    StackPlanError,
    plan_stack,
)


def _node(name: str, unit: str, frame: int, kind: str = "static") -> str:
    return f'node: {{ title: "{name}" label: "{name}\\n{unit}:1:1\\n{frame} bytes ({kind})" }}'


def _edge(source: str, target: str) -> str:
    return f'edge: {{ sourcename: "{source}" targetname: "{target}" label: "x.c:1:1" }}'


def _write(tmp_path, units: dict[str, list[str]]):
    paths = []
    for name, lines in units.items():
        path = tmp_path / f"{name}.ci"
        path.write_text(f'graph: {{ title: "{name}"\n' + "\n".join(lines) + "\n}\n")
        paths.append(path)
    return paths


def _firmware(tmp_path, *, main_kind="dynamic", extra_model=(), handler=True):
    startup = [
        _node("pb_reset_c", "board/startup.c", 8),
        _edge("pb_reset_c", "memcpy"),
        _edge("pb_reset_c", "main"),
    ]
    main = [
        _node("main", "board/main.c", 64, main_kind),
        _edge("main", "__indirect_call"),
        _edge("main", "pb_line_end"),
    ]
    main += [_node("pb_line_end", "board/protocol.c", 24)]
    model = [_node("src/model.c:conv_0", "src/model.c", 16), _edge("src/model.c:conv_0", "pb_conv"),
             _node("src/model.c:patch_r0_c0", "src/model.c", 40), _node("pb_conv", "src/pb_conv.c", 200),
             *extra_model]  # fmt: skip
    units = {"startup": startup, "main": main, "model": model}
    if handler:
        units["timer"] = [_node("pb_systick_handler", "board/timer.c", 0)]
    return _write(tmp_path, units)


def test_the_deepest_path_goes_through_the_indirect_call_into_the_model(tmp_path):
    plan = plan_stack(_firmware(tmp_path), timed_units=10, fpu=True)
    # reset 8 + main 64 + timing array 10 x 8 + 8 + conv_0 16 + pb_conv 200, then the invisible leaf
    assert plan.main_path == ("pb_reset_c", "main", "src/model.c:conv_0", "pb_conv")
    assert plan.main_bytes == 8 + 64 + 88 + 16 + 200 + INVISIBLE_LEAF_BYTES
    assert plan.interrupt_bytes == EXCEPTION_FRAME_BYTES[True] + 0 + INVISIBLE_LEAF_BYTES
    assert plan.reserve_bytes % 8 == 0 and plan.reserve_bytes >= plan.main_bytes + plan.interrupt_bytes
    assert "pb_reset_c > main > src/model.c:conv_0 > pb_conv" in plan.describe()


def test_more_timed_units_need_more_stack(tmp_path):
    files = _firmware(tmp_path)
    assert plan_stack(files, timed_units=100, fpu=False).main_bytes == (
        plan_stack(files, timed_units=0, fpu=False).main_bytes + 800
    )


def test_recursion_is_refused(tmp_path):
    loop = [_edge("pb_conv", "src/model.c:conv_0")]
    with pytest.raises(StackPlanError, match="recursion through .*conv_0 > pb_conv > src/model.c:conv_0"):
        plan_stack(_firmware(tmp_path, extra_model=loop), timed_units=1, fpu=True)


def test_a_dynamic_frame_outside_main_is_refused(tmp_path):
    alloca = [_node("src/model.c:grow", "src/model.c", 8, "dynamic")]
    with pytest.raises(StackPlanError, match="grow has a frame of dynamic size"):
        plan_stack(_firmware(tmp_path, extra_model=alloca), timed_units=1, fpu=True)


def test_an_indirect_call_from_a_helper_of_the_loop_is_resolved(tmp_path):
    """GCC may keep main.c's run_model_total apart from main; its indirect calls reach the model too."""
    helper = tmp_path / "loop.ci"
    helper.write_text(
        'graph: { title: "board/main.c"\n'
        + "\n".join([_node("board/main.c:run_model_total", "board/main.c", 24),
                     _edge("board/main.c:run_model_total", "__indirect_call"), _edge("main", "board/main.c:run_model_total")])
        + "\n}\n"
    )  # fmt: skip
    plan = plan_stack([*_firmware(tmp_path), helper], timed_units=0, fpu=True)
    assert plan.main_path[:4] == ("pb_reset_c", "main", "board/main.c:run_model_total", "src/model.c:conv_0")


def test_an_indirect_call_outside_main_is_refused(tmp_path):
    pointer = [_edge("pb_conv", "__indirect_call")]
    with pytest.raises(StackPlanError, match="pb_conv calls through a function pointer"):
        plan_stack(_firmware(tmp_path, extra_model=pointer), timed_units=1, fpu=True)


@pytest.mark.emulator
@needs("arm-none-eabi-gcc", "qemu-system-arm")
def test_a_planned_build_reserves_what_its_log_says_and_covers_the_high_water_mark():
    from codegen_graphs import three_head_detector_graph

    from harness.paths import BUILD_DIR
    from harness.pipeline.measure import measure

    result = measure(three_head_detector_graph(), "stm32f412", 1, 0, kernels="portable", repeat=1, warmup=0)
    assert result.status == "passed", result.summary()
    assert result.stack_bytes <= result.stack_reserved < 4096  # the painted high-water within the plan
    log = (BUILD_DIR / "firmware" / result.firmware_hash / "build.log").read_text()
    assert f"stack plan: {result.stack_reserved} B = " in log

# SPDX-License-Identifier: Apache-2.0
"""The PB1 record parser on hand-written logs: a good record, and every way a log can be wrong."""

from __future__ import annotations

import zlib

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from harness.boards.protocol import (
    DeviceFault,
    ProtocolError,
    format_line,
    is_end_line,
    line_checksum,
    parse_record,
)

BUILD = "0123456789abcdef"
OUTPUT = bytes(range(40)) + b"\xff\x80"


def record_lines(
    runs=(((100, 200), 340), ((120, 200), 320), ((100, 240), 360)),
    output: bytes = OUTPUT,
    build: str = BUILD,
    crc: int | None = None,
    outputs: tuple[bytes, ...] | None = None,
) -> list[str]:
    """A valid record: `runs` holds (per-layer counts, total) per timed run; one output (`output`, its
    CRC `crc` when given) unless `outputs` lists several."""
    outputs = (output,) if outputs is None else outputs
    body = [
        f"PB1 BEGIN build={build} target=stm32f412 unit=instructions resolution=40 runs={len(runs)} warmup=1 "
        f"layers=2 outputs={len(outputs)}",
        "PB1 MODEL stub",
        "PB1 SCHEDULE per-patch p=2 n=3 *weird text*",
    ]
    for r, (layers, total) in enumerate(runs):
        body += [
            f"PB1 LAYER {r} {i} {name} {count}"
            for i, (name, count) in enumerate(zip(("conv0", "dw1"), layers, strict=True))
        ]
        body.append(f"PB1 RUN {r} {total}")
    body.append("PB1 MEM arena=1000 data=8 bss=1100 stack_hw=312 stack_reserved=4096")
    for k, data in enumerate(outputs):
        body += [
            f"PB1 OUT {k} {offset} {data[offset : offset + 32].hex()}" for offset in range(0, len(data), 32)
        ]
        body.append(f"PB1 CRC {k} {len(data)} crc32=0x{zlib.crc32(data) if crc is None else crc:08x}")
    lines = [format_line(text) for text in body]
    return lines + [format_line(f"PB1 END lines={len(lines)}")]


def test_checksum_is_crc16_ccitt_false():
    assert line_checksum("123456789") == 0x29B1  # the CRC-16/CCITT-FALSE check value
    assert format_line("PB1 MODEL stub") == "PB1 MODEL stub *0bff"  # as the firmware printed it on QEMU


def test_good_record():
    record = parse_record(["", "boot noise \x00\xff", *record_lines(), "after END: ignored"], BUILD)
    assert (record.build_id, record.target, record.model) == (BUILD, "stm32f412", "stub")
    assert record.schedule == "per-patch p=2 n=3 *weird text*"
    assert (record.unit, record.resolution, record.runs, record.warmup) == ("instructions", 40, 3, 1)
    assert [(layer.index, layer.name, layer.per_run) for layer in record.layers] == [
        (0, "conv0", (100, 120, 100)),
        (1, "dw1", (200, 200, 240)),
    ]
    assert record.layer_medians == [("conv0", 100), ("dw1", 200)]
    assert record.run_totals == (340, 320, 360) and record.total_median == 340
    assert (record.arena_bytes, record.data_bytes, record.bss_bytes) == (1000, 8, 1100)
    assert (record.stack_high_water_bytes, record.stack_reserved_bytes) == (312, 4096)
    assert record.measured_sram_bytes == 8 + 1100 + 312
    assert record.outputs == (OUTPUT,) and record.output_crc32s == (zlib.crc32(OUTPUT),)
    assert record.output == OUTPUT
    assert record.lines[0].startswith("PB1 BEGIN") and is_end_line(record.lines[-1])


def test_even_number_of_runs_takes_the_lower_median():
    record = parse_record(record_lines(runs=(((1, 2), 30), ((1, 2), 10))), BUILD)
    assert record.total_median == 10


def test_whole_log_as_one_string_with_crlf():
    assert parse_record("\r\n".join(record_lines()) + "\r\n", BUILD).total_median == 340


def test_empty_output_is_allowed():
    assert parse_record(record_lines(output=b""), BUILD).output == b""


def _fails(lines, match: str, build: str | None = BUILD, error=ProtocolError) -> ProtocolError:
    with pytest.raises(error, match=match) as info:
        parse_record(lines, build)
    return info.value


def test_silence():
    _fails([], "silence: the device printed nothing")
    _fails(["", "  "], "silence")


def test_no_begin_line():
    err = _fails(["hello", "world"], "no PB1 BEGIN line in 2 lines")
    assert "'world'" in str(err)  # the log's tail is in the message


def test_other_protocol_version():
    _fails([format_line("PB2 BEGIN build=x")], "version mismatch")


def test_record_from_another_build():
    _fails(record_lines(build="feedfeedfeedfeed"), "another build: the device runs build feedfeedfeedfeed")


def test_build_check_can_be_skipped():
    assert parse_record(record_lines(build="feedfeedfeedfeed"), None).build_id == "feedfeedfeedfeed"


def test_wrong_target():
    with pytest.raises(ProtocolError, match="from target 'stm32f412', expected 'stm32f746'"):
        parse_record(record_lines(), BUILD, expected_target="stm32f746")


def test_garbled_line():
    lines = record_lines()
    lines.insert(5, "PB1 LAYER \x01\ufffd garbage")
    err = _fails(lines, "garbled line 6 inside the record")
    assert err.lines[-1] == lines[5]


def test_bad_line_checksum():
    lines = record_lines()
    lines[3] = lines[3].replace(" 100 ", " 900 ")
    _fails(lines, r"bad checksum on line 4: 'PB1 LAYER 0 0 conv0 900")


def test_bad_output_crc():
    _fails(record_lines(crc=zlib.crc32(OUTPUT) ^ 1), "bad CRC of output 0")


def test_missing_end():
    err = _fails(record_lines()[:-1], "missing END: the record stops after")
    assert "PB1 CRC" in str(err)


def test_cut_off_mid_output():
    lines = record_lines()
    cut = next(i for i, line in enumerate(lines) if line.startswith("PB1 OUT 0 32"))
    _fails(lines[:cut] + ["PB1 OUT 0 32 0a0b"], "garbled line")  # a half-sent line
    _fails(lines[:cut], "missing END")


def test_truncated_output():
    lines = record_lines()
    crc_line = next(i for i, line in enumerate(lines) if line.startswith("PB1 CRC"))
    lines[crc_line] = format_line(f"PB1 CRC 0 {len(OUTPUT) + 5} crc32=0x{zlib.crc32(OUTPUT):08x}")
    _fails(lines, f"truncated output 0: {len(OUTPUT)} of {len(OUTPUT) + 5} bytes")


def test_missing_output_chunk():
    lines = [line for line in record_lines() if not line.startswith("PB1 OUT 0 0 ")]
    _fails(lines, "chunk of output 0 at offset 32, expected 0")


SECOND = bytes(range(200, 256)) + b"\x00\x01"
THIRD = b"\x00\x00\x80\x3f" * 3  # float32 1.0, three times: a dequantized end's bytes


def test_several_outputs_each_with_its_crc():
    record = parse_record(record_lines(outputs=(OUTPUT, SECOND, THIRD)), BUILD)
    assert record.outputs == (OUTPUT, SECOND, THIRD)
    assert record.output_crc32s == tuple(zlib.crc32(data) for data in (OUTPUT, SECOND, THIRD))
    assert record.output == OUTPUT + SECOND + THIRD


def test_a_bad_crc_names_its_output():
    lines = record_lines(outputs=(OUTPUT, SECOND, THIRD))
    at = next(i for i, line in enumerate(lines) if line.startswith("PB1 CRC 1 "))
    lines[at] = format_line(f"PB1 CRC 1 {len(SECOND)} crc32=0x{zlib.crc32(SECOND) ^ 4:08x}")
    _fails(lines, "bad CRC of output 1: the device computed")


def test_a_missing_output_crc_is_noticed():
    lines = record_lines(outputs=(OUTPUT, SECOND, THIRD))
    kept = [line for line in lines if not line.startswith(("PB1 OUT 2 ", "PB1 CRC 2 ", "PB1 END"))]
    kept.append(format_line(f"PB1 END lines={len(kept)}"))
    _fails(kept, r"END without the CRC line of output 2 \(of 3\)")


def test_outputs_out_of_order_are_refused():
    lines = record_lines(outputs=(OUTPUT, SECOND))
    first = next(i for i, line in enumerate(lines) if line.startswith("PB1 OUT 0 "))
    lines[first] = format_line("PB1 OUT 1 0 00")
    _fails(lines, "a chunk of output 1 where output 0 was being sent")


def test_more_outputs_than_announced_are_refused():
    lines = record_lines(outputs=(OUTPUT, SECOND))
    lines[0] = format_line(lines[0].rsplit(" *", 1)[0].replace("outputs=2", "outputs=1"))
    _fails(lines, "after the CRC lines of all 1 output")


def test_a_lost_line_is_noticed_by_the_end_count():
    lines = [line for line in record_lines() if not line.startswith("PB1 SCHEDULE")]
    _fails(lines, "END says the device printed 16 lines, 15 arrived")


def test_missing_layer_line():
    lines = [line for line in record_lines() if not line.startswith("PB1 LAYER 1 1 ")]
    _fails(lines, r"RUN 1: layers \[1\] of this run were never reported")


def test_layer_renamed_between_runs():
    lines = record_lines()
    lines[6] = format_line("PB1 LAYER 1 0 other 120")
    _fails(lines, "layer 0 is named 'other' in run 1 but 'conv0' in run 0")


def test_layer_out_of_range():
    lines = record_lines()
    lines[3] = format_line("PB1 LAYER 0 7 conv0 100")
    _fails(lines, "out of range")


def test_missing_mem_line():
    _fails([line for line in record_lines() if not line.startswith("PB1 MEM")], "without a MEM line")


def test_second_begin_means_a_reset():
    lines = record_lines()
    _fails(lines[:5] + lines, "second BEGIN before END")


def test_fault_line():
    lines = record_lines()[:4] + [
        format_line("PB1 FAULT exception=3 pc=0x30000000 cfsr=0x00000100 hfsr=0x40000000")
    ]
    err = _fails(lines, "the device faulted: exception=3 pc=0x30000000", error=DeviceFault)
    assert isinstance(err, ProtocolError)


def test_stack_overflow_fault_says_what_to_do():
    fault = "PB1 FAULT exception=4 pc=0x00000000 cfsr=0x00000092 hfsr=0x00000000 mmfar=0x1fffef00 cause=stack_overflow"
    _fails(
        [format_line(fault)], r"cause=stack_overflow \(.*raise BuildOptions.stack_bytes\)", error=DeviceFault
    )


def test_unknown_unit():
    lines = record_lines()
    lines[0] = format_line(lines[0].rsplit(" *", 1)[0].replace("unit=instructions", "unit=ms"))
    _fails(lines, "unit 'ms' is not one of instructions, cycles")


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_any_single_character_corruption_is_caught(data):
    lines = record_lines()
    index = data.draw(st.integers(0, len(lines) - 1), label="line")
    position = data.draw(st.integers(0, len(lines[index]) - 1), label="position")
    replacement = data.draw(st.characters(min_codepoint=32, max_codepoint=126), label="char")
    assume(lines[index][position] != replacement)
    lines[index] = lines[index][:position] + replacement + lines[index][position + 1 :]
    with pytest.raises(ProtocolError):
        parse_record(lines, BUILD)

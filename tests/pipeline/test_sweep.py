# SPDX-License-Identifier: Apache-2.0
"""Sweep points: the input mode is a point dimension (per-patch points each way, per-layer counted)."""

import pytest

from harness.pipeline.sweep import SweepError, load_sweep, parse_input_modes

SWEEP = '[sweep]\ntargets = ["stm32f746"]\nmodels = ["vww_96_int8"]\npatches = [1, 2, 4]\ndepths = [8]\n'


def test_a_sweep_naming_both_input_modes_measures_every_per_patch_point_both_ways(tmp_path):
    path = tmp_path / "sweep.toml"
    path.write_text(SWEEP + 'input_modes = ["counted", "streamed"]\n')
    points = load_sweep(path).points()
    assert [(p.p, p.input_mode) for p in points] == [
        (1, "counted"),  # per-layer inference reads the whole image: never streamed
        (2, "counted"),
        (2, "streamed"),
        (4, "counted"),
        (4, "streamed"),
    ]
    assert points[2].test_id == "stm32f746-vww_96_int8-p2-n8-streamed"
    assert points[1].test_id == "stm32f746-vww_96_int8-p2-n8"
    path.write_text(SWEEP)
    assert {p.input_mode for p in load_sweep(path).points()} == {"counted"}  # the default


def test_a_model_can_name_its_own_input_modes(tmp_path):
    path = tmp_path / "sweep.toml"
    path.write_text(
        SWEEP + 'input_modes = ["counted", "streamed"]\n[models.vww_96_int8]\ninput_modes = ["streamed"]\n'
    )
    assert [(p.p, p.input_mode) for p in load_sweep(path).points()] == [
        (1, "counted"),
        (2, "streamed"),
        (4, "streamed"),
    ]
    path.write_text(SWEEP + '[models.vww_96_int8]\ninput_modes = "streamed"\n')
    with pytest.raises(SweepError, match=r"\[models.vww_96_int8\]: input_modes must be a list of strings"):
        load_sweep(path)


def test_the_default_sweep_measures_per_patch_points_both_ways():
    sweep = load_sweep()
    points = sweep.points()
    per_patch = {(p.target, p.model, p.p, p.n) for p in points if p.p > 1}
    streamed = {(p.target, p.model, p.p, p.n) for p in points if p.input_mode == "streamed"}
    counted = {(p.target, p.model, p.p, p.n) for p in points if p.p > 1 and p.input_mode == "counted"}
    assert streamed and streamed == counted == per_patch
    assert {p.model for p in points if p.input_mode == "streamed"} == set(sweep.models)


def test_an_unknown_input_mode_option_names_the_modes():
    assert parse_input_modes("streamed, counted,streamed", "--input-modes") == ["streamed", "counted"]
    with pytest.raises(
        SweepError, match=r"--input-modes: input mode\(s\) \['image'\] unknown; use counted, streamed"
    ):
        parse_input_modes("image", "--input-modes")


def test_a_sweep_names_schedules_beyond_one_patch_stage_by_their_labels(tmp_path):
    path = tmp_path / "sweep.toml"
    body = SWEEP.replace("patches = [1, 2, 4]", "patches = [1]").replace("depths = [8]\n", "")
    path.write_text(body + 'schedules = ["rows  n=3 + rows n=2", "p=2 n=8"]\ninput_modes = ["streamed"]\n')
    points = load_sweep(path).points()
    assert [(p.p, p.n, p.segments, p.input_mode) for p in points] == [
        (1, 0, "", "counted"),
        (0, 0, "rows n=3 + rows n=2", "streamed"),  # written the one way
        (2, 8, "", "streamed"),  # a one-stage schedule is today's (p, n) point
    ]
    assert points[1].test_id == "stm32f746-vww_96_int8-rows-n3+rows-n2-streamed"
    assert points[1].schedule == "rows n=3 + rows n=2" and points[2].schedule is None
    path.write_text(body + '[models.vww_96_int8]\nschedules = ["rows n=4"]\n')
    assert [p.segments for p in load_sweep(path).points()] == ["", "rows n=4"]
    path.write_text(body + 'schedules = ["rows n=4 + p=2 n=3"]\n')
    with pytest.raises(SweepError, match=r"\[sweep\] schedules: .*only be the first segment"):
        load_sweep(path)

# SPDX-License-Identifier: Apache-2.0
"""The ``profile`` and ``table1`` commands."""

from __future__ import annotations

from harness.cli import main


def test_profile_given_schedule(capsys, tmp_path):
    svg = tmp_path / "profile.svg"
    assert (
        main(
            [
                "profile",
                "mcunet-in0",
                "--patches",
                "2",
                "--depth",
                "3",
                "--input",
                "streamed",
                "--svg",
                str(svg),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "2x2 patches over the first 3 layers" in out and "input image streamed" in out
    assert "mem_per_patch_kB" in out and "first_conv" in out and "input patch" in out
    assert svg.read_text().startswith("<svg")


def test_profile_paper_split_by_default_and_per_layer(capsys):
    assert main(["profile", "mbv2-w0.35-r96", "--patches", "4"]) == 0
    assert "4x4 patches over the first 5 layers" in capsys.readouterr().out
    assert main(["profile", "mbv2-w0.35-r96"]) == 0
    assert "per-layer" in capsys.readouterr().out


def test_profile_searches_a_budget(capsys):
    assert main(["profile", "mcunet-in0", "--sram-budget", "1MB"]) == 0
    assert "per-layer fits" in capsys.readouterr().out
    assert main(["profile", "mcunet-in0", "--sram-budget", "1kB"]) == 1  # nothing fits: a result, exit 1
    out = capsys.readouterr().out
    assert "no schedule fits 1.0 kB" in out and "misses by" in out and "schedule:" in out


def test_profile_bad_input_is_a_clear_error(capsys):
    assert main(["profile", "mcunet-in0", "--depth", "3"]) == 2
    assert "--depth needs --patches" in capsys.readouterr().err
    assert main(["profile", "mcunet-in0", "--patches", "2", "--sram-budget", "256kB"]) == 2
    assert "either --patches/--depth or --sram-budget" in capsys.readouterr().err
    assert main(["profile", "mcunet-in0", "--patches", "2", "--depth", "99"]) == 2
    assert "n=99 is out of range" in capsys.readouterr().err
    assert main(["profile", "mcunet-in0", "--sram-budget", "lots"]) == 2
    assert "not understood" in capsys.readouterr().err


def test_table1_command(capsys):
    assert main(["table1"]) == 0
    out = capsys.readouterr().out
    assert "75x75" in out and "63x63" in out and "all 14 figures within 5% of the paper" in out

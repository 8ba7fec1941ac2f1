# SPDX-License-Identifier: Apache-2.0
"""pb_ops.h (harness.codegen.kernels.ops_header): an op's kernel file is its only C place, its
definitions are its declarations. The derived header declares exactly the kernels pb_kernels.h does not,
each as its file defines it: every kernel file compiles with it included first (a prototype that differs
from its definition is a compile error)."""

from __future__ import annotations

import re
import subprocess

from machine import needs

from harness.codegen import kernels


def _prototypes(text: str) -> set[str]:
    return set(re.findall(r"^[a-z][\w \t*]*?\b(pb_\w+)\s*\([^;{]*\);", text, re.M))


def test_the_ops_header_declares_every_kernel_that_pb_kernels_h_does_not():
    derived, shared = _prototypes(kernels.ops_header()), kernels.declared_in_public_header()
    assert not derived & shared
    assert derived | shared >= kernels.defined_functions()
    assert {"pb_arg_max_s8", "pb_batch_matmul_s8"} <= derived  # the ops added through their definitions


def test_a_kernel_defined_in_a_new_file_is_declared_by_it(tmp_path, monkeypatch):
    (tmp_path / "pb_kernels.h").write_text((kernels.KERNELS_DIR / "pb_kernels.h").read_text())
    (tmp_path / "pb_new_op.c").write_text(
        '#include "pb_kernels.h"\n\nstatic int32_t helper(int32_t x) { return x; }\n\n'
        "/* NEW_OP: what it computes. */\nvoid pb_new_op_s8(int32_t size,\n"
        "                  const int8_t *input, int8_t *output) {\n    (void)helper;\n}\n"
    )
    monkeypatch.setattr(kernels, "KERNELS_DIR", tmp_path)
    header = kernels.ops_header()
    assert (
        "/* pb_new_op.c */\nvoid pb_new_op_s8(int32_t size,\n                  const int8_t *input, "
        in header
    )
    assert "helper" not in header


@needs("gcc")
def test_every_kernel_file_compiles_with_the_ops_header(tmp_path):
    files = kernels.kernel_files()
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    for path in kernels.kernel_sources():
        if path.stem.endswith("_dsp"):
            continue  # Cortex-M DSP intrinsics: compiled for the boards (tests/codegen/test_kernels_device.py)
        done = subprocess.run(
            ["gcc", "-std=c99", "-fsyntax-only", "-Wall", "-Wextra", "-Werror", "-include", "pb_ops.h",
             "-I", str(tmp_path), str(tmp_path / path.name)],
            capture_output=True, text=True,
        )  # fmt: skip
        assert done.returncode == 0, f"{path.name} with pb_ops.h: {done.stderr}"

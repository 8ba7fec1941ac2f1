# SPDX-License-Identifier: Apache-2.0
"""Measuring points: one (model, target, p, n) point from plan to stored record (``measure``), and the
sweep definitions that list the points (``sweep``). ``python -m harness.pipeline`` measures one."""

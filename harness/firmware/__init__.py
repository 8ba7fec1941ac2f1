# SPDX-License-Identifier: Apache-2.0
"""Firmware: the board files (``targets``: core, clock, budgets, how each backend reaches a board),
the clock tree checks (``clocks``), the board support C beside this file, and the cached
arm-none-eabi-gcc build of a generated model into an ELF (``build``)."""

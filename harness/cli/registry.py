# SPDX-License-Identifier: Apache-2.0
"""The command registry of ``patchbench``: ``@command`` and ``arg`` (see harness/cli/__init__.py)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


class CommandError(Exception):
    """Bad input to a command; the message says what is wrong and what to do."""


@dataclass(frozen=True)
class Argument:
    flags: tuple[str, ...]
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    run: Callable[[argparse.Namespace], int]
    arguments: tuple[Argument, ...] = ()


COMMANDS: dict[str, Command] = {}


def arg(*flags: str, **options: Any) -> Argument:
    """One ``add_argument`` call, kept for when the parser is built."""
    return Argument(flags, options)


def command(name: str, help: str, *arguments: Argument) -> Callable:
    """Register the decorated function as the subcommand ``name``."""

    def register(run: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
        if name in COMMANDS:
            raise ValueError(f"command {name!r} is registered twice")
        COMMANDS[name] = Command(name, help, run, arguments)
        return run

    return register


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="patchbench",
        description="Benchmark patch-based int8 CNN inference (MCUNetV2) on Cortex-M boards and emulators.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="<command>", required=True)
    for cmd in COMMANDS.values():
        sub = subparsers.add_parser(cmd.name, help=cmd.help, description=cmd.help)
        for argument in cmd.arguments:
            sub.add_argument(*argument.flags, **argument.options)
    return parser

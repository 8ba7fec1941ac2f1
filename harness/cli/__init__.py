"""patchbench's command line: ``python -m harness <command> [options]`` (or the ``patchbench`` script).

Adding a command takes one function and one decorator line::

    @command("profile", "analytic per-layer and per-patch memory of a model",
             arg("model", help="a zoo name or .tflite path"), arg("--patches", type=int, default=4))
    def profile(args: argparse.Namespace) -> int:
        ...
        return 0

``arg`` takes exactly ``argparse.ArgumentParser.add_argument``'s parameters. A command returns the
process exit code; for bad input it raises ``CommandError`` (or a ValueError/FileNotFoundError with a
clear message), which ``main`` prints as ``patchbench <command>: error: ...`` with exit code 2.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from harness.cli import check, commands, farm, figure6, schedule, search, timing  # noqa: F401  (each registers its commands on import)
from harness.cli.registry import COMMANDS, CommandError, arg, build_parser, command

__all__ = ["COMMANDS", "CommandError", "arg", "command", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return COMMANDS[args.command].run(args)
    except (CommandError, ValueError, FileNotFoundError) as error:
        print(f"patchbench {args.command}: error: {error}", file=sys.stderr)
        return 2

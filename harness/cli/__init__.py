# SPDX-License-Identifier: Apache-2.0
"""patchbench's command line: ``python -m harness <command> [options]`` (or the ``patchbench`` script).

Adding a command takes one function and one decorator line::

    @command("profile", "analytic per-layer and per-patch memory of a model",
             arg("model", help="a zoo name or .tflite path"), arg("--patches", type=int, default=4))
    def profile(args: argparse.Namespace) -> int:
        ...
        return 0

``arg`` takes exactly ``argparse.ArgumentParser.add_argument``'s parameters. A command returns the
process exit code; for bad input it raises ``CommandError`` (or a ValueError/FileNotFoundError/
ResultsError with a clear message), which ``main`` prints as ``patchbench <command>: error: ...`` with
exit code 2; an OSError (a read-only folder, a full disk) is printed the same way with its file.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from harness.cli import check, commands, farm, figure6, schedule, search, timing  # noqa: F401  (each registers its commands on import)
from harness.cli.registry import COMMANDS, CommandError, arg, build_parser, command
from harness.results.db import ResultsError

__all__ = ["COMMANDS", "CommandError", "arg", "command", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return COMMANDS[args.command].run(args)
    except (CommandError, ValueError, FileNotFoundError, ResultsError) as error:
        print(f"patchbench {args.command}: error: {error}", file=sys.stderr)
        return 2
    except (
        OSError
    ) as error:  # a folder that is read-only, a disk that is full: what and where, not a traceback
        where = f": {error.filename}" if error.filename else ""
        print(f"patchbench {args.command}: error: {error.strerror or error}{where}", file=sys.stderr)
        return 2

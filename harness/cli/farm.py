# SPDX-License-Identifier: Apache-2.0
"""``patchbench farm release``: unlock the labgrid places this user on this host left locked.

labgrid's locks never expire. A patchbench session releases its places at its end, on a failure, on
Ctrl-C and on SIGTERM; only a process killed outright (SIGKILL, a lost machine) leaves them locked,
and this command frees them. It releases every place locked by this user on this host (labgrid's
"host/user" owner), or only those named with --place: another session of the same user on the same
host that is still running loses its places too, so run it when none is.
"""

from __future__ import annotations

import argparse

from harness.cli.registry import CommandError, arg, command


@command(
    "farm",
    "labgrid farm housekeeping: `farm release` unlocks the places this user on this host left locked",
    arg("action", choices=["release"], help="release: unlock this user's places on the farm's coordinator"),
    arg("--farm", required=True, help="the farm file whose [labgrid] section names the coordinator"),
    arg("--place", action="append", default=[], help="only this place (repeatable); default: all of them"),
)
def farm(args: argparse.Namespace) -> int:
    from harness.boards.farm import FarmError, load_farm

    try:
        lab = load_farm(args.farm).lab
    except FarmError as err:
        raise CommandError(str(err)) from None
    if lab is None:
        raise CommandError(
            f"farm file {args.farm} has no [labgrid] section: no coordinator to release places on"
        )
    from harness.boards.lab_session import LabError, release_leftovers

    try:
        released = release_leftovers(lab, args.place)
    except LabError as err:
        raise CommandError(str(err)) from None
    if released:
        print(f"released {', '.join(released)} on {lab.coordinator}")
    else:
        print(f"no place on {lab.coordinator} is locked by this user on this host")
    return 0

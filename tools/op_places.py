# SPDX-License-Identifier: Apache-2.0
"""How many places name each op kind: the measure of issue 23's "one op definition".

A place is one line of the Python package (harness/, models/ left out: builders use ops, they do not
define them) that names the kind as a string ("CONV_2D" or 'CONV_2D'). Prints per kind the number of
lines and of files, then the totals; `--files KIND` lists the files that name one kind.

    python tools/op_places.py            # table + totals
    python tools/op_places.py --files ARG_MAX
"""

from __future__ import annotations

import re
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def op_kinds() -> tuple[str, ...]:
    sys.path.insert(0, str(ROOT))
    from harness.ir.graph import OP_KINDS

    return tuple(OP_KINDS)


def places(kinds: tuple[str, ...]) -> dict[str, dict[str, int]]:
    alternatives = "|".join(sorted(kinds, key=len, reverse=True))
    pattern = re.compile(rf"""["']({alternatives})["']""")
    found: dict[str, dict[str, int]] = {k: defaultdict(int) for k in kinds}
    for path in sorted((ROOT / "harness").rglob("*.py")):
        rel = str(path.relative_to(ROOT))
        for line in path.read_text().splitlines():
            for kind in set(pattern.findall(line)):
                found[kind][rel] += 1
    return found


def main(argv: list[str]) -> int:
    kinds = op_kinds()
    found = places(kinds)
    if argv[:1] == ["--files"]:
        for rel, n in sorted(found[argv[1]].items()):
            print(f"{n:4d}  {rel}")
        return 0
    print(f"{'kind':26s} lines files")
    for kind in kinds:
        print(f"{kind:26s} {sum(found[kind].values()):5d} {len(found[kind]):5d}")
    lines = sum(sum(f.values()) for f in found.values())
    files = [len(f) for f in found.values()]
    print(
        f"{len(kinds)} kinds: {lines} lines name a kind; files per kind: "
        f"mean {sum(files) / len(files):.1f}, max {max(files)}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

# SPDX-License-Identifier: Apache-2.0
"""The stack plan: the firmware's worst-case stack depth from the compiler's own call graph, so that the
reserved stack is planned like the arena (DESIGN.md: every byte the firmware uses is planned).

GCC writes, per compiled unit, the call graph with each function's frame (``-fcallgraph-info=su``: one
``.ci`` file beside each object). The plan is the deepest path from the reset code (``pb_reset_c``, which
calls ``main``), plus one interrupt on top of it (the exception frame the core pushes, and the
handler's own depth), plus what the call graph cannot see:

- main's per-layer timing array (a VLA of ``timed_units`` 8-byte counts, the one frame GCC reports as
  dynamic): counted exactly;
- the benchmark loop's indirect calls (main.c: the timed units through ``pb_model_layers[i].run``, in
  main or a helper the compiler kept apart): any function of the generated ``model.c`` may be one, so
  the deepest of them counts;
- the generated ``model.c``'s own indirect calls (a row-streamed segment's ``run_rows`` calls each op
  through its table of row steps): any function of ``model.c`` may be one but those that make or lead
  straight to such calls (``run_rows``, the ``rows_s<k>`` units), so the deepest of the others counts;
- routines the call graph does not show or sizes as 0 (naked assembly kernels, newlib's memcpy/memset,
  libgcc's arithmetic helpers): all leaves, each using at most ``INVISIBLE_LEAF_BYTES``, added once on top
  of the deepest path (a leaf ends the path it is called on).

Anything else (recursion, another dynamic frame, an indirect call outside main) makes the plan fail with
the reason; the build then keeps the fixed reserve it was given and says so in its log.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

# The most a routine invisible to the call graph takes: matmul_6cols_asm pushes 9 registers and 32
# bytes (68 B), mac_1x6_asm 44 B; libgcc's soft-double helpers and newlib-nano's memcpy/memset push at
# most 9 registers (36 B) and keep few locals.
INVISIBLE_LEAF_BYTES = 128
# The exception frame the core pushes on an interrupt: 8 words, 26 with the FPU's lazy context (an FPU
# build), plus up to 4 bytes of alignment.
EXCEPTION_FRAME_BYTES = {False: 32 + 4, True: 104 + 4}
# Words just below the reset code's stack pointer that stack painting leaves unpainted (startup.c).
PAINT_GAP_BYTES = 64
RESET_ROOT = "pb_reset_c"
MODEL_UNIT = "model.c"  # the generated model: its functions are what the loop's indirect calls reach
LOOP_UNIT = "main.c"  # the benchmark loop (harness/firmware/main.c): the only indirect calls
TIMED_ARRAY_FUNCTION = "main"  # main keeps one uint64_t per timed unit in a VLA

_NODE = re.compile(
    r'node: \{ title: "([^"]+)" label: "[^"]*?\\n([^"\\]+):\d+:\d+\\n(\d+) bytes \(([a-z,]+)\)"'
)
_EDGE = re.compile(r'edge: \{ sourcename: "([^"]+)" targetname: "([^"]+)"')
_GRAPH = re.compile(r'graph: \{ title: "([^"]+)"')


class StackPlanError(RuntimeError):
    """The call graph does not bound the stack (recursion, an unknown dynamic frame or indirect call)."""


@dataclass(frozen=True)
class StackPlan:
    reserve_bytes: int  # what the linker reserves: the worst case, 8-byte aligned
    main_path: tuple[str, ...]  # the deepest call chain from the reset code
    main_bytes: int  # its depth (with the timing array and the invisible-leaf allowance)
    interrupt_bytes: int  # one interrupt on top: exception frame + the deepest handler

    def describe(self) -> str:
        return (
            f"stack plan: {self.reserve_bytes} B = {self.main_bytes} B deepest path "
            f"({' > '.join(self.main_path)}, + {INVISIBLE_LEAF_BYTES} B for a routine the call graph cannot "
            f"see) + {self.interrupt_bytes} B for an interrupt"
        )


@dataclass
class _Function:
    name: str
    unit: str  # the source file it is defined in
    frame: int
    dynamic: bool
    callees: list[str]


def plan_stack(ci_files: list[Path], *, timed_units: int, fpu: bool) -> StackPlan:
    """The worst-case stack of the firmware whose units' call graphs are ``ci_files``."""
    functions, indirect_callers = _read(ci_files)
    model_functions = [f for f in functions.values() if Path(f.unit).name == MODEL_UNIT]
    if indirect_callers and not model_functions:
        raise StackPlanError(f"indirect calls but no {MODEL_UNIT} whose functions they reach")
    for caller in indirect_callers:
        if caller not in functions or Path(functions[caller].unit).name not in (LOOP_UNIT, MODEL_UNIT):
            raise StackPlanError(f"{caller} calls through a function pointer; the call graph cannot bound it")
    # what model.c's own indirect calls may reach: not themselves, nor the functions calling them
    model_targets = [f.name for f in model_functions
                     if f.name not in indirect_callers and not set(f.callees) & indirect_callers]  # fmt: skip
    depths: dict[str, tuple[int, tuple[str, ...]]] = {}

    def depth(name: str, active: tuple[str, ...]) -> tuple[int, tuple[str, ...]]:
        if name in depths:
            return depths[name]
        function = functions.get(name)
        if function is None:  # a library routine: the invisible-leaf allowance covers it
            return 0, ()
        if name in active:
            raise StackPlanError(f"recursion through {' > '.join(active + (name,))}")
        frame = function.frame
        if function.dynamic:
            if name != TIMED_ARRAY_FUNCTION:
                raise StackPlanError(f"{name} has a frame of dynamic size (a VLA or alloca)")
            frame += 8 * timed_units + 8  # the timing array, and its alignment
        callees = list(function.callees)
        if name in indirect_callers:
            in_model = Path(function.unit).name == MODEL_UNIT
            callees += model_targets if in_model else [f.name for f in model_functions]
        deepest, path = 0, ()
        for callee in callees:
            below, below_path = depth(callee, active + (name,))
            if below > deepest:
                deepest, path = below, below_path
        depths[name] = (frame + deepest, (name, *path))
        return depths[name]

    if RESET_ROOT not in functions:
        raise StackPlanError(f"no {RESET_ROOT} in the call graph (not the benchmark firmware?)")
    main_depth, main_path = depth(RESET_ROOT, ())
    main_depth = max(main_depth, functions[RESET_ROOT].frame + PAINT_GAP_BYTES) + INVISIBLE_LEAF_BYTES
    handlers = [n for n in functions if _is_interrupt_handler(n)]
    interrupt = max((depth(n, ())[0] for n in handlers), default=None)
    interrupt_bytes = (
        0 if interrupt is None else EXCEPTION_FRAME_BYTES[fpu] + interrupt + INVISIBLE_LEAF_BYTES
    )
    total = main_depth + interrupt_bytes
    return StackPlan((total + 7) // 8 * 8, main_path, main_depth, interrupt_bytes)


def _is_interrupt_handler(name: str) -> bool:
    """The handlers that run during a normal run (the fault handlers restart on a fresh stack and end it)."""
    return name.startswith("pb_") and name.endswith("_handler") and name not in (
        "pb_reset_handler", "pb_fault_handler", "pb_unused_handler")  # fmt: skip


def _read(ci_files: list[Path]) -> tuple[dict[str, _Function], set[str]]:
    functions: dict[str, _Function] = {}
    indirect_callers: set[str] = set()
    edges: list[tuple[str, str]] = []
    for path in ci_files:
        text = path.read_text()
        for name, unit, frame, kind in _NODE.findall(text):
            if name in functions:  # a static function's name in two units: keep the larger frame
                functions[name].frame = max(functions[name].frame, int(frame))
                continue
            functions[name] = _Function(
                name, unit, int(frame), "dynamic" in kind and "bounded" not in kind, []
            )
        edges += _EDGE.findall(text)
    for source, target in edges:
        if target == "__indirect_call":
            indirect_callers.add(source)
        elif source in functions and target not in functions[source].callees:
            functions[source].callees.append(target)
    return functions, indirect_callers

# SPDX-License-Identifier: Apache-2.0
"""The cycle-approximate timing model: estimated core cycles and milliseconds of an emulator run.

QEMU counts instructions, not cycles. This model turns what the timing plugin counted
(``harness.boards.execution_profile``: each block's executions and branch outcomes per timed unit, and
each block's cache behaviour sampled over the first whole run) into an *estimate* of the cycles the real
board would take. Everything it returns is labelled estimated: the instruction count stays the
emulator's measured latency.

cycles = issue + branches + memory, per block, times its executions:

- issue: the block's instructions without their branch. Cortex-M4: the TRM's instruction timing
  (``M4_CYCLES`` below, with its load/store pipelining rule). Cortex-M7: llvm-mca's ``cortex-m7``
  scheduling model (Debian's llvm), the block's steady-state cycles per iteration (dual issue, the
  load and multiply latencies).
- branches: Cortex-M4: a taken branch refills the pipeline (P cycles); Cortex-M7: a branch takes an
  issue slot, and a mispredicted one refills the pipeline.
- memory: each cache miss costs a line fill from flash (its wait states at the bus clock) or from SRAM;
  tightly coupled memory and the M4's SRAM cost nothing beyond the issue cycles.

Instruction classes are derived once (``classify``); every constant cites its source. The one free
constant, ``M7_ISSUE_FACTOR``, was fitted on mcunet-in1 and mcunet-in2 only (``python -m harness
timing --fit``); every other published figure is reported against it without refitting.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import shutil
import subprocess
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from harness.boards.execution_profile import Block, ExecutionProfile, Instruction, Segment
from harness.firmware.targets import Target
from harness.paths import BUILD_DIR

MODEL_VERSION = "timing-model 1"

# --- instruction classes ----------------------------------------------------------------------------

CONDITIONS = ("eq", "ne", "cs", "cc", "hs", "lo", "mi", "pl", "vs", "vc", "hi", "ls", "ge", "lt", "gt", "le")
CLASSES = (
    "alu", "mul", "mla", "mac", "div", "simd", "load", "store", "load_double", "store_double",
    "load_multiple", "store_multiple", "branch", "call", "indirect", "it", "fp", "fp_div", "nop", "other",
)  # fmt: skip
_MUL = {"mul", "muls", "smulbb", "smulbt", "smultb", "smultt", "smulwb", "smulwt", "smmul", "smmulr",
        "smuad", "smuadx", "smusd", "smusdx", "umull", "smull"}  # fmt: skip
_MLA = {"mla", "mls"}
_MAC = {"smlabb", "smlabt", "smlatb", "smlatt", "smlawb", "smlawt", "smlad", "smladx", "smlsd", "smlsdx",
        "smlal", "umlal", "smlald", "smlaldx", "smlsld", "smlsldx", "smlalbb", "smlalbt", "smlaltb",
        "smlaltt", "smmla", "smmlar", "smmls", "smmlsr", "umaal"}  # fmt: skip
_SIMD = re.compile(r"^(s|u|q|sh|uh|uq)(add|sub|asx|sax)(8|16)$|^(sxtb16|uxtb16|sxtab16|uxtab16|pkhbt|pkhtb|"
                   r"sel|usad8|usada8|ssat16|usat16|qadd|qsub|qdadd|qdsub|ssat|usat|sxtab|sxtah|uxtab|uxtah)$")  # fmt: skip
_LOAD = re.compile(r"^ldr(b|h|sb|sh|t|bt|ht|sbt|sht|ex|exb|exh)?$")
_STORE = re.compile(r"^str(b|h|t|bt|ht|ex|exb|exh)?$")


def _base(mnemonic: str) -> str:
    """The mnemonic without its width qualifier (``.w``/``.n``) and, for branches, its condition."""
    return mnemonic.lower().split(".")[0]


def is_conditional_branch(mnemonic: str) -> bool:
    base = _base(mnemonic)
    return base in ("cbz", "cbnz") or (base.startswith("b") and base[1:] in CONDITIONS)


@functools.cache
def classify(mnemonic: str, operands: str) -> str:
    """The instruction's class (one of CLASSES), from Capstone's mnemonic and operands."""
    base = _base(mnemonic)
    writes_pc = operands.split(",")[0].strip() == "pc"
    if base in ("b", "bx", "cbz", "cbnz", "tbb", "tbh") or is_conditional_branch(base):
        return "indirect" if base in ("bx", "tbb", "tbh") else "branch"
    if base in ("bl", "blx"):
        return "call"
    if base.startswith("it") and set(base[2:]) <= {"t", "e"}:
        return "it"
    if base in ("pop", "ldm", "ldmia", "ldmfd", "ldmdb", "ldmea"):
        return "indirect" if "pc" in operands else "load_multiple"
    if base in ("push", "stm", "stmia", "stmea", "stmdb", "stmfd"):
        return "store_multiple"
    if base == "ldrd":
        return "load_double"
    if base == "strd":
        return "store_double"
    if _LOAD.match(base):
        return "indirect" if writes_pc else "load"
    if _STORE.match(base):
        return "store"
    if base in ("sdiv", "udiv"):
        return "div"
    if base in _MLA:
        return "mla"
    if base in _MAC:
        return "mac"
    if base in _MUL:
        return "mul"
    if _SIMD.match(base):
        return "simd"
    if base in ("vdiv", "vsqrt"):
        return "fp_div"
    if base.startswith("v"):
        return "fp"
    if base in ("nop", "yield", "wfi", "wfe", "sev", "dmb", "dsb", "isb", "bkpt", "svc", "cpsie", "cpsid"):
        return "nop"
    if writes_pc:
        return "indirect"
    return "alu"


def instruction_class(instruction: Instruction) -> str:
    return classify(instruction.mnemonic, instruction.operands)


def _register_count(operands: str) -> int:
    """Registers in a register list ``{r4, r5, r6, lr}`` (ranges ``r4-r7`` counted out)."""
    inside = operands[operands.find("{") + 1 : operands.rfind("}")] if "{" in operands else operands
    count = 0
    for item in (part.strip() for part in inside.split(",") if part.strip()):
        low, _, high = item.partition("-")
        count += (int(high.strip()[1:]) - int(low.strip()[1:]) + 1) if high else 1
    return max(count, 1)


# --- Cortex-M4: the TRM's instruction timing ---------------------------------------------------------
# ARM Cortex-M4 Processor Technical Reference Manual (ARM DDI 0439B), section 3.3.1 "Cortex-M4
# instructions", Table 3-1 "Cortex-M4 instruction set summary" (cycles), and 3.3.2 "Load/store timings".
M4_CYCLES = {
    "alu": 1,  # ADD, MOV, CMP, logical, shifts, extends, bit-field: 1 (Table 3-1)
    "simd": 1,  # parallel add/subtract, pack, saturate, SXTB16 / SXTAB16: 1 (Table 3-1)
    "mul": 1,  # MUL, SMULxy, SMUAD, UMULL / SMULL: 1 (Table 3-1)
    "mla": 2,  # MLA, MLS: 2 (Table 3-1)
    "mac": 1,  # SMLAxy, SMLAD, SMLAL, SMLALD, UMLAL (the DSP extension's single-cycle MACs): 1 (Table 3-1)
    "div": 7,  # SDIV / UDIV: 2 to 12 depending on the operands (Table 3-1); the middle of the range
    "load": 2,  # LDR/LDRB/LDRH/...: 2 (Table 3-1); 1 when pipelined behind a load/store (below)
    "store": 1,  # STR: the write buffer takes it, "STR Rx,[Ry,#imm] is always one cycle" (3.3.2)
    "load_double": 3,  # LDRD: 1 + N with N = 2 (Table 3-1)
    "store_double": 3,  # STRD: 1 + N with N = 2 (Table 3-1)
    "load_multiple": 1,  # LDM / POP: 1 + N (Table 3-1); N added per register below
    "store_multiple": 1,  # STM / PUSH: 1 + N (Table 3-1)
    "branch": 1,  # B, B<cond>, CBZ: 1, + P when taken (Table 3-1)
    "call": 1,  # BL, BLX: 1 + P (Table 3-1): always taken
    "indirect": 1,  # BX, POP {pc}, LDR pc, TBB/TBH: 1 (+ N / + the load), + P (Table 3-1)
    "it": 1,  # IT: 1, "can be folded onto a preceding 16-bit instruction" (Table 3-1); not folded here
    "fp": 1,  # VADD, VMUL, VMOV, VLDR (1-2) ...: 1 (Table 3-1 / the FPU's 7.2.3 timing); kernels are int8
    "fp_div": 14,  # VDIV, VSQRT: 14 (Cortex-M4 TRM, FPU instruction set table)
    "nop": 1,
    "other": 1,
}
# "Neighboring load and store single instructions can pipeline their address and data phases. This
# enables these instructions to complete in a single cycle" (TRM 3.3.2): a load behind a load/store: 1.
M4_PIPELINED_LOAD = 1
# P, the pipeline refill of a taken branch: "ranges from 1 to 3 depending on the alignment and width of the
# target instruction, and whether the processor manages to speculate the address early" (Table 3-1, note).
# The ARMv7-M instruction timing of the Cortex-M3 TRM (DDI 0337E, Table 18-1) says "two cycles are added".
M4_BRANCH_REFILL = 2


def m4_instruction_cycles(block: Block) -> list[float]:
    """Issue cycles of each instruction of one execution of the block on a Cortex-M4 (the final branch's
    refill left out)."""
    costs = []
    previous_memory = False
    for instruction in block.instructions:
        kind = instruction_class(instruction)
        if kind == "load" and previous_memory:
            cost = M4_PIPELINED_LOAD
        else:
            cost = M4_CYCLES[kind]
        if kind in ("load_multiple", "store_multiple") or (
            kind == "indirect" and "{" in instruction.operands
        ):
            cost += _register_count(instruction.operands)
        costs.append(cost)
        previous_memory = kind in ("load", "store")
    return costs


def m4_block_cycles(block: Block) -> float:
    """Issue cycles of one execution of the block on a Cortex-M4, its final branch's refill left out."""
    return sum(m4_instruction_cycles(block))


# --- Cortex-M7: llvm-mca's cortex-m7 model ----------------------------------------------------------
LLVM_MCA = "llvm-mca"
MCA_ITERATIONS = 100  # steady state: the block as a loop body (most executions are of loop bodies)
# A taken branch, predicted, costs no refill on the Cortex-M7 (its branch target address cache, Cortex-M7
# TRM DDI 0489 1.2 "Features": "dynamic branch prediction with a branch target address cache"). It still
# occupies an issue slot of the dual-issue pipe: half a cycle.
M7_BRANCH_ISSUE = 0.5
# A mispredicted branch refills the six-stage pipeline (TRM 1.2: "six-stage, in-order, superscalar
# pipeline"); the branch resolves in the fourth stage: a refill of about 4 cycles. Mispredictions are
# estimated as the minority outcome of each conditional branch (a loop's exit), and every indirect branch
# (returns, BX) as mispredicted.
M7_MISPREDICT_REFILL = 4
# llvm-mca issues a block as its scheduling model allows, with no stall the model leaves out (the
# Cortex-M7's dual-issue pairing rules, load-use and AGU interlocks, store buffer, bus contention between
# instruction and data side). The ratio of real issue cycles to llvm-mca's is the model's one free constant:
# FITTED on mcunet-in1 and mcunet-in2 only (CMSIS-NN kernels on the emulated H743 against the published
# CMSIS-NN latencies 103 ms and 642 ms, least squares on the relative error): `python -m harness timing
# --fit` recomputes it and prints the fit. Every other published figure is reported against this value.
# Fitted 2026-12-06 (timing-model 1): 1.2360, mcunet-in1 99.0 ms (-3.9 %), mcunet-in2 665.5 ms (+3.7 %).
M7_ISSUE_FACTOR = 1.236

_MCA_CACHE = BUILD_DIR / "timing" / "llvm-mca-cortex-m7.json"


def _mca_text(block: Block) -> list[str]:
    """The block's instructions as llvm-mca reads them: without branches (costed apart) and IT (conditional
    instructions are given implicit IT blocks: ``-arm-implicit-it=always``)."""
    return [
        i.text
        for i in block.instructions
        if instruction_class(i) not in ("branch", "call", "indirect", "it") or _base(i.mnemonic) == "pop"
    ]


class TimingModelError(RuntimeError):
    """The model cannot estimate (llvm-mca missing or failing, a target without [timing])."""


def m7_issue_cycles(blocks: Iterable[Block], cache_path: Path | None = None) -> dict[int, float]:
    """Cycles per execution of each block on a Cortex-M7 (llvm-mca, steady state), cached by block text."""
    cache_path = cache_path or _MCA_CACHE
    try:
        known: dict[str, float] = json.loads(cache_path.read_text())
    except (OSError, ValueError):
        known = {}
    texts = {block.id: "\n".join(_mca_text(block)) for block in blocks}
    keys = {block_id: hashlib.sha1(text.encode()).hexdigest() for block_id, text in texts.items()}
    missing = {keys[b]: texts[b] for b in texts if keys[b] not in known and texts[b]}
    if missing:
        known.update(_run_mca(missing))
        cache_path.parent.mkdir(parents=True, exist_ok=True)
        # parallel runs (pytest-xdist workers) share the file: each replaces it whole, never half-written
        partial = cache_path.with_name(f"{cache_path.name}.{os.getpid()}.partial")
        partial.write_text(json.dumps(known))
        partial.replace(cache_path)
    return {block_id: known.get(keys[block_id], 0.0) if texts[block_id] else 0.0 for block_id in texts}


def _run_mca(texts: dict[str, str]) -> dict[str, float]:
    if shutil.which(LLVM_MCA) is None:
        raise TimingModelError("llvm-mca not found: the Cortex-M7 model needs it (apt-get install llvm)")
    source = "".join(f"# LLVM-MCA-BEGIN {key}\n{text}\n# LLVM-MCA-END {key}\n" for key, text in texts.items())
    command = [LLVM_MCA, "-mtriple=thumbv7em-none-eabi", "-mcpu=cortex-m7", f"-iterations={MCA_ITERATIONS}",
               "-arm-implicit-it=always", "-all-views=false", "-summary-view"]  # fmt: skip
    done = subprocess.run(command, input=source, capture_output=True, text=True)
    if done.returncode != 0:
        raise TimingModelError(f"llvm-mca failed on the firmware's blocks:\n{done.stderr[-2000:]}")
    found: dict[str, float] = {}
    region = None
    for line in done.stdout.splitlines():
        if "Code Region - " in line:
            region = line.split("Code Region - ", 1)[1].strip()
        elif line.startswith("Total Cycles:") and region is not None:
            found[region] = int(line.split(":")[1]) / MCA_ITERATIONS
    lost = set(texts) - set(found)
    if lost:
        raise TimingModelError(f"llvm-mca gave no figure for {len(lost)} of {len(texts)} blocks")
    return found


# --- memory ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MemoryCosts:
    """Core cycles of one cache line fill, from the target's [clock] and [timing]."""

    flash_fill: float
    sram_fill: float


def memory_costs(target: Target) -> MemoryCosts:
    clock = target.clock
    system = target.memory_system
    divider = (
        clock.ahb_divider
    )  # core clock / bus clock: the flash and SRAM run at HCLK (RM0402/RM0385/RM0433)
    if target.core == "cortex-m4":
        # ART miss: the flash access takes its wait states plus one cycle at HCLK (RM0402 "Relation between
        # CPU clock frequency and flash memory read time": (WS + 1) HCLK cycles per read); a hit takes 0 WS.
        # The access cycle itself is in the issue cycles, so a miss adds the wait states.
        return MemoryCosts(flash_fill=clock.flash_latency * divider, sram_fill=0.0)
    # Cortex-M7: a line (32 bytes) fill from flash is one 256-bit flash read, (WS + 1) bus cycles (RM0385 /
    # RM0433 flash read access: 256-bit word, "LATENCY" wait states); from SRAM, four beats of the 64-bit
    # AXI bus (the line is 32 bytes; Cortex-M7 TRM 1.2: "64-bit AXI master interface").
    line = system.dcache.line if system.dcache else 32
    flash = (clock.flash_latency + 1) * divider
    sram = (line // 8) * divider
    return MemoryCosts(flash_fill=flash, sram_fill=sram)


def plugin_memory_arguments(target: Target) -> list[str]:
    """The timing plugin's memory arguments for this target (its caches and regions, in the emulator's
    addresses), or [] when the model has no memory system for it."""
    system = target.memory_system
    if system is None:
        return []
    qemu, hardware = target.platform("qemu"), target.platform("hardware")
    args = [f"flash={qemu.flash_origin:#x}:{qemu.flash_origin + target.flash_budget_bytes:#x}", "sample=2"]
    if system.icache:
        args.append(f"icache={system.icache.plugin_value}")
    if system.dcache:
        args.append(f"dcache={system.dcache.plugin_value}")
    shift = qemu.sram_origin - hardware.sram_origin  # the firmware's SRAM at the emulator's address
    if system.dcache_sram:
        args.append(f"sram={qemu.sram_origin:#x}:{qemu.sram_origin + target.sram_budget_bytes:#x}")
    for name in system.tcm:
        region = next(r for r in target.sram_regions if r.name == name)
        args.append(f"tcm={region.origin + shift:#x}:{region.end + shift:#x}")
    return args


# --- the estimate -----------------------------------------------------------------------------------


@dataclass
class UnitEstimate:
    """One timed unit (or a whole run): estimated cycles and where they go."""

    instructions: int = 0
    issue: float = 0.0
    branches: float = 0.0
    memory: float = 0.0
    mix: Counter = field(default_factory=Counter)  # instruction class -> executed instructions
    # instruction class -> its issue cycles (Cortex-M7: a block's llvm-mca cycles spread evenly over its
    # instructions, an approximation for explaining the mix, not a figure of the model)
    class_issue: Counter = field(default_factory=Counter)
    misses: Counter = field(default_factory=Counter)  # flash_fills, sram_fills (estimated from the sample)

    @property
    def cycles(self) -> float:
        return self.issue + self.branches + self.memory


@dataclass
class TimingEstimate:
    target: str
    core: str
    clock_hz: int
    total: UnitEstimate
    units: list[tuple[str, UnitEstimate]]
    model: str  # MODEL_VERSION and what it used

    def ms(self, unit: UnitEstimate) -> float:
        return unit.cycles / self.clock_hz * 1000.0

    @property
    def total_ms(self) -> float:
        return self.ms(self.total)


class _Costs:
    """Per-block costs of one profile on one target, computed once."""

    def __init__(self, profile: ExecutionProfile, target: Target, issue_factor: float):
        self.profile = profile
        self.target = target
        self.core = target.core
        if self.core == "cortex-m7":
            self.issue = {b: c * issue_factor for b, c in m7_issue_cycles(profile.blocks.values()).items()}
        elif self.core == "cortex-m4":
            self.issue = {b.id: m4_block_cycles(b) for b in profile.blocks.values()}
        else:
            raise TimingModelError(
                f"no cycle model for core {self.core!r} (cortex-m4 and cortex-m7 have one)"
            )
        self.memory = memory_costs(target)
        self.mix = {
            b.id: Counter(instruction_class(i) for i in b.instructions) for b in profile.blocks.values()
        }
        self.class_issue = {}
        for b in profile.blocks.values():
            if self.core == "cortex-m4":
                costs = m4_instruction_cycles(b)
            else:
                costs = [self.issue[b.id] / len(b.instructions)] * len(b.instructions)
            shares = Counter()
            for instruction, cost in zip(b.instructions, costs, strict=True):
                shares[instruction_class(instruction)] += cost
            self.class_issue[b.id] = shares

    def branch_cycles(self, block: Block, executions: int, taken: int, not_taken: int) -> float:
        last = block.instructions[-1]
        kind = instruction_class(last)
        if kind not in ("branch", "call", "indirect"):
            return 0.0  # a block cut short (a page, an interrupt): no branch of its own
        if self.core == "cortex-m4":
            return M4_BRANCH_REFILL * (executions if kind != "branch" or not is_conditional_branch(last.mnemonic)
                                       else taken)  # fmt: skip
        mispredicted = 0
        if kind == "indirect":
            mispredicted = executions
        elif is_conditional_branch(last.mnemonic):
            mispredicted = min(taken, not_taken)
        return M7_BRANCH_ISSUE * executions + M7_MISPREDICT_REFILL * mispredicted

    def unit(self, segments: Sequence[Segment]) -> UnitEstimate:
        estimate = UnitEstimate()
        samples = self.profile.samples
        for segment in segments:
            for block_id, count in segment.counts.items():
                block = self.profile.blocks[block_id]
                n = count.executions
                estimate.instructions += n * len(block.instructions)
                estimate.issue += n * self.issue[block_id]
                estimate.branches += self.branch_cycles(block, n, count.taken, count.not_taken)
                for kind, k in self.mix[block_id].items():
                    estimate.mix[kind] += n * k
                for kind, cycles in self.class_issue[block_id].items():
                    estimate.class_issue[kind] += n * cycles
                sample = samples.get(block_id)
                if sample is not None and sample.executions:
                    rate = n / sample.executions
                    flash = sample.counters.get("icache_misses", 0) + sample.counters.get(
                        "flash_data_misses", 0
                    )
                    sram = sample.counters.get("sram_misses", 0)
                    estimate.misses["flash_fills"] += flash * rate
                    estimate.misses["sram_fills"] += sram * rate
                    estimate.memory += rate * (flash * self.memory.flash_fill + sram * self.memory.sram_fill)
        return estimate


def estimate(profile: ExecutionProfile, target: Target, warmup: int, runs: int, unit_names: Sequence[str],
             *, issue_factor: float | None = None) -> TimingEstimate:  # fmt: skip
    """The estimated cycles of the first timed run, as a whole and per unit (the counts of every timed run
    are the same: the emulator is deterministic). ``issue_factor``: the Cortex-M7's llvm-mca derating
    (None: the fitted M7_ISSUE_FACTOR; the fit itself passes 1)."""
    if target.memory_system is None or target.clock is None:
        raise TimingModelError(f"target {target.name} has no [timing] memory system: no cycle estimate")
    totals, per_unit = profile.unit_segments(warmup, runs, len(unit_names))
    costs = _Costs(profile, target, M7_ISSUE_FACTOR if issue_factor is None else issue_factor)
    total = costs.unit([profile.segments[totals[0]]])
    units = [
        (name, costs.unit([profile.segments[s]])) for name, s in zip(unit_names, per_unit[0], strict=True)
    ]
    used = "TRM table" if target.core == "cortex-m4" else "llvm-mca cortex-m7"
    if not profile.samples:
        used += ", no memory sample"
    return TimingEstimate(
        target.name, target.core, target.clock_hz, total, units, f"{MODEL_VERSION} ({used})"
    )

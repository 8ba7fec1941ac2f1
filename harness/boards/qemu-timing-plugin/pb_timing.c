// SPDX-License-Identifier: GPL-2.0-or-later
/* patchbench's QEMU TCG plugin: what the cycle-approximate timing model needs of a run, counted without
 * changing it (harness/boards/execution_profile.py reads its output).
 *
 * Per translated block (keyed by start address and instruction count): how often it ran, and how often
 * the block that ran next was not its fall-through (a taken branch) or was (not taken). The blocks'
 * instructions (address, bytes, disassembly) are written once, when first translated.
 *
 * Optionally, a cache model of the board's memory: the instruction fetches from flash through one
 * cache (`icache=SIZE:WAYS:LINE`) and the data accesses through another (`dcache=...`), per memory
 * region (`flash=LO:HI`, `sram=LO:HI` cached by the data cache, `tcm=LO:HI` never cached). Accesses and
 * misses per region are counted, per segment and per block. A memory callback on every access costs
 * about 3x the emulator's time, so `sample=N` models memory only until the N-th mark (the end of the
 * firmware's warm-up runs): then the plugin resets itself (QEMU retranslates every block without the
 * memory callbacks) and writes each block's sampled counters; the host scales them by the blocks'
 * executions in the timed runs.
 *
 * Segments: each time the block at `mark=ADDR` (the firmware's timer read, pb_timer_now) starts, the
 * counts since the previous mark are written and reset, so the host can attribute them to the timed
 * unit between two timer reads.
 *
 * Paused: from the start of the block at `pause=ADDR` (pb_timer_pause) to the start of the block at
 * `resume=ADDR` (pb_timer_resume) nothing is counted, as the firmware's timer counts nothing: a streamed
 * input's tiles are generated there, work a camera would have done, not the model's.
 *
 * Arguments: out=PATH (required), mark=ADDR, pause=ADDR, resume=ADDR, icache=, dcache=, flash=, sram=, tcm=,
 * sample=N.
 * Output lines (text):
 *   B id pc n_insns size          a block, first translated
 *   I addr size hexbytes disas    its instructions, in order
 *   S seq                         the counts of segment seq follow (segment 0: before the first mark)
 *   C id exec taken not_taken     a block's counts in the segment (blocks that ran only)
 *   M name value                  a memory counter of the segment (non-zero ones only)
 *   K id exec name=value...       a block's memory counters over its exec executions while sampling
 *   E                             the run ended (QEMU exited normally)
 *
 * It includes QEMU 7.2's plugin API header (GPL-2.0-or-later) from ../shared/third_party, never a copy.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <qemu-plugin.h>

QEMU_PLUGIN_EXPORT int qemu_plugin_version = QEMU_PLUGIN_VERSION;

#define N_MEMORY_COUNTERS 9

typedef struct Block {
    uint64_t pc;
    uint64_t fallthrough; /* pc + size: where execution goes when the block's branch is not taken */
    uint32_t id;
    uint32_t n_insns;
    uint32_t size;
    bool touched; /* ran in the current segment */
    bool is_mark, is_pause, is_resume;
    uint64_t exec, taken, not_taken;
    uint64_t sample_exec;
    uint64_t mem[N_MEMORY_COUNTERS]; /* while sampling */
    struct Block *next_in_bucket;
} Block;

#define BUCKETS 65536u
static Block *buckets[BUCKETS];
static Block **touched;
static size_t n_touched, cap_touched;
static uint32_t n_blocks;
static FILE *out;
static uint64_t mark_pc = UINT64_MAX, pause_pc = UINT64_MAX, resume_pc = UINT64_MAX;
static bool paused; /* between the pause and the resume block: nothing counted */
static uint64_t segment;
static qemu_plugin_id_t plugin_id;
static bool memory_model;         /* any cache or region argument given */
static bool sampling;             /* the memory model is on (until sample_marks marks) */
static uint64_t sample_marks;     /* 0: the whole run */
static uint64_t marks_seen;

/* --- cache model: set-associative, LRU, one tag per way ------------------------------------------ */
typedef struct Cache {
    bool on;
    uint32_t sets, ways, line_shift;
    uint64_t *tags; /* sets * ways; tag = line address + 1 (0: empty); index 0 of a set = most recent */
} Cache;

static Cache icache, dcache;

typedef struct Range {
    bool on;
    uint64_t lo, hi;
} Range;

static Range flash, sram, tcm;

enum { IFETCH, IMISS, FLASH_R, FLASH_W, FLASH_MISS, SRAM_ACC, SRAM_MISS, TCM_ACC, OTHER_ACC, N_COUNTERS };
static const char *const counter_names[N_COUNTERS] = {
    "ifetch_lines", "icache_misses", "flash_reads", "flash_writes", "flash_data_misses",
    "sram_accesses", "sram_misses", "tcm_accesses", "other_accesses",
};
_Static_assert(N_COUNTERS == N_MEMORY_COUNTERS, "one memory counter per name");
static uint64_t counters[N_COUNTERS];
static Block *last_block;

/* A memory event: in the segment's counters and in the block running (the last one started). */
static void count(int k) {
    counters[k]++;
    if (last_block != NULL) {
        last_block->mem[k]++;
    }
}

/* Whether the line holding addr is in the cache (then it becomes the most recent); on a miss it is
 * brought in, replacing the least recently used way. */
static bool cache_access(Cache *c, uint64_t addr) {
    uint64_t line = addr >> c->line_shift;
    uint64_t *set = c->tags + (line % c->sets) * c->ways;
    uint64_t tag = line + 1;
    if (set[0] == tag) {
        return true; /* the most recent line again: most accesses, nothing to reorder */
    }
    uint32_t way;
    for (way = 0; way < c->ways; way++) {
        if (set[way] == tag) {
            break;
        }
    }
    bool hit = way < c->ways;
    if (!hit) {
        way = c->ways - 1;
    }
    memmove(set + 1, set, way * sizeof(uint64_t));
    set[0] = tag;
    return hit;
}

static bool in_range(const Range *r, uint64_t addr) { return r->on && addr >= r->lo && addr < r->hi; }

/* --- output -------------------------------------------------------------------------------------- */
static void write_segment(void) {
    fprintf(out, "S %" PRIu64 "\n", segment);
    for (size_t i = 0; i < n_touched; i++) {
        Block *b = touched[i];
        fprintf(out, "C %u %" PRIu64 " %" PRIu64 " %" PRIu64 "\n", b->id, b->exec, b->taken, b->not_taken);
        b->exec = b->taken = b->not_taken = 0;
        b->touched = false;
    }
    n_touched = 0;
    for (int k = 0; k < N_COUNTERS; k++) {
        if (counters[k]) {
            fprintf(out, "M %s %" PRIu64 "\n", counter_names[k], counters[k]);
        }
        counters[k] = 0;
    }
    segment++;
}

static void write_samples(void) {
    for (uint32_t h = 0; h < BUCKETS; h++) {
        for (Block *b = buckets[h]; b != NULL; b = b->next_in_bucket) {
            if (b->sample_exec == 0) {
                continue;
            }
            fprintf(out, "K %u %" PRIu64, b->id, b->sample_exec);
            for (int k = 0; k < N_COUNTERS; k++) {
                if (b->mem[k]) {
                    fprintf(out, " %s=%" PRIu64, counter_names[k], b->mem[k]);
                }
            }
            fputc('\n', out);
        }
    }
}

static void on_translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
static void on_qemu_exit(qemu_plugin_id_t id, void *data);

/* After the reset: the same counting, without the memory model. */
static void on_reset(qemu_plugin_id_t id) {
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
    qemu_plugin_register_atexit_cb(id, on_qemu_exit, NULL);
}

/* --- callbacks ----------------------------------------------------------------------------------- */
static void on_block(unsigned int vcpu, void *data) {
    Block *b = data;
    (void)vcpu;
    if (b->is_resume) {
        paused = false;
        last_block = NULL; /* no branch outcome across the paused code */
    }
    if (paused) {
        return;
    }
    if (last_block != NULL) {
        if (b->pc == last_block->fallthrough) {
            last_block->not_taken++;
        } else {
            last_block->taken++;
        }
    }
    if (b->is_mark) {
        write_segment();
        marks_seen++;
        if (sampling && sample_marks > 0 && marks_seen == sample_marks) {
            sampling = false;
            write_samples();
            qemu_plugin_reset(plugin_id, on_reset);
        }
    }
    if (b->is_pause) {
        paused = true; /* the call into pb_timer_pause was counted, its body is not */
        last_block = NULL;
        return;
    }
    if (!b->touched) {
        if (n_touched == cap_touched) {
            cap_touched = cap_touched ? 2 * cap_touched : 1024;
            touched = realloc(touched, cap_touched * sizeof(Block *));
            if (touched == NULL) {
                abort();
            }
        }
        touched[n_touched++] = b;
        b->touched = true;
    }
    b->exec++;
    last_block = b;
    if (!sampling) {
        return;
    }
    b->sample_exec++;
    if (icache.on && in_range(&flash, b->pc)) {
        uint64_t first = b->pc >> icache.line_shift, last = (b->fallthrough - 1) >> icache.line_shift;
        for (uint64_t line = first; line <= last; line++) {
            count(IFETCH);
            if (!cache_access(&icache, line << icache.line_shift)) {
                count(IMISS);
            }
        }
    }
}

static void on_memory(unsigned int vcpu, qemu_plugin_meminfo_t info, uint64_t vaddr, void *data) {
    (void)vcpu;
    (void)data;
    if (!sampling || paused) {
        return; /* the reset is asynchronous: callbacks may still arrive */
    }
    if (in_range(&tcm, vaddr)) {
        count(TCM_ACC);
    } else if (in_range(&flash, vaddr)) {
        count(qemu_plugin_mem_is_store(info) ? FLASH_W : FLASH_R);
        if (dcache.on && !cache_access(&dcache, vaddr)) {
            count(FLASH_MISS);
        }
    } else if (in_range(&sram, vaddr)) {
        count(SRAM_ACC);
        if (dcache.on && !cache_access(&dcache, vaddr)) {
            count(SRAM_MISS);
        }
    } else {
        count(OTHER_ACC);
    }
}

static Block *find_or_add(uint64_t pc, uint32_t n_insns, uint32_t size, bool *added) {
    uint32_t h = (uint32_t)((pc >> 1) * 2654435761u + n_insns) % BUCKETS;
    for (Block *b = buckets[h]; b != NULL; b = b->next_in_bucket) {
        if (b->pc == pc && b->n_insns == n_insns) {
            *added = false;
            return b;
        }
    }
    Block *b = calloc(1, sizeof(Block));
    if (b == NULL) {
        abort();
    }
    b->pc = pc;
    b->n_insns = n_insns;
    b->size = size;
    b->fallthrough = pc + size;
    b->id = n_blocks++;
    b->is_mark = pc == mark_pc;
    b->is_pause = pc == pause_pc;
    b->is_resume = pc == resume_pc;
    b->next_in_bucket = buckets[h];
    buckets[h] = b;
    *added = true;
    return b;
}

static void on_translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb) {
    (void)id;
    size_t n = qemu_plugin_tb_n_insns(tb);
    if (n == 0) {
        return;
    }
    uint64_t pc = qemu_plugin_tb_vaddr(tb);
    struct qemu_plugin_insn *last = qemu_plugin_tb_get_insn(tb, n - 1);
    uint32_t size = (uint32_t)(qemu_plugin_insn_vaddr(last) + qemu_plugin_insn_size(last) - pc);
    bool added;
    Block *b = find_or_add(pc, (uint32_t)n, size, &added);
    if (added) {
        fprintf(out, "B %u 0x%" PRIx64 " %zu %u\n", b->id, pc, n, size);
    }
    for (size_t i = 0; i < n; i++) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        if (added) {
            const uint8_t *bytes = qemu_plugin_insn_data(insn);
            size_t len = qemu_plugin_insn_size(insn);
            char hex[2 * 16 + 1] = "";
            for (size_t k = 0; k < len && k < 16; k++) {
                snprintf(hex + 2 * k, 3, "%02x", bytes[k]);
            }
            char *text = qemu_plugin_insn_disas(insn);
            fprintf(out, "I 0x%" PRIx64 " %zu %s %s\n", qemu_plugin_insn_vaddr(insn), len, hex, text ? text : "?");
            free(text);
        }
        if (sampling) {
            qemu_plugin_register_vcpu_mem_cb(insn, on_memory, QEMU_PLUGIN_CB_NO_REGS, QEMU_PLUGIN_MEM_RW, NULL);
        }
    }
    qemu_plugin_register_vcpu_tb_exec_cb(tb, on_block, QEMU_PLUGIN_CB_NO_REGS, b);
}

static void on_qemu_exit(qemu_plugin_id_t id, void *data) {
    (void)id;
    (void)data;
    write_segment();
    if (sampling) {
        write_samples();
    }
    fprintf(out, "E\n");
    fclose(out);
    out = NULL;
}

/* --- arguments ----------------------------------------------------------------------------------- */
static bool parse_cache(const char *value, Cache *c) {
    unsigned long size, ways, line;
    if (sscanf(value, "%lu:%lu:%lu", &size, &ways, &line) != 3 || ways == 0 || line == 0 ||
        (line & (line - 1)) != 0 || size % (ways * line) != 0) {
        return false;
    }
    c->on = true;
    c->ways = (uint32_t)ways;
    c->sets = (uint32_t)(size / (ways * line));
    c->line_shift = (uint32_t)__builtin_ctzl(line);
    c->tags = calloc((size_t)c->sets * c->ways, sizeof(uint64_t));
    return c->tags != NULL;
}

static bool parse_range(const char *value, Range *r) {
    char *end;
    r->lo = strtoull(value, &end, 0);
    if (*end != ':') {
        return false;
    }
    r->hi = strtoull(end + 1, &end, 0);
    r->on = *end == '\0' && r->hi > r->lo;
    return r->on;
}

QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv) {
    (void)info;
    const char *path = NULL;
    for (int i = 0; i < argc; i++) {
        char *eq = strchr(argv[i], '=');
        if (eq == NULL) {
            fprintf(stderr, "pb_timing: argument %s is not name=value\n", argv[i]);
            return -1;
        }
        *eq = '\0';
        const char *name = argv[i], *value = eq + 1;
        bool ok = true;
        if (strcmp(name, "out") == 0) {
            path = value;
        } else if (strcmp(name, "mark") == 0) {
            mark_pc = strtoull(value, NULL, 0) & ~1ull; /* a Thumb function address has bit 0 set */
        } else if (strcmp(name, "pause") == 0) {
            pause_pc = strtoull(value, NULL, 0) & ~1ull;
        } else if (strcmp(name, "resume") == 0) {
            resume_pc = strtoull(value, NULL, 0) & ~1ull;
        } else if (strcmp(name, "icache") == 0) {
            ok = parse_cache(value, &icache);
        } else if (strcmp(name, "dcache") == 0) {
            ok = parse_cache(value, &dcache);
        } else if (strcmp(name, "flash") == 0) {
            ok = parse_range(value, &flash);
        } else if (strcmp(name, "sram") == 0) {
            ok = parse_range(value, &sram);
        } else if (strcmp(name, "tcm") == 0) {
            ok = parse_range(value, &tcm);
        } else if (strcmp(name, "sample") == 0) {
            char *end;
            sample_marks = strtoull(value, &end, 0);
            ok = *end == '\0';
        } else {
            fprintf(stderr, "pb_timing: unknown argument %s (known: out, mark, pause, resume, icache, dcache, flash, sram, tcm, sample)\n", name);
            return -1;
        }
        if (!ok) {
            fprintf(stderr, "pb_timing: bad value %s=%s (caches SIZE:WAYS:LINE, ranges LO:HI)\n", name, value);
            return -1;
        }
    }
    if (path == NULL) {
        fprintf(stderr, "pb_timing: out=PATH is required\n");
        return -1;
    }
    out = fopen(path, "w");
    if (out == NULL) {
        fprintf(stderr, "pb_timing: cannot write %s\n", path);
        return -1;
    }
    plugin_id = id;
    memory_model = icache.on || dcache.on || flash.on || sram.on || tcm.on;
    sampling = memory_model;
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
    qemu_plugin_register_atexit_cb(id, on_qemu_exit, NULL);
    return 0;
}

/* SPDX-License-Identifier: Apache-2.0 */
/* The benchmark loop: warm-up runs, then PB_RUNS timed runs (each: one run timed as a whole, one with
 * every layer timed), then the record.
 *
 * Build-time constants (harness/firmware/build.py passes them with -D):
 *   PB_BUILD_ID     the build's hash, echoed so the host rejects a record from another build
 *   PB_TARGET_NAME  the target file's name, e.g. "stm32f412"
 *   PB_RUNS         timed runs (>= 1);  PB_WARMUP  untimed runs before them (>= 0)
 *   PB_OUT_CHUNK    output bytes per PB1 OUT line
 *   PB_MODEL_RUNS_ITS_UNITS  the model runs all its units in one call and times each itself (an engine
 *                   with an interpreter: TensorFlow Lite Micro); see model_api.h */
#include <stdint.h>

#include "model_api.h"
#include "pb_board.h"
#include "pb_protocol.h"

#if !defined(PB_BUILD_ID) || !defined(PB_TARGET_NAME) || !defined(PB_RUNS) || !defined(PB_WARMUP)
#error "build with harness/firmware/build.py: it defines PB_BUILD_ID, PB_TARGET_NAME, PB_RUNS and PB_WARMUP"
#endif
#ifndef PB_OUT_CHUNK
#define PB_OUT_CHUNK 32
#endif

static void print_header(void) {
    pb_line_begin("BEGIN");
    pb_line_kv_text("build", PB_BUILD_ID);
    pb_line_kv_text("target", PB_TARGET_NAME);
    pb_line_kv_text("unit", pb_timer_unit);
    pb_line_kv_u64("resolution", pb_timer_resolution);
    pb_line_kv_u64("runs", PB_RUNS);
    pb_line_kv_u64("warmup", PB_WARMUP);
    pb_line_kv_u64("layers", (uint64_t)pb_model_layer_count);
    pb_line_kv_u64("outputs", (uint64_t)pb_model_output_count);
    pb_line_end();
    pb_line_begin("MODEL");
    pb_line_text(pb_model_name);
    pb_line_end();
    pb_line_begin("SCHEDULE");
    pb_line_text(pb_model_schedule);
    pb_line_end();
}

#ifdef PB_MODEL_RUNS_ITS_UNITS
/* The engine runs its units in one call; its own per-unit timing (on the same timer) fills layer_time. */
static void run_model_layers(uint64_t *layer_time) {
    pb_model_prepare_input();
    pb_timer_sync();
    pb_model_run_timed(layer_time);
}

static uint64_t run_model_total(void) {
    pb_model_prepare_input();
    pb_timer_sync();
    uint64_t start = pb_timer_now();
    pb_model_run();
    return pb_timer_now() - start;
}
#else
/* One run with every layer timed; per-layer times go to layer_time. */
static void run_model_layers(uint64_t *layer_time) {
    pb_model_prepare_input();
    pb_timer_sync();
    uint64_t previous = pb_timer_now();
    for (int i = 0; i < pb_model_layer_count; i++) {
        pb_model_layers[i].run();
        uint64_t now = pb_timer_now();
        layer_time[i] = now - previous;
        previous = now;
    }
}

/* One run timed as a whole, with no timer reads between layers: the latency reported. Measured apart
 * from the per-layer run so the host can check that the layer times add up to it (within 1 %): a
 * layer the timing misses, or timer reads that distort small layers, shows up as a difference. */
static uint64_t run_model_total(void) {
    pb_model_prepare_input();
    pb_timer_sync();
    uint64_t start = pb_timer_now();
    for (int i = 0; i < pb_model_layer_count; i++) {
        pb_model_layers[i].run();
    }
    return pb_timer_now() - start;
}
#endif

/* Each output apart: its bytes (OUT lines, offsets from 0 within the output), then its CRC32. */
static void print_outputs(void) {
    for (int k = 0; k < pb_model_output_count; k++) {
        const uint8_t *output = (const uint8_t *)pb_model_output(k);
        uint32_t size = pb_model_output_size(k);
        for (uint32_t offset = 0; offset < size; offset += PB_OUT_CHUNK) {
            uint32_t n = size - offset < PB_OUT_CHUNK ? size - offset : PB_OUT_CHUNK;
            pb_line_begin("OUT");
            pb_line_u64((uint64_t)k);
            pb_line_u64(offset);
            pb_line_hex_bytes(output + offset, n);
            pb_line_end();
        }
        pb_line_begin("CRC");
        pb_line_u64((uint64_t)k);
        pb_line_u64(size);
        pb_line_kv_hex32("crc32", pb_crc32(output, size));
        pb_line_end();
    }
}

int main(void) {
    pb_console_init();
    pb_timer_init();
#ifdef PB_MODEL_RUNS_ITS_UNITS
    pb_model_init(); /* before the record: what it may print is not part of it */
#endif
    print_header();

    /* Per-layer times live on the stack (counted in the stack high-water mark, 8 bytes a layer). */
    uint64_t layer_time[pb_model_layer_count > 0 ? pb_model_layer_count : 1];
    for (int i = 0; i < PB_WARMUP; i++) {
        (void)run_model_total();
    }
    for (int r = 0; r < PB_RUNS; r++) {
        uint64_t total = run_model_total();
        run_model_layers(layer_time);
        for (int i = 0; i < pb_model_layer_count; i++) {
            pb_line_begin("LAYER");
            pb_line_u64((uint64_t)r);
            pb_line_u64((uint64_t)i);
            pb_line_text(pb_model_layers[i].name);
            pb_line_u64(layer_time[i]);
            pb_line_end();
        }
        pb_line_begin("RUN");
        pb_line_u64((uint64_t)r);
        pb_line_u64(total);
        pb_line_end();
    }

    pb_line_begin("MEM");
    pb_line_kv_u64("arena", pb_model_arena_bytes);
    pb_line_kv_u64("data", pb_data_bytes());
    pb_line_kv_u64("bss", pb_bss_bytes());
    pb_line_kv_u64("stack_hw", pb_stack_high_water_bytes());
    pb_line_kv_u64("stack_reserved", pb_stack_reserved_bytes());
#ifdef PB_MODEL_RUNS_ITS_UNITS
    pb_line_kv_u64("arena_used", pb_model_arena_used_bytes());
#endif
    pb_line_end();
    print_outputs();
    uint32_t lines = pb_lines_printed();
    pb_line_begin("END");
    pb_line_kv_u64("lines", lines);
    pb_line_end();
    return 0;
}

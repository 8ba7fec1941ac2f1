/* SPDX-License-Identifier: Apache-2.0 */
/* The contract between the benchmark firmware (harness/firmware/main.c) and a generated model.
 *
 * The code generator emits one C file (model.c, plus kernels) that defines every symbol below. The
 * firmware calls nothing else of the model. All symbols are plain C with external linkage.
 *
 * A "layer" here is one timed unit of the schedule: one op, one block, or one patch of the patch stage;
 * the code generator chooses. The firmware times each entry of pb_model_layers on every run and prints
 * the timings under the entry's name, so names must be C identifiers (no spaces) and unique.
 *
 * Lifecycle, per run (a warm-up run and then PB_RUNS timed runs):
 *     pb_model_prepare_input();                    // not timed
 *     for (i = 0; i < pb_model_layer_count; i++)   // each layer timed
 *         pb_model_layers[i].run();
 * After the last run the firmware reads each of the pb_model_output_count outputs (pb_model_output_size(k)
 * bytes at pb_model_output(k)) and sends it with its own CRC32, so the host checks each output apart and
 * names the one that differs. Runs must therefore be repeatable: prepare_input restores all the state a
 * run consumes (patch-based schedules may overwrite the input in the arena).
 */
#ifndef PB_MODEL_API_H
#define PB_MODEL_API_H

#include <stdint.h>

typedef struct {
    const char *name; /* C identifier, e.g. "conv_0" or "patch_stage_p1_2"; printed in PB1 LAYER lines */
    void (*run)(void);
} pb_layer_t;

/* The schedule's timed units, in execution order. */
extern const pb_layer_t pb_model_layers[];
extern const int pb_model_layer_count;

/* Free text for the record (printed on their own lines; no newlines). */
extern const char pb_model_name[];     /* e.g. "vww_96_int8" */
extern const char pb_model_schedule[]; /* e.g. "per-patch p=2 n=5" or "per-layer" */

/* Size of the model's static activation arena (the planned SRAM), reported in the PB1 MEM line. */
extern const uint32_t pb_model_arena_bytes;

/* Fill the arena's input slot with the test input (generated from its seed: pb_test_input.h). Called
 * before every run, not timed. */
void pb_model_prepare_input(void);

/* Where the network's input lives (in the arena) and its size in bytes. */
int8_t *pb_model_input(void);
uint32_t pb_model_input_size(void);

/* The network's outputs after a run, in the graph's output order (int8, or float32 for a float model's
 * dequantized ends). They live where the model computed them (the arena, so they are planned); nothing is
 * copied out. index: 0 .. pb_model_output_count - 1. */
extern const int pb_model_output_count;
const int8_t *pb_model_output(int index);
uint32_t pb_model_output_size(int index);

/* An engine that runs all its units in one call (an interpreter: TensorFlow Lite Micro) builds main.c
 * with PB_MODEL_RUNS_ITS_UNITS and defines these too; pb_model_layers then only names its units (run is
 * NULL). pb_model_init: once, before the record (it may print, and stops with a PB1 FAULT line when the
 * model cannot run); pb_model_run: one run; pb_model_run_timed: one run with each unit's time written
 * to unit_times[i] (the units together covering the whole run); pb_model_arena_used_bytes: what of the
 * arena the engine used (MEM arena_used=). */
#ifdef PB_MODEL_RUNS_ITS_UNITS
void pb_model_init(void);
void pb_model_run(void);
void pb_model_run_timed(uint64_t *unit_times);
uint32_t pb_model_arena_used_bytes(void);
#endif

#endif

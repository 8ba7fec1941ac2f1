/* TensorFlow Lite Micro behind patchbench's model API (harness/firmware/model_api.h), so that the same
 * benchmark loop (main.c, built with PB_MODEL_RUNS_ITS_UNITS) prints the same PB1 record as patchbench's
 * own firmware: BEGIN, one LAYER line per op and run, RUN, MEM, OUT/CRC, END.
 *
 * - The interpreter runs the model file (tflm_model.cc: the flatbuffer, a resolver with exactly its ops,
 *   the static arena), set up once in pb_model_init, before the record starts.
 * - Per-op times come from a MicroProfilerInterface reading the board's timer (pb_timer_now: QEMU's
 *   instruction count, or the DWT cycle counter on a board; TFLM's own MicroProfiler reads DWT->CYCCNT,
 *   which QEMU does not model). Each op's unit runs from the end of the op before it (the start of the
 *   run for the first) to its own end, so the units tile the whole Invoke: the interpreter's work
 *   between ops is in the op that follows it, and its work after the last op is added to the last.
 * - A failure (the model's schema, an op the resolver lacks, an arena too small, Invoke) is a PB1 FAULT
 *   line naming it, then the firmware stops: never a record with made-up figures. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include <new>

#include "tensorflow/lite/micro/debug_log.h"
#include "tensorflow/lite/micro/micro_interpreter.h"
#include "tensorflow/lite/micro/micro_profiler_interface.h"
#include "tensorflow/lite/schema/schema_generated.h"
#include "tflm_model.h"

extern "C" {
#include "pb_board.h"
#include "pb_protocol.h"
#include "pb_test_input.h"
}

namespace {

/* Stop with a PB1 FAULT line naming what failed (the host reports it as the point's error). */
[[noreturn]] void fail(const char *what, uint32_t value) {
    pb_line_begin("FAULT");
    pb_line_text("engine=tflm");
    pb_line_kv_text("failed", what);
    pb_line_kv_u64("value", value);
    pb_line_end();
    pb_exit(3);
}

/* The per-op timer: off (no reads) in the uninstrumented run, on in the per-op one. */
class BoardTimerProfiler : public tflite::MicroProfilerInterface {
  public:
    void Start(uint64_t *unit_times) {
        times_ = unit_times;
        ended_ = 0;
        previous_ = pb_timer_now();
    }

    /* After Invoke: the interpreter's work after the last op goes to the last unit. */
    void Stop() {
        uint64_t now = pb_timer_now();
        if (ended_ != pb_model_layer_count) {
            fail("ops_timed", ended_); /* the model's op count and the interpreter's disagree */
        }
        times_[ended_ - 1] += now - previous_;
        times_ = nullptr;
    }

    uint32_t BeginEvent(const char *) override { return 0; }

    void EndEvent(uint32_t) override {
        if (times_ == nullptr) {
            return;
        }
        uint64_t now = pb_timer_now();
        if (ended_ < pb_model_layer_count) {
            times_[ended_] = now - previous_;
        }
        ended_++;
        previous_ = now;
    }

  private:
    uint64_t *times_ = nullptr;
    int ended_ = 0;
    uint64_t previous_ = 0;
};

/* Both live for the whole program; placed explicitly because the firmware runs no static constructors. */
alignas(BoardTimerProfiler) uint8_t profiler_storage[sizeof(BoardTimerProfiler)];
alignas(tflite::MicroInterpreter) uint8_t interpreter_storage[sizeof(tflite::MicroInterpreter)];
BoardTimerProfiler *profiler;
tflite::MicroInterpreter *interpreter;

void invoke(void) {
    if (interpreter->Invoke() != kTfLiteOk) {
        fail("Invoke", 0);
    }
}

}  // namespace

extern "C" {

void pb_model_init(void) {
    const tflite::Model *model = tflite::GetModel(pb_tflm_model_data);
    if (model->version() != TFLITE_SCHEMA_VERSION) {
        fail("schema_version", model->version());
    }
    const tflite::MicroOpResolver *resolver = pb_tflm_op_resolver();
    if (resolver == nullptr) {
        fail("op_registration", 0);
    }
    profiler = new (profiler_storage) BoardTimerProfiler();
    interpreter = new (interpreter_storage)
        tflite::MicroInterpreter(model, *resolver, pb_tflm_arena, pb_tflm_arena_size, nullptr, profiler);
    if (interpreter->AllocateTensors() != kTfLiteOk) {
        fail("AllocateTensors", pb_tflm_arena_size); /* the arena is too small, or an op's Prepare failed */
    }
    uint32_t element = pb_tflm_test_input.is_float ? sizeof(float) : sizeof(int8_t);
    if (interpreter->inputs_size() != 1 || interpreter->input(0)->bytes != pb_tflm_test_input.count * element) {
        fail("input_bytes", interpreter->inputs_size() == 1 ? interpreter->input(0)->bytes : 0);
    }
    if (interpreter->outputs_size() != (size_t)pb_model_output_count) {
        fail("outputs", interpreter->outputs_size());
    }
}

/* The seeded test input, generated into the interpreter's input tensor (the same values every engine's
 * firmware and the host reference use). */
void pb_model_prepare_input(void) {
    const pb_tflm_input_t *in = &pb_tflm_test_input;
    if (in->is_float) {
        pb_test_input_f32(interpreter->input(0)->data.f, in->seed, 0, in->count, in->scale, in->zero_point);
    } else {
        pb_test_input_s8(interpreter->input(0)->data.int8, in->seed, 0, in->count);
    }
}

int8_t *pb_model_input(void) { return interpreter->input(0)->data.int8; }

uint32_t pb_model_input_size(void) { return (uint32_t)interpreter->input(0)->bytes; }

void pb_model_run(void) { invoke(); }

void pb_model_run_timed(uint64_t *unit_times) {
    profiler->Start(unit_times);
    invoke();
    profiler->Stop();
}

uint32_t pb_model_arena_used_bytes(void) { return (uint32_t)interpreter->arena_used_bytes(); }

const int8_t *pb_model_output(int index) { return interpreter->output(index)->data.int8; }

uint32_t pb_model_output_size(int index) { return (uint32_t)interpreter->output(index)->bytes; }

/* TFLM's log (MicroPrintf): straight to the console. It prints only when something fails (before the
 * record starts, where the host ignores it, or in its place). */
void DebugLog(const char *format, va_list args) {
    char line[128];
    vsnprintf(line, sizeof(line), format, args);
    pb_console_write(line);
}

int DebugVsnprintf(char *buffer, size_t buf_size, const char *format, va_list vlist) {
    return vsnprintf(buffer, buf_size, format, vlist);
}

/* TFLM's TFLITE_ABORT and its assert()s (TFLM's default build keeps them): a PB1 FAULT line instead of
 * newlib's abort and assert, which would need a process to signal and a file system to print to. */
void abort(void) { fail("abort", 0); }

void __assert_func(const char *file, int line, const char *, const char *) {
    const char *name = file;
    for (const char *c = file; *c; c++) {
        if (*c == '/') {
            name = c + 1;
        }
    }
    pb_line_begin("FAULT");
    pb_line_text("engine=tflm");
    pb_line_kv_text("failed", "assert");
    pb_line_kv_text("file", name);
    pb_line_kv_u64("line", (uint64_t)line);
    pb_line_end();
    pb_exit(3);
}

/* newlib-nano's vsnprintf links malloc, whose _sbrk is this: the firmware has no heap, so it fails. */
void *_sbrk(ptrdiff_t) {
    errno = ENOMEM;
    return (void *)-1;
}

}  /* extern "C" */

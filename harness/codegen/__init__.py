# SPDX-License-Identifier: Apache-2.0
"""Code generation: a Graph under a PatchPlan -> readable C firmware sources (model.c, model.h,
model_weights.h) implementing harness/firmware/model_api.h with the int8 kernels in ``kernels/``.

    model = generate_model(graph, make_plan(graph, p, n), "stm32f746", test_input, CodegenOptions())
    firmware = build_model(model, "stm32f746")          # Firmware, or DoesNotFit with the numbers

Modules: ``options`` (CodegenOptions, GeneratedModel, CodegenError), ``layout`` (arena with the kernels'
scratch, per-patch views and step regions), ``ops`` (one emitter per op kind, and which ops the kernels
cannot run), ``carrays`` (constants as C), ``generate`` (orchestration and rendering of ``templates/``),
``cmsis_nn`` (the CMSIS-NN kernel set: its calls per op, its scratch, the ops it leaves to the
portable kernels), ``hostrun`` (the generated C compiled for the host under ASan/UBSan: a quick bit-exactness check).

Every op kind of the IR has an emitter (``SUPPORTED_OPS``); what the kernels cannot do within a kind
(int16 tensors, depth multiplier != 1, grouped convs, MEAN over other axes than H and W, ...) is a
CodegenError at generation time naming the op, its index and kind.
"""

from harness.codegen.generate import build_model, generate_model
from harness.codegen.ops import EMITTERS, unsupported_reason
from harness.codegen.options import CodegenError, CodegenOptions, GeneratedModel

SUPPORTED_OPS = tuple(sorted(EMITTERS))

__all__ = [
    "SUPPORTED_OPS",
    "CodegenError",
    "CodegenOptions",
    "GeneratedModel",
    "build_model",
    "generate_model",
    "unsupported_reason",
]

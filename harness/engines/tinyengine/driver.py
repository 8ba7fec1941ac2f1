# SPDX-License-Identifier: Apache-2.0
"""Runs TinyEngine's code generator on one .tflite file, in a child process (never imported by patchbench).

    python driver.py <generator copy> <model.tflite> <mode: int|fp> <patches> <patch layers> <out.json>

The working folder must be the output folder: the generator writes ``codegen/Include`` and
``codegen/Source`` under it. This script calls the generator's own API the way TinyEngine's examples do
(TfliteConvertor -> [getPatchParams + PatchResizer] -> GeneralMemoryScheduler -> CodeGenerator) and writes
what patchbench needs to wrap the generated C into ``out.json``: every layer with its op, the TFLite
tensors it reads and writes (index and name), where its output lives in the arena (a C expression), its
output shape and type, whether it is in the patch stage; the arena (``PEAK_MEM``) and its parts; the
patch parameters.

Exit status 0 and the JSON, or exit status 3 with the traceback on stderr and, last, one line: the
generator's exception as ``ExceptionType: message (at file:line, parsing op <i> <OP>)`` (the caller
names the model).
"""

from __future__ import annotations

import json
import sys
import traceback


def _tensor_names(path: str) -> list[str]:
    from code_generator.tflite import Model

    model = Model.Model.GetRootAsModel(open(path, "rb").read(), 0)
    subgraph = model.Subgraphs(0)
    return [subgraph.Tensors(i).Name().decode() for i in range(subgraph.TensorsLength())]


def _index(value) -> int | None:
    """A layer's tensor index; the generator appends a suffix to the stage boundary's (a string)."""
    try:
        return int(value)
    except (TypeError, ValueError):
        text = str(value)
        digits = text.split("_", 1)[0]
        return int(digits) if digits.isdigit() else None


def generate(path: str, mode: str, patches: int, patch_layers: int) -> dict:
    from code_generator.CodeGenerator import CodeGenerator
    from code_generator.GeneralMemoryScheduler import GeneralMemoryScheduler
    from code_generator.InputResizer import PatchResizer
    from code_generator.PatchBasedUtil import getPatchParams
    from code_generator.TfliteConvertor import TfliteConvertor

    convertor = TfliteConvertor(path)
    convertor.parseOperatorInfo()
    layers = convertor.layer
    patch_params = None
    if patches > 1:
        patch_params = getPatchParams(layers, patch_layers, patches)
        PatchResizer(layers).patchResize(
            patch_params["layer_cnt"], patch_params["grain_rf"], patch_params["grain_rf_height"]
        )
    scheduler = GeneralMemoryScheduler(
        layers,
        False,
        False,
        outputTables=[],
        inplace=True,
        mem_visual_path="schedule.png",
        VisaulizeTrainable=False,
    )
    scheduler.USE_INPLACE = True
    scheduler.allocateMemory()
    listed = list(scheduler.layer)  # the code generator removes the patch stage's layers from this list
    generator = CodeGenerator(
        memsche=scheduler, inplace=True, unsigned_input=False, patch_params=patch_params, FP_output=False,
        profile_mode=False, fp_requantize=(mode == "fp"), tflite_op=False, dummy_address=False, outputTables=[],
    )  # fmt: skip
    generator.codeGeneration()

    names = _tensor_names(path)
    described = []
    for op in listed:
        info = op.get_layer_info()
        params = op.params
        inputs = [_index(info.get("input_idx"))]
        if "input2_idx" in info:
            inputs.append(_index(info["input2_idx"]))
        output = _index(info.get("output_idx"))
        described.append(
            {
                "op": info["op"],
                "inputs": inputs,
                "input_names": [names[i] if i is not None and i < len(names) else None for i in inputs],
                "output": output,
                "output_name": names[output] if output is not None and output < len(names) else None,
                "output_buffer": op._getBufferstr(params["output_buf_add"], params["output_buf_add_offset"]),
                "output_shape": [int(info["output_h"]), int(info["output_w"]), int(info["output_c"])],
                "output_dtype": str(params.get("output_dtype", "int8")),
                "is_patch": bool(info.get("is_patch", False)),
            }
        )
    first = listed[0].params
    return {
        "peak_mem": int(scheduler.peakmem),
        "flash": int(scheduler.flash),
        "buffers": {key: int(value) for key, value in scheduler.buffers.items()},
        "input_buffer": listed[0]._getBufferstr(first["input_buf_add"], first["input_buf_add_offset"]),
        "layers": described,
        "patch_params": None if patch_params is None else {k: int(v) for k, v in patch_params.items()},
    }


def _op_being_parsed(error: BaseException) -> str | None:
    """ "op 63 FULLY_CONNECTED" when the error came while the convertor parsed an op (its frame's locals)."""
    index, kind = None, None
    tb = error.__traceback__
    while tb is not None:
        names = tb.tb_frame.f_locals
        if tb.tb_frame.f_code.co_name == "parseOperatorInfo" and "i" in names:
            index = names["i"]
        if tb.tb_frame.f_code.co_name == "_handleOperator" and "op_code_str" in names:
            kind = names["op_code_str"]
        tb = tb.tb_next
    if index is None:
        return None
    return f"op {index}" + (f" {kind}" if kind else "")


def main(argv: list[str]) -> int:
    copy, path, mode, patches, patch_layers, out = argv
    sys.path.insert(0, copy)
    try:
        result = generate(path, mode, int(patches), int(patch_layers))
    except Exception as error:  # the generator's own failure, reported in one line
        traceback.print_exc()  # the whole story for generator.log; the caller reads the last line
        message = " ".join(str(error).split()) or "(no message)"
        frames = traceback.extract_tb(error.__traceback__)
        where = f"{frames[-1].filename.rsplit('/', 1)[-1]}:{frames[-1].lineno}"
        ours = [f for f in frames if "/code_generator/" in f.filename]  # TinyEngine's deepest own frame
        if ours and ours[-1] is not frames[-1]:
            where += f", from its {ours[-1].filename.rsplit('/', 1)[-1]}:{ours[-1].lineno} {ours[-1].name}"
        parsing = _op_being_parsed(error)
        if parsing:
            where += f", parsing {parsing}"
        kind = type(error).__qualname__
        if type(error).__module__ != "builtins":
            kind = f"{type(error).__module__}.{kind}"  # struct.error, not a bare "error"
        print(f"{kind}: {message} (at {where})", file=sys.stderr)
        return 3
    with open(out, "w") as handle:
        json.dump(result, handle, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

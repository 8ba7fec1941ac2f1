# SPDX-License-Identifier: Apache-2.0
"""TinyEngine (MIT HAN Lab, the engine of the MCUNet / MCUNetV2 papers) as an engine, measured in the same run.

Its own generator writes the C (generator.py: a patched build copy of ``../shared/third_party/tinyengine``,
run in a child process; a failure or refusal is one line naming the model and the generator's error); its
C and the CMSIS 5 it pins compile into cached libraries with their own flags (libraries.py); a strict-C
adapter implements patchbench's model interface over TinyEngine's entry points (adapter.py).

Modes (kernel sets): ``int`` (default; TinyEngine's integer requantization, ``fp_requantize=False``) and
``fp`` (its float requantization, its own default, not TFLite-exact by design).

Timed units: one per TinyEngine layer (a statement of its ``invoke``), named after the patchbench op whose
output tensor it writes; in patch mode one per patch (``patch_r<i>_c<j>``), then one per layer after the
stage. SRAM: .data + .bss (its ``buffer[PEAK_MEM]`` in it) + stack high-water, as patchbench's; the arena
reported is ``PEAK_MEM``. In patch mode its image is outside its arena: a static array in SRAM, counted
like patchbench's counted input (the streamed figure is that minus the image's bytes).

Models: the .tflite every engine runs (``graph_to_bytes`` of the point's graph). TinyEngine always pads
``kernel // 2`` on every side: zoo models are measured in their ``-explicit-pad`` export (models/
explicit_pad.py), the pattern MCUNet's released files have.
"""

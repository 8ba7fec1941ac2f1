# SPDX-License-Identifier: Apache-2.0
"""TFLite flatbuffers <-> the int8 Graph IR.

Import reads a ``.tflite`` file with the generated reader classes of the ``tflite`` package. That
package is a runtime dependency of patchbench (pyproject ``dependencies``) and also carries the
generated *builder* functions that export needs, whereas ai-edge-litert is a dev-only, platform-specific
binary wheel; so both directions use one schema and one package.

The importer accepts one subgraph of the ops in ``graph.OP_KINDS`` with int8 activations, and rejects
anything else with a ``TFLiteImportError`` that names the op or tensor, its index, and what is supported.
It reads the whole flatbuffer into plain records first (``_read_model``), so that a corrupt file fails
there, as "malformed", and never deep inside the semantic checks.

Imported graphs keep ``Graph.source_tensor_index`` (tensor name -> tensor index in the file), so a test
can compare any intermediate tensor with LiteRT's ``interpreter.get_tensor(index)``.
"""

from harness.frontend.importer import graph_from_bytes, load_tflite
from harness.frontend.schema import TFLiteImportError
from harness.frontend.writer import graph_to_bytes, save_tflite

__all__ = ["TFLiteImportError", "load_tflite", "graph_from_bytes", "save_tflite", "graph_to_bytes"]

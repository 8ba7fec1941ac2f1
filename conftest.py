# SPDX-License-Identifier: Apache-2.0
"""Root conftest: the patchbench pytest plugin (options, fixtures, parametrization) for a checkout that is
not installed. Installed (``pip install -e .``), the plugin is already loaded by its ``pytest11`` entry
point, named like the module, and this line finds it there; pytester serves the plugin's own tests."""

pytest_plugins = ["harness.pytest_plugin", "pytester"]

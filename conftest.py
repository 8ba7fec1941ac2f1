"""Root conftest: loads the patchbench pytest plugin (options, fixtures, parametrization)."""

pytest_plugins = ["harness.pytest_plugin", "pytester"]

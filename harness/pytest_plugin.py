"""patchbench's pytest plugin: options, fixtures and parametrization (grows with the harness issue)."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parent.parent.parent / "shared"


@pytest.fixture(scope="session")
def shared_models() -> Path:
    """The folder of real pretrained models beside the project (../shared/models)."""
    path = SHARED / "models"
    if not path.is_dir():
        pytest.fail(f"{path} not found: patchbench expects ../shared/models beside the repository")
    return path

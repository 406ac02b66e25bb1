"""Shared fixtures: the real Omniglot beside the repository clone."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# CI lays the real Omniglot in ../shared/data beside the clone; CXGRAD_TEST_DATA overrides.
SHARED_DATA = Path(
    os.environ.get("CXGRAD_TEST_DATA", Path(__file__).resolve().parents[1].parent / "shared/data")
)


@pytest.fixture(scope="session")
def omniglot_root() -> Path:
    if not (SHARED_DATA / "omniglot").is_dir():
        message = f"real Omniglot not found at {SHARED_DATA / 'omniglot'}"
        if os.environ.get("CI"):
            pytest.fail(message + " (CI must test on the real data)")
        pytest.skip(message)
    return SHARED_DATA

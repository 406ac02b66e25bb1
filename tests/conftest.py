"""Shared fixtures: the real Omniglot beside the repository clone."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def omniglot_root() -> Path:
    if not (SHARED_DATA / "omniglot").is_dir():
        pytest.skip(f"real Omniglot not found at {SHARED_DATA / 'omniglot'}")
    return SHARED_DATA

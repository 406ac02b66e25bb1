"""Shared fixtures: the real Omniglot, from $CXGRAD_TEST_DATA or $CXGRAD_DATA_ROOT, and small
synthetic glyphs for training tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cxgrad.data import load_synthetic

# The data root that holds omniglot/ (the official zips or folders); .ci/run sets it.
TEST_DATA_ROOT = Path(
    os.environ.get("CXGRAD_TEST_DATA") or os.environ.get("CXGRAD_DATA_ROOT") or "no-data-root"
)


@pytest.fixture(scope="session")
def omniglot_root() -> Path:
    if not (TEST_DATA_ROOT / "omniglot").is_dir():
        message = (
            f"real Omniglot not found at {TEST_DATA_ROOT / 'omniglot'}; set CXGRAD_TEST_DATA "
            "(or CXGRAD_DATA_ROOT) to the folder that holds omniglot/"
        )
        if os.environ.get("CI"):
            pytest.fail(message + " (CI must test on the real data)")
        pytest.skip(message)
    return TEST_DATA_ROOT


@pytest.fixture(scope="module")
def glyphs():
    """Synthetic 16x16 glyphs: 12 training, 6 validation and 6 test classes of 8 images."""
    return load_synthetic(num_classes=(12, 6, 6), images_per_class=8, image_size=16)


# Tiers: `pytest -m "not integration"` is the unit tier a developer runs after each change
# (about a minute on 2 cores). Integration tests train runs, read the real data, start
# processes, a SLURM cluster or a browser, or build the book; CI runs every tier.
_INTEGRATION_KINDS = ("slurm", "browser", "chapter_outputs")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if any(item.get_closest_marker(kind) for kind in _INTEGRATION_KINDS):
            item.add_marker(pytest.mark.integration)

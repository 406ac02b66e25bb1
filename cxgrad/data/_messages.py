"""Wording shared by every loader's messages, so that all datasets report alike."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from cxgrad.data._paths import ENV_VAR, data_root_origin

SHOW = 5  # how many offending names a message lists before "... and N more"


def few(items: Iterable[object]) -> str:
    """The first few items joined, with a count of the rest: messages stay readable."""
    items = [str(i) for i in items]
    shown = ", ".join(items[:SHOW])
    return shown + (f", ... and {len(items) - SHOW} more" if len(items) > SHOW else "")


def root_hint(root: Path, data_root_arg: object) -> str:
    """Which data root was used, why, and how to choose another."""
    return (
        f"The data root is {root} ({data_root_origin(data_root_arg)}); choose another with "
        f"--data-root or the {ENV_VAR} environment variable."
    )

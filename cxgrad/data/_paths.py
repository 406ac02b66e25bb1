"""Where datasets live on disk.

One rule for every entry point (CLI, notebooks, tests): an explicit argument wins, then the
``CXGRAD_DATA_ROOT`` environment variable, then a per-user cache folder. Keeping the rule in
one function means error messages can tell the user exactly which knob chose the folder.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "CXGRAD_DATA_ROOT"


def default_data_root() -> Path:
    """``$XDG_CACHE_HOME/cxgrad/data``, or ``~/.cache/cxgrad/data`` when that is unset."""
    cache_home = os.environ.get("XDG_CACHE_HOME")
    base = Path(cache_home).expanduser() if cache_home else Path.home() / ".cache"
    return (base / "cxgrad" / "data").absolute()


def resolve_data_root(arg: str | os.PathLike[str] | None = None) -> Path:
    """The data root: ``arg`` if given, else ``$CXGRAD_DATA_ROOT``, else ``default_data_root()``.

    ``~`` is expanded and the result made absolute, so that messages show a usable path.
    Empty strings count as unset (an exported but empty variable is a common shell accident).
    """
    if arg is not None and str(arg) != "":
        return Path(arg).expanduser().absolute()
    from_env = os.environ.get(ENV_VAR)
    if from_env:
        return Path(from_env).expanduser().absolute()
    return default_data_root()


def data_root_origin(arg: str | os.PathLike[str] | None = None) -> str:
    """Which rule :func:`resolve_data_root` used, in words, for error messages."""
    if arg is not None and str(arg) != "":
        return "set by --data-root / data_root="
    if os.environ.get(ENV_VAR):
        return f"set by the {ENV_VAR} environment variable"
    return f"the default, as neither --data-root nor {ENV_VAR} is set"

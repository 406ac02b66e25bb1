"""Options declared once, as dataclass fields with metadata.

A field made with ``option`` carries everything the command line, ``config.json`` and
the resume check need to know about it, so that adding an option is one edit.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

Choices = Sequence[str] | Callable[[], Sequence[str]]


def option(
    default: Any,
    help: str,
    *,
    choices: Choices | None = None,
    flag: str | None = None,
    minimum: int | None = None,
    may_change_on_resume: bool = False,
    architecture: bool = False,
) -> Any:
    """A dataclass field that is also an option of ``cxgrad train``.

    ``flag`` is the command-line spelling when it is not ``--name-with-dashes``;
    ``choices`` may be a function, for lists defined after the dataclass; ``minimum`` is
    checked by ``check_minimums``; ``architecture`` marks the options a checkpoint's
    network depends on; ``may_change_on_resume`` the ones a resumed run may change.
    """
    metadata = {
        "help": help,
        "choices": choices,
        "flag": flag,
        "minimum": minimum,
        "may_change_on_resume": may_change_on_resume,
        "architecture": architecture,
    }
    return dataclasses.field(default=default, metadata=metadata)


def network_option(default: Any, help: str, **details: Any) -> Any:
    """An ``option`` the network depends on: a checkpoint loads only where it matches."""
    return option(default, help, architecture=True, **details)


def options(cls: type) -> tuple[dataclasses.Field, ...]:
    """The fields of dataclass ``cls`` declared with ``option``."""
    return tuple(f for f in dataclasses.fields(cls) if "help" in f.metadata)


def flag(field: dataclasses.Field) -> str:
    return field.metadata.get("flag") or "--" + field.name.replace("_", "-")


def choices(field: dataclasses.Field) -> tuple[str, ...] | None:
    listed = field.metadata.get("choices")
    if listed is None:
        return None
    return tuple(listed() if callable(listed) else listed)


def check_minimums(instance: Any, error: type[Exception]) -> None:
    """Raise ``error`` naming the option for every field below its declared minimum."""
    for field in options(type(instance)):
        minimum = field.metadata.get("minimum")
        value = getattr(instance, field.name)
        if minimum is not None and value is not None and value < minimum:
            raise error(f"{flag(field)} must be >= {minimum}, got {value}")


def check_choices(instance: Any, error: type[Exception]) -> None:
    """Raise ``error`` naming the option for every field whose value is not one of its
    declared ``choices``."""
    for field in options(type(instance)):
        allowed = choices(field)
        value = getattr(instance, field.name)
        if allowed is not None and value is not None and value not in allowed:
            what = field.name.replace("_", " ")
            raise error(
                f"unknown {what} {value!r}; choose one of {', '.join(allowed)} ({flag(field)})"
            )

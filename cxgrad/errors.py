"""Exceptions that carry a message written for the user.

Everything the CLI catches and prints without a traceback derives from ``CxGradError``.
"""


class CxGradError(Exception):
    """Base class: the message says what went wrong and how to fix it."""


class DataError(CxGradError):
    """Data missing, partial, corrupt, or too small for the requested episodes."""


class ConfigError(CxGradError):
    """An invalid option, preset, method, or an incompatible run/checkpoint."""


class TrainingDiverged(CxGradError):
    """The meta-training loss became NaN or infinite."""

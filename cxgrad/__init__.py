"""cxgrad: MAML, ANIL, BOIL and CxGrad as pure torch.func functions."""

from importlib.metadata import PackageNotFoundError, version

try:
    # One source of truth: the version in pyproject.toml, as installed.
    __version__ = version("cxgrad")
except PackageNotFoundError:  # imported from a source tree that was never installed
    __version__ = "0+unknown"

from cxgrad import _moved

_moved.install()  # cxgrad.train, cxgrad.course, ...: the paths of earlier releases, for one more

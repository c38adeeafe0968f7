"""photoqc's version, in a module of its own so that any module can read it without
importing the package's front door (which imports the one-photo API)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("photoqc")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0+unknown"

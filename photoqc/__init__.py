"""photoqc: is this listing photo technically good enough to publish, and why not?"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("photoqc")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0+unknown"

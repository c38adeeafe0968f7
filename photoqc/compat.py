"""Optional dependencies, flagged once: which are installed, and the one error when a
command needs one that is not.

Scoring, serving and ranking need neither torch nor Ray; training NIMA networks, the Mask
R-CNN segmenter and MobileNet v2 backbones need torch, ``--engine ray`` needs Ray. Code
that needs one calls :func:`require` first, so the user reads which extra to install
instead of an ``ImportError`` traceback.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
from types import ModuleType

from photoqc.errors import PhotoqcError

EXTRAS = {
    "torch": "torch",
    "torchvision": "torch",
    "ray": "ray",
}
"""Optional module -> the ``photoqc[...]`` extra that installs it."""


class MissingDependencyError(PhotoqcError):
    """A command needs an optional dependency that is not installed."""


def has_module(name: str) -> bool:
    """Whether ``name`` can be imported here (without importing it)."""
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # a broken or half-removed install
        return False


def require(name: str, what: str) -> ModuleType:
    """The module ``name``, imported; :class:`MissingDependencyError` naming the extra that
    installs it when it is absent (``what`` says what needed it)."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        extra = EXTRAS.get(name.split(".")[0])
        hint = f"pip install 'photoqc[{extra}]'" if extra else f"pip install {name}"
        raise MissingDependencyError(
            f"{what} needs {name.split('.')[0]}, which is not installed ({exc.msg})",
            hint=hint,
        ) from None


class _Hidden(importlib.abc.MetaPathFinder):
    """A finder that makes ``name`` and its submodules unimportable while it is first on
    :data:`sys.meta_path`."""

    def __init__(self, name: str):
        self.name = name

    def find_spec(self, fullname, path=None, target=None):
        if fullname == self.name or fullname.startswith(self.name + "."):
            raise ImportError(f"{fullname} is not imported here", name=fullname)
        return None


def lightgbm() -> ModuleType:
    """LightGBM, imported without its scikit-learn interface where scikit-learn is not
    loaded yet.

    ``import lightgbm`` imports scikit-learn when it is installed (for ``LGBMClassifier``,
    which photoqc never uses: it calls ``lgb.train``, ``lgb.cv`` with its own folds and
    ``Booster``), and with it scipy.stats: about half a second of every ``photoqc score``
    start-up, for nothing. scikit-learn stays importable afterwards (training uses it).
    """
    if "lightgbm" in sys.modules or "sklearn" in sys.modules:
        return importlib.import_module("lightgbm")
    hidden = _Hidden("sklearn")
    sys.meta_path.insert(0, hidden)
    try:
        return importlib.import_module("lightgbm")
    finally:
        sys.meta_path.remove(hidden)

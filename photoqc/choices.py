"""Named choices (segmenters, backbones, variants): one lookup, one error wording."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

T = TypeVar("T")


def choose(options: Mapping[str, T], name: str, what: str) -> T:
    """``options[name]``; a ValueError naming ``what`` and the choices otherwise."""
    try:
        return options[name]
    except KeyError:
        raise ValueError(f"unknown {what} {name!r}; choose from {', '.join(options)}") from None

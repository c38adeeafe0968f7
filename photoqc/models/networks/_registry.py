"""The network kinds photoqc knows: name -> the module that builds one from its weights.

This is the one place that lists network kinds, as :mod:`photoqc.segmentation.registry`
lists segmenters. A kind's module has ``describes(path) -> bool`` (whether a weights file
is one of its own, from the file's description, without loading it) and ``build(path,
runtime) -> Network``. Nothing here imports a kind's module until it is needed.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from photoqc.choices import choose


@dataclass(frozen=True)
class NetworkEntry:
    """A network kind as the registry knows it.

    Attributes
    ----------
    name : str
        Its kind (``nima``), recorded in the weights' description.
    summary : str
        One line for help texts.
    module : str
        The module with ``describes(path)`` and ``build(path, runtime)``.
    """

    name: str
    summary: str
    module: str

    def implementation(self):
        """The module that builds it (imported now)."""
        return importlib.import_module(self.module)


NIMA = NetworkEntry(
    "nima",
    "NIMA (Talebi & Milanfar 2018): the distribution of people's 1-10 scores, MobileNet",
    "photoqc.models.nima",
)

NETWORKS: Mapping[str, NetworkEntry] = MappingProxyType({entry.name: entry for entry in (NIMA,)})
"""Every network kind by name."""


def network_entry(name: str) -> NetworkEntry:
    """The registry entry called ``name``; ValueError naming the choices otherwise."""
    return choose(NETWORKS, name, "network kind")


def kind_of_file(path: str | os.PathLike[str]) -> str | None:
    """The kind of network a weights file describes itself as, or None."""
    for entry in NETWORKS.values():
        if entry.implementation().describes(path):
            return entry.name
    return None


def build_network(path: str | os.PathLike[str], runtime: str = "auto", kind: str | None = None):
    """The :class:`~photoqc.models.networks.Network` of a weights file (its kind read
    from the file unless given), on ``runtime``."""
    kind = kind or kind_of_file(path)
    if kind is None:
        raise ValueError(f"{path}: not a weights file of any network kind photoqc knows")
    return network_entry(kind).implementation().build(path, runtime)

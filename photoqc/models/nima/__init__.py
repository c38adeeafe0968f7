"""NIMA, Neural Image Assessment (Talebi & Milanfar, IEEE TIP 2018): a network that
predicts the distribution of people's 1–10 scores for a photo. photoqc ships idealo's two
MobileNet v1 NIMA models (technical, aesthetic) and runs them on ONNX Runtime.

The modules, each with one job:

- :mod:`~photoqc.models.nima.spec`: what a NIMA network is without one (score buckets,
  MobileNet v1's layout, each backbone's preprocessing, distributions from ratings);
- :mod:`~photoqc.models.nima.weights`: the weights file (safetensors + JSON), read and
  written, never unpickled;
- :mod:`~photoqc.models.nima.onnx_graph`: MobileNet v1 written as an ONNX graph from the
  weights' arrays (the scoring path, no torch);
- :mod:`~photoqc.models.nima.network`: the torch network (training, other backbones);
- :mod:`~photoqc.models.nima.importer`: idealo's TFLite and Keras files read into it;
- :mod:`~photoqc.models.nima.runners`: a weights file as a
  :class:`~photoqc.models.networks.Network` (:func:`build`, :func:`describes`: the
  network registry calls these);
- :mod:`~photoqc.models.nima.predictor`: the recipe's NIMA models together
  (:class:`NimaPredictor`), batched on a thread of their own.

The public names are read here; those that need torch (the network, the importer) import
it when first used, so ``import photoqc.models.nima`` never does.
"""

from __future__ import annotations

import importlib

from photoqc.hashing import sha256_of
from photoqc.models.nima.predictor import THREAD_NAME, NimaOutputs, NimaPredictor
from photoqc.models.nima.runners import (
    OUTPUTS,
    OnnxNima,
    TorchNima,
    build,
    check_usable,
    describes,
)
from photoqc.models.nima.spec import (
    BACKBONE_NAMES,
    NUM_BUCKETS,
    distribution_mean_std,
    mos_to_distribution,
    votes_to_distribution,
)
from photoqc.models.nima.weights import (
    NimaWeightsError,
    candidate_files,
    is_nima_file,
    load_nima,
    load_nima_state,
    nima_name,
    packaged_nima_files,
    read_nima_meta,
    save_nima,
)

_TORCH_NAMES = {
    "NIMA": "network",
    "BACKBONES": "network",
    "backbone_spec": "network",
    "emd": "network",
    "for_inference": "network",
    "random_crops": "network",
    "import_weights": "importer",
}
"""Public names whose module imports torch, loaded when first asked for."""

__all__ = [
    "BACKBONE_NAMES",
    "NUM_BUCKETS",
    "OUTPUTS",
    "THREAD_NAME",
    "NimaOutputs",
    "NimaPredictor",
    "NimaWeightsError",
    "OnnxNima",
    "TorchNima",
    "build",
    "candidate_files",
    "check_usable",
    "describes",
    "distribution_mean_std",
    "is_nima_file",
    "load_nima",
    "load_nima_state",
    "mos_to_distribution",
    "nima_name",
    "packaged_nima_files",
    "read_nima_meta",
    "save_nima",
    "sha256_of",
    "votes_to_distribution",
    *_TORCH_NAMES,
]


def __getattr__(name: str):
    module = _TORCH_NAMES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)

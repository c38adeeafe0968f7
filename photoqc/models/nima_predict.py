"""Run NIMA at scoring time: find the configured weight files, predict in batches.

Weights come from ``--nima-weights PATH`` (repeatable: one file per model, e.g. technical
and aesthetic) or, when none are given, every ``nima_*.safetensors`` in
``$PHOTOQC_WEIGHTS_DIR``. With none configured NIMA is off: its features are NaN and one
warning says so. Random weights are never used.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from photoqc.features.nima import DEFAULT_NIMA_MODELS
from photoqc.models.nima import distribution_mean_std
from photoqc.models.nima_weights import load_nima, model_name_from_path, read_nima_meta
from photoqc.weights import weights_dir_from_env

logger = logging.getLogger(__name__)

NIMA_OFF_WARNING = (
    "NIMA is off: no NIMA weights configured, so the nima_* features are empty. Import "
    "idealo's weights with `photoqc nima import FILE --out nima_technical.safetensors`, then "
    "pass --nima-weights FILE (once per model) or put the files in $PHOTOQC_WEIGHTS_DIR."
)


def resolve_nima_weights(
    paths: Sequence[str | os.PathLike[str]] = (),
    weights_dir: str | os.PathLike[str] | None = None,
) -> tuple[str, ...]:
    """The NIMA weight files to use: ``paths`` if any, else ``nima_*.safetensors`` in the
    weights folder (``weights_dir`` or ``$PHOTOQC_WEIGHTS_DIR``); may be empty."""
    if paths:
        return tuple(str(Path(p)) for p in paths)
    folder = weights_dir_from_env(weights_dir)
    if folder is None or not folder.is_dir():
        return ()
    return tuple(str(p) for p in sorted(folder.glob("nima_*.safetensors")))


def nima_model_names(weight_files: Sequence[str | os.PathLike[str]]) -> tuple[str, ...]:
    """Feature-table model names: the defaults, then those of ``weight_files`` (no repeats)."""
    names = [str(read_nima_meta(p).get("name") or model_name_from_path(p)) for p in weight_files]
    return tuple(dict.fromkeys([*DEFAULT_NIMA_MODELS, *names]))


class NimaPredictor:
    """One or more NIMA models, each built once, predicting batches of images.

    Parameters
    ----------
    weight_files : sequence of paths
        One file per model; each model's name comes from its description
        (``nima_technical.safetensors`` -> ``technical``).
    """

    def __init__(self, weight_files: Sequence[str | os.PathLike[str]]):
        self.models: dict[str, torch.nn.Module] = {}
        self.sources: dict[str, str] = {}
        for path in weight_files:
            model, meta = load_nima(path)
            name = str(meta["name"])
            if name in self.models:
                first = self.sources[name]
                raise ValueError(f"two NIMA weight files are named {name!r}: {first} and {path}")
            self.models[name] = model
            self.sources[name] = Path(path).name
            logger.info("NIMA %s ready (%s, %s)", name, meta.get("backbone"), path)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.models)

    def provenance(self) -> str:
        """``technical=nima_technical.safetensors;aesthetic=...``, or ``off``."""
        return ";".join(f"{n}={s}" for n, s in self.sources.items()) or "off"

    def predict(self, images: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
        """Score distributions (N, 10) per model name for a batch of RGB uint8 images."""
        out: dict[str, np.ndarray] = {}
        with torch.inference_mode():
            for name, model in self.models.items():
                out[name] = model(model.preprocessing(images)).numpy()
        return out

    def scores(self, images: Sequence[np.ndarray]) -> list[dict[str, tuple[float, float]]]:
        """Per image, ``{model name: (mean, std)}`` in score units 1–10."""
        per_image: list[dict[str, tuple[float, float]]] = [{} for _ in images]
        if not images:
            return per_image
        for name, probs in self.predict(images).items():
            means, stds = distribution_mean_std(probs)
            for i, (m, s) in enumerate(zip(means, stds, strict=True)):
                per_image[i][name] = (float(m), float(s))
        return per_image

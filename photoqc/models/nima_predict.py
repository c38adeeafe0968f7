"""Run NIMA at scoring time: the configured models, built once, predicting in batches.

Which weight files to use is the extraction recipe's business
(:class:`photoqc.assess.recipe.ExtractConfig`); random weights are never used.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from photoqc.models.nima import distribution_mean_std, for_inference
from photoqc.models.nima_weights import load_nima

logger = logging.getLogger(__name__)


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
            self.models[name] = for_inference(model)
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
                batch = model.preprocessing(images).contiguous(memory_format=torch.channels_last)
                out[name] = model(batch).numpy()
        return out

    def scores(self, images: Sequence[np.ndarray]) -> list[dict[str, tuple[float, float]]]:
        """Per image, ``{model name: (mean, std)}`` in score units 1–10."""
        return self.outputs(images)[0]

    def outputs(
        self, images: Sequence[np.ndarray]
    ) -> tuple[list[dict[str, tuple[float, float]]], list[dict[str, np.ndarray]]]:
        """From one forward pass, per image: ``{model name: (mean, std)}`` in score units
        1–10, and ``{model name: pooled embedding}`` (float32, the backbone's width, e.g.
        1,024 for MobileNet v1) that NIMA's head reads."""
        scores: list[dict[str, tuple[float, float]]] = [{} for _ in images]
        embeddings: list[dict[str, np.ndarray]] = [{} for _ in images]
        if not images:
            return scores, embeddings
        with torch.inference_mode():
            for name, model in self.models.items():
                batch = model.preprocessing(images).contiguous(memory_format=torch.channels_last)
                pooled = model.backbone(batch)
                probs = torch.softmax(model.head(pooled), dim=-1).numpy()
                means, stds = distribution_mean_std(probs)
                for i, vector in enumerate(pooled.numpy().astype(np.float32)):
                    scores[i][name] = (float(means[i]), float(stds[i]))
                    embeddings[i][name] = vector
        return scores, embeddings

"""Run NIMA at scoring time: the configured models, built once, predicting in batches.

Which weight files to use is the extraction recipe's business
(:class:`photoqc.assess.recipe.ExtractConfig`); random weights are never used. Each model
runs through ONNX Runtime where it can (MobileNet v1, :mod:`photoqc.models.nima_onnx`:
faster, and no torch import) and through torch otherwise; ``runtime`` chooses.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from photoqc.choices import choose
from photoqc.models.nima_spec import Preprocessing, distribution_mean_std
from photoqc.models.nima_weights import read_nima_meta

logger = logging.getLogger(__name__)

RUNTIMES = ("auto", "onnx", "torch")
"""``auto``: ONNX Runtime for MobileNet v1 when installed, torch for the rest."""

Forward = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]
"""A float32 (N, 3, S, S) batch -> (pooled embedding (N, D), score distribution (N, 10))."""


class TorchNima:
    """A NIMA network run by torch (any backbone), called like
    :class:`photoqc.models.nima_onnx.OnnxNima`."""

    def __init__(self, path: str | os.PathLike[str]):
        from photoqc.models.nima import for_inference
        from photoqc.models.nima_weights import load_nima

        model, self.meta = load_nima(path)
        self.model = for_inference(model)
        self.preprocessing = model.preprocessing

    def __call__(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        import torch

        with torch.inference_mode():
            x = torch.from_numpy(batch).contiguous(memory_format=torch.channels_last)
            pooled = self.model.backbone(x)
            probs = torch.softmax(self.model.head(pooled), dim=-1)
        return pooled.numpy(), probs.numpy()


def build_runner(path: str | os.PathLike[str], runtime: str = "auto") -> tuple[Forward, str]:
    """The network of a weights file, ready to call, and the runtime it runs on
    (``onnx`` or ``torch``)."""
    runtime = choose({r: r for r in RUNTIMES}, runtime, "NIMA runtime")
    if runtime == "auto":
        from photoqc.models.nima_onnx import BACKBONE, onnxruntime_available

        backbone = read_nima_meta(path).get("backbone")
        runtime = "onnx" if backbone == BACKBONE and onnxruntime_available() else "torch"
    if runtime == "onnx":
        from photoqc.models.nima_onnx import OnnxNima

        return OnnxNima(path), "onnx"
    return TorchNima(path), "torch"


class NimaPredictor:
    """One or more NIMA models, each built once, predicting batches of images.

    Parameters
    ----------
    weight_files : sequence of paths
        One file per model; each model's name comes from its description
        (``nima_technical.safetensors`` -> ``technical``).
    runtime : {"auto", "onnx", "torch"}
        Where the networks run (see :data:`RUNTIMES`); the outputs agree within 1e-4.
    """

    def __init__(
        self, weight_files: Sequence[str | os.PathLike[str]], runtime: str = "auto"
    ) -> None:
        self.models: dict[str, Forward] = {}
        self.preprocessing: dict[str, Preprocessing] = {}
        self.sources: dict[str, str] = {}
        self.runtimes: dict[str, str] = {}
        for path in weight_files:
            runner, used = build_runner(path, runtime)
            name = str(runner.meta["name"])
            if name in self.models:
                first = self.sources[name]
                raise ValueError(f"two NIMA weight files are named {name!r}: {first} and {path}")
            self.models[name] = runner
            self.preprocessing[name] = runner.preprocessing
            self.sources[name] = Path(path).name
            self.runtimes[name] = used
            backbone = runner.meta.get("backbone")
            logger.info("NIMA %s ready (%s on %s, %s)", name, backbone, used, path)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.models)

    def provenance(self) -> str:
        """``technical=nima_technical.safetensors;aesthetic=...``, or ``off``."""
        return ";".join(f"{n}={s}" for n, s in self.sources.items()) or "off"

    def _forward(self, images: Sequence[np.ndarray]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """(embeddings, distributions) per model; models fed alike share one input batch."""
        batches: dict[Preprocessing, np.ndarray] = {}
        out = {}
        for name, model in self.models.items():
            prep = self.preprocessing[name]
            if prep not in batches:
                batches[prep] = prep.batch(images)
            out[name] = model(batches[prep])
        return out

    def predict(self, images: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
        """Score distributions (N, 10) per model name for a batch of RGB uint8 images."""
        return {name: probs for name, (_, probs) in self._forward(images).items()}

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
        for name, (pooled, probs) in self._forward(images).items():
            means, stds = distribution_mean_std(probs)
            for i, vector in enumerate(np.asarray(pooled, dtype=np.float32)):
                scores[i][name] = (float(means[i]), float(stds[i]))
                embeddings[i][name] = vector
        return scores, embeddings

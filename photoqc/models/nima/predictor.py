"""Run NIMA at scoring time: the configured models, built once, predicting in batches.

Which weight files to use is the extraction recipe's business
(:class:`photoqc.assess.recipe.ExtractConfig`); random weights are never used. Each model
runs through ONNX Runtime where it can (MobileNet v1: faster, and no torch import) and
through torch otherwise (:func:`photoqc.models.nima.runners.build`); ``runtime`` chooses.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from photoqc.models.networks import Batcher, Network, Preprocessing
from photoqc.models.nima.runners import build
from photoqc.models.nima.spec import distribution_mean_std

THREAD_NAME = "photoqc-nima"


MAX_PASS = 8
"""Images in one forward pass at most, whatever a caller sends: ONNX Runtime's arena keeps
the largest pass's buffers for the session's life (a pass of 63 with the multi-level
stats held 3.9 GB), and on 2 cores a pass of 8 costs no more per photo than one of 32
(9.6 against 10.0 ms for both networks, 2026-12-04)."""


@dataclass
class NimaOutputs:
    """One image's NIMA outputs, per model name: the score's mean and spread (score units
    1–10), the pooled embedding (float32, the backbone's width) the head reads and, when
    asked for, the multi-level stats (float32, 11,904 for MobileNet v1)."""

    scores: dict[str, tuple[float, float]] = field(default_factory=dict)
    embeddings: dict[str, np.ndarray] = field(default_factory=dict)
    stats: dict[str, np.ndarray] = field(default_factory=dict)


class NimaPredictor:
    """One or more NIMA models, each built once, predicting batches of images.

    Parameters
    ----------
    weight_files : sequence of paths
        One file per model; each model's name comes from its description
        (``nima_technical.safetensors`` -> ``technical``).
    runtime : {"auto", "onnx", "torch"}
        Where the networks run (see :data:`photoqc.models.networks.RUNTIMES`); the
        outputs agree within 1e-4.
    stats : bool
        Also give each network's multi-level stats (from the same pass; they cost almost
        nothing beside it).

    :meth:`close` (or leaving a ``with`` block) releases every network's session.
    """

    def __init__(
        self,
        weight_files: Sequence[str | os.PathLike[str]],
        runtime: str = "auto",
        *,
        stats: bool = False,
    ) -> None:
        self.stats = stats
        self.models: dict[str, Network] = {}
        self.sources: dict[str, str] = {}
        try:
            for path in weight_files:
                network = build(path, runtime)
                name = network.name
                if name in self.models:
                    network.close()
                    first = self.sources[name]
                    raise ValueError(
                        f"two NIMA weight files are named {name!r}: {first} and {path}"
                    )
                self.models[name] = network
                self.sources[name] = Path(path).name
        except BaseException:
            self.close()
            raise

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.models)

    @property
    def preprocessing(self) -> dict[str, Preprocessing]:
        return {name: model.preprocessing for name, model in self.models.items()}

    @property
    def runtimes(self) -> dict[str, str]:
        return {name: model.runtime for name, model in self.models.items()}

    def provenance(self) -> str:
        """``technical=nima_technical.safetensors;aesthetic=...``, or ``off``."""
        return ";".join(f"{n}={s}" for n, s in self.sources.items()) or "off"

    def _forward(self, images: Sequence[np.ndarray]) -> dict[str, dict[str, np.ndarray]]:
        """Each model's outputs, :data:`MAX_PASS` images a pass; models fed alike share
        one input batch."""
        wanted = ("embedding", "probs", "stats") if self.stats else ("embedding", "probs")
        parts: dict[str, list[dict[str, np.ndarray]]] = {name: [] for name in self.models}
        for start in range(0, len(images), MAX_PASS):
            chunk = images[start : start + MAX_PASS]
            batches: dict[Preprocessing, np.ndarray] = {}
            for name, model in self.models.items():
                prep = model.preprocessing
                if prep not in batches:
                    batches[prep] = prep.batch(chunk)
                parts[name].append(model.forward(batches[prep], wanted))
        return {
            name: {key: np.concatenate([p[key] for p in chunks]) for key in chunks[0]}
            for name, chunks in parts.items()
        }

    def predict(self, images: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
        """Score distributions (N, 10) per model name for a batch of RGB uint8 images."""
        return {name: result["probs"] for name, result in self._forward(images).items()}

    def scores(self, images: Sequence[np.ndarray]) -> list[dict[str, tuple[float, float]]]:
        """Per image, ``{model name: (mean, std)}`` in score units 1–10."""
        return [o.scores for o in self.outputs(images)]

    def outputs(self, images: Sequence[np.ndarray]) -> list[NimaOutputs]:
        """From one forward pass, each image's :class:`NimaOutputs`."""
        out = [NimaOutputs() for _ in images]
        if not images:
            return out
        for name, result in self._forward(images).items():
            means, stds = distribution_mean_std(result["probs"])
            for i, vector in enumerate(np.asarray(result["embedding"], dtype=np.float32)):
                out[i].scores[name] = (float(means[i]), float(stds[i]))
                out[i].embeddings[name] = vector
            if "stats" in result:
                for i, stats in enumerate(np.asarray(result["stats"], dtype=np.float32)):
                    out[i].stats[name] = stats
        return out

    def batched(self, window_s: float = 0.0) -> Batcher[NimaOutputs]:
        """These networks on a thread of their own (the batcher owns them from now on)."""
        return Batcher(self, window_s=window_s, name=THREAD_NAME)

    def close(self) -> None:
        """Release every network (idempotent)."""
        for model in self.models.values():
            model.close()

    def __enter__(self) -> NimaPredictor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

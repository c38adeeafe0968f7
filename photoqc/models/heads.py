"""Learned heads on the networks' multi-level stats: how people like a photo, and what is
visibly wrong with it.

Both NIMA MobileNets pool each of their 13 pointwise blocks into per-channel means and
spreads (:data:`photoqc.models.nima.onnx_graph.STATS_WIDTH` numbers a network, from the
pass that gives the scores: Hosu, Goldlücke & Saupe's multi-level spatially pooled
features, CVPR 2019). Early blocks see noise, blocking and blur that the last, pooled
layer of a thumbnail has averaged away. Two ridge regressions read them out:

- the **impression** head: the model's training target (people's MOS) from the stats of
  real photos only;
- the **defect** head: for each class of :data:`photoqc.synthetic.DEFECT_CLASSES` (blur,
  noise, compression, colour, exposure, spatial), how much of the original a copy lost
  (``1 - fidelity``, :func:`photoqc.metrics.fidelity`) when its defect is of that class,
  0 otherwise; fitted on synthetic copies and their clean originals (0 everywhere). Its
  outputs add up to the photo's predicted loss and say which kind of damage it is.

The stats are standardised and reduced once to a basis of their leading principal
directions, over a sample of the rows a model learns from; each ridge is then solved in
the primal in that basis (:class:`photoqc.models.ridge.PrimalRidge`: time and memory
linear in the number of rows), and the penalty of each head (each defect class its own)
is chosen by exact leave-one-out error over :data:`ALPHAS`. The model
folder keeps the heads as arrays (``heads.safetensors``, its sha256 in ``photoqc.json``):
loading them runs no code.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from photoqc.errors import PhotoqcError
from photoqc.features.nima import DEFECT_FEATURES, IMPRESSION_FEATURE, LEARNED_FEATURES
from photoqc.models.ridge import ALPHAS, RidgeMap

__all__ = [
    "ALPHAS",
    "HEADS_FILE",
    "LEARNED_FEATURES",
    "HeadsError",
    "NetworkHeads",
    "RidgeMap",
    "stats_matrix",
]

HEADS_FILE = "heads.safetensors"
FORMAT = "photoqc-network-heads"
MIN_ROWS = 20
"""Fewer rows with stats than this: no head (too few to learn from, even shrunk)."""
MAX_WIDTH = 1 << 17


class HeadsError(PhotoqcError):
    """A heads file that is not one photoqc wrote (checked before use)."""


def stats_matrix(
    per_image: Sequence[Mapping[str, np.ndarray] | None], models: Sequence[str], width: int
) -> np.ndarray:
    """The stats of several images, each model's joined in ``models`` order, as (n, width)
    float32; NaN rows where an image has none (NIMA off or failed, a model missing)."""
    out = np.full((len(per_image), width), np.nan, np.float32)
    for i, stats in enumerate(per_image):
        if stats and all(m in stats for m in models):
            row = np.concatenate([np.asarray(stats[m], np.float32).ravel() for m in models])
            if row.shape == (width,):
                out[i] = row
    return out


@dataclass(frozen=True)
class NetworkHeads:
    """A model's impression and defect heads, and which networks' stats they read.

    Attributes
    ----------
    models : tuple of str
        NIMA model names, in the order their stats are joined.
    width : int
        Stats per photo, all networks together.
    impression : RidgeMap or None
        One output: the model's training target.
    defect : RidgeMap or None
        One output per :data:`classes`: the share of the original that damage of that
        class took.
    classes : tuple of str
    """

    models: tuple[str, ...]
    width: int
    impression: RidgeMap | None
    defect: RidgeMap | None
    classes: tuple[str, ...] = tuple(DEFECT_FEATURES)

    @property
    def feature_names(self) -> tuple[str, ...]:
        """The features the heads add, in :data:`LEARNED_FEATURES` order."""
        names = []
        if self.impression is not None:
            names.append(IMPRESSION_FEATURE)
        if self.defect is not None:
            names += [DEFECT_FEATURES[c] for c in self.classes]
        return tuple(n for n in LEARNED_FEATURES if n in names)

    def features(self, stats: np.ndarray) -> dict[str, np.ndarray]:
        """Each learned feature (n,) of (n, width) stats; NaN where a photo has none.
        Defect losses are clipped to 0–1 (a ridge may overshoot either way)."""
        out: dict[str, np.ndarray] = {}
        if self.impression is not None:
            out[IMPRESSION_FEATURE] = self.impression.predict(stats)[:, 0].astype(np.float64)
        if self.defect is not None:
            losses = np.clip(self.defect.predict(stats), 0.0, 1.0).astype(np.float64)
            for j, name in enumerate(self.classes):
                out[DEFECT_FEATURES[name]] = losses[:, j]
        return out

    def matrix(self, per_image: Sequence[Mapping[str, np.ndarray] | None]) -> np.ndarray:
        """The stats of several images in :attr:`models` order (NaN rows where missing)."""
        return stats_matrix(per_image, self.models, self.width)

    # --- as data ------------------------------------------------------------------------

    def to_bytes(self) -> bytes:
        from safetensors.numpy import save

        tensors: dict[str, np.ndarray] = {}
        for name in ("impression", "defect"):
            head = getattr(self, name)
            if head is None:
                continue
            tensors[f"{name}.mean"] = head.mean.astype(np.float32)
            tensors[f"{name}.scale"] = head.scale.astype(np.float32)
            tensors[f"{name}.coef"] = head.coef.astype(np.float32)
            tensors[f"{name}.intercept"] = head.intercept.astype(np.float64)
            tensors[f"{name}.alpha"] = head.alpha.astype(np.float64)
        meta = {"format": FORMAT, "models": list(self.models), "width": self.width,
                "classes": list(self.classes)}  # fmt: skip
        return save(tensors, metadata={"photoqc": json.dumps(meta)})

    @classmethod
    def from_bytes(cls, data: bytes) -> NetworkHeads:
        """Heads from their file, every array checked (shapes, finite values).

        Raises
        ------
        HeadsError
        """
        from safetensors import SafetensorError
        from safetensors.numpy import load

        try:
            tensors = load(data)
            # The format: an 8-byte little-endian header length, then the JSON header.
            size = int.from_bytes(data[:8], "little")
            header = json.loads(data[8 : 8 + size])
            meta = json.loads(header.get("__metadata__", {}).get("photoqc", ""))
        except (SafetensorError, ValueError, RecursionError, AttributeError, OSError) as exc:
            raise HeadsError(f"not a heads file photoqc wrote ({str(exc)[:200]})") from None
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise HeadsError("not photoqc's network heads")
        models, width, classes = meta.get("models"), meta.get("width"), meta.get("classes")
        if not (isinstance(models, list) and models and all(isinstance(m, str) for m in models)):
            raise HeadsError("models must be a list of NIMA model names")
        if not (isinstance(width, int) and 0 < width <= MAX_WIDTH):
            raise HeadsError("width must be a positive whole number")
        if classes != list(DEFECT_FEATURES):
            raise HeadsError(f"defect classes must be {', '.join(DEFECT_FEATURES)}")
        heads = {}
        for name, outputs in (("impression", 1), ("defect", len(classes))):
            parts = {k.split(".", 1)[1]: v for k, v in tensors.items() if k.startswith(f"{name}.")}
            if not parts:
                heads[name] = None
                continue
            expected = {"mean": (width,), "scale": (width,), "coef": (width, outputs),
                        "intercept": (outputs,), "alpha": (outputs,)}  # fmt: skip
            for key, shape in expected.items():
                array = parts.get(key)
                if array is None or array.shape != shape:
                    raise HeadsError(f"{name}.{key} missing or not of shape {shape}")
                if not np.isfinite(array).all():
                    raise HeadsError(f"{name}.{key} holds a value that is not a finite number")
            if (parts["scale"] <= 0).any():
                raise HeadsError(f"{name}.scale must be > 0")
            heads[name] = RidgeMap(*(parts[k] for k in expected))
        if heads["impression"] is None and heads["defect"] is None:
            raise HeadsError("the file holds no head")
        return cls(tuple(models), int(width), heads["impression"], heads["defect"], tuple(classes))


def loss_targets(
    classes: Sequence[str], copy_classes: Sequence[str | None], losses: np.ndarray
) -> np.ndarray:
    """The defect head's targets (n, len(classes)): each copy's loss in its class's column,
    0 elsewhere (and 0 everywhere for an original, class None)."""
    Y = np.zeros((len(copy_classes), len(classes)))
    where = {c: j for j, c in enumerate(classes)}
    for i, (c, loss) in enumerate(zip(copy_classes, losses, strict=True)):
        if c is not None and math.isfinite(loss):
            Y[i, where[c]] = max(0.0, float(loss))
    return Y

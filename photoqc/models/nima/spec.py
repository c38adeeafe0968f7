"""What a NIMA network is, without the network: score buckets, MobileNet v1's layout,
reading a score distribution and making one from ratings. Nothing here imports torch, so
scoring through ONNX Runtime (:mod:`photoqc.models.nima.onnx_graph`) starts without it
(torch takes about a second to import).
"""

from __future__ import annotations

import math

import numpy as np

from photoqc.models.networks import Preprocessing, nearest_square

__all__ = [
    "BACKBONE_NAMES",
    "DEFAULT_RATING_STD",
    "KERAS_BN_EPS",
    "MOBILENET_V1_BLOCKS",
    "NUM_BUCKETS",
    "Preprocessing",
    "distribution_mean_std",
    "mos_to_distribution",
    "nearest_square",
    "same_padding",
    "votes_to_distribution",
]

NUM_BUCKETS = 10

KERAS_BN_EPS = 1e-3

MOBILENET_V1_BLOCKS = (
    (64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
    (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1),
)  # fmt: skip
"""(pointwise filters, depthwise stride) of MobileNet v1's 13 separable blocks."""

BACKBONE_NAMES = ("mobilenet_v1", "mobilenet_v2")
"""The backbones :data:`photoqc.models.nima.network.BACKBONES` defines (a test keeps them
equal); MobileNet v1 also runs on ONNX Runtime."""

PREPROCESSING = {
    "mobilenet_v1": Preprocessing(224, "nearest", "tf"),
    "mobilenet_v2": Preprocessing(224, "bilinear", "imagenet"),
}
"""How each backbone is fed: MobileNet v1 as idealo (the whole image resized to 224x224
by nearest-neighbour sampling, Keras ``load_img``'s default, then ``x / 127.5 - 1``);
MobileNet v2 as torchvision (bilinear, ImageNet mean and std)."""


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow "same" padding (before, after) for one dimension."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def distribution_mean_std(probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation (score units, 1–10) of score distributions (N, 10)."""
    p = np.asarray(probs, dtype=np.float64).reshape(-1, NUM_BUCKETS)
    scores = np.arange(1, NUM_BUCKETS + 1, dtype=np.float64)
    mean = p @ scores
    var = p @ (scores**2) - mean**2
    return mean, np.sqrt(np.clip(var, 0.0, None))


# --- targets: score distributions from ratings ----------------------------------------

DEFAULT_RATING_STD = 1.5
"""Spread (score units, 1–10 scale) assumed when ratings give a mean but no std; about
the median per-image spread of AVA's votes."""


def votes_to_distribution(votes: np.ndarray) -> np.ndarray:
    """Normalise vote counts for scores 1..10 (shape (N, 10), >= 0) to distributions."""
    votes = np.asarray(votes, dtype=np.float64).reshape(-1, NUM_BUCKETS)
    totals = votes.sum(axis=1, keepdims=True)
    if (votes < 0).any() or (totals <= 0).any():
        raise ValueError("vote counts must be >= 0 with at least one vote per image")
    return votes / totals


def mos_to_distribution(
    mos: np.ndarray,
    std: np.ndarray | None = None,
    mos_range: tuple[float, float] = (1.0, 10.0),
    default_std: float = DEFAULT_RATING_STD,
) -> np.ndarray:
    """Infer a 1..10 score distribution from a mean opinion score (and its spread).

    The MOS is mapped linearly from ``mos_range`` onto 1..10 (and ``std`` scaled by the
    same factor; ``default_std`` on the 1..10 scale where no std is known). The
    distribution is that normal density integrated over each bucket ``[k - 0.5, k + 0.5]``,
    with the tails below 1.5 and above 9.5 folded into buckets 1 and 10, so it sums to 1.
    Its mean equals the mapped MOS except near the ends, where folding pulls it inwards.

    Returns
    -------
    ndarray, shape (N, 10)
    """
    from scipy.special import ndtr

    lo, hi = mos_range
    if not hi > lo:
        raise ValueError(f"mos_range must be (low, high) with high > low, got {mos_range}")
    factor = (NUM_BUCKETS - 1) / (hi - lo)
    mean = 1.0 + (np.asarray(mos, dtype=np.float64).reshape(-1) - lo) * factor
    if std is None:
        sigma = np.full_like(mean, default_std)
    else:
        sigma = np.asarray(std, dtype=np.float64).reshape(-1) * factor
        sigma = np.where(np.isfinite(sigma) & (sigma > 0), sigma, default_std)
    sigma = np.maximum(sigma, 0.05)  # a zero spread would be a step function; keep it smooth
    edges = np.arange(1.5, NUM_BUCKETS, 1.0)  # 1.5 .. 9.5
    cdf = ndtr((edges[None, :] - mean[:, None]) / sigma[:, None])
    cdf = np.concatenate([np.zeros((len(mean), 1)), cdf, np.ones((len(mean), 1))], axis=1)
    return np.diff(cdf, axis=1)

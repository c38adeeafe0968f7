"""How a network wants its input: the photo resized to a square and its values scaled."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

if TYPE_CHECKING:
    import torch

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
"""torchvision's ImageNet channel statistics (0–1 units)."""


@dataclass(frozen=True)
class Preprocessing:
    """How a backbone wants its input: size, resampling and value scaling.

    Attributes
    ----------
    size : int
        Side of the square input, pixels (the whole image is resized, not cropped).
    resample : {"nearest", "bilinear"}
        Resampling used to resize.
    scaling : {"tf", "imagenet"}
        ``"tf"``: ``x / 127.5 - 1`` (Keras MobileNet); ``"imagenet"``: ``(x / 255 - mean) / std``
        with torchvision's ImageNet statistics.
    """

    size: int = 224
    resample: str = "nearest"
    scaling: str = "tf"

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    def resize(self, rgb: np.ndarray, size: int | None = None) -> np.ndarray:
        """Resize an (H, W, 3) uint8 image to a square of ``size`` (default ``self.size``)."""
        side = size or self.size
        if self.resample == "nearest":
            return nearest_square(rgb, side)
        resample = {"nearest": Image.Resampling.NEAREST, "bilinear": Image.Resampling.BILINEAR}[
            self.resample
        ]
        return np.asarray(Image.fromarray(rgb).resize((side, side), resample))

    def to_array(self, square: np.ndarray) -> np.ndarray:
        """Scale (N, H, W, 3) or (H, W, 3) uint8 pixels to the network's float32 NCHW input
        (what :meth:`to_tensor` gives, as numpy)."""
        x = np.asarray(square, dtype=np.float32)
        if x.ndim == 3:
            x = x[None]
        x = x.transpose(0, 3, 1, 2)
        if self.scaling == "tf":
            return np.ascontiguousarray(x / np.float32(127.5) - np.float32(1.0))
        mean = np.array(IMAGENET_MEAN, np.float32).reshape(1, 3, 1, 1)
        std = np.array(IMAGENET_STD, np.float32).reshape(1, 3, 1, 1)
        return np.ascontiguousarray((x / np.float32(255.0) - mean) / std)

    def batch(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """A batch of (H, W, 3) uint8 images -> (N, 3, size, size) float32 array."""
        return self.to_array(np.stack([self.resize(im) for im in images]))

    def to_tensor(self, square: np.ndarray | torch.Tensor) -> torch.Tensor:
        """Scale (N, H, W, 3) or (H, W, 3) uint8 pixels to the network's float NCHW input."""
        import torch  # here, not above: scoring with ONNX Runtime never imports torch

        x = torch.as_tensor(np.asarray(square)).float()
        if x.ndim == 3:
            x = x.unsqueeze(0)
        x = x.permute(0, 3, 1, 2)
        if self.scaling == "tf":
            return x / 127.5 - 1.0
        mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
        std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
        return (x / 255.0 - mean) / std

    def __call__(self, images: Sequence[np.ndarray]) -> torch.Tensor:
        """A batch of (H, W, 3) uint8 images -> (N, 3, size, size) float tensor."""
        return self.to_tensor(np.stack([self.resize(im) for im in images]))


def nearest_square(rgb: np.ndarray, side: int) -> np.ndarray:
    """``rgb`` resized to ``side`` x ``side`` by nearest-neighbour sampling: the pixels
    Pillow's ``resize(..., NEAREST)`` picks (the source pixel under each output pixel's
    centre; equal to the value, tests/models/test_nima_onnx.py), gathered straight from the
    array instead of copying a 12 MP photo into Pillow first (about 10 ms)."""
    h, w = rgb.shape[:2]
    rows = ((np.arange(side) + 0.5) * (h / side)).astype(np.intp)
    cols = ((np.arange(side) + 0.5) * (w / side)).astype(np.intp)
    return rgb[rows[:, None], cols[None, :]]

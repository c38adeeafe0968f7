"""Mask R-CNN segmentation (torchvision, ResNet-50 FPN, COCO weights).

The network is built once per process. Each photo is shrunk so its short side is
``analysis_size`` pixels (512 by default) before detection, which keeps a CPU run near a
second; the chosen object's soft mask is scaled back to full size and thresholded at 0.5.

Main-object rule (:func:`choose_main_object`): among detections with confidence at least
``min_score``, pick the one with the largest

    confidence x sqrt(area fraction) x (1 - 0.5 x distance from centre)

where the distance runs from 0 (box centre at the image centre) to 1 (at a corner).
Confidence counts fully; a larger object wins over a smaller one, but with a square root
so a 4x larger object needs only half the confidence; and an object in a corner keeps half
its weight, so a large off-centre item still beats a small centred one.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from torchvision.models import resnet50
from torchvision.models.detection import (
    MaskRCNN,
    MaskRCNN_ResNet50_FPN_V2_Weights,
    MaskRCNN_ResNet50_FPN_Weights,
    maskrcnn_resnet50_fpn_v2,
)
from torchvision.models.detection._utils import overwrite_eps
from torchvision.models.detection.backbone_utils import _resnet_fpn_extractor
from torchvision.ops.misc import FrozenBatchNorm2d

from photoqc.choices import choose
from photoqc.segmentation.base import SegmentationResult, upsample_mask
from photoqc.segmentation.registry import MASKRCNN
from photoqc.weights import resolve_weights_file

logger = logging.getLogger(__name__)

DEFAULT_VARIANT = str(MASKRCNN.defaults["variant"])

ANALYSIS_SHORT_SIDE = int(MASKRCNN.defaults["analysis_size"])
"""Short side, in pixels, at which Mask R-CNN looks at a photo."""

MIN_SCORE = float(MASKRCNN.defaults["min_score"])
"""Detections below this confidence (0–1) are ignored."""

MAX_DETECTIONS = 20
"""Detections kept per image before the main-object rule (fewer masks to compute)."""

MASK_THRESHOLD = 0.5
CENTRE_WEIGHT = 0.5


def _maskrcnn_v1_untrained(**kwargs) -> torch.nn.Module:
    """Mask R-CNN v1 laid out as torchvision builds it *for its COCO weights*.

    ``maskrcnn_resnet50_fpn(weights=None, weights_backbone=None)`` switches the backbone to
    trainable BatchNorm2d; the COCO weights belong in FrozenBatchNorm2d with three trainable
    stages, so build that layout directly (and fetch nothing).
    """
    backbone = resnet50(weights=None, norm_layer=FrozenBatchNorm2d)
    backbone = _resnet_fpn_extractor(backbone, 3)
    return MaskRCNN(backbone, **kwargs)


def _maskrcnn_v2_untrained(**kwargs) -> torch.nn.Module:
    # v2 uses ordinary BatchNorm2d with or without weights; weights_backbone=None stops the
    # ImageNet download.
    return maskrcnn_resnet50_fpn_v2(weights=None, weights_backbone=None, **kwargs)


@dataclass(frozen=True)
class MaskRCNNVariant:
    """A torchvision Mask R-CNN layout with its weights enum entry."""

    builder: object
    weights: object
    eps_fix: bool  # v1's frozen batch norms were trained with eps 0

    @property
    def filename(self) -> str:
        return self.weights.url.rsplit("/", 1)[-1]


VARIANTS = {
    "v1": MaskRCNNVariant(_maskrcnn_v1_untrained, MaskRCNN_ResNet50_FPN_Weights.COCO_V1, True),
    "v2": MaskRCNNVariant(_maskrcnn_v2_untrained, MaskRCNN_ResNet50_FPN_V2_Weights.COCO_V1, False),
}
"""``v1`` (default: faster on CPU) and ``v2`` (more accurate, slower)."""


def resolve_maskrcnn_weights(
    variant: str = DEFAULT_VARIANT,
    weights_dir: str | os.PathLike[str] | None = None,
    allow_download: bool = True,
) -> Path:
    """Local path of the COCO weights for ``variant`` (see :mod:`photoqc.weights` for the order)."""
    spec = _variant(variant)
    return resolve_weights_file(
        spec.filename,
        spec.weights.url,
        what=f"Mask R-CNN {variant} (ResNet-50 FPN, COCO)",
        weights_dir=weights_dir,
        allow_download=allow_download,
    )


def untrained_maskrcnn(variant: str = DEFAULT_VARIANT, **kwargs) -> torch.nn.Module:
    """The network of ``variant`` with random weights, in the layout its COCO weights fit.

    For tests and for making weight files; the product never runs it unloaded.
    """
    spec = _variant(variant)
    return spec.builder(num_classes=len(spec.weights.meta["categories"]), **kwargs)


def build_maskrcnn(
    variant: str,
    weights_file: str | os.PathLike[str],
    *,
    analysis_size: int = ANALYSIS_SHORT_SIDE,
    min_score: float = MIN_SCORE,
) -> torch.nn.Module:
    """Build the network and load a COCO state dict from ``weights_file`` (no unpickling)."""
    spec = _variant(variant)
    model = untrained_maskrcnn(
        variant,
        min_size=analysis_size,
        # The photo arrives already shrunk; a generous cap stops the model shrinking
        # panoramas a second time.
        max_size=4 * analysis_size,
        box_score_thresh=min_score,
        box_detections_per_img=MAX_DETECTIONS,
    )
    state = torch.load(weights_file, map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    if spec.eps_fix:
        overwrite_eps(model, 0.0)
    return model.eval()


class MaskRCNNSegmenter:
    """Main-object segmentation with torchvision's Mask R-CNN.

    Parameters
    ----------
    variant : {"v1", "v2"}
        Network version.
    weights_file : path, optional
        The COCO state dict; resolved with :func:`resolve_maskrcnn_weights` when omitted.
    weights_dir : path, optional
        Folder searched first for the weights (default ``$PHOTOQC_WEIGHTS_DIR``).
    analysis_size : int
        Short side in pixels at which detection runs.
    min_score : float
        Least detection confidence, 0–1.
    allow_download : bool
        Whether missing weights may be downloaded.
    """

    name = "maskrcnn"

    def __init__(
        self,
        variant: str = DEFAULT_VARIANT,
        *,
        weights_file: str | os.PathLike[str] | None = None,
        weights_dir: str | os.PathLike[str] | None = None,
        analysis_size: int = ANALYSIS_SHORT_SIDE,
        min_score: float = MIN_SCORE,
        allow_download: bool = True,
    ):
        spec = _variant(variant)
        path = (
            Path(weights_file)
            if weights_file
            else resolve_maskrcnn_weights(variant, weights_dir, allow_download)
        )
        self.variant = variant
        self.analysis_size = analysis_size
        self.min_score = min_score
        self.weights_id = path.name
        self.categories: list[str] = list(spec.weights.meta["categories"])
        self.model = build_maskrcnn(variant, path, analysis_size=analysis_size, min_score=min_score)
        logger.info("Mask R-CNN %s ready (weights %s)", variant, path)

    def close(self) -> None:
        """Let go of the network (idempotent); a closed segmenter refuses to run."""
        self.model = None

    def detect(self, image: np.ndarray) -> tuple[dict[str, np.ndarray], float]:
        """Run the network on an (H, W, 3) uint8 RGB image at analysis size.

        Returns the raw detections (``boxes`` in analysis pixels, ``scores``, ``labels``,
        ``masks`` as soft masks of shape (N, h, w)) and the scale from input to analysis.
        """
        h, w = image.shape[:2]
        scale = min(1.0, self.analysis_size / min(h, w))
        if scale < 1.0:
            image = cv2.resize(
                image,
                (max(1, round(w * scale)), max(1, round(h * scale))),
                interpolation=cv2.INTER_AREA,
            )
        if self.model is None:
            raise RuntimeError("the Mask R-CNN segmenter was closed")
        # Decoded images are read-only; torch wants memory it may write to.
        pixels = np.require(image, np.uint8, requirements=["C", "W"])
        tensor = torch.from_numpy(pixels).permute(2, 0, 1).float().div_(255.0)
        with torch.inference_mode():
            out = self.model([tensor])[0]
        detections = {
            "boxes": out["boxes"].numpy(),
            "scores": out["scores"].numpy(),
            "labels": out["labels"].numpy(),
            "masks": out["masks"][:, 0].numpy(),
        }
        return detections, scale

    def segment(self, image: np.ndarray) -> SegmentationResult:
        h, w = image.shape[:2]
        det, scale = self.detect(image)
        masks = det["masks"]
        if len(masks) == 0:
            return self._nothing()
        area = (masks >= MASK_THRESHOLD).mean(axis=(1, 2))
        small_h, small_w = masks.shape[1:]
        best = choose_main_object(
            det["scores"], det["boxes"], area, (small_w, small_h), self.min_score
        )
        if best is None:
            return self._nothing()
        mask = upsample_mask(masks[best], (w, h))
        if not mask.any():
            return self._nothing()
        label = int(det["labels"][best])
        x0, y0, x1, y1 = (float(v) / scale for v in det["boxes"][best])
        return SegmentationResult(
            mask=mask,
            segmenter=self.name,
            weights=self.weights_id,
            score=float(det["scores"][best]),
            label=self.categories[label] if 0 <= label < len(self.categories) else str(label),
            box=(x0, y0, x1, y1),
        )

    def _nothing(self) -> SegmentationResult:
        return SegmentationResult(mask=None, segmenter=self.name, weights=self.weights_id)


def find_weights(
    settings: dict[str, object],
    weights_dir: str | os.PathLike[str] | None = None,
    allow_download: bool = True,
) -> Path:
    """Registry entry point: the COCO weights of ``settings["variant"]``."""
    return resolve_maskrcnn_weights(str(settings["variant"]), weights_dir, allow_download)


def build(settings: dict[str, object], weights_file: str | None = None) -> MaskRCNNSegmenter:
    """Registry entry point: Mask R-CNN with ``settings`` and the resolved ``weights_file``."""
    return MaskRCNNSegmenter(
        str(settings["variant"]),
        weights_file=weights_file,
        analysis_size=int(settings["analysis_size"]),
        min_score=float(settings["min_score"]),
        allow_download=False,
    )


def choose_main_object(
    scores: np.ndarray,
    boxes: np.ndarray,
    area_fractions: np.ndarray,
    image_size: tuple[int, int],
    min_score: float = MIN_SCORE,
    centre_weight: float = CENTRE_WEIGHT,
) -> int | None:
    """Index of the main object among detections, or None when none qualifies.

    Parameters
    ----------
    scores : ndarray, shape (N,)
        Detection confidences, 0–1.
    boxes : ndarray, shape (N, 4)
        Boxes ``(x0, y0, x1, y1)`` in pixels of an image of ``image_size``.
    area_fractions : ndarray, shape (N,)
        Share of the image each mask covers, 0–1.
    image_size : (width, height)
    min_score : float
        Detections below this confidence are ignored.
    centre_weight : float
        How much an object in a corner is discounted (0: position ignored; 0.5 default).

    Returns
    -------
    int or None
        See the module docstring for the rule.
    """
    scores = np.asarray(scores, dtype=np.float64)
    if scores.size == 0:
        return None
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    area = np.asarray(area_fractions, dtype=np.float64)
    w, h = image_size
    centre = np.array([w / 2.0, h / 2.0])
    box_centre = np.stack(
        [(boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2], axis=1
    )
    distance = np.linalg.norm(box_centre - centre, axis=1) / max(np.linalg.norm(centre), 1e-9)
    weight = (
        scores * np.sqrt(np.clip(area, 0.0, 1.0)) * (1.0 - centre_weight * np.clip(distance, 0, 1))
    )
    eligible = (scores >= min_score) & (area > 0)
    if not eligible.any():
        return None
    return int(np.argmax(np.where(eligible, weight, -np.inf)))


def _variant(variant: str) -> MaskRCNNVariant:
    return choose(VARIANTS, variant, "Mask R-CNN variant")

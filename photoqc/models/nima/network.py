"""NIMA's network in torch (Talebi & Milanfar, IEEE TIP 2018): for training, and for
backbones without an ONNX graph.

A NIMA network is an image backbone, global average pooling, dropout, a 10-way linear
layer and a softmax: the predicted distribution of human scores 1..10. Its mean is the
quality score; its standard deviation says how much people would disagree.

Backbones (:data:`BACKBONES`):

- ``mobilenet_v1``: MobileNet v1, alpha 1.0, written here layer for layer as Keras'
  ``keras.applications.MobileNet`` (TF "same" padding, batch-norm epsilon 1e-3, ReLU6), so
  idealo's published NIMA weights load into it unchanged. Preprocessing as idealo: the
  whole image resized to 224x224 with nearest-neighbour sampling (Keras ``load_img``'s
  default), then ``x / 127.5 - 1``.
- ``mobilenet_v2``: torchvision's MobileNetV2, for training your own; ImageNet weights
  through torchvision's weights API. Preprocessing: the whole image resized to 224x224
  (bilinear, antialiased), ImageNet mean/std normalisation.

The loss is the Earth Mover's Distance between cumulative score distributions
(:func:`emd`), with r = 2 as in the paper.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from photoqc.choices import choose
from photoqc.models.nima.spec import (
    KERAS_BN_EPS,
    MOBILENET_V1_BLOCKS,
    NUM_BUCKETS,
    PREPROCESSING,
    Preprocessing,
    same_padding,
)


def random_crops(images: np.ndarray, crop: int, generator: torch.Generator) -> np.ndarray:
    """Training augmentation: a random ``crop`` x ``crop`` square of each of ``images``
    (N, H, W, 3), mirrored left-right half of the time; seeded by ``generator``."""
    margin = images.shape[1] - crop
    offsets = torch.randint(0, margin + 1, (len(images), 2), generator=generator).numpy()
    flips = torch.rand(len(images), generator=generator).numpy() < 0.5
    batch = np.empty((len(images), crop, crop, 3), np.uint8)
    for j, ((y, x), flip) in enumerate(zip(offsets, flips, strict=True)):
        patch = images[j, y : y + crop, x : x + crop]
        batch[j] = patch[:, ::-1] if flip else patch
    return batch


# --- backbones ------------------------------------------------------------------------


class _SameConv2d(nn.Conv2d):
    """Conv2d with TensorFlow's "same" padding (asymmetric when stride is 2)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        kh, kw = self.kernel_size
        sh, sw = self.stride
        top, bottom = same_padding(x.shape[-2], kh, sh)
        left, right = same_padding(x.shape[-1], kw, sw)
        if top or bottom or left or right:
            x = F.pad(x, (left, right, top, bottom))
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


class KerasMobileNetV1(nn.Module):
    """MobileNet v1 (alpha 1.0) as ``keras.applications.MobileNet(include_top=False,
    pooling="avg")``: input (N, 3, H, W) scaled to -1..1, output (N, 1024).

    Layer names follow Keras (``conv1``, ``conv1_bn``, ``conv_dw_1``, ``conv_dw_1_bn``,
    ``conv_pw_1``, ``conv_pw_1_bn``, ...) so weights map one to one.
    """

    out_features = 1024

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = _SameConv2d(3, 32, 3, stride=2, bias=False)
        self.conv1_bn = nn.BatchNorm2d(32, eps=KERAS_BN_EPS)
        channels = 32
        for i, (filters, stride) in enumerate(MOBILENET_V1_BLOCKS, start=1):
            setattr(
                self,
                f"conv_dw_{i}",
                _SameConv2d(channels, channels, 3, stride=stride, groups=channels, bias=False),
            )
            setattr(self, f"conv_dw_{i}_bn", nn.BatchNorm2d(channels, eps=KERAS_BN_EPS))
            setattr(self, f"conv_pw_{i}", nn.Conv2d(channels, filters, 1, bias=False))
            setattr(self, f"conv_pw_{i}_bn", nn.BatchNorm2d(filters, eps=KERAS_BN_EPS))
            channels = filters

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pooled_and_stats(x)[0]

    def pooled_and_stats(
        self, x: torch.Tensor, stats: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The pooled output (N, 1024) and, with ``stats``, each pointwise block's
        per-channel mean then standard deviation over the frame, block after block
        (N, 11,904): what the ONNX graph's ``stats`` output holds."""
        pooled_stats = []
        x = F.relu6(self.conv1_bn(self.conv1(x)))
        for i in range(1, len(MOBILENET_V1_BLOCKS) + 1):
            x = F.relu6(getattr(self, f"conv_dw_{i}_bn")(getattr(self, f"conv_dw_{i}")(x)))
            x = F.relu6(getattr(self, f"conv_pw_{i}_bn")(getattr(self, f"conv_pw_{i}")(x)))
            if stats:
                mean = x.mean(dim=(2, 3), keepdim=True)
                std = ((x - mean) ** 2).mean(dim=(2, 3)).sqrt()
                pooled_stats += [mean.flatten(1), std]
        pooled = x.mean(dim=(2, 3))
        return pooled, torch.cat(pooled_stats, dim=1) if stats else None


class _TorchvisionFeatures(nn.Module):
    """A torchvision classification network's feature extractor plus average pooling."""

    def __init__(self, features: nn.Module, out_features: int):
        super().__init__()
        self.features = features
        self.out_features = out_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x).mean(dim=(2, 3))


def _mobilenet_v2() -> nn.Module:
    from torchvision.models import mobilenet_v2

    return _TorchvisionFeatures(mobilenet_v2(weights=None).features, 1280)


def _mobilenet_v2_imagenet_state(path: str) -> dict[str, torch.Tensor]:
    """Backbone state from torchvision's MobileNetV2 ImageNet file (``features.*`` only)."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    return {k: v for k, v in state.items() if k.startswith("features.")}


@dataclass(frozen=True)
class BackboneSpec:
    """A backbone: how to build it, how to feed it, where its ImageNet weights come from."""

    name: str
    build: Callable[[], nn.Module]
    preprocessing: Preprocessing
    imagenet_weights: str | None = None  # torchvision weights enum, "Enum.MEMBER"
    imagenet_state: Callable[[str], dict[str, torch.Tensor]] | None = None


BACKBONES: dict[str, BackboneSpec] = {
    "mobilenet_v1": BackboneSpec("mobilenet_v1", KerasMobileNetV1, PREPROCESSING["mobilenet_v1"]),
    "mobilenet_v2": BackboneSpec(
        "mobilenet_v2",
        _mobilenet_v2,
        PREPROCESSING["mobilenet_v2"],
        imagenet_weights="MobileNet_V2_Weights.IMAGENET1K_V1",
        imagenet_state=_mobilenet_v2_imagenet_state,
    ),
}


def backbone_spec(name: str) -> BackboneSpec:
    """The :class:`BackboneSpec` called ``name``; ValueError naming the choices otherwise."""
    return choose(BACKBONES, name, "NIMA backbone")


# --- the network ----------------------------------------------------------------------


class NIMA(nn.Module):
    """Backbone -> global average pooling -> dropout -> linear(10) -> softmax.

    ``forward`` returns the probability of each score 1..10, shape (N, 10).
    """

    def __init__(self, backbone: str = "mobilenet_v1", dropout: float = 0.75):
        super().__init__()
        self.spec = backbone_spec(backbone)
        self.backbone_name = backbone
        self.backbone = self.spec.build()
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(self.backbone.out_features, NUM_BUCKETS)

    @property
    def preprocessing(self) -> Preprocessing:
        return self.spec.preprocessing

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.head(self.dropout(self.backbone(x))), dim=-1)


def emd(p: torch.Tensor, q: torch.Tensor, r: float = 2.0) -> torch.Tensor:
    """Earth Mover's Distance between score distributions, averaged over the batch.

    ``EMD(p, q) = (mean_k |CDF_p(k) - CDF_q(k)|^r)^(1/r)`` over the N = 10 buckets, with
    r = 2 (NIMA's training loss; the paper's eq. 1). 0 for identical distributions,
    symmetric, at most 1.

    Parameters
    ----------
    p, q : tensor, shape (batch, 10) or (10,)
        Probability distributions over scores 1..10 (rows sum to 1).
    r : float
        Norm of the distance between cumulative distributions.
    """
    cdf_p = torch.cumsum(p, dim=-1)
    cdf_q = torch.cumsum(q, dim=-1)
    per_item = torch.mean(torch.abs(cdf_p - cdf_q) ** r, dim=-1) ** (1.0 / r)
    return per_item.mean()


def for_inference(model: NIMA) -> NIMA:
    """``model`` made fast for prediction on the CPU, in place: each batch norm folded into
    its convolution, and weights in channels-last order (oneDNN's fast path for MobileNet's
    depthwise convolutions: about twice as fast on 2 cores). Outputs agree with the
    unchanged model within 1e-6."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    model = model.float().eval()
    backbone = model.backbone
    for name, module in list(backbone.named_children()):
        conv = getattr(backbone, name.removesuffix("_bn"), None)
        if (
            name.endswith("_bn")
            and isinstance(module, nn.BatchNorm2d)
            and isinstance(conv, nn.Conv2d)
        ):
            setattr(backbone, name.removesuffix("_bn"), fuse_conv_bn_eval(conv, module))
            setattr(backbone, name, nn.Identity())
    return model.to(memory_format=torch.channels_last)

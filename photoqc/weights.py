"""Find model weight files: explicit folder, then the torch hub cache, then download.

Resolution order for a file named ``F`` published at ``URL``:

1. ``<weights_dir>/F`` where ``weights_dir`` is the ``--weights-dir`` option or, when that
   is not given, the ``PHOTOQC_WEIGHTS_DIR`` environment variable;
2. ``<torch hub dir>/checkpoints/F`` (``$TORCH_HOME/hub``, default ``~/.cache/torch/hub``),
   which is where torchvision's weights API keeps what it downloaded;
3. a download of ``URL`` into that cache (skipped when ``allow_download`` is False or the
   environment variable ``PHOTOQC_OFFLINE`` is set), checked against the hash in the name;
4. otherwise :class:`WeightsNotFoundError`, whose message names the file, its URL and
   where to put it.

Nothing here unpickles: callers load what this returns with ``torch.load(...,
weights_only=True)`` or safetensors.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from photoqc.errors import PhotoqcError

WEIGHTS_DIR_ENV = "PHOTOQC_WEIGHTS_DIR"
OFFLINE_ENV = "PHOTOQC_OFFLINE"

logger = logging.getLogger(__name__)


class WeightsNotFoundError(PhotoqcError):
    """No weight file could be found or downloaded; the message says how to provide it."""


def hub_checkpoint_dir() -> Path:
    """The torch hub cache folder that torchvision's weights API downloads into."""
    import torch  # here: scoring without Mask R-CNN never needs torch (a second to import)

    return Path(torch.hub.get_dir()) / "checkpoints"


def weights_dir_from_env(weights_dir: str | os.PathLike[str] | None) -> Path | None:
    """``weights_dir`` if given, else ``$PHOTOQC_WEIGHTS_DIR`` if set, else None."""
    if weights_dir:
        return Path(weights_dir)
    env = os.environ.get(WEIGHTS_DIR_ENV)
    return Path(env) if env else None


def downloads_allowed(allow_download: bool = True) -> bool:
    """False when the caller or ``$PHOTOQC_OFFLINE`` forbids network access."""
    return allow_download and not os.environ.get(OFFLINE_ENV)


def resolve_weights_file(
    filename: str,
    url: str,
    *,
    what: str,
    weights_dir: str | os.PathLike[str] | None = None,
    allow_download: bool = True,
) -> Path:
    """Return a local path to the weight file ``filename``, downloading it if allowed.

    Parameters
    ----------
    filename : str
        The file's name, e.g. ``"maskrcnn_resnet50_fpn_coco-bf2d0c1e.pth"``.
    url : str
        Where it is published.
    what : str
        Human name of the model, for messages ("Mask R-CNN (ResNet-50 FPN, COCO)").
    weights_dir : path, optional
        Folder searched first; defaults to ``$PHOTOQC_WEIGHTS_DIR``.
    allow_download : bool
        Whether step 3 may use the network.
    """
    searched: list[Path] = []
    explicit = weights_dir_from_env(weights_dir)
    if explicit is not None:
        candidate = explicit / filename
        if candidate.is_file():
            return candidate
        searched.append(candidate)
    cached = hub_checkpoint_dir() / filename
    if cached.is_file():
        return cached
    searched.append(cached)

    failure = "downloads are switched off (--offline or PHOTOQC_OFFLINE)"
    if downloads_allowed(allow_download):
        try:
            return _download(url, cached)
        except Exception as exc:  # any network or disk failure ends in the same advice
            failure = f"download failed: {exc}"
    looked = "; ".join(str(p) for p in searched)
    raise WeightsNotFoundError(
        f"{what} weights not found: {filename}. Looked in: {looked}; {failure}. "
        f"Get the file from {url} and put it in {hub_checkpoint_dir()} (the torch hub cache) "
        f"or in a folder named by --weights-dir or ${WEIGHTS_DIR_ENV}."
    )


def _download(url: str, destination: Path) -> Path:
    destination.parent.mkdir(parents=True, exist_ok=True)
    import torch

    match = torch.hub.HASH_REGEX.search(destination.name)
    logger.info("downloading %s to %s", url, destination)
    torch.hub.download_url_to_file(
        url, str(destination), hash_prefix=match.group(1) if match else None, progress=True
    )
    return destination

"""Save and load NIMA weights: safetensors plus a JSON description beside them.

A NIMA weights file ``nima_technical.safetensors`` travels with ``nima_technical.json``,
which says what is needed to use it (as torchvision's weights enums do): the backbone, the
preprocessing, the model's name, where the weights came from (file and sha256) and what
they were trained on. The same description is stored in the safetensors header, so a file
that lost its JSON still loads.

Loading never unpickles: safetensors holds raw tensors only, and ``.pt`` files are read
with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from safetensors import SafetensorError, safe_open

from photoqc.errors import PhotoqcError
from photoqc.models.nima.spec import BACKBONE_NAMES

if TYPE_CHECKING:
    from photoqc.models.nima.network import NIMA

# torch and the network are imported where a network is built: scoring through ONNX Runtime
# reads the weights as numpy (photoqc.models.nima.onnx_graph) and never pays torch's import.

FORMAT = "photoqc-nima"
FORMAT_VERSION = 1
WEIGHT_SUFFIXES = (".safetensors", ".pt", ".pth")


class NimaWeightsError(PhotoqcError):
    """A NIMA weights file is missing, unreadable, or does not fit the network."""


def packaged_nima_files() -> tuple[Path, ...]:
    """The NIMA weights that ship inside photoqc (idealo's MobileNet technical and
    aesthetic models, float16; Apache-2.0, see ``photoqc/weights/NOTICE``)."""
    from importlib import resources

    folder = Path(str(resources.files("photoqc") / "weights"))
    return tuple(sorted(folder.glob("nima_*.safetensors")))


def candidate_files(
    explicit: Sequence[str | os.PathLike[str]], folder: str | os.PathLike[str] | None
) -> list[str]:
    """NIMA weight files to use: the ``explicit`` ones if any; else the weights that ship
    with photoqc, each replaced by a file of the same model name in ``folder`` (the
    weights folder), and any other NIMA file there."""
    if explicit:
        return [str(Path(p)) for p in explicit]
    chosen = {nima_name(p): str(p) for p in packaged_nima_files()}
    if folder is not None and Path(folder).is_dir():
        for path in sorted(Path(folder).glob("*.safetensors")):
            if is_nima_file(path):
                chosen[nima_name(path)] = str(path)
    return list(chosen.values())


def sidecar_path(path: str | os.PathLike[str]) -> Path:
    """The JSON description that belongs to a weights file."""
    return Path(path).with_suffix(".json")


def model_name_from_path(path: str | os.PathLike[str]) -> str:
    """``nima_technical.safetensors`` -> ``technical``; other stems are used as they are."""
    stem = Path(path).stem
    return stem[len("nima_") :] if stem.startswith("nima_") else stem


def save_nima(
    model: NIMA,
    path: str | os.PathLike[str],
    *,
    name: str | None = None,
    source: dict[str, object] | None = None,
    trained_on: str = "unknown",
    extra: dict[str, object] | None = None,
    half: bool = False,
) -> dict[str, object]:
    """Write ``model`` to ``path`` (.safetensors) and its description to the .json beside it.

    ``half`` stores floating-point tensors as float16 (half the size; they load as
    float32). Returns the description.
    """
    from safetensors.torch import save_file

    from photoqc._version import __version__

    path = Path(path)
    if path.suffix != ".safetensors":
        raise NimaWeightsError(f"{path}: NIMA weights are written as .safetensors")
    meta: dict[str, object] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "name": name or model_name_from_path(path),
        "backbone": model.backbone_name,
        "preprocessing": model.preprocessing.to_dict(),
        "source": source or {},
        "trained_on": trained_on,
        "photoqc_version": __version__,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        **(extra or {}),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {
        k: (v.half() if half and v.is_floating_point() else v).detach().contiguous().cpu()
        for k, v in model.state_dict().items()
    }
    # The header leaves out the creation time, so the same weights always make the same
    # bytes: models and the feature cache name NIMA files by their sha256.
    header = {k: v for k, v in meta.items() if k != "created"}
    save_file(state, str(path), metadata={"photoqc": json.dumps(header, sort_keys=True)})
    sidecar_path(path).write_text(json.dumps(meta, indent=2) + "\n")
    return meta


def read_nima_meta(path: str | os.PathLike[str]) -> dict[str, object]:
    """The description of a weights file: its JSON sidecar, else its safetensors header."""
    path = Path(path)
    sidecar = sidecar_path(path)
    if sidecar.is_file():
        try:
            meta = json.loads(sidecar.read_text())
        except (ValueError, RecursionError) as exc:  # ValueError: also a 5,000-digit number
            raise NimaWeightsError(f"{sidecar}: not valid JSON ({_first_line(exc)})") from None
        if not isinstance(meta, dict):
            raise NimaWeightsError(f"{sidecar}: not a NIMA weights description")
        return meta
    if path.suffix == ".safetensors":
        try:
            with safe_open(str(path), framework="numpy") as handle:
                header = (handle.metadata() or {}).get("photoqc")
        except (SafetensorError, OSError) as exc:
            raise NimaWeightsError(f"{path}: not a readable safetensors file ({exc})") from None
        if header:
            try:
                meta = json.loads(header)
            except (ValueError, RecursionError) as exc:
                raise NimaWeightsError(
                    f"{path}: its header is not valid JSON ({_first_line(exc)})"
                ) from None
            if isinstance(meta, dict):
                return meta
    return {}


def _first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__


def is_nima_file(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` describes itself as photoqc NIMA weights (JSON or header)."""
    try:
        return read_nima_meta(path).get("format") == FORMAT
    except NimaWeightsError:
        return False


def nima_name(path: str | os.PathLike[str]) -> str:
    """The model name a weights file's own description gives (``technical``, ...): it
    names the feature columns, whatever the file is called. Files without any description
    (a bare ``.pt``) fall back to their file name."""
    return str(read_nima_meta(path).get("name") or model_name_from_path(path))


def guess_backbone(state: dict[str, object]) -> str | None:
    """Which backbone a state dict was made for, judged from its tensor names."""
    if "backbone.conv_pw_13.weight" in state:
        return "mobilenet_v1"
    if "backbone.features.18.0.weight" in state:
        return "mobilenet_v2"
    return None


def load_nima_state(
    path: str | os.PathLike[str],
    *,
    expected_backbone: str | None = None,
) -> tuple[dict[str, np.ndarray], dict[str, object]]:
    """The tensors of a NIMA weights file (float32 numpy arrays, float16 files widened)
    and its description, checked as :func:`load_nima` checks them, without building a
    network: a ``.safetensors`` file is read without torch.

    Raises
    ------
    NimaWeightsError
        When the file is missing or unreadable, names an unknown backbone, or is for
        another backbone than its description or ``expected_backbone`` says.
    """
    path = Path(path)
    if not path.is_file():
        raise NimaWeightsError(f"{path}: NIMA weights file not found")
    if path.suffix not in WEIGHT_SUFFIXES:
        raise NimaWeightsError(f"{path}: expected a {' or '.join(WEIGHT_SUFFIXES)} file")
    meta = read_nima_meta(path)
    if path.suffix != ".safetensors":
        from photoqc.compat import require

        torch = require("torch", f"reading {path.name} (a torch .pt file)")
    try:
        if path.suffix == ".safetensors":
            from safetensors.numpy import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
            if isinstance(state, dict) and all(isinstance(v, torch.Tensor) for v in state.values()):
                state = {k: v.numpy() for k, v in state.items()}
    except Exception as exc:  # safetensors and torch raise several types for a bad file
        raise NimaWeightsError(
            f"{path}: cannot read weights ({type(exc).__name__}: {exc})"
        ) from None
    if not isinstance(state, dict) or not all(isinstance(v, np.ndarray) for v in state.values()):
        raise NimaWeightsError(f"{path}: does not hold a state dict of tensors")
    state = {
        k: v.astype(np.float32) if np.issubdtype(v.dtype, np.floating) else v
        for k, v in state.items()
    }
    guessed = guess_backbone(state)
    backbone = str(meta.get("backbone") or guessed or "")
    if backbone not in BACKBONE_NAMES:
        raise NimaWeightsError(
            f"{path}: unknown or missing backbone {backbone!r} (known: {', '.join(BACKBONE_NAMES)})"
        )
    if guessed and guessed != backbone:
        raise NimaWeightsError(
            f"{path}: its description says backbone {backbone!r} but its tensors are for "
            f"{guessed!r}; the file or its JSON was altered"
        )
    if expected_backbone and backbone != expected_backbone:
        raise NimaWeightsError(
            f"{path}: holds weights for backbone {backbone!r}, not {expected_backbone!r}"
        )
    meta.setdefault("name", model_name_from_path(path))
    meta.setdefault("backbone", backbone)
    return state, meta


def load_nima(
    path: str | os.PathLike[str],
    *,
    expected_backbone: str | None = None,
) -> tuple[NIMA, dict[str, object]]:
    """Load a NIMA network (in eval mode) and its description from a weights file.

    Parameters
    ----------
    path : path
        ``.safetensors`` (preferred) or a ``.pt``/``.pth`` state dict.
    expected_backbone : str, optional
        Refuse a file made for another backbone.

    Raises
    ------
    NimaWeightsError
        When the file is missing or unreadable, names an unknown backbone, is for another
        backbone than expected, or its tensors do not fit the backbone it names.
    """
    from photoqc.compat import require

    torch = require("torch", f"building the NIMA network of {Path(path).name} in torch")
    from photoqc.models.nima.network import NIMA

    state, meta = load_nima_state(path, expected_backbone=expected_backbone)
    backbone = str(meta["backbone"])
    model = NIMA(backbone)
    try:
        model.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()}, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0:3]
        raise NimaWeightsError(
            f"{path}: tensors do not fit a NIMA {backbone} network ({' '.join(first)})"
        ) from None
    return model.eval(), meta

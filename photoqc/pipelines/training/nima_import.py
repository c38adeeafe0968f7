"""Convert idealo's NIMA weights into photoqc's format (``photoqc nima import``).

The model's name (which names its feature columns, ``nima_<name>_*``) comes from what the
file is known to be (its sha256), else from its own file name (``..._technical_...``),
else from ``--name``; never from the name of the output file, so
``--out tech.safetensors`` still makes ``nima_technical_*`` columns.
"""

from __future__ import annotations

import os
from pathlib import Path

from photoqc.hashing import sha256_of
from photoqc.models.nima.weights import save_nima


def import_nima(
    source: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    name: str | None = None,
    trained_on: str | None = None,
    half: bool = False,
) -> dict[str, object]:
    """Import ``source`` (idealo ``.tflite`` or Keras ``.hdf5``) into ``out`` (``.safetensors``,
    with its ``.json`` description beside it); returns the description. ``half`` stores
    the weights as float16.

    Raises
    ------
    NimaImportError
        The file is not an idealo NIMA model, its name cannot be told, or ``out`` does not
        end in ``.safetensors``.
    """
    from photoqc.compat import require

    require("torch", "photoqc nima import")
    from photoqc.models.nima.importer import (
        KNOWN_FILES,
        TRAINED_ON_BY_NAME,
        NimaImportError,
        guess_name,
        import_weights,
    )
    from photoqc.models.nima.network import NIMA

    source, out = Path(source), Path(out)
    if out.suffix != ".safetensors":
        raise NimaImportError(f"{out}: the output must end in .safetensors")
    digest = sha256_of(source)
    known = KNOWN_FILES.get(digest, {})
    model_name = name or known.get("name") or guess_name(source)
    if not model_name:
        raise NimaImportError(
            f"{source}: cannot tell which NIMA model this is from its contents or name; pass "
            "--name technical (or aesthetic, or your own name for the nima_<name>_* columns)"
        )
    model = NIMA("mobilenet_v1")
    model.load_state_dict(import_weights(source))
    return save_nima(
        model,
        out,
        name=model_name,
        source={"file": source.name, "sha256": digest, "format": source.suffix.lstrip(".").lower()},
        trained_on=trained_on
        or known.get("trained_on")
        or TRAINED_ON_BY_NAME.get(model_name, "unknown"),
        half=half,
    )

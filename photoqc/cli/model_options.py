"""The options that name a model or how labels read, shared by several ``photoqc`` verbs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from photoqc.cli.options import option

Model = Annotated[
    Path | None,
    option(
        "--model",
        "-m",
        file_okay=False,
        show_default=False,
        help="Model folder from `photoqc train`. Default: the built-in model.",
    ),
]
ModelSha256 = Annotated[
    str | None,
    option(
        "--model-sha256",
        show_default=False,
        help="Accept only the model folder whose `sha256` (in its photoqc.json) is this: "
        "pins a deployment to one model, refusing any other or any edit.",
    ),
]
MosThreshold = Annotated[
    float | None,
    option(
        "--mos-threshold",
        help="For MOS labels: the MOS at which a photo turns good (soft target "
        "sigmoid((mos - T) / s) in training, recorded in the model; `tune` reads it from "
        "there unless given).",
    ),
]

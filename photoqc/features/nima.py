"""NIMA scores as features: mean and spread of the predicted 1–10 score distribution.

The network runs outside this module (in batches, built once per process:
:class:`photoqc.models.nima.NimaPredictor`); its per-image result arrives in
:attr:`FeatureInput.nima`. A model that is not configured gives NaN.
"""

from __future__ import annotations

from collections.abc import Sequence

from photoqc.features.inputs import FeatureInput
from photoqc.features.spec import NAN, Direction, FeatureGroup, FeatureSpec

DEFAULT_NIMA_MODELS = ("technical", "aesthetic")
"""NIMA models whose columns every feature table has (NaN while that model is off)."""

READOUT_FEATURE = "nima_embedding_quality"

READOUT_SPEC = FeatureSpec(
    READOUT_FEATURE,
    "people's overall impression, read out of NIMA's embeddings by a ridge fitted to the "
    "model's own training labels: the predicted target, about 0–1",
    "overall impression",
    Direction.HIGHER_BETTER,
    low="people would likely rate this photo poorly overall (impression {v})",
    fmt=".2f",
    short="people's overall impression (learned from NIMA's embeddings)",
    last_resort=True,
)
"""The learned impression a model with an embedding read-out adds to its features (the
model makes it, not the recipe: :mod:`photoqc.models.readout`). It speaks only after every
concrete defect."""


def nima_group(model_names: Sequence[str]) -> FeatureGroup:
    """The feature group for the NIMA models called ``model_names``."""
    names = tuple(dict.fromkeys(model_names))

    def compute(x: FeatureInput) -> dict[str, float]:
        out: dict[str, float] = {}
        for name in names:
            mean, std = (x.nima or {}).get(name, (NAN, NAN))
            out[f"nima_{name}_mean"] = float(mean)
            out[f"nima_{name}_std"] = float(std)
        return out

    specs: list[FeatureSpec] = []
    for name in names:
        specs += [
            FeatureSpec(
                f"nima_{name}_mean",
                f"NIMA {name} score: mean of the predicted 1–10 distribution",
                "nima",
                Direction.HIGHER_BETTER,
                low=f"low NIMA {name} score {{v}}",
                fmt=".1f",
                last_resort=True,
            ),
            # How much people would disagree says nothing a moderator can act on.
            FeatureSpec(
                f"nima_{name}_std",
                f"NIMA {name} spread: std of the predicted 1–10 distribution, score units, >= 0",
                "nima",
                last_resort=True,
            ),
        ]
    return FeatureGroup(name="nima", specs=tuple(specs), compute=compute)

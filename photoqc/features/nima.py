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


IMPRESSION_FEATURE = "learned_impression"
"""People's overall impression, learned from the networks' multi-level stats."""

DEFECT_FAMILIES = {
    # defect class: (reason family, how it looks, in words)
    "blur": ("sharpness", "looks blurry"),
    "noise": ("noise", "visible noise"),
    "compression": ("compression", "blocky compression"),
    "colour": ("colour", "colours look off"),
    "exposure": ("exposure", "badly exposed"),
    "spatial": ("detail", "broken-up detail (blocks, shifted patches)"),
}
"""The learned defect head's classes (:data:`photoqc.synthetic.DEFECT_CLASSES`), each with
the reason family it speaks in and its words."""

DEFECT_FEATURES = {name: f"learned_{name}" for name in DEFECT_FAMILIES}
LEARNED_FEATURES = (IMPRESSION_FEATURE, *DEFECT_FEATURES.values())

LOSS_WORDS = ((0.05, "none"), (0.12, "slight"), (0.25, "clear"), (float("inf"), "strong"))
"""How much of a photo a learned defect is said to have taken (share of the original lost,
1 - fidelity): under 5 % none, 12 % slight, 25 % clear, else strong."""

LEARNED_SPECS: dict[str, FeatureSpec] = {
    IMPRESSION_FEATURE: FeatureSpec(
        IMPRESSION_FEATURE,
        "people's overall impression, learned from every layer of the NIMA networks "
        "(a ridge on each block's channel means and spreads): the predicted target, about 0–1",
        "overall impression",
        Direction.HIGHER_BETTER,
        low="people would likely rate this photo poorly overall (impression {v})",
        fmt=".2f",
        short="people's overall impression (learned)",
        last_resort=True,
        learned=True,
    ),
    **{
        feature: FeatureSpec(
            feature,
            f"{name} damage learned from synthetic copies: the share of the photo a defect "
            f"of this kind took away (1 - fidelity to the original), 0–1",
            family,
            Direction.HIGHER_WORSE,
            high=f"{words} (learned): {{v}}",
            show_typical=False,
            words=LOSS_WORDS,
            short=f"{words} (learned)",
            learned=True,
        )
        for name, (family, words) in DEFECT_FAMILIES.items()
        for feature in (DEFECT_FEATURES[name],)
    },
}
"""What a model with network heads (:mod:`photoqc.models.heads`) adds to its features."""


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

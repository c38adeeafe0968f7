"""What a model folder's ``photoqc.json`` may hold: every field typed and bounded.

A model folder is data from wherever the user got it. Before anything in it is used, its
description is checked against this schema (pydantic), and every problem is reported, one
per line: types, ranges (a threshold strictly between 0 and 1, a bounded pixel limit),
sizes of lists and texts (so nothing is deep or huge), and file names that are plain names
inside the folder (no ``..``, no ``/``).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

from photoqc.segmentation.registry import SEGMENTERS

__all__ = ["ModelDescription", "ValidationError", "problems"]

MAX_FEATURES = 5_000
MAX_PIXELS_LIMIT = 1_000_000_000
"""The most pixels a model may ask to accept per photo (its decompression-bomb guard)."""

FileName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$")]
"""A plain file name inside the model folder: no path, no leading dot."""
Sha256 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
FeatureName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,79}$")]
Key = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")]
Text = Annotated[str, StringConstraints(max_length=500)]
Finite = Annotated[float, Field(allow_inf_nan=False)]
Probability = Annotated[float, Field(gt=0.0, lt=1.0, allow_inf_nan=False)]
Scalar = bool | int | Finite | Text | None


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class SegmenterRecord(_Strict):
    kind: Literal[tuple(SEGMENTERS)]  # type: ignore[valid-type]
    settings: dict[Key, bool | int | Finite | Text] = Field(default_factory=dict, max_length=32)
    weights: FileName | None = None
    # Written by photoqc 0.1 beside the kind rather than under settings.
    variant: Text | None = None
    analysis_size: int | None = Field(default=None, ge=32, le=8192)
    min_score: Finite | None = Field(default=None, ge=0.0, le=1.0)


class NimaRecord(_Strict):
    name: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_]{1,32}$")]
    file: FileName
    sha256: Sha256 | None = None


class RecipeRecord(_Strict):
    segmenter: SegmenterRecord
    nima: list[NimaRecord] = Field(default_factory=list, max_length=8)
    analysis_long_side: int = Field(ge=64, le=16384)
    max_pixels: int = Field(ge=1, le=MAX_PIXELS_LIMIT)


class ThresholdChange(_Strict):
    threshold: Probability
    rule: Text = ""
    set: Text | None = None
    replaced: Text | None = None


class PenaltyRecord(_Strict):
    features: list[FeatureName] = Field(max_length=MAX_FEATURES)
    thresholds: list[Finite] = Field(max_length=MAX_FEATURES)
    scales: list[Annotated[float, Field(gt=0, allow_inf_nan=False)]] = Field(
        max_length=MAX_FEATURES
    )
    signs: list[Literal[-1, 1]] = Field(max_length=MAX_FEATURES)
    weights: list[Annotated[float, Field(ge=0, allow_inf_nan=False)]] = Field(
        max_length=MAX_FEATURES
    )

    @model_validator(mode="after")
    def _aligned(self) -> PenaltyRecord:
        lengths = {len(self.features), len(self.thresholds), len(self.scales)}
        if lengths | {len(self.signs), len(self.weights)} != {len(self.features)}:
            raise ValueError("features, thresholds, scales, signs and weights differ in length")
        return self


class MarginRecord(_Strict):
    features: list[FeatureName] = Field(max_length=64)
    weights: list[Finite] = Field(max_length=64)
    intercept: Finite
    means: list[Finite] = Field(max_length=64)
    hinges: list[Finite | None] | None = Field(default=None, max_length=64)

    @model_validator(mode="after")
    def _aligned(self) -> MarginRecord:
        if not len(self.features) == len(self.weights) == len(self.means):
            raise ValueError("features, weights and means differ in length")
        if self.hinges is not None and len(self.hinges) != len(self.features):
            raise ValueError("hinges and features differ in length")
        return self


class ModelDescription(_Strict):
    """The schema of ``photoqc.json``."""

    format: Literal["photoqc-model"]
    format_version: int = Field(ge=1)
    photoqc_version: Annotated[str, StringConstraints(max_length=40)]
    created: Annotated[str, StringConstraints(max_length=40)]
    feature_names: list[FeatureName] = Field(min_length=1, max_length=MAX_FEATURES)
    feature_config: RecipeRecord
    threshold: Probability
    threshold_rule: Text = ""
    threshold_set: Text | None = None
    threshold_history: list[ThresholdChange] = Field(default_factory=list, max_length=1000)
    cv_metrics: dict[Key, Finite | None] = Field(default_factory=dict, max_length=100)
    good_ranges: (
        dict[FeatureName, Annotated[list[Finite | None], Field(min_length=3, max_length=3)]] | None
    ) = Field(default=None, max_length=MAX_FEATURES)
    good_medians: dict[FeatureName, Finite | None] | None = Field(
        default=None, max_length=MAX_FEATURES
    )
    monotone_constraints: list[Literal[-1, 0, 1]] | None = Field(
        default=None, max_length=MAX_FEATURES
    )
    defect_penalty: PenaltyRecord | None = None
    base_margin: MarginRecord | None = None
    heads_sha256: Sha256 | None = None
    min_short_side: int | None = Field(default=None, ge=0, le=100_000)
    training_images_sha256: Sha256 | None = None
    embedding_readout_sha256: Sha256 | None = None
    training: dict[Key, Scalar] = Field(default_factory=dict, max_length=100)
    model_file: FileName
    model_sha256: Sha256
    sha256: Sha256 | None = None


def problems(error: ValidationError, shown: int = 20) -> list[str]:
    """One line per problem (the first ``shown``): where in the file, and what is wrong."""
    lines = []
    for item in error.errors()[:shown]:
        where = ".".join(str(part) for part in item["loc"]) or "(top level)"
        lines.append(f"{where}: {item['msg']}")
    if error.error_count() > shown:
        lines.append(f"... and {error.error_count() - shown} more")
    return lines

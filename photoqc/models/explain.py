"""Why a photo was judged bad: SHAP contributions turned into sentences a moderator can act on.

SHAP values come from LightGBM's exact TreeSHAP (``pred_contrib=True``), in log-odds of
"good": they sum, with the expected value, to the model's raw score. The features pushing
hardest towards "bad" (most negative contributions) become reasons such as

    too dark: brightness 0.12 (good photos: ~0.45)
    background much darker than the object in the bottom-left quarter (0.41; good photos: ~0.05)
    4.1% of pixels blown out to white (good photos: ~0.2%)

How to say a feature lives with the feature (:class:`photoqc.features.FeatureSpec`: family,
direction, the phrase for a low and a high value). One defect moves many related features
(darkening lowers the brightness of every quarter, of the object and the background, and
crushes blacks), and SHAP spreads the blame among them. So features are grouped in
families (exposure, contrast, sharpness, noise, ...); families are ranked by their summed
contribution, and each is said in the words of its strongest feature.

A reason must be true as well as weighty: its feature pushes towards "bad", its value lies
on the defect side of what good training photos have (outside their 10th–90th percentile
range, on a side the feature's spec calls a defect), and it prints differently from good
photos' typical value.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from photoqc.features import FeatureSpec

MIN_FAMILY_CONTRIBUTION = 0.15
"""Families whose summed push towards bad is weaker than this (log-odds) get no sentence."""


@dataclass(frozen=True)
class GoodRange:
    """What good training photos have for one feature.

    Attributes
    ----------
    median : float
        Their typical value (said in reasons as "good photos: ~median").
    low, high : float
        Their 10th and 90th percentiles: a value inside is not visibly off.
    """

    median: float
    low: float
    high: float

    @classmethod
    def point(cls, median: float) -> GoodRange:
        """A range known only by its median (models trained before ranges were kept)."""
        return cls(median, median, median)


@dataclass(frozen=True)
class Reason:
    """One feature family's push towards "bad", in words."""

    feature: str
    value: float
    typical: float
    contribution: float  # this feature's SHAP value, log-odds of "good" (negative: to bad)
    family: str
    family_contribution: float  # summed SHAP of the family's features
    text: str

    def to_dict(self) -> dict[str, object]:
        """The reason as the scores CSV's ``reasons_json`` and the HTTP API give it."""
        return {
            "family": self.family,
            "text": self.text,
            "feature": self.feature,
            "value": _finite_or_none(self.value),
            "typical": _finite_or_none(self.typical),
        }


def _finite_or_none(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def _other(name: str) -> FeatureSpec:
    """The spec of a feature this photoqc does not describe (said in its own name)."""
    return FeatureSpec(
        name, name, family=name, low=f"{name} {{v}}", high=f"{name} {{v}}", fmt=".3g"
    )


def describe(spec: FeatureSpec, value: float, typical: float, side: str | None = None) -> str:
    """The sentence for ``spec`` at ``value`` where good photos have ``typical``.

    ``side`` ("low" or "high") picks the phrase; by default the side of ``typical`` the
    value is on. Signed differences whose value keeps good photos' sign but has less of
    it are said with the spec's ``near`` phrase.
    """
    if side is None:
        side = "high" if value > typical else "low"
    phrase = spec.phrase(side)
    if spec.near and (value <= 0 if side == "high" else value >= 0):
        phrase = spec.near
    if "{v}" in phrase and "{t}" not in phrase and spec.show_typical:
        phrase += " (good photos: ~{t})"
    return phrase.format(v=spec.format(value), t=spec.format(typical))


def defect_side(spec: FeatureSpec, value: float, good: GoodRange | None) -> str | None:
    """ "low" or "high" when ``value`` is visibly off on a side ``spec`` calls a defect.

    Visibly off: outside good photos' range on that side, and printing differently from
    their typical value. None otherwise (also for a value that was not measured).
    """
    if good is None or math.isnan(value) or math.isnan(good.median):
        return None
    if spec.format(value) == spec.format(good.median):
        return None
    if spec.low and value < good.low and value < good.median:
        return "low"
    if spec.high and value > good.high and value > good.median:
        return "high"
    return None


def whole_frame_feature(
    spec: FeatureSpec, values: Mapping[str, float], good: Mapping[str, GoodRange]
) -> str:
    """The feature to speak through for ``spec``'s shortfall: itself, or its whole-frame
    counterpart when even the best part of the frame falls short too (the sharpest cell is
    softer, the brightest quarter darker, than nearly all good photos')."""
    if spec.whole_frame is None:
        return spec.name
    witness, say = spec.whole_frame

    def short(feature: str) -> bool:
        value, range_ = float(values.get(feature, math.nan)), good.get(feature)
        return range_ is not None and not math.isnan(value) and value < range_.low

    if say in values and short(spec.name) and short(witness):
        return say
    return spec.name


SIZE_FAMILY = "resolution"


def too_small_reason(width: float, height: float, min_short_side: int) -> Reason | None:
    """The reason a photo of ``width`` x ``height`` pixels is too small to publish, or None
    when its short side has at least ``min_short_side`` pixels (or its size is unknown)."""
    if not (math.isfinite(width) and math.isfinite(height)):
        return None
    short = min(width, height)
    if short >= min_short_side:
        return None
    return Reason(
        feature="width" if width <= height else "height",
        value=float(short),
        typical=float(min_short_side),
        contribution=math.nan,
        family=SIZE_FAMILY,
        family_contribution=math.nan,
        text=f"too small to publish: {int(width)} x {int(height)} px (at least "
        f"{min_short_side} px on the short side)",
    )


def top_reasons(
    values: Mapping[str, float],
    contributions: Sequence[float],
    feature_names: Sequence[str],
    good: Mapping[str, GoodRange],
    specs: Mapping[str, FeatureSpec],
    *,
    top: int = 3,
    min_contribution: float = MIN_FAMILY_CONTRIBUTION,
) -> list[Reason]:
    """The ``top`` feature families pushing hardest towards "bad", strongest first.

    Parameters
    ----------
    values : mapping
        The photo's feature values.
    contributions : sequence of float
        SHAP values in log-odds of "good", in ``feature_names`` order.
    feature_names : sequence of str
    good : mapping of str to GoodRange
        What good training photos have, per feature.
    specs : mapping of str to FeatureSpec
        How to say each feature (:func:`photoqc.features.spec_index`).
    top : int
        Most reasons returned.
    min_contribution : float
        Families whose summed push towards bad is weaker than this (log-odds) get no
        sentence.
    """
    contributions = np.asarray(contributions, dtype=np.float64)
    families: dict[str, list[int]] = {}
    last: set[str] = set()
    for i, name in enumerate(feature_names):
        spec = specs.get(name) or _other(name)
        families.setdefault(spec.family, []).append(i)
        if spec.last_resort:
            last.add(spec.family)
    totals = {family: float(contributions[idx].sum()) for family, idx in families.items()}

    def spec_of(i: int) -> FeatureSpec:
        return specs.get(feature_names[i]) or _other(feature_names[i])

    def said(family: str) -> Reason | None:
        # Strongest push first, a measured feature before a learned one (the concrete
        # defect a moderator can check); a feature that is not visibly off on a defect side
        # (or was not measured) shows the moderator nothing, so the next one speaks.
        for i in sorted(families[family], key=lambda i: (spec_of(i).learned, contributions[i])):
            if contributions[i] >= 0:
                continue
            spec = spec_of(i)
            spec = specs.get(whole_frame_feature(spec, values, good), spec)
            value = float(values.get(spec.name, math.nan))
            range_ = good.get(spec.name)
            side = defect_side(spec, value, range_)
            if side is None or range_ is None:
                continue
            return Reason(
                feature=spec.name,
                value=value,
                typical=range_.median,
                contribution=float(contributions[i]),
                family=family,
                family_contribution=totals[family],
                text=describe(spec, value, range_.median, side),
            )
        return None

    # Strongest push first, overall judgements (NIMA, the learned impression) after every
    # concrete defect.
    order = sorted(totals, key=lambda f: (f in last, totals[f]))
    strong = [f for f in order if totals[f] <= -min_contribution]
    reasons = [r for r in map(said, strong) if r is not None]
    if all(r.family in last for r in reasons):
        # Only an overall judgement spoke: a concrete defect that is visibly off and pushes
        # towards bad at all, however weakly, is said before it; failing that, the one
        # that lies furthest outside good photos' range (a model that starts from people's
        # impression leaves the measured features little push of their own, but a
        # moderator still needs something to look at).
        weak = [f for f in order if f not in last and f not in strong and totals[f] < 0]
        concrete = [r for r in map(said, weak) if r is not None]
        if not concrete and reasons:
            concrete = _furthest_off(
                values, feature_names, good, specs, last, contributions, totals
            )
        reasons = concrete[:1] + reasons
    return reasons[:top]


def _furthest_off(values, feature_names, good, specs, last, contributions, totals) -> list[Reason]:
    """The measured feature furthest outside good photos' 10th–90th percentile range, on a
    side its spec calls a defect (in units of that range's width), as a reason; [] when
    none is off."""
    best: tuple[float, Reason] | None = None
    for i, name in enumerate(feature_names):
        spec = specs.get(name) or _other(name)
        if spec.family in last or spec.learned:
            continue
        value, range_ = float(values.get(name, math.nan)), good.get(name)
        side = defect_side(spec, value, range_)
        if side is None or range_ is None:
            continue
        width = max(range_.high - range_.low, 1e-12)
        excess = (range_.low - value if side == "low" else value - range_.high) / width
        if best is None or excess > best[0]:
            reason = Reason(
                feature=name,
                value=value,
                typical=range_.median,
                contribution=float(contributions[i]),
                family=spec.family,
                family_contribution=totals[spec.family],
                text=describe(spec, value, range_.median, side),
            )
            best = (excess, reason)
    return [best[1]] if best else []


def overall_reason(p_good: float, threshold: float) -> Reason:
    """The reason of a bad verdict that no single feature explains: the photo as a whole."""
    return Reason(
        feature="p_good",
        value=float(p_good),
        typical=float(threshold),
        contribution=math.nan,
        family="overall impression",
        family_contribution=math.nan,
        text=f"people would likely rate this photo poorly overall (quality score "
        f"{p_good:.2f}; published from {threshold:.2f}), though no single defect stands out",
    )


def reasons_text(reasons: Sequence[Reason]) -> str:
    """Reasons joined for the scores CSV's human-readable ``reasons`` cell."""
    return "; ".join(r.text for r in reasons)


def reasons_json(reasons: Sequence[Reason]) -> str:
    """Reasons as the scores CSV's ``reasons_json`` cell: a JSON list of objects with
    ``family, text, feature, value, typical``."""
    return json.dumps([r.to_dict() for r in reasons], allow_nan=False, ensure_ascii=False)


WATERFALL_AXIS = "<- pushes towards bad        pushes towards good ->"


def push_label(contribution: float) -> str:
    """How a SHAP value reads for people: "pushes towards good/bad"."""
    return "pushes towards good" if contribution >= 0 else "pushes towards bad"


def save_waterfall(
    contributions: np.ndarray,
    values: Sequence[float],
    specs: Sequence[FeatureSpec],
    path: str,
    *,
    typical: Sequence[float] | None = None,
    max_display: int = 12,
    title: str | None = None,
) -> list[str]:
    """Save one photo's strongest feature pushes as a PNG bar chart; returns the bar labels.

    Each bar is a feature, labelled with its family and what it measures in plain words
    (not its column name), its value and, when given, good photos' ``typical`` value; bars
    to the left push towards "bad", to the right towards "good" (their length is the SHAP
    value, log-odds of "good", on the axis' scale).
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    contributions = np.asarray(contributions, dtype=np.float64)
    order = np.argsort(-np.abs(np.nan_to_num(contributions)))[:max_display][::-1]

    def label(i: int) -> str:
        text = f"{specs[i].family}: {specs[i].label} = {specs[i].format(values[i])}"
        if typical is not None and math.isfinite(typical[i]):
            text += f" (good photos: ~{specs[i].format(typical[i])})"
        return text

    labels = [label(i) for i in order]
    pushes = contributions[order]
    figure, axes = plt.subplots(figsize=(9, 0.45 * len(order) + 1.4))
    axes.barh(range(len(order)), pushes, color=["#1a7f37" if p >= 0 else "#cf222e" for p in pushes])
    axes.set_yticks(range(len(order)), labels, fontsize=8)
    axes.axvline(0, color="#57606a", linewidth=0.8)
    axes.set_xlabel(WATERFALL_AXIS)
    if title:
        axes.set_title(title, fontsize=10)
    figure.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(figure)
    return [*labels, axes.get_xlabel()]

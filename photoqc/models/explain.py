"""Why a photo was judged bad: SHAP contributions turned into sentences a moderator can act on.

SHAP values come from LightGBM's exact TreeSHAP (``pred_contrib=True``), in log-odds of
"good": they sum, with the expected value, to the model's raw score. The features pushing
hardest towards "bad" (most negative contributions) become reasons such as

    too dark: brightness 0.12 (good photos: ~0.45)
    background much darker than the object in the lower-left quarter (0.41; good photos: ~0.05)
    4.1 % of pixels clipped to white (good photos: ~0.2 %)

Each reason compares the value with the median of that feature over the good training
photos. One defect moves many related features (darkening lowers the brightness of every
quarter, of the object and the background, and crushes blacks), and SHAP spreads the blame
among them. So features are grouped in families (exposure, contrast, sharpness, noise,
...); families are ranked by their summed contribution, and each is said in the words of
its strongest feature.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from photoqc.features.grid import CELL_WORDS

QUARTER_WORDS = {"tl": "upper-left", "tr": "upper-right", "bl": "lower-left", "br": "lower-right"}


@dataclass(frozen=True)
class Reason:
    """One feature's push towards "bad", in words."""

    feature: str
    value: float
    typical: float
    contribution: float  # this feature's SHAP value, log-odds of "good" (negative: to bad)
    family: str
    family_contribution: float  # summed SHAP of the family's features
    text: str


def _pct(v: float) -> str:
    return f"{100 * v:.1f} %"


def _f2(v: float) -> str:
    return f"{v:.2f}"


def _f0(v: float) -> str:
    return f"{v:.0f}"


def _f3(v: float) -> str:
    return f"{v:.3g}"


def _f1(v: float) -> str:
    return f"{v:.1f}"


@dataclass(frozen=True)
class _Template:
    """How to say one feature: a phrase when it is lower / higher than in good photos."""

    pattern: str
    family: str
    low: str
    high: str
    fmt: Callable[[float], str] = _f2
    # For signed differences (object minus background): said instead of ``low``/``high``
    # when the value's sign contradicts them, e.g. "object much darker" for +0.02 when good
    # photos have +0.05. Such a value means the object hardly stands out.
    near: str = ""


# {q}: quarter words; values are appended as "(value; good photos: ~typical)" unless the
# phrase places them itself with {v} and {t}.
_TEMPLATES: tuple[_Template, ...] = (
    _Template(
        r"brightness",
        "exposure",
        "too dark: brightness {v} (good photos: ~{t})",
        "too bright: brightness {v} (good photos: ~{t})",
    ),
    _Template(
        r"contrast",
        "contrast",
        "flat, low contrast: {v} (good photos: ~{t})",
        "harsh contrast: {v} (good photos: ~{t})",
    ),
    _Template(
        r"clipped_white_fraction",
        "highlights",
        "{v} of pixels clipped to white (good photos: ~{t})",
        "{v} of pixels clipped to white (good photos: ~{t})",
        _pct,
    ),
    _Template(
        r"clipped_black_fraction",
        "exposure",
        "{v} of pixels crushed to black (good photos: ~{t})",
        "{v} of pixels crushed to black (good photos: ~{t})",
        _pct,
    ),
    _Template(
        r"sharpness_(laplacian|tenengrad)(_native)?",
        "sharpness",
        "blurry: sharpness {v} (good photos: ~{t})",
        "unusually crisp or grainy detail: sharpness {v} (good photos: ~{t})",
        _f0,
    ),
    _Template(
        r"noise_sigma",
        "noise",
        "very smooth, perhaps over-processed: noise {v} (good photos: ~{t})",
        "noisy, grainy: noise {v} (good photos: ~{t})",
        _f1,
    ),
    _Template(
        r"colourfulness",
        "colour",
        "dull, washed-out colours: colourfulness {v} (good photos: ~{t})",
        "oversaturated colours: colourfulness {v} (good photos: ~{t})",
        _f0,
    ),
    _Template(
        r"jpeg_quality",
        "compression",
        "heavy JPEG compression: quality {v} (good photos: ~{t})",
        "JPEG quality {v} (good photos: ~{t})",
        _f0,
    ),
    _Template(
        r"megapixels",
        "resolution",
        "low resolution: {v} MP (good photos: ~{t} MP)",
        "{v} MP (good photos: ~{t} MP)",
        _f1,
    ),
    _Template(
        r"width|height",
        "resolution",
        "low resolution: {v} px (good photos: ~{t} px)",
        "{v} px (good photos: ~{t} px)",
        _f0,
    ),
    _Template(
        r"aspect_ratio",
        "shape",
        "unusual shape: aspect ratio {v} (good photos: ~{t})",
        "unusual shape: aspect ratio {v} (good photos: ~{t})",
    ),
    _Template(r"object_found", "framing", "no clear main object found", "a main object was found"),
    _Template(
        r"object_area_fraction",
        "framing",
        "object small in the frame: {v} of the photo (good photos: ~{t})",
        "object crammed into the frame: {v} of the photo (good photos: ~{t})",
        _pct,
    ),
    _Template(
        r"object_touches_border",
        "framing",
        "object clear of the frame edges",
        "object cut off at the edge of the frame",
    ),
    _Template(
        r"object_brightness",
        "exposure",
        "object too dark: brightness {v} (good photos: ~{t})",
        "object too bright: brightness {v} (good photos: ~{t})",
    ),
    _Template(
        r"object_contrast",
        "contrast",
        "object looks flat: contrast {v} (good photos: ~{t})",
        "harsh light on the object: contrast {v} (good photos: ~{t})",
    ),
    _Template(
        r"background_brightness",
        "exposure",
        "dark background: brightness {v} (good photos: ~{t})",
        "bright background: brightness {v} (good photos: ~{t})",
    ),
    _Template(
        r"background_contrast",
        "contrast",
        "flat background: contrast {v} (good photos: ~{t})",
        "busy background: contrast {v} (good photos: ~{t})",
    ),
    _Template(
        r"object_background_brightness_diff",
        "object vs background",
        "object much darker than the background ({v}; good photos: ~{t})",
        "background much darker than the object ({v}; good photos: ~{t})",
        near="object hardly stands out from the background in brightness ({v}; good photos: ~{t})",
    ),
    _Template(
        r"object_background_contrast_diff",
        "object vs background",
        "object flatter than the background ({v}; good photos: ~{t})",
        "background flatter than the object ({v}; good photos: ~{t})",
        near="object and background alike in contrast ({v}; good photos: ~{t})",
    ),
    _Template(
        r"object_sharpness",
        "sharpness",
        "object blurred: sharpness {v} (good photos: ~{t})",
        "object very crisp or grainy: sharpness {v} (good photos: ~{t})",
        _f0,
    ),
    _Template(
        r"background_sharpness",
        "sharpness",
        "soft background: sharpness {v} (good photos: ~{t})",
        "busy, detailed background: sharpness {v} (good photos: ~{t})",
        _f0,
    ),
    _Template(
        r"object_background_sharpness_ratio",
        "sharpness",
        "object softer than the background, focus missed? (ratio {v}; good photos: ~{t})",
        "object much sharper than the background (ratio {v}; good photos: ~{t})",
    ),
    _Template(
        r"q_(tl|tr|bl|br)_brightness",
        "exposure",
        "dark {q} quarter: brightness {v} (good photos: ~{t})",
        "glaring {q} quarter: brightness {v} (good photos: ~{t})",
    ),
    _Template(
        r"q_(tl|tr|bl|br)_contrast",
        "contrast",
        "flat {q} quarter: contrast {v} (good photos: ~{t})",
        "harsh {q} quarter: contrast {v} (good photos: ~{t})",
    ),
    _Template(
        r"q_(tl|tr|bl|br)_object_brightness",
        "exposure",
        "object too dark in the {q} quarter: brightness {v} (good photos: ~{t})",
        "object too bright in the {q} quarter: brightness {v} (good photos: ~{t})",
    ),
    _Template(
        r"q_(tl|tr|bl|br)_object_contrast",
        "contrast",
        "object flat in the {q} quarter: contrast {v} (good photos: ~{t})",
        "harsh light on the object in the {q} quarter: contrast {v} (good photos: ~{t})",
    ),
    _Template(
        r"q_(tl|tr|bl|br)_background_brightness",
        "exposure",
        "dark background in the {q} quarter: brightness {v} (good photos: ~{t})",
        "bright background in the {q} quarter: brightness {v} (good photos: ~{t})",
    ),
    _Template(
        r"q_(tl|tr|bl|br)_background_contrast",
        "contrast",
        "flat background in the {q} quarter: contrast {v} (good photos: ~{t})",
        "busy background in the {q} quarter: contrast {v} (good photos: ~{t})",
    ),
    _Template(
        r"q_(tl|tr|bl|br)_brightness_diff",
        "object vs background",
        "object much darker than the background in the {q} quarter ({v}; good photos: ~{t})",
        "background much darker than the object in the {q} quarter ({v}; good photos: ~{t})",
        near="object hardly stands out from the background in brightness in the {q} quarter"
        " ({v}; good photos: ~{t})",
    ),
    _Template(
        r"q_(tl|tr|bl|br)_contrast_diff",
        "object vs background",
        "object flatter than the background in the {q} quarter ({v}; good photos: ~{t})",
        "background flatter than the object in the {q} quarter ({v}; good photos: ~{t})",
        near="object and background alike in contrast in the {q} quarter ({v}; good photos: ~{t})",
    ),
    _Template(
        r"quadrant_darkest_brightness",
        "exposure",
        "a dark corner: darkest quarter brightness {v} (good photos: ~{t})",
        "darkest quarter brightness {v} (good photos: ~{t})",
    ),
    _Template(
        r"quadrant_brightest_brightness",
        "exposure",
        "brightest quarter only {v} (good photos: ~{t})",
        "a glaring quarter: brightest quarter brightness {v} (good photos: ~{t})",
    ),
    _Template(
        r"quadrant_brightness_gap",
        "uneven light",
        "very even light across the frame (gap {v}; good photos: ~{t})",
        "uneven light across the frame: quarters differ by {v} in brightness (good photos: ~{t})",
    ),
    _Template(
        r"cell_(tl|tc|tr|ml|mc|mr|bl|bc|br)_brightness",
        "exposure",
        "dark {c} of the frame: brightness {v} (good photos: ~{t})",
        "glaring {c} of the frame: brightness {v} (good photos: ~{t})",
    ),
    _Template(
        r"cell_(tl|tc|tr|ml|mc|mr|bl|bc|br)_contrast",
        "contrast",
        "flat {c} of the frame: contrast {v} (good photos: ~{t})",
        "harsh {c} of the frame: contrast {v} (good photos: ~{t})",
    ),
    _Template(
        r"cell_(tl|tc|tr|ml|mc|mr|bl|bc|br)_sharpness",
        "sharpness",
        "blurry {c} of the frame: sharpness {v} (good photos: ~{t})",
        "very crisp or grainy {c} of the frame: sharpness {v} (good photos: ~{t})",
        _f0,
    ),
    _Template(
        r"cell_mc_value",
        "exposure",
        "dim centre of the frame: value {v} (good photos: ~{t})",
        "glaring centre of the frame: value {v} (good photos: ~{t})",
    ),
    _Template(
        r"cell_darkest_brightness",
        "exposure",
        "a dark part of the frame: darkest ninth brightness {v} (good photos: ~{t})",
        "darkest ninth of the frame brightness {v} (good photos: ~{t})",
    ),
    _Template(
        r"cell_sharpest_sharpness",
        "sharpness",
        "blurry all over: even the sharpest part of the frame has sharpness {v} "
        "(good photos: ~{t})",
        "very crisp or grainy detail: sharpest part of the frame {v} (good photos: ~{t})",
        _f0,
    ),
    _Template(
        r"cell_centre_sharpness_share",
        "sharpness",
        "centre softer than the rest, focus missed? (centre / sharpest cell {v}; "
        "good photos: ~{t})",
        "sharp centre (centre / sharpest cell {v}; good photos: ~{t})",
    ),
    _Template(
        r"nss_s\d_local_contrast_p\d+",
        "detail",
        "little crisp detail: local contrast {v} (good photos: ~{t})",
        "busy, high-contrast detail: local contrast {v} (good photos: ~{t})",
        _f3,
    ),
    _Template(
        r"nss_s\d_(shape|pair_shape)",
        "texture",
        "texture statistics of a blurred or smoothed photo (shape {v}; good photos: ~{t})",
        "texture statistics of a noisy photo (shape {v}; good photos: ~{t})",
    ),
    _Template(
        r"nss_s\d_kurtosis",
        "texture",
        "texture statistics of a noisy photo (kurtosis {v}; good photos: ~{t})",
        "texture statistics of a blurred or smoothed photo (kurtosis {v}; good photos: ~{t})",
        _f1,
    ),
    _Template(
        r"nss_s\d_(variance|pair_left_variance|pair_right_variance)",
        "texture",
        "fine texture smoothed away, as by blur or noise reduction "
        "(texture energy {v}; good photos: ~{t})",
        "grainy texture, as from noise (texture energy {v}; good photos: ~{t})",
        _f3,
    ),
    _Template(
        r"nss_s\d_(skewness|pair_mean)",
        "texture",
        "texture statistics unlike a clean photo's, as from blur, noise or compression "
        "(texture asymmetry {v}; good photos: ~{t})",
        "texture statistics unlike a clean photo's, as from blur, noise or compression "
        "(texture asymmetry {v}; good photos: ~{t})",
        _f3,
    ),
    _Template(
        r"nss_s\d_local_contrast_cv",
        "detail",
        "detail spread evenly, nothing stands out (variation {v}; good photos: ~{t})",
        "detail in a few places only (variation {v}; good photos: ~{t})",
    ),
    _Template(
        r"nima_(\w+)_mean",
        "nima {m}",
        "low NIMA {m} score {v} (good photos: ~{t})",
        "NIMA {m} score {v} (good photos: ~{t})",
        _f1,
    ),
    _Template(
        r"nima_(\w+)_std",
        "nima {m}",
        "NIMA {m} spread {v} (good photos: ~{t})",
        "people would disagree (NIMA {m} spread {v}; good photos: ~{t})",
    ),
)
_COMPILED = [(re.compile(rf"^{t.pattern}$"), t) for t in _TEMPLATES]


def describe(feature: str, value: float, typical: float) -> tuple[str, str]:
    """(family, sentence): ``feature`` has ``value`` where good photos have ``typical``."""
    found = _template_for(feature)
    if found is not None:
        template, match = found
        groups = match.groups()
        words = {
            "q": QUARTER_WORDS.get(groups[0], "") if groups and feature.startswith("q_") else "",
            "m": groups[0] if groups and feature.startswith("nima_") else "",
            "c": CELL_WORDS.get(groups[0], "") if groups and feature.startswith("cell_") else "",
        }
        if math.isnan(value):
            return template.family.format(**words), f"{feature} could not be measured"
        higher = math.isnan(typical) or value > typical
        phrase = template.high if higher else template.low
        if template.near and (value <= 0 if higher else value >= 0):
            phrase = template.near
        text = phrase.format(
            v=template.fmt(value),
            t=template.fmt(typical) if not math.isnan(typical) else "?",
            **words,
        )
        return template.family.format(**words), text
    if math.isnan(value):
        return feature, f"{feature} could not be measured"
    side = "higher" if math.isnan(typical) or value > typical else "lower"
    return feature, f"{feature} {value:.3g} is {side} than in good photos (~{typical:.3g})"


def top_reasons(
    values: Mapping[str, float],
    contributions: Sequence[float],
    feature_names: Sequence[str],
    typical: Mapping[str, float],
    *,
    top: int = 3,
    min_contribution: float = 0.15,
) -> list[Reason]:
    """The ``top`` feature families pushing hardest towards "bad", strongest first.

    Parameters
    ----------
    values : mapping
        The photo's feature values.
    contributions : sequence of float
        SHAP values in log-odds of "good", in ``feature_names`` order.
    feature_names : sequence of str
    typical : mapping
        Median of each feature over good training photos.
    top : int
        Most reasons returned.
    min_contribution : float
        Families whose summed push towards bad is weaker than this (log-odds) get no
        sentence.
    """
    contributions = np.asarray(contributions, dtype=np.float64)
    families: dict[str, list[int]] = {}
    described: dict[int, tuple[str, str]] = {}
    for i, name in enumerate(feature_names):
        value = float(values.get(name, math.nan))
        described[i] = describe(name, value, float(typical.get(name, math.nan)))
        families.setdefault(described[i][0], []).append(i)
    totals = {family: float(contributions[idx].sum()) for family, idx in families.items()}
    reasons: list[Reason] = []
    for family in sorted(totals, key=totals.get):
        if totals[family] > -min_contribution or len(reasons) >= top:
            break
        # A missing value (no object in that quarter, NIMA off) carries weight in the model
        # but says nothing a moderator can act on: speak through measured features only.
        measured = [
            i
            for i in families[family]
            if not math.isnan(float(values.get(feature_names[i], math.nan)))
        ]
        # Strongest push first; a feature whose value prints the same as good photos'
        # ("0.05; good photos: ~0.05") shows the moderator nothing, so the next one speaks.
        for i in sorted(measured, key=lambda i: contributions[i]):
            if contributions[i] >= 0:
                break
            name = whole_frame_feature(feature_names[i], values, typical)
            value, usual = float(values.get(name, math.nan)), float(typical.get(name, math.nan))
            if not shows_a_difference(name, value, usual):
                continue
            reasons.append(
                Reason(
                    feature=name,
                    value=value,
                    typical=usual,
                    contribution=float(contributions[i]),
                    family=family,
                    family_contribution=totals[family],
                    text=describe(name, value, usual)[1],
                )
            )
            break
    return reasons


def shows_a_difference(feature: str, value: float, typical: float) -> bool:
    """Whether ``value`` and ``typical`` read differently at the precision reasons print."""
    if math.isnan(value) or math.isnan(typical):
        return True
    found = _template_for(feature)
    fmt = found[0].fmt if found else _f3
    return fmt(value) != fmt(typical)


def _template_for(feature: str) -> tuple[_Template, re.Match[str]] | None:
    """The first template whose pattern matches ``feature``, with the match."""
    for regex, template in _COMPILED:
        match = regex.match(feature)
        if match:
            return template, match
    return None


# A local shortfall (one cell, one quarter, the object) that the whole frame shares is said
# as a whole-frame defect: "blurry bottom-left of the frame" misleads when nothing in the
# photo is sharp. (local feature, witness that the whole frame shares it, feature to say)
_WHOLE_FRAME: tuple[tuple[re.Pattern[str], str, str], ...] = (
    (
        re.compile(r"^(cell_\w+_sharpness|object_sharpness|background_sharpness)$"),
        "cell_sharpest_sharpness",
        "cell_sharpest_sharpness",
    ),
    (
        re.compile(
            r"^((cell|q)_\w+_brightness|quadrant_darkest_brightness|cell_darkest_brightness|"
            r"cell_mc_value|object_brightness|background_brightness)$"
        ),
        "quadrant_brightest_brightness",
        "brightness",
    ),
)


def whole_frame_feature(
    name: str, values: Mapping[str, float], typical: Mapping[str, float]
) -> str:
    """The feature to speak through for ``name``'s shortfall: ``name`` itself, or its
    whole-frame counterpart when even the best part of the frame falls short too (the
    sharpest cell is softer, the brightest quarter darker, than in typical good photos).
    """

    def below(feature: str) -> bool:
        v, t = float(values.get(feature, math.nan)), float(typical.get(feature, math.nan))
        return not (math.isnan(v) or math.isnan(t)) and v < t

    for pattern, witness, say in _WHOLE_FRAME:
        if pattern.match(name) and below(name) and below(witness) and say in values:
            return say
    return name


def reasons_text(reasons: Sequence[Reason]) -> str:
    """Reasons joined for one CSV cell."""
    return "; ".join(r.text for r in reasons)


def save_waterfall(
    contributions: np.ndarray,
    expected_value: float,
    values: Sequence[float],
    feature_names: Sequence[str],
    path: str,
    *,
    max_display: int = 12,
    title: str | None = None,
) -> None:
    """Save shap's waterfall plot of one photo's contributions (log-odds of "good") as PNG."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    import shap

    explanation = shap.Explanation(
        values=np.asarray(contributions, dtype=np.float64),
        base_values=float(expected_value),
        data=np.asarray(values, dtype=np.float64),
        feature_names=list(feature_names),
    )
    plt.figure()
    shap.plots.waterfall(explanation, max_display=max_display, show=False)
    figure = plt.gcf()
    if title:
        figure.suptitle(title)
    figure.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(figure)

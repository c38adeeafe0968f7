"""Does the model catch every defect type, rank its severity, and name it?

Usage::

    python benchmarks/bench_defects.py [--model DIR] [--photos 100] [--severities 0.25 0.5 0.75 1]

Takes the first ``--photos`` good clive-dev photos (MOS >= 60, in name order), applies each
defect of :data:`photoqc.synthetic.defects.DEFECT_FAMILIES` (Gaussian noise, JPEG down to quality
10, Gaussian blur, under-exposure, over-exposure with clipping, a warm colour cast) at each
severity, saves each copy as its source was saved (PNG stays PNG, a JPEG keeps its quality;
the JPEG defect is saved at its own quality), and scores everything with the model (default:
the built-in one) through ``photoqc score``'s own pipeline. Per defect it prints:

- ``bad``: share of copies at the highest severity called bad (target >= 90 %);
- ``medians``: median p_good of the originals, then of each severity (must fall);
- ``named``: share of those bad copies whose first reason names the defect's family
  (noise, compression, sharpness, exposure, colour; target >= 80 %).
"""

from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from photoqc.assess.recipe import RecipeOptions
from photoqc.assess.scorer import Scorer
from photoqc.features.compression import jpeg_quality
from photoqc.images import load_image
from photoqc.models.bundle import default_model_dir
from photoqc.pipelines.batch.inputs import InputItem
from photoqc.synthetic.defects import DEFECT_FAMILIES, DEGRADATIONS, jpeg_quality_for

SHARED = Path(__file__).resolve().parents[2] / "shared"


def save_like(pixels: np.ndarray, source, path: Path, quality: int | None = None) -> Path:
    """``pixels`` saved as the source photo was (or as JPEG at ``quality``)."""
    if quality is not None or source.format == "JPEG":
        if quality is None:
            estimated = jpeg_quality(source.jpeg_quantization)
            quality = 95 if np.isnan(estimated) else int(estimated)
        path = path.with_suffix(".jpg")
        Image.fromarray(pixels).save(path, "JPEG", quality=quality)
    else:
        path = path.with_suffix(".png")
        Image.fromarray(pixels).save(path, "PNG")
    return path


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=SHARED / "data" / "clive-dev")
    parser.add_argument("--model", type=Path, default=default_model_dir())
    parser.add_argument("--photos", type=int, default=100)
    parser.add_argument("--severities", type=float, nargs="*", default=[0.25, 0.5, 0.75, 1.0])
    args = parser.parse_args()
    labels = pd.read_csv(args.data / "labels.csv")
    good = labels[labels["mos"] >= 60].sort_values("image").head(args.photos)
    scorer, _ = Scorer.from_model(args.model, RecipeOptions(offline=True))
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        items = []
        for k, image in enumerate(good["image"]):
            path = args.data / image
            source = load_image(path)
            items.append((InputItem(f"{k}/original", path), "original", 0.0))
            for defect in DEFECT_FAMILIES:
                for severity in args.severities:
                    pixels = DEGRADATIONS[defect](source.pixels, severity)
                    quality = jpeg_quality_for(severity) if defect == "jpeg" else None
                    copy = save_like(
                        pixels, source, scratch / f"{k}_{defect}_{round(100 * severity)}", quality
                    )
                    items.append((InputItem(f"{k}/{defect}/{severity}", copy), defect, severity))
        for start in range(0, len(items), 32):
            chunk = items[start : start + 32]
            for (_, defect, severity), judged in zip(
                chunk, scorer.assess([item for item, _, _ in chunk]), strict=True
            ):
                rows.append(
                    {
                        "defect": defect,
                        "severity": severity,
                        "p_good": judged.p_good,
                        "bad": judged.verdict == "bad",
                        "family": judged.reasons[0].family if judged.reasons else "",
                    }
                )
    table = pd.DataFrame(rows)
    originals = table[table["defect"] == "original"]
    print(
        f"{len(good)} good clive-dev photos (MOS >= 60), model {args.model.name}, threshold "
        f"{scorer.bundle.threshold:.3f}; originals called bad: {originals['bad'].mean():.0%}, "
        f"median p_good {originals['p_good'].median():.2f}\n"
    )
    print(
        f"{'defect':16s} {'bad at top':>10s} {'named':>7s}  medians (original, then each severity)"
    )
    worst = max(args.severities)
    for defect, family in DEFECT_FAMILIES.items():
        copies = table[table["defect"] == defect]
        top = copies[copies["severity"] == worst]
        named = (top.loc[top["bad"], "family"] == family).mean() if top["bad"].any() else 0.0
        medians = [originals["p_good"].median()] + [
            copies.loc[copies["severity"] == s, "p_good"].median() for s in args.severities
        ]
        falling = all(a > b for a, b in itertools.pairwise(medians))
        print(
            f"{defect:16s} {top['bad'].mean():>10.0%} {named:>7.0%}  "
            + " > ".join(f"{m:.2f}" for m in medians)
            + ("" if falling else "   (not falling)")
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

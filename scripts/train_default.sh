#!/usr/bin/env bash
# Rebuild photoqc's built-in default model (photoqc/default_model/) from the 600 real phone
# photos of clive-dev (a CLIVE subset, MOS 0-100 from ~175 raters each), kept beside the
# repository (first argument: its folder).
#
# The recipe, each part measured in benchmarks/bench_accuracy.py (results/clive_accuracy.txt):
# - linear MOS targets, MOS / 100 (--mos-target linear, T = 50, s = 50);
# - NIMA (idealo's technical and aesthetic models, shipped in photoqc/weights/);
# - fastcut segmentation: no weights, so the default works on a fresh offline install;
# - NIMA's multi-level stats read by two learned heads (impression on the real photos, the
#   defect each copy shows on the copies and originals), out of fold, as the verdict's base
#   margin, with the trees as corrections where cross-validation keeps them (the default);
# - monotone constraints from each feature's direction (the default);
# - eight degraded copies of each good photo, in turn one of the 6 defects (noise, JPEG,
#   blur, exposure, colour cast; target scaled by severity) and one of KADID-10k's 25
#   distortion types (target scaled by the copy's fidelity to its original, cubed), whose
#   defects become penalties beyond the worst good photo (--copy-kind mixed).
set -euo pipefail
cd "$(dirname "$0")/.."
data="${1:-../shared/data/clive-dev}"
photoqc train "$data/labels.csv" --mos-threshold 50 --mos-scale 50 --mos-target linear \
    --segmenter fastcut --copies 8 --copy-kind mixed --folds 5 --seed 0 --workers 2 --offline \
    --out photoqc/default_model
# The model, its description and its training photos' hashes ship; the curves and
# out-of-fold predictions stay out.
rm -f photoqc/default_model/roc.png photoqc/default_model/pr.png photoqc/default_model/cv_predictions.csv

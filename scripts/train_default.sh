#!/usr/bin/env bash
# Rebuild photoqc's built-in default model (photoqc/default_model/) from the 300 real phone
# photos of ../shared/data/clive-dev (CLIVE subset, MOS 0-100 from ~175 raters each).
#
# - soft MOS targets, sigmoid((mos - 50) / 10): measured better than hard labels at mos >= 50
#   (ROC-AUC 0.859 vs 0.851 over 5 x 5-fold CV, benchmarks/bench_accuracy.py);
# - GrabCut segmentation: needs no weights, so the default works on a fresh offline install,
#   and beat no segmentation (see benchmarks/results/clive_accuracy.txt) for ~0.3 s a photo
#   (Mask R-CNN's COCO weights are not on this machine to compare);
# - no NIMA: its weights do not ship with photoqc.
set -euo pipefail
cd "$(dirname "$0")/.."
data="${1:-../shared/data/clive-dev}"
photoqc train "$data/labels.csv" --mos-threshold 50 --mos-scale 10 --segmenter grabcut \
    --folds 5 --seed 0 --workers 2 --offline --out photoqc/default_model
# Only the model and its description ship; the curves and out-of-fold predictions stay out.
rm -f photoqc/default_model/roc.png photoqc/default_model/pr.png photoqc/default_model/cv_predictions.csv

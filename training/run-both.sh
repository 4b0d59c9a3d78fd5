#!/usr/bin/env bash
# The two training runs of this model, one after the other (resumable: rerun after an interruption).
# A: basic photometric augmentation; B: strong photometric augmentation + wider scale range.
# Both hold out training sequence 0001TP to estimate generalisation to an unseen road; val selects.
set -euo pipefail
cd "$(dirname "$0")/.."
/usr/bin/python3 training/train.py --run training/runs/camvid-hold0001TP --holdout 0001TP --epochs 70 --threads 2
/usr/bin/python3 training/train.py --run training/runs/camvid-strong-hold0001TP --holdout 0001TP --epochs 45 --aug strong --scale 0.5,2.0 --threads 2

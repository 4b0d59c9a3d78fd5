#!/usr/bin/env bash
# Issue 13 on the 2-core CPU (no GPU lent): grow the shipped `fast` network into `grown` (a deeper, wider
# deep branch that starts out computing exactly what `fast` computes: fast_scnn.grow) and fine-tune it,
# beside a control that fine-tunes `fast` itself on the same schedule. Both train on the train split only,
# so val (never trained on) measures them; both resume where they stopped (--resume) if interrupted.
#   nohup bash training/cpu-grow.sh > training/runs/cpu-grow/run.log 2>&1 &
#   then: python3 training/train_gpu.py unpack training/runs/cpu-grow/NAME.pt training/runs/cpu-grow-NAME
set -u
PY=${PY:-/usr/bin/python3}; EPOCHS=${EPOCHS:-40}; OUT=${OUT:-training/runs/cpu-grow}
BASE=training/runs/gpu-final-train-p0.25/best.pt   # the shipped model's checkpoint (train split, weight power 0.25)
common="--data ../shared/data/camvid --out $OUT --device cpu --threads 2 --batch 8 --crop 352x480 --scale 0.5,2.0
  --aug strong --weight-power 0.25 --ema 0.999 --lr 0.02 --lr-rest 0.1 --epochs $EPOCHS --eval-every 5 --resume"
nice -n 5 $PY training/train_gpu.py $common --name grown --arch grown --grow $BASE
nice -n 5 $PY training/train_gpu.py $common --name fast-ft --arch fast --init $BASE

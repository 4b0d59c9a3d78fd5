#!/usr/bin/env bash
# The four long runs of train_gpu.py side by side on one GPU, each fitting its schedule into
# BUDGET seconds. Written for the lent GPU machine (its python3 holds PyTorch):
#
#   /usr/bin/python3 training/pack_camvid.py --out .gpu/camvid      # here, once (ignored by git)
#   OUT=somewhere BUDGET=420 bash training/gpu-runs.sh               # there
#   /usr/bin/python3 training/train_gpu.py unpack OUT/NAME.pt training/runs/gpu-NAME   # here
#
# strong / strong-aux hold out training sequence 0001TP (62 images) to choose the recipe by a road
# the model never saw; train / train-aux use every training image and are selected on val.
set -u
OUT=${OUT:?set OUT}; BUDGET=${BUDGET:-420}; DATA=${DATA:-.gpu/camvid}
PY=${PY:-python3}
mkdir -p "$OUT"
{ nvidia-smi -L; $PY -c 'import torch; print("torch", torch.__version__, torch.cuda.get_device_name(0))'; } 2>&1 | tee "$OUT/train.log"
common="--data $DATA --out $OUT --aug strong --scale 0.5,2.0 --epochs 1000 --time-budget $BUDGET --eval-every 20 --threads 3 ${EXTRA:-}"
$PY training/train_gpu.py $common --name hold-strong --holdout 0001TP            >> "$OUT/train.log" 2>&1 &
$PY training/train_gpu.py $common --name hold-strong-aux --holdout 0001TP --aux 0.4 >> "$OUT/train.log" 2>&1 &
$PY training/train_gpu.py $common --name train-strong                            >> "$OUT/train.log" 2>&1 &
$PY training/train_gpu.py $common --name train-strong-aux --aux 0.4               >> "$OUT/train.log" 2>&1 &
wait
grep -h "done:" "$OUT/train.log"; ls -la "$OUT"

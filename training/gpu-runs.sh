#!/usr/bin/env bash
# Long runs of train_gpu.py side by side on one GPU, each fitting its schedule into BUDGET seconds.
# Written for the lent GPU machine (its python3 holds PyTorch):
#
#   /usr/bin/python3 training/pack_camvid.py --out .gpu/camvid      # here, once (ignored by git)
#   OUT=somewhere BUDGET=420 SET=weights bash training/gpu-runs.sh  # there
#   /usr/bin/python3 training/train_gpu.py unpack OUT/NAME.pt training/runs/gpu-NAME   # here
#
# Runs named hold-* hold out training sequence 0001TP (62 images) to choose the recipe by a road the
# model never saw; train-* use every training image and are selected on val.
#   SET=aux      (session 3, 4 runs): strong augmentation with and without the paper's auxiliary
#                losses; train-strong is the model shipped from that session.
#   SET=weights  (session 4, 6 runs): class-weight power 1 / 0.5 / 0.25 (median-frequency weights
#                ** P), each with a weight average (EMA 0.999) — the shipped model over-predicted the
#                rare classes (SignSymbol predicted on 4x its pixels, Pedestrian 3x).
#   SET=final    (session 4, 2 runs): the two best weightings on every training image, alone on the GPU
#                so that the budget buys twice the epochs.
set -u
OUT=${OUT:?set OUT}; BUDGET=${BUDGET:-420}; DATA=${DATA:-.gpu/camvid}; SET=${SET:-weights}
PY=${PY:-python3}
mkdir -p "$OUT"
{ nvidia-smi -L; $PY -c 'import torch; print("torch", torch.__version__, torch.cuda.get_device_name(0))'; } 2>&1 | tee "$OUT/train.log"
common="--data $DATA --out $OUT --aug strong --scale 0.5,2.0 --epochs 1000 --time-budget $BUDGET --eval-every 20 ${EXTRA:-}"
run() { $PY training/train_gpu.py $common "$@" >> "$OUT/train.log" 2>&1 & }
case $SET in
  aux)
    run --threads 3 --name hold-strong --holdout 0001TP
    run --threads 3 --name hold-strong-aux --holdout 0001TP --aux 0.4
    run --threads 3 --name train-strong
    run --threads 3 --name train-strong-aux --aux 0.4 ;;
  weights)
    for p in 1 0.5 0.25; do
      run --threads 2 --ema 0.999 --weight-power $p --name hold-p$p --holdout 0001TP
      run --threads 2 --ema 0.999 --weight-power $p --name train-p$p
    done ;;
  final)
    for p in 0.5 0.25; do
      run --threads 4 --ema 0.999 --weight-power $p --name train-p$p
    done ;;
  *) echo "unknown SET=$SET" >&2; exit 2 ;;
esac
wait
grep -h "done:" "$OUT/train.log"; ls -la "$OUT"

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
#   SET=strong   (issue 13, 4 runs, prepared, not yet run): the `strong` key-frame network (fast_scnn.ARCHS:
#                1.78 GMACs at 360x480, 3.2x `fast`) against `fast` under the same budget, on the standard
#                protocol: train + val (468 images), weight power 0.25, EMA 0.999. hold-* leave 0001TP out
#                (the recipe's estimate for unseen roads, which chooses); trainval-* are the shippable
#                weights. --slim bundles (float16 final weights: strong ~11 MiB, fast ~2.3 MiB) so that all
#                four come back (a device call returns at most 8 files of 16 MiB).
#   SET=loso     (issue 13, 3 runs, prepared): `strong` leaving each training sequence out in turn
#                (0001TP, 0006R0, 0016E5 — the last also takes val out of training), for a
#                leave-one-sequence-out estimate.
#
# One call for SET=strong, carrying the packed data (.gpu, 40 MiB), with the time the lease leaves:
#   run(command="OUT=$OUT BUDGET=400 SET=strong bash training/gpu-runs.sh", carry=[".gpu"], timeout_s=560)
# then here, for each bundle: train_gpu.py unpack $OUT/NAME.pt training/runs/gpu-strong-NAME
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
  strong)
    for arch in strong fast; do
      run --threads 4 --arch $arch --with-val --slim --ema 0.999 --weight-power 0.25 --name hold-$arch --holdout 0001TP
      run --threads 4 --arch $arch --with-val --slim --ema 0.999 --weight-power 0.25 --name trainval-$arch
    done ;;
  loso)
    for seq in 0001TP 0006R0 0016E5; do
      run --threads 5 --arch strong --with-val --slim --ema 0.999 --weight-power 0.25 --name loso-strong-$seq --holdout $seq
    done ;;
  *) echo "unknown SET=$SET" >&2; exit 2 ;;
esac
wait
grep -h "done:" "$OUT/train.log"; ls -la "$OUT"

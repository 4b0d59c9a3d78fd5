#!/usr/bin/env bash
# Export a checkpoint to models/<name>, evaluate it with the real runtime (segflow eval) on CamVid
# val and on the held-out training sequence, and record the figures in its manifest.
#   training/finish.sh training/runs/camvid-hold0001TP/last.pt 0001TP "training/train.py ..."
# With FUSER=<train_fuser.py checkpoint> (and FUSER_CMD="<its command>") the temporal fuser is exported too.
set -euo pipefail
cd "$(dirname "$0")/.."
ckpt=$1 holdout=$2 cmd=$3 name=${4:-fast-scnn-camvid}
data=../shared/data/camvid
out=models/$name
fuser=()
if [ -n "${FUSER:-}" ]; then fuser=(--fuser "$FUSER" --fuser-command "${FUSER_CMD:-}"); fi
/usr/bin/python3 training/export.py --ckpt "$ckpt" --out "$out" --name "$name" --command "$cmd" "${fuser[@]}" 2>/dev/null
tmp=$(mktemp -d)
mkdir -p "$tmp/img" "$tmp/lab"
for f in "$data"/train/"$holdout"_*.png; do ln -s "$(realpath "$f")" "$tmp/img/"; ln -s "$(realpath "$data/trainannot/$(basename "$f")")" "$tmp/lab/"; done
node bin/segflow.js eval --images "$data/val" --labels "$data/valannot" --model "$out" --json > "$tmp/val.json"
node bin/segflow.js eval --images "$tmp/img" --labels "$tmp/lab" --model "$out" --json > "$tmp/holdout.json"
node -e '
const fs = require("fs");
const pick = (f) => { const r = JSON.parse(fs.readFileSync(f)); return { images: r.images, miou: r.miou, pixelAccuracy: r.pixelAccuracy, meanAccuracy: r.meanAccuracy, fwIoU: r.fwIoU, perClassIoU: Object.fromEntries(r.perClass.map((c) => [c.name, c.iou])) }; };
fs.writeFileSync(process.argv[1] + "/metrics.json", JSON.stringify({ units: "percent", val: pick(process.argv[1] + "/val.json"), ["heldOut_" + process.argv[2]]: pick(process.argv[1] + "/holdout.json") }, null, 2));
' "$tmp" "$holdout"
/usr/bin/python3 training/export.py --ckpt "$ckpt" --out "$out" --name "$name" --command "$cmd" --metrics "$tmp/metrics.json" "${fuser[@]}" 2>/dev/null
cat "$tmp/metrics.json" | head -12
rm -rf "$tmp"

#!/usr/bin/env bash
# Export a checkpoint to models/<name>, evaluate it with the real runtime (segflow eval) on CamVid
# val and on the held-out training sequence, and record the figures in its manifest.
#   training/finish.sh training/runs/camvid-hold0001TP/last.pt 0001TP "training/train.py ..."
# HOLDOUT "-" means the checkpoint saw every training sequence: only val is evaluated, and with
# RECIPE_MODEL=<a model dir exported by this script from a run of the same recipe that held a
# sequence out> its held-out figures are recorded as the recipe's estimate (recipeHeldOut_<seq>).
# With FUSER=<train_fuser.py checkpoint> (and FUSER_CMD="<its command>") the temporal fuser is exported too.
# Every figure is measured twice: as the runtime runs key frames (refined by the fuser, when the
# model has one: `val`, `heldOut_*`) and the two-branch network alone (`*NetworkAlone*`).
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
node bin/segflow.js eval --images "$data/val" --labels "$data/valannot" --model "$out" --json --tta off > "$tmp/val.json"
node bin/segflow.js eval --images "$data/val" --labels "$data/valannot" --model "$out" --json --refine off --tta off > "$tmp/val-alone.json"
if [ "$holdout" != "-" ]; then
  for f in "$data"/train/"$holdout"_*.png; do ln -s "$(realpath "$f")" "$tmp/img/"; ln -s "$(realpath "$data/trainannot/$(basename "$f")")" "$tmp/lab/"; done
  node bin/segflow.js eval --images "$tmp/img" --labels "$tmp/lab" --model "$out" --json --tta off > "$tmp/holdout.json"
  node bin/segflow.js eval --images "$tmp/img" --labels "$tmp/lab" --model "$out" --json --refine off --tta off > "$tmp/holdout-alone.json"
fi
node -e '
const fs = require("fs");
const [dir, holdout, recipe] = process.argv.slice(1);
const pick = (f) => { const r = JSON.parse(fs.readFileSync(f)); return { images: r.images, refined: r.refined, miou: r.miou, pixelAccuracy: r.pixelAccuracy, meanAccuracy: r.meanAccuracy, fwIoU: r.fwIoU, perClassIoU: Object.fromEntries(r.perClass.map((c) => [c.name, c.iou])) }; };
const m = { units: "percent", val: pick(dir + "/val.json"), valNetworkAlone: pick(dir + "/val-alone.json") };
if (holdout !== "-") {
  m["heldOut_" + holdout] = pick(dir + "/holdout.json");
  m["heldOutNetworkAlone_" + holdout] = pick(dir + "/holdout-alone.json");
}
if (recipe) {
  const r = JSON.parse(fs.readFileSync(recipe + "/manifest.json"));
  for (const [k, v] of Object.entries(r.metrics)) {
    if (!k.startsWith("heldOut")) continue;
    const seq = k.split("_").pop();
    const how = r.provenance.command + (r.fuser ? "; its fuser: " + r.fuser.command : "");
    m["recipeH" + k.slice(1)] = { ...v, note: "this model saw every training sequence; the same recipe trained without " + seq + " (" + how + ") scored this on it" };
  }
}
fs.writeFileSync(dir + "/metrics.json", JSON.stringify(m, null, 2));
' "$tmp" "$holdout" "${RECIPE_MODEL:-}"
/usr/bin/python3 training/export.py --ckpt "$ckpt" --out "$out" --name "$name" --command "$cmd" --metrics "$tmp/metrics.json" "${fuser[@]}" 2>/dev/null
cat "$tmp/metrics.json" | head -12
rm -rf "$tmp"

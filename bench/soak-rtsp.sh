#!/usr/bin/env bash
# Manual long soak: the live graph on a real RTSP test camera for MINUTES minutes, sampling the
# segflow process's RSS, open fds, child processes and frame counters once a minute, with a
# WebSocket subscriber (bench/soak-subscriber.ts) decoding every label message all along.
#   bench/soak-rtsp.sh 25 > soak.log
set -euo pipefail
cd "$(dirname "$0")/.."
minutes=${1:-60}
# The camera: GStreamer's live test pattern (/cam, 1280x720 30 fps), or SOAK_CLIP=FILE.mp4 (H.264) looped
# as a camera without re-encoding (/file), e.g. SOAK_CLIP=../shared/data/video/solidWhiteRight.mp4.
clip=${SOAK_CLIP:-samples/synthetic-road.mp4}
mount=$([ -n "${SOAK_CLIP:-}" ] && echo file || echo cam)
port=8561 mport=9471 wsport=8191
/usr/bin/python3 ../shared/reference/rtsp_server.py $port "$clip" >/dev/null 2>&1 &
srv=$!
sleep 2
node bin/segflow.js run graphs/rtsp-live-every-frame.yaml --set camera.url=rtsp://127.0.0.1:$port/$mount \
  --set browser.port=$wsport --metrics-port $mport >/tmp/soak-segflow.log 2>&1 &
app=$!
sub=
trap 'kill $sub 2>/dev/null; kill -INT $app 2>/dev/null; sleep 3; kill $srv 2>/dev/null' EXIT
sleep 20
subfile=$(mktemp /tmp/soak-sub.XXXXXX)
node --import tsx bench/soak-subscriber.ts "ws://127.0.0.1:$wsport/ws?stream=cam0" "$subfile" &
sub=$!
sleep 6
echo "minute rss_mb fds children camera_frames carry_frames drops_segment reconnects ws_labels ws_missed ws_errors ws_closes ws_latency_ms ws_worst_ms"
for ((m = 0; m <= minutes; m++)); do
  rss=$(awk '/VmRSS/ {printf "%.1f", $2/1024}' /proc/$app/status)
  fds=$(ls /proc/$app/fd | wc -l)
  kids=$(ps --ppid $app --no-headers | wc -l)
  met=$(curl -s http://127.0.0.1:$mport/metrics)
  f() { echo "$met" | grep -v "^#" | grep -E "$1" | awk '{print $NF}' | head -1; }
  echo "$m $rss $fds $kids $(f 'node_frames_total\{node="camera"') $(f 'node_frames_total\{node="carry"') $(f 'edge_drops_total\{edge="keys.keyframes→segment.frame"') $(f 'rtsp_reconnects_total') $(node -e 'const s=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8"));console.log(s.labels,s.missed,s.errors,s.closes,s.latencyMs,s.worstLatencyMs)' "$subfile")"
  [ $m -lt $minutes ] && sleep 60
done

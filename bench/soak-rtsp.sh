#!/usr/bin/env bash
# Manual long soak: the live graph on a real RTSP test camera for MINUTES minutes, sampling the
# segflow process's RSS, open fds, child processes and frame counters once a minute.
#   bench/soak-rtsp.sh 25 > soak.log
set -euo pipefail
cd "$(dirname "$0")/.."
minutes=${1:-60}
port=8561 mport=9471 wsport=8191
/usr/bin/python3 ../shared/reference/rtsp_server.py $port samples/synthetic-road.mp4 >/dev/null 2>&1 &
srv=$!
sleep 2
node bin/segflow.js run graphs/rtsp-live-every-frame.yaml --set camera.url=rtsp://127.0.0.1:$port/cam \
  --set browser.port=$wsport --metrics-port $mport >/tmp/soak-segflow.log 2>&1 &
app=$!
trap 'kill -INT $app 2>/dev/null; sleep 3; kill $srv 2>/dev/null' EXIT
sleep 20
echo "minute rss_mb fds children camera_frames carry_frames drops_segment reconnects"
for ((m = 0; m <= minutes; m++)); do
  rss=$(awk '/VmRSS/ {printf "%.1f", $2/1024}' /proc/$app/status)
  fds=$(ls /proc/$app/fd | wc -l)
  kids=$(ps --ppid $app --no-headers | wc -l)
  met=$(curl -s http://127.0.0.1:$mport/metrics)
  f() { echo "$met" | grep -v "^#" | grep -E "$1" | awk '{print $NF}' | head -1; }
  echo "$m $rss $fds $kids $(f 'node_frames_total\{node="camera"') $(f 'node_frames_total\{node="carry"') $(f 'edge_drops_total\{edge="keys.keyframes→segment.frame"') $(f 'rtsp_reconnects_total')"
  [ $m -lt $minutes ] && sleep 60
done

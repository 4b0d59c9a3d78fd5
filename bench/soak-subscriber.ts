/**
 * A WebSocket subscriber for bench/soak-rtsp.sh: the package's `subscribe()` (src/net/ws/client.ts,
 * which decodes every label message as a client program would) on a websocket-sink stream, counted
 * into STATUS_FILE every 5 s (one JSON object: labels, JPEG frames, errors — a connection that broke
 * or a message that did not decode —, closes, frames the server dropped for it, the latest and worst
 * send-to-receive latency in ms). Subscribes again a second after any end.
 *   node --import tsx bench/soak-subscriber.ts ws://127.0.0.1:8191/ws?stream=cam0 /tmp/soak-sub.json
 */
import { writeFileSync } from 'node:fs';
import { subscribe } from '../src/net/ws/client.ts';

const [url, statusFile] = process.argv.slice(2);
if (!url || !statusFile) {
  console.error('usage: soak-subscriber.ts WS_URL STATUS_FILE');
  process.exit(2);
}
const s = { labels: 0, jpegs: 0, errors: 0, closes: 0, missed: 0, latencyMs: 0, worstLatencyMs: 0 };
setInterval(() => writeFileSync(statusFile, JSON.stringify(s) + '\n'), 5000);
for (;;) {
  const missedBefore = s.missed;
  try {
    for await (const f of subscribe(url)) {
      s.labels++;
      if (f.jpeg) s.jpegs++;
      s.missed = missedBefore + f.missed;
      s.latencyMs = Math.round((performance.timeOrigin + performance.now() - f.sendTimeMs) * 10) / 10; // the sender stamps sub-millisecond wall time
      s.worstLatencyMs = Math.max(s.worstLatencyMs, s.latencyMs);
    }
  } catch {
    s.errors++;
  }
  s.closes++;
  await new Promise((r) => setTimeout(r, 1000));
}

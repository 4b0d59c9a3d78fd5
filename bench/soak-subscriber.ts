/**
 * A WebSocket subscriber for bench/soak-rtsp.sh: connects to a segflow websocket-sink stream, decodes
 * every label message (header and class ids, as a client program would) and writes its counts to
 * STATUS_FILE every 5 s (one JSON object: labels, jpegs, bytes, decode errors, closes, frames the server dropped for it, the
 * latest and worst send-to-receive latency in ms). Reconnects a second after a close.
 *   node --import tsx bench/soak-subscriber.ts ws://127.0.0.1:8191/ws?stream=cam0 /tmp/soak-sub.json
 */
import { writeFileSync } from 'node:fs';
import WebSocket from 'ws';
import { decodeClassIds, decodeMessage, MsgType } from '../src/codecs/ws-protocol.ts';

const [url, statusFile] = process.argv.slice(2);
if (!url || !statusFile) {
  console.error('usage: soak-subscriber.ts WS_URL STATUS_FILE');
  process.exit(2);
}
const s = { labels: 0, jpegs: 0, bytes: 0, errors: 0, closes: 0, missed: 0, latencyMs: 0, worstLatencyMs: 0 };
let missedBefore = 0;
function connect(): void {
  const ws = new WebSocket(url!);
  ws.binaryType = 'nodebuffer';
  ws.on('message', (data: Buffer, binary: boolean) => {
    if (!binary) {
      // The server's count of frames it dropped for this client (a slow reader), per connection.
      const m = JSON.parse(data.toString('utf8')) as { type?: string; total?: number };
      if ((m.type === 'dropped' || m.type === 'end') && typeof m.total === 'number') s.missed = missedBefore + m.total;
      return;
    }
    s.bytes += data.length;
    try {
      const m = decodeMessage(data);
      if (m.type === MsgType.labels) {
        decodeClassIds(m);
        s.labels++;
        s.latencyMs = Math.round((performance.timeOrigin + performance.now() - m.sendTimeMs) * 10) / 10; // the sender stamps sub-millisecond wall time
        s.worstLatencyMs = Math.max(s.worstLatencyMs, s.latencyMs);
      } else if (m.type === MsgType.jpeg) s.jpegs++;
    } catch {
      s.errors++;
    }
  });
  ws.on('error', () => {});
  ws.on('close', () => {
    s.closes++;
    missedBefore = s.missed;
    setTimeout(connect, 1000);
  });
}
connect();
setInterval(() => writeFileSync(statusFile, JSON.stringify(s) + '\n'), 5000);

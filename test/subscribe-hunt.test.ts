/**
 * Subscribe bug hunt (session 10): defects found by driving the real nodes over real sockets.
 *
 * A zmq-source that joins a stream late (its first packet has seq 100, not 0) used to stop
 * reading after that first packet: flow control counted seqs 0..99 as in flight, so with a
 * websocket-sink joining frame and labels (the frame read, its labels still in the socket)
 * the graph stalled for good and subscribers got a hello and nothing else.
 *
 * A WebSocket client that sent subscribe messages without ever reading made the server buffer a
 * hello (~14x the bytes) for each, without bound (1.2 GB RSS after 25 s from one client), and the
 * messages kept it alive past the ping check.
 *
 * A zmq-source whose sender restarted (seq 0 again after seq 149) read on without flow control
 * until the new seqs passed the old ones: in the CLI, 975 frames queued on a lossless edge of a
 * graph with maxInFlight 8 (640 MB RSS).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test from 'ava';
import zmq from 'zeromq';
import { encodeControl, encodePacket, ZmqType } from '../src/codecs/zmq-wire.ts';
import type { Frame, Labels } from '../src/core/packet.ts';
import { FlowControl } from '../src/core/runtime/flow.ts';
import { freePort, metric, runLive, testRegistry, waitFor, wsClient } from './helpers/live.ts';

const W = 32;
const H = 24;
function frame(seq: number): Frame {
  return { kind: 'frame', source: 'decode', seq, ptsMs: seq * 40, width: W, height: H, data: new Uint8Array(W * H * 3).fill(seq & 255) };
}
function labels(seq: number, w = W, h = H): Labels {
  const classes = Uint8Array.from({ length: w * h }, (_, i) => ((i % w) + seq) % 7 < 3 ? 0 : 1);
  return { kind: 'labels', source: 'decode', seq, ptsMs: seq * 40, width: w, height: h, classes, classNames: ['Sky', 'Road'], palette: [[128, 128, 128], [128, 64, 128]], path: 'full', discontinuity: seq === 0 ? 'start' : undefined };
}

test.serial('subscribe-hunt › zmq-source joining a stream at seq 100 feeds a websocket-sink (frame + labels) to the end', async (t) => {
  const push = new zmq.Push({ linger: 0 });
  await push.bind('tcp://127.0.0.1:*');
  const endpoint = push.lastEndpoint!;
  const port = await freePort();
  const run = runLive({ yaml: `version: 1
maxInFlight: 4
nodes:
  in:      { type: zmq-source, options: { endpoint: "${endpoint}" } }
  browser: { type: websocket-sink, options: { port: ${port}, stream: s1 }, in: { labels: in.labels, frame: in.frame } }
` });
  try {
    // A sender that started long ago: the first packet this graph sees is seq 100 (push waits for the puller).
    const n = 30;
    const sending = (async () => {
      for (let seq = 100; seq < 100 + n; seq++) {
        await push.send(encodePacket(frame(seq)));
        await push.send(encodePacket(labels(seq)));
      }
      await push.send([encodeControl(ZmqType.end, undefined, 'decode')]);
    })();
    sending.catch(() => {}); // closed under a stalled graph: the assertion below says what went wrong
    const sunk = () => run.done.filter((d) => d.sink === 'browser').length;
    // Generous: 30 tiny packets take well under a second; a stalled graph never gets there.
    const all = await waitFor('the label maps through the websocket-sink', () => sunk() === n || undefined, 60_000).catch(() => false);
    t.true(all, `expected all ${n} label maps through the websocket-sink, got ${sunk()}`);
    if (!all) return;
    await run.result;
    t.is(run.done.find((d) => d.sink === 'browser')?.p.seq, 100);
  } finally {
    await run.stop().catch(() => {});
    push.close();
  }
});

test('subscribe-hunt › flow control: skipped seqs are not in flight, also behind a sink that lags', (t) => {
  const f = new FlowControl(4, ['a', 'b']);
  f.skipped(0, 99);
  f.emitted(100);
  t.is(f.inFlight, 1);
  t.false(f.blocked);
  f.emitted(101);
  f.finished('a', 101);
  f.finished('b', 100);
  // A gap 102..119 while sink b is still at 100: it passes the gap once it finishes 101.
  f.skipped(102, 119);
  f.emitted(120);
  t.is(f.inFlight, 20, 'b has not finished 101 yet: progress stays at 100');
  f.finished('b', 101);
  t.is(f.inFlight, 1, 'b finished 101 and so the gap: only 120 is in flight');
  f.finished('a', 120);
  f.finished('b', 120);
  t.is(f.inFlight, 0);
});

/** One masked WebSocket text frame (client → server), payload under 126 bytes. */
function clientTextFrame(text: string): Buffer {
  const p = Buffer.from(text);
  const mask = randomBytes(4);
  for (let i = 0; i < p.length; i++) p[i]! ^= mask[i & 3]!;
  return Buffer.concat([Buffer.from([0x81, 0x80 | p.length]), mask, p]);
}

test.serial('subscribe-hunt › a client that sends without reading the replies is closed (1008); a burst from a reading client is answered', async (t) => {
  const port = await freePort();
  const run = runLive({ yaml: `version: 1
nodes:
  src:  { type: test-labels, options: { fps: 10 } }
  sink: { type: websocket-sink, options: { port: ${port}, stream: s1 }, in: { labels: src.labels } }
` }, [], testRegistry);
  const s = new net.Socket();
  try {
    await waitFor('server', () => fetch(`http://127.0.0.1:${port}/health`).then((r) => r.ok, () => false), 30_000);
    // A reading client may send many messages at once: every one is answered.
    const ok = wsClient(`ws://127.0.0.1:${port}/ws?stream=s1`);
    await ok.opened;
    for (let i = 0; i < 200; i++) ok.ws.send('not json');
    await waitFor('200 error replies', () => ok.texts.filter((m) => m.type === 'error').length >= 200, 30_000);
    t.is(ok.ws.readyState, ok.ws.OPEN);
    ok.close();
    // A raw client that subscribes over and over and never reads what comes back.
    let closed = false;
    s.on('close', () => (closed = true)).on('error', () => {});
    await new Promise<void>((resolve) => s.connect(port, '127.0.0.1', resolve));
    s.write(`GET /ws?stream=s1 HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
    const first = await new Promise<string>((resolve) => s.once('data', (d) => resolve(String(d).split('\r\n')[0]!)));
    t.regex(first, / 101 /);
    s.pause();
    const chunk = Buffer.concat(Array.from({ length: 1000 }, () => clientTextFrame('{"type":"subscribe","stream":"s1"}')));
    // Up to 40 MB of requests (a few MB of unread replies fill the kernel's buffers first); the server cuts it off long before.
    for (let i = 0; i < 1000 && !closed; i++) {
      if (!s.write(chunk)) {
        await new Promise<void>((resolve) => {
          const go = () => {
            s.off('drain', go).off('close', go);
            resolve();
          };
          s.on('drain', go).on('close', go);
        });
      }
    }
    await waitFor('the server to close the socket', () => closed, 30_000).catch(() => {});
    t.true(closed, 'expected the server to close a client that floods requests without reading');
    t.true(metric(run.metrics, 'ws_refused_total', { port: String(port), reason: 'not_reading' }) >= 1);
  } finally {
    s.destroy();
    await run.stop().catch(() => {});
  }
});

test.serial('subscribe-hunt › zmq-source: a sender that restarts (seq 0 again) is still held to maxInFlight', async (t) => {
  const push = new zmq.Push({ linger: 0 });
  await push.bind('tcp://127.0.0.1:*');
  const dir = mkdtempSync(path.join(tmpdir(), 'segflow-restart-'));
  const run = runLive({ yaml: `version: 1
maxInFlight: 4
nodes:
  in:    { type: zmq-source, options: { endpoint: "${push.lastEndpoint}" } }
  masks: { type: label-map-sink, options: { dir: "${path.join(dir, 'labels')}" }, in: { labels: in.labels } }
` });
  try {
    const n = 150;
    const sunk = () => run.done.filter((d) => d.sink === 'masks').length;
    // The sender's first life: seq 0..149, all written before it restarts.
    const packets = Array.from({ length: n }, (_, seq) => encodePacket(labels(seq, 320, 240)));
    for (const p of packets) await push.send(p);
    await waitFor('the first run written', () => sunk() === n || undefined, 120_000);
    const edge = run.metrics.edges.get('in.labels→masks.labels')!;
    const before = edge.maxDepth;
    // Its second life: seq 0..149 again (PNG files take far longer to write than packets to arrive).
    for (const p of packets) await push.send(p);
    await push.send([encodeControl(ZmqType.end, undefined, 'decode')]);
    await waitFor('the second run written', () => sunk() === 2 * n || undefined, 120_000);
    await run.result;
    t.log(`edge max depth: ${before} in the first run, ${edge.maxDepth} after the restart (maxInFlight 4)`);
    t.true(before <= 8, `first run: max depth ${before}`);
    t.true(edge.maxDepth <= 8, `after the restart the edge queued ${edge.maxDepth} packets; expected at most about maxInFlight (4)`);
  } finally {
    await run.stop().catch(() => {});
    push.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('subscribe-hunt › flow control: after a restart, progress counts in the new numbering', (t) => {
  const f = new FlowControl(4, ['a']);
  for (let s = 0; s <= 148; s++) {
    f.emitted(s);
    f.finished('a', s);
  }
  f.emitted(149); // still in flight when the sender restarts
  f.restarted(0);
  for (let s = 0; s < 4; s++) f.emitted(s);
  t.is(f.inFlight, 4);
  t.true(f.blocked);
  f.finished('a', 149); // the old numbering's last packet finishing is not progress
  t.true(f.blocked);
  f.finished('a', 1);
  t.is(f.inFlight, 2);
  t.false(f.blocked);
});

/**
 * Subscribe bug hunt, part 2 (session 11): defects found by driving the real nodes over real sockets.
 *
 * A WebSocket client that sent pings without reading made the server buffer a pong for each, without
 * bound (the pongs are not replies the 'not reading' check counted); unsolicited pongs of its own kept
 * it past the ping check.
 *
 * Frames queued for a slow WebSocket client when its stream ended were thrown away with the close
 * (1001), and so was the notice of frames dropped since its last one: the client could not tell that
 * it missed the end of the stream.
 *
 * A zmq-source whose publisher restarted and whose first packets of the new life were lost (the
 * subscriber reconnects only after the new publisher started sending: PUB/SUB slow joiner) took
 * the first packet it got (seq 5, no mark) as the next of the old stream: no discontinuity, nothing
 * counted; after seq 9 of the old life, seq 30 of the new one was counted as a gap of 20, unmarked.
 * Now zmq-sink sends its epoch (an id drawn when it opens) in every packet's meta, and zmq-source
 * marks the first packet of a new life `restart` and counts the packets of it that were lost.
 *
 * The dispatcher of live streams (src/net/zmq/dispatcher.ts) dropped every label map of a stream
 * whose numbering started again (a zmq-source upstream whose sender restarted: seq 0 after 9) as
 * stale, until the new seqs passed the old ones. And a worker that expired took with it, as lost,
 * a frame in flight at another worker (a stream that had moved on, inFlight 2), whose worker then
 * looked busy for good; that frame's labels, when they came, were ignored. A frame in flight at
 * the expired worker of a stream that had moved on was waited for until the live-frame timeout,
 * and when it timed out, the stream was moved (reassign: fresh state) off the worker that answered.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import net from 'node:net';
import test from 'ava';
import type { Socket } from 'node:net';
import zmq from 'zeromq';
import { decodeHeader, decodePackets, encodeControl, encodePacket, encodePackets, headerEpoch, ZmqType } from '../src/codecs/zmq-wire.ts';
import { Flags } from '../src/codecs/ws-protocol.ts';
import type { Frame, Labels, Packet } from '../src/core/packet.ts';
import { Dispatcher } from '../src/net/zmq/dispatcher.ts';
import { receivedPackets } from '../src/net/operators/received-packets.ts';
import { marbles } from './helpers/marbles.ts';
import { BIN, SAMPLE } from './helpers/cli.ts';
import { freePort, metric, runLive, sleep, testRegistry, waitFor, wsClient } from './helpers/live.ts';

/** One masked WebSocket control frame (client → server): opcode 0x9 ping, 0xA pong; payload ≤ 125 bytes. */
function clientControlFrame(opcode: number, payload: Buffer): Buffer {
  const p = Buffer.from(payload);
  const mask = randomBytes(4);
  for (let i = 0; i < p.length; i++) p[i]! ^= mask[i & 3]!;
  return Buffer.concat([Buffer.from([0x80 | opcode, 0x80 | p.length]), mask, p]);
}

/** A raw client socket upgraded to /ws?stream=NAME that reads nothing after the 101 response. */
async function rawSubscriber(port: number, stream: string): Promise<{ s: net.Socket; closed: () => boolean }> {
  const s = new net.Socket();
  let closed = false;
  s.on('close', () => (closed = true)).on('error', () => {});
  await new Promise<void>((resolve) => s.connect(port, '127.0.0.1', resolve));
  s.write(`GET /ws?stream=${stream} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
  const first = await new Promise<string>((resolve) => s.once('data', (d) => resolve(String(d).split('\r\n')[0]!)));
  if (!/ 101 /.test(first)) throw new Error(`expected 101 Switching Protocols, got ${first}`);
  s.pause();
  return { s, closed: () => closed };
}

test.serial('subscribe-hunt2 › a ping flood from a client that does not read is closed (1008, ping_flood); a watching client and a pinging reader are unaffected', async (t) => {
  const port = await freePort();
  // pingIntervalMs long: the flooder's own pongs would keep it alive anyway; the bound must not rest on the ping check.
  const run = runLive({ yaml: `version: 1
nodes:
  src:  { type: test-labels, options: { fps: 20 } }
  sink: { type: websocket-sink, options: { port: ${port}, stream: s1, pingIntervalMs: 600000 }, in: { labels: src.labels } }
` }, [], testRegistry);
  let flooder: net.Socket | undefined;
  try {
    await waitFor('server', () => fetch(`http://127.0.0.1:${port}/health`).then((r) => r.ok, () => false), 30_000);
    const good = wsClient(`ws://127.0.0.1:${port}/ws?stream=s1`);
    await good.opened;
    await waitFor('frames for the watching client', () => good.labels.length >= 3, 30_000);
    // A reading client may ping as fast as it likes: every ping is answered.
    const pinger = wsClient(`ws://127.0.0.1:${port}/ws?stream=s1`);
    await pinger.opened;
    let pongs = 0;
    pinger.ws.on('pong', () => pongs++);
    for (let i = 0; i < 200; i++) pinger.ws.ping(Buffer.alloc(125, i));
    await waitFor('200 pongs', () => pongs >= 200, 30_000);
    t.is(pinger.ws.readyState, pinger.ws.OPEN);
    pinger.close();
    // The flooder: pings (each answered with a pong of the same size) and unsolicited pongs, reading nothing.
    const raw = await rawSubscriber(port, 's1');
    flooder = raw.s;
    const chunk = Buffer.concat(Array.from({ length: 2000 }, (_, i) => clientControlFrame(i % 10 ? 0x9 : 0xa, Buffer.alloc(125, i))));
    // Up to 266 MB of pings; the server cuts it off long before (a few MB of pongs fill the kernel's buffers first).
    for (let i = 0; i < 1000 && !raw.closed(); i++) {
      if (!flooder.write(chunk)) {
        await new Promise<void>((resolve) => {
          const go = () => {
            flooder!.off('drain', go).off('close', go);
            resolve();
          };
          flooder!.on('drain', go).on('close', go);
        });
      }
    }
    await waitFor('the server to close the flooder', () => raw.closed(), 60_000).catch(() => {});
    t.true(raw.closed(), 'expected the server to close a client that floods pings without reading the pongs');
    t.true(metric(run.metrics, 'ws_refused_total', { port: String(port), reason: 'ping_flood' }) >= 1, 'counted as ping_flood');
    // The watching client got on with it.
    const seen = good.labels.length;
    await waitFor('frames after the flood', () => good.labels.length >= seen + 3, 30_000);
    t.is(good.ws.readyState, good.ws.OPEN);
    good.close();
  } finally {
    flooder?.destroy();
    await run.stop().catch(() => {});
  }
});

/** A label map of random class ids (RLE cannot shrink it: about `w*h` bytes on the wire). */
function noisyLabels(seq: number, w: number, h: number): Labels {
  const classes = Uint8Array.from({ length: w * h }, () => (Math.random() * 4) | 0);
  return { kind: 'labels', source: 'decode', seq, ptsMs: seq * 40, width: w, height: h, classes, classNames: ['a', 'b', 'c', 'd'], palette: [[0, 0, 0], [255, 0, 0], [0, 255, 0], [0, 0, 255]], path: 'full', discontinuity: seq === 0 ? 'start' : undefined };
}

test.serial('subscribe-hunt2 › at the end of the stream a slow client gets what was queued for it, or is told how many frames it never got (end message, 1001)', async (t) => {
  const push = new zmq.Push({ linger: 0 });
  await push.bind('tcp://127.0.0.1:*');
  const port = await freePort();
  const run = runLive({ yaml: `version: 1
nodes:
  in:      { type: zmq-source, options: { endpoint: "${push.lastEndpoint}" } }
  browser: { type: websocket-sink, options: { port: ${port}, stream: s1, maxBufferedBytesPerClient: 1024, drainTimeoutMs: 15000 }, in: { labels: in.labels } }
` });
  try {
    await waitFor('server', () => fetch(`http://127.0.0.1:${port}/health`).then((r) => r.ok, () => false), 30_000);
    const c = wsClient(`ws://127.0.0.1:${port}/ws?stream=s1`);
    await c.opened;
    await c.hello();
    let closeCode = 0;
    let closeReason = '';
    c.ws.on('close', (code, reason) => {
      closeCode = code;
      closeReason = String(reason);
    });
    // The client stops reading: ~300 KB frames fill the kernel's buffers, then its queue, then drop.
    const sock = (c.ws as unknown as { _socket: Socket })._socket;
    sock.pause();
    const n = 100;
    for (let seq = 0; seq < n; seq++) await push.send(encodePacket(noisyLabels(seq, 640, 480)));
    await push.send([encodeControl(ZmqType.end, undefined, 'decode')]);
    await waitFor('every label map through the sink', () => run.done.filter((d) => d.sink === 'browser').length === n || undefined, 120_000);
    // The stream is ending (gone from /streams): only now does the client read again.
    await waitFor('the stream to end', () => fetch(`http://127.0.0.1:${port}/streams`).then((r) => r.json(), () => undefined)
      .then((j: { streams?: { name: string }[] } | undefined) => j?.streams?.every((s) => s.name !== 's1')), 60_000);
    sock.resume();
    await waitFor('the close', () => closeCode !== 0, 60_000);
    await run.result;
    const dropped = c.texts.filter((m) => m.type === 'dropped').reduce((a, m) => a + Number(m.count), 0);
    const end = c.texts.find((m) => m.type === 'end');
    t.log(`received ${c.labels.length}, told dropped ${dropped}, end ${JSON.stringify(end)}, close ${closeCode} '${closeReason}'`);
    t.truthy(end, 'expected an end message before the close');
    t.is(closeCode, 1001);
    t.is(c.labels.length + dropped + Number(end?.count ?? 0), n, 'every frame is received or counted as missed');
    t.is(Number(end?.total ?? -1), n - c.labels.length, 'total: every frame this client missed');
    t.deepEqual(c.labels.map((m) => m.seq), [...c.labels.map((m) => m.seq)].sort((a, b) => a - b), 'in order');
  } finally {
    await run.stop().catch(() => {});
    push.close();
  }
});

function smallLabels(seq: number): Labels {
  const classes = Uint8Array.from({ length: 32 * 24 }, (_, i) => ((i % 32) + seq) % 7 < 3 ? 0 : 1);
  return { kind: 'labels', source: 'decode', seq, ptsMs: seq * 40, width: 32, height: 24, classes, classNames: ['Sky', 'Road'], palette: [[128, 128, 128], [128, 64, 128]], path: 'full', discontinuity: seq === 0 ? 'start' : undefined };
}

/** An XPUB bound on `endpoint` (retried while the old one's port is still being released). */
async function xpub(endpoint: string): Promise<zmq.XPublisher> {
  for (let i = 0; ; i++) {
    const x = new zmq.XPublisher({ linger: 0 });
    try {
      await x.bind(endpoint);
      return x;
    } catch (e) {
      x.close();
      if (i >= 50) throw e;
      await sleep(100);
    }
  }
}

/**
 * A publisher's two lives: seq 0..9, then (the subscriber reconnecting only after the new life's
 * seq 0..lost-1 went out to nobody) seq lost..lost+9 and the end. Epochs as the sender sends them.
 */
async function restartedPublisher(t: import('ava').ExecutionContext, o: { lost: number; epochs: [string, string] | undefined }) {
  const first = await xpub('tcp://127.0.0.1:*');
  const endpoint = first.lastEndpoint!;
  const port = await freePort();
  const run = runLive({ yaml: `version: 1
nodes:
  in:      { type: zmq-source, options: { endpoint: "${endpoint}", pattern: sub } }
  browser: { type: websocket-sink, options: { port: ${port}, stream: s1 }, in: { labels: in.labels } }
` });
  let second: zmq.XPublisher | undefined;
  try {
    await waitFor('server', () => fetch(`http://127.0.0.1:${port}/health`).then((r) => r.ok, () => false), 30_000);
    const c = wsClient(`ws://127.0.0.1:${port}/ws?stream=s1`);
    await c.opened;
    await c.hello();
    const sunk = () => run.done.filter((d) => d.sink === 'browser');
    await first.receive(); // the subscription: from here on the subscriber gets what is sent
    for (let seq = 0; seq < 10; seq++) await first.send(encodePacket(smallLabels(seq), o.epochs?.[0]));
    await waitFor('the first life through', () => sunk().length === 10 || undefined, 60_000);
    first.close();
    // The new life sends its first packets before any subscriber is connected: ZeroMQ drops them.
    second = new zmq.XPublisher({ linger: 0 });
    for (let seq = 0; seq < o.lost; seq++) await second.send(encodePacket(smallLabels(seq), o.epochs?.[1]));
    second.close();
    second = await xpub(endpoint);
    await second.receive(); // the subscriber is back
    for (let seq = o.lost; seq < o.lost + 10; seq++) await second.send(encodePacket(smallLabels(seq), o.epochs?.[1]));
    await second.send([encodeControl(ZmqType.end, undefined, 'decode')]);
    await waitFor('the second life through', () => sunk().length === 20 || undefined, 60_000);
    await waitFor('the browser got both lives', () => c.labels.length >= 20 || undefined, 30_000);
    await run.result;
    const after = sunk()[10]!.p;
    t.is(after.seq, o.lost);
    t.is(after.discontinuity, 'restart', `the first packet of the new life (seq ${o.lost}) is marked`);
    t.deepEqual(sunk().slice(11).map((d) => d.p.discontinuity), Array(9).fill(undefined), 'only the first');
    t.is(metric(run.metrics, 'zmq_seq_gaps_total', { node: 'in' }), o.lost, 'the new life\'s lost packets counted');
    t.is(metric(run.metrics, 'zmq_sender_restarts_total', { node: 'in' }), 1);
    t.true(run.log.some((l) => l.includes(`${o.lost} of its new labels packets lost`)), run.log.join('\n'));
    // A browser subscriber can tell: the discontinuity flag on the same frame.
    t.truthy(c.labels[10]!.flags & Flags.discontinuity);
    t.is(c.labels[10]!.seq, o.lost);
    c.close();
  } finally {
    await run.stop().catch(() => {});
    first.close();
    second?.close();
  }
}

test.serial('subscribe-hunt2 › zmq-source: a restarted publisher (no epoch, seq back to 5) whose first packets were lost is marked restart, 5 counted lost', async (t) => {
  await restartedPublisher(t, { lost: 5, epochs: undefined });
});

test.serial('subscribe-hunt2 › zmq-source: a restarted publisher with a new epoch whose first 30 packets were lost (seq 30 after 9) is marked restart, 30 counted lost', async (t) => {
  await restartedPublisher(t, { lost: 30, epochs: ['life-a', 'life-b'] });
});

test.serial('subscribe-hunt2 › zmq-sink → zmq-source across a real sender process killed and started again: one restart, the new life marked, epochs on the wire', async (t) => {
  const port = await freePort();
  const endpoint = `tcp://127.0.0.1:${port}`;
  const dir = mkdtempSync(path.join(tmpdir(), 'segflow-restart2-'));
  const graph = path.join(dir, 'sender.yaml');
  const { writeFileSync } = await import('node:fs');
  writeFileSync(graph, `version: 1
nodes:
  decode: { type: decoder, options: { path: "${SAMPLE}", realtime: true } }
  out:    { type: zmq-sink, options: { endpoint: "${endpoint}", pattern: pub }, in: { frame: decode.frame } }
`);
  const spy = new zmq.Subscriber({ linger: 0 });
  spy.connect(endpoint);
  spy.subscribe();
  const epochs: string[] = [];
  const spying = (async () => {
    for await (const [h] of spy) {
      const e = headerEpoch(decodeHeader(h!));
      if (e !== undefined && !epochs.includes(e)) epochs.push(e);
    }
  })().catch(() => {});
  const run = runLive({ yaml: `version: 1
nodes:
  in:  { type: zmq-source, options: { endpoint: "${endpoint}", pattern: sub, stopAtEnd: false } }
  enc: { type: encoder, options: { path: "${path.join(dir, 'out.mp4')}" }, in: { frame: in.frame } }
` });
  const start = () => {
    const child = spawn(process.execPath, [BIN, 'run', graph], { stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr!.resume();
    return child;
  };
  let sender = start();
  try {
    const frames = () => run.done.filter((d) => d.sink === 'enc');
    await waitFor('frames from the first sender', () => frames().length >= 10 || undefined, 120_000);
    await new Promise<void>((resolve) => {
      sender.once('exit', () => resolve());
      sender.kill('SIGKILL');
    });
    const before = frames().length;
    sender = start();
    await waitFor('frames from the restarted sender', () => frames().length >= before + 10 || undefined, 120_000);
    // Frames of the first life may still arrive after the kill: the new life begins at the one marked packet after the first.
    const all = frames().map((d) => d.p);
    const marked = all.flatMap((p, i) => (i > 0 && p.discontinuity ? [i] : []));
    t.is(marked.length, 1, `one mark after the first packet: ${all.map((p) => `${p.seq}${p.discontinuity ? `:${p.discontinuity}` : ''}`).join(' ')}`);
    const k = marked[0] ?? before;
    const first = all[k]!;
    t.log(`first life: ${k} frames up to seq ${all[k - 1]!.seq} (${before} before the kill); the new life's first frame received: seq ${first.seq} (${first.discontinuity})`);
    t.true(first.seq < all[k - 1]!.seq, 'the marked packet is the new life\'s (its numbering started again)');
    t.is(metric(run.metrics, 'zmq_sender_restarts_total', { node: 'in' }), 1);
    // With seq 0 received the new life lost nothing; later, the packets before it were lost and counted.
    if (first.seq > 0) {
      t.is(first.discontinuity, 'restart');
      t.true(run.log.some((l) => l.includes(`${first.seq} of its new frame packets lost`)), run.log.join('\n'));
    }
    t.true(metric(run.metrics, 'zmq_seq_gaps_total', { node: 'in' }) >= first.seq);
    await waitFor('two epochs seen on the wire', () => epochs.length === 2 || undefined, 30_000);
    t.regex(epochs[0]!, /^[0-9a-f]{16}$/);
  } finally {
    sender.kill('SIGKILL');
    spy.close();
    await spying;
    await run.stop().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  }
});

test('subscribe-hunt2 › receivedPackets: a new epoch or a seq not above the last is a restart (marked, its lost packets counted); the new life\'s own start mark is kept', (t) => {
  const f = (seq: number, epoch?: string, discontinuity?: string) => ({ p: { kind: 'frame', source: 'cam', seq, ptsMs: seq * 40, width: 1, height: 1, data: Uint8Array.from([seq, 0, 0]), ...(discontinuity ? { discontinuity } : {}) } as Packet, epoch });
  // a..c: life A (seq 0..2); d: life B, seq 7 (0..6 lost); e: B's next; g: life C from its own start; h..i: no epochs, seq back to 3.
  const v = { a: f(0, 'A', 'start'), b: f(1, 'A'), c: f(2, 'A'), d: f(7, 'B'), e: f(8, 'B'), g: f(0, 'C', 'start'), h: f(5), i: f(3) };
  const epochs = new Map(Object.values(v).map((x) => [x.p, x.epoch]));
  const gaps: number[] = [];
  const restarts: number[] = [];
  const as = (x: { p: Packet }, discontinuity?: string) => Object.freeze({ ...x.p, source: 'in', ...(discontinuity ? { discontinuity } : {}) });
  marbles(t).run(({ cold, expectObservable }) => {
    const src = cold('abcdeghi|', Object.fromEntries(Object.entries(v).map(([k, x]) => [k, x.p])));
    expectObservable(src.pipe(receivedPackets({ source: 'in', epochOf: (p) => epochs.get(p), onGap: (n) => gaps.push(n), onRestart: (lost) => restarts.push(lost) }))).toBe('abcdeghi|', {
      a: as(v.a), b: as(v.b), c: as(v.c), d: as(v.d, 'restart'), e: as(v.e), g: as(v.g), h: as(v.h), i: as(v.i, 'restart'),
    });
  });
  // h (no epoch, seq 5 after C's 0) is a gap of 4 within what looks like one life.
  t.deepEqual(gaps, [7, 4, 3]);
  t.deepEqual(restarts, [7, 0, 3]);
});

// ---- the live dispatcher (src/net/zmq/dispatcher.ts), with raw DEALER sockets as workers --------

function liveFrame(seq: number, discontinuity?: string): Frame {
  return Object.freeze({ kind: 'frame', source: 'decode', seq, ptsMs: seq * 40, width: 6, height: 4, data: new Uint8Array(6 * 4 * 3).fill(seq), discontinuity });
}

/** The next JOB on a worker's socket (heartbeats skipped). */
async function nextJob(sock: zmq.Dealer, ms = 30_000): Promise<Buffer[]> {
  const until = Date.now() + ms;
  for (;;) {
    const left = until - Date.now();
    if (left <= 0) throw new Error(`no job within ${ms} ms`);
    sock.receiveTimeout = left;
    const msg = await sock.receive();
    if (decodeHeader(msg[0]!).type === ZmqType.job) return msg;
  }
}

/** A worker's RESULT for a JOB (labels: class 1 everywhere), or an error. */
function result(job: Buffer[], error?: string): Buffer[] {
  const meta = decodeHeader(job[0]!).meta as { id: number; key: string; stream?: string };
  if (error) return [encodeControl(ZmqType.result, { id: meta.id, key: meta.key, stream: meta.stream, error })];
  const ls = (decodePackets(job.slice(1)) as Frame[]).map((f): Labels => ({ kind: 'labels', source: f.source, seq: f.seq, ptsMs: f.ptsMs, width: f.width, height: f.height, classes: new Uint8Array(f.width * f.height).fill(1), classNames: ['a', 'b'], palette: [[0, 0, 0], [1, 1, 1]], path: 'full' }));
  return [encodeControl(ZmqType.result, { id: meta.id, key: meta.key, stream: meta.stream }), ...encodePackets(ls)];
}

const jobSeq = (job: Buffer[]) => decodePackets(job.slice(1))[0]!.seq;

async function liveDispatcher(t: import('ava').ExecutionContext, liveFrameTimeoutMs?: number) {
  const logs: string[] = [];
  // Workers heartbeat every 100 ms; one is expired after 2 s of silence (generous for a loaded machine).
  const d = new Dispatcher({ endpoint: 'tcp://127.0.0.1:0', heartbeatMs: 500, liveness: 4, log: (m) => logs.push(m), ...(liveFrameTimeoutMs ? { liveFrameTimeoutMs } : {}) });
  const at = await d.bind();
  const workers: { sock: zmq.Dealer; timer: NodeJS.Timeout }[] = [];
  /** A worker that says READY and heartbeats until stopped (then the dispatcher expires it). */
  const worker = async (name: string) => {
    const sock = new zmq.Dealer({ linger: 0 });
    sock.connect(at);
    await sock.send([encodeControl(ZmqType.ready, { name })]);
    const w = { sock, timer: setInterval(() => void sock.send([encodeControl(ZmqType.heartbeat)]).catch(() => {}), 100) };
    workers.push(w);
    await waitFor(`worker ${name} registered`, () => d.status().workers.some((x) => x.name === name), 30_000);
    return { sock, stop: () => (clearInterval(w.timer), sock.close()) };
  };
  t.teardown(async () => {
    for (const w of workers) {
      clearInterval(w.timer);
      w.sock.close();
    }
    await d.close();
  });
  return { d, logs, worker };
}

test.serial('subscribe-hunt2 › dispatcher: a live stream whose numbering starts again (seq 0 after 9, marked) keeps getting its labels', async (t) => {
  const { d, worker } = await liveDispatcher(t);
  const w = await worker('w1');
  const got: Labels[] = [];
  const s = d.openStream({ key: 'cam/seg', node: 'seg', options: {}, onLabels: (l) => got.push(l), onError: (e) => t.fail(e.message) });
  // The answering worker: every job gets its labels.
  let answering = true;
  const answers = (async () => {
    while (answering) {
      const job = await nextJob(w.sock, 60_000).catch(() => undefined);
      if (job) await w.sock.send(result(job));
    }
  })();
  const frames = [...Array.from({ length: 10 }, (_, i) => liveFrame(i, i === 0 ? 'start' : undefined)), ...Array.from({ length: 10 }, (_, i) => liveFrame(i, i === 0 ? 'restart' : undefined))];
  for (const [i, f] of frames.entries()) {
    s.push(f);
    // One at a time (the stream keeps only the freshest frame waiting): wait for it to come back.
    await waitFor(`frame ${i} answered`, () => d.status().streamList[0]!.done + d.status().streamList[0]!.dropped >= i + 1 || undefined, 30_000);
  }
  t.deepEqual(got.map((l) => l.seq), [...Array(10).keys(), ...Array(10).keys()], 'both lives delivered, in order');
  t.is(got[10]!.discontinuity, 'restart');
  t.is(d.status().streamList[0]!.dropped, 0);
  answering = false;
  s.close();
  w.stop();
  await answers;
});

test.serial('subscribe-hunt2 › dispatcher: a worker that expires loses its own frames in flight, not those at the worker a stream moved from (inFlight 2)', async (t) => {
  const { d, logs, worker } = await liveDispatcher(t);
  const a = await worker('a');
  const b = await worker('b');
  const got: Labels[] = [];
  const s = d.openStream({ key: 'cam/seg', node: 'seg', options: {}, inFlight: 2, onLabels: (l) => got.push(l), onError: (e) => t.fail(e.message) });
  const stream = () => d.status().streamList[0]!;
  const busy = (name: string) => d.status().workers.find((x) => x.name === name)?.inFlight;
  s.push(liveFrame(0, 'start'));
  s.push(liveFrame(1));
  const j0 = await nextJob(a.sock); // the stream went to a (joined first)
  const j1 = await nextJob(a.sock);
  t.deepEqual([jobSeq(j0), jobSeq(j1)], [0, 1]);
  // Frame 0 fails on a: the stream moves to b; frame 1 is still at a.
  await a.sock.send(result(j0, 'out of memory'));
  await waitFor('the stream on b', () => stream().worker === 'b' || undefined, 30_000);
  s.push(liveFrame(2));
  const j2 = await nextJob(b.sock);
  t.is(jobSeq(j2), 2);
  // b dies with frame 2: frame 1 at a is not b's to lose.
  b.stop();
  await waitFor('b expired', () => d.status().workers.every((x) => x.name !== 'b') || undefined, 30_000);
  t.is(stream().lost, 1, 'only frame 2 (at b) lost');
  await a.sock.send(result(j1));
  await waitFor('frame 1 from a', () => got.some((l) => l.seq === 1) || undefined, 30_000).catch(() => {});
  t.deepEqual(got.map((l) => l.seq), [1], "frame 1's labels from a delivered");
  t.is(busy('a'), 0, 'a holds nothing now');
  // The other way round: the stream moves on from a worker that then dies with a frame in hand.
  const c = await worker('c');
  await waitFor('the stream back on a', () => stream().worker === 'a' || undefined, 30_000);
  s.push(liveFrame(3));
  s.push(liveFrame(4));
  const j3 = await nextJob(a.sock);
  await nextJob(a.sock); // frame 4 stays at a
  await a.sock.send(result(j3, 'out of memory'));
  await waitFor('the stream on c', () => stream().worker === 'c' || undefined, 30_000);
  const lostBefore = stream().lost;
  a.stop();
  // Frame 4 died with a: counted lost when a expires, not 30 s later (the live-frame timeout).
  await waitFor('a expired', () => d.status().workers.every((x) => x.name !== 'a') || undefined, 30_000);
  t.is(stream().lost, lostBefore + 1, 'frame 4 (at a) lost with a');
  t.is(stream().inFlight, 0, logs.join('\n'));
  c.stop();
  s.close();
});

test.serial('subscribe-hunt2 › dispatcher: a frame that times out at the worker a stream moved from does not move the stream again (inFlight 2)', async (t) => {
  const { d, logs, worker } = await liveDispatcher(t, 1500);
  const a = await worker('a');
  const b = await worker('b');
  const got: Labels[] = [];
  const s = d.openStream({ key: 'cam/seg', node: 'seg', options: {}, inFlight: 2, onLabels: (l) => got.push(l), onError: (e) => t.fail(e.message) });
  const stream = () => d.status().streamList[0]!;
  s.push(liveFrame(0, 'start'));
  s.push(liveFrame(1));
  const j0 = await nextJob(a.sock);
  await nextJob(a.sock); // frame 1: a never answers it
  await a.sock.send(result(j0, 'out of memory'));
  await waitFor('the stream on b', () => stream().worker === 'b' || undefined, 30_000);
  s.push(liveFrame(2));
  await b.sock.send(result(await nextJob(b.sock)));
  await waitFor('frame 2 from b', () => got.length === 1 || undefined, 30_000);
  // Frame 1 times out at a: counted lost; b, which answers, keeps the stream (and its state).
  await waitFor('frame 1 counted lost', () => stream().lost === 1 || undefined, 30_000);
  t.is(stream().worker, 'b', logs.join('\n'));
  t.is(stream().reassignments, 1, 'only the move after the error');
  s.push(liveFrame(3));
  const j3 = await nextJob(b.sock);
  t.is(decodeHeader(j3[1]!).discontinuity, undefined, 'no reassign mark: b carries on');
  a.stop();
  b.stop();
  s.close();
});

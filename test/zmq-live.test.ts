/**
 * Live sharding over ZeroMQ, with real processes on 127.0.0.1: one
 * `segflow run GRAPH --dispatch` process (two camera chains: two realtime
 * file decoders at 10 fps, each feeding a segmenter and a zmq-sink in pub
 * mode) and two `segflow worker` processes running the trained
 * fast-scnn-camvid model. The test subscribes to both publishers from the
 * start, kills the worker holding one stream, and joins a third subscriber
 * late. Counting, not timing: generous timeouts for a loaded 2-core machine.
 */
import test from 'ava';
import os from 'node:os';
import path from 'node:path';
import { writeFileSync } from 'node:fs';
import * as zmq from 'zeromq';
import type { Frame, Labels } from '../src/core/packet.ts';
import { Dispatcher, requestStatus, type StatusReply, type StreamStatus } from '../src/net/zmq/dispatcher.ts';
import { decodeHeader, decodePacket, decodePackets, encodeControl, encodePackets, ZmqType } from '../src/codecs/zmq-wire.ts';
import { SAMPLE, segflow, spawnSegflow, tmpDir, watchChild } from './helpers/cli.ts';
import { runLive, waitFor } from './helpers/live.ts';
import { ffmpeg } from './helpers/videos.ts';

type Child = ReturnType<typeof spawnSegflow>;
type Watch = ReturnType<typeof watchChild>;

interface Got {
  readonly seq: number;
  readonly discontinuity?: string | undefined;
  readonly path: Labels['path'];
}

/** A raw SUB socket recording every labels packet a publisher sends. */
function subscriber(endpoint: string): { got: Got[]; close(): void } {
  const sock = new zmq.Subscriber({ linger: 0 });
  sock.subscribe();
  sock.connect(endpoint);
  const got: Got[] = [];
  void (async () => {
    for await (const [header, payload] of sock) {
      const h = decodeHeader(header!);
      if (h.type !== ZmqType.labels) continue;
      const l = decodePacket(h, payload) as Labels;
      got.push({ seq: l.seq, discontinuity: l.discontinuity, path: l.path });
    }
  })().catch(() => {});
  return { got, close: () => sock.close() };
}

/** A fake worker on a real DEALER socket: records the jobs it is sent; answers one when told. */
async function fakeWorker(at: string, name: string) {
  const sock = new zmq.Dealer({ linger: 0 });
  sock.connect(at);
  await sock.send([encodeControl(ZmqType.ready, { name })]);
  const jobs: { meta: { id: number; key: string; stream: string }; frames: Frame[] }[] = [];
  void (async () => {
    for await (const [header, ...rest] of sock) {
      const h = decodeHeader(header!);
      if (h.type === ZmqType.job) jobs.push({ meta: h.meta as (typeof jobs)[number]['meta'], frames: decodePackets(rest) as Frame[] });
    }
  })().catch(() => {});
  const answer = async (j: (typeof jobs)[number]) => {
    const labels = j.frames.map((f): Labels => ({ kind: 'labels', source: f.source, seq: f.seq, ptsMs: f.ptsMs, discontinuity: f.discontinuity, width: f.width, height: f.height, classes: new Uint8Array(8), classNames: ['a'], palette: [[0, 0, 0]], path: 'full' }));
    await sock.send([encodeControl(ZmqType.result, { id: j.meta.id, key: j.meta.key, stream: j.meta.stream }), ...encodePackets(labels)]);
  };
  return { jobs, answer, close: () => sock.close() };
}

const A = 'live/segA';
const B = 'live/segB';

let dir = '';
let run: Child;
let runW: Watch;
let endpoint = '';
let metricsUrl = '';
const pubs: Record<string, string> = {};
const workers: Child[] = [];
const workerW: Watch[] = [];
const subs: Record<string, ReturnType<typeof subscriber>> = {};

const stream = (s: StatusReply, key: string): StreamStatus => {
  const x = s.streamList.find((y) => y.key === key);
  if (!x) throw new Error(`stream ${key} not in STATUS: ${JSON.stringify(s.streamList)}`);
  return x;
};
const workerName = (c: Child) => `${os.hostname()}:${c.pid}`;

test.before(async () => {
  dir = tmpDir('segflow-zmq-live-');
  // A 60 s, 10 fps, 160x96 road clip (the sample looped): the decoders read it at its real pace.
  const clip = path.join(dir, 'road.mp4');
  await ffmpeg(['-stream_loop', '14', '-i', SAMPLE, '-vf', 'scale=160:96,fps=10', '-c:v', 'libx264', '-preset', 'ultrafast', '-g', '10', '-pix_fmt', 'yuv420p', clip]);
  const chain = (x: string) => `
  cam${x}: { type: decoder, options: { path: "${clip}", realtime: true } }
  seg${x}: { type: two-branch-segmenter, options: { model: fast-scnn-camvid, threads: 1, keyframeIntervalFrames: 5, nonKeyFrames: shallow }, in: { frame: cam${x}.frame } }
  pub${x}: { type: zmq-sink, options: { endpoint: "tcp://127.0.0.1:0", pattern: pub, lingerMs: 0 }, in: { labels: seg${x}.labels } }`;
  const graph = path.join(dir, 'live.yaml');
  writeFileSync(graph, `version: 1\nnodes:${chain('A')}${chain('B')}\n`);
  run = spawnSegflow(['run', graph, '--dispatch', 'tcp://127.0.0.1:0', '--min-workers', '2', '--metrics-port', '0']);
  runW = watchChild(run);
  endpoint = (await runW.until(/listening on (tcp:\/\/\S+?);/, 60_000))[1]!;
  metricsUrl = (await runW.until(/metrics on (http:\/\/\S+)/, 60_000))[1]!;
  for (let i = 0; i < 2; i++) {
    const w = spawnSegflow(['worker', '--connect', endpoint]);
    workers.push(w);
    workerW.push(watchChild(w));
  }
  // The graph starts once both workers joined; then the publishers bind.
  for (const x of ['A', 'B']) {
    pubs[x] = (await runW.until(new RegExp(`pub${x}: pub on (tcp://\\S+)`), 60_000))[1]!;
    subs[x] = subscriber(pubs[x]!);
  }
});

test.after.always(async () => {
  for (const s of Object.values(subs)) s.close();
  for (const w of workers) if (w.exitCode === null && w.signalCode === null) w.kill('SIGKILL');
  if (run && run.exitCode === null && run.signalCode === null) {
    run.kill('SIGINT');
    const t = setTimeout(() => run.kill('SIGKILL'), 10_000);
    await runW.exit;
    clearTimeout(t);
  }
});

test.serial('zmq › live: two streams over two workers — every frame of a stream goes to one worker; the streams spread over both', async (t) => {
  await waitFor('20 labels on each stream', () => subs.A!.got.length >= 20 && subs.B!.got.length >= 20, 60_000, 100);
  const s = await requestStatus(endpoint);
  const a = stream(s, A);
  const b = stream(s, B);
  t.log(`${A}: ${JSON.stringify(a)}\n${B}: ${JSON.stringify(b)}`);
  // Sticky: each stream's frames were all segmented by one worker.
  t.deepEqual(Object.keys(a.byWorker), [a.worker]);
  t.deepEqual(Object.keys(b.byWorker), [b.worker]);
  t.is(a.byWorker[a.worker!], a.done);
  t.true(a.done >= 20 && b.done >= 20);
  // Spread: one stream per worker, both workers ours.
  t.not(a.worker, b.worker);
  t.deepEqual([a.worker, b.worker].sort(), workers.map(workerName).sort());
  for (const w of s.workers) t.deepEqual(w.streams, [w.name === a.worker ? A : B]);
  t.is(a.reassignments + b.reassignments, 0);
  // Frames offered = done + dropped + lost + failed + in flight + waiting.
  for (const x of [a, b]) t.is(x.received, x.done + x.dropped + x.lost + x.failed + x.inFlight + x.waiting);
  // Each worker started its stream's state once and kept it: non-key frames reuse the key frame's deep features.
  for (const w of workerW) t.is(w.text().match(/stream live\/seg[AB] from #\d+ \(start\): fresh state/g)?.length, 1, w.text());
  for (const x of ['A', 'B']) {
    const got = subs[x]!.got;
    t.true(got.some((g) => g.path === 'shallow') && got.some((g) => g.path === 'full'), JSON.stringify(got.slice(0, 12)));
    t.deepEqual(got.slice(1).filter((g) => g.discontinuity), [], `${x}: no reset after the first packet`);
    t.true(got.every((g, i) => i === 0 || g.seq > got[i - 1]!.seq), `${x}: seq increasing`);
  }
});

test.serial('zmq › live: SIGKILL the worker holding a stream → the stream moves to the other worker, its labels go on after a `reassign` discontinuity', async (t) => {
  const before = await requestStatus(endpoint);
  const victimName = stream(before, A).worker!;
  const victim = workers.find((w) => workerName(w) === victimName)!;
  const survivor = workers.find((w) => w !== victim)!;
  const n0 = subs.A!.got.length;
  const t0 = performance.now();
  victim.kill('SIGKILL');
  const moved = await waitFor('labels marked reassign on stream A', () => subs.A!.got.slice(n0).find((g) => g.discontinuity === 'reassign'), 45_000, 100);
  t.log(`stream A back ${((performance.now() - t0) / 1000).toFixed(1)} s after the kill (expiry after 3 missed heartbeats, then a fresh segmenter)`);
  await waitFor('10 more labels on stream A after the move', () => subs.A!.got.filter((g) => g.seq > moved.seq).length >= 10, 45_000, 100);
  const got = subs.A!.got;
  const i = got.indexOf(moved);
  t.is(moved.path, 'full', 'the new worker starts with a key frame');
  t.deepEqual(got.slice(i + 1).filter((g) => g.discontinuity), [], 'one reset, then state carries on');
  t.true(got.slice(i + 1).some((g) => g.path === 'shallow'), 'the new worker keeps state between frames');
  t.true(got.every((g, j) => j === 0 || g.seq > got[j - 1]!.seq), 'seq increasing across the move');
  // Stream B, on the survivor, went on untouched.
  t.deepEqual(subs.B!.got.slice(1).filter((g) => g.discontinuity), []);

  const s = await requestStatus(endpoint);
  const a = stream(s, A);
  t.is(a.worker, workerName(survivor));
  t.is(a.reassignments, 1);
  t.deepEqual(Object.keys(a.byWorker).sort(), [victimName, workerName(survivor)].sort());
  t.is(stream(s, B).reassignments, 0);
  t.like(s, { workersAlive: 1, workersExpired: 1, streamReassignments: 1 });
  t.deepEqual(s.workers.map((w) => [...w.streams].sort()), [[A, B]]);
  t.is(a.received, a.done + a.dropped + a.lost + a.failed + a.inFlight + a.waiting);
  t.log(`${A} after the move: ${JSON.stringify(a)}`);
  const log = runW.text();
  t.regex(log, new RegExp(`dispatch: worker ${victimName} silent for \\d+ ms \\(3 heartbeats missed\\): expired`));
  t.regex(log, new RegExp(`dispatch: stream ${A} moved from worker ${victimName} to worker ${workerName(survivor)} \\(reassign`));
  const metrics = await (await fetch(metricsUrl)).text();
  t.regex(metrics, new RegExp(`segflow_zmq_stream_reassignments_total\\{stream="${A}"\\} 1`));
  t.regex(metrics, new RegExp(`segflow_zmq_worker_streams\\{worker="${workerName(survivor)}"\\} 2`));
  t.regex(metrics, /segflow_zmq_stream_frames_dropped_total\{stream="live\/segA"\} \d+/);
  t.regex(metrics, /segflow_zmq_stream_frames_lost_total\{stream="live\/segA"\} [01]\n/);
  // `segflow workers` shows it too.
  const cli = await segflow(['workers', endpoint]);
  t.is(cli.code, 0, cli.stderr);
  t.regex(cli.stdout, new RegExp(`${A}\\s+${workerName(survivor)}\\s+\\d+\\s+\\d\\s+\\d+\\s+[01]\\s+1`));
});

test.serial('zmq › live: a worker that joins while another holds both streams takes one (rebalance): its labels go on after one `reassign`, the other stream untouched', async (t) => {
  const before = await requestStatus(endpoint);
  t.deepEqual(before.workers.map((w) => [...w.streams].sort()), [[A, B]], 'both streams on the survivor of the kill');
  const nA = subs.A!.got.length;
  const nB = subs.B!.got.length;
  const w = spawnSegflow(['worker', '--connect', endpoint]);
  workers.push(w);
  workerW.push(watchChild(w));
  const moveLine = (await runW.until(new RegExp(`dispatch: stream (\\S+) moved from worker \\S+ to worker ${workerName(w)} to balance the load`), 60_000));
  const key = moveLine[1]!;
  const [moved, stayed] = key === A ? [subs.A!, subs.B!] : [subs.B!, subs.A!];
  const [nMoved, nStayed] = key === A ? [nA, nB] : [nB, nA];
  const mark = await waitFor(`labels marked reassign on ${key}`, () => moved.got.slice(nMoved).find((g) => g.discontinuity === 'reassign'), 60_000, 100);
  await waitFor(`10 more labels on ${key} after the move`, () => moved.got.filter((g) => g.seq > mark.seq).length >= 10, 60_000, 100);
  t.is(mark.path, 'full', 'the new worker starts with a key frame');
  const last = moved.got[moved.got.indexOf(mark) - 1];
  t.log(`${key} moved to the new worker: labels #${last?.seq} then #${mark.seq} at 10 fps (frames in between, if any, dropped while the new worker loaded the model)`);
  t.deepEqual(moved.got.slice(moved.got.indexOf(mark) + 1).filter((g) => g.discontinuity), [], 'one reset, then state carries on');
  t.true(moved.got.every((g, j) => j === 0 || g.seq > moved.got[j - 1]!.seq), 'seq increasing across the move');
  t.deepEqual(stayed.got.slice(nStayed).filter((g) => g.discontinuity), [], 'the other stream untouched');
  const s = await requestStatus(endpoint);
  t.is(stream(s, key).worker, workerName(w));
  t.deepEqual(s.workers.map((x) => x.streams.length), [1, 1]);
  t.is(s.streamReassignments, 2, 'the kill\'s move and this one');
});

test.serial('zmq › live: a late zmq sub subscriber starts at its join point — first packet marked `join`, seq > 0', async (t) => {
  const late = runLive({ yaml: `version: 1
nodes:
  in:    { type: zmq-source, options: { endpoint: "${pubs.B}", pattern: sub } }
  stats: { type: statistics-sink, options: { json: "${dir}/late.json" }, in: { labels: in.labels } }
` });
  try {
    await waitFor('3 labels at the late subscriber', () => late.done.length >= 3, 30_000, 50);
    const [first, ...rest] = late.done.map((d) => d.p);
    t.is(first!.discontinuity, 'join');
    t.true(first!.seq > 0, `first seq ${first!.seq}`);
    t.deepEqual(rest.map((p) => p.discontinuity).filter(Boolean), []);
    // The early subscriber saw that packet too, unmarked: the mark is the late one's own.
    t.is(subs.B!.got.find((g) => g.seq === first!.seq)?.discontinuity, undefined);
  } finally {
    await late.stop();
  }
});

test('zmq › live: run --dispatch validation — a graph without a segmenter exits 2 with one line; a bad endpoint is a clear error', async (t) => {
  const d = tmpDir('segflow-zmq-live-bad-');
  const graph = path.join(d, 'noseg.yaml');
  writeFileSync(graph, `version: 1\nnodes:\n  decode: { type: decoder, options: { path: "${SAMPLE}", maxFrames: 2 } }\n  masks: { type: encoder, options: { path: "${d}/x.mp4" }, in: { frame: decode.frame } }\n`);
  const [noSeg, badSyntax, cannotBind, lonely] = await Promise.all([
    segflow(['run', graph, '--dispatch', 'tcp://127.0.0.1:0']),
    segflow(['run', graph, '--dispatch', 'localhost5555']),
    segflow(['run', path.join('graphs', 'rtsp-live.yaml'), '--dispatch', 'tcp://192.0.2.1:5555']),
    segflow(['run', path.join('graphs', 'rtsp-live.yaml'), '--no-rebalance']),
  ]);
  t.is(lonely.code, 2, lonely.stderr);
  t.is(lonely.stderr, 'segflow: --stream-name, --min-workers and --no-rebalance go with --dispatch tcp://HOST:PORT\n');
  t.is(noSeg.code, 2, noSeg.stderr);
  t.is(noSeg.stderr, `segflow: --dispatch: ${graph} has no two-branch-segmenter node to hand to workers\n`);
  t.is(badSyntax.code, 2, badSyntax.stderr);
  t.regex(badSyntax.stderr, /^segflow: --dispatch: expected tcp:\/\/HOST:PORT, ipc:\/\/PATH or inproc:\/\/NAME, got 'localhost5555'/);
  t.is(cannotBind.code, 1, cannotBind.stderr);
  t.regex(cannotBind.stderr, /^segflow: --dispatch tcp:\/\/192\.0\.2\.1:5555: cannot listen there \(.+\); expected an address of this machine/);
});

test('zmq › live: dispatcher — one frame in flight per stream, the newest waits, older ones are dropped and counted; a stream with no worker waits for one', async (t) => {
  const logs: string[] = [];
  const d = new Dispatcher({ endpoint: 'tcp://127.0.0.1:0', heartbeatMs: 200, liveness: 5, log: (m) => logs.push(m) });
  const at = await d.bind();
  const got: Labels[] = [];
  const s = d.openStream({ key: 'cam/seg', node: 'seg', options: {}, onLabels: (l) => got.push(l), onError: (e) => t.fail(e.message) });
  const frame = (seq: number): Frame => Object.freeze({ kind: 'frame', source: 'cam', seq, ptsMs: seq * 40, width: 4, height: 2, data: new Uint8Array(24), discontinuity: seq === 0 ? 'start' : undefined });
  // No worker yet: the freshest frame waits, the others are dropped.
  s.push(frame(0));
  s.push(frame(1));
  t.like(stream(d.status(), 'cam/seg'), { worker: undefined, waiting: 1, dropped: 1 });
  // A fake worker that answers only when told to.
  const { jobs, answer, close } = await fakeWorker(at, 'fake');
  t.teardown(async () => {
    close();
    await d.close();
  });
  await waitFor('the waiting frame sent to the worker that joined', () => jobs.length === 1, 10_000);
  t.like(jobs[0]!, { meta: { stream: 'cam/seg' } });
  t.is(jobs[0]!.frames[0]!.seq, 1);
  t.is(jobs[0]!.frames[0]!.discontinuity, 'start', "the dropped frame's mark passed to its replacement");
  // The worker holds #1: #2..#5 arrive; only #5 waits, #2..#4 are dropped.
  for (let seq = 2; seq <= 5; seq++) s.push(frame(seq));
  t.like(stream(d.status(), 'cam/seg'), { worker: 'fake', inFlight: 1, waiting: 1, dropped: 4, received: 6 });
  t.deepEqual(d.status().workers.map((x) => [x.name, x.streams, x.inFlight]), [['fake', ['cam/seg'], 1]]);
  await answer(jobs[0]!);
  await waitFor('the freshest frame sent next', () => jobs.length === 2, 10_000);
  t.is(jobs[1]!.frames[0]!.seq, 5);
  t.is(jobs[1]!.frames[0]!.discontinuity, undefined);
  await answer(jobs[1]!);
  await s.drained();
  t.deepEqual(got.map((l) => [l.seq, l.discontinuity]), [[1, 'start'], [5, undefined]]);
  t.like(stream(d.status(), 'cam/seg'), { inFlight: 0, waiting: 0, done: 2, dropped: 4, lost: 0, received: 6, byWorker: { fake: 2 } });
  t.regex(d.metricsView(() => d.metrics).prometheus(), /segflow_zmq_stream_frames_dropped_total\{stream="cam\/seg"\} 4/);
  t.true(logs.includes('dispatch: stream cam/seg → worker fake'), logs.join('\n'));
});

for (const rebalance of [true, false]) {
  test(`zmq › live: dispatcher — a worker that joins ${rebalance ? 'takes streams from one holding two or more more (one move per step, its frame in flight answered where it was, the next marked reassign)' : 'takes no stream with rebalance off'}`, async (t) => {
    const logs: string[] = [];
    const d = new Dispatcher({ endpoint: 'tcp://127.0.0.1:0', heartbeatMs: 200, liveness: 25, log: (m) => logs.push(m), rebalance });
    const at = await d.bind();
    const got = new Map<string, Labels[]>();
    const keys = ['cam/a', 'cam/b', 'cam/c'];
    const streams = keys.map((key) => d.openStream({ key, node: 'seg', options: {}, onLabels: (l) => got.set(key, [...(got.get(key) ?? []), l]), onError: (e) => t.fail(e.message) }));
    const frame = (seq: number): Frame => Object.freeze({ kind: 'frame', source: 'cam', seq, ptsMs: seq * 40, width: 4, height: 2, data: new Uint8Array(24), discontinuity: seq === 0 ? 'start' : undefined });
    const w1 = await fakeWorker(at, 'w1');
    let second: Awaited<ReturnType<typeof fakeWorker>> | undefined;
    t.teardown(async () => {
      w1.close();
      second?.close();
      await d.close();
    });
    await waitFor('w1 registered', () => d.status().workers.length === 1, 10_000);
    // All three streams on w1, each with its first frame in flight there.
    for (const s of streams) s.push(frame(0));
    await waitFor('3 frames at w1', () => w1.jobs.length === 3, 10_000);
    second = await fakeWorker(at, 'w2');
    await waitFor('w2 registered', () => d.status().workers.length === 2, 10_000);
    const on = (name: string) => d.status().workers.find((w) => w.name === name)!.streams;
    if (!rebalance) {
      t.deepEqual([...on('w1')].sort(), keys);
      t.deepEqual(on('w2'), []);
      t.false(logs.some((l) => /to balance the load/.test(l)), logs.join('\n'));
      return;
    }
    // 3 against 0: one stream moves (2 against 1), no more.
    t.is(on('w1').length, 2);
    t.is(on('w2').length, 1);
    const moved = on('w2')[0]!;
    t.true(logs.includes(`dispatch: stream ${moved} moved from worker w1 to worker w2 to balance the load (reassign: it starts from fresh state)`), logs.join('\n'));
    t.like(stream(d.status(), moved), { worker: 'w2', reassignments: 1 });
    // Its frame in flight at w1 is answered there and delivered; its next frame waits for that, then goes to w2 marked reassign.
    const i = keys.indexOf(moved);
    streams[i]!.push(frame(1));
    await new Promise((r) => setTimeout(r, 300));
    t.is(second.jobs.length, 0, 'nothing sent to w2 while the stream\'s frame is out at w1');
    await w1.answer(w1.jobs.find((j) => j.meta.stream === moved)!);
    await waitFor('the next frame sent to w2', () => second!.jobs.length === 1, 10_000);
    t.like(second.jobs[0]!, { meta: { stream: moved } });
    t.is(second.jobs[0]!.frames[0]!.seq, 1);
    t.is(second.jobs[0]!.frames[0]!.discontinuity, 'reassign');
    await second.answer(second.jobs[0]!);
    await streams[i]!.drained();
    t.deepEqual(got.get(moved)!.map((l) => [l.seq, l.discontinuity]), [[0, 'start'], [1, 'reassign']]);
    t.like(stream(d.status(), moved), { done: 2, lost: 0, dropped: 0, byWorker: { w1: 1, w2: 1 } });
    // The other two stay on w1, unmarked.
    for (const k of keys.filter((x) => x !== moved)) t.like(stream(d.status(), k), { worker: 'w1', reassignments: 0 });
  });
}

test('zmq › live: dispatcher — a stream not sent a frame yet moves to a worker that joins as a first assignment (its first frame still `start`, no reassignment counted)', async (t) => {
  const logs: string[] = [];
  const d = new Dispatcher({ endpoint: 'tcp://127.0.0.1:0', heartbeatMs: 200, liveness: 25, log: (m) => logs.push(m) });
  const at = await d.bind();
  const w1 = await fakeWorker(at, 'w1');
  let w2: Awaited<ReturnType<typeof fakeWorker>> | undefined;
  t.teardown(async () => {
    w1.close();
    w2?.close();
    await d.close();
  });
  await waitFor('w1 registered', () => d.status().workers.length === 1, 10_000);
  const streams = ['cam/a', 'cam/b'].map((key) => d.openStream({ key, node: 'seg', options: {}, onLabels: () => {}, onError: (e) => t.fail(e.message) }));
  t.deepEqual(d.status().workers[0]!.streams, ['cam/a', 'cam/b']);
  w2 = await fakeWorker(at, 'w2');
  await waitFor('w2 registered', () => d.status().workers.length === 2, 10_000);
  t.deepEqual(d.status().workers.map((w) => w.streams.length), [1, 1]);
  const moved = d.status().workers.find((w) => w.name === 'w2')!.streams[0]!;
  t.true(logs.includes(`dispatch: stream ${moved} → worker w2 (to balance the load; no frame sent yet)`), logs.join('\n'));
  streams[['cam/a', 'cam/b'].indexOf(moved)]!.push(Object.freeze({ kind: 'frame', source: 'cam', seq: 0, ptsMs: 0, width: 4, height: 2, data: new Uint8Array(24) }) as Frame);
  await waitFor('the first frame at w2', () => w2!.jobs.length === 1, 10_000);
  t.is(w2.jobs[0]!.frames[0]!.discontinuity, 'start');
  t.is(d.status().streamReassignments, 0);
});

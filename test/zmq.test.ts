import test from 'ava';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import * as zmq from 'zeromq';
import { Subject } from 'rxjs';
import { zmqSink } from '../nodes/zmq-sink.ts';
import { zmqSource } from '../nodes/zmq-source.ts';
import { createNodeContext } from '../src/core/runtime/context.ts';
import { wireNode } from '../src/core/runtime/wire.ts';
import type { NodeContext, NodeSpec } from '../src/core/node.ts';
import type { Frame, Labels, Packet } from '../src/core/packet.ts';
import { Dispatcher, requestStatus } from '../src/net/zmq/dispatcher.ts';
import { decodeHeader, decodePacket, decodePackets, encodeControl, encodePacket, encodePackets, ZMQ_HEADER_BYTES, ZmqType } from '../src/codecs/zmq-wire.ts';
import { SAMPLE, segflow, spawnSegflow, tmpDir, videoFacts } from './helpers/cli.ts';
import { watch } from './helpers/child.ts';

/** Small inference size and one ORT thread per process: the machine has 2 cores. */
const SMALL = ['--set', 'small.width=160', '--set', 'small.height=96', '--set', 'segment.threads=1'];
const CHUNK = ['--chunk-frames', '10'];

/** The single-process run every dispatched run is compared with (made once). */
let reference: Promise<string> | undefined;
function singleProcess(): Promise<string> {
  reference ??= (async () => {
    const out = tmpDir('segflow-zmq-ref-');
    const r = await segflow(['process', SAMPLE, '--out', out, ...CHUNK, ...SMALL]);
    if (r.code !== 0) throw new Error(`single-process run failed (${r.code}): ${r.stderr}`);
    return path.join(out, 'synthetic-road');
  })();
  return reference;
}

async function dispatchedRun(killOne: boolean) {
  const out = tmpDir('segflow-zmq-');
  const d = spawnSegflow(['process', SAMPLE, '--out', out, ...CHUNK, ...SMALL, '--dispatch', 'tcp://127.0.0.1:0']);
  const dw = watch(d);
  const endpoint = (await dw.until(/listening on (tcp:\/\/\S+?);/))[1]!;
  const workers = [spawnSegflow(['worker', '--connect', endpoint]), spawnSegflow(['worker', '--connect', endpoint])];
  const ww = workers.map(watch);
  if (killOne) {
    // Killed with a chunk in hand: the line is printed when the chunk arrives, before it is segmented.
    await ww[0]!.until(/chunk .* \(\d+ frames\)/);
    workers[0]!.kill('SIGKILL');
  }
  const code = await dw.exit;
  const alive = killOne ? [1] : [0, 1];
  for (const i of alive) workers[i]!.kill(i === 0 ? 'SIGINT' : 'SIGTERM');
  const workerCodes = await Promise.all(alive.map((i) => ww[i]!.exit));
  return { code, stderr: dw.text(), dir: path.join(out, 'synthetic-road'), summary: JSON.parse(readFileSync(path.join(out, 'summary.json'), 'utf8')), workerCodes, workerStderr: ww.map((w) => w.text()) };
}

async function assertSameOutputs(t: import('ava').ExecutionContext, dir: string, ref: string) {
  const pngs = readdirSync(path.join(ref, 'labels')).filter((f) => f.endsWith('.png')).sort();
  t.is(pngs.length, 100);
  t.deepEqual(readdirSync(path.join(dir, 'labels')).filter((f) => f.endsWith('.png')).sort(), pngs);
  const differ = pngs.filter((f) => !readFileSync(path.join(dir, 'labels', f)).equals(readFileSync(path.join(ref, 'labels', f))));
  t.deepEqual(differ, [], 'every label map byte-for-byte identical');
  t.deepEqual(JSON.parse(readFileSync(path.join(dir, 'stats.json'), 'utf8')), JSON.parse(readFileSync(path.join(ref, 'stats.json'), 'utf8')));
  t.is((await videoFacts(path.join(dir, 'overlay.mp4'))).frames, 100);
}

test.serial('zmq › 2 workers produce label maps identical to a single-process run with the same --chunk-frames', async (t) => {
  const ref = await singleProcess();
  const r = await dispatchedRun(false);
  t.is(r.code, 0, r.stderr);
  await assertSameOutputs(t, r.dir, ref);
  t.like(r.summary.dispatch, { workersSeen: 2, chunksDispatched: 10, chunksCompleted: 10, chunksRedispatched: 0, duplicatesIgnored: 0 });
  t.regex(r.stderr, /dispatch: 2 workers alive .* 10 chunks completed, 0 re-dispatched/);
  const done = r.workerStderr.join('').match(/chunk .* done: 10 frames/g) ?? [];
  t.is(done.length, 10, 'each chunk segmented once');
  // Both left cleanly (SIGINT, SIGTERM).
  t.deepEqual(r.workerCodes, [0, 0]);
});

test.serial('zmq › a worker killed mid-run (SIGKILL) → outputs still complete and identical; the dispatcher reports the re-dispatch', async (t) => {
  const ref = await singleProcess();
  const r = await dispatchedRun(true);
  t.is(r.code, 0, r.stderr);
  await assertSameOutputs(t, r.dir, ref);
  t.regex(r.stderr, /dispatch: worker \S+ silent for \d+ ms .*expired/);
  t.regex(r.stderr, /dispatch: re-dispatching chunk synthetic-road\.mp4 decode \[\d+\.\.\d+\]: worker \S+ expired/);
  t.true(r.summary.dispatch.chunksRedispatched >= 1, JSON.stringify(r.summary.dispatch));
  t.is(r.summary.dispatch.chunksCompleted, 10);
  t.is(r.summary.dispatch.workersExpired, 1);
  t.deepEqual(r.workerCodes, [0]);
});

function frame(seq: number, w = 6, h = 4, discontinuity?: string): Frame {
  return Object.freeze({ kind: 'frame', source: 'decode', seq, ptsMs: seq * 40, width: w, height: h, data: Uint8Array.from({ length: w * h * 3 }, (_, i) => (i * 31 + seq) & 255), discontinuity });
}

function labelsFor(f: Frame, classes = Uint8Array.from({ length: f.width * f.height }, (_, i) => (i < 10 ? 2 : 5))): Labels {
  return Object.freeze<Labels>({ kind: 'labels', source: f.source, seq: f.seq, ptsMs: f.ptsMs, discontinuity: f.discontinuity, width: f.width, height: f.height, classes, classNames: ['Sky', 'Road', 'Car', 'x', 'y', 'z'], palette: [[1, 2, 3], [4, 5, 6], [7, 8, 9], [0, 0, 0], [9, 9, 9], [255, 0, 255]], path: 'full' });
}

test('zmq › wire format: frames, labels (RLE and raw) and control messages round-trip; bad headers are refused', (t) => {
  const f = frame(2 ** 40 + 3, 480, 272, 'chunk');
  const [h, p] = encodePacket(f);
  t.is(h.subarray(0, 4).toString('latin1'), 'SGZM');
  t.true(h.length < ZMQ_HEADER_BYTES + 32, `header ${h.length} bytes`);
  t.is(p.length, 480 * 272 * 3);
  t.deepEqual(decodePacket(h, p), f);

  const runs = new Uint8Array(480 * 272);
  runs.fill(7, 0, 30_000);
  runs.fill(1, 30_000);
  const l = labelsFor(frame(5, 480, 272), runs);
  const [lh, lp] = encodePacket(l);
  t.true(lp.length < 16, `RLE payload ${lp.length} bytes`);
  t.is(decodeHeader(lh).encoding, 1);
  t.deepEqual(decodePacket(lh, lp), l);

  const noise = labelsFor(frame(6), Uint8Array.from({ length: 24 }, (_, i) => (i * 7) % 6));
  const [nh, np] = encodePacket(noise);
  t.is(decodeHeader(nh).encoding, 0, 'raw when RLE is not smaller');
  t.deepEqual(decodePackets([nh, np]), [noise]);
  t.deepEqual(decodePackets(encodePackets([f, l])), [f, l]);

  const c = decodeHeader(encodeControl(ZmqType.job, { id: 3, key: 'a.mp4 [0..9]' }, 'src'));
  t.like(c, { type: ZmqType.job, meta: { id: 3, key: 'a.mp4 [0..9]' }, source: 'src', discontinuity: undefined });

  const bad = Buffer.from(h);
  bad[4] = 2;
  t.throws(() => decodeHeader(bad), { instanceOf: TypeError, message: /expected protocol version 1, got 2/ });
  bad[0] = 0;
  t.throws(() => decodeHeader(bad), { instanceOf: TypeError, message: /expected magic 'SGZM'/ });
  t.throws(() => decodeHeader(h.subarray(0, h.length - 1)), { instanceOf: TypeError, message: /lengths say/ });
  t.throws(() => decodePacket(h, p.subarray(1)), { instanceOf: TypeError, message: /header says \d+ payload bytes/ });
});

test('zmq › dispatcher: a silent worker is expired, its chunk re-dispatched; its late result is ignored and counted', async (t) => {
  const logs: string[] = [];
  const d = new Dispatcher({ endpoint: 'tcp://127.0.0.1:0', heartbeatMs: 100, liveness: 3, log: (m) => logs.push(m) });
  const at = await d.bind();
  const a = new zmq.Dealer({ linger: 0 });
  const b = new zmq.Dealer({ linger: 0 });
  t.teardown(async () => {
    a.close();
    b.close();
    await d.close();
  });
  const frames = [frame(0, 6, 4, 'start'), frame(1), frame(2)];
  const reply = (job: Buffer[]) => {
    const meta = decodeHeader(job[0]!).meta as { id: number; key: string };
    const fs = decodePackets(job.slice(1)) as Frame[];
    return [encodeControl(ZmqType.result, { id: meta.id, key: meta.key }), ...encodePackets(fs.map((f) => labelsFor(f)))];
  };
  // a takes the chunk and goes silent; b joins later and stays healthy.
  a.connect(at);
  await a.send([encodeControl(ZmqType.ready, { name: 'a' })]);
  const ticket = d.submit({ key: 'clip.mp4 [0..2]', node: 'segment', options: {}, frames });
  const jobA = await a.receive();
  t.is(decodeHeader(jobA[0]!).type, ZmqType.job);
  b.connect(at);
  await b.send([encodeControl(ZmqType.ready, { name: 'b' })]);
  const beat = setInterval(() => void b.send([encodeControl(ZmqType.heartbeat)]).catch(() => {}), 50);
  t.teardown(() => clearInterval(beat));
  let jobB: Buffer[];
  do jobB = await b.receive();
  while (decodeHeader(jobB[0]!).type !== ZmqType.job);
  await b.send(reply(jobB));
  const ls = await ticket.result;
  t.deepEqual(ls.map((l) => [l.seq, l.discontinuity]), [[0, 'start'], [1, undefined], [2, undefined]]);
  t.deepEqual([...ls[0]!.classes], [...labelsFor(frames[0]!).classes]);
  // a was only slow: its result arrives after the chunk was done elsewhere.
  await a.send(reply(jobA));
  while (!logs.some((m) => m.includes('duplicate result'))) await new Promise((r) => setTimeout(r, 20));
  const status = await requestStatus(at);
  t.like(status, { chunksDispatched: 1, chunksRedispatched: 1, chunksCompleted: 1, duplicatesIgnored: 1, workersExpired: 1 });
  t.true(status.workers.some((w) => w.name === 'b' && w.completed === 1));
  t.true(logs.some((m) => /worker a silent for \d+ ms \(3 heartbeats missed\): expired/.test(m)), logs.join('\n'));
  t.true(logs.some((m) => /re-dispatching chunk clip\.mp4 \[0\.\.2\]: worker a expired/.test(m)));
  t.true(logs.some((m) => /ignoring a duplicate result for chunk clip\.mp4 \[0\.\.2\] from worker a/.test(m)), logs.join("\n"));
  const text = d.metricsView(() => d.metrics).prometheus();
  t.regex(text, /segflow_zmq_duplicates_ignored_total 1/);
  t.regex(text, /segflow_zmq_chunks_redispatched_total 1/);
  t.regex(text, /segflow_zmq_workers_alive \d/);
});

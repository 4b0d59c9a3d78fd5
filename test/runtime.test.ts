import test from 'ava';
import { from, lastValueFrom, map, Subject, toArray, type Observable } from 'rxjs';
import { z } from 'zod';
import { defineNode } from '../src/core/node.ts';
import type { Frame, PacketMeta } from '../src/core/packet.ts';
import { createNodeContext } from '../src/core/runtime/context.ts';
import { wireNode } from '../src/core/runtime/wire.ts';
import { FlowControl } from '../src/core/runtime/flow.ts';
import { joinBySeq } from '../src/core/runtime/operators/join-by-seq.ts';
import { Metrics } from '../src/core/runtime/metrics.ts';
import { EdgeQueue, serial } from '../src/core/runtime/queue.ts';

const pkt = (seq: number, discontinuity?: string): PacketMeta => ({ source: 's', seq, ptsMs: seq * 40, discontinuity });
const tick = () => new Promise((r) => setTimeout(r, 5));

test('queue › lossless delivers every packet in order to a slow consumer', async (t) => {
  const q = new EdgeQueue('e', { policy: 'lossless', size: Infinity });
  const out = await lastValueFrom(from([0, 1, 2, 3, 4, 5].map((s) => pkt(s))).pipe(serial(q, async (p) => (await tick(), p.seq)), toArray()));
  t.deepEqual(out, [0, 1, 2, 3, 4, 5]);
  t.is(q.drops, 0);
  t.is(q.maxDepth, 5);
});

test('queue › freshest keeps the newest, counts drops and passes a dropped discontinuity on', async (t) => {
  const q = new EdgeQueue('e', { policy: 'freshest', size: 1 });
  const src = new Subject<PacketMeta>();
  const got: PacketMeta[] = [];
  const done = new Promise<void>((resolve) => src.pipe(serial(q, async (p) => (await tick(), p))).subscribe({ next: (p) => got.push(p), complete: resolve }));
  src.next(pkt(0)); // taken at once
  src.next(pkt(1, 'reconnect')); // waits, then dropped by 2
  src.next(pkt(2));
  src.next(pkt(3)); // drops 2
  src.complete();
  await done;
  t.deepEqual(got.map((p) => p.seq), [0, 3]);
  t.is(q.drops, 2);
  t.is(got[1]!.discontinuity, 'reconnect', 'the reset mark survives the drop');
});

test('flow › a source is blocked at maxInFlight until the slowest sink catches up', async (t) => {
  const f = new FlowControl(2, ['a', 'b']);
  f.emitted(0);
  f.emitted(1);
  t.true(f.blocked);
  let released = false;
  const wait = f.ready().then(() => (released = true));
  f.finished('a', 1);
  await tick();
  t.false(released, 'sink b is still behind');
  f.finished('b', 0);
  await wait;
  t.true(released);
  t.is(f.inFlight, 1);
});

test('join › pairs by seq and releases frames whose labels were dropped', async (t) => {
  const a = new Subject<PacketMeta>();
  const b = new Subject<PacketMeta>();
  const unmatched: number[] = [];
  const pairs = lastValueFrom(joinBySeq({ a, b }, { onUnmatched: (port, x) => port === 'a' && unmatched.push(x.seq) }).pipe(map((r) => [r.a!, r.b!] as const), toArray()));
  for (const s of [0, 1, 2, 3]) a.next(pkt(s));
  b.next(pkt(0));
  b.next(pkt(3)); // 1 and 2 were dropped upstream
  a.complete();
  b.complete();
  t.deepEqual((await pairs).map(([x, y]) => [x.seq, y.seq]), [[0, 0], [3, 3]]);
  t.deepEqual(unmatched, [1, 2]);
});

test('metrics › Prometheus text names every node and edge', async (t) => {
  const m = new Metrics();
  m.node('segment', 'two-branch-segmenter').observe(12);
  m.edge(new EdgeQueue('a.frame→segment.frame', { policy: 'freshest', size: 1 })).drops = 3;
  m.count('rtsp_reconnects_total', { node: 'camera' });
  const text = m.prometheus();
  t.regex(text, /segflow_node_frames_total\{node="segment",type="two-branch-segmenter"\} 1/);
  t.regex(text, /segflow_edge_drops_total\{edge="a.frame→segment.frame"\} 3/);
  t.regex(text, /segflow_rtsp_reconnects_total\{node="camera"\} 1/);
});

test('metrics › label keys (cached per label set) add up per set, escape values and keep sets apart', (t) => {
  const m = new Metrics();
  for (let i = 0; i < 3; i++) m.count('packets_total', { node: 'overlay', port: 'frame' });
  m.count('packets_total', { node: 'overlay', port: 'frames' }, 2);
  m.count('packets_total', { node: 'over', port: 'layframe' }, 5); // the same characters, split elsewhere
  m.count('packets_total', { node: 'q"\\x', port: 'a\nb' }, 7);
  m.gauge('depth', { node: 'overlay', port: 'frame' }, 4);
  const text = m.prometheus();
  t.regex(text, /segflow_packets_total\{node="overlay",port="frame"\} 3\n/);
  t.regex(text, /segflow_packets_total\{node="overlay",port="frames"\} 2\n/);
  t.regex(text, /segflow_packets_total\{node="over",port="layframe"\} 5\n/);
  t.true(text.includes('segflow_packets_total{node="q\\"\\\\x",port="a\\nb"} 7\n'), text);
  t.regex(text, /segflow_depth\{node="overlay",port="frame"\} 4\n/);
});

test('runtime › serial with depth 2: at most 2 calls in flight, results in input order, an error ends the stream', async (t) => {
  const q = new EdgeQueue('q', { policy: 'lossless', size: Infinity });
  let inFlight = 0;
  let most = 0;
  const started: number[] = [];
  // Later packets finish sooner: order must still be kept.
  const fn = async (n: number) => {
    started.push(n);
    most = Math.max(most, ++inFlight);
    await new Promise((r) => setTimeout(r, (10 - n) * 3));
    inFlight--;
    return n * 10;
  };
  t.deepEqual(await lastValueFrom(from([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]).pipe(serial(q, fn, 2), toArray())), [0, 10, 20, 30, 40, 50, 60, 70, 80, 90]);
  t.is(most, 2);
  t.deepEqual(started, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  const failing = (n: number) => (n === 3 ? Promise.reject(new Error('boom at 3')) : Promise.resolve(n));
  const got: number[] = [];
  await t.throwsAsync(lastValueFrom(from([0, 1, 2, 3, 4, 5]).pipe(serial(new EdgeQueue('q2', { policy: 'lossless', size: Infinity }), failing, 2), toArray())), { message: 'boom at 3' });
  await lastValueFrom(from([0, 1, 2]).pipe(serial(new EdgeQueue('q3', { policy: 'lossless', size: Infinity }), failing, 2))).then((v) => got.push(v));
  t.deepEqual(got, [2]);
});

test('timing › an asynchronous node is timed for every packet it takes in, also those it emits nothing for', async (t) => {
  // A segmenter passing frames marked for propagation emits nothing for them: they still count (and are timed).
  const spec = defineNode({
    type: 'test-every-other', description: 'emits even seqs only', role: 'transform', inputs: { frame: 'frame' }, outputs: { frame: 'frame' }, options: z.object({}),
    async open(ctx) {
      return {
        process: ({ frame }) => ({ frame: frame.pipe(serial(ctx.queue('frame'), async (f: Frame) => {
          await new Promise((r) => setTimeout(r, f.seq % 2 ? 1 : 15));
          return f.seq % 2 ? undefined : f;
        })) }),
        async close() {},
      };
    },
  });
  const metrics = new Metrics();
  const ctx = createNodeContext(spec, { name: 'n', options: {}, metrics });
  const frames = Array.from({ length: 10 }, (_, seq): Frame => ({ kind: 'frame', source: 's', seq, ptsMs: seq, width: 1, height: 1, data: new Uint8Array(3) }));
  const out = await lastValueFrom((wireNode(spec, await spec.open(ctx), ctx, { frame: from(frames) }).outputs.frame as Observable<Frame>).pipe(toArray()));
  t.deepEqual(out.map((f) => f.seq), [0, 2, 4, 6, 8]);
  const s = metrics.node('n');
  t.is(s.frames, 10, 'all 10 packets timed, not only the 5 it emitted');
  t.true(s.percentile(50) < s.percentile(99), `p50 ${s.percentile(50).toFixed(1)} ms (the quick no-output packets) < p99 ${s.percentile(99).toFixed(1)} ms`);
  t.true(s.percentile(99) >= 14, 'the emitting packets: their whole work');
});

// ---- serial (src/core/runtime/operators/serial.ts), step by step -------------------------------
// serial's work is promises, which RxJS's virtual time does not drive; here each call's promise is settled by
// hand, one step at a time, and what serial did in that step is checked in full.

interface Deferred { readonly x: number; resolve(v: number | undefined): void; reject(e: Error): void }
/** `fn` for serial whose calls wait until the test settles them (in `calls`), logging each start. */
function handSettled(log: string[]) {
  const calls = new Map<number, Deferred>();
  const fn = (x: number) => new Promise<number | undefined>((resolve, reject) => {
    log.push(`start ${x}`);
    calls.set(x, { x, resolve, reject });
  });
  return { calls, fn };
}
const step = () => new Promise((r) => setImmediate(r));
const logTo = (log: string[]) => ({ next: (r: number) => log.push(`out ${r}`), error: (e: Error) => log.push(`error ${e.message}`), complete: () => log.push('complete') });

test('serial › depth 2: two calls in flight, results in input order whatever order they settle in; undefined emits nothing; completion after the last', async (t) => {
  const log: string[] = [];
  const { calls, fn } = handSettled(log);
  const src = new Subject<number>();
  src.pipe(serial(new EdgeQueue('q', { policy: 'lossless', size: Infinity }), fn, 2)).subscribe(logTo(log));
  src.next(0);
  src.next(1);
  src.next(2);
  await step();
  t.deepEqual(log, ['start 0', 'start 1'], 'two in flight; 2 waits');
  calls.get(1)!.resolve(110);
  await step();
  t.deepEqual(log, ['start 0', 'start 1'], '1 settled first: held until 0 is out');
  calls.get(0)!.resolve(100);
  await step();
  // 0 out frees a place: 2 starts; then 1, settled already, goes out.
  t.deepEqual(log, ['start 0', 'start 1', 'out 100', 'start 2', 'out 110']);
  src.next(3);
  src.complete();
  await step();
  t.deepEqual(log.slice(5), ['start 3'], 'the source ended, two calls still in flight: not complete');
  calls.get(3)!.resolve(undefined);
  await step();
  t.deepEqual(log.slice(6), [], '3 settled (nothing to emit) but 2 is not');
  calls.get(2)!.resolve(120);
  await step();
  t.deepEqual(log.slice(6), ['out 120', 'complete'], '2 out, 3 emits nothing, then completion');
});

test('serial › an error ends the stream at once, later results are not emitted; each subscription has its own calls in flight', async (t) => {
  const log: string[] = [];
  const { calls, fn } = handSettled(log);
  const op = serial(new EdgeQueue('q', { policy: 'lossless', size: Infinity }), fn, 1);
  const a = new Subject<number>(), b = new Subject<number>();
  a.pipe(op).subscribe(logTo(log));
  a.next(0);
  a.next(1);
  b.pipe(op).subscribe(logTo(log)); // the same operator: its own buffer and calls, not queued behind a's
  b.next(5);
  b.next(6);
  await step();
  t.deepEqual(log, ['start 0', 'start 5'], 'depth 1 per subscription: 0 and 5 in flight, 1 and 6 wait');
  calls.get(5)!.reject(new Error('boom at 5'));
  await step();
  t.deepEqual(log.slice(2), ['error boom at 5'], 'b ends with the error; 6 never starts');
  calls.get(0)!.resolve(100);
  await step();
  t.deepEqual(log.slice(3), ['out 100', 'start 1'], 'a goes on');
  calls.get(1)!.resolve(110);
  a.complete();
  await step();
  t.deepEqual(log.slice(5), ['out 110', 'complete']);
  t.false(calls.has(6));
});

/**
 * The runtime owns the edges (src/runtime/queue.ts, src/runtime/operators/freshest.ts):
 * marble tests of the freshest operator and of the join, the same queue in front of real
 * nodes (their consumption pattern in virtual time), and whole graphs through the runner
 * where a burst of frames meets a `freshest` edge into each node kind.
 */
import test from 'ava';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { filter, map, Observable, tap } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { z } from 'zod';
import { downsampler, labelPropagation, labelResizer, overlay, registry, statisticsSink } from '../nodes/index.ts';
import { parseGraph } from '../src/core/graph/loader.ts';
import { runGraph, type RunOptions } from '../src/core/graph/runner.ts';
import { createNodeContext } from '../src/core/runtime/context.ts';
import { wireNode } from '../src/core/runtime/wire.ts';
import { defineNode, type NodeSpec } from '../src/core/node.ts';
import { type Frame, type Labels, type PacketMeta } from '../src/core/packet.ts';
import { joinBySeq } from '../src/core/runtime/operators/join-by-seq.ts';
import { Metrics } from '../src/core/runtime/metrics.ts';
import { freshest } from '../src/core/runtime/operators/freshest.ts';
import { EdgeQueue, serial } from '../src/core/runtime/queue.ts';
import { unlimitedFlow } from '../src/core/runtime/flow.ts';
import { tmpDir } from './helpers/cli.ts';
import { marbles } from './helpers/marbles.ts';
import { freePort } from './helpers/live.ts';

const pkt = (seq: number, discontinuity?: string): PacketMeta => ({ source: 's', seq, ptsMs: seq * 40, discontinuity });
const W = 64, H = 48;
const frame = (seq: number, discontinuity?: string): Frame =>
  Object.freeze({ kind: 'frame', source: 's', seq, ptsMs: seq * 40, width: W, height: H, data: new Uint8Array(W * H * 3).fill(seq * 20), discontinuity });
const labels = (seq: number, discontinuity?: string): Labels =>
  Object.freeze({ kind: 'labels', source: 's', seq, ptsMs: seq * 40, width: W, height: H, classes: new Uint8Array(W * H).fill(seq % 2),
    classNames: ['a', 'b'], palette: [[255, 0, 0], [0, 0, 255]] as const, path: 'full', discontinuity });

const scheduler = () => new TestScheduler((actual, expected) => {
  if (JSON.stringify(actual) !== JSON.stringify(expected)) throw new Error(`expected ${JSON.stringify(expected)}\n     got ${JSON.stringify(actual)}`);
});

// ---- the operator -------------------------------------------------------------------------

test('freshest › a slow consumer gets the newest packets; the oldest are dropped and counted', (t) => {
  const dropped: number[] = [];
  scheduler().run(({ cold, expectObservable }) => {
    const v = { a: pkt(0), b: pkt(1), c: pkt(2), d: pkt(3), e: pkt(4), f: pkt(5) };
    const src = cold('a-b-c-d-e-f|', v);
    const ready = cold('-----r-----r-----r');
    expectObservable(src.pipe(freshest({ size: 1, ready, onDrop: (p) => dropped.push(p.seq) }))).toBe('a----c-----(f|)', v);
  });
  t.deepEqual(dropped, [1, 3, 4]);
});

test('freshest › a dropped marked packet passes its mark on', (t) => {
  let drops = 0;
  scheduler().run(({ cold, expectObservable }) => {
    const v = { a: pkt(0), b: pkt(1, 'reconnect'), c: pkt(2), m: pkt(2, 'reconnect') };
    expectObservable(cold('abc|', v).pipe(freshest({ size: 1, ready: cold('----r'), onDrop: () => drops++ }))).toBe('a---(m|)', v);
  });
  t.is(drops, 1);
});

test('freshest › size N keeps the N newest; credits let a consumer hold several at once', (t) => {
  let drops = 0;
  scheduler().run(({ cold, expectObservable }) => {
    const v = { a: pkt(0), b: pkt(1), c: pkt(2), d: pkt(3), e: pkt(4), f: pkt(5) };
    // Two credits (two-branch-segmenter in its thread: depth 2); two may wait.
    expectObservable(cold('abcdef|', v).pipe(freshest({ size: 2, credits: 2, ready: cold('--------r-r'), onDrop: () => drops++ }))).toBe('ab------e-(f|)', v);
  });
  t.is(drops, 2);
});

test('freshest › rejects a size below 1', (t) => {
  t.throws(() => freshest({ size: 0, ready: new Observable() }), { instanceOf: TypeError, message: /expected an integer ≥ 1, got 0/ });
});

test('join › a discontinuity mark passes through, also from a packet released unmatched', (t) => {
  scheduler().run(({ cold, expectObservable }) => {
    const a = cold('abcd|', { a: pkt(0), b: pkt(1, 'reconnect'), c: pkt(2), d: pkt(3) });
    const b = cold('--x-y|', { x: pkt(2), y: pkt(3, 'new-file') });
    const pairs = joinBySeq({ a, b }).pipe(map(({ a: x, b: y }) => `${x!.seq}${y!.seq}:${x!.discontinuity ?? ''}/${y!.discontinuity ?? ''}`));
    expectObservable(pairs).toBe('--p-q|', { p: '22:reconnect/reconnect', q: '33:new-file/new-file' });
  });
  t.pass();
});

test('join › a packet whose partner can no longer come is released: kept ports alone, the others dropped and counted, in seq order', (t) => {
  const unmatched: string[] = [];
  scheduler().run(({ cold, expectObservable }) => {
    // a3 shows b's 2 has no partner: it goes alone (b is kept); a1 (b moved past it) and a3 (b ended) are dropped.
    const a = cold('ab-c|', { a: pkt(0), b: pkt(1), c: pkt(3) });
    const b = cold('-x-y-|', { x: pkt(0), y: pkt(2, 'new-file') });
    const out = joinBySeq({ a, b }, { keep: ['b'], onUnmatched: (port, p) => unmatched.push(`${port}${p.seq}`) })
      .pipe(map((r) => `${r.a?.seq ?? '-'}/${r.b?.seq ?? '-'}${r.b?.discontinuity ?? ''}`));
    expectObservable(out).toBe('-p-q-|', { p: '0/0', q: '-/2new-file' });
  });
  t.deepEqual(unmatched, ['a1', 'b2', 'a3']);
});

test('join › the mark of a dropped packet moves to the next record of its source, on every member', (t) => {
  scheduler().run(({ cold, expectObservable }) => {
    const a = cold('ab-c|', { a: pkt(0, 'start'), b: pkt(1, 'reconnect'), c: pkt(2) });
    const b = cold('x--y|', { x: pkt(0), y: pkt(2) });
    const out = joinBySeq({ a, b }).pipe(map((r) => `${r.a!.seq}${r.a!.discontinuity ?? ''}/${r.b!.seq}${r.b!.discontinuity ?? ''}`));
    expectObservable(out).toBe('p--q|', { p: '0start/0start', q: '2reconnect/2reconnect' });
  });
  t.pass();
});

test('join › more than maxWaiting records waiting: the oldest is released', (t) => {
  const unmatched: number[] = [];
  scheduler().run(({ cold, expectObservable }) => {
    const a = cold('abc|', { a: pkt(0), b: pkt(1), c: pkt(2) });
    const b = cold('---(z|)', { z: pkt(2) });
    expectObservable(joinBySeq({ a, b }, { maxWaiting: 2, onUnmatched: (_, p) => unmatched.push(p.seq) }).pipe(map((r) => r.a!.seq))).toBe('---(c|)', { c: 2 });
  });
  t.deepEqual(unmatched, [0, 1]);
});

test('freshest › a mark moves with each drop and goes out once: on the packet that pushed its holder out, not on the one after', (t) => {
  const dropped: number[] = [];
  marbles(t).run(({ cold, expectObservable }) => {
    // size 1: a goes at once (one credit); b (marked) waits; c pushes b out and takes its mark; the credit comes
    // back at t3: c goes, marked; d waits, unmarked; the source ends at t5; the next credit (t6) takes d, then completes.
    const v = { a: pkt(0), b: pkt(1, 'reconnect'), c: pkt(2), d: pkt(3) };
    expectObservable(cold('abc-d|', v).pipe(freshest({ size: 1, ready: cold('---r--r'), onDrop: (p) => dropped.push(p.seq) })))
      .toBe('a--m--(d|)', { a: v.a, m: { ...v.c, discontinuity: 'reconnect' }, d: v.d });
  });
  t.deepEqual(dropped, [1]);
});

test('freshest › an error on the source or on ready passes straight through; packets still waiting are not delivered', (t) => {
  const dropped: number[] = [];
  marbles(t).run(({ cold, expectObservable }) => {
    const v = { a: pkt(0), b: pkt(1) };
    expectObservable(cold('ab-#', v, new Error('camera died')).pipe(freshest({ size: 2, ready: cold('-'), onDrop: (p) => dropped.push(p.seq) })))
      .toBe('a--#', v, new Error('camera died'));
    expectObservable(cold('ab---|', v).pipe(freshest({ size: 2, ready: cold('--#', {}, new Error('consumer died')) })))
      .toBe('a-#', v, new Error('consumer died'));
  });
  t.deepEqual(dropped, [], 'an error is not a drop');
});

test('freshest › completion waits for the packets still waiting; every subscription has its own queue and credits', (t) => {
  const dropped: number[] = [];
  marbles(t).run(({ cold, expectObservable }) => {
    // size 2, nothing dropped: a goes at once; b, c wait past the source's end (t3) and go as credits come back.
    const v = { a: pkt(0), b: pkt(1), c: pkt(2) };
    const out = cold('abc|', v).pipe(freshest({ size: 2, ready: cold('----r--r'), onDrop: (p) => dropped.push(p.seq) }));
    expectObservable(out).toBe('a---b--(c|)', v);
    // A second subscriber, after the first ended: one credit again and an empty queue (a shared queue would be
    // out of credits, or still hold packets).
    expectObservable(out, '----------^').toBe('----------a---b--(c|)', v);
  });
  t.deepEqual(dropped, []);
});

test('join › records in seq order; the mark of a dropped packet goes to the next record only; completion when every input has', (t) => {
  const unmatched: string[] = [];
  marbles(t).run(({ cold, expectObservable }) => {
    // b never brings seq 1: at t2 its seq 2 shows a1 can no longer be matched (dropped, counted); record 2 takes
    // a1's mark on both members; record 3 is unmarked. Both inputs end at t4.
    const a = cold('abcd|', { a: pkt(0), b: pkt(1, 'seek'), c: pkt(2), d: pkt(3) });
    const b = cold('x-yz|', { x: pkt(0), y: pkt(2), z: pkt(3) });
    expectObservable(joinBySeq({ a, b }, { onUnmatched: (port, p) => unmatched.push(`${port}${p.seq}`) })).toBe('p-qr|', {
      p: { a: pkt(0), b: pkt(0) }, q: { a: pkt(2, 'seek'), b: pkt(2, 'seek') }, r: { a: pkt(3), b: pkt(3) },
    });
  });
  t.deepEqual(unmatched, ['a1']);
});

test('join › an error on either input passes straight through after the records before it', (t) => {
  marbles(t).run(({ cold, expectObservable }) => {
    const v = { a: pkt(0), b: pkt(1) };
    expectObservable(joinBySeq({ a: cold('a-b-#', v, new Error('decoder died')), b: cold('a-b---|', v) }))
      .toBe('p-q-#', { p: { a: v.a, b: v.a }, q: { a: v.b, b: v.b } }, new Error('decoder died'));
    expectObservable(joinBySeq({ a: cold('a-b---|', v), b: cold('a--#', v, new Error('model died')) }))
      .toBe('p--#', { p: { a: v.a, b: v.a } }, new Error('model died'));
  });
});

test('join › every subscription starts fresh: nothing waits over from the one before', (t) => {
  marbles(t).run(({ cold, expectObservable }) => {
    // a0 waits for b0 until b1 shows it cannot come (t1): dropped; a1 pairs with b1; the output ends with b (t4).
    // A second subscriber gets the same; entries or seqs left over from the first would pair or release differently.
    const v = { a: pkt(0), b: pkt(1) };
    const out = joinBySeq({ a: cold('ab|', v), b: cold('-b--|', v) });
    expectObservable(out).toBe('-q--|', { q: { a: v.b, b: v.b } });
    expectObservable(out, '------^').toBe('-------q--|', { q: { a: v.b, b: v.b } });
  });
});

// ---- the edge in front of real nodes, in virtual time -------------------------------------

/**
 * A node opened with a context whose input edges are runtime-owned queues handing a packet back
 * `busyFrames` after delivery, wired by the runtime (`wireNode`: edges, joins, timing) to `inputs`.
 */
async function virtualNode(spec: NodeSpec, ts: TestScheduler, policy: EdgeQueue['policy'], busyFrames: number, options: Record<string, unknown> = {}) {
  const metrics = new Metrics();
  const edges = Object.fromEntries(Object.keys(spec.inputs).map((port) => [port, { name: `${spec.type}.${port}`, policy }]));
  const ctx = createNodeContext(spec, { options: spec.options.parse(options), metrics, edges, yieldTo: (fn) => void ts.schedule(fn, busyFrames) });
  const inst = await spec.open(ctx);
  return { ctx, metrics, queue: ctx.queue, wire: (inputs: Record<string, Observable<PacketMeta>>) => wireNode(spec, inst, ctx, inputs) };
}

const freshest1 = { policy: 'freshest', size: 1 } as const;

test('edge › freshest into downsampler: a node busy 3 frames per packet sees the newest', async (t) => {
  const ts = scheduler();
  const { wire, queue } = await virtualNode(downsampler, ts, freshest1, 3);
  ts.run(({ cold, expectObservable }) => {
    const src = cold('abcdefg|', Object.fromEntries([...'abcdefg'].map((k, i) => [k, frame(i)])));
    const out = wire({ frame: src }).outputs.frame!.pipe(map((f: Frame) => f.seq));
    expectObservable(out).toBe('a--d--g|', { a: 0, d: 3, g: 6 });
  });
  t.is(queue('frame').drops, 4);
  t.is(queue('frame').delivered, 3);
});

test('edge › freshest into overlay (a join): drops frames, pairs the rest, passes the dropped frame\'s mark', async (t) => {
  const ts = scheduler();
  const { wire, queue } = await virtualNode(overlay, ts, freshest1, 2);
  ts.run(({ cold, expectObservable }) => {
    const f = cold('abcd|', { a: frame(0), b: frame(1, 'reconnect'), c: frame(2), d: frame(3) });
    const l = cold('abcd|', { a: labels(0), b: labels(1), c: labels(2), d: labels(3) });
    const out = wire({ frame: f, labels: l }).outputs.frame!.pipe(map((o: Frame) => `${o.seq}${o.discontinuity ?? ''}`));
    expectObservable(out).toBe('a-c-(e|)', { a: '0', c: '2reconnect', e: '3' });
  });
  t.is(queue('frame').drops, 1);
  t.is(queue('labels').drops, 1);
});

test('edge › freshest into label-propagation: frames dropped on its input are counted, the mark survives', async (t) => {
  const ts = scheduler();
  const { wire, queue } = await virtualNode(labelPropagation, ts, freshest1, 2);
  ts.run(({ cold, expectObservable }) => {
    const f = cold('a-bcd-e|', { a: frame(0, 'start'), b: frame(1), c: frame(2, 'reconnect'), d: frame(3), e: frame(4) });
    const l = cold('l----m-|', { l: labels(0), m: labels(3) });
    const out = wire({ frame: f, labels: l }).outputs.labels!.pipe(map((o: Labels) => `${o.seq}${o.discontinuity ?? ''}`));
    // Frame 0 waits for labels (none yet); frame 1 gets 0's labels carried, with the start mark.
    // Frame 2 (reconnect) is dropped by frame 3, which carries its mark: the old labels are gone,
    // frame 3 emits nothing, and frame 4 gets frame 3's own labels carried, marked.
    expectObservable(out).toBe('--a---b|', { a: '1start', b: '4reconnect' });
  });
  t.is(queue('frame').drops, 1);
});

test('edge › freshest into label-resizer (a declared join): each edge drops and counts, the dropped frame\'s mark reaches the record', async (t) => {
  const ts = scheduler();
  const { wire, queue, metrics } = await virtualNode(labelResizer, ts, freshest1, 2);
  ts.run(({ cold, expectObservable }) => {
    const f = cold('abcd|', { a: frame(0), b: frame(1, 'reconnect'), c: frame(2), d: frame(3) });
    const l = cold('abcd|', { a: labels(0), b: labels(1), c: labels(2), d: labels(3) });
    const out = wire({ frame: f, labels: l }).outputs.labels!.pipe(map((o: Labels) => `${o.seq}${o.discontinuity ?? ''}`));
    expectObservable(out).toBe('a-c-(e|)', { a: '0', c: '2reconnect', e: '3' });
  });
  t.is(queue('frame').drops, 1);
  t.is(queue('labels').drops, 1);
  t.is(metrics.counters.get('node_unmatched_total')!.get('{node="label-resizer",port="frame"}'), 0, 'both edges dropped seq 1: nothing left unmatched');
});

test('edge › freshest into statistics-sink (virtual time): the sink finishes the newest, drops and counts the rest', async (t) => {
  const ts = scheduler();
  const dir = tmpDir();
  const { wire, queue } = await virtualNode(statisticsSink, ts, freshest1, 3, { json: path.join(dir, 's.json') });
  ts.run(({ cold, expectObservable }) => {
    const l = cold('abcdefg|', Object.fromEntries([...'abcdefg'].map((k, i) => [k, labels(i)])));
    // finish() writes the files after the virtual run: completion is not in the marble.
    expectObservable(wire({ labels: l }).done!.pipe(map((p) => p.seq))).toBe('a--d--g', { a: 0, d: 3, g: 6 });
  });
  t.is(queue('labels').drops, 4);
});

// ---- whole graphs through the runner --------------------------------------------------------

/** A source that emits `count` frames in bursts of `burstFrames` (all at once), `gapMs` apart. */
const burst = defineNode({
  type: 'test-burst', description: 'test', role: 'source', inputs: {}, outputs: { frame: 'frame' },
  options: z.strictObject({ count: z.number().int().default(10), burstFrames: z.number().int().default(1000), gapMs: z.number().default(15),
    width: z.number().int().default(W), height: z.number().int().default(H) }),
  async open(ctx) {
    const { count, burstFrames, gapMs, width, height } = ctx.options;
    return {
      process: () => ({
        frame: new Observable<Frame>((sub) => {
          let i = 0;
          let timer: NodeJS.Timeout | undefined;
          const emit = () => {
            for (const end = Math.min(count, i + burstFrames); i < end; i++) {
              sub.next(Object.freeze({ kind: 'frame', source: 's', seq: i, ptsMs: i * 40, width, height, data: new Uint8Array(width * height * 3).fill((i * 37) % 256), discontinuity: i === 0 ? 'start' : undefined }));
            }
            if (i < count) timer = setTimeout(emit, gapMs);
            else sub.complete();
          };
          const h = setImmediate(emit); // after the graph is wired: every consumer has subscribed
          return () => {
            clearImmediate(h);
            clearTimeout(timer);
          };
        }),
      }),
      async close() {},
    };
  },
});
/** Labels for every frame, synchronously. */
/** Labels for every frame (with `every: n`, only for every nth seq), synchronously. */
const labeler = defineNode({
  type: 'test-labeler', description: 'test', role: 'transform', inputs: { frame: 'frame' }, outputs: { labels: 'labels' }, options: z.strictObject({ every: z.number().int().default(1) }),
  async open(ctx) {
    return {
      process: ({ frame: f }) => ({
        labels: f.pipe(filter((x) => x.seq % ctx.options.every === 0), map((x): Labels => ({ ...labels(x.seq, x.discontinuity), width: x.width, height: x.height, classes: new Uint8Array(x.width * x.height) }))),
      }),
      async close() {},
    };
  },
});
/** An asynchronous node (serial, like two-branch-segmenter): `delayMs` per packet. */
const slow = defineNode({
  type: 'test-slow', description: 'test', role: 'transform', inputs: { frame: 'frame' }, outputs: { frame: 'frame' },
  options: z.strictObject({ delayMs: z.number().default(20), depth: z.number().int().default(1) }),
  async open(ctx) {
    return {
      process: ({ frame: f }) => ({ frame: f!.pipe(serial(ctx.queue('frame'), async (x: Frame) => (await new Promise((r) => setTimeout(r, ctx.options.delayMs)), x), ctx.options.depth)) }),
      async close() {},
    };
  },
});
/** An asynchronous node that joins frame and labels (like zmq-sink): `delayMs` per record. */
const slowJoin = defineNode({
  type: 'test-slow-join', description: 'test', role: 'transform', inputs: { frame: 'frame', labels: 'labels' }, join: { ports: ['frame', 'labels'] }, outputs: { frame: 'frame' },
  options: z.strictObject({ delayMs: z.number().default(150) }),
  async open(ctx) {
    return {
      process: ({ joined }) => ({ frame: joined.pipe(serial(ctx.queue('frame'), async (r) => (await new Promise((res) => setTimeout(res, ctx.options.delayMs)), r.frame))) }),
      async close() {},
    };
  },
});
const seen = new Map<string, number[]>();
/** A sink that records the seqs it finishes, per graph (option `key`). */
const collector = (type: string, kind: 'frame' | 'labels') => defineNode({
  type, description: 'test', role: 'sink', inputs: { in: kind }, outputs: {}, options: z.strictObject({ key: z.string() }),
  async open(ctx) {
    seen.set(ctx.options.key, []);
    return { process: ({ in: i }) => i.pipe(tap((x: PacketMeta) => seen.get(ctx.options.key)!.push(x.seq))), async close() {} };
  },
});
const collect = collector('test-collect', 'frame');
const collectLabels = collector('test-collect-labels', 'labels');
const reg = new Map<string, NodeSpec>([...registry, ...[burst, labeler, slow, slowJoin, collect, collectLabels].map((s) => [s.type, s as NodeSpec] as const)]);
const run = (yaml: string, opts: RunOptions = {}) => runGraph(parseGraph(`version: 1\nnodes:\n${yaml}`, 'edges.yaml', reg), { log: () => {}, ...opts });
/** Runs `yaml`, returning the seqs each sink finished (`onDone`). */
async function runDone(yaml: string) {
  const done = new Map<string, number[]>();
  const r = await run(yaml, { onDone: (sink, p) => done.set(sink, [...(done.get(sink) ?? []), p.seq]) });
  return { r, done };
}
const F1 = 'queue: { policy: freshest, size: 1 }';

test('runner › freshest into downsampler and statistics-sink: a burst is cut to the newest, drops counted per edge', async (t) => {
  const dir = tmpDir();
  const r = await run(`
  src:   { type: test-burst }
  small: { type: downsampler, options: { width: 32, height: 24 }, in: { frame: src.frame }, ${F1} }
  lab:   { type: test-labeler, in: { frame: small.frame } }
  stats: { type: statistics-sink, options: { json: "${path.join(dir, 's.json')}" }, in: { labels: lab.labels }, ${F1} }
  stats2: { type: statistics-sink, options: { json: "${path.join(dir, 's2.json')}" }, in: { labels: lab.labels } }
`);
  // 10 frames at once: the first is taken, 8 are pushed out by the next, the 10th waits its turn.
  t.is(r.metrics.edges.get('src.frame→small.frame')!.drops, 8);
  const json = JSON.parse(readFileSync(path.join(dir, 's2.json'), 'utf8')) as { perFrame: { seq: number }[] };
  t.deepEqual(json.perFrame.map((f) => f.seq), [0, 9]);
  t.is(r.metrics.edges.get('lab.labels→stats2.labels')!.drops, 0, 'lossless edge');
  const out = r.metrics.counters.get('node_output_packets_total')!;
  t.is(out.get('{node="src",port="frame"}'), 10, 'the runtime counts what each node emits');
  t.is(out.get('{node="small",port="frame"}'), 2);
  t.is(out.get('{node="stats2",port="done"}'), 2);
  // The freshest sink edge sees the same two packets (delivered a turn apart): nothing more to drop.
  t.is(JSON.parse(readFileSync(path.join(dir, 's.json'), 'utf8')).frames, 2);
});

test('runner › freshest into statistics-sink: drops while the sink is behind', async (t) => {
  const dir = tmpDir();
  const r = await run(`
  src:   { type: test-burst, options: { count: 12 } }
  lab:   { type: test-labeler, in: { frame: src.frame } }
  stats: { type: statistics-sink, options: { json: "${path.join(dir, 's.json')}" }, in: { labels: lab.labels }, queue: { policy: freshest, size: 3 } }
`);
  const e = r.metrics.edges.get('lab.labels→stats.labels')!;
  t.is(e.drops, 8, '1 taken at once, 3 newest wait');
  t.is(e.maxDepth, 3);
  const json = JSON.parse(readFileSync(path.join(dir, 's.json'), 'utf8')) as { perFrame: { seq: number }[] };
  t.deepEqual(json.perFrame.map((f) => f.seq), [0, 9, 10, 11]);
});

test('runner › freshest into overlay: dropped frames are counted on the edge, unmatched labels released', async (t) => {
  const r = await run(`
  src:  { type: test-burst }
  lab:  { type: test-labeler, in: { frame: src.frame } }
  over: { type: overlay, in: { frame: src.frame, labels: lab.labels }, ${F1} }
  out:  { type: test-collect, options: { key: overlay }, in: { in: over.frame } }
`);
  t.is(r.metrics.edges.get('src.frame→over.frame')!.drops, 8);
  t.is(r.metrics.edges.get('lab.labels→over.labels')!.drops, 8);
  t.deepEqual(seen.get('overlay'), [0, 9]);
});

test('runner › freshest into label-resizer (a join): drops counted on both edges, the newest pair goes out', async (t) => {
  const r = await run(`
  src:  { type: test-burst }
  lab:  { type: test-labeler, in: { frame: src.frame } }
  size: { type: label-resizer, in: { labels: lab.labels, frame: src.frame }, ${F1} }
  out:  { type: test-collect-labels, options: { key: resizer }, in: { in: size.labels } }
`);
  t.is(r.metrics.edges.get('src.frame→size.frame')!.drops, 8);
  t.is(r.metrics.edges.get('lab.labels→size.labels')!.drops, 8);
  t.deepEqual(seen.get('resizer'), [0, 9]);
});

test('runner › freshest into label-propagation: drops counted, every delivered frame labelled', async (t) => {
  const r = await run(`
  src:  { type: test-burst }
  lab:  { type: test-labeler, in: { frame: src.frame } }
  prop: { type: label-propagation, in: { frame: src.frame, labels: lab.labels }, ${F1} }
  out:  { type: test-collect-labels, options: { key: prop }, in: { in: prop.labels } }
`);
  const e = r.metrics.edges.get('src.frame→prop.frame')!;
  t.is(e.drops, 8);
  t.is(e.delivered, 2);
  t.is(r.metrics.edges.get('lab.labels→prop.labels')!.drops, 8);
});

test('runner › serial under a runtime-owned freshest edge: packets wait in one place, not two', async (t) => {
  // Two bursts of 5 while the node works on frame 0 (150 ms): had serial kept its own buffer,
  // the edge would hand it 3 and 4 between the bursts and they would be processed too.
  const r = await run(`
  src:  { type: test-burst, options: { burstFrames: 5, gapMs: 30 } }
  work: { type: test-slow, options: { delayMs: 150 }, in: { frame: src.frame }, queue: { policy: freshest, size: 2 } }
  out:  { type: test-collect, options: { key: serial }, in: { in: work.frame } }
`);
  t.deepEqual(seen.get('serial'), [0, 8, 9]);
  t.is(r.metrics.edges.get('src.frame→work.frame')!.drops, 7);
});

test('runner › serial behind a declared join holds the edge whose packet completed the record', async (t) => {
  // As above, through a join: labels 0 complete a record while frame 0 waits in the join; serial then
  // holds the labels edge for 150 ms, so labels wait (and drop) there instead of piling up in serial.
  const r = await run(`
  src:  { type: test-burst, options: { burstFrames: 5, gapMs: 30 } }
  lab:  { type: test-labeler, in: { frame: src.frame } }
  work: { type: test-slow-join, in: { frame: src.frame, labels: lab.labels }, queue: { policy: freshest, size: 2 } }
  out:  { type: test-collect, options: { key: serial-join }, in: { in: work.frame } }
`);
  t.deepEqual(seen.get('serial-join'), [0, 8, 9]);
  t.is(r.metrics.edges.get('lab.labels→work.labels')!.drops, 7);
  const frameDrops = r.metrics.edges.get('src.frame→work.frame')!.drops;
  const unmatched = r.metrics.counters.get('node_unmatched_total')!.get('{node="work",port="frame"}')!;
  t.is(frameDrops + unmatched, 7, `frames 1..7 dropped on the edge (${frameDrops}) or released unmatched by the join (${unmatched})`);
});

test('runner › freshest into two-branch-segmenter (the real model in its thread, depth 2)', async (t) => {
  const r = await run(`
  src:  { type: test-burst, options: { width: 160, height: 96 } }
  seg:  { type: two-branch-segmenter, in: { frame: src.frame }, ${F1} }
  out:  { type: test-collect-labels, options: { key: segmenter }, in: { in: seg.labels } }
`);
  // Two frames go to the thread at once, the newest of the rest waits; 7 dropped.
  t.deepEqual(seen.get('segmenter'), [0, 1, 9]);
  t.is(r.metrics.edges.get('src.frame→seg.frame')!.drops, 7);
});

test('runner › lossless edges still deliver every packet', async (t) => {
  const r = await run(`
  src:  { type: test-burst }
  work: { type: test-slow, options: { delayMs: 1 }, in: { frame: src.frame } }
  out:  { type: test-collect, options: { key: lossless }, in: { in: work.frame } }
`);
  t.deepEqual(seen.get('lossless'), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  t.is(r.metrics.edges.get('src.frame→work.frame')!.drops, 0);
});

// A burst of 10 frames meets a freshest edge (size 1) into each sink kind: the first is taken, the
// next 8 are dropped while the sink works on it, the 10th waits its turn.
test('runner › freshest into encoder: drops counted, the newest frame written', async (t) => {
  const dir = tmpDir();
  const { r, done } = await runDone(`
  src:  { type: test-burst }
  file: { type: encoder, options: { path: "${path.join(dir, 'out.mp4')}" }, in: { frame: src.frame }, ${F1} }
`);
  t.is(r.metrics.edges.get('src.frame→file.frame')!.drops, 8);
  t.deepEqual(done.get('file'), [0, 9]);
  t.true(readFileSync(path.join(dir, 'out.mp4')).length > 0, 'finish() renamed the finished file into place');
});

// label-map-sink encodes up to 3 maps at once (serial depth 3): it takes the first three of the burst.
test('runner › freshest into label-map-sink: drops counted, one PNG per delivered map', async (t) => {
  const dir = tmpDir();
  const { r, done } = await runDone(`
  src:   { type: test-burst }
  lab:   { type: test-labeler, in: { frame: src.frame } }
  masks: { type: label-map-sink, options: { dir: "${path.join(dir, 'masks')}" }, in: { labels: lab.labels }, ${F1} }
`);
  t.is(r.metrics.edges.get('lab.labels→masks.labels')!.drops, 6);
  t.deepEqual(done.get('masks'), [0, 1, 2, 9]);
  t.is(JSON.parse(readFileSync(path.join(dir, 'masks', 'classes.json'), 'utf8')).frames, 4);
});

test('runner › freshest into zmq-sink (a join of frame and labels, sent by serial): drops counted on both edges', async (t) => {
  const { r, done } = await runDone(`
  src:  { type: test-burst }
  lab:  { type: test-labeler, in: { frame: src.frame } }
  out:  { type: zmq-sink, options: { endpoint: "tcp://127.0.0.1:0", pattern: pub, lingerMs: 0 }, in: { frame: src.frame, labels: lab.labels }, ${F1} }
`);
  t.is(r.metrics.edges.get('src.frame→out.frame')!.drops, 8);
  t.is(r.metrics.edges.get('lab.labels→out.labels')!.drops, 8);
  t.deepEqual(done.get('out'), [0, 0, 9, 9], 'each frame right before its labels');
});

test('runner › freshest into websocket-sink (labels joined to frames): drops counted', async (t) => {
  const port = await freePort();
  const { r, done } = await runDone(`
  src:  { type: test-burst }
  lab:  { type: test-labeler, in: { frame: src.frame } }
  ws:   { type: websocket-sink, options: { port: ${port} }, in: { labels: lab.labels, frame: src.frame }, ${F1} }
`);
  t.is(r.metrics.edges.get('lab.labels→ws.labels')!.drops, 8);
  t.deepEqual(done.get('ws'), [0, 9]);
});

// ---- joins, timing and finish() are the runtime's ----------------------------------------------

test('runner › a declared join counts unmatched packets per node and port; overlay drops frames without labels', async (t) => {
  const r = await run(`
  src:  { type: test-burst, options: { burstFrames: 1, gapMs: 1 } }
  lab:  { type: test-labeler, options: { every: 3 }, in: { frame: src.frame } }
  over: { type: overlay, in: { frame: src.frame, labels: lab.labels } }
  out:  { type: test-collect, options: { key: join-count }, in: { in: over.frame } }
`);
  t.deepEqual(seen.get('join-count'), [0, 3, 6, 9]);
  const unmatched = r.metrics.counters.get('node_unmatched_total')!;
  t.is(unmatched.get('{node="over",port="frame"}'), 6);
  t.is(unmatched.get('{node="over",port="labels"}'), 0);
});

test('runner › every node is timed by the runtime: one observation per packet, latency from input to output', async (t) => {
  const r = await run(`
  src:  { type: test-burst, options: { burstFrames: 1, gapMs: 1 } }
  work: { type: test-slow, options: { delayMs: 30 }, in: { frame: src.frame } }
  small: { type: downsampler, options: { width: 32, height: 24 }, in: { frame: work.frame } }
  out:  { type: test-collect, options: { key: timing }, in: { in: small.frame } }
`);
  for (const n of ['src', 'work', 'small', 'out']) t.is(r.metrics.node(n).frames, 10, n);
  t.true(r.metrics.node('work').percentile(50) >= 25, `the async node's latency spans its work: ${r.metrics.node('work').percentile(50)} ms`);
  t.true(r.metrics.node('small').percentile(50) < 25, `a map's latency is its own call: ${r.metrics.node('small').percentile(50)} ms`);
});

/** A sink that holds every packet until the next, and finishes the last one in `finish()`. */
let finishes = 0;
const holder = defineNode({
  type: 'test-holder', description: 'test', role: 'sink', inputs: { in: 'frame' }, outputs: {}, options: z.strictObject({}),
  async open() {
    let held: Frame | undefined;
    return {
      process: ({ in: i }) => i.pipe(map((f) => [held, (held = f)][0]), filter((f): f is Frame => f !== undefined)),
      async finish() {
        finishes++;
        await new Promise((res) => setTimeout(res, 20));
        return held ? [held] : [];
      },
      async close() {},
    };
  },
});
reg.set(holder.type, holder as NodeSpec);

test('runner › a sink\'s finish() is awaited when its inputs end; the packets it returns are finished too', async (t) => {
  const before = finishes;
  const { r, done } = await runDone(`
  src:  { type: test-burst, options: { count: 4 } }
  hold: { type: test-holder, in: { in: src.frame } }
`);
  t.is(finishes - before, 1);
  t.deepEqual(done.get('hold'), [0, 1, 2, 3]);
  t.is(r.metrics.counters.get('node_output_packets_total')!.get('{node="hold",port="done"}'), 4);
});

test('node › ports are typed from the declaration', (t) => {
  const spec = defineNode({
    type: 'test-typed', description: 'test', role: 'transform', inputs: { frame: 'frame', labels: 'labels' }, optionalInputs: ['labels'],
    join: { ports: ['frame', 'labels'] }, outputs: { width: 'frame' }, options: z.strictObject({}),
    async open() {
      return {
        process: (inputs) => {
          // @ts-expect-error frame is joined: it arrives only in the records of `joined`
          void inputs.frame;
          // @ts-expect-error labels is an optional input: a record may lack it
          inputs.joined.pipe(map((r) => r.labels.classes));
          return { width: inputs.joined.pipe(map((r): Frame => r.frame)) };
        },
        async close() {},
      };
    },
  });
  t.throws(() => defineNode({ ...spec, join: { ports: ['frame', 'nope' as 'frame'] } }), { instanceOf: TypeError, message: /'nope' is not an input/ });
});

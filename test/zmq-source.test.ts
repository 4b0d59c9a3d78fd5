/**
 * zmq-source: a subscriber that joins a publisher late starts at its join point, marked as a
 * discontinuity, with packets re-sourced to itself (real zmq-sink and zmq-source nodes over TCP);
 * the operator behind it (receivedPackets) in virtual time.
 */
import test from 'ava';
import { Subject } from 'rxjs';
import { zmqSink } from '../nodes/zmq-sink.ts';
import { zmqSource } from '../nodes/zmq-source.ts';
import type { NodeContext, NodeSpec } from '../src/core/node.ts';
import type { Frame, Packet } from '../src/core/packet.ts';
import { createNodeContext } from '../src/core/runtime/context.ts';
import { wireNode } from '../src/core/runtime/wire.ts';
import { receivedPackets } from '../src/net/operators/received-packets.ts';
import { marbles } from './helpers/marbles.ts';

function frame(seq: number, w = 6, h = 4, discontinuity?: string): Frame {
  return Object.freeze({ kind: 'frame', source: 'decode', seq, ptsMs: seq * 40, width: w, height: h, data: Uint8Array.from({ length: w * h * 3 }, (_, i) => (i * 31 + seq) & 255), discontinuity });
}

function context<S extends NodeSpec>(spec: S, name: string, options: unknown, signal: AbortSignal, log: (m: string) => void = () => {}): NodeContext<any> {
  return createNodeContext(spec, { name, options: spec.options.parse(options), signal, log });
}

test('zmq-source › pub/sub: a late subscriber starts at its join point, marked as a discontinuity', async (t) => {
  const ac = new AbortController();
  const logs: string[] = [];
  const sinkCtx = context(zmqSink, 'pub', { endpoint: 'tcp://127.0.0.1:0', pattern: 'pub', lingerMs: 0 }, ac.signal, (m) => logs.push(m));
  const sink = await zmqSink.open(sinkCtx);
  const endpoint = /on (tcp:\/\/\S+)/.exec(logs.join('\n'))![1]!;
  const frames = new Subject<Frame>();
  let sentCount = 0;
  const sent = wireNode(zmqSink, sink, sinkCtx, { frame: frames }).done!.subscribe(() => sentCount++);
  // Frames 0..4 go out before anyone listens; then one every 20 ms until the subscriber has three.
  for (let seq = 0; seq < 5; seq++) frames.next(frame(seq, 6, 4, seq === 0 ? 'start' : undefined));
  while (sentCount < 5) await new Promise((r) => setTimeout(r, 10));
  const source = await zmqSource.open(context(zmqSource, 'sub', { endpoint, pattern: 'sub' }, ac.signal));
  t.teardown(async () => {
    ac.abort();
    sent.unsubscribe();
    await sink.close();
    await source.close();
  });
  const got: Packet[] = [];
  const received = new Promise<void>((resolve) => {
    source.process({}).frame!.subscribe((p: Packet) => {
      got.push(p);
      if (got.length === 3) resolve();
    });
  });
  let seq = 5;
  const timer = setInterval(() => frames.next(frame(seq++)), 20);
  await received;
  clearInterval(timer);
  t.true(got[0]!.seq >= 5, `first seq ${got[0]!.seq}`);
  t.is(got[0]!.discontinuity, 'join');
  t.is(got[0]!.source, 'sub', 'packets take the receiving node as source');
  t.deepEqual(got.slice(1).map((p) => p.discontinuity), [undefined, undefined]);
  t.deepEqual((got[1] as Frame).data, frame(got[1]!.seq).data);
});

// ---- the operator (src/net/operators/received-packets.ts), in virtual time ----------------------

const meta = (kind: 'frame' | 'labels', source: string, seq: number, discontinuity?: string): Packet =>
  kind === 'frame'
    ? { kind, source, seq, ptsMs: seq * 40, width: 1, height: 1, data: Uint8Array.from([seq, 0, 0]), ...(discontinuity ? { discontinuity } : {}) }
    : { kind, source, seq, ptsMs: seq * 40, width: 1, height: 1, classes: Uint8Array.from([1]), classNames: ['a', 'b'], palette: [[0, 0, 0], [1, 1, 1]], path: 'full', ...(discontinuity ? { discontinuity } : {}) };

test('receivedPackets › the first packet of each stream (source, kind) is marked join; gaps counted; later marks kept; renamed to this node', (t) => {
  const gaps: number[] = [];
  const v = {
    a: meta('frame', 'cam', 5, 'reassign'), b: meta('frame', 'cam', 6), c: meta('frame', 'cam', 9),
    d: meta('labels', 'cam', 5), e: meta('frame', 'cam', 12, 'reconnect'), f: meta('frame', 'other', 0, 'start'),
  };
  const as = (p: Packet, discontinuity?: string) => ({ ...p, source: 'in', ...(discontinuity ? { discontinuity } : {}) });
  marbles(t).run(({ cold, expectObservable }) => {
    expectObservable(cold('ab-c-d-e-f|', v).pipe(receivedPackets({ source: 'in', onGap: (n) => gaps.push(n) }))).toBe('ab-c-d-e-f|', {
      a: as(v.a, 'join'), b: as(v.b), c: as(v.c), d: as(v.d, 'join'), e: as(v.e, 'reconnect'), f: as(v.f, 'start'),
    });
  });
  t.deepEqual(gaps, [2], 'seq 6 → 9 lost 2; the marked jump to 12 is not a gap');
});

test('receivedPackets › without a source name the sender\'s is kept, control characters replaced; each subscription starts afresh; errors pass', (t) => {
  const a = meta('frame', 'cam\u001b]0;x', 3), b = meta('frame', 'cam\u001b]0;x', 4);
  const x = { ...a, source: 'cam?]0;x', discontinuity: 'join' }, y = { ...b, source: 'cam?]0;x' };
  marbles(t).run(({ cold, expectObservable }) => {
    const out = cold('ab#', { a, b }, new Error('socket closed')).pipe(receivedPackets());
    expectObservable(out).toBe('xy#', { x, y }, new Error('socket closed'));
    expectObservable(out).toBe('xy#', { x, y }, new Error('socket closed'));
  });
});

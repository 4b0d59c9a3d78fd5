/**
 * zmq-source: a subscriber that joins a publisher late starts at its join point, marked as a
 * discontinuity, with packets re-sourced to itself (real zmq-sink and zmq-source nodes over TCP).
 */
import test from 'ava';
import { Subject } from 'rxjs';
import { zmqSink } from '../nodes/zmq-sink.ts';
import { zmqSource } from '../nodes/zmq-source.ts';
import type { NodeContext, NodeSpec } from '../src/core/node.ts';
import type { Frame, Packet } from '../src/core/packet.ts';
import { createNodeContext } from '../src/core/runtime/context.ts';
import { wireNode } from '../src/core/runtime/wire.ts';

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

/**
 * Subscribe bug hunt (session 10): defects found by driving the real nodes over real sockets.
 *
 * A zmq-source that joins a stream late (its first packet has seq 100, not 0) used to stop
 * reading after that first packet: flow control counted seqs 0..99 as in flight, so with a
 * websocket-sink joining frame and labels (the frame read, its labels still in the socket)
 * the graph stalled for good and subscribers got a hello and nothing else.
 */
import test from 'ava';
import zmq from 'zeromq';
import { encodeControl, encodePacket, ZmqType } from '../src/codecs/zmq-wire.ts';
import type { Frame, Labels } from '../src/core/packet.ts';
import { FlowControl } from '../src/core/runtime/flow.ts';
import { freePort, runLive, waitFor } from './helpers/live.ts';

const W = 32;
const H = 24;
function frame(seq: number): Frame {
  return { kind: 'frame', source: 'decode', seq, ptsMs: seq * 40, width: W, height: H, data: new Uint8Array(W * H * 3).fill(seq & 255) };
}
function labels(seq: number): Labels {
  return { kind: 'labels', source: 'decode', seq, ptsMs: seq * 40, width: W, height: H, classes: new Uint8Array(W * H).fill(seq % 2), classNames: ['Sky', 'Road'], palette: [[128, 128, 128], [128, 64, 128]], path: 'full' };
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

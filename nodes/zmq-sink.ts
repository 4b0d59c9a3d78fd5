/**
 * zmq-sink — sends frames and/or label maps to graphs in other processes over
 * ZeroMQ, in the versioned multipart format of docs/zmq-protocol.md (a small
 * header part with source, seq, ptsMs, discontinuity and size, then the
 * payload part: RGB24 pixels, or class ids run-length encoded).
 *
 * Ports: in `frame` and/or in `labels` (both optional, at least one wired);
 * sink. With both wired, each frame is sent right before its labels (the
 * runtime joins them by seq; a frame whose labels were dropped upstream goes
 * alone, and so do labels whose frame was), so a receiver never waits for one
 * kind queued behind the other.
 * `pattern: push` (default) distributes packets round-robin over the
 * connected pullers and waits when every one of them has `hwmMessages`
 * messages queued, so a slow receiver slows this graph (back-pressure, no
 * loss); `pattern: pub` copies every packet to every subscriber and never
 * waits: a subscriber more than `hwmMessages` behind loses packets. `bind:
 * true` (default) listens on `endpoint` (`tcp://127.0.0.1:5555`; port 0 picks
 * a free one, logged), `bind: false` connects to it. When the inputs end an
 * end-of-stream message follows (to one puller, or to every subscriber);
 * unsent messages are kept up to `lingerMs` after the graph ends. Every
 * packet carries this sink's `epoch` (drawn when it opens), so a receiver can
 * tell a restarted sender even when the new life's first packets were lost.
 * Security (docs/security-zmq.md): every part a peer sends is bounded by
 * `maxMessageSize` (from `maxFramePixels`); `curveKeys: FILE` turns on CURVE
 * (only listed clients may connect); binding a non-loopback address without
 * it logs a warning. Metrics:
 * `zmq_sent_total`, `zmq_sent_bytes_total`.
 *
 * ```yaml
 * out: { type: zmq-sink, options: { endpoint: "tcp://127.0.0.1:5555", pattern: push }, in: { frame: small.frame, labels: segment.labels } }
 * ```
 */
import { randomBytes } from 'node:crypto';
import { concatMap, throwError } from 'rxjs';
import { z } from 'zod';
import { GraphError } from '../src/core/errors.ts';
import { defineNode } from '../src/core/node.ts';
import type { Packet, PacketMeta } from '../src/core/packet.ts';
import { serial } from '../src/core/runtime/queue.ts';
import { bindEndpoint, encodeControl, encodePacket, endpointOption as endpoint, SendQueue, socketLimits, ZMQ_MAX_FRAME_PIXELS, ZmqType } from '../src/codecs/zmq-wire.ts';

const options = z.strictObject({
  endpoint: endpoint.describe('ZeroMQ endpoint to bind or connect'),
  pattern: z.enum(['push', 'pub']).default('push').describe('push: work distribution with back-pressure; pub: fan-out, slow subscribers lose packets'),
  bind: z.boolean().default(true).describe('listen on the endpoint (false: connect to it)'),
  hwmMessages: z.number().int().min(1).max(1_000_000).default(16).describe('messages queued per peer before send waits (push) or drops (pub)'),
  lingerMs: z.number().int().min(0).max(600_000).default(2000).describe('how long unsent messages are kept after the graph ends (ms)'),
  curveKeys: z.string().min(1).optional().describe('CURVE key file (docs/security-zmq.md): a server file when binding, a client file when connecting'),
  maxFramePixels: z.number().int().min(1).max(65535 * 65535).default(ZMQ_MAX_FRAME_PIXELS).describe('largest frame in pixels; bounds every message part a peer may send (3 bytes a pixel)'),
});

export const zmqSink = defineNode({
  type: 'zmq-sink',
  description: 'Send frames and label maps to other processes over ZeroMQ (push or pub)',
  role: 'sink',
  inputs: { frame: 'frame', labels: 'labels' },
  optionalInputs: ['frame', 'labels'],
  join: { ports: ['frame', 'labels'], keepUnmatched: ['frame', 'labels'] },
  outputs: {},
  options,
  async open(ctx) {
    const zmq = await import('zeromq'); // loaded when a node is opened, not with the registry
    const o = ctx.options;
    const limits = socketLimits(o.maxFramePixels);
    const sock = o.pattern === 'push'
      ? new zmq.Push({ sendHighWaterMark: o.hwmMessages, linger: o.lingerMs, ...limits })
      : new zmq.Publisher({ sendHighWaterMark: o.hwmMessages, linger: o.lingerMs, ...limits });
    const { secure } = await import('../src/net/zmq/curve.ts'); // zeromq loads when a node opens
    const uncurve = await secure(sock, ctx.name, 'zmq-sink', o, ctx.graphDir, ctx.log);
    if (o.bind) {
      await sock.bind(bindEndpoint(o.endpoint));
      ctx.log(`${o.pattern} on ${sock.lastEndpoint}`);
    } else {
      sock.connect(o.endpoint);
    }
    const q = new SendQueue(sock);
    // This sink's life: a receiver that sees another epoch knows the sender restarted.
    const epoch = randomBytes(8).toString('hex');
    const tags = { node: ctx.name };
    ctx.metrics.count('zmq_sent_total', tags, 0, 'Packets sent by a zmq-sink.');
    ctx.metrics.count('zmq_sent_bytes_total', tags, 0, 'Bytes sent by a zmq-sink (headers and payloads).');
    // A push with no receiver waits forever; stopping the run must not.
    const onAbort = () => sock.close();
    ctx.signal.addEventListener('abort', onAbort, { once: true });
    let closed = false;
    return {
      // With both wired, a frame and its labels leave together, in seq order: a receiver whose
      // sinks need both then never waits for one kind stuck behind the other in the socket.
      process: ({ joined }) => {
        if (!joined) return throwError(() => new GraphError(`${ctx.name} (zmq-sink): expected in.frame or in.labels to be wired, got neither`));
        return joined.pipe(serial(ctx.queue(ctx.wired.has('labels') ? 'labels' : 'frame'), async ({ frame, labels }) => {
          const sent: Packet[] = [];
          for (const p of [frame, labels]) {
            if (!p) continue;
            const parts = encodePacket(p, epoch);
            try {
              await q.send(parts);
            } catch (e) {
              if (ctx.signal.aborted || sock.closed) break;
              throw e;
            }
            ctx.metrics.count('zmq_sent_total', tags);
            ctx.metrics.count('zmq_sent_bytes_total', tags, parts[0].length + parts[1].length);
            sent.push(p);
          }
          return sent;
        }), concatMap((ps): readonly PacketMeta[] => ps));
      },
      // When the inputs end, an end-of-stream message follows the last packet.
      async finish() {
        if (!sock.closed) await q.send([encodeControl(ZmqType.end, { epoch }, ctx.name)]).catch(() => {});
      },
      async close() {
        if (closed) return;
        closed = true;
        ctx.signal.removeEventListener('abort', onAbort);
        if (!sock.closed) sock.close();
        uncurve();
      },
    };
  },
});

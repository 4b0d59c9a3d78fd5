/**
 * zmq-source — receives frames and label maps sent by a zmq-sink in another
 * process (docs/zmq-protocol.md) and emits them into this graph.
 *
 * Ports: out `frame`, out `labels` (wire what you need). `pattern: pull`
 * (default) takes its share of a pusher's packets; `pattern: sub` receives
 * every packet a publisher sends from the moment it joins. `bind: false`
 * (default) connects to `endpoint`, `bind: true` listens on it. Packets keep
 * the sender's seq, ptsMs and discontinuity marks; their source becomes this
 * node's name, so joins and flow control work as for any source: reading
 * pauses while this graph's sinks are `maxInFlight` packets behind, the
 * socket's queue fills to `hwmMessages`, and a pusher waits (a publisher
 * drops). `keepSourceName: true` keeps the sender's source names instead
 * (several streams on one socket) and then never pauses. The first packet
 * received from each stream carries the discontinuity 'join' (replacing the
 * sender's own mark, e.g. 'reassign', unless it is the stream's very first
 * packet, seq 0), so a late subscriber starts cleanly where it joined. A
 * sender that restarted (a new epoch, or from a sender that sends none a seq
 * not above the last) marks the first packet received from its new life
 * `restart` (unless that is its seq 0 with its own mark), and the packets of
 * the new life that never arrived (a subscriber reconnects after the new
 * publisher's first packets: PUB/SUB slow joiner) are counted as gaps and
 * logged. Two live senders publishing one source name (two processes
 * started from one graph) no longer look like a restart at every switch:
 * an older epoch that sends again after a newer one took over is refused
 * (counted), and once it has sent for a second, a warning names the source
 * (once). The newer sender keeps the name until it ends or sends nothing for
 * `quietSenderMs`; then the other takes over, marked `resume`
 * (src/net/zmq/same-name-senders.ts). With `stopAtEnd` (default) the node
 * ends when the sender's stream ends (a refused sender's end, or one whose
 * name a live refused sender takes over, is not the end).
 * A message that does not decode is logged once, counted and skipped. The
 * marks, gaps and names are the operator src/net/operators/received-packets.ts.
 * Security (docs/security-zmq.md): ZeroMQ drops (disconnects) a peer whose
 * message part exceeds `maxMessageSize` (from `maxFramePixels`);
 * `curveKeys: FILE` turns on CURVE; binding a non-loopback address without
 * it logs a warning.
 * Metrics: `zmq_received_total`, `zmq_seq_gaps_total` (packets the sender
 * sent elsewhere or dropped, or lost at its restart), `zmq_sender_restarts_total`,
 * `zmq_bad_messages_total`, `zmq_sender_conflicts_total` (a second live sender of a source name
 * found), `zmq_conflict_refused_total` (its packets refused).
 *
 * ```yaml
 * in: { type: zmq-source, options: { endpoint: "tcp://127.0.0.1:5555", pattern: pull } }
 * ```
 */
import { filter, Observable, share } from 'rxjs';
import { z } from 'zod';
import { defineNode } from '../src/core/node.ts';
import type { Frame, Labels, Packet } from '../src/core/packet.ts';
import { bindEndpoint, decodeHeader, decodePacket, endpointOption as endpoint, headerEpoch, sanitize, socketLimits, ZMQ_MAX_FRAME_PIXELS, ZmqType } from '../src/codecs/zmq-wire.ts';
import { receivedPackets } from '../src/net/operators/received-packets.ts';
import { SameNameSenders } from '../src/net/zmq/same-name-senders.ts';

const options = z.strictObject({
  endpoint: endpoint.describe('ZeroMQ endpoint to connect or bind'),
  pattern: z.enum(['pull', 'sub']).default('pull').describe('pull: a share of the work; sub: every packet from the join point on'),
  bind: z.boolean().default(false).describe('listen on the endpoint (default: connect to it)'),
  hwmMessages: z.number().int().min(1).max(1_000_000).default(16).describe('messages queued before the sender waits (push) or drops (pub)'),
  keepSourceName: z.boolean().default(false).describe("keep the sender's source names (several streams; no flow control)"),
  stopAtEnd: z.boolean().default(true).describe("end when the sender's stream ends"),
  curveKeys: z.string().min(1).optional().describe('CURVE key file (docs/security-zmq.md): a client file when connecting, a server file when binding'),
  maxFramePixels: z.number().int().min(1).max(65535 * 65535).default(ZMQ_MAX_FRAME_PIXELS).describe('largest frame in pixels accepted; larger messages are dropped by ZeroMQ (3 bytes a pixel a part)'),
  quietSenderMs: z.number().int().min(1).max(600_000).default(3000).describe('a sender refused for publishing a source name another live sender holds takes it over when that one has sent nothing for this long (ms)'),
});

export const zmqSource = defineNode({
  type: 'zmq-source',
  description: 'Receive frames and label maps from other processes over ZeroMQ (pull or sub)',
  role: 'source',
  inputs: {},
  outputs: { frame: 'frame', labels: 'labels' },
  options,
  async open(ctx) {
    const zmq = await import('zeromq'); // loaded when a node is opened, not with the registry
    const o = ctx.options;
    const limits = socketLimits(o.maxFramePixels);
    const sock = o.pattern === 'pull'
      ? new zmq.Pull({ receiveHighWaterMark: o.hwmMessages, linger: 0, ...limits })
      : new zmq.Subscriber({ receiveHighWaterMark: o.hwmMessages, linger: 0, ...limits });
    if (sock instanceof zmq.Subscriber) sock.subscribe();
    const { secure } = await import('../src/net/zmq/curve.ts'); // zeromq loads when a node opens
    const uncurve = await secure(sock, ctx.name, 'zmq-source', o, ctx.graphDir, ctx.log);
    if (o.bind) {
      await sock.bind(bindEndpoint(o.endpoint));
      ctx.log(`${o.pattern} on ${sock.lastEndpoint}`);
    } else {
      sock.connect(o.endpoint);
    }
    const tags = { node: ctx.name };
    ctx.metrics.count('zmq_received_total', tags, 0, 'Packets received by a zmq-source.');
    ctx.metrics.count('zmq_seq_gaps_total', tags, 0, 'Packets missing between two received ones (sent to another puller, or dropped), or lost at a sender restart.');
    ctx.metrics.count('zmq_sender_restarts_total', tags, 0, 'Times a sender was seen to restart (a new epoch, or its seq went back).');
    ctx.metrics.count('zmq_sender_conflicts_total', tags, 0, 'Times a second live sender of one source name was found (its epoch alternating with another).');
    ctx.metrics.count('zmq_conflict_refused_total', tags, 0, 'Packets refused: their sender publishes a source name another live sender holds.');
    const short = (epoch: string) => sanitize(epoch, 16);
    // Two live senders of one name are not a restart at every switch: the newer keeps it, the other is refused.
    const senders = new SameNameSenders({
      quietMs: o.quietSenderMs,
      onConflict: (source, kept, refused, first) => {
        ctx.metrics.count('zmq_sender_conflicts_total', tags);
        if (first) {
          ctx.log(`WARNING: two live senders publish source '${sanitize(source, 64)}' at once (epochs ${short(kept)} and ${short(refused)}): `
            + `the newer (${short(kept)}) keeps it, the other's packets are refused until it ends or is quiet for ${o.quietSenderMs} ms; give each sender its own source name (node name), or stop one`);
        }
      },
      onTakeOver: (source, from, to, why) => ctx.log(`source '${sanitize(source, 64)}': sender ${short(from)} ${why === 'ended' ? 'ended' : `sent nothing for ${o.quietSenderMs} ms`}; the refused sender ${short(to)} takes it over`),
    });
    // The sender's epoch of each packet, for receivedPackets (decoded here, from the header's meta).
    const epochs = new WeakMap<Packet, string>();
    const close = () => {
      if (!sock.closed) sock.close();
      uncurve();
    };
    const packets = new Observable<Packet>((sub) => {
      let stopped = false;
      const onAbort = () => {
        stopped = true;
        close();
      };
      ctx.signal.addEventListener('abort', onAbort, { once: true });
      let bad = 0;
      let lastSeq = -1;
      let lastEpoch: string | undefined;
      void (async () => {
        for await (const [header, payload] of sock) {
          let p: Packet;
          try {
            const h = decodeHeader(header!);
            if (h.type === ZmqType.end) {
              // The end of a refused sender (or of one another took over) is not this stream's end.
              if (senders.end(headerEpoch(h)) === 'ignore') {
                ctx.log(`end of stream from sender ${short(headerEpoch(h)!)} is not the stream's end (another sender of its name goes on)`);
                continue;
              }
              if (o.stopAtEnd) break;
              continue;
            }
            p = decodePacket(h, payload, o.maxFramePixels);
            const epoch = headerEpoch(h);
            if (senders.packet(p.source, epoch) === 'refuse') {
              ctx.metrics.count('zmq_conflict_refused_total', tags);
              continue;
            }
            if (epoch !== undefined) epochs.set(p, epoch);
          } catch (e) {
            // A stray or newer-version sender: counted and skipped, the stream goes on.
            if (!bad++) ctx.log(`ignoring a malformed message: ${sanitize((e as Error).message, 300)}`);
            ctx.metrics.count('zmq_bad_messages_total', tags, 1, 'Messages a zmq-source could not decode (skipped).');
            continue;
          }
          // Join marks, gaps and source names: receivedPackets, below.
          ctx.metrics.count('zmq_received_total', tags);
          if (!o.keepSourceName) {
            // Seqs this graph never sees (it joined late, or the sender skipped some) are not in flight;
            // a seq below the last one is a sender that started again (its old seqs would hold no one back).
            const epoch = epochs.get(p);
            if ((epoch !== undefined && lastEpoch !== undefined && epoch !== lastEpoch) || p.seq < lastSeq) ctx.flow.restarted(p.seq);
            else if (p.seq > lastSeq + 1) ctx.flow.skipped(lastSeq + 1, p.seq - 1);
            lastSeq = p.seq;
            lastEpoch = epoch ?? lastEpoch;
            ctx.flow.emitted(p.seq);
          }
          sub.next(p);
          if (!o.keepSourceName && ctx.flow.blocked) await ctx.flow.ready();
          if (stopped) break;
        }
      })().then(
        () => sub.complete(),
        (e: unknown) => (stopped || sock.closed ? sub.complete() : sub.error(new Error(`${ctx.name}: ${(e as Error).message}`))),
      ).finally(() => ctx.signal.removeEventListener('abort', onAbort));
      return () => {
        stopped = true;
        close();
      };
    }).pipe(receivedPackets({
      source: o.keepSourceName ? undefined : ctx.name,
      epochOf: (p) => epochs.get(p),
      onGap: (n) => ctx.metrics.count('zmq_seq_gaps_total', tags, n),
      onRestart: (lost, p) => {
        ctx.metrics.count('zmq_sender_restarts_total', tags);
        ctx.log(`sender ${sanitize(p.source, 64)} restarted: first ${p.kind} received is seq ${p.seq}${lost ? `; ${lost} of its new ${p.kind} packets lost before it` : ''}`);
      },
    }), share());
    return {
      process: () => ({
        frame: packets.pipe(filter((p): p is Frame => p.kind === 'frame')),
        labels: packets.pipe(filter((p): p is Labels => p.kind === 'labels')),
      }),
      async close() {
        close();
      },
    };
  },
});

/**
 * receivedPackets — the zmq-source node's per-packet logic as a pure RxJS
 * operator: packets decoded from another process, made ready for this graph.
 *
 * Packets are followed per stream: the sender's source name and the packet
 * kind. The first packet of each stream carries the discontinuity `join`
 * (replacing the sender's own mark), so a late subscriber starts cleanly where
 * it joined — unless it is the stream's very first packet (seq 0) with a mark
 * of its own, which passes as it is. Later packets keep their marks; a jump in
 * seq without a mark (packets sent to another puller, or dropped) is reported
 * to `onGap` with the number of packets missing. With `source`, every packet
 * takes that source name (this node's, so joins and flow control work as for
 * any source); without it the sender's names are kept, with control
 * characters replaced and at most 200 characters (they reach logs and metric
 * labels: src/codecs/zmq-wire.ts sanitize). Seq, time and payload pass
 * through. One packet in, one out, in order; completion and errors pass
 * straight through; each subscription follows its streams on its own.
 *
 * ```ts
 * decoded$.pipe(receivedPackets({ source: 'in', onGap: (n) => gaps += n }))
 * ```
 */
import { defer, map, type OperatorFunction } from 'rxjs';
import { withDiscontinuity, type Packet } from '../../core/packet.ts';
import { sanitize } from '../../codecs/zmq-wire.ts';

export interface ReceivedOptions {
  /** The source name every packet takes; undefined: the sender's (sanitised). */
  readonly source?: string | undefined;
  /** Called with the number of packets missing before one whose seq jumped (no mark). */
  readonly onGap?: (missing: number) => void;
}

export function receivedPackets(o: ReceivedOptions = {}): OperatorFunction<Packet, Packet> {
  return (packet$) => defer(() => {
    // Last seq seen per (sender's source, kind): first packet → join mark; jumps → counted gaps.
    const last = new Map<string, number>();
    return packet$.pipe(map((p): Packet => {
      const key = `${p.source}\u0000${p.kind}`;
      const prev = last.get(key);
      last.set(key, p.seq);
      // A late joiner starts here: say 'join' whatever the sender marked, unless this is the stream's start.
      if (prev === undefined && !(p.seq === 0 && p.discontinuity)) p = withDiscontinuity(p, 'join');
      else if (prev !== undefined && p.seq > prev + 1 && !p.discontinuity) o.onGap?.(p.seq - prev - 1);
      if (o.source !== undefined) p = Object.freeze({ ...p, source: o.source });
      // A sender's own names reach logs and metric labels: no control characters, bounded.
      else if (sanitize(p.source, 200) !== p.source) p = Object.freeze({ ...p, source: sanitize(p.source, 200) });
      return p;
    }));
  });
}

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
 * to `onGap` with the number of packets missing. A sender that restarted — a
 * new epoch (`epochOf`: the sender's life, when it says so), or, from a sender
 * that says none, a seq not above the last — marks its first packet received
 * `restart` (unless it is the new life's seq 0 with a mark of its own) and
 * reports to `onRestart` (and `onGap`) the packets of the new life lost before
 * it, counted from seq 0: a subscriber that reconnects after the restart (a
 * PUB/SUB slow joiner) misses the first ones. A sender seen before that
 * comes back after another's packets (two live senders of one source name:
 * zmq-source refuses one of them, src/net/zmq/same-name-senders.ts, and these
 * are the switches from one to the other) is no restart: its packet is marked
 * `resume`, nothing is reported (its packets refused meanwhile are counted
 * by the zmq-source). With `source`, every packet
 * takes that source name (this node's, so joins and flow control work as for
 * any source); without it the sender's names are kept, with control
 * characters replaced and at most 200 characters (they reach logs and metric
 * labels: src/codecs/zmq-wire.ts sanitize). Seq, time and payload pass
 * through. One packet in, one out, in order; completion and errors pass
 * straight through; each subscription follows its streams on its own.
 *
 * ```ts
 * decoded$.pipe(receivedPackets({ source: 'in', onGap: (n) => gaps += n, epochOf: (p) => epochs.get(p) }))
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
  /** The sender's life a packet came from (zmq-sink's epoch); undefined when the sender says none. */
  readonly epochOf?: (p: Packet) => string | undefined;
  /** Called on the first packet received from a restarted sender, with the packets of its new life lost before it (also reported to onGap). */
  readonly onRestart?: (lost: number, p: Packet) => void;
}

/** Epochs remembered per stream to tell a sender that resumes from one that restarted. */
const MAX_EPOCHS = 64;

export function receivedPackets(o: ReceivedOptions = {}): OperatorFunction<Packet, Packet> {
  return (packet$) => defer(() => {
    // Last seq and epoch seen per (sender's source, kind): first packet → join mark; jumps → counted gaps; a new life → restart.
    const last = new Map<string, { seq: number; epoch: string | undefined }>();
    // Epochs seen before per (source, kind), the newest last (bounded): one that comes back resumes, it did not restart.
    const seen = new Map<string, string[]>();
    return packet$.pipe(map((p): Packet => {
      const key = `${p.source}\u0000${p.kind}`;
      const prev = last.get(key);
      const epoch = o.epochOf?.(p);
      last.set(key, { seq: p.seq, epoch });
      // A sender that says its epoch restarted when it changes; one that says none, when its seq does not go up.
      const changed = prev !== undefined && (epoch !== undefined && prev.epoch !== undefined ? epoch !== prev.epoch : p.seq <= prev.seq);
      let epochs = seen.get(key);
      if (!epochs) seen.set(key, (epochs = []));
      const resumed = changed && epoch !== undefined && epochs.includes(epoch);
      const restarted = changed && !resumed;
      if (epoch !== undefined && !epochs.includes(epoch)) {
        epochs.push(epoch);
        if (epochs.length > MAX_EPOCHS) epochs.shift();
      }
      // A late joiner starts here: say 'join' whatever the sender marked, unless this is the stream's start.
      if (prev === undefined && !(p.seq === 0 && p.discontinuity)) p = withDiscontinuity(p, 'join');
      else if (resumed) p = p.discontinuity ? p : withDiscontinuity(p, 'resume');
      else if (restarted) {
        // The new life's start, with its own mark, lost nothing; otherwise its first packets went missing.
        if (!(p.seq === 0 && p.discontinuity)) p = withDiscontinuity(p, 'restart');
        if (p.seq > 0) o.onGap?.(p.seq);
        o.onRestart?.(p.seq, p);
      } else if (prev !== undefined && p.seq > prev.seq + 1 && !p.discontinuity) o.onGap?.(p.seq - prev.seq - 1);
      if (o.source !== undefined) p = Object.freeze({ ...p, source: o.source });
      // A sender's own names reach logs and metric labels: no control characters, bounded.
      else if (sanitize(p.source, 200) !== p.source) p = Object.freeze({ ...p, source: sanitize(p.source, 200) });
      return p;
    }));
  });
}

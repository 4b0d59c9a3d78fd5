/**
 * SameNameSenders — tells a sender that restarted from two live senders that
 * publish one source name (zmq-source's guard; pure logic, no sockets).
 *
 * Every zmq-sink sends the epoch it drew when it opened (src/codecs/zmq-wire.ts).
 * A new epoch for a source name is taken for a restart: the new sender holds
 * the name from its first packet on. An older epoch that sends again is
 * refused (`packet` answers 'refuse'): either the last packets of a life that
 * was restarted quickly, still in the receive queue, or a second live sender
 * of the same name (two processes started from one graph), whose packets
 * would otherwise interleave and look like a restart at every switch. A
 * refused sender still sending `liveAfterMs` after its first refused packet
 * is live: `onConflict` (each time; `first`: the first time for the name, to
 * warn once).
 *
 * The newer sender keeps the name (not the first): the graph follows it since
 * its first packet already, so the stream is not switched back and forth, and a
 * sender restarted while its old life's last packets still wait in the queue
 * is never refused in favour of them. A refused sender takes the name over
 * (`onTakeOver`) when the holder sends its end of stream while the refused one
 * is live (the stream goes on: `end` answers 'ignore'), or when the holder has
 * sent nothing for `quietMs` (it was killed). The end of a refused sender is
 * not the stream's end ('ignore'). Packets without an epoch (older or raw
 * senders) are accepted: nothing tells them apart.
 *
 * ```ts
 * const names = new SameNameSenders({ quietMs: 3000, onConflict: (src, kept, refused, first) => first && log(`…`) });
 * if (names.packet(p.source, epoch) === 'refuse') continue;
 * ```
 */
export interface SameNameSendersOptions {
  /** A refused sender takes the name over when the one holding it has sent nothing for this long (ms). */
  readonly quietMs: number;
  /** A refused sender still sending this long after its first refused packet is live: a conflict (ms; default 1000). */
  readonly liveAfterMs?: number;
  /** The clock (ms); default performance.now. */
  readonly now?: () => number;
  /** A second live sender of `source`: `kept` holds the name, `refused` is refused; `first`: the first time for this name. */
  readonly onConflict?: (source: string, kept: string, refused: string, first: boolean) => void;
  /** A refused sender took `source` over: the one holding it ended, or went quiet. */
  readonly onTakeOver?: (source: string, from: string, to: string, why: 'ended' | 'quiet') => void;
}

interface Rival {
  /** First and last refused packet (ms). */
  sinceMs: number;
  lastMs: number;
  /** Sent for liveAfterMs while refused: reported as a conflict. */
  live: boolean;
}

interface Holder {
  /** The epoch whose packets pass. */
  owner: string;
  /** When the owner last sent a packet. */
  lastMs: number;
  ownerEnded: boolean;
  /** Epochs that held the name before (taken for restarts), the newest last, bounded. */
  readonly earlier: string[];
  /** Senders refused for this name. */
  readonly rivals: Map<string, Rival>;
  warned: boolean;
}

/** Earlier epochs remembered per source name (a restart every few seconds for minutes still fits). */
const MAX_EARLIER = 64;

export class SameNameSenders {
  private readonly holders = new Map<string, Holder>();
  private readonly now: () => number;
  private readonly liveAfterMs: number;
  /** Conflicts found (a refused sender that was live), also after the first per name. */
  conflicts = 0;

  constructor(private readonly o: SameNameSendersOptions) {
    this.now = o.now ?? (() => performance.now());
    this.liveAfterMs = o.liveAfterMs ?? 1000;
  }

  /** A packet of `source` from the sender `epoch` (undefined: it says none): pass it, or refuse it. */
  packet(source: string, epoch: string | undefined): 'accept' | 'refuse' {
    if (epoch === undefined) return 'accept';
    const t = this.now();
    const h = this.holders.get(source);
    if (!h) {
      this.holders.set(source, { owner: epoch, lastMs: t, ownerEnded: false, earlier: [], rivals: new Map(), warned: false });
      return 'accept';
    }
    if (epoch === h.owner) {
      h.lastMs = t;
      return 'accept';
    }
    let r = h.rivals.get(epoch);
    if (!r) {
      const i = h.earlier.indexOf(epoch);
      if (i < 0) {
        // A new epoch: the sender restarted (or a second one joined: it shows if the other sends again).
        if (!h.ownerEnded) this.remember(h, h.owner);
        this.hold(h, epoch, t);
        return 'accept';
      }
      // An older life sends again: its last packets, or a second live sender. Refused either way.
      h.earlier.splice(i, 1);
      r = { sinceMs: t, lastMs: t, live: false };
      h.rivals.set(epoch, r);
    }
    r.lastMs = t;
    if (h.ownerEnded || t - h.lastMs > this.o.quietMs) {
      const from = h.owner;
      const why = h.ownerEnded ? 'ended' : 'quiet';
      h.rivals.delete(epoch);
      // A quiet holder may only have stalled: should it send again, it is the one refused.
      if (why === 'quiet') h.rivals.set(from, { sinceMs: t, lastMs: h.lastMs, live: false });
      this.hold(h, epoch, t);
      this.o.onTakeOver?.(source, from, epoch, why);
      return 'accept';
    }
    if (!r.live && t - r.sinceMs >= this.liveAfterMs) {
      r.live = true;
      this.conflicts++;
      const first = !h.warned;
      h.warned = true;
      this.o.onConflict?.(source, h.owner, epoch, first);
    }
    return 'refuse';
  }

  /**
   * The sender `epoch` sent its end of stream: 'end' when it held a name (or is unknown, or says
   * no epoch: as before), 'ignore' when it was refused or had been taken over, or when a live
   * refused sender takes its name over (the stream goes on).
   */
  end(epoch: string | undefined): 'end' | 'ignore' {
    if (epoch === undefined) return 'end';
    const t = this.now();
    let ended = false;
    let known = false;
    for (const [source, h] of this.holders) {
      if (h.owner === epoch) {
        known = true;
        // The latest live refused sender, if it sent lately, goes on with the stream.
        let next: string | undefined;
        let nextMs = -Infinity;
        for (const [e, r] of h.rivals) if (r.live && t - r.lastMs <= this.o.quietMs && r.lastMs > nextMs) [next, nextMs] = [e, r.lastMs];
        if (next === undefined) {
          h.ownerEnded = true;
          ended = true;
          continue;
        }
        h.rivals.delete(next);
        this.hold(h, next, t);
        this.o.onTakeOver?.(source, epoch, next, 'ended');
      } else if (h.rivals.delete(epoch)) known = true;
      else {
        const i = h.earlier.indexOf(epoch);
        if (i >= 0) {
          h.earlier.splice(i, 1);
          known = true;
        }
      }
    }
    return ended || !known ? 'end' : 'ignore';
  }

  private remember(h: Holder, epoch: string): void {
    h.earlier.push(epoch);
    if (h.earlier.length > MAX_EARLIER) h.earlier.shift();
  }

  private hold(h: Holder, epoch: string, t: number): void {
    h.owner = epoch;
    h.lastMs = t;
    h.ownerEnded = false;
  }
}

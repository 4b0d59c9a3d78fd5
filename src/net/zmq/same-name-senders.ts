/**
 * SameNameSenders — tells a sender that restarted from two live senders that
 * publish one source name (zmq-source's guard; pure logic, no sockets).
 *
 * Every zmq-sink sends the epoch it drew when it opened (src/codecs/zmq-wire.ts).
 * A new epoch for a source name looks like a restart: the old life is over, it
 * never sends again. So an epoch that comes back after another took the name
 * over belongs to a sender that is still alive: two processes (or two sinks)
 * publish the same source name, and their packets interleave. From then on
 * the first of them (the one seen first) keeps the name and the other's
 * packets are refused (`packet` answers 'refuse'); `onConflict` is called
 * each time (`first`: the first time for that source name, to warn once). Why not keep both as two streams:
 * without `keepSourceName` a zmq-source is one stream (its packets take the
 * node's name, frames and labels are joined by seq), so two interleaved
 * numberings cannot both pass; refusing the newcomer is what a second bind on
 * a busy port does, and the warning says which name to change.
 *
 * A refused sender takes the name over (`onTakeOver`) once the first has sent
 * its end of stream (`end`), or nothing for `quietMs` (it was killed): a sender
 * that goes away does not leave the name blocked. Until a conflict shows, the
 * first switch to a new epoch is a restart as before (one `restart` mark).
 * Packets without an epoch (older or raw senders) are accepted: nothing to tell
 * them apart by.
 *
 * ```ts
 * const names = new SameNameSenders({ quietMs: 3000, onConflict: (src, kept, refused) => log(`…`) });
 * if (names.packet(p.source, epoch) === 'refuse') continue;
 * ```
 */

export interface SameNameSendersOptions {
  /** A refused sender takes the name over when the one keeping it has sent nothing for this long (ms). */
  readonly quietMs: number;
  /** The clock (ms); default performance.now. */
  readonly now?: () => number;
  /** A second live sender of `source` was found: `kept` keeps it, `refused` is refused; `first`: the first time for this name. */
  readonly onConflict?: (source: string, kept: string, refused: string, first: boolean) => void;
  /** A refused sender took `source` over: the one keeping it ended, or went quiet. */
  readonly onTakeOver?: (source: string, from: string, to: string, why: 'ended' | 'quiet') => void;
}

interface Holder {
  /** The epoch whose packets pass. */
  owner: string;
  /** When the owner last sent a packet. */
  lastMs: number;
  ownerEnded: boolean;
  /** Epochs that held the name before (taken for restarts); one that sends again is alive. Newest last, bounded. */
  readonly earlier: string[];
  /** Live senders refused for this name, with when they last sent. */
  readonly rivals: Map<string, number>;
  warned: boolean;
}

/** Earlier epochs remembered per source name (a restart every few seconds for minutes still fits). */
const MAX_EARLIER = 64;

export class SameNameSenders {
  private readonly holders = new Map<string, Holder>();
  private readonly now: () => number;
  /** Conflicts found (a sender seen again after another took its name); also after the first per name. */
  conflicts = 0;

  constructor(private readonly o: SameNameSendersOptions) {
    this.now = o.now ?? (() => performance.now());
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
    if (h.rivals.has(epoch)) {
      h.rivals.set(epoch, t);
      const why = h.ownerEnded ? 'ended' : t - h.lastMs > this.o.quietMs ? 'quiet' : undefined;
      if (!why) return 'refuse';
      const from = h.owner;
      h.rivals.delete(epoch);
      // A quiet owner may only have stalled: should it send again, it is the one refused.
      if (why === 'quiet') h.rivals.set(from, h.lastMs);
      this.hold(h, epoch, t);
      this.o.onTakeOver?.(source, from, epoch, why);
      return 'accept';
    }
    const i = h.earlier.indexOf(epoch);
    if (i >= 0) {
      // A life taken for over sends again: two live senders. The first keeps the name.
      h.earlier.splice(i, 1);
      const refused = h.owner;
      h.rivals.set(refused, h.lastMs);
      this.hold(h, epoch, t);
      this.conflicts++;
      const first = !h.warned;
      h.warned = true;
      this.o.onConflict?.(source, epoch, refused, first);
      return 'accept';
    }
    // A new epoch: the sender restarted (or a second one joined; it shows when the first sends again).
    if (!h.ownerEnded) {
      h.earlier.push(h.owner);
      if (h.earlier.length > MAX_EARLIER) h.earlier.shift();
    }
    this.hold(h, epoch, t);
    return 'accept';
  }

  /**
   * The sender `epoch` sent its end of stream: 'end' when it held a name (or is unknown, or says no
   * epoch: as before), 'ignore' when it was refused or had been taken over (another holds the name).
   */
  end(epoch: string | undefined): 'end' | 'ignore' {
    if (epoch === undefined) return 'end';
    let held = false;
    let known = false;
    for (const h of this.holders.values()) {
      if (h.owner === epoch) {
        h.ownerEnded = true;
        held = true;
      } else if (h.rivals.delete(epoch)) known = true;
      else {
        const i = h.earlier.indexOf(epoch);
        if (i >= 0) {
          h.earlier.splice(i, 1);
          known = true;
        }
      }
    }
    return held || !known ? 'end' : 'ignore';
  }

  private hold(h: Holder, epoch: string, t: number): void {
    h.owner = epoch;
    h.lastMs = t;
    h.ownerEnded = false;
  }
}

/**
 * Flow control for lossless edges (a FlowLimiter, as in MediaPipe).
 *
 * A source may have at most `maxInFlight` packets that the slowest of its
 * sinks has not finished. Sinks finish packets in sequence order, so progress
 * is the minimum over sinks of the last sequence number each has finished;
 * packets dropped on a freshest edge do not hold anything back because a later
 * packet completing moves progress past them. Seq numbers a source never emits
 * (a zmq-source that joined a stream late, or whose sender skipped some) are
 * declared with `skipped` and count as finished once a sink reaches them. A
 * source whose numbering starts again (a zmq-source whose sender restarted)
 * says `restarted`: progress then counts in the new numbering.
 */
export class FlowControl {
  private readonly done = new Map<string, number>();
  /** Seq ranges never emitted: first → last. */
  private readonly gaps = new Map<number, number>();
  private waiters: (() => void)[] = [];
  private lastEmitted = -1;
  /** After `restarted`: the old numbering's last seq; packets of it still finishing are not progress. */
  private oldLast: number | undefined;
  private stopped = false;

  constructor(readonly maxInFlight: number, sinks: readonly string[] = []) {
    for (const s of sinks) this.done.set(s, -1);
  }

  /** Sinks this source feeds; with none, a source never waits. */
  setSinks(sinks: readonly string[]): void {
    this.done.clear();
    for (const s of sinks) this.done.set(s, -1);
  }

  private progress(): number {
    let min = Infinity;
    for (const v of this.done.values()) min = Math.min(min, v);
    return min === Infinity ? this.lastEmitted : min;
  }

  get inFlight(): number {
    return this.lastEmitted - this.progress();
  }

  /** True when the source should stop reading until `ready()` resolves. */
  get blocked(): boolean {
    return !this.stopped && this.inFlight >= this.maxInFlight;
  }

  emitted(seq: number): void {
    this.lastEmitted = seq;
  }

  /** Seq numbers `from`..`to` will never be emitted (a late join, a gap in a received stream): nothing waits for them. */
  skipped(from: number, to: number): void {
    if (to < from) return;
    this.gaps.set(from, to);
    for (const s of this.done.keys()) this.passGaps(s);
    if (!this.blocked) this.wake();
  }

  /** The source numbers its packets afresh from `seq` (below what it emitted before): nothing of the new numbering is in flight yet. */
  restarted(seq: number): void {
    this.oldLast = Math.max(this.oldLast ?? -1, this.lastEmitted);
    this.lastEmitted = seq - 1;
    this.gaps.clear();
    for (const s of this.done.keys()) this.done.set(s, seq - 1);
    if (!this.blocked) this.wake();
  }

  finished(sink: string, seq: number): void {
    if (!this.done.has(sink)) return;
    if (this.oldLast !== undefined) {
      if (this.lastEmitted > this.oldLast) this.oldLast = undefined;
      else if (seq > this.lastEmitted) return; // a packet of the old numbering
    }
    if (seq > (this.done.get(sink) ?? -1)) this.done.set(sink, seq);
    if (this.gaps.size) this.passGaps(sink);
    if (!this.blocked) this.wake();
  }

  /** A sink that finished everything before a gap has finished the gap too; gaps every sink passed are forgotten. */
  private passGaps(sink: string): void {
    let d = this.done.get(sink)!;
    for (let to = this.gaps.get(d + 1); to !== undefined; to = this.gaps.get(d + 1)) d = to;
    this.done.set(sink, d);
    const p = this.progress();
    for (const [from, to] of this.gaps) if (to <= p) this.gaps.delete(from);
  }

  /** Resolves when the source may emit again. */
  ready(): Promise<void> {
    if (!this.blocked) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Release every waiter for good (the run is ending). */
  stop(): void {
    this.stopped = true;
    this.wake();
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
}

/** A flow control that never blocks (library use without a runner, live sources). */
export function unlimitedFlow(): FlowControl {
  return new FlowControl(Infinity);
}

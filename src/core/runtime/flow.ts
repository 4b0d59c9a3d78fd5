/**
 * Flow control for lossless edges (a FlowLimiter, as in MediaPipe).
 *
 * A source may have at most `maxInFlight` packets that the slowest of its
 * sinks has not finished. Sinks finish packets in sequence order, so progress
 * is the minimum over sinks of the last sequence number each has finished;
 * packets dropped on a freshest edge do not hold anything back because a later
 * packet completing moves progress past them.
 */
export class FlowControl {
  private readonly done = new Map<string, number>();
  private waiters: (() => void)[] = [];
  private lastEmitted = -1;
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

  finished(sink: string, seq: number): void {
    if (!this.done.has(sink)) return;
    if (seq > (this.done.get(sink) ?? -1)) this.done.set(sink, seq);
    if (!this.blocked) this.wake();
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

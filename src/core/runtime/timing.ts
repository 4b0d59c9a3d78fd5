/**
 * Per-node timing, done by the runtime (no node times itself).
 *
 * A node's latency for a packet runs from the moment the packet enters the
 * node — after its edge's queue; for a join, when the last member arrives; for
 * an asynchronous node, when `serial` starts work on it — to the moment the
 * node emits the output with the same source and seq (for a sink: finishes
 * it). An asynchronous node (`serial`) may finish work on a packet without
 * emitting anything for it — a segmenter passing a frame marked for
 * propagation, a sink's no-op — and that packet is timed too, from the start
 * of the work to its end (`settle`), so the node's frames, fps and latency
 * percentiles cover every packet it took in, not only those it answered. A
 * source has no input: its time is what handing a packet on takes (the
 * synchronous work downstream of it). Each timed packet counts one in the
 * node's frames and fps (src/runtime/metrics.ts NodeStats).
 */
import { Observable, type MonoTypeOperatorFunction } from 'rxjs';
import type { PacketMeta } from '../packet.ts';
import type { NodeStats } from './metrics.ts';

/** The packet `x` is, or (a joined record) the first member it holds. */
export function metaOf(x: unknown): PacketMeta | undefined {
  if (!x || typeof x !== 'object') return undefined;
  const m = x as Partial<PacketMeta>;
  if (typeof m.seq === 'number' && typeof m.source === 'string') return m as PacketMeta;
  for (const v of Object.values(x)) {
    const p = v as Partial<PacketMeta> | undefined;
    if (p && typeof p === 'object' && typeof p.seq === 'number' && typeof p.source === 'string') return p as PacketMeta;
  }
  return undefined;
}

export class NodeTimer {
  private readonly started = new Map<string, number>();

  /** @param maxOpen packets timed at once; beyond it the oldest start is forgotten (inputs that never give an output). */
  constructor(readonly stats: NodeStats, private readonly maxOpen = 4096) {}

  /** `x` entered the node (or the node starts work on it): its clock starts now. */
  enter(x: unknown): void {
    const m = metaOf(x);
    if (!m) return;
    const k = `${m.source}#${m.seq}`;
    this.started.delete(k);
    this.started.set(k, performance.now());
    if (this.started.size > this.maxOpen) this.started.delete(this.started.keys().next().value!);
  }

  /** The node emitted (or finished) `x`: one packet observed, if its start is known. */
  leave(x: unknown): void {
    const m = metaOf(x);
    if (!m) return;
    const k = `${m.source}#${m.seq}`;
    const t0 = this.started.get(k);
    if (t0 === undefined) return;
    this.started.delete(k);
    this.stats.observe(performance.now() - t0);
  }

  /**
   * Work on `x` is over (serial, after its result — if any — was emitted): timed
   * now if no output left with its source and seq (the node emitted nothing for it).
   */
  settle(x: unknown): void {
    this.leave(x);
  }

  /** Operator: each value enters the node. */
  entering<T>(): MonoTypeOperatorFunction<T> {
    return (source) => new Observable<T>((sub) => source.subscribe({
      next: (x) => {
        this.enter(x);
        sub.next(x);
      },
      error: (e) => sub.error(e),
      complete: () => sub.complete(),
    }));
  }

  /** Operator: each value leaves the node. */
  leaving<T>(): MonoTypeOperatorFunction<T> {
    return (source) => new Observable<T>((sub) => source.subscribe({
      next: (x) => {
        this.leave(x);
        sub.next(x);
      },
      error: (e) => sub.error(e),
      complete: () => sub.complete(),
    }));
  }

  /** Operator for a source's output: the time each hand-over takes (the synchronous work downstream). */
  emitting<T>(): MonoTypeOperatorFunction<T> {
    return (source) => new Observable<T>((sub) => source.subscribe({
      next: (x) => {
        const t0 = performance.now();
        sub.next(x);
        this.stats.observe(performance.now() - t0);
      },
      error: (e) => sub.error(e),
      complete: () => sub.complete(),
    }));
  }
}

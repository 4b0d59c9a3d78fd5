/**
 * Edge queues and the serial stage in front of an asynchronous node.
 *
 * Each edge declares a policy in the graph file:
 *  - `lossless`: nothing is dropped; the queue is bounded by the source's flow
 *    control (back-pressure reaches the decoder). Default for file sources.
 *  - `freshest`: at most `size` packets wait; when full, the oldest is dropped
 *    and counted. Default for live sources, so latency stays bounded when the
 *    model is slower than the camera.
 *
 * A dropped packet that carried a discontinuity passes the mark to the packet
 * that replaces it, so stateful nodes downstream still reset.
 */
import { Observable, type OperatorFunction } from 'rxjs';
import { withDiscontinuity, type PacketMeta } from '../packet.ts';

export interface QueuePolicy {
  readonly policy: 'lossless' | 'freshest';
  /** Maximum packets waiting (freshest only). */
  readonly size: number;
}

export class EdgeQueue {
  depth = 0;
  maxDepth = 0;
  drops = 0;
  delivered = 0;
  constructor(readonly name: string, readonly policy: QueuePolicy) {}

  /** Append to `buf` under this policy; returns packets dropped. */
  push<T>(buf: T[], item: T): void {
    if (this.policy.policy === 'freshest' && buf.length >= this.policy.size) {
      const dropped = buf.shift() as unknown as PacketMeta;
      this.drops++;
      const meta = item as unknown as PacketMeta;
      if (dropped && typeof dropped === 'object' && dropped.discontinuity && !meta.discontinuity) {
        item = withDiscontinuity(meta, dropped.discontinuity) as unknown as T;
      }
    }
    buf.push(item);
    this.depth = buf.length;
    if (buf.length > this.maxDepth) this.maxDepth = buf.length;
  }
}

/** A queue for nodes whose input port was not wired through the runner (library use). */
export function defaultQueue(name = 'input'): EdgeQueue {
  return new EdgeQueue(name, { policy: 'lossless', size: Infinity });
}

/**
 * Run `fn` on the packets in order, with `queue` in front, at most `depth`
 * calls in flight (1: one packet at a time; more lets `fn` hand work to
 * another thread while the next packet is already on its way). Results are
 * emitted in input order; `fn` may return `undefined` to emit nothing.
 */
export function serial<T, R>(queue: EdgeQueue, fn: (x: T) => Promise<R | undefined> | R | undefined, depth = 1): OperatorFunction<T, R> {
  type Settled = { ok: true; r: R | undefined } | { ok: false; e: unknown };
  return (source) =>
    new Observable<R>((sub) => {
      const buf: T[] = [];
      const inflight: Promise<Settled>[] = [];
      let draining = false;
      let ended = false;
      let closed = false;
      const finishIfDone = () => {
        if (ended && !closed && buf.length === 0 && inflight.length === 0) {
          closed = true;
          sub.complete();
        }
      };
      const pump = (): void => {
        while (!closed && buf.length > 0 && inflight.length < depth) {
          const x = buf.shift() as T;
          queue.depth = buf.length;
          queue.delivered++;
          let p: Promise<R | undefined>;
          try {
            p = Promise.resolve(fn(x));
          } catch (e) {
            p = Promise.reject(e);
          }
          inflight.push(p.then((r) => ({ ok: true as const, r }), (e: unknown) => ({ ok: false as const, e })));
          void drain();
        }
        finishIfDone();
      };
      const drain = async (): Promise<void> => {
        if (draining) return;
        draining = true;
        while (inflight.length > 0 && !closed) {
          const res = await inflight[0]!;
          inflight.shift();
          if (closed) break;
          if (!res.ok) {
            closed = true;
            sub.error(res.e);
            break;
          }
          if (res.r !== undefined) sub.next(res.r);
          pump();
        }
        draining = false;
        finishIfDone();
      };
      const s = source.subscribe({
        next: (x) => {
          queue.push(buf, x);
          pump();
        },
        error: (e) => {
          closed = true;
          sub.error(e);
        },
        complete: () => {
          ended = true;
          finishIfDone();
        },
      });
      return () => {
        closed = true;
        buf.length = 0;
        s.unsubscribe();
      };
    });
}

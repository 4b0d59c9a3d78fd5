/**
 * serial — the stage in front of a node whose work is asynchronous (a model in
 * a thread, a socket write, a pipe to ffmpeg): `fn` runs on the packets in
 * order, at most `depth` calls in flight, results emitted in input order.
 *
 * On an edge the runtime owns (src/runtime/queue.ts `EdgeQueue.edge()`),
 * serial claims each packet it is handed — whichever of the node's edges
 * handed it, also through a join — and releases it when its result is out, so
 * packets wait on the edge under its policy and nowhere else; it also tells
 * the runtime when work on a packet starts and when it ends — its result
 * emitted, or nothing to emit (the node's clock, src/core/runtime/timing.ts). Without a runner (library use) it applies the
 * queue's policy to its own buffer.
 *
 * ```ts
 * frames.pipe(serial(ctx.queue('frame'), async (f) => segment(f), 2))
 * ```
 */
import { Observable, type OperatorFunction } from 'rxjs';

/** What serial needs of its queue (src/runtime/queue.ts EdgeQueue). */
export interface SerialQueue {
  /** True when the runtime applies the queue on its edge: serial then only claims packets. */
  readonly owned: boolean;
  /** Packets the consumer may hold at once: raised to serial's depth before it subscribes. */
  capacity: number;
  depth: number;
  delivered: number;
  readonly gate: { readonly onStart: ((x: unknown) => void) | undefined; readonly onEnd?: ((x: unknown) => void) | undefined };
  /** Hold the packet being handed over until the returned function is called (a no-op outside a hand-over). */
  claim(): () => void;
  /** Append under the queue's policy (library use). */
  push<T>(buf: T[], item: T): void;
}

/**
 * Run `fn` on the packets in order, at most `depth` calls in flight (1: one
 * packet at a time; more lets `fn` hand work to another thread while the next
 * packet is already on its way). Results are emitted in input order; `fn` may
 * return `undefined` to emit nothing. On an edge the runtime owns, packets
 * wait on the edge (serial claims each one until its result is out); without
 * a runner they wait here under `queue`'s policy.
 */
export function serial<T, R>(queue: SerialQueue, fn: (x: T) => Promise<R | undefined> | R | undefined, depth = 1): OperatorFunction<T, R> {
  type Settled = { ok: true; r: R | undefined } | { ok: false; e: unknown };
  return (source) =>
    new Observable<R>((sub) => {
      const buf: T[] = [];
      const inflight: { x: T; p: Promise<Settled> }[] = [];
      // Claims on the runtime's edge, released in order as results are emitted.
      const releases: (() => void)[] = [];
      queue.capacity = Math.max(1, depth);
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
          if (!queue.owned) {
            queue.depth = buf.length;
            queue.delivered++;
          }
          queue.gate.onStart?.(x);
          let p: Promise<R | undefined>;
          try {
            p = Promise.resolve(fn(x));
          } catch (e) {
            p = Promise.reject(e);
          }
          inflight.push({ x, p: p.then((r) => ({ ok: true as const, r }), (e: unknown) => ({ ok: false as const, e })) });
          void drain();
        }
        finishIfDone();
      };
      const drain = async (): Promise<void> => {
        if (draining) return;
        draining = true;
        while (inflight.length > 0 && !closed) {
          const { x, p } = inflight[0]!;
          const res = await p;
          inflight.shift();
          releases.shift()?.();
          if (closed) break;
          if (!res.ok) {
            closed = true;
            sub.error(res.e);
            break;
          }
          if (res.r !== undefined) sub.next(res.r);
          // Work on x is over, whether or not it gave an output (the node's clock: timing.ts).
          queue.gate.onEnd?.(x);
          pump();
        }
        draining = false;
        finishIfDone();
      };
      const s = source.subscribe({
        next: (x) => {
          // Whichever of the node's edges handed x over (also through a join) holds it until
          // its result is out: the edges then hand over at most `depth` at once.
          releases.push(queue.claim());
          // On a runtime-owned edge the policy is applied already; otherwise here (library use).
          if (queue.owned) buf.push(x);
          else queue.push(buf, x);
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

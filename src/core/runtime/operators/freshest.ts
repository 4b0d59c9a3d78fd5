/**
 * freshest — a bounded, lossy queue in front of a consumer that takes packets
 * when it is ready (GStreamer's `queue leaky=downstream`).
 *
 * At most `size` packets wait. A packet that arrives when the queue is full
 * pushes out the oldest waiting one, which is counted through `onDrop`; if the
 * dropped packet carried a discontinuity mark, the mark moves to the packet
 * that pushed it out, so stateful nodes downstream still reset.
 *
 * The consumer says when it is ready: it may hold `credits` packets at once
 * (default 1), and each emission of `ready` hands one credit back. A packet is
 * emitted at once when a credit is free, otherwise it waits. When the source
 * completes, the waiting packets are still delivered (as credits come back),
 * then the output completes. Errors pass straight through.
 *
 * ```ts
 * frames.pipe(freshest({ size: 2, ready: consumerDone$, onDrop: () => drops++ }))
 * ```
 *
 * State lives inside the subscription, so every subscription is independent.
 */
import { Observable, type OperatorFunction } from 'rxjs';
import { withDiscontinuity, type PacketMeta } from '../../packet.ts';

export interface FreshestOptions<T> {
  /** Packets that may wait (≥ 1). */
  readonly size: number;
  /** Each emission: the consumer has finished one packet and takes another. */
  readonly ready: Observable<unknown>;
  /** Packets the consumer may hold before its first `ready` (≥ 1). @default 1 */
  readonly credits?: number;
  /** Called for each packet pushed out of a full queue. */
  readonly onDrop?: (dropped: T) => void;
  /** Called whenever the number of waiting packets changes. */
  readonly onDepth?: (depth: number) => void;
}

export function freshest<T extends PacketMeta>(o: FreshestOptions<T>): OperatorFunction<T, T> {
  if (!(o.size >= 1)) throw new TypeError(`freshest: size: expected an integer ≥ 1, got ${o.size}`);
  return (source) =>
    new Observable<T>((sub) => {
      const buf: T[] = [];
      let credits = o.credits ?? 1;
      let ended = false;
      let emitting = false;
      // Emitting can re-enter (a synchronous consumer hands its credit back from
      // inside next()); the loop, not the nested call, then delivers the next packet.
      const pump = () => {
        if (emitting) return;
        emitting = true;
        try {
          while (credits > 0 && buf.length > 0 && !sub.closed) {
            credits--;
            const x = buf.shift()!;
            o.onDepth?.(buf.length);
            sub.next(x);
          }
        } finally {
          emitting = false;
        }
        if (ended && buf.length === 0) sub.complete();
      };
      const rs = o.ready.subscribe({
        next: () => {
          credits++;
          pump();
        },
        error: (e) => sub.error(e),
      });
      const ss = source.subscribe({
        next: (x) => {
          if (buf.length >= o.size) {
            const dropped = buf.shift()!;
            if (dropped.discontinuity && !x.discontinuity) x = withDiscontinuity(x, dropped.discontinuity);
            o.onDrop?.(dropped);
          }
          buf.push(x);
          o.onDepth?.(buf.length);
          pump();
        },
        error: (e) => sub.error(e),
        complete: () => {
          ended = true;
          pump();
        },
      });
      return () => {
        buf.length = 0;
        ss.unsubscribe();
        rs.unsubscribe();
      };
    });
}

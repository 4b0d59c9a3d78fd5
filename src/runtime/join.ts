/**
 * Join two streams derived from the same source by sequence number.
 *
 * `a` packets wait (at most `maxWaiting`) for the `b` packet with the same
 * source and seq. When `b` for seq s arrives, every waiting `a` older than s
 * is released unmatched (it was dropped upstream on a freshest edge) through
 * `onUnmatched`, so nothing waits forever and memory stays bounded.
 */
import { Observable } from 'rxjs';
import type { PacketMeta } from '../packet.ts';

export function joinBySeq<A extends PacketMeta, B extends PacketMeta>(
  a$: Observable<A>,
  b$: Observable<B>,
  onUnmatched: (a: A) => void = () => {},
  maxWaiting = 256,
): Observable<[A, B]> {
  return new Observable<[A, B]>((sub) => {
    const waitingA = new Map<string, A>();
    const waitingB = new Map<string, B>();
    const key = (p: PacketMeta) => `${p.source}#${p.seq}`;
    let ended = 0;
    const end = () => {
      if (++ended === 2) sub.complete();
    };
    const sa = a$.subscribe({
      next: (a) => {
        const k = key(a);
        const b = waitingB.get(k);
        if (b) {
          waitingB.delete(k);
          sub.next([a, b]);
          return;
        }
        waitingA.set(k, a);
        if (waitingA.size > maxWaiting) {
          const [k0, a0] = waitingA.entries().next().value as [string, A];
          waitingA.delete(k0);
          onUnmatched(a0);
        }
      },
      error: (e) => sub.error(e),
      complete: end,
    });
    const sb = b$.subscribe({
      next: (b) => {
        const k = key(b);
        const a = waitingA.get(k);
        if (!a) {
          // b ahead of a (b's branch was faster): hold it, bounded.
          waitingB.set(k, b);
          if (waitingB.size > maxWaiting) waitingB.delete(waitingB.keys().next().value as string);
          return;
        }
        waitingA.delete(k);
        for (const [k2, a2] of waitingA) {
          if (a2.source === b.source && a2.seq < b.seq) {
            waitingA.delete(k2);
            onUnmatched(a2);
          }
        }
        sub.next([a, b]);
      },
      error: (e) => sub.error(e),
      complete: end,
    });
    return () => {
      sa.unsubscribe();
      sb.unsubscribe();
    };
  });
}

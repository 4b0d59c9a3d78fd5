/**
 * Join two streams derived from the same source by sequence number.
 *
 * `a` packets wait (at most `maxWaiting`) for the `b` packet with the same
 * source and seq. When `b` for seq s arrives, every waiting `a` older than s
 * is released unmatched (it was dropped upstream on a freshest edge) through
 * `onUnmatched`, so nothing waits forever and memory stays bounded.
 *
 * Discontinuity marks pass through the join: a pair carries a mark on both
 * sides when either side has one, and the mark of a packet released unmatched
 * moves to the next pair from its source, so a reset is never lost to a drop.
 */
import { Observable } from 'rxjs';
import { withDiscontinuity, type PacketMeta } from '../packet.ts';

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
    const marks = new Map<string, string>(); // source → mark of a packet released unmatched
    const lost = (p: PacketMeta) => {
      if (p.discontinuity && !marks.has(p.source)) marks.set(p.source, p.discontinuity);
    };
    const emit = (a: A, b: B) => {
      const mark = marks.get(a.source) ?? a.discontinuity ?? b.discontinuity;
      marks.delete(a.source);
      if (!mark) return sub.next([a, b]);
      sub.next([a.discontinuity ? a : withDiscontinuity(a, mark), b.discontinuity ? b : withDiscontinuity(b, mark)]);
    };
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
          emit(a, b);
          return;
        }
        waitingA.set(k, a);
        if (waitingA.size > maxWaiting) {
          const [k0, a0] = waitingA.entries().next().value as [string, A];
          waitingA.delete(k0);
          lost(a0);
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
          if (waitingB.size > maxWaiting) {
            const [k0, b0] = waitingB.entries().next().value as [string, B];
            waitingB.delete(k0);
            lost(b0);
          }
          return;
        }
        waitingA.delete(k);
        for (const [k2, a2] of waitingA) {
          if (a2.source === b.source && a2.seq < b.seq) {
            waitingA.delete(k2);
            lost(a2);
            onUnmatched(a2);
          }
        }
        emit(a, b);
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

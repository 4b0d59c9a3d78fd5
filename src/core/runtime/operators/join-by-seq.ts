/**
 * joinBySeq — joins streams derived from the same source by (source, seq) into
 * records, one packet per port: `joinBySeq({ frame: f$, labels: l$ })` emits
 * `{ frame, labels }` for each seq that arrived on both.
 *
 * Each input is in seq order per source (what a node emits is). A packet
 * waits for its partners until one of them can no longer come — the partner's
 * port delivered a later seq of that source, or its stream ended — or until
 * more than `maxWaiting` records wait (the oldest goes). It is then released
 * unmatched (`onUnmatched(port, packet)`): delivered alone, in a record
 * without the missing members, when its port is in `keep`; dropped otherwise.
 * Releases happen before the record that caused them, so records leave in seq
 * order.
 *
 * Discontinuity marks pass through: a record carries a mark on every member
 * when any member has one, and the mark of a dropped packet moves to the next
 * record of its source, so a reset is never lost to a drop.
 *
 * ```ts
 * joinBySeq({ frame: frames$, labels: labels$ }, { onUnmatched: (port) => unmatched++ })
 * ```
 *
 * State lives inside the subscription, so every subscription is independent.
 */
import { Observable } from 'rxjs';
import { withDiscontinuity, type PacketMeta } from '../../packet.ts';

export interface JoinOptions<K extends string> {
  /** Ports whose unmatched packets are delivered alone (default: none; all dropped). */
  readonly keep?: readonly K[];
  /** Called for each packet released unmatched (delivered alone or dropped). */
  readonly onUnmatched?: (port: K, packet: PacketMeta) => void;
  /** Records that may wait for their partners. @default 256 */
  readonly maxWaiting?: number;
}

interface Entry {
  readonly source: string;
  readonly seq: number;
  readonly parts: Record<string, PacketMeta>;
  n: number;
}

/** Records with every port present, or (from `keep` ports) fewer. */
export function joinBySeq<R extends Record<string, PacketMeta>>(
  inputs: { readonly [K in keyof R]: Observable<R[K]> },
  o: JoinOptions<keyof R & string> = {},
): Observable<{ readonly [K in keyof R]?: R[K] }> {
  const ports = Object.keys(inputs) as (keyof R & string)[];
  const keep = new Set<string>(o.keep ?? []);
  const maxWaiting = o.maxWaiting ?? 256;
  if (ports.length === 0) throw new TypeError('joinBySeq: expected at least one input stream');
  if (!(maxWaiting >= 1)) throw new TypeError(`joinBySeq: maxWaiting: expected an integer ≥ 1, got ${maxWaiting}`);
  return new Observable<{ readonly [K in keyof R]?: R[K] }>((sub) => {
    const entries = new Map<string, Entry>(); // insertion order ≈ seq order
    const last = new Map<string, Map<string, number>>(ports.map((p) => [p, new Map()])); // port → source → newest seq
    const ended = new Set<string>();
    const marks = new Map<string, string>(); // source → mark of a dropped packet, for its next record
    const key = (p: { readonly source: string; readonly seq: number }) => `${p.source}#${p.seq}`;

    /** Every member marked when any is (or a dropped packet left a mark for the source). */
    const deliver = (e: Entry) => {
      const parts = Object.values(e.parts);
      const mark = marks.get(e.source) ?? parts.find((p) => p.discontinuity)?.discontinuity;
      marks.delete(e.source);
      if (!mark) return sub.next(e.parts as { [K in keyof R]?: R[K] });
      const marked: Record<string, PacketMeta> = {};
      for (const [port, p] of Object.entries(e.parts)) marked[port] = p.discontinuity ? p : withDiscontinuity(p, mark);
      sub.next(marked as { [K in keyof R]?: R[K] });
    };
    const release = (e: Entry) => {
      entries.delete(key(e));
      let kept = false;
      for (const [port, p] of Object.entries(e.parts)) {
        o.onUnmatched?.(port as keyof R & string, p);
        if (keep.has(port)) kept = true;
      }
      if (kept) return deliver(e);
      const mark = Object.values(e.parts).find((p) => p.discontinuity)?.discontinuity;
      if (mark && !marks.has(e.source)) marks.set(e.source, mark);
    };
    /** True when a port missing from `e` can no longer bring its packet. */
    const hopeless = (e: Entry) => ports.some((port) => !(port in e.parts) && (ended.has(port) || (last.get(port)!.get(e.source) ?? -Infinity) >= e.seq));
    const sweep = (source?: string) => {
      // A copy: delivering may re-enter (a consumer feeding an input synchronously); skip what is gone.
      for (const e of [...entries.values()]) if (entries.get(key(e)) === e && (source === undefined || e.source === source) && hopeless(e)) release(e);
      while (entries.size > maxWaiting) release(entries.values().next().value!);
    };

    const subs = ports.map((port) => inputs[port].subscribe({
      next: (p: PacketMeta) => {
        const seen = last.get(port)!;
        if (p.seq > (seen.get(p.source) ?? -Infinity)) seen.set(p.source, p.seq);
        const k = key(p);
        let e = entries.get(k);
        if (!e) entries.set(k, (e = { source: p.source, seq: p.seq, parts: {}, n: 0 }));
        if (!(port in e.parts)) e.n++;
        e.parts[port] = p;
        if (e.n === ports.length) {
          entries.delete(k);
          sweep(p.source); // older packets this one shows will never be matched leave first
          deliver(e);
        } else {
          sweep(p.source);
        }
      },
      error: (err) => sub.error(err),
      complete: () => {
        ended.add(port);
        sweep();
        if (ended.size === ports.length) sub.complete();
      },
    }));
    return () => {
      for (const s of subs) s.unsubscribe();
      entries.clear();
    };
  });
}

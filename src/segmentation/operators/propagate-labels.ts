/**
 * propagateLabels — the label-propagation node's stream logic as a pure RxJS
 * operator: frames in, one label map per frame out, the labels coming from a
 * second stream that labels only some frames.
 *
 * Unmarked frames (a live graph: the segmenter behind a freshest queue) never
 * wait: each frame gets the newest labels carried to it along block-matching
 * motion, chained frame to frame; labels that arrive late for frame s jump
 * from s's thumbnail to the newest frame in one wider search
 * (`catchUpRadiusPx`). Frames marked by the keyframe-scheduler (`Frame.key`)
 * are handled in order and exactly as the segmenter's own `propagate` path
 * does: a key frame (or a non-key frame whose path is not `propagate`) waits
 * for its own labels and passes them on; a frame marked `propagate` gets the
 * previous frame's labels carried to it. A discontinuity drops all state: the
 * first labels out after it carry the mark. The carrying itself is
 * src/segmentation/propagation.ts (carryLabels), as everywhere else.
 *
 * ```ts
 * frames$.pipe(propagateLabels(labels$, { radiusPx: 4, catchUpRadiusPx: 8, historyFrames: 64 }))
 * ```
 */
import { Observable, type OperatorFunction } from 'rxjs';
import type { Thumb } from '../../kernels/motion.ts';
import type { Frame, Labels } from '../../core/packet.ts';
import { carryLabels, frameThumbnail } from '../propagation.ts';

export interface PropagateOptions {
  /** Search radius from one frame to the next, thumbnail pixels. */
  readonly radiusPx: number;
  /** Search radius when late labels jump to the newest frame (unmarked frames). */
  readonly catchUpRadiusPx: number;
  /** Frame thumbnails (and frames waiting for labels) kept at most. */
  readonly historyFrames: number;
  /** Called with the time spent on each frame, ms (node statistics). */
  readonly observe?: (ms: number) => void;
}

const keyOf = (p: { source: string; seq: number }) => `${p.source}#${p.seq}`;

/** `labels` with another frame's identity (and carried classes), path `propagated`. */
function carried(l: Labels, f: Frame, classes: Uint8Array): Labels {
  return Object.freeze({ ...l, seq: f.seq, ptsMs: f.ptsMs, discontinuity: undefined, classes, path: 'propagated' as const, scores: undefined });
}

export function propagateLabels(labels$: Observable<Labels>, o: PropagateOptions): OperatorFunction<Frame, Labels> {
  return (frame$) => new Observable<Labels>((sub) => {
    const thumbs = new Map<string, Thumb>();
    let cur: { labels: Labels; thumb: Thumb; fromSeq: number } | undefined; // labels carried to the newest frame
    let newest: { frame: Frame; thumb: Thumb } | undefined;
    let mark: string | undefined;
    // Marked frames: handled in order; frames waiting for their own labels, labels waiting for their frame.
    const waiting: { frame: Frame; thumb: Thumb }[] = [];
    const got = new Map<string, Labels>();
    let marked = false;
    let ended = 0;
    const end = () => {
      if (++ended < 2) return;
      drain(true);
      sub.complete();
    };
    const emit = (l: Labels) => {
      // The first labels out after a discontinuity carry its mark, so nodes downstream reset too.
      sub.next(mark && !l.discontinuity ? Object.freeze({ ...l, discontinuity: mark }) : l);
      mark = undefined;
    };
    const reset = (reason: string) => {
      thumbs.clear();
      cur = undefined;
      mark = reason;
    };
    /** Marked frames, in order, as far as their labels allow (`final`: the labels stream ended). */
    const drain = (final = false) => {
      while (waiting.length) {
        const { frame: f, thumb } = waiting[0]!;
        const t0 = performance.now();
        const own = f.key!.key || f.key!.path !== 'propagate';
        const l = own ? got.get(keyOf(f)) : undefined;
        if (own && !l && !final && !labelsPassed(f)) return; // its labels are still to come
        waiting.shift();
        if (f.discontinuity) reset(f.discontinuity);
        if (l) {
          got.delete(keyOf(f));
          cur = { labels: l, thumb, fromSeq: f.seq };
          emit(l);
        } else if (cur && cur.labels.source === f.source) {
          // A frame to propagate (or one whose labels were lost upstream): carried from the previous frame.
          const c = cur.labels;
          const next = carried(c, f, carryLabels(c.classes, c.width, c.height, cur.thumb, thumb, o.radiusPx));
          cur = { labels: next, thumb, fromSeq: cur.fromSeq };
          emit(next);
        } else {
          continue; // nothing to carry yet (labels lost after a discontinuity): no labels for this frame
        }
        o.observe?.(performance.now() - t0);
      }
    };
    /** True when labels for a later frame of f's source already came: f's own were dropped upstream. */
    const labelsPassed = (f: Frame) => {
      for (const l of got.values()) if (l.source === f.source && l.seq > f.seq) return true;
      return false;
    };
    const sf = frame$.subscribe({
      next: (f: Frame) => {
        const th = frameThumbnail(f.data, f.width, f.height);
        if (f.key) {
          marked = true;
          waiting.push({ frame: f, thumb: th });
          drain();
          return;
        }
        const t0 = performance.now();
        got.clear();
        if (f.discontinuity) reset(f.discontinuity);
        thumbs.set(keyOf(f), th);
        if (thumbs.size > o.historyFrames) thumbs.delete(thumbs.keys().next().value as string);
        newest = { frame: f, thumb: th };
        if (!cur || cur.labels.source !== f.source) return;
        if (cur.labels.seq !== f.seq) {
          const l = cur.labels;
          cur = { labels: carried(l, f, carryLabels(l.classes, l.width, l.height, cur.thumb, th, o.radiusPx)), thumb: th, fromSeq: cur.fromSeq };
        }
        emit(cur.labels);
        o.observe?.(performance.now() - t0);
      },
      error: (e) => sub.error(e),
      complete: end,
    });
    const sl = labels$.subscribe({
      next: (l: Labels) => {
        if (marked || !newest) {
          // Marked frames (or none seen yet): labels are matched to their frame by source and sequence number.
          got.set(keyOf(l), l);
          if (got.size > o.historyFrames) got.delete(got.keys().next().value as string);
          drain();
          return;
        }
        const th = thumbs.get(keyOf(l));
        if (!th) return;
        if (cur && cur.labels.source === l.source && l.seq <= cur.fromSeq) return;
        if (newest && newest.frame.seq > l.seq && newest.frame.source === l.source) {
          // Late labels: jump them to the newest frame in one wider search.
          const f = newest.frame;
          cur = { labels: carried(l, f, carryLabels(l.classes, l.width, l.height, th, newest.thumb, o.catchUpRadiusPx)), thumb: newest.thumb, fromSeq: l.seq };
        } else {
          cur = { labels: l, thumb: th, fromSeq: l.seq };
        }
      },
      error: (e) => sub.error(e),
      complete: end,
    });
    return () => {
      sf.unsubscribe();
      sl.unsubscribe();
    };
  });
}

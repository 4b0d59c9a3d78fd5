/**
 * propagateLabelsLive — label propagation for a live graph, where the network
 * runs on key frames in its own executor behind a freshest queue: its labels
 * arrive late (the network takes longer than a frame interval) and some key
 * frames never get labels (the queue dropped them). Frames never wait for
 * the network:
 *
 *  - every frame gets, on arrival, the labels of the newest key frame whose
 *    labels have arrived, carried to it along block-matching motion;
 *  - the motion from each frame to the next is measured once, when the frame
 *    arrives, and kept for the frames since the newest labelled key frame
 *    (at most `historyFrames`); labels that arrive for key frame s are carried
 *    to the newest frame along that accumulated motion (s → s+1 → … → now),
 *    warps only, no new search, and replace the labels carried so far;
 *  - labels for a key frame older than the newest labels already used, or
 *    from before the last discontinuity, are stale and ignored; a key frame
 *    whose labels never come leaves the frames on the newest labels there are;
 *    labels that arrive before their frame (at most `historyFrames`) wait for
 *    it, across a discontinuity at or before it too;
 *  - a discontinuity (start, camera drop and reconnect) drops all labels and
 *    motion; the frames from it on are held until the first labels after it
 *    arrive (the keyframe-scheduler makes its frame a key frame, so this is
 *    one network run), then go out in order: the labelled key frame with its
 *    own labels, later frames carried forward along their motion, and earlier
 *    ones (their own key frame was dropped) carried back from it in one wider
 *    search (`catchUpRadiusPx`). The first labels out carry the mark. Held
 *    frames are bounded by `historyFrames`: beyond it the oldest goes out
 *    without labels (`onUnlabelled`).
 *
 * Frames marked by a keyframe-scheduler and unmarked frames are treated alike.
 * Output `path` is `propagated`, except a held key frame's own labels. The
 * carrying is src/segmentation/propagation.ts and src/kernels/motion.ts, the
 * one implementation.
 *
 * ```ts
 * frames$.pipe(propagateLabelsLive(labels$, { radiusPx: 4, catchUpRadiusPx: 8, historyFrames: 64 }))
 * ```
 */
import { Observable, type OperatorFunction } from 'rxjs';
import { blockMotion, warpLabels, type MotionField, type Thumb } from '../../kernels/motion.ts';
import type { Frame, Labels } from '../../core/packet.ts';
import { carryLabels, frameThumbnail, PROPAGATION_BLOCK } from '../propagation.ts';
import type { PropagateOptions } from './propagate-labels.ts';

export interface LiveOptions extends PropagateOptions {
  /** Called for a frame that goes out without labels (held past `historyFrames` after a discontinuity). */
  readonly onUnlabelled?: (f: Frame) => void;
}

/** One frame since the newest labelled key frame: its thumbnail and the motion from the frame before it. */
interface Seen {
  readonly frame: Frame;
  readonly thumb: Thumb;
  readonly motion: MotionField | undefined;
  /** Not emitted yet (held after a discontinuity). */
  held: boolean;
}

/** `labels` with another frame's identity (and carried classes), path `propagated`. */
function carried(l: Labels, f: Frame, classes: Uint8Array): Labels {
  return Object.freeze({ ...l, seq: f.seq, ptsMs: f.ptsMs, discontinuity: undefined, classes, path: 'propagated' as const, scores: undefined });
}

export function propagateLabelsLive(labels$: Observable<Labels>, o: LiveOptions): OperatorFunction<Frame, Labels> {
  return (frame$) => new Observable<Labels>((sub) => {
    let hist: Seen[] = []; // frames from the newest labelled key frame (or the last discontinuity) on
    let cur: { labels: Labels; fromSeq: number } | undefined; // labels carried to the newest frame
    let source: string | undefined;
    let resetSeq = -Infinity;
    let mark: string | undefined;
    const early = new Map<number, Labels>(); // labels whose frame has not arrived (not expected: kept to be safe)
    let ended = 0;
    const emit = (l: Labels) => {
      // The first labels out after a discontinuity carry its mark, so nodes downstream reset too; only
      // they: a key frame's own labels may carry the mark too (a freshest queue moved it onto a later
      // key frame), and go out without it when frames held before them took it already.
      const d = mark;
      mark = undefined;
      sub.next(l.discontinuity === d ? l : Object.freeze({ ...l, discontinuity: d }));
    };
    const unlabelled = (s: Seen) => {
      s.held = false;
      o.onUnlabelled?.(s.frame);
    };
    const end = () => {
      if (++ended < 2) return;
      for (const s of hist) if (s.held) unlabelled(s);
      sub.complete();
    };
    const keepEarly = (l: Labels) => {
      early.set(l.seq, l);
      if (early.size > o.historyFrames) early.delete(early.keys().next().value as number);
    };
    const onLabels = (l: Labels) => {
      if (l.source !== source) return keepEarly(l); // a source whose frames have not arrived (the start): kept for them
      if (l.seq < resetSeq) return; // before the last discontinuity: stale
      if (cur && l.seq <= cur.fromSeq) return; // older than the labels in use
      const i = hist.findIndex((s) => s.frame.seq === l.seq);
      if (i < 0) {
        const newest = hist[hist.length - 1];
        if (!newest || l.seq > newest.frame.seq) keepEarly(l);
        return; // else: its frame left the history (labels later than historyFrames frames): nothing to carry from
      }
      const t0 = performance.now();
      const key = hist[i]!;
      // Frames held before the key frame (their own key frame was dropped): carried back from it.
      for (let j = 0; j < i; j++) {
        const s = hist[j]!;
        if (!s.held) continue;
        s.held = false;
        emit(carried(l, s.frame, carryLabels(l.classes, l.width, l.height, key.thumb, s.thumb, o.catchUpRadiusPx)));
      }
      if (key.held) {
        key.held = false;
        emit(l);
      }
      // Forward along the motion of the frames since, emitting those still held.
      let classes = l.classes;
      for (let j = i + 1; j < hist.length; j++) {
        const s = hist[j]!;
        classes = warpLabels(classes, l.width, l.height, s.motion!);
        if (s.held) {
          s.held = false;
          emit(carried(l, s.frame, classes));
        }
      }
      const newest = hist[hist.length - 1]!;
      cur = { labels: newest === key ? l : carried(l, newest.frame, classes), fromSeq: l.seq };
      hist = hist.slice(i); // frames before the key frame: no longer needed
      o.observe?.(performance.now() - t0);
    };
    const sf = frame$.subscribe({
      next: (f: Frame) => {
        const t0 = performance.now();
        if (f.discontinuity || f.source !== source) {
          for (const s of hist) if (s.held) unlabelled(s);
          hist = [];
          cur = undefined;
          // Labels that came before their frame stay only for this frame and later ones of its source.
          for (const [seq, l] of early) if (l.source !== f.source || seq < f.seq) early.delete(seq);
          source = f.source;
          resetSeq = f.seq;
          mark = f.discontinuity;
        }
        const thumb = frameThumbnail(f.data, f.width, f.height);
        const prev = hist[hist.length - 1];
        const motion = prev ? blockMotion(prev.thumb, thumb, PROPAGATION_BLOCK, o.radiusPx) : undefined;
        const s: Seen = { frame: f, thumb, motion, held: cur === undefined };
        hist.push(s);
        if (hist.length > o.historyFrames) {
          const old = hist.shift()!;
          if (old.held) unlabelled(old);
        }
        if (cur) {
          const c = cur.labels;
          cur = { labels: carried(c, f, warpLabels(c.classes, c.width, c.height, motion!)), fromSeq: cur.fromSeq };
          emit(cur.labels);
          o.observe?.(performance.now() - t0);
        }
        const l = early.get(f.seq);
        if (l) {
          early.delete(f.seq);
          if (l.source === f.source) onLabels(l);
        }
      },
      error: (e) => sub.error(e),
      complete: end,
    });
    const sl = labels$.subscribe({ next: onLabels, error: (e) => sub.error(e), complete: end });
    return () => {
      sf.unsubscribe();
      sl.unsubscribe();
    };
  });
}

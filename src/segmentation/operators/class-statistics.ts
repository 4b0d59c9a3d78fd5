/**
 * classStatistics — the statistics-sink node's computation as a pure RxJS
 * operator: per-class pixel shares of each label map, and the running shares
 * of the whole video.
 *
 * Each label map in gives one record out, in order: the map itself (passed
 * through untouched, discontinuity mark included), `frame` — its seq, time
 * (ms, rounded to 1e-6) and the share of each class (fraction 0..1 of its
 * pixels, rounded to 1e-6, in class order) — and `video`, the totals so far:
 * the class names (the latest map's), frames seen, each class's share of all
 * pixels seen, and the frames where it was present. A discontinuity does not
 * reset the totals (one video may hold several: chunks, a reconnect); each
 * subscription counts on its own. A map whose class names differ from the
 * maps' before it is an error (the totals are per class). Completion and
 * errors pass straight through. Counting is countLabels (src/kernels/count.ts: WebAssembly SIMD,
 * a 16-byte vector of one label at once; the same counts as countBytes below).
 *
 * ```ts
 * labels$.pipe(classStatistics(), last())   // → { video: { classes, frames, share, framesPresent } }
 * ```
 */
import { defer, map, type OperatorFunction } from 'rxjs';
import { sameClassNames, type Labels } from '../../core/packet.ts';
import { countLabels } from '../../kernels/count.ts';

/** One label map's class shares. */
export interface FrameShares {
  readonly seq: number;
  readonly ptsMs: number;
  /** Fraction of the map's pixels per class (rounded to 1e-6), in class order. */
  readonly share: readonly number[];
}

/** The shares of every label map seen so far. */
export interface VideoShares {
  readonly classes: readonly string[];
  readonly frames: number;
  /** Fraction of all pixels seen per class (rounded to 1e-6), in class order. */
  readonly share: readonly number[];
  /** Label maps in which each class has at least one pixel. */
  readonly framesPresent: readonly number[];
}

export interface ClassStatistics {
  /** The label map, as it came in. */
  readonly labels: Labels;
  readonly frame: FrameShares;
  readonly video: VideoShares;
}

const r = (v: number) => Math.round(v * 1e6) / 1e6;

export function classStatistics(): OperatorFunction<Labels, ClassStatistics> {
  return (labels$) => defer(() => {
    let total: Float64Array | undefined;
    let present: Uint32Array | undefined;
    let names: readonly string[] | undefined;
    let pixels = 0;
    let frames = 0;
    return labels$.pipe(map((l): ClassStatistics => {
      const classes = l.classNames;
      const c = l.classes;
      // The totals are per class: maps with other classes (another model) would be added up under the wrong names.
      if (names && !sameClassNames(names, classes)) {
        throw new Error(`class statistics: label map seq ${l.seq} has ${classes.length} classes (${classes.join(', ')}), the maps before it ${names.length} (${names.join(', ')}); one video's statistics need one set of classes`);
      }
      names = classes;
      const counts = countLabels(c);
      total ??= new Float64Array(classes.length);
      present ??= new Uint32Array(classes.length);
      for (let k = 0; k < classes.length; k++) {
        total[k]! += counts[k]!;
        if (counts[k]! > 0) present[k]!++;
      }
      pixels += c.length;
      frames++;
      const frame = { seq: l.seq, ptsMs: r(l.ptsMs), share: Array.from(counts.subarray(0, classes.length), (v) => r(v / c.length)) };
      const video = { classes, frames, share: Array.from(total, (v) => r(v / pixels)), framesPresent: Array.from(present) };
      return { labels: l, frame, video };
    }));
  });
}

/**
 * How many times each byte value occurs (any byte indexes the result; integer counters). Label maps
 * are mostly runs: a 32-bit word of four equal labels is counted at once (~6x faster on a road
 * scene than a byte at a time; a map without runs costs what the plain loop does).
 */
export function countBytes(c: Uint8Array): Uint32Array {
  const counts = new Uint32Array(256);
  let i = 0;
  if (c.byteOffset % 4 === 0) {
    const words = new Uint32Array(c.buffer, c.byteOffset, c.length >> 2);
    for (let j = 0; j < words.length; j++) {
      const v = words[j]!;
      const b = v & 255;
      if (v === b * 0x01010101) counts[b]! += 4;
      else {
        counts[b]!++;
        counts[(v >>> 8) & 255]!++;
        counts[(v >>> 16) & 255]!++;
        counts[v >>> 24]!++;
      }
    }
    i = words.length * 4;
  }
  for (; i < c.length; i++) counts[c[i]!]!++;
  return counts;
}

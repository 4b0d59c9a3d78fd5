/**
 * Label propagation — the one implementation: labels of one frame carried to
 * another along block-matching motion between their gray thumbnails
 * (src/motion.ts). Used by the segmenter's `propagate` path (ReuseSegmenter,
 * src/temporal.ts), the `label-propagation` node (through the operators in
 * operators/propagate-labels.ts and, live, operators/propagate-labels-live.ts,
 * which warps along motion fields it measured once per frame), the video evaluation's temporal consistency
 * (src/eval/video.ts) and the bench.
 *
 * ```ts
 * const next = carryLabels(prev.classes, w, h, prevThumb, thumbnail(rgb, w, h));
 * ```
 */
import { blockMotion, thumbnail, warpLabels, type Thumb } from '../kernels/motion.ts';

/** Block size (thumbnail pixels) of the motion search. */
export const PROPAGATION_BLOCK = 8;
/** Search radius (thumbnail pixels) from one frame to the next. */
export const PROPAGATION_RADIUS = 4;

/**
 * The labels of the frame whose thumbnail is `from` (w x h class ids), carried
 * to the frame whose thumbnail is `to`: the motion of `to`'s blocks into
 * `from` within `radius`, then a backward warp. A new array; `labels` is not changed.
 */
export function carryLabels(labels: Uint8Array, w: number, h: number, from: Thumb, to: Thumb, radius = PROPAGATION_RADIUS, block = PROPAGATION_BLOCK): Uint8Array {
  return warpLabels(labels, w, h, blockMotion(from, to, block, radius));
}

const thumbs = new WeakMap<Uint8Array, { readonly w: number; readonly h: number; readonly thumb: Thumb }>();

/**
 * A frame's gray thumbnail (src/motion.ts), made once per pixel buffer: packets are immutable and
 * fan-out shares them, so the keyframe-scheduler and label-propagation of one thread share it.
 */
export function frameThumbnail(data: Uint8Array, w: number, h: number): Thumb {
  const c = thumbs.get(data);
  if (c && c.w === w && c.h === h) return c.thumb;
  const thumb = thumbnail(data, w, h);
  thumbs.set(data, { w, h, thumb });
  return thumb;
}

/** Carries the last frame's labels to the next frame, chaining frame to frame. */
export class LabelPropagator {
  private thumb: Thumb | undefined;
  private labels: Uint8Array | undefined;
  private w = 0;
  private h = 0;

  constructor(readonly radius = PROPAGATION_RADIUS, readonly block = PROPAGATION_BLOCK) {}

  /** True when there are labels to carry forward. */
  get ready(): boolean {
    return this.labels !== undefined;
  }

  /** Labels for the frame whose thumbnail is `thumb`, carried from the last frame. */
  propagate(thumb: Thumb): Uint8Array {
    if (!this.thumb || !this.labels) throw new Error('LabelPropagator: no labels to propagate yet');
    return carryLabels(this.labels, this.w, this.h, this.thumb, thumb, this.radius, this.block);
  }

  /** Remember the current frame and its labels (computed or propagated). */
  set(thumb: Thumb, labels: Uint8Array, w: number, h: number): void {
    this.thumb = thumb;
    this.labels = labels;
    this.w = w;
    this.h = h;
  }

  reset(): void {
    this.thumb = undefined;
    this.labels = undefined;
  }
}

/**
 * Cross-frame reuse: when to run the whole network (key frames) and how to
 * carry labels to the frames in between.
 *
 * KeyframeScheduler: a key frame every `intervalFrames` frames, and earlier
 * when the frame has changed more than `changeThreshold` (mean absolute gray
 * difference, 0..255, of small thumbnails against the last key frame) — a
 * scene cut or a fast turn. A discontinuity forces one (`reset()`).
 *
 * LabelPropagator: carries the previous frame's labels to the current frame
 * along block-matching motion (src/motion.ts), chaining frame to frame.
 */
import { blockMotion, changeScore, warpLabels, type Thumb } from './motion.ts';

export class KeyframeScheduler {
  private sinceKey = Infinity;
  private keyThumb: Thumb | undefined;
  lastChange = 0;

  constructor(readonly intervalFrames: number, readonly changeThreshold = 0) {}

  /** Decide for the next frame; `thumb` is needed only for the adaptive rule. */
  decide(thumb?: Thumb): boolean {
    let key = this.sinceKey >= this.intervalFrames;
    if (!key && this.changeThreshold > 0 && thumb && this.keyThumb) {
      this.lastChange = changeScore(thumb, this.keyThumb);
      key = this.lastChange > this.changeThreshold;
    }
    if (key) {
      this.sinceKey = 1;
      this.keyThumb = thumb;
    } else {
      this.sinceKey++;
    }
    return key;
  }

  get needsThumb(): boolean {
    return this.changeThreshold > 0;
  }

  reset(): void {
    this.sinceKey = Infinity;
    this.keyThumb = undefined;
  }
}

export class LabelPropagator {
  private thumb: Thumb | undefined;
  private labels: Uint8Array | undefined;
  private w = 0;
  private h = 0;

  constructor(readonly radius = 4, readonly block = 8) {}

  /** True when there are labels to carry forward. */
  get ready(): boolean {
    return this.labels !== undefined;
  }

  /** Labels for the frame whose thumbnail is `thumb`, carried from the last frame. */
  propagate(thumb: Thumb): Uint8Array {
    if (!this.thumb || !this.labels) throw new Error('LabelPropagator: no labels to propagate yet');
    const m = blockMotion(this.thumb, thumb, this.block, this.radius);
    return warpLabels(this.labels, this.w, this.h, m);
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

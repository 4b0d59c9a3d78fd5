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
import type { Model } from './engine/model.ts';
import { blockMotion, changeScore, thumbnail, warpLabels, type Thumb } from './motion.ts';
import type { LabelPath, ScoreMap } from './packet.ts';

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

export interface ReuseMode {
  readonly keyframeIntervalFrames: number;
  readonly keyframeChangeThreshold?: number;
  readonly nonKeyFrames?: 'shallow' | 'fuse' | 'propagate';
  /** Inference size (0 = the frame's). */
  readonly inputWidth?: number;
  readonly inputHeight?: number;
  /** Attach 1/8-resolution class scores to network outputs. */
  readonly scores?: boolean;
}

/**
 * Segments a stream of frames under a reuse mode: the scheduler picks key
 * frames, which run the whole network; other frames run the shallow branch
 * with kept deep features (`shallow`), with the kept features updated by the
 * temporal fuser (`fuse`), or are labelled by propagation. The segmenter node
 * and the video evaluation both use this, so the benchmark measures what
 * the node does.
 */
export class ReuseSegmenter {
  private readonly scheduler: KeyframeScheduler;
  private readonly propagator = new LabelPropagator();
  private readonly needThumb: boolean;

  /** Throws when the mode needs a part the model does not have (`fuse` without a fuser). */
  constructor(readonly model: Model, readonly mode: ReuseMode) {
    if (mode.nonKeyFrames === 'fuse' && !model.hasFuser) {
      throw new Error(`nonKeyFrames 'fuse' needs a model with a temporal fuser; ${model.manifest.name} has none (manifest parts.fuser)`);
    }
    this.scheduler = new KeyframeScheduler(mode.keyframeIntervalFrames, mode.keyframeChangeThreshold ?? 0);
    this.needThumb = (mode.keyframeChangeThreshold ?? 0) > 0 || mode.nonKeyFrames === 'propagate';
  }

  async next(rgb: Uint8Array, w: number, h: number): Promise<{ classes: Uint8Array; scores?: ScoreMap | undefined; path: LabelPath }> {
    const thumb = this.needThumb ? thumbnail(rgb, w, h) : undefined;
    const key = this.scheduler.decide(thumb);
    let r: { classes: Uint8Array; scores?: ScoreMap | undefined; path: LabelPath };
    if (!key && this.mode.nonKeyFrames === 'propagate' && this.propagator.ready) {
      r = { classes: this.propagator.propagate(thumb!), path: 'propagated' };
    } else {
      r = await this.model.segment(rgb, w, h, { reuseDeep: !key, fuse: this.mode.nonKeyFrames === 'fuse', inW: this.mode.inputWidth, inH: this.mode.inputHeight, withScores: this.mode.scores });
    }
    if (thumb) this.propagator.set(thumb, r.classes, w, h);
    return r;
  }

  /** Discontinuity: forget kept features, the schedule and the labels to carry. */
  reset(): void {
    this.model.reset();
    this.scheduler.reset();
    this.propagator.reset();
  }
}

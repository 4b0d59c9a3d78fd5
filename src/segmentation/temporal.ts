/**
 * Cross-frame reuse: when to run the whole network (key frames) and how to
 * carry labels to the frames in between.
 *
 * KeyframeScheduler: a key frame every `intervalFrames` frames, and earlier
 * when the frame has changed more than `changeThreshold` (mean absolute gray
 * difference, 0..255, of small thumbnails against the last key frame) — a
 * scene cut or a fast turn. A discontinuity forces one (`reset()`).
 *
 * LabelPropagator (src/segmentation/propagation.ts, re-exported here): carries
 * the previous frame's labels to the current frame along block-matching motion.
 */
import type { FuserCell } from './engine/engine.ts';
import type { Model } from './engine/model.ts';
import { changeScore, thumbnail, type Thumb } from '../kernels/motion.ts';
import { LabelPropagator } from './propagation.ts';

export { LabelPropagator };
import type { LabelPath, ScoreMap } from '../core/packet.ts';
import type { TtaSpec } from './engine/tta.ts';

export class KeyframeScheduler {
  private sinceKey = Infinity;
  private keyThumb: Thumb | undefined;
  lastChange = 0;
  /** Why the last decision was made: forced (after a reset), the interval, the change rule, or not a key frame. */
  lastReason: 'discontinuity' | 'interval' | 'change' | 'between' = 'between';

  constructor(readonly intervalFrames: number, readonly changeThreshold = 0) {}

  /** Decide for the next frame; `thumb` is needed only for the adaptive rule. */
  decide(thumb?: Thumb): boolean {
    let key = this.sinceKey >= this.intervalFrames;
    this.lastReason = key ? (this.sinceKey === Infinity ? 'discontinuity' : 'interval') : 'between';
    if (!key && this.changeThreshold > 0 && thumb && this.keyThumb) {
      this.lastChange = changeScore(thumb, this.keyThumb);
      key = this.lastChange > this.changeThreshold;
      if (key) this.lastReason = 'change';
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

export interface ReuseMode {
  readonly keyframeIntervalFrames: number;
  readonly keyframeChangeThreshold?: number;
  readonly nonKeyFrames?: 'shallow' | 'fuse' | 'propagate';
  /** Inference size (0 = the frame's). */
  readonly inputWidth?: number;
  readonly inputHeight?: number;
  /** Attach 1/8-resolution class scores to network outputs. */
  readonly scores?: boolean;
  /** Refine key frames' deep features with the model's temporal fuser (Model.segment `refine`; default true). */
  readonly refine?: boolean;
  /** Test-time augmentation of key frames (Model.segment `tta`; src/engine/tta.ts; default off). */
  readonly tta?: TtaSpec | undefined;
  /** The temporal fuser's cell; the model must have been loaded with it (loadModel `fuserCell`). Undefined: the model's own. */
  readonly fuserCell?: FuserCell | undefined;
}

/** What a reuse mode does with a frame, decided before the frame's pixels are needed. */
export class ReusePlanner {
  private readonly scheduler: KeyframeScheduler;
  /** Whether frames need a thumbnail (adaptive key frames, or propagation). */
  readonly needThumb: boolean;

  constructor(readonly mode: ReuseMode) {
    this.scheduler = new KeyframeScheduler(mode.keyframeIntervalFrames, mode.keyframeChangeThreshold ?? 0);
    this.needThumb = (mode.keyframeChangeThreshold ?? 0) > 0 || mode.nonKeyFrames === 'propagate';
  }

  /**
   * The next frame's thumbnail (when the mode uses one), whether it is a key
   * frame, and whether the network will need its pixels (not for a frame
   * whose labels are propagated: the first frame after a reset is always a
   * key frame, so a non-key frame always has labels to carry).
   */
  plan(rgb: Uint8Array, w: number, h: number): { thumb: Thumb | undefined; key: boolean; needsPixels: boolean } {
    const thumb = this.needThumb ? thumbnail(rgb, w, h) : undefined;
    const key = this.scheduler.decide(thumb);
    return { thumb, key, needsPixels: key || this.mode.nonKeyFrames !== 'propagate' };
  }

  reset(): void {
    this.scheduler.reset();
  }
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
  private readonly planner: ReusePlanner;
  private readonly propagator = new LabelPropagator();

  /** Throws when the mode needs a part the model does not have (`fuse` without a fuser). */
  constructor(readonly model: Model, readonly mode: ReuseMode) {
    if (mode.nonKeyFrames === 'fuse' && !model.hasFuser) {
      throw new Error(`nonKeyFrames 'fuse' needs a model with a temporal fuser; ${model.manifest.name} has none (manifest parts.fuser)`);
    }
    if (mode.fuserCell !== undefined && model.hasFuser && model.fuserCell !== mode.fuserCell) {
      throw new Error(`fuserCell '${mode.fuserCell}' asked for, but the model was loaded with its ${model.fuserCell} fuser (loadModel fuserCell)`);
    }
    this.planner = new ReusePlanner(mode);
  }

  async next(rgb: Uint8Array, w: number, h: number): Promise<{ classes: Uint8Array; scores?: ScoreMap | undefined; path: LabelPath }> {
    const { thumb, key } = this.planner.plan(rgb, w, h);
    return this.run(rgb, w, h, thumb, key);
  }

  /**
   * A frame planned elsewhere (ReusePlanner, e.g. on the thread that owns the
   * frames): `rgb` may be left out when the plan said the pixels are not needed.
   */
  async run(rgb: Uint8Array | undefined, w: number, h: number, thumb: Thumb | undefined, key: boolean): Promise<{ classes: Uint8Array; scores?: ScoreMap | undefined; path: LabelPath }> {
    let r: { classes: Uint8Array; scores?: ScoreMap | undefined; path: LabelPath };
    if (!key && this.mode.nonKeyFrames === 'propagate' && this.propagator.ready && thumb) {
      r = { classes: this.propagator.propagate(thumb), path: 'propagated' };
    } else {
      if (!rgb) throw new Error('segmenter: a frame planned without its pixels needs the network (no labels to carry)');
      r = await this.model.segment(rgb, w, h, { reuseDeep: !key, fuse: this.mode.nonKeyFrames === 'fuse', refine: this.mode.refine ?? true, tta: this.mode.tta, inW: this.mode.inputWidth, inH: this.mode.inputHeight, withScores: this.mode.scores });
    }
    if (thumb) this.propagator.set(thumb, r.classes, w, h);
    return r;
  }

  /** Discontinuity: forget kept features, the schedule and the labels to carry. */
  reset(): void {
    this.model.reset();
    this.planner.reset();
    this.propagator.reset();
  }
}

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
 *
 * ReuseSegmenter: the monolithic segmenter's frame loop (Model.segment).
 * FeatureFuser: the temporal-fuser node's, over a segmenter's `features`
 * handles — the same arithmetic as ReuseSegmenter's `fuse` mode, key-frame TTA
 * included, so the decomposed graph gives the monolithic segmenter's labels.
 */
import type { FuserCell } from './engine/engine.ts';
import type { Tensor4 } from './engine/engine.ts';
import type { Model } from './engine/model.ts';
import { upsampleArgmax } from '../kernels/upsample.ts';
import type { ModelFeatures } from './features.ts';
import { changeScore, thumbnail, type Thumb } from '../kernels/motion.ts';
import { LabelPropagator } from './propagation.ts';

export { LabelPropagator };
import type { LabelPath, ScoreMap } from '../core/packet.ts';
import { addScores, ttaViews, viewSize, type TtaSpec } from './engine/tta.ts';

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

/**
 * The temporal-fuser node's frame loop over a segmenter's features handles
 * (src/segmentation/features.ts), computing what Model.segment computes for
 * `nonKeyFrames: fuse`: on a key frame the state starts from its raw deep
 * features (with `refine`, passed once through the cell) and the head runs on
 * it; with key-frame TTA the other views (mirrored, other scales) also run
 * through the whole network — each refined by the same cell — and the class
 * scores of all views are averaged on the finest view's 1/8 grid before the
 * upsample and argmax, exactly as Model.segment does (the state kept for the
 * frames after stays the base view's). On other frames the cell updates the
 * state from the frame's shallow features and the head runs on it. A key
 * frame replaces the state; `reset()` (discontinuity) drops it.
 */
export class FeatureFuser {
  private state: { model: Model; t: Tensor4 } | undefined;

  /**
   * `tta`: the key-frame TTA, or `auto` for the one each key frame's handle
   * carries (the segmenter's `tta` option, resolved: the monolithic segmenter's).
   */
  constructor(readonly o: { readonly refine: boolean; readonly tta: TtaSpec | 'auto' }) {}

  /** The key-frame TTA this handle's key frame runs with. */
  ttaFor(f: ModelFeatures): TtaSpec | undefined {
    return this.o.tta === 'auto' ? f.tta : this.o.tta;
  }

  /**
   * Labels (at `outW` x `outH`) for one frame's features, `m` the model with
   * this fuser's cell (the handle's own, or one loaded with the cell);
   * undefined for a non-key frame with no state (its key frame was lost).
   * `views`: extra TTA views run (0 off key frames).
   */
  async step(f: ModelFeatures, m: Model, outW: number, outH: number): Promise<{ classes: Uint8Array; path: 'full' | 'fused'; views: number } | undefined> {
    if (f.deep) {
      this.reset();
      this.state = { model: m, t: await m.keyState(f.high, f.deep, this.o.refine) };
      const tta = this.ttaFor(f);
      const views = tta ? ttaViews(tta).slice(1) : [];
      if (!views.length) return { classes: await m.labelsFrom(f.high, this.state.t, outW, outH), path: 'full', views: 0 };
      if (!f.rgb) throw new Error('temporal-fuser: key-frame TTA needs the frame\'s pixels on its features handle (a two-branch-segmenter\'s features port)');
      return { classes: await this.ttaLabels(f, m, this.state.t, views, outW, outH), path: 'full', views: views.length };
    }
    if (!this.state) return undefined;
    const next = await m.fuseStep(f.high, this.state.t);
    this.reset();
    this.state = { model: m, t: next };
    return { classes: await m.labelsFrom(f.high, next, outW, outH), path: 'fused', views: 0 };
  }

  /** Model.segment's TTA average, on a key frame whose base state (`state`) the fuser made. */
  private async ttaLabels(f: ModelFeatures, m: Model, state: Tensor4, views: ReturnType<typeof ttaViews>, outW: number, outH: number): Promise<Uint8Array> {
    const e = m.engine;
    const { data: rgb, width: w, height: h } = f.rgb!;
    const scores = await m.head(f.high, state);
    try {
      const [, c, bh, bw] = scores.dims;
      const big = Math.max(...views.map((v) => v.scale));
      const fine = big > 1 ? viewSize(f.inW, f.inH, big) : undefined;
      const sh = fine ? fine.h / 8 : bh;
      const sw = fine ? fine.w / 8 : bw;
      const acc = new Float32Array(c * sh * sw);
      addScores(acc, sh, sw, await e.read(scores), c, bh, bw, false);
      for (const v of views) {
        await m.addView(acc, sh, sw, rgb, w, h, f.inW, f.inH, v.scale, v.flip, this.o.refine);
        m.ttaViewRuns++;
      }
      const inv = 1 / (views.length + 1);
      for (let i = 0; i < acc.length; i++) acc[i]! *= inv;
      return upsampleArgmax(acc, c, sh, sw, outH, outW);
    } finally {
      e.release(scores);
    }
  }

  /** Drop the state (discontinuity, close). */
  reset(): void {
    this.state?.model.engine.release(this.state.t);
    this.state = undefined;
  }
}

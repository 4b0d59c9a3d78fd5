/**
 * two-branch-segmenter — Fast-SCNN semantic segmentation (models/<model>).
 *
 * Ports: in `frame`, out `labels` (class ids at the frame's size, with the
 * model's class names and palette). Inference runs at `inputWidth` x
 * `inputHeight` (0 = the frame's own size, fitted down to the model's scale —
 * its longer side to the model's, 480 px — when larger: a downsampler in front
 * is cheaper, but a frame fed straight from a 1080p decoder is not run at
 * four times the scale the network was trained at). Key frames run the whole network:
 * every `keyframeIntervalFrames`-th frame, earlier when the picture changed by
 * more than `keyframeChangeThreshold` (mean absolute gray difference 0..255
 * against the last key frame; 0 = off), and always after a discontinuity
 * (start, seek, reconnect, new file). Other frames take the cheaper
 * `nonKeyFrames` path: `shallow` runs only the high-resolution branch and
 * reuses the deep features of the last key frame; `fuse` also runs the
 * temporal fuser — a small ConvGRU (or, with `fuserCell: lstm`, ConvLSTM) at
 * 1/32 whose recurrent state stands in for the deep features, updated from
 * each frame's shallow features (the model must have one: manifest
 * `parts.fuser`, `fusers.lstm`); `propagate` runs no network at all
 * and carries the previous labels along block-matching motion. A
 * discontinuity resets every kept state. With `refine` (the default), a key
 * frame's deep features also pass once through the temporal fuser before the
 * head — a learned refinement trained on the frozen network (+4.3 val mIoU for
 * the default model, ~3 % more MACs); a model without a fuser runs without it.
 * `tta` adds test-time augmentation on key frames only (src/engine/tta.ts):
 * the network also runs on other views of the frame (scales, mirrored) and
 * the 1/8 class scores are averaged; non-key frames are untouched and reuse
 * the base view's deep features. The default `auto` runs views at 1 and 1.5x
 * (+3.0 val mIoU for 3.25x a key frame's MACs; +4.8 at 270x360, the scale of a
 * 16:9 frame at 480x270) where key frames come at most
 * every 10th frame (`keyframeIntervalFrames` ≥ 10: the offline job), where
 * the extra cost is spread over the frames between, and none otherwise (a
 * live graph's key frame must fit one frame's time).
 * Engines: `onnx` (onnxruntime-node, default) or `tfjs`. With `thread` (the
 * default) all of this runs in a worker thread (src/thread/segmenter.ts), two
 * frames in flight, so the JS thread keeps decoding, blending and encoding
 * while the network runs; `thread: false` runs it on the JS thread, and so
 * does a segmenter in an executor (a worker thread of its own already).
 *
 * Decomposed (graphs/dashcam-offline.yaml; the live graphs take only the
 * scheduler's `keyframes`, behind a freshest queue): frames marked by a
 * `keyframe-scheduler` (`Frame.key`) are segmented as marked — the scheduler
 * decides, not `keyframeIntervalFrames`: key frames run the whole network,
 * frames marked `shallow` the shallow branch with kept deep features, frames
 * marked `propagate` nothing at all (no labels: `label-propagation` makes
 * them; `tta: auto` resolves from the scheduler's interval), and frames marked `fuse` only the shallow branch when a
 * `temporal-fuser` takes the `features` port (else the model's own fused path).
 * Out `features` (a `features` port: an opaque handle to the frame's shallow
 * features, and on key frames its raw deep features, the frame's pixels and
 * its key-frame TTA — so the fuser runs the same views as `labels` would get —
 * with the model itself,
 * valid only inside the segmenter's executor) feeds a `temporal-fuser`; when
 * `labels` is not wired, key frames run only shallow + deep (the fuser runs
 * the head). Marked frames need the segmenter in this thread: in an executor
 * (`executor:` in the graph) or with `thread: false`.
 *
 * ```yaml
 * segment: { type: two-branch-segmenter, options: { model: fast-scnn-camvid, keyframeIntervalFrames: 1 }, in: { frame: small.frame } }
 * ```
 */
import { defer, filter, map, share, type Observable } from 'rxjs';
import { z } from 'zod';
import { loadModel, DEFAULT_MODEL, type Manifest, type Model } from '../src/segmentation/engine/model.ts';
import type { Tensor4 } from '../src/segmentation/engine/engine.ts';
import { AUTO_TTA, AUTO_TTA_MIN_INTERVAL, DEFAULT_TTA, formatTta, isTtaOption, resolveTta, TTA_OPTION_MESSAGE, type TtaSpec } from '../src/segmentation/engine/tta.ts';

export { AUTO_TTA, DEFAULT_TTA, resolveTta };
import { defineNode } from '../src/core/node.ts';
import type { Features, Frame, Labels, ScoreMap } from '../src/core/packet.ts';
import { exclusive, FeatureRing, makeFeatures } from '../src/segmentation/features.ts';
import { ReuseSegmenter, type ReuseMode } from '../src/segmentation/temporal.ts';
import { ThreadedSegmenter, type ThreadInit } from '../src/segmentation/thread/segmenter.ts';
import { serial } from '../src/core/runtime/queue.ts';

const options = z.strictObject({
  model: z.string().min(1).default(DEFAULT_MODEL).describe('model name under models/ or a folder with manifest.json'),
  engine: z.enum(['onnx', 'tfjs']).default('onnx'),
  threads: z.number().int().min(0).max(256).default(0).describe('intra-op threads (0 = all cores)'),
  inputWidth: z.number().int().min(0).max(8192).default(0).describe("inference width in pixels (0 = the frame's, fitted down to the model's longer side, 480, when larger)"),
  inputHeight: z.number().int().min(0).max(8192).default(0).describe("inference height in pixels (0 = the frame's, fitted down to the model's longer side, 480, when larger)"),
  keyframeIntervalFrames: z.number().int().min(1).max(1000).default(1).describe('a key frame at least every N frames (1 = every frame)'),
  keyframeChangeThreshold: z.number().min(0).max(255).default(0).describe('force a key frame when the mean gray change since the last one exceeds this (0 = off)'),
  nonKeyFrames: z.enum(['shallow', 'fuse', 'propagate']).default('shallow').describe('cheaper path for non-key frames'),
  scores: z.boolean().default(false).describe('attach 1/8-resolution class scores to the labels (for fusers)'),
  refine: z.boolean().default(true).describe("pass each key frame's deep features once through the model's temporal fuser (a learned refinement: +4.3 val mIoU for the default model; no effect for a model without a fuser)"),
  tta: z
    .string()
    .default(DEFAULT_TTA)
    .refine(isTtaOption, { message: TTA_OPTION_MESSAGE })
    .describe(`test-time augmentation of key frames: class scores at 1/8 averaged over views (auto | off | flip | scales | flip+scales | a list of scales, see src/engine/tta.ts); auto = ${AUTO_TTA} when keyframeIntervalFrames ≥ ${AUTO_TTA_MIN_INTERVAL}, else off`),
  fuserCell: z.enum(['gru', 'lstm']).optional().describe("the temporal fuser's cell (for nonKeyFrames fuse and refine): gru or lstm (manifest parts.fuser or fusers.<cell>); default: the model's own (the default model's is gru)"),
  thread: z.boolean().default(true).describe('run the network and label propagation in a worker thread (not needed in an executor, which is one)'),
});

interface FrameSegmenter {
  next(rgb: Uint8Array, w: number, h: number, reset: boolean): Promise<{ classes: Uint8Array; path: Labels['path']; scores?: Labels['scores'] }>;
  close(): Promise<void>;
  /** Running in this thread: the model and its reuse state (for marked frames and features). */
  readonly local?: { readonly model: Model; readonly reuse: ReuseSegmenter } | undefined;
}

/** What the segmenter's thread is started with. */
function threadInit(o: z.infer<typeof options>): ThreadInit {
  return { model: o.model, engine: o.engine, threads: o.threads, mode: { ...o, tta: resolveTta(o.tta, o.keyframeIntervalFrames) } };
}

/** The executor (src/core/executor.ts) whose thread this is, if any. */
const executor = () => (globalThis as { segflowExecutor?: string }).segflowExecutor;

/** The ReuseSegmenter in a worker thread, or on this thread (also in an executor's thread: one already). */
async function openSegmenter(o: z.infer<typeof options>): Promise<{ seg: FrameSegmenter; manifest: Manifest; where: string }> {
  const mode: ReuseMode = { ...o, tta: resolveTta(o.tta, o.keyframeIntervalFrames) };
  if (o.thread && executor() === undefined) {
    const t = await ThreadedSegmenter.open(threadInit(o));
    return { seg: t, manifest: t.manifest, where: `${t.engine}/${t.backend} (worker thread, started from ${t.boot === 'bundle' ? 'its bundle' : 'tsx'})` };
  }
  const model = await loadModel({ model: o.model, engine: o.engine, threads: o.threads, fuserCell: o.fuserCell });
  let reuse: ReuseSegmenter;
  try {
    reuse = new ReuseSegmenter(model, mode);
  } catch (e) {
    await model.dispose();
    throw e;
  }
  const seg: FrameSegmenter = {
    next: async (rgb, w, h, reset) => {
      if (reset) reuse.reset();
      return reuse.next(rgb, w, h);
    },
    close: () => model.dispose(),
    local: { model, reuse },
  };
  return { seg, manifest: model.manifest, where: `${model.engine.name}/${model.engine.backend}${executor() === undefined ? '' : ` (in executor ${executor()}'s thread, started from ${(globalThis as { segflowThreadBoot?: string }).segflowThreadBoot === 'tsx' ? 'tsx' : 'compiled JavaScript'})`}` };
}

export const twoBranchSegmenter = defineNode({
  type: 'two-branch-segmenter',
  description: 'Fast-SCNN segmentation with deep-feature reuse between key frames',
  role: 'transform',
  inputs: { frame: 'frame' },
  outputs: { labels: 'labels', features: 'features' },
  options,
  // The model starts loading in its thread as soon as the graph is known (ThreadedSegmenter.prewarm).
  warm(o) {
    if (!o.thread) return undefined;
    const init = threadInit(o);
    ThreadedSegmenter.prewarm(init);
    return () => ThreadedSegmenter.dropPrewarmed(init);
  },
  async open(ctx) {
    const o = ctx.options;
    const { seg, manifest, where } = await openSegmenter(o);
    const tta = resolveTta(o.tta, o.keyframeIntervalFrames);
    ctx.log(`model ${manifest.name} on ${where}; key-frame TTA ${formatTta(tta)}${o.tta === 'auto' ? ' (auto; frames marked by a keyframe-scheduler: from its interval)' : ''}`);
    const ring = new FeatureRing();
    const count = (path: string) => ctx.metrics.count('segmenter_path_total', { node: ctx.name, path }, 1, 'Frames by network path (full = key frame).');
    return {
      process: ({ frame }) => {
        // Which outputs are wired (subscribed before the first frame): work nobody takes is skipped.
        let labelsWanted = false;
        let featuresWanted = false;
        const labelsOf = (f: Frame, classes: Uint8Array, path: Labels['path'], scores?: ScoreMap): Labels => Object.freeze({
          kind: 'labels', source: f.source, seq: f.seq, ptsMs: f.ptsMs, discontinuity: f.discontinuity,
          width: f.width, height: f.height, classes, classNames: manifest.classes, palette: manifest.palette, path, scores,
        });
        const featuresOf = (f: Frame, model: Model, high: Tensor4, deep: Tensor4 | undefined, keyTta?: TtaSpec): Features => {
          // Key frames also carry the pixels and the key-frame TTA: a temporal-fuser runs the TTA views as segment() does.
          const { inW, inH } = model.inferenceSize(f.width, f.height, o.inputWidth, o.inputHeight);
          const handle = makeFeatures(model, high, deep, inW, inH, keyTta && { rgb: f, tta: keyTta });
          ring.add(handle);
          return Object.freeze({ kind: 'features', source: f.source, seq: f.seq, ptsMs: f.ptsMs, discontinuity: f.discontinuity, width: f.width, height: f.height, handle });
        };
        /** A frame marked by a keyframe-scheduler: segmented as marked. */
        const marked = async (f: Frame): Promise<{ labels?: Labels; features?: Features }> => {
          if (!seg.local) throw new Error(`${ctx.name}: frames marked by a keyframe-scheduler need the segmenter in this thread: give it the scheduler's executor (executor: <name>) or set thread: false`);
          const { model, reuse } = seg.local;
          const m = f.key!;
          if (f.discontinuity) reuse.reset();
          if (!m.key && m.path === 'propagate') return {}; // no network: label-propagation labels it
          // `tta: auto` resolves from the scheduler's interval (sparse key frames: TTA), as it does from keyframeIntervalFrames unmarked.
          const keyTta = o.tta === 'auto' ? resolveTta('auto', m.intervalFrames) : tta;
          if (!labelsWanted && featuresWanted && (m.key || m.path === 'fuse')) {
            // Features only (a temporal-fuser runs the head): key frames shallow + deep, others shallow.
            const high = await model.shallowFeatures(f.data, f.width, f.height, o.inputWidth, o.inputHeight);
            let deep: Tensor4 | undefined;
            try {
              if (m.key) deep = await model.deepFeatures(high);
            } catch (e) {
              model.engine.release(high);
              throw e;
            }
            count(m.key ? 'full' : 'features');
            return { features: featuresOf(f, model, high, deep, keyTta) };
          }
          const r = await model.segment(f.data, f.width, f.height, { reuseDeep: !m.key, fuse: m.path === 'fuse', refine: o.refine, tta: keyTta, inW: o.inputWidth, inH: o.inputHeight, withScores: o.scores, features: featuresWanted });
          count(r.path);
          return { labels: labelsOf(f, r.classes, r.path, r.scores), features: r.features ? featuresOf(f, model, r.features.high, r.features.deep, keyTta) : undefined };
        };
        const results = (frame as Observable<Frame>).pipe(serial(ctx.queue('frame'), async (f: Frame): Promise<{ labels?: Labels; features?: Features }> => {
          let out: { labels?: Labels; features?: Features };
          if (f.key) {
            out = await (seg.local ? exclusive(seg.local.model, () => marked(f)) : marked(f)); // the model is shared with a temporal-fuser
          } else {
            const r = await seg.next(f.data, f.width, f.height, f.discontinuity !== undefined);
            count(r.path);
            out = { labels: labelsOf(f, r.classes, r.path, r.scores) };
          }
          return out;
        }, seg.local ? 1 : 2), share());
        return {
          labels: defer(() => {
            labelsWanted = true;
            return results;
          }).pipe(filter((r) => r.labels !== undefined), map((r) => r.labels!)),
          features: defer(() => {
            featuresWanted = true;
            return results;
          }).pipe(filter((r) => r.features !== undefined), map((r) => r.features!)),
        };
      },
      close: async () => {
        ring.clear();
        await seg.close();
      },
    };
  },
});

/**
 * two-branch-segmenter — Fast-SCNN semantic segmentation (models/<model>).
 *
 * Ports: in `frame`, out `labels` (class ids at the frame's size, with the
 * model's class names and palette). Inference runs at `inputWidth` x
 * `inputHeight` (0 = the frame's own size). Key frames run the whole network:
 * every `keyframeIntervalFrames`-th frame, earlier when the picture changed by
 * more than `keyframeChangeThreshold` (mean absolute gray difference 0..255
 * against the last key frame; 0 = off), and always after a discontinuity
 * (start, seek, reconnect, new file). Other frames take the cheaper
 * `nonKeyFrames` path: `shallow` runs only the high-resolution branch and
 * reuses the deep features of the last key frame; `propagate` runs no network
 * at all and carries the previous labels along block-matching motion.
 * Engines: `onnx` (onnxruntime-node, default) or `tfjs`.
 *
 * ```yaml
 * segment: { type: two-branch-segmenter, options: { model: fast-scnn-camvid, keyframeIntervalFrames: 1 }, in: { frame: small.frame } }
 * ```
 */
import { z } from 'zod';
import { loadModel, DEFAULT_MODEL } from '../src/engine/model.ts';
import { defineNode } from '../src/node.ts';
import type { Frame, Labels } from '../src/packet.ts';
import { ReuseSegmenter } from '../src/temporal.ts';
import { serial } from '../src/runtime/queue.ts';

const options = z.strictObject({
  model: z.string().min(1).default(DEFAULT_MODEL).describe('model name under models/ or a folder with manifest.json'),
  engine: z.enum(['onnx', 'tfjs']).default('onnx'),
  threads: z.number().int().min(0).max(256).default(0).describe('intra-op threads (0 = all cores)'),
  inputWidth: z.number().int().min(0).max(8192).default(0).describe('inference width in pixels (0 = frame width)'),
  inputHeight: z.number().int().min(0).max(8192).default(0).describe('inference height in pixels (0 = frame height)'),
  keyframeIntervalFrames: z.number().int().min(1).max(1000).default(1).describe('a key frame at least every N frames (1 = every frame)'),
  keyframeChangeThreshold: z.number().min(0).max(255).default(0).describe('force a key frame when the mean gray change since the last one exceeds this (0 = off)'),
  nonKeyFrames: z.enum(['shallow', 'propagate']).default('shallow').describe('cheaper path for non-key frames'),
  scores: z.boolean().default(false).describe('attach 1/8-resolution class scores to the labels (for fusers)'),
});

export const twoBranchSegmenter = defineNode({
  type: 'two-branch-segmenter',
  description: 'Fast-SCNN segmentation with deep-feature reuse between key frames',
  role: 'transform',
  inputs: { frame: 'frame' },
  outputs: { labels: 'labels' },
  options,
  async open(ctx) {
    const o = ctx.options;
    const model = await loadModel({ model: o.model, engine: o.engine, threads: o.threads });
    const m = model.manifest;
    const reuse = new ReuseSegmenter(model, o);
    ctx.log(`model ${m.name} on ${model.engine.name}/${model.engine.backend}`);
    return {
      process: ({ frame }) => ({
        labels: frame!.pipe(serial(ctx.queue('frame'), async (f: Frame): Promise<Labels> => {
          const t0 = performance.now();
          if (f.discontinuity) reuse.reset();
          const r = await reuse.next(f.data, f.width, f.height);
          ctx.metrics.count('segmenter_path_total', { node: ctx.name, path: r.path }, 1, 'Frames by network path (full = key frame).');
          ctx.stats.observe(performance.now() - t0);
          return Object.freeze({
            kind: 'labels', source: f.source, seq: f.seq, ptsMs: f.ptsMs, discontinuity: f.discontinuity,
            width: f.width, height: f.height, classes: r.classes, classNames: m.classes, palette: m.palette,
            path: r.path, scores: r.scores,
          });
        })),
      }),
      close: () => model.dispose(),
    };
  },
});

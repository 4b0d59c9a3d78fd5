/**
 * two-branch-segmenter — Fast-SCNN semantic segmentation (models/<model>).
 *
 * Ports: in `frame`, out `labels` (class ids at the frame's size, with the
 * model's class names and palette). Inference runs at `inputWidth` x
 * `inputHeight` (0 = the frame's own size). Every `keyframeIntervalFrames`-th
 * frame runs the whole network (a key frame); the others run only the shallow
 * high-resolution branch and reuse the deep branch's features from the last
 * key frame. A discontinuity (start, seek, reconnect, new file) forces a key
 * frame. Engines: `onnx` (onnxruntime-node, default) or `tfjs`.
 *
 * ```yaml
 * segment: { type: two-branch-segmenter, options: { model: fast-scnn-camvid, keyframeIntervalFrames: 1 }, in: { frame: small.frame } }
 * ```
 */
import { z } from 'zod';
import { loadModel, DEFAULT_MODEL } from '../src/engine/model.ts';
import { defineNode } from '../src/node.ts';
import type { Frame, Labels } from '../src/packet.ts';
import { serial } from '../src/runtime/queue.ts';

const options = z.strictObject({
  model: z.string().min(1).default(DEFAULT_MODEL).describe('model name under models/ or a folder with manifest.json'),
  engine: z.enum(['onnx', 'tfjs']).default('onnx'),
  threads: z.number().int().min(0).max(256).default(0).describe('intra-op threads (0 = all cores)'),
  inputWidth: z.number().int().min(0).max(8192).default(0).describe('inference width in pixels (0 = frame width)'),
  inputHeight: z.number().int().min(0).max(8192).default(0).describe('inference height in pixels (0 = frame height)'),
  keyframeIntervalFrames: z.number().int().min(1).max(1000).default(1).describe('run the deep branch every N frames (1 = every frame)'),
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
    let sinceKey = Infinity;
    ctx.log(`model ${m.name} on ${model.engine.name}/${model.engine.backend}`);
    return {
      process: ({ frame }) => ({
        labels: frame!.pipe(serial(ctx.queue('frame'), async (f: Frame): Promise<Labels> => {
          const t0 = performance.now();
          if (f.discontinuity) {
            model.reset();
            sinceKey = Infinity;
          }
          const key = sinceKey >= o.keyframeIntervalFrames;
          const r = await model.segment(f.data, f.width, f.height, {
            reuseDeep: !key, inW: o.inputWidth, inH: o.inputHeight, withScores: o.scores,
          });
          sinceKey = r.path === 'full' ? 1 : sinceKey + 1;
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

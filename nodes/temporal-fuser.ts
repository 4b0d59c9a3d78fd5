/**
 * temporal-fuser — labels for every frame from the segmenter's features and a
 * recurrent state: a trained ConvLSTM (`cell: lstm`, models/<model>/fuser-lstm.onnx)
 * or ConvGRU (`cell: gru`, fuser.onnx) at 1/32 of the inference size.
 *
 * Ports: in `features` (a `two-branch-segmenter`'s `features` port, in the
 * same executor: the handle is only valid in the thread that made it), out
 * `labels` (one per features packet, at the frame's size). On a key frame the
 * state starts again from the frame's deep features (with `refine`, passed
 * once through the cell, as the segmenter's key frames are); on other frames
 * the cell updates the state from the frame's shallow features alone — the
 * deep branch never runs — and the model's head turns state and shallow
 * features into labels (path `fused`). A discontinuity or a key frame resets
 * the state; a non-key frame with no state (its key frame was lost upstream)
 * gets no labels. Key frames get test-time augmentation as the monolithic
 * segmenter's (`tta`; src/segmentation/engine/tta.ts): the other views
 * (scales, mirrored) of the frame run through the whole network, each refined
 * by the cell, and the 1/8 class scores of all views are averaged before the
 * argmax; the state carried to the next frames stays the base view's. The
 * default `auto` takes the segmenter's key-frame TTA (its `tta` option, whose
 * own `auto` resolves from the scheduler's interval: views at 1 and 1.5x
 * where key frames come at most every 10th frame, none otherwise), so the
 * decomposed graph's labels equal the monolithic segmenter's with the same
 * options (src/segmentation/temporal.ts FeatureFuser; test/temporal-fuser.test.ts). The head, and the cell when the segmenter's model was
 * loaded with the same one (its `fuserCell`), are the segmenter's own model
 * instance, shared inside the executor; another cell loads the model once
 * more, with that cell, at the first frame (logged).
 *
 * ```yaml
 * keys:    { type: keyframe-scheduler, executor: seg, options: { keyframeIntervalFrames: 5, nonKeyFrames: fuse }, in: { frame: small.frame } }
 * segment: { type: two-branch-segmenter, executor: seg, options: { fuserCell: lstm }, in: { frame: keys.frame } }
 * fuse:    { type: temporal-fuser, executor: seg, options: { cell: lstm }, in: { features: segment.features } }
 * ```
 */
import type { Observable } from 'rxjs';
import { z } from 'zod';
import { loadModel, type Model } from '../src/segmentation/engine/model.ts';
import { defineNode } from '../src/core/node.ts';
import type { Features, Labels } from '../src/core/packet.ts';
import { serial } from '../src/core/runtime/queue.ts';
import { exclusive, openFeatures } from '../src/segmentation/features.ts';
import { FeatureFuser } from '../src/segmentation/temporal.ts';
import { formatTta, isTtaOption, parseTta, TTA_OFF, TTA_OPTION_MESSAGE } from '../src/segmentation/engine/tta.ts';

const options = z.strictObject({
  cell: z.enum(['lstm', 'gru']).default('lstm').describe("the recurrent cell: lstm (ConvLSTM, the model's fusers.lstm) or gru (ConvGRU, parts.fuser)"),
  refine: z.boolean().default(true).describe("pass each key frame's deep features once through the cell before the head (as the segmenter's refine)"),
  tta: z
    .string()
    .default('auto')
    .refine(isTtaOption, { message: TTA_OPTION_MESSAGE })
    .describe(`test-time augmentation of key frames (scores at 1/8 averaged over views, each refined by the cell): auto (the segmenter's key-frame TTA, as the monolithic segmenter runs it) | off | flip | scales | flip+scales | a list of scales`),
  threads: z.number().int().min(0).max(256).default(0).describe('intra-op threads of a model loaded for another cell (0 = all cores)'),
});

export const temporalFuser = defineNode({
  type: 'temporal-fuser',
  description: 'ConvLSTM / ConvGRU temporal fuser: labels for every frame from shallow features and a recurrent state',
  role: 'transform',
  inputs: { features: 'features' },
  outputs: { labels: 'labels' },
  options,
  async open(ctx) {
    const o = ctx.options;
    let own: Model | undefined; // loaded only when the segmenter's model has another cell
    const fuser = new FeatureFuser({ refine: o.refine, tta: o.tta === 'auto' ? 'auto' : parseTta(o.tta) });
    let ttaLogged: string | undefined;
    const cellModel = async (m: Model): Promise<Model> => {
      if (m.fuserCell === o.cell) return m;
      if (!own) {
        ctx.log(`the segmenter's model has ${m.fuserCell ?? 'no'} fuser; loading ${m.manifest.name} with its ${o.cell} fuser (set the segmenter's fuserCell: ${o.cell} to share one instance)`);
        own = await loadModel({ model: m.dir, engine: m.engine.name, threads: o.threads, fuserCell: o.cell });
      }
      return own;
    };
    return {
      process: ({ features }) => ({
        labels: (features as Observable<Features>).pipe(serial(ctx.queue('features'), async (x: Features): Promise<Labels | undefined> => {
          if (x.discontinuity) fuser.reset();
          const f = openFeatures(x.handle);
          const m = await cellModel(f.model);
          if (f.deep) {
            const tta = formatTta(fuser.ttaFor(f) ?? TTA_OFF);
            if (tta !== ttaLogged) ctx.log(`key-frame TTA ${tta}${o.tta === 'auto' ? " (auto: the segmenter's)" : ''}`);
            ttaLogged = tta;
          }
          const r = await exclusive(m, () => fuser.step(f, m, x.width, x.height)); // the segmenter's model: one call at a time
          if (!r) {
            ctx.metrics.count('fuser_frames_without_state_total', { node: ctx.name }, 1, 'Non-key frames with no state to fuse (their key frame was lost upstream): no labels.');
            return undefined;
          }
          ctx.metrics.count('fuser_path_total', { node: ctx.name, path: r.path }, 1, 'Frames by fuser path (full = key frame, fused = the cell alone).');
          if (r.views) ctx.metrics.count('fuser_tta_views_total', { node: ctx.name }, r.views, 'Extra test-time-augmentation views run on key frames (each a whole network pass).');
          return Object.freeze({
            kind: 'labels', source: x.source, seq: x.seq, ptsMs: x.ptsMs, discontinuity: x.discontinuity,
            width: x.width, height: x.height, classes: r.classes, classNames: m.manifest.classes, palette: m.manifest.palette, path: r.path,
          });
        }, 1)),
      }),
      async close() {
        fuser.reset();
        await own?.dispose();
        own = undefined;
      },
    };
  },
});

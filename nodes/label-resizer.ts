/**
 * label-resizer — brings label maps from the model's size back to the video's
 * size, and gives them the graph's palette.
 *
 * Ports: in `labels` (from a segmenter fed by a downsampler), in `frame` (the
 * decoder's frames: their size, or the size of the video they were scaled
 * from, is the target; the runtime joins the two by seq, and a frame whose
 * labels were dropped upstream is dropped, counted in
 * `node_unmatched_total`), out `labels`. With `size: video` (the
 * default) each label map is resized nearest-neighbour with pixel centres
 * aligned — the exact inverse of the downsampler's resize, so every label
 * lands on the pixels it was computed from (480x270 → 960x540 doubles each
 * label; a 4:3 480x360 → 640x480 likewise keeps its shape). `size: model`
 * passes the model's size through. `palette` replaces colours of the model's
 * classes by name (`[r, g, b]` or `"#rrggbb"`); overlays, colour masks,
 * legends and `classes.json` downstream all use it. A name that is not one of
 * the model's classes is an error naming the classes. The resize is the
 * operator src/segmentation/operators/resize-label-maps.ts.
 *
 * ```yaml
 * labels: { type: label-resizer, options: { size: video, palette: { Road: "#804080", Car: [255, 0, 0] } },
 *           in: { labels: segment.labels, frame: decode.frame } }
 * ```
 */
import { z } from 'zod';
import { defineNode } from '../src/core/node.ts';
import { resizeLabelMaps } from '../src/segmentation/operators/resize-label-maps.ts';

const byte = z.number().int().min(0).max(255);
const colour = z.union([
  z.tuple([byte, byte, byte]),
  z.string().regex(/^#[0-9a-fA-F]{6}$/, 'expected "#rrggbb"').transform((s): [number, number, number] => [
    parseInt(s.slice(1, 3), 16), parseInt(s.slice(3, 5), 16), parseInt(s.slice(5, 7), 16),
  ]),
], { error: 'expected a colour: [r, g, b] (0..255 each) or "#rrggbb" (quote it on a command line: # starts a YAML comment)' });

const options = z.strictObject({
  size: z.enum(['video', 'model']).default('video').describe("label maps at the video's size, or at the model's"),
  palette: z.record(z.string().min(1), colour).default({}).describe('class name → colour ([r, g, b] or "#rrggbb"), replacing the model\'s'),
});

export const labelResizer = defineNode({
  type: 'label-resizer',
  description: "Label maps at the video's size (exact inverse of the downsampler), with the graph's palette",
  role: 'transform',
  inputs: { labels: 'labels', frame: 'frame' },
  optionalInputs: ['frame'],
  join: { ports: ['frame', 'labels'] },
  outputs: { labels: 'labels' },
  options,
  yuv: { takes: ['frame'] },
  async open(ctx) {
    const o = ctx.options;
    return {
      // Without a frame wired, records hold labels alone. A frame whose labels were dropped upstream
      // is released when a later label map arrives, so nothing big is held.
      process: ({ joined }) => ({ labels: joined.pipe(resizeLabelMaps({ size: o.size, palette: o.palette, where: ctx.name })) }),
      async close() {},
    };
  },
});

/**
 * overlay — blends a label map's palette colours onto frames.
 *
 * Ports: in `frame` (full-size video), in `labels` (any size; sampled
 * nearest-neighbour to the frame), out `frame`. The runtime joins the two by
 * seq (`join`); a frame whose labels were dropped upstream (freshest edge) is
 * dropped too, counted in `node_unmatched_total`. Options: `alpha` (0..1, weight of the class
 * colour), `legend` (every class's swatch and name, in class order, at the
 * top-left corner: the same in every frame; src/kernels/legend.ts), `ignoreClasses`.
 * The blend is the operator src/media/operators/overlay-labels.ts.
 *
 * ```yaml
 * overlay: { type: overlay, options: { alpha: 0.5 }, in: { frame: decode.frame, labels: segment.labels } }
 * ```
 */
import { z } from 'zod';
import { defineNode } from '../src/core/node.ts';
import { overlayLabels } from '../src/media/operators/overlay-labels.ts';

const options = z.strictObject({
  alpha: z.number().min(0).max(1).default(0.5).describe('weight of the class colour, 0..1'),
  legend: z.boolean().default(false).describe('draw every class (colour swatch and name, in class order) at the top-left corner'),
  ignoreClasses: z.array(z.number().int().min(0).max(255)).default([]).describe('class ids left unpainted'),
});

export const overlay = defineNode({
  type: 'overlay',
  description: 'Blend class colours onto frames',
  role: 'transform',
  inputs: { frame: 'frame', labels: 'labels' },
  join: { ports: ['frame', 'labels'] },
  outputs: { frame: 'frame' },
  options,
  yuv: { takes: ['frame'], passes: { frame: 'frame' } },
  async open(ctx) {
    return {
      process: ({ joined }) => ({ frame: joined.pipe(overlayLabels(ctx.options)) }),
      async close() {},
    };
  },
});

/**
 * downsampler — resizes frames (bilinear) for a model's input.
 *
 * Ports: in `frame`, out `frame`. By default the frame's longer side becomes
 * `longSidePx` (480) pixels and the aspect ratio is kept (960x540 → 480x270,
 * a 4:3 640x480 → 480x360, portrait 1080x1920 → 270x480), so labels computed
 * on it map back onto the full-size frame exactly (label-resizer); with both
 * `width` and `height`, frames are stretched to exactly that size. The output keeps the input's
 * source, seq, timestamp and discontinuity mark, so it joins back with
 * full-size frames. Frames already at the target size pass through unchanged
 * (no copy). The resize is the operator src/media/operators/downsample-frames.ts.
 *
 * ```yaml
 * small: { type: downsampler, options: { longSidePx: 480 }, in: { frame: decode.frame } }
 * ```
 */
import { z } from 'zod';
import { defineNode } from '../src/core/node.ts';
import { downsampleFrames } from '../src/media/operators/downsample-frames.ts';

const options = z.strictObject({
  longSidePx: z.number().int().min(16).max(8192).default(480)
    .describe("fit the frame's longer side to this many pixels, keeping the aspect ratio (unless width and height are set)"),
  width: z.number().int().min(16).max(8192).optional().describe('output width in pixels: with height, an exact size (stretched)'),
  height: z.number().int().min(16).max(8192).optional().describe('output height in pixels: with width, an exact size (stretched)'),
}).refine((o) => (o.width === undefined) === (o.height === undefined), 'expected both width and height (an exact size) or neither (longSidePx fits the longer side)');

export const downsampler = defineNode({
  type: 'downsampler',
  description: 'Resize frames (bilinear), keeping the aspect ratio with longSidePx',
  role: 'transform',
  inputs: { frame: 'frame' },
  outputs: { frame: 'frame' },
  options,
  yuv: { takes: ['frame'] },
  async open(ctx) {
    return {
      process: ({ frame }) => ({ frame: frame.pipe(downsampleFrames(ctx.options)) }),
      async close() {},
    };
  },
});

/**
 * downsampler — resizes frames (bilinear) for a model's input.
 *
 * Ports: in `frame`, out `frame`. With `longSidePx` the frame's longer side
 * becomes that many pixels and the aspect ratio is kept (960x540 → 480x270,
 * a 4:3 640x480 → 480x360, portrait 1080x1920 → 270x480), so labels computed
 * on it map back onto the full-size frame exactly (label-resizer); without
 * it, frames are stretched to `width` x `height`. The output keeps the input's
 * source, seq, timestamp and discontinuity mark, so it joins back with
 * full-size frames. Frames already at the target size pass through unchanged
 * (no copy).
 *
 * ```yaml
 * small: { type: downsampler, options: { longSidePx: 480 }, in: { frame: decode.frame } }
 * ```
 */
import { map } from 'rxjs';
import { z } from 'zod';
import { fitLongSide, resizeRgb } from '../src/image.ts';
import { defineNode } from '../src/node.ts';
import type { Frame } from '../src/packet.ts';

const options = z.strictObject({
  longSidePx: z.number().int().min(0).max(8192).default(0).refine((v) => v === 0 || v >= 16, 'expected 0 (off) or at least 16')
    .describe("fit the frame's longer side to this many pixels, keeping the aspect ratio (0 = stretch to width x height)"),
  width: z.number().int().min(16).max(8192).default(480).describe('output width in pixels (when longSidePx is 0)'),
  height: z.number().int().min(16).max(8192).default(360).describe('output height in pixels (when longSidePx is 0)'),
});

export const downsampler = defineNode({
  type: 'downsampler',
  description: 'Resize frames (bilinear), keeping the aspect ratio with longSidePx',
  role: 'transform',
  inputs: { frame: 'frame' },
  outputs: { frame: 'frame' },
  options,
  async open(ctx) {
    const o = ctx.options;
    const target = (f: Frame) => (o.longSidePx > 0 ? fitLongSide(f.width, f.height, o.longSidePx) : o);
    return {
      process: ({ frame }) => ({
        frame: frame!.pipe(map((f: Frame): Frame => {
          const { width, height } = target(f);
          if (f.width === width && f.height === height) return f;
          const t0 = performance.now();
          const out = Object.freeze({ ...f, width, height, data: resizeRgb(f.data, f.width, f.height, width, height) });
          ctx.stats.observe(performance.now() - t0);
          return out;
        })),
      }),
      async close() {},
    };
  },
});

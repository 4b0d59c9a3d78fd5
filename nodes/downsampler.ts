/**
 * downsampler — resizes frames (bilinear) to `width` x `height` pixels.
 *
 * Ports: in `frame`, out `frame`. The output keeps the input's source, seq,
 * timestamp and discontinuity mark, so it joins back with full-size frames.
 * Frames already at the target size pass through unchanged (no copy).
 *
 * ```yaml
 * small: { type: downsampler, options: { width: 480, height: 360 }, in: { frame: decode.frame } }
 * ```
 */
import { map } from 'rxjs';
import { z } from 'zod';
import { resizeRgb } from '../src/image.ts';
import { defineNode } from '../src/node.ts';
import type { Frame } from '../src/packet.ts';

const options = z.strictObject({
  width: z.number().int().min(16).max(8192).default(480).describe('output width in pixels'),
  height: z.number().int().min(16).max(8192).default(360).describe('output height in pixels'),
});

export const downsampler = defineNode({
  type: 'downsampler',
  description: 'Resize frames (bilinear)',
  role: 'transform',
  inputs: { frame: 'frame' },
  outputs: { frame: 'frame' },
  options,
  async open(ctx) {
    const { width, height } = ctx.options;
    return {
      process: ({ frame }) => ({
        frame: frame!.pipe(map((f: Frame): Frame => {
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

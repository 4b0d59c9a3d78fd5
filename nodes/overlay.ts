/**
 * overlay — blends a label map's palette colours onto frames.
 *
 * Ports: in `frame` (full-size video), in `labels` (any size; sampled
 * nearest-neighbour to the frame), out `frame`. Joins the two by seq; a frame
 * whose labels were dropped upstream (freshest edge) is dropped too, counted
 * as `overlay_unmatched_total`. Options: `alpha` (0..1, weight of the class
 * colour), `legend` (draw a swatch per class present, top-left).
 *
 * ```yaml
 * overlay: { type: overlay, options: { alpha: 0.5 }, in: { frame: decode.frame, labels: segment.labels } }
 * ```
 */
import { map } from 'rxjs';
import { z } from 'zod';
import { wasmBlender } from '../src/blend-wasm.ts';
import { uninitialisedBytes } from '../src/image.ts';
import { defineNode } from '../src/node.ts';
import type { Frame, Labels } from '../src/packet.ts';
import { joinBySeq } from '../src/runtime/join.ts';

const options = z.strictObject({
  alpha: z.number().min(0).max(1).default(0.5).describe('weight of the class colour, 0..1'),
  legend: z.boolean().default(false).describe('draw a colour swatch per class present'),
  ignoreClasses: z.array(z.number().int().min(0).max(255)).default([]).describe('class ids left unpainted'),
});

export const overlay = defineNode({
  type: 'overlay',
  description: 'Blend class colours onto frames',
  role: 'transform',
  inputs: { frame: 'frame', labels: 'labels' },
  outputs: { frame: 'frame' },
  options,
  async open(ctx) {
    const { alpha, legend, ignoreClasses } = ctx.options;
    const a = Math.round(alpha * 256);
    return {
      process: ({ frame, labels }) => ({
        frame: joinBySeq<Frame, Labels>(frame!, labels!, () => ctx.metrics.count('overlay_unmatched_total', { node: ctx.name }, 1, 'Frames without labels (dropped upstream).')).pipe(
          map(([f, l]) => {
            const t0 = performance.now();
            const out = Object.freeze({ ...f, data: blend(f, l, a, ignoreClasses, legend) });
            ctx.stats.observe(performance.now() - t0);
            return out;
          }),
        ),
      }),
      async close() {},
    };
  },
});

/**
 * Per class and channel, the blended value for every source value:
 * lut[base[c] + ch * 256 + v] = (v * (256 - a) + palette[c][ch] * a) >> 8.
 * Classes without a colour, and ignored ones, map to the identity table.
 */
function blendTable(palette: Labels['palette'], a: number, ignore: readonly number[]): { lut: Uint8Array; base: Int32Array } {
  const n = palette.length;
  const lut = new Uint8Array((n + 1) * 768);
  const b = 256 - a;
  for (let c = 0; c <= n; c++) {
    const col = c < n && !ignore.includes(c) ? palette[c]! : undefined;
    for (let ch = 0; ch < 3; ch++) {
      for (let v = 0; v < 256; v++) lut[c * 768 + ch * 256 + v] = col ? (v * b + col[ch]! * a) >> 8 : v;
    }
  }
  const base = new Int32Array(256).fill(n * 768);
  for (let c = 0; c < n; c++) base[c] = c * 768;
  return { lut, base };
}
let lastTable: { palette: Labels['palette']; a: number; ignore: string; t: ReturnType<typeof blendTable> } | undefined;

/** Blend palette colours (integer alpha out of 256) into a new RGB24 buffer. */
export function blend(f: Frame, l: Labels, a: number, ignore: readonly number[] = [], legend = false): Uint8Array {
  const { width: w, height: h } = f;
  const src = f.data;
  const dst = uninitialisedBytes(src.length); // every byte written below
  const key = ignore.join(',');
  if (!lastTable || lastTable.palette !== l.palette || lastTable.a !== a || lastTable.ignore !== key) {
    lastTable = { palette: l.palette, a, ignore: key, t: blendTable(l.palette, a, ignore) };
  }
  const { lut, base } = lastTable.t;
  const cls = l.classes;
  if (l.width === w && l.height === h && wasmBlender) {
    wasmBlender.blend(dst, src, cls, lut, base); // the same loop as below, ~4x faster
  } else if (l.width === w && l.height === h) {
    for (let i = 0, o = 0, n = w * h; i < n; i++, o += 3) {
      const k = base[cls[i]!]!;
      dst[o] = lut[k + src[o]!]!;
      dst[o + 1] = lut[k + 256 + src[o + 1]!]!;
      dst[o + 2] = lut[k + 512 + src[o + 2]!]!;
    }
  } else {
    // Labels at another size: nearest label for each pixel.
    const xs = new Int32Array(w);
    for (let x = 0; x < w; x++) xs[x] = Math.min(l.width - 1, Math.floor(((x + 0.5) * l.width) / w));
    for (let y = 0; y < h; y++) {
      const row = Math.min(l.height - 1, Math.floor(((y + 0.5) * l.height) / h)) * l.width;
      for (let x = 0, o = y * w * 3; x < w; x++, o += 3) {
        const k = base[cls[row + xs[x]!]!]!;
        dst[o] = lut[k + src[o]!]!;
        dst[o + 1] = lut[k + 256 + src[o + 1]!]!;
        dst[o + 2] = lut[k + 512 + src[o + 2]!]!;
      }
    }
  }
  if (legend) {
    const present = new Uint8Array(256);
    for (let i = 0; i < cls.length; i++) present[cls[i]!] = 1;
    const s = Math.max(8, Math.round(h / 40));
    let k = 0;
    for (let c = 0; c < l.palette.length; c++) {
      if (!present[c]) continue;
      const y0 = 4 + k++ * (s + 2);
      for (let y = y0; y < Math.min(h, y0 + s); y++) {
        for (let x = 4; x < Math.min(w, 4 + s); x++) dst.set(l.palette[c]!, (y * w + x) * 3);
      }
    }
  }
  return dst;
}

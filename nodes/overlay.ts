/**
 * overlay — blends a label map's palette colours onto frames.
 *
 * Ports: in `frame` (full-size video), in `labels` (any size; sampled
 * nearest-neighbour to the frame), out `frame`. The runtime joins the two by
 * seq (`join`); a frame whose labels were dropped upstream (freshest edge) is
 * dropped too, counted in `node_unmatched_total`. Options: `alpha` (0..1, weight of the class
 * colour), `legend` (every class's swatch and name, in class order, at the
 * top-left corner: the same in every frame; src/legend.ts), `ignoreClasses`.
 *
 * ```yaml
 * overlay: { type: overlay, options: { alpha: 0.5 }, in: { frame: decode.frame, labels: segment.labels } }
 * ```
 */
import { map } from 'rxjs';
import { z } from 'zod';
import { wasmBlender } from '../src/kernels/blend-wasm.ts';
import { labelsAt, uninitialisedBytes } from '../src/kernels/image.ts';
import { buildLegend, drawLegend, type Legend } from '../src/kernels/legend.ts';
import { defineNode } from '../src/core/node.ts';
import type { Frame, Labels } from '../src/core/packet.ts';
import { blendTables, simdKernels, type BlendTables } from '../src/kernels/simd.ts';

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
  async open(ctx) {
    const { alpha, legend, ignoreClasses } = ctx.options;
    const a = Math.round(alpha * 256);
    return {
      process: ({ joined }) => ({
        frame: joined.pipe(map(({ frame: f, labels: l }): Frame => Object.freeze({ ...f, data: blend(f, l, a, ignoreClasses, legend) }))),
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
let lastCls: Uint8Array | undefined;
let lastLegend: { w: number; h: number; palette: Labels['palette']; names: readonly string[]; lg: Legend } | undefined;
let lastTable: { palette: Labels['palette']; a: number; ignore: string; t: ReturnType<typeof blendTable>; simd: BlendTables | undefined } | undefined;

/** Blend palette colours (integer alpha out of 256) into a new RGB24 buffer. */
export function blend(f: Frame, l: Labels, a: number, ignore: readonly number[] = [], legend = false): Uint8Array {
  const { width: w, height: h } = f;
  const src = f.data;
  const dst = uninitialisedBytes(src.length); // every byte written below
  const key = ignore.join(',');
  if (!lastTable || lastTable.palette !== l.palette || lastTable.a !== a || lastTable.ignore !== key) {
    lastTable = { palette: l.palette, a, ignore: key, t: blendTable(l.palette, a, ignore), simd: simdKernels && blendTables(l.palette, a, ignore) };
  }
  const { lut, base } = lastTable.t;
  // Labels at another size (the model's, or the video's under a preview): nearest label for each
  // pixel, centres aligned (src/image.ts), into a buffer kept for the next frame. Video-size labels
  // from the label-resizer are resampled from the model's map where that is exact (labelsAt): a
  // 960x540 preview of a 1080p video upscales 480x270 labels instead of decimating 1920x1080.
  const cls = l.width === w && l.height === h ? l.classes : (lastCls = labelsAt(l.classes, l.width, l.height, w, h, lastCls));
  if (simdKernels && lastTable.simd) {
    simdKernels.blend(dst, src, cls, lastTable.simd); // the table's bytes, 16 pixels at a time (src/kernels/simd.ts)
  } else if (wasmBlender) {
    wasmBlender.blend(dst, src, cls, lut, base); // the same loop as below, ~4x faster
  } else {
    for (let i = 0, o = 0, n = w * h; i < n; i++, o += 3) {
      const k = base[cls[i]!]!;
      dst[o] = lut[k + src[o]!]!;
      dst[o + 1] = lut[k + 256 + src[o + 1]!]!;
      dst[o + 2] = lut[k + 512 + src[o + 2]!]!;
    }
  }
  if (legend) {
    if (!lastLegend || lastLegend.w !== w || lastLegend.h !== h || lastLegend.palette !== l.palette || lastLegend.names !== l.classNames) {
      lastLegend = { w, h, palette: l.palette, names: l.classNames, lg: buildLegend(w, h, l.classNames, l.palette) };
    }
    drawLegend(dst, w, lastLegend.lg);
  }
  return dst;
}

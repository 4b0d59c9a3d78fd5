/**
 * overlayLabels — the overlay node's logic as a pure RxJS operator: each
 * record of a frame and its label map becomes the frame with the label map's
 * palette colours blended onto it.
 *
 * A label map at another size than the frame (the model's, or the video's
 * under a preview) is sampled nearest-neighbour, pixel centres aligned
 * (src/kernels/image.ts labelsAt). `alpha` (0..1) is the weight of the class
 * colour (integer, out of 256, after rounding); classes in `ignoreClasses`, and
 * ids without a palette colour, are left unpainted. With `legend`, every
 * class's swatch and name is drawn at the top-left corner
 * (src/kernels/legend.ts). A yuv420p frame (a decoder's `pixelFormat`) is blended in its
 * own planes and stays yuv420p (src/kernels/yuv.ts). The output frame is the input frame with new
 * pixels: its source, seq, time and discontinuity mark pass through, and the
 * input buffer is never written. One record in, one frame out, in order;
 * completion and errors pass straight through.
 *
 * ```ts
 * records$.pipe(overlayLabels({ alpha: 0.5, legend: true, ignoreClasses: [] }))   // records$: { frame, labels }
 * ```
 *
 * The blend itself (`blend`) is a plain function over one frame; it keeps the
 * last blend table, legend and resampled label buffer for the next frame.
 */
import { map, type OperatorFunction } from 'rxjs';
import { wasmBlender } from '../../kernels/blend-wasm.ts';
import { labelsOf, uninitialisedBytes } from '../../kernels/image.ts';
import { buildLegend, drawLegend, legendStrip, type Legend } from '../../kernels/legend.ts';
import { sameClassNames, type Frame, type Labels } from '../../core/packet.ts';
import { blendTables, simdKernels, type BlendTables } from '../../kernels/simd.ts';
import { blendYuv, drawLegendYuv, legendYuv, yuvBlendTable, yuvBytes, type Matrix, type YuvBlendTable, type YuvLegend } from '../../kernels/yuv.ts';

export interface OverlayOptions {
  /** Weight of the class colour, 0..1. */
  readonly alpha: number;
  /** Draw every class (swatch and name, in class order) at the top-left corner. */
  readonly legend: boolean;
  /** Class ids left unpainted. */
  readonly ignoreClasses: readonly number[];
}

export function overlayLabels(o: OverlayOptions): OperatorFunction<{ readonly frame: Frame; readonly labels: Labels }, Frame> {
  const a = Math.round(o.alpha * 256);
  return map(({ frame: f, labels: l }): Frame => Object.freeze({ ...f, data: blend(f, l, a, o.ignoreClasses, o.legend) }));
}

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
let lastLegend: { w: number; h: number; palette: Labels['palette']; names: readonly string[]; lg: Legend; strip: ReturnType<typeof legendStrip> } | undefined;
let lastTable: { palette: Labels['palette']; a: number; ignore: string; t: ReturnType<typeof blendTable>; simd: BlendTables | undefined } | undefined;

// Compared by value: labels that crossed a thread or a socket carry new arrays every frame, and a
// cache keyed on identity then rebuilt the tables and the legend for each frame (~1.3 ms a frame).
const samePalette = (p: Labels['palette'], q: Labels['palette']): boolean =>
  p === q || (p.length === q.length && p.every((c, i) => { const d = q[i]; return c === d || (!!c && !!d && c[0] === d[0] && c[1] === d[1] && c[2] === d[2]); }));

/** Resampled label maps kept for the next frame (the frame's size, the chroma planes' size). */
const kept: (Uint8Array | undefined)[] = [undefined, undefined];
/** The labels at dw x dh (src/kernels/image.ts labelsOf: from the model's map where exact), into a kept buffer when resampled. */
function at(l: Labels, dw: number, dh: number, slot: 0 | 1): Uint8Array {
  const { map, resampled } = labelsOf(l, dw, dh, kept[slot]);
  if (resampled) kept[slot] = map;
  return map;
}
let lastYuv: { palette: Labels['palette']; a: number; ignore: string; m: Matrix; t: YuvBlendTable } | undefined;
let lastYuvLegend: { lg: Legend; m: Matrix; y: YuvLegend } | undefined;

/** blend() for a yuv420p frame (src/kernels/yuv.ts): the same colours and legend, in the frame's planes. */
function blendPlanes(f: Frame, l: Labels, a: number, ignore: readonly number[], legend: boolean): Uint8Array {
  const { width: w, height: h } = f;
  const m = f.matrix ?? 'bt601';
  const dst = uninitialisedBytes(yuvBytes(w, h)); // every byte written below
  const key = ignore.join(',');
  if (!lastYuv || !samePalette(lastYuv.palette, l.palette) || lastYuv.a !== a || lastYuv.ignore !== key || lastYuv.m !== m) {
    lastYuv = { palette: l.palette, a, ignore: key, m, t: yuvBlendTable(l.palette, a, ignore, m) };
  }
  const cls = at(l, w, h, 0);
  // One label per chroma sample, the one at its centre: the model's own map where it is exactly that size.
  const cls2 = at(l, w / 2, h / 2, 1);
  blendYuv(dst, f.data, w, h, cls, cls2, lastYuv.t);
  if (legend) {
    if (!lastLegend || lastLegend.w !== w || lastLegend.h !== h || !samePalette(lastLegend.palette, l.palette) || !sameClassNames(lastLegend.names, l.classNames)) {
      const lg = buildLegend(w, h, l.classNames, l.palette);
      lastLegend = { w, h, palette: l.palette, names: l.classNames, lg, strip: simdKernels && legendStrip(lg, w) };
    }
    if (lastYuvLegend?.lg !== lastLegend.lg || lastYuvLegend.m !== m) lastYuvLegend = { lg: lastLegend.lg, m, y: legendYuv(lastLegend.lg, m) };
    drawLegendYuv(dst, w, h, lastYuvLegend.y);
  }
  return dst;
}

/** Blend palette colours (integer alpha out of 256) into a new RGB24 buffer (or yuv420p, as the frame). */
export function blend(f: Frame, l: Labels, a: number, ignore: readonly number[] = [], legend = false): Uint8Array {
  if (f.format === 'yuv420p') return blendPlanes(f, l, a, ignore, legend);
  const { width: w, height: h } = f;
  const src = f.data;
  const dst = uninitialisedBytes(src.length); // every byte written below
  const key = ignore.join(',');
  if (!lastTable || !samePalette(lastTable.palette, l.palette) || lastTable.a !== a || lastTable.ignore !== key) {
    lastTable = { palette: l.palette, a, ignore: key, t: blendTable(l.palette, a, ignore), simd: simdKernels && blendTables(l.palette, a, ignore) };
  }
  const { lut, base } = lastTable.t;
  // Labels at another size (the model's, or the video's under a preview): nearest label for each
  // pixel, centres aligned (src/image.ts), into a buffer kept for the next frame. Video-size labels
  // from the label-resizer are resampled from the model's map where that is exact (labelsAt): a
  // 960x540 preview of a 1080p video upscales 480x270 labels instead of decimating 1920x1080.
  const cls = at(l, w, h, 0);
  if (legend && (!lastLegend || lastLegend.w !== w || lastLegend.h !== h || !samePalette(lastLegend.palette, l.palette) || !sameClassNames(lastLegend.names, l.classNames))) {
    const lg = buildLegend(w, h, l.classNames, l.palette); // built once: the same in every frame
    lastLegend = { w, h, palette: l.palette, names: l.classNames, lg, strip: simdKernels && legendStrip(lg, w) };
  }
  let drawn = false;
  if (simdKernels && lastTable.simd) {
    // the table's bytes, 16 pixels at a time, and the legend over them in the same pass (src/kernels/simd.ts)
    drawn = simdKernels.blend(dst, src, cls, lastTable.simd, legend ? lastLegend?.strip : undefined);
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
  if (legend && !drawn && lastLegend) drawLegend(dst, w, lastLegend.lg);
  return dst;
}

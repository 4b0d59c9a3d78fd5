/**
 * Planar YUV 4:2:0 frames (`format: 'yuv420p'`, src/core/packet.ts): the
 * decoder's pixels as the video holds them, with no colour conversion on the
 * way in (ffmpeg) or out (the encoder takes them as they are). Limited range
 * (16..235 luma), BT.601 or BT.709 coefficients (the video's own). Layout: the
 * Y plane (w x h bytes), then U and V (w/2 x h/2 each); w and h are even.
 *
 * - `yuvToRgb`: the frame as RGB24 at its size (chroma nearest-sampled), or
 *   `yuvHalfToRgb` at half its size (each output pixel: the mean of its 2x2
 *   luma and the chroma sample that covers them), or `yuvScaleToRgb` at any
 *   other (the planes resized bilinear, then converted), for a model's input.
 * - `blendYuv`: an overlay's palette colours blended into the frame. Blending
 *   is linear, so alpha-blending the colour's Y, U and V is blending its R, G,
 *   B; each chroma sample takes the mean of its four pixels' blends (what an
 *   encoder's 4:2:0 conversion of the blended RGB frame keeps).
 * - `legendYuv` / `drawLegendYuv`: the overlay legend (an RGBA picture) over a
 *   YUV frame, the same per-pixel alpha.
 */
import type { Labels } from '../core/packet.ts';
import type { Legend } from './legend.ts';
import { BT601, BT709, chromaTaps, taps, yuvSimd, type Coefficients } from './yuv-simd.ts';

export type Matrix = 'bt601' | 'bt709';

/** Bytes of a w x h yuv420p frame. */
export const yuvBytes = (w: number, h: number): number => w * h + 2 * (w >> 1) * (h >> 1);

/** The coefficients: [Kr, Kb]. */
const K: Record<Matrix, readonly [number, number]> = { bt601: [0.299, 0.114], bt709: [0.2126, 0.0722] };
const FIXED: Record<Matrix, Coefficients> = { bt601: BT601, bt709: BT709 };

const clamp = (v: number): number => (v < 0 ? 0 : v > 255 ? 255 : v);

/** One RGB colour as limited-range Y, U, V (rounded). */
export function rgbToYuv(r: number, g: number, b: number, m: Matrix): [number, number, number] {
  const [kr, kb] = K[m];
  const kg = 1 - kr - kb;
  const y = kr * r + kg * g + kb * b;
  const u = (b - y) / (2 * (1 - kb));
  const v = (r - y) / (2 * (1 - kr));
  return [Math.round(16 + (y * 219) / 255), clamp(Math.round(128 + (u * 224) / 255)), clamp(Math.round(128 + (v * 224) / 255))];
}

function check(src: Uint8Array, w: number, h: number): void {
  if (w % 2 || h % 2 || w < 2 || h < 2) throw new RangeError(`yuv420p: width and height must be even, got ${w}x${h}`);
  if (src.length < yuvBytes(w, h)) throw new RangeError(`yuv420p: ${src.length} bytes for a ${w}x${h} frame; expected ${yuvBytes(w, h)}`);
}

/**
 * One pixel's RGB from limited-range luma (already minus 16) and chroma (minus 128), in 13-bit
 * fixed point, as the SIMD kernel computes it (src/kernels/yuv-simd.ts).
 */
function put(dst: Uint8Array, o: number, y: number, u: number, v: number, k: Coefficients): void {
  const l = k.y * y + 4096;
  dst[o] = clamp((l + k.rv * v) >> 13);
  dst[o + 1] = clamp((l - k.gu * u - k.gv * v) >> 13);
  dst[o + 2] = clamp((l + k.bu * u) >> 13);
}

/** yuvToRgb's arithmetic for columns x0.. of every row (the scalar reference, and the SIMD kernel's last columns). */
export function yuvToRgbJs(src: Uint8Array, w: number, h: number, m: Matrix, dst: Uint8Array, x0 = 0): void {
  const k = FIXED[m];
  const cw = w >> 1, uo = w * h, vo = uo + cw * (h >> 1);
  for (let y = 0; y < h; y++) {
    const ci = (y >> 1) * cw;
    for (let x = x0, i = y * w + x0; x < w; x++, i++) put(dst, 3 * i, src[i]! - 16, src[uo + ci + (x >> 1)]! - 128, src[vo + ci + (x >> 1)]! - 128, k);
  }
}

/** The w x h yuv420p frame as RGB24 (w x h x 3), each pixel with the chroma sample that covers it. */
export function yuvToRgb(src: Uint8Array, w: number, h: number, m: Matrix, out?: Uint8Array): Uint8Array {
  check(src, w, h);
  const dst = out && out.length === w * h * 3 ? out : new Uint8Array(w * h * 3);
  if (yuvSimd) yuvSimd.full(dst, src, w, h, m === 'bt709', (x0) => yuvToRgbJs(src, w, h, m, dst, x0));
  else yuvToRgbJs(src, w, h, m, dst);
  return dst;
}

/** One plane (sw wide) resized by its taps (src/kernels/yuv-simd.ts `taps`): rows first, then columns. */
function scalePlaneJs(src: Uint8Array, so: number, sw: number, sh: number, dst: Uint8Array, d: number, rows: Int32Array, cols: Int32Array): void {
  const tmp = new Uint8Array(sw + 1);
  for (const r of rows) {
    const a = so + (r >> 9) * sw, wy = r & 511, b = (r >> 9) + 1 < sh ? a + sw : a;
    for (let x = 0; x < sw; x++) tmp[x] = (src[a + x]! * (256 - wy) + src[b + x]! * wy + 128) >> 8;
    for (const c of cols) {
      const x0 = c >> 9, p = tmp[x0]!;
      dst[d++] = p + (((tmp[x0 + 1]! - p) * (c & 511) + 128) >> 8);
    }
  }
}

/** The w x h yuv420p frame's three planes resized to tw x th each (yuvScaleToRgb's first step, in JS). */
export function yuvScalePlanesJs(src: Uint8Array, w: number, h: number, tw: number, th: number): Uint8Array {
  const cw = w >> 1, ch = h >> 1, tn = tw * th, out = new Uint8Array(3 * tn);
  const yr = taps(h, th), yc = taps(w, tw), cr = chromaTaps(yr), cc = chromaTaps(yc);
  scalePlaneJs(src, 0, w, h, out, 0, yr, yc);
  scalePlaneJs(src, w * h, cw, ch, out, tn, cr, cc);
  scalePlaneJs(src, w * h + cw * ch, cw, ch, out, 2 * tn, cr, cc);
  return out;
}

/** RGB24 of columns x0.. of tw x th planes Y, U, V (one chroma sample a pixel): yuvScaleToRgb's second step. */
export function yuv444ToRgbJs(planes: Uint8Array, tw: number, th: number, m: Matrix, dst: Uint8Array, x0 = 0): void {
  const k = FIXED[m], tn = tw * th;
  for (let y = 0; y < th; y++) {
    for (let i = y * tw + x0, e = (y + 1) * tw; i < e; i++) put(dst, 3 * i, planes[i]! - 16, planes[tn + i]! - 128, planes[2 * tn + i]! - 128, k);
  }
}

/**
 * The w x h yuv420p frame as RGB24 at tw x th (any size; meant for a model's input between half and
 * full size): each plane resized bilinear to tw x th (half-pixel centres, as resizeRgb; 8-bit
 * weights; chroma as if repeated over its 2x2 pixels first, src/kernels/yuv-simd.ts chromaTaps),
 * then each pixel converted: the full-size conversion resized, but for rounding and clamping
 * (within a few levels of it; ~3x less work than converting at full size and resizing the RGB).
 */
export function yuvScaleToRgb(src: Uint8Array, w: number, h: number, tw: number, th: number, m: Matrix, out?: Uint8Array): Uint8Array {
  check(src, w, h);
  if (!Number.isInteger(tw) || !Number.isInteger(th) || tw < 1 || th < 1) throw new RangeError(`yuvScaleToRgb: bad target size ${tw}x${th}`);
  const dst = out && out.length === tw * th * 3 ? out : new Uint8Array(tw * th * 3);
  if (yuvSimd) yuvSimd.scaled(dst, src, w, h, tw, th, m === 'bt709', (x0, planes) => yuv444ToRgbJs(planes, tw, th, m, dst, x0));
  else yuv444ToRgbJs(yuvScalePlanesJs(src, w, h, tw, th), tw, th, m, dst);
  return dst;
}

/** yuvHalfToRgb's arithmetic for output columns x0.. of every row (the scalar reference, and the SIMD kernel's last columns). */
export function yuvHalfToRgbJs(src: Uint8Array, w: number, h: number, m: Matrix, dst: Uint8Array, x0 = 0): void {
  const k = FIXED[m];
  const cw = w >> 1, ch = h >> 1, uo = w * h, vo = uo + cw * ch;
  for (let y = 0; y < ch; y++) {
    for (let x = x0; x < cw; x++) {
      const a = 2 * y * w + 2 * x, c = y * cw + x;
      const l = ((src[a]! + src[a + 1]! + src[a + w]! + src[a + w + 1]! + 2) >> 2) - 16;
      put(dst, 3 * c, l, src[uo + c]! - 128, src[vo + c]! - 128, k);
    }
  }
}

/** The w x h yuv420p frame as RGB24 at w/2 x h/2: each pixel the rounded mean of its 2x2 luma with their chroma sample. */
export function yuvHalfToRgb(src: Uint8Array, w: number, h: number, m: Matrix, out?: Uint8Array): Uint8Array {
  check(src, w, h);
  const n = (w >> 1) * (h >> 1) * 3;
  const dst = out && out.length === n ? out : new Uint8Array(n);
  if (yuvSimd) yuvSimd.half(dst, src, w, h, m === 'bt709', (x0) => yuvHalfToRgbJs(src, w, h, m, dst, x0));
  else yuvHalfToRgbJs(src, w, h, m, dst);
  return dst;
}

/** Per class: blended Y, U and V for every source value (identity for unpainted classes). */
export interface YuvBlendTable {
  /** lut[base[c] + plane * 256 + v], plane 0..2 = Y, U, V. */
  readonly lut: Uint8Array;
  readonly base: Int32Array;
  /** The same as 16-entry tables for the SIMD kernel (absent: alpha 256, or a painted class id above 15). */
  readonly simd?: { readonly alpha: Uint8Array; readonly y: Uint8Array; readonly u: Uint8Array; readonly v: Uint8Array } | undefined;
}

/** The blend table: (v * (256 - a) + colour * a) >> 8 per plane, the colour in the frame's matrix. */
export function yuvBlendTable(palette: Labels['palette'], a: number, ignore: readonly number[], m: Matrix): YuvBlendTable {
  const n = palette.length;
  const lut = new Uint8Array((n + 1) * 768);
  const b = 256 - a;
  for (let c = 0; c <= n; c++) {
    const rgb = c < n && !ignore.includes(c) ? palette[c] : undefined;
    const col = rgb && rgbToYuv(rgb[0], rgb[1], rgb[2], m);
    for (let p = 0; p < 3; p++) {
      for (let v = 0; v < 256; v++) lut[c * 768 + p * 256 + v] = col ? (v * b + col[p]! * a) >> 8 : v;
    }
  }
  const base = new Int32Array(256).fill(n * 768);
  for (let c = 0; c < n; c++) base[c] = c * 768;
  let simd: YuvBlendTable['simd'] = a <= 255 ? { alpha: new Uint8Array(16), y: new Uint8Array(16), u: new Uint8Array(16), v: new Uint8Array(16) } : undefined;
  for (let c = 0; c < n && simd; c++) {
    const rgb = ignore.includes(c) ? undefined : palette[c];
    if (!rgb) continue;
    if (c > 15) simd = undefined;
    else [simd.alpha[c], simd.y[c], simd.u[c], simd.v[c]] = [a, ...rgbToYuv(rgb[0], rgb[1], rgb[2], m)];
  }
  return { lut, base, simd };
}

/**
 * Blend into `dst` (a new w x h yuv420p frame) the frame `src` with the class colours of `cls`
 * (w x h class ids, for the luma) and `cls2` (w/2 x h/2, one per chroma sample: the label at its
 * centre, src/kernels/image.ts labelsAt). Where labels come in whole 2x2 blocks (a model's map
 * upscaled 2x or 4x) this is the blend of the RGB frame, converted.
 */
export function blendYuv(dst: Uint8Array, src: Uint8Array, w: number, h: number, cls: Uint8Array, cls2: Uint8Array, t: YuvBlendTable): void {
  check(src, w, h);
  const n = w * h, c = (w >> 1) * (h >> 1);
  if (cls.length < n || cls2.length < c) throw new RangeError(`blendYuv: ${cls.length} and ${cls2.length} labels for a ${w}x${h} frame`);
  if (yuvSimd && t.simd) {
    yuvSimd.plane(dst.subarray(0, n), src.subarray(0, n), cls.subarray(0, n), t.simd.alpha, t.simd.y);
    yuvSimd.plane(dst.subarray(n, n + c), src.subarray(n, n + c), cls2.subarray(0, c), t.simd.alpha, t.simd.u);
    yuvSimd.plane(dst.subarray(n + c, n + 2 * c), src.subarray(n + c, n + 2 * c), cls2.subarray(0, c), t.simd.alpha, t.simd.v);
    return;
  }
  const { lut, base } = t;
  for (let i = 0; i < n; i++) dst[i] = lut[base[cls[i]!]! + src[i]!]!;
  for (let i = 0; i < c; i++) {
    const k = base[cls2[i]!]!;
    dst[n + i] = lut[k + 256 + src[n + i]!]!;
    dst[n + c + i] = lut[k + 512 + src[n + c + i]!]!;
  }
}

/** The legend prepared for a yuv420p frame of width w: per pixel its Y and alpha, per chroma sample the sums. */
export interface YuvLegend {
  readonly lg: Legend;
  /** Per legend pixel: Y * alpha + 127 and 255 - alpha. */
  readonly yPre: Uint32Array;
  readonly yInv: Uint8Array;
  /** The chroma samples the legend touches: x0, y0 (chroma coordinates), cw x ch of them. */
  readonly cx0: number; readonly cy0: number; readonly cw: number; readonly ch: number;
  /** Per chroma sample: Σ U·α, Σ V·α and Σ (255 − α) over its four pixels (pixels off the legend: α = 0). */
  readonly uPre: Uint32Array; readonly vPre: Uint32Array; readonly inv: Uint32Array;
}

export function legendYuv(lg: Legend, m: Matrix): YuvLegend {
  const { rgba } = lg;
  const yPre = new Uint32Array(lg.width * lg.height), yInv = new Uint8Array(lg.width * lg.height);
  const cx0 = lg.x >> 1, cy0 = lg.y >> 1;
  const cw = ((lg.x + lg.width + 1) >> 1) - cx0, ch = ((lg.y + lg.height + 1) >> 1) - cy0;
  const uPre = new Uint32Array(cw * ch), vPre = new Uint32Array(cw * ch), inv = new Uint32Array(cw * ch).fill(4 * 255);
  for (let py = 0; py < lg.height; py++) {
    for (let px = 0; px < lg.width; px++) {
      const i = py * lg.width + px, a = rgba[i * 4 + 3]!;
      const [y, u, v] = rgbToYuv(rgba[i * 4]!, rgba[i * 4 + 1]!, rgba[i * 4 + 2]!, m);
      yPre[i] = y * a + 127;
      yInv[i] = 255 - a;
      const c = (((lg.y + py) >> 1) - cy0) * cw + (((lg.x + px) >> 1) - cx0);
      uPre[c]! += u * a;
      vPre[c]! += v * a;
      inv[c]! -= a;
    }
  }
  return { lg, yPre, yInv, cx0, cy0, cw, ch, uPre, vPre, inv };
}

/** Draw the prepared legend over `dst` (a w x h yuv420p frame), as drawLegend does over RGB. */
export function drawLegendYuv(dst: Uint8Array, w: number, h: number, l: YuvLegend): void {
  const { lg } = l;
  for (let py = 0; py < lg.height && lg.y + py < h; py++) {
    let o = (lg.y + py) * w + lg.x;
    for (let px = 0, i = py * lg.width; px < lg.width && lg.x + px < w; px++, o++, i++) {
      if (l.yInv[i] === 255) continue;
      dst[o] = ((l.yPre[i]! + dst[o]! * l.yInv[i]!) / 255) | 0;
    }
  }
  const cwF = w >> 1, chF = h >> 1, uo = w * h, vo = uo + cwF * chF;
  for (let cy = 0; cy < l.ch && l.cy0 + cy < chF; cy++) {
    for (let cx = 0; cx < l.cw && l.cx0 + cx < cwF; cx++) {
      const c = cy * l.cw + cx, k = l.inv[c]!;
      if (k === 1020) continue;
      const o = (l.cy0 + cy) * cwF + l.cx0 + cx;
      dst[uo + o] = ((l.uPre[c]! + dst[uo + o]! * k + 510) / 1020) | 0;
      dst[vo + o] = ((l.vPre[c]! + dst[vo + o]! * k + 510) / 1020) | 0;
    }
  }
}

/** Small typed-array image kernels used by nodes (no copies beyond the output). */
import { wasmBlender } from './blend-wasm.ts';
import { simdKernels } from './simd.ts';

/** Bilinear resize of an RGB24 image (half-pixel centres, like ffmpeg/PyTorch align_corners=false). */
export function resizeRgb(src: Uint8Array, sw: number, sh: number, dw: number, dh: number): Uint8Array {
  if (sw === 2 * dw && sh === 2 * dh) return halveRgb(src, sw, dw, dh);
  if (sw === dw) return resizeRgbRows(src, sw, sh, dh);
  const dst = uninitialisedBytes(dw * dh * 3); // every byte written below
  if (simdKernels) {
    simdKernels.bilinear(src, sw, sh, dw, dh, dst); // the loops below in WebAssembly (the same doubles), ~4x faster
    return dst;
  }
  const sx = sw / dw;
  const sy = sh / dh;
  const x0s = new Int32Array(dw);
  const x1s = new Int32Array(dw);
  const fxs = new Float32Array(dw);
  for (let x = 0; x < dw; x++) {
    const fx = Math.max(0, (x + 0.5) * sx - 0.5);
    const x0 = Math.min(sw - 1, Math.floor(fx));
    x0s[x] = x0 * 3;
    x1s[x] = Math.min(sw - 1, x0 + 1) * 3;
    fxs[x] = fx - x0;
  }
  // Separable: each input row's horizontal blend (`top`/`bot` below, the same doubles) is computed
  // once into a kept row and shared by the output rows that use it (~3x faster than per pixel).
  const rowBytes = dw * 3;
  const rows = [new Float64Array(rowBytes), new Float64Array(rowBytes)];
  const held = [-1, -1];
  const across = (r: number): Float64Array => {
    if (held[0] === r) return rows[0]!;
    if (held[1] === r) return rows[1]!;
    const k = held[0]! < held[1]! ? 0 : 1; // rows only move down: replace the upper one
    const out = rows[k]!;
    held[k] = r;
    const base = r * sw * 3;
    for (let x = 0, o = 0; x < dw; x++, o += 3) {
      const a = base + x0s[x]!;
      const b = base + x1s[x]!;
      const wx = fxs[x]!;
      out[o] = src[a]! + (src[b]! - src[a]!) * wx;
      out[o + 1] = src[a + 1]! + (src[b + 1]! - src[a + 1]!) * wx;
      out[o + 2] = src[a + 2]! + (src[b + 2]! - src[a + 2]!) * wx;
    }
    return out;
  };
  for (let y = 0; y < dh; y++) {
    const fy = Math.max(0, (y + 0.5) * sy - 0.5);
    const y0 = Math.min(sh - 1, Math.floor(fy));
    const y1 = Math.min(sh - 1, y0 + 1);
    const wy = fy - y0;
    const top = across(y0);
    const bot = across(y1);
    const o = y * rowBytes;
    for (let i = 0; i < rowBytes; i++) {
      const t = top[i]!;
      dst[o + i] = t + (bot[i]! - t) * wy + 0.5;
    }
  }
  return dst;
}

/**
 * resizeRgb when only the height changes (the model's 480x270 → 480x272): with
 * the same width every output column sits on an input column (weight 0 for its
 * neighbour), so each output row is one blend of two input rows — the general
 * path's arithmetic, term for term (the same bytes), without its per-pixel
 * tables and zero weights; ~4x faster.
 */
function resizeRgbRows(src: Uint8Array, w: number, sh: number, dh: number): Uint8Array {
  const dst = uninitialisedBytes(w * dh * 3); // every byte written below
  if (simdKernels) {
    simdKernels.bilinearRows(src, w, sh, dh, dst); // the loop below in WebAssembly (the same doubles)
    return dst;
  }
  const rowBytes = w * 3;
  const sy = sh / dh;
  for (let y = 0; y < dh; y++) {
    const fy = Math.max(0, (y + 0.5) * sy - 0.5);
    const y0 = Math.min(sh - 1, Math.floor(fy));
    const y1 = Math.min(sh - 1, y0 + 1);
    const wy = fy - y0;
    const r0 = y0 * rowBytes;
    const r1 = y1 * rowBytes;
    const o = y * rowBytes;
    if (wy === 0 || y0 === y1) {
      // top + (bot - top) * 0 + 0.5 truncates to top: the row as it is
      dst.set(src.subarray(r0, r0 + rowBytes), o);
      continue;
    }
    for (let i = 0; i < rowBytes; i++) {
      const top = src[r0 + i]!;
      dst[o + i] = top + (src[r1 + i]! - top) * wy + 0.5;
    }
  }
  return dst;
}

/**
 * resizeRgb for exactly half the size: with half-pixel centres each output
 * pixel sits in the middle of a 2x2 block (weights 1/2, 1/2), so bilinear is
 * the block's mean, rounded as the general path rounds — the same bytes, ~2.5x
 * faster in JS (integer sums, no per-pixel tables), faster again in WebAssembly.
 */
function halveRgb(src: Uint8Array, sw: number, dw: number, dh: number): Uint8Array {
  const dst = uninitialisedBytes(dw * dh * 3); // every byte written below
  if (simdKernels) {
    simdKernels.halve(dst, src, sw, dw, dh); // the same bytes, 16 at a time (src/kernels/simd.ts)
    return dst;
  }
  if (wasmBlender) {
    wasmBlender.halve(dst, src, sw, dw, dh); // the same loop in WebAssembly, ~3x faster
    return dst;
  }
  return halveRgbJs(src, sw, dw, dh, dst);
}

/** halveRgb in JS (where WebAssembly is unavailable; tests compare the two). */
export function halveRgbJs(src: Uint8Array, sw: number, dw: number, dh: number, dst = uninitialisedBytes(dw * dh * 3)): Uint8Array {
  const stride = sw * 3;
  for (let y = 0, o = 0; y < dh; y++) {
    let a = 2 * y * stride;
    let b = a + stride;
    for (let x = 0; x < dw; x++, a += 6, b += 6, o += 3) {
      dst[o] = (src[a]! + src[a + 3]! + src[b]! + src[b + 3]! + 2) >> 2;
      dst[o + 1] = (src[a + 1]! + src[a + 4]! + src[b + 1]! + src[b + 4]! + 2) >> 2;
      dst[o + 2] = (src[a + 2]! + src[a + 5]! + src[b + 2]! + src[b + 5]! + 2) >> 2;
    }
  }
  return dst;
}

/**
 * The size that fits an image's longer side to `longSide` pixels, keeping its
 * aspect ratio (the shorter side rounded to the nearest pixel, at least 1):
 * 960x540 → 480x270, 640x480 → 480x360, 1080x1920 → 270x480.
 */
export function fitLongSide(w: number, h: number, longSide: number): { width: number; height: number } {
  if (w >= h) return { width: longSide, height: Math.max(1, Math.round((h * longSide) / w)) };
  return { width: Math.max(1, Math.round((w * longSide) / h)), height: longSide };
}

/**
 * Nearest-neighbour resize of a single-channel map, pixel centres aligned
 * (output pixel x samples input pixel floor((x + 0.5) · sw / dw)): the exact
 * inverse of a resize with half-pixel centres, so a label map computed on a
 * downscaled frame lands on the pixels it was computed from. Output rows that
 * sample the same input row are copied, not recomputed (an upscale by k
 * computes one row in k).
 */
export function resizeNearest(src: Uint8Array, sw: number, sh: number, dw: number, dh: number, out?: Uint8Array): Uint8Array {
  if (sw === dw && sh === dh) return src;
  if (src.length < sw * sh) throw new RangeError(`resizeNearest: ${src.length} bytes for a ${sw}x${sh} map`);
  // Exactly twice or four times the size: WebAssembly SIMD (the same bytes; at 4x, the label-resizer's
  // 480x270 → 1920x1080, ~3x faster than the JS rows below even with the copy out of its memory).
  if (simdKernels && dw === 2 * sw && dh === 2 * sh && sw >= 16) return simdKernels.upscale(src, sw, sh, 2, out);
  if (simdKernels && dw === 4 * sw && dh === 4 * sh && sw >= 16) return simdKernels.upscale(src, sw, sh, 4, out);
  const dst = out && out.length === dw * dh ? out : uninitialisedBytes(dw * dh); // every byte written below
  const xs = new Int32Array(dw);
  for (let x = 0; x < dw; x++) xs[x] = Math.min(sw - 1, Math.floor(((x + 0.5) * sw) / dw));
  const k = dw / sw;
  // Whole upscales by 2 or 4 across: one 16/32-bit store repeats each label (every byte the same,
  // so little- or big-endian alike). Each width has a loop of its own (one array type each: fast).
  const aligned = dst.byteOffset % 4 === 0 && dw % 4 === 0;
  const wide2 = k === 2 && aligned ? new Uint16Array(dst.buffer, dst.byteOffset, dst.length >> 1) : undefined;
  const wide4 = k === 4 && aligned ? new Uint32Array(dst.buffer, dst.byteOffset, dst.length >> 2) : undefined;
  let lastRow = -1;
  for (let y = 0; y < dh; y++) {
    const row = Math.min(sh - 1, Math.floor(((y + 0.5) * sh) / dh)) * sw;
    const o = y * dw;
    if (row === lastRow) {
      dst.copyWithin(o, o - dw, o);
      continue;
    }
    lastRow = row;
    if (wide2) upRow2(wide2, o >> 1, src, row, sw);
    else if (wide4) upRow4(wide4, o >> 2, src, row, sw);
    else pickRow(dst, o, src, row, xs, dw);
  }
  return dst;
}

function upRow2(dst: Uint16Array, q: number, src: Uint8Array, row: number, n: number): void {
  for (let x = 0; x < n; x++) dst[q + x] = src[row + x]! * 0x0101;
}
function upRow4(dst: Uint32Array, q: number, src: Uint8Array, row: number, n: number): void {
  for (let x = 0; x < n; x++) dst[q + x] = src[row + x]! * 0x01010101;
}
function pickRow(dst: Uint8Array, o: number, src: Uint8Array, row: number, xs: Int32Array, n: number): void {
  for (let x = 0; x < n; x++) dst[o + x] = src[row + xs[x]!]!;
}

/** Label maps made by resizeLabels, with the map each was made from. */
const origins = new WeakMap<Uint8Array, { readonly src: Uint8Array; readonly w: number; readonly h: number }>();

/**
 * resizeNearest for label maps that remembers the map the result came from, so
 * that labelsAt() can later make another size from that (smaller) original
 * instead of resampling the large map: the label-resizer's 1920x1080 maps come
 * from the model's 480x270, and the overlay's 960x540 preview is then a 2x
 * upscale of that, not a 2x decimation of 2 MB.
 */
export function resizeLabels(src: Uint8Array, sw: number, sh: number, dw: number, dh: number): Uint8Array {
  const dst = resizeNearest(src, sw, sh, dw, dh);
  if (dst !== src) origins.set(dst, origins.get(src) ?? { src, w: sw, h: sh });
  return dst;
}

/** A label map's original: the smaller map it is a nearest-neighbour resize of. */
export interface LabelOrigin { readonly src: Uint8Array; readonly w: number; readonly h: number }
/** How many lazily resized maps were made (read) in this thread: a check that consumers work from originals. */
export const lazyMaps = { made: 0 };
/** Label packets whose `classes` is made only when read (lazyResizedClasses), with their original. */
const lazyOrigins = new WeakMap<object, LabelOrigin>();

/**
 * Give `target` (a label packet being built, `width` x `height`) a `classes` that is the resize of
 * `src` (sw x sh), made on first read and kept (resizeLabels): consumers that can work from the
 * original (labelsOf, src/media/png.ts grayPngOf) never make the large map.
 */
export function lazyResizedClasses(target: object, src: Uint8Array, sw: number, sh: number, dw: number, dh: number): void {
  let made: Uint8Array | undefined;
  Object.defineProperty(target, 'classes', { enumerable: true, configurable: false, get: () => {
    if (!made) lazyMaps.made++;
    return (made ??= resizeLabels(src, sw, sh, dw, dh));
  } });
  lazyOrigins.set(target, origins.get(src) ?? { src, w: sw, h: sh });
}

/** The original of a label packet made by lazyResizedClasses, or of a map made by resizeLabels; undefined otherwise. */
export function labelOrigin(l: { readonly classes: Uint8Array }): LabelOrigin | undefined {
  return lazyOrigins.get(l) ?? origins.get(l.classes);
}

/**
 * A label packet's map at dw x dh (labelsAt), from its original where that is exact — without
 * reading `classes` of a lazily resized packet. Read-only: the map may be the packet's own or its
 * original (`resampled` false); a resampled one is `out` when that has the size.
 */
export function labelsOf(l: { readonly classes: Uint8Array; readonly width: number; readonly height: number }, dw: number, dh: number, out?: Uint8Array): { map: Uint8Array; resampled: boolean } {
  const o = lazyOrigins.get(l);
  if (o && sameAxis(o.w, l.width, dw) && sameAxis(o.h, l.height, dh)) {
    return o.w === dw && o.h === dh ? { map: o.src, resampled: false } : { map: resizeNearest(o.src, o.w, o.h, dw, dh, out), resampled: true };
  }
  return l.width === dw && l.height === dh ? { map: l.classes, resampled: false } : { map: labelsAt(l.classes, l.width, l.height, dw, dh, out), resampled: true };
}

/**
 * The label map `classes` (w x h) at dw x dh, nearest label with centres
 * aligned (resizeNearest; into `out` when it has the size). A map made by
 * resizeLabels is resampled from its original wherever that gives every pixel
 * the same label (checked per axis, exactly: sizes that are whole multiples
 * do); otherwise from `classes` itself.
 */
export function labelsAt(classes: Uint8Array, w: number, h: number, dw: number, dh: number, out?: Uint8Array): Uint8Array {
  if (w === dw && h === dh) return classes;
  const o = origins.get(classes);
  if (o && sameAxis(o.w, w, dw) && sameAxis(o.h, h, dh)) {
    if (o.w !== dw || o.h !== dh) return resizeNearest(o.src, o.w, o.h, dw, dh, out);
    // The original's own size: a copy, never the original itself (a caller may write into `out`).
    const d = out && out.length === dw * dh ? out : uninitialisedBytes(dw * dh);
    d.set(o.src.subarray(0, dw * dh));
    return d;
  }
  return resizeNearest(classes, w, h, dw, dh, out); // a new map or `out`, never `classes` (the sizes differ)
}

const axisChecks = new Map<string, boolean>();
/** Whether nearest s → m → d picks, for every output index, the same source index as s → d. */
function sameAxis(s: number, m: number, d: number): boolean {
  const key = `${s},${m},${d}`;
  let ok = axisChecks.get(key);
  if (ok === undefined) {
    const pick = (x: number, from: number, to: number) => Math.min(from - 1, Math.floor(((x + 0.5) * from) / to));
    ok = true;
    for (let x = 0; x < d && ok; x++) ok = pick(pick(x, m, d), s, m) === pick(x, s, d);
    if (axisChecks.size > 64) axisChecks.clear();
    axisChecks.set(key, ok);
  }
  return ok;
}

/**
 * A plain Uint8Array (not a Buffer, whose slice() is a view) of `n` bytes on an
 * ArrayBuffer of its own, not zero-filled: for buffers every byte of which the
 * caller writes before anyone reads them (a 1.5 MB frame: ~0.1 ms saved).
 */
export function uninitialisedBytes(n: number): Uint8Array {
  return new Uint8Array(Buffer.allocUnsafeSlow(n).buffer, 0, n);
}

/**
 * Key-frame test-time augmentation (TTA): the network also runs on a
 * horizontally flipped copy of the frame and/or at other scales, and the
 * class scores (logits at 1/8 of the inference size, before the upsample and
 * argmax) are averaged. Each view's scores are flipped back and resampled
 * (bilinear, half-pixel centres) onto the finest view's 1/8 grid first (the
 * largest scale's; the base view's when no scale exceeds 1), so the average
 * is taken cell by cell over the same picture without blurring the upscaled
 * view's detail (measured better than the base grid: training/README.md).
 * Only frames that run
 * the deep branch (key frames) take extra views; the deep features kept for
 * non-key frames are always the base view's (scale 1, not flipped).
 *
 * Spec strings (the segmenter node's `tta` option, `segflow eval --tta`):
 *
 *   off            one view (the default network pass)
 *   flip           + the mirrored frame                         2 passes, 2.0x MACs
 *   scales         scales 0.75, 1, 1.25                         3 passes, ≈ 3.1x MACs
 *   flip+scales    both: every scale, mirrored and not          6 passes, ≈ 6.3x MACs
 *   0.75,1,1.5     a list of scales (1 is always added)
 *   flip+0.75,1    a list of scales, each mirrored too
 *
 * The segmenter node's default is `auto` (resolveTta): AUTO_TTA where key
 * frames come at most every AUTO_TTA_MIN_INTERVAL frames, off where every
 * frame is one. Measured in training/README.md ("Test-time augmentation").
 */
import { resizeRgb } from '../../kernels/image.ts';

export interface TtaSpec {
  /** Also run every scale on the mirrored frame. */
  readonly flip: boolean;
  /** Scales of the inference size, ascending; always contains 1. */
  readonly scales: readonly number[];
}

export const TTA_OFF: TtaSpec = Object.freeze({ flip: false, scales: Object.freeze([1]) });
export const DEFAULT_TTA_SCALES = Object.freeze([0.75, 1, 1.25]);
/** The smallest and largest scale accepted. */
export const TTA_SCALE_RANGE = [0.25, 4] as const;

export const TTA_SYNTAX = "off, flip, scales (0.75,1,1.25), flip+scales, a list of scales such as 0.75,1,1.5, or flip+<list>";

/** The `tta` default: AUTO_TTA where key frames are sparse, off where every frame is one (the segmenter node's and the video evaluation's; why: training/README.md). */
export const DEFAULT_TTA = 'auto';
/**
 * What `auto` runs on key frames when they come at most every AUTO_TTA_MIN_INTERVAL frames: the
 * frame and a view at 1.5x (session 13; 1,1.25 before). CamVid val, refined: 66.7 against 66.1
 * for 1,1.25 and 63.7 without; at 270x360, the scale a 16:9 dashcam frame has at the offline
 * job's 480x270 input, 65.3 against 63.6 (and 60.5 without): a network trained at 360x480 sees
 * thin and far objects of a smaller picture at a scale nearer its own. 3.25x a key frame's MACs
 * (1,1.25: 2.56x); the 960x540 offline job ~8–11 % more CPU than with 1,1.25, the 1080p one ~2 %.
 */
export const AUTO_TTA = '1,1.5';
export const AUTO_TTA_MIN_INTERVAL = 10;

/** The TTA spec a node's options resolve to (`auto` by the key-frame interval). */
export function resolveTta(tta: string, keyframeIntervalFrames: number): TtaSpec {
  if (tta === 'auto') return keyframeIntervalFrames >= AUTO_TTA_MIN_INTERVAL ? parseTta(AUTO_TTA) : TTA_OFF;
  return parseTta(tta);
}

/** A node's `tta` option value: `auto` or anything parseTta accepts (for the option schemas' refine). */
export function isTtaOption(s: string): boolean {
  if (s === 'auto') return true;
  try {
    parseTta(s);
    return true;
  } catch {
    return false;
  }
}
/** The schemas' message for a `tta` value isTtaOption refuses. */
export const TTA_OPTION_MESSAGE = `expected auto, ${TTA_SYNTAX}`;

/** Parse a spec string (see the file's header); throws a TypeError naming what was expected. */
export function parseTta(s: string): TtaSpec {
  const str = s.trim().toLowerCase();
  if (str === 'off' || str === 'none' || str === '1') return TTA_OFF;
  let rest = str;
  let flip = false;
  if (rest === 'flip') return { flip: true, scales: [1] };
  if (rest.startsWith('flip+')) {
    flip = true;
    rest = rest.slice(5);
  }
  let scales: number[];
  if (rest === 'scales') scales = [...DEFAULT_TTA_SCALES];
  else {
    const parts = rest.split(',').map((p) => p.trim());
    scales = parts.map(Number);
    const bad = parts.find((p, i) => p === '' || !Number.isFinite(scales[i]!) || scales[i]! < TTA_SCALE_RANGE[0] || scales[i]! > TTA_SCALE_RANGE[1]);
    if (bad !== undefined || !parts.length) {
      throw new TypeError(`tta: expected ${TTA_SYNTAX} (scales ${TTA_SCALE_RANGE[0]}..${TTA_SCALE_RANGE[1]}), got '${s}'`);
    }
  }
  const uniq = [...new Set([1, ...scales])].sort((a, b) => a - b);
  return { flip, scales: uniq };
}

/** The canonical spec string: `off`, `flip`, `scales`, `flip+scales`, or `[flip+]s1,s2,…`. */
export function formatTta(t: TtaSpec): string {
  const onlyOne = t.scales.length === 1 && t.scales[0] === 1;
  if (onlyOne) return t.flip ? 'flip' : 'off';
  const std = t.scales.length === DEFAULT_TTA_SCALES.length && t.scales.every((v, i) => v === DEFAULT_TTA_SCALES[i]);
  return `${t.flip ? 'flip+' : ''}${std ? 'scales' : t.scales.join(',')}`;
}

export interface TtaView {
  readonly scale: number;
  readonly flip: boolean;
}

/** Every view the spec runs, the base view (scale 1, not mirrored) first. */
export function ttaViews(t: TtaSpec): TtaView[] {
  const views: TtaView[] = [{ scale: 1, flip: false }];
  for (const scale of t.scales) {
    if (scale !== 1) views.push({ scale, flip: false });
    if (t.flip) views.push({ scale, flip: true });
  }
  return views;
}

/** MACs of all views relative to one pass (the network's MACs scale with pixel count). */
export function ttaCostFactor(t: TtaSpec): number {
  return ttaViews(t).reduce((a, v) => a + v.scale * v.scale, 0);
}

/**
 * A view's inference size: the base size times the scale, rounded to a
 * multiple of 8 (so its 1/8 score grid covers the frame as the base grid does).
 */
export function viewSize(w: number, h: number, scale: number): { w: number; h: number } {
  if (scale === 1) return { w, h };
  const r = (v: number) => Math.max(32, Math.round((v * scale) / 8) * 8);
  return { w: r(w), h: r(h) };
}

/** An RGB24 HWC image mirrored left to right (a new buffer). */
export function flipRgb(src: Uint8Array, w: number, h: number): Uint8Array {
  const dst = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) {
    const row = y * w * 3;
    for (let x = 0; x < w; x++) {
      const s = row + x * 3;
      const d = row + (w - 1 - x) * 3;
      dst[d] = src[s]!;
      dst[d + 1] = src[s + 1]!;
      dst[d + 2] = src[s + 2]!;
    }
  }
  return dst;
}

/** The RGB24 input of a view: `rgb` (w x h) resized to the view's size and mirrored when asked. */
export function viewImage(rgb: Uint8Array, w: number, h: number, vw: number, vh: number, flip: boolean): Uint8Array {
  const img = vw === w && vh === h ? rgb : resizeRgb(rgb, w, h, vw, vh);
  return flip ? flipRgb(img, vw, vh) : img;
}

interface Taps {
  readonly i0: Int32Array;
  readonly i1: Int32Array;
  readonly w1: Float32Array;
}

/** Bilinear taps from `inN` cells onto `outN` (half-pixel centres, clamped at the edges: PyTorch align_corners=False). */
function taps(inN: number, outN: number, mirror: boolean): Taps {
  const i0 = new Int32Array(outN), i1 = new Int32Array(outN), w1 = new Float32Array(outN);
  const scale = inN / outN;
  for (let o = 0; o < outN; o++) {
    const x = Math.max(0, Math.min(inN - 1, (o + 0.5) * scale - 0.5));
    const a = Math.floor(x);
    const b = Math.min(a + 1, inN - 1);
    // A mirrored source is read right to left: cell k of the view is cell inN-1-k of the picture.
    i0[o] = mirror ? inN - 1 - a : a;
    i1[o] = mirror ? inN - 1 - b : b;
    w1[o] = x - a;
  }
  return { i0, i1, w1 };
}

/**
 * Add a view's scores (`src`: [C, sh, sw], channel-major) onto `acc` ([C, th, tw]),
 * mirroring them back first when the view was mirrored and resampling them
 * bilinearly when the grids differ.
 */
export function addScores(acc: Float32Array, th: number, tw: number, src: Float32Array, c: number, sh: number, sw: number, mirrored: boolean): void {
  if (acc.length < c * th * tw || src.length < c * sh * sw) throw new RangeError(`addScores: ${acc.length} / ${src.length} values for ${c}x${th}x${tw} / ${c}x${sh}x${sw}`);
  if (sh === th && sw === tw) {
    for (let k = 0; k < c; k++) {
      for (let y = 0; y < th; y++) {
        const o = (k * th + y) * tw;
        if (!mirrored) for (let x = 0; x < tw; x++) acc[o + x]! += src[o + x]!;
        else for (let x = 0; x < tw; x++) acc[o + x]! += src[o + tw - 1 - x]!;
      }
    }
    return;
  }
  const ty = taps(sh, th, false);
  const tx = taps(sw, tw, mirrored);
  for (let k = 0; k < c; k++) {
    const plane = k * sh * sw;
    for (let y = 0; y < th; y++) {
      const r0 = plane + ty.i0[y]! * sw;
      const r1 = plane + ty.i1[y]! * sw;
      const wy = ty.w1[y]!;
      const o = (k * th + y) * tw;
      for (let x = 0; x < tw; x++) {
        const a = tx.i0[x]!;
        const b = tx.i1[x]!;
        const wx = tx.w1[x]!;
        const top = src[r0 + a]! + (src[r0 + b]! - src[r0 + a]!) * wx;
        const bot = src[r1 + a]! + (src[r1 + b]! - src[r1 + a]!) * wx;
        acc[o + x]! += top + (bot - top) * wy;
      }
    }
  }
}

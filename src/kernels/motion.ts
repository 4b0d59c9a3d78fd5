/**
 * Motion between consecutive frames by block matching, and label warping.
 *
 * Frames are reduced to a gray thumbnail about `thumbWidth` wide; for every
 * `block`x`block` block of the current thumbnail the best match in the
 * previous one is searched within `radius` pixels (sum of absolute
 * differences, plus a small penalty per pixel of motion so flat regions — sky,
 * road — keep zero motion instead of noise). The block vectors are then
 * interpolated bilinearly between block centres and used to warp a label map
 * backwards: label_t(p) = label_{t-1}(p + v(p)). Plain typed-array loops: a
 * dense warp is far cheaper this way than with tensor ops (measurements.md).
 */

import { motionSimd } from './motion-simd.ts';

export interface Thumb {
  readonly width: number;
  readonly height: number;
  /** Thumbnail pixels per source pixel. */
  readonly scale: number;
  readonly data: Uint8Array;
}

export interface MotionField {
  /** Blocks across and down. */
  readonly bw: number;
  readonly bh: number;
  readonly block: number;
  /** Thumbnail size and scale the vectors are measured in. */
  readonly thumb: { readonly width: number; readonly height: number; readonly scale: number };
  /** Per block: dx, dy (thumbnail pixels, pointing into the previous frame). */
  readonly vectors: Int8Array;
}

/** Gray thumbnail (box filter) of an RGB24 image, about `thumbWidth` wide. */
export function thumbnail(rgb: Uint8Array, w: number, h: number, thumbWidth = 240): Thumb {
  const f = Math.max(1, Math.round(w / thumbWidth));
  const tw = Math.floor(w / f);
  const th = Math.floor(h / f);
  const out = new Uint8Array(tw * th);
  const norm = 1 / (f * f * 3);
  // The same sums four bytes at a time where a block's bytes fall on whole 32-bit words.
  if ((f * 3) % 4 === 0 && (w * 3) % 4 === 0 && rgb.byteOffset % 4 === 0 && f <= 64) {
    thumbnailWords(new Uint32Array(rgb.buffer, rgb.byteOffset, (w * h * 3) >> 2), w, f, tw, th, norm, out);
  } else if (f === 2) {
    thumbnail2(rgb, w, tw, th, norm, out);
  } else {
    for (let ty = 0; ty < th; ty++) {
      for (let tx = 0; tx < tw; tx++) {
        let s = 0;
        for (let y = ty * f; y < ty * f + f; y++) {
          let o = (y * w + tx * f) * 3;
          for (let x = 0; x < f; x++, o += 3) s += rgb[o]! + rgb[o + 1]! + rgb[o + 2]!;
        }
        out[ty * tw + tx] = s * norm;
      }
    }
  }
  return { width: tw, height: th, scale: 1 / f, data: out };
}

/** thumbnail() of 2x2 blocks (a 480 px frame): the same sums, unrolled (~4x faster than the general loop). */
function thumbnail2(rgb: Uint8Array, w: number, tw: number, th: number, norm: number, out: Uint8Array): void {
  // WebAssembly SIMD for the first 8·⌊tw/8⌋ pixels of each row (the same bytes), this loop for the rest.
  const done = motionSimd && norm === 1 / 12 ? motionSimd.thumb2(rgb, w, tw, th, out) : 0;
  if (done === tw) return;
  thumbnail2Scalar(rgb, w, tw, th, norm, out, done);
}

/** thumbnail2() in plain loops from column `from` of each row (exported for the SIMD test). */
export function thumbnail2Scalar(rgb: Uint8Array, w: number, tw: number, th: number, norm: number, out: Uint8Array, from = 0): void {
  const stride = w * 3;
  for (let ty = 0; ty < th; ty++) {
    for (let tx = from, a = 2 * ty * stride + 6 * from, b = a + stride, o = ty * tw + from; tx < tw; tx++, a += 6, b += 6, o++) {
      out[o] = (rgb[a]! + rgb[a + 1]! + rgb[a + 2]! + rgb[a + 3]! + rgb[a + 4]! + rgb[a + 5]! +
        rgb[b]! + rgb[b + 1]! + rgb[b + 2]! + rgb[b + 3]! + rgb[b + 4]! + rgb[b + 5]!) * norm;
    }
  }
}

/**
 * thumbnail()'s box sums over 32-bit words: each word's four bytes are added in two 16-bit lanes
 * (bytes 0+1 and 2+3 of the masked halves), exact because a block row holds at most 3·64 bytes
 * (lanes stay under 65536). Little-endian byte order does not matter: all four bytes are summed.
 */
function thumbnailWords(words: Uint32Array, w: number, f: number, tw: number, th: number, norm: number, out: Uint8Array): void {
  const rowWords = (w * 3) >> 2;
  const blockWords = (f * 3) >> 2;
  for (let ty = 0; ty < th; ty++) {
    for (let tx = 0; tx < tw; tx++) {
      let s = 0;
      for (let y = ty * f, yEnd = y + f; y < yEnd; y++) {
        let k = y * rowWords + tx * blockWords;
        let lanes = 0;
        for (let i = 0; i < blockWords; i++, k++) {
          const v = words[k]!;
          lanes += (v & 0x00ff00ff) + ((v >>> 8) & 0x00ff00ff);
        }
        s += (lanes & 0xffff) + (lanes >>> 16);
      }
      out[ty * tw + tx] = s * norm;
    }
  }
}

/** Mean absolute difference of two thumbnails of the same size (0..255): a cheap change score. */
export function changeScore(a: Thumb, b: Thumb): number {
  if (a.width !== b.width || a.height !== b.height) return 255;
  if (motionSimd) return motionSimd.absDiffSum(a.data, b.data) / a.data.length; // the same integer sum
  return changeScoreScalar(a, b);
}

/** changeScore() in plain loops (the reference its SIMD path equals). */
export function changeScoreScalar(a: Thumb, b: Thumb): number {
  if (a.width !== b.width || a.height !== b.height) return 255;
  let s = 0;
  const n = a.data.length;
  for (let i = 0; i < n; i++) s += Math.abs(a.data[i]! - b.data[i]!);
  return s / n;
}

/** The eight directions of the search ring, (dx, dy) pairs. */
const RING = Int8Array.from([1, 0, -1, 0, 0, 1, 0, -1, 1, 1, -1, -1, 1, -1, -1, 1]);

/**
 * Block motion from `cur` back into `prev`: a predictive search. Each block
 * starts from the best of zero motion, its left, upper and upper-right
 * neighbours' vectors (motion is smooth across a frame) and a sparse ring of
 * eight directions at `radius` (so a large motion is found even where the
 * cost surface has no slope to follow), then walks a small diamond (one pixel
 * up, down, left, right) while that lowers the cost, never further than
 * `radius`. About 20 candidates a block instead of the (2·radius+1)² of
 * a full search, with the same cost function; most are abandoned after a row
 * or two.
 */
export function blockMotion(prev: Thumb, cur: Thumb, block = 8, radius = 4, lambda = 4): MotionField {
  return motionSimd && block <= 16 && prev.data.length === cur.data.length ? blockMotionWith(prev, cur, block, radius, lambda, motionSimd) : blockMotionScalar(prev, cur, block, radius, lambda);
}

/** blockMotion() with the SAD in plain loops (the reference its SIMD path equals). */
export function blockMotionScalar(prev: Thumb, cur: Thumb, block = 8, radius = 4, lambda = 4): MotionField {
  return blockMotionWith(prev, cur, block, radius, lambda, undefined);
}

/**
 * The search, its SAD in WebAssembly SIMD when `simd` is given. The SIMD SAD does not stop early past
 * `limit`; that changes no choice: a candidate is taken only when its cost is below `limit` (the best
 * so far), and a sum stopped early is already at or above it, as is the whole sum.
 */
function blockMotionWith(prev: Thumb, cur: Thumb, block: number, radius: number, lambda: number, simd: typeof motionSimd): MotionField {
  const { width: w, height: h } = cur;
  const bw = Math.ceil(w / block);
  const bh = Math.ceil(h / block);
  const vectors = new Int8Array(bw * bh * 2);
  const p = prev.data;
  const c = cur.data;
  let x0 = 0, y0 = 0, x1 = 0, y1 = 0;
  const at = simd?.load(p, c);
  const pAt = at?.prev ?? 0, cAt = at?.cur ?? 0;
  /** SAD of the current block against prev shifted by (dx, dy), plus the motion penalty; stops early past `limit`. */
  const cost = (dx: number, dy: number, limit: number): number => {
    if (dx < -radius || dx > radius || dy < -radius || dy > radius) return Infinity;
    if (y0 + dy < 0 || y1 + dy > h || x0 + dx < 0 || x1 + dx > w) return Infinity;
    let sad = lambda * (Math.abs(dx) + Math.abs(dy)) * (x1 - x0);
    if (simd) return sad + simd.sad(cAt + y0 * w + x0, pAt + (y0 + dy) * w + x0 + dx, w, x1 - x0, y1 - y0);
    for (let y = y0; y < y1 && sad < limit; y++) {
      const rc = y * w;
      const rp = (y + dy) * w + dx;
      for (let x = x0; x < x1; x++) sad += Math.abs(c[rc + x]! - p[rp + x]!);
    }
    return sad;
  };
  for (let by = 0; by < bh; by++) {
    for (let bx = 0; bx < bw; bx++) {
      x0 = bx * block;
      y0 = by * block;
      x1 = Math.min(w, x0 + block);
      y1 = Math.min(h, y0 + block);
      let bdx = 0, bdy = 0;
      let best = cost(0, 0, Infinity);
      const k = (by * bw + bx) * 2;
      // Predictors: left, upper, upper-right (no array a block: this loop runs ~500 times a frame).
      for (let j = 0; j < 3; j++) {
        const q = j === 0 ? (bx > 0 ? k - 2 : -1) : j === 1 ? (by > 0 ? k - bw * 2 : -1) : (by > 0 && bx + 1 < bw ? k - bw * 2 + 2 : -1);
        if (q < 0) continue;
        const dx = vectors[q]!, dy = vectors[q + 1]!;
        if (dx === bdx && dy === bdy) continue;
        const s = cost(dx, dy, best);
        if (s < best) {
          best = s;
          bdx = dx;
          bdy = dy;
        }
      }
      for (let d = 0; d < 16; d += 2) {
        const dx = RING[d]! * radius, dy = RING[d + 1]! * radius;
        const s = cost(dx, dy, best);
        if (s < best) {
          best = s;
          bdx = dx;
          bdy = dy;
        }
      }
      for (let step = 0; step < 4 * radius; step++) {
        const cx = bdx, cy = bdy;
        for (let d = 0; d < 4; d++) {
          const dx = cx + (d === 0 ? 1 : d === 1 ? -1 : 0);
          const dy = cy + (d === 2 ? 1 : d === 3 ? -1 : 0);
          const s = cost(dx, dy, best);
          if (s < best) {
            best = s;
            bdx = dx;
            bdy = dy;
          }
        }
        if (bdx === cx && bdy === cy) break;
      }
      vectors[k] = bdx;
      vectors[k + 1] = bdy;
    }
  }
  return { bw, bh, block, thumb: { width: w, height: h, scale: cur.scale }, vectors };
}

/**
 * Warp a label map (lw x lh, covering the same view as the frames) backwards
 * along `m`: every output pixel takes the label its content came from. The
 * vectors are interpolated between block centres once per `cell` x `cell`
 * pixels and applied as whole-pixel offsets inside the cell (integer copies
 * only in the inner loop).
 */
export function warpLabels(labels: Uint8Array, lw: number, lh: number, m: MotionField, cell = 8): Uint8Array {
  // Built in a kept scratch buffer, the labels first and the output after them: the run copies below
  // are then copyWithin() on one array (no subarray view allocated per row); one copy out at the end.
  const n = lw * lh;
  if (warpWork.length < 2 * n) warpWork = new Uint8Array(2 * n);
  const work = warpWork;
  work.set(labels.subarray(0, n));
  const { bw, bh, block, vectors: v } = m;
  const sx = m.thumb.width / lw; // label pixel -> thumbnail pixel
  const sy = m.thumb.height / lh;
  // Bilinear weights between block centres, per column of cells and per row of cells.
  const ncx = Math.ceil(lw / cell);
  const cx0 = new Int32Array(ncx), cx1 = new Int32Array(ncx), ca = new Float32Array(ncx);
  for (let i = 0; i < ncx; i++) {
    const t = ((Math.min(lw, i * cell + cell) + i * cell) / 2 * sx) / block - 0.5;
    const x0 = Math.max(0, Math.min(bw - 1, Math.floor(t)));
    cx0[i] = x0;
    cx1[i] = Math.min(bw - 1, x0 + 1);
    ca[i] = Math.max(0, Math.min(1, t - x0));
  }
  for (let cy = 0; cy < lh; cy += cell) {
    const yEnd = Math.min(lh, cy + cell);
    const ty = (((cy + yEnd) / 2) * sy) / block - 0.5;
    const y0 = Math.max(0, Math.min(bh - 1, Math.floor(ty)));
    const r0 = y0 * bw * 2;
    const r1 = Math.min(bh - 1, y0 + 1) * bw * 2;
    const b = Math.max(0, Math.min(1, ty - y0));
    for (let cx = 0, i = 0; cx < lw; cx += cell, i++) {
      const xEnd = Math.min(lw, cx + cell);
      const a = ca[i]!;
      const k0 = cx0[i]! * 2;
      const k1 = cx1[i]! * 2;
      const vx = (1 - b) * ((1 - a) * v[r0 + k0]! + a * v[r0 + k1]!) + b * ((1 - a) * v[r1 + k0]! + a * v[r1 + k1]!);
      const vy = (1 - b) * ((1 - a) * v[r0 + k0 + 1]! + a * v[r0 + k1 + 1]!) + b * ((1 - a) * v[r1 + k0 + 1]! + a * v[r1 + k1 + 1]!);
      const dx = Math.round(vx / sx);
      const dy = Math.round(vy / sy);
      if (cx + dx >= 0 && xEnd + dx <= lw && cy + dy >= 0 && yEnd + dy <= lh) {
        // The whole cell comes from inside the frame: copied with its neighbours to the right
        // that move the same way (motion is smooth, so runs are long), one block copy per row.
        let runEnd = xEnd;
        let j = i + 1;
        for (; runEnd < lw; j++) {
          const nEnd = Math.min(lw, runEnd + cell);
          const na = ca[j]!, n0 = cx0[j]! * 2, n1 = cx1[j]! * 2;
          const nvx = (1 - b) * ((1 - na) * v[r0 + n0]! + na * v[r0 + n1]!) + b * ((1 - na) * v[r1 + n0]! + na * v[r1 + n1]!);
          const nvy = (1 - b) * ((1 - na) * v[r0 + n0 + 1]! + na * v[r0 + n1 + 1]!) + b * ((1 - na) * v[r1 + n0 + 1]! + na * v[r1 + n1 + 1]!);
          if (Math.round(nvx / sx) !== dx || Math.round(nvy / sy) !== dy || nEnd + dx > lw) break;
          runEnd = nEnd;
        }
        for (let y = cy; y < yEnd; y++) {
          const o = y * lw;
          const so = o + dy * lw + dx;
          work.copyWithin(n + o + cx, so + cx, so + runEnd);
        }
        cx = runEnd - cell;
        i = j - 1;
        continue;
      }
      for (let y = cy; y < yEnd; y++) {
        let srcY = y + dy;
        srcY = srcY < 0 ? 0 : srcY >= lh ? lh - 1 : srcY;
        const ro = srcY * lw;
        const o = n + y * lw;
        for (let x = cx; x < xEnd; x++) {
          const srcX = x + dx;
          work[o + x] = work[ro + (srcX < 0 ? 0 : srcX >= lw ? lw - 1 : srcX)]!;
        }
      }
    }
  }
  return work.slice(n, 2 * n);
}

/** warpLabels()'s scratch (labels, then the output), grown as needed. */
let warpWork = new Uint8Array(0);

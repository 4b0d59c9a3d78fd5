import test from 'ava';
import { blendTables, simdKernels } from '../src/kernels/simd.ts';
import { halveRgbJs, resizeNearest, resizeRgb } from '../src/kernels/image.ts';
import { thumbnail } from '../src/kernels/motion.ts';
import { countBytes } from '../nodes/statistics-sink.ts';
import { countLabels } from '../src/kernels/count.ts';
import { buildLegend, drawLegend, legendStrip } from '../src/kernels/legend.ts';
import { bytes } from './helpers/bytes.ts';

/** Labels in runs (as a segmenter's are), ids below `m`. */
function runs(n: number, m: number): Uint8Array {
  const a = new Uint8Array(n);
  const r = bytes(n, 256, 7);
  let v = 0;
  for (let i = 0; i < n; i++) {
    if (r[i]! < 12) v = r[(i * 31) % n]! % m;
    a[i] = v;
  }
  return a;
}

test('simd › available (Node 20 has WebAssembly SIMD)', (t) => {
  t.truthy(simdKernels);
});

test('simd › halve equals the JS 2x2 mean on odd widths and heights', (t) => {
  for (const [dw, dh] of [[480, 270], [1, 1], [7, 3], [8, 1], [17, 5], [250, 7], [960, 2]] as const) {
    const src = bytes(dw * 2 * dh * 2 * 3, 256, dw + dh);
    const out = new Uint8Array(dw * dh * 3);
    simdKernels!.halve(out, src, dw * 2, dw, dh);
    t.deepEqual(out, halveRgbJs(src, dw * 2, dw, dh), `${dw}x${dh}`);
  }
});

test('simd › label upscales by 2 and 4 equal the nearest resize, widths not a multiple of 16 included', (t) => {
  for (const [w, h] of [[480, 270], [16, 1], [17, 3], [33, 2], [270, 5]] as const) {
    const src = bytes(w * h, 12, w);
    for (const k of [2, 4] as const) {
      const ref = new Uint8Array(w * k * h * k);
      for (let y = 0; y < h * k; y++) for (let x = 0; x < w * k; x++) ref[y * w * k + x] = src[Math.floor(y / k) * w + Math.floor(x / k)]!;
      t.deepEqual(simdKernels!.upscale(src, w, h, k), ref, `${w}x${h} x${k}`);
      const into = new Uint8Array(ref.length);
      t.is(simdKernels!.upscale(src, w, h, k, into), into);
      t.deepEqual(into, ref);
      t.deepEqual(resizeNearest(src, w, h, w * k, h * k), ref, `resizeNearest ${w}x${h} x${k} (SIMD from 16 wide)`);
    }
    t.deepEqual(resizeNearest(src, w, h, w * 2, h * 2), simdKernels!.upscale(src, w, h, 2));
  }
});

test('simd › blend equals the lookup-table formula; alpha 256 and ids above 15 are refused', (t) => {
  const palette = Array.from({ length: 12 }, (_, i) => [(i * 37) & 255, 255 - i * 20, i * 7] as const);
  for (const n of [960 * 4, 1, 15, 17, 33]) {
    const src = bytes(n * 3, 256, n);
    const cls = bytes(n, 20, n + 1); // ids 12..19: no colour
    for (const [a, ignore] of [[115, []], [0, []], [255, [2, 5]], [1, [0]]] as const) {
      const tables = blendTables(palette, a, ignore)!;
      const out = new Uint8Array(n * 3);
      simdKernels!.blend(out, src, cls, tables);
      const ref = new Uint8Array(n * 3);
      for (let i = 0; i < n; i++) {
        const c = cls[i]!;
        const col = c < palette.length && !(ignore as readonly number[]).includes(c) ? palette[c] : undefined;
        for (let ch = 0; ch < 3; ch++) ref[i * 3 + ch] = col ? (src[i * 3 + ch]! * (256 - a) + col[ch]! * a) >> 8 : src[i * 3 + ch]!;
      }
      t.deepEqual(out, ref, `n=${n} a=${a}`);
    }
  }
  t.is(blendTables(palette, 256, []), undefined);
  t.is(blendTables(Array.from({ length: 17 }, () => [1, 2, 3]), 100, []), undefined);
  t.truthy(blendTables(Array.from({ length: 17 }, () => [1, 2, 3]), 100, [16]));
});

test('image › the bilinear resize (separable, in WebAssembly) gives the per-pixel formula\'s bytes', (t) => {
  // The formula resizeRgb documents, evaluated per pixel as before it was made separable.
  const plain = (src: Uint8Array, sw: number, sh: number, dw: number, dh: number) => {
    const dst = new Uint8Array(dw * dh * 3);
    for (let y = 0; y < dh; y++) {
      const fy = Math.max(0, (y + 0.5) * (sh / dh) - 0.5);
      const y0 = Math.min(sh - 1, Math.floor(fy)), y1 = Math.min(sh - 1, y0 + 1), wy = fy - y0;
      for (let x = 0; x < dw; x++) {
        const fx = Math.max(0, (x + 0.5) * (sw / dw) - 0.5);
        const x0 = Math.min(sw - 1, Math.floor(fx)), x1 = Math.min(sw - 1, x0 + 1), wx = Math.fround(fx - x0);
        for (let c = 0; c < 3; c++) {
          const at = (yy: number, xx: number) => src[(yy * sw + xx) * 3 + c]!;
          const top = at(y0, x0) + (at(y0, x1) - at(y0, x0)) * wx;
          const bot = at(y1, x0) + (at(y1, x1) - at(y1, x0)) * wx;
          dst[(y * dw + x) * 3 + c] = top + (bot - top) * wy + 0.5;
        }
      }
    }
    return dst;
  };
  // General sizes (WebAssembly: src/kernels/simd.ts bilinear) and height-only ones (bilinearRows).
  for (const [sw, sh, dw, dh] of [[48, 27, 60, 34], [48, 27, 60, 33], [7, 5, 3, 9], [1, 1, 5, 4], [5, 3, 1, 1], [64, 48, 48, 36],
    [48, 27, 48, 28], [480, 270, 480, 272], [5, 7, 5, 3], [5, 7, 5, 20], [480, 272, 600, 340], [33, 9, 41, 11]] as const) {
    const src = bytes(sw * sh * 3, 256, sw * sh);
    t.deepEqual(resizeRgb(src, sw, sh, dw, dh), plain(src, sw, sh, dw, dh), `${sw}x${sh} → ${dw}x${dh}`);
  }
});

test('motion › the 2x2 thumbnail equals the general box filter', (t) => {
  for (const [w, h] of [[480, 270], [481, 271], [470, 360]] as const) {
    const rgb = bytes(w * h * 3, 256, w);
    const th = thumbnail(rgb, w, h);
    t.is(th.scale, 1 / 2);
    const ref = new Uint8Array(th.width * th.height);
    for (let ty = 0; ty < th.height; ty++) {
      for (let tx = 0; tx < th.width; tx++) {
        let s = 0;
        for (let y = 2 * ty; y < 2 * ty + 2; y++) for (let x = 2 * tx; x < 2 * tx + 2; x++) for (let c = 0; c < 3; c++) s += rgb[(y * w + x) * 3 + c]!;
        ref[ty * th.width + tx] = s * (1 / 12);
      }
    }
    t.deepEqual(th.data, ref, `${w}x${h}`);
  }
});

test('statistics › countBytes equals a plain count, runs or not, at any offset', (t) => {
  for (const c of [runs(480 * 270, 11), bytes(1001, 256, 3), runs(4097, 3).subarray(1), new Uint8Array(0)]) {
    const ref = new Uint32Array(256);
    for (const v of c) ref[v]!++;
    t.deepEqual(countBytes(c), ref);
  }
});

test('simd › the legend drawn over the blend (in the same pass, or alone) equals drawLegend', (t) => {
  const names = ['Sky', 'Building', 'Pole', 'Road', 'Pavement', 'Tree', 'SignSymbol', 'Fence', 'Car', 'Pedestrian', 'Bicyclist'];
  const palette = names.map((_, i) => [(i * 67) & 255, (i * 131) & 255, (i * 29 + 40) & 255] as const);
  const tables = blendTables(palette, 115, [])!;
  for (const [w, h] of [[960, 540], [1920, 1080], [640, 480], [100, 60], [33, 200]] as const) {
    const src = bytes(w * h * 3, 256, w), cls = runs(w * h, 12);
    const lg = buildLegend(w, h, names, palette);
    const strip = legendStrip(lg, w);
    const want = new Uint8Array(w * h * 3);
    simdKernels!.blend(want, src, cls, tables);
    const alone = want.slice();
    drawLegend(want, w, lg);
    if (!strip) {
      t.true(lg.x * 3 + ((lg.width * 3 + 15) & ~15) > w * 3, `${w}x${h}: a strip whenever it fits`);
      continue;
    }
    const got = new Uint8Array(w * h * 3);
    t.true(simdKernels!.blend(got, src, cls, tables, strip), `${w}x${h} drawn in the blend`);
    t.deepEqual(got, want, `${w}x${h} in the blend`);
    simdKernels!.over(alone, strip);
    t.deepEqual(alone, want, `${w}x${h} alone`);
  }
});

test('count › countLabels equals a plain count on runs, random bytes, odd lengths and offsets', (t) => {
  const plain = (c: Uint8Array) => {
    const k = new Uint32Array(256);
    for (const v of c) k[v]!++;
    return k;
  };
  for (const n of [0, 1, 15, 16, 17, 480 * 270, 960 * 540 + 5]) {
    for (const c of [runs(n, 12), bytes(n, 256, n + 3), new Uint8Array(n).fill(7)]) {
      t.deepEqual(countLabels(c), plain(c), `n=${n}`);
      const shifted = new Uint8Array(n + 3);
      shifted.set(c, 3);
      t.deepEqual(countLabels(shifted.subarray(3)), plain(c), `n=${n} at offset 3`);
    }
  }
});

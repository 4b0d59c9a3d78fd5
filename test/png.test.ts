import test from 'ava';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import sharp from 'sharp';
import { filterRows, grayPng, grayPngSync } from '../src/media/png.ts';

/** Class ids in runs, every `k` rows repeated (as an upscaled label map), ids below `m`. */
function labelMap(w: number, h: number, m: number, k = 1, seed = 1): Uint8Array {
  const a = new Uint8Array(w * h);
  let s = seed >>> 0, v = 0;
  for (let y = 0; y < h; y++) {
    if (y % k) {
      a.copyWithin(y * w, (y - 1) * w, y * w);
      continue;
    }
    for (let x = 0; x < w; x++) {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      if (s >>> 28 === 0) v = (s >>> 8) % m;
      a[y * w + x] = v;
    }
  }
  return a;
}

/** A PNG read plainly, chunk by chunk (checking every CRC), rows unfiltered (None and Up only). */
function decode(png: Buffer): { w: number; h: number; data: Uint8Array; chunks: string[] } {
  if (!png.subarray(0, 8).equals(Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]))) throw new Error('no PNG signature');
  const chunks: string[] = [];
  const idat: Buffer[] = [];
  let w = 0, h = 0;
  for (let o = 8; o < png.length;) {
    const n = png.readUInt32BE(o), type = png.toString('latin1', o + 4, o + 8), data = png.subarray(o + 8, o + 8 + n);
    if (zlib.crc32(png.subarray(o + 4, o + 8 + n)) !== png.readUInt32BE(o + 8 + n)) throw new Error(`bad CRC in ${type}`);
    chunks.push(type);
    if (type === 'IHDR') {
      w = data.readUInt32BE(0);
      h = data.readUInt32BE(4);
      if (data[8] !== 8 || data[9] !== 0 || data[12] !== 0) throw new Error('not 8-bit gray, non-interlaced');
    }
    if (type === 'IDAT') idat.push(data);
    o += 12 + n;
  }
  const rows = zlib.inflateSync(Buffer.concat(idat));
  const out = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) {
    const f = rows[y * (w + 1)]!;
    for (let x = 0; x < w; x++) {
      const v = rows[y * (w + 1) + 1 + x]!;
      out[y * w + x] = f === 0 ? v : f === 2 ? (v + (y > 0 ? out[(y - 1) * w + x]! : 0)) & 255 : NaN;
    }
  }
  return { w, h, data: out, chunks };
}

test('png › class maps round-trip byte for byte at odd sizes, repeated rows and every level', async (t) => {
  for (const [w, h, k] of [[1, 1, 1], [3, 7, 1], [17, 5, 2], [960, 540, 2], [1920, 1080, 4], [641, 3, 3]] as const) {
    const map = labelMap(w, h, 12, k, w + h);
    for (const level of w * h > 1e5 ? [1] : [0, 1, 9]) {
      const png = await grayPng(map, w, h, level);
      const d = decode(png);
      t.deepEqual([d.w, d.h, d.chunks], [w, h, ['IHDR', 'IDAT', 'IEND']]);
      t.deepEqual(d.data, map, `${w}x${h} level ${level}`);
      t.deepEqual(grayPngSync(map, w, h, level), png);
    }
  }
});

test('png › repeated rows are filtered Up (zeros), others None; a view into a larger buffer is read at its offset', (t) => {
  const w = 5, map = Uint8Array.from([1, 1, 2, 2, 2, 1, 1, 2, 2, 2, 0, 3, 3, 3, 3]);
  const rows = filterRows(map, w, 3);
  t.deepEqual([...rows], [0, 1, 1, 2, 2, 2, 2, 0, 0, 0, 0, 0, 0, 0, 3, 3, 3, 3]);
  const big = new Uint8Array(100).fill(7);
  big.set(map, 40);
  t.deepEqual(filterRows(big.subarray(40, 55), w, 3), rows);
  t.throws(() => filterRows(map, 5, 4), { message: /15 bytes for a 5x4 map/ });
  t.throws(() => grayPngSync(map, 5, 3, 10), { message: /level must be 0..9/ });
});

test('png › other readers (ffmpeg, sharp/libvips) read the same ids', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'segflow-png-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const [w, h] = [333, 187];
  const map = labelMap(w, h, 12, 2, 5);
  const file = path.join(dir, 'm.png');
  writeFileSync(file, await grayPng(map, w, h));
  const probe = execFileSync('ffprobe', ['-v', 'error', '-show_entries', 'stream=codec_name,pix_fmt,width,height', '-of', 'csv=p=0', file], { encoding: 'utf8' }).trim();
  t.is(probe, `png,${w},${h},gray`);
  const raw = execFileSync('ffmpeg', ['-v', 'error', '-i', file, '-f', 'rawvideo', '-pix_fmt', 'gray', '-'], { maxBuffer: 1 << 24 });
  t.deepEqual(new Uint8Array(raw), map);
  t.is((await sharp(file).metadata()).channels, 1);
  const { data, info } = await sharp(file).toColourspace('b-w').raw().toBuffer({ resolveWithObject: true });
  t.deepEqual([info.width, info.height, info.channels], [w, h, 1]);
  t.deepEqual(new Uint8Array(data), map);
});

test('png › a label-resizer’s map is encoded from the model’s map: the same bytes as from the upscale, which is never made', async (t) => {
  const { filterRowsFrom, labelPng } = await import('../src/media/png.ts');
  const { lazyMaps, lazyResizedClasses, resizeNearest } = await import('../src/kernels/image.ts');
  // Whole upscales (2x, 4x), others (3x, 960x540 → 1280x720, 321x181 from 160x90), equal source rows included;
  // the odd ones first (a fresh process: no scratch row grown by an earlier size).
  for (const [sw, sh, w, h] of [[160, 90, 321, 181], [480, 270, 960, 540], [480, 270, 1920, 1080], [160, 90, 480, 270], [960, 540, 1280, 720], [160, 90, 321, 181], [5, 3, 5, 3], [1, 1, 4, 4]] as const) {
    const src = labelMap(sw, sh, 11, 2, sw + sh);
    src.copyWithin(sw * Math.min(2, sh - 1), 0, sw); // a source row equal to an earlier, non-adjacent one
    const big = resizeNearest(src, sw, sh, w, h);
    const want = filterRows(big, w, h);
    const into = Buffer.alloc(want.length, 9);
    t.deepEqual(filterRowsFrom(src, sw, sh, w, h, into), want, `${sw}x${sh} → ${w}x${h}`);
    // Reused buffer (zero rows kept): still the same bytes, also after filterRows wrote into it.
    t.deepEqual(filterRowsFrom(src.map((v) => (v + 1) % 11), sw, sh, w, h, into), filterRows(resizeNearest(src.map((v) => (v + 1) % 11), sw, sh, w, h), w, h));
    filterRows(big.map((v) => 11 - v), w, h, into);
    t.deepEqual(filterRowsFrom(src, sw, sh, w, h, into), want, `${sw}x${sh} → ${w}x${h} after filterRows`);
    const l = { width: w, height: h } as { width: number; height: number; classes: Uint8Array };
    lazyResizedClasses(l, src, sw, sh, w, h);
    const before = lazyMaps.made;
    const png = await labelPng(l);
    t.is(lazyMaps.made, before, 'the video-size map is not made');
    // Whole widenings are deflated from the runs (src/media/png-deflate.ts): other bytes than zlib's,
    // the same rows inflated; the others are zlib's own bytes.
    const d = decode(png);
    t.deepEqual([d.w, d.h, d.chunks], [w, h, ['IHDR', 'IDAT', 'IEND']]);
    t.deepEqual(d.data, big, `${sw}x${sh} → ${w}x${h}: the map`);
    if (w % sw !== 0) t.deepEqual(png, await grayPng(big, w, h));
    t.deepEqual(l.classes, big, 'made on read, the same map');
    t.is(lazyMaps.made, before + 1);
  }
  t.throws(() => filterRowsFrom(new Uint8Array(4), 2, 2, 1, 2), { message: /not an upscale/ });
});

test('png › the zlib stream made from runs (whole widenings) inflates to filterRowsFrom\'s rows: many runs, one class, 256 classes, widths 1..4x', async (t) => {
  const { filterRowsFrom } = await import('../src/media/png.ts');
  const { deflateUpscaledRows } = await import('../src/media/png-deflate.ts');
  const cases: [number, number, number, number, number, number][] = [
    // sw, sh, k, h, classes, run length (1: every pixel its own)
    [480, 270, 4, 1080, 11, 40], [480, 270, 2, 540, 11, 40], [480, 270, 4, 1080, 11, 1], [480, 270, 1, 270, 11, 3],
    [5, 3, 1, 3, 3, 1], [1, 1, 3, 4, 1, 1], [160, 90, 2, 181, 11, 7], [480, 270, 4, 1080, 1, 1], [17, 9, 3, 40, 256, 1], [300, 2, 4, 2, 2, 200],
  ];
  let sizeOurs = 0, sizeZlib = 0;
  for (const [sw, sh, k, h, m, run] of cases) {
    const src = labelMap(sw, sh, m, 1, sw * 7 + k);
    for (let i = 0; i < src.length; i++) src[i] = src[i - (i % run)]!; // runs of `run` labels
    if (sh > 3) src.copyWithin(sw * 2, 0, sw); // a row equal to an earlier one
    const rows = filterRowsFrom(src, sw, sh, sw * k, h);
    const idat = deflateUpscaledRows(src, sw, sh, k, h);
    t.truthy(idat, `${sw}x${sh} k${k}`);
    t.deepEqual(new Uint8Array(zlib.inflateSync(idat!)), new Uint8Array(rows), `${sw}x${sh} k${k} → ${h} rows, ${m} classes, runs of ${run}`);
    sizeOurs += idat!.length;
    sizeZlib += zlib.deflateSync(rows, { level: 1, strategy: zlib.constants.Z_RLE }).length;
  }
  t.true(sizeOurs < 1.1 * sizeZlib, `sizes: ours ${sizeOurs}, zlib's run-length mode ${sizeZlib}`);
  // Other readers (ffmpeg, sharp/libvips) read a run-made PNG's ids.
  const { labelPng } = await import('../src/media/png.ts');
  const { lazyResizedClasses, resizeNearest } = await import('../src/kernels/image.ts');
  const src = labelMap(120, 68, 11, 3, 42);
  const l = { width: 480, height: 272 } as { width: number; height: number; classes: Uint8Array };
  lazyResizedClasses(l, src, 120, 68, 480, 272);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'segflow-png-runs-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'm.png');
  writeFileSync(file, await labelPng(l));
  const raw = execFileSync('ffmpeg', ['-v', 'error', '-i', file, '-f', 'rawvideo', '-pix_fmt', 'gray', '-'], { maxBuffer: 1 << 24 });
  const big = resizeNearest(src, 120, 68, 480, 272);
  t.deepEqual(new Uint8Array(raw), big, 'ffmpeg');
  t.deepEqual(new Uint8Array(await sharp(file).toColourspace('b-w').raw().toBuffer()), big, 'sharp');
});

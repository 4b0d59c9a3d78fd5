/**
 * yuv420p frames (the offline graphs' `decode.pixelFormat`): the SIMD kernels (half size, full size,
 * resize-then-convert) against their scalar references, the colour conversion against ffmpeg's own, the decoder's frames, the graph loader's
 * check of where such frames may go, and the offline job end to end against the RGB24 route.
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { firstValueFrom, toArray } from 'rxjs';
import { blendYuv, rgbToYuv, yuv444ToRgbJs, yuvBlendTable, yuvHalfToRgb, yuvHalfToRgbJs, yuvScalePlanesJs, yuvScaleToRgb, yuvToRgb, yuvToRgbJs, yuvBytes } from '../src/kernels/yuv.ts';
import { resizeRgb } from '../src/kernels/image.ts';
import { yuvSimd } from '../src/kernels/yuv-simd.ts';
import { registry } from '../nodes/index.ts';
import { parseGraph } from '../src/core/graph/loader.ts';
import { ffmpegPaths } from '../src/media/ffmpeg.ts';
import { downsampleFrames } from '../src/media/operators/downsample-frames.ts';
import { of } from 'rxjs';
import type { Frame } from '../src/core/packet.ts';
import { SAMPLE, segflow, tmpDir } from './helpers/cli.ts';
import { ffmpeg, testClip } from './helpers/videos.ts';
import { bytes } from './helpers/bytes.ts';

const PALETTE = Array.from({ length: 11 }, (_, i) => [(i * 37) % 256, 255 - i * 20, (i * 91) % 256] as const);

test('yuv › SIMD kernels are there and give their scalar references’ bytes (odd group counts, both matrices)', (t) => {
  t.truthy(yuvSimd, 'Node 20 has WebAssembly SIMD');
  for (const [w, h] of [[960, 540], [34, 6], [66, 10], [2, 2], [30, 4], [642, 362]] as const) {
    const src = bytes(yuvBytes(w, h), 256, w + h);
    for (const m of ['bt601', 'bt709'] as const) {
      const ref = new Uint8Array((w / 2) * (h / 2) * 3);
      yuvHalfToRgbJs(src, w, h, m, ref);
      t.deepEqual(yuvHalfToRgb(src, w, h, m), ref, `half ${w}x${h} ${m}`);
    }
    const cls = bytes(w * h, 14, 3), cls2 = bytes((w / 2) * (h / 2), 14, 5); // ids 11..13: no colour
    const table = yuvBlendTable(PALETTE, 115, [3], 'bt709');
    t.truthy(table.simd);
    const a = new Uint8Array(src.length), b = new Uint8Array(src.length);
    blendYuv(a, src, w, h, cls, cls2, table);
    blendYuv(b, src, w, h, cls, cls2, { ...table, simd: undefined });
    t.deepEqual(a, b, `blend ${w}x${h}`);
  }
});

test('yuv › full-size SIMD conversion gives yuvToRgbJs’s bytes (widths 16k, 16k + 2, 34, 642; both matrices)', (t) => {
  t.truthy(yuvSimd);
  for (const [w, h] of [[640, 360], [642, 362], [34, 6], [2, 2], [16, 2], [30, 4], [1920, 8], [66, 10]] as const) {
    const src = bytes(yuvBytes(w, h), 256, 3 * w + h);
    for (const m of ['bt601', 'bt709'] as const) {
      const ref = new Uint8Array(w * h * 3);
      yuvToRgbJs(src, w, h, m, ref);
      t.deepEqual(yuvToRgb(src, w, h, m), ref, `full ${w}x${h} ${m}`);
    }
  }
});

test('yuv › resize-then-convert (yuvScaleToRgb): SIMD gives the scalar reference’s bytes, any target size; at the same size it is yuvToRgb', (t) => {
  const cases = [[640, 360, 480, 270], [642, 362, 480, 271], [34, 6, 20, 4], [30, 4, 17, 3], [96, 36, 30, 12], [2, 2, 1, 1], [64, 36, 40, 36], [64, 36, 64, 20], [100, 50, 200, 100], [960, 540, 481, 271]] as const;
  for (const [w, h, tw, th] of cases) {
    const src = bytes(yuvBytes(w, h), 256, w + 7 * h);
    for (const m of ['bt601', 'bt709'] as const) {
      const ref = new Uint8Array(tw * th * 3);
      yuv444ToRgbJs(yuvScalePlanesJs(src, w, h, tw, th), tw, th, m, ref);
      t.deepEqual(yuvScaleToRgb(src, w, h, tw, th, m), ref, `scaled ${w}x${h} → ${tw}x${th} ${m}`);
    }
  }
  for (const [w, h] of [[64, 36], [34, 6]] as const) {
    const src = bytes(yuvBytes(w, h), 256, 11);
    t.deepEqual(yuvScaleToRgb(src, w, h, w, h, 'bt709'), yuvToRgb(src, w, h, 'bt709'), `${w}x${h} at its own size`);
  }
  t.throws(() => yuvScaleToRgb(new Uint8Array(yuvBytes(4, 4)), 4, 4, 0, 2, 'bt601'), { instanceOf: RangeError });
});

test('yuv › blending Y, U and V is blending R, G and B (to within conversion rounding)', (t) => {
  // One flat colour frame, one class: blend in YUV, convert; convert, blend in RGB.
  const w = 32, h = 16, a = 115;
  for (const [r, g, b] of [[200, 30, 60], [10, 240, 120], [128, 128, 128]] as const) {
    const [y, u, v] = rgbToYuv(r, g, b, 'bt601');
    const src = new Uint8Array(yuvBytes(w, h));
    src.fill(y, 0, w * h);
    src.fill(u, w * h, w * h + (w * h) / 4);
    src.fill(v, w * h + (w * h) / 4);
    const out = new Uint8Array(src.length);
    blendYuv(out, src, w, h, new Uint8Array(w * h).fill(2), new Uint8Array((w * h) / 4).fill(2), yuvBlendTable(PALETTE, a, [], 'bt601'));
    const got = yuvToRgb(out, w, h, 'bt601').subarray(0, 3);
    const base = yuvToRgb(src, w, h, 'bt601').subarray(0, 3);
    const want = [0, 1, 2].map((c) => (base[c]! * (256 - a) + PALETTE[2]![c]! * a) >> 8);
    for (let c = 0; c < 3; c++) t.true(Math.abs(got[c]! - want[c]!) <= 3, `channel ${c}: ${got[c]} vs ${want[c]}`);
  }
});

function raw(args: string[]): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    execFile(ffmpegPaths().ffmpeg, ['-v', 'error', ...args, '-f', 'rawvideo', 'pipe:1'], { encoding: 'buffer', maxBuffer: 64 << 20 }, (err, out) => (err ? reject(err) : resolve(out)));
  });
}

test('yuv › the conversion to RGB matches ffmpeg’s for BT.601 and BT.709 videos (the coefficients the video says)', async (t) => {
  t.timeout(60_000);
  const dir = tmpDir('segflow-yuv-');
  for (const [space, right, wrong] of [['smpte170m', 'bt601', 'bt709'], ['bt709', 'bt709', 'bt601']] as const) {
    const file = path.join(dir, `${space}.mp4`);
    await ffmpeg(['-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=10', '-frames:v', '1', '-c:v', 'libx264', '-crf', '10', '-pix_fmt', 'yuv420p', '-colorspace', space, file]);
    const yuv = await raw(['-i', file, '-pix_fmt', 'yuv420p']);
    const rgb = await raw(['-i', file, '-pix_fmt', 'rgb24']);
    const err = (m: 'bt601' | 'bt709') => {
      const o = yuvToRgb(yuv, 320, 240, m);
      let s = 0;
      for (let i = 0; i < o.length; i++) s += Math.abs(o[i]! - rgb[i]!);
      return s / o.length;
    };
    t.true(err(right) < 4, `${space}: mean |diff| ${err(right).toFixed(2)} with ${right}`);
    t.true(err(right) < err(wrong), `${space}: ${right} (${err(right).toFixed(2)}) closer than ${wrong} (${err(wrong).toFixed(2)})`);
  }
});

test('yuv › a decoded frame of the sample: full-size conversion, and resize-then-convert against ffmpeg’s RGB resized (within a few levels)', async (t) => {
  t.timeout(60_000);
  const file = SAMPLE, w = 640, h = 360;
  const yuv = new Uint8Array(await raw(['-i', file, '-frames:v', '1', '-pix_fmt', 'yuv420p']));
  const rgb = new Uint8Array(await raw(['-i', file, '-frames:v', '1', '-pix_fmt', 'rgb24']));
  const diff = (a: Uint8Array, b: Uint8Array) => {
    let s = 0, far = 0;
    for (let i = 0; i < a.length; i++) { const d = Math.abs(a[i]! - b[i]!); s += d; if (d > 6) far++; }
    return { mean: s / a.length, far: far / a.length };
  };
  const full = diff(yuvToRgb(yuv, w, h, 'bt601'), rgb);
  t.true(full.mean < 2 && full.far < 0.001, `full size vs ffmpeg: mean ${full.mean.toFixed(2)}, ${(100 * full.far).toFixed(2)} % over 6 levels`);
  for (const [tw, th] of [[480, 270], [481, 271], [600, 338]] as const) {
    const ours = yuvScaleToRgb(yuv, w, h, tw, th, 'bt601');
    const theirs = diff(ours, resizeRgb(rgb, w, h, tw, th));
    t.true(theirs.mean < 2 && theirs.far < 0.001, `${tw}x${th} vs ffmpeg's RGB resized: mean ${theirs.mean.toFixed(2)}, ${(100 * theirs.far).toFixed(2)} % over 6 levels`);
    const route = diff(ours, resizeRgb(yuvToRgb(yuv, w, h, 'bt601'), w, h, tw, th));
    t.true(route.mean < 0.5 && route.far < 0.001, `${tw}x${th} vs converting at full size, then resizing: mean ${route.mean.toFixed(2)}, ${(100 * route.far).toFixed(2)} % over 6 levels`);
  }
});

test('yuv › downsampler: yuv420p in, RGB24 out at half size from the planes, and at other sizes', async (t) => {
  const w = 64, h = 36;
  const src = bytes(yuvBytes(w, h), 256, 9);
  const f: Frame = { kind: 'frame', source: 'd', seq: 0, ptsMs: 0, width: w, height: h, data: src, format: 'yuv420p', matrix: 'bt601' };
  const [half, quarter, between] = await Promise.all([
    firstValueFrom(of(f).pipe(downsampleFrames({ longSidePx: 32 }), toArray())),
    firstValueFrom(of(f).pipe(downsampleFrames({ longSidePx: 16 }), toArray())),
    firstValueFrom(of(f).pipe(downsampleFrames({ longSidePx: 48 }), toArray())),
  ]);
  t.is(half[0]!.format, undefined);
  t.is(half[0]!.matrix, undefined);
  t.deepEqual([half[0]!.width, half[0]!.height, half[0]!.data.length], [32, 18, 32 * 18 * 3]);
  t.deepEqual(half[0]!.data, yuvHalfToRgb(src, w, h, 'bt601'));
  t.deepEqual([quarter[0]!.width, quarter[0]!.height, quarter[0]!.data.length], [16, 9, 16 * 9 * 3]);
  // Between half and full size: the planes resized to 48x27, converted there.
  t.deepEqual([between[0]!.width, between[0]!.height], [48, 27]);
  t.deepEqual(between[0]!.data, yuvScaleToRgb(src, w, h, 48, 27, 'bt601'));
});

test('yuv › the loader refuses yuv420p frames where a node takes RGB24 only, directly or through an overlay', (t) => {
  const head = `version: 1
nodes:
  decode: { type: decoder, options: { path: x.mp4, pixelFormat: yuv420p } }
  small:  { type: downsampler, in: { frame: decode.frame } }
  seg:    { type: two-branch-segmenter, in: { frame: small.frame } }
`;
  // The offline shape: accepted.
  t.notThrows(() => parseGraph(`${head}  over: { type: overlay, in: { frame: decode.frame, labels: seg.labels } }
  video: { type: encoder, options: { path: o.mp4 }, in: { frame: over.frame } }
`, 'g.yaml', registry));
  const direct = t.throws(() => parseGraph(`${head}  seg2: { type: two-branch-segmenter, in: { frame: decode.frame } }
`, 'g.yaml', registry));
  t.regex(direct!.message, /seg2\.in\.frame: decode\.frame carries yuv420p frames .* seg2 \(two-branch-segmenter\) does not take/);
  const via = t.throws(() => parseGraph(`${head}  over: { type: overlay, in: { frame: decode.frame, labels: seg.labels } }
  keys: { type: keyframe-scheduler, in: { frame: over.frame } }
`, 'g.yaml', registry));
  t.regex(via!.message, /keys\.in\.frame: over\.frame carries yuv420p/);
  // RGB24 (the default) goes anywhere.
  t.notThrows(() => parseGraph(head.replace(', pixelFormat: yuv420p', '') + `  seg2: { type: two-branch-segmenter, in: { frame: decode.frame } }
  stats: { type: statistics-sink, options: { json: s.json }, in: { labels: seg.labels } }
  stats2: { type: statistics-sink, options: { json: s2.json }, in: { labels: seg2.labels } }
`, 'g.yaml', registry));
});

async function gray(png: string): Promise<Uint8Array> {
  return new Uint8Array(await sharp(png).toColourspace('b-w').raw().toBuffer());
}

test('yuv › the offline job: yuv420p (the default graph) against RGB24 — same labels almost everywhere, the same overlay picture (PSNR > 30 dB), odd sides cut to even', async (t) => {
  t.timeout(300_000);
  const dir = tmpDir('segflow-yuvjob-');
  // 642x362: maxSidePx 960 keeps it. 321x181: yuv420p needs even sides, the frames are 320x180, the labels 321x181.
  const input = await testClip(path.join(dir, 'road.mp4'), { width: 642, height: 362, fps: 10, frames: 10 });
  const odd = path.join(dir, 'odd.mp4'); // odd sides: 4:4:4 (4:2:0 H.264 has even ones)
  await ffmpeg(['-f', 'lavfi', '-i', 'testsrc2=size=320x180:rate=10', '-vf', 'scale=321:181', '-frames:v', '4', '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv444p', odd]);
  const outY = path.join(dir, 'y'), outR = path.join(dir, 'r'), outO = path.join(dir, 'o');
  const [ry, rr, ro] = await Promise.all([
    segflow(['process', input, '--out', outY]),
    segflow(['process', input, '--out', outR, '--set', 'decode.pixelFormat=rgb24']),
    segflow(['process', odd, '--out', outO]),
  ]);
  t.is(ry.code, 0, ry.stderr);
  t.is(rr.code, 0, rr.stderr);
  t.is(ro.code, 0, ro.stderr);
  const labels = (o: string) => readdirSync(path.join(o, 'road', 'labels')).filter((f) => f.endsWith('.png')).sort();
  t.deepEqual(labels(outY), labels(outR));
  let same = 0, all = 0;
  for (const f of labels(outY)) {
    const [a, b] = await Promise.all([gray(path.join(outY, 'road', 'labels', f)), gray(path.join(outR, 'road', 'labels', f))]);
    t.is(a.length, 642 * 362);
    for (let i = 0; i < a.length; i++) same += a[i] === b[i] ? 1 : 0;
    all += a.length;
  }
  t.true(same / all > 0.97, `label agreement ${(same / all).toFixed(4)}`);
  // The overlays: each against the input's frames blended the same way would need the labels; instead
  // both must be the same picture to within ffmpeg's PSNR of a re-encode.
  const psnr = await new Promise<number>((resolve, reject) => {
    execFile(ffmpegPaths().ffmpeg, ['-i', path.join(outY, 'road', 'overlay.mp4'), '-i', path.join(outR, 'road', 'overlay.mp4'), '-lavfi', '[0:v][1:v]psnr', '-f', 'null', '-'], (err, _o, stderr) => {
      if (err) return reject(err);
      const m = /PSNR .* average:([\d.]+|inf)/.exec(stderr);
      resolve(m ? (m[1] === 'inf' ? 99 : Number(m[1])) : NaN);
    });
  });
  t.true(psnr > 30, `PSNR yuv vs rgb overlay ${psnr}`);
  const cj = JSON.parse(readFileSync(path.join(outO, 'odd', 'labels', 'classes.json'), 'utf8'));
  t.deepEqual([cj.width, cj.height, cj.frames], [321, 181, 4], 'label maps at the video’s own (odd) size');
});

/**
 * downsampler: the longer side fits `longSidePx` and the aspect ratio stays; an exact size
 * stretches; the packet's identity (source, seq, timestamp, mark) is kept; a frame already at the
 * size passes through untouched. Real frames of the bundled sample, decoded by the real ffmpeg.
 */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { from, lastValueFrom, toArray } from 'rxjs';
import { downsample } from '../operators.ts';
import type { Frame } from '../src/core/packet.ts';
import { ffmpegPaths } from '../src/media/ffmpeg.ts';
import { fitLongSide, resizeRgb } from '../src/kernels/image.ts';
import { SAMPLE } from './helpers/cli.ts';

/** The first `n` frames of the bundled sample at `w`x`h`. */
function sampleFrames(n: number, w: number, h: number): Frame[] {
  const buf = execFileSync(ffmpegPaths().ffmpeg, ['-v', 'error', '-i', SAMPLE, '-frames:v', String(n), '-vf', `scale=${w}:${h}`, '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1'], { maxBuffer: 1 << 28 });
  return Array.from({ length: n }, (_, i): Frame => ({
    kind: 'frame', source: 'cam', seq: 10 + i, ptsMs: 400 + 40 * i, width: w, height: h,
    data: new Uint8Array(buf.subarray(i * w * h * 3, (i + 1) * w * h * 3)), ...(i === 1 ? { discontinuity: 'reconnect' } : {}),
  }));
}

test('downsampler › the longer side fits, the aspect ratio stays (16:9, 4:3, portrait)', (t) => {
  t.deepEqual(fitLongSide(960, 540, 480), { width: 480, height: 270 });
  t.deepEqual(fitLongSide(1920, 1080, 480), { width: 480, height: 270 });
  t.deepEqual(fitLongSide(640, 480, 480), { width: 480, height: 360 });
  t.deepEqual(fitLongSide(1080, 1920, 480), { width: 270, height: 480 });
  t.deepEqual(fitLongSide(1000, 563, 480), { width: 480, height: 270 });
});

test('downsampler › a 4:3 frame fits longSidePx; the packet keeps its source, seq, time and mark; the pixels are the bilinear resize', async (t) => {
  const frames = sampleFrames(3, 640, 480);
  const out = await lastValueFrom(from(frames).pipe(downsample({ longSidePx: 320 }), toArray()));
  t.deepEqual(out.map((f) => [f.width, f.height]), [[320, 240], [320, 240], [320, 240]]);
  t.deepEqual(out.map((f) => [f.source, f.seq, f.ptsMs, f.discontinuity]), frames.map((f) => [f.source, f.seq, f.ptsMs, f.discontinuity]));
  t.deepEqual(out[2]!.data, resizeRgb(frames[2]!.data, 640, 480, 320, 240));
  t.is(out[0]!.data.length, 320 * 240 * 3);
});

test('downsampler › width and height stretch to exactly that size; a frame already at the size passes through (the same object)', async (t) => {
  const frames = sampleFrames(2, 320, 180);
  const exact = await lastValueFrom(from(frames).pipe(downsample({ width: 160, height: 160 }), toArray()));
  t.deepEqual(exact.map((f) => [f.width, f.height, f.data.length]), [[160, 160, 160 * 160 * 3], [160, 160, 160 * 160 * 3]]);
  const same = await lastValueFrom(from(frames).pipe(downsample({ longSidePx: 320 }), toArray()));
  t.is(same[0], frames[0], 'no copy when nothing changes');
  await t.throwsAsync(lastValueFrom(from(frames).pipe(downsample({ width: 160 }))), { message: /expected both width and height/ }, 'width without height is refused');
});

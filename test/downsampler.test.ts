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
import { marbles } from './helpers/marbles.ts';
import { downsampleFrames } from '../src/media/operators/downsample-frames.ts';

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

// ---- the operator (src/media/operators/downsample-frames.ts), in virtual time -------------------

/** A 4x2 frame: its left 2x2 block holds 10, 20 / 30, 40 in every channel, its right one 0, 100 / 100, 200. */
const small = (seq: number, discontinuity?: string): Frame => ({
  kind: 'frame', source: 'cam', seq, ptsMs: seq * 40, width: 4, height: 2, ...(discontinuity ? { discontinuity } : {}),
  data: Uint8Array.from([10, 20, 0, 100, 30, 40, 100, 200].flatMap((v) => [v, v, v])),
});

test('downsampleFrames › 4x2 → 2x1 (longSidePx 2): each pixel the mean of its 2x2 block; order, identity and marks kept; completion passes', (t) => {
  const a = small(7, 'start'), b = small(8), c = small(9, 'chunk');
  const half = (f: Frame): Frame => ({ ...f, width: 2, height: 1, data: Uint8Array.from([25, 25, 25, 100, 100, 100]) });
  marbles(t).run(({ cold, expectObservable }) => {
    expectObservable(cold('a-b-c|', { a, b, c }).pipe(downsampleFrames({ longSidePx: 2 }))).toBe('x-y-z|', { x: half(a), y: half(b), z: half(c) });
  });
});

test('downsampleFrames › an exact width and height stretch; a frame already at the size is passed on as the same object', (t) => {
  const a = small(0);
  const seen: Frame[] = [];
  marbles(t).run(({ cold, expectObservable }) => {
    // 4x2 → 2x2: rows kept, each pixel the mean of its horizontal pair.
    expectObservable(cold('a|', { a }).pipe(downsampleFrames({ longSidePx: 480, width: 2, height: 2 })))
      .toBe('x|', { x: { ...a, width: 2, height: 2, data: Uint8Array.from([15, 15, 15, 50, 50, 50, 35, 35, 35, 150, 150, 150]) } });
    const same = cold('a|', { a }).pipe(downsampleFrames({ longSidePx: 4 }));
    same.subscribe((f) => seen.push(f));
    expectObservable(same).toBe('a|', { a });
  });
  t.is(seen[0], a, 'no copy');
});

test('downsampleFrames › an error upstream passes straight through', (t) => {
  const a = small(0);
  marbles(t).run(({ cold, expectObservable }) => {
    expectObservable(cold('-a#', { a }, new Error('gone')).pipe(downsampleFrames({ longSidePx: 4 }))).toBe('-a#', { a }, new Error('gone'));
  });
});

import test from 'ava';
import { lastValueFrom, throwError, timeout, toArray } from 'rxjs';
import { InputError } from '../src/core/errors.ts';
import { FrameAssembler } from '../src/media/frame-assembler.ts';
import { createNodeContext } from '../src/core/runtime/context.ts';
import type { Frame } from '../src/core/packet.ts';
import { decode } from '../operators.ts';
import { decoder } from '../nodes/decoder.ts';
import { SAMPLE, tmpDir } from './helpers/cli.ts';
import { mkvNamed, testClip, truncateCopy } from './helpers/videos.ts';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** Our child processes whose command line holds `text` (Linux /proc; undefined elsewhere). */
function childrenWith(text: string): number[] | undefined {
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((p) => /^\d+$/.test(p));
  } catch {
    return undefined;
  }
  return pids.filter((pid) => {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      return ppid === process.pid && readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(text);
    } catch {
      return false; // gone meanwhile
    }
  }).map(Number);
}

test('decoder › emits every frame with seq, timestamps and a start mark', async (t) => {
  const frames = await lastValueFrom(decode({ path: SAMPLE, maxFrames: 30 }).pipe(toArray()));
  t.is(frames.length, 30);
  t.deepEqual(frames.map((f) => f.seq), Array.from({ length: 30 }, (_, i) => i));
  t.is(frames[0]!.discontinuity, 'start');
  t.is(frames[1]!.discontinuity, undefined);
  t.is(frames[25]!.ptsMs, 1000);
  t.deepEqual([frames[0]!.width, frames[0]!.height, frames[0]!.data.length], [640, 360, 640 * 360 * 3]);
});

test('decoder › startFrame seeks to that exact frame: same pixels, seq and timestamps as a full decode, a chunk mark first', async (t) => {
  const all = await lastValueFrom(decode({ path: SAMPLE, maxFrames: 50 }).pipe(toArray()));
  const part = await lastValueFrom(decode({ path: SAMPLE, startFrame: 37, maxFrames: 10, chunkFrames: 10 }).pipe(toArray()));
  t.deepEqual(part.map((f) => f.seq), Array.from({ length: 10 }, (_, i) => 37 + i));
  t.true(part.every((f, i) => Buffer.from(f.data).equals(Buffer.from(all[37 + i]!.data))), 'byte-identical frames');
  t.is(part[0]!.ptsMs, all[37]!.ptsMs);
  t.deepEqual(part.map((f) => f.discontinuity), ['chunk', undefined, undefined, 'chunk', undefined, undefined, undefined, undefined, undefined, undefined]);
  const tail = await lastValueFrom(decode({ path: SAMPLE, startFrame: 90 }).pipe(toArray()));
  t.is(tail.length, 10, 'to the end of the file, no truncation error');
});

test('decoder › startFrame with maxSidePx and a file: name; a Matroska file (no frame count) is checked by time from the seek', async (t) => {
  const dir = tmpDir('segflow-dec-start-');
  const mkv = await mkvNamed(path.join(dir, 'a:b.mkv'), { width: 320, height: 240, fps: 10, frames: 40 });
  const all = await lastValueFrom(decode({ path: mkv, maxSidePx: 160 }).pipe(toArray()));
  t.is(all.length, 40);
  const part = await lastValueFrom(decode({ path: mkv, startFrame: 25, maxSidePx: 160 }).pipe(toArray()));
  t.deepEqual(part.map((f) => f.seq), Array.from({ length: 15 }, (_, i) => 25 + i), 'to the end, no truncation error');
  t.deepEqual([part[0]!.width, part[0]!.height, part[0]!.videoWidth, part[0]!.videoHeight], [160, 120, 320, 240]);
  t.true(part.every((f, i) => Buffer.from(f.data).equals(Buffer.from(all[25 + i]!.data))), 'byte-identical to a full decode');
  // Cut short: the part after the seek does not reach the declared duration.
  const cut = truncateCopy(mkv, path.join(dir, 'cut.mkv'), 0.5);
  const e = await t.throwsAsync(lastValueFrom(decode({ path: cut, startFrame: 5 })));
  t.true(e instanceof InputError);
  t.regex(e!.message, /truncated or corrupt: decoded \d+ frames from frame 5 up to [\d.]+ s of [\d.]+ s/);
});

// The early-started ffmpeg (spawned at open(), read from the first subscription) of a clip short enough
// to fit in the pipe writes everything and exits before the graph subscribes, which takes as long as the
// model's loading. Node then resumes the child's stdout on its own (child_process flushStdio): before the
// fix those frames were read by nobody and the end passed unseen: 0 frames and a `segflow process` that
// never finished. Here ffmpeg has certainly exited (and been reaped) before the subscription.
test.serial('decoder › a short clip whose ffmpeg exited before the first subscription: every frame (none during subscribe()), then completion', async (t) => {
  const dir = tmpDir('segflow-dec-early-');
  if (childrenWith(dir) === undefined) return t.pass('no /proc here: cannot see when ffmpeg exited');
  for (const frames of [2, 4]) {
    // 64x48: every frame (9 KB each) fits in the pipe, so ffmpeg can exit without a reader (a 192x108
    // clip of 4 frames, 249 KB, may not: ffmpeg then waits on the full pipe and the precondition fails).
    const clip = await testClip(path.join(dir, `short-${frames}.mp4`), { width: 64, height: 48, frames });
    const ctx = createNodeContext(decoder, { options: decoder.options.parse({ path: clip }) });
    const inst = await decoder.open(ctx);
    try {
      const until = Date.now() + 30_000;
      while (childrenWith(clip)!.length > 0 && Date.now() < until) await sleep(20);
      t.deepEqual(childrenWith(clip), [], 'ffmpeg exited before the subscription');
      await sleep(100); // Node's exit handling (and its resume of stdout) after the reap
      const got: Frame[] = [];
      const done = new Promise<void>((resolve, reject) => {
        inst.process({}).frame.pipe(
          timeout({ first: 20_000, with: () => throwError(() => new Error(`${frames} frames: no completion within 20 s (frames lost, the decoder hung)`)) }),
        ).subscribe({ next: (f) => got.push(f), error: reject, complete: resolve });
      });
      // The runner shares a source's output among its consumers, who subscribe one after another:
      // a frame emitted during the first subscribe() would reach that one alone.
      t.is(got.length, 0, `${frames} frames: nothing emitted during subscribe()`);
      await done;
      t.deepEqual(got.map((f) => f.seq), Array.from({ length: frames }, (_, i) => i), `${frames}-frame clip`);
      t.true(got.every((f) => f.data.length === 64 * 48 * 3));
    } finally {
      await inst.close?.();
    }
  }
});

test('decoder › refuses frames larger than maxPixels before allocating any', async (t) => {
  const e = await t.throwsAsync(lastValueFrom(decode({ path: SAMPLE, maxPixels: 640 * 360 - 1 })));
  t.true(e instanceof InputError);
  t.regex(e!.message, /frames are 640x360 \(230400 pixels\); expected at most 230399/);
});

test('decoder › FrameAssembler cuts chunks of any size into whole frames, each its own buffer', (t) => {
  const frameBytes = 7;
  const stream = Uint8Array.from({ length: 7 * 5 + 3 }, (_, i) => i);
  for (const cut of [1, 2, 6, 7, 8, 20, 100]) {
    const asm = new FrameAssembler(frameBytes);
    const frames: Uint8Array[] = [];
    for (let i = 0; i < stream.length; i += cut) asm.push(stream.subarray(i, i + cut), (d) => void frames.push(d));
    t.is(frames.length, 5, `chunks of ${cut}`);
    frames.forEach((f, k) => t.deepEqual([...f], [...stream.subarray(k * 7, k * 7 + 7)]));
    t.is(new Set(frames.map((f) => f.buffer)).size, 5);
    t.is(asm.partialBytes, 3);
  }
  const asm = new FrameAssembler(frameBytes);
  let n = 0;
  asm.push(stream, () => ++n < 2);
  t.is(n, 2, 'stops when told');
  t.throws(() => new FrameAssembler(0), { instanceOf: RangeError });
});

/**
 * Test inputs made on the spot with the real ffmpeg (lavfi `testsrc2` / `sine`), tiny and short so
 * they cost a fraction of a second each: good clips, broken ones, awkward ones.
 */
import { execFile } from 'node:child_process';
import { closeSync, copyFileSync, openSync, readFileSync, readSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ffmpegPaths } from '../../src/media/ffmpeg.ts';

/** Run ffmpeg quietly; reject with its stderr. */
export function ffmpeg(args: readonly string[], timeoutMs = 120_000): Promise<void> {
  const { ffmpeg: bin } = ffmpegPaths();
  return new Promise((resolve, reject) => {
    execFile(bin, ['-hide_banner', '-loglevel', 'error', '-nostdin', '-y', ...args], { timeout: timeoutMs, maxBuffer: 16 << 20 }, (err, _out, stderr) => {
      if (err) reject(new Error(`ffmpeg ${args.join(' ')}: ${err.message}\n${stderr}`));
      else resolve();
    });
  });
}

export interface ClipOptions {
  readonly width?: number;
  readonly height?: number;
  readonly fps?: number;
  readonly frames?: number;
  /** ffmpeg muxer (`mp4`, `matroska`, `mpegts`); default from the extension. */
  readonly format?: string;
  /** Add a sine tone as an audio stream. */
  readonly audio?: boolean;
  /** Extra output options before the file (e.g. `-movflags +faststart`). */
  readonly extra?: readonly string[];
  /** libx264 preset (default ultrafast). */
  readonly preset?: string;
}

/** A `testsrc2` H.264 clip of exactly `frames` frames. */
export async function testClip(file: string, o: ClipOptions = {}): Promise<string> {
  const { width = 160, height = 120, fps = 10, frames = 20 } = o;
  await ffmpeg([
    '-f', 'lavfi', '-i', `testsrc2=size=${width}x${height}:rate=${fps}`,
    ...(o.audio ? ['-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=22050'] : []),
    '-frames:v', String(frames), ...(o.audio ? ['-shortest', '-c:a', 'aac'] : []),
    '-c:v', 'libx264', '-preset', o.preset ?? 'ultrafast', '-pix_fmt', 'yuv420p', '-g', String(Math.max(1, fps)),
    ...(o.extra ?? []), ...(o.format ? ['-f', o.format] : []), file,
  ]);
  return file;
}

/** Audio only (a sine tone), e.g. `.m4a` or `.mp4`. */
export async function toneOnly(file: string, seconds = 1): Promise<string> {
  await ffmpeg(['-f', 'lavfi', '-i', `sine=frequency=440:sample_rate=22050:duration=${seconds}`, '-c:a', 'aac', '-f', 'mp4', file]);
  return file;
}

/** An empty file. */
export function emptyFile(file: string): string {
  writeFileSync(file, '');
  return file;
}

/** The first `fraction` of `src`'s bytes. */
export function truncateCopy(src: string, dst: string, fraction: number): string {
  const size = statSync(src).size;
  const n = Math.floor(size * fraction);
  const buf = Buffer.alloc(n);
  const fd = openSync(src, 'r');
  try {
    readSync(fd, buf, 0, n, 0);
  } finally {
    closeSync(fd);
  }
  writeFileSync(dst, buf);
  return dst;
}

/** A copy of `src` with `bytes` bytes of noise written over the middle. */
export function corruptMiddle(src: string, dst: string, bytes = 2048): string {
  const buf = readFileSync(src);
  const at = Math.floor(buf.length / 2);
  for (let i = 0; i < bytes && at + i < buf.length; i++) buf[at + i] = (i * 131 + 7) & 0xff;
  writeFileSync(dst, buf);
  return dst;
}

/** A Matroska file under another name (e.g. `.mp4`): ffmpeg reads the content, not the name. */
export async function mkvNamed(file: string, o: ClipOptions = {}): Promise<string> {
  return testClip(file, { ...o, format: 'matroska' });
}

/**
 * One stream whose resolution changes mid-way: two H.264 segments of different sizes joined
 * (MPEG-TS by byte concatenation, Matroska with the concat demuxer and stream copy).
 */
export async function resolutionChange(file: string, a: [number, number], b: [number, number], framesEach = 10, fps = 10): Promise<string> {
  const tmpA = `${file}.a.ts`;
  const tmpB = `${file}.b.ts`;
  await testClip(tmpA, { width: a[0], height: a[1], fps, frames: framesEach, format: 'mpegts' });
  await testClip(tmpB, { width: b[0], height: b[1], fps, frames: framesEach, format: 'mpegts' });
  try {
    if (file.endsWith('.ts')) {
      writeFileSync(file, Buffer.concat([readFileSync(tmpA), readFileSync(tmpB)]));
    } else {
      const list = `${file}.txt`;
      writeFileSync(list, `file '${path.resolve(tmpA)}'\nfile '${path.resolve(tmpB)}'\n`);
      await ffmpeg(['-f', 'concat', '-safe', '0', '-i', list, '-c', 'copy', file]);
      rmSync(list);
    }
  } finally {
    rmSync(tmpA, { force: true });
    rmSync(tmpB, { force: true });
  }
  return file;
}

/**
 * Variable frame rate. `drop`: a 30 fps source with 2 of every 5 frames dropped and the gaps kept
 * in the timestamps; `jitter`: every frame kept, timestamps wobbling by up to 0.8 frame.
 */
export async function variableFrameRate(file: string, kind: 'drop' | 'jitter', frames = 30, size: [number, number] = [160, 120]): Promise<string> {
  const vf = kind === 'drop' ? "select='lt(mod(n\\,5)\\,3)'" : 'settb=1/1000,setpts=(N+0.4*mod(N\\,3))/(30*TB)';
  await ffmpeg([
    '-f', 'lavfi', '-i', `testsrc2=size=${size[0]}x${size[1]}:rate=30`, '-vf', vf, '-frames:v', String(frames),
    '-vsync', 'vfr', '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', file,
  ]);
  return file;
}

/** A clip whose container says "display rotated by 90°" (phones): ffmpeg decodes it upright. */
export async function rotated(file: string, o: ClipOptions = {}): Promise<string> {
  const tmp = `${file}.src.mp4`;
  await testClip(tmp, o);
  await ffmpeg(['-i', tmp, '-c', 'copy', '-metadata:s:v:0', 'rotate=90', file]);
  rmSync(tmp);
  return file;
}

export function copy(src: string, dst: string): string {
  copyFileSync(src, dst);
  return dst;
}

/** Raw RGB24 frames of a lavfi `testsrc2` (not compressed), through `vf` — a reference to compare decoded frames with. */
export async function referenceFrames(file: string, o: { width: number; height: number; fps?: number; frames: number; vf?: string }): Promise<Buffer> {
  await ffmpeg([
    '-f', 'lavfi', '-i', `testsrc2=size=${o.width}x${o.height}:rate=${o.fps ?? 10}`, '-frames:v', String(o.frames),
    ...(o.vf ? ['-vf', o.vf] : []), '-f', 'rawvideo', '-pix_fmt', 'rgb24', file,
  ]);
  return readFileSync(file);
}

/** Mean absolute difference of two equal-length byte arrays (0..255). */
export function meanAbsDiff(a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length) throw new Error(`sizes differ: ${a.length} vs ${b.length}`);
  let s = 0;
  for (let i = 0; i < a.length; i++) s += Math.abs(a[i]! - b[i]!);
  return s / a.length;
}

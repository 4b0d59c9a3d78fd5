/**
 * probe (src/media/ffmpeg.ts): segflow runs ffprobe itself — a probe that takes too long is ended
 * (not left running, keeping the process alive, after its job failed), a worker's probe runs in
 * the ffmpeg children's own process group (a terminal's Ctrl-C does not end it), and ffprobe's
 * output is read as it prints it (tags, dispositions, a rotation in a stream's side data).
 */
import test from 'ava';
import { execFile, execFileSync } from 'node:child_process';
import { chmodSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ffmpegOwnProcessGroup, ffmpegPaths, parseProbe, probe } from '../src/media/ffmpeg.ts';
import { BIN, ROOT, tmpDir } from './helpers/cli.ts';
import { ffmpeg, testClip } from './helpers/videos.ts';
import { waitFor } from './helpers/live.ts';

/** The ffprobe processes whose command line names `file`: [pid, process group]. */
function probesOf(file: string): [number, number][] {
  const out = execFileSync('ps', ['-eo', 'pid=,pgid=,args='], { encoding: 'utf8' });
  return out.split('\n').filter((l) => l.includes('ffprobe') && l.includes(file)).map((l) => l.trim().split(/\s+/).slice(0, 2).map(Number) as [number, number]);
}

test.serial('probe › a probe that takes too long is ended, and a worker runs it in the ffmpeg children\'s own process group', async (t) => {
  const dir = tmpDir('segflow-probe-');
  // A named pipe nobody writes: ffprobe opens it and waits for data for ever (a stalled network mount).
  const fifo = path.join(dir, 'stalled.mp4');
  execFileSync('mkfifo', [fifo]);
  ffmpegOwnProcessGroup(true);
  try {
    const p = probe(fifo, 1500);
    const running = await waitFor('ffprobe running', () => probesOf(fifo)[0], 10_000);
    t.is(running[1], running[0], 'ffprobe leads a process group of its own (not the worker\'s)');
    t.not(running[1], process.pid);
    const e = await t.throwsAsync(p);
    t.regex(e!.message, /stalled\.mp4: probing took longer than 1500 ms/);
    await waitFor('ffprobe ended', () => probesOf(fifo).length === 0, 5_000);
  } finally {
    ffmpegOwnProcessGroup(false);
  }
  // Out of a worker, ffprobe stays in this process's group (a terminal's Ctrl-C ends it with the run).
  const q = probe(fifo, 1000);
  const again = await waitFor('ffprobe running', () => probesOf(fifo)[0], 10_000);
  t.is(again[1], Number(execFileSync('ps', ['-o', 'pgid=', '-p', String(process.pid)], { encoding: 'utf8' }).trim()));
  await t.throwsAsync(q, { message: /probing took longer/ });
  await waitFor('ffprobe ended', () => probesOf(fifo).length === 0, 5_000);
});

test('probe › ffprobe\'s output as printed: numbers, tags, dispositions, a rotation in side data', async (t) => {
  const dir = tmpDir('segflow-probe-');
  const file = path.join(dir, 'phone.mp4');
  // A phone's portrait clip: stored 320x240 with a display matrix turning it a quarter, plus an audio track tagged Finnish.
  // (ffmpeg 5 writes the rotation only when copying the stream: made, then remuxed.)
  const plain = path.join(dir, 'plain.mp4');
  await ffmpeg(['-f', 'lavfi', '-i', 'testsrc=s=320x240:r=10:d=1', '-f', 'lavfi', '-i', 'sine=d=1', '-c:v', 'libx264', '-c:a', 'aac', '-y', plain]);
  await ffmpeg(['-i', plain, '-c', 'copy', '-metadata:s:a:0', 'language=fin', '-metadata:s:v:0', 'rotate=90', '-y', file]);
  const text = execFileSync(ffmpegPaths().ffprobe, ['-show_streams', '-show_format', file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  const data = parseProbe(text);
  t.is(data.streams.length, 2);
  const [v, a] = data.streams;
  t.is(v!.codec_type, 'video');
  t.is(v!.width, 320);
  t.is(v!.nb_frames, 10);
  t.is(v!.r_frame_rate, '10/1');
  t.is(v!.disposition?.default, 1);
  t.is(Math.abs(Number(v!.rotation)), 90, 'the display matrix\'s rotation (a [SIDE_DATA] block inside the stream)');
  t.is(a!.tags?.language, 'fin');
  t.is(typeof data.format.format_name, 'string');
  t.true(Number(data.format.duration) > 0.9);
  // Through probe: upright, so width and height swap.
  const info = await probe(file);
  t.deepEqual([info.width, info.height, info.audioCodec], [240, 320, 'aac']);
});

test('probe › an ffprobe that crashes (a signal, here SIGSEGV) is named as the cause, not its banner\'s last line; the file fails', async (t) => {
  // A stand-in ffprobe that dies as a build that cannot read the file does (the npm-bundled static
  // ffprobe segfaults on every MPEG-TS file, measured in session 15); ffmpeg is the real one.
  const dir = tmpDir('segflow-probe-crash-');
  const clip = await testClip(path.join(dir, 'in.mp4'), { frames: 3 });
  const fake = path.join(dir, 'ffprobe');
  writeFileSync(fake, '#!/bin/sh\necho "ffprobe version 0 Copyright" >&2\necho "  libpostproc    57.  2.100 / 57.  2.100" >&2\nkill -SEGV $$\n');
  chmodSync(fake, 0o755);
  const r = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
    execFile(process.execPath, [BIN, 'process', clip, '--out', path.join(dir, 'out')], { cwd: ROOT, env: { ...process.env, FFPROBE_PATH: fake }, timeout: 120_000 }, (err, _o, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, stderr }));
  });
  t.is(r.code, 1, r.stderr);
  t.true(r.stderr.includes(`✗ ${clip}: ffprobe (${fake}) crashed reading it (SIGSEGV); another ffprobe may read it (a newer ffmpeg on PATH, or FFPROBE_PATH)`), r.stderr);
  t.notRegex(r.stderr, /libpostproc/);
});

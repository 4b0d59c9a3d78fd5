/**
 * Start-up of the offline job (issue 16): every helper process a real `segflow process` run
 * starts is counted (FFMPEG_PATH / FFPROBE_PATH point at wrappers that log each start), the probe
 * cache is checked against the real ffprobe, and a prewarmed segmenter thread is taken by the
 * segmenter that asks for it (and, unused, keeps no process alive).
 */
import { execFile, spawn } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { probe, probesRun, onPath } from '../src/media/ffmpeg.ts';
import { ThreadedSegmenter, type ThreadInit } from '../src/segmentation/thread/segmenter.ts';
import { BIN, ROOT, tmpDir } from './helpers/cli.ts';
import { testClip } from './helpers/videos.ts';

/** A wrapper that logs its arguments to `log` and runs the real binary. */
function wrapper(dir: string, name: string, real: string, log: string): string {
  const p = path.join(dir, name);
  writeFileSync(p, `#!/bin/sh\necho "${name} $*" >> '${log}'\nexec '${real}' "$@"\n`);
  chmodSync(p, 0o755);
  return p;
}

test('a `segflow process` run of one input with audio probes it once and starts two ffmpegs (decode, overlay; label PNGs are encoded in-process): no capability checks', async (t) => {
  const dir = tmpDir('segflow-startup-');
  try {
    const clip = await testClip(path.join(dir, 'in.mp4'), { frames: 6, audio: true });
    const log = path.join(dir, 'spawns.log');
    const env = {
      ...process.env,
      FFMPEG_PATH: wrapper(dir, 'ffmpeg', onPath('ffmpeg')!, log),
      FFPROBE_PATH: wrapper(dir, 'ffprobe', onPath('ffprobe')!, log),
    };
    const out = path.join(dir, 'out');
    const r = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      execFile(process.execPath, [BIN, 'process', clip, '--out', out], { cwd: ROOT, env, timeout: 240_000 }, (err, _o, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, stderr }));
    });
    t.is(r.code, 0, r.stderr);
    const lines = readFileSync(log, 'utf8').trim().split('\n');
    const probes = lines.filter((l) => l.startsWith('ffprobe '));
    const ffmpegs = lines.filter((l) => l.startsWith('ffmpeg '));
    t.is(probes.length, 1, `one ffprobe for the input, got:\n${lines.join('\n')}`);
    t.is(ffmpegs.length, 2, `decode and mp4 ffmpegs only, got:\n${lines.join('\n')}`);
    t.false(lines.some((l) => /ffmpeg -(formats|encoders|codecs|filters)\b/.test(l)), 'no capability checks');
    t.true(ffmpegs.some((l) => l.includes('-f rawvideo -pix_fmt rgb24') && l.includes('pipe:1')), 'the decoder');
    t.true(ffmpegs.some((l) => l.includes('-c:a copy')), "the overlay copies the input's audio (codec known from the one probe)");
    // every output is there
    for (const f of ['overlay.mp4', 'labels/000005.png', 'labels/classes.json', 'stats.csv']) t.true(existsSync(path.join(out, 'in', f)), f);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('probe: a file is probed once while its size and time stay; a changed file is probed again; a failure is not kept', async (t) => {
  const dir = tmpDir('segflow-probe-');
  try {
    const clip = await testClip(path.join(dir, 'a.mp4'), { frames: 4, audio: true });
    const n0 = probesRun;
    const [a, b] = await Promise.all([probe(clip), probe(clip)]);
    t.is(probesRun - n0, 1, 'two concurrent callers share one ffprobe');
    t.is(a, b);
    t.is(a.width, 160);
    t.is(a.audioCodec, 'aac');
    await probe(path.relative(process.cwd(), clip));
    t.is(probesRun - n0, 1, 'the same file by another name');
    const later = new Date(Date.now() + 10_000);
    utimesSync(clip, later, later);
    await probe(clip);
    t.is(probesRun - n0, 2, 'a new modification time: probed again');
    const silent = await testClip(path.join(dir, 'b.mp4'), { frames: 4 });
    t.is((await probe(silent)).audioCodec, undefined);
    const bad = path.join(dir, 'bad.mp4');
    writeFileSync(bad, 'not a video');
    await t.throwsAsync(probe(bad), { message: /not a readable video/ });
    const before = probesRun;
    await t.throwsAsync(probe(bad));
    t.is(probesRun - before, 1, 'a failed probe is asked again');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

const INIT: ThreadInit = { model: 'fast-scnn-camvid', engine: 'onnx', threads: 1, mode: { keyframeIntervalFrames: 1 } };

test.serial('prewarm: open() takes the prewarmed thread (a spare, or one already loading the same model) and segments with it', async (t) => {
  t.is(ThreadedSegmenter.prewarmed, 0);
  ThreadedSegmenter.prewarm();
  ThreadedSegmenter.prewarm();
  t.is(ThreadedSegmenter.prewarmed, 1, 'one spare');
  ThreadedSegmenter.prewarm(INIT);
  t.is(ThreadedSegmenter.prewarmed, 1, 'the spare was given the model');
  ThreadedSegmenter.prewarm(INIT);
  t.is(ThreadedSegmenter.prewarmed, 1, 'the same model is not loaded twice');
  const a = await ThreadedSegmenter.open(INIT);
  t.is(ThreadedSegmenter.prewarmed, 0, 'taken');
  const other: ThreadInit = { ...INIT, mode: { keyframeIntervalFrames: 5, nonKeyFrames: 'propagate' } };
  ThreadedSegmenter.prewarm();
  const b = await ThreadedSegmenter.open(other);
  t.is(ThreadedSegmenter.prewarmed, 0, 'a spare takes any model');
  try {
    for (const s of [a, b]) {
      const r = await s.next(new Uint8Array(64 * 48 * 3).fill(120), 64, 48, true);
      t.is(r.classes.length, 64 * 48);
      t.is(r.path, 'full');
    }
    t.is(a.manifest.name, 'fast-scnn-camvid');
  } finally {
    await Promise.all([a.close(), b.close()]);
  }
  // A model that does not load fails its open() as a fresh thread would.
  ThreadedSegmenter.prewarm({ ...INIT, model: 'no-such-model' });
  await t.throwsAsync(ThreadedSegmenter.open({ ...INIT, model: 'no-such-model' }), { message: /model 'no-such-model' not found/ });
});

test('prewarm: unused threads (a spare, models loading or loaded) are ended by dropPrewarmed, and the process exits', async (t) => {
  const script = `import { ThreadedSegmenter } from ${JSON.stringify(path.join(ROOT, 'src', 'segmentation', 'thread', 'segmenter.ts'))};
ThreadedSegmenter.prewarm();
ThreadedSegmenter.prewarm(${JSON.stringify({ ...INIT, mode: { keyframeIntervalFrames: 2 } })});
ThreadedSegmenter.prewarm(${JSON.stringify(INIT)});
ThreadedSegmenter.prewarm();
// one dropped at once (still loading), the others once ONNX Runtime is up in them
await ThreadedSegmenter.dropPrewarmed(${JSON.stringify(INIT)});
await new Promise((r) => setTimeout(r, 4000));
await ThreadedSegmenter.dropPrewarmed();
console.log('done', ThreadedSegmenter.prewarmed);`;
  const dir = tmpDir('segflow-prewarm-');
  const file = path.join(dir, 'drop.mts');
  writeFileSync(file, script);
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const r = await new Promise<{ code: number | null; out: string }>((resolve) => {
    const c = spawn(process.execPath, ['--import', 'tsx', file], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    c.stdout.on('data', (d) => (out += d));
    const timer = setTimeout(() => c.kill('SIGKILL'), 90_000);
    c.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
  t.is(r.code, 0, 'exited by itself');
  t.is(r.out.trim(), 'done 0');
});

test('a `segflow process` run whose graph has no segmenter (the spare thread unused) exits', async (t) => {
  const dir = tmpDir('segflow-startup-light-');
  try {
    const clip = await testClip(path.join(dir, 'in.mp4'), { frames: 4 });
    const graph = path.join(dir, 'light.yaml');
    writeFileSync(graph, 'version: 1\nnodes:\n  decode: { type: decoder, options: { path: "${input}" } }\n  video: { type: encoder, options: { path: "${out}/overlay.mp4", preset: ultrafast }, in: { frame: decode.frame } }\n');
    const r = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      execFile(process.execPath, [BIN, 'process', clip, '--out', path.join(dir, 'out'), '--graph', graph], { cwd: ROOT, timeout: 120_000 }, (err, _o, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, stderr }));
    });
    t.is(r.code, 0, r.stderr);
    t.true(existsSync(path.join(dir, 'out', 'in', 'overlay.mp4')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

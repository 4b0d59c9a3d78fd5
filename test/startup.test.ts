/**
 * Start-up of the offline job (issue 16): every helper process a real `segflow process` run
 * starts is counted (FFMPEG_PATH / FFPROBE_PATH point at wrappers that log each start), the probe
 * cache is checked against the real ffprobe, and a prewarmed segmenter thread is taken by the
 * segmenter that asks for it (and, unused, keeps no process alive). A built checkout runs from the
 * bundles; a folder job keeps one executor thread for its files, each file's output unchanged.
 */
import { execFile, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { probe, probesRun, onPath } from '../src/media/ffmpeg.ts';
import { ThreadedSegmenter, type ThreadInit } from '../src/segmentation/thread/segmenter.ts';
import { BIN, ROOT, tmpDir, writeLightGraph } from './helpers/cli.ts';
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
    t.true(ffmpegs.some((l) => l.includes('-f rawvideo -pix_fmt yuv420p') && l.includes('pipe:1')), 'the decoder (the default graph pipes yuv420p)');
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
    const graph = writeLightGraph(path.join(dir, 'light.yaml'));
    const r = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      execFile(process.execPath, [BIN, 'process', clip, '--out', path.join(dir, 'out'), '--graph', graph], { cwd: ROOT, timeout: 120_000 }, (err, _o, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, stderr }));
    });
    t.is(r.code, 0, r.stderr);
    t.true(existsSync(path.join(dir, 'out', 'in', 'overlay.mp4')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/**
 * A preload (`node -r`) that logs each thread of a run (main, executor threads: workerData with a
 * node registry, other workers) when it starts and when it exits, with how many CommonJS modules of
 * RxJS and yaml it loaded (none where the thread runs from the bundles: dist/src/bundle/).
 */
function threadLog(dir: string): { preload: string; log: string; read(): string[] } {
  const log = path.join(dir, 'threads.log');
  const preload = path.join(dir, 'threads.cjs');
  writeFileSync(preload, `const { isMainThread, workerData } = require('node:worker_threads');
const { appendFileSync } = require('node:fs');
const kind = isMainThread ? 'main' : workerData && typeof workerData.registry === 'string' ? 'executor' : 'worker';
appendFileSync(${JSON.stringify(log)}, 'start ' + kind + '\\n');
process.on('exit', () => {
  const cjs = Object.keys(require.cache).filter((k) => /node_modules[\\\\/](rxjs|yaml)[\\\\/]/.test(k)).length;
  appendFileSync(${JSON.stringify(log)}, 'exit ' + kind + ' ' + cjs + '\\n');
});
`);
  return { preload, log, read: () => (existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n') : []) };
}

function run(args: string[], timeout = 240_000): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, args, { cwd: ROOT, timeout }, (err, _o, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, stderr }));
  });
}

test('a fresh dist/: `segflow process` runs from the bundles (no CommonJS RxJS or yaml in the main or the executor thread), one executor thread, and exits', async (t) => {
  const { distFresh } = (await import(path.join(ROOT, 'scripts', 'build.mjs'))) as { distFresh(): boolean };
  if (process.env.SEGFLOW_FROM_SOURCE || !distFresh()) {
    t.log('skipped: dist/ is not built from these sources (npm run build), or SEGFLOW_FROM_SOURCE is set: bin/segflow.js runs them through tsx');
    t.pass();
    return;
  }
  const dir = tmpDir('segflow-bundle-');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const clip = await testClip(path.join(dir, 'in.mp4'), { frames: 6 });
  const threads = threadLog(dir);
  const r = await run(['-r', threads.preload, BIN, 'process', clip, '--out', path.join(dir, 'out')]);
  t.is(r.code, 0, r.stderr);
  const lines = threads.read();
  t.deepEqual(lines.filter((l) => l.startsWith('start')).sort(), ['start executor', 'start main'], lines.join('\n'));
  t.true(lines.includes('exit main 0'), `main thread: no CommonJS RxJS or yaml\n${lines.join('\n')}`);
  t.true(lines.includes('exit executor 0'), `executor thread: no CommonJS RxJS or yaml\n${lines.join('\n')}`);
  t.true(existsSync(path.join(dir, 'out', 'in', 'labels', '000005.png')));
});

test('a folder job keeps one executor thread for all its files, gives each file the output it gets alone, and exits', async (t) => {
  const dir = tmpDir('segflow-folder-');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const inputs = path.join(dir, 'in');
  mkdirSync(inputs);
  const clips = [
    await testClip(path.join(inputs, 'a.mp4'), { frames: 6, audio: true }),
    await testClip(path.join(inputs, 'b.mp4'), { frames: 12, width: 192, height: 108 }),
    await testClip(path.join(inputs, 'c.mp4'), { frames: 10 }),
  ];
  const threads = threadLog(dir);
  const r = await run(['-r', threads.preload, BIN, 'process', inputs, '--out', path.join(dir, 'together')]);
  t.is(r.code, 0, r.stderr);
  const lines = threads.read();
  t.is(lines.filter((l) => l === 'start executor').length, 1, `one executor thread for the three files:\n${lines.join('\n')}`);
  t.is(lines.filter((l) => l.startsWith('exit executor')).length, 1, 'and it ended');
  for (const clip of clips) {
    const alone = path.join(dir, 'alone');
    const one = await run([BIN, 'process', clip, '--out', alone]);
    t.is(one.code, 0, one.stderr);
    const name = path.basename(clip, '.mp4');
    const files = (d: string): string[] => readdirSync(d, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => path.relative(d, path.join(e.parentPath, e.name))).filter((f) => !f.endsWith('result.json')).sort();
    const want = files(path.join(alone, name));
    t.deepEqual(files(path.join(dir, 'together', name)), want, name);
    t.true(want.includes('overlay.mp4') && want.some((f) => f.endsWith('.png')), `${name}: every output`);
    for (const f of want) t.true(readFileSync(path.join(dir, 'together', name, f)).equals(readFileSync(path.join(alone, name, f))), `${name}/${f}: the same bytes in the folder job as alone`);
    rmSync(alone, { recursive: true, force: true });
  }
});

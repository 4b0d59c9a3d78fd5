/**
 * reliability › soak: a bounded long run. 20,000 frames (a 96x54 testsrc2 clip made here) go
 * through the full offline graph (graphs/dashcam-offline.yaml: decoder → downsampler → segmenter →
 * overlay → encoder, label maps, statistics) in this process with `runGraph`, the model at 64x32
 * (small, so the run stays within a few minutes on a loaded 2-core machine).
 * Resources are sampled after a 2,000-frame warm-up and near the end (1,000 frames before it),
 * with a garbage collection first:
 *
 *   RSS growth                     < 64 MB
 *   V8 heap growth                 < 32 MB (statistics keep ~20,000 per-frame rows by design)
 *   open file descriptors          ± 4 (and ± 4 against before the run, after it)
 *   child processes                the same at both samples (2 ffmpegs: decoder, encoder); after the run, the same
 *                                  as before it (no ffmpeg left)
 *   frames lost                    0 (every sink finishes all 20,000; lossless edges drop nothing)
 *
 * The segmenter's engine lives inside the graph and is not reachable from outside, so native
 * onnxruntime memory is covered by RSS; its tensor handles are checked by a second test that runs
 * the same model directly for 2,000 frames and reads `engine.liveTensors()`.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { registry } from '../nodes/index.ts';
import { loadModel } from '../src/segmentation/engine/model.ts';
import { loadGraphFile } from '../src/core/graph/loader.ts';
import { runGraph } from '../src/core/graph/runner.ts';
import { ROOT, tmpDir, videoFacts } from './helpers/cli.ts';
import { testClip } from './helpers/videos.ts';

const FRAMES = 20_000;
const CLIP = { width: 96, height: 54 };
const MODEL = { width: 64, height: 32 };
const WARMUP = 2_000;
const END_SAMPLE = FRAMES - 1_000;
const MB = 1 << 20;
const BOUNDS = { rssMB: 64, heapMB: 32, fds: 4 };
const GRAPH = path.join(ROOT, 'graphs', 'dashcam-offline.yaml');

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

interface Sample {
  frames: number;
  rssMB: number;
  heapMB: number;
  fds: number;
  children: string[];
}

/** Direct children of this process by command name, from /proc/<pid>/stat (comm, then state, then the parent pid). */
function children(pid = process.pid): string[] {
  const out: string[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')));
    } catch {
      // the process ended while we looked
    }
  }
  return out.sort();
}

function sample(frames: number): Sample {
  gc();
  const m = process.memoryUsage();
  return { frames, rssMB: +(m.rss / MB).toFixed(1), heapMB: +(m.heapUsed / MB).toFixed(1), fds: readdirSync('/proc/self/fd').length, children: children() };
}

const fmt = (s: Sample) => `${s.frames} frames: RSS ${s.rssMB} MB, heap ${s.heapMB} MB, ${s.fds} fds, children [${s.children.join(', ')}]`;

test.serial('reliability › soak: 20,000 frames through the full offline graph — RSS, heap, fds and children stay flat, no frame lost', async (t) => {
  t.timeout(8 * 60_000);
  const dir = tmpDir('segflow-soak-');
  const t0 = performance.now();
  const clip = await testClip(path.join(dir, 'long.mp4'), { ...CLIP, fps: 100, frames: FRAMES });
  const out = path.join(dir, 'out');
  const def = loadGraphFile(GRAPH, registry, { sets: [`small.width=${MODEL.width}`, `small.height=${MODEL.height}`], vars: { input: clip, out } });
  const sinks = def.nodes.filter((n) => n.spec.role === 'sink').map((n) => n.name);
  t.deepEqual(sinks.sort(), ['masks', 'stats', 'video']);

  // onnxruntime opens a few files once per process (its cache database): open and drop a model first,
  // so `before` counts them too.
  await (await loadModel({ model: 'fast-scnn-camvid', engine: 'onnx' })).dispose();
  const before = sample(0);
  const series: Sample[] = [];
  const perSink = new Map(sinks.map((s) => [s, 0]));
  let done = 0;
  let start: Sample | undefined;
  let end: Sample | undefined;
  const tRun = performance.now();
  const res = await runGraph(def, {
    log: () => {},
    onDone: (sink) => {
      perSink.set(sink, perSink.get(sink)! + 1);
      const all = Math.min(...perSink.values());
      if (all === done) return;
      done = all;
      if (done % 2000 === 0 || done === END_SAMPLE) {
        const s = sample(done);
        series.push(s);
        if (done === WARMUP) start = s;
        if (done === END_SAMPLE) end = s;
      }
    },
  });
  const runS = (performance.now() - tRun) / 1000;
  // Children end with the run; give the kernel a moment to reap them.
  let after = sample(FRAMES);
  for (let i = 0; i < 50 && after.children.length > before.children.length; i++) {
    await new Promise((r) => setTimeout(r, 100));
    after = sample(FRAMES);
  }

  t.log(`ran ${FRAMES} frames in ${runS.toFixed(1)} s (${(FRAMES / runS).toFixed(0)} fps end to end); clip made in ${((tRun - t0) / 1000).toFixed(1)} s`);
  t.log(`before: ${fmt(before)}`);
  for (const s of series) t.log(fmt(s));
  t.log(`after:  ${fmt(after)}`);

  t.false(res.interrupted);
  t.truthy(start, 'sampled after warm-up');
  t.truthy(end, 'sampled near the end');
  t.true(end!.rssMB - start!.rssMB < BOUNDS.rssMB, `RSS grew ${(end!.rssMB - start!.rssMB).toFixed(1)} MB (bound ${BOUNDS.rssMB} MB)`);
  t.true(end!.heapMB - start!.heapMB < BOUNDS.heapMB, `heap grew ${(end!.heapMB - start!.heapMB).toFixed(1)} MB (bound ${BOUNDS.heapMB} MB)`);
  t.true(Math.abs(end!.fds - start!.fds) <= BOUNDS.fds, `fds ${start!.fds} → ${end!.fds}`);
  t.true(Math.abs(after.fds - before.fds) <= BOUNDS.fds, `fds before the run ${before.fds}, after ${after.fds}`);
  // The test process has its own helper child (tsx's esbuild service) before and after; the run adds its ffmpegs.
  t.deepEqual(end!.children, start!.children, 'same child processes at both samples');
  t.is(start!.children.filter((c) => c === 'ffmpeg').length, 2, 'decoder and encoder ffmpegs while running (label PNGs are encoded in-process)');
  t.deepEqual(after.children, before.children, 'the run leaves no child process behind');
  t.deepEqual(after.children.filter((c) => c === 'ffmpeg'), []);

  // No frame lost: every sink finished every frame, every edge is lossless with no drop.
  t.deepEqual(Object.fromEntries(perSink), { video: FRAMES, masks: FRAMES, stats: FRAMES });
  const m = res.metrics.toJSON() as { edges: Record<string, { drops: number }> };
  t.deepEqual(Object.values(m.edges).map((e) => e.drops).filter((d) => d > 0), []);
  const tCheck = performance.now();
  t.is((await videoFacts(path.join(out, 'overlay.mp4'))).frames, FRAMES);
  t.is(readdirSync(path.join(out, 'labels')).filter((f) => f.endsWith('.png')).length, FRAMES);
  t.is(JSON.parse(readFileSync(path.join(out, 'stats.json'), 'utf8')).frames, FRAMES);
  t.log(`checks ${((performance.now() - tCheck) / 1000).toFixed(1)} s; test ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  // Deleting 20,000 freshly written files can take the loaded disk tens of seconds: do it in the background.
  spawn('rm', ['-rf', dir], { detached: true, stdio: 'ignore' }).unref();
});

test.serial('reliability › soak: the ONNX engine holds no more tensor handles after 2,000 frames than after 200, and none once disposed', async (t) => {
  const model = await loadModel({ model: 'fast-scnn-camvid', engine: 'onnx' });
  const e = model.engine;
  const { width: w, height: h } = MODEL;
  const rgb = new Uint8Array(w * h * 3);
  let at200 = -1;
  for (let i = 0; i < 2000; i++) {
    for (let j = 0; j < rgb.length; j += 97) rgb[j] = (i + j) & 0xff;
    if (i % 500 === 0) model.reset(); // a discontinuity now and then
    await model.segment(rgb, w, h, { reuseDeep: i % 5 !== 0, withScores: i % 7 === 0 });
    if (i === 199) at200 = e.liveTensors();
  }
  const at2000 = e.liveTensors();
  t.log(`liveTensors: ${at200} after 200 frames, ${at2000} after 2000 (${model.runs.full} full, ${model.runs.shallow} shallow)`);
  t.true(at200 >= 0, 'the engine counts its tensors');
  t.is(at2000, at200);
  t.true(at2000 <= 1, 'at most the kept deep features');
  await model.dispose();
  t.is(e.liveTensors(), 0);
});

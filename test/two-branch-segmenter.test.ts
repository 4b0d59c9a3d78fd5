import test from 'ava';
import { execFileSync } from 'node:child_process';
import { from, lastValueFrom, Subject, toArray, type Observable } from 'rxjs';
import { labelPropagation, registry, twoBranchSegmenter } from '../nodes/index.ts';
import { ffmpegPaths } from '../src/media/ffmpeg.ts';
import { parseGraph } from '../src/core/graph/loader.ts';
import { runGraph } from '../src/core/graph/runner.ts';
import { blockMotion, thumbnail, warpLabels } from '../src/kernels/motion.ts';
import { createNodeContext } from '../src/core/runtime/context.ts';
import type { AnyInstance, NodeSpec } from '../src/core/node.ts';
import type { Frame, Labels } from '../src/core/packet.ts';
import { Metrics } from '../src/core/runtime/metrics.ts';
import { unlimitedFlow } from '../src/core/runtime/flow.ts';
import { defaultQueue } from '../src/core/runtime/queue.ts';
import path from 'node:path';
import { SAMPLE, tmpDir } from './helpers/cli.ts';

const W = 320, H = 180;
/** The first n frames of the bundled sample at 320x180, decoded by the real ffmpeg. */
function sampleFrames(n: number): Uint8Array[] {
  const buf = execFileSync(ffmpegPaths().ffmpeg, ['-v', 'error', '-i', SAMPLE, '-frames:v', String(n), '-vf', `scale=${W}:${H}`, '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1'], { maxBuffer: 1 << 28 });
  return Array.from({ length: n }, (_, i) => new Uint8Array(buf.subarray(i * W * H * 3, (i + 1) * W * H * 3)));
}
const frame = (data: Uint8Array, seq: number, discontinuity?: string): Frame =>
  ({ kind: 'frame', source: 'cam', seq, ptsMs: seq * 40, width: W, height: H, data, discontinuity });

async function open<S extends NodeSpec>(spec: S, options: Record<string, unknown>) {
  const metrics = new Metrics();
  const ctx = createNodeContext(spec, { name: 'n', options: spec.options.parse(options), metrics });
  return { inst: (await spec.open(ctx)) as AnyInstance as { process(i: Record<string, Observable<Frame | Labels>>): Record<string, Observable<Labels>>; close(): Promise<void> }, metrics };
}

/** Every label map a segmenter with `options` makes of `frames`. */
async function segmentLabels(options: Record<string, unknown>, frames: Frame[]): Promise<Labels[]> {
  const { inst } = await open(twoBranchSegmenter, options);
  try {
    return await lastValueFrom(inst.process({ frame: from(frames) }).labels!.pipe(toArray()));
  } finally {
    await inst.close();
  }
}

async function segmentPaths(options: Record<string, unknown>, frames: Frame[]): Promise<string[]> {
  return (await segmentLabels(options, frames)).map((l: Labels) => l.path);
}

test('two-branch-segmenter › non-key frames take the cheaper path (counted in the graph metrics)', async (t) => {
  for (const nonKey of ['shallow', 'fuse', 'propagate']) {
    const def = parseGraph(`version: 1
nodes:
  decode:  { type: decoder, options: { path: "${SAMPLE}", maxFrames: 40 } }
  small:   { type: downsampler, options: { width: 320, height: 180 }, in: { frame: decode.frame } }
  segment: { type: two-branch-segmenter, options: { keyframeIntervalFrames: 4, nonKeyFrames: ${nonKey} }, in: { frame: small.frame } }
  stats:   { type: statistics-sink, options: { json: "${path.join(tmpDir(), 'stats.json')}" }, in: { labels: segment.labels } }
`, 'g.yaml', registry);
    const r = await runGraph(def, { log: () => {} });
    const paths = r.metrics.counters.get('segmenter_path_total')!;
    const count = (p: string) => paths.get(`{node="segment",path="${p}"}`) ?? 0;
    t.is(count('full'), 10, `${nonKey}: one key frame in 4`);
    t.is(count(({ shallow: 'shallow', fuse: 'fused', propagate: 'propagated' } as Record<string, string>)[nonKey]!), 30, nonKey);
  }
});

test('two-branch-segmenter › a discontinuity forces a key frame and resets kept features', async (t) => {
  const imgs = sampleFrames(8);
  const frames = imgs.map((d, i) => frame(d, i, i === 0 ? 'start' : i === 5 ? 'reconnect' : undefined));
  t.deepEqual(await segmentPaths({ keyframeIntervalFrames: 100 }, frames), ['full', 'shallow', 'shallow', 'shallow', 'shallow', 'full', 'shallow', 'shallow']);
  t.deepEqual(await segmentPaths({ keyframeIntervalFrames: 100, nonKeyFrames: 'propagate' }, frames), ['full', 'propagated', 'propagated', 'propagated', 'propagated', 'full', 'propagated', 'propagated']);
  t.deepEqual(await segmentPaths({ keyframeIntervalFrames: 100, nonKeyFrames: 'fuse' }, frames), ['full', 'fused', 'fused', 'fused', 'fused', 'full', 'fused', 'fused']);
});

test('two-branch-segmenter › after a discontinuity every mode gives exactly the labels of a fresh start (no state survives)', async (t) => {
  const imgs = sampleFrames(9);
  for (const nonKeyFrames of ['shallow', 'fuse', 'propagate']) {
    const run = async (frames: Frame[]) => {
      const { inst } = await open(twoBranchSegmenter, { keyframeIntervalFrames: 100, nonKeyFrames });
      try {
        return await lastValueFrom(inst.process({ frame: from(frames) }).labels!.pipe(toArray()));
      } finally {
        await inst.close();
      }
    };
    const whole = await run(imgs.map((d, i) => frame(d, i, i === 0 ? 'start' : i === 5 ? 'reconnect' : undefined)));
    const fresh = await run(imgs.slice(5).map((d, i) => frame(d, i + 5, i === 0 ? 'start' : undefined)));
    for (let i = 0; i < fresh.length; i++) t.deepEqual(whole[5 + i]!.classes, fresh[i]!.classes, `${nonKeyFrames}: frame ${5 + i}`);
    // and the state did matter before the cut: frame 6 continued from frame 0's key frame differs from frame 6 after the cut's key frame
    const before = await run(imgs.map((d, i) => frame(d, i, i === 0 ? 'start' : undefined)));
    t.notDeepEqual(before[7]!.classes, whole[7]!.classes, `${nonKeyFrames}: state carried across frames`);
  }
});

test('two-branch-segmenter › the temporal fuser changes the kept features (fused labels differ from plain reuse)', async (t) => {
  const imgs = sampleFrames(6);
  const frames = imgs.map((d, i) => frame(d, i, i === 0 ? 'start' : undefined));
  const labelsOf = async (nonKeyFrames: string) => {
    const { inst } = await open(twoBranchSegmenter, { keyframeIntervalFrames: 100, nonKeyFrames });
    try {
      return await lastValueFrom(inst.process({ frame: from(frames) }).labels!.pipe(toArray()));
    } finally {
      await inst.close();
    }
  };
  const [fused, shallow] = [await labelsOf('fuse'), await labelsOf('shallow')];
  t.deepEqual(fused[0]!.classes, shallow[0]!.classes, 'the key frame is the same network');
  let differ = 0;
  for (let i = 1; i < 6; i++) for (let j = 0; j < W * H; j++) differ += fused[i]!.classes[j] !== shallow[i]!.classes[j] ? 1 : 0;
  t.true(differ > 0, 'fused frames differ from plain reuse somewhere');
  t.true(differ < 0.25 * 5 * W * H, `but mostly agree (${differ} pixels differ)`);
});

test('two-branch-segmenter › key frames are refined by the fuser by default; refine: false is the network alone', async (t) => {
  const imgs = sampleFrames(4);
  const frames = imgs.map((d, i) => frame(d, i, i === 0 ? 'start' : undefined));
  const labelsOf = (options: Record<string, unknown>) => segmentLabels({ keyframeIntervalFrames: 100, ...options }, frames);
  const [refined, plain] = [await labelsOf({}), await labelsOf({ refine: false })];
  const differ = (a: Labels, b: Labels) => a.classes.reduce((n, v, j) => n + (v !== b.classes[j] ? 1 : 0), 0);
  t.deepEqual(refined.map((l) => l.path), ['full', 'shallow', 'shallow', 'shallow']);
  t.true(differ(refined[0]!, plain[0]!) > 0, 'the refined key frame differs from the network alone');
  t.true(differ(refined[2]!, plain[2]!) > 0, 'non-key frames reuse the refined deep features');

  // counted in the model: once per frame that runs the deep branch, never on reuse
  const { loadModel } = await import('../src/segmentation/engine/model.ts');
  const m = await loadModel({ threads: 1 });
  try {
    await m.segment(imgs[0]!, W, H, { refine: true });
    await m.segment(imgs[1]!, W, H, { refine: true, reuseDeep: true });
    await m.segment(imgs[2]!, W, H, { refine: false });
    t.deepEqual(m.runs, { full: 2, shallow: 1, fused: 0, refined: 1 });
  } finally {
    await m.dispose();
  }
});

test('two-branch-segmenter › adaptive key frames: a scene cut forces one, a still scene does not', async (t) => {
  const imgs = sampleFrames(6);
  const cut = imgs[5]!.map((v) => 255 - v); // a different picture
  const frames = [...imgs.slice(0, 5), cut].map((d, i) => frame(d, i, i === 0 ? 'start' : undefined));
  t.deepEqual(await segmentPaths({ keyframeIntervalFrames: 100, keyframeChangeThreshold: 20, nonKeyFrames: 'propagate' }, frames), ['full', 'propagated', 'propagated', 'propagated', 'propagated', 'full']);
});

test('two-branch-segmenter › the worker thread gives the same labels and paths as the JS thread, discontinuity included', async (t) => {
  const data = sampleFrames(12);
  const frames = data.map((d, i) => frame(d, i, i === 0 ? 'start' : i === 7 ? 'seek' : undefined));
  const run = async (thread: boolean) => {
    const { inst } = await open(twoBranchSegmenter, { keyframeIntervalFrames: 4, nonKeyFrames: 'propagate', thread });
    try {
      return await lastValueFrom(inst.process({ frame: from(frames) }).labels!.pipe(toArray()));
    } finally {
      await inst.close();
    }
  };
  const [a, b] = [await run(true), await run(false)];
  t.deepEqual(a.map((l) => l.path), ['full', 'propagated', 'propagated', 'propagated', 'full', 'propagated', 'propagated', 'full', 'propagated', 'propagated', 'propagated', 'full']);
  t.deepEqual(a.map((l) => l.path), b.map((l) => l.path));
  t.deepEqual(a.map((l) => l.seq), b.map((l) => l.seq));
  for (let i = 0; i < a.length; i++) t.deepEqual(a[i]!.classes, b[i]!.classes, `frame ${i}`);
});

test('two-branch-segmenter › fuse with a model that has no fuser is refused at open, on either thread', async (t) => {
  const { cpSync, readFileSync, writeFileSync } = await import('node:fs');
  const dir = path.join(tmpDir(), 'no-fuser');
  cpSync(path.resolve('models', 'fast-scnn-camvid'), dir, { recursive: true });
  const m = JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
  delete m.parts.fuser;
  writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify(m));
  for (const thread of [true, false]) {
    await t.throwsAsync(open(twoBranchSegmenter, { model: dir, nonKeyFrames: 'fuse', thread }), { message: /needs a model with a temporal fuser/ }, `thread ${thread}`);
  }
  const { inst } = await open(twoBranchSegmenter, { model: dir, nonKeyFrames: 'shallow' }); // the same model is fine without fuse
  await inst.close();
});

test('two-branch-segmenter › a segmenter thread that dies fails the calls waiting on it (no hang) and later calls at once', async (t) => {
  const { ThreadedSegmenter } = await import('../src/segmentation/thread/segmenter.ts');
  // Killed while it carries labels (JS work), not inside an ONNX Runtime call: terminating a
  // thread during a native call can abort the whole process (onnxruntime-node's async work
  // calls back into a dead environment) — the runtime itself never does that (close() waits).
  const seg = await ThreadedSegmenter.open({ model: 'fast-scnn-camvid', engine: 'onnx', threads: 1, mode: { keyframeIntervalFrames: 1000, nonKeyFrames: 'propagate' } });
  const big = new Uint8Array(1920 * 1080 * 3).fill(90);
  t.is((await seg.next(big, 1920, 1080, true)).path, 'full');
  const pending = [seg.next(big, 1920, 1080, false), seg.next(big, 1920, 1080, false)];
  await (seg as unknown as { worker: { terminate(): Promise<number> } }).worker.terminate();
  for (const p of pending) await t.throwsAsync(p, { message: /segmenter thread exited/ });
  await t.throwsAsync(seg.next(big, 1920, 1080, false), { message: /segmenter thread exited/ });
  await seg.close();
});

test('two-branch-segmenter › a frame larger than the model\'s scale is run fitted down to it (480 px longer side), not at its own size; smaller frames and explicit sizes as given', async (t) => {
  const { loadModel } = await import('../src/segmentation/engine/model.ts');
  const m = await loadModel({ threads: 1 });
  try {
    t.deepEqual(m.inferenceSize(1920, 1080), { inW: 480, inH: 270 });
    t.deepEqual(m.inferenceSize(1080, 1920), { inW: 270, inH: 480 });
    t.deepEqual(m.inferenceSize(640, 480), { inW: 480, inH: 360 });
    t.deepEqual(m.inferenceSize(480, 270), { inW: 480, inH: 270 });
    t.deepEqual(m.inferenceSize(320, 180), { inW: 320, inH: 180 });
    t.deepEqual(m.inferenceSize(1920, 1080, 960, 540), { inW: 960, inH: 540 });
    t.deepEqual(m.inferenceSize(1920, 1080, 960, 0), { inW: 960, inH: 1080 }, 'one side given: the other is the frame\'s, as before');
  } finally {
    await m.dispose();
  }
  // Through the node (its thread and the JS thread): a 960x540 frame by default gives exactly the labels of
  // inputWidth/inputHeight 480x270, at the frame's size.
  const BW = 960, BH = 540;
  const buf = execFileSync(ffmpegPaths().ffmpeg, ['-v', 'error', '-i', SAMPLE, '-frames:v', '2', '-vf', `scale=${BW}:${BH}`, '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1'], { maxBuffer: 1 << 28 });
  const big = [0, 1].map((i): Frame => ({ kind: 'frame', source: 'cam', seq: i, ptsMs: i * 40, width: BW, height: BH, data: new Uint8Array(buf.subarray(i * BW * BH * 3, (i + 1) * BW * BH * 3)), discontinuity: i === 0 ? 'start' : undefined }));
  const labelsOf = (options: Record<string, unknown>) => segmentLabels({ keyframeIntervalFrames: 100, ...options }, big);
  for (const thread of [false, true]) {
    const [auto, fixed, own] = [await labelsOf({ thread }), await labelsOf({ thread, inputWidth: 480, inputHeight: 270 }), await labelsOf({ thread, inputWidth: BW, inputHeight: BH })];
    t.is(auto[0]!.width, BW);
    t.is(auto[0]!.classes.length, BW * BH);
    t.deepEqual(auto.map((l) => Buffer.from(l.classes)), fixed.map((l) => Buffer.from(l.classes)), `thread ${thread}: default = 480x270`);
    t.notDeepEqual(auto.map((l) => Buffer.from(l.classes)), own.map((l) => Buffer.from(l.classes)), `thread ${thread}: not the frame's own size`);
  }
});

/**
 * temporal-fuser with the real model: keyframe-scheduler → two-branch-segmenter (features only) →
 * temporal-fuser, opened outside a graph on this thread (an executor's situation: one thread).
 * Counting tests: non-key frames never reach the deep branch; the state resets on discontinuity;
 * key frames get the monolithic segmenter's test-time augmentation (equal labels, counted views),
 * on real dashcam frames and end to end through graphs/dashcam-offline-fuser.yaml.
 */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { from, lastValueFrom, map, tap, toArray, type Observable } from 'rxjs';
import { keyframeScheduler, registry, temporalFuser, twoBranchSegmenter } from '../nodes/index.ts';
import { GraphError } from '../src/core/errors.ts';
import { parseGraph } from '../src/core/graph/loader.ts';
import { ffmpegPaths } from '../src/media/ffmpeg.ts';
import type { Model } from '../src/segmentation/engine/model.ts';
import type { Features, Frame, Labels } from '../src/core/packet.ts';
import { openFeatures } from '../src/segmentation/features.ts';
import { counter, frameOf, H, openNode, sampleFrames, W } from './helpers/nodes.ts';
import { needsShared, SHARED, segflow, tmpDir } from './helpers/cli.ts';

const IMGS = sampleFrames(12);

interface Opts {
  /** The scheduler's interval (4 unless told). */
  interval?: number;
  /** The segmenter's `tta` (its default, auto, unless told). */
  segTta?: string;
  /** The fuser's `tta` (its default, auto: the segmenter's). */
  fuseTta?: string;
}

/** scheduler → segmenter → fuser over `frames`; the labels, the segmenter's model, the fuser's metrics. */
async function decomposed(frames: Frame[], cell: 'lstm' | 'gru', tamper: (x: Features) => Features = (x) => x, o: Opts = {}) {
  const keys = await openNode(keyframeScheduler, { keyframeIntervalFrames: o.interval ?? 4, nonKeyFrames: 'fuse' });
  const seg = await openNode(twoBranchSegmenter, { fuserCell: cell, thread: false, ...(o.segTta ? { tta: o.segTta } : {}) }, 'segment');
  const fuse = await openNode(temporalFuser, { cell, ...(o.fuseTta ? { tta: o.fuseTta } : {}) }, 'fuse');
  let model: Model | undefined;
  try {
    const marked = keys.inst.process({ frame: from(frames) }).frame as Observable<Frame>;
    const features = (seg.inst.process({ frame: marked }).features as Observable<Features>).pipe(tap((x) => (model ??= openFeatures(x.handle).model)), map(tamper));
    const labels = await lastValueFrom((fuse.inst.process({ features }).labels as Observable<Labels>).pipe(toArray()));
    return { labels, model: model!, runs: { ...model!.runs, deep: model!.deepRuns, views: model!.ttaViewRuns }, metrics: fuse.metrics, segMetrics: seg.metrics };
  } finally {
    await fuse.inst.close();
    await seg.inst.close();
  }
}

/** The monolithic segmenter's own fuse path (the reference), key frames every `interval` frames, with `tta`. */
async function monolithic(frames: Frame[], cell: 'lstm' | 'gru', interval = 4, tta?: string): Promise<Labels[]> {
  const { inst } = await openNode(twoBranchSegmenter, { keyframeIntervalFrames: interval, nonKeyFrames: 'fuse', fuserCell: cell, thread: false, ...(tta ? { tta } : {}) });
  try {
    return await lastValueFrom((inst.process({ frame: from(frames) }).labels as Observable<Labels>).pipe(toArray()));
  } finally {
    await inst.close();
  }
}

const same = (a: Labels, b: Labels) => Buffer.from(a.classes).equals(Buffer.from(b.classes));
const differing = (a: Labels, b: Labels) => a.classes.reduce((n, v, i) => n + (v === b.classes[i] ? 0 : 1), 0);

const CLIP = path.join(SHARED, 'data', 'video', 'solidWhiteRight.mp4');

/** `n` frames of the real dashcam clip from frame `start`, at the helpers' 320x180, decoded by the real ffmpeg. */
function clipFrames(n: number, start: number): Frame[] {
  const buf = execFileSync(ffmpegPaths().ffmpeg, ['-v', 'error', '-i', CLIP, '-vf', `select=gte(n\\,${start}),scale=${W}:${H}`, '-frames:v', String(n), '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1'], { maxBuffer: 1 << 28 });
  return Array.from({ length: n }, (_, i) => frameOf(new Uint8Array(buf.subarray(i * W * H * 3, (i + 1) * W * H * 3)), i, i === 0 ? 'start' : undefined));
}

for (const cell of ['lstm', 'gru'] as const) {
  test.serial(`temporal-fuser › ${cell}: non-key frames never reach the deep branch, and the labels equal the monolithic fuse path`, async (t) => {
    const frames = IMGS.map((d, i) => frameOf(d, i, i === 0 ? 'start' : undefined));
    const r = await decomposed(frames, cell);
    t.is(r.labels.length, 12, 'one label map per frame');
    t.is(r.runs.deep, 3, 'the deep branch ran on the 3 key frames only (0, 4, 8)');
    t.is(r.runs.full, 0, 'the segmenter never ran its head');
    t.is(r.runs.fused, 9, 'the cell ran on the 9 other frames');
    t.deepEqual(r.labels.map((l) => l.path), ['full', 'fused', 'fused', 'fused', 'full', 'fused', 'fused', 'fused', 'full', 'fused', 'fused', 'fused']);
    t.is(counter(r.segMetrics, 'segmenter_path_total', '{node="segment",path="features"}'), 9, 'non-key frames: shallow features only');
    t.is(r.model.fuserCell, cell, 'the fuser used the segmenter\'s model (its cell)');
    const ref = await monolithic(frames, cell);
    t.is(ref.length, 12);
    ref.forEach((l, i) => t.true(same(l, r.labels[i]!), `frame ${i}: decomposed labels equal the monolithic ${cell} fuse path`));
  });
}

test.serial('temporal-fuser › a discontinuity resets the state: labels after it equal a fresh start, with a forced key frame', async (t) => {
  const frames = IMGS.map((d, i) => frameOf(d, i, i === 0 ? 'start' : i === 6 ? 'seek' : undefined));
  const r = await decomposed(frames, 'lstm');
  t.deepEqual(r.labels.map((l) => l.path), ['full', 'fused', 'fused', 'fused', 'full', 'fused', 'full', 'fused', 'fused', 'fused', 'full', 'fused']);
  t.is(r.runs.deep, 4, 'key frames 0, 4, 6 (forced) and 10');
  t.is(counter(r.metrics, 'fuser_path_total', '{node="fuse",path="full"}'), 4);
  t.is(r.labels[6]!.discontinuity, 'seek', 'the mark passes on');
  const fresh = await decomposed(frames.slice(6).map((f, i) => (i === 0 ? { ...f, discontinuity: 'start' } : f)), 'lstm');
  fresh.labels.forEach((l, i) => t.true(Buffer.from(l.classes).equals(Buffer.from(r.labels[6 + i]!.classes)), `frame ${6 + i}: same as a fresh start`));
});

test.serial('temporal-fuser › a discontinuity on a non-key frame drops the state: no labels until the next key frame (counted)', async (t) => {
  const frames = IMGS.map((d, i) => frameOf(d, i, i === 0 ? 'start' : undefined));
  // The mark lands on the fuser's input only (as if a queue upstream had passed it on to a non-key frame).
  const r = await decomposed(frames, 'gru', (x) => (x.seq === 5 ? { ...x, discontinuity: 'cut' } : x));
  t.deepEqual(r.labels.map((l) => l.seq), [0, 1, 2, 3, 4, 8, 9, 10, 11], 'frames 5-7 had no state to fuse');
  t.is(counter(r.metrics, 'fuser_frames_without_state_total', '{node="fuse"}'), 3);
});

// Key-frame TTA: the fuser runs the monolithic segmenter's views (each refined by its cell) and averages as it does.
for (const [cell, how, o, spec, views] of [
  ['lstm', "the segmenter's tta (fuser auto)", { segTta: '1,1.25' }, '1,1.25', 1],
  ['gru', "the fuser's own tta", { fuseTta: 'flip+0.75,1' }, 'flip+0.75,1', 3],
] as const) {
  needsShared(test.serial, CLIP)(`temporal-fuser › ${cell}, ${how} ${spec}: key-frame TTA labels equal the monolithic segmenter's on real dashcam frames; non-key frames keep the base view's state`, async (t) => {
    const frames = clipFrames(10, 60);
    const r = await decomposed(frames, cell, undefined, o);
    t.deepEqual(r.labels.map((l) => l.path), ['full', 'fused', 'fused', 'fused', 'full', 'fused', 'fused', 'fused', 'full', 'fused']);
    t.is(r.runs.views, 3 * views, `${views} extra view(s) on each of the 3 key frames`);
    t.is(r.runs.deep, 3 * (1 + views), 'the deep branch: the base view and the TTA views of key frames only');
    t.is(r.runs.fused, 7, 'the cell alone on the 7 other frames');
    t.is(counter(r.metrics, 'fuser_tta_views_total', '{node="fuse"}'), 3 * views, 'views counted');
    const ref = await monolithic(frames, cell, 4, spec);
    ref.forEach((l, i) => t.true(same(l, r.labels[i]!), `frame ${i}: the decomposed fuser's labels equal the monolithic ${cell} fuse path with tta ${spec} (${differing(l, r.labels[i]!)} pixels differ)`));
    const plain = await decomposed(frames, cell, undefined, { segTta: 'off' });
    t.is(plain.runs.views, 0, 'tta off: no views');
    const keyDiff = [0, 4, 8].reduce((n, i) => n + differing(plain.labels[i]!, r.labels[i]!), 0);
    t.true(keyDiff > 0, `TTA changed key frames' labels (${keyDiff} pixels of ${3 * W * H})`);
    t.log(`${cell} ${spec}: ${keyDiff} of ${3 * W * H} key-frame pixels changed by TTA`);
    for (const i of [1, 2, 3, 5, 6, 7, 9]) t.true(same(plain.labels[i]!, r.labels[i]!), `frame ${i} (non-key): the state carried on is the base view's, as without TTA`);
  });
}

test.serial("temporal-fuser › tta auto follows the segmenter's: its auto resolves from the scheduler's interval (views at 1 and 1.25x from interval 10)", async (t) => {
  const frames = IMGS.map((d, i) => frameOf(d, i, i === 0 ? 'start' : undefined));
  const sparse = await decomposed(frames, 'lstm', undefined, { interval: 10 });
  t.deepEqual(sparse.labels.map((l) => l.path).map((p, i) => (p === 'full' ? i : -1)).filter((i) => i >= 0), [0, 10]);
  t.is(sparse.runs.views, 2, 'one extra view (1.25x) on each of the 2 key frames');
  const ref = await monolithic(frames, 'lstm', 10);
  ref.forEach((l, i) => t.true(same(l, sparse.labels[i]!), `frame ${i}: equal to the monolithic segmenter's auto at interval 10`));
  const dense = await decomposed(frames, 'lstm');
  t.is(dense.runs.views, 0, 'interval 4: auto is off');
  const off = await decomposed(frames, 'lstm', undefined, { interval: 10, fuseTta: 'off' });
  t.is(off.runs.views, 0, "the fuser's tta off overrides the segmenter's");
});

test('temporal-fuser › the loader rejects a bad tta with the accepted forms', (t) => {
  const graph = (tta: string) => `version: 1
nodes:
  decode:  { type: decoder, options: { path: a.mp4 } }
  keys:    { type: keyframe-scheduler, executor: seg, options: { nonKeyFrames: fuse }, in: { frame: decode.frame } }
  segment: { type: two-branch-segmenter, executor: seg, in: { frame: keys.frame } }
  fuse:    { type: temporal-fuser, executor: seg, options: { tta: "${tta}" }, in: { features: segment.features } }
  masks:   { type: label-map-sink, options: { dir: out }, in: { labels: fuse.labels } }
`;
  for (const bad of ['sideways', '1,9', 'flip+', '0.1']) {
    const e = t.throws(() => parseGraph(graph(bad), 'g.yaml', registry), { instanceOf: GraphError });
    t.regex(e!.message, /fuse.*tta/s, `${bad}: names the node and the option`);
    t.regex(e!.message, /expected auto, off, flip, scales/, `${bad}: says what is accepted`);
  }
  for (const good of ['auto', 'off', 'flip', 'scales', 'flip+scales', '0.75,1,1.5']) t.notThrows(() => parseGraph(graph(good), 'g.yaml', registry), good);
});

// End to end: graphs/dashcam-offline-fuser.yaml and its monolithic equivalent (the scheduler's marks, the
// segmenter's own fuse path) write byte-identical label PNGs, with key-frame TTA on.
needsShared(test.serial, CLIP)('temporal-fuser › graphs/dashcam-offline-fuser.yaml with key-frame TTA writes the monolithic graph\'s label maps byte for byte (first 24 frames of the real clip)', async (t) => {
  const dir = tmpDir('segflow-fuser-tta-');
  const mono = path.join(dir, 'mono.yaml');
  const g = readFileSync(path.join(import.meta.dirname, '..', 'graphs', 'dashcam-offline-fuser.yaml'), 'utf8');
  // The same graph with the segmenter's labels port in place of the fuser's.
  writeFileSync(mono, g.replace(/^  fuse: .*\n.*\n/m, '').replaceAll('fuse.labels', 'segment.labels'));
  t.notRegex(readFileSync(mono, 'utf8'), /temporal-fuser/);
  const run = async (graph: string, out: string) => {
    const r = await segflow(['run', graph, '--var', `input=${CLIP}`, '--var', `out=${out}`, '--set', 'decode.maxFrames=24', '--set', 'segment.tta=1,1.25'], { timeoutMs: 600_000 });
    t.is(r.code, 0, r.stderr);
    return r;
  };
  const a = await run(path.join(import.meta.dirname, '..', 'graphs', 'dashcam-offline-fuser.yaml'), path.join(dir, 'fuser'));
  t.regex(a.stderr + a.stdout, /key-frame TTA 1,1\.25 \(auto: the segmenter's\)/, 'the fuser says which TTA its key frames got');
  await run(mono, path.join(dir, 'mono'));
  const pngs = (d: string) => readdirSync(path.join(dir, d, 'labels')).filter((f) => f.endsWith('.png')).sort();
  t.is(pngs('fuser').length, 24);
  t.deepEqual(pngs('fuser'), pngs('mono'));
  const unequal = pngs('fuser').filter((f) => !readFileSync(path.join(dir, 'fuser', 'labels', f)).equals(readFileSync(path.join(dir, 'mono', 'labels', f))));
  t.deepEqual(unequal, [], 'every label PNG byte-identical');
});

/**
 * temporal-fuser with the real model: keyframe-scheduler → two-branch-segmenter (features only) →
 * temporal-fuser, opened outside a graph on this thread (an executor's situation: one thread).
 * Counting tests: non-key frames never reach the deep branch; the state resets on discontinuity.
 */
import test from 'ava';
import { from, lastValueFrom, map, tap, toArray, type Observable } from 'rxjs';
import { keyframeScheduler, temporalFuser, twoBranchSegmenter } from '../nodes/index.ts';
import type { Model } from '../src/segmentation/engine/model.ts';
import type { Features, Frame, Labels } from '../src/core/packet.ts';
import { openFeatures } from '../src/segmentation/features.ts';
import { counter, frameOf, openNode, sampleFrames } from './helpers/nodes.ts';

const IMGS = sampleFrames(12);

/** scheduler → segmenter → fuser over `frames`; the labels, the segmenter's model, the fuser's metrics. */
async function decomposed(frames: Frame[], cell: 'lstm' | 'gru', tamper: (x: Features) => Features = (x) => x) {
  const keys = await openNode(keyframeScheduler, { keyframeIntervalFrames: 4, nonKeyFrames: 'fuse' });
  const seg = await openNode(twoBranchSegmenter, { fuserCell: cell, thread: false }, 'segment');
  const fuse = await openNode(temporalFuser, { cell }, 'fuse');
  let model: Model | undefined;
  try {
    const marked = keys.inst.process({ frame: from(frames) }).frame as Observable<Frame>;
    const features = (seg.inst.process({ frame: marked }).features as Observable<Features>).pipe(tap((x) => (model ??= openFeatures(x.handle).model)), map(tamper));
    const labels = await lastValueFrom((fuse.inst.process({ features }).labels as Observable<Labels>).pipe(toArray()));
    return { labels, model: model!, runs: { ...model!.runs, deep: model!.deepRuns }, metrics: fuse.metrics, segMetrics: seg.metrics };
  } finally {
    await fuse.inst.close();
    await seg.inst.close();
  }
}

/** The monolithic segmenter's own fuse path (the reference). */
async function monolithic(frames: Frame[], cell: 'lstm' | 'gru'): Promise<Labels[]> {
  const { inst } = await openNode(twoBranchSegmenter, { keyframeIntervalFrames: 4, nonKeyFrames: 'fuse', fuserCell: cell, thread: false });
  try {
    return await lastValueFrom((inst.process({ frame: from(frames) }).labels as Observable<Labels>).pipe(toArray()));
  } finally {
    await inst.close();
  }
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
    ref.forEach((l, i) => t.true(Buffer.from(l.classes).equals(Buffer.from(r.labels[i]!.classes)), `frame ${i}: decomposed labels equal the monolithic ${cell} fuse path`));
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

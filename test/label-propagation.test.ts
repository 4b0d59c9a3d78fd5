/**
 * label-propagation on frames marked by a keyframe-scheduler (the decomposed offline graph): the
 * one implementation of propagation gives exactly the monolithic segmenter's `propagate` path, the
 * network runs on key frames only, and nothing is carried across a discontinuity.
 * (Unmarked, live-camera behaviour: test/temporal.test.ts and test/edges.test.ts.)
 */
import test from 'ava';
import { from, lastValueFrom, share, Subject, toArray, type Observable } from 'rxjs';
import { keyframeScheduler, labelPropagation, twoBranchSegmenter } from '../nodes/index.ts';
import type { Frame, Labels } from '../src/core/packet.ts';
import { propagateLabels } from '../src/segmentation/operators/propagate-labels.ts';
import { carryLabels } from '../src/segmentation/propagation.ts';
import { thumbnail } from '../src/kernels/motion.ts';
import { counter, frameOf, H, openNode, sampleFrames, W } from './helpers/nodes.ts';

const IMGS = sampleFrames(12);
const marks = (i: number) => (i === 0 ? 'start' : i === 6 ? 'seek' : undefined);

test.serial('label-propagation › marked frames: exactly the monolithic propagate path; the network ran on key frames only', async (t) => {
  const frames = IMGS.map((d, i) => frameOf(d, i, marks(i)));
  const keys = await openNode(keyframeScheduler, { keyframeIntervalFrames: 4, nonKeyFrames: 'propagate' });
  const seg = await openNode(twoBranchSegmenter, { thread: false }, 'segment');
  const carry = await openNode(labelPropagation, {}, 'carry');
  let out: Labels[];
  try {
    const marked = (keys.inst.process({ frame: from(frames) }).frame as Observable<Frame>).pipe(share());
    const labels = seg.inst.process({ frame: marked }).labels as Observable<Labels>;
    out = await lastValueFrom((carry.inst.process({ frame: marked, labels }).labels as Observable<Labels>).pipe(toArray()));
  } finally {
    await seg.inst.close();
  }
  t.is(out.length, 12, 'a label map for every frame');
  t.deepEqual(out.map((l) => l.seq), [...Array(12).keys()], 'in order');
  t.deepEqual(out.map((l) => l.path), ['full', 'propagated', 'propagated', 'propagated', 'full', 'propagated', 'full', 'propagated', 'propagated', 'propagated', 'full', 'propagated']);
  t.is(counter(seg.metrics, 'segmenter_path_total', '{node="segment",path="full"}'), 4, 'the network ran on the 4 key frames (0, 4, 6 forced by the seek, 10)');
  t.is(out[6]!.discontinuity, 'seek');
  const { inst } = await openNode(twoBranchSegmenter, { keyframeIntervalFrames: 4, nonKeyFrames: 'propagate', thread: false });
  try {
    const ref = await lastValueFrom((inst.process({ frame: from(frames) }).labels as Observable<Labels>).pipe(toArray()));
    ref.forEach((l, i) => t.true(Buffer.from(l.classes).equals(Buffer.from(out[i]!.classes)), `frame ${i}: the same labels as the monolithic segmenter`));
  } finally {
    await inst.close();
  }
});

test('label-propagation › marked frames: a discontinuity resets; nothing is carried across it (counted)', async (t) => {
  const frames = IMGS.slice(0, 10).map((d, i) => frameOf(d, i, i === 0 ? 'start' : i === 5 ? 'seek' : undefined));
  const marked = await lastValueFrom((await openNode(keyframeScheduler, { keyframeIntervalFrames: 4 })).inst.process({ frame: from(frames) }).frame!.pipe(toArray())) as Frame[];
  t.deepEqual(marked.filter((f) => f.key!.key).map((f) => f.seq), [0, 4, 5, 9]);
  const lab = (seq: number): Labels => Object.freeze<Labels>({ kind: 'labels', source: 'cam', seq, ptsMs: seq * 40, width: W, height: H, classes: new Uint8Array(W * H).fill(seq), classNames: ['a'], palette: [[0, 0, 0]], path: 'full' });
  const labels = new Subject<Labels>();
  const frames$ = new Subject<Frame>();
  const got: Labels[] = [];
  let observed = 0;
  frames$.pipe(propagateLabels(labels, { radiusPx: 4, catchUpRadiusPx: 8, historyFrames: 64, observe: () => observed++ })).subscribe((l) => got.push(l));
  for (const f of marked) frames$.next(f);
  t.is(got.length, 0, 'key frame 0 waits for its labels');
  labels.next(lab(0));
  t.deepEqual(got.map((l) => l.seq), [0, 1, 2, 3], 'then it and the frames carried from it go out');
  labels.next(lab(4)); // the labels of key frame 5 (after the seek) are lost upstream
  labels.next(lab(9));
  labels.complete();
  frames$.complete();
  t.deepEqual(got.map((l) => l.seq), [0, 1, 2, 3, 4, 9], 'frames 5-8: nothing carried across the seek');
  t.is(got[5]!.discontinuity, 'seek', 'the first labels after it carry the mark');
  t.is(got[5]!.classes[0], 9);
  t.is(observed, 6, 'six frames labelled');
  const th = (i: number) => thumbnail(IMGS[i]!, W, H);
  t.deepEqual(got[1]!.classes, carryLabels(got[0]!.classes, W, H, th(0), th(1)), 'carried by the one implementation');
  t.is(got[1]!.path, 'propagated');
});

// Unmarked frames (a live camera: labels arrive late), through the node itself.
test('label-propagation › a label map for every frame, and nothing carried across a discontinuity', async (t) => {
  const imgs = sampleFrames(6);
  const { inst } = await openNode(labelPropagation, {});
  const frames$ = new Subject<Frame>();
  const labels$ = new Subject<Labels>();
  const got = lastValueFrom((inst.process({ frame: frames$, labels: labels$ }) as { labels: Observable<Labels> }).labels.pipe(toArray()));
  const lab = (seq: number): Labels => ({ kind: 'labels', source: 'cam', seq, ptsMs: seq * 40, width: W, height: H, classes: new Uint8Array(W * H).fill(3), classNames: [], palette: [], path: 'full' });
  frames$.next(frameOf(imgs[0]!, 0, 'start'));
  labels$.next(lab(0)); // the model is slower than the camera: labels arrive after the frame
  frames$.next(frameOf(imgs[1]!, 1));
  frames$.next(frameOf(imgs[2]!, 2));
  frames$.next(frameOf(imgs[3]!, 3, 'reconnect')); // camera came back: old labels must not be used
  frames$.next(frameOf(imgs[4]!, 4));
  labels$.next(lab(4));
  frames$.next(frameOf(imgs[5]!, 5));
  frames$.complete();
  labels$.complete();
  const out = await got;
  t.deepEqual(out.map((l) => l.seq), [1, 2, 5]);
  t.true(out.every((l) => l.path === 'propagated' && l.classes.length === W * H));
  t.is(out[2]!.discontinuity, 'reconnect', 'the mark is passed on to nodes downstream');
  t.is(out[1]!.discontinuity, undefined);
});

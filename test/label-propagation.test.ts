/**
 * label-propagation on frames marked by a keyframe-scheduler (the decomposed offline graph): the
 * one implementation of propagation gives exactly the monolithic segmenter's `propagate` path, the
 * network runs on key frames only, and nothing is carried across a discontinuity. Live mode
 * (`live: true`, the live graphs): frames never wait, late labels catch up along accumulated motion.
 * (Unmarked, live-camera behaviour: test/temporal.test.ts and test/edges.test.ts; the live graphs
 * against a real RTSP camera: test/rtsp-live.test.ts.)
 */
import test from 'ava';
import { from, lastValueFrom, share, Subject, toArray, type Observable } from 'rxjs';
import { keyframeScheduler, labelPropagation, twoBranchSegmenter } from '../nodes/index.ts';
import type { Frame, Labels } from '../src/core/packet.ts';
import { propagateLabels } from '../src/segmentation/operators/propagate-labels.ts';
import { propagateLabelsLive } from '../src/segmentation/operators/propagate-labels-live.ts';
import { carryLabels, PROPAGATION_BLOCK } from '../src/segmentation/propagation.ts';
import { blockMotion, thumbnail, warpLabels } from '../src/kernels/motion.ts';
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

// Live (`live: true`): the decomposed live graph — frames never wait; late key-frame labels catch up along accumulated motion.
const striped = (seq: number, shift = 0): Labels => Object.freeze<Labels>({
  kind: 'labels', source: 'cam', seq, ptsMs: seq * 40, width: W, height: H, path: 'full', classNames: ['a'], palette: [[0, 0, 0]],
  classes: Uint8Array.from({ length: W * H }, (_, i) => (((i % W) >> 4) + ((i / W) >> 4) + shift) & 7),
});
/** The motion from frame i-1 to frame i, as the one implementation measures it. */
const motionTo = (i: number) => blockMotion(thumbnail(IMGS[i - 1]!, W, H), thumbnail(IMGS[i]!, W, H), PROPAGATION_BLOCK, 4);
const chain = (l: Uint8Array, from: number, to: number) => {
  let c = l;
  for (let i = from + 1; i <= to; i++) c = warpLabels(c, W, H, motionTo(i));
  return c;
};

test('label-propagation › live: every frame labelled on arrival; late labels carried along the motion since; a dropped key frame keeps the newest labels', (t) => {
  const marked: Frame[] = IMGS.map((d, i) => Object.freeze({ ...frameOf(d, i, i === 0 ? 'start' : undefined), key: { key: i % 4 === 0, reason: 'interval' as const, path: i % 4 === 0 ? 'full' as const : 'propagate' as const, intervalFrames: 4 } }));
  const frames$ = new Subject<Frame>();
  const labels$ = new Subject<Labels>();
  const got: Labels[] = [];
  frames$.pipe(propagateLabelsLive(labels$, { radiusPx: 4, catchUpRadiusPx: 8, historyFrames: 64 })).subscribe((l) => got.push(l));
  frames$.next(marked[0]!);
  frames$.next(marked[1]!);
  t.is(got.length, 0, 'after the start, frames wait for the first labels (one network run)');
  const l0 = striped(0);
  labels$.next(l0);
  t.deepEqual(got.map((l) => l.seq), [0, 1]);
  t.is(got[0]!.path, 'full');
  t.is(got[0]!.discontinuity, 'start', 'the first labels out carry the mark');
  t.deepEqual(got[1]!.classes, chain(l0.classes, 0, 1));
  for (const i of [2, 3, 4, 5, 6]) {
    frames$.next(marked[i]!);
    t.is(got[got.length - 1]!.seq, i, `frame ${i}: labelled on arrival, not waiting for key frame 4's labels`);
  }
  t.deepEqual(got[6]!.classes, chain(l0.classes, 0, 6), 'carried frame to frame from key frame 0');
  const l4 = striped(4, 3);
  labels$.next(l4); // key frame 4's labels, two frames late
  frames$.next(marked[7]!);
  t.deepEqual(got[7]!.classes, chain(l4.classes, 4, 7), "from frame 7 on: key frame 4's labels, carried along the motion 4 → 5 → 6 → 7");
  t.is(got[7]!.path, 'propagated');
  labels$.next(striped(0, 5)); // stale: older than the labels in use
  for (const i of [8, 9, 10, 11]) frames$.next(marked[i]!); // key frame 8's labels never come (dropped by the freshest queue)
  t.deepEqual(got[11]!.classes, chain(l4.classes, 4, 11), "key frame 8 got no labels: frames keep key frame 4's, carried on");
  t.deepEqual(got.map((l) => l.seq), [...Array(12).keys()], 'every frame exactly once, in order');
  t.true(got.slice(1).every((l) => l.discontinuity === undefined));
});

test('label-propagation › live: a camera drop resets; frames from it wait for its first labels; old labels never cross it; held frames are bounded (counted)', async (t) => {
  const frames$ = new Subject<Frame>();
  const labels$ = new Subject<Labels>();
  const got: Labels[] = [];
  const unlabelled: number[] = [];
  frames$.pipe(propagateLabelsLive(labels$, { radiusPx: 4, catchUpRadiusPx: 8, historyFrames: 4, onUnlabelled: (f) => unlabelled.push(f.seq) })).subscribe((l) => got.push(l));
  frames$.next(frameOf(IMGS[0]!, 0, 'start'));
  labels$.next(striped(0));
  frames$.next(frameOf(IMGS[1]!, 1));
  frames$.next(frameOf(IMGS[2]!, 2));
  frames$.next(frameOf(IMGS[3]!, 3, 'reconnect'));
  frames$.next(frameOf(IMGS[4]!, 4));
  labels$.next(striped(2, 1)); // labels from before the drop arrive late: not carried across it
  frames$.next(frameOf(IMGS[5]!, 5));
  t.deepEqual(got.map((l) => l.seq), [0, 1, 2], 'frames 3-5 wait for labels of the new picture');
  // Key frame 3 (forced by the reconnect) was dropped upstream, its mark moved onto key frame 5: the first labelled.
  const l5 = Object.freeze({ ...striped(5, 2), discontinuity: 'reconnect' });
  labels$.next(l5);
  t.deepEqual(got.map((l) => l.seq), [0, 1, 2, 3, 4, 5], 'then they go out, in order');
  t.is(got[3]!.discontinuity, 'reconnect', 'the first labels after the drop carry its mark');
  t.deepEqual(got[3]!.classes, carryLabels(l5.classes, W, H, thumbnail(IMGS[5]!, W, H), thumbnail(IMGS[3]!, W, H), 8), 'frames before the labelled key frame: carried back from it');
  t.is(got[5]!.path, 'full', 'the key frame: its own labels');
  t.is(got[5]!.classes, l5.classes);
  t.is(got[5]!.discontinuity, undefined, 'the mark goes out once');
  frames$.next(frameOf(IMGS[6]!, 6));
  t.deepEqual(got[6]!.classes, warpLabels(l5.classes, W, H, motionTo(6)));
  // A drop and no labels for longer than historyFrames: the oldest held frames go out without labels (counted).
  for (let i = 7; i < 12; i++) frames$.next(frameOf(IMGS[i]!, i, i === 7 ? 'reconnect' : undefined));
  t.deepEqual(unlabelled, [7], 'frame 7 fell out of the 4 held');
  labels$.next(striped(11));
  t.deepEqual(got.slice(7).map((l) => l.seq), [8, 9, 10, 11]);
  t.is(got[7]!.discontinuity, 'reconnect', 'the mark still reaches the first labels out');
  frames$.complete();
  labels$.complete();
});

test.serial('label-propagation › live, through the node: late labels, a camera drop (unlabelled frames counted in propagation_unlabelled_total)', async (t) => {
  const { inst, metrics } = await openNode(labelPropagation, { live: true, historyFrames: 2 }, 'carry');
  const frames$ = new Subject<Frame>();
  const labels$ = new Subject<Labels>();
  const out = lastValueFrom((inst.process({ frame: frames$, labels: labels$ }).labels as Observable<Labels>).pipe(toArray()));
  frames$.next(frameOf(IMGS[0]!, 0, 'start'));
  frames$.next(frameOf(IMGS[1]!, 1));
  frames$.next(frameOf(IMGS[2]!, 2));
  labels$.next(striped(2));
  frames$.next(frameOf(IMGS[3]!, 3));
  frames$.complete();
  labels$.complete();
  t.deepEqual((await out).map((l) => l.seq), [1, 2, 3]);
  t.is(counter(metrics, 'propagation_unlabelled_total', '{node="carry"}'), 1, 'frame 0 fell out of the 2 held');
});

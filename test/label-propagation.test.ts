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
import { marbles } from './helpers/marbles.ts';

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

// ---- the operators in virtual time, on tiny synthetic frames whose motion is known -------------
//
// A 32x8 frame is its own thumbnail (one thumbnail pixel per pixel) and four 8x8 motion blocks side by side.
// Frame k is a gray ramp 8·max(0, x − k) moving right one pixel a frame. Worked out by hand for each step
// k−1 → k (k ≤ 5; cost = SAD + 4·|dx|·8 per block): block 0 cannot look left (x − 1 < 0) and every other
// vector costs more than standing still, so it keeps 0; block 1 walks from 0 (SAD 8·64 = 512) to dx = −1
// (SAD 0, cost 32) and no further (−2: 512 + 64); blocks 2 and 3 take −1 from their left neighbour at once.
// A label map of 32x8 then moves with its blocks (one cell per block): columns 0-7 stay, column x ≥ 8 takes
// column x − 1. After n steps column x ≥ 8 holds what column max(7, x − n) held.

const RW = 32, RH = 8;
const ramp = (seq: number, discontinuity?: string): Frame => ({
  kind: 'frame', source: 'cam', seq, ptsMs: seq * 40, width: RW, height: RH, ...(discontinuity ? { discontinuity } : {}),
  data: Uint8Array.from({ length: RW * RH * 3 }, (_, i) => 8 * Math.max(0, ((i / 3) | 0) % RW - seq)),
});
/** A label map from one row of 32 digits (spaces ignored), repeated on all 8 rows. */
const rows = (row: string) => Uint8Array.from({ length: RW * RH }, (_, i) => Number(row.replace(/ /g, '')[i % RW]));
const mapOf = (seq: number, row: string, extra: Partial<Labels> = {}): Labels =>
  ({ kind: 'labels', source: 'cam', seq, ptsMs: seq * 40, width: RW, height: RH, classes: rows(row), classNames: ['road', 'car', 'sky', 'sign'], palette: [[1, 1, 1], [2, 2, 2], [3, 3, 3], [4, 4, 4]], path: 'full', ...extra });
/** `l` carried to frame `seq` (as the operators write it: the frame's identity, path `propagated`, no mark, no scores). */
const carriedTo = (l: Labels, seq: number, row: string): Labels => ({ ...l, seq, ptsMs: seq * 40, discontinuity: undefined, classes: rows(row), path: 'propagated', scores: undefined });
// Class 2 in columns 0-1 (block 0: stays), class 1 from column 12 on: the edge moves one column a frame.
const L0 = '22000000 00001111 11111111 11111111';
const L1 = '22000000 00000111 11111111 11111111';
const L2 = '22000000 00000011 11111111 11111111';
const L3 = '22000000 00000001 11111111 11111111';
const L4 = '22000000 00000000 11111111 11111111';
const mark = (f: Frame, key: boolean): Frame => ({ ...f, key: { key, reason: key ? 'interval' : 'between', path: key ? 'full' : 'propagate', intervalFrames: 3 } });
const po = { radiusPx: 4, catchUpRadiusPx: 8, historyFrames: 64 };

test('propagateLabels › marked frames, in order: a key frame waits for its labels, the frames to propagate get them carried along the known motion; the mark goes out once; completion after both inputs', (t) => {
  const f = [mark(ramp(0, 'start'), true), mark(ramp(1), false), mark(ramp(2), false), mark(ramp(3), true)];
  const l0 = mapOf(0, L0), l3 = mapOf(3, '33333333 00000000 00000000 00000000');
  const q = carriedTo(l0, 1, L1);
  marbles(t).run(({ cold, expectObservable }) => {
    const frames = cold('a----b----c----d----|', { a: f[0]!, b: f[1]!, c: f[2]!, d: f[3]! });
    const labels = cold('------x--------------y---|', { x: l0, y: l3 });
    // Frames 0 and 1 wait for key frame 0's labels (t6); frame 2 is carried from frame 1 at once; frame 3 waits
    // for its own; the output completes when both inputs have (t25).
    expectObservable(frames.pipe(propagateLabels(labels, po))).toBe('------(pq)r----------s---|', {
      p: { ...l0, discontinuity: 'start' }, q, r: carriedTo(q, 2, L2), s: l3,
    });
  });
});

test('propagateLabels › marked frames: a discontinuity drops the labels (nothing carried across it); its mark goes out once, on the first labels after it', (t) => {
  const f = [mark(ramp(0, 'start'), true), mark(ramp(1), false), mark(ramp(2, 'seek'), false), mark(ramp(3), true), mark(ramp(4), false)];
  const l0 = mapOf(0, L0), l3 = mapOf(3, L3);
  marbles(t).run(({ cold, expectObservable }) => {
    const frames = cold('ab-----c-d-e|', { a: f[0]!, b: f[1]!, c: f[2]!, d: f[3]!, e: f[4]! });
    const labels = cold('--x-------y--|', { x: l0, y: l3 });
    // Frame 2 (the seek) would be carried, but the seek dropped the labels of frames 0-1: no labels for it.
    // Frame 3's labels carry the seek's mark; frame 4 is carried from them (3 → 4: one step), unmarked.
    expectObservable(frames.pipe(propagateLabels(labels, po))).toBe('--(pq)----rs-|', {
      p: { ...l0, discontinuity: 'start' }, q: carriedTo(l0, 1, L1), r: { ...l3, discontinuity: 'seek' }, s: carriedTo(l3, 4, L4),
    });
  });
});

test('propagateLabels › an error on either input passes straight through after the labels before it', (t) => {
  const f0 = mark(ramp(0), true), f1 = mark(ramp(1), false);
  const l0 = mapOf(0, L0);
  marbles(t).run(({ cold, expectObservable }) => {
    expectObservable(cold('ab---#', { a: f0, b: f1 }, new Error('decoder died')).pipe(propagateLabels(cold('-x----|', { x: l0 }), po)))
      .toBe('-(pq)#', { p: l0, q: carriedTo(l0, 1, L1) }, new Error('decoder died'));
    expectObservable(cold('ab-----|', { a: f0, b: f1 }).pipe(propagateLabels(cold('-x---#', { x: l0 }, new Error('model died')), po)))
      .toBe('-(pq)#', { p: l0, q: carriedTo(l0, 1, L1) }, new Error('model died'));
  });
});

test('propagateLabels › every subscription starts fresh: a frame to propagate before any labels gets none, also the second time', (t) => {
  // The stream starts between key frames: frame 1 has nothing to carry (no output); key frame 2 waits for its labels.
  const f1 = mark(ramp(1), false), f2 = mark(ramp(2), true);
  const l2 = mapOf(2, L2);
  marbles(t).run(({ cold, expectObservable }) => {
    const out = cold('ab|', { a: f1, b: f2 }).pipe(propagateLabels(cold('--y|', { y: l2 }), po));
    expectObservable(out).toBe('--y|', { y: l2 });
    // Labels kept from the first subscription would have been carried to frame 1 here.
    expectObservable(out, '-----^').toBe('-------y|', { y: l2 });
  });
});

test('propagateLabelsLive › frames wait only for the first labels, then go out on arrival; late labels replace them, carried along the motion since; the mark goes out once', (t) => {
  const f = [0, 1, 2, 3, 4, 5].map((k) => ramp(k, k === 0 ? 'start' : undefined));
  const l0 = mapOf(0, L0);
  const l2 = mapOf(2, '00000000 11110000 00000000 22222222', { classNames: ['x', 'y', 'z', 'w'] });
  const q = carriedTo(l0, 1, L1), r = carriedTo(q, 2, L2), s = carriedTo(r, 3, L3);
  const u = carriedTo(s, 4, L4);
  marbles(t).run(({ cold, expectObservable }) => {
    const frames = cold('a----b----c----d----e----f----|', { a: f[0]!, b: f[1]!, c: f[2]!, d: f[3]!, e: f[4]!, f: f[5]! });
    const labels = cold('------x---------------y--------|', { x: l0, y: l2 });
    // t6: key frame 0's labels: frames 0 (its own, with the mark) and 1 (carried) go out. Frames 2-4 go out on arrival.
    // t22: key frame 2's labels, two frames late: carried 2 → 3 → 4 (no output); frame 5 gets them, 3 steps from
    // frame 2: column x ≥ 8 holds l2's column max(7, x − 3).
    expectObservable(frames.pipe(propagateLabelsLive(labels, po))).toBe('------(pq)r----s----u----v-----|', {
      p: { ...l0, discontinuity: 'start' }, q, r, s, u, v: carriedTo(l2, 5, '00000000 00011110 00000000 00022222'),
    });
  });
});

test('propagateLabelsLive › a camera drop: old labels stop, frames from it wait for its first labels (earlier ones carried back), stale labels ignored, the mark once; held frames at the end counted', (t) => {
  const f = [ramp(0, 'start'), ramp(1), ramp(2, 'reconnect'), ramp(3), ramp(4)];
  const l0 = mapOf(0, L0), l1 = mapOf(1, L1), l3 = mapOf(3, L3);
  const unlabelled: number[] = [];
  marbles(t).run(({ cold, expectObservable }) => {
    const frames = cold('a-b---c---d-------e-|', { a: f[0]!, b: f[1]!, c: f[2]!, d: f[3]!, e: f[4]! });
    const labels = cold('-x-------y---z----|', { x: l0, y: l1, z: l3 });
    // t1: frame 0's labels. t2: frame 1 carried. t6, t10: frames 2 (the reconnect) and 3 held. t9: labels of frame 1,
    // from before the drop: ignored. t13: key frame 3's labels: frame 2 carried back from frame 3 (3 → 2: the ramp
    // moves left a pixel; every block, block 0 too, now finds its content one pixel to the right, dx = +1 at cost 32:
    // column x takes column x + 1, the last column itself, clamped), with the mark; then frame 3's own; frame 4
    // carried forward on arrival.
    expectObservable(frames.pipe(propagateLabelsLive(labels, { ...po, onUnlabelled: (x) => unlabelled.push(x.seq) }))).toBe('-pq----------(rs)-u-|', {
      p: { ...l0, discontinuity: 'start' }, q: carriedTo(l0, 1, L1), r: { ...carriedTo(l3, 2, '20000000 00000011 11111111 11111111'), discontinuity: 'reconnect' }, s: l3, u: carriedTo(l3, 4, L4),
    });
  });
  t.deepEqual(unlabelled, []);
  // A drop with no labels after it before both inputs end: the held frames go out unlabelled (counted).
  marbles(t).run(({ cold, expectObservable }) => {
    expectObservable(cold('a-b-c|', { a: f[0]!, b: f[1]!, c: f[2]! }).pipe(propagateLabelsLive(cold('-x----|', { x: l0 }), { ...po, onUnlabelled: (x) => unlabelled.push(x.seq) })))
      .toBe('-pq---|', { p: { ...l0, discontinuity: 'start' }, q: carriedTo(l0, 1, L1) });
  });
  t.deepEqual(unlabelled, [2]);
});

test('propagateLabelsLive › labels that arrive before their frame are kept for it, also for the first frame and for a reconnect\'s key frame', (t) => {
  const f = [ramp(0, 'start'), ramp(1), ramp(2, 'reconnect'), ramp(3)];
  const l0 = mapOf(0, L0), l2 = mapOf(2, L2);
  const unlabelled: number[] = [];
  marbles(t).run(({ cold, expectObservable }) => {
    // Frame 0's labels come before frame 0 (no frame seen yet): frame 0 goes out with them when it arrives.
    expectObservable(cold('-a-b|', { a: f[0]!, b: f[1]! }).pipe(propagateLabelsLive(cold('x---|', { x: l0 }), po)))
      .toBe('-p-q|', { p: { ...l0, discontinuity: 'start' }, q: carriedTo(l0, 1, L1) });
    // The reconnect's key frame 2: its labels (t5) come before it (t6); the discontinuity must not drop them.
    expectObservable(cold('a-b---c-d-|', { a: f[0]!, b: f[1]!, c: f[2]!, d: f[3]! }).pipe(propagateLabelsLive(cold('-x---y----|', { x: l0, y: l2 }), { ...po, onUnlabelled: (x) => unlabelled.push(x.seq) })))
      .toBe('-pq---r-s-|', { p: { ...l0, discontinuity: 'start' }, q: carriedTo(l0, 1, L1), r: { ...l2, discontinuity: 'reconnect' }, s: carriedTo(l2, 3, L3) });
  });
  t.deepEqual(unlabelled, [], 'no frame went out without labels');
});

test('propagateLabelsLive › an error on either input passes straight through', (t) => {
  const l0 = mapOf(0, L0);
  marbles(t).run(({ cold, expectObservable }) => {
    expectObservable(cold('ab-#', { a: ramp(0), b: ramp(1) }, new Error('camera died')).pipe(propagateLabelsLive(cold('x-----|', { x: l0 }), po)))
      .toBe('xq-#', { x: l0, q: carriedTo(l0, 1, L1) }, new Error('camera died'));
    expectObservable(cold('ab----|', { a: ramp(0), b: ramp(1) }).pipe(propagateLabelsLive(cold('x-#', { x: l0 }, new Error('model died')), po)))
      .toBe('xq#', { x: l0, q: carriedTo(l0, 1, L1) }, new Error('model died'));
  });
});

test('propagateLabelsLive › every subscription starts fresh: the first frame waits for labels the second time too', (t) => {
  const l0 = mapOf(0, L0);
  marbles(t).run(({ cold, expectObservable }) => {
    const out = cold('ab|', { a: ramp(0), b: ramp(1) }).pipe(propagateLabelsLive(cold('--x----|', { x: l0 }), po));
    // No mark on frame 0: only fresh state holds it. Labels kept from the first subscription would label it on arrival.
    expectObservable(out).toBe('--(xq)-|', { x: l0, q: carriedTo(l0, 1, L1) });
    expectObservable(out, '-----^').toBe('-------(xq)-|', { x: l0, q: carriedTo(l0, 1, L1) });
  });
});

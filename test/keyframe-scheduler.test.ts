/** keyframe-scheduler: the marks it puts on frames (fixed interval, adaptive on change, forced on discontinuity). */
import test from 'ava';
import { from, lastValueFrom, Subject, toArray, type Observable } from 'rxjs';
import { keyframeScheduler } from '../nodes/index.ts';
import type { Frame } from '../src/core/packet.ts';
import { ReusePlanner } from '../src/segmentation/temporal.ts';
import { scheduleKeyframes } from '../src/segmentation/operators/schedule-keyframes.ts';
import { frameOf, H, openNode, sampleFrames, W } from './helpers/nodes.ts';
import { marbles } from './helpers/marbles.ts';

const gray = (v: number) => new Uint8Array(W * H * 3).fill(v);
const run = (frames: Frame[], o: { intervalFrames: number; changeThreshold: number; nonKeyFrames: 'shallow' | 'fuse' | 'propagate' }) =>
  lastValueFrom(from(frames).pipe(scheduleKeyframes(o), toArray()));

test('keyframe-scheduler › a key frame every N frames; the others carry the non-key path; pixels pass untouched', async (t) => {
  const frames = Array.from({ length: 10 }, (_, i) => frameOf(gray(100), i, i === 0 ? 'start' : undefined));
  const out = await run(frames, { intervalFrames: 4, changeThreshold: 0, nonKeyFrames: 'propagate' });
  t.deepEqual(out.map((f) => f.key!.key), [true, false, false, false, true, false, false, false, true, false]);
  t.deepEqual(out.map((f) => f.key!.reason), ['discontinuity', 'between', 'between', 'between', 'interval', 'between', 'between', 'between', 'interval', 'between']);
  t.deepEqual(out.map((f) => f.key!.path), ['full', 'propagate', 'propagate', 'propagate', 'full', 'propagate', 'propagate', 'propagate', 'full', 'propagate']);
  t.is(out[3]!.data, frames[3]!.data, 'the same pixel buffer, not a copy');
  t.is(out[0]!.discontinuity, 'start');
  t.true(Object.isFrozen(out[1]));
});

test('keyframe-scheduler › adaptive: a scene cut forces a key frame, a still scene does not', async (t) => {
  const frames = [...Array.from({ length: 5 }, (_, i) => frameOf(gray(60), i)), ...Array.from({ length: 5 }, (_, i) => frameOf(gray(200), 5 + i))];
  const out = await run(frames, { intervalFrames: 100, changeThreshold: 12, nonKeyFrames: 'shallow' });
  t.deepEqual(out.map((f) => f.key!.key), [true, false, false, false, false, true, false, false, false, false]);
  t.is(out[5]!.key!.reason, 'change');
  t.true(out[5]!.key!.change! > 100, `the gray change is measured (${out[5]!.key!.change})`);
  t.is(out[3]!.key!.change, 0, 'a still scene: no change');
  const fixed = await run(frames, { intervalFrames: 100, changeThreshold: 0, nonKeyFrames: 'shallow' });
  t.is(fixed.filter((f) => f.key!.key).length, 1, 'the rule off: only the first frame');
});

test('keyframe-scheduler › a discontinuity forces a key frame and restarts the interval', async (t) => {
  const frames = Array.from({ length: 9 }, (_, i) => frameOf(gray(100), i, i === 0 ? 'start' : i === 2 ? 'seek' : undefined));
  const out = await run(frames, { intervalFrames: 4, changeThreshold: 0, nonKeyFrames: 'fuse' });
  t.deepEqual(out.filter((f) => f.key!.key).map((f) => f.seq), [0, 2, 6]);
  t.is(out[2]!.key!.reason, 'discontinuity');
});

test('keyframe-scheduler › the node marks real frames like the segmenter\'s own schedule (adaptive, 40 frames)', async (t) => {
  const imgs = sampleFrames(40);
  const { inst } = await openNode(keyframeScheduler, { keyframeIntervalFrames: 10, keyframeChangeThreshold: 12 });
  const out = await lastValueFrom((inst.process({ frame: from(imgs.map((d, i) => frameOf(d, i, i === 0 ? 'start' : undefined))) }).frame as Observable<Frame>).pipe(toArray()));
  const keys = out.filter((f) => f.key!.key).map((f) => f.seq);
  t.true(keys.length >= 4, `a key frame at least every 10 frames: ${keys}`);
  for (let i = 1; i < keys.length; i++) t.true(keys[i]! - keys[i - 1]! <= 10);
  const planner = new ReusePlanner({ keyframeIntervalFrames: 10, keyframeChangeThreshold: 12, nonKeyFrames: 'propagate' });
  t.deepEqual(out.map((f) => f.key!.key), imgs.map((d) => planner.plan(d, W, H).key), 'the same decisions as the monolithic segmenter\'s planner');
  t.throws(() => keyframeScheduler.options.parse({ keyframeIntervalFrames: 0 }));
});

test('keyframe-scheduler › out keyframes: the key frames alone, marked as on out frame (one schedule for both)', async (t) => {
  const frames = Array.from({ length: 12 }, (_, i) => frameOf(gray(i < 7 ? 60 : 200), i, i === 0 ? 'start' : i === 9 ? 'reconnect' : undefined));
  const { inst } = await openNode(keyframeScheduler, { keyframeIntervalFrames: 4, keyframeChangeThreshold: 12 });
  const src = new Subject<Frame>();
  const ports = inst.process({ frame: src });
  const all = lastValueFrom((ports.frame as Observable<Frame>).pipe(toArray()));
  const keys = lastValueFrom((ports.keyframes as Observable<Frame>).pipe(toArray()));
  for (const f of frames) src.next(f);
  src.complete();
  const marked = await all;
  t.deepEqual((await keys).map((f) => f.seq), [0, 4, 7, 9], 'interval (4), change (7), discontinuity (9)');
  t.deepEqual((await keys).map((f) => f.seq), marked.filter((f) => f.key!.key).map((f) => f.seq));
  t.is((await keys)[3], marked[9], 'the same packet on both outputs');
  t.is(marked.length, 12);
});

// ---- the operator (src/segmentation/operators/schedule-keyframes.ts), in virtual time ----------

/** A 32x8 frame of one gray `v` (its thumbnail is that gray: 32 px wide is one thumbnail pixel per pixel). */
const flat = (seq: number, v: number, discontinuity?: string): Frame =>
  ({ kind: 'frame', source: 'cam', seq, ptsMs: seq * 40, width: 32, height: 8, data: new Uint8Array(32 * 8 * 3).fill(v), ...(discontinuity ? { discontinuity } : {}) });
type Reason = 'discontinuity' | 'interval' | 'change' | 'between';
/** `f` marked as the operator marks it: a key frame takes `full`, the others the non-key path. */
const keyed = (f: Frame, key: boolean, reason: Reason, change: number | undefined, path: 'shallow' | 'fuse' | 'propagate', intervalFrames: number): Frame =>
  ({ ...f, key: { key, reason, path: key ? 'full' : path, change, intervalFrames } });

test('scheduleKeyframes › fixed interval, in order: key frames every 3rd frame, a discontinuity forces one and restarts the count, its mark passed through once; then completion', (t) => {
  const f = [flat(0, 100, 'start'), flat(1, 100), flat(2, 100), flat(3, 100), flat(4, 100), flat(5, 100, 'seek'), flat(6, 100), flat(7, 100), flat(8, 100)];
  const o = { intervalFrames: 3, changeThreshold: 0, nonKeyFrames: 'propagate' } as const;
  // By hand: 0 forced (start); 1, 2 between; 3 = 0 + 3; 4 between; 5 forced (seek) restarts; 6, 7 between; 8 = 5 + 3.
  // The change rule is off: no thumbnail, no change measured.
  const k = (i: number, key: boolean, reason: Reason) => keyed(f[i]!, key, reason, undefined, 'propagate', 3);
  marbles(t).run(({ cold, expectObservable }) => {
    const v = Object.fromEntries(f.map((x, i) => [String.fromCharCode(97 + i), x]));
    expectObservable(cold('ab-cdef-g-hi|', v).pipe(scheduleKeyframes(o))).toBe('ab-cdef-g-hi|', {
      a: k(0, true, 'discontinuity'), b: k(1, false, 'between'), c: k(2, false, 'between'), d: k(3, true, 'interval'), e: k(4, false, 'between'),
      f: k(5, true, 'discontinuity'), g: k(6, false, 'between'), h: k(7, false, 'between'), i: k(8, true, 'interval'),
    });
  });
});

test('scheduleKeyframes › adaptive: a gray change over the threshold against the last key frame forces a key frame; the measured change is on the mark', (t) => {
  const f = [flat(0, 60, 'start'), flat(1, 60), flat(2, 200), flat(3, 200), flat(4, 200), flat(5, 190), flat(6, 220, 'seek')];
  const o = { intervalFrames: 4, changeThreshold: 12, nonKeyFrames: 'shallow' } as const;
  // By hand (change = |gray − the last key frame's gray|): 0 forced (start, nothing measured); 1: |60−60| = 0, between;
  // 2: |200−60| = 140 > 12, change; 3: 0; 4: 0; 5: |190−200| = 10 ≤ 12, between; but 5 = 2 + 3 < 2 + 4, so not the
  // interval yet; 6: forced by the seek (nothing measured), although |220−200| = 20 would have forced it too.
  const k = (i: number, key: boolean, reason: Reason, change: number | undefined) => keyed(f[i]!, key, reason, change, 'shallow', 4);
  marbles(t).run(({ cold, expectObservable }) => {
    expectObservable(cold('abcdefg|', Object.fromEntries(f.map((x, i) => [String.fromCharCode(97 + i), x]))).pipe(scheduleKeyframes(o))).toBe('abcdefg|', {
      a: k(0, true, 'discontinuity', undefined), b: k(1, false, 'between', 0), c: k(2, true, 'change', 140), d: k(3, false, 'between', 0),
      e: k(4, false, 'between', 0), f: k(5, false, 'between', 10), g: k(6, true, 'discontinuity', undefined),
    });
  });
});

test('scheduleKeyframes › an error upstream passes straight through after the frames before it', (t) => {
  const a = flat(0, 100, 'start'), b = flat(1, 100);
  marbles(t).run(({ cold, expectObservable }) => {
    expectObservable(cold('a-b-#', { a, b }, new Error('decoder died')).pipe(scheduleKeyframes({ intervalFrames: 2, changeThreshold: 0, nonKeyFrames: 'fuse' })))
      .toBe('a-b-#', { a: keyed(a, true, 'discontinuity', undefined, 'fuse', 2), b: keyed(b, false, 'between', undefined, 'fuse', 2) }, new Error('decoder died'));
  });
});

test('scheduleKeyframes › every subscription schedules afresh: a second one, after the first ended, starts with a key frame', (t) => {
  // No discontinuity mark on the first frame: only the fresh state (nothing seen yet) makes it a key frame.
  const f = [flat(0, 100), flat(1, 100), flat(2, 100)];
  const k = (i: number, key: boolean, reason: Reason) => keyed(f[i]!, key, reason, undefined, 'propagate', 2);
  marbles(t).run(({ cold, expectObservable }) => {
    const marked = cold('abc|', { a: f[0]!, b: f[1]!, c: f[2]! }).pipe(scheduleKeyframes({ intervalFrames: 2, changeThreshold: 0, nonKeyFrames: 'propagate' }));
    const want = { a: k(0, true, 'discontinuity'), b: k(1, false, 'between'), c: k(2, true, 'interval') };
    expectObservable(marked).toBe('abc|', want);
    expectObservable(marked, '-----^').toBe('-----abc|', want);
  });
});

/** keyframe-scheduler: the marks it puts on frames (fixed interval, adaptive on change, forced on discontinuity). */
import test from 'ava';
import { from, lastValueFrom, Subject, toArray, type Observable } from 'rxjs';
import { keyframeScheduler } from '../nodes/index.ts';
import type { Frame } from '../src/core/packet.ts';
import { ReusePlanner } from '../src/segmentation/temporal.ts';
import { scheduleKeyframes } from '../src/segmentation/operators/schedule-keyframes.ts';
import { frameOf, H, openNode, sampleFrames, W } from './helpers/nodes.ts';

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

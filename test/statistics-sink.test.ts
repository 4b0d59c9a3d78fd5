/**
 * statistics-sink: per-frame and per-video class shares written to real files (JSON, CSV, video
 * CSV) with the values worked out by hand; class names that need CSV quoting; an existing output
 * refused without `overwrite`; the operator that computes the shares (classStatistics), in virtual
 * time. (The default graph's CSV shapes are checked in offline-outputs.test.ts.)
 */
import test from 'ava';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { from, lastValueFrom, map, toArray, type Observable } from 'rxjs';
import { writeStatistics } from '../operators.ts';
import type { Labels } from '../src/core/packet.ts';
import { tmpDir } from './helpers/cli.ts';
import { marbles } from './helpers/marbles.ts';
import { classStatistics } from '../src/segmentation/operators/class-statistics.ts';

const NAMES = ['Sky', 'Road, wet', 'Car "x"'];
const labels = (seq: number, classes: number[]): Labels => ({
  kind: 'labels', source: 'cam', seq, ptsMs: seq * 40, width: 4, height: 2, classes: Uint8Array.from(classes),
  classNames: NAMES, palette: [[1, 1, 1], [2, 2, 2], [3, 3, 3]], path: 'full',
});
const MAPS = [labels(0, [0, 0, 1, 1, 1, 1, 2, 2]), labels(1, [1, 1, 1, 1, 1, 1, 1, 1]), labels(2, [0, 0, 0, 0, 0, 0, 0, 0])];

test('statistics-sink › shares per frame and per video in JSON, CSV and video CSV, by hand; names quoted in CSV', async (t) => {
  const dir = tmpDir('segflow-stats-');
  const out = { json: path.join(dir, 's.json'), csv: path.join(dir, 's.csv'), videoCsv: path.join(dir, 'v.csv') };
  const done = await lastValueFrom(from(MAPS).pipe(writeStatistics(out), toArray()));
  t.deepEqual(done.map((l) => l.seq), [0, 1, 2], 'every map is passed on as done');
  const j = JSON.parse(readFileSync(out.json, 'utf8'));
  t.deepEqual(j.classes, NAMES);
  t.is(j.frames, 3);
  t.deepEqual(j.perFrame, [{ seq: 0, ptsMs: 0, share: [0.25, 0.5, 0.25] }, { seq: 1, ptsMs: 40, share: [0, 1, 0] }, { seq: 2, ptsMs: 80, share: [1, 0, 0] }]);
  t.deepEqual(j.video.share, [0.416667, 0.5, 0.083333], '10, 12 and 2 of 24 pixels');
  t.is(readFileSync(out.csv, 'utf8'), 'seq,pts_ms,Sky,Road__wet,Car__x_\n0,0,0.25,0.5,0.25\n1,40,0,1,0\n2,80,1,0,0\n');
  t.is(readFileSync(out.videoCsv, 'utf8'), 'id,class,share,frames_present\n0,Sky,0.416667,2\n1,"Road, wet",0.5,2\n2,"Car ""x""",0.083333,1\n');
});

test('statistics-sink › an existing output is refused without overwrite and left as it was; with overwrite it is replaced', async (t) => {
  const dir = tmpDir('segflow-stats-');
  const json = path.join(dir, 's.json');
  writeFileSync(json, 'keep me\n');
  await t.throwsAsync(lastValueFrom(from(MAPS).pipe(writeStatistics({ json }))), { message: /exists/ });
  t.is(readFileSync(json, 'utf8'), 'keep me\n');
  await lastValueFrom(from(MAPS).pipe(writeStatistics({ json, overwrite: true }), toArray()));
  t.is(JSON.parse(readFileSync(json, 'utf8')).frames, 3);
});

// ---- the operator (src/segmentation/operators/class-statistics.ts), in virtual time -------------

test('classStatistics › per map its shares and the running video totals, by hand, in order; marks pass through and reset nothing', (t) => {
  const [a, b0, c] = MAPS as [Labels, Labels, Labels];
  const b = { ...b0, discontinuity: 'chunk' };
  const expected = {
    x: { labels: a, frame: { seq: 0, ptsMs: 0, share: [0.25, 0.5, 0.25] }, video: { classes: NAMES, frames: 1, share: [0.25, 0.5, 0.25], framesPresent: [1, 1, 1] } },
    // 2, 12 and 2 of 16 pixels; then 10, 12 and 2 of 24.
    y: { labels: b, frame: { seq: 1, ptsMs: 40, share: [0, 1, 0] }, video: { classes: NAMES, frames: 2, share: [0.125, 0.75, 0.125], framesPresent: [1, 2, 1] } },
    z: { labels: c, frame: { seq: 2, ptsMs: 80, share: [1, 0, 0] }, video: { classes: NAMES, frames: 3, share: [0.416667, 0.5, 0.083333], framesPresent: [2, 2, 1] } },
  };
  marbles(t).run(({ cold, expectObservable }) => {
    const stats = cold('a-b--c|', { a, b, c }).pipe(classStatistics());
    expectObservable(stats).toBe('x-y--z|', expected);
    expectObservable(stats).toBe('x-y--z|', expected); // a second subscription counts on its own
  });
});

test('classStatistics › no maps: completes with nothing; an error upstream passes through after the maps before it', (t) => {
  const a = MAPS[1]!;
  marbles(t).run(({ cold, expectObservable }) => {
    expectObservable(cold<Labels>('--|').pipe(classStatistics())).toBe('--|');
    expectObservable(cold('a#', { a }, new Error('segmenter died')).pipe(classStatistics())).toBe('x#', {
      x: { labels: a, frame: { seq: 1, ptsMs: 40, share: [0, 1, 0] }, video: { classes: NAMES, frames: 1, share: [0, 1, 0], framesPresent: [0, 1, 0] } },
    }, new Error('segmenter died'));
  });
});

test('classStatistics › a map with other classes than the maps before it (another model) is an error naming both, not totals under the wrong names', (t) => {
  const a = MAPS[0]!;
  const more = { ...MAPS[1]!, classNames: [...NAMES, 'Tree'] };
  const renamed = { ...MAPS[1]!, classNames: ['Sky', 'Road', 'Car'] };
  const same = { ...MAPS[1]!, classNames: [...NAMES] }; // equal by value (labels from a thread carry new arrays)
  const run = (b: Labels) => cold2(a, b).pipe(classStatistics(), map((s) => s.video.frames));
  let cold2: (a: Labels, b: Labels) => Observable<Labels>;
  const was = '3 (Sky, Road, wet, Car "x"); one video\'s statistics need one set of classes';
  marbles(t).run(({ cold, expectObservable }) => {
    cold2 = (x, y) => cold('ab|', { a: x, b: y });
    expectObservable(run(more)).toBe('a#', { a: 1 }, new Error(`class statistics: label map seq 1 has 4 classes (Sky, Road, wet, Car "x", Tree), the maps before it ${was}`));
    expectObservable(run(renamed)).toBe('a#', { a: 1 }, new Error(`class statistics: label map seq 1 has 3 classes (Sky, Road, Car), the maps before it ${was}`));
    expectObservable(run(same)).toBe('ab|', { a: 1, b: 2 });
  });
});

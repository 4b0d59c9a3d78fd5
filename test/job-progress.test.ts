/**
 * JobProgress (src/apps/job-progress.ts): the whole job's ETA from file sizes, and the console's
 * progress lines with it (a fake clock: this is our own arithmetic; test/cli.test.ts runs a real job).
 */
import test from 'ava';
import { JobProgress, shortDuration } from '../src/apps/job-progress.ts';
import { consoleProgress, type FileResult } from '../src/apps/process.ts';

test('job progress › ETA from bytes done against time since the first start; a failed file leaves the plan', (t) => {
  let now = 1000;
  const job = new JobProgress(() => now);
  job.plan([{ path: 'a.mp4', bytes: 100 }, { path: 'b.mp4', bytes: 100 }, { path: 'c.mp4', bytes: 200 }]);
  t.is(job.files, 3);
  t.is(job.etaS(), undefined, 'nothing started');
  t.is(job.start('a.mp4'), 1);
  now += 2000;
  job.frame('a.mp4', 50, 100);
  t.is(job.etaS(), undefined, 'under 3 s: no estimate yet');
  now += 3000; // 5 s in, a.mp4 half done: 50 of 400 bytes
  t.is(job.etaS(), 35);
  now += 5000; // 10 s: a.mp4 done (100 of 400)
  job.end('a.mp4', true);
  t.is(job.indexOf('a.mp4'), undefined);
  t.is(job.start('b.mp4'), 2);
  t.is(job.etaS(), 30);
  now += 1000;
  job.end('b.mp4', false); // failed at once: neither done nor to do
  t.is(job.start('c.mp4'), 3);
  job.frame('c.mp4', 10, 40); // 11 s: 100 + 50 of 300 bytes
  t.is(job.etaS(), (11 * 150) / 150);
  job.frame('c.mp4', 1, undefined); // no frame count: the share stays as it was
  t.is(job.etaS(), 11);
});

test('job progress › durations for a progress line', (t) => {
  t.deepEqual([0.4, 42, 59.6, 185, 3599, 3600, 7980, 100000].map(shortDuration), ['0s', '42s', '1m00s', '3m05s', '59m59s', '1h00m', '2h13m', '27h46m']);
});

test('job progress › console lines (not a terminal): which file of how many, and the job\'s ETA; one input: as before', (t) => {
  let now = 0;
  const lines: string[] = [];
  const p = consoleProgress({ write: (s: string) => lines.push(s), isTTY: false }, () => now);
  p.plan!([{ path: '/v/a.mp4', bytes: 300 }, { path: '/v/b.mp4', bytes: 100 }]);
  p.start('/v/a.mp4', 30);
  now = 4000;
  p.frame('/v/a.mp4', 10);
  t.is(lines.pop(), 'progress a.mp4 (file 1 of 2): 10/30 frames, 2.5 fps, ETA 8 s; all files: ETA 12s\n');
  p.end({ input: '/v/a.mp4', status: 'ok', output: '/o/a', frames: 30, fps: 2.5 } as FileResult);
  p.start('/v/b.mp4', 10);
  now = 12000;
  p.frame('/v/b.mp4', 5);
  t.is(lines.pop(), 'progress b.mp4 (file 2 of 2): 5/10 frames, 0.6 fps, ETA 8 s; all files: ETA 2s\n');

  const one: string[] = [];
  now = 0;
  const q = consoleProgress({ write: (s: string) => one.push(s), isTTY: false }, () => now);
  q.plan!([{ path: '/v/a.mp4', bytes: 300 }]);
  q.start('/v/a.mp4', 30);
  now = 4000;
  q.frame('/v/a.mp4', 10);
  t.is(one.pop(), 'progress a.mp4: 10/30 frames, 2.5 fps, ETA 8 s\n');
});

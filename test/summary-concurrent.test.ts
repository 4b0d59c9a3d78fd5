/**
 * summary.json with runs into one --out at the same time: it is re-read, merged and written at the
 * end under a lock (updateSummary, src/apps/process-folders.ts), so neither run loses the other's
 * `files` and `runs` entries.
 *
 * The first test uses real processes (the CLI, a real ffmpeg, a light decoder → encoder graph): run A
 * is paused (SIGSTOP) once its work folder exists — after it has read summary.json at its start —
 * while run B runs to completion into the same --out, then resumed: no timing assumption decides
 * which run writes last. The others are unit tests of the lock.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, readlinkSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import { baseName, removeLeftovers, SUMMARY_LOCK, updateSummary } from '../src/apps/process-folders.ts';
import { segflow, spawnSegflow, tmpDir, watchChild, writeLightGraph } from './helpers/cli.ts';
import { testClip } from './helpers/videos.ts';

const pidns = (): string => {
  try {
    return readlinkSync('/proc/self/ns/pid').replace(/\s/g, '');
  } catch {
    return '-';
  }
};

/** Poll `check` every 10 ms until it returns a value, or fail after `timeoutMs`. */
async function until<T>(check: () => T | undefined, what: string, timeoutMs = 120_000): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = check();
    if (v !== undefined) return v;
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

interface SummaryFile {
  files: { input: string; status: string }[];
  runs: unknown[];
}

test('summary › two process runs into one --out at once: summary.json lists both inputs and both runs', async (t) => {
  const work = tmpDir('segflow-summary-concurrent-');
  const graph = writeLightGraph(path.join(work, 'light.yaml'));
  // A is long enough that it is still working when its work folder is first seen (it is paused then).
  const a = await testClip(path.join(work, 'a.mp4'), { width: 320, height: 240, fps: 25, frames: 600 });
  const b = await testClip(path.join(work, 'b.mp4'), { width: 320, height: 240, fps: 25, frames: 25 });
  const out = path.join(work, 'out');

  const childA = spawnSegflow(['process', a, '--out', out, '--graph', graph]);
  const runA = watchChild(childA);
  let exitedA = false;
  void runA.exit.then(() => (exitedA = true));
  t.teardown(() => {
    if (!exitedA) {
      childA.kill('SIGCONT');
      childA.kill('SIGKILL');
    }
  });
  // A has read summary.json (prepareOut) before it makes its work folder.
  await until(() => {
    if (exitedA) throw new Error(`run A ended before its work folder was seen: ${runA.text().slice(-800)}`);
    return existsSync(out) && readdirSync(out).some((e) => /^\.segflow-a\.partial-/.test(e)) ? true : undefined;
  }, "run A's work folder");
  childA.kill('SIGSTOP');
  t.false(exitedA, 'run A is still running when paused');

  const runB = await segflow(['process', b, '--out', out, '--graph', graph]);
  t.is(runB.code, 0, runB.stderr);
  const afterB = JSON.parse(readFileSync(path.join(out, 'summary.json'), 'utf8')) as SummaryFile;
  t.deepEqual(afterB.files.map((f) => path.basename(f.input)), ['b.mp4'], 'B wrote its summary while A was paused');

  childA.kill('SIGCONT');
  t.is(await runA.exit, 0, runA.text());
  const s = JSON.parse(readFileSync(path.join(out, 'summary.json'), 'utf8')) as SummaryFile;
  const byName = new Map(s.files.map((f) => [path.basename(f.input), f.status]));
  t.is(byName.get('a.mp4'), 'ok', JSON.stringify(s.files));
  t.is(byName.get('b.mp4'), 'ok', `run B's entry survives run A's write: ${JSON.stringify(s.files)}`);
  t.is(s.files.length, 2);
  t.is(s.runs.length, 2, 'both runs in runs');
  t.true(existsSync(path.join(out, 'a', 'overlay.mp4')) && existsSync(path.join(out, 'b', 'overlay.mp4')));
  t.false(existsSync(path.join(out, SUMMARY_LOCK)), 'the lock is released');
});

const entry = (input: string) => ({ input, status: 'ok' });

test('summary lock › a lock whose holder is dead (a reaped child of this host) is taken over at once', async (t) => {
  const out = tmpDir('segflow-summary-lock-');
  const child = spawn(process.execPath, ['-e', '']);
  await new Promise((r) => child.on('exit', r));
  const lock = path.join(out, SUMMARY_LOCK);
  writeFileSync(lock, `${child.pid} ${hostname()} ${pidns()} dead00\n`);
  const warnings: string[] = [];
  // Were it judged live, this would wait its 60 s (longer than the test's timeout) and warn.
  await updateSummary(out, (prev) => ({ files: [...(prev?.files ?? []), entry('/x.mp4')], runs: [] }), { waitMs: 60_000, warn: (m) => warnings.push(m) });
  t.deepEqual(warnings, []);
  t.deepEqual(JSON.parse(readFileSync(path.join(out, 'summary.json'), 'utf8')).files, [entry('/x.mp4')]);
  t.false(existsSync(lock), 'released after writing');
  t.deepEqual(readdirSync(out), ['summary.json'], 'nothing left beside it (no lock, no aside copy)');
});

test('summary lock › a lock held by a live process makes updateSummary wait; it merges what was written meanwhile', async (t) => {
  const out = tmpDir('segflow-summary-lock-');
  const lock = path.join(out, SUMMARY_LOCK);
  const mark = `${process.pid} ${hostname()} ${pidns()} live00\n`;
  writeFileSync(lock, mark);
  // removeLeftovers (another run starting) leaves a live lock alone.
  removeLeftovers(out);
  t.is(readFileSync(lock, 'utf8'), mark);

  let released = false;
  let mergedAfterRelease: boolean | undefined;
  const warnings: string[] = [];
  const pending = updateSummary(out, (prev) => {
    mergedAfterRelease = released;
    return { files: [...(prev?.files ?? []), entry('/mine.mp4')], runs: [...(prev?.runs ?? []), 'mine'] };
  }, { waitMs: 60_000, warn: (m) => warnings.push(m) });
  // The holder writes its summary, then releases the lock after a while.
  writeFileSync(path.join(out, 'summary.json'), JSON.stringify({ files: [entry('/theirs.mp4')], runs: ['theirs'] }));
  await new Promise((r) => setTimeout(r, 300));
  t.is(mergedAfterRelease, undefined, 'nothing merged while the lock is held');
  released = true;
  rmSync(lock);
  await pending;
  t.true(mergedAfterRelease, 'merged only after the lock was released');
  t.deepEqual(warnings, []);
  const s = JSON.parse(readFileSync(path.join(out, 'summary.json'), 'utf8'));
  t.deepEqual(s.files, [entry('/theirs.mp4'), entry('/mine.mp4')], 'the summary as re-read under the lock');
  t.deepEqual(s.runs, ['theirs', 'mine']);
  t.false(existsSync(lock));
});

test('summary lock › a live lock older than a minute is taken over; one still held after the wait is written past with a warning', async (t) => {
  const out = tmpDir('segflow-summary-lock-');
  const lock = path.join(out, SUMMARY_LOCK);
  // Held by a run on another host (its pid cannot be judged here), a minute and a half ago.
  writeFileSync(lock, `1 another-host pid:[1] old000\n`);
  const old = (Date.now() - 90_000) / 1000;
  utimesSync(lock, old, old);
  const warnings: string[] = [];
  await updateSummary(out, () => ({ files: [entry('/one.mp4')], runs: [] }), { waitMs: 60_000, warn: (m) => warnings.push(m) });
  t.deepEqual(warnings, []);
  t.false(existsSync(lock));

  // A fresh lock of another host is live: after the (short) wait, written anyway, the lock left alone.
  const theirs = `1 another-host pid:[1] new000\n`;
  writeFileSync(lock, theirs);
  await updateSummary(out, (prev) => ({ files: [...(prev?.files ?? []), entry('/two.mp4')], runs: [] }), { waitMs: 200, warn: (m) => warnings.push(m) });
  t.is(warnings.length, 1);
  t.regex(warnings[0]!, /still held after \d+ s \(by pid 1 on another-host\); writing summary\.json anyway/);
  t.deepEqual(JSON.parse(readFileSync(path.join(out, 'summary.json'), 'utf8')).files, [entry('/one.mp4'), entry('/two.mp4')], "this run's summary is never dropped");
  t.is(readFileSync(lock, 'utf8'), theirs, "another run's lock is not removed");
});

test('summary lock › no input can be given the lock name as its output folder', (t) => {
  for (const rel of [SUMMARY_LOCK, `${SUMMARY_LOCK}.mp4`, 'segflow-summary.lock.mp4', '..segflow-summary.lock.mp4']) t.not(baseName(rel), SUMMARY_LOCK, rel);
});

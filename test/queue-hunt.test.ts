/**
 * Fleet processing faults found by hunting (real redis-server, real `segflow
 * worker` processes, real ffmpeg): what a user's fleet meets beyond
 * test/queue.test.ts and test/queue-fleet.test.ts.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { registry } from '../nodes/index.ts';
import { parseRedisUrl } from '../src/apps/queue/redis-url.ts';
import { fileStatus, formatQueueStatus } from '../src/apps/queue/status.ts';
import { startQueueWorker } from '../src/apps/queue/worker.ts';
import { BIN, ROOT, SAMPLE, segflow, spawnSegflow, tmpDir, watchChild } from './helpers/cli.ts';
import { redisServerPath, startRedis } from './helpers/redis.ts';
import { ffmpeg } from './helpers/videos.ts';

const HAVE_REDIS = redisServerPath() !== undefined;
const t_ = HAVE_REDIS ? test.serial : test.serial.skip;
if (!HAVE_REDIS) console.log('queue-hunt: redis-server is not installed (apt-get install redis-server): skipping');

/** Pids of live processes whose command line mentions `needle` (our ffmpeg children name their input). */
function processesWith(needle: string): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc').filter((x) => /^\d+$/.test(x))) {
    try {
      const cmd = readFileSync(`/proc/${d}/cmdline`, 'utf8');
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      if (cmd.includes(needle) && /^ffmpeg|\/ffmpeg\0/.test(cmd) && stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z') out.push(Number(d));
    } catch {
      // ended meanwhile
    }
  }
  return out;
}

async function until(what: string, cond: () => boolean, timeoutMs = 120_000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A worker started as a shell starts a job: its own process group, which a terminal's Ctrl-C signals as a whole. */
function groupWorker(url: string) {
  const child = spawn(process.execPath, [BIN, 'worker', '--queue', url], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const ctrlC = () => process.kill(-child.pid!, 'SIGINT');
  return { child, w: watchChild(child), ctrlC };
}

/** A group worker that has taken the job for `input` and started its ffmpeg decoder, then one Ctrl-C, said back. */
async function ctrlCWhileDecoding(url: string, input: string, teardown: (f: () => void) => void) {
  const g = groupWorker(url);
  teardown(() => g.child.kill('SIGKILL'));
  await g.w.until(new RegExp(`file \\S+${path.basename(input).replace('.', '\\.')} \\(attempt 1 of 3\\)`));
  await until('the job\'s ffmpeg decoder', () => processesWith(input).length > 0);
  g.ctrlC();
  await g.w.until(/finishing the current job/);
  return g;
}

t_('queue › Ctrl-C in the worker\'s terminal (SIGINT to its process group) finishes the job in hand (ffmpeg is not stopped with it); twice releases it and leaves no ffmpeg', async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const inDir = tmpDir('segflow-qh-in-');
  const out = tmpDir('segflow-qh-out-');
  const a = path.join(inDir, 'ctrlc.mp4');
  await ffmpeg(['-i', SAMPLE, '-frames:v', '60', '-vf', 'scale=320:180', '-c:v', 'libx264', '-preset', 'ultrafast', a]);
  // Decoded at the video's rate: the job lasts its 2.4 s however fast the machine is.
  const REALTIME = ['--set', 'decode.realtime=true'];
  t.is((await segflow(['process', a, '--out', out, '--queue', redis.url, '--no-wait', ...REALTIME])).code, 0);

  // One Ctrl-C while the graph runs (its ffmpeg decoder started): the job is finished, the worker exits 0.
  const w1 = await ctrlCWhileDecoding(redis.url, a, (f) => t.teardown(f));
  t.is(await w1.w.exit, 0, w1.w.text());
  t.regex(w1.w.text(), /file \S+ctrlc\.mp4 done: 60 frames/);
  t.notRegex(w1.w.text(), /failed/);
  t.is(readdirSync(path.join(out, 'ctrlc', 'labels')).filter((f) => f.endsWith('.png')).length, 60);

  // Submitted again into another folder: two Ctrl-Cs release the job (no attempt used), and no ffmpeg is left behind.
  const out2 = tmpDir('segflow-qh-out-');
  t.is((await segflow(['process', a, '--out', out2, '--queue', redis.url, '--no-wait', ...REALTIME])).code, 0);
  const w2 = await ctrlCWhileDecoding(redis.url, a, (f) => t.teardown(f));
  w2.ctrlC();
  t.is(await w2.w.exit, 130, w2.w.text());
  t.regex(w2.w.text(), /released \S+ctrlc\.mp4 to the queue/);
  await until('no ffmpeg of the released job', () => processesWith(a).length === 0, 20_000);
  const st = JSON.parse((await segflow(['status', '--queue', redis.url, '--json'])).stdout);
  t.like(st.files.find((f: { output: string }) => f.output.startsWith(out2)), { state: 'waiting', attempts: 0 });
  t.deepEqual(readdirSync(out2), [], 'nothing under a final name');
});

t_('queue › a worker whose graph differs (a stale machine in the fleet) hands the jobs back instead of failing them; with no worker that has the graph, they fail with the mismatch', async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const inDir = tmpDir('segflow-qh-in-');
  const out = tmpDir('segflow-qh-out-');
  const files = await Promise.all([1, 2, 3].map(async (i) => {
    const f = path.join(inDir, `stale${i}.mp4`);
    await ffmpeg(['-i', SAMPLE, '-frames:v', '30', '-vf', 'scale=320:180', '-c:v', 'libx264', '-preset', 'ultrafast', f]);
    return f;
  }));
  // The stale worker: this package's default graph, edited on its machine (another hash).
  const edited = path.join(inDir, 'dashcam-offline.yaml');
  writeFileSync(edited, readFileSync(path.join(ROOT, 'graphs', 'dashcam-offline.yaml'), 'utf8') + '# edited on this machine\n');
  const stop = new AbortController();
  const lines: string[] = [];
  const stale = await startQueueWorker({ target: parseRedisUrl(redis.url), defaultGraph: edited, registry, stop: stop.signal, release: new AbortController().signal, lockMs: 3000, log: (m) => lines.push(m) });
  t.teardown(() => stop.abort());
  const good = spawnSegflow(['worker', '--queue', redis.url, '--lock-ms', '3000']);
  const g = watchChild(good);
  t.teardown(() => good.kill('SIGKILL'));
  await g.until(/waiting for jobs/);
  // Decoded at the video's rate: the good worker is busy over a second a file, while the stale one is idle and takes the others.
  const r = await segflow(['process', ...files, '--out', out, '--queue', redis.url, '--set', 'decode.realtime=true']);
  t.is(r.code, 0, r.stderr + lines.join('\n'));
  t.regex(r.stdout, /3 done, 0 failed/);
  for (const f of files) t.regex(g.text(), new RegExp(`file \\S+${path.basename(f).replace('.', '\\.')} done: 30 frames`));
  t.is(readdirSync(path.join(out, 'stale1', 'labels')).filter((f) => f.endsWith('.png')).length, 30);
  // Whether the stale worker met a job depends on timing; when it did, it said so once, and used no attempt.
  t.true(lines.filter((l) => /differs from the one submitted.*handed back/.test(l)).length <= 1, lines.join('\n'));
  t.false(lines.some((l) => /failed/.test(l)), lines.join('\n'));

  // The good worker gone: nobody connected has the graph, so the file fails with the mismatch, after its attempts.
  good.kill('SIGTERM');
  t.is(await g.exit, 0);
  const extra = path.join(inDir, 'stale4.mp4');
  await ffmpeg(['-i', SAMPLE, '-frames:v', '10', '-vf', 'scale=320:180', '-c:v', 'libx264', '-preset', 'ultrafast', extra]);
  const r2 = await segflow(['process', extra, '--out', out, '--queue', redis.url, '--attempts', '2']);
  t.is(r2.code, 1, r2.stderr);
  t.regex(r2.stderr, /✗ \S+stale4\.mp4: graph \S+ on worker \S+ differs from the one submitted .* \(after 2 attempts\)/);
  t.regex(lines.join('\n'), /no worker connected now has the submitted graph: attempt 2 of 2 failed/);
  stop.abort();
  await stale.done;
});

t_('queue › Redis away while a worker idles: said once (not several times a second), its return said, and the worker takes the next job', async (t) => {
  const redis = await startRedis({ appendOnly: true });
  t.teardown(() => redis.stop());
  const out = tmpDir('segflow-qh-out-');
  const wk = spawnSegflow(['worker', '--queue', redis.url]);
  const w = watchChild(wk);
  t.teardown(() => wk.kill('SIGKILL'));
  await w.until(/waiting for jobs/);
  await redis.restart(2000);
  await w.until(/redis: reachable again/, 60_000);
  // The first connection error (refused, or reset) said once; ioredis retried many times meanwhile.
  const said = w.text().split('\n').filter((l) => /redis: /.test(l) && !/reachable again/.test(l));
  t.is(said.length, 1, w.text());
  t.regex(said[0]!, /redis: .*(ECONNREFUSED|ECONNRESET|Connection is closed).* \(retrying; said once until it is back\)/);
  const r = await segflow(['process', SAMPLE, '--out', out, '--queue', redis.url]);
  t.is(r.code, 0, r.stderr + w.text());
  t.regex(w.text(), /synthetic-road\.mp4 done/);
});

test('queue › status says why a waiting file waits when a worker with another graph handed it back (job and chunk jobs)', async (t) => {
  // The job objects are stand-ins (a unit test of the status logic; the hand-back itself is tested above with real workers).
  const data = { kind: 'file', input: '/v/a.mp4', outDir: '/o/a', frames: 30, refusedBy: ['m1:41'] };
  const job = (d: object, state: string, id = 'f1') => ({ id, data: d, attemptsMade: 0, progress: 0, returnvalue: undefined, getState: async () => state });
  const queue = { getJob: async (id: string) => (id.endsWith('-c0') ? job({ kind: 'chunk', start: 0, refusedBy: ['m2:7'] }, 'delayed', id) : job({ kind: 'chunk', start: 10 }, 'completed', id)) };
  const f = await fileStatus(queue as never, job(data, 'delayed') as never);
  t.is(f.state, 'waiting');
  t.deepEqual(f.refusedBy, ['m1:41']);
  const stitched = await fileStatus(queue as never, job({ ...data, kind: 'stitch', refusedBy: undefined, chunks: [{ start: 0 }, { start: 10 }] }, 'waiting-children', 's1') as never);
  t.deepEqual(stitched.refusedBy, ['m2:7'], "a chunk's refusal shows on its file");
  const text = formatQueueStatus({ files: [f], counts: { waiting: 1, active: 0, done: 0, failed: 0 }, workers: [] });
  t.regex(text, /\/o\/a \(handed back by m1:41: another graph than the submitted one; waiting for a worker that has it\)/);
  const done = await fileStatus(queue as never, job(data, 'active') as never);
  t.is(done.refusedBy, undefined, 'an active file says nothing of it');
});

test('queue › a job read while its last attempt ran and seen failed after: its status has that attempt\'s count and error, not the snapshot\'s', async (t) => {
  // Stand-ins again (the race is between two Redis reads): the snapshot was taken during attempt 2 of 2; by the state read it had failed.
  const data = { kind: 'file', input: '/v/a.mp4', outDir: '/o/a', frames: 30 };
  const snapshot = { id: 'f1', data, attemptsMade: 1, failedReason: 'first', progress: 0, getState: async () => 'failed' };
  const now = { ...snapshot, attemptsMade: 2, failedReason: 'second' };
  const f = await fileStatus({ getJob: async () => now } as never, snapshot as never);
  t.like(f, { state: 'failed', attempts: 2, error: 'second' });
  // A chunk of a stitch job, the same.
  const stitch = { id: 's1', data: { ...data, kind: 'stitch', chunks: [{ start: 0 }] }, attemptsMade: 0, progress: 0, getState: async () => 'failed' };
  const chunk = { id: 's1-c0', data: { kind: 'chunk', start: 0 }, attemptsMade: 1, failedReason: 'first', progress: 0, getState: async () => 'failed' };
  let chunkReads = 0;
  const q = { getJob: async (id: string) => (id === 's1' ? stitch : chunkReads++ ? { ...chunk, attemptsMade: 2, failedReason: 'second' } : chunk) };
  t.like(await fileStatus(q as never, stitch as never), { state: 'failed', attempts: 2, error: 'second (frames 0..)' });
});

test('queue › --out naming a file: a clear error before anything is queued', async (t) => {
  const dir = tmpDir('segflow-qh-out-');
  const file = path.join(dir, 'not-a-folder');
  writeFileSync(file, 'x');
  // No Redis at this address: the error comes first.
  const r = await segflow(['process', SAMPLE, '--out', file, '--queue', 'redis://127.0.0.1:1']);
  t.is(r.code, 1, r.stderr);
  t.regex(r.stderr, /--out \S+not-a-folder: cannot create the folder \(a path in it is not a folder, EEXIST\); expected a folder segflow can write/);
});

t_('queue › a worker SIGKILLed mid-file: another takes the job over once its lock expires, the output equals one process\'s, and the dead worker\'s hidden work folder is removed', async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const inDir = tmpDir('segflow-qh-in-');
  const out = tmpDir('segflow-qh-out-');
  const ref = tmpDir('segflow-qh-ref-');
  const a = path.join(inDir, 'killed.mp4');
  await ffmpeg(['-i', SAMPLE, '-frames:v', '60', '-vf', 'scale=320:180', '-c:v', 'libx264', '-preset', 'ultrafast', a]);
  const REALTIME = ['--set', 'decode.realtime=true'];
  t.is((await segflow(['process', a, '--out', out, '--queue', redis.url, '--no-wait', ...REALTIME])).code, 0);
  const w1 = spawnSegflow(['worker', '--queue', redis.url, '--lock-ms', '2000']);
  const x1 = watchChild(w1);
  t.teardown(() => w1.kill('SIGKILL'));
  await x1.until(/file \S+killed\.mp4 \(attempt 1 of 3\)/);
  // Killed once its work folder holds frames.
  const framesIn = (e: string) => {
    try {
      // The label maps' folder is itself a work folder (labels.partial) until the graph ends.
      return readdirSync(path.join(out, e)).filter((d) => d.startsWith('labels')).some((d) => readdirSync(path.join(out, e, d)).some((f) => f.endsWith('.png')));
    } catch {
      return false; // not made yet
    }
  };
  await until('a work folder with frames', () => readdirSync(out).some((e) => /^\.segflow-killed\.partial-/.test(e) && framesIn(e)));
  w1.kill('SIGKILL');
  await x1.exit;
  const w2 = spawnSegflow(['worker', '--queue', redis.url, '--lock-ms', '2000']);
  const x2 = watchChild(w2);
  t.teardown(() => w2.kill('SIGKILL'));
  const r = await segflow(['process', a, '--out', out, '--queue', redis.url, ...REALTIME]);
  t.is(r.code, 0, r.stderr + x2.text());
  t.regex(x2.text(), /stalled/);
  t.regex(x2.text(), /removed \S+\.segflow-killed\.partial-\S+ \(the work folder of a worker of this machine that died\)/);
  t.regex(x2.text(), /file \S+killed\.mp4 done: 60 frames/);
  t.deepEqual(readdirSync(out).sort(), ['killed', 'summary.json'], 'nothing left beside the outputs, hidden or not');
  t.is((await segflow(['process', a, '--out', ref])).code, 0);
  const pngs = (d: string) => readdirSync(d).filter((f) => f.endsWith('.png')).sort();
  const la = pngs(path.join(out, 'killed', 'labels'));
  t.is(la.length, 60);
  t.deepEqual(la.filter((f) => !readFileSync(path.join(out, 'killed', 'labels', f)).equals(readFileSync(path.join(ref, 'killed', 'labels', f)))), [], 'labels identical to one process');
  t.is(readFileSync(path.join(out, 'killed', 'stats.csv'), 'utf8'), readFileSync(path.join(ref, 'killed', 'stats.csv'), 'utf8'));
});

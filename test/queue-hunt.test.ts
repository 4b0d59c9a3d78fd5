/**
 * Fleet processing faults found by hunting (real redis-server, real `segflow
 * worker` processes, real ffmpeg): what a user's fleet meets beyond
 * test/queue.test.ts and test/queue-fleet.test.ts.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { BIN, ROOT, SAMPLE, segflow, tmpDir, watchChild } from './helpers/cli.ts';
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

t_('queue › Ctrl-C in the worker\'s terminal (SIGINT to its process group) finishes the job in hand (ffmpeg is not stopped with it); twice releases it and leaves no ffmpeg', async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const inDir = tmpDir('segflow-qh-in-');
  const out = tmpDir('segflow-qh-out-');
  const a = path.join(inDir, 'ctrlc.mp4');
  await ffmpeg(['-i', SAMPLE, '-frames:v', '100', '-vf', 'scale=320:180', '-c:v', 'libx264', '-preset', 'ultrafast', a]);
  // Decoded at the video's rate: the job lasts its 4 s however fast the machine is.
  const REALTIME = ['--set', 'decode.realtime=true'];
  t.is((await segflow(['process', a, '--out', out, '--queue', redis.url, '--no-wait', ...REALTIME])).code, 0);

  // One Ctrl-C while the graph runs (its ffmpeg decoder started): the job is finished, the worker exits 0.
  const w1 = groupWorker(redis.url);
  t.teardown(() => w1.child.kill('SIGKILL'));
  await w1.w.until(/file \S+ctrlc\.mp4 \(attempt 1 of 3\)/);
  await until('the job\'s ffmpeg decoder', () => processesWith(a).length > 0);
  w1.ctrlC();
  await w1.w.until(/finishing the current job/);
  t.is(await w1.w.exit, 0, w1.w.text());
  t.regex(w1.w.text(), /file \S+ctrlc\.mp4 done: 100 frames/);
  t.notRegex(w1.w.text(), /failed/);
  t.is(readdirSync(path.join(out, 'ctrlc', 'labels')).filter((f) => f.endsWith('.png')).length, 100);

  // Submitted again into another folder: two Ctrl-Cs release the job (no attempt used), and no ffmpeg is left behind.
  const out2 = tmpDir('segflow-qh-out-');
  t.is((await segflow(['process', a, '--out', out2, '--queue', redis.url, '--no-wait', ...REALTIME])).code, 0);
  const w2 = groupWorker(redis.url);
  t.teardown(() => w2.child.kill('SIGKILL'));
  await w2.w.until(/file \S+ctrlc\.mp4 \(attempt 1 of 3\)/);
  await until('the job\'s ffmpeg decoder', () => processesWith(a).length > 0);
  w2.ctrlC();
  await w2.w.until(/finishing the current job/);
  w2.ctrlC();
  t.is(await w2.w.exit, 130, w2.w.text());
  t.regex(w2.w.text(), /released \S+ctrlc\.mp4 to the queue/);
  await until('no ffmpeg of the released job', () => processesWith(a).length === 0, 20_000);
  const st = JSON.parse((await segflow(['status', '--queue', redis.url, '--json'])).stdout);
  t.like(st.files.find((f: { output: string }) => f.output.startsWith(out2)), { state: 'waiting', attempts: 0 });
  t.deepEqual(readdirSync(out2), [], 'nothing under a final name');
});

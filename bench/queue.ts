/**
 * node --import tsx bench/queue.ts [--copies 2] [--chunk-frames 0] [--workers 1,2]
 *
 * Fleet processing on this machine: the real dashcam clip (../shared/data),
 * `--copies` copies of it, processed by one `segflow process` (the baseline),
 * then through a real redis-server by 1 and 2 `segflow worker` processes
 * (whole-file jobs, or `--chunk-frames N` chunk flows). Prints wall time and
 * end-to-end fps per setup, and each worker's own throughput (frames over the
 * seconds its jobs ran). Every setup starts from an empty queue and output.
 */
import { execFileSync, spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startRedis } from '../test/helpers/redis.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BIN = path.join(ROOT, 'bin', 'segflow.js');
const CLIP = path.resolve(ROOT, '..', 'shared', 'data', 'video', 'solidWhiteRight.mp4');
const { values } = parseArgs({ options: { copies: { type: 'string' }, 'chunk-frames': { type: 'string' }, workers: { type: 'string' } } });
const copies = Number(values.copies ?? 2);
const chunk = Number(values['chunk-frames'] ?? 0);
const workerCounts = (values.workers ?? '1,2').split(',').map(Number);
if (!existsSync(CLIP)) {
  console.error(`bench/queue: ${CLIP} is absent; the benchmark needs ../shared/data next to the repository`);
  process.exit(2);
}

const tmp = mkdtempSync(path.join(os.tmpdir(), 'segflow-bench-queue-'));
const files = Array.from({ length: copies }, (_, i) => {
  const f = path.join(tmp, 'in', `clip${i + 1}.mp4`);
  execFileSync('mkdir', ['-p', path.dirname(f)]);
  copyFileSync(CLIP, f);
  return f;
});
const chunkArgs = chunk > 0 ? ['--chunk-frames', String(chunk)] : [];

function run(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    c.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    c.on('exit', (code) => resolve({ code, stderr }));
  });
}

const rows: string[] = [];
const frames = (out: string) => (JSON.parse(readFileSync(path.join(out, 'summary.json'), 'utf8')) as { files: { frames?: number }[] }).files.reduce((a, f) => a + (f.frames ?? 0), 0);

// Baseline: one process, the files one after the other.
{
  const out = path.join(tmp, 'single');
  const t0 = performance.now();
  const r = await run(['process', ...files, '--out', out, ...chunkArgs]);
  const s = (performance.now() - t0) / 1000;
  if (r.code !== 0) throw new Error(r.stderr);
  const n = frames(out);
  rows.push(`| one \`segflow process\` | ${n} | ${s.toFixed(1)} | ${(n / s).toFixed(1)} | — |`);
  console.error(rows.at(-1));
}

for (const k of workerCounts) {
  const redis = await startRedis();
  try {
    const out = path.join(tmp, `queue-${k}`);
    const workers = Array.from({ length: k }, () => {
      const c = spawn(process.execPath, [BIN, 'worker', '--queue', redis.url], { stdio: ['ignore', 'ignore', 'pipe'] });
      let log = '';
      c.stderr.on('data', (d: Buffer) => (log += d.toString()));
      return { c, log: () => log };
    });
    // Wait until every worker is connected, so start-up is not counted against the queue.
    for (const w of workers) while (!/waiting for jobs/.test(w.log())) await new Promise((r) => setTimeout(r, 100));
    const t0 = performance.now();
    const r = await run(['process', ...files, '--out', out, '--queue', redis.url, ...chunkArgs]);
    const s = (performance.now() - t0) / 1000;
    if (r.code !== 0) throw new Error(r.stderr);
    const n = frames(out);
    // Each worker: frames over the seconds its jobs ran ("done: N frames in S s").
    const per = workers.map((w) => {
      const m = [...w.log().matchAll(/done: (\d+) frames in ([\d.]+) s/g)];
      const f = m.reduce((a, x) => a + Number(x[1]), 0);
      const sec = m.reduce((a, x) => a + Number(x[2]), 0);
      return `${f} fr / ${sec.toFixed(1)} s = ${(f / Math.max(sec, 1e-3)).toFixed(1)} fps`;
    });
    for (const w of workers) w.c.kill('SIGTERM');
    await Promise.all(workers.map((w) => new Promise((r) => w.c.on('exit', r))));
    rows.push(`| queue, ${k} worker${k > 1 ? 's' : ''}${chunk ? `, chunks of ${chunk}` : ', a job per file'} | ${n} | ${s.toFixed(1)} | ${(n / s).toFixed(1)} | ${per.join('; ')} |`);
    console.error(rows.at(-1));
  } finally {
    await redis.stop();
  }
}

console.log(`\n${copies} copies of solidWhiteRight.mp4 (960x540, 221 frames), graphs/dashcam-offline.yaml, ${os.cpus().length} cores (${os.loadavg()[0]!.toFixed(1)} load at the end)\n`);
console.log('| setup | frames | wall s | fps end to end | per worker (its jobs only) |');
console.log('|---|---|---|---|---|');
for (const r of rows) console.log(r);
rmSync(tmp, { recursive: true, force: true });

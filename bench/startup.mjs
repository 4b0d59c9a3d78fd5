/**
 * CLI start-up: wall time of `segflow --version`, `segflow nodes` and
 * `segflow nodes two-branch-segmenter` against a bare `node -e 0`, each run N
 * times round-robin (so machine load hits all alike); prints medians and the
 * ratio to `node -e 0`; then the time to the first frame of `npm start`'s
 * graph (spawn → the first frame finished by its first sink: the first
 * `progress` line of `--log json`), median of 3.
 *
 *   node bench/startup.mjs [N=10] [path/to/bin/segflow.js]
 *
 * Run it after `npm run build` (a checkout with a stale dist/ falls back to tsx).
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const n = Number(process.argv[2] ?? 10);
const bin = process.argv[3] ? path.resolve(process.argv[3]) : path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'bin', 'segflow.js');
const cases = {
  'node -e 0': ['-e', '0'],
  'segflow --version': [bin, '--version'],
  'segflow nodes': [bin, 'nodes'],
  'segflow nodes two-branch-segmenter': [bin, 'nodes', 'two-branch-segmenter'],
};
const times = Object.fromEntries(Object.keys(cases).map((k) => [k, []]));
for (let i = 0; i < n; i++) {
  for (const [k, args] of Object.entries(cases)) {
    const t0 = performance.now();
    const r = spawnSync(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    if (r.status !== 0) throw new Error(`${k}: exit ${r.status}: ${r.stderr}`);
    times[k].push(performance.now() - t0);
  }
}
const median = (a) => {
  const s = [...a].sort((x, y) => x - y);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const base = median(times['node -e 0']);
for (const [k, a] of Object.entries(times)) {
  const m = median(a);
  console.log(`${k.padEnd(36)} median ${m.toFixed(0).padStart(5)} ms  (min ${Math.min(...a).toFixed(0)}, max ${Math.max(...a).toFixed(0)})  ${(m / base).toFixed(2)}x node -e 0`);
}

const first = [];
for (let i = 0; i < 3; i++) {
  const out = mkdtempSync(path.join(os.tmpdir(), 'segflow-startup-'));
  const t0 = performance.now();
  const child = spawn(process.execPath, [bin, 'run', path.join(path.dirname(bin), '..', 'graphs', 'dashcam-offline.yaml'), '--overwrite', '--var', `out=${out}`, '--log', 'json'], { stdio: ['ignore', 'ignore', 'pipe'], cwd: path.join(path.dirname(bin), '..') });
  const ms = await new Promise((resolve, reject) => {
    let buf = '';
    child.stderr.on('data', (d) => {
      buf += d;
      if (/"type":"progress","frames":[1-9]/.test(buf)) resolve(performance.now() - t0);
    });
    child.on('exit', (c) => reject(new Error(`exited ${c} before a frame: ${buf.slice(-500)}`)));
  });
  child.removeAllListeners('exit');
  child.kill('SIGINT');
  await new Promise((r) => child.on('exit', r));
  rmSync(out, { recursive: true, force: true });
  first.push(ms);
}
console.log(`${'npm start: time to first frame'.padEnd(36)} median ${median(first).toFixed(0).padStart(5)} ms  (${first.map((x) => x.toFixed(0)).join(', ')})`);

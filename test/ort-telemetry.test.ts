/**
 * ONNX Runtime's telemetry stays off (src/segmentation/engine/ort-env.ts): onnxruntime-node 1.30
 * on Linux writes `/tmp/mat-debug-<pid>.log` (and a SQLite event store) from every process that
 * creates a session, unless ORT_DISABLE_TELEMETRY is set. A real `segflow process` run, whose
 * model runs in its segmenter thread, must leave no such file; the same ONNX Runtime with the
 * variable set to 0 by the user is the control that shows the file would be there.
 */
import { spawn } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { BIN, ROOT, tmpDir } from './helpers/cli.ts';
import { testClip } from './helpers/videos.ts';

const debugLog = (pid: number) => `/tmp/mat-debug-${pid}.log`;

function run(args: string[], env: NodeJS.ProcessEnv): Promise<{ pid: number; code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const c = spawn(process.execPath, args, { cwd: ROOT, env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    c.stderr.on('data', (d) => (stderr += d));
    c.on('error', reject);
    c.on('close', (code) => resolve({ pid: c.pid!, code, stderr }));
  });
}

test('a segflow process run writes no ONNX Runtime telemetry file; a user who sets ORT_DISABLE_TELEMETRY=0 gets ONNX Runtime as it ships', async (t) => {
  const dir = tmpDir('segflow-ort-telemetry-');
  try {
    const env = { ...process.env };
    delete env.ORT_DISABLE_TELEMETRY;
    // Control: ONNX Runtime itself, with the user's choice kept, in a process of its own.
    const script = `import * as ort from 'onnxruntime-node'; await ort.InferenceSession.create(${JSON.stringify(path.join(ROOT, 'models/fast-scnn-camvid/shallow.onnx'))});`;
    const control = await run(['--input-type=module', '-e', script], { ...env, ORT_DISABLE_TELEMETRY: '0' });
    t.is(control.code, 0, control.stderr);
    const controlWrote = existsSync(debugLog(control.pid));
    rmSync(debugLog(control.pid), { force: true });
    if (!controlWrote) t.log(`this onnxruntime-node writes no ${debugLog(control.pid)} even with telemetry allowed: the check below cannot tell a difference`);

    const clip = await testClip(path.join(dir, 'in.mp4'), { frames: 4 });
    const r = await run([BIN, 'process', clip, '--out', path.join(dir, 'out')], env);
    t.is(r.code, 0, r.stderr);
    const wrote = existsSync(debugLog(r.pid));
    rmSync(debugLog(r.pid), { force: true });
    t.false(wrote, `segflow process left ${debugLog(r.pid)}: ONNX Runtime's telemetry was on`);
    t.true(existsSync(path.join(dir, 'out', 'in', 'overlay.mp4')), 'the run made its outputs');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

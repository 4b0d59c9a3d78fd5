/**
 * training/fast_scnn.py grow(): the `grown` key-frame network starts out computing exactly what
 * the `fast` network it grows from computes, its new capacity gets gradients, and a shape that is
 * not a growth is refused (training/test_grow.py holds the checks; this runs it). Needs Debian's
 * python3-torch, which a user's setup does not: without it the test says so and passes.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import test from 'ava';
import { PACKAGE_ROOT } from '../src/core/package-root.ts';

const PY = '/usr/bin/python3';

test('grow › the grown network computes what it grew from, and its new parts learn', (t) => {
  const probe = spawnSync(PY, ['-c', 'import torch'], { encoding: 'utf8' });
  if (probe.status !== 0) {
    t.log(`skipped: ${PY} with torch is needed (${(probe.stderr || probe.error?.message || '').trim().split('\n').pop()})`);
    t.pass();
    return;
  }
  const r = spawnSync('nice', [PY, path.join(PACKAGE_ROOT, 'training', 'test_grow.py')], { encoding: 'utf8', timeout: 120_000 });
  t.is(r.status, 0, `${r.stdout}\n${r.stderr}`.slice(-3000));
  t.regex(r.stdout, /same output at 360x480/);
  t.regex(r.stdout, /gradients reach the new channels/);
  t.regex(r.stdout, /refused: cannot grow/);
});

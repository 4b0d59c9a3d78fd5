import test from 'ava';
import { readFileSync, writeFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { ROOT, tmpDir, videoFacts } from './helpers/cli.ts';
import { execFile } from 'node:child_process';

test('library › the README example runs as written and writes an overlay video', async (t) => {
  const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const m = /<!-- example:library -->\s*```ts\n([\s\S]*?)```/.exec(readme);
  t.truthy(m, 'README has the library example block');
  const code = m![1]!;
  t.true(code.trim().split('\n').length <= 12, 'about ten lines');
  const out = tmpDir();
  // Run it from inside the package so `import ... from 'segflow'` resolves to this checkout — to its
  // TypeScript sources (the `segflow-source` export condition), not to a dist/ that may be stale.
  // test/package.test.ts runs the same block against the installed tarball with plain node.
  const file = path.join(ROOT, `.example-${process.pid}.ts`);
  writeFileSync(file, code.replaceAll('out/library.mp4', path.join(out, 'library.mp4')));
  try {
    await new Promise<void>((resolve, reject) =>
      execFile(process.execPath, ['--import', 'tsx', '--conditions=segflow-source', file], { cwd: ROOT, timeout: 120_000 }, (err, _o, stderr) => (err ? reject(new Error(stderr || err.message)) : resolve())));
  } finally {
    rmSync(file, { force: true });
  }
  const v = await videoFacts(path.join(out, 'library.mp4'));
  t.is(v.frames, 100, 'every frame of the 100-frame sample');
  t.deepEqual([v.width, v.height], [640, 360]);
});

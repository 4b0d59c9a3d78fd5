/**
 * The segmenter thread's plain-JS bundle (src/thread/bundle.mjs): built with
 * the real esbuild, used only while every source it was built from is
 * unchanged, and what a thread starts from when it is fresh.
 */
import { mkdtempSync, rmSync, utimesSync, writeFileSync, mkdirSync, unlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
// @ts-expect-error plain JS module without types
import { build, freshBundle } from '../src/segmentation/thread/bundle.mjs';
import { ThreadedSegmenter } from '../src/segmentation/thread/segmenter.ts';

test('bundle › fresh only while its sources are unchanged; rebuilt, fresh again', async (t) => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'segflow-bundle-'));
  try {
    mkdirSync(path.join(root, 'src'));
    writeFileSync(path.join(root, 'src', 'a.ts'), "import { b } from './b.ts';\nexport const a: number = b + 1;\n");
    writeFileSync(path.join(root, 'src', 'b.ts'), 'export const b: number = 41;\n');
    const dir = path.join(root, 'dist');
    t.is(freshBundle('a', dir, root), undefined, 'no bundle yet');
    const r = await build('src/a.ts', 'a', dir, root);
    t.is(r.inputs, 2);
    const url = freshBundle('a', dir, root);
    t.truthy(url);
    t.is((await import(url)).a, 42);
    // an edited source (same size, new time) makes it stale
    const later = new Date(Date.now() + 5000);
    utimesSync(path.join(root, 'src', 'b.ts'), later, later);
    t.is(freshBundle('a', dir, root), undefined, 'stale after a source changed');
    writeFileSync(path.join(root, 'src', 'b.ts'), 'export const b: number = 1;\n');
    await build('src/a.ts', 'a', dir, root);
    const url2 = freshBundle('a', dir, root);
    t.truthy(url2);
    t.is((await import(`${url2}?v=2`)).a, 2);
    // a deleted source makes it stale too
    unlinkSync(path.join(root, 'src', 'b.ts'));
    t.is(freshBundle('a', dir, root), undefined, 'stale after a source was deleted');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('bundle › a segmenter thread starts from the fresh bundle, and segments', async (t) => {
  await build();
  const s = await ThreadedSegmenter.open({ model: 'fast-scnn-camvid', engine: 'onnx', threads: 1, mode: { keyframeIntervalFrames: 1 } });
  try {
    t.is(s.boot, 'bundle');
    const r = await s.next(new Uint8Array(64 * 48 * 3).fill(120), 64, 48, true);
    t.is(r.classes.length, 64 * 48);
    t.is(r.path, 'full');
  } finally {
    await s.close();
  }
});

/**
 * reliability › output safety: a complete output is never overwritten without `--overwrite`.
 * `segflow process` skips a file whose output folder exists (leaving it byte for byte, mtime
 * included); `segflow run` refuses to open an encoder whose file exists (exit 1, a clear one-line
 * message, the file untouched) and replaces it with `--overwrite`.
 */
import test from 'ava';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { segflow, tmpDir, videoFacts } from './helpers/cli.ts';
import { testClip } from './helpers/videos.ts';

const SMALL = ['--set', 'small.width=160', '--set', 'small.height=96'];

/** Content hash and mtime of every file under `dir`. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (rel: string) => {
    for (const e of readdirSync(path.join(dir, rel), { withFileTypes: true })) {
      const p = path.join(rel, e.name);
      if (e.isDirectory()) walk(p);
      else out[p] = `${createHash('sha256').update(readFileSync(path.join(dir, p))).digest('hex').slice(0, 16)} ${statSync(path.join(dir, p)).mtimeMs}`;
    }
  };
  walk('');
  return out;
}

test('reliability › output: `segflow process` skips a complete output (unchanged, mtime included) and redoes it only with --overwrite', async (t) => {
  const work = tmpDir('segflow-out-');
  const clip = await testClip(path.join(work, 'clip.mp4'));
  const out = path.join(work, 'out');
  const first = await segflow(['process', clip, '--out', out, ...SMALL]);
  t.is(first.code, 0, first.stderr);
  const dir = path.join(out, 'clip');
  const before = snapshot(dir);
  t.true('overlay.mp4' in before && 'result.json' in before && 'stats.json' in before, Object.keys(before).join(', '));

  const again = await segflow(['process', clip, '--out', out, ...SMALL]);
  t.is(again.code, 0, again.stderr);
  t.regex(again.stderr, /- .*clip\.mp4: skipped \(complete output exists: .*; --overwrite to redo\)/);
  t.regex(again.stdout, /0 ok, 1 skipped, 0 failed/);
  t.deepEqual(snapshot(dir), before, 'every file of the complete output unchanged, mtimes included');
  t.deepEqual(readdirSync(out).sort(), ['clip', 'summary.json']);

  const redo = await segflow(['process', clip, '--out', out, '--overwrite', ...SMALL]);
  t.is(redo.code, 0, redo.stderr);
  t.regex(redo.stdout, /1 ok, 0 skipped, 0 failed/);
  const after = snapshot(dir);
  t.notDeepEqual(after['overlay.mp4'], before['overlay.mp4'], 'overlay rewritten');
  t.is((await videoFacts(path.join(dir, 'overlay.mp4'))).frames, 20);
  t.deepEqual(readdirSync(out).sort(), ['clip', 'summary.json'], 'no partial folder left');
});

test('reliability › output: `segflow run` with an existing encoder output → exit 1, one clear line, file untouched; --overwrite replaces it', async (t) => {
  const work = tmpDir('segflow-out-');
  const clip = await testClip(path.join(work, 'clip.mp4'));
  const out = path.join(work, 'run');
  mkdirSync(out);
  const target = path.join(out, 'overlay.mp4');
  writeFileSync(target, 'a previous result that must survive\n');
  const before = snapshot(out);
  const args = ['run', 'graphs/dashcam-offline.yaml', '--var', `input=${clip}`, '--var', `out=${out}`, ...SMALL];

  const r = await segflow(args);
  t.is(r.code, 1, r.stderr);
  // Log lines of nodes opened before the encoder (the segmenter's model) may come first; the error is one line, last.
  const lines = r.stderr.split('\n').filter(Boolean);
  t.is(lines.filter((l) => l.startsWith('segflow:')).length, 1, r.stderr);
  t.regex(lines.at(-1)!, /^segflow: video: output .*overlay\.mp4 exists; pass --overwrite/);
  t.notRegex(r.stderr, /^\s+at /m, 'no stack trace');
  t.deepEqual(snapshot(out), before, 'the existing file is untouched and nothing else was written');
  t.false(existsSync(path.join(out, 'overlay.partial.mp4')));

  const ok = await segflow([...args, '--overwrite']);
  t.is(ok.code, 0, ok.stderr);
  t.regex(ok.stdout, /done: 20 frames/);
  const v = await videoFacts(target);
  t.deepEqual([v.frames, v.width, v.height, v.codec], [20, 160, 120, 'h264']);
  t.deepEqual(readdirSync(out).filter((f) => f.includes('partial')), []);
});

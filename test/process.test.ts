import test from 'ava';
import { copyFileSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { CLIP, needsShared, requireShared, SAMPLE, segflow, spawnSegflow, tmpDir, videoFacts } from './helpers/cli.ts';

function waitFor(child: ReturnType<typeof spawnSegflow>, re: RegExp, timeoutMs = 120_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const t = setTimeout(() => reject(new Error(`timed out waiting for ${re}; got: ${buf.slice(-500)}`)), timeoutMs);
    const on = (d: Buffer) => {
      buf += d.toString();
      if (re.test(buf)) {
        clearTimeout(t);
        child.stderr!.off('data', on);
        resolve(buf);
      }
    };
    child.stderr!.on('data', on);
  });
}

const exited = (child: ReturnType<typeof spawnSegflow>) => new Promise<number | null>((r) => child.on('exit', (code) => r(code)));

needsShared(test, CLIP)('process › solidWhiteRight → 221-frame 25 fps overlay mp4, 221 label maps, statistics JSON and CSV', async (t) => {
  requireShared(CLIP);
  const out = tmpDir();
  const r = await segflow(['process', CLIP, '--out', out]);
  t.is(r.code, 0, r.stderr);
  const dir = path.join(out, 'solidWhiteRight');
  const v = await videoFacts(path.join(dir, 'overlay.mp4'));
  t.is(v.frames, 221);
  t.is(v.fps, 25);
  t.deepEqual([v.width, v.height, v.codec], [960, 540, 'h264']);
  const pngs = readdirSync(path.join(dir, 'labels')).filter((f) => f.endsWith('.png'));
  t.is(pngs.length, 221);
  const png = path.join(dir, 'labels', '000120.png');
  t.is((await sharp(png).metadata()).channels, 1, 'single-channel PNG');
  const { data, info } = await sharp(png).toColourspace('b-w').raw().toBuffer({ resolveWithObject: true });
  t.deepEqual([info.width, info.height], [960, 540], "label maps at the video's size");
  t.true(data.every((v) => v < 11), 'class ids 0..10');
  t.true(new Set(data).size >= 3, 'more than a couple of classes seen on a road scene');
  const stats = JSON.parse(readFileSync(path.join(dir, 'stats.json'), 'utf8'));
  t.is(stats.frames, 221);
  t.is(stats.perFrame.length, 221);
  t.true(Math.abs(stats.video.share.reduce((a: number, b: number) => a + b, 0) - 1) < 1e-3);
  // How the labels were made: key frames (the whole network) and frames carried by motion, every frame once.
  t.true(stats.paths.full >= 221 / 10, `at least every 10th frame a key frame: ${JSON.stringify(stats.paths)}`);
  t.true(stats.paths.propagated > 0, 'the default graph reuses work between key frames');
  t.is(Object.values(stats.paths as Record<string, number>).reduce((a, b) => a + b, 0), 221);
  const csv = readFileSync(path.join(dir, 'stats.csv'), 'utf8').trim().split('\n');
  t.is(csv.length, 1 + 221, 'one row per frame, nothing under them');
  t.regex(csv[0]!, /^seq,pts_ms,Sky,Building/);
  const summary = JSON.parse(readFileSync(path.join(out, 'summary.json'), 'utf8'));
  t.is(summary.files[0].status, 'ok');
  t.is(summary.files[0].frames, 221);
  t.true(summary.files[0].fps > 0);
  t.regex(r.stdout, /1 ok, 0 skipped, 0 failed/);
});

needsShared(test, CLIP)('process › a folder with a good, a truncated, an empty and a text .mp4 → three reports, the good one complete, exit non-zero', async (t) => {
  requireShared(CLIP);
  const inDir = tmpDir();
  const out = tmpDir();
  copyFileSync(SAMPLE, path.join(inDir, 'good.mp4'));
  const clip = readFileSync(CLIP);
  writeFileSync(path.join(inDir, 'truncated.mp4'), clip.subarray(0, Math.floor(clip.length * 0.4)));
  writeFileSync(path.join(inDir, 'empty.mp4'), '');
  writeFileSync(path.join(inDir, 'notes.mp4'), 'this is a text file, not a video\n');
  const r = await segflow(['process', inDir, '--out', out]);
  t.is(r.code, 1);
  t.regex(r.stderr, /✗ .*empty\.mp4: .*empty file/);
  t.regex(r.stderr, /✗ .*notes\.mp4: .*not a readable video/);
  t.regex(r.stderr, /✗ .*truncated\.mp4: .*truncated or corrupt: decoded \d+ of 221 frames/);
  t.regex(r.stderr, /✓ .*good\.mp4: 100 frames/);
  t.is((await videoFacts(path.join(out, 'good', 'overlay.mp4'))).frames, 100);
  // Nothing under a final name for the failures, and no partial folders left behind.
  t.deepEqual(readdirSync(out).sort(), ['good', 'summary.json']);
  const s = JSON.parse(readFileSync(path.join(out, 'summary.json'), 'utf8'));
  t.is(s.failed, 3);
  t.is(s.ok, 1);
});

needsShared(test, CLIP)('process › Ctrl-C mid-run leaves no partial output under a final name; re-running skips what is done and completes the rest', async (t) => {
  requireShared(CLIP);
  const inDir = tmpDir();
  const out = tmpDir();
  copyFileSync(SAMPLE, path.join(inDir, 'a-sample.mp4'));
  copyFileSync(CLIP, path.join(inDir, 'b-clip.mp4'));
  const child = spawnSegflow(['process', inDir, '--out', out]);
  const code = exited(child);
  await waitFor(child, /progress b-clip\.mp4 \(file 2 of 2\): [1-9]\d*\//);
  child.kill('SIGINT');
  t.is(await code, 130);
  t.true(existsSync(path.join(out, 'a-sample', 'overlay.mp4')));
  t.false(existsSync(path.join(out, 'b-clip')), 'interrupted file has no final output');
  t.deepEqual(readdirSync(out).filter((f) => f.includes('partial')), []);
  const again = await segflow(['process', inDir, '--out', out]);
  t.is(again.code, 0, again.stderr);
  t.regex(again.stderr, /- .*a-sample\.mp4: skipped/);
  t.is((await videoFacts(path.join(out, 'b-clip', 'overlay.mp4'))).frames, 221);
});

needsShared(test, CLIP)('run › SIGINT finalises a playable mp4 with the frames processed so far', async (t) => {
  requireShared(CLIP);
  const out = tmpDir();
  const child = spawnSegflow(['run', 'graphs/dashcam-offline.yaml', '--var', `input=${CLIP}`, '--var', `out=${out}`, '--metrics-port', '0']);
  const code = exited(child);
  const port = Number(/metrics on http:\/\/127\.0\.0\.1:(\d+)/.exec(await waitFor(child, /metrics on http:\/\/127\.0\.0\.1:\d+/))![1]);
  // Stop once the encoder has taken some frames (polled from the live Prometheus endpoint, not timed).
  for (let written = 0; written < 10; await new Promise((r) => setTimeout(r, 200))) {
    const text = await fetch(`http://127.0.0.1:${port}/metrics`).then((r) => r.text(), () => '');
    written = Number(/segflow_node_frames_total\{node="video"[^}]*\} (\d+)/.exec(text)?.[1] ?? 0);
  }
  child.kill('SIGINT');
  t.is(await code, 130);
  const v = await videoFacts(path.join(out, 'overlay.mp4'));
  t.true(v.frames > 0 && v.frames < 221, `${v.frames} frames`);
  t.false(existsSync(path.join(out, 'overlay.partial.mp4')));
});

/**
 * Fleet processing end to end, with a real redis-server, the real CLI as child
 * processes, real ffmpeg: workers die, the submitter dies, Redis restarts, a
 * file is corrupt — and every output is complete and equal, byte for byte, to a
 * single-process run with the same --chunk-frames.
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ffmpegPaths } from '../src/media/ffmpeg.ts';
import { SAMPLE, segflow, spawnSegflow, tmpDir, videoFacts, watchChild } from './helpers/cli.ts';
import { redisServerPath, startRedis } from './helpers/redis.ts';
import { ffmpeg } from './helpers/videos.ts';

const HAVE_REDIS = redisServerPath() !== undefined;
const t_ = HAVE_REDIS ? test.serial : test.serial.skip;
if (!HAVE_REDIS) console.log('queue-fleet: redis-server is not installed (apt-get install redis-server): skipping');

/** Short recordings cut from the sample (320x180 keeps encoding cheap on 2 cores); with `audio`, the first has a tone (AAC). */
async function recordings(dir: string, frames: readonly number[], audio = false): Promise<string[]> {
  return Promise.all(frames.map(async (n, i) => {
    const f = path.join(dir, `rec${i + 1}.mp4`);
    const tone = audio && i === 0 ? ['-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=22050', '-map', '0:v', '-map', '1:a', '-c:a', 'aac', '-shortest'] : ['-an'];
    await ffmpeg(['-i', SAMPLE, ...tone, '-frames:v', String(n), '-vf', 'scale=320:180', '-c:v', 'libx264', '-preset', 'ultrafast', '-g', '12', f]);
    return f;
  }));
}

/** The audio streams of a file (codec, duration in s), by the real ffprobe. */
function audioOf(file: string): Promise<{ codec: string; durationS: number }[]> {
  return new Promise((resolve, reject) => {
    execFile(ffmpegPaths().ffprobe, ['-v', 'error', '-select_streams', 'a', '-show_entries', 'stream=codec_name,duration', '-of', 'json', file], (err, out) => {
      if (err) return reject(err);
      resolve((JSON.parse(out).streams as { codec_name: string; duration: string }[]).map((s) => ({ codec: s.codec_name, durationS: Number(s.duration) })));
    });
  });
}

function worker(url: string, lockMs = 3000) {
  const child = spawnSegflow(['worker', '--queue', url, '--lock-ms', String(lockMs)]);
  return { child, w: watchChild(child) };
}

const pngs = (dir: string) => readdirSync(dir).filter((f) => f.endsWith('.png')).sort();

/** The queue's output of one file equals the single-process run's: labels byte for byte, statistics per frame. */
async function sameAsReference(t: import('ava').ExecutionContext, out: string, ref: string, name: string, frames: number) {
  const a = path.join(out, name);
  const b = path.join(ref, name);
  const la = pngs(path.join(a, 'labels'));
  t.is(la.length, frames, `${name}: one label map per frame`);
  t.deepEqual(la, pngs(path.join(b, 'labels')), `${name}: label maps numbered by frame`);
  const differing = la.filter((f) => !readFileSync(path.join(a, 'labels', f)).equals(readFileSync(path.join(b, 'labels', f))));
  t.deepEqual(differing, [], `${name}: label maps identical to the single-process run`);
  // Colour masks and both classes.json, as the label-map sink writes them in one run.
  const ca = pngs(path.join(a, 'labels', 'color'));
  t.is(ca.length, frames, `${name}: one colour mask per frame`);
  t.deepEqual(ca.filter((f) => !readFileSync(path.join(a, 'labels', 'color', f)).equals(readFileSync(path.join(b, 'labels', 'color', f)))), [], `${name}: colour masks identical`);
  for (const c of ['labels/classes.json', 'labels/color/classes.json']) t.is(readFileSync(path.join(a, c), 'utf8'), readFileSync(path.join(b, c), 'utf8'), `${name}: ${c} identical`);
  t.is(JSON.parse(readFileSync(path.join(a, 'labels', 'classes.json'), 'utf8')).frames, frames);
  const sa = JSON.parse(readFileSync(path.join(a, 'stats.json'), 'utf8'));
  const sb = JSON.parse(readFileSync(path.join(b, 'stats.json'), 'utf8'));
  t.is(sa.frames, frames);
  t.deepEqual(sa.perFrame, sb.perFrame, `${name}: per-frame statistics identical`);
  sa.video.share.forEach((v: number, k: number) => t.true(Math.abs(v - sb.video.share[k]) <= 2e-6, `${name}: video share of class ${k}`));
  t.is(readFileSync(path.join(a, 'stats.csv'), 'utf8').trim().split('\n').length, frames + 1, `${name}: per-frame CSV: a header and a row per frame`);
  t.is(readFileSync(path.join(a, 'stats.csv'), 'utf8'), readFileSync(path.join(b, 'stats.csv'), 'utf8'), `${name}: per-frame CSV identical`);
  // Per-video CSV: frames_present exact, shares within rounding.
  const rows = (f: string) => readFileSync(f, 'utf8').trim().split('\n').map((l) => l.split(','));
  const va = rows(path.join(a, 'stats-video.csv'));
  const vb = rows(path.join(b, 'stats-video.csv'));
  t.deepEqual(va.map((r) => [r[0], r[1], r[3]]), vb.map((r) => [r[0], r[1], r[3]]), `${name}: per-video CSV: classes and frames_present identical`);
  va.slice(1).forEach((r, k) => t.true(Math.abs(Number(r[2]) - Number(vb[k + 1]![2])) <= 2e-6, `${name}: per-video share of class ${k}`));
  // Audio: chunks encode video only; the stitched file has the input's audio once, like one run's.
  const [aa, ab] = [await audioOf(path.join(a, 'overlay.mp4')), await audioOf(path.join(b, 'overlay.mp4'))];
  t.is(aa.length, ab.length, `${name}: as many audio streams as the single-process run`);
  if (ab.length) {
    t.is(aa[0]!.codec, ab[0]!.codec);
    t.true(Math.abs(aa[0]!.durationS - ab[0]!.durationS) < 0.1, `${name}: audio ${aa[0]!.durationS} s vs ${ab[0]!.durationS} s`);
  }
  const v = await videoFacts(path.join(a, 'overlay.mp4'));
  t.is(v.frames, frames, `${name}: the stitched mp4 has every frame`);
  t.is(v.fps, 25);
  t.is(JSON.parse(readFileSync(path.join(a, 'result.json'), 'utf8')).frames, frames);
}

t_('queue › 3 recordings, 2 workers: one worker and the submitter SIGKILLed mid-run, submitted again → every output complete, labels identical to one process with the same --chunk-frames', async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const inDir = tmpDir('segflow-q-in-');
  const out = tmpDir('segflow-q-out-');
  const ref = tmpDir('segflow-q-ref-');
  const frames = [30, 25, 20];
  const files = await recordings(inDir, frames, true);
  t.is((await audioOf(files[0]!)).length, 1, 'rec1 has audio');
  const colour = ['--set', 'masks.color=true'];
  const args = ['process', ...files, '--out', out, '--queue', redis.url, '--chunk-frames', '10', ...colour];

  // Submit, and kill the submitter while it waits: the run lives in Redis, not in it.
  const sub1 = spawnSegflow(args);
  const s1 = watchChild(sub1);
  await s1.until(/3 files: 3 submitted, 0 already done, 0 already queued, 0 skipped/);
  const workers = [worker(redis.url), worker(redis.url)];
  t.teardown(() => workers.forEach((x) => x.child.kill('SIGKILL')));
  sub1.kill('SIGKILL');
  // Worker 0 is killed with a chunk in hand.
  await workers[0]!.w.until(/chunk \S+ frames \d+\.\.\S+ \(attempt 1/);
  workers[0]!.child.kill('SIGKILL');
  await workers[0]!.w.exit;

  // Meanwhile, the single-process reference with the same chunking.
  const r = await segflow(['process', ...files, '--out', ref, '--chunk-frames', '10', ...colour]);
  t.is(r.code, 0, r.stderr);

  // Submitting again adds nothing and waits for the rest.
  const sub2 = await segflow(args, { timeoutMs: 240_000 });
  t.is(sub2.code, 0, sub2.stderr + workers[1]!.w.text());
  const again = sub2.stderr.match(/3 files: 0 submitted, (\d) already done, (\d) already queued, 0 skipped/);
  t.truthy(again, sub2.stderr);
  t.is(Number(again?.[1]) + Number(again?.[2]), 3, 'every file found in the queue');
  t.regex(sub2.stdout, /3 done, 0 failed/);
  const w1 = workers[1]!.w.text();
  // The killed worker's chunk was taken over once its lock expired.
  const killedOn = workers[0]!.w.text().match(/chunk (\S+) frames (\d+)\.\.(\S+) \(attempt 1/)!;
  t.regex(w1, new RegExp(`chunk ${killedOn[1]!.replace(/[.]/g, '\\.')} frames ${killedOn[2]}\\.\\.\\S+ done`), 'the surviving worker did the killed worker\'s chunk');
  for (const [i, f] of files.entries()) await sameAsReference(t, out, ref, path.basename(f, '.mp4'), frames[i]!);
  // Nothing half-done under the output root: no .partial, no chunk folders left.
  t.deepEqual(readdirSync(out).sort(), ['rec1', 'rec2', 'rec3', 'summary.json']);
  t.deepEqual(readdirSync(out).sort(), readdirSync(ref).sort(), 'folders named as one process names them');
  const summary = JSON.parse(readFileSync(path.join(out, 'summary.json'), 'utf8'));
  t.is(summary.ok, 3);

  // Status: every file done, the live worker listed.
  const st = await segflow(['status', '--queue', redis.url, '--json']);
  t.is(st.code, 0, st.stderr);
  const s = JSON.parse(st.stdout);
  t.deepEqual(s.counts, { waiting: 0, active: 0, done: 3, failed: 0 });
  t.deepEqual(s.files.map((f: { frames: number }) => f.frames).sort(), [20, 25, 30]);
  t.is(s.workers.length, 1);
  t.regex(s.workers[0].name, new RegExp(`:${workers[1]!.child.pid}$`));

  // SIGTERM on an idle worker: it stops cleanly.
  workers[1]!.child.kill('SIGTERM');
  t.is(await workers[1]!.w.exit, 0);
});

t_('queue › corrupt files fail after their attempts with their errors (a whole-file job, and one chunk of a flow) while the rest complete', async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const inDir = tmpDir('segflow-q-in-');
  const out = tmpDir('segflow-q-out-');
  const [good] = await recordings(inDir, [20]);
  // Unreadable: the moov atom is at the end and cut off, so even probing fails (one whole-file job).
  const whole = readFileSync(good!);
  const bad = path.join(inDir, 'broken.mp4');
  writeFileSync(bad, whole.subarray(0, Math.floor(whole.length / 2)));
  // Readable header, data cut at two thirds: the first chunk decodes, a later one is truncated.
  const fast = path.join(inDir, 'fast.mp4');
  await ffmpeg(['-i', good!, '-c', 'copy', '-movflags', '+faststart', fast]);
  const cut = path.join(inDir, 'cut.mp4');
  const f = readFileSync(fast);
  writeFileSync(cut, f.subarray(0, Math.floor(f.length * 0.6)));
  const wk = worker(redis.url);
  t.teardown(() => wk.child.kill('SIGKILL'));
  const r = await segflow(['process', good!, bad, cut, '--out', out, '--queue', redis.url, '--chunk-frames', '10', '--attempts', '2']);
  t.is(r.code, 1, r.stderr);
  t.regex(r.stderr, /✗ \S+broken\.mp4: .+ \(after 2 attempts\)/);
  t.regex(r.stderr, /✗ \S+cut\.mp4: .*truncated or corrupt: decoded \d+ of 10 frames from frame 10.* \(after 2 attempts\)/);
  t.regex(r.stderr, /✓ \S+rec1\.mp4: 20 frames/);
  t.regex(r.stdout, /1 done, 2 failed/);
  t.is((wk.w.text().match(/file \S+broken\.mp4 \(attempt/g) ?? []).length, 2, 'tried exactly --attempts times');
  t.is((wk.w.text().match(/chunk \S+cut\.mp4 frames 10\.\.end \(attempt/g) ?? []).length, 2, 'the bad chunk tried exactly --attempts times');
  t.is(pngs(path.join(out, 'rec1', 'labels')).length, 20);
  t.false(existsSync(path.join(out, 'broken')), 'nothing under a failed file\'s final name');
  t.false(existsSync(path.join(out, 'cut')));
  t.deepEqual(readdirSync(out).filter((x) => !x.endsWith('.chunks')).sort(), ['rec1', 'summary.json']);
  const st = JSON.parse((await segflow(['status', '--queue', redis.url, '--json'])).stdout);
  const failed = st.files.find((x: { input: string }) => x.input === bad);
  t.is(failed.state, 'failed');
  t.is(failed.attempts, 2);
  t.regex(failed.error, /broken\.mp4/);
  t.like(st.files.find((x: { input: string }) => x.input === cut), { state: 'failed', chunks: { done: 1, total: 2 } });
  const text = (await segflow(['status', '--queue', redis.url])).stdout;
  t.regex(text, /broken\.mp4\s+failed/);
  t.regex(text, /3 files: 0 waiting, 0 active, 1 done, 2 failed/);
});

t_('queue › Redis restarted mid-run (--appendonly yes) → the run completes', async (t) => {
  const redis = await startRedis({ appendOnly: true });
  t.teardown(() => redis.stop());
  const inDir = tmpDir('segflow-q-in-');
  const out = tmpDir('segflow-q-out-');
  const files = await recordings(inDir, [30, 20]);
  const wk = worker(redis.url);
  t.teardown(() => wk.child.kill('SIGKILL'));
  const sub = spawnSegflow(['process', ...files, '--out', out, '--queue', redis.url, '--chunk-frames', '10']);
  const s = watchChild(sub);
  await wk.w.until(/chunk \S+ frames \d+\.\.\S+ done/);
  await redis.restart(1500);
  t.is(await s.exit, 0, s.text() + wk.w.text());
  t.regex(s.text(), /✓ \S+rec1\.mp4: 30 frames/);
  t.regex(s.text(), /✓ \S+rec2\.mp4: 20 frames/);
  t.is(pngs(path.join(out, 'rec1', 'labels')).length, 30);
  t.is(pngs(path.join(out, 'rec2', 'labels')).length, 20);
  t.is((await videoFacts(path.join(out, 'rec1', 'overlay.mp4'))).frames, 30);
});

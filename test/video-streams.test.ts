/**
 * Files with more than one video stream (a dual-channel dashcam's front and rear cameras as two
 * tracks of one MP4/MKV/TS), made here with the real ffmpeg (two lavfi sources of different sizes)
 * and run through the real `segflow process`: the decoder's `videoStream` picks one (default 0),
 * probe() describes that one, the job says which it processed and how to take the other, and a
 * stream the file does not have is a clear failure naming how many it has.
 */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { segflow, spawnSegflow, tmpDir, videoFacts, watchChild } from './helpers/cli.ts';
import { redisServerPath, startRedis } from './helpers/redis.ts';
import { ffmpeg, testClip } from './helpers/videos.ts';
import { ffmpegPaths, probe } from '../src/media/ffmpeg.ts';

/** Stream 0: 320x240 `testsrc`, stream 1: 256x144 `testsrc2`, both 10 fps; seconds each; optionally audio and a cover picture. */
async function twoStreams(file: string, o: { s0?: number; s1?: number; audioS?: number; cover?: boolean } = {}): Promise<string> {
  const { s0 = 1, s1 = 2 } = o;
  const dir = path.dirname(file);
  const cover = path.join(dir, 'cover.png');
  if (o.cover) await ffmpeg(['-f', 'lavfi', '-i', 'color=blue:size=64x64', '-frames:v', '1', cover]);
  await ffmpeg([
    '-f', 'lavfi', '-i', `testsrc=size=320x240:rate=10:duration=${s0}`,
    '-f', 'lavfi', '-i', `testsrc2=size=256x144:rate=10:duration=${s1}`,
    ...(o.audioS ? ['-f', 'lavfi', '-i', `sine=frequency=440:sample_rate=22050:duration=${o.audioS}`] : []),
    ...(o.cover ? ['-i', cover] : []),
    '-map', '0', '-map', '1', ...(o.audioS ? ['-map', '2'] : []), ...(o.cover ? ['-map', o.audioS ? '3' : '2', '-c:v:2', 'png', '-disposition:v:2', 'attached_pic'] : []),
    '-c:v:0', 'libx264', '-c:v:1', 'libx264', '-preset', 'ultrafast', '-pix_fmt:v:0', 'yuv420p', '-pix_fmt:v:1', 'yuv420p', '-g', '10',
    ...(o.audioS ? ['-c:a', 'aac'] : []), file,
  ]);
  return file;
}

/** decoder → encoder, the decoder named `name` (not `decode`: the hint must name the graph's own node). */
function lightGraph(file: string, name: string, o: { audio?: boolean } = {}): string {
  writeFileSync(file, [
    'version: 1',
    'vars: { input: x.mp4, out: out }',
    'nodes:',
    `  ${name}: { type: decoder, options: { path: "\${input}" } }`,
    `  video: { type: encoder, options: { path: "\${out}/overlay.mp4", preset: ultrafast${o.audio ? ', audioFrom: "${input}"' : ''} }, in: { frame: ${name}.frame } }`,
    '',
  ].join('\n'));
  return file;
}

const result = (dir: string) => JSON.parse(readFileSync(path.join(dir, 'result.json'), 'utf8')) as Record<string, unknown>;
const summaryEntry = (out: string) => (JSON.parse(readFileSync(path.join(out, 'summary.json'), 'utf8')) as { files: Record<string, unknown>[] }).files[0]!;
const pngSize = (file: string) => {
  const b = readFileSync(file);
  return { width: b.readUInt32BE(16), height: b.readUInt32BE(20) };
};

test.serial('video streams › default graph: stream 0 processed (label maps, overlay at 320x240), the note on stderr and in result.json/summary; --set decode.videoStream=1 processes the other (256x144, its 20 frames)', async (t) => {
  const work = tmpDir('segflow-vstreams-default-');
  const input = await twoStreams(path.join(work, 'dual.mp4'));
  const out = path.join(work, 'out');
  const dir = path.join(out, 'dual');

  const r0 = await segflow(['process', input, '--out', out]);
  t.is(r0.code, 0, r0.stderr);
  const noteLines = r0.stderr.split('\n').filter((l) => l.startsWith('note:'));
  t.deepEqual(noteLines, [`note: ${input}: has 2 video streams; processed stream 0 (--set decode.videoStream=1 for the other)`], r0.stderr);
  t.regex(r0.stderr, /✓ .*dual\.mp4: 10 frames/);
  const res0 = result(dir);
  t.is(res0.videoStream, 0);
  t.is(res0.videoStreams, 2);
  t.is(res0.note, 'has 2 video streams; processed stream 0 (--set decode.videoStream=1 for the other)');
  t.like(summaryEntry(out), { status: 'ok', videoStream: 0, videoStreams: 2, note: res0.note as string });
  const classes0 = JSON.parse(readFileSync(path.join(dir, 'labels', 'classes.json'), 'utf8')) as { width: number; height: number; frames: number };
  t.like(classes0, { width: 320, height: 240, frames: 10 });
  t.deepEqual(pngSize(path.join(dir, 'labels', '000000.png')), { width: 320, height: 240 });
  t.like(await videoFacts(path.join(dir, 'overlay.mp4')), { width: 320, height: 240, frames: 10 });

  const r1 = await segflow(['process', input, '--out', out, '--overwrite', '--set', 'decode.videoStream=1']);
  t.is(r1.code, 0, r1.stderr);
  t.true(r1.stderr.includes(`note: ${input}: has 2 video streams; processed stream 1 (--set decode.videoStream=0 for the other)\n`), r1.stderr);
  t.regex(r1.stderr, /✓ .*dual\.mp4: 20 frames/);
  t.like(result(dir), { videoStream: 1, videoStreams: 2, frames: 20 });
  t.like(summaryEntry(out), { status: 'ok', videoStream: 1, videoStreams: 2 });
  const classes1 = JSON.parse(readFileSync(path.join(dir, 'labels', 'classes.json'), 'utf8')) as { width: number; height: number; frames: number };
  t.like(classes1, { width: 256, height: 144, frames: 20 });
  t.deepEqual(pngSize(path.join(dir, 'labels', '000019.png')), { width: 256, height: 144 });
  t.like(await videoFacts(path.join(dir, 'overlay.mp4')), { width: 256, height: 144, frames: 20 });
});

test.serial('video streams › a videoStream the file does not have fails naming how many it has (the graph\'s decoder name in the message and the hint); nothing kept', async (t) => {
  const work = tmpDir('segflow-vstreams-range-');
  const input = await twoStreams(path.join(work, 'dual.mp4'), { s1: 1 });
  const graph = lightGraph(path.join(work, 'light.yaml'), 'front');
  const out = path.join(work, 'out');
  const bad = await segflow(['process', input, '--out', out, '--graph', graph, '--set', 'front.videoStream=2']);
  t.is(bad.code, 1, bad.stderr);
  t.true(bad.stderr.includes(`✗ ${input}: front.videoStream is 2, but the file has 2 video streams (0 and 1); cover pictures and thumbnails not counted\n`), bad.stderr);
  t.like(summaryEntry(out), { status: 'failed' });
  t.false(existsSync(path.join(out, 'dual')));
  // The hint names the graph's decoder (`front`), not the default graph's `decode`.
  const ok = await segflow(['process', input, '--out', out, '--graph', graph]);
  t.is(ok.code, 0, ok.stderr);
  t.true(ok.stderr.includes(`note: ${input}: has 2 video streams; processed stream 0 (--set front.videoStream=1 for the other)\n`), ok.stderr);
});

test.serial('video streams › a file with one video stream gets no note and no videoStream fields', async (t) => {
  const work = tmpDir('segflow-vstreams-one-');
  const input = await testClip(path.join(work, 'single.mp4'), { frames: 10, audio: true });
  const out = path.join(work, 'out');
  const r = await segflow(['process', input, '--out', out, '--graph', lightGraph(path.join(work, 'light.yaml'), 'decode')]);
  t.is(r.code, 0, r.stderr);
  t.notRegex(r.stderr, /note:|video streams/);
  const res = result(path.join(out, 'single'));
  t.is(res.frames, 10);
  t.false('note' in res);
  t.false('videoStream' in res);
  t.false('videoStreams' in res);
});

test.serial('video streams › the audio check uses the chosen stream: stream 1 (4 s) longer than the audio (1 s) longer than stream 0 (0.5 s) keeps all 40 frames and the audio', async (t) => {
  // Compared with stream 0 the audio looked longer than the video: `-shortest` then cut the 4 s stream at
  // the audio's end (or the encoder's pipe broke: EPIPE).
  const work = tmpDir('segflow-vstreams-audio-');
  const input = await twoStreams(path.join(work, 'dual.mp4'), { s0: 0.5, s1: 4, audioS: 1 });
  const out = path.join(work, 'out');
  const graph = lightGraph(path.join(work, 'light.yaml'), 'decode', { audio: true });
  const r1 = await segflow(['process', input, '--out', out, '--graph', graph, '--set', 'decode.videoStream=1']);
  t.is(r1.code, 0, r1.stderr);
  t.regex(r1.stderr, /✓ .*dual\.mp4: 40 frames/);
  const overlay = path.join(out, 'dual', 'overlay.mp4');
  t.like(await videoFacts(overlay), { width: 256, height: 144, frames: 40 });
  const info1 = await probe(overlay);
  t.truthy(info1.audioCodec, 'the audio copied');
  // Stream 0 (shorter than the audio): all its 5 frames, the audio cut at its end.
  const r0 = await segflow(['process', input, '--out', out, '--graph', graph, '--overwrite']);
  t.is(r0.code, 0, r0.stderr);
  t.like(await videoFacts(overlay), { width: 320, height: 240, frames: 5 });
  const info0 = await probe(overlay);
  t.truthy(info0.audioCodec);
  t.true(info0.audioDurationS === undefined || info0.audioDurationS < 0.8, `audio ${info0.audioDurationS} s`);
});

test.serial('video streams › MPEG-TS and Matroska (no frame counts: the duration check is of the chosen stream): videoStream=1 decodes the second whole', async (t) => {
  const work = tmpDir('segflow-vstreams-containers-');
  const graph = lightGraph(path.join(work, 'light.yaml'), 'decode');
  for (const ext of ['ts', 'mkv']) {
    // Stream 1 shorter than stream 0: a check against stream 0's duration would call it truncated.
    const input = await twoStreams(path.join(work, `dual.${ext}`), { s0: 3, s1: 1 });
    const out = path.join(work, `out-${ext}`);
    const r = await segflow(['process', input, '--out', out, '--graph', graph, '--set', 'decode.videoStream=1']);
    t.is(r.code, 0, `${ext}: ${r.stderr}`);
    t.regex(r.stderr, /✓ .*dual\.\w+: 10 frames/, ext);
    t.like(await videoFacts(path.join(out, 'dual', 'overlay.mp4')), { width: 256, height: 144, frames: 10 }, ext);
    t.like(result(path.join(out, 'dual')), { videoStream: 1, videoStreams: 2 }, ext);
  }
});

test('video streams › probe: each stream\'s own info, a cover picture not counted, a stream out of range a clear error', async (t) => {
  const work = tmpDir('segflow-vstreams-probe-');
  const input = await twoStreams(path.join(work, 'dual.mp4'), { s0: 1, s1: 2, cover: true });
  const streams = execFileSync(ffmpegPaths().ffprobe, ['-v', 'error', '-show_entries', 'stream=codec_type:stream_disposition=attached_pic', '-of', 'csv=p=0', input], { encoding: 'utf8' });
  t.deepEqual(streams.trim().split('\n'), ['video,0', 'video,0', 'video,1'], 'two videos and a cover picture');
  const s0 = await probe(input);
  t.like(s0, { width: 320, height: 240, frames: 10, videoStreams: 2, videoStream: 0, streamIndex: 0 });
  const s1 = await probe(input, undefined, { videoStream: 1 });
  t.like(s1, { width: 256, height: 144, frames: 20, videoStreams: 2, videoStream: 1, streamIndex: 1 });
  t.true(Math.abs(s1.durationS! - 2) < 0.1, String(s1.durationS));
  const e = await t.throwsAsync(probe(input, undefined, { videoStream: 2 }));
  t.is(e?.message, `${input}: no video stream 2: the file has 2 video streams (0 and 1); cover pictures and thumbnails not counted`);
});

test.serial('video streams › an interrupted file says which stream it was processing (summary.json), as a finished one does', async (t) => {
  const work = tmpDir('segflow-vstreams-int-');
  const input = await twoStreams(path.join(work, 'dual.mp4'), { s0: 1, s1: 30 });
  const out = path.join(work, 'out');
  // Stream 1 at the video's rate: 30 s, stopped by Ctrl-C after its first progress line.
  const child = spawnSegflow(['process', input, '--out', out, '--graph', lightGraph(path.join(work, 'light.yaml'), 'decode'), '--set', 'decode.videoStream=1', '--set', 'decode.realtime=true']);
  const w = watchChild(child);
  t.teardown(() => child.kill('SIGKILL'));
  await w.until(/progress .*dual\.mp4/, 60_000);
  child.kill('SIGINT');
  t.is(await w.exit, 130, w.text());
  t.regex(w.text(), /note: \S+dual\.mp4: has 2 video streams; processed stream 1 \(--set decode\.videoStream=0 for the other\)\n! \S+dual\.mp4: interrupted/);
  t.like(summaryEntry(out), { status: 'interrupted', videoStream: 1, videoStreams: 2, note: 'has 2 video streams; processed stream 1 (--set decode.videoStream=0 for the other)' });
});

const tq = redisServerPath() ? test.serial : test.serial.skip;
tq('video streams › through the queue in chunks: the stitched result says which stream (as one process\'s does), and holds that stream\'s frames', async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const work = tmpDir('segflow-vstreams-queue-');
  const input = await twoStreams(path.join(work, 'dual.mp4'), { s0: 1, s1: 2 });
  const out = path.join(work, 'out');
  const worker = spawnSegflow(['worker', '--queue', redis.url]);
  const w = watchChild(worker);
  t.teardown(() => worker.kill('SIGKILL'));
  await w.until(/waiting for jobs/);
  const r = await segflow(['process', input, '--out', out, '--graph', lightGraph(path.join(work, 'light.yaml'), 'decode'), '--set', 'decode.videoStream=1', '--queue', redis.url, '--chunk-frames', '10']);
  t.is(r.code, 0, r.stderr + w.text());
  t.regex(w.text(), /stitched \S+dual\.mp4: 20 frames/);
  const res = result(path.join(out, 'dual'));
  t.like(res, { frames: 20, chunks: 2, videoStream: 1, videoStreams: 2, note: 'has 2 video streams; processed stream 1 (--set decode.videoStream=0 for the other)' });
  t.like(summaryEntry(out), { status: 'ok', videoStream: 1, videoStreams: 2 });
  t.like(await videoFacts(path.join(out, 'dual', 'overlay.mp4')), { width: 256, height: 144, frames: 20 });
  worker.kill('SIGTERM');
  t.is(await w.exit, 0);
});

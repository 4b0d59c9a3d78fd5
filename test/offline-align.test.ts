/**
 * The offline job's outputs stay aligned with the input's timeline (`segflow process` with the
 * default graph, inputs made here with the real ffmpeg): frames the decoder loses to a corrupt
 * stretch leave gaps in the label maps', colour masks' and stats' numbering instead of shifting
 * every later frame (and the gaps are reported); the overlay keeps every frame's time (gaps filled,
 * variable frame rates kept); the input's audio is cut at the end of a video `maxFrames` cut short.
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ffmpegPaths } from '../src/media/ffmpeg.ts';
import { segflow, tmpDir } from './helpers/cli.ts';
import { ffmpeg, meanAbsDiff } from './helpers/videos.ts';

function run(file: string, args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { maxBuffer: 256 << 20, encoding: 'latin1' }, (err, out, stderr) => (err ? reject(new Error(`${path.basename(file)} ${args.join(' ')}: ${stderr}`)) : resolve(out)));
  });
}

/** The decoded frames' times (s, from the video stream's start), by the real ffprobe. */
async function frameTimes(file: string): Promise<number[]> {
  const { ffprobe } = ffmpegPaths();
  // (MPEG-TS prints the stream twice: under its program and on its own.)
  const start = Number((await run(ffprobe, ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'stream=start_time', '-of', 'csv=p=0', file])).trim().split('\n')[0]) || 0;
  const out = await run(ffprobe, ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'frame=pts_time', '-of', 'csv=p=0', file]);
  return out.split('\n').map((l) => l.split(',')[0]!.trim()).filter(Boolean).map((v) => Number(v) - start);
}

/** Every decoded frame as raw RGB24, in order. */
async function rawFrames(file: string, width: number, height: number): Promise<Buffer[]> {
  const raw = Buffer.from(await run(ffmpegPaths().ffmpeg, ['-v', 'error', '-i', file, '-vsync', 'passthrough', '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1']), 'latin1');
  const n = width * height * 3;
  return Array.from({ length: raw.length / n }, (_, i) => raw.subarray(i * n, (i + 1) * n));
}

async function processOne(input: string, sets: readonly string[] = []): Promise<{ dir: string; out: string; stdout: string }> {
  const out = tmpDir('segflow-align-');
  const r = await segflow(['process', input, '--out', out, ...sets.flatMap((s) => ['--set', s])]);
  if (r.code !== 0) throw new Error(`segflow process exited ${r.code}: ${r.stderr}`);
  return { dir: path.join(out, path.basename(input, path.extname(input))), out, stdout: r.stdout + r.stderr };
}

const pngs = (dir: string) => readdirSync(dir).filter((f) => /^\d{6}\.png$/.test(f)).sort();

test('align › frames lost to a corrupt stretch leave a gap: label maps, colour masks, stats and overlay after it keep their frame numbers', async (t) => {
  t.timeout(300_000);
  const dir = tmpDir('segflow-align-in-');
  const FPS = 10, N = 40, W = 320, H = 240;
  // A pan over testsrc2 (every frame 6 px on from the one before: each frame's labels differ), every
  // frame intra-coded, so a frame either decodes whole or not at all; MPEG-TS carries no frame index.
  const clean = path.join(dir, 'clean.ts');
  await ffmpeg(['-f', 'lavfi', '-i', `testsrc2=size=640x360:rate=${FPS}`, '-vf', `crop=${W}:${H}:x=n*6:y=40`, '-frames:v', String(N),
    '-c:v', 'libx264', '-preset', 'ultrafast', '-g', '1', '-pix_fmt', 'yuv420p', '-f', 'mpegts', clean]);
  // A tenth of the file's 188-byte TS packets zeroed in the middle: the demuxer loses those packets.
  const bytes = readFileSync(clean);
  const packets = bytes.length / 188;
  bytes.fill(0, Math.floor(packets * 0.45) * 188, Math.floor(packets * 0.55) * 188);
  const bad = path.join(dir, 'bad.ts');
  writeFileSync(bad, bytes);

  // What the real ffprobe decodes of it: the frames' numbers by their timestamps, and the numbers lost.
  const idx = (await frameTimes(bad)).map((s) => Math.round(s * FPS));
  const lost = Array.from({ length: N }, (_, i) => i).filter((i) => !idx.includes(i));
  t.true(lost.length > 0 && lost[0]! > 0 && lost.at(-1)! < N - 1, `the damage loses frames in the middle (lost ${lost.join(',')})`);
  // Frames decoded whole (the same pixels as the clean file's frame of that number).
  const cleanRaw = await rawFrames(clean, W, H);
  const badRaw = await rawFrames(bad, W, H);
  t.is(badRaw.length, idx.length);
  const after = idx.filter((i, k) => i > lost.at(-1)! && badRaw[k]!.equals(cleanRaw[i]!));
  t.true(after.length >= 5, `frames after the gap decoded whole: ${after.join(',')}`);

  // Every frame through the network (no carried labels): a frame's labels depend on that frame only.
  const sets = ['keys.keyframeIntervalFrames=1', 'masks.color=true'];
  const [c, b] = [await processOne(clean, sets), await processOne(bad, sets)];
  const name = (i: number) => `${String(i).padStart(6, '0')}.png`;
  t.deepEqual(pngs(path.join(b.dir, 'labels')), idx.map(name), 'label maps named by the frames\' numbers: the lost ones left out');
  t.deepEqual(pngs(path.join(b.dir, 'labels', 'color')), idx.map(name), 'colour masks alike');
  const label = (d: string, i: number, sub = '') => readFileSync(path.join(d, 'labels', sub, name(i)));
  let differ = 0;
  for (const i of after) {
    t.true(label(b.dir, i).equals(label(c.dir, i)), `label map ${i} is the one of frame ${i}`);
    t.true(label(b.dir, i, 'color').equals(label(c.dir, i, 'color')), `colour mask ${i} is the one of frame ${i}`);
    if (!label(c.dir, i).equals(label(c.dir, i - lost.length))) differ++;
  }
  t.true(differ > 0, 'frames this far apart have different labels (numbering in arrival order would fail)');

  // Stats: one row per decoded frame, numbered by frame; the gap said where; summary.json says it too.
  const csv = readFileSync(path.join(b.dir, 'stats.csv'), 'utf8').trim().split('\n').slice(1);
  t.deepEqual(csv.map((r) => Number(r.split(',')[0])), idx);
  const ranges: [number, number][] = [];
  for (const i of lost) {
    const r = ranges.at(-1);
    if (r && r[1] === i - 1) r[1] = i;
    else ranges.push([i, i]);
  }
  t.deepEqual(JSON.parse(readFileSync(path.join(b.dir, 'stats.json'), 'utf8')).missing, { frames: lost.length, ranges });
  const file = JSON.parse(readFileSync(path.join(b.out, 'summary.json'), 'utf8')).files[0];
  t.is(file.missingFrames, lost.length);
  t.deepEqual(file.gaps, ranges.map(([a, z]) => ({ first: a, frames: z - a + 1 })));
  t.regex(b.stdout, new RegExp(`${lost.length} frames could not be decoded`));
  t.is(JSON.parse(readFileSync(path.join(c.dir, 'stats.json'), 'utf8')).missing.frames, 0, 'the clean file misses nothing');

  // The overlay: every frame number present (a lost frame shows the one before), so frame i after the gap is frame i.
  const ovClean = await rawFrames(path.join(c.dir, 'overlay.mp4'), W, H);
  const ovBad = await rawFrames(path.join(b.dir, 'overlay.mp4'), W, H);
  t.is(ovBad.length, N, 'the overlay has the video\'s frame count');
  for (const i of after) {
    const same = meanAbsDiff(ovBad[i]!, ovClean[i]!), shifted = meanAbsDiff(ovBad[i]!, ovClean[i - lost.length]!);
    t.true(same < shifted, `overlay frame ${i}: ${same.toFixed(2)} from the clean one, ${shifted.toFixed(2)} from frame ${i - lost.length}`);
  }
});

test('align › maxFrames cuts the video short: the copied audio ends with it (within one audio packet)', async (t) => {
  t.timeout(240_000);
  const dir = tmpDir('segflow-align-in-');
  // 10 s of video with 9.5 s of audio (a camera's audio often ends a little before its video).
  const input = path.join(dir, 'talk.mp4');
  await ffmpeg(['-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=10', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=22050:duration=9.5',
    '-frames:v', '100', '-c:a', 'aac', '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', input]);
  const { dir: out } = await processOne(input, ['decode.maxFrames=20']);
  const { ffprobe } = ffmpegPaths();
  const streams = JSON.parse(await run(ffprobe, ['-v', 'error', '-show_entries', 'stream=codec_type,codec_name,duration', '-of', 'json', path.join(out, 'overlay.mp4')])).streams as { codec_type: string; codec_name: string; duration: string }[];
  const video = Number(streams.find((s) => s.codec_type === 'video')!.duration);
  const audio = streams.find((s) => s.codec_type === 'audio')!;
  t.is(audio.codec_name, 'aac', 'copied, not dropped');
  t.true(Math.abs(video - 2) < 0.01, `video ${video} s: 20 frames at 10 fps`);
  const packetS = 1024 / 22050;
  t.true(Number(audio.duration) <= video + packetS && Number(audio.duration) >= video - packetS, `audio ${audio.duration} s against video ${video} s`);
});

test('align › a variable-frame-rate input: the overlay keeps every frame\'s time (within 1 ms), the label maps every frame', async (t) => {
  t.timeout(240_000);
  const dir = tmpDir('segflow-align-in-');
  // 10 frames at 10 fps, 10 at 30 fps, 20 alternating 1/30 s and 2/30 s apart.
  const input = path.join(dir, 'vfr.mp4');
  await ffmpeg(['-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=30', '-vf', "setpts='if(lt(N,10),N/10,if(lt(N,20),1+(N-10)/30,(N-20)/20+1+1/3))/TB'",
    '-frames:v', '40', '-vsync', 'vfr', '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', input]);
  const want = await frameTimes(input);
  t.is(want.length, 40);
  const gaps = want.slice(1).map((s, i) => s - want[i]!);
  t.true(Math.max(...gaps) - Math.min(...gaps) > 0.05, 'the input\'s frame intervals vary');
  const { dir: out } = await processOne(input);
  const got = await frameTimes(path.join(out, 'overlay.mp4'));
  t.is(got.length, want.length);
  const worst = Math.max(...got.map((s, i) => Math.abs(s - want[i]!)));
  t.true(worst <= 0.001, `largest difference ${(worst * 1000).toFixed(2)} ms`);
  t.is(pngs(path.join(out, 'labels')).length, 40);
});

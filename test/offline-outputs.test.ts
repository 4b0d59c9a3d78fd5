/**
 * The offline job's outputs as a user gets them (`segflow process` with the default graph) on
 * inputs made here with the real ffmpeg: label maps at the video's size and aligned with it for a
 * 4:3 and a 16:9 input, classes.json, colour masks, the input's audio in the overlay, the CSVs'
 * shapes; and the image kernels underneath. (The downsampler's, label-resizer's and encoder's own
 * cases are in test/<node>.test.ts.)
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { ffmpegPaths } from '../src/media/ffmpeg.ts';
import { halveRgbJs, labelsAt, resizeLabels, resizeNearest, resizeRgb } from '../src/kernels/image.ts';
import { segflow, tmpDir, videoFacts } from './helpers/cli.ts';
import { testClip } from './helpers/videos.ts';

const FRAMES = 12;

function streams(file: string): Promise<{ codec_type: string; codec_name: string }[]> {
  return new Promise((resolve, reject) => {
    execFile(ffmpegPaths().ffprobe, ['-v', 'error', '-show_entries', 'stream=codec_type,codec_name', '-of', 'json', file], (err, out) => (err ? reject(err) : resolve(JSON.parse(out).streams)));
  });
}

async function gray(png: string): Promise<{ data: Uint8Array; width: number; height: number; channels: number }> {
  const channels = (await sharp(png).metadata()).channels!;
  const { data, info } = await sharp(png).toColourspace('b-w').raw().toBuffer({ resolveWithObject: true });
  return { data: new Uint8Array(data), width: info.width, height: info.height, channels };
}

async function run(input: string, sets: string[] = []): Promise<string> {
  const out = tmpDir('segflow-outputs-');
  const r = await segflow(['process', input, '--out', out, ...sets.flatMap((s) => ['--set', s])]);
  if (r.code !== 0) throw new Error(`segflow process exited ${r.code}: ${r.stderr}`);
  return path.join(out, path.basename(input, path.extname(input)));
}

test('outputs › 4:3 input with audio: label maps at 640x480, classes.json, overlay keeps the audio, CSVs one row per frame / per class', async (t) => {
  t.timeout(240_000);
  const input = await testClip(path.join(tmpDir(), 'four-three.mp4'), { width: 640, height: 480, fps: 10, frames: FRAMES, audio: true });
  t.true((await streams(input)).some((s) => s.codec_type === 'audio'), 'the input has audio');
  const dir = await run(input);

  const pngs = readdirSync(path.join(dir, 'labels')).filter((f) => f.endsWith('.png')).sort();
  t.is(pngs.length, FRAMES);
  const m = await gray(path.join(dir, 'labels', pngs[3]!));
  t.deepEqual([m.width, m.height, m.channels], [640, 480, 1]);
  t.true(m.data.every((v) => v < 11), 'class ids');

  const cj = JSON.parse(readFileSync(path.join(dir, 'labels', 'classes.json'), 'utf8'));
  t.deepEqual([cj.width, cj.height, cj.frames], [640, 480, FRAMES]);
  t.is(cj.classes.length, 11);
  t.deepEqual(cj.classes[3], { id: 3, name: 'Road', color: [128, 64, 128] });
  t.true(cj.classes.every((c: { id: number }, i: number) => c.id === i), 'ids in order');
  t.regex(cj.format, /pixel value = class id/);

  const s = await streams(path.join(dir, 'overlay.mp4'));
  t.deepEqual(s.map((x) => x.codec_type).sort(), ['audio', 'video']);
  t.is(s.find((x) => x.codec_type === 'audio')!.codec_name, 'aac', 'copied as it was (aac)');
  const v = await videoFacts(path.join(dir, 'overlay.mp4'));
  t.deepEqual([v.width, v.height, v.frames], [640, 480, FRAMES]);

  const csv = readFileSync(path.join(dir, 'stats.csv'), 'utf8').trim().split('\n');
  t.is(csv.length, 1 + FRAMES, 'a header and one row per frame, nothing else');
  t.regex(csv[0]!, /^seq,pts_ms,Sky,Building,Pole,Road/);
  t.true(csv.every((l) => l.split(',').length === 2 + 11), 'every row has seq, pts_ms and 11 shares');
  t.true(csv.slice(1).every((l, i) => l.startsWith(`${i},`)), 'rows are frames 0..n-1');
  const video = readFileSync(path.join(dir, 'stats-video.csv'), 'utf8').trim().split('\n');
  t.is(video[0], 'id,class,share,frames_present');
  t.is(video.length, 1 + 11);
  const shares = video.slice(1).map((l) => Number(l.split(',')[2]));
  t.true(Math.abs(shares.reduce((a, b) => a + b, 0) - 1) < 1e-3, 'shares sum to 1');
  t.true(video.slice(1).every((l) => Number(l.split(',')[3]) <= FRAMES));
});

test('outputs › 16:9 input without audio: label maps at 640x360 land on the model\'s 480x270 labels exactly; colour masks; video-only overlay', async (t) => {
  t.timeout(300_000);
  const input = await testClip(path.join(tmpDir(), 'wide.mp4'), { width: 640, height: 360, fps: 10, frames: FRAMES });
  const [full, model] = [await run(input, ['masks.color=true']), await run(input, ['labels.size=model'])];

  const a = await gray(path.join(full, 'labels', '000005.png'));
  const b = await gray(path.join(model, 'labels', '000005.png'));
  t.deepEqual([a.width, a.height], [640, 360]);
  t.deepEqual([b.width, b.height], [480, 270], 'the model saw 480x270: the aspect ratio kept, not squashed to 480x272');
  // Every video pixel carries the label of the model pixel whose centre it maps to (the plain formula).
  let wrong = 0;
  for (let y = 0; y < 360; y++) {
    for (let x = 0; x < 640; x++) {
      const mx = Math.floor(((x + 0.5) * 480) / 640), my = Math.floor(((y + 0.5) * 270) / 360);
      if (a.data[y * 640 + x] !== b.data[my * 480 + mx]) wrong++;
    }
  }
  t.is(wrong, 0);
  t.true(new Set(b.data).size >= 1);

  const colour = path.join(full, 'labels', 'color');
  t.is(readdirSync(colour).filter((f) => f.endsWith('.png')).length, FRAMES);
  const cm = await sharp(path.join(colour, '000005.png')).raw().toBuffer({ resolveWithObject: true });
  t.deepEqual([cm.info.width, cm.info.height, cm.info.channels], [640, 360, 3]);
  const cj = JSON.parse(readFileSync(path.join(colour, 'classes.json'), 'utf8'));
  // each colour pixel is its class's colour
  let off = 0;
  for (let i = 0; i < 640 * 360; i += 97) {
    const c = cj.classes[a.data[i]!].color as number[];
    if (cm.data[3 * i] !== c[0] || cm.data[3 * i + 1] !== c[1] || cm.data[3 * i + 2] !== c[2]) off++;
  }
  t.is(off, 0, 'colour mask pixels are the palette colours of the class ids');
  t.true(existsSync(path.join(model, 'labels', 'classes.json')));
  t.is(JSON.parse(readFileSync(path.join(model, 'labels', 'classes.json'), 'utf8')).width, 480);

  t.deepEqual((await streams(path.join(full, 'overlay.mp4'))).map((x) => x.codec_type), ['video'], 'no audio in, none out');
});

test('image › half-size RGB resize: WebAssembly and JS give the bilinear (half-pixel centres) bytes', (t) => {
  for (const [sw, sh] of [[960, 540], [6, 4], [962, 542]] as const) {
    const src = new Uint8Array(sw * sh * 3);
    for (let i = 0; i < src.length; i++) src[i] = Math.imul(i, 2654435761) >>> 24;
    const dw = sw / 2, dh = sh / 2;
    const ref = new Uint8Array(dw * dh * 3);
    for (let y = 0; y < dh; y++) {
      for (let x = 0; x < dw; x++) {
        for (let c = 0; c < 3; c++) {
          // bilinear at (2x + 0.5, 2y + 0.5): weights 1/2 and 1/2 on both axes
          const p = (yy: number, xx: number) => src[(yy * sw + xx) * 3 + c]!;
          const top = p(2 * y, 2 * x) + (p(2 * y, 2 * x + 1) - p(2 * y, 2 * x)) * 0.5;
          const bot = p(2 * y + 1, 2 * x) + (p(2 * y + 1, 2 * x + 1) - p(2 * y + 1, 2 * x)) * 0.5;
          ref[(y * dw + x) * 3 + c] = top + (bot - top) * 0.5 + 0.5;
        }
      }
    }
    t.deepEqual(resizeRgb(src, sw, sh, dw, dh), ref, `${sw}x${sh} (WebAssembly)`);
    t.deepEqual(halveRgbJs(src, sw, dw, dh), ref, `${sw}x${sh} (JS)`);
  }
});

test('image › height-only RGB resize (the model\'s 480x270 → 480x272) gives the bilinear bytes', (t) => {
  for (const [w, sh, dh] of [[480, 270, 272], [480, 270, 268], [7, 5, 11], [7, 9, 4]] as const) {
    const src = new Uint8Array(w * sh * 3);
    for (let i = 0; i < src.length; i++) src[i] = Math.imul(i, 2654435761) >>> 24;
    // The general bilinear formula (half-pixel centres); across, every output column is an input column.
    const ref = new Uint8Array(w * dh * 3);
    for (let y = 0; y < dh; y++) {
      const fy = Math.max(0, (y + 0.5) * (sh / dh) - 0.5);
      const y0 = Math.min(sh - 1, Math.floor(fy));
      const y1 = Math.min(sh - 1, y0 + 1);
      for (let i = 0; i < w * 3; i++) {
        const top = src[y0 * w * 3 + i]!, bot = src[y1 * w * 3 + i]!;
        ref[y * w * 3 + i] = top + (bot - top) * (fy - y0) + 0.5;
      }
    }
    t.deepEqual(resizeRgb(src, w, sh, w, dh), ref, `${w}x${sh} → ${w}x${dh}`);
  }
});

test('image › labelsAt: a video-size map made by resizeLabels gives, at any size, the labels resampled from itself', (t) => {
  let fromOrigin = 0;
  for (const [sw, sh, W, H, dw, dh] of [
    [480, 270, 1920, 1080, 960, 540], [480, 360, 640, 480, 480, 360], [480, 270, 960, 540, 480, 270],
    [37, 21, 111, 63, 74, 42], [480, 270, 1000, 563, 960, 540], [270, 480, 1080, 1920, 540, 960],
  ] as const) {
    const m = new Uint8Array(sw * sh);
    for (let i = 0; i < m.length; i++) m[i] = Math.imul(i, 2654435761) >>> 28;
    const big = resizeLabels(m, sw, sh, W, H);
    t.deepEqual(big, resizeNearest(m, sw, sh, W, H));
    const keep = new Uint8Array(dw * dh);
    const got = labelsAt(big, W, H, dw, dh, keep);
    t.deepEqual(got, resizeNearest(big, W, H, dw, dh), `${sw}x${sh} → ${W}x${H} → ${dw}x${dh}`);
    t.not(got, m, 'never the original map itself');
    if (got === keep) fromOrigin++;
  }
  t.is(fromOrigin, 6, 'written into the kept buffer');
  // 1080p labels → the 960x540 preview comes from the model's map (exact): the large map is not read.
  const m = new Uint8Array(480 * 270).map((_, i) => i % 11);
  const big = resizeLabels(m, 480, 270, 1920, 1080);
  const want = resizeNearest(big, 1920, 1080, 960, 540);
  big.fill(255);
  t.deepEqual(labelsAt(big, 1920, 1080, 960, 540), want);
});

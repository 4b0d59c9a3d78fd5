/**
 * offline inputs: awkward inputs of `segflow process` found by a bug hunt, each made here with the real
 * ffmpeg and run through the real CLI: an unreadable folder among the inputs, a still image, non-square pixels,
 * audio files (with a cover picture, or named .mp4), --out the input folder itself, linked folders, file names
 * with control characters, audio that ends before the video, a folder with no videos, camcorder extensions,
 * macOS AppleDouble files, a full disk, names in other scripts, a video stream without frames, interlaced video,
 * two files of one name in two runs.
 * Each bad input is one clear line naming it; the others are processed; summary.json says which.
 *
 * A two-node graph (decoder → encoder) where the model is not the point, so they cost ffmpeg time only.
 */
import test from 'ava';
import { execFile, execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { lastValueFrom, toArray } from 'rxjs';
import { decode } from '../operators.ts';
import { BIN, segflow, tmpDir, videoFacts, writeLightGraph, type CliResult } from './helpers/cli.ts';
import { ffmpegPaths } from '../src/media/ffmpeg.ts';
import { ffmpeg, meanAbsDiff, referenceFrames, testClip } from './helpers/videos.ts';

const ffprobePath = () => ffmpegPaths().ffprobe;

/** A temp dir (open to every user) with a light graph (decoder → encoder; `audio`: with the input's audio). */
function setup(prefix: string, o: { audio?: boolean } = {}): { work: string; graph: string } {
  const work = tmpDir(`segflow-offline-inputs-${prefix}-`);
  chmodSync(work, 0o777);
  const graph = writeLightGraph(path.join(work, 'light.yaml'), o);
  return { work, graph };
}

interface SummaryFile { input: string; status: string; error?: string; output?: string; frames?: number }
const readSummary = (out: string) => JSON.parse(readFileSync(path.join(out, 'summary.json'), 'utf8')) as { ok: number; failed: number; files: SummaryFile[] };

/**
 * The CLI as a user without root's power to read anything: as is when not root; as `nobody` (uid 65534,
 * with setpriv) when root. Undefined when that cannot be done here (no setpriv, or nobody cannot read the checkout).
 */
function asUser(args: string[]): Promise<CliResult> | undefined {
  const root = process.getuid?.() === 0;
  if (root) {
    try {
      // The whole chain as that user: setpriv, node, and a checkout it can read (a CI checkout may be root's only).
      execFileSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, BIN, '--version'], { stdio: 'ignore', timeout: 60_000 });
    } catch {
      return undefined;
    }
  }
  const [cmd, argv] = root
    ? ['setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, BIN, ...args]]
    : [process.execPath, [BIN, ...args]];
  return new Promise((resolve) => {
    execFile(cmd, argv, { timeout: 240_000, maxBuffer: 16 << 20, env: { ...process.env, HOME: path.dirname(args[args.indexOf('--out') + 1]!) } }, (err, stdout, stderr) => {
      const e = err as (Error & { code?: number | string; signal?: NodeJS.Signals }) | null;
      resolve({ code: e ? (typeof e.code === 'number' ? e.code : null) : 0, signal: e?.signal ?? null, stdout, stderr });
    });
  });
}

test('offline inputs › an unreadable folder among the inputs is one failed entry naming it; the other videos are processed', async (t) => {
  const { work, graph } = setup('unreadable');
  const rec = path.join(work, 'rec');
  mkdirSync(path.join(rec, 'locked'), { recursive: true });
  mkdirSync(path.join(rec, 'open'));
  await testClip(path.join(rec, 'a.mp4'), { frames: 6 });
  await testClip(path.join(rec, 'open', 'b.mp4'), { frames: 6 });
  await testClip(path.join(rec, 'locked', 'c.mp4'), { frames: 6 });
  chmodSync(rec, 0o777);
  chmodSync(path.join(rec, 'open'), 0o777);
  chmodSync(path.join(rec, 'locked'), 0o000);
  const out = path.join(work, 'out');
  try {
    const r = asUser(['process', rec, '--out', out, '--graph', graph]);
    if (!r) return t.pass('cannot run segflow as a user without root\'s file access here (no setpriv, or the checkout is not readable by nobody): skipped');
    const p = await r;
    t.is(p.code, 1, p.stderr);
    const locked = path.join(rec, 'locked');
    t.regex(p.stderr, new RegExp(`^✗ ${locked}: cannot read this folder \\(permission denied, EACCES\\); the videos in it were not processed$`, 'm'));
    t.notRegex(p.stderr, /^segflow: |^\s+at /m, 'no crash of the whole job');
    t.regex(p.stdout, /2 ok, 0 skipped, 1 failed, 0 interrupted/);
    const s = readSummary(out);
    t.deepEqual(s.files.map((f) => [path.relative(rec, f.input), f.status]).sort(), [['a.mp4', 'ok'], ['locked', 'failed'], ['open/b.mp4', 'ok']]);
    t.regex(s.files.find((f) => f.input === locked)!.error!, /^.*locked: cannot read this folder/);
    t.deepEqual(readdirSync(out).sort(), ['a', 'open__b', 'summary.json']);
  } finally {
    chmodSync(path.join(rec, 'locked'), 0o755);
  }
});

test('offline inputs › an unreadable folder given by itself fails by name, no crash', async (t) => {
  const { work, graph } = setup('unreadable-top');
  const locked = path.join(work, 'locked');
  mkdirSync(locked);
  await testClip(path.join(locked, 'c.mp4'), { frames: 6 });
  const good = await testClip(path.join(work, 'good.mp4'), { frames: 6 });
  chmodSync(locked, 0o000);
  const out = path.join(work, 'out');
  try {
    const r = asUser(['process', locked, good, '--out', out, '--graph', graph]);
    if (!r) return t.pass('cannot run segflow as a user without root\'s file access here (no setpriv, or the checkout is not readable by nobody): skipped');
    const p = await r;
    t.is(p.code, 1, p.stderr);
    t.regex(p.stderr, new RegExp(`^✗ ${locked}: cannot read this folder \\(permission denied, EACCES\\)`, 'm'));
    t.deepEqual(readSummary(out).files.map((f) => f.status), ['failed', 'ok']);
  } finally {
    chmodSync(locked, 0o755);
  }
});



test('offline inputs › a still image (PNG or JPEG, by extension or named .mp4) is refused as a still image, not called a playlist', async (t) => {
  const { work, graph } = setup('still');
  const rec = path.join(work, 'rec');
  mkdirSync(rec);
  const png = path.join(work, 'photo.png');
  const jpg = path.join(work, 'photo.jpg');
  await ffmpeg(['-f', 'lavfi', '-i', 'testsrc2=size=160x120', '-frames:v', '1', png]);
  await ffmpeg(['-f', 'lavfi', '-i', 'testsrc2=size=160x120', '-frames:v', '1', jpg]);
  writeFileSync(path.join(rec, 'png-named.mp4'), readFileSync(png));
  writeFileSync(path.join(rec, 'jpeg-named.mkv'), readFileSync(jpg));
  await testClip(path.join(rec, 'good.mp4'), { frames: 6 });
  const out = path.join(work, 'out');
  const p = await segflow(['process', rec, png, jpg, '--out', out, '--graph', graph]);
  t.is(p.code, 1, p.stderr);
  const why = new Map(readSummary(out).files.map((f) => [path.basename(f.input), f.error ?? f.status]));
  t.is(why.get('good.mp4'), 'ok');
  for (const [name, kind] of [['png-named.mp4', 'png'], ['jpeg-named.mkv', 'jpeg'], ['photo.png', 'png'], ['photo.jpg', 'jpg']] as const) {
    t.regex(why.get(name) ?? '', new RegExp(`${name.replace('.', '\\.')}: a still image \\(${kind}\\), not a video; expected a video file$`), name);
  }
  t.notRegex(p.stderr, /playlist/);
});

test('offline inputs › non-square pixels (SAR 2:1, 1:2): frames, overlay and label sizes as displayed, not squeezed', async (t) => {
  const { work, graph } = setup('sar');
  const wide = path.join(work, 'sar-2-1.mp4');
  const tall = path.join(work, 'sar-1-2.mp4');
  // 160x120 stored pixels, displayed at 320x120 (each pixel twice as wide as tall) and at 160x240.
  await testClip(wide, { frames: 6, extra: ['-vf', 'setsar=2/1'] });
  await testClip(tall, { frames: 6, extra: ['-vf', 'setsar=1/2'] });
  for (const [file, w, h] of [[wide, 320, 120], [tall, 160, 240]] as const) {
    const frames = await lastValueFrom(decode({ path: file }).pipe(toArray()));
    t.is(frames.length, 6);
    t.deepEqual([frames[0]!.width, frames[0]!.height], [w, h], path.basename(file));
    // The picture as displayed: testsrc2 (uncompressed) scaled to the display size.
    const ref = await referenceFrames(path.join(work, `ref-${w}x${h}.rgb`), { width: 160, height: 120, frames: 6, vf: `scale=${w}:${h}` });
    const d = meanAbsDiff(frames[3]!.data, ref.subarray(3 * w * h * 3, 4 * w * h * 3));
    t.log(`${path.basename(file)}: mean abs difference to testsrc2 at ${w}x${h}: ${d.toFixed(1)}`);
    t.true(d < 12, `${d}`);
  }
  const out = path.join(work, 'out');
  const p = await segflow(['process', wide, tall, '--out', out, '--graph', graph]);
  t.is(p.code, 0, p.stderr);
  const o = await videoFacts(path.join(out, 'sar-2-1', 'overlay.mp4'));
  t.deepEqual([o.width, o.height, o.frames], [320, 120, 6]);
  const q = await videoFacts(path.join(out, 'sar-1-2', 'overlay.mp4'));
  t.deepEqual([q.width, q.height, q.frames], [160, 240, 6]);
});

test('offline inputs › an audio file with a cover picture is "no video stream", not "truncated or corrupt"', async (t) => {
  const { work, graph } = setup('cover');
  const cover = path.join(work, 'cover.jpg');
  await ffmpeg(['-f', 'lavfi', '-i', 'testsrc2=size=200x200', '-frames:v', '1', cover]);
  // AAC with its artwork: ffprobe lists the artwork as a video stream (disposition attached_pic).
  const podcast = path.join(work, 'podcast.mp4');
  await ffmpeg(['-f', 'lavfi', '-i', 'sine=duration=2', '-i', cover, '-map', '0', '-map', '1', '-c:a', 'aac', '-c:v', 'copy', '-disposition:v:0', 'attached_pic', podcast]);
  // A video with the same artwork beside it: the video is processed, every frame.
  const clip = await testClip(path.join(work, 'clip-src.mp4'), { frames: 6 });
  const withCover = path.join(work, 'with-cover.mp4');
  await ffmpeg(['-i', clip, '-i', cover, '-map', '0', '-map', '1', '-c', 'copy', '-disposition:v:1', 'attached_pic', withCover]);
  const out = path.join(work, 'out');
  const p = await segflow(['process', podcast, withCover, '--out', out, '--graph', graph]);
  t.is(p.code, 1, p.stderr);
  const files = new Map(readSummary(out).files.map((f) => [path.basename(f.input), f]));
  t.is(files.get('podcast.mp4')?.error, `${podcast}: no video stream (found audio, a cover picture)`);
  t.is(files.get('with-cover.mp4')?.status, 'ok', files.get('with-cover.mp4')?.error);
  t.is(files.get('with-cover.mp4')?.frames, 6);
  t.deepEqual(readdirSync(out).sort(), ['summary.json', 'with-cover']);
});

test('offline inputs › an MP3 or WAV file (named .mp4 or not) is "an audio file", not called a playlist; a subtitle file is not a video container', async (t) => {
  const { work, graph } = setup('audio');
  const mp3 = path.join(work, 'song.mp3');
  const wav = path.join(work, 'tone.wav');
  await ffmpeg(['-f', 'lavfi', '-i', 'sine=duration=1', '-c:a', 'libmp3lame', mp3]);
  await ffmpeg(['-f', 'lavfi', '-i', 'sine=duration=1', wav]);
  const mp3AsMp4 = path.join(work, 'song-mp3.mp4');
  writeFileSync(mp3AsMp4, readFileSync(mp3));
  const srt = path.join(work, 'subtitles.mp4');
  writeFileSync(srt, '1\n00:00:00,000 --> 00:00:01,000\nhello\n\n2\n00:00:01,000 --> 00:00:02,000\nworld\n');
  const out = path.join(work, 'out');
  const p = await segflow(['process', mp3, wav, mp3AsMp4, srt, '--out', out, '--graph', graph]);
  t.is(p.code, 1, p.stderr);
  const why = new Map(readSummary(out).files.map((f) => [f.input, f.error ?? f.status]));
  t.is(why.get(mp3), `${mp3}: an audio file (mp3), no video stream; expected a video file`);
  t.is(why.get(wav), `${wav}: an audio file (wav), no video stream; expected a video file`);
  t.is(why.get(mp3AsMp4), `${mp3AsMp4}: an audio file (mp3), no video stream; expected a video file`);
  t.is(why.get(srt), `${srt}: its content is srt, not a video container segflow reads; expected a video file`);
  t.notRegex(p.stderr, /playlist/);
});

test('offline inputs › --out the input folder itself: a re-run skips every input and takes no output of its own for an input', async (t) => {
  const { work, graph } = setup('out-is-input');
  const rec = path.join(work, 'rec');
  mkdirSync(path.join(rec, 'day1'), { recursive: true });
  await testClip(path.join(rec, 'clip.mp4'), { frames: 6 });
  await testClip(path.join(rec, 'day1', 'b.mp4'), { frames: 6 });
  const first = await segflow(['process', rec, '--out', rec, '--graph', graph]);
  t.is(first.code, 0, first.stderr);
  t.regex(first.stdout, /2 ok, 0 skipped, 0 failed/);
  const second = await segflow(['process', rec, '--out', rec, '--graph', graph]);
  t.is(second.code, 0, second.stderr);
  t.regex(second.stdout, /0 ok, 2 skipped, 0 failed/);
  t.deepEqual(readdirSync(rec).sort(), ['clip', 'clip.mp4', 'day1', 'day1__b', 'summary.json']);
  t.deepEqual(readSummary(rec).files.map((f) => path.relative(rec, f.input)).sort(), ['clip.mp4', 'day1/b.mp4']);
});

test('offline inputs › a linked folder inside an input folder is searched (once); a link back up or to --out is no loop', async (t) => {
  const { work, graph } = setup('links');
  const rec = path.join(work, 'rec');
  const disk2 = path.join(work, 'disk2', '2024');
  mkdirSync(rec);
  mkdirSync(disk2, { recursive: true });
  await testClip(path.join(rec, 'a.mp4'), { frames: 6 });
  await testClip(path.join(disk2, 'b.mp4'), { frames: 6 });
  const out = path.join(work, 'out');
  mkdirSync(out);
  symlinkSync(disk2, path.join(rec, '2024')); // recordings/2024 -> another disk
  symlinkSync(rec, path.join(rec, 'loop')); // a link back up
  symlinkSync(out, path.join(rec, 'results')); // a link to --out
  const p = await segflow(['process', rec, '--out', out, '--graph', graph]);
  t.is(p.code, 0, p.stderr);
  t.regex(p.stdout, /2 ok, 0 skipped, 0 failed/);
  t.deepEqual(readSummary(out).files.map((f) => [path.relative(rec, f.input), f.status, f.frames]).sort(), [['2024/b.mp4', 'ok', 6], ['a.mp4', 'ok', 6]]);
  t.deepEqual(readdirSync(out).sort(), ['2024__b', 'a', 'summary.json']);
});

test('offline inputs › a file name with a newline, a terminal escape or a bidi override is reported on one line, escaped; the summary keeps the real name', async (t) => {
  const { work, graph } = setup('names');
  const rec = path.join(work, 'rec');
  mkdirSync(rec);
  const newline = path.join(rec, 'bad\nname.mp4');
  const escape = path.join(rec, 'esc\x1b[2Jred.mp4');
  writeFileSync(newline, ''); // empty: fails by name
  writeFileSync(escape, '');
  const bidi = path.join(rec, 'invoice\u202egnp.mp4'); // a right-to-left override: a terminal shows the rest of the line reversed
  writeFileSync(bidi, '');
  const good = await testClip(path.join(rec, 'good\tone.mp4'), { frames: 6 });
  const out = path.join(work, 'out');
  const p = await segflow(['process', rec, '--out', out, '--graph', graph]);
  t.is(p.code, 1, p.stderr);
  t.false(p.stderr.includes('\x1b'), 'no terminal escape reaches the terminal');
  const lines = p.stderr.split('\n').filter((l) => /^[✓✗] /.test(l));
  t.deepEqual(lines.sort(), [
    `✓ ${rec}/good\\tone.mp4: 6 frames, ${/good\\tone\.mp4: 6 frames, ([\d.]+) fps/.exec(p.stderr)?.[1]} fps → ${out}/good_one`,
    `✗ ${rec}/bad\\nname.mp4: empty file (0 bytes)`,
    `✗ ${rec}/esc\\x1b[2Jred.mp4: empty file (0 bytes)`,
    `✗ ${rec}/invoice\\u202egnp.mp4: empty file (0 bytes)`,
  ].sort());
  t.false(p.stderr.includes('\u202e'), 'no bidirectional override reaches the terminal');
  t.deepEqual(readSummary(out).files.map((f) => f.input).sort(), [newline, escape, bidi, good].sort());
});

test('offline inputs › audio that ends before the video (1 s of a 4 s clip) does not cut the overlay: every frame, the audio as long as it was', async (t) => {
  const { work, graph } = setup('short-audio', { audio: true });
  const made = async (name: string, audio: string[]) => {
    const file = path.join(work, name);
    await ffmpeg(['-f', 'lavfi', '-i', 'testsrc2=size=160x120:rate=10', '-f', 'lavfi', '-i', 'sine=duration=1', '-map', '0:v', '-map', '1:a',
      '-frames:v', '40', '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', ...audio, file]);
    return file;
  };
  const mp4 = await made('aac.mp4', ['-c:a', 'aac']); // copied into the overlay; mp4 says how long it is
  const mkv = await made('aac.mkv', ['-c:a', 'aac']); // Matroska: the length in a tag
  const avi = await made('pcm.avi', ['-c:a', 'pcm_s16le']); // AVI: PCM of unknown length (re-encoded)
  const out = path.join(work, 'out');
  const p = await segflow(['process', mp4, mkv, avi, '--out', out, '--graph', graph]);
  t.is(p.code, 0, p.stderr);
  for (const [dir, copied] of [['aac', true], ['aac-2', true], ['pcm', false]] as const) {
    const overlay = path.join(out, dir, 'overlay.mp4');
    t.is((await videoFacts(overlay)).frames, 40, `${dir}: every frame in the overlay`);
    const a = JSON.parse(execFileSync(ffprobePath(), ['-v', 'error', '-select_streams', 'a', '-show_entries', 'stream=codec_name,duration', '-of', 'json', overlay], { encoding: 'utf8' })).streams as { codec_name: string; duration: string }[];
    t.is(a.length, 1, `${dir}: the audio is there`);
    t.is(a[0]!.codec_name, 'aac');
    const d = Number(a[0]!.duration);
    t.true(copied ? d > 0.9 && d < 1.2 : d > 0.9 && d < 4.2, `${dir}: audio ${d} s`);
  }
});

test('offline inputs › an earlier run\'s --out inside the input folder is not taken for inputs by a run with another --out', async (t) => {
  const { work, graph } = setup('old-out');
  const rec = path.join(work, 'rec');
  mkdirSync(rec);
  await testClip(path.join(rec, 'clip.mp4'), { frames: 6 });
  const first = await segflow(['process', rec, '--out', path.join(rec, 'results'), '--graph', graph]);
  t.is(first.code, 0, first.stderr);
  const out = path.join(work, 'elsewhere');
  const second = await segflow(['process', rec, '--out', out, '--graph', graph]);
  t.is(second.code, 0, second.stderr);
  t.regex(second.stdout, /1 ok, 0 skipped, 0 failed/);
  t.deepEqual(readdirSync(out).sort(), ['clip', 'summary.json']);
});

test('offline inputs › a folder with no videos is one failed entry saying so (not "0 ok", exit 0); .m2ts and .mxf are found as videos', async (t) => {
  const { work, graph } = setup('no-videos');
  const empty = path.join(work, 'notes');
  mkdirSync(empty);
  writeFileSync(path.join(empty, 'readme.txt'), 'no videos here\n');
  const cam = path.join(work, 'camcorder');
  mkdirSync(cam);
  await testClip(path.join(cam, '00001.m2ts'), { frames: 6, format: 'mpegts' });
  await ffmpeg(['-f', 'lavfi', '-i', 'testsrc2=size=160x120:rate=25', '-frames:v', '6', '-c:v', 'mpeg2video', '-f', 'mxf', path.join(cam, 'clip.mxf')]);
  const out = path.join(work, 'out');
  const p = await segflow(['process', empty, cam, '--out', out, '--graph', graph]);
  t.is(p.code, 1, p.stderr);
  t.regex(p.stderr, new RegExp(`^✗ ${empty}: no video files in this folder or below \\(videos are found by their extension: \\.mp4 .*\\)$`, 'm'));
  const files = readSummary(out).files.map((f) => [path.relative(work, f.input), f.status, f.frames ?? 0]);
  t.deepEqual(files, [['notes', 'failed', 0], ['camcorder/00001.m2ts', 'ok', 6], ['camcorder/clip.mxf', 'ok', 6]]);
  // Given twice, or inside another input folder: searched once, never reported as empty.
  const again = await segflow(['process', cam, cam, path.join(cam, '..', 'camcorder'), '--out', path.join(work, 'out2'), '--graph', graph]);
  t.is(again.code, 0, again.stderr);
  t.regex(again.stdout, /2 ok, 0 skipped, 0 failed/);
});

test('offline inputs › macOS AppleDouble files (._clip.mp4) on a camera card are left out, not one failure each; a real ._ video is kept', async (t) => {
  const { work, graph } = setup('appledouble');
  const card = path.join(work, 'DCIM');
  mkdirSync(card);
  await testClip(path.join(card, 'clip.mp4'), { frames: 6 });
  await testClip(path.join(card, '._real.mp4'), { frames: 6 }); // named like one, but a video
  // The Finder's metadata file beside clip.mp4: magic 0x00051607, version 2, "Mac OS X", entries.
  const header = Buffer.alloc(4096);
  header.writeUInt32BE(0x00051607, 0);
  header.writeUInt32BE(0x00020000, 4);
  header.write('Mac OS X        ', 8, 'latin1');
  writeFileSync(path.join(card, '._clip.mp4'), header);
  const out = path.join(work, 'out');
  const p = await segflow(['process', card, '--out', out, '--graph', graph]);
  t.is(p.code, 0, p.stderr);
  t.regex(p.stdout, /2 ok, 0 skipped, 0 failed/);
  t.deepEqual(readSummary(out).files.map((f) => path.basename(f.input)).sort(), ['._real.mp4', 'clip.mp4']);
});

test('offline inputs › a full disk under --out (for segflow, or for the encoding ffmpeg): the file fails with one line saying so and where, nothing of it left', async (t) => {
  const { work, graph } = setup('full-disk');
  const clip = await testClip(path.join(work, 'clip.mp4'), { frames: 6 });
  const disk = path.join(work, 'disk');
  mkdirSync(disk);
  const out = path.join(disk, 'out');
  try {
    execFileSync('unshare', ['-m', 'sh', '-c', `mount -t tmpfs -o size=4k tmpfs ${disk}`], { stdio: 'ignore' });
  } catch {
    return t.pass('cannot mount a small tmpfs here (needs unshare -m as root): skipped');
  }
  // A tmpfs with 4 KiB left, or none, in a mount namespace of its own (gone when the command ends): with
  // none, segflow's first write fails; with one page, segflow's marker file fits and ffmpeg's mp4 does not.
  for (const size of ['4k', '8k']) {
    const inner = `mount -t tmpfs -o size=${size} tmpfs ${disk} && head -c 4096 /dev/zero > ${disk}/fill && ${JSON.stringify(process.execPath)} ${BIN} process ${clip} --out ${out} --graph ${graph}; echo "rc=$?"; ls -A ${out}`;
    const p = await new Promise<{ stdout: string; stderr: string }>((resolve) => {
      execFile('unshare', ['-m', 'sh', '-c', inner], { timeout: 120_000 }, (_e, stdout, stderr) => resolve({ stdout, stderr }));
    });
    t.regex(p.stdout, /^rc=1$/m, p.stderr);
    t.regex(p.stderr, new RegExp(`^✗ ${clip}: no space left for its outputs under ${out} \\(the disk is full, ENOSPC\\); nothing of it kept$`, 'm'), size);
    t.notRegex(p.stderr, /^\s+at /m, 'no stack trace');
    const listed = p.stdout.trim().split('\n');
    t.deepEqual(listed.slice(listed.findIndex((l) => l.startsWith('rc=')) + 1).filter((f) => f !== 'summary.json'), [], `${size}: nothing of the file left in --out`);
  }
});

test('offline inputs › output folders keep letters of any script (行车记录, ünï, NFD café), cut by bytes when long', async (t) => {
  const { work, graph } = setup('unicode');
  const rec = path.join(work, 'rec');
  mkdirSync(rec);
  const clip = await testClip(path.join(work, 'clip.mp4'), { frames: 6 });
  const names = ['行车记录 2024-05-01.mp4', 'ünï çødé.mp4', 'cafe\u0301.mp4', `${'ü'.repeat(40)}${'記'.repeat(50)}.mp4`];
  for (const n of names) writeFileSync(path.join(rec, n), readFileSync(clip));
  const out = path.join(work, 'out');
  const p = await segflow(['process', rec, '--out', out, '--graph', graph]);
  t.is(p.code, 0, p.stderr);
  const dirs = readdirSync(out).filter((d) => d !== 'summary.json');
  t.true(dirs.includes('行车记录_2024-05-01'), dirs.join(' '));
  t.true(dirs.includes('ünï_çødé'), dirs.join(' '));
  t.true(dirs.includes('caf\u00e9'), 'NFD é made NFC');
  const long = dirs.find((d) => d.startsWith('üü'));
  t.truthy(long, dirs.join(' '));
  t.regex(long!, /^ü{40}記+-[0-9a-f]{10}$/);
  t.true(Buffer.byteLength(long!) <= 180, `${Buffer.byteLength(long!)} bytes`);
});

test('offline inputs › a video stream without a frame (beside 2 s of audio) is "no frames could be decoded", not "ffmpeg failed"', async (t) => {
  const { work, graph } = setup('no-frames');
  const file = path.join(work, 'empty-video.mkv');
  await ffmpeg(['-f', 'lavfi', '-i', 'sine=duration=2', '-f', 'lavfi', '-i', 'testsrc2=size=160x120:rate=10', '-map', '0:a', '-map', '1:v',
    '-c:a', 'aac', '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', '-frames:v', '0', '-t', '2', file]);
  const out = path.join(work, 'out');
  const p = await segflow(['process', file, '--out', out, '--graph', graph]);
  t.is(p.code, 1, p.stderr);
  t.regex(p.stderr, new RegExp(`^✗ ${file}: no frames could be decoded: the video stream is empty or unreadable \\(ffmpeg exited with code \\d+`, 'm'));
  t.deepEqual(readdirSync(out), ['summary.json']);
});

test('offline inputs › interlaced video (tff, as camcorders record 1080i) is deinterlaced: every frame, combing gone', async (t) => {
  const { work } = setup('interlaced');
  const file = path.join(work, 'interlaced.mp4');
  // 50 moving pictures a second woven into 25 interlaced frames, coded as interlaced (field order tt).
  await ffmpeg(['-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=50', '-vf', 'interlace=scan=tff', '-frames:v', '20',
    '-c:v', 'libx264', '-preset', 'ultrafast', '-flags', '+ildct+ilme', '-x264opts', 'tff=1', file]);
  /** Mean |row - mean of the rows above and below| of a 320x240 RGB frame (green): high where fields disagree. */
  const combing = (rgb: Uint8Array) => {
    let s = 0;
    for (let y = 1; y < 239; y++) for (let x = 0; x < 320; x++) {
      const g = (r: number) => rgb[(r * 320 + x) * 3 + 1]!;
      s += Math.abs(g(y) - (g(y - 1) + g(y + 1)) / 2);
    }
    return s / (238 * 320);
  };
  const frames = await lastValueFrom(decode({ path: file }).pipe(toArray()));
  t.is(frames.length, 20, 'one frame per frame');
  // The same frame as ffmpeg decodes it without deinterlacing: the fields of two moments, row by row.
  const woven = execFileSync(ffmpegPaths().ffmpeg, ['-v', 'error', '-i', file, '-frames:v', '6', '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-'], { maxBuffer: 1 << 24 }).subarray(5 * 320 * 240 * 3);
  const [a, b] = [combing(frames[5]!.data), combing(woven)];
  t.log(`combing of frame 5: decoded ${a.toFixed(2)}, as woven ${b.toFixed(2)}`);
  t.true(a < 0.7 * b, `${a} vs ${b}`);
});

test('offline inputs › another file of the same name in a later run gets its own folder, and the note does not call it an earlier version only', async (t) => {
  const { work, graph } = setup('same-name');
  mkdirSync(path.join(work, 'a'));
  mkdirSync(path.join(work, 'b'));
  const a = await testClip(path.join(work, 'a', 'clip.mp4'), { frames: 6 });
  const b = await testClip(path.join(work, 'b', 'clip.mp4'), { frames: 8 });
  const out = path.join(work, 'out');
  t.is((await segflow(['process', a, '--out', out, '--graph', graph])).code, 0);
  const p = await segflow(['process', b, '--out', out, '--graph', graph, '--overwrite']);
  t.is(p.code, 0, p.stderr);
  t.regex(p.stderr, /^note: .*b\/clip\.mp4: .*\/out\/clip exists and is left alone: it holds the output of an earlier version of this file or of another file named clip\.mp4 \(size, mtime or content differ\); writing to .*\/out\/clip-2$/m);
  t.is(JSON.parse(readFileSync(path.join(out, 'clip', 'result.json'), 'utf8')).frames, 6, 'a\'s output untouched');
  t.is(JSON.parse(readFileSync(path.join(out, 'clip-2', 'result.json'), 'utf8')).frames, 8);
});

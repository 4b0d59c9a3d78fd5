/**
 * offline hunt: `segflow process` as a dashcam user runs it, inputs made here with the real ffmpeg, run
 * through the real CLI: a recording still being written (its file grows while it is processed), a full
 * disk at the end of a run (the summary lock), a work folder whose mark cannot be written, an MP4 cut
 * off before its index (a power loss), a Matroska file whose audio outlasts its video, a TS file that starts mid-GOP,
 * an MJPEG AVI with empty "dropped frame" chunks, links that lead nowhere, a file that grew before its turn, one folder run twice at once. Each bad one is a clear
 * failure naming the file, nothing half-kept; a good one is complete.
 *
 * A two-node graph (decoder → encoder) where the model is not the point, so they cost ffmpeg time only.
 */
import test from 'ava';
import { execFile, execFileSync, spawn } from 'node:child_process';
import { appendFileSync, chmodSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { BIN, ROOT, segflow, tmpDir, videoFacts, writeLightGraph } from './helpers/cli.ts';
import { ffmpegPaths, probe } from '../src/media/ffmpeg.ts';
import { ffmpeg, meanAbsDiff, testClip, truncateCopy } from './helpers/videos.ts';

const ffprobePath = () => ffmpegPaths().ffprobe;

function setup(prefix: string): { work: string; graph: string } {
  const work = tmpDir(`segflow-offline-hunt-${prefix}-`);
  chmodSync(work, 0o777);
  return { work, graph: writeLightGraph(path.join(work, 'light.yaml')) };
}

const readSummary = (out: string) => JSON.parse(readFileSync(path.join(out, 'summary.json'), 'utf8')) as { files: { input: string; status: string; error?: string; frames?: number }[] };

/** `sh -c script` in a mount namespace of its own (a tmpfs mounted there is gone when it ends); undefined when that cannot be done here. */
function inMountNamespace(script: string): Promise<{ code: number | null; stdout: string; stderr: string } | undefined> {
  try {
    execFileSync('unshare', ['-m', 'true'], { stdio: 'ignore' });
  } catch {
    return Promise.resolve(undefined);
  }
  return new Promise((resolve) => {
    execFile('unshare', ['-m', 'sh', '-c', script], { timeout: 180_000, maxBuffer: 16 << 20 }, (e, stdout, stderr) => {
      const err = e as (Error & { code?: number | string }) | null;
      if (err && typeof err.code !== 'number') return resolve(undefined);
      resolve({ code: err ? (err.code as number) : 0, stdout, stderr });
    });
  });
}

test.serial('offline hunt › a recording still being written (the file grows while processed) fails saying so, nothing kept; once complete it is processed whole', async (t) => {
  const { work, graph } = setup('growing');
  // An MPEG-TS recording (as many dashcams write, readable while it grows): its first half is there when the
  // run starts, and the camera goes on writing while the run lasts (stuffing: null packets, so what the run
  // can read is the first half however fast it is), the rest of its frames after.
  const whole = await testClip(path.join(work, 'whole.ts'), { frames: 40, format: 'mpegts' });
  const bytes = readFileSync(whole);
  const file = path.join(work, 'growing.ts');
  const half = Math.floor(bytes.length / 2 / 188) * 188;
  writeFileSync(file, bytes.subarray(0, half));
  const nullPacket = Buffer.alloc(188, 0xff);
  nullPacket.set([0x47, 0x1f, 0xff, 0x10]);
  const out = path.join(work, 'out');
  const child = spawn(process.execPath, [BIN, 'process', file, '--out', out, '--graph', graph], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdout!.resume();
  const writer = setInterval(() => appendFileSync(file, nullPacket), 20);
  const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
  clearInterval(writer);
  appendFileSync(file, bytes.subarray(half));
  t.is(code, 1, stderr);
  t.regex(stderr, new RegExp(`^✗ ${file}: the file changed while it was processed \\(\\d+ bytes when it began, \\d+ now\\): a recording or copy still being written\\? Nothing of it kept; process it again once it is complete$`, 'm'));
  t.deepEqual(readdirSync(out), ['summary.json'], 'no output folder that looks complete');
  t.is(readSummary(out).files[0]!.status, 'failed');
  // The recording finished: the next run processes it, every frame.
  const again = await segflow(['process', file, '--out', out, '--graph', graph]);
  t.is(again.code, 0, again.stderr);
  t.regex(again.stderr, /✓ .*growing\.ts: 40 frames/);
  t.is((await videoFacts(path.join(out, 'growing', 'overlay.mp4'))).frames, 40);
});

test.serial('offline hunt › a disk that fills up before summary.json leaves no empty summary lock; the next run, space freed, does not wait for one', async (t) => {
  const { work, graph } = setup('lock');
  const clip = await testClip(path.join(work, 'clip.mp4'), { frames: 6 });
  const disk = path.join(work, 'disk');
  mkdirSync(disk);
  const out = path.join(disk, 'out');
  const run = `${JSON.stringify(process.execPath)} ${BIN} process ${clip} --out ${out} --graph ${graph}`;
  // A tmpfs with no space left: segflow's first write fails, and so does the summary (and the lock's mark); then freed.
  const r = await inMountNamespace(`mount -t tmpfs -o size=256k tmpfs ${disk} && head -c 262144 /dev/zero > ${disk}/fill || exit 99
    ${run}; echo "rc=$?"; echo "left: $(ls -A ${out} | tr '\\n' ' ')"; rm ${disk}/fill; ${run} 2>&1; echo "rc=$?"`);
  if (!r || r.code === 99) return t.pass('cannot mount a small tmpfs here (needs unshare -m as root): skipped');
  const [first, second] = r.stdout.split(/^left: .*$/m);
  t.regex(first!, /^rc=1$/m, r.stderr);
  t.regex(r.stderr, /no space left for its outputs/);
  t.regex(r.stdout, /^left: $/m, 'nothing left in --out: no work folder, no .segflow-summary.lock');
  t.regex(second!, /1 ok, 0 skipped, 0 failed/);
  t.regex(second!, /^rc=0$/m);
  t.notRegex(second!, /still held|could not lock/, 'no wait for a lock nobody holds');
});

test.serial('offline hunt › a work folder whose mark cannot be written (a full disk) is removed at once, not left unmarked', async (t) => {
  const { work } = setup('mark');
  const disk = path.join(work, 'disk');
  mkdirSync(disk);
  // makePartial on a full tmpfs, in a child in its own mount namespace; then what is left there (before the child exits).
  const script = path.join(work, 'mark.ts');
  writeFileSync(script, [
    `import { readdirSync } from 'node:fs';`,
    `import { makePartial } from ${JSON.stringify(path.join(ROOT, 'src', 'apps', 'process-folders.ts'))};`,
    `try { makePartial(${JSON.stringify(disk)}, 'clip'); console.log('made'); } catch (e) { console.log('threw', e.code); }`,
    `console.log('left:' + readdirSync(${JSON.stringify(disk)}).filter((e) => e !== 'fill').join(' '));`,
    `process.exit(0);`,
  ].join('\n'));
  const r = await inMountNamespace(`mount -t tmpfs -o size=4k tmpfs ${disk} && head -c 4096 /dev/zero > ${disk}/fill || exit 99
    cd ${ROOT} && ${JSON.stringify(process.execPath)} --import tsx ${script}`);
  if (!r || r.code === 99) return t.pass('cannot mount a small tmpfs here (needs unshare -m as root): skipped');
  t.regex(r.stdout, /^threw ENOSPC$/m, r.stderr);
  t.regex(r.stdout, /^left:$/m, 'no unmarked .segflow-clip.partial-* folder (removeLeftovers never removes one without a mark)');
});

test('offline hunt › an MP4 cut off before its index (a dashcam losing power) says the moov atom is missing and why, not just "Invalid data"', async (t) => {
  const { work } = setup('moov');
  const whole = await testClip(path.join(work, 'whole.mp4'), { frames: 30 });
  const cut = truncateCopy(whole, path.join(work, 'FILE0042.MP4'), 0.6);
  const e = await t.throwsAsync(probe(cut));
  t.regex(e!.message, /^\S+FILE0042\.MP4: not a readable video \(moov atom not found: .*power loss.*still being written.*unfinished copy\)$/);
});

test('offline hunt › a Matroska recording whose audio outlasts its video (2 s of video, 5 s of audio) is complete, not "truncated or corrupt"', async (t) => {
  const work = tmpDir('segflow-offline-hunt-mkv-audio-');
  const graph = writeLightGraph(path.join(work, 'light.yaml'), { audio: true });
  const file = path.join(work, 'longaudio.mkv');
  await ffmpeg(['-f', 'lavfi', '-i', 'testsrc2=size=160x120:rate=10:duration=2', '-f', 'lavfi', '-i', 'sine=duration=5',
    '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', '-c:a', 'aac', file]);
  const out = path.join(work, 'out');
  const r = await segflow(['process', file, '--out', out, '--graph', graph]);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stderr, /✓ .*longaudio\.mkv: 20 frames/);
  const v = await videoFacts(path.join(out, 'longaudio', 'overlay.mp4'));
  t.is(v.frames, 20);
});

test('offline hunt › a TS recording that starts mid-GOP (its first frames undecodable): the overlay still has every frame number, the lost ones filled with the first', async (t) => {
  const { work, graph } = setup('midgop');
  const whole = await testClip(path.join(work, 'whole.ts'), { frames: 40, format: 'mpegts' }); // a key frame every 10th
  // Cut at the TS packet where frame 3 (not a key frame) begins: frames 3..9 cannot be decoded, 10.. can.
  const pos = execFileSync(ffprobePath(), ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'packet=pos', '-of', 'csv=p=0', whole], { encoding: 'utf8' })
    .trim().split('\n').filter((l) => l.trim()).map((l) => parseInt(l, 10));
  const file = path.join(work, 'midgop.ts');
  writeFileSync(file, readFileSync(whole).subarray(Math.floor(pos[3]! / 188) * 188));
  const out = path.join(work, 'out');
  const r = await segflow(['process', file, '--out', out, '--graph', graph]);
  t.is(r.code, 0, r.stderr);
  const f = readSummary(out).files[0] as { frames: number; missingFrames?: number; gaps?: { first: number; frames: number }[] };
  t.is(f.gaps?.[0]?.first, 0, `a gap at the start: ${JSON.stringify(f.gaps)}`);
  const lead = f.gaps![0]!.frames;
  t.is(f.frames + f.missingFrames!, 37, 'frames 3..39 of the recording, some lost');
  // The overlay: one frame per frame number (as for a gap in the middle), the lost ones showing the first decoded.
  const raw = execFileSync(ffmpegPaths().ffmpeg, ['-v', 'error', '-i', path.join(out, 'midgop', 'overlay.mp4'), '-f', 'rawvideo', '-pix_fmt', 'gray', 'pipe:1'], { maxBuffer: 64 << 20 });
  const size = 160 * 120;
  t.is(raw.length / size, lead + f.frames, 'the overlay has the recording\'s frame count');
  const frame = (i: number) => raw.subarray(i * size, (i + 1) * size);
  t.true(meanAbsDiff(frame(0), frame(lead)) < 1, 'the filled frames are the first decoded one');
  t.true(meanAbsDiff(frame(lead), frame(lead + 5)) > 1, 'frames after it move on');
});

test('offline hunt › an MJPEG AVI with PCM audio and empty "dropped frame" chunks (as cheap dashcams write) is complete, not "truncated", the dropped frames keeping their numbers; a cut-off one still fails', async (t) => {
  const { work } = setup('avi-drops');
  // The AVI muxer writes an empty chunk for each frame time without a frame (5 of 50): the index counts 50, 45 decode.
  const drops = path.join(work, 'drops.avi');
  await ffmpeg(['-f', 'lavfi', '-i', 'testsrc2=size=160x120:rate=25:duration=2', '-f', 'lavfi', '-i', 'sine=duration=2',
    '-vf', "select='not(between(n\\,10\\,14))'", '-vsync', 'vfr', '-c:v', 'mjpeg', '-c:a', 'pcm_s16le', drops]);
  const cut = truncateCopy(drops, path.join(work, 'cut.avi'), 0.6);
  const out = path.join(work, 'out');
  const r = await segflow(['process', drops, cut, '--out', out]); // the default job: label maps too
  t.is(r.code, 1, r.stderr);
  t.regex(r.stderr, /✓ .*drops\.avi: 45 frames, [\d.]+ fps \(5 frames could not be decoded: left out, numbers kept\)/);
  t.regex(r.stderr, /✗ .*cut\.avi: truncated or corrupt: decoded \d+ of 50 frames/);
  // The dropped frames keep their numbers: the overlay has all 50 (the one before repeated), as long as the audio.
  const labels = readdirSync(path.join(out, 'drops', 'labels')).filter((f) => f.endsWith('.png'));
  t.is(labels.length, 45);
  t.false(labels.includes('000010.png'));
  t.true(labels.includes('000015.png') && labels.includes('000049.png'));
  t.is((await videoFacts(path.join(out, 'drops', 'overlay.mp4'))).frames, 50);
});

test('offline hunt › a link loop (a.mp4 → b.mp4 → a.mp4) and a link to a missing file in a folder are each named as such, not "no such file"', async (t) => {
  const { work, graph } = setup('links');
  const rec = path.join(work, 'rec');
  mkdirSync(rec);
  symlinkSync('b.mp4', path.join(rec, 'a.mp4'));
  symlinkSync('a.mp4', path.join(rec, 'b.mp4'));
  symlinkSync('gone.mp4', path.join(rec, 'c.mp4'));
  const out = path.join(work, 'out');
  const r = await segflow(['process', rec, '--out', out, '--graph', graph]);
  t.is(r.code, 1, r.stderr);
  t.regex(r.stderr, /^✗ \S+a\.mp4: a symbolic link \(to b\.mp4\) in a loop of links; expected a video file$/m);
  t.regex(r.stderr, /^✗ \S+c\.mp4: a symbolic link to gone\.mp4, which does not exist; expected a video file$/m);
  t.regex(r.stdout, /0 ok, 0 skipped, 3 failed/);
});

test.serial('offline hunt › a recording that grew after the run planned its folders, before its turn: its output records what was read, so the next run skips it', async (t) => {
  const { work, graph } = setup('grew-before');
  const rec = path.join(work, 'rec');
  mkdirSync(rec);
  await testClip(path.join(rec, 'a.ts'), { frames: 150, format: 'mpegts' });
  const b = await testClip(path.join(rec, 'b.ts'), { frames: 20, format: 'mpegts' });
  const nullPacket = Buffer.alloc(188, 0xff);
  nullPacket.set([0x47, 0x1f, 0xff, 0x10]);
  const out = path.join(work, 'out');
  // One file at a time: b.ts grows (the camera's last packets) once a.ts has started, long before b.ts's turn.
  const child = spawn(process.execPath, [BIN, 'process', rec, '--out', out, '--graph', graph, '--log', 'json'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  let grown = false;
  const onData = (d: Buffer) => {
    text += d.toString();
    if (!grown && /"type":"start","file":"[^"]*a\.ts"/.test(text)) {
      grown = true;
      appendFileSync(b, Buffer.concat(Array.from({ length: 20 }, () => nullPacket)));
    }
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
  t.true(grown, text);
  t.is(code, 0, text);
  const again = await segflow(['process', rec, '--out', out, '--graph', graph]);
  t.is(again.code, 0, again.stderr);
  t.regex(again.stdout, /0 ok, 2 skipped, 0 failed/, again.stderr);
  t.deepEqual(readdirSync(out).sort(), ['a', 'b', 'summary.json']);
});

test.serial('offline hunt › the same folder run twice at once into one --out (started twice): both end 0, the later finisher skips, summary.json says ok once per file', async (t) => {
  const { work, graph } = setup('twice');
  const rec = path.join(work, 'rec');
  mkdirSync(rec);
  await testClip(path.join(rec, 'clip.mp4'), { frames: 200, width: 320, height: 240, fps: 25 });
  const out = path.join(work, 'out');
  const [a, b] = await Promise.all([0, 1].map(() => segflow(['process', rec, '--out', out, '--graph', graph])));
  for (const r of [a!, b!]) {
    t.is(r.code, 0, r.stderr);
    t.notRegex(r.stderr, /appeared while this file was processed/);
  }
  t.regex(a!.stdout + b!.stdout, /1 ok, 0 skipped, 0 failed/);
  t.regex(a!.stdout + b!.stdout, /0 ok, 1 skipped, 0 failed/);
  const s = JSON.parse(readFileSync(path.join(out, 'summary.json'), 'utf8')) as { ok: number; failed: number; files: unknown[] };
  t.deepEqual([s.ok, s.failed, s.files.length], [1, 0, 1]);
  t.deepEqual(readdirSync(out).sort(), ['clip', 'summary.json']);
});

test('offline hunt › trash and system folders on a card (.Trashes, $RECYCLE.BIN, .Trash-1000, System Volume Information) are not searched; a file in one given by name still is', async (t) => {
  const dir = tmpDir('segflow-hunt-trash-');
  try {
    const card = path.join(dir, 'card');
    const put = (rel: string) => {
      mkdirSync(path.dirname(path.join(card, rel)), { recursive: true });
      writeFileSync(path.join(card, rel), 'not read here');
    };
    for (const rel of ['DCIM/100MEDIA/FILE0001.MP4', 'Normal/Front/a.mp4', '.Trashes/501/FILE0000.MP4', '$RECYCLE.BIN/S-1-5-21/$R1.mp4', '.Trash-1000/files/old.mp4', 'System Volume Information/x.mp4', '.Spotlight-V100/y.mp4', 'DCIM/.hidden-but-mine/keep.mp4']) put(rel);
    const { expandInputs } = await import('../src/apps/process.ts');
    const found = expandInputs([card]).map((f) => path.relative(card, f.path)).sort();
    t.deepEqual(found, ['DCIM/.hidden-but-mine/keep.mp4', 'DCIM/100MEDIA/FILE0001.MP4', 'Normal/Front/a.mp4']);
    const named = expandInputs([path.join(card, '.Trashes/501/FILE0000.MP4')]);
    t.deepEqual(named.map((f) => f.path), [path.join(card, '.Trashes/501/FILE0000.MP4')], 'a file given by name is taken wherever it is');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

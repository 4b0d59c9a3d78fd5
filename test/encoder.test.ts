/**
 * encoder: `audioFrom` copies an mp4-compatible audio stream packet for packet and re-encodes one
 * mp4 cannot hold (PCM) to AAC (moved from offline-outputs.test.ts, whose graph-level cases also
 * check the encoder's output); frames in, an H.264 mp4 at the rate of their timestamps out, and a
 * frame size change refused. Real ffmpeg, real files.
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { from, lastValueFrom, toArray } from 'rxjs';
import { encode } from '../operators.ts';
import type { Frame } from '../src/core/packet.ts';
import { ffmpegPaths } from '../src/media/ffmpeg.ts';
import { segflow, tmpDir, videoFacts } from './helpers/cli.ts';
import { testClip } from './helpers/videos.ts';

function streams(file: string): Promise<{ codec_type: string; codec_name: string }[]> {
  return new Promise((resolve, reject) => {
    execFile(ffmpegPaths().ffprobe, ['-v', 'error', '-show_entries', 'stream=codec_type,codec_name', '-of', 'json', file], (err, out) => (err ? reject(err) : resolve(JSON.parse(out).streams)));
  });
}

/** The first audio packets' checksums (packet data as stored, no decoding). */
function audioPackets(file: string, n = 8): Promise<string[]> {
  return new Promise((resolve, reject) => {
    execFile(ffmpegPaths().ffmpeg, ['-v', 'error', '-i', file, '-map', '0:a:0', '-c', 'copy', '-frames:a', String(n), '-f', 'framemd5', '-'], (err, out) => {
      if (err) return reject(err);
      resolve(out.split('\n').filter((l) => l && !l.startsWith('#')).map((l) => l.split(',').slice(3).join(',').trim()));
    });
  });
}

test('encoder › audioFrom: AAC copied packet for packet; PCM (which mp4 cannot hold) re-encoded to AAC', async (t) => {
  t.timeout(180_000);
  const dir = tmpDir('segflow-audio-');
  const aac = await testClip(path.join(dir, 'aac.mp4'), { frames: 20, audio: true });
  const pcm = path.join(dir, 'pcm.mkv');
  await new Promise<void>((resolve, reject) => execFile(ffmpegPaths().ffmpeg, ['-v', 'error', '-i', aac, '-c:v', 'copy', '-c:a', 'pcm_s16le', pcm], (e) => (e ? reject(e) : resolve())));
  const graph = path.join(dir, 'g.yaml');
  writeFileSync(graph, `version: 1
vars: { input: in.mp4, out: out.mp4 }
nodes:
  decode: { type: decoder, options: { path: "\${input}" } }
  video:  { type: encoder, options: { path: "\${out}", audioFrom: "\${input}", preset: ultrafast }, in: { frame: decode.frame } }
`);
  for (const [input, codec] of [[aac, 'aac'], [pcm, 'aac']] as const) {
    const out = path.join(dir, `${path.basename(input)}.out.mp4`);
    const r = await segflow(['run', graph, '--var', `input=${input}`, '--var', `out=${out}`]);
    t.is(r.code, 0, r.stderr);
    const s = await streams(out);
    t.deepEqual(s.map((x) => `${x.codec_type}:${x.codec_name}`), ['video:h264', `audio:${codec}`], path.basename(input));
    t.is((await videoFacts(out)).frames, 20);
    if (input === aac) t.deepEqual(await audioPackets(out), await audioPackets(aac), 'the same packets: not re-encoded');
  }
});

const frame = (seq: number, w = 64, h = 48): Frame => ({
  kind: 'frame', source: 'cam', seq, ptsMs: seq * 40, width: w, height: h, data: Uint8Array.from({ length: w * h * 3 }, (_, i) => (i + seq * 9) & 255),
});

test('encoder › frames in, an H.264 mp4 out: every frame, their size, the rate of their timestamps (40 ms → 25 fps)', async (t) => {
  const file = path.join(tmpDir('segflow-encoder-'), 'out.mp4');
  const done = await lastValueFrom(from(Array.from({ length: 10 }, (_, i) => frame(i))).pipe(encode({ path: file, preset: 'ultrafast' }), toArray()));
  t.deepEqual(done.map((f) => f.seq), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  const v = await videoFacts(file);
  t.deepEqual([v.frames, v.width, v.height, v.codec, v.fps], [10, 64, 48, 'h264', 25]);
});

test('encoder › a frame whose size changes is refused with both sizes; no output under the name', async (t) => {
  const file = path.join(tmpDir('segflow-encoder-'), 'out.mp4');
  await t.throwsAsync(lastValueFrom(from([frame(0), frame(1), frame(2, 32, 48)]).pipe(encode({ path: file, preset: 'ultrafast' }))), { message: /frame size changed from 64x48 to 32x48 at seq 2/ });
  t.false(existsSync(file));
});

/**
 * npm run bench [-- --only engines,modes,tfjs] [--out BENCHMARKS.md] [--models NAME|DIR,... (keyframe's models)]
 *
 * Everything measured side by side in one run on this machine and written to
 * BENCHMARKS.md (and printed):
 *  - engines: per-frame latency of the default model, ONNX Runtime and TF.js, at 360x480 and 540x960;
 *  - keyframe: key-frame latency (whole network + fuser refinement, without and with the key-frame
 *    TTA) of every model under models/, on both engines, at 360x480 and the offline job's 272x480;
 *  - modes: per-frame vs the cross-frame reuse modes on the real clip at full 540x960 —
 *    end-to-end fps with the overlay mp4 written, segment latency p50/p99, mIoU (mean and worst
 *    cycle position) on the val-built evaluation sequences, temporal consistency on the clip;
 *  - tfjs: the same graph on the TF.js engine at 256x512 segmentation resolution;
 *  - job: `segflow process` with the default graph and every output, its per-frame mode, the same without key-frame TTA, an
 *    ffmpeg-only floor and the PyTorch per-frame script (bench/pytorch_baseline.py, when
 *    /usr/bin/python3 has torch) at the graph's segmentation size, overlay size and encoder
 *    settings, on the real clip and a 1080p version of it (needs /usr/bin/time);
 *  - decomposed: the default graph as it ships (keyframe-scheduler → two-branch-segmenter →
 *    label-propagation in one executor) against the same job with one monolithic segmenter, run
 *    interleaved; and the ConvLSTM against the ConvGRU temporal fuser on the video evaluation.
 * Needs ../shared/data (the clip and CamVid val); says so and stops when absent.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { registry } from '../nodes/index.ts';
import { loadModel, type Model } from '../src/segmentation/engine/model.ts';
import { motionSequences, runMode, scoreSequences, temporalConsistency, valSequence, type Mode, type SeqFrame } from '../src/apps/eval/video.ts';
import { ffmpegPaths } from '../src/media/ffmpeg.ts';
import { fitLongSide } from '../src/kernels/image.ts';
import { AUTO_TTA, parseTta, TTA_OFF } from '../src/segmentation/engine/tta.ts';
import { loadGraphFile, parseGraph } from '../src/core/graph/loader.ts';
import { runGraph } from '../src/core/graph/runner.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SHARED = path.resolve(ROOT, '..', 'shared', 'data');
const CLIP = path.join(SHARED, 'video', 'solidWhiteRight.mp4');
const CAMVID = path.join(SHARED, 'camvid');

const { values } = parseArgs({ options: { only: { type: 'string' }, out: { type: 'string' }, frames: { type: 'string' }, models: { type: 'string' } } });
const only = new Set((values.only ?? 'engines,keyframe,modes,tfjs,pytorch,zmq,job,decomposed').split(','));
for (const p of [CLIP, CAMVID]) {
  if (!existsSync(p)) {
    console.error(`bench: ${p} is absent; the benchmarks need ../shared/data next to the repository`);
    process.exit(2);
  }
}

const pct = (xs: number[], p: number) => {
  const a = [...xs].sort((x, y) => x - y);
  return a[Math.min(a.length - 1, Math.floor((p / 100) * a.length))] ?? NaN;
};
const f1 = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : '–');
const sections: string[] = [];
const log = (s: string) => process.stderr.write(s + '\n');

async function timeSegment(m: Model, h: number, w: number, reuseDeep: boolean, n = 15, fuse = false, refine = false): Promise<number[]> {
  const rgb = new Uint8Array(w * h * 3);
  for (let i = 0; i < rgb.length; i++) rgb[i] = (i * 2654435761) >>> 24;
  const ts: number[] = [];
  for (let i = 0; i < n + 3; i++) {
    const t0 = performance.now();
    await m.segment(rgb, w, h, { reuseDeep: reuseDeep && i > 0, fuse, refine });
    if (i >= 3) ts.push(performance.now() - t0);
  }
  return ts;
}

if (only.has('engines')) {
  const rows = ['| engine | backend | size (HxW) | full network p50 / p99 ms | full network + fuser refinement (key frames, default) p50 / p99 ms | shallow branch + reused deep p50 / p99 ms | shallow branch + temporal fuser p50 / p99 ms |', '|---|---|---|---|---|---|---|'];
  for (const engine of ['onnx', 'tfjs'] as const) {
    const threadsList = engine === 'onnx' ? [1, 2] : [1];
    for (const threads of threadsList) {
      const m = await loadModel({ engine, threads });
      for (const [h, w] of [[360, 480], [540, 960]] as const) {
        const full = await timeSegment(m, h, w, false);
        const refined = m.hasFuser ? await timeSegment(m, h, w, false, 15, false, true) : [];
        const shallow = await timeSegment(m, h, w, true);
        const fused = m.hasFuser ? await timeSegment(m, h, w, true, 15, true) : [];
        rows.push(`| ${engine}${engine === 'onnx' ? ` (${threads} thread${threads > 1 ? 's' : ''})` : ''} | ${m.engine.backend} | ${h}x${w} | ${f1(pct(full, 50))} / ${f1(pct(full, 99))} | ${f1(pct(refined, 50))} / ${f1(pct(refined, 99))} | ${f1(pct(shallow, 50))} / ${f1(pct(shallow, 99))} | ${f1(pct(fused, 50))} / ${f1(pct(fused, 99))} |`);
        log(rows[rows.length - 1]!);
      }
      await m.dispose();
    }
  }
  sections.push(`## Engines: per-frame latency of the default model\n\n\`model.segment()\` on one frame: normalise, network, bilinear upsample to the frame size, argmax. 15 runs after 3 warm-up.\n\n${rows.join('\n')}`);
}

if (only.has('keyframe')) {
  // Key frames only: the network on a fresh frame (no reuse), refined by the model's fuser, as the
  // segmenter runs them; with no TTA and with the offline job's key-frame TTA (AUTO_TTA). Every model
  // under models/ (the default and the fast preset), both engines; settings interleaved per model.
  const { readdirSync } = await import('node:fs');
  // --models a,b: model names or folders (a candidate not under models/); default every model under models/
  const names = values.models ? values.models.split(',') : readdirSync(path.join(ROOT, 'models')).filter((d) => existsSync(path.join(ROOT, 'models', d, 'manifest.json'))).sort();
  const rows = ['| model | GMACs at 360x480 | engine | size (HxW) | key frame, no TTA: p50 / p99 ms | key frame, TTA ' + AUTO_TTA + ': p50 / p99 ms |', '|---|---|---|---|---|---|'];
  const tta = parseTta(AUTO_TTA);
  for (const name of names) {
    for (const engine of ['onnx', 'tfjs'] as const) {
      const m = await loadModel({ model: name, engine, threads: engine === 'onnx' ? 2 : 1 });
      const n = engine === 'onnx' ? 15 : 5;
      for (const [h, w] of [[360, 480], [272, 480]] as const) {
        const rgb = new Uint8Array(w * h * 3);
        for (let i = 0; i < rgb.length; i++) rgb[i] = (i * 2654435761) >>> 24;
        const off: number[] = [];
        const on: number[] = [];
        for (let i = 0; i < n + 2; i++) {
          for (const [spec, into] of [[TTA_OFF, off], [tta, on]] as const) {
            const t0 = performance.now();
            await m.segment(rgb, w, h, { refine: true, tta: spec });
            if (i >= 2) into.push(performance.now() - t0);
          }
        }
        const gmacs = (m.manifest.macs?.['360x480'] ?? NaN) / 1e9;
        rows.push(`| ${m.manifest.name} | ${gmacs.toFixed(2)} | ${engine}${engine === 'onnx' ? ' (2 threads)' : ` (${m.engine.backend}, 1 thread)`} | ${h}x${w} | ${f1(pct(off, 50))} / ${f1(pct(off, 99))} | ${f1(pct(on, 50))} / ${f1(pct(on, 99))} |`);
        log(rows[rows.length - 1]!);
      }
      await m.dispose();
    }
  }
  sections.push(`## Key-frame latency of each model

\`model.segment()\` on a fresh frame (the whole network, refined by the model's temporal fuser, bilinear upsample and argmax): without TTA and with the offline job's key-frame TTA (\`${AUTO_TTA}\`); ONNX 15 runs, TF.js 5, after 2 warm-up, the two settings interleaved. 272x480 is the offline job's key-frame size on a 16:9 video.\n\n${rows.join('\n')}`);
}

const MODES: Mode[] = [
  { name: 'per-frame', keyframeIntervalFrames: 1 },
  { name: 'per-frame, network alone (refine: false)', keyframeIntervalFrames: 1, refine: false },
  { name: 'shallow, key every 2', keyframeIntervalFrames: 2, nonKeyFrames: 'shallow' },
  { name: 'shallow, key every 4', keyframeIntervalFrames: 4, nonKeyFrames: 'shallow' },
  { name: 'propagate, key every 3', keyframeIntervalFrames: 3, nonKeyFrames: 'propagate' },
  { name: 'propagate, key every 5', keyframeIntervalFrames: 5, nonKeyFrames: 'propagate' },
  { name: 'propagate, adaptive (≤10, change > 12)', keyframeIntervalFrames: 10, keyframeChangeThreshold: 12, nonKeyFrames: 'propagate' },
  { name: 'fuse (ConvGRU), key every 5', keyframeIntervalFrames: 5, nonKeyFrames: 'fuse' },
  { name: 'fuse (ConvGRU), key every 10', keyframeIntervalFrames: 10, nonKeyFrames: 'fuse' },
];

function e2eGraph(input: string, out: string, mode: Mode, engine: string, inW = 0, inH = 0, thread = true): string {
  return `version: 1
maxInFlight: 8
nodes:
  decode:  { type: decoder, options: { path: "${input}" } }
  segment: { type: two-branch-segmenter, options: { engine: ${engine}, inputWidth: ${inW}, inputHeight: ${inH}, keyframeIntervalFrames: ${mode.keyframeIntervalFrames}, keyframeChangeThreshold: ${mode.keyframeChangeThreshold ?? 0}, nonKeyFrames: ${mode.nonKeyFrames ?? 'shallow'}, refine: ${mode.refine ?? true}, thread: ${thread} }, in: { frame: decode.frame } }
  overlay: { type: overlay, options: { alpha: 0.45 }, in: { frame: decode.frame, labels: segment.labels } }
  video:   { type: encoder, options: { path: "${out}", preset: ultrafast, overwrite: true }, in: { frame: overlay.frame } }
`;
}

async function e2e(mode: Mode, engine: string, inW = 0, inH = 0, thread = true) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'segflow-bench-'));
  const def = parseGraph(e2eGraph(CLIP, path.join(dir, 'o.mp4'), mode, engine, inW, inH, thread), 'bench.yaml', registry);
  let frames = 0;
  let first = 0;
  const t0 = performance.now();
  const r = await runGraph(def, { log: () => {}, onDone: () => { if (frames++ === 0) first = performance.now(); } });
  const t1 = performance.now();
  const secs = (t1 - t0) / 1000;
  const seg = r.metrics.nodes.get('segment')!;
  rmSync(dir, { recursive: true, force: true });
  // steady: from the first finished frame to the last (start-up — probing, loading the model — excluded)
  return { fps: frames / secs, steady: (frames - 1) / ((t1 - first) / 1000), startMs: first - t0, frames, p50: seg.percentile(50), p99: seg.percentile(99) };
}

/** The clip decoded once into memory (for TC). */
function decodeClip(maxFrames: number): SeqFrame[] {
  const { ffmpeg } = ffmpegPaths();
  const buf = execFileSync(ffmpeg, ['-v', 'error', '-i', CLIP, '-an', '-frames:v', String(maxFrames), '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1'], { maxBuffer: 1 << 30 });
  const w = 960, h = 540, n = Math.floor(buf.length / (w * h * 3));
  return Array.from({ length: n }, (_, i) => ({ rgb: new Uint8Array(buf.buffer, buf.byteOffset + i * w * h * 3, w * h * 3), labels: new Uint8Array(0), width: w, height: h }));
}

if (only.has('modes')) {
  const model = await loadModel({ engine: 'onnx' });
  const classes = model.manifest.classes.length;
  log('loading evaluation sequences from CamVid val ...');
  const val = await valSequence(CAMVID);
  const motion = await motionSequences(CAMVID, 8, 10);
  const clip = decodeClip(Number(values.frames ?? 221));
  const rows = ['| mode | e2e fps (540x960, overlay mp4) | steady fps (start-up excluded) | segment p50 / p99 ms | paths full/shallow/fused/propagated (clip) | val 15 Hz mIoU mean / worst | motion-seq mIoU mean / worst | TC on clip |', '|---|---|---|---|---|---|---|---|'];
  let base = 0;
  const jsThread: string[] = [];
  for (const mode of MODES) {
    if (mode.nonKeyFrames === 'fuse' && !model.hasFuser) {
      log(`${mode.name}: skipped, the model has no temporal fuser`);
      continue;
    }
    const seqRuns = [{ run: await runMode(model, mode, val), frames: val }];
    const vs = scoreSequences(seqRuns, classes);
    const motionRuns = [];
    for (const s of motion) motionRuns.push({ run: await runMode(model, mode, s), frames: s });
    const ms = scoreSequences(motionRuns, classes);
    const clipRun = await runMode(model, mode, clip);
    const tc = temporalConsistency(clip, clipRun.predictions, classes);
    const e = await e2e(mode, 'onnx');
    if (mode.keyframeIntervalFrames === 1 && mode.refine !== false) base = e.fps;
    const p = clipRun.paths;
    rows.push(`| ${mode.name} | ${f1(e.fps)}${base && mode.keyframeIntervalFrames > 1 ? ` (${(e.fps / base).toFixed(2)}x)` : ''} | ${f1(e.steady)} (first frame after ${e.startMs.toFixed(0)} ms) | ${f1(e.p50)} / ${f1(e.p99)} | ${p.full}/${p.shallow}/${p.fused}/${p.propagated} | ${f1(vs.miou)} / ${f1(vs.worst)} | ${f1(ms.miou)} / ${f1(ms.worst)} | ${f1(tc)} |`);
    log(rows[rows.length - 1]!);
    if (mode.keyframeIntervalFrames === 1 || mode.keyframeChangeThreshold) {
      const j = await e2e(mode, 'onnx', 0, 0, false);
      jsThread.push(`| ${mode.name} | ${f1(j.fps)} | ${f1(e.fps)} |`);
      log(jsThread[jsThread.length - 1]!);
    }
  }
  await model.dispose();
  sections.push(`## Cross-frame reuse modes (ONNX Runtime, 2 threads)\n\n- **e2e fps**: \`solidWhiteRight.mp4\` (960x540, 221 frames) decoded, segmented at full 540x960, overlaid and encoded to H.264 (ultrafast) — the whole graph, wall clock from opening the graph to the last frame written; **steady fps** leaves out the start-up (probing the file, starting the model's thread and ffmpeg) by counting from the first frame written.\n- **segment p50/p99**: per-frame latency of the segmenter node in that run (key frames are the p99).\n- **mIoU**: CamVid val only — the 15 Hz val sub-sequence (${val.length} frames, in order) and ${motion.length} sequences of 10 frames made from val stills by forward zoom, pan and small rotation, labels warped identically; mean over all frames and at the worst position in the key-frame cycle.\n- **TC**: temporal consistency on the real clip (mIoU of prediction t vs prediction t+1 warped back by block-matching motion — the same motion the propagate path uses, which favours it).\n- The segmenter runs in a worker thread (its default). The same graph with \`thread: false\` (network, block matching and warping on the JS thread, which also decodes, blends and encodes):\n\n| mode | e2e fps, JS thread | e2e fps, worker thread |\n|---|---|---|\n${jsThread.join('\n')}\n\n${rows.join('\n')}`);
}

if (only.has('tfjs')) {
  const rows = ['| mode | e2e fps (segmentation 256x512, overlay mp4 at 960x540) | steady fps | segment p50 / p99 ms |', '|---|---|---|---|'];
  const m = await loadModel({ engine: 'tfjs' });
  const fuser = m.hasFuser;
  await m.dispose();
  for (const mode of MODES.filter((x) => ['per-frame', 'shallow, key every 4', 'propagate, key every 5', 'propagate, adaptive (≤10, change > 12)'].includes(x.name) || (fuser && x.name === 'fuse (ConvGRU), key every 5'))) {
    const e = await e2e(mode, 'tfjs', 512, 256);
    rows.push(`| ${mode.name} | ${f1(e.fps)} | ${f1(e.steady)} | ${f1(e.p50)} / ${f1(e.p99)} |`);
    log(rows[rows.length - 1]!);
  }
  sections.push(`## TF.js engine (tfjs-backend-wasm, 1 thread)\n\nSame graph and clip; the segmenter runs at 256x512 and its labels are upsampled to 540x960.\n\n${rows.join('\n')}`);
}

if (only.has('pytorch')) {
  // The comparison the issue names: a per-frame PyTorch script on the same clip (needs Debian's python3-torch).
  try {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'segflow-pt-'));
    const r = JSON.parse(execFileSync('/usr/bin/python3', [path.join(ROOT, 'bench', 'pytorch_baseline.py'), CLIP, path.join(dir, 'o.mp4')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim().split('\n').pop()!);
    rmSync(dir, { recursive: true, force: true });
    sections.push(`## Baseline: per-frame PyTorch script\n\n\`bench/pytorch_baseline.py\`: ffmpeg pipe → Fast-SCNN (same architecture, PyTorch ${'1.13'} CPU, 2 threads) at 540x960 → overlay → libx264 ultrafast, on the same clip: **${r.fps} fps** (${r.frames} frames in ${r.seconds} s).`);
    log(`pytorch baseline: ${r.fps} fps`);
  } catch (e) {
    log(`pytorch baseline skipped: ${(e as Error).message.split('\n')[0]} (needs /usr/bin/python3 with torch: apt-get install python3-torch)`);
  }
}

if (only.has('zmq')) {
  // Scale-out over ZeroMQ (src/zmq): the offline job with 1 and 2 worker processes, and the cost of one hop.
  const { spawn } = await import('node:child_process');
  const { readFileSync } = await import('node:fs');
  const zmq = await import('zeromq');
  const wire = await import('../src/codecs/zmq-wire.ts');
  const BIN = path.join(ROOT, 'bin', 'segflow.js');
  const cli = (args: string[]) => spawn(process.execPath, [BIN, ...args], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
  const exited = (c: ReturnType<typeof cli>) => new Promise<number | null>((r) => c.on('exit', (code) => r(code)));
  const CHUNK = 30;
  async function processRun(workers: number, sets: string[]) {
    const out = mkdtempSync(path.join(os.tmpdir(), 'segflow-bench-zmq-'));
    const d = cli(['process', CLIP, '--out', out, '--chunk-frames', String(CHUNK), ...sets, ...(workers ? ['--dispatch', 'tcp://127.0.0.1:0'] : [])]);
    let err = '';
    const endpoint = new Promise<string>((resolve) => d.stderr!.on('data', (b: Buffer) => {
      err += b.toString();
      const m = /listening on (tcp:\/\/\S+?);/.exec(err);
      if (m) resolve(m[1]!);
    }));
    const code = exited(d);
    const ws = [];
    if (workers) {
      const at = await endpoint;
      for (let i = 0; i < workers; i++) ws.push(cli(['worker', '--connect', at]));
    }
    if ((await code) !== 0) throw new Error(`bench zmq: process exited ${await code}: ${err.slice(-500)}`);
    for (const w of ws) w.kill('SIGTERM');
    await Promise.all(ws.map(exited));
    const s = JSON.parse(readFileSync(path.join(out, 'summary.json'), 'utf8'));
    rmSync(out, { recursive: true, force: true });
    return { fps: s.files[0].fps as number, frames: s.files[0].frames as number };
  }
  const rows = ['| setup (2 cores) | fps |', '|---|---|'];
  const runs: [string, number, string[]][] = [
    ['single process (`process --chunk-frames 30`), ONNX Runtime 2 threads', 0, []],
    ['dispatcher + 1 worker process, 2 threads', 1, []],
    ['dispatcher + 2 worker processes, 2 threads each', 2, []],
    ['dispatcher + 2 worker processes, 1 thread each', 2, ['--set', 'segment.threads=1']],
  ];
  for (const [name, workers, sets] of runs) {
    const r = await processRun(workers, sets);
    rows.push(`| ${name} | ${f1(r.fps)} |`);
    log(rows[rows.length - 1]!);
  }

  // One hop: a 480x272 frame out, its labels back, over tcp://127.0.0.1 (both ends in this process,
  // so the time includes encoding and decoding on both sides).
  const w = 480, h = 272;
  const data = new Uint8Array(w * h * 3);
  for (let i = 0; i < data.length; i++) data[i] = (i * 2654435761) >>> 24;
  const classes = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) classes.fill(y < h / 3 ? 0 : y < h / 2 ? 1 : 3, y * w, (y + 1) * w); // sky / building / road bands
  for (let y = Math.floor(h / 2); y < h; y++) classes.fill(8, y * w + 100, y * w + 160); // a car
  const router = new zmq.Router({ linger: 0 });
  await router.bind('tcp://127.0.0.1:*');
  const dealer = new zmq.Dealer({ linger: 0 });
  dealer.connect(router.lastEndpoint!);
  const echo = (async () => {
    for await (const [id, fh, fp] of router) {
      const f = wire.decodePacket(fh!, fp) as import('../src/core/packet.ts').Frame;
      const labels: import('../src/core/packet.ts').Labels = { kind: 'labels', source: f.source, seq: f.seq, ptsMs: f.ptsMs, width: f.width, height: f.height, classes, classNames: Array.from({ length: 11 }, (_, i) => `class${i}`), palette: Array.from({ length: 11 }, (_, i) => [i, i, i] as [number, number, number]), path: 'full' };
      await router.send([id!, ...wire.encodePacket(labels)]);
    }
  })().catch(() => {});
  const ts: number[] = [];
  let bytesOut = 0, bytesBack = 0;
  for (let i = 0; i < 220; i++) {
    const t0 = performance.now();
    const out = wire.encodePacket({ kind: 'frame', source: 'decode', seq: i, ptsMs: i * 40, width: w, height: h, data });
    await dealer.send(out);
    const [lh, lp] = await dealer.receive();
    wire.decodePacket(lh!, lp);
    if (i >= 20) ts.push(performance.now() - t0);
    bytesOut = out[0].length + out[1].length;
    bytesBack = lh!.length + lp!.length;
  }
  dealer.close();
  router.close();
  await echo;
  sections.push(`## Scale-out over ZeroMQ\n\n\`segflow process solidWhiteRight.mp4 --chunk-frames ${CHUNK}\` (the default graph: 960x540 decode, segmentation at 480x272, overlay mp4, label PNGs, statistics), alone and as \`--dispatch tcp://127.0.0.1:0\` with \`segflow worker\` processes on the same machine; fps = frames / the file's processing time from summary.json (model loading included). The dispatcher itself decodes, downsamples, overlays and encodes, so on 2 cores it competes with its workers.\n\n${rows.join('\n')}\n\nOne ZeroMQ hop, per frame: a ${w}x${h} RGB24 frame message (${(bytesOut / 1024).toFixed(0)} KiB) sent over tcp://127.0.0.1 and its labels message (${bytesBack} bytes, RLE) sent back, encode and decode included, both ends in one process: **${pct(ts, 50).toFixed(2)} ms** median, ${pct(ts, 99).toFixed(2)} ms p99 (${ts.length} round trips).`);
  log(`zmq hop: p50 ${pct(ts, 50).toFixed(2)} ms, p99 ${pct(ts, 99).toFixed(2)} ms`);
}

if (only.has('job')) {
  // The job a user runs — `segflow process` with the default graph and every output (overlay mp4 with
  // the input's audio, label PNGs at the video's size with classes.json, statistics JSON and CSVs) —
  // beside the same in per-frame mode and an ffmpeg-only floor: decode → raw RGB pipe → libx264 with
  // the encoder's settings, writing the same overlay size. On the real clip and on a 1080p version of
  // it (made here with ffmpeg). CPU time is the processes' user + system (/usr/bin/time), so the
  // rows compare work as well as speed on a shared machine.
  const { ffmpeg } = ffmpegPaths();
  // The default graph's sizes and encoder settings, read from the graph itself: the floor and the
  // PyTorch script use the same overlay size, segmentation size and x264 preset and CRF.
  const jobGraph = loadGraphFile(path.join(ROOT, 'graphs', 'dashcam-offline.yaml'), registry, { vars: { input: CLIP, out: os.tmpdir() } });
  const opt = (node: string, key: string) => (jobGraph.nodes.find((n) => n.name === node)!.options as Record<string, unknown>)[key];
  const JOB_PRESET = String(opt('video', 'preset')), JOB_CRF = Number(opt('video', 'crf'));
  const MAX_SIDE = Number(opt('decode', 'maxSidePx')), LONG_SIDE = Number(opt('small', 'longSidePx'));
  const overlaySize = (w: number, h: number) => (MAX_SIDE > 0 && Math.max(w, h) > MAX_SIDE ? fitLongSide(w, h, MAX_SIDE) : { width: w, height: h });
  const segSize = (w: number, h: number) => {
    const f = overlaySize(w, h);
    return fitLongSide(f.width, f.height, LONG_SIDE);
  };
  const dir = mkdtempSync(path.join(os.tmpdir(), 'segflow-bench-job-'));
  // --frames N: every row on the clip's first N frames (a stream copy), for a quick run on a busy machine.
  const frames = Math.min(221, Number(values.frames ?? 221));
  const clip = frames < 221 ? path.join(dir, `clip-${frames}.mp4`) : CLIP;
  if (clip !== CLIP) execFileSync(ffmpeg, ['-v', 'error', '-i', CLIP, '-frames:v', String(frames), '-c', 'copy', '-y', clip]);
  const clip1080 = path.join(dir, 'clip1080.mp4');
  execFileSync(ffmpeg, ['-v', 'error', '-i', clip, '-vf', 'scale=1920:1080', '-c:v', 'libx264', '-preset', 'fast', '-crf', '18', '-c:a', 'copy', '-y', clip1080]);
  const BIN = path.join(ROOT, 'bin', 'segflow.js');
  const timed = (cmd: string): { wall: number; cpu: number } => {
    const t0 = performance.now();
    const r = spawnSync('/usr/bin/time', ['-f', 'cpu %U %S', 'sh', '-c', cmd], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'], maxBuffer: 1 << 26 });
    const wall = (performance.now() - t0) / 1000;
    const err = r.stderr.toString();
    if (r.status !== 0) throw new Error(`bench job: ${cmd} exited ${r.status}: ${err.slice(-500)}`);
    const m = /cpu ([\d.]+) ([\d.]+)\s*$/.exec(err);
    return { wall, cpu: m ? Number(m[1]) + Number(m[2]) : NaN };
  };
  const sh = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const job = (input: string, sets: string[]) => {
    const out = path.join(dir, 'out');
    rmSync(out, { recursive: true, force: true });
    const r = timed(`${sh(process.execPath)} ${sh(BIN)} process ${sh(input)} --out ${sh(out)} ${sets.map(sh).join(' ')}`);
    rmSync(out, { recursive: true, force: true });
    return r;
  };
  // The floor: the same decode size and encoder settings as the graph's (decoder maxSidePx, encoder preset/crf).
  // A downscaled decode uses the decoder's scaler (`area`, nodes/decoder.ts) here too.
  // `pix`: the pipe's pixel format — rgb24 (the issue's floor) or yuv420p (the default graph's own: decode.pixelFormat).
  const floor = (input: string, w: number, h: number, scaled = false, pix = 'rgb24') => timed(`${sh(ffmpeg)} -v error -i ${sh(input)} -an -vf scale=${w}:${h}${scaled ? ':flags=area' : ''} -f rawvideo -pix_fmt ${pix} pipe:1 | ${sh(ffmpeg)} -v error -f rawvideo -pix_fmt ${pix} -s ${w}x${h} -r 25 -i pipe:0 -c:v libx264 -preset ${JOB_PRESET} -crf ${JOB_CRF} -pix_fmt yuv420p -y ${sh(path.join(dir, 'floor.mp4'))}`);
  // The per-frame PyTorch script (Debian's python3-torch) at the job's segmentation and overlay sizes
  // and encoder settings; it writes the overlay only (no label maps or statistics: the job does more).
  const pytorch = (input: string, vw: number, vh: number) => {
    const seg = segSize(vw, vh), fr = overlaySize(vw, vh);
    const out = path.join(dir, 'pt.mp4');
    // OMP_WAIT_POLICY=PASSIVE: PyTorch's OpenMP threads sleep instead of spinning at barriers, as ONNX
    // Runtime's do here (allow_spinning 0): spinning doubles its CPU and stalls it on a shared machine.
    const r = timed(`OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 ${sh(path.join(ROOT, 'bench', 'pytorch_baseline.py'))} ${sh(input)} ${sh(out)} ${seg.height}x${seg.width} ${fr.height}x${fr.width} ${JOB_PRESET} ${JOB_CRF}${fr.width !== vw || fr.height !== vh ? ' area' : ''}`);
    rmSync(out, { force: true });
    return { ...r, seg, fr };
  };
  const hasTorch = spawnSync('/usr/bin/python3', ['-c', 'import torch'], { stdio: 'ignore' }).status === 0;
  if (!hasTorch) log('bench job: the PyTorch row is left out (needs /usr/bin/python3 with torch: apt-get install python3-torch)');
  const rows = ['| input | run | fps (frames / wall s) | CPU ms / frame | CPU ms / frame after start-up | vs the floor (fps ratio) |', '|---|---|---|---|---|---|'];
  for (const [name, input, vw, vh] of [['960x540 (the real clip)', clip, 960, 540], ['1920x1080 (the clip scaled up)', clip1080, 1920, 1080]] as const) {
    const { width: w, height: h } = overlaySize(vw, vh);
    const first = rows.length;
    // Start-up: the same job on the clip's first 2 frames (CPU spent before and after the frames).
    const two = path.join(dir, `two-${w}-${path.basename(input)}`);
    execFileSync(ffmpeg, ['-v', 'error', '-i', input, '-frames:v', '2', '-c', 'copy', '-y', two]);
    // Interleaved (floor, job, PyTorch, per-frame, floor again) so that a change in the machine's load hits every row alike.
    const scaled = w !== vw || h !== vh;
    const f1r = floor(input, w, h, scaled);
    const y1r = floor(input, w, h, scaled, 'yuv420p');
    const d = job(input, []);
    const pt = hasTorch ? pytorch(input, vw, vh) : undefined;
    const pf = job(input, ['--set', 'keys.keyframeIntervalFrames=1']);
    // The default spends part of what reuse saves on key-frame TTA (issue 13); the same job without it
    // shows what reuse alone buys against the per-frame mode (which resolves `auto` to off).
    const noTta = job(input, ['--set', 'segment.tta=off']);
    // Per-frame at the key frames' quality: the network with the default's key-frame TTA on every frame, i.e.
    // what the default's labels would cost without reuse (the plain per-frame mode above runs a cheaper network pass).
    const pfTta = job(input, ['--set', 'keys.keyframeIntervalFrames=1', '--set', `segment.tta=${AUTO_TTA}`]);
    const f2r = floor(input, w, h, scaled);
    const y2r = floor(input, w, h, scaled, 'yuv420p');
    const start = job(two, []);
    const fl = { wall: (f1r.wall + f2r.wall) / 2, cpu: (f1r.cpu + f2r.cpu) / 2 };
    const yfl = { wall: (y1r.wall + y2r.wall) / 2, cpu: (y1r.cpu + y2r.cpu) / 2 };
    const after = (r: { cpu: number }) => f1(((r.cpu - start.cpu) * 1000) / (frames - 2));
    const row = (run: string, r: { wall: number; cpu: number }, steady = after(r)) => `| ${name} | ${run} | ${f1(frames / r.wall)} | ${f1((r.cpu * 1000) / frames)} | ${steady} | ${(fl.wall / r.wall).toFixed(2)}x |`;
    rows.push(row(`ffmpeg-only floor: decode → RGB pipe (${w}x${h}) → x264 ${JOB_PRESET} crf ${JOB_CRF} (mean of 2)`, fl, ''));
    rows.push(row(`ffmpeg-only floor with the job's own pipe format: decode → yuv420p pipe (${w}x${h}) → the same x264 (mean of 2)`, yfl, ''));
    rows.push(row('`segflow process` default graph, every output (adaptive key frames + propagation)', d));
    rows.push(`| ${name} | default job ÷ the yuv420p floor | ${(yfl.wall / d.wall).toFixed(2)}x (fps ratio) | ${(d.cpu / yfl.cpu).toFixed(2)}x the floor's CPU | | |`);
    rows.push(row('the same, per-frame mode (`--set keys.keyframeIntervalFrames=1`)', pf));
    rows.push(`| ${name} | default job ÷ its per-frame mode | ${(pf.wall / d.wall).toFixed(2)}x | ${(pf.cpu / d.cpu).toFixed(2)}x less CPU | | |`);
    rows.push(row('the default job without key-frame TTA (`--set segment.tta=off`)', noTta));
    rows.push(`| ${name} | the same ÷ the per-frame mode | ${(pf.wall / noTta.wall).toFixed(2)}x | ${(pf.cpu / noTta.cpu).toFixed(2)}x less CPU | | |`);
    rows.push(row(`per-frame at the key frames' quality (\`--set keys.keyframeIntervalFrames=1 --set segment.tta=${AUTO_TTA}\`)`, pfTta));
    rows.push(`| ${name} | default job ÷ per-frame at the key frames' quality | ${(pfTta.wall / d.wall).toFixed(2)}x | ${(pfTta.cpu / d.cpu).toFixed(2)}x less CPU | | |`);
    rows.push(`| ${name} | start-up: the default job on the first 2 frames | | ${f1(start.cpu * 1000)} in all (${f1(start.wall * 1000)} ms wall) | | |`);
    if (pt) {
      rows.push(row(`PyTorch per-frame script (bench/pytorch_baseline.py: Fast-SCNN at ${pt.seg.width}x${pt.seg.height}, overlay ${pt.fr.width}x${pt.fr.height}, x264 ${JOB_PRESET} crf ${JOB_CRF}; overlay only, no label maps or statistics)`, pt, ''));
      rows.push(`| ${name} | default job ÷ the PyTorch script | ${(pt.wall / d.wall).toFixed(2)}x | ${(pt.cpu / d.cpu).toFixed(2)}x less CPU | | |`);
    }
    if (input === clip1080) {
      const full = job(input, ['--set', 'decode.maxSidePx=0']);
      const ff = floor(input, 1920, 1080);
      rows.push(`| ${name} | full-size overlay (\`--set decode.maxSidePx=0\`) | ${f1(frames / full.wall)} | ${f1((full.cpu * 1000) / frames)} | ${after(full)} | ${(ff.wall / full.wall).toFixed(2)}x of a 1920x1080 floor (${f1(frames / ff.wall)} fps, ${f1((ff.cpu * 1000) / frames)} CPU ms / frame) |`);
    }
    for (const r of rows.slice(first)) log(r);
  }
  // A recording of a few minutes' kind (dashcams write 1–3 minute files): the real clip 4 times over, joined without
  // re-encoding, at 960x540 and at 1920x1080. Start-up is then a small part of the run, so these rows show the
  // ratios a long recording gets.
  for (const [src, vw, vh] of [[clip, 960, 540], [clip1080, 1920, 1080]] as const) {
    const list = path.join(dir, 'four.txt');
    writeFileSync(list, `file ${sh(src)}\n`.repeat(4));
    const four = path.join(dir, `clip-x4-${vw}.mp4`);
    execFileSync(ffmpeg, ['-v', 'error', '-f', 'concat', '-safe', '0', '-i', list, '-c', 'copy', '-y', four]);
    const n = 4 * frames;
    const name = `${vw}x${vh}, the ${vw === 960 ? 'real clip' : '1080p clip'} 4 times over (${n} frames)`;
    const { width: w, height: h } = overlaySize(vw, vh);
    const scaled = w !== vw || h !== vh;
    const fa = floor(four, w, h, scaled);
    const d = job(four, []);
    const pf = job(four, ['--set', 'keys.keyframeIntervalFrames=1']);
    const fb = floor(four, w, h, scaled);
    const fl = (fa.wall + fb.wall) / 2;
    const first = rows.length;
    rows.push(`| ${name} | ffmpeg-only floor (mean of 2) | ${f1(n / fl)} | ${f1(((fa.cpu + fb.cpu) * 500) / n)} | | 1.00x |`);
    for (const [run, r] of [['`segflow process` default graph, every output', d], ['the same, per-frame mode', pf]] as const) {
      rows.push(`| ${name} | ${run} | ${f1(n / r.wall)} | ${f1((r.cpu * 1000) / n)} | | ${(fl / r.wall).toFixed(2)}x |`);
    }
    rows.push(`| ${name} | default job ÷ its per-frame mode | ${(pf.wall / d.wall).toFixed(2)}x | ${(pf.cpu / d.cpu).toFixed(2)}x less CPU | | |`);
    for (const r of rows.slice(first)) log(r);
    rmSync(four, { force: true });
  }
  rmSync(dir, { recursive: true, force: true });
  sections.push(`## The job a user runs\n\n\`segflow process <clip> --out <dir>\` with graphs/dashcam-offline.yaml and every output (overlay mp4 ≤ 960 px with the input's audio and a legend, label PNGs at the video's size with classes.json, statistics JSON + per-frame and per-video CSV), whole run from the command (start-up, model loading included), ${frames} frames; beside the same in per-frame mode, an ffmpeg-only floor that decodes to the same size, pipes raw RGB (the issue's floor; and again with yuv420p, the default graph's own pipe format since session 11) and encodes with the same settings, and the per-frame PyTorch script (bench/pytorch_baseline.py: the same architecture with random weights, 2 threads, OMP_WAIT_POLICY=PASSIVE) at the graph's segmentation size, overlay size and encoder settings, writing the overlay only. Rows of one input ran interleaved; the machine is shared, so the ratios mean more than the fps.\n\n${rows.join('\n')}`);
}

if (only.has('decomposed')) {
  // 1. The default graph as it ships — keyframe-scheduler → two-branch-segmenter → label-propagation, one
  //    executor (worker thread) — against the same job with one monolithic segmenter doing all three in its
  //    own thread (the graph before the split), `segflow process` on the real clip, interleaved (mono, dec,
  //    mono, dec) so the machine's load hits both alike. CPU: the processes' user + system (/usr/bin/time).
  const { readFileSync } = await import('node:fs');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'segflow-bench-dec-'));
  const BIN = path.join(ROOT, 'bin', 'segflow.js');
  const graphText = readFileSync(path.join(ROOT, 'graphs', 'dashcam-offline.yaml'), 'utf8');
  const block = /^ {2}keys: [\s\S]*?(?=^ {2}# The model's labels mapped back)/m;
  if (!block.test(graphText)) throw new Error('bench decomposed: graphs/dashcam-offline.yaml has no keys/segment/carry block to fold');
  const keyOpts = /keyframeIntervalFrames: (\d+), keyframeChangeThreshold: ([\d.]+), nonKeyFrames: (\w+)/.exec(graphText)!;
  const mono = graphText.replace(block, `  segment: { type: two-branch-segmenter,\n             options: { model: fast-scnn-camvid, engine: onnx,\n                        keyframeIntervalFrames: ${keyOpts[1]}, keyframeChangeThreshold: ${keyOpts[2]}, nonKeyFrames: ${keyOpts[3]} },\n             in: { frame: small.frame } }\n`).replaceAll('carry.labels', 'segment.labels');
  const monoFile = path.join(dir, 'dashcam-offline-monolithic.yaml');
  writeFileSync(monoFile, mono);
  const frames = 221;
  const runJob = (graph: string | undefined) => {
    const out = path.join(dir, 'out');
    rmSync(out, { recursive: true, force: true });
    const args = [BIN, 'process', CLIP, '--out', out, ...(graph ? ['--graph', graph] : [])];
    const t0 = performance.now();
    const r = spawnSync('/usr/bin/time', ['-f', 'cpu %U %S', process.execPath, ...args], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'], maxBuffer: 1 << 26 });
    const wall = (performance.now() - t0) / 1000;
    const err = r.stderr.toString();
    if (r.status !== 0) throw new Error(`bench decomposed: process exited ${r.status}: ${err.slice(-500)}`);
    const m = /cpu ([\d.]+) ([\d.]+)\s*$/.exec(err);
    const nodes = JSON.parse(readFileSync(path.join(out, 'summary.json'), 'utf8')).files[0].metrics.nodes as Record<string, { p50Ms: number; p99Ms: number }>;
    return { wall, cpu: m ? Number(m[1]) + Number(m[2]) : NaN, seg: nodes.segment!, carry: nodes.carry };
  };
  const runs: Record<'mono' | 'dec', ReturnType<typeof runJob>[]> = { mono: [], dec: [] };
  for (let i = 0; i < 2; i++) {
    runs.mono.push(runJob(monoFile));
    log(`decomposed bench: monolithic run ${i + 1}: ${f1(frames / runs.mono[i]!.wall)} fps`);
    runs.dec.push(runJob(undefined));
    log(`decomposed bench: decomposed run ${i + 1}: ${f1(frames / runs.dec[i]!.wall)} fps`);
  }
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const rowsJob = ['| graph | fps (frames / wall s, mean of 2) | each run | CPU ms / frame | segment p50 / p99 ms | carry p50 / p99 ms |', '|---|---|---|---|---|---|'];
  const line = (name: string, rs: ReturnType<typeof runJob>[]) => `| ${name} | ${f1(frames / mean(rs.map((r) => r.wall)))} | ${rs.map((r) => f1(frames / r.wall)).join(', ')} | ${f1((mean(rs.map((r) => r.cpu)) * 1000) / frames)} | ${f1(mean(rs.map((r) => r.seg.p50Ms)))} / ${f1(mean(rs.map((r) => r.seg.p99Ms)))} | ${rs[0]!.carry ? `${f1(mean(rs.map((r) => r.carry!.p50Ms)))} / ${f1(mean(rs.map((r) => r.carry!.p99Ms)))}` : '(inside segment)'} |`;
  rowsJob.push(line('monolithic: one two-branch-segmenter (scheduling, network, propagation) in its own thread', runs.mono));
  rowsJob.push(line('decomposed (as shipped): keyframe-scheduler → two-branch-segmenter → label-propagation, one executor', runs.dec));
  const ratio = mean(runs.mono.map((r) => r.wall)) / mean(runs.dec.map((r) => r.wall));
  rowsJob.push(`| decomposed ÷ monolithic | ${ratio.toFixed(2)}x fps | | ${(mean(runs.dec.map((r) => r.cpu)) / mean(runs.mono.map((r) => r.cpu))).toFixed(2)}x CPU | | |`);
  for (const r of rowsJob.slice(2)) log(r);
  rmSync(dir, { recursive: true, force: true });

  // 2. The temporal fuser's cell on the video evaluation: key frames every 5 / 10 frames, the frames
  //    between from the fuser alone (nonKeyFrames fuse; the same labels as keyframe-scheduler →
  //    two-branch-segmenter → temporal-fuser, test/temporal-fuser.test.ts), each cell loaded as shipped
  //    (fuser.onnx, fuser-lstm.onnx). Cost: the cell's parameters and MACs (manifest) and the fused
  //    frames' latency (shallow branch + cell + head + upsample) on the val sequence.
  const val = await valSequence(CAMVID);
  const motion = await motionSequences(CAMVID, 8, 10);
  const rowsCell = ['| fuser cell | key frames | val 15 Hz mIoU mean / worst | motion-seq mIoU mean / worst | fused frame p50 / p99 ms (360x480) | cell params / MMACs at 360x480 |', '|---|---|---|---|---|---|'];
  for (const cell of ['gru', 'lstm'] as const) {
    let model: Model;
    try {
      model = await loadModel({ engine: 'onnx', fuserCell: cell });
    } catch (e) {
      log(`fuser ${cell}: skipped (${(e as Error).message})`);
      continue;
    }
    const info = cell === (model.manifest.fuser?.cell ?? 'gru') && model.manifest.parts.fuser ? model.manifest.fuser : model.manifest.fusers?.[cell];
    const macs = info?.macs ? Object.entries(info.macs).find(([k]) => /360/.test(k))?.[1] : undefined;
    const classes = model.manifest.classes.length;
    for (const every of [5, 10]) {
      const mode: Mode = { name: `fuse ${cell} every ${every}`, keyframeIntervalFrames: every, nonKeyFrames: 'fuse', tta: 'off' };
      const vr = await runMode(model, mode, val);
      const vs = scoreSequences([{ run: vr, frames: val }], classes);
      const mr = [];
      for (const sq of motion) mr.push({ run: await runMode(model, mode, sq), frames: sq });
      const ms = scoreSequences(mr, classes);
      const fusedMs = vr.latenciesMs.filter((_, i) => vr.positions[i]! > 0);
      rowsCell.push(`| ${cell === 'lstm' ? 'ConvLSTM (fuser-lstm.onnx)' : 'ConvGRU (fuser.onnx)'} | every ${every} | ${f1(vs.miou)} / ${f1(vs.worst)} | ${f1(ms.miou)} / ${f1(ms.worst)} | ${f1(pct(fusedMs, 50))} / ${f1(pct(fusedMs, 99))} | ${info ? `${(info.params / 1000).toFixed(0)} k` : '–'} / ${macs !== undefined ? f1(macs / 1e6) : '–'} |`);
      log(rowsCell[rowsCell.length - 1]!);
    }
    await model.dispose();
  }
  sections.push(`## Decomposed graph and the temporal fuser's cell\n\n\`segflow process solidWhiteRight.mp4 --out DIR\` with graphs/dashcam-offline.yaml as it ships (keyframe-scheduler → two-branch-segmenter → label-propagation, the three in one executor: a worker thread that takes the small frames in and gives label maps out) and with the same job written as one monolithic two-branch-segmenter (scheduling, network and propagation inside it, in its own worker thread — the graph before the split); both give the same 221 label PNGs byte for byte. Runs interleaved (monolithic, decomposed, twice); whole runs, start-up included; CPU = user + system of the process and its ffmpeg children. segment p50/p99: the segmenter node's time per frame — in the decomposed graph frames marked for propagation pass it without any network, and carry's time is the propagation.\n\n${rowsJob.join('\n')}\n\nThe temporal fuser on the video evaluation (CamVid val only: the 15 Hz val sequence, ${val.length} frames, and ${motion.length} motion sequences of 10 frames made from val stills; mean over all frames and the worst position in the key-frame cycle). Key frames run the whole network (refined by the cell), the frames between only the shallow branch, the cell and the head; no TTA. models/fast-scnn-camvid/fuser-lstm.* are read as shipped.\n\n${rowsCell.join('\n')}`);
}

const cpu = (() => { try { return execFileSync('sh', ['-c', "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"]).toString().trim(); } catch { return 'unknown'; } })();
const header = `# Benchmarks\n\nMeasured ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC by \`npm run bench\` on ${cpu}, ${os.cpus().length} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, no GPU. One run, side by side; the machine is shared, so expect ±15 %.\n`;
const text = [header, ...sections].join('\n\n') + '\n';
process.stdout.write(text);
if (values.out !== '-') writeFileSync(path.resolve(ROOT, values.out ?? 'BENCHMARKS.md'), text);

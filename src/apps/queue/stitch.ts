/**
 * Stitching: a chunked file's outputs, one folder per range of frames, joined
 * into the file's output folder as one single-process run would have written
 * it.
 *
 * Each sink of the graph is joined by its type:
 * - `encoder`: mp4 segments with ffmpeg's concat demuxer and `-c:v copy` (no
 *   re-encoding; the list is a file we wrote, read with `-protocol_whitelist
 *   file`). Chunks encode video only (the worker clears `audioFrom`); with
 *   `audioFrom`, the input's audio is added here once, for the whole file, as the
 *   encoder adds it (copied, or AAC for codecs an mp4 cannot hold; `-shortest`).
 * - `label-map-sink`: PNGs numbered by frame (hard links, so the chunks stay
 *   intact until the result is renamed into place), the colour masks in
 *   `color/` alike, and each folder's `classes.json` with the file's frame count.
 * - `statistics-sink`: JSON per-frame rows concatenated and the video's shares
 *   weighted by frames; the per-frame CSV written from them; the per-video CSV
 *   with `frames_present` summed over the chunks.
 * Other sinks that write files cannot be stitched: `checkStitchable` refuses
 * them at submit. The result is built in a hidden work folder and committed as
 * `process` commits a file's output (process.ts `commitFolder`: a folder is
 * replaced only when it holds this input's output), so a stitch that dies
 * leaves nothing under the final name and can simply run again.
 */
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, linkSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { audioArgs } from '../../media/audio.ts';
import { csvField } from '../../codecs/csv.ts';
import { ffmpegPaths, ffmpegSpawnOptions } from '../../media/ffmpeg.ts';
import { loadGraphFile, type GraphDef, type Registry } from '../../core/graph/loader.ts';
import { commitFolder, discard } from '../process.ts';
import { makePartial, RESULT_FILE, unmarkPartial, type Assignment, type InputIdentity } from '../process-folders.ts';
import type { JobResult } from './jobs.ts';

/** Per sink type: the options naming its files. */
const STITCHABLE: Readonly<Record<string, readonly string[]>> = {
  encoder: ['path'],
  'label-map-sink': ['dir'],
  'statistics-sink': ['json', 'csv', 'videoCsv'],
};

/** Output paths of every file-writing sink, for a graph loaded with `out` = some folder. */
function sinkOutputs(def: GraphDef): { node: string; type: string; paths: Record<string, string>; options: Record<string, unknown> }[] {
  return def.nodes.filter((n) => n.spec.role === 'sink' && n.type in STITCHABLE).map((n) => {
    const paths: Record<string, string> = {};
    for (const k of STITCHABLE[n.type]!) {
      const v = (n.options as Record<string, unknown>)[k];
      if (typeof v === 'string') paths[k] = path.resolve(v);
    }
    return { node: n.name, type: n.type, paths, options: n.options as Record<string, unknown> };
  });
}

/** Sinks that write files must be stitchable and write under `${out}`; throws a TypeError naming the node. */
export function checkStitchable(graph: string, sets: readonly string[], registry: Registry): void {
  const probeOut = path.resolve('/segflow-stitch-probe/out');
  const def = loadGraphFile(graph, registry, { sets, vars: { input: '/segflow-stitch-probe/in.mp4', out: probeOut } });
  for (const n of def.nodes.filter((x) => x.spec.role === 'sink')) {
    const opts = n.options as Record<string, unknown>;
    const writes = Object.entries(opts).filter(([k, v]) => typeof v === 'string' && /^(path|dir|json|csv|videoCsv|file)$/.test(k));
    if (!(n.type in STITCHABLE)) {
      if (writes.length) throw new TypeError(`--chunk-frames with --queue: sink ${n.name} (${n.type}) writes files that cannot be stitched; expected sinks of type ${Object.keys(STITCHABLE).join(', ')}, or no --chunk-frames`);
      continue;
    }
    for (const [k, v] of writes) {
      if (!path.resolve(v as string).startsWith(probeOut + path.sep)) throw new TypeError(`--chunk-frames with --queue: ${n.name}.${k} must be under \${out} (each chunk writes its own), got '${v}'`);
    }
  }
}

export interface StitchInput {
  readonly input: string;
  readonly identity: InputIdentity;
  readonly graph: string;
  readonly registry: Registry;
  readonly sets: readonly string[];
  /** The output root, and the file's folder in it (worker.ts `folderNow`). */
  readonly out: string;
  readonly folder: Assignment;
  /** Chunk folders in frame order, each with its first frame. */
  readonly chunks: readonly { start: number; dir: string }[];
}

/** Join the chunks into the file's folder (via a hidden work folder); returns the file's result. */
export async function stitch(s: StitchInput): Promise<JobResult> {
  const t0 = performance.now();
  const outDir = s.folder.dir;
  const load = (out: string) => sinkOutputs(loadGraphFile(s.graph, s.registry, { sets: [...s.sets], vars: { input: s.input, out } }));
  const parts = s.chunks.map((c) => ({ ...c, sinks: load(c.dir), result: JSON.parse(readFileSync(path.join(c.dir, RESULT_FILE), 'utf8')) as JobResult }));
  // Every chunk but the last must hold exactly its range, or frame numbers would shift.
  for (let i = 0; i + 1 < parts.length; i++) {
    const want = parts[i + 1]!.start - parts[i]!.start;
    if (parts[i]!.result.frames !== want) throw new Error(`${s.input}: chunk from frame ${parts[i]!.start} holds ${parts[i]!.result.frames} frames, expected ${want}`);
  }
  const partial = makePartial(s.out, s.folder.name);
  try {
    const target = load(partial);
    for (const [k, sink] of target.entries()) {
      const from = parts.map((p) => ({ start: p.start, paths: p.sinks[k]!.paths }));
      if (sink.type === 'encoder') {
        const audioFrom = typeof sink.options.audioFrom === 'string' ? sink.options.audioFrom : '';
        await concatMp4(from.map((f) => f.paths.path!), sink.paths.path!, partial, audioFrom);
      } else if (sink.type === 'label-map-sink') linkLabels(from.map((f) => ({ start: f.start, dir: f.paths.dir! })), sink.paths.dir!);
      else if (sink.type === 'statistics-sink') mergeStats(from.map((f) => f.paths), sink.paths);
    }
    unmarkPartial(partial);
    const frames = parts.reduce((a, p) => a + (p.result.frames ?? 0), 0);
    const seconds = parts.reduce((a, p) => a + (p.result.seconds ?? 0), 0);
    const outputs = readdirSync(partial).map((f) => path.join(outDir, f));
    // Which video stream the chunks took (the same for each: one graph, one file), as one process's result says it.
    const { videoStream, videoStreams, note: streamNote } = parts[0]!.result;
    const notes = [s.folder.note, videoStreams ? streamNote : undefined].filter(Boolean).join('; ');
    const result: JobResult = {
      input: s.input, status: 'ok', output: outDir, frames, chunks: parts.length,
      // Summed over the chunks: the work a single worker would have spent, not the wall time.
      seconds: Math.round(seconds * 100) / 100, fps: seconds > 0 ? Math.round((frames / seconds) * 10) / 10 : 0,
      outputs: [...outputs, path.join(outDir, RESULT_FILE)], identity: s.identity,
      ...(videoStreams ? { videoStream, videoStreams } : {}), ...(notes ? { note: notes } : {}),
    };
    writeFileSync(path.join(partial, RESULT_FILE), JSON.stringify({ ...result, stitchSeconds: Math.round((performance.now() - t0) / 10) / 100 }, null, 2) + '\n');
    commitFolder(partial, s.folder, s.identity);
    return result;
  } catch (e) {
    discard(partial);
    throw e;
  }
}

/**
 * mp4 segments → one mp4, video stream-copied; with `audioFrom`, that file's audio added once. The
 * list file is ours, so only `file:` is whitelisted for it.
 */
async function concatMp4(segments: readonly string[], out: string, scratch: string, audioFrom: string): Promise<void> {
  const list = path.join(scratch, '.concat.txt');
  writeFileSync(list, segments.map((f) => `file '${f.replace(/'/g, "'\\''")}'\n`).join(''));
  const tmp = out.replace(/(\.\w+)?$/, '.partial$1');
  mkdirSync(path.dirname(out), { recursive: true });
  const audio = audioFrom ? await audioArgs(audioFrom) : { input: [], output: [] };
  try {
    await new Promise<void>((resolve, reject) => {
      // spawn, not execFile: execFile cannot start it in its own process group (a worker's, media/ffmpeg.ts ffmpegSpawnOptions).
      const c = spawn(ffmpegPaths().ffmpeg, ['-hide_banner', '-loglevel', 'error', '-nostdin', '-y', '-f', 'concat', '-safe', '0', '-protocol_whitelist', 'file',
        '-i', list, ...audio.input, '-map', '0:v', ...audio.output, '-c:v', 'copy', '-movflags', '+faststart', '-f', 'mp4', `file:${path.resolve(tmp)}`], { stdio: ['ignore', 'ignore', 'pipe'], ...ffmpegSpawnOptions() });
      let stderr = '';
      c.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
      c.on('error', reject);
      c.on('close', (code, signal) => {
        if (code === 0) return resolve();
        const why = signal ? `killed with signal ${signal}` : `exit code ${code}`;
        reject(new Error(`joining ${segments.length} mp4 segments into ${out}: ffmpeg failed: ${stderr.trim().split('\n').slice(-1)[0] || why}`));
      });
    });
    renameSync(tmp, out);
  } finally {
    rmSync(list, { force: true });
    rmSync(tmp, { force: true });
  }
}

/**
 * Label PNGs (named by frame number in each chunk's folder, e.g. `000300.png`… for a chunk from frame 300) → one folder; the colour
 * masks in `color/` alike; `classes.json` (each folder's) from the first chunk with the file's frames.
 */
function linkLabels(chunks: readonly { start: number; dir: string }[], out: string): void {
  mkdirSync(out, { recursive: true });
  const sub = existsSync(path.join(chunks[0]!.dir, 'color')) ? ['', 'color'] : [''];
  let frames = 0;
  for (const d of sub) {
    const to = path.join(out, d);
    mkdirSync(to, { recursive: true });
    frames = 0;
    for (const c of chunks) {
      const files = readdirSync(path.join(c.dir, d)).filter((f) => /^\d+\.png$/.test(f)).sort();
      files.forEach((f) => {
        // Named by frame number already (label-map-sink): a frame lost in the chunk stays a gap.
        const dst = path.join(to, f);
        try {
          linkSync(path.join(c.dir, d, f), dst);
        } catch {
          copyFileSync(path.join(c.dir, d, f), dst); // another file system, or no hard links
        }
      });
      frames += files.length;
    }
    const classes = path.join(chunks[0]!.dir, d, 'classes.json');
    if (existsSync(classes)) writeFileSync(path.join(to, 'classes.json'), withFrames(readFileSync(classes, 'utf8'), frames, classes));
  }
}

/** A label-map-sink `classes.json` with another frame count, its layout kept (one class a line). */
function withFrames(text: string, frames: number, file: string): string {
  const head = JSON.parse(text) as { frames?: unknown };
  if (typeof head.frames !== 'number') throw new Error(`${file}: expected a classes.json with "frames", got none`);
  const out = text.replace(/^(\s*"frames":\s*)\d+/m, `$1${frames}`);
  if ((JSON.parse(out) as { frames: number }).frames !== frames) throw new Error(`${file}: could not set "frames"`);
  return out;
}

interface Stats {
  classes: string[];
  frames: number;
  video: { share: number[] };
  perFrame: { seq: number; ptsMs: number; share: number[] }[];
}

/** statistics-sink outputs (json, csv, videoCsv per chunk) → one set, in its formats (see nodes/statistics-sink.ts). */
function mergeStats(chunks: readonly Record<string, string>[], to: Record<string, string>): void {
  const all = chunks.map((c) => JSON.parse(readFileSync(c.json!, 'utf8')) as Stats);
  const classes = all.find((a) => a.classes.length)?.classes ?? [];
  const frames = all.reduce((a, s) => a + s.frames, 0);
  const r = (v: number) => Math.round(v * 1e6) / 1e6;
  // Frames are one size, so the video's share is the frame-weighted mean of the chunks' (within 1e-6 of one run's).
  const video = classes.map((_, k) => r(all.reduce((a, s) => a + (s.video.share[k] ?? 0) * s.frames, 0) / Math.max(1, frames)));
  const perFrame = all.flatMap((s) => s.perFrame);
  mkdirSync(path.dirname(to.json!), { recursive: true });
  writeFileSync(to.json!, JSON.stringify({ classes, frames, video: { share: video }, perFrame }) + '\n');
  if (to.csv) {
    const head = ['seq', 'pts_ms', ...classes.map((n) => n.replace(/[^\w-]/g, '_'))].join(',');
    const rows = perFrame.map((f) => [f.seq, f.ptsMs, ...f.share].join(','));
    writeFileSync(to.csv, [head, ...rows].join('\n') + '\n');
  }
  if (to.videoCsv) {
    // frames_present: summed over the chunks' own per-video CSVs (exact; a share rounded to 0 still counts there).
    const present = classes.map(() => 0);
    for (const c of chunks) {
      const lines = readFileSync(c.videoCsv!, 'utf8').trim().split('\n').slice(1);
      for (const line of lines) {
        const id = Number(line.slice(0, line.indexOf(',')));
        const n = Number(line.slice(line.lastIndexOf(',') + 1));
        if (!Number.isInteger(id) || id < 0 || id >= present.length || !Number.isFinite(n)) throw new Error(`${c.videoCsv}: unexpected row '${line}'; expected id,class,share,frames_present`);
        present[id]! += n;
      }
    }
    const rows = classes.map((n, k) => [k, csvField(n), video[k] ?? 0, present[k]].join(','));
    writeFileSync(to.videoCsv, ['id,class,share,frames_present', ...rows].join('\n') + '\n');
  }
}

/** Remove a file's chunk folders once its stitched output is in place. */
export function removeChunks(dir: string): void {
  if (existsSync(dir)) rmSync(dir, { recursive: true, force: true });
}

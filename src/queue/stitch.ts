/**
 * Stitching: a chunked file's outputs, one folder per range of frames, joined
 * into the file's output folder as one single-process run would have written
 * it.
 *
 * Each sink of the graph is joined by its type: `encoder` mp4 segments with
 * ffmpeg's concat demuxer and `-c copy` (no re-encoding; the list is a file we
 * wrote, read with `-protocol_whitelist file`); `label-map-sink` PNGs numbered
 * by frame (hard links, so the chunks stay intact until the result is renamed
 * into place); `statistics-sink` JSON per-frame rows concatenated, the video's
 * shares weighted by frames, and the CSV written from them. Other sinks that
 * write files cannot be stitched: `checkStitchable` refuses them at submit.
 * The result is built in `<outDir>.partial/` and renamed to `outDir` when
 * complete, so a stitch that dies leaves nothing under the final name and can
 * simply run again.
 */
import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, linkSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { registry } from '../../nodes/index.ts';
import { ffmpegPaths } from '../ffmpeg.ts';
import { loadGraphFile, type GraphDef } from '../graph/loader.ts';
import type { JobResult } from './jobs.ts';

/** Per sink type: the options naming its files. */
const STITCHABLE: Readonly<Record<string, readonly string[]>> = {
  encoder: ['path'],
  'label-map-sink': ['dir'],
  'statistics-sink': ['json', 'csv'],
};

/** Output paths of every file-writing sink, for a graph loaded with `out` = some folder. */
function sinkOutputs(def: GraphDef): { node: string; type: string; paths: Record<string, string> }[] {
  return def.nodes.filter((n) => n.spec.role === 'sink' && n.type in STITCHABLE).map((n) => {
    const paths: Record<string, string> = {};
    for (const k of STITCHABLE[n.type]!) {
      const v = (n.options as Record<string, unknown>)[k];
      if (typeof v === 'string') paths[k] = path.resolve(v);
    }
    return { node: n.name, type: n.type, paths };
  });
}

/** Sinks that write files must be stitchable and write under `${out}`; throws a TypeError naming the node. */
export function checkStitchable(graph: string, sets: readonly string[]): void {
  const probeOut = path.resolve('/segflow-stitch-probe/out');
  const def = loadGraphFile(graph, registry, { sets, vars: { input: '/segflow-stitch-probe/in.mp4', out: probeOut } });
  for (const n of def.nodes.filter((x) => x.spec.role === 'sink')) {
    const opts = n.options as Record<string, unknown>;
    const writes = Object.entries(opts).filter(([k, v]) => typeof v === 'string' && /^(path|dir|json|csv|file)$/.test(k));
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
  readonly graph: string;
  readonly sets: readonly string[];
  readonly outDir: string;
  /** Chunk folders in frame order, each with its first frame. */
  readonly chunks: readonly { start: number; dir: string }[];
}

/** Join the chunks into `outDir` (via `outDir.partial`); returns the file's result. */
export async function stitch(s: StitchInput): Promise<JobResult> {
  const t0 = performance.now();
  const partial = s.outDir + '.partial';
  rmSync(partial, { recursive: true, force: true });
  mkdirSync(partial, { recursive: true });
  const load = (out: string) => sinkOutputs(loadGraphFile(s.graph, registry, { sets: [...s.sets], vars: { input: s.input, out } }));
  const target = load(partial);
  const parts = s.chunks.map((c) => ({ ...c, sinks: load(c.dir), result: JSON.parse(readFileSync(path.join(c.dir, 'result.json'), 'utf8')) as JobResult }));
  // Every chunk but the last must hold exactly its range, or frame numbers would shift.
  for (let i = 0; i + 1 < parts.length; i++) {
    const want = parts[i + 1]!.start - parts[i]!.start;
    if (parts[i]!.result.frames !== want) throw new Error(`${s.input}: chunk from frame ${parts[i]!.start} holds ${parts[i]!.result.frames} frames, expected ${want}`);
  }
  try {
    for (const [k, sink] of target.entries()) {
      const from = parts.map((p) => ({ start: p.start, paths: p.sinks[k]!.paths }));
      if (sink.type === 'encoder') await concatMp4(from.map((f) => f.paths.path!), sink.paths.path!, partial);
      else if (sink.type === 'label-map-sink') linkLabels(from.map((f) => ({ start: f.start, dir: f.paths.dir! })), sink.paths.dir!);
      else if (sink.type === 'statistics-sink') mergeStats(from.map((f) => f.paths.json!), sink.paths.json!, sink.paths.csv);
    }
    const frames = parts.reduce((a, p) => a + (p.result.frames ?? 0), 0);
    const seconds = parts.reduce((a, p) => a + (p.result.seconds ?? 0), 0);
    const outputs = readdirSync(partial).map((f) => path.join(s.outDir, f));
    const result: JobResult = {
      input: s.input, status: 'ok', output: s.outDir, frames, chunks: parts.length,
      // Summed over the chunks: the work a single worker would have spent, not the wall time.
      seconds: Math.round(seconds * 100) / 100, fps: seconds > 0 ? Math.round((frames / seconds) * 10) / 10 : 0, outputs,
    };
    writeFileSync(path.join(partial, 'result.json'), JSON.stringify({ ...result, stitchSeconds: Math.round((performance.now() - t0) / 10) / 100 }, null, 2) + '\n');
    rmSync(s.outDir, { recursive: true, force: true });
    renameSync(partial, s.outDir);
    return result;
  } catch (e) {
    rmSync(partial, { recursive: true, force: true });
    throw e;
  }
}

/** mp4 segments → one mp4, stream copy. The list file is ours, so only `file:` is whitelisted. */
async function concatMp4(segments: readonly string[], out: string, scratch: string): Promise<void> {
  const list = path.join(scratch, '.concat.txt');
  writeFileSync(list, segments.map((f) => `file '${f.replace(/'/g, "'\\''")}'\n`).join(''));
  const tmp = out.replace(/(\.\w+)?$/, '.partial$1');
  mkdirSync(path.dirname(out), { recursive: true });
  try {
    await new Promise<void>((resolve, reject) => {
      execFile(ffmpegPaths().ffmpeg, ['-hide_banner', '-loglevel', 'error', '-nostdin', '-y', '-f', 'concat', '-safe', '0', '-protocol_whitelist', 'file',
        '-i', list, '-map', '0', '-c', 'copy', '-movflags', '+faststart', tmp], { maxBuffer: 4 << 20 }, (err, _o, stderr) => {
        if (err) reject(new Error(`joining ${segments.length} mp4 segments into ${out}: ffmpeg failed: ${stderr.trim().split('\n').slice(-1)[0] ?? err.message}`));
        else resolve();
      });
    });
    renameSync(tmp, out);
  } finally {
    rmSync(list, { force: true });
    rmSync(tmp, { force: true });
  }
}

/** Label PNGs (`000000.png`… per chunk, in arrival order) → one folder numbered by frame. */
function linkLabels(chunks: readonly { start: number; dir: string }[], out: string): void {
  mkdirSync(out, { recursive: true });
  for (const c of chunks) {
    const files = readdirSync(c.dir).filter((f) => /^\d+\.png$/.test(f)).sort();
    files.forEach((f, i) => {
      const to = path.join(out, `${String(c.start + i).padStart(6, '0')}.png`);
      try {
        linkSync(path.join(c.dir, f), to);
      } catch {
        copyFileSync(path.join(c.dir, f), to); // another file system, or no hard links
      }
    });
  }
}

interface Stats {
  classes: string[];
  frames: number;
  video: { share: number[] };
  perFrame: { seq: number; ptsMs: number; share: number[] }[];
}

/** statistics-sink outputs → one, in its format (see nodes/statistics-sink.ts). */
function mergeStats(jsons: readonly string[], json: string, csv: string | undefined): void {
  const all = jsons.map((f) => JSON.parse(readFileSync(f, 'utf8')) as Stats);
  const classes = all.find((a) => a.classes.length)?.classes ?? [];
  const frames = all.reduce((a, s) => a + s.frames, 0);
  const r = (v: number) => Math.round(v * 1e6) / 1e6;
  // Frames are one size, so the video's share is the frame-weighted mean of the chunks' (within 1e-6 of one run's).
  const video = classes.map((_, k) => r(all.reduce((a, s) => a + (s.video.share[k] ?? 0) * s.frames, 0) / Math.max(1, frames)));
  const perFrame = all.flatMap((s) => s.perFrame);
  mkdirSync(path.dirname(json), { recursive: true });
  writeFileSync(json, JSON.stringify({ classes, frames, video: { share: video }, perFrame }) + '\n');
  if (csv) {
    const head = ['seq', 'pts_ms', ...classes.map((n) => n.replace(/[^\w-]/g, '_'))].join(',');
    const rows = perFrame.map((f) => [f.seq, f.ptsMs, ...f.share].join(','));
    writeFileSync(csv, [head, ...rows, ['video', '', ...video].join(',')].join('\n') + '\n');
  }
}

/** Remove a file's chunk folders once its stitched output is in place. */
export function removeChunks(dir: string): void {
  if (existsSync(dir)) rmSync(dir, { recursive: true, force: true });
}

/**
 * The jobs of `segflow process --queue`: what a job carries, how it is named,
 * and where its output goes.
 *
 * One BullMQ queue, `segflow`. A file is either one `file` job, or (with
 * `--chunk-frames N` and more than N frames) a `stitch` parent job with one
 * `chunk` child per range of N frames (a BullMQ flow: the parent runs when its
 * children are done). Job ids are derived from the input's identity (absolute
 * path, size, mtime) and the run's options (graph text, `--set`s, chunking,
 * output folder), so submitting the same inputs again finds the same jobs and
 * adds nothing that is done or queued. Every path is absolute: workers on other
 * machines see the same storage under the same names.
 *
 * Output folders are named as `segflow process` names them
 * (src/process-folders.ts `planFolders`: the path relative to the folder given,
 * `-2`, `-3`… when a name is taken by another input's output), and each job
 * carries the input's identity: a worker skips or replaces a folder only when it
 * holds this input's result, and a file changed since it was submitted fails
 * its job rather than being written under the old identity. A chunked file's
 * chunks are written under the hidden `<out>/.segflow-<name>.chunks/`, removed
 * once stitched.
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import type { FileResult } from '../process.ts';
import type { InputIdentity } from '../process-folders.ts';

export const QUEUE_NAME = 'segflow';

/** What every job of one submission shares. */
export interface RunOptions {
  /** Absolute graph file, or undefined for the worker's own default graph. */
  readonly graph?: string | undefined;
  /** sha256 of the graph file's text: a worker with a different graph refuses the job. */
  readonly graphHash: string;
  /** `--set`s, including the decoders' `chunkFrames`. */
  readonly sets: readonly string[];
  /** 0 = whole files. */
  readonly chunkFrames: number;
  /** Absolute output root (`--out`). */
  readonly out: string;
}

interface Base extends RunOptions {
  readonly input: string;
  /** The input's identity when submitted (relative path, size, mtime, content sample). */
  readonly identity: InputIdentity;
  /** The output folder's name given at submit (planFolders); a worker takes another if it is taken by then. */
  readonly name: string;
  /** Final output folder of the file: `<out>/<name>`. */
  readonly outDir: string;
  /** Frames the file declares (0 = unknown). */
  readonly frames: number;
  /** Workers that handed the job back because their graph differs from the submitted one (worker.ts). */
  readonly refusedBy?: readonly string[];
}

/** The whole file in one job. */
export interface FileJobData extends Base { readonly kind: 'file' }
/** Frames [start, start+count) of a file (count 0 = to the end) into `dir`. */
export interface ChunkJobData extends Base { readonly kind: 'chunk'; readonly start: number; readonly count: number; readonly dir: string }
/** Join the chunks' outputs into `outDir`. */
export interface StitchJobData extends Base { readonly kind: 'stitch'; readonly chunks: readonly { start: number; count: number; dir: string }[] }
export type JobData = FileJobData | ChunkJobData | StitchJobData;

/** What a finished job returns (kept in Redis, so without the per-node metrics). */
export type JobResult = Omit<FileResult, 'metrics'> & { chunks?: number };

export function sha256(s: string | Buffer): string {
  return createHash('sha256').update(s).digest('hex');
}

/** The options part of every job id: the same graph, sets, chunking and output root give the same hash. */
export function optionsHash(r: RunOptions): string {
  return sha256(JSON.stringify([r.graphHash, r.sets, r.chunkFrames, r.out])).slice(0, 16);
}

/** The id of a file's job (its `file` or `stitch` job); BullMQ ids may not contain ':'. */
export function fileJobId(input: string, size: number, mtimeMs: number, opts: string): string {
  return `f-${sha256(JSON.stringify([input, size, Math.round(mtimeMs), opts])).slice(0, 24)}`;
}

export function chunkJobId(fileId: string, start: number): string {
  return `${fileId}-c${start}`;
}

/** Ranges of `chunkFrames` frames; the last one reads to the end (a container's frame count can be one short). */
export function chunkRanges(frames: number, chunkFrames: number): { start: number; count: number }[] {
  const out: { start: number; count: number }[] = [];
  for (let s = 0; s < frames; s += chunkFrames) out.push({ start: s, count: s + chunkFrames >= frames ? 0 : chunkFrames });
  return out;
}

/** `--set`s that make the decoders read one range. */
export function rangeSets(decoders: readonly string[], start: number, count: number): string[] {
  return decoders.flatMap((d) => [`${d}.startFrame=${start}`, `${d}.maxFrames=${count}`]);
}

/** Where a chunked file's chunk folders go: hidden, never a name `process` gives an output. */
export function chunksDir(out: string, name: string): string {
  return path.join(out, `.segflow-${name}.chunks`);
}

/** A chunk's identity: the file's, with the range in `rel`, so a folder from another chunking is never reused. */
export function chunkIdentity(id: InputIdentity, start: number, count: number): InputIdentity {
  return { ...id, rel: `${id.rel}#frames=${start}+${count || 'end'}` };
}

/** Refuse relative paths: every worker resolves them on its own machine. */
export function requireAbsolute(p: string, what: string): string {
  if (!path.isAbsolute(p)) {
    throw new TypeError(`${what} '${p}': expected an absolute path with --queue (workers on other machines see the same storage under the same absolute names), e.g. ${path.resolve(p)}`);
  }
  return path.normalize(p);
}

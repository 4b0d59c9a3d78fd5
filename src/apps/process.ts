/**
 * The offline job: run a graph over many recordings.
 *
 * Each input gets its own output folder `<out>/<name>/` (naming, identity and
 * which existing folders may be skipped or replaced: src/process-folders.ts),
 * written in a hidden work folder and renamed when every sink has finished, so
 * a final name never holds half-written output. A folder holding this input's
 * complete output (same relative path, size and mtime) is skipped (resume)
 * unless `overwrite`; a folder segflow did not write for this input is never
 * skipped, replaced or deleted. A bad input is reported by name and the others
 * go on; so is a file that changed while it was processed (a recording still
 * being written, a copy not finished: read only up to where it then ended),
 * nothing of it kept. An input whose output another run into the same --out
 * committed meanwhile (one folder run twice at once) is a skip: that output is
 * kept, this run's dropped. summary.json is merged over runs (re-read at the end, under a lock:
 * concurrent runs into one --out keep each other's entries). The graph sees `${input}` (the
 * file) and `${out}` (its work folder) as variables.
 */
import { accessSync, closeSync, constants, existsSync, lstatSync, openSync, readdirSync, readlinkSync, readSync, realpathSync, rmSync, statSync, type Stats } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { probe } from '../media/ffmpeg.ts';
import { poolExecutors } from '../core/executor.ts';
import { loadGraphFile, outputPaths, type GraphDef, type Registry } from '../core/graph/loader.ts';
import { runGraph } from '../core/graph/runner.ts';
import type { Metrics } from '../core/runtime/metrics.ts';
import {
  committed, identityOf, inspectFolder, makePartial, planFolders, readSummary, removeLeftovers,
  RESULT_FILE, sameIdentity, unmarkPartial, updateSummary, type Assignment, type InputFile, type InputIdentity,
} from './process-folders.ts';
import { mkdirs, swapIn } from '../media/output.ts';
import { escapeText } from '../core/text.ts';
import { GraphError } from '../core/errors.ts';
import { JobProgress, shortDuration, type PlannedFile } from './job-progress.ts';

/** What a folder's videos are found by (a file named on the command line is taken whatever its name). */
export const VIDEO_EXTENSIONS = new Set(['.mp4', '.mov', '.mkv', '.avi', '.webm', '.m4v', '.ts', '.mts', '.m2ts', '.mpg', '.mpeg', '.vob', '.mod', '.tod', '.mxf', '.dv', '.ogv', '.flv', '.f4v', '.wmv', '.asf', '.3gp', '.h264', '.264', '.hevc', '.265']);

export interface FileResult {
  input: string;
  status: 'ok' | 'skipped' | 'failed' | 'interrupted';
  output?: string;
  frames?: number;
  fps?: number;
  seconds?: number;
  outputs?: string[];
  error?: string;
  /** Why the preferred output folder name was not used (an existing folder left alone). */
  note?: string;
  /** Frames of the video the decoder could not decode (a corrupt stretch); absent when none. */
  missingFrames?: number;
  /** Where: the number of each gap's first frame and its length (the first 100 gaps). */
  gaps?: { first: number; frames: number }[];
  /**
   * A file with several video streams (a dual-channel dashcam's front and rear cameras): which was
   * processed (the decoder's `videoStream`, from 0) and how many it has; absent with one.
   */
  videoStream?: number;
  videoStreams?: number;
  /** The input's identity (relative path, size, mtime): which input a folder's output is of. */
  identity?: InputIdentity | undefined;
  metrics?: object;
}

export interface Summary {
  graph: string;
  out: string;
  startedAt: string;
  seconds: number;
  ok: number;
  skipped: number;
  failed: number;
  interrupted: number;
  /** With `process --dispatch`: workers and chunks (src/zmq/dispatcher.ts). */
  dispatch?: object;
  files: FileResult[];
}

export interface ProcessOptions {
  readonly inputs: readonly string[];
  readonly out: string;
  readonly graph: string;
  /** The node types the graph is made of (the package's: `registry` from nodes/index.ts). */
  readonly registry: Registry;
  readonly sets?: readonly string[];
  readonly jobs?: number;
  readonly overwrite?: boolean;
  readonly signal?: AbortSignal;
  readonly progress?: Progress;
  readonly onMetrics?: (m: Metrics) => void;
  /**
   * Warn (Progress.stalled) when no frame has finished for this many seconds while a file runs;
   * the next warning waits twice as long. It never stops the job: a slow machine is not a hang.
   * Default 120 (SEGFLOW_STALL_WARN_S overrides); 0 turns it off.
   */
  readonly stallWarnS?: number;
  /** Scale-out (src/zmq/remote-segmenter.ts): each file's graph is rewritten; the totals go into the summary. */
  readonly dispatch?: { rewrite(def: GraphDef, input: string): GraphDef; summary(): object };
}

export interface Progress {
  /** The inputs the job will process, with their sizes (skipped and unreadable ones left out): before the first `start`. */
  plan?(files: readonly PlannedFile[]): void;
  start(file: string, totalFrames: number | undefined): void;
  frame(file: string, done: number): void;
  end(r: FileResult): void;
  /** No frame finished for `idleS` seconds (ProcessOptions.stallWarnS); `done` frames so far. */
  stalled?(file: string, idleS: number, done: number): void;
}

const stallWarnDefaultS = (): number => {
  const v = Number(process.env.SEGFLOW_STALL_WARN_S);
  return process.env.SEGFLOW_STALL_WARN_S !== undefined && Number.isFinite(v) && v >= 0 ? v : 120;
};

/** The decoders' lost frames (nodes/decoder.ts counts them): how many, and where. */
function missingFrames(m: Metrics): Pick<FileResult, 'missingFrames' | 'gaps'> {
  let n = 0;
  for (const v of m.counters.get('decoder_missing_frames_total')?.values() ?? []) n += v;
  if (!n) return {};
  const gaps = [...m.counters.get('decoder_gap_frames_total') ?? []]
    .map(([k, frames]) => ({ first: Number(/first="(\d+)"/.exec(k)?.[1]), frames }))
    .filter((g) => Number.isFinite(g.first)).sort((a, b) => a.first - b.first);
  return { missingFrames: n, gaps };
}

/**
 * Whether `p` (named `name`) is a macOS AppleDouble file (`._clip.mp4`: the Finder's metadata for
 * clip.mp4, left on the exFAT/FAT cards of cameras a Mac has touched) — never a video.
 */
function appleDouble(name: string, p: string): boolean {
  if (!name.startsWith('._')) return false;
  try {
    const fd = openSync(p, 'r');
    try {
      const b = Buffer.alloc(4);
      return readSync(fd, b, 0, 4, 0) === 4 && b.readUInt32BE(0) === 0x00051607;
    } finally {
      closeSync(fd);
    }
  } catch {
    return false; // unreadable: taken as an input, and reported by name
  }
}

/**
 * Trash and system folders that operating systems put on a card or disk: deleted recordings and
 * indexes, never the videos a user means by the folder (a dashcam card a Mac or Windows PC has
 * touched has `.Trashes/`, `$RECYCLE.BIN/`; a Linux desktop's `.Trash-1000/`).
 */
const SYSTEM_FOLDERS = new Set(['.trashes', '.trash', '$recycle.bin', 'recycler', 'system volume information', '.spotlight-v100', '.fseventsd', '.temporaryitems', '.documentrevisions-v100']);
const systemFolder = (name: string): boolean => SYSTEM_FOLDERS.has(name.toLowerCase()) || /^\.trash-\d+$/i.test(name);

/**
 * Expand folders (recursively) into video files, sorted; plain files are kept whatever their name. A
 * folder given by name in which no video is found is an entry with a `problem`, as is one that cannot be read.
 * AppleDouble files (`._clip.mp4`) in folders are left out, and so are trash and system folders
 * (SYSTEM_FOLDERS: `.Trashes`, `$RECYCLE.BIN`, `.Trash-1000`, …) found while searching.
 * `skip` (the output folder) is never searched, nor are the output and work folders segflow made (wherever
 * they are: --out may be the input folder itself), so a re-run does not take its own outputs for inputs.
 * Links to folders are followed (each folder searched once, by its real path).
 */
export function expandInputs(inputs: readonly string[], skip?: string): InputFile[] {
  const out: InputFile[] = [];
  const skipAt = skip ? path.resolve(skip) : undefined;
  const real = (p: string) => {
    try {
      return realpathSync(p);
    } catch {
      return path.resolve(p);
    }
  };
  const skipReal = skipAt !== undefined ? real(skipAt) : undefined;
  /** Folders walked, by real path: a linked folder is searched once, and a link back up is no loop. */
  const visited = new Set<string>();
  const walk = (root: string, d: string) => {
    const r = real(d);
    if (visited.has(r)) return;
    visited.add(r);
    let entries;
    try {
      entries = readdirSync(d, { withFileTypes: true });
    } catch (e) {
      // One unreadable folder (no permission, an I/O error) is a failed entry naming it; the rest go on.
      const err = e as NodeJS.ErrnoException;
      const why = err.code === 'EACCES' || err.code === 'EPERM' ? 'permission denied' : err.message;
      out.push({ path: d, rel: path.relative(root, d) || path.basename(d), problem: `${d}: cannot read this folder (${why}${err.code ? `, ${err.code}` : ''}); the videos in it were not processed` });
      return;
    }
    for (const e of entries.sort((a, b) => a.name.localeCompare(b.name))) {
      const p = path.join(d, e.name);
      // A link to a folder is searched like the folder (recordings/2024 -> /mnt/disk2/2024 was skipped silently).
      let isDir = e.isDirectory();
      if (e.isSymbolicLink()) {
        try {
          isDir = statSync(p).isDirectory();
        } catch {
          isDir = false; // a broken link: taken as a file when named like a video, and reported as missing
        }
      }
      if (isDir) {
        const at = path.resolve(p);
        if (skipReal !== undefined && real(p) === skipReal) continue;
        // segflow's own output folders (result.json with an identity) and work folders are not inputs:
        // with --out the input folder itself, or an earlier run's --out inside it, a re-run took
        // clip/overlay.mp4 for a new input.
        const ours = e.name.startsWith('.segflow-') || inspectFolder(p).identity !== undefined;
        if (at !== skipAt && !ours && !systemFolder(e.name)) walk(root, p);
      }
      else if (VIDEO_EXTENSIONS.has(path.extname(e.name).toLowerCase()) && !appleDouble(e.name, p)) out.push({ path: p, rel: path.relative(root, p) });
    }
  };
  for (const i of inputs) {
    // A missing input is reported as a failed file, not a crash.
    if (existsSync(i) && statSync(i).isDirectory()) {
      if (visited.has(real(i))) continue; // searched already (given twice, or inside another input folder)
      const before = out.length;
      walk(i, i);
      // A folder given by name in which nothing was found is a mistake to report, not "0 ok".
      if (out.length === before) out.push({ path: i, rel: path.basename(path.resolve(i)), problem: `${i}: no video files in this folder or below (videos are found by their extension: ${[...VIDEO_EXTENSIONS].join(' ')})` });
    }
    else out.push({ path: i, rel: path.basename(i) });
  }
  const seen = new Set<string>();
  return out.filter((f) => {
    const k = path.resolve(f.path);
    return seen.has(k) ? false : (seen.add(k), true);
  });
}

/** `--out`'s error, in words (`what` could not be done, and why), for a failed make or write check of that folder (process, process --queue). */
function outFolderError(out: string, what: string, e: unknown): Error {
  const err = e as NodeJS.ErrnoException;
  const why = err.code === 'EROFS' ? 'read-only file system' : err.code === 'EACCES' || err.code === 'EPERM' ? 'permission denied' : err.code === 'ENOTDIR' || err.code === 'EEXIST' ? 'a path in it is not a folder' : err.message;
  return new Error(`--out ${out}: ${what} (${why}${err.code ? `, ${err.code}` : ''}); expected a folder segflow can write`);
}

/** Make `--out` (one level at a time: Node's recursive mkdir never returns for a path under /proc), or throw its error in words. */
export function makeOut(out: string): void {
  try {
    mkdirs(path.resolve(out));
  } catch (e) {
    throw outFolderError(out, 'cannot create the folder', e);
  }
}

/** Make --out, check it can be written, and check the summary there (refusing one segflow did not write) before any work. */
async function prepareOut(out: string): Promise<void> {
  makeOut(out);
  if (!statSync(out).isDirectory()) throw new Error(`--out ${out}: exists and is not a folder; expected a folder segflow can write`);
  try {
    accessSync(out, constants.W_OK | constants.X_OK);
  } catch (e) {
    throw outFolderError(out, 'cannot write there', e);
  }
  readSummary(out); // merged at the end as it is then (updateSummary): another run may write it meanwhile
  removeLeftovers(out);
}

export async function processFiles(o: ProcessOptions): Promise<Summary> {
  const t0 = Date.now();
  const files = expandInputs(o.inputs, o.out);
  // Validate the graph once before touching any input (GraphError -> exit 2).
  const def = loadGraphFile(o.graph, o.registry, { sets: o.sets ?? [], vars: { input: files[0]?.path ?? 'input.mp4', out: o.out } });
  // Each input's outputs go to its own folder under --out (`${out}`); a path outside it would be written by every input.
  for (const w of outputPaths(def)) {
    if (!w.path.startsWith(path.resolve(o.out) + path.sep)) throw new GraphError(escapeText(`${o.graph}:${w.line} › ${w.node}.options.${w.key}: '${w.path}' is not under --out, so every input would write it (each input's outputs go to its own folder, \${out}); expected a path under "\${out}/"`), o.graph, w.line);
  }
  // Nodes start their slow set-up now (the segmenter's model loads in its thread while inputs are
  // probed and folders prepared); a dispatching run replaces its segmenters, so nothing is warmed.
  const unwarm: (() => Promise<void>)[] = [];
  if (!o.dispatch && files.length) for (const n of def.nodes) if (n.executor === undefined) unwarm.push(n.spec.warm?.(n.options) ?? (async () => {})); // a node in an executor loads in that thread
  // Executors' threads: started now with their nodes opening (models loading), and kept for every
  // file of the job (each file's nodes opened afresh in them: the threads' start-up is paid once).
  unwarm.push(poolExecutors(!o.dispatch && files.length ? def : undefined));
  try {
    return await processAll(o, files, t0);
  } finally {
    // What no file took (all skipped, or failed before opening) is ended.
    await Promise.all(unwarm.map((f) => f()));
  }
}

async function processAll(o: ProcessOptions, files: InputFile[], t0: number): Promise<Summary> {
  await prepareOut(o.out);
  const { ids, folders } = planFolders(o.out, files);
  o.progress?.plan?.(files.flatMap((f, i) => (!f.problem && ids[i] && !(folders[i]!.existing && !o.overwrite) ? [{ path: f.path, bytes: ids[i]!.size }] : [])));
  const results: FileResult[] = new Array(files.length);
  let next = 0;
  const worker = async () => {
    while (next < files.length && !o.signal?.aborted) {
      const i = next++;
      const f = files[i]!;
      results[i] = f.problem ? { input: f.path, status: 'failed', error: f.problem } : await processOne(f.path, ids[i], folders[i]!, o);
      o.progress?.end(results[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(o.jobs ?? 1, files.length)) }, worker));
  for (let i = 0; i < files.length; i++) results[i] ??= { input: files[i]!.path, status: 'interrupted' };
  const count = (s: FileResult['status']) => results.filter((r) => r.status === s).length;
  const summary: Summary = {
    graph: o.graph, out: o.out, startedAt: new Date(t0).toISOString(), seconds: (Date.now() - t0) / 1000,
    ok: count('ok'), skipped: count('skipped'), failed: count('failed'), interrupted: count('interrupted'),
    ...(o.dispatch ? { dispatch: o.dispatch.summary() } : {}), files: results,
  };
  await updateSummary(o.out, (previous) => mergeSummary(previous, summary));
  return summary;
}

/**
 * summary.json over every run into this --out: one entry per input (the latest run that did
 * something with it); a file skipped this run keeps the result that made its output, so a
 * re-run that skips everything changes no result. The counts at the top are over all entries;
 * `lastRun` has this run's.
 */
export function mergeSummary(previous: ReturnType<typeof readSummary>, s: Summary): object {
  const key = (f: { input?: unknown; output?: unknown }) => (typeof f.output === 'string' ? `o:${path.resolve(f.output)}` : `i:${path.resolve(String(f.input))}`);
  const merged = new Map<string, Record<string, unknown>>();
  for (const f of previous?.files ?? []) merged.set(key(f), f);
  for (const r of s.files) {
    const { earlier, ...now } = r as FileResult & { earlier?: Record<string, unknown> };
    // An input's older entry without an output (failed, interrupted) is replaced by whatever it did now.
    merged.delete(`i:${path.resolve(r.input)}`);
    if (r.status === 'skipped') merged.set(key(r), { ...(earlier ?? merged.get(key(r)) ?? {}), input: r.input, output: r.output, status: 'ok', skippedAt: s.startedAt });
    else merged.set(key(r), now);
  }
  const files = [...merged.values()];
  const n = (st: string) => files.filter((f) => f.status === st).length;
  const lastRun = { startedAt: s.startedAt, seconds: s.seconds, ok: s.ok, skipped: s.skipped, failed: s.failed, interrupted: s.interrupted };
  return {
    graph: s.graph, out: s.out, startedAt: s.startedAt, seconds: s.seconds,
    ok: n('ok'), failed: n('failed'), interrupted: n('interrupted'),
    lastRun, runs: [...((previous?.runs ?? []) as object[]).slice(-49), lastRun],
    ...(s.dispatch ? { dispatch: s.dispatch } : {}), files,
  };
}

/**
 * One input into `folder` (assignFolders): skipped when the folder already holds its output (unless
 * `overwrite`), else written in a hidden work folder under `o.out` and committed by `commitFolder`.
 * Also the unit of work of a `process --queue` job (src/queue/worker.ts).
 */
export async function processOne(input: string, id: InputIdentity | undefined, folder: Assignment, o: ProcessOptions): Promise<FileResult> {
  const outDir = folder.dir;
  let streams: ReturnType<typeof videoStreams>;
  // The folder's note and, once the input is probed, which of its video streams was taken: on every result, a failed one too.
  const noted = () => {
    const taken = streams && streams.videoStream < streams.count ? streams : undefined; // one it does not have: the error says so
    const notes = [folder.note, taken?.note].filter(Boolean).join('; ');
    return { ...(taken ? { videoStream: taken.videoStream, videoStreams: taken.count } : {}), ...(notes ? { note: notes } : {}) };
  };
  if (folder.existing && !o.overwrite) {
    const { status: _s, earlier: _e, ...r } = folder.existing as Record<string, unknown>;
    return { ...(r as Partial<FileResult>), input, status: 'skipped', output: outDir, earlier: folder.existing } as FileResult;
  }
  const t0 = performance.now();
  let frames = 0;
  let partial: string | undefined;
  let watchdog: ReturnType<typeof setInterval> | undefined;
  try {
    if (!existsSync(input)) throw new Error(`${input}: ${brokenLink(input) ?? 'no such file'}`);
    const before = statSync(input);
    if (!before.isFile()) throw new Error(`${input}: not a regular file; expected a video file`);
    if (before.size === 0) throw new Error(`${input}: empty file (0 bytes)`);
    // Changed since the job planned its folders (written meanwhile): result.json gets the identity of what is
    // read now (the folder is still replaced only when it held the output of the input as planned).
    const now = id && (id.size !== before.size || id.mtimeMs !== Math.round(before.mtimeMs)) ? identityOf({ path: input, rel: id.rel }, before) : id;
    const first = await probe(input);
    partial = makePartial(o.out, folder.name);
    const loaded = loadGraphFile(o.graph, o.registry, { sets: o.sets ?? [], vars: { input, out: partial } });
    const def = o.dispatch ? o.dispatch.rewrite(loaded, input) : loaded;
    streams = videoStreams(def, input, first.videoStreams);
    const info = streams ? await probe(input, undefined, { videoStream: streams.videoStream, option: `${streams.decoder}.videoStream` }) : first;
    o.progress?.start(input, info.frames ?? (info.durationS ? Math.round(info.durationS * info.fps) : undefined));
    const sinks = def.nodes.filter((n) => n.spec.role === 'sink').map((n) => n.name);
    const perSink = new Map(sinks.map((s) => [s, 0]));
    // A stalled job must not be silent: a warning when no frame finishes for a long time (doubling).
    const warnMs = (o.stallWarnS ?? stallWarnDefaultS()) * 1000;
    let lastFrameAt = performance.now(), nextWarnMs = warnMs;
    if (warnMs > 0 && o.progress?.stalled) {
      watchdog = setInterval(() => {
        const idle = performance.now() - lastFrameAt;
        if (idle < nextWarnMs) return;
        nextWarnMs *= 2;
        o.progress?.stalled?.(input, Math.round(idle / 1000), frames);
      }, Math.max(50, Math.min(5000, warnMs / 4)));
      watchdog.unref();
    }
    const res = await runGraph(def, {
      signal: o.signal,
      log: () => {},
      onDone: (sink) => {
        perSink.set(sink, (perSink.get(sink) ?? 0) + 1);
        const done = Math.min(...perSink.values());
        if (done > frames) {
          frames = done;
          lastFrameAt = performance.now();
          nextWarnMs = warnMs;
          o.progress?.frame(input, frames);
        }
      },
    });
    o.onMetrics?.(res.metrics);
    const seconds = (performance.now() - t0) / 1000;
    if (res.interrupted) {
      discard(partial);
      return { input, status: 'interrupted', frames, seconds, ...noted() };
    }
    // A file still being written (a dashcam's current recording, a copy not finished) was read up to where it
    // then ended: never a complete-looking output that silently lacks the rest.
    const changed = changedSince(input, before);
    if (changed === 'gone') throw new Error(`${input}: the file was removed or renamed while it was processed; nothing of it kept`);
    if (changed) throw new Error(`${input}: the file changed while it was processed (${changed}): a recording or copy still being written? Nothing of it kept; process it again once it is complete`);
    // Another run into this --out (started twice, a scheduled run beside a manual one) committed this input's
    // output meanwhile: that one is kept and this one dropped — a skip, not a failure.
    // Checked before the commit, and again if the commit finds the folder there (both runs got past this check).
    const committedMeanwhile = (): FileResult | undefined => {
      const m = folder.existing ? undefined : inspectFolder(outDir);
      if (m?.result?.status !== 'ok' || !sameIdentity(m.identity, now)) return undefined;
      discard(partial!);
      const { status: _s, earlier: _e, ...r } = m.result;
      return { ...(r as Partial<FileResult>), input, status: 'skipped', output: outDir, note: `${outDir} was written by another run into ${o.out} meanwhile, of this same file: kept, this run's output dropped`, earlier: m.result } as FileResult;
    };
    const already = committedMeanwhile();
    if (already) return already;
    unmarkPartial(partial);
    const outputs = readdirSync(partial).map((f) => path.join(outDir, f));
    const result: FileResult = {
      input, status: 'ok', output: outDir, frames, ...missingFrames(res.metrics), fps: Math.round((frames / seconds) * 10) / 10, seconds: Math.round(seconds * 100) / 100, outputs: [...outputs, path.join(outDir, RESULT_FILE)],
      identity: now, ...noted(), metrics: res.metrics.toJSON(),
    };
    await writeFile(path.join(partial, RESULT_FILE), JSON.stringify(result, null, 2) + '\n');
    try {
      commitFolder(partial, folder, id);
    } catch (e) {
      const other = committedMeanwhile();
      if (other) return other;
      throw e;
    }
    return result;
  } catch (e) {
    if (partial) discard(partial);
    if (o.signal?.aborted) return { input, status: 'interrupted', frames, ...noted() };
    return { input, status: 'failed', error: failure(e, input, o.out), frames, ...noted() };
  } finally {
    if (watchdog) clearInterval(watchdog);
  }
}

/**
 * A file with several video streams (`count`): which one the graph's decoder of `input` takes (its
 * `videoStream`) and a note saying so and how to take another (`--set <decoder>.videoStream=N`, the
 * decoder by its name in the graph). Undefined for a file with one, or a graph with no decoder of it.
 */
function videoStreams(def: GraphDef, input: string, count: number): { decoder: string; videoStream: number; count: number; note: string } | undefined {
  if (count < 2) return undefined;
  const dec = def.nodes.find((n) => n.type === 'decoder' && n.options.url !== true && typeof n.options.path === 'string' && path.resolve(n.options.path) === path.resolve(input));
  if (!dec) return undefined;
  const n = Number(dec.options.videoStream ?? 0);
  const other = count === 2 ? `=${1 - n} for the other` : `=N (0 to ${count - 1}) for another`;
  return { decoder: dec.name, videoStream: n, count, note: `has ${count} video streams; processed stream ${n} (--set ${dec.name}.videoStream${other})` };
}

/** Why a symbolic link at `p` leads nowhere (its target missing, a loop of links), or undefined when `p` is no link. */
function brokenLink(p: string): string | undefined {
  let target: string;
  try {
    target = readlinkSync(p);
  } catch {
    return undefined;
  }
  try {
    statSync(p);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ELOOP') return `a symbolic link (to ${target}) in a loop of links; expected a video file`;
  }
  return `a symbolic link to ${target}, which does not exist; expected a video file`;
}

/** How `input` differs from `before` (its stat when processing began): `gone`, a size, `modified meanwhile`; undefined when it does not. */
function changedSince(input: string, before: Stats): string | undefined {
  let now: Stats;
  try {
    now = statSync(input);
  } catch {
    return 'gone';
  }
  if (now.size !== before.size) return `${before.size} bytes when it began, ${now.size} now`;
  if (now.mtimeMs !== before.mtimeMs || now.ino !== before.ino) return 'modified meanwhile';
  return undefined;
}

/**
 * Why a file failed, as one line. A full disk or quota says so and where (Node's own message is
 * "ENOSPC: ..., write"; an encoding ffmpeg's "Could not write header ... (incorrect codec parameters ?):
 * No space left on device").
 */
function failure(e: unknown, input: string, out: string): string {
  const err = e as NodeJS.ErrnoException;
  const quota = err.code === 'EDQUOT' || (!err.code && /Disk quota exceeded/.test(err.message));
  if (quota || err.code === 'ENOSPC' || (!err.code && /No space left on device/.test(err.message))) {
    return `${input}: no space left for its outputs under ${out} (${quota ? 'disk quota exceeded, EDQUOT' : 'the disk is full, ENOSPC'}); nothing of it kept`;
  }
  return err.message;
}

export function discard(partial: string): void {
  rmSync(partial, { recursive: true, force: true });
  committed(partial);
}

/**
 * Rename the finished work folder to its final name. A folder already there is replaced only when
 * it still holds this input's output (checked again now); it is renamed aside first, so a failed
 * rename never loses it.
 */
export function commitFolder(partial: string, folder: Assignment, id: InputIdentity | undefined): void {
  const dir = folder.dir;
  let aside: string | undefined;
  if (existsSync(dir) || isLink(dir)) {
    const f = inspectFolder(dir);
    if (!folder.existing || !sameIdentity(f.identity, id)) {
      throw new Error(`${dir} appeared while this file was processed and is not its output; left alone, nothing written`);
    }
    aside = path.join(path.dirname(dir), `.segflow-${folder.name}.replaced-${process.pid}`);
  }
  swapIn(partial, dir, aside);
}

function isLink(p: string): boolean {
  try {
    return lstatSync(p).isSymbolicLink();
  } catch {
    return false;
  }
}

/**
 * Control characters in a file name or message shown as escapes (`\n`, `\x1b`): one line each, no
 * terminal codes; bidirectional overrides (`\u202e`) too, so a name cannot reorder the line shown.
 */
function printable(s: string | undefined): string {
  return escapeText(s ?? '');
}

/** A progress bar on a terminal, plain lines otherwise. File names and messages are shown with `printable`. */
export function consoleProgress(stream: { write(text: string): unknown; readonly isTTY?: boolean } = process.stderr, now: () => number = () => performance.now()): Progress {
  const tty = stream.isTTY === true;
  const state = new Map<string, { total?: number | undefined; t0: number; lastLine: number }>();
  // With more than one input: which one of how many, and the whole job's ETA (JobProgress: by file size).
  const job = new JobProgress(now);
  const line = (file: string, done: number) => {
    const s = state.get(file);
    if (!s) return;
    job.frame(file, done, s.total);
    const secs = (now() - s.t0) / 1000;
    const fps = secs > 0 ? done / secs : 0;
    const eta = s.total && fps > 0 ? Math.max(0, (s.total - done) / fps) : undefined;
    const name = printable(path.basename(file));
    const index = job.files > 1 ? job.indexOf(file) : undefined;
    const all = index !== undefined ? job.etaS() : undefined;
    if (tty) {
      const w = 24;
      const frac = s.total ? Math.min(1, done / s.total) : 0;
      const bar = '█'.repeat(Math.round(frac * w)).padEnd(w, '░');
      const head = index !== undefined ? `[${index}/${job.files}${all !== undefined ? ` · all ${shortDuration(all)}` : ''}] ` : '';
      stream.write(`\r\x1b[K${head}${bar} ${done}/${s.total ?? '?'} frames  ${fps.toFixed(1)} fps  ETA ${eta !== undefined ? eta.toFixed(0) + 's' : '?'}  ${name}`);
    } else if (now() - s.lastLine > 2000) {
      s.lastLine = now();
      const of = index !== undefined ? ` (file ${index} of ${job.files})` : '';
      const rest = index !== undefined ? `; all files: ETA ${all !== undefined ? shortDuration(all) : '?'}` : '';
      stream.write(`progress ${name}${of}: ${done}/${s.total ?? '?'} frames, ${fps.toFixed(1)} fps, ETA ${eta !== undefined ? eta.toFixed(0) + ' s' : '?'}${rest}\n`);
    }
  };
  return {
    plan: (files) => job.plan(files),
    start: (file, total) => {
      job.start(file);
      state.set(file, { total, t0: now(), lastLine: now() });
    },
    frame: line,
    end: (r) => {
      job.end(r.input, r.status === 'ok' || r.status === 'skipped');
      if (tty) stream.write('\r\x1b[K');
      const name = printable(r.input);
      const output = printable(r.output);
      if (r.note) stream.write(`note: ${name}: ${printable(r.note)}\n`);
      if (r.status === 'ok') stream.write(`✓ ${name}: ${r.frames} frames, ${r.fps} fps${r.missingFrames ? ` (${r.missingFrames} frames could not be decoded: left out, numbers kept)` : ''} → ${output}\n`);
      else if (r.status === 'skipped') stream.write(`- ${name}: skipped (complete output exists: ${output}; --overwrite to redo)\n`);
      else if (r.status === 'interrupted') stream.write(`! ${name}: interrupted after ${r.frames ?? 0} frames; partial output removed\n`);
      else stream.write(`✗ ${name}: ${r.error?.startsWith(`${r.input}: `) ? printable(r.error.slice(r.input.length + 2)) : printable(r.error)}\n`);
      state.delete(r.input);
    },
    stalled: (file, idleS, done) => {
      if (tty) stream.write('\r\x1b[K');
      stream.write(`warning: ${printable(path.basename(file))}: no frame finished for ${idleS} s (${done} done so far); still running — Ctrl-C stops it cleanly (partial output removed)\n`);
    },
  };
}

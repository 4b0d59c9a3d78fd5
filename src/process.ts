/**
 * The offline job: run a graph over many recordings.
 *
 * Each input gets its own output folder `<out>/<name>/`, written as
 * `<out>/<name>.partial/` and renamed when every sink has finished, so a final
 * name never holds half-written output. A folder that already exists is
 * skipped (resume) unless `overwrite`. A bad input is reported by name and the
 * others go on. The graph sees `${input}` (the file) and `${out}` (its output
 * folder) as variables.
 */
import { existsSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { registry } from '../nodes/index.ts';
import { probe } from './ffmpeg.ts';
import { loadGraphFile, type GraphDef } from './graph/loader.ts';
import { runGraph } from './graph/runner.ts';
import type { Metrics } from './runtime/metrics.ts';

export const VIDEO_EXTENSIONS = new Set(['.mp4', '.mov', '.mkv', '.avi', '.webm', '.m4v', '.ts', '.mts', '.mpg', '.mpeg', '.flv', '.wmv', '.3gp', '.h264', '.hevc']);

export interface FileResult {
  input: string;
  status: 'ok' | 'skipped' | 'failed' | 'interrupted';
  output?: string;
  frames?: number;
  fps?: number;
  seconds?: number;
  outputs?: string[];
  error?: string;
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
  readonly sets?: readonly string[];
  readonly jobs?: number;
  readonly overwrite?: boolean;
  readonly signal?: AbortSignal;
  readonly progress?: Progress;
  readonly onMetrics?: (m: Metrics) => void;
  /** Scale-out (src/zmq/remote-segmenter.ts): each file's graph is rewritten; the totals go into the summary. */
  readonly dispatch?: { rewrite(def: GraphDef, input: string): GraphDef; summary(): object };
}

export interface Progress {
  start(file: string, totalFrames: number | undefined): void;
  frame(file: string, done: number): void;
  end(r: FileResult): void;
}

/** Expand folders (recursively) into video files, sorted; plain files are kept whatever their name. */
export function expandInputs(inputs: readonly string[]): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (VIDEO_EXTENSIONS.has(path.extname(e.name).toLowerCase())) out.push(p);
    }
  };
  for (const i of inputs) {
    if (!existsSync(i)) {
      out.push(i); // reported as a failed input, not a crash
      continue;
    }
    if (statSync(i).isDirectory()) walk(i);
    else out.push(i);
  }
  return [...new Set(out)];
}

/** Output folder names: the file's base name, made unique. */
function outputNames(files: readonly string[]): string[] {
  const seen = new Map<string, number>();
  return files.map((f) => {
    const base = path.basename(f, path.extname(f)).replace(/[^\w.-]+/g, '_') || 'video';
    const n = (seen.get(base) ?? 0) + 1;
    seen.set(base, n);
    return n === 1 ? base : `${base}-${n}`;
  });
}

export async function processFiles(o: ProcessOptions): Promise<Summary> {
  const t0 = Date.now();
  const files = expandInputs(o.inputs);
  const names = outputNames(files);
  // Validate the graph once before touching any input (GraphError -> exit 2).
  loadGraphFile(o.graph, registry, { sets: o.sets ?? [], vars: { input: files[0] ?? 'input.mp4', out: o.out } });
  await mkdir(o.out, { recursive: true });
  const results: FileResult[] = new Array(files.length);
  let next = 0;
  const worker = async () => {
    while (next < files.length && !o.signal?.aborted) {
      const i = next++;
      results[i] = await processOne(files[i]!, path.join(o.out, names[i]!), o);
      o.progress?.end(results[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(o.jobs ?? 1, files.length)) }, worker));
  for (let i = 0; i < files.length; i++) results[i] ??= { input: files[i]!, status: 'interrupted' };
  const count = (s: FileResult['status']) => results.filter((r) => r.status === s).length;
  const summary: Summary = {
    graph: o.graph, out: o.out, startedAt: new Date(t0).toISOString(), seconds: (Date.now() - t0) / 1000,
    ok: count('ok'), skipped: count('skipped'), failed: count('failed'), interrupted: count('interrupted'),
    ...(o.dispatch ? { dispatch: o.dispatch.summary() } : {}), files: results,
  };
  const tmp = path.join(o.out, 'summary.partial.json');
  await writeFile(tmp, JSON.stringify(summary, null, 2) + '\n');
  renameSync(tmp, path.join(o.out, 'summary.json'));
  return summary;
}

/** One input into `outDir` (written as `outDir.partial`, then renamed); also the unit of work of a `process --queue` job (src/queue/worker.ts). */
export async function processOne(input: string, outDir: string, o: ProcessOptions): Promise<FileResult> {
  const partial = outDir + '.partial';
  if (existsSync(outDir) && !o.overwrite) {
    const prev = path.join(outDir, 'result.json');
    const r = existsSync(prev) ? (JSON.parse(readFileSync(prev, 'utf8')) as FileResult) : {};
    return { ...r, input, status: 'skipped', output: outDir };
  }
  rmSync(partial, { recursive: true, force: true });
  const t0 = performance.now();
  let frames = 0;
  try {
    if (!existsSync(input)) throw new Error(`${input}: no such file`);
    if (statSync(input).size === 0) throw new Error(`${input}: empty file (0 bytes)`);
    const info = await probe(input);
    o.progress?.start(input, info.frames ?? (info.durationS ? Math.round(info.durationS * info.fps) : undefined));
    await mkdir(partial, { recursive: true });
    const loaded = loadGraphFile(o.graph, registry, { sets: o.sets ?? [], vars: { input, out: partial } });
    const def = o.dispatch ? o.dispatch.rewrite(loaded, input) : loaded;
    const sinks = def.nodes.filter((n) => n.spec.role === 'sink').map((n) => n.name);
    const perSink = new Map(sinks.map((s) => [s, 0]));
    const res = await runGraph(def, {
      signal: o.signal,
      log: () => {},
      onDone: (sink) => {
        perSink.set(sink, (perSink.get(sink) ?? 0) + 1);
        const done = Math.min(...perSink.values());
        if (done > frames) {
          frames = done;
          o.progress?.frame(input, frames);
        }
      },
    });
    o.onMetrics?.(res.metrics);
    const seconds = (performance.now() - t0) / 1000;
    if (res.interrupted) {
      rmSync(partial, { recursive: true, force: true });
      return { input, status: 'interrupted', frames, seconds };
    }
    const outputs = readdirSync(partial).map((f) => path.join(outDir, f));
    const result: FileResult = { input, status: 'ok', output: outDir, frames, fps: Math.round((frames / seconds) * 10) / 10, seconds: Math.round(seconds * 100) / 100, outputs, metrics: res.metrics.toJSON() };
    await writeFile(path.join(partial, 'result.json'), JSON.stringify(result, null, 2) + '\n');
    rmSync(outDir, { recursive: true, force: true });
    renameSync(partial, outDir);
    return result;
  } catch (e) {
    rmSync(partial, { recursive: true, force: true });
    if (o.signal?.aborted) return { input, status: 'interrupted', frames };
    return { input, status: 'failed', error: (e as Error).message, frames };
  }
}

/** A progress bar on a terminal, plain lines otherwise. */
export function consoleProgress(stream: NodeJS.WriteStream = process.stderr): Progress {
  const tty = stream.isTTY === true;
  const state = new Map<string, { total?: number | undefined; t0: number; lastLine: number }>();
  const line = (file: string, done: number) => {
    const s = state.get(file);
    if (!s) return;
    const secs = (performance.now() - s.t0) / 1000;
    const fps = secs > 0 ? done / secs : 0;
    const eta = s.total && fps > 0 ? Math.max(0, (s.total - done) / fps) : undefined;
    const name = path.basename(file);
    if (tty) {
      const w = 24;
      const frac = s.total ? Math.min(1, done / s.total) : 0;
      const bar = '█'.repeat(Math.round(frac * w)).padEnd(w, '░');
      stream.write(`\r\x1b[K${bar} ${done}/${s.total ?? '?'} frames  ${fps.toFixed(1)} fps  ETA ${eta !== undefined ? eta.toFixed(0) + 's' : '?'}  ${name}`);
    } else if (performance.now() - s.lastLine > 2000) {
      s.lastLine = performance.now();
      stream.write(`progress ${name}: ${done}/${s.total ?? '?'} frames, ${fps.toFixed(1)} fps, ETA ${eta !== undefined ? eta.toFixed(0) + ' s' : '?'}\n`);
    }
  };
  return {
    start: (file, total) => state.set(file, { total, t0: performance.now(), lastLine: performance.now() }),
    frame: line,
    end: (r) => {
      if (tty) stream.write('\r\x1b[K');
      const name = r.input;
      if (r.status === 'ok') stream.write(`✓ ${name}: ${r.frames} frames, ${r.fps} fps → ${r.output}\n`);
      else if (r.status === 'skipped') stream.write(`- ${name}: skipped (complete output exists: ${r.output}; --overwrite to redo)\n`);
      else if (r.status === 'interrupted') stream.write(`! ${name}: interrupted after ${r.frames ?? 0} frames; partial output removed\n`);
      else stream.write(`✗ ${name}: ${r.error?.startsWith(`${name}: `) ? r.error.slice(name.length + 2) : r.error}\n`);
      state.delete(r.input);
    },
  };
}

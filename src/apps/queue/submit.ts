/**
 * `segflow process FILES… --out DIR --queue redis://…`: put one job per file
 * (or one flow per file with `chunkFrames`: a `stitch` parent and a `chunk`
 * child per range) on the queue, then show progress until every file is done
 * or failed (unless `wait: false`).
 *
 * Submitting is idempotent: a file's jobs are keyed by its absolute path,
 * size, mtime and the run's options (jobs.ts), so a file already done, queued
 * or running is not added again — the command just waits for it. A file whose
 * jobs failed is submitted again (removed, then added), and a file whose
 * output folder already holds its result (same identity, as `segflow process`
 * checks it) is skipped without a job. Output folders are named as `segflow
 * process` names them (planFolders), and summary.json is merged and written
 * as it writes it (updateSummary) (a summary.json segflow did not write is refused before
 * anything is queued). The submitting process holds no state: killed and run
 * again, it picks up where the queue is.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { FlowProducer, Queue, type Job } from 'bullmq';
import { probe } from '../../media/ffmpeg.ts';
import { loadGraphFile, type Registry } from '../../core/graph/loader.ts';
import { expandInputs, makeOut, mergeSummary, type FileResult, type Summary } from '../process.ts';
import { planFolders, readSummary, RESULT_FILE, updateSummary, type InputIdentity } from '../process-folders.ts';
import { chunkJobId, chunkRanges, chunksDir, fileJobId, optionsHash, QUEUE_NAME, requireAbsolute, sha256, type JobData, type JobResult, type RunOptions } from './jobs.ts';
import type { RedisTarget } from './redis-url.ts';
import { countStates, fileStatus, settled, type FileStatus } from './status.ts';
import { checkStitchable } from './stitch.ts';

export interface SubmitOptions {
  readonly target: RedisTarget;
  readonly inputs: readonly string[];
  readonly out: string;
  /** `--graph`, absolute; undefined = the workers' default graph (`defaultGraph` here, for checking and hashing). */
  readonly graph?: string | undefined;
  readonly defaultGraph: string;
  /** The node types graphs are made of. */
  readonly registry: Registry;
  readonly sets?: readonly string[];
  /** Frames per chunk job (0 = a job per file). */
  readonly chunkFrames?: number;
  /** Tries per job before it is failed. @default 3 */
  readonly attempts?: number;
  /** Wait for every file and show progress. @default true */
  readonly wait?: boolean;
  readonly signal?: AbortSignal;
  /** Progress and per-file lines (stderr). */
  readonly log?: (m: string) => void;
  /** A live progress line (a terminal); plain lines every few seconds otherwise. */
  readonly tty?: boolean;
}

export interface SubmitResult {
  readonly files: number;
  /** Files added now, already done in the queue, queued or running, and skipped (output present, no job). */
  readonly added: number;
  readonly already: number;
  readonly queued: number;
  readonly skipped: number;
  readonly done: number;
  readonly failed: number;
  readonly waiting: number;
  readonly seconds: number;
  readonly summary?: string | undefined;
}

interface Planned {
  readonly input: string;
  readonly id: string;
  readonly identity?: InputIdentity;
  readonly name: string;
  readonly outDir: string;
  /** Why the preferred folder name was passed over (an existing folder left alone). */
  readonly note?: string | undefined;
  readonly existing?: JobResult;
  skipped?: JobResult;
  readonly missing?: string;
}

export async function submit(o: SubmitOptions): Promise<SubmitResult> {
  const t0 = Date.now();
  const log = o.log ?? ((m: string) => process.stderr.write(m + '\n'));
  const out = requireAbsolute(o.out, '--out');
  for (const i of o.inputs) requireAbsolute(i, 'input');
  const graph = o.graph !== undefined ? requireAbsolute(o.graph, '--graph') : o.defaultGraph;
  const chunkFrames = o.chunkFrames ?? 0;
  const attempts = o.attempts ?? 3;
  let sets = [...(o.sets ?? [])];
  const probeDef = loadGraphFile(graph, o.registry, { sets, vars: { input: '/in.mp4', out } }); // GraphError → exit 2, before anything is queued
  const decoders = probeDef.nodes.filter((n) => n.type === 'decoder').map((n) => n.name);
  if (chunkFrames > 0) {
    if (decoders.length !== 1) throw new TypeError(`--chunk-frames with --queue: expected a graph with one decoder, got ${decoders.length}`);
    sets = [...sets, `${decoders[0]}.chunkFrames=${chunkFrames}`];
    checkStitchable(graph, sets, o.registry);
  }
  // The decoder's video stream (a dual-channel dashcam's rear camera: `videoStream` 1) is the one chunked.
  const videoStream = decoders.length === 1 ? Number(probeDef.nodes.find((n) => n.type === 'decoder')!.options.videoStream ?? 0) : 0;
  const run: RunOptions = { graph: o.graph !== undefined ? graph : undefined, graphHash: sha256(readFileSync(graph)), sets, chunkFrames, out };
  const opts = optionsHash(run);
  const files = expandInputs(o.inputs, out);
  makeOut(out);
  readSummary(out); // a summary.json segflow did not write: refused before anything is queued (merged at the end as it is then)
  const { ids, folders } = planFolders(out, files);

  const plan: Planned[] = files.map((f, i) => {
    const input = f.path;
    const folder = folders[i]!;
    const identity = ids[i];
    const at = { input, name: folder.name, outDir: folder.dir, note: folder.note };
    if (!identity) return { ...at, id: '', missing: f.problem ?? (existsSync(input) ? `${input}: not a regular file; expected a video file` : `${input}: no such file`) };
    const id = fileJobId(input, identity.size, identity.mtimeMs, opts);
    // Used only when the queue has no job for the file (done by a plain `process`, or the queue was emptied).
    if (folder.existing) return { ...at, id, identity, existing: { ...(folder.existing as JobResult), status: 'skipped', output: folder.dir, earlier: folder.existing } as JobResult };
    return { ...at, id, identity };
  });

  const queue = new Queue(QUEUE_NAME, { connection: o.target.options });
  const flows = new FlowProducer({ connection: o.target.options });
  queue.on('error', () => {});
  flows.on('error', () => {});
  let added = 0;
  let queued = 0;
  let already = 0;
  try {
    // Unreachable at the start is a mistake to report; later, Redis going away only pauses the run.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([queue.waitUntilReady(), new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`cannot reach Redis at ${o.target.display} within 15 s; expected a running redis-server there`)), 15_000);
    })]).finally(() => clearTimeout(timer));
    const jobOpts = { attempts, backoff: { type: 'fixed', delay: 1000 }, removeOnComplete: false, removeOnFail: false } as const;
    // Probing and looking up jobs, a few files at a time (fleets submit thousands).
    const one = async (p: Planned): Promise<void> => {
      if (p.missing) return;
      const seen = (await queue.getJob(p.id)) as Job<JobData, JobResult> | undefined;
      if (!seen && p.existing) {
        p.skipped = p.existing;
        return;
      }
      if (seen) {
        // Its return value as of its state: a job that finished between the two reads has one.
        const { job: existing, state } = await settled(queue, seen);
        if (state === 'failed') {
          // Submitting again retries a failed file from scratch (its chunk jobs too).
          await existing.remove({ removeChildren: true });
        } else if (state === 'completed' && !existsSync(path.join(existing.returnvalue?.output ?? p.outDir, RESULT_FILE))) {
          await existing.remove({ removeChildren: true }); // done once, but its output is gone: do it again
        } else {
          if (state === 'completed') already++;
          else queued++;
          return;
        }
      }
      const base = { ...run, input: p.input, identity: p.identity!, name: p.name, outDir: p.outDir };
      // The frame count, for chunking and progress. Unreadable here: one whole-file job, which fails on a worker with the decoder's own error.
      const frames = await probe(p.input, undefined, { videoStream }).then((v) => v.frames ?? (v.durationS ? Math.round(v.durationS * v.fps) : 0), () => 0);
      if (chunkFrames > 0 && frames > chunkFrames) {
        const dir = chunksDir(out, p.name);
        const chunks = chunkRanges(frames, chunkFrames).map((c) => ({ ...c, dir: path.join(dir, String(c.start).padStart(6, '0')) }));
        await flows.add({
          name: 'stitch', queueName: QUEUE_NAME, data: { ...base, kind: 'stitch', frames, chunks }, opts: { ...jobOpts, jobId: p.id },
          children: chunks.map((c) => ({
            name: 'chunk', queueName: QUEUE_NAME, data: { ...base, kind: 'chunk', frames, ...c },
            // A chunk that fails its attempts fails its file; the other files go on.
            opts: { ...jobOpts, jobId: chunkJobId(p.id, c.start), failParentOnFailure: true },
          })),
        });
      } else {
        await queue.add('file', { ...base, kind: 'file', frames }, { ...jobOpts, jobId: p.id });
      }
      added++;
    };
    let next = 0;
    await Promise.all(Array.from({ length: Math.min(8, plan.length) }, async () => {
      while (next < plan.length) await one(plan[next++]!);
    }));
    const skipped = plan.filter((p) => p.skipped).length;
    for (const p of plan) {
      if (p.note && !p.skipped && !p.missing) log(`note: ${p.input}: ${p.note}`);
      if (p.skipped) log(`- ${p.input}: skipped (complete output exists: ${p.outDir}; remove it to redo)`);
      if (p.missing) log(`✗ ${p.missing}`);
    }
    log(`queue ${o.target.display}: ${files.length} files: ${added} submitted, ${already} already done, ${queued} already queued, ${skipped} skipped${plan.some((p) => p.missing) ? `, ${plan.filter((p) => p.missing).length} missing` : ''}`);
    const base = { files: files.length, added, queued, already, skipped };
    if (o.wait === false) return { ...base, done: 0, failed: plan.filter((p) => p.missing).length, waiting: added + queued, seconds: (Date.now() - t0) / 1000 };
    const final = await waitFor(queue, plan.filter((p) => !p.missing && !p.skipped), o, log);
    const results: FileResult[] = plan.map((p) => {
      if (p.missing) return { input: p.input, status: 'failed', error: p.missing };
      if (p.skipped) return { ...p.skipped, input: p.input };
      const f = final.get(p.id);
      if (!f || (f.state !== 'done' && f.state !== 'failed')) return { input: p.input, status: 'interrupted', frames: f?.frames ?? 0 };
      if (f.state === 'failed') return { input: p.input, status: 'failed', error: f.error ?? 'failed', frames: f.frames };
      // A job found done, by this run or an earlier one: its result, in the folder its worker wrote.
      return { ...(f.result ?? {}), input: p.input, status: 'ok', output: f.output };
    });
    const count = (s: FileResult['status']) => results.filter((r) => r.status === s).length;
    const summaryFile = path.join(out, 'summary.json');
    const summary: Summary = {
      graph, out, startedAt: new Date(t0).toISOString(), seconds: (Date.now() - t0) / 1000,
      ok: count('ok'), skipped: count('skipped'), failed: count('failed'), interrupted: count('interrupted'), files: results,
    };
    // Merged over runs into this --out, with or without --queue, as process.ts merges it: re-read now,
    // under the summary lock, so a run into the same --out meanwhile keeps its entries.
    await updateSummary(out, (previous) => ({ ...mergeSummary(previous, summary), queue: o.target.display }));
    return { ...base, done: count('ok') + count('skipped'), failed: count('failed'), waiting: count('interrupted'), seconds: summary.seconds, summary: summaryFile };
  } finally {
    await flows.close().catch(() => {});
    await queue.close().catch(() => {});
  }
}

/** Poll the files' jobs until each is done or failed (or the signal aborts); print progress and a line per finished file. */
async function waitFor(queue: Queue, plan: readonly Planned[], o: SubmitOptions, log: (m: string) => void): Promise<Map<string, FileStatus>> {
  const last = new Map<string, FileStatus>();
  const reported = new Set<string>();
  let lastLine = 0;
  const t0 = performance.now();
  let frames0: number | undefined;
  while (!o.signal?.aborted) {
    const round0 = performance.now();
    let pending = 0;
    for (const p of plan) {
      if (reported.has(p.id)) continue;
      const job = (await queue.getJob(p.id)) as Job<JobData, JobResult> | undefined;
      if (!job) {
        // Removed by someone else (or Redis lost it without persistence): nothing will finish it.
        last.set(p.id, { id: p.id, input: p.input, output: p.outDir, state: 'failed', frames: 0, total: 0, attempts: 0, error: 'its job is no longer in the queue (removed, or Redis lost it); submit again' });
      } else {
        last.set(p.id, await fileStatus(queue, job));
      }
      const f = last.get(p.id)!;
      if (f.state === 'done' || f.state === 'failed') {
        reported.add(p.id);
        if (o.tty) process.stderr.write('\r\x1b[K');
        if (f.state === 'done') log(`✓ ${f.input}: ${f.result?.status === 'skipped' ? 'already complete' : `${f.frames} frames`} → ${f.output}`);
        else log(`✗ ${f.input}: ${f.error} (after ${f.attempts} attempt${f.attempts === 1 ? '' : 's'})`);
      } else {
        pending++;
      }
    }
    if (pending === 0) break;
    const now = performance.now();
    if (o.tty || now - lastLine > 5000) {
      lastLine = now;
      const all = [...last.values()];
      const c = countStates(all);
      const frames = all.reduce((a, f) => a + f.frames, 0);
      const total = all.reduce((a, f) => a + f.total, 0);
      frames0 ??= frames;
      const secs = (now - t0) / 1000;
      const msg = `queue: ${c.done} done, ${c.active} active, ${c.waiting} waiting, ${c.failed} failed; ${frames}/${total || '?'} frames${secs > 1 ? `, ${((frames - frames0) / secs).toFixed(1)} fps` : ''}`;
      if (o.tty) process.stderr.write(`\r\x1b[K${msg}`);
      else log(msg);
    }
    // Every pending file is read each round: with many files, rounds are spaced by what a round costs.
    await new Promise((r) => setTimeout(r, Math.max(500, performance.now() - round0)));
  }
  if (o.tty) process.stderr.write('\r\x1b[K');
  return last;
}

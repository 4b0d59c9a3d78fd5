/**
 * `segflow worker --queue redis://…`: takes jobs of `process --queue` from
 * Redis (BullMQ) and runs them, `concurrency` at a time.
 *
 * A `file` job runs the graph over one file, a `chunk` job over one range of
 * frames (the decoders seek there; the range starts with a discontinuity; the
 * encoders write video only, the stitch adds the audio once), both through
 * process.ts's `processOne`: output written in a hidden work folder and renamed
 * when complete; a folder holding this input's (or this chunk's) complete
 * output is kept, so a retried job reuses it; a folder that holds anything else
 * is never replaced — the job takes the next free name, as `process` does. The
 * input must still be the file submitted (same size, mtime and content sample),
 * else the job fails saying so. A `stitch` job joins a file's chunks (stitch.ts). BullMQ holds a lock on each
 * active job and renews it every `lockMs / 2`; a worker that dies (SIGKILL,
 * power) stops renewing, and after `lockMs` another worker's stalled-job check
 * puts the job back in the queue. A job that throws is retried up to its
 * attempts, then failed with its error; the other jobs go on.
 *
 * Stopping: the first SIGINT/SIGTERM takes no new job and finishes the current
 * ones; the second stops them and releases them to the queue (no attempt used).
 */
import os from 'node:os';
import path from 'node:path';
import { readFileSync, statSync } from 'node:fs';
import { mkdirs } from '../../media/output.ts';
import { DelayedError, Queue, WaitingError, Worker, type Job } from 'bullmq';
import { processOne, type FileResult, type Progress } from '../process.ts';
import { assignFolders, baseName, identityOf, inspectFolder, removeLeftovers, sameIdentity, type Assignment, type InputIdentity } from '../process-folders.ts';
import { Metrics } from '../../core/runtime/metrics.ts';
import { chunkIdentity, chunksDir, QUEUE_NAME, rangeSets, sha256, type JobData, type JobResult } from './jobs.ts';
import type { RedisTarget } from './redis-url.ts';
import { removeChunks, stitch } from './stitch.ts';
import { workersSeen } from './status.ts';
import { loadGraphFile, type Registry } from '../../core/graph/loader.ts';
import { ffmpegOwnProcessGroup } from '../../media/ffmpeg.ts';

export interface QueueWorkerOptions {
  readonly target: RedisTarget;
  /** Jobs run at once by this process. @default 1 */
  readonly concurrency?: number;
  /** BullMQ lock duration (ms): a dead worker's job is taken over after about this long. @default 30000 */
  readonly lockMs?: number;
  /** The graph used for jobs submitted without `--graph` (this installation's default). */
  readonly defaultGraph: string;
  /** The node types graphs are made of. */
  readonly registry: Registry;
  /** First abort: finish current jobs and stop. */
  readonly stop: AbortSignal;
  /** Abort: stop current jobs now and release them. */
  readonly release: AbortSignal;
  readonly log?: (m: string) => void;
}

export interface QueueWorker {
  readonly name: string;
  /** segflow_queue_* counters and the queue's job counts (Prometheus). */
  readonly metrics: Metrics;
  /** Resolves when the worker has stopped. */
  readonly done: Promise<void>;
}

/** A job submitted with another graph than this worker's file of that name. */
class GraphMismatch extends Error {}

/** The input as it is now must be the one submitted: a changed file is not written under its old identity. */
function checkIdentity(input: string, submitted: InputIdentity): void {
  let now: InputIdentity | undefined;
  try {
    const st = statSync(input);
    if (st.isFile()) now = identityOf({ path: input, rel: submitted.rel }, st);
  } catch {
    throw new Error(`${input}: no such file (it was there when submitted)`);
  }
  if (!sameIdentity(now, submitted)) {
    throw new Error(`${input}: changed since it was submitted (size, mtime or content); expected ${submitted.size} bytes, mtime ${new Date(submitted.mtimeMs).toISOString()}; submit it again`);
  }
}

/**
 * The output folder now: the one named at submit when it is free or holds this input's output;
 * else (taken meanwhile by something else) the next free name, as `process` would choose it.
 */
export function folderNow(out: string, name: string, dir: string, id: InputIdentity): Assignment {
  const f = inspectFolder(dir);
  if (f.why === 'absent') return { name, dir };
  if (sameIdentity(f.identity, id) && f.result?.status === 'ok') return { name, dir, existing: f.result };
  return assignFolders(out, [{ base: baseName(id.rel), id }])[0]!;
}

/** Without what a job result need not carry in Redis (per-node metrics, the earlier result of a skipped one). */
function lean(r: FileResult): JobResult {
  const { metrics: _m, earlier: _e, ...rest } = r as FileResult & { earlier?: unknown };
  return rest;
}

export async function startQueueWorker(o: QueueWorkerOptions): Promise<QueueWorker> {
  const log = o.log ?? ((m: string) => process.stderr.write(m + '\n'));
  // A terminal's Ctrl-C reaches the worker alone: its ffmpeg children finish the job it was told to finish.
  ffmpegOwnProcessGroup();
  const lockMs = o.lockMs ?? 30_000;
  const name = `${os.hostname()}:${process.pid}`;
  const metrics = new Metrics();
  const graphs = new Map<string, string>();

  const graphFor = (d: JobData): string => {
    const g = d.graph ?? o.defaultGraph;
    let h = graphs.get(g);
    if (h === undefined) {
      h = sha256(readFileSync(g));
      graphs.set(g, h);
    }
    if (h !== d.graphHash) throw new GraphMismatch(`graph ${g} on worker ${name} differs from the one submitted (another segflow version or an edited file); expected sha256 ${d.graphHash.slice(0, 12)}…, got ${h.slice(0, 12)}…`);
    return g;
  };

  /** Graph hashes this worker has said it refuses (said once each, not once a job). */
  const refusing = new Set<string>();
  /**
   * A job for another graph is handed back (no attempt used) for a worker that has it: one stale
   * machine in a fleet must not fail every file it happens to pick up. Only when every worker
   * connected now has handed it back does it fail, with the mismatch as its error (its attempts
   * then run as for any error, so a worker that joins meanwhile still gets it).
   */
  const refuse = async (job: Job<JobData, JobResult>, token: string | undefined, e: GraphMismatch): Promise<never> => {
    const refusedBy = [...new Set([...(job.data.refusedBy ?? []), name])];
    // Redis without CLIENT LIST (some managed services): the mismatch is an error as any other.
    const live = await workersSeen(queue).then((ws) => ws.map((w) => w.name), () => [name]);
    if (live.every((n) => refusedBy.includes(n))) {
      log(`worker ${name}: ${e.message}; no worker connected now has the submitted graph: attempt ${job.attemptsMade + 1}${job.opts.attempts ? ` of ${job.opts.attempts}` : ''} failed`);
      throw e;
    }
    await job.updateData({ ...job.data, refusedBy });
    if (!refusing.has(job.data.graphHash)) {
      refusing.add(job.data.graphHash);
      log(`worker ${name}: ${e.message}: handed back to the queue for a worker with the submitted graph (no attempt used; this worker says so once per graph)`);
    }
    // Held a moment first: a stale worker must not spin through the queue taking and handing back.
    await new Promise((r) => setTimeout(r, 1000));
    await job.moveToDelayed(Date.now() + 1000, token);
    throw new DelayedError();
  };

  let active = 0;
  let idleSince = Date.now();
  const processor = async (job: Job<JobData, JobResult>, token?: string): Promise<JobResult> => {
    active++;
    try {
      return await run(job, token);
    } finally {
      if (--active === 0) idleSince = Date.now();
    }
  };
  const run = async (job: Job<JobData, JobResult>, token?: string): Promise<JobResult> => {
    const d = job.data;
    const t0 = performance.now();
    const what = d.kind === 'chunk' ? `${d.input} frames ${d.start}..${d.count ? d.start + d.count - 1 : 'end'}` : `${d.input}${d.kind === 'stitch' ? ` (stitching ${d.chunks.length} chunks)` : ''}`;
    let graph: string;
    try {
      graph = graphFor(d);
    } catch (e) {
      if (e instanceof GraphMismatch) return refuse(job, token, e);
      throw e;
    }
    log(`worker ${name}: ${d.kind} ${what} (attempt ${job.attemptsMade + 1}${job.opts.attempts ? ` of ${job.opts.attempts}` : ''})`);
    if (!d.identity) throw new Error(`${d.input}: its job carries no input identity (submitted by an older segflow); submit it again`);
    checkIdentity(d.input, d.identity);
    // Work folders of dead workers of this machine (SIGKILL, power loss): theirs only, marked with pid and host.
    for (const dir of d.kind === 'chunk' ? [d.out, path.dirname(d.dir)] : [d.out]) {
      for (const gone of removeLeftovers(dir)) log(`worker ${name}: removed ${gone} (the work folder of a worker of this machine that died)`);
    }
    if (d.kind === 'stitch') {
      const folder = folderNow(d.out, d.name, d.outDir, d.identity);
      // Stitched before, by a worker that died before it could say so (its chunks may be gone already).
      if (folder.existing) {
        removeChunks(chunksDir(d.out, d.name));
        log(`worker ${name}: ${what}: already stitched → ${folder.dir}`);
        return { ...(folder.existing as JobResult), output: folder.dir };
      }
      if (folder.note) log(`worker ${name}: note: ${d.input}: ${folder.note}`);
      const r = await stitch({ input: d.input, identity: d.identity, graph, registry: o.registry, sets: d.sets, out: d.out, folder, chunks: d.chunks });
      removeChunks(chunksDir(d.out, d.name));
      metrics.count('queue_jobs_completed_total', { kind: d.kind }, 1, 'Jobs this worker completed, by kind.');
      log(`worker ${name}: stitched ${d.input}: ${r.frames} frames → ${r.output}`);
      return r;
    }
    let sets = [...d.sets];
    let out = d.out;
    let folder: Assignment;
    let id = d.identity;
    let total = d.frames || undefined;
    if (d.kind === 'chunk') {
      const nodes = loadGraphFile(graph, o.registry, { sets, vars: { input: d.input, out: d.dir } }).nodes;
      const decoders = nodes.filter((n) => n.type === 'decoder').map((n) => n.name);
      // A chunk's mp4 is video only: the input's audio is added once, by the stitch (a chunk would get the file's first seconds).
      const audio = nodes.filter((n) => n.type === 'encoder' && (n.options as { audioFrom?: string }).audioFrom).map((n) => `${n.name}.audioFrom=''`);
      sets = [...sets, ...rangeSets(decoders, d.start, d.count), ...audio];
      out = path.dirname(d.dir);
      id = chunkIdentity(d.identity, d.start, d.count);
      const f = inspectFolder(d.dir);
      folder = { name: path.basename(d.dir), dir: d.dir, ...(sameIdentity(f.identity, id) && f.result?.status === 'ok' ? { existing: f.result } : {}) };
      if (f.why !== 'absent' && !folder.existing) throw new Error(`${d.dir} holds something other than this chunk's output; left alone (remove it to redo the chunk)`);
      total = d.count || (d.frames ? d.frames - d.start : undefined);
    } else {
      folder = folderNow(d.out, d.name, d.outDir, d.identity);
    }
    let last = 0;
    const progress: Progress = {
      start: () => {},
      frame: (_f, n) => {
        const now = performance.now();
        if (now - last < 500) return;
        last = now;
        void job.updateProgress({ frames: n, total: total ?? 0 }).catch(() => {});
      },
      end: () => {},
    };
    mkdirs(path.resolve(out));
    const r: FileResult = await processOne(d.input, id, folder, { inputs: [d.input], out, graph, registry: o.registry, sets, signal: o.release, progress });
    const result = lean(r);
    if (r.status === 'interrupted') {
      // Released, not failed: back to the queue for another worker, no attempt used.
      await job.moveToWait(token);
      log(`worker ${name}: released ${what} to the queue`);
      throw new WaitingError();
    }
    if (r.status === 'failed') {
      metrics.count('queue_jobs_failed_total', { kind: d.kind }, 1, 'Job attempts that failed on this worker, by kind.');
      log(`worker ${name}: ${d.kind} ${what} failed: ${r.error}`);
      throw new Error(r.error ?? 'failed');
    }
    metrics.count('queue_jobs_completed_total', { kind: d.kind }, 1);
    metrics.count('queue_frames_total', {}, r.frames ?? 0, 'Frames this worker segmented.');
    await job.updateProgress({ frames: r.frames ?? 0, total: r.frames ?? 0 }).catch(() => {});
    log(`worker ${name}: ${d.kind} ${what} ${r.status === 'skipped' ? 'already complete' : `done: ${r.frames} frames in ${((performance.now() - t0) / 1000).toFixed(1)} s`}`);
    return result;
  };

  const worker = new Worker<JobData, JobResult>(QUEUE_NAME, processor, {
    connection: o.target.options,
    name,
    concurrency: o.concurrency ?? 1,
    lockDuration: lockMs,
    stalledInterval: Math.max(1000, Math.min(30_000, lockMs)),
    // A job whose worker died is put back this many times before it is failed (a job that kills its workers).
    maxStalledCount: 3,
    autorun: false,
  });
  // Redis away: ioredis retries several times a second; that is said once, and its return once; other errors once each until they change.
  let lastError = '';
  let repeated = 0;
  let away = false;
  worker.on('error', (e) => {
    const unreachable = /ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENOTFOUND|EHOSTUNREACH|EAI_AGAIN|Connection is closed/.test(e.message);
    if (unreachable ? away : e.message === lastError) return void repeated++;
    lastError = e.message;
    repeated = 0;
    away ||= unreachable;
    log(`worker ${name}: redis: ${e.message}${unreachable ? ' (retrying; said once until it is back)' : ''}`);
  });
  const reachable = () => {
    if (!away) return;
    log(`worker ${name}: redis: reachable again${repeated ? ` (after ${repeated + 1} connection errors)` : ''}`);
    away = false;
    lastError = '';
  };
  worker.on('stalled', (id) => log(`worker ${name}: job ${id} stalled (its worker stopped renewing the lock): back in the queue`));
  // Queue-wide counts for Prometheus, refreshed in the background (the metrics endpoint is synchronous).
  const queue = new Queue(QUEUE_NAME, { connection: o.target.options });
  queue.on('error', () => {});
  let queueText = '';
  const refresh = async () => {
    try {
      queueText = (await queue.exportPrometheusMetrics({ worker: name })).replace(/^(# (?:HELP|TYPE) )?bullmq_/gm, '$1segflow_queue_bullmq_');
      reachable();
    } catch {
      /* Redis away: keep the last counts */
    }
  };
  const timer = setInterval(() => void refresh(), 2000);
  timer.unref();
  void refresh();
  const base = metrics.prometheus.bind(metrics);
  metrics.prometheus = () => base() + queueText;

  await worker.waitUntilReady();
  log(`worker ${name}: waiting for jobs on ${o.target.display} (queue '${QUEUE_NAME}', concurrency ${o.concurrency ?? 1}, lock ${lockMs} ms)`);
  const running = worker.run();
  let closed!: () => void;
  const stopped = new Promise<void>((r) => (closed = r));
  o.stop.addEventListener('abort', () => {
    log(`worker ${name}: stopping: finishing the current job${(o.concurrency ?? 1) > 1 ? 's' : ''} (signal again to release ${(o.concurrency ?? 1) > 1 ? 'them' : 'it'} to the queue now)`);
    worker.close().then(closed, closed);
    // With Redis away, closing waits for it for ever: once no job is in hand, give it 5 s.
    const watchdog = setInterval(() => {
      if (active > 0 || Date.now() - idleSince < 5000) return;
      log(`worker ${name}: Redis does not answer; stopping without a clean disconnect`);
      closed();
    }, 500);
    watchdog.unref();
    void stopped.then(() => clearInterval(watchdog));
  }, { once: true });
  const done = Promise.race([running, stopped]).then(async () => {
    clearInterval(timer);
    const quick = (p: Promise<unknown>) => Promise.race([p.catch(() => {}), new Promise((r) => setTimeout(r, 3000).unref())]);
    await quick(worker.close());
    await quick(queue.close());
    log(`worker ${name}: stopped`);
  });
  return { name, metrics, done };
}



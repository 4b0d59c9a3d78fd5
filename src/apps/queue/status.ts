/**
 * Where the files of `process --queue` stand: per file waiting / active / done
 * / failed (with the error), frames done of the total, chunks done, and the
 * workers connected to the queue. Read from Redis only, so any machine can
 * ask (`segflow status --queue …`), and the submitting command uses the same
 * reading to show progress.
 */
import type { Job, Queue } from 'bullmq';
import { formatTable } from '../../core/runtime/metrics.ts';
import { chunkJobId, type JobData, type JobResult } from './jobs.ts';

export type FileState = 'waiting' | 'active' | 'done' | 'failed';

export interface FileStatus {
  /** The file's job id (its `file` or `stitch` job). */
  readonly id: string;
  readonly input: string;
  readonly output: string;
  readonly state: FileState;
  /** Frames segmented so far, and the file's declared frame count (0 = unknown). */
  readonly frames: number;
  readonly total: number;
  /** Chunked files: chunks done of all. */
  readonly chunks?: { readonly done: number; readonly total: number } | undefined;
  /** Failed: the error of the job (or the chunk) that failed, and its attempts. */
  readonly error?: string | undefined;
  readonly attempts: number;
  /** Done: the result (skipped when the output already existed). */
  readonly result?: JobResult | undefined;
  /** Waiting: workers that handed it (or one of its chunks) back, their graph not the submitted one. */
  readonly refusedBy?: readonly string[] | undefined;
}

export interface WorkerSeen {
  readonly name: string;
  readonly addr: string;
  /** Seconds connected, and since its last command. */
  readonly ageS: number;
  readonly idleS: number;
}

export interface QueueStatus {
  readonly files: readonly FileStatus[];
  readonly counts: Readonly<Record<FileState, number>>;
  readonly workers: readonly WorkerSeen[];
}

const ALL = ['waiting', 'active', 'completed', 'failed', 'delayed', 'waiting-children', 'prioritized'] as const;

function progressOf(job: Job | undefined): number {
  const p = job?.progress as { frames?: number } | number | undefined;
  return typeof p === 'object' && p && typeof p.frames === 'number' ? p.frames : 0;
}

/**
 * A job's state, and the job as it was at that state or later. A job object is a snapshot: one
 * read while its last attempt ran, whose state is read after that attempt failed, says "failed"
 * with the previous attempt's count and error. A job seen finished is read again, after its state.
 */
export async function settled(queue: Queue, job: Job<JobData, JobResult>): Promise<{ job: Job<JobData, JobResult>; state: string }> {
  const state = await job.getState();
  if (state !== 'completed' && state !== 'failed') return { job, state };
  const now = (await queue.getJob(job.id!)) as Job<JobData, JobResult> | undefined;
  return { job: now ?? job, state };
}

/** One file's status from its job (and its chunk jobs). */
export async function fileStatus(queue: Queue, seen: Job<JobData, JobResult>): Promise<FileStatus> {
  const { job, state: raw } = await settled(queue, seen);
  const d = job.data;
  const base = { id: job.id!, input: d.input, output: d.outDir, total: d.frames, attempts: job.attemptsMade };
  if (raw === 'completed') {
    const r = job.returnvalue;
    // The folder the worker wrote (another name than submitted when that one was taken by then).
    return { ...base, output: r?.output ?? d.outDir, state: 'done', frames: r?.frames ?? d.frames, result: r, ...(d.kind === 'stitch' ? { chunks: { done: d.chunks.length, total: d.chunks.length } } : {}) };
  }
  let state: FileState = raw === 'failed' ? 'failed' : raw === 'active' ? 'active' : 'waiting';
  let frames = progressOf(job);
  let error = raw === 'failed' ? job.failedReason : undefined;
  let attempts = job.attemptsMade;
  let chunks: FileStatus['chunks'];
  const refusedBy = new Set(d.refusedBy ?? []);
  if (d.kind === 'stitch') {
    const kids = await Promise.all(d.chunks.map(async (c) => {
      const k = await queue.getJob(chunkJobId(job.id!, c.start)) as Job<JobData, JobResult> | undefined;
      return k ? settled(queue, k) : { job: undefined, state: 'unknown' };
    }));
    frames = 0;
    let done = 0;
    for (const k of kids) {
      if (k.state === 'completed') {
        done++;
        frames += k.job?.returnvalue?.frames ?? 0;
      } else {
        frames += progressOf(k.job);
      }
      if (k.state === 'active' && state === 'waiting') state = 'active';
      for (const w of (k.job?.data as JobData | undefined)?.refusedBy ?? []) if (k.state !== 'completed') refusedBy.add(w);
      // The parent fails with "child … failed": the child's own error says why.
      if (k.state === 'failed' && k.job) {
        error = `${k.job.failedReason} (frames ${(k.job.data as { start: number }).start}..)`;
        attempts = k.job.attemptsMade;
      }
    }
    chunks = { done, total: d.chunks.length };
  }
  return { ...base, state, frames, attempts, chunks, ...(state === 'failed' ? { error } : {}), ...(state === 'waiting' && refusedBy.size ? { refusedBy: [...refusedBy] } : {}) };
}

/** Every file known to the queue (file and stitch jobs in any state), oldest first, with the workers. */
export async function queueStatus(queue: Queue): Promise<QueueStatus> {
  const jobs = (await queue.getJobs([...ALL], 0, -1, true)) as Job<JobData, JobResult>[];
  const mine = jobs.filter((j) => j.name === 'file' || j.name === 'stitch').sort((a, b) => a.timestamp - b.timestamp);
  const files = [];
  for (const j of mine) files.push(await fileStatus(queue, j));
  return { files, counts: countStates(files), workers: await workersSeen(queue) };
}

export function countStates(files: readonly FileStatus[]): Record<FileState, number> {
  const c: Record<FileState, number> = { waiting: 0, active: 0, done: 0, failed: 0 };
  for (const f of files) c[f.state]++;
  return c;
}

/** Workers with a connection to the queue now (Redis CLIENT LIST). */
export async function workersSeen(queue: Queue): Promise<WorkerSeen[]> {
  const list = (await queue.getWorkers()) as Record<string, string>[];
  return list.map((w) => {
    const raw = w.rawname ?? w.name ?? '';
    const i = raw.indexOf(':w:');
    return { name: i >= 0 ? raw.slice(i + 3) : raw, addr: w.addr ?? '', ageS: Number(w.age ?? 0), idleS: Number(w.idle ?? 0) };
  });
}

/** `segflow status` text: one row per file, then the totals and the workers. */
export function formatQueueStatus(s: QueueStatus): string {
  const rows = [['file', 'state', 'frames', 'chunks', 'output / error']];
  for (const f of s.files) {
    const note = f.state === 'failed' ? `${f.error ?? 'failed'} (${f.attempts} attempt${f.attempts === 1 ? '' : 's'})`
      : f.result?.status === 'skipped' ? `${f.output} (existed)`
      : f.refusedBy?.length ? `${f.output} (handed back by ${f.refusedBy.join(', ')}: another graph than the submitted one; waiting for a worker that has it)`
      : f.output;
    rows.push([f.input, f.state, `${f.frames}/${f.total || '?'}`, f.chunks ? `${f.chunks.done}/${f.chunks.total}` : '-', note]);
  }
  const c = s.counts;
  let out = s.files.length ? formatTable(rows) + '\n' : 'no files in the queue\n';
  out += `${s.files.length} files: ${c.waiting} waiting, ${c.active} active, ${c.done} done, ${c.failed} failed\n`;
  out += `${s.workers.length} workers connected${s.workers.length ? ': ' + s.workers.map((w) => `${w.name} (${w.addr}, up ${w.ageS} s)`).join(', ') : ''}\n`;
  return out;
}

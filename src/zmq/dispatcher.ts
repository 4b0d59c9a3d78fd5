/**
 * The dispatcher of `segflow process --dispatch`: hands chunks of frames to
 * worker processes and gets their label maps back, reliably.
 *
 * ROUTER socket; workers connect with DEALER sockets. The reliability scheme
 * is the ZeroMQ guide's Paranoid Pirate: a worker announces READY, both sides
 * send HEARTBEAT every `heartbeatMs`, and a worker silent for `liveness`
 * heartbeats is expired — its chunk in flight goes back to the front of the
 * queue and to the next idle worker (a re-dispatch, logged and counted). A
 * worker that leaves (SIGINT/SIGTERM) says DISCONNECT and is expired at once.
 * Each idle worker gets one chunk at a time (least recently used first). The
 * first result for a chunk wins; a later one (the expired worker was only
 * slow) is ignored and counted as a duplicate, so every chunk is used exactly
 * once. A chunk that fails on `maxAttempts` workers fails its file. STATUS
 * requests (`segflow workers`) are answered with the workers' state.
 */
import os from 'node:os';
import * as zmq from 'zeromq';
import type { Frame, Labels } from '../packet.ts';
import { formatTable, Metrics } from '../runtime/metrics.ts';
import { bindEndpoint, checkEndpoint, decodeHeader, decodePackets, encodeControl, encodePackets, SendQueue, ZmqType } from './wire.ts';

export const DEFAULT_HEARTBEAT_MS = 1000;
export const DEFAULT_LIVENESS = 3;

export interface DispatcherOptions {
  /** tcp://HOST:PORT to bind (port 0 = any free port; see `endpoint` after `bind()`). */
  readonly endpoint: string;
  /** Heartbeat interval, both directions (ms). */
  readonly heartbeatMs?: number;
  /** Heartbeats a worker may miss before it is expired. */
  readonly liveness?: number;
  /** Workers a chunk may fail on (worker errors, not expiry) before its file fails. */
  readonly maxAttempts?: number;
  readonly log?: (message: string) => void;
}

/** A run of consecutive frames of one stream; the first carries a discontinuity. */
export interface Chunk {
  /** For humans: `file.mp4 segment [40..49]`. */
  readonly key: string;
  /** The segmenter node's name and its options (sent to the worker). */
  readonly node: string;
  readonly options: unknown;
  readonly frames: readonly Frame[];
}

export interface Ticket {
  readonly id: number;
  /** Labels, one per frame, in order. Rejects when the chunk failed on `maxAttempts` workers. */
  readonly result: Promise<Labels[]>;
}

interface Job extends Chunk {
  readonly id: number;
  state: 'queued' | 'running' | 'done';
  /** The worker it was last sent to. */
  worker?: string | undefined;
  sends: number;
  errors: string[];
  resolve(ls: Labels[]): void;
  reject(e: Error): void;
}

interface WorkerState {
  readonly id: string;
  readonly identity: Buffer;
  readonly name: string;
  readonly joinedAt: number;
  lastSeen: number;
  job?: Job | undefined;
  completed: number;
}

export interface WorkerStatus {
  readonly name: string;
  readonly state: 'idle' | 'busy';
  readonly chunk?: string | undefined;
  readonly completed: number;
  readonly lastSeenMs: number;
  readonly upS: number;
}

export interface DispatchStats {
  readonly endpoint: string;
  readonly workersAlive: number;
  readonly workersSeen: number;
  readonly workersExpired: number;
  readonly chunksDispatched: number;
  readonly chunksRedispatched: number;
  readonly chunksCompleted: number;
  readonly duplicatesIgnored: number;
  readonly chunksQueued: number;
}

export interface StatusReply extends DispatchStats {
  readonly workers: readonly WorkerStatus[];
}

export class Dispatcher {
  /** segflow_zmq_* counters and gauges (Prometheus names without the segflow_ prefix). */
  readonly metrics = new Metrics();
  endpoint = '';
  private readonly router = new zmq.Router({ linger: 0 });
  private readonly out = new SendQueue(this.router);
  private readonly heartbeatMs: number;
  private readonly liveness: number;
  private readonly maxAttempts: number;
  private readonly log: (m: string) => void;
  private readonly workers = new Map<string, WorkerState>();
  private idle: string[] = [];
  private readonly queue: Job[] = [];
  private readonly jobs = new Map<number, Job>();
  private readonly cancelled = new Set<number>();
  /** Names of workers seen, kept after they expire so a returning one is recognised in the log. */
  private readonly names = new Map<string, string>();
  private nextId = 0;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private s = { workersSeen: 0, workersExpired: 0, chunksDispatched: 0, chunksRedispatched: 0, chunksCompleted: 0, duplicatesIgnored: 0 };

  constructor(private readonly o: DispatcherOptions) {
    checkEndpoint(o.endpoint, '--dispatch');
    this.heartbeatMs = o.heartbeatMs ?? DEFAULT_HEARTBEAT_MS;
    this.liveness = o.liveness ?? DEFAULT_LIVENESS;
    this.maxAttempts = o.maxAttempts ?? 3;
    this.log = o.log ?? ((m) => process.stderr.write(m + '\n'));
    this.gauges();
  }

  async bind(): Promise<string> {
    await this.router.bind(bindEndpoint(this.o.endpoint));
    this.endpoint = this.router.lastEndpoint ?? this.o.endpoint;
    void this.receive();
    this.timer = setInterval(() => this.tick(), this.heartbeatMs);
    this.timer.unref();
    return this.endpoint;
  }

  /** Queue a chunk for the next idle worker. */
  submit(c: Chunk): Ticket {
    const id = this.nextId++;
    let resolve!: (ls: Labels[]) => void;
    let reject!: (e: Error) => void;
    const result = new Promise<Labels[]>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    const job: Job = { ...c, id, state: 'queued', sends: 0, errors: [], resolve, reject };
    this.jobs.set(id, job);
    this.queue.push(job);
    this.pump();
    return { id, result };
  }

  /** Forget a chunk (its run was stopped); a result that still arrives is dropped silently. */
  cancel(id: number): void {
    const job = this.jobs.get(id);
    if (!job) return;
    this.finish(job);
    this.cancelled.add(id);
    const i = this.queue.indexOf(job);
    if (i >= 0) this.queue.splice(i, 1);
    job.reject(new Error(`chunk ${job.key}: cancelled`));
  }

  stats(): DispatchStats {
    return { endpoint: this.endpoint, workersAlive: this.workers.size, ...this.s, chunksQueued: this.queue.length };
  }

  status(): StatusReply {
    const now = Date.now();
    const workers = [...this.workers.values()].map((w): WorkerStatus => ({
      name: w.name, state: w.job ? 'busy' : 'idle', chunk: w.job?.key, completed: w.completed,
      lastSeenMs: now - w.lastSeen, upS: Math.round((now - w.joinedAt) / 100) / 10,
    }));
    return { ...this.stats(), workers };
  }

  /** One line for stderr at the end of a run. */
  summaryLine(): string {
    const s = this.stats();
    return `dispatch: ${s.workersAlive} workers alive (${s.workersSeen} seen, ${s.workersExpired} expired), ${s.chunksCompleted} chunks completed, ${s.chunksRedispatched} re-dispatched, ${s.duplicatesIgnored} duplicate results ignored`;
  }

  /** `base`'s Prometheus text plus the segflow_zmq_* families, for `--metrics-port`. */
  metricsView(base: () => Metrics): Metrics {
    const view = new Metrics();
    view.prometheus = () => {
      const zmqLines = this.metrics.prometheus().split('\n').filter((l) => l.includes('segflow_zmq_'));
      return base().prometheus() + zmqLines.join('\n') + '\n';
    };
    return view;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    for (const job of [...this.jobs.values()]) this.cancel(job.id);
    this.router.close();
  }

  private async receive(): Promise<void> {
    try {
      for await (const [identity, header, ...rest] of this.router) {
        try {
          await this.onMessage(identity!, header, rest);
        } catch (e) {
          this.log(`dispatch: ignoring a malformed message: ${(e as Error).message}`);
        }
      }
    } catch (e) {
      if (!this.closed) this.log(`dispatch: socket failed: ${(e as Error).message}`);
    }
  }

  private async onMessage(identity: Buffer, header: Buffer | undefined, rest: Buffer[]): Promise<void> {
    if (!header) throw new TypeError('expected a header part, got none');
    const h = decodeHeader(header);
    const id = identity.toString('hex');
    const meta = (h.meta ?? {}) as Record<string, unknown>;
    if (h.type === ZmqType.status) {
      await this.out.send([identity, encodeControl(ZmqType.statusReply, this.status())]).catch(() => {});
      return;
    }
    let w = this.workers.get(id);
    if (h.type === ZmqType.disconnect) {
      if (w) this.expire(w, 'left');
      return;
    }
    // Paranoid Pirate: any message from an unknown worker (new, or expired but alive after all) registers it.
    if (!w) w = this.register(id, identity, meta, h.type === ZmqType.ready ? 'joined' : 'is back');
    w.lastSeen = Date.now();
    if (h.type === ZmqType.result) this.onResult(w, meta, rest);
    this.pump();
  }

  private register(id: string, identity: Buffer, meta: Record<string, unknown>, how: string): WorkerState {
    const name = typeof meta.name === 'string' && meta.name ? meta.name.slice(0, 80) : this.names.get(id) ?? id;
    this.names.set(id, name);
    if (this.names.size > 10_000) this.names.delete(this.names.keys().next().value as string);
    const w: WorkerState = { id, identity, name, joinedAt: Date.now(), lastSeen: Date.now(), completed: 0 };
    this.workers.set(id, w);
    this.idle.push(id);
    this.s.workersSeen++;
    this.metrics.count('zmq_workers_seen_total', {}, 1);
    this.gauges();
    this.log(`dispatch: worker ${name} ${how} (${this.workers.size} alive)`);
    return w;
  }

  private onResult(w: WorkerState, meta: Record<string, unknown>, parts: Buffer[]): void {
    const id = Number(meta.id);
    const mine = w.job;
    if (mine && mine.id === id) w.job = undefined;
    if (!w.job && !this.idle.includes(w.id)) this.idle.push(w.id);
    const job = this.jobs.get(id);
    if (!job || job.state === 'done') {
      if (this.cancelled.delete(id)) return;
      this.s.duplicatesIgnored++;
      this.metrics.count('zmq_duplicates_ignored_total', {}, 1);
      this.log(`dispatch: ignoring a duplicate result for chunk ${typeof meta.key === 'string' ? meta.key : id} from worker ${w.name} (already done)`);
      return;
    }
    let labels: Labels[] | undefined;
    let error = typeof meta.error === 'string' ? meta.error : undefined;
    if (!error) {
      try {
        labels = checkResult(job, decodePackets(parts));
      } catch (e) {
        error = `bad result: ${(e as Error).message}`;
      }
    }
    if (error || !labels) {
      job.errors.push(`${w.name}: ${error}`);
      if (job.errors.length >= this.maxAttempts) {
        this.finish(job);
        job.reject(new Error(`chunk ${job.key}: failed on ${job.errors.length} workers: ${job.errors.join('; ')}`));
      } else if (job.state === 'running' && job.worker === w.id) {
        this.requeue(job, `failed on worker ${w.name} (${error})`);
      }
      return;
    }
    this.finish(job);
    w.completed++;
    this.s.chunksCompleted++;
    this.metrics.count('zmq_chunks_completed_total', {}, 1);
    this.metrics.count('zmq_worker_chunks_completed_total', { worker: w.name }, 1, 'Chunks completed per worker.');
    job.resolve(labels);
  }

  private finish(job: Job): void {
    job.state = 'done';
    this.jobs.delete(job.id);
    this.gauges();
  }

  private requeue(job: Job, why: string): void {
    // A chunk that takes its workers down with it must not go round for ever.
    if (job.sends >= 3 * this.maxAttempts) {
      this.finish(job);
      job.reject(new Error(`chunk ${job.key}: sent ${job.sends} times, and ${why}; giving up`));
      return;
    }
    job.state = 'queued';
    job.worker = undefined;
    this.queue.unshift(job);
    this.s.chunksRedispatched++;
    this.metrics.count('zmq_chunks_redispatched_total', {}, 1);
    this.log(`dispatch: re-dispatching chunk ${job.key}: ${why}`);
  }

  private expire(w: WorkerState, why: 'silent' | 'left'): void {
    this.workers.delete(w.id);
    this.idle = this.idle.filter((x) => x !== w.id);
    this.s.workersExpired++;
    this.metrics.count('zmq_workers_expired_total', {}, 1);
    const what = why === 'left' ? 'left' : `silent for ${Date.now() - w.lastSeen} ms (${this.liveness} heartbeats missed): expired`;
    this.log(`dispatch: worker ${w.name} ${what} (${this.workers.size} alive)`);
    const job = w.job;
    w.job = undefined;
    if (job && job.state === 'running') this.requeue(job, `worker ${w.name} ${why === 'left' ? 'left' : 'expired'}`);
    this.gauges();
    this.pump();
  }

  private pump(): void {
    while (!this.closed) {
      while (this.queue.length > 0 && this.queue[0]!.state !== 'queued') this.queue.shift();
      if (this.queue.length === 0) break;
      const wid = this.idle.shift();
      if (wid === undefined) break;
      const w = this.workers.get(wid);
      if (!w || w.job) continue;
      const job = this.queue.shift()!;
      job.state = 'running';
      job.worker = w.id;
      if (job.sends++ === 0) {
        this.s.chunksDispatched++;
        this.metrics.count('zmq_chunks_dispatched_total', {}, 1);
      }
      w.job = job;
      const head = encodeControl(ZmqType.job, { id: job.id, key: job.key, node: job.node, options: job.options });
      void this.out.send([w.identity, head, ...encodePackets(job.frames)]).catch(() => {});
    }
    this.gauges();
  }

  private tick(): void {
    const now = Date.now();
    const hb = encodeControl(ZmqType.heartbeat);
    for (const w of [...this.workers.values()]) {
      if (now - w.lastSeen > this.liveness * this.heartbeatMs) this.expire(w, 'silent');
      else void this.out.send([w.identity, hb]).catch(() => {});
    }
  }

  private gauges(): void {
    this.metrics.gauge('zmq_workers_alive', {}, this.workers.size, 'Workers connected and heartbeating.');
    this.metrics.gauge('zmq_workers_busy', {}, [...this.workers.values()].filter((w) => w.job).length, 'Workers with a chunk in flight.');
    this.metrics.gauge('zmq_chunks_queued', {}, this.queue.length, 'Chunks waiting for an idle worker.');
    this.metrics.count('zmq_chunks_dispatched_total', {}, 0, 'Chunks sent to a worker (first time).');
    this.metrics.count('zmq_chunks_redispatched_total', {}, 0, 'Chunks sent again after their worker expired, left or failed.');
    this.metrics.count('zmq_chunks_completed_total', {}, 0, 'Chunks whose labels came back.');
    this.metrics.count('zmq_duplicates_ignored_total', {}, 0, 'Late results for chunks already completed by another worker.');
    this.metrics.count('zmq_workers_seen_total', {}, 0, 'Workers that joined (including returns after expiry).');
    this.metrics.count('zmq_workers_expired_total', {}, 0, 'Workers expired for missed heartbeats or gone.');
  }
}

/** The labels must match the chunk's frames one for one. */
function checkResult(job: Job, ps: readonly (Frame | Labels)[]): Labels[] {
  if (ps.length !== job.frames.length) throw new TypeError(`expected ${job.frames.length} label maps, got ${ps.length}`);
  return ps.map((p, i) => {
    const f = job.frames[i]!;
    if (p.kind !== 'labels') throw new TypeError(`expected labels, got a ${p.kind}`);
    if (p.seq !== f.seq || p.source !== f.source || p.width !== f.width || p.height !== f.height) {
      throw new TypeError(`expected labels for ${f.source}#${f.seq} ${f.width}x${f.height}, got ${p.source}#${p.seq} ${p.width}x${p.height}`);
    }
    // The frame's own metadata (its discontinuity reason) wins over what came back.
    return Object.freeze({ ...p, discontinuity: f.discontinuity });
  });
}

/** Ask a dispatcher for its status (the `segflow workers` command). */
export async function requestStatus(endpoint: string, timeoutMs = 3000): Promise<StatusReply> {
  checkEndpoint(endpoint, '--connect');
  const sock = new zmq.Dealer({ linger: 0, receiveTimeout: timeoutMs });
  try {
    sock.connect(endpoint);
    await sock.send([encodeControl(ZmqType.status, { name: `status@${os.hostname()}` })]);
    for (;;) {
      const [header] = await sock.receive();
      const h = decodeHeader(header!);
      if (h.type === ZmqType.statusReply) return h.meta as StatusReply;
    }
  } catch (e) {
    if ((e as { code?: string }).code === 'EAGAIN') throw new Error(`no dispatcher answered on ${endpoint} within ${timeoutMs} ms`);
    throw e;
  } finally {
    sock.close();
  }
}

/** `segflow workers` output: one row per worker, then the totals. */
export function formatStatus(s: StatusReply): string {
  const rows = [['worker', 'state', 'chunk', 'completed', 'last seen ms', 'up s']];
  for (const w of s.workers) rows.push([w.name, w.state, w.chunk ?? '-', String(w.completed), String(w.lastSeenMs), String(w.upS)]);
  return `${formatTable(rows)}\n${s.workersAlive} workers alive (${s.workersSeen} seen, ${s.workersExpired} expired); chunks: ${s.chunksQueued} queued, ${s.chunksDispatched} dispatched, ${s.chunksRedispatched} re-dispatched, ${s.chunksCompleted} completed; ${s.duplicatesIgnored} duplicate results ignored\n`;
}

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
 *
 * Live streams (`segflow run --dispatch`, `openStream`): each stream is
 * sticky — every frame goes to one worker, which keeps the stream's segmenter
 * (temporal state) between frames. A new stream goes to the live worker with
 * the fewest streams (then the fewest frames in flight, then the earliest
 * joined). Freshest-frame semantics: at most `inFlight` (1–2) frames of a
 * stream are at its worker; a newer frame waits in a one-frame slot, and a
 * frame replaced there is dropped and counted (a discontinuity mark it carried
 * passes to its replacement). When the worker expires or leaves, its frames
 * in flight are counted lost (never waited for) and the stream moves at once
 * to the least-loaded live worker; the first frame sent there carries the
 * discontinuity `reassign`, so that worker starts fresh state and every
 * stateful node downstream resets (the first frame of a stream carries
 * `start` unless it has its own mark). When a worker joins and another holds
 * at least two streams more than it (`rebalance`, on by default), streams move
 * to it until no worker holds two more than another: each move is a
 * `reassign` (a fresh state and a key frame there), so one stream moves per
 * step of imbalance, never back and forth; the frame in flight at the old
 * worker comes back from it, and the next frame goes to the new one. Streams
 * without a worker (none alive) keep their freshest frame and go to the next
 * worker that joins. A late result (its frame was
 * counted lost) is ignored and counted as a duplicate. A frame whose seq is
 * not above the last one offered starts a new numbering (its source
 * restarted, e.g. a zmq-source whose sender did): labels are then in order by
 * numbering, then seq, so the new numbering's are not taken for stale ones. A
 * worker that expires or leaves loses only the frames in flight at it, also
 * those of streams that had moved on from it (inFlight 2); a frame that times
 * out moves its stream only if it was at the stream's worker now. A failed frame moves
 * the stream to a worker that has not failed it (if one is alive);
 * `maxAttempts` failed frames in a row, on as many different workers as are
 * alive (up to `maxAttempts`), fail the stream.
 *
 * Untrusted peers (docs/security-zmq.md): a result counts only from the
 * worker the chunk or frame was sent to (others are ignored and counted as
 * foreign); an error counts only from the worker holding the work now; every
 * part is bounded by `maxMessageSize`; at most `maxWorkers` peers register;
 * peer names are sanitised; a chunk or live frame not answered in time is
 * taken back; CURVE (`curveKeys`) admits only listed workers.
 */
import os from 'node:os';
import * as zmq from 'zeromq';
import { withDiscontinuity, type Frame, type Labels } from '../../core/packet.ts';
import { formatTable, Metrics } from '../../core/runtime/metrics.ts';
import { applyCurve, curveClient, exposureWarning, type CurveClientKeys, type CurveServerKeys } from './curve.ts';
import { bindEndpoint, checkEndpoint, decodeHeader, decodePackets, encodeControl, encodePacket, encodePackets, sanitize, SendQueue, socketLimits, ZMQ_MAX_FRAME_PIXELS, ZmqType } from '../../codecs/zmq-wire.ts';

export const DEFAULT_HEARTBEAT_MS = 1000;
export const DEFAULT_LIVENESS = 3;
/** A live frame not answered within this is counted lost and its stream moves (ms). */
export const DEFAULT_LIVE_FRAME_TIMEOUT_MS = 30_000;
/** A chunk not answered within this is taken back and sent elsewhere (ms). */
export const DEFAULT_CHUNK_TIMEOUT_MS = 600_000;
/** Workers registered at once; messages from further new peers are ignored and counted. */
export const DEFAULT_MAX_WORKERS = 256;
/** The node type workers run: a graph's nodes of this type are handed to them (remote-segmenter.ts, live-segmenter.ts, worker.ts). */
export const SEGMENTER_TYPE = 'two-branch-segmenter';

export interface DispatcherOptions {
  /** tcp://HOST:PORT to bind (port 0 = any free port; see `endpoint` after `bind()`). */
  readonly endpoint: string;
  /** Heartbeat interval, both directions (ms). */
  readonly heartbeatMs?: number;
  /** Heartbeats a worker may miss before it is expired. */
  readonly liveness?: number;
  /** Workers a chunk may fail on (worker errors, not expiry) before its file fails. */
  readonly maxAttempts?: number;
  /** The command-line flag that gave the endpoint, for error messages. */
  readonly flag?: string;
  readonly log?: (message: string) => void;
  /** CURVE: only workers whose public key is listed may connect (docs/security-zmq.md). */
  readonly curveKeys?: CurveServerKeys | undefined;
  /** Largest frame (pixels) on the wire; bounds every message part (`maxMessageSize`, 3 bytes a pixel). */
  readonly maxFramePixels?: number;
  /** See DEFAULT_LIVE_FRAME_TIMEOUT_MS, DEFAULT_CHUNK_TIMEOUT_MS, DEFAULT_MAX_WORKERS. */
  readonly liveFrameTimeoutMs?: number;
  readonly chunkTimeoutMs?: number;
  readonly maxWorkers?: number;
  /** Move live streams onto a worker that joins when another holds two or more streams more (default true; see the top of this file). */
  readonly rebalance?: boolean;
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
  /** The worker it was last sent to, and when (Date.now()). */
  worker?: string | undefined;
  sentAt: number;
  /** Every worker (identity) it was sent to: only they may answer for it. */
  readonly sentTo: Set<string>;
  /** Workers (identity) that reported an error for it, or timed out. */
  readonly failedOn: Set<string>;
  sends: number;
  errors: string[];
  resolve(ls: Labels[]): void;
  reject(e: Error): void;
}

/** A live stream (`segflow run --dispatch`): one segmenter node instance of the graph. */
export interface StreamOptions {
  /** Unique per dispatcher, e.g. `rtsp-live/segment`. */
  readonly key: string;
  /** The segmenter node's name and its options (sent to the worker). */
  readonly node: string;
  readonly options: unknown;
  /** Frames of this stream a worker may hold (1 or 2; default 1). */
  readonly inFlight?: number;
  /** Labels for a frame sent, in seq order, with the frame's discontinuity as sent; `ms` from send to result. */
  onLabels(l: Labels, ms: number): void;
  /** The stream failed: `maxAttempts` frames in a row came back with an error. */
  onError(e: Error): void;
}

export interface LiveStream {
  readonly key: string;
  /** Offer the newest frame: sent now, or kept in the one-frame slot (replacing, and dropping, an older one). */
  push(f: Frame): void;
  /** Resolves once nothing is in flight, and nothing waits for a live worker. */
  drained(): Promise<void>;
  /** Forget the stream (what is in flight or waiting is dropped). */
  close(): void;
}

interface Stream extends StreamOptions {
  readonly maxInFlight: number;
  worker?: WorkerState | undefined;
  /** The last worker's name, for the move log line. */
  lastWorker?: string | undefined;
  /** A worker (identity) that let a frame of this stream time out: chosen again only if it is the only one. */
  avoid?: string | undefined;
  /** Workers (identity) whose frames of this stream failed since its last success. */
  readonly failedOn: Set<string>;
  assignments: number;
  /** Discontinuity for the next frame sent ('start', 'reassign', 'error'). */
  mark?: string | undefined;
  pending?: Frame | undefined;
  /** Frames at its worker: job id → the frame as sent, in which numbering. */
  readonly held: Map<number, { frame: Frame; at: number; worker: string; numbering: number }>;
  /** The numbering of the frames offered: one more each time a frame's seq is not above the last offered (its source restarted). */
  numbering: number;
  lastOffered: number;
  /** The last labels delivered: their numbering and seq (later ones must come after). */
  lastNumbering: number;
  lastSeq: number;
  errorsInRow: number;
  closed: boolean;
  waiters: (() => void)[];
  readonly byWorker: Map<string, number>;
  readonly n: { received: number; done: number; dropped: number; lost: number; failed: number; reassignments: number };
}

interface WorkerState {
  readonly id: string;
  readonly identity: Buffer;
  readonly name: string;
  readonly joinedAt: number;
  lastSeen: number;
  job?: Job | undefined;
  completed: number;
  /** Live streams assigned here. */
  readonly streams: Set<Stream>;
  /** Live frames done, and in hand now. */
  framesDone: number;
  liveInFlight: number;
}

export interface WorkerStatus {
  readonly name: string;
  readonly state: 'idle' | 'busy';
  readonly chunk?: string | undefined;
  /** Chunks completed (offline). */
  readonly completed: number;
  /** Live streams assigned to this worker. */
  readonly streams: readonly string[];
  /** Live frames segmented. */
  readonly framesDone: number;
  /** Frames in hand now (live frames, plus the frames of its chunk). */
  readonly inFlight: number;
  readonly lastSeenMs: number;
  readonly upS: number;
}

export interface StreamStatus {
  readonly key: string;
  readonly worker?: string | undefined;
  readonly inFlight: number;
  /** A frame waiting for room at the worker (0 or 1). */
  readonly waiting: number;
  /** Frames offered by the graph: done + dropped + lost + failed + inFlight + waiting. */
  readonly received: number;
  readonly done: number;
  /** Replaced in the freshest slot (the worker still had a frame in hand). */
  readonly dropped: number;
  /** In flight at a worker that expired or left. */
  readonly lost: number;
  readonly failed: number;
  readonly reassignments: number;
  /** Frames done per worker name. */
  readonly byWorker: Readonly<Record<string, number>>;
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
  /** Results from a peer the chunk or frame was never sent to (ignored). */
  readonly foreignResultsIgnored: number;
  /** Messages that did not decode, or from new peers beyond `maxWorkers` (ignored). */
  readonly badMessages: number;
  readonly chunksQueued: number;
  /** Live streams open, and totals over every stream ever opened. */
  readonly streams: number;
  readonly streamFramesDone: number;
  readonly streamFramesDropped: number;
  readonly streamFramesLost: number;
  readonly streamReassignments: number;
}

export interface StatusReply extends DispatchStats {
  readonly workers: readonly WorkerStatus[];
  readonly streamList: readonly StreamStatus[];
}

/** Per-stream counters (label `stream`), with their help text. */
const STREAM_COUNTERS = {
  zmq_stream_frames_total: 'Live frames segmented, per stream.',
  zmq_stream_frames_dropped_total: 'Live frames dropped: a newer frame replaced them while the worker was busy.',
  zmq_stream_frames_lost_total: 'Live frames in flight at a worker that expired or left (not waited for).',
  zmq_stream_reassignments_total: 'Times a live stream moved to another worker.',
} as const;

export class Dispatcher {
  /** segflow_zmq_* counters and gauges (Prometheus names without the segflow_ prefix). */
  readonly metrics = new Metrics();
  endpoint = '';
  private readonly router: zmq.Router;
  private readonly out: SendQueue;
  private readonly maxPixels: number;
  private readonly liveTimeoutMs: number;
  private readonly chunkTimeoutMs: number;
  private readonly maxWorkers: number;
  private uncurve: () => void = () => {};
  private readonly heartbeatMs: number;
  private readonly liveness: number;
  private readonly maxAttempts: number;
  private readonly log: (m: string) => void;
  private readonly workers = new Map<string, WorkerState>();
  private idle: string[] = [];
  private readonly queue: Job[] = [];
  private readonly jobs = new Map<number, Job>();
  private readonly cancelled = new Set<number>();
  /** Keys of recently finished chunks (id → key), for the log line of a late result. */
  private readonly finishedKeys = new Map<number, string>();
  private readonly streams = new Map<string, Stream>();
  /** Live frames in flight: job id → its stream. */
  private readonly liveJobs = new Map<number, Stream>();
  private streamsOpened = 0;
  /** Names of workers seen, kept after they expire so a returning one is recognised in the log. */
  private readonly names = new Map<string, string>();
  private nextId = 0;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private s = {
    workersSeen: 0, workersExpired: 0, chunksDispatched: 0, chunksRedispatched: 0, chunksCompleted: 0, duplicatesIgnored: 0,
    foreignResultsIgnored: 0, badMessages: 0, streamFramesDone: 0, streamFramesDropped: 0, streamFramesLost: 0, streamReassignments: 0,
  };

  constructor(private readonly o: DispatcherOptions) {
    checkEndpoint(o.endpoint, '--dispatch');
    this.heartbeatMs = o.heartbeatMs ?? DEFAULT_HEARTBEAT_MS;
    this.liveness = o.liveness ?? DEFAULT_LIVENESS;
    this.maxAttempts = o.maxAttempts ?? 3;
    this.maxPixels = o.maxFramePixels ?? ZMQ_MAX_FRAME_PIXELS;
    this.liveTimeoutMs = o.liveFrameTimeoutMs ?? DEFAULT_LIVE_FRAME_TIMEOUT_MS;
    this.chunkTimeoutMs = o.chunkTimeoutMs ?? DEFAULT_CHUNK_TIMEOUT_MS;
    this.maxWorkers = o.maxWorkers ?? DEFAULT_MAX_WORKERS;
    // Log lines quote peers (names, error texts): never let one forge a line or a terminal escape.
    const log = o.log ?? ((m: string) => process.stderr.write(m + '\n'));
    this.log = (m) => log(sanitize(m, 4000));
    this.router = new zmq.Router({ linger: 0, ...socketLimits(this.maxPixels) });
    this.out = new SendQueue(this.router);
    this.gauges();
  }

  async bind(): Promise<string> {
    this.uncurve = await applyCurve(this.router, this.o.curveKeys, true, this.o.flag ?? '--dispatch');
    try {
      await this.router.bind(bindEndpoint(this.o.endpoint));
    } catch (e) {
      throw new Error(`${this.o.flag ?? '--dispatch'} ${this.o.endpoint}: cannot listen there (${(e as Error).message}); expected an address of this machine, e.g. tcp://127.0.0.1:5555 or tcp://0.0.0.0:5555`);
    }
    this.endpoint = this.router.lastEndpoint ?? this.o.endpoint;
    const warning = exposureWarning(this.o.endpoint, Boolean(this.o.curveKeys), `the dispatcher (${this.o.flag ?? '--dispatch'})`);
    if (warning) this.log(`dispatch: ${warning}`);
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
    const job: Job = { ...c, id, state: 'queued', sends: 0, sentAt: 0, sentTo: new Set(), failedOn: new Set(), errors: [], resolve, reject };
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
    return { endpoint: this.endpoint, workersAlive: this.workers.size, ...this.s, chunksQueued: this.queue.length, streams: this.streams.size };
  }

  status(): StatusReply {
    const now = Date.now();
    const workers = [...this.workers.values()].map((w): WorkerStatus => ({
      name: w.name, state: w.job || w.liveInFlight > 0 ? 'busy' : 'idle', chunk: w.job?.key, completed: w.completed,
      streams: [...w.streams].map((s) => s.key), framesDone: w.framesDone, inFlight: w.liveInFlight + (w.job?.frames.length ?? 0),
      lastSeenMs: now - w.lastSeen, upS: Math.round((now - w.joinedAt) / 100) / 10,
    }));
    const streamList = [...this.streams.values()].map((s): StreamStatus => ({
      key: s.key, worker: s.worker?.name, inFlight: s.held.size, waiting: s.pending ? 1 : 0, ...s.n, byWorker: Object.fromEntries(s.byWorker),
    }));
    return { ...this.stats(), workers, streamList };
  }

  /** Wait until `n` workers are alive (or the signal aborts, or the dispatcher closes). */
  async waitForWorkers(n: number, signal?: AbortSignal): Promise<void> {
    while (this.workers.size < n && !signal?.aborted && !this.closed) await delay(50);
  }

  /** One line for stderr at the end of a run. */
  summaryLine(): string {
    const s = this.stats();
    const head = `dispatch: ${s.workersAlive} workers alive (${s.workersSeen} seen, ${s.workersExpired} expired), `;
    if (this.streamsOpened > 0) {
      return head + `${this.streamsOpened} live streams: ${s.streamFramesDone} frames done, ${s.streamFramesDropped} dropped (worker busy), ${s.streamFramesLost} lost with dead workers, ${s.streamReassignments} reassignments, ${s.duplicatesIgnored} late results ignored`;
    }
    return head + `${s.chunksCompleted} chunks completed, ${s.chunksRedispatched} re-dispatched, ${s.duplicatesIgnored} duplicate results ignored`;
  }

  /** `base`'s Prometheus text plus the segflow_zmq_* families, for `--metrics-port`. */
  metricsView(base: () => Metrics): Metrics {
    const view = new Metrics();
    view.prometheus = () => {
      this.gauges();
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
    for (const s of [...this.streams.values()]) this.closeStream(s);
    this.router.close();
    this.uncurve();
  }

  /** Open a live stream: its frames go to one worker, which keeps its temporal state (see the top of this file). */
  openStream(o: StreamOptions): LiveStream {
    if (this.streams.has(o.key)) throw new Error(`stream ${o.key}: already open on this dispatcher`);
    const s: Stream = {
      ...o, maxInFlight: Math.min(2, Math.max(1, o.inFlight ?? 1)), assignments: 0, held: new Map(), numbering: 0, lastOffered: -1, lastNumbering: 0, lastSeq: -1, errorsInRow: 0,
      closed: false, waiters: [], byWorker: new Map(), failedOn: new Set(), n: { received: 0, done: 0, dropped: 0, lost: 0, failed: 0, reassignments: 0 },
    };
    this.streams.set(o.key, s);
    this.streamsOpened++;
    for (const [c, help] of Object.entries(STREAM_COUNTERS)) this.metrics.count(c, { stream: o.key }, 0, help);
    this.pumpStream(s);
    return {
      key: o.key,
      push: (f) => this.offer(s, f),
      drained: () => new Promise<void>((resolve) => {
        s.waiters.push(resolve);
        this.checkDrained(s);
      }),
      close: () => this.closeStream(s),
    };
  }

  private offer(s: Stream, f: Frame): void {
    if (s.closed || this.closed) return;
    s.n.received++;
    // A seq not above the last offered: the source numbers afresh (it restarted); its labels are not stale.
    if (f.seq <= s.lastOffered) s.numbering++;
    s.lastOffered = f.seq;
    const old = s.pending;
    if (old) {
      // Freshest frame: the newer one takes the slot; a mark on the dropped one passes on.
      this.dropped(s, 1);
      if (old.discontinuity && !f.discontinuity) f = withDiscontinuity(f, old.discontinuity);
    }
    s.pending = f;
    this.pumpStream(s);
  }

  /** Assign the stream if it has no worker, and send its waiting frame if its worker has room. */
  private pumpStream(s: Stream): void {
    if (s.closed || this.closed) return;
    if (!s.worker) this.assign(s);
    const w = s.worker;
    if (w && s.pending && s.held.size < s.maxInFlight) {
      const f = s.pending;
      s.pending = undefined;
      this.sendFrame(s, w, f);
    }
    this.checkDrained(s);
  }

  /**
   * Spread live streams over the workers alive: while one holds two or more streams more than
   * another, one of its streams (one not sent a frame yet, else the one with the fewest frames in
   * flight, then the latest opened) moves to the worker with the fewest. Each move strictly lowers the imbalance: no stream moves back.
   */
  private rebalance(): void {
    for (;;) {
      const ws = [...this.workers.values()];
      if (ws.length < 2) return;
      const most = ws.reduce((a, b) => (b.streams.size > a.streams.size ? b : a));
      const least = ws.reduce((a, b) => (b.streams.size < a.streams.size ? b : a));
      if (most.streams.size - least.streams.size < 2) return;
      // A stream not sent a frame yet moves for free (no state to lose); else the fewest frames in flight.
      const cost = (x: Stream) => (x.mark === 'start' ? -1 : x.held.size);
      const s = [...most.streams].reduce((a, b) => (cost(b) <= cost(a) ? b : a));
      most.streams.delete(s);
      if (s.mark === 'start') {
        s.worker = least;
        least.streams.add(s);
        this.log(`dispatch: stream ${s.key} → worker ${least.name} (to balance the load; no frame sent yet)`);
        this.gauges();
      } else {
        s.lastWorker = most.name;
        s.worker = undefined;
        this.assign(s, least, 'to balance the load');
      }
      this.pumpStream(s);
    }
  }

  private assign(s: Stream, to?: WorkerState, why?: string): void {
    // Fewest streams, then fewest frames in hand; Map order is join order, so ties go to the earliest joined.
    const load = (w: WorkerState) => (w.id === s.avoid || s.failedOn.has(w.id) ? 1e12 : 0) + w.streams.size * 1e6 + w.liveInFlight + (w.job ? 1 : 0);
    let best: WorkerState | undefined = to;
    if (!best) for (const w of this.workers.values()) if (!best || load(w) < load(best)) best = w;
    if (!best) return;
    s.worker = best;
    best.streams.add(s);
    s.assignments++;
    if (s.assignments === 1) {
      s.mark = 'start';
      this.log(`dispatch: stream ${s.key} → worker ${best.name}`);
    } else {
      s.mark = 'reassign';
      s.n.reassignments++;
      this.s.streamReassignments++;
      this.metrics.count('zmq_stream_reassignments_total', { stream: s.key }, 1);
      this.log(`dispatch: stream ${s.key} moved from worker ${s.lastWorker ?? '?'} to worker ${best.name}${why ? ` ${why}` : ''} (reassign: it starts from fresh state)`);
    }
    this.gauges();
  }

  private sendFrame(s: Stream, w: WorkerState, f: Frame): void {
    // 'reassign' wins over the frame's own mark; 'start'/'error' only mark a frame that has none.
    const reason = s.mark === 'reassign' || !f.discontinuity ? s.mark ?? f.discontinuity : f.discontinuity;
    s.mark = undefined;
    const sent = reason && reason !== f.discontinuity ? withDiscontinuity(f, reason) : f;
    const id = this.nextId++;
    s.held.set(id, { frame: sent, at: performance.now(), worker: w.id, numbering: s.numbering });
    this.liveJobs.set(id, s);
    w.liveInFlight++;
    const head = encodeControl(ZmqType.job, { id, key: `${s.key} #${sent.seq}`, node: s.node, options: s.options, stream: s.key });
    void this.out.send([w.identity, head, ...encodePacket(sent)]).catch(() => {});
  }

  private onStreamResult(w: WorkerState, meta: Record<string, unknown>, parts: Buffer[]): void {
    const id = Number(meta.id);
    const s = this.liveJobs.get(id);
    const job = s?.held.get(id);
    if (!s || !job) {
      // Its frame was counted lost when its worker expired (or the stream closed): too late.
      this.s.duplicatesIgnored++;
      this.metrics.count('zmq_duplicates_ignored_total', {}, 1);
      return;
    }
    // Only the worker the frame was sent to may answer for it.
    if (job.worker !== w.id) return this.foreign(w, `frame ${s.key} #${job.frame.seq}`);
    this.liveJobs.delete(id);
    s.held.delete(id);
    const holder = this.workers.get(job.worker);
    if (holder) holder.liveInFlight--;
    let labels: Labels | undefined;
    let error = typeof meta.error === 'string' ? sanitize(meta.error, 300) : undefined;
    if (!error) {
      try {
        labels = decodeResult([job.frame], parts)[0];
      } catch (e) {
        error = sanitize(`bad result: ${(e as Error).message}`, 300);
      }
    }
    if (error || !labels) {
      s.n.failed++;
      s.errorsInRow++;
      // The worker's state for this stream may be gone: the next frame starts afresh.
      s.mark = 'error';
      if (s.n.failed === 1 || s.n.failed % 100 === 0) this.log(`dispatch: stream ${s.key}: frame #${job.frame.seq} failed on worker ${w.name} (${s.n.failed} so far): ${error}`);
      s.failedOn.add(w.id);
      // maxAttempts failures in a row fail the stream — on as many different workers as are alive
      // (up to maxAttempts), so that one bad or rogue worker cannot fail it alone.
      if (s.errorsInRow >= this.maxAttempts && s.failedOn.size >= Math.min(this.maxAttempts, this.workers.size)) {
        const e = new Error(`stream ${s.key}: ${s.errorsInRow} frames in a row failed on workers: ${error}`);
        this.closeStream(s);
        s.onError(e);
        return;
      }
      // Another worker that has not failed it takes the stream (fresh state there: 'reassign').
      if (s.worker === w && [...this.workers.values()].some((x) => !s.failedOn.has(x.id))) {
        w.streams.delete(s);
        s.lastWorker = w.name;
        s.avoid = w.id;
        s.worker = undefined;
      }
    } else {
      s.errorsInRow = 0;
      s.failedOn.clear();
      w.framesDone++;
      s.n.done++;
      s.byWorker.set(w.name, (s.byWorker.get(w.name) ?? 0) + 1);
      this.s.streamFramesDone++;
      this.metrics.count('zmq_stream_frames_total', { stream: s.key }, 1);
      this.metrics.count('zmq_worker_frames_total', { worker: w.name }, 1, 'Live frames segmented, per worker.');
      // Later than the last delivered: a later numbering, or a higher seq in the same one.
      if (job.numbering > s.lastNumbering || (job.numbering === s.lastNumbering && labels.seq > s.lastSeq)) {
        s.lastNumbering = job.numbering;
        s.lastSeq = labels.seq;
        s.onLabels(labels, performance.now() - job.at);
      } else {
        this.dropped(s, 1);
      }
    }
    this.pumpStream(s);
  }

  private dropped(s: Stream, n: number): void {
    s.n.dropped += n;
    this.s.streamFramesDropped += n;
    this.metrics.count('zmq_stream_frames_dropped_total', { stream: s.key }, n);
  }

  private checkDrained(s: Stream): void {
    if (s.waiters.length === 0) return;
    if (s.closed || (s.held.size === 0 && (!s.pending || !s.worker))) for (const r of s.waiters.splice(0)) r();
  }

  private closeStream(s: Stream): void {
    if (s.closed) return;
    s.closed = true;
    for (const [id, job] of s.held) {
      this.liveJobs.delete(id);
      const w = this.workers.get(job.worker);
      if (w) w.liveInFlight--;
    }
    s.held.clear();
    if (s.pending) this.dropped(s, 1);
    s.pending = undefined;
    s.worker?.streams.delete(s);
    s.worker = undefined;
    this.streams.delete(s.key);
    for (const r of s.waiters.splice(0)) r();
    this.gauges();
  }

  private async receive(): Promise<void> {
    try {
      for await (const [identity, header, ...rest] of this.router) {
        try {
          await this.onMessage(identity!, header, rest);
        } catch (e) {
          this.bad(`a malformed message: ${(e as Error).message}`);
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
    const meta = (h.meta !== null && typeof h.meta === 'object' && !Array.isArray(h.meta) ? h.meta : {}) as Record<string, unknown>;
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
    if (!w) {
      if (this.workers.size >= this.maxWorkers) return this.bad(`a message from a new peer: already ${this.workers.size} workers (the most allowed)`);
      w = this.register(id, identity, meta, h.type === ZmqType.ready ? 'joined' : 'is back');
    }
    w.lastSeen = Date.now();
    if (h.type === ZmqType.result && typeof meta.stream === 'string') this.onStreamResult(w, meta, rest);
    else if (h.type === ZmqType.result) this.onResult(w, meta, rest);
    this.pump();
  }

  private register(id: string, identity: Buffer, meta: Record<string, unknown>, how: string): WorkerState {
    // A peer's name is shown in logs, metrics and `segflow workers`: no control characters, bounded.
    const name = typeof meta.name === 'string' && meta.name ? sanitize(meta.name, 64) : this.names.get(id) ?? id;
    this.names.set(id, name);
    if (this.names.size > 10_000) this.names.delete(this.names.keys().next().value as string);
    const w: WorkerState = { id, identity, name, joinedAt: Date.now(), lastSeen: Date.now(), completed: 0, streams: new Set(), framesDone: 0, liveInFlight: 0 };
    this.workers.set(id, w);
    this.idle.push(id);
    this.s.workersSeen++;
    this.metrics.count('zmq_workers_seen_total', {}, 1);
    this.gauges();
    this.log(`dispatch: worker ${name} ${how} (${this.workers.size} alive)`);
    // Streams left without a worker (none was alive) go to the one that joined.
    for (const s of this.streams.values()) if (!s.worker) this.pumpStream(s);
    if (this.o.rebalance !== false) this.rebalance();
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
      this.log(`dispatch: ignoring a duplicate result for chunk ${this.finishedKeys.get(id) ?? `#${Number.isSafeInteger(id) ? id : '?'}`} from worker ${w.name} (already done, or never sent)`);
      return;
    }
    // Only a worker the chunk was sent to may answer for it (the first valid answer wins).
    if (!job.sentTo.has(w.id)) return this.foreign(w, `chunk ${job.key}`);
    let labels: Labels[] | undefined;
    let error = typeof meta.error === 'string' ? sanitize(meta.error, 300) : undefined;
    if (!error) {
      try {
        labels = decodeResult(job.frames, parts);
      } catch (e) {
        error = sanitize(`bad result: ${(e as Error).message}`, 300);
      }
    }
    if (error || !labels) {
      // An error counts only from the worker holding the chunk now (once per send), and a chunk
      // fails only on maxAttempts different workers (or after 3 × maxAttempts sends).
      if (job.state !== 'running' || job.worker !== w.id) {
        this.log(`dispatch: ignoring an error for chunk ${job.key} from worker ${w.name}: it no longer holds it (${error})`);
        return;
      }
      this.failed(job, w, error ?? 'no labels');
      return;
    }
    this.finish(job);
    w.completed++;
    this.s.chunksCompleted++;
    this.metrics.count('zmq_chunks_completed_total', {}, 1);
    this.metrics.count('zmq_worker_chunks_completed_total', { worker: w.name }, 1, 'Chunks completed per worker.');
    job.resolve(labels);
  }

  /** The chunk failed at the worker holding it (an error, or no answer in time). */
  private failed(job: Job, w: WorkerState, error: string): void {
    job.failedOn.add(w.id);
    job.errors.push(`${w.name}: ${error}`);
    if (job.failedOn.size >= this.maxAttempts) {
      this.finish(job);
      job.reject(new Error(`chunk ${job.key}: failed on ${job.failedOn.size} workers: ${job.errors.join('; ')}`));
    } else {
      this.requeue(job, `failed on worker ${w.name} (${error})`);
    }
  }

  /** A result from a peer the chunk or frame was never sent to: ignored, counted, logged (not every one). */
  private foreign(w: WorkerState, what: string): void {
    const n = ++this.s.foreignResultsIgnored;
    this.metrics.count('zmq_foreign_results_ignored_total', {}, 1);
    if (n === 1 || n % 100 === 0) this.log(`dispatch: ignoring a result for ${what} from ${w.name}: it was not sent there (${n} such so far)`);
  }

  /** A message ignored (malformed, or from one peer too many): counted, logged (not every one). */
  private bad(why: string): void {
    const n = ++this.s.badMessages;
    this.metrics.count('zmq_bad_messages_total', {}, 1);
    if (n === 1 || n % 100 === 0) this.log(`dispatch: ignoring ${why} (${n} ignored so far)`);
  }

  private finish(job: Job): void {
    job.state = 'done';
    this.jobs.delete(job.id);
    this.finishedKeys.set(job.id, job.key);
    if (this.finishedKeys.size > 1000) this.finishedKeys.delete(this.finishedKeys.keys().next().value as number);
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
    // Its live streams move. The frames in flight there are lost (counted, never waited for) — also
    // those of a stream that had moved on from it — and only those: a frame at another worker still comes back.
    const moved = [...w.streams];
    w.streams.clear();
    const touched = new Set(moved);
    for (const s of this.streams.values()) {
      let lost = 0;
      for (const [id, h] of s.held) {
        if (h.worker !== w.id) continue;
        s.held.delete(id);
        this.liveJobs.delete(id);
        lost++;
      }
      if (!lost) continue;
      touched.add(s);
      s.n.lost += lost;
      this.s.streamFramesLost += lost;
      this.metrics.count('zmq_stream_frames_lost_total', { stream: s.key }, lost);
      this.log(`dispatch: stream ${s.key}: ${lost} frame${lost === 1 ? '' : 's'} in flight lost with worker ${w.name}`);
    }
    for (const s of moved) {
      s.lastWorker = w.name;
      s.worker = undefined;
    }
    for (const s of touched) this.pumpStream(s);
    if (moved.length && this.workers.size === 0) this.log(`dispatch: no worker alive: ${moved.length} streams wait for one (their frames are dropped meanwhile)`);
    this.gauges();
    this.pump();
  }

  private pump(): void {
    let i = 0;
    while (!this.closed) {
      for (let k = this.queue.length - 1; k >= 0; k--) if (this.queue[k]!.state !== 'queued') this.queue.splice(k, 1);
      if (this.queue.length === 0 || i >= this.idle.length) break;
      const wid = this.idle[i]!;
      const w = this.workers.get(wid);
      if (!w || w.job) {
        this.idle.splice(i, 1);
        continue;
      }
      // The first queued chunk this worker has not failed (unless every live worker failed it).
      const q = this.queue.findIndex((j) => !j.failedOn.has(w.id) || [...this.workers.keys()].every((x) => j.failedOn.has(x)));
      if (q < 0) {
        i++;
        continue;
      }
      this.idle.splice(i, 1);
      const job = this.queue.splice(q, 1)[0]!;
      job.state = 'running';
      job.worker = w.id;
      job.sentAt = Date.now();
      job.sentTo.add(w.id);
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
    // Every wait is bounded: a worker that heartbeats but never answers loses its chunk or its stream.
    for (const w of [...this.workers.values()]) {
      const job = w.job;
      if (!job || now - job.sentAt <= this.chunkTimeoutMs) continue;
      // It stays busy (off the idle list) until it answers something.
      w.job = undefined;
      this.failed(job, w, `no result within ${this.chunkTimeoutMs} ms`);
    }
    const t = performance.now();
    for (const s of [...this.streams.values()]) {
      let late = 0;
      /** Whether a late frame was at the stream's worker now (not at one it had moved on from, inFlight 2). */
      let lateHere = false;
      for (const [id, h] of s.held) {
        if (t - h.at <= this.liveTimeoutMs) continue;
        late++;
        if (h.worker === s.worker?.id) lateHere = true;
        s.held.delete(id);
        this.liveJobs.delete(id);
        const holder = this.workers.get(h.worker);
        if (holder) holder.liveInFlight--;
      }
      if (!late) continue;
      s.n.lost += late;
      this.s.streamFramesLost += late;
      this.metrics.count('zmq_stream_frames_lost_total', { stream: s.key }, late);
      const w = lateHere ? s.worker : undefined;
      this.log(`dispatch: stream ${s.key}: no result from worker ${w?.name ?? 'it had moved on from'} within ${this.liveTimeoutMs} ms: ${late} frame${late === 1 ? '' : 's'} counted lost${w ? '; the stream moves' : ''}`);
      if (w) {
        w.streams.delete(s);
        s.lastWorker = w.name;
        s.avoid = w.id;
        s.worker = undefined;
      }
      this.pumpStream(s);
    }
    this.pump();
  }

  private gauges(): void {
    this.metrics.gauge('zmq_workers_alive', {}, this.workers.size, 'Workers connected and heartbeating.');
    this.metrics.gauge('zmq_workers_busy', {}, [...this.workers.values()].filter((w) => w.job || w.liveInFlight > 0).length, 'Workers with a chunk or live frames in flight.');
    this.metrics.gauge('zmq_streams', {}, this.streams.size, 'Live streams open.');
    // Per-worker gauges: only for workers alive now.
    const now = Date.now();
    for (const g of ['zmq_worker_streams', 'zmq_worker_in_flight', 'zmq_worker_last_seen_ms']) this.metrics.gauges.get(g)?.clear();
    for (const w of this.workers.values()) {
      this.metrics.gauge('zmq_worker_streams', { worker: w.name }, w.streams.size, 'Live streams assigned to a worker.');
      this.metrics.gauge('zmq_worker_in_flight', { worker: w.name }, w.liveInFlight + (w.job?.frames.length ?? 0), 'Frames in hand at a worker (live frames and its chunk).');
      this.metrics.gauge('zmq_worker_last_seen_ms', { worker: w.name }, now - w.lastSeen, 'Milliseconds since a worker was last heard (heartbeat or result).');
    }
    this.metrics.gauge('zmq_chunks_queued', {}, this.queue.length, 'Chunks waiting for an idle worker.');
    this.metrics.count('zmq_chunks_dispatched_total', {}, 0, 'Chunks sent to a worker (first time).');
    this.metrics.count('zmq_chunks_redispatched_total', {}, 0, 'Chunks sent again after their worker expired, left or failed.');
    this.metrics.count('zmq_chunks_completed_total', {}, 0, 'Chunks whose labels came back.');
    this.metrics.count('zmq_workers_seen_total', {}, 0, 'Workers that joined (including returns after expiry).');
    this.metrics.count('zmq_workers_expired_total', {}, 0, 'Workers expired for missed heartbeats or gone.');
    this.metrics.count('zmq_duplicates_ignored_total', {}, 0, 'Late results ignored: chunks already completed by another worker, or live frames already counted lost.');
    this.metrics.count('zmq_foreign_results_ignored_total', {}, 0, 'Results ignored because the chunk or frame was never sent to that peer.');
    this.metrics.count('zmq_bad_messages_total', {}, 0, 'Messages ignored: malformed, or from new peers beyond the worker limit.');
  }
}

/** A result's label maps: one per frame sent, same source, seq and size (checked before anything is decoded). */
function decodeResult(frames: readonly Frame[], parts: readonly Buffer[]): Labels[] {
  if (parts.length !== frames.length * 2) throw new TypeError(`expected ${frames.length} label maps (${frames.length * 2} parts), got ${parts.length} parts`);
  const ps = decodePackets(parts, Math.max(...frames.map((f) => f.width * f.height)));
  return ps.map((p, i) => {
    const f = frames[i]!;
    if (p.kind !== 'labels') throw new TypeError(`expected labels, got a ${p.kind}`);
    if (p.seq !== f.seq || p.source !== f.source || p.width !== f.width || p.height !== f.height) {
      throw new TypeError(`expected labels for ${f.source}#${f.seq} ${f.width}x${f.height}, got ${p.source}#${p.seq} ${p.width}x${p.height}`);
    }
    // The frame's own metadata (its discontinuity reason) wins over what came back.
    return Object.freeze({ ...p, discontinuity: f.discontinuity });
  });
}

/**
 * Ask a dispatcher for its status (the `segflow workers` command). The whole
 * exchange is bounded by `timeoutMs`, however many other messages arrive
 * (they are ignored); the reply is checked and its text made safe to print.
 */
export async function requestStatus(endpoint: string, timeoutMs = 3000, curveKeys?: CurveClientKeys): Promise<StatusReply> {
  checkEndpoint(endpoint, '--connect');
  const sock = new zmq.Dealer({ linger: 0, sendTimeout: timeoutMs, ...socketLimits() });
  if (curveKeys) curveClient(sock, curveKeys);
  const deadline = Date.now() + timeoutMs;
  let ignored = 0;
  const timeout = () => new Error(`no dispatcher answered on ${endpoint} within ${timeoutMs} ms${ignored ? ` (${ignored} other messages ignored)` : ''}${curveKeys ? '' : '; if it uses CURVE, pass --curve-keys'}`);
  try {
    sock.connect(endpoint);
    await sock.send([encodeControl(ZmqType.status, { name: `status@${os.hostname()}` })]);
    for (;;) {
      const left = deadline - Date.now();
      if (left <= 0) throw timeout();
      sock.receiveTimeout = left;
      const [header] = await sock.receive();
      try {
        const h = decodeHeader(header ?? Buffer.alloc(0));
        if (h.type === ZmqType.statusReply) return checkStatusReply(h.meta);
      } catch {
        // malformed: ignored like any other message
      }
      ignored++;
    }
  } catch (e) {
    if ((e as { code?: string }).code === 'EAGAIN') throw timeout();
    throw e;
  } finally {
    sock.close();
  }
}

const num = (x: unknown): number => (typeof x === 'number' && Number.isFinite(x) ? x : 0);
const text = (x: unknown, max = 64): string => sanitize(x ?? '', max);
const list = (x: unknown, max = 10_000): unknown[] => (Array.isArray(x) ? x.slice(0, max) : []);
const obj = (x: unknown): Record<string, unknown> => (x !== null && typeof x === 'object' && !Array.isArray(x) ? x as Record<string, unknown> : {});

/** A STATUS reply as received: every field of the expected type, every text safe to print. */
function checkStatusReply(meta: unknown): StatusReply {
  const m = obj(meta);
  if (!Array.isArray(m.workers) || typeof m.workersAlive !== 'number') throw new TypeError('expected a STATUS reply { workersAlive, workers: [...] }');
  const counts = Object.fromEntries(['workersAlive', 'workersSeen', 'workersExpired', 'chunksDispatched', 'chunksRedispatched', 'chunksCompleted', 'duplicatesIgnored',
    'foreignResultsIgnored', 'badMessages', 'chunksQueued', 'streams', 'streamFramesDone', 'streamFramesDropped', 'streamFramesLost', 'streamReassignments'].map((k) => [k, num(m[k])]));
  return {
    ...(counts as unknown as DispatchStats),
    endpoint: text(m.endpoint, 200),
    workers: list(m.workers).map((x): WorkerStatus => {
      const w = obj(x);
      return {
        name: text(w.name), state: w.state === 'busy' ? 'busy' : 'idle', chunk: w.chunk === undefined ? undefined : text(w.chunk, 200), completed: num(w.completed),
        streams: list(w.streams, 100).map((k) => text(k, 200)), framesDone: num(w.framesDone), inFlight: num(w.inFlight), lastSeenMs: num(w.lastSeenMs), upS: num(w.upS),
      };
    }),
    streamList: list(m.streamList).map((x): StreamStatus => {
      const t = obj(x);
      return {
        key: text(t.key, 200), worker: t.worker === undefined ? undefined : text(t.worker), inFlight: num(t.inFlight), waiting: num(t.waiting), received: num(t.received),
        done: num(t.done), dropped: num(t.dropped), lost: num(t.lost), failed: num(t.failed), reassignments: num(t.reassignments),
        byWorker: Object.fromEntries(Object.entries(obj(t.byWorker)).slice(0, 1000).map(([k, v]) => [text(k), num(v)])),
      };
    }),
  };
}

/** `segflow workers` output: one row per worker, one per live stream, then the totals. */
export function formatStatus(s: StatusReply): string {
  const rows = [['worker', 'state', 'streams', 'chunk', 'chunks done', 'frames done', 'in flight', 'last seen ms', 'up s']];
  for (const w of s.workers) {
    rows.push([w.name, w.state, w.streams?.join(',') || '-', w.chunk ?? '-', String(w.completed), String(w.framesDone ?? 0), String(w.inFlight ?? 0), String(w.lastSeenMs), String(w.upS)]);
  }
  let out = formatTable(rows) + '\n';
  const streams = s.streamList ?? [];
  if (streams.length) {
    const srows = [['stream', 'worker', 'frames done', 'in flight', 'dropped', 'lost', 'reassigned']];
    for (const x of streams) srows.push([x.key, x.worker ?? '(none)', String(x.done), String(x.inFlight), String(x.dropped), String(x.lost), String(x.reassignments)]);
    out += '\n' + formatTable(srows) + '\n';
  }
  out += `${s.workersAlive} workers alive (${s.workersSeen} seen, ${s.workersExpired} expired); chunks: ${s.chunksQueued} queued, ${s.chunksDispatched} dispatched, ${s.chunksRedispatched} re-dispatched, ${s.chunksCompleted} completed; ${s.duplicatesIgnored} duplicate results ignored${s.foreignResultsIgnored ? `, ${s.foreignResultsIgnored} results from peers never sent the work ignored` : ''}${s.badMessages ? `, ${s.badMessages} bad messages ignored` : ''}\n`;
  if (streams.length || s.streamFramesDone) {
    out += `live: ${s.streams} streams; ${s.streamFramesDone} frames done, ${s.streamFramesDropped} dropped, ${s.streamFramesLost} lost with dead workers, ${s.streamReassignments} reassignments\n`;
  }
  return out;
}

const delay = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * A worker of `segflow process --dispatch` and `segflow run --dispatch` (`segflow worker --connect ...`).
 *
 * DEALER socket to the dispatcher's ROUTER (Paranoid Pirate worker): says
 * READY, sends HEARTBEAT every `heartbeatMs`, and when the dispatcher has been
 * silent for `liveness` heartbeats it closes the socket and connects again
 * with a fresh identity, backing off from `reconnectInitialMs` to
 * `reconnectMaxMs` — so workers may start before the dispatcher, and survive
 * its restart. Each JOB is a chunk of frames plus the segmenter node's
 * options; the worker runs a two-branch-segmenter with those options (loaded
 * once per distinct options), one frame at a time, and sends the label maps
 * back as a RESULT (or the error, so the dispatcher can try another worker).
 * The chunk's first frame carries a discontinuity, so temporal state never
 * leaks between chunks. A JOB whose meta names a `stream` is one frame of a
 * live stream (`segflow run --dispatch`): it goes to that stream's own
 * segmenter, kept between frames (temporal state: key frames, feature reuse),
 * which resets only when a frame carries a discontinuity (`start`,
 * `reassign` when the stream moved here, ...); at most `maxStreams` streams
 * stay loaded (least recently used evicted). On abort (SIGINT/SIGTERM) it finishes the frame in
 * hand, says DISCONNECT (the dispatcher re-dispatches its chunk at once),
 * frees the models and returns.
 *
 * Untrusted input: no message kills a worker. A JOB whose meta is missing
 * or malformed, a message that does not decode, or more than
 * `MAX_QUEUED_JOBS` jobs waiting are logged (the first, then every 100th),
 * counted and skipped; every part is bounded by `maxMessageSize`
 * (src/zmq/wire.ts), and text from the dispatcher is sanitised before it is
 * logged.
 *
 * Trust: a worker runs whatever segmenter options its dispatcher sends
 * (model names and folders) and sees its frames. Without CURVE
 * (`--curve-keys`, a client key file naming the dispatcher's public key) it
 * cannot tell its dispatcher from an impostor: connect to a dispatcher on
 * another machine only with CURVE (docs/security-zmq.md).
 */
import os from 'node:os';
import { Subject, type Observable } from 'rxjs';
import * as zmq from 'zeromq';
import type { z } from 'zod';
import { createNodeContext } from '../../core/runtime/context.ts';
import type { StreamInstance } from '../../core/node.ts';
import type { Frame, Labels } from '../../core/packet.ts';
import type { Registry } from '../../core/graph/loader.ts';
import type { NodeContext, NodeInstance, NodeSpec } from '../../core/node.ts';
import { unlimitedFlow } from '../../core/runtime/flow.ts';
import { Metrics } from '../../core/runtime/metrics.ts';
import { defaultQueue } from '../../core/runtime/queue.ts';
import { z as zod } from 'zod';
import { curveClient, isLoopback, type CurveClientKeys } from '../../net/zmq/curve.ts';
import { DEFAULT_HEARTBEAT_MS, DEFAULT_LIVENESS, SEGMENTER_TYPE } from '../../net/zmq/dispatcher.ts';
import { checkEndpoint, decodeHeader, decodePackets, encodeControl, encodePackets, sanitize, SendQueue, socketLimits, ZMQ_MAX_FRAME_PIXELS, ZmqType } from '../../codecs/zmq-wire.ts';

/** Jobs waiting at a worker: a dispatcher sends one chunk at a time, and 1–2 frames per live stream. */
export const MAX_QUEUED_JOBS = 64;
/** Frames in one JOB (a chunk is at most 120; MAX_FRAMES_IN_FLIGHT in remote-segmenter.ts is 240). */
const MAX_JOB_FRAMES = 240;

const jobMeta = zod.object({
  id: zod.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  key: zod.string().max(1000),
  node: zod.string().min(1).max(200),
  options: zod.unknown(),
  stream: zod.string().min(1).max(300).optional(),
});

export interface WorkerOptions {
  /** The dispatcher, tcp://HOST:PORT. */
  readonly endpoint: string;
  readonly signal: AbortSignal;
  /** The node types: the worker runs the one named SEGMENTER_TYPE. */
  readonly registry: Registry;
  readonly name?: string;
  readonly heartbeatMs?: number;
  readonly liveness?: number;
  readonly reconnectInitialMs?: number;
  readonly reconnectMaxMs?: number;
  /** Segmenter instances kept loaded for chunks (distinct option sets). */
  readonly maxSegmenters?: number;
  /** Live streams whose segmenters (and temporal state) stay loaded. */
  readonly maxStreams?: number;
  readonly log?: (message: string) => void;
  /** CURVE: talk only to the dispatcher holding `serverKey`, as the client listed in its allowedClients. */
  readonly curveKeys?: CurveClientKeys | undefined;
  /** Largest frame (pixels) accepted; bounds every message part (`maxMessageSize`). */
  readonly maxFramePixels?: number;
}

export interface WorkerResult {
  readonly chunks: number;
  /** Frames segmented: those of chunks and live frames. */
  readonly frames: number;
  readonly liveFrames: number;
  /** Messages ignored: malformed, a JOB without valid meta, or jobs beyond MAX_QUEUED_JOBS. */
  readonly badMessages: number;
}

interface Job {
  /** `stream`: a live frame of that stream (one frame, state kept between jobs). */
  readonly meta: { id: number; key: string; node: string; options: unknown; stream?: string };
  readonly parts: Buffer[];
}

export async function runWorker(o: WorkerOptions): Promise<WorkerResult> {
  checkEndpoint(o.endpoint, '--connect');
  const w = new Worker(o);
  return w.run();
}

class Worker {
  private sock!: zmq.Dealer;
  private out!: SendQueue;
  private lastHeard = Date.now();
  private reconnectAt = 0;
  private backoffMs: number;
  private readonly jobs: Job[] = [];
  private wake: (() => void) | undefined;
  private readonly segmenters = new Map<string, FrameByFrame>();
  /** Live stream → its segmenter and the options it was opened with (Map order: least recently used first). */
  private readonly streams = new Map<string, { options: string; seg: FrameByFrame }>();
  private readonly heartbeatMs: number;
  private readonly liveness: number;
  private readonly name: string;
  private readonly log: (m: string) => void;
  private readonly ac = new AbortController();
  private readonly spec: NodeSpec;
  private chunks = 0;
  private frames = 0;
  private liveFrames = 0;
  private badMessages = 0;

  constructor(private readonly o: WorkerOptions) {
    this.heartbeatMs = o.heartbeatMs ?? DEFAULT_HEARTBEAT_MS;
    this.liveness = o.liveness ?? DEFAULT_LIVENESS;
    this.backoffMs = o.reconnectInitialMs ?? 1000;
    this.name = o.name ?? `${os.hostname()}:${process.pid}`;
    this.spec = segmenterOf(o.registry);
    // Log lines quote the dispatcher (job keys, errors): no control characters, bounded.
    const log = o.log ?? ((m: string) => process.stderr.write(m + '\n'));
    this.log = (m) => log(sanitize(m, 4000));
  }

  async run(): Promise<WorkerResult> {
    const onAbort = () => {
      this.ac.abort();
      this.wake?.();
    };
    if (this.o.signal.aborted) onAbort();
    this.o.signal.addEventListener('abort', onAbort, { once: true });
    this.connect();
    this.log(`worker ${this.name}: connecting to ${this.o.endpoint}${this.o.curveKeys ? ' (CURVE)' : ''}`);
    if (!this.o.curveKeys && !isLoopback(this.o.endpoint)) {
      this.log(`worker ${this.name}: WARNING: no --curve-keys: this worker cannot tell its dispatcher from an impostor, and its frames travel unencrypted (docs/security-zmq.md)`);
    }
    const timer = setInterval(() => this.tick(), this.heartbeatMs);
    try {
      await this.work();
    } finally {
      clearInterval(timer);
      this.o.signal.removeEventListener('abort', onAbort);
      // Tell the dispatcher now rather than after missed heartbeats; do not wait long for a gone one.
      await Promise.race([this.out.send([encodeControl(ZmqType.disconnect)]).catch(() => {}), delay(500)]);
      this.sock.close();
      for (const s of this.segmenters.values()) await s.close();
      for (const s of this.streams.values()) await s.seg.close();
      this.log(`worker ${this.name}: stopped after ${this.chunks} chunks (${this.frames} frames; ${this.liveFrames} of them live)${this.badMessages ? `; ${this.badMessages} bad messages ignored` : ''}`);
    }
    return { chunks: this.chunks, frames: this.frames, liveFrames: this.liveFrames, badMessages: this.badMessages };
  }

  private connect(): void {
    // linger: a DISCONNECT or result still queued at close gets this long to leave.
    const sock = new zmq.Dealer({ linger: 500, ...socketLimits(this.o.maxFramePixels ?? ZMQ_MAX_FRAME_PIXELS) });
    if (this.o.curveKeys) curveClient(sock, this.o.curveKeys);
    sock.connect(this.o.endpoint);
    this.sock = sock;
    this.out = new SendQueue(sock);
    this.lastHeard = Date.now();
    void this.out.send([encodeControl(ZmqType.ready, { name: this.name, pid: process.pid, host: os.hostname() })]).catch(() => {});
    void this.receive(sock);
  }

  private async receive(sock: zmq.Dealer): Promise<void> {
    try {
      for await (const [header, ...rest] of sock) {
        this.lastHeard = Date.now();
        this.backoffMs = this.o.reconnectInitialMs ?? 1000;
        try {
          const h = decodeHeader(header ?? Buffer.alloc(0));
          if (h.type !== ZmqType.job) continue;
          const meta = jobMeta.safeParse(h.meta);
          if (!meta.success) throw new TypeError(`JOB without valid meta: ${meta.error.issues[0]!.path.join('.') || 'meta'}: ${meta.error.issues[0]!.message}`);
          if (rest.length === 0 || rest.length % 2 !== 0 || rest.length > 2 * MAX_JOB_FRAMES) throw new TypeError(`JOB with ${rest.length} parts after its header; expected 1..${MAX_JOB_FRAMES} frames, 2 parts each`);
          if (this.jobs.length >= MAX_QUEUED_JOBS) throw new TypeError(`JOB beyond the ${MAX_QUEUED_JOBS} already waiting`);
          this.jobs.push({ meta: meta.data as Job['meta'], parts: rest });
          this.wake?.();
        } catch (e) {
          if (!this.badMessages++ || this.badMessages % 100 === 0) this.log(`worker ${this.name}: ignoring a bad message: ${(e as Error).message} (${this.badMessages} ignored so far)`);
        }
      }
    } catch (e) {
      if (sock === this.sock && !sock.closed) this.log(`worker ${this.name}: socket failed: ${(e as Error).message}`);
    }
  }

  private tick(): void {
    const now = Date.now();
    if (now < this.reconnectAt) return;
    if (this.reconnectAt > 0) {
      this.reconnectAt = 0;
      this.connect();
      return;
    }
    if (now - this.lastHeard > this.liveness * this.heartbeatMs) {
      this.log(`worker ${this.name}: dispatcher silent for ${now - this.lastHeard} ms; reconnecting in ${this.backoffMs} ms`);
      this.sock.close();
      this.reconnectAt = now + this.backoffMs;
      this.backoffMs = Math.min(this.backoffMs * 2, this.o.reconnectMaxMs ?? 32_000);
      return;
    }
    void this.out.send([encodeControl(ZmqType.heartbeat)]).catch(() => {});
  }

  private async work(): Promise<void> {
    while (!this.ac.signal.aborted) {
      const job = this.jobs.shift();
      if (!job) {
        await new Promise<void>((r) => (this.wake = r));
        this.wake = undefined;
        continue;
      }
      try {
        await this.runJob(job);
      } catch (e) {
        // Nothing a job holds may stop the worker: say so and take the next one.
        this.log(`worker ${this.name}: job ${job.meta.key} dropped: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
  }

  private async runJob(job: Job): Promise<void> {
    {
      const { id, key, stream } = job.meta;
      const t0 = performance.now();
      let labels: Labels[] = [];
      let error: string | undefined;
      try {
        const frames = decodePackets(job.parts);
        if (frames.some((f) => f.kind !== 'frame')) throw new TypeError('expected a chunk of frames, got labels');
        if (stream === undefined) this.log(`worker ${this.name}: chunk ${key} (${frames.length} frames)`);
        else if (frames[0]?.discontinuity) this.log(`worker ${this.name}: stream ${stream} from #${frames[0].seq} (${frames[0].discontinuity}): fresh state`);
        const seg = stream === undefined ? await this.segmenter(job.meta.node, job.meta.options) : await this.streamSegmenter(stream, job.meta.node, job.meta.options);
        for (const f of frames as Frame[]) {
          if (this.ac.signal.aborted) return;
          labels.push(await seg.segment(f));
        }
      } catch (e) {
        if (this.ac.signal.aborted) return;
        error = sanitize(e instanceof Error ? e.message : String(e), 1000);
        labels = [];
        this.log(`worker ${this.name}: ${stream === undefined ? 'chunk' : 'frame'} ${key} failed: ${error}`);
      }
      const ms = Math.round(performance.now() - t0);
      await this.out.send([encodeControl(ZmqType.result, { id, key, ms, error, stream }), ...encodePackets(labels)]).catch(() => {});
      if (!error) {
        this.frames += labels.length;
        if (stream !== undefined) {
          this.liveFrames += labels.length;
          return;
        }
        this.chunks++;
        this.log(`worker ${this.name}: chunk ${key} done: ${labels.length} frames in ${ms} ms`);
      }
    }
  }

  private async segmenter(node: string, options: unknown): Promise<FrameByFrame> {
    const parsed = parseOptions(this.spec, options);
    const key = JSON.stringify(parsed);
    const have = this.segmenters.get(key);
    if (have && !have.failed) return have;
    if (have) {
      this.segmenters.delete(key);
      await have.close();
    }
    while (this.segmenters.size >= (this.o.maxSegmenters ?? 2)) {
      const [k, s] = this.segmenters.entries().next().value as [string, FrameByFrame];
      this.segmenters.delete(k);
      await s.close();
    }
    const s = await this.open(node, parsed);
    this.segmenters.set(key, s);
    return s;
  }

  /** The live stream's own segmenter: kept between its frames, so its temporal state carries on. */
  private async streamSegmenter(stream: string, node: string, options: unknown): Promise<FrameByFrame> {
    const parsed = parseOptions(this.spec, options);
    const key = JSON.stringify(parsed);
    const have = this.streams.get(stream);
    this.streams.delete(stream);
    if (have && have.options === key && !have.seg.failed) {
      this.streams.set(stream, have);
      return have.seg;
    }
    if (have) await have.seg.close();
    while (this.streams.size >= (this.o.maxStreams ?? 8)) {
      const [k, s] = this.streams.entries().next().value as [string, { seg: FrameByFrame }];
      this.streams.delete(k);
      await s.seg.close();
    }
    const seg = await this.open(node, parsed);
    this.streams.set(stream, { options: key, seg });
    return seg;
  }

  private async open(node: string, options: SegmenterOptions): Promise<FrameByFrame> {
    const ctx = createNodeContext(this.spec, { name: node, options, signal: this.ac.signal, log: (m) => this.log(`worker ${this.name}: ${node}: ${m}`) });
    return new FrameByFrame(await this.spec.open(ctx));
  }
}

type SegmenterOptions = unknown;

/** The segmenter node the worker runs: SEGMENTER_TYPE in `registry`. */
function segmenterOf(registry: Registry): NodeSpec {
  const spec = registry.get(SEGMENTER_TYPE);
  if (!spec) throw new Error(`worker: no ${SEGMENTER_TYPE} node type to run; expected one of: ${[...registry.keys()].join(', ')}`);
  return spec;
}

function parseOptions(segmenter: NodeSpec, options: unknown): SegmenterOptions {
  const parsed = segmenter.options.safeParse(options);
  if (!parsed.success) throw new TypeError(`segmenter options: ${parsed.error.issues[0]!.path.join('.')}: ${parsed.error.issues[0]!.message}`);
  return parsed.data;
}

/** A segmenter instance fed one frame at a time, so a stop never leaves inference running behind it. */
class FrameByFrame {
  failed: unknown;
  private readonly input = new Subject<Frame>();
  private readonly waiting: { resolve(l: Labels): void; reject(e: unknown): void }[] = [];
  private closed = false;

  constructor(private readonly inst: StreamInstance<{ readonly frame: Observable<Frame> }, { readonly labels: Observable<Labels> }>) {
    inst.process({ frame: this.input }).labels.subscribe({
      next: (l: Labels) => this.waiting.shift()?.resolve(l),
      error: (e) => {
        this.failed = e ?? new Error('segmenter failed');
        for (const w of this.waiting.splice(0)) w.reject(this.failed);
      },
    });
  }

  segment(f: Frame): Promise<Labels> {
    if (this.failed) return Promise.reject(this.failed);
    return new Promise((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      this.input.next(f);
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.input.complete();
    await this.inst.close();
  }
}

const delay = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref());

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
 * Trust: a worker runs whatever segmenter options its dispatcher sends
 * (model names and folders); connect workers only to your own dispatcher, on
 * a private network — there is no authentication or encryption.
 */
import os from 'node:os';
import { Subject } from 'rxjs';
import * as zmq from 'zeromq';
import type { z } from 'zod';
import { twoBranchSegmenter } from '../../nodes/two-branch-segmenter.ts';
import type { NodeContext, NodeInstance } from '../node.ts';
import type { Frame, Labels } from '../packet.ts';
import { unlimitedFlow } from '../runtime/flow.ts';
import { Metrics } from '../runtime/metrics.ts';
import { defaultQueue } from '../runtime/queue.ts';
import { DEFAULT_HEARTBEAT_MS, DEFAULT_LIVENESS } from './dispatcher.ts';
import { checkEndpoint, decodeHeader, decodePackets, encodeControl, encodePackets, SendQueue, ZmqType } from './wire.ts';

export interface WorkerOptions {
  /** The dispatcher, tcp://HOST:PORT. */
  readonly endpoint: string;
  readonly signal: AbortSignal;
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
}

export interface WorkerResult {
  readonly chunks: number;
  /** Frames segmented: those of chunks and live frames. */
  readonly frames: number;
  readonly liveFrames: number;
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
  private chunks = 0;
  private frames = 0;
  private liveFrames = 0;

  constructor(private readonly o: WorkerOptions) {
    this.heartbeatMs = o.heartbeatMs ?? DEFAULT_HEARTBEAT_MS;
    this.liveness = o.liveness ?? DEFAULT_LIVENESS;
    this.backoffMs = o.reconnectInitialMs ?? 1000;
    this.name = o.name ?? `${os.hostname()}:${process.pid}`;
    this.log = o.log ?? ((m) => process.stderr.write(m + '\n'));
  }

  async run(): Promise<WorkerResult> {
    const onAbort = () => {
      this.ac.abort();
      this.wake?.();
    };
    if (this.o.signal.aborted) onAbort();
    this.o.signal.addEventListener('abort', onAbort, { once: true });
    this.connect();
    this.log(`worker ${this.name}: connecting to ${this.o.endpoint}`);
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
      this.log(`worker ${this.name}: stopped after ${this.chunks} chunks (${this.frames} frames; ${this.liveFrames} of them live)`);
    }
    return { chunks: this.chunks, frames: this.frames, liveFrames: this.liveFrames };
  }

  private connect(): void {
    // linger: a DISCONNECT or result still queued at close gets this long to leave.
    const sock = new zmq.Dealer({ linger: 500 });
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
        let h;
        try {
          h = decodeHeader(header!);
        } catch (e) {
          this.log(`worker ${this.name}: ignoring a malformed message: ${(e as Error).message}`);
          continue;
        }
        if (h.type === ZmqType.job) {
          this.jobs.push({ meta: h.meta as Job['meta'], parts: rest });
          this.wake?.();
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
        error = (e as Error).message;
        labels = [];
        this.log(`worker ${this.name}: ${stream === undefined ? 'chunk' : 'frame'} ${key} failed: ${error}`);
      }
      const ms = Math.round(performance.now() - t0);
      await this.out.send([encodeControl(ZmqType.result, { id, key, ms, error, stream }), ...encodePackets(labels)]).catch(() => {});
      if (!error) {
        this.frames += labels.length;
        if (stream !== undefined) {
          this.liveFrames += labels.length;
          continue;
        }
        this.chunks++;
        this.log(`worker ${this.name}: chunk ${key} done: ${labels.length} frames in ${ms} ms`);
      }
    }
  }

  private async segmenter(node: string, options: unknown): Promise<FrameByFrame> {
    const parsed = parseOptions(options);
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
    const parsed = parseOptions(options);
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
    const metrics = new Metrics();
    const ctx: NodeContext<SegmenterOptions> = {
      name: node, options, graphDir: process.cwd(), signal: this.ac.signal, metrics,
      stats: metrics.node(node, twoBranchSegmenter.type), flow: unlimitedFlow(), queue: (p) => defaultQueue(p),
      log: (m) => this.log(`worker ${this.name}: ${node}: ${m}`),
    };
    return new FrameByFrame(await twoBranchSegmenter.open(ctx));
  }
}

type SegmenterOptions = z.infer<typeof twoBranchSegmenter.options>;

function parseOptions(options: unknown): SegmenterOptions {
  const parsed = twoBranchSegmenter.options.safeParse(options);
  if (!parsed.success) throw new TypeError(`segmenter options: ${parsed.error.issues[0]!.path.join('.')}: ${parsed.error.issues[0]!.message}`);
  return parsed.data;
}

/** A segmenter instance fed one frame at a time, so a stop never leaves inference running behind it. */
class FrameByFrame {
  failed: unknown;
  private readonly input = new Subject<Frame>();
  private readonly waiting: { resolve(l: Labels): void; reject(e: unknown): void }[] = [];
  private closed = false;

  constructor(private readonly inst: NodeInstance) {
    inst.process({ frame: this.input }).labels!.subscribe({
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

/**
 * ThreadedSegmenter — a ReuseSegmenter (src/temporal.ts) running in a worker
 * thread, so the network, the block matching and the label warping run
 * beside the JS thread that decodes, blends and encodes, instead of blocking
 * it (onnxruntime-node runs a session synchronously on the calling thread).
 *
 * Frames are copied to the thread (the caller's frame may be shared with
 * other nodes) and labels copied back; `next()` may be called again before
 * the previous call resolves — frames are handled strictly in order, so a
 * caller can keep the thread busy. A `reset` flag travels with its frame, so
 * a discontinuity takes effect exactly there. `close()` disposes the model in
 * the thread and ends it; a thread that dies fails every pending call.
 *
 * Key frames are planned here (ReusePlanner: thumbnail and change score) and
 * a frame whose labels will be propagated is sent without its pixels: the
 * thread then only matches thumbnails and warps labels, and ~1.5 MB a frame
 * (at 960x540) is neither copied nor collected.
 */
import { Worker } from 'node:worker_threads';
import type { EngineName, Manifest } from '../engine/model.ts';
import type { LabelPath, ScoreMap } from '../../core/packet.ts';
import type { Thumb } from '../../kernels/motion.ts';
import { ReusePlanner, type ReuseMode } from '../temporal.ts';

export interface ThreadInit {
  readonly model: string;
  readonly engine: EngineName;
  readonly threads: number;
  readonly mode: ReuseMode;
}
/** A spare thread's model, sent when it is known (ThreadedSegmenter.prewarm / open). */
export interface InitRequest {
  readonly type: 'init';
  readonly init: ThreadInit;
}
export type OpenReply =
  | { type: 'open'; manifest: Manifest; engine: string; backend: string; dir: string; boot: 'bundle' | 'tsx'; error?: undefined }
  | { type: 'open'; error: string };
export interface FrameRequest {
  readonly type: 'frame';
  readonly id: number;
  /** Left out when the plan needs no pixels (a frame whose labels are propagated). */
  readonly rgb: Uint8Array | undefined;
  readonly width: number;
  readonly height: number;
  readonly reset: boolean;
  /** The plan (ReusePlanner, on the caller's thread). */
  readonly key: boolean;
  readonly thumb: Thumb | undefined;
}
export type FrameReply =
  | { type: 'frame'; id: number; classes: Uint8Array; path: LabelPath; scores?: ScoreMap | undefined; runs: Record<string, number>; error?: undefined }
  | { type: 'frame'; id: number; error: string };

export interface ThreadResult {
  readonly classes: Uint8Array;
  readonly path: LabelPath;
  readonly scores?: ScoreMap | undefined;
}

export class ThreadedSegmenter {
  private nextId = 0;
  private readonly planner: ReusePlanner;
  private readonly pending = new Map<number, { resolve: (r: ThreadResult) => void; reject: (e: Error) => void }>();
  private failure: Error | undefined;
  private closing: Promise<void> | undefined;
  /** Network path counts in the thread, as of the last reply. */
  runs: Record<string, number> = {};

  /**
   * How the thread started: from the plain-JS bundle (src/thread/bundle.mjs) or
   * through tsx (no fresh bundle: ~0.1 s slower).
   */
  readonly boot: 'bundle' | 'tsx';

  private constructor(private readonly worker: Worker, readonly manifest: Manifest, readonly engine: string, readonly backend: string, boot: 'bundle' | 'tsx', mode: ReuseMode) {
    this.boot = boot;
    this.planner = new ReusePlanner(mode);
    worker.on('message', (m: FrameReply) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.error !== undefined) p.reject(new Error(m.error));
      else {
        this.runs = m.runs;
        p.resolve({ classes: m.classes, path: m.path, scores: m.scores });
      }
    });
    const fail = (e: Error) => {
      this.failure ??= e;
      for (const p of this.pending.values()) p.reject(this.failure);
      this.pending.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`segmenter thread exited (code ${code})`)));
  }

  /**
   * Start a thread before a graph opens, so that its start-up overlaps the caller's: without `init`
   * a spare that boots and initialises ONNX Runtime, then waits for a model (`segflow process`
   * starts one before it loads the runtime); with `init` (the segmenter node's `warm`, once the graph
   * is loaded), a thread that loads that model now — a spare takes it if there is one. The next
   * `open()` with an equal init (or any init, for a spare) takes the thread instead of starting one.
   * A thread nobody takes must be ended with `dropPrewarmed()` (a Node worker that loaded ONNX
   * Runtime keeps the process from exiting until it ends itself).
   */
  static prewarm(init?: ThreadInit): void {
    if (!init) {
      if (!spares.some((s) => s.key === undefined)) spares.push(spawnThread(undefined));
      return;
    }
    const key = initKey(init);
    if (spares.some((s) => s.key === key)) return;
    const spare = spares.find((s) => s.key === undefined);
    if (spare) assign(spare, init);
    else spares.push(spawnThread(init));
  }

  /** End the prewarmed threads nobody took (all, or the one for `init`), as close() ends a taken one. */
  static async dropPrewarmed(init?: ThreadInit): Promise<void> {
    const key = init && initKey(init);
    const drop = spares.filter((s) => key === undefined || s.key === key);
    for (const s of drop) spares.splice(spares.indexOf(s), 1);
    await Promise.all(drop.map(async (s) => {
      s.release();
      s.worker.on('error', () => {}); // a thread that fails while ending is ended all the same
      if (s.exited) return;
      const exited = new Promise<void>((resolve) => s.worker.once('exit', () => resolve()));
      s.worker.postMessage({ type: 'close' });
      const timer = setTimeout(() => void s.worker.terminate(), 10_000);
      await exited;
      clearTimeout(timer);
    }));
  }

  /** Threads prewarmed and not yet taken (tests). */
  static get prewarmed(): number {
    return spares.length;
  }

  /** Start the thread (or take a prewarmed one) and load the model in it; rejects with the load error. */
  static async open(init: ThreadInit): Promise<ThreadedSegmenter> {
    const key = initKey(init);
    const same = spares.findIndex((s) => s.key === key);
    const i = same >= 0 ? same : spares.findIndex((s) => s.key === undefined);
    const t = i >= 0 ? spares.splice(i, 1)[0]! : spawnThread(init);
    if (t.key === undefined) assign(t, init);
    const worker = t.worker;
    worker.ref();
    try {
      const reply = await t.reply;
      if (reply.error !== undefined) throw new Error(reply.error);
      return new ThreadedSegmenter(worker, reply.manifest, reply.engine, reply.backend, reply.boot, init.mode);
    } catch (e) {
      await worker.terminate();
      throw e;
    } finally {
      t.release();
    }
  }

  next(rgb: Uint8Array, width: number, height: number, reset: boolean): Promise<ThreadResult> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.closing) return Promise.reject(new Error('segmenter thread closed'));
    const id = this.nextId++;
    if (reset) this.planner.reset();
    const { thumb, key, needsPixels } = this.planner.plan(rgb, width, height);
    return new Promise<ThreadResult>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      // One copy, handed over: the caller's frame may be shared, or a view on a larger buffer
      // (which structured cloning would copy whole). The thumbnail is cloned (~32 KB): the
      // planner keeps the key frame's.
      const own = needsPixels ? rgb.slice() : undefined;
      this.worker.postMessage({ type: 'frame', id, rgb: own, width, height, reset, key, thumb } satisfies FrameRequest, own ? [own.buffer] : []);
    });
  }

  /** Finish the frames already sent, free the model in the thread, end it. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      if (!this.failure) {
        const exited = new Promise<void>((resolve) => this.worker.once('exit', () => resolve()));
        this.worker.postMessage({ type: 'close' });
        const timer = setTimeout(() => void this.worker.terminate(), 10_000);
        await exited;
        clearTimeout(timer);
      } else {
        await this.worker.terminate();
      }
    })();
    return this.closing;
  }
}

/** A started thread not yet taken by a ThreadedSegmenter. */
interface Started {
  readonly worker: Worker;
  /** Its model's init (initKey); undefined for a spare still waiting for one. */
  key: string | undefined;
  /** The thread's answer to loading its model: its first message, or its death. */
  readonly reply: Promise<OpenReply>;
  /** The thread has ended. */
  exited: boolean;
  /** Remove the listeners set here (only ours: the Worker's internal ones keep its port referenced). */
  release(): void;
}
/** Prewarmed threads, not yet taken. */
const spares: Started[] = [];

function initKey(init: ThreadInit): string {
  return JSON.stringify(init);
}

function spawnThread(init: ThreadInit | undefined): Started {
  const worker = new Worker(new URL('./boot.mjs', import.meta.url), { workerData: init });
  // Not taken yet: it does not keep the process alive (open() refs it).
  worker.unref();
  let onMessage: (m: OpenReply) => void = () => {};
  let onError: (e: Error) => void = () => {};
  let onExit: (code: number) => void = () => {};
  const reply = new Promise<OpenReply>((resolve) => {
    onMessage = resolve;
    onError = (e) => resolve({ type: 'open', error: e.message });
    onExit = (code) => resolve({ type: 'open', error: `segmenter thread exited while loading (code ${code})` });
    worker.once('message', onMessage).once('error', onError).once('exit', onExit);
  });
  const t: Started = {
    worker, key: init && initKey(init), reply, exited: false,
    release: () => void worker.off('message', onMessage).off('error', onError).off('exit', onExit),
  };
  // A thread that died is no longer offered.
  worker.once('exit', () => {
    t.exited = true;
    const i = spares.indexOf(t);
    if (i >= 0) spares.splice(i, 1);
  });
  return t;
}

/** Give a spare its model. */
function assign(t: Started, init: ThreadInit): void {
  t.key = initKey(init);
  t.worker.postMessage({ type: 'init', init } satisfies InitRequest);
}

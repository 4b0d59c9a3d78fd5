/**
 * What a `features` packet's handle holds inside its executor: the model that
 * made the features (so a temporal-fuser in the same thread uses the same
 * instance: one copy of the weights, no second load) and the tensors — the
 * frame's shallow features and, on a key frame, its raw deep features, the
 * frame's pixels and the segmenter's key-frame TTA (so the fuser can run the
 * same test-time-augmentation views as the monolithic segmenter). The
 * segmenter that made a handle frees it `FEATURES_KEPT` frames later (a
 * consumer in the same executor is never that far behind while a graph keeps
 * at most `maxInFlight` (default 8) packets in flight), so a handle must be used where and
 * soon after it was made — never sent to another thread.
 */
import { threadId } from 'node:worker_threads';
import type { Tensor4 } from './engine/engine.ts';
import type { Model } from './engine/model.ts';
import type { FeatureHandle } from '../core/packet.ts';
import type { TtaSpec } from './engine/tta.ts';

/**
 * Runs `fn` when no other `exclusive` call on the same model is running: a
 * model takes one call at a time (its input buffers are its own: Model.segment),
 * and in an executor a segmenter and a temporal-fuser share one instance — the
 * segmenter's next frame must not overwrite the buffer a fuser's TTA view is
 * being read from (measured: a flipped view corrupted the next frame's input).
 */
export function exclusive<T>(model: Model, fn: () => Promise<T>): Promise<T> {
  const run = (busy.get(model) ?? Promise.resolve()).then(() => fn());
  busy.set(model, run.then(() => undefined, () => undefined));
  return run;
}
const busy = new WeakMap<Model, Promise<void>>();

/** How many frames' features a segmenter keeps before freeing the oldest. */
export const FEATURES_KEPT = 16;

export interface ModelFeatures extends FeatureHandle {
  readonly model: Model;
  /** Shallow features at 1/8 of the inference size. */
  readonly high: Tensor4;
  /** Key frames: raw deep features at 1/32 (before any fuser). */
  readonly deep?: Tensor4 | undefined;
  /** Inference size. */
  readonly inW: number;
  readonly inH: number;
  /** Key frames: the frame's pixels (RGB24, the frame's size; a reference, not a copy), for TTA views. */
  readonly rgb?: { readonly data: Uint8Array; readonly width: number; readonly height: number } | undefined;
  /** Key frames: the segmenter's key-frame TTA (its `tta` option resolved; `auto` from the scheduler's interval). */
  readonly tta?: TtaSpec | undefined;
  released: boolean;
}

/** What a key frame's handle carries besides its tensors. */
export interface KeyFrameExtras {
  readonly rgb: { readonly data: Uint8Array; readonly width: number; readonly height: number };
  readonly tta: TtaSpec;
}

export function makeFeatures(model: Model, high: Tensor4, deep: Tensor4 | undefined, inW: number, inH: number, key?: KeyFrameExtras): ModelFeatures {
  return { threadId, key: deep !== undefined, model, high, deep, inW, inH, rgb: deep ? key?.rgb : undefined, tta: deep ? key?.tta : undefined, released: false };
}

export function releaseFeatures(f: ModelFeatures): void {
  if (f.released) return;
  f.released = true;
  f.model.engine.release(f.high);
  f.model.engine.release(f.deep);
}

/** The handle's contents; throws when it was made in another thread or has been freed. */
export function openFeatures(h: FeatureHandle): ModelFeatures {
  if (h.threadId !== threadId) throw new Error(`features made in thread ${h.threadId} used in thread ${threadId}: a features edge must stay inside one executor`);
  const f = h as ModelFeatures;
  if (!f.model || f.released) throw new Error(`features ${f.released ? 'already freed (the consumer fell more than ' + FEATURES_KEPT + ' frames behind)' : 'handle is not a segmenter\'s'}`);
  return f;
}

/** Keeps the last `n` handles and frees older ones. */
export class FeatureRing {
  private readonly ring: ModelFeatures[] = [];
  constructor(readonly n = FEATURES_KEPT) {}
  add(f: ModelFeatures): void {
    this.ring.push(f);
    if (this.ring.length > this.n) releaseFeatures(this.ring.shift()!);
  }
  clear(): void {
    for (const f of this.ring) releaseFeatures(f);
    this.ring.length = 0;
  }
}

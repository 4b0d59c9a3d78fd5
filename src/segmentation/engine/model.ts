/**
 * A trained segmentation model: its manifest, an engine running its parts,
 * and `segment()`, which runs the full network or, on non-key frames, only the
 * shallow branch with the deep features kept from the last key frame.
 *
 * ```ts
 * const m = await loadModel({ model: 'fast-scnn-camvid', engine: 'onnx' });
 * const { classes } = await m.segment(rgb, 480, 360);
 * await m.dispose();
 * ```
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fitLongSide, resizeRgb } from '../../kernels/image.ts';
import { PACKAGE_ROOT } from '../../core/package-root.ts';
import type { ScoreMap } from '../../core/packet.ts';
import type { FuserCell, FuserPart, SegEngine, Tensor4 } from './engine.ts';
import { upsampleArgmax } from '../../kernels/upsample.ts';
import { normaliseJs, normaliseWasm } from '../../kernels/normalise-wasm.ts';
import { addScores, ttaViews, viewImage, viewSize, type TtaSpec } from './tta.ts';

export interface Manifest {
  readonly name: string;
  readonly classes: readonly string[];
  readonly palette: readonly (readonly [number, number, number])[];
  readonly void: number;
  readonly inputSize: readonly [number, number];
  readonly normalisation: { readonly mean: readonly number[]; readonly std: readonly number[] };
  readonly parts: Record<string, string>;
  readonly params: number;
  readonly macs: Record<string, number>;
  /** The temporal fuser's size, when the model has one (parts.fuser); `cell` gru when absent. */
  readonly fuser?: FuserInfo;
  /** Other fusers beside the model's own (training/export.py --add-fuser), by cell. */
  readonly fusers?: Partial<Record<FuserCell, FuserInfo & { readonly parts: { readonly fuser: string; readonly tfjsWeights: string } }>>;
  readonly metrics?: Record<string, unknown>;
  readonly provenance?: Record<string, unknown>;
}

export interface FuserInfo {
  readonly cell?: FuserCell;
  readonly params: number;
  readonly macs: Record<string, number>;
  readonly metrics?: Record<string, unknown>;
}

export type EngineName = 'onnx' | 'tfjs';
export const FUSER_CELLS: readonly FuserCell[] = ['gru', 'lstm'];

/**
 * The temporal fuser to load: `cell` undefined picks the model's own
 * (parts.fuser, if any); a cell picks the model's own when it is that cell,
 * else the one in `fusers.<cell>`, and throws when the model has none.
 */
export function resolveFuser(m: Manifest, cell?: FuserCell): FuserPart | undefined {
  const ownCell: FuserCell = m.fuser?.cell ?? 'gru';
  if (cell !== undefined && !FUSER_CELLS.includes(cell)) throw new TypeError(`fuserCell must be one of ${FUSER_CELLS.join(' or ')}, but got ${String(cell)}`);
  if (m.parts.fuser && (cell === undefined || cell === ownCell)) return { cell: ownCell, onnx: m.parts.fuser };
  if (cell === undefined) return undefined;
  const other = m.fusers?.[cell];
  if (!other) {
    const have = [...(m.parts.fuser ? [ownCell] : []), ...Object.keys(m.fusers ?? {})];
    throw new Error(`model ${m.name} has no ${cell} temporal fuser (it has: ${have.join(', ') || 'none'})`);
  }
  return { cell, onnx: other.parts.fuser, tfjsWeights: other.parts.tfjsWeights };
}

export interface LoadOptions {
  /** Model name under models/, or a folder with a manifest.json. */
  readonly model?: string;
  readonly engine?: EngineName;
  /** Intra-op threads (0 = all cores). */
  readonly threads?: number;
  /** The temporal fuser's cell (resolveFuser): undefined = the model's own. */
  readonly fuserCell?: FuserCell | undefined;
}

export const MODELS_DIR = path.join(PACKAGE_ROOT, 'models');
export const DEFAULT_MODEL = 'fast-scnn-camvid';

export function modelDir(model: string): string {
  const candidates = [model, path.join(MODELS_DIR, model)];
  for (const c of candidates) if (existsSync(path.join(c, 'manifest.json'))) return path.resolve(c);
  const known = existsSync(MODELS_DIR) ? readdirModels().join(', ') : 'none';
  throw new Error(`model '${model}' not found: expected a name under ${MODELS_DIR} (${known}) or a folder with manifest.json`);
}

function readdirModels(): string[] {
  return readdirSync(MODELS_DIR).filter((d) => existsSync(path.join(MODELS_DIR, d, 'manifest.json')));
}

export interface SegmentResult {
  readonly classes: Uint8Array;
  /** Class scores at 1/8 of the inference size (only when asked for). */
  readonly scores?: ScoreMap | undefined;
  /** 'full' ran every part; 'shallow' reused the deep features of the last key frame; 'fused' updated them with the temporal fuser. */
  readonly path: 'full' | 'shallow' | 'fused';
  /**
   * With `features`: this frame's shallow features and, when it ran the deep
   * branch, its raw deep features (before any fuser), owned by the caller
   * (release them with the model's engine).
   */
  readonly features?: { readonly high: Tensor4; readonly deep?: Tensor4 | undefined } | undefined;
}

export class Model {
  private low: Tensor4 | undefined;
  private lowSize = '';
  /** Counts of each path taken (tests count these). */
  readonly runs = { full: 0, shallow: 0, fused: 0, refined: 0 };
  /** Deep-branch runs, TTA views included (tests count these: non-key frames never reach it). */
  deepRuns = 0;
  /** Extra test-time-augmentation views run (each a whole network pass; tests count these). */
  ttaViewRuns = 0;
  /** Per channel, byte value -> normalised float (256 entries each). */
  private readonly lut: Float32Array;
  /**
   * The network's input buffers, one per input size (a key frame with TTA alternates two sizes:
   * a fresh 1.5–2.5 MB buffer per call cost page faults and scavenges), reused by the next call
   * of the same size (engines copy or finish with it per call).
   */
  private readonly inputs = new Map<number, Float32Array>();

  constructor(readonly manifest: Manifest, readonly engine: SegEngine, readonly dir: string) {
    const { mean, std } = manifest.normalisation;
    this.lut = new Float32Array(768);
    for (let c = 0; c < 3; c++) for (let v = 0; v < 256; v++) this.lut[c * 256 + v] = (v - mean[c]!) / std[c]!;
  }

  /** RGB24 HWC -> normalised float32 NCHW (a buffer reused by the next call). */
  normalise(rgb: Uint8Array, w: number, h: number): Float32Array {
    const n = w * h;
    let out = this.inputs.get(n);
    if (!out) {
      if (this.inputs.size >= 4) this.inputs.clear(); // sizes that changed: keep only the current ones
      out = new Float32Array(3 * n);
      this.inputs.set(n, out);
    }
    // The same table lookups in WebAssembly where it runs (~3x faster: src/kernels/normalise-wasm.ts).
    (normaliseWasm ? normaliseWasm.run : normaliseJs)(rgb, n, this.lut, out);
    return out;
  }

  /**
   * Segment one RGB24 image. With `reuseDeep`, the deep branch is skipped and
   * the last key frame's deep features are used (when they exist and match
   * the size); with `fuse` as well, the temporal fuser first updates them from
   * this frame's shallow features (a recurrent state carried frame to frame
   * until the next key frame or `reset()`). Labels come back at `outW` x
   * `outH` (default: the image size);
   * inference runs at `inW` x `inH` (default: inferenceSize). With `refine`,
   * a frame that runs the deep branch also passes its deep features once
   * through the temporal fuser (with the frame's own shallow features) before
   * the head — a learned refinement (a no-op for a model without a fuser).
   * With `tta` (src/engine/tta.ts), a frame that runs the deep branch also runs
   * the whole network on the spec's other views (mirrored, other scales) and
   * the class scores of all views are averaged on the finest view's 1/8 grid
   * (the largest scale's; `scores` come back on that grid) before the
   * upsample and argmax; the deep features kept for non-key frames stay the
   * base view's.
   * One call at a time per model (the kept deep features and the input buffer
   * are the model's).
   */
  async segment(rgb: Uint8Array, w: number, h: number, o: { reuseDeep?: boolean; fuse?: boolean; refine?: boolean; tta?: TtaSpec | undefined; inW?: number; inH?: number; outW?: number; outH?: number; withScores?: boolean; features?: boolean } = {}): Promise<SegmentResult> {
    const { inW, inH } = this.inferenceSize(w, h, o.inW, o.inH);
    const e = this.engine;
    const high = await this.shallowFeatures(rgb, w, h, inW, inH);
    let scores: Tensor4 | undefined;
    let deepCopy: Tensor4 | undefined;
    try {
      const size = `${inW}x${inH}`;
      const reuse = o.reuseDeep === true && this.low !== undefined && this.lowSize === size;
      if (!reuse) {
        e.release(this.low);
        this.low = undefined;
        const deep = await e.deep(high);
        this.deepRuns++;
        if (o.features) deepCopy = e.wrap(await e.read(deep), deep.dims);
        this.low = this.asState(deep);
        this.lowSize = size;
        if (o.refine && e.fuse) {
          const refined = await e.fuse(high, this.low);
          e.release(this.low);
          this.low = refined;
          this.runs.refined++;
        }
      }
      let path: SegmentResult['path'] = reuse ? 'shallow' : 'full';
      if (reuse && o.fuse) {
        if (!e.fuse) throw new Error(`model ${this.manifest.name} has no temporal fuser (manifest parts.fuser): use nonKeyFrames shallow or propagate`);
        const next = await e.fuse(high, this.low!);
        e.release(this.low);
        this.low = next;
        path = 'fused';
      }
      this.runs[path]++;
      scores = await this.head(high, this.low!);
      const views = !reuse && o.tta ? ttaViews(o.tta).slice(1) : [];
      if (views.length) {
        const [, c, bh, bw] = scores.dims;
        // Averaged on the finest view's grid (the largest scale's 1/8 grid: its size is a multiple of 8),
        // not the base view's: the upscaled view's detail is not blurred away (val 66.1 against 65.7
        // for 1,1.25; Pole 11.5 against 9.7; training/README.md).
        const big = Math.max(...views.map((v) => v.scale));
        const fine = big > 1 ? viewSize(inW, inH, big) : undefined;
        const sh = fine ? fine.h / 8 : bh;
        const sw = fine ? fine.w / 8 : bw;
        const acc = new Float32Array(c * sh * sw);
        addScores(acc, sh, sw, await e.read(scores), c, bh, bw, false);
        for (const v of views) {
          await this.addView(acc, sh, sw, rgb, w, h, inW, inH, v.scale, v.flip, o.refine === true);
          this.ttaViewRuns++;
        }
        const inv = 1 / (views.length + 1);
        for (let i = 0; i < acc.length; i++) acc[i]! *= inv;
        const classes = upsampleArgmax(acc, c, sh, sw, o.outH || h, o.outW || w);
        return { classes, scores: o.withScores ? { channels: c, height: sh, width: sw, data: acc } : undefined, path, features: o.features ? { high, deep: deepCopy } : undefined };
      }
      const classes = await e.labels(scores, o.outH || h, o.outW || w);
      let sm: ScoreMap | undefined;
      if (o.withScores) {
        const [, c, sh, sw] = scores.dims;
        sm = { channels: c, height: sh, width: sw, data: await e.read(scores) };
      }
      return { classes, scores: sm, path, features: o.features ? { high, deep: deepCopy } : undefined };
    } catch (err) {
      e.release(deepCopy);
      if (o.features) e.release(high);
      throw err;
    } finally {
      if (!o.features) e.release(high);
      e.release(scores);
    }
  }

  /**
   * The inference size of a w x h image: `inW` x `inH` where either is given (the other the image's);
   * else the image's own size, fitted down (aspect ratio kept) to the model's longer input side
   * (manifest `inputSize`: 480 for 360x480) when its longer side is larger. A network trained at
   * 360x480 loses much of its accuracy on pictures several times larger seen at their own size
   * (CamVid val scaled up 4x: 52.8 against 66.1 mIoU, test/eval.test.ts) and costs their pixel
   * count; graphs normally feed it a downsampler's frames (longSidePx 480), which are unchanged.
   */
  inferenceSize(w: number, h: number, inW?: number, inH?: number): { inW: number; inH: number } {
    if (inW || inH) return { inW: inW || w, inH: inH || h };
    const long = Math.max(...this.manifest.inputSize);
    if (Math.max(w, h) <= long) return { inW: w, inH: h };
    const f = fitLongSide(w, h, long);
    return { inW: f.width, inH: f.height };
  }

  /** The shallow branch alone (1/8 features of the image resized to `inW` x `inH`: inferenceSize), owned by the caller. */
  async shallowFeatures(rgb: Uint8Array, w: number, h: number, inWanted?: number, inHWanted?: number): Promise<Tensor4> {
    const { inW, inH } = this.inferenceSize(w, h, inWanted, inHWanted);
    const img = inW === w && inH === h ? rgb : resizeRgb(rgb, w, h, inW, inH);
    return this.engine.shallow(this.normalise(img, inW, inH), inH, inW);
  }

  /** The deep branch on shallow features: raw deep features at 1/32, owned by the caller (counted in `deepRuns`). */
  async deepFeatures(high: Tensor4): Promise<Tensor4> {
    const d = await this.engine.deep(high);
    this.deepRuns++;
    return d;
  }

  /**
   * A temporal fuser's state for a key frame from its raw deep features (as
   * `segment` makes it: the lstm cell's [deep, 0]; with `refine`, passed once
   * through the fuser with the frame's shallow features). A new tensor the
   * caller owns; `high` and `deep` stay the caller's. Needs a fuser.
   */
  async keyState(high: Tensor4, deep: Tensor4, refine: boolean): Promise<Tensor4> {
    const e = this.engine;
    if (!e.fuse) throw new Error(`model ${this.manifest.name} has no temporal fuser (manifest parts.fuser)`);
    const st = e.fuserCell === 'lstm' ? e.fuserState(deep) : e.wrap(await e.read(deep), deep.dims);
    if (!refine) return st;
    try {
      const next = await e.fuse(high, st);
      this.runs.refined++;
      return next;
    } finally {
      e.release(st);
    }
  }

  /** The temporal fuser's next state from a frame's shallow features (a new tensor; `state` stays the caller's). */
  async fuseStep(high: Tensor4, state: Tensor4): Promise<Tensor4> {
    if (!this.engine.fuse) throw new Error(`model ${this.manifest.name} has no temporal fuser (manifest parts.fuser)`);
    const next = await this.engine.fuse(high, state);
    this.runs.fused++;
    return next;
  }

  /** The head on shallow features and a fuser state (or deep features), then labels at `outW` x `outH`. */
  async labelsFrom(high: Tensor4, state: Tensor4, outW: number, outH: number): Promise<Uint8Array> {
    const scores = await this.head(high, state);
    try {
      return await this.engine.labels(scores, outH, outW);
    } finally {
      this.engine.release(scores);
    }
  }

  /**
   * One TTA view through the whole network (its deep features are not kept):
   * its class scores, mirrored back and resampled to `th` x `tw`, are added to `acc`.
   */
  async addView(acc: Float32Array, th: number, tw: number, rgb: Uint8Array, w: number, h: number, inW: number, inH: number, scale: number, flip: boolean, refine: boolean): Promise<void> {
    const e = this.engine;
    const vs = viewSize(inW, inH, scale);
    const img = viewImage(rgb, w, h, vs.w, vs.h, flip);
    const held: Tensor4[] = [];
    try {
      const high = await e.shallow(this.normalise(img, vs.w, vs.h), vs.h, vs.w);
      held.push(high);
      this.deepRuns++;
      let low = this.asState(await e.deep(high));
      held.push(low);
      if (refine && e.fuse) {
        low = await e.fuse(high, low);
        held.push(low);
      }
      const scores = await this.head(high, low);
      held.push(scores);
      const [, c, sh, sw] = scores.dims;
      addScores(acc, th, tw, await e.read(scores), c, sh, sw, flip);
    } finally {
      for (const t of held) e.release(t);
    }
  }

  /** An lstm fuser's state is [h, c] (engine.ts): deep features become [low, 0] (`low` is released). */
  private asState(low: Tensor4): Tensor4 {
    if (this.engine.fuserCell !== 'lstm') return low;
    try {
      return this.engine.fuserState(low);
    } finally {
      this.engine.release(low);
    }
  }

  /** The head on the deep features, or on an lstm state's h. */
  async head(high: Tensor4, state: Tensor4): Promise<Tensor4> {
    const e = this.engine;
    if (e.fuserCell !== 'lstm') return e.head(high, state);
    const h = e.fuserFeatures(state);
    try {
      return await e.head(high, h);
    } finally {
      e.release(h);
    }
  }

  /** The loaded temporal fuser's cell (undefined without one). */
  get fuserCell(): FuserCell | undefined {
    return this.engine.fuserCell;
  }

  /** Forget the kept deep features (discontinuity). */
  reset(): void {
    this.engine.release(this.low);
    this.low = undefined;
    this.lowSize = '';
  }

  /** True when the model carries a trained temporal fuser. */
  get hasFuser(): boolean {
    return this.engine.fuse !== undefined;
  }

  async dispose(): Promise<void> {
    this.reset();
    await this.engine.dispose();
  }
}

export function readManifest(dir: string): Manifest {
  return JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as Manifest;
}

export async function loadModel(o: LoadOptions = {}): Promise<Model> {
  const dir = modelDir(o.model ?? DEFAULT_MODEL);
  const manifest = readManifest(dir);
  const engineName = o.engine ?? 'onnx';
  const fuser = resolveFuser(manifest, o.fuserCell);
  let engine: SegEngine;
  if (engineName === 'onnx') {
    const { createOnnxEngine } = await import('./onnx.ts');
    engine = await createOnnxEngine(dir, manifest.parts, { threads: o.threads ?? 0, fuser });
  } else if (engineName === 'tfjs') {
    const { createTfjsEngine } = await import('./tfjs.ts');
    engine = await createTfjsEngine(dir, manifest, { threads: o.threads ?? 0, fuser });
  } else {
    throw new TypeError(`engine must be one of onnx or tfjs, but got ${String(engineName)}`);
  }
  return new Model(manifest, engine, dir);
}

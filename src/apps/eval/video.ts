/**
 * Video evaluation of the cross-frame reuse modes, built honestly from CamVid
 * val only (there is no labelled 30 fps video here):
 *
 *  - the 15 Hz val sub-sequence (0016E5, frames two source frames apart), in order;
 *  - sequences made from val stills by realistic camera motion (forward zoom
 *    toward the horizon, pan, small rotation), the labels warped identically
 *    (nearest, void where the view leaves the image).
 *
 * A mode (key-frame interval, change threshold, non-key path) runs over each
 * sequence with the same scheduler and propagator the segmenter node uses;
 * we report mIoU over all frames and at the worst position in the key-frame
 * cycle. Temporal consistency (TC, as in ETC) needs no labels and runs on any
 * clip: mIoU between prediction(t) and prediction(t+1) warped back to t by
 * block-matching motion (src/segmentation/propagation.ts — the same carrying the `propagate` path
 * uses, which favours that path; say so when reporting).
 */
import path from 'node:path';
import type { Model } from '../../segmentation/engine/model.ts';
import { thumbnail } from '../../kernels/motion.ts';
import { carryLabels } from '../../segmentation/propagation.ts';
import { ReuseSegmenter } from '../../segmentation/temporal.ts';
import { DEFAULT_TTA, resolveTta } from '../../segmentation/engine/tta.ts';
import { listImages, readLabel, readRgb } from './dataset.ts';
import { accumulate, computeMetrics, createConfusion } from './metrics.ts';

export interface SeqFrame {
  readonly rgb: Uint8Array;
  readonly labels: Uint8Array;
  readonly width: number;
  readonly height: number;
}

export interface Mode {
  readonly name: string;
  readonly keyframeIntervalFrames: number;
  readonly keyframeChangeThreshold?: number;
  readonly nonKeyFrames?: 'shallow' | 'fuse' | 'propagate';
  /** Refine key frames with the fuser (default true, as the segmenter node). */
  readonly refine?: boolean;
  /**
   * Key-frame test-time augmentation, as the segmenter node's `tta` (src/engine/tta.ts): a spec
   * string, `auto` by default — the node's default, resolved the same way from the key-frame interval.
   */
  readonly tta?: string;
}

const VOID = 11;

/** The longest run of val frames whose source indices are 2 apart (the 15 Hz part), in order. */
export async function valSequence(camvid: string): Promise<SeqFrame[]> {
  const files = listImages(path.join(camvid, 'val')).map((f) => path.join(camvid, 'val', f));
  const idx = (f: string) => Number(/_(\d+)\.png$/.exec(f)?.[1] ?? NaN);
  let best: string[] = [];
  let cur: string[] = [];
  for (const f of files) {
    if (cur.length && idx(f) - idx(cur[cur.length - 1]!) === 2) cur.push(f);
    else cur = [f];
    if (cur.length > best.length) best = [...cur];
  }
  return Promise.all(best.map(async (f) => {
    const img = await readRgb(f);
    const lab = await readLabel(path.join(camvid, 'valannot', path.basename(f)));
    return { rgb: img.data, labels: lab.data, width: img.width, height: img.height };
  }));
}

/** Affine camera motion at step t: zoom toward (cx, cy), pan, rotate. */
function warpAffine(f: SeqFrame, zoom: number, panX: number, rotRad: number): SeqFrame {
  const { width: w, height: h } = f;
  const cx = w / 2, cy = h * 0.45;
  const rgb = new Uint8Array(w * h * 3);
  const labels = new Uint8Array(w * h).fill(VOID);
  const c = Math.cos(rotRad) / zoom, s = Math.sin(rotRad) / zoom;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      // output pixel -> source pixel (inverse map)
      const dx = x - cx - panX, dy = y - cy;
      const sx = cx + c * dx + s * dy;
      const sy = cy - s * dx + c * dy;
      const o = y * w + x;
      if (sx < 0 || sy < 0 || sx > w - 1 || sy > h - 1) {
        continue; // black, void
      }
      const x0 = Math.floor(sx), y0 = Math.floor(sy);
      const x1 = Math.min(w - 1, x0 + 1), y1 = Math.min(h - 1, y0 + 1);
      const ax = sx - x0, ay = sy - y0;
      for (let k = 0; k < 3; k++) {
        const p00 = f.rgb[(y0 * w + x0) * 3 + k]!, p01 = f.rgb[(y0 * w + x1) * 3 + k]!;
        const p10 = f.rgb[(y1 * w + x0) * 3 + k]!, p11 = f.rgb[(y1 * w + x1) * 3 + k]!;
        rgb[o * 3 + k] = (1 - ay) * ((1 - ax) * p00 + ax * p01) + ay * ((1 - ax) * p10 + ax * p11) + 0.5;
      }
      labels[o] = f.labels[Math.round(sy) * w + Math.round(sx)]!;
    }
  }
  return { rgb, labels, width: w, height: h };
}

/**
 * Sequences of `length` frames from every `stride`-th val still: forward
 * zoom (+1.2 %/frame, like driving at ~30 km/h at 30 fps), pan (2 px/frame)
 * and rotation (0.15°/frame), alternating direction per still.
 */
export async function motionSequences(camvid: string, stills = 8, length = 10): Promise<SeqFrame[][]> {
  const files = listImages(path.join(camvid, 'val')).map((f) => path.join(camvid, 'val', f));
  const stride = Math.max(1, Math.floor(files.length / stills));
  const out: SeqFrame[][] = [];
  for (let i = 0; i < stills && i * stride < files.length; i++) {
    const f = files[i * stride]!;
    const img = await readRgb(f);
    const lab = await readLabel(path.join(camvid, 'valannot', path.basename(f)));
    const base = { rgb: img.data, labels: lab.data, width: img.width, height: img.height };
    const dir = i % 2 ? -1 : 1;
    out.push(Array.from({ length }, (_, t) => warpAffine(base, 1 + 0.012 * t, dir * 2 * t, (dir * 0.15 * t * Math.PI) / 180)));
  }
  return out;
}

export interface ModeRun {
  readonly predictions: Uint8Array[];
  /** Position of each frame in its key-frame cycle (0 = key frame). */
  readonly positions: number[];
  readonly latenciesMs: number[];
  readonly paths: Record<string, number>;
}

/** Run a mode over a sequence with the segmenter node's own ReuseSegmenter. */
export async function runMode(model: Model, mode: Mode, frames: readonly SeqFrame[]): Promise<ModeRun> {
  const seg = new ReuseSegmenter(model, { ...mode, tta: resolveTta(mode.tta ?? DEFAULT_TTA, mode.keyframeIntervalFrames) });
  seg.reset();
  const predictions: Uint8Array[] = [];
  const positions: number[] = [];
  const latenciesMs: number[] = [];
  const paths: Record<string, number> = { full: 0, shallow: 0, fused: 0, propagated: 0 };
  let pos = 0;
  for (const f of frames) {
    const t0 = performance.now();
    const r = await seg.next(f.rgb, f.width, f.height);
    latenciesMs.push(performance.now() - t0);
    paths[r.path] = (paths[r.path] ?? 0) + 1;
    pos = r.path === 'full' ? 0 : pos + 1;
    positions.push(pos);
    predictions.push(r.classes);
  }
  return { predictions, positions, latenciesMs, paths };
}

export interface SeqScore {
  /** mIoU over every frame (one confusion matrix), percent. */
  readonly miou: number;
  /** mIoU at each key-frame cycle position, percent. */
  readonly byPosition: number[];
  /** The worst of byPosition. */
  readonly worst: number;
}

export function scoreSequences(runs: readonly { run: ModeRun; frames: readonly SeqFrame[] }[], classes: number): SeqScore {
  const all = createConfusion(classes);
  const byPos = new Map<number, Float64Array>();
  for (const { run, frames } of runs) {
    run.predictions.forEach((p, i) => {
      const gt = frames[i]!.labels;
      accumulate(all, classes, gt, p);
      const pos = run.positions[i]!;
      if (!byPos.has(pos)) byPos.set(pos, createConfusion(classes));
      accumulate(byPos.get(pos)!, classes, gt, p);
    });
  }
  const byPosition = [...byPos.keys()].sort((a, b) => a - b).map((k) => computeMetrics(byPos.get(k)!, classes).miou * 100);
  return { miou: computeMetrics(all, classes).miou * 100, byPosition, worst: Math.min(...byPosition) };
}

/** Temporal consistency (percent): mean over consecutive pairs of mIoU(pred_t, pred_{t+1} warped back to t). */
export function temporalConsistency(frames: readonly { rgb: Uint8Array; width: number; height: number }[], preds: readonly Uint8Array[], classes: number): number {
  let sum = 0;
  let n = 0;
  let prevThumb = frames[0] ? thumbnail(frames[0].rgb, frames[0].width, frames[0].height) : undefined;
  for (let t = 0; t + 1 < frames.length; t++) {
    const f = frames[t]!;
    const nextThumb = thumbnail(frames[t + 1]!.rgb, f.width, f.height);
    // Motion of frame t's blocks into frame t+1, then pull t+1's labels back onto t.
    const warped = carryLabels(preds[t + 1]!, f.width, f.height, nextThumb, prevThumb!);
    const conf = createConfusion(classes);
    accumulate(conf, classes, preds[t]!, warped);
    const mi = computeMetrics(conf, classes).miou;
    if (Number.isFinite(mi)) {
      sum += mi;
      n++;
    }
    prevThumb = nextThumb;
  }
  return n ? (sum / n) * 100 : NaN;
}

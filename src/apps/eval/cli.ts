/**
 * `segflow eval`: score a model against class-id label PNGs.
 *
 *   segflow eval --images DIR --labels DIR [--model NAME] [--engine onnx|tfjs]
 *                [--size model|native|HxW] [--refine on|off] [--tta SPEC] [--json] [--report DIR] [--limit N]
 *
 * Images are paired with labels by file name; pairs are checked (label exists,
 * same size, 8-bit single channel) from the PNG headers before the model loads,
 * and an image without a usable label is reported on stderr and skipped. Each
 * image is segmented at `--size`: by default the model's own scale as the
 * offline job runs it (the longer side fitted to the longer side of the model's
 * `inputSize`, 480 px for CamVid's 360x480, aspect kept: the downsampler's
 * `longSidePx`), `native` for the image's own size, or HxW; the prediction is
 * scored at the label's size; with `--tta auto` (default) the views the offline
 * job's key frames run (AUTO_TTA), `--tta off` for the network once. A network trained at 360x480 loses much of its
 * accuracy on images several times larger seen at their own size (CamVid val
 * upscaled 4x: 50.1 mIoU at 1440x1920 against 64.5 at 360x480). Prints a table (default) or one JSON object
 * (`--json`); `--report DIR` also writes figures, report.json and README.md.
 */
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import os from 'node:os';
import { loadModel, modelDir, readManifest, DEFAULT_MODEL, type EngineName, type Manifest } from '../../segmentation/engine/model.ts';
import { UsageError } from '../../core/errors.ts';
import { AUTO_TTA, formatTta, parseTta, TTA_SYNTAX, ttaCostFactor, ttaViews, type TtaSpec } from '../../segmentation/engine/tta.ts';
import { fitLongSide } from '../../kernels/image.ts';
import { pairFiles, readLabel, readRgb, type Pair } from './dataset.ts';
import { accumulate, computeMetrics, createConfusion } from './metrics.ts';
import { toJson, toText, writeReport, type EvalRun, type TriptychInput } from './report.ts';

export const EVAL_USAGE = `usage: segflow eval --images DIR --labels DIR [--model NAME] [--engine onnx|tfjs] [--size model|native|HxW] [--refine on|off] [--tta SPEC] [--json] [--report DIR] [--limit N]
  --images DIR    RGB images (png/jpg)
  --labels DIR    8-bit grayscale class-id PNGs with the same file names (ids ≥ class count, e.g. CamVid's 11, are void: ignored)
  --model NAME    model under models/ or a folder with manifest.json (default ${DEFAULT_MODEL})
  --engine E      onnx (default) or tfjs
  --size S        inference size: model (default: each image's longer side fitted to the model's, 480 px, aspect
                  kept, as the offline job's downsampler does), native (each image's own size), or HxW (e.g. 360x480);
                  scoring is always at the label size
  --refine on|off pass the deep features once through the model's temporal fuser, as the segmenter node does on
                  key frames (default on; off = the two-branch network alone; no effect for a model without a fuser)
  --tta SPEC      test-time augmentation, as the segmenter node's key frames: class scores at 1/8 averaged over
                  views — auto (default: ${AUTO_TTA}, what the offline job's key frames run), off (the network once, as
                  live graphs run key frames), flip, scales (0.75,1,1.25), flip+scales, a list (0.75,1,1.5), flip+<list>
  --json          print one JSON object (percentages 0..100) instead of the table
  --report DIR    also write confusion.png, iou.png, triptych-*.png, report.json, README.md
  --limit N       only the first N pairs (by file name)`;

/** How many images get an image | truth | prediction figure. */
const TRIPTYCHS = 4;
/** Progress line every this many images (stderr). */
const PROGRESS_EVERY = 20;

export interface EvalOptions {
  readonly images: string;
  readonly labels: string;
  readonly model: string;
  readonly engine: EngineName;
  /** Inference size: HxW, each image's own (`native`), or its longer side fitted to the model's (`model`). */
  readonly size: { h: number; w: number } | 'native' | 'model';
  readonly refine: boolean;
  readonly tta: TtaSpec;
  readonly json: boolean;
  readonly report?: string | undefined;
  readonly limit?: number | undefined;
}

function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** Parse and check the command line; every problem is a UsageError (exit 2). */
export function parseEvalArgs(argv: string[]): EvalOptions | 'help' {
  let values: Record<string, string | boolean | undefined>;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        images: { type: 'string' }, labels: { type: 'string' }, model: { type: 'string' }, engine: { type: 'string' },
        size: { type: 'string' }, refine: { type: 'string' }, tta: { type: 'string' }, json: { type: 'boolean' }, report: { type: 'string' }, limit: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }) as { values: Record<string, string | boolean | undefined>; positionals: string[] });
  } catch (e) {
    throw new UsageError(`eval: ${(e as Error).message}\n${EVAL_USAGE}`);
  }
  if (values.help) return 'help';
  if (positionals.length) throw new UsageError(`eval: expected only options, got '${positionals.join(' ')}'\n${EVAL_USAGE}`);
  const images = values.images as string | undefined;
  const labels = values.labels as string | undefined;
  if (!images) throw new UsageError(`eval: expected --images DIR, got none\n${EVAL_USAGE}`);
  if (!labels) throw new UsageError(`eval: expected --labels DIR, got none\n${EVAL_USAGE}`);
  if (!isDir(images)) throw new UsageError(`eval --images: expected a folder, got '${images}' (${statOr(images)})`);
  if (!isDir(labels)) throw new UsageError(`eval --labels: expected a folder, got '${labels}' (${statOr(labels)})`);
  const engine = (values.engine as string | undefined) ?? 'onnx';
  if (engine !== 'onnx' && engine !== 'tfjs') throw new UsageError(`eval --engine: expected onnx or tfjs, got '${engine}'`);
  let size: { h: number; w: number } | 'native' | 'model' = 'model';
  if (values.size === 'native' || values.size === 'model') size = values.size;
  else if (values.size !== undefined) {
    const m = /^(\d+)x(\d+)$/.exec(values.size as string);
    const h = m ? Number(m[1]) : NaN;
    const w = m ? Number(m[2]) : NaN;
    if (!m || h < 32 || w < 32 || h > 8192 || w > 8192) throw new UsageError(`eval --size: expected model, native or HxW with 32 ≤ H, W ≤ 8192 (e.g. 360x480), got '${values.size}'`);
    size = { h, w };
  }
  let limit: number | undefined;
  if (values.limit !== undefined) {
    limit = Number(values.limit);
    if (!Number.isInteger(limit) || limit < 1) throw new UsageError(`eval --limit: expected an integer ≥ 1, got '${values.limit}'`);
  }
  const refine = (values.refine as string | undefined) ?? 'on';
  if (refine !== 'on' && refine !== 'off') throw new UsageError(`eval --refine: expected on or off, got '${refine}'`);
  // `auto`: an image is scored as the offline job runs its key frames (sparse: AUTO_TTA).
  let tta = parseTta(AUTO_TTA);
  if (values.tta !== undefined && values.tta !== 'auto') {
    try {
      tta = parseTta(values.tta as string);
    } catch {
      throw new UsageError(`eval --tta: expected auto, ${TTA_SYNTAX}, got '${values.tta}'`);
    }
  }
  const model = (values.model as string | undefined) ?? DEFAULT_MODEL;
  return { images, labels, model, engine, size, refine: refine === 'on', tta, json: values.json === true, report: values.report as string | undefined, limit };
}

function statOr(p: string): string {
  try {
    statSync(p);
    return 'not a folder';
  } catch {
    return 'does not exist';
  }
}

/** MACs per image at h x w from a manifest's table (its `macs`, or its fuser's): the figure for that size, or the 360x480 one scaled by pixel count. */
export function macsAt(table: Manifest['macs'], h: number, w: number): { macs: number; approximate: boolean; note: string } {
  const key = `${h}x${w}`;
  const exact = table[key];
  if (exact !== undefined) return { macs: exact, approximate: false, note: `manifest figure for ${key}` };
  const base = table['360x480'] !== undefined ? '360x480' : Object.keys(table)[0];
  if (base === undefined) return { macs: NaN, approximate: true, note: 'the manifest has no MACs figure' };
  const [bh, bw] = base.split('x').map(Number) as [number, number];
  return { macs: Math.round((table[base]! * h * w) / (bh * bw)), approximate: true, note: `≈ manifest ${base} figure scaled by pixel count to ${key}` };
}

/** The model's weight files for an engine, and their total size in bytes. */
export function modelFiles(dir: string, engine: EngineName): { files: string[]; bytes: number } {
  const files = engine === 'tfjs' ? ['weights.bin'] : readdirSync(dir).filter((f) => f.endsWith('.onnx')).sort();
  let bytes = 0;
  for (const f of files) bytes += statSync(path.join(dir, f)).size;
  return { files, bytes };
}

/** Which pairs get a triptych: up to TRIPTYCHS, spread evenly over the run. */
function triptychIndices(n: number): Set<number> {
  const k = Math.min(TRIPTYCHS, n);
  const out = new Set<number>();
  for (let i = 0; i < k; i++) out.add(k === 1 ? 0 : Math.round((i * (n - 1)) / (k - 1)));
  return out;
}

export async function cmdEval(argv: string[]): Promise<number> {
  const o = parseEvalArgs(argv);
  if (o === 'help') {
    process.stdout.write(EVAL_USAGE + '\n');
    return 0;
  }
  const err = (s: string) => process.stderr.write(s + '\n');

  let dir: string;
  try {
    dir = modelDir(o.model);
  } catch (e) {
    throw new UsageError(`eval --model: ${(e as Error).message}`);
  }
  const pairing = await pairFiles(o.images, o.labels);
  for (const u of pairing.unpaired) err(`eval: skipping ${u.name}: ${u.reason}`);
  if (!pairing.pairs.length) {
    throw new UsageError(`eval: expected image/label pairs with the same file names in ${o.images} and ${o.labels}, got none (${pairing.imageCount} images, ${pairing.unpaired.length} without a usable label)`);
  }
  const pairs: Pair[] = o.limit ? pairing.pairs.slice(0, o.limit) : pairing.pairs;

  const manifest = readManifest(dir);
  const K = manifest.classes.length;
  const model = await loadModel({ model: dir, engine: o.engine, threads: 0 });
  try {
    const confusion = createConfusion(K);
    const keep = o.report ? triptychIndices(pairs.length) : new Set<number>();
    const triptychs: TriptychInput[] = [];
    const latencies: number[] = [];
    const sizes = new Map<string, number>();
    let macsSum = 0;
    let macsApprox = false;
    const macsNotes = new Set<string>();
    let ignored = 0;
    // The fuser's parameters and MACs count when it runs.
    const refined = o.refine && model.hasFuser;
    let modelSeconds = 0;
    let e2eSeconds = 0;
    // The inference size of a w x h image (o.size).
    const modelLong = Math.max(...manifest.inputSize);
    const sizeFor = (w: number, h: number): { inW: number; inH: number } => {
      if (typeof o.size === 'object') return { inW: o.size.w, inH: o.size.h };
      if (o.size === 'native') return { inW: w, inH: h };
      const f = fitLongSide(w, h, modelLong);
      return { inW: f.width, inH: f.height };
    };
    // Every TTA view runs the whole network; its MACs scale with its pixel count.
    const ttaFactor = ttaCostFactor(o.tta);

    // One untimed warm-up: the first run allocates and plans inside the engine.
    {
      const p = pairs[0]!;
      const img = await readRgb(p.image);
      await model.segment(img.data, img.width, img.height, { ...sizeFor(img.width, img.height), refine: o.refine, tta: o.tta });
    }

    const t0 = performance.now();
    for (let k = 0; k < pairs.length; k++) {
      const p = pairs[k]!;
      const tStart = performance.now();
      const [img, lab] = await Promise.all([readRgb(p.image), readLabel(p.label)]);
      if (img.width !== lab.width || img.height !== lab.height) throw new Error(`${p.name}: image ${img.width}x${img.height} but label ${lab.width}x${lab.height} (WxH) after decoding`);
      const { inW, inH } = sizeFor(img.width, img.height);
      const tm = performance.now();
      const { classes } = await model.segment(img.data, img.width, img.height, { inW, inH, outW: lab.width, outH: lab.height, refine: o.refine, tta: o.tta });
      const ms = performance.now() - tm;
      const counted = accumulate(confusion, K, lab.data, classes);
      ignored += lab.data.length - counted;
      e2eSeconds += (performance.now() - tStart) / 1000;
      modelSeconds += ms / 1000;
      latencies.push(ms);
      const key = `${inH}x${inW}`;
      sizes.set(key, (sizes.get(key) ?? 0) + 1);
      const mc = macsAt(manifest.macs, inH, inW);
      macsSum += (mc.macs + (refined && manifest.fuser ? macsAt(manifest.fuser.macs, inH, inW).macs : 0)) * ttaFactor;
      macsApprox ||= mc.approximate;
      macsNotes.add(mc.note);
      if (keep.has(k)) triptychs.push({ name: p.name, rgb: img.data, gt: lab.data, pred: classes, width: lab.width, height: lab.height });
      if ((k + 1) % PROGRESS_EVERY === 0 && k + 1 < pairs.length) {
        err(`eval: ${k + 1}/${pairs.length} images, ${((k + 1) / ((performance.now() - t0) / 1000)).toFixed(1)} images/s`);
      }
    }

    const sizeList = [...sizes.keys()];
    const run: EvalRun = {
      model: manifest.name ?? path.basename(dir),
      modelDir: dir,
      engine: model.engine.name,
      backend: model.engine.backend,
      // onnxruntime gets every core (threads: 0); tfjs-wasm runs on one thread under Node.
      threads: model.engine.name === 'onnx' ? os.availableParallelism() : null,
      classes: manifest.classes,
      palette: manifest.palette,
      voidId: manifest.void,
      imagesDir: o.images,
      labelsDir: o.labels,
      files: pairs.map((p) => p.name),
      skipped: pairing.unpaired,
      size: sizeList.length === 1 ? sizeList[0]! : `${o.size === 'native' ? 'native' : 'fitted'} (mixed: ${sizeList.join(', ')})`,
      sizeSource: typeof o.size === 'object' ? '--size' : o.size,
      confusion,
      metrics: computeMetrics(confusion, K),
      ignoredPixels: ignored,
      modelSeconds,
      endToEndSeconds: e2eSeconds,
      modelLatenciesMs: latencies,
      params: manifest.params + (refined && manifest.fuser ? manifest.fuser.params : 0),
      refined,
      tta: formatTta(o.tta),
      ttaViews: ttaViews(o.tta).length,
      macs: Math.round(macsSum / pairs.length),
      macsApproximate: macsApprox || ttaFactor !== 1,
      macsNote: (sizeList.length === 1 ? [...macsNotes][0]! : `mean over images of mixed sizes (${[...macsNotes].join('; ')})`) + (ttaFactor !== 1 ? `; × ${ttaFactor.toFixed(4)} for ${ttaViews(o.tta).length} TTA views (${formatTta(o.tta)})` : ''),
      ...(() => {
        const f = modelFiles(dir, model.engine.name);
        return { modelBytes: f.bytes, modelFiles: f.files };
      })(),
    };

    if (o.report) {
      const written = await writeReport(o.report, run, triptychs);
      err(`eval: wrote ${written.length} files to ${o.report}: ${written.join(', ')}`);
    }
    process.stdout.write(o.json ? JSON.stringify(toJson(run)) + '\n' : toText(run));
    return 0;
  } finally {
    await model.dispose();
  }
}

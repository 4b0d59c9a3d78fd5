/**
 * What `segflow eval` prints and draws: the JSON report, the text table, and
 * the figures of `--report DIR` (confusion heatmap, per-class IoU bars, and
 * image | ground truth | prediction triptychs), rasterised from SVG by sharp.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { mkdirs } from '../../media/output.ts';
import sharp from 'sharp';
import { accumulate, computeMetrics, createConfusion, type Metrics } from './metrics.ts';

type RGB = readonly [number, number, number];

export interface EvalRun {
  readonly model: string;
  readonly modelDir: string;
  readonly engine: string;
  readonly backend: string;
  /** Intra-op threads (onnx); null where the engine decides (tfjs). */
  readonly threads: number | null;
  readonly classes: readonly string[];
  readonly palette: readonly RGB[];
  readonly voidId: number;
  readonly imagesDir: string;
  readonly labelsDir: string;
  readonly files: readonly string[];
  readonly skipped: readonly { name: string; reason: string }[];
  /** Inference size "HxW", or "fitted (mixed: ...)" / "native (mixed: ...)" when images of different sizes ran at different sizes. */
  readonly size: string;
  readonly sizeSource: 'model' | 'native' | '--size';
  readonly confusion: Float64Array;
  readonly metrics: Metrics;
  /** Pixels whose label was void (or any id ≥ the class count): not scored. */
  readonly ignoredPixels: number;
  readonly modelSeconds: number;
  readonly endToEndSeconds: number;
  readonly modelLatenciesMs: readonly number[];
  readonly params: number;
  /** The deep features passed through the temporal fuser (eval --refine). */
  readonly refined: boolean;
  /** Test-time augmentation (eval --tta): the spec and how many views each image ran. */
  readonly tta: string;
  readonly ttaViews: number;
  readonly macs: number;
  readonly macsApproximate: boolean;
  readonly macsNote: string;
  readonly modelBytes: number;
  readonly modelFiles: readonly string[];
}

const PCT = (x: number): number | null => (Number.isFinite(x) ? round(100 * x, 4) : null);
function round(x: number, d: number): number {
  const f = 10 ** d;
  return Math.round(x * f) / f;
}

function percentile(sorted: readonly number[], p: number): number {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/** The one JSON object of `--json` (and report.json). */
export function toJson(r: EvalRun): Record<string, unknown> {
  const m = r.metrics;
  const K = m.numClasses;
  const lat = [...r.modelLatenciesMs].sort((a, b) => a - b);
  const n = r.files.length;
  return {
    units: {
      miou: 'percent 0..100', pixelAccuracy: 'percent 0..100', meanAccuracy: 'percent 0..100', fwIoU: 'percent 0..100',
      perClass: 'iou, precision, recall, f1, accuracy in percent 0..100; support and predicted in pixels',
      confusion: 'pixel counts; rows = ground truth, columns = prediction; void pixels excluded',
      normalizedConfusion: 'percent 0..100 of each ground-truth row (row-normalised); null row = class absent from the ground truth',
      fps: 'frames per second; model = model.segment() only (resize to the inference size, normalise, network, upsample, argmax), endToEnd = PNG decode of image and label + model + scoring; one warm-up image not timed',
      latencyMs: 'milliseconds per image, model.segment() only',
      threads: 'onnxruntime intra-op threads; null for tfjs (its backend decides)',
      params: 'parameters', macs: 'multiply-accumulates per image at the inference size', modelBytes: 'bytes',
      nulls: 'null = undefined (NaN): the class is absent from both ground truth and prediction (or from the ground truth, for accuracy/recall; from the prediction, for precision); excluded from every mean',
    },
    model: r.model,
    modelDir: r.modelDir,
    engine: r.engine,
    backend: r.backend,
    threads: r.threads,
    size: r.size,
    sizeSource: r.sizeSource,
    imagesDir: r.imagesDir,
    labelsDir: r.labelsDir,
    images: n,
    files: r.files,
    skipped: r.skipped,
    classes: r.classes,
    void: r.voidId,
    pixels: m.pixels,
    ignoredPixels: r.ignoredPixels,
    miou: PCT(m.miou),
    pixelAccuracy: PCT(m.pixelAccuracy),
    meanAccuracy: PCT(m.meanAccuracy),
    fwIoU: PCT(m.fwIoU),
    perClass: m.perClass.map((c, i) => ({
      id: i, name: r.classes[i] ?? `class ${i}`,
      iou: PCT(c.iou), precision: PCT(c.precision), recall: PCT(c.recall), f1: PCT(c.f1), accuracy: PCT(c.accuracy),
      support: c.support, predicted: c.predicted,
    })),
    confusion: Array.from({ length: K }, (_, i) => Array.from(r.confusion.subarray(i * K, (i + 1) * K))),
    normalizedConfusion: Array.from({ length: K }, (_, i) => Array.from(m.normalizedConfusion.subarray(i * K, (i + 1) * K), PCT)),
    fps: {
      model: r.modelSeconds > 0 ? round(n / r.modelSeconds, 3) : null,
      endToEnd: r.endToEndSeconds > 0 ? round(n / r.endToEndSeconds, 3) : null,
    },
    latencyMs: { mean: lat.length ? round(lat.reduce((a, b) => a + b, 0) / lat.length, 3) : null, p50: round(percentile(lat, 50), 3), p90: round(percentile(lat, 90), 3), max: round(percentile(lat, 100), 3) },
    params: r.params,
    refined: r.refined,
    tta: r.tta,
    ttaViews: r.ttaViews,
    macs: r.macs,
    macsApproximate: r.macsApproximate,
    macsNote: r.macsNote,
    modelBytes: r.modelBytes,
    modelFiles: r.modelFiles,
  };
}

const f1 = (x: number): string => (Number.isFinite(x) ? (100 * x).toFixed(1) : 'n/a');
const thousands = (x: number): string => Math.round(x).toLocaleString('en-US');

function humanMacs(x: number): string {
  return x >= 1e9 ? `${(x / 1e9).toFixed(2)} G` : `${(x / 1e6).toFixed(1)} M`;
}

/** The readable report printed by default. */
export function toText(r: EvalRun): string {
  const m = r.metrics;
  const K = m.numClasses;
  const n = r.files.length;
  const names = Array.from({ length: K }, (_, i) => r.classes[i] ?? `class ${i}`);
  const nw = Math.max(10, ...names.map((s) => s.length)) + 2;
  const L: string[] = [];
  L.push(`segflow eval: ${r.model} on ${r.engine} (${r.backend}${r.threads ? `, ${r.threads} threads` : ''}), ${n} image${n === 1 ? '' : 's'}, inference at ${r.size} (HxW, ${r.sizeSource}), scored at the label size; void (id ${r.voidId}) ignored`);
  if (r.skipped.length) L.push(`skipped ${r.skipped.length} image(s) without a usable label (see stderr / report.json)`);
  L.push('');
  L.push(`${'class'.padEnd(nw)}${['IoU', 'precision', 'recall=acc', 'F1', 'GT share'].map((h) => h.padStart(11)).join('')}`);
  m.perClass.forEach((c, i) => {
    const share = m.pixels > 0 ? (100 * c.support) / m.pixels : NaN;
    L.push(`${names[i]!.padEnd(nw)}${[f1(c.iou), f1(c.precision), f1(c.recall), f1(c.f1), Number.isFinite(share) ? share.toFixed(1) : 'n/a'].map((s) => s.padStart(11)).join('')}`);
  });
  L.push('(all in %; n/a = class absent from ground truth and prediction, or the quantity is 0/0; left out of means)');
  L.push('');
  const defined = m.perClass.filter((c) => Number.isFinite(c.iou)).length;
  L.push(`mIoU                     ${f1(m.miou)} %  (mean over ${defined} of ${K} classes)`);
  L.push(`global pixel accuracy    ${f1(m.pixelAccuracy)} %  (${thousands(m.pixels)} scored pixels; ${thousands(r.ignoredPixels)} void pixels ignored)`);
  L.push(`mean class accuracy      ${f1(m.meanAccuracy)} %`);
  L.push(`frequency-weighted IoU   ${f1(m.fwIoU)} %`);
  const j = toJson(r) as { fps: { model: number | null; endToEnd: number | null }; latencyMs: { p50: number; p90: number } };
  L.push(`fps, model inference     ${j.fps.model?.toFixed(1) ?? 'n/a'}  (model.segment(): resize, normalise, network, upsample, argmax; p50 ${j.latencyMs.p50.toFixed(1)} ms, p90 ${j.latencyMs.p90.toFixed(1)} ms)`);
  L.push(`fps, end to end          ${j.fps.endToEnd?.toFixed(1) ?? 'n/a'}  (PNG decode of image + label, inference, scoring)`);
  L.push(`network                  ${r.refined ? 'two-branch network + one step of the temporal fuser on the deep features (--refine on)' : 'two-branch network alone'}`);
  L.push(`test-time augmentation   ${r.tta === 'off' ? 'off' : `${r.tta} (${r.ttaViews} views, class scores averaged at 1/8)`}`);
  L.push(`parameters               ${thousands(r.params)}`);
  L.push(`model size               ${thousands(r.modelBytes)} bytes (${(r.modelBytes / 1048576).toFixed(2)} MiB: ${r.modelFiles.join(' + ')})`);
  L.push(`MACs per image           ${r.macsApproximate ? '≈ ' : ''}${humanMacs(r.macs)} (${thousands(r.macs)}; ${r.macsNote})`);
  L.push('');
  const countW = Math.max(...names.map((s) => s.length), ...Array.from(r.confusion, (v) => thousands(v).length)) + 1;
  L.push('confusion matrix, pixel counts (rows = ground truth, columns = prediction)');
  L.push(`${''.padEnd(nw)}${names.map((s) => s.padStart(countW)).join('')}`);
  for (let i = 0; i < K; i++) L.push(`${names[i]!.padEnd(nw)}${Array.from(r.confusion.subarray(i * K, (i + 1) * K), (v) => thousands(v).padStart(countW)).join('')}`);
  L.push('');
  L.push('normalised confusion matrix, % of each ground-truth row');
  const pctW = Math.max(6, ...names.map((s) => s.length)) + 1;
  L.push(`${''.padEnd(nw)}${names.map((s) => s.padStart(pctW)).join('')}`);
  for (let i = 0; i < K; i++) L.push(`${names[i]!.padEnd(nw)}${Array.from(m.normalizedConfusion.subarray(i * K, (i + 1) * K), (v) => (Number.isFinite(v) ? (100 * v).toFixed(1) : 'n/a').padStart(pctW)).join('')}`);
  return L.join('\n') + '\n';
}

// ---------------------------------------------------------------- figures

const FONT = "DejaVu Sans, Helvetica, Arial, sans-serif";
const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const rgb = (c: RGB): string => `rgb(${c[0]},${c[1]},${c[2]})`;

/** White → dark blue, for a fraction 0..1. */
function blues(t: number): RGB {
  const stops: RGB[] = [[247, 251, 255], [198, 219, 239], [107, 174, 214], [33, 113, 181], [8, 48, 107]];
  const x = Math.min(1, Math.max(0, t)) * (stops.length - 1);
  const i = Math.min(stops.length - 2, Math.floor(x));
  const f = x - i;
  const a = stops[i]!;
  const b = stops[i + 1]!;
  return [0, 1, 2].map((k) => Math.round(a[k]! + (b[k]! - a[k]!) * f)) as unknown as RGB;
}

function cellText(v: number): string {
  if (!Number.isFinite(v)) return '–';
  const p = 100 * v;
  if (p === 0) return '0';
  if (p < 0.05) return '<0.1';
  return p >= 9.95 ? p.toFixed(0) : p.toFixed(1);
}

function subtitle(r: EvalRun): string {
  return `${r.model} · ${r.engine} · ${r.files.length} images · inference ${r.size} (HxW) · void ignored`;
}

/** Normalised confusion matrix heatmap as SVG. */
export function confusionSvg(r: EvalRun): string {
  const K = r.metrics.numClasses;
  const names = Array.from({ length: K }, (_, i) => r.classes[i] ?? `class ${i}`);
  const cell = 58;
  const left = 170;
  const top = 220;
  const gridW = cell * K;
  const W = left + gridW + 110;
  const H = top + gridW + 80;
  const s: string[] = [];
  s.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="${FONT}">`);
  s.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  s.push(`<text x="20" y="34" font-size="22" font-weight="bold">Normalised confusion matrix (% of each ground-truth row)</text>`);
  s.push(`<text x="20" y="60" font-size="15" fill="#444">${esc(subtitle(r))} · mIoU ${f1(r.metrics.miou)} % · pixel acc. ${f1(r.metrics.pixelAccuracy)} %</text>`);
  s.push(`<text x="${left + gridW / 2}" y="${top - 122}" font-size="17" font-weight="bold" text-anchor="middle">prediction</text>`);
  s.push(`<text transform="translate(${left - 150},${top + gridW / 2}) rotate(-90)" font-size="17" font-weight="bold" text-anchor="middle">ground truth</text>`);
  for (let j = 0; j < K; j++) {
    const x = left + j * cell + cell / 2;
    s.push(`<rect x="${x - 7}" y="${top - 18}" width="14" height="12" fill="${rgb(r.palette[j] ?? [0, 0, 0])}" stroke="#333" stroke-width="0.5"/>`);
    s.push(`<text transform="translate(${x + 5},${top - 24}) rotate(-55)" font-size="14">${esc(names[j]!)}</text>`);
  }
  for (let i = 0; i < K; i++) {
    const y = top + i * cell + cell / 2;
    s.push(`<text x="${left - 26}" y="${y + 5}" font-size="14" text-anchor="end">${esc(names[i]!)}</text>`);
    s.push(`<rect x="${left - 20}" y="${y - 6}" width="14" height="12" fill="${rgb(r.palette[i] ?? [0, 0, 0])}" stroke="#333" stroke-width="0.5"/>`);
    for (let j = 0; j < K; j++) {
      const v = r.metrics.normalizedConfusion[i * K + j]!;
      const x = left + j * cell;
      const fill = Number.isFinite(v) ? rgb(blues(Math.sqrt(v))) : '#e0e0e0';
      s.push(`<rect x="${x}" y="${top + i * cell}" width="${cell}" height="${cell}" fill="${fill}" stroke="white" stroke-width="1"/>`);
      const dark = Number.isFinite(v) && Math.sqrt(v) > 0.55;
      const colour = dark ? 'white' : v === 0 ? '#b0b0b0' : '#111';
      s.push(`<text x="${x + cell / 2}" y="${top + i * cell + cell / 2 + 5}" font-size="${i === j ? 15 : 14}"${i === j ? ' font-weight="bold"' : ''} fill="${colour}" text-anchor="middle">${esc(cellText(v))}</text>`);
    }
    // Diagonal outline so the correct cells stand out.
    s.push(`<rect x="${left + i * cell + 1}" y="${top + i * cell + 1}" width="${cell - 2}" height="${cell - 2}" fill="none" stroke="#d62728" stroke-width="2"/>`);
    const share = r.metrics.pixels > 0 ? (100 * r.metrics.perClass[i]!.support) / r.metrics.pixels : 0;
    s.push(`<text x="${left + gridW + 10}" y="${top + i * cell + cell / 2 + 5}" font-size="13" fill="#444">${share.toFixed(1)} %</text>`);
  }
  s.push(`<text x="${left + gridW + 10}" y="${top - 10}" font-size="13" fill="#444">GT share</text>`);
  s.push(`<text x="20" y="${H - 40}" font-size="13" fill="#555">Rows: ground-truth class (sum to 100). Columns: predicted class. Red outline: correct (diagonal).</text>`);
  s.push(`<text x="20" y="${H - 20}" font-size="13" fill="#555">Colour is sqrt-scaled so small confusions stay visible. “–”: class absent from the ground truth.</text>`);
  s.push('</svg>');
  return s.join('\n');
}

/** Per-class IoU horizontal bars as SVG, with the mIoU marked. */
export function iouSvg(r: EvalRun): string {
  const K = r.metrics.numClasses;
  const names = Array.from({ length: K }, (_, i) => r.classes[i] ?? `class ${i}`);
  const left = 150;
  const top = 90;
  const row = 34;
  const barMax = 560;
  const W = left + barMax + 90;
  const H = top + row * K + 70;
  const s: string[] = [];
  s.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="${FONT}">`);
  s.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  s.push(`<text x="20" y="32" font-size="22" font-weight="bold">Per-class IoU (%)</text>`);
  s.push(`<text x="20" y="56" font-size="14" fill="#444">${esc(subtitle(r))}</text>`);
  for (let t = 0; t <= 100; t += 20) {
    const x = left + (t / 100) * barMax;
    s.push(`<line x1="${x}" y1="${top - 6}" x2="${x}" y2="${top + row * K}" stroke="#ddd" stroke-width="1"/>`);
    s.push(`<text x="${x}" y="${top + row * K + 20}" font-size="13" fill="#555" text-anchor="middle">${t}</text>`);
  }
  for (let i = 0; i < K; i++) {
    const v = r.metrics.perClass[i]!.iou;
    const y = top + i * row;
    s.push(`<text x="${left - 10}" y="${y + row / 2 + 5}" font-size="15" text-anchor="end">${esc(names[i]!)}</text>`);
    if (Number.isFinite(v)) {
      const w = Math.max(1, v * barMax);
      s.push(`<rect x="${left}" y="${y + 5}" width="${w}" height="${row - 10}" fill="${rgb(r.palette[i] ?? [120, 120, 120])}" stroke="#333" stroke-width="0.8"/>`);
      s.push(`<text x="${left + w + 6}" y="${y + row / 2 + 5}" font-size="14" font-weight="bold">${(100 * v).toFixed(1)}</text>`);
    } else {
      s.push(`<text x="${left + 6}" y="${y + row / 2 + 5}" font-size="14" fill="#888">n/a (absent from ground truth and prediction)</text>`);
    }
  }
  if (Number.isFinite(r.metrics.miou)) {
    const x = left + r.metrics.miou * barMax;
    s.push(`<line x1="${x}" y1="${top - 12}" x2="${x}" y2="${top + row * K}" stroke="#d62728" stroke-width="2" stroke-dasharray="6,4"/>`);
    s.push(`<text x="${x}" y="${top - 16}" font-size="14" fill="#d62728" font-weight="bold" text-anchor="middle">mIoU ${f1(r.metrics.miou)}</text>`);
  }
  s.push(`<text x="${left + barMax / 2}" y="${H - 18}" font-size="13" fill="#555" text-anchor="middle">IoU = TP / (TP + FP + FN), %; bars in each class's palette colour</text>`);
  s.push('</svg>');
  return s.join('\n');
}

/** Class ids → RGB24 with the palette; ids outside it (void) black. */
export function colourise(labels: Uint8Array, palette: readonly RGB[]): Uint8Array {
  const out = new Uint8Array(labels.length * 3);
  for (let i = 0, j = 0; i < labels.length; i++, j += 3) {
    const c = palette[labels[i]!];
    if (c) {
      out[j] = c[0];
      out[j + 1] = c[1];
      out[j + 2] = c[2];
    }
  }
  return out;
}

export interface TriptychInput {
  readonly name: string;
  readonly rgb: Uint8Array;
  readonly gt: Uint8Array;
  readonly pred: Uint8Array;
  readonly width: number;
  readonly height: number;
}

/** Image | ground truth | prediction, with titles, the image's own scores and a palette legend. */
export async function writeTriptych(file: string, t: TriptychInput, r: EvalRun): Promise<void> {
  const K = r.classes.length;
  const conf = createConfusion(K);
  accumulate(conf, K, t.gt, t.pred);
  const m = computeMetrics(conf, K);
  const { width: w, height: h } = t;
  const gap = 10;
  const head = 64;
  const legendRows = Math.ceil((K + 1) / 6);
  const foot = 14 + legendRows * 24;
  const W = 3 * w + 4 * gap;
  const H = head + h + foot + gap;
  const s: string[] = [];
  s.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="${FONT}">`);
  s.push(`<text x="${gap}" y="24" font-size="17" font-weight="bold">${esc(t.name)}</text>`);
  s.push(`<text x="${W - gap}" y="24" font-size="15" text-anchor="end">this image: pixel acc. ${f1(m.pixelAccuracy)} % · mIoU ${f1(m.miou)} % (over classes present)</text>`);
  ['image', 'ground truth (void = black)', `prediction (${r.model}, ${r.size})`].forEach((title, k) => {
    s.push(`<text x="${gap + k * (w + gap) + w / 2}" y="${head - 10}" font-size="15" text-anchor="middle">${esc(title)}</text>`);
  });
  const legend = [...r.classes.map((c, i) => [c, r.palette[i] ?? [0, 0, 0]] as const), ['void', [0, 0, 0] as RGB] as const];
  const colW = (W - 2 * gap) / 6;
  legend.forEach(([name, c], k) => {
    const x = gap + (k % 6) * colW;
    const y = head + h + gap + 8 + Math.floor(k / 6) * 24;
    s.push(`<rect x="${x}" y="${y}" width="18" height="14" fill="${rgb(c)}" stroke="#333" stroke-width="0.5"/>`);
    s.push(`<text x="${x + 24}" y="${y + 12}" font-size="13">${esc(name)}</text>`);
  });
  s.push('</svg>');
  const panel = (data: Uint8Array) => ({ input: Buffer.from(data.buffer, data.byteOffset, data.length), raw: { width: w, height: h, channels: 3 as const } });
  await sharp({ create: { width: W, height: H, channels: 3, background: { r: 255, g: 255, b: 255 } } })
    .composite([
      { ...panel(t.rgb), left: gap, top: head },
      { ...panel(colourise(t.gt, r.palette)), left: 2 * gap + w, top: head },
      { ...panel(colourise(t.pred, r.palette)), left: 3 * gap + 2 * w, top: head },
      { input: Buffer.from(s.join('\n')), left: 0, top: 0 },
    ])
    .png()
    .toFile(file);
}

/** Write confusion.png, iou.png, the triptychs, report.json and README.md into `dir`. Returns the files written. */
export async function writeReport(dir: string, r: EvalRun, triptychs: readonly TriptychInput[]): Promise<string[]> {
  mkdirs(path.resolve(dir));
  const written: string[] = [];
  const png = async (name: string, svg: string) => {
    await sharp(Buffer.from(svg)).flatten({ background: '#ffffff' }).png().toFile(path.join(dir, name));
    written.push(name);
  };
  await png('confusion.png', confusionSvg(r));
  await png('iou.png', iouSvg(r));
  const trip: string[] = [];
  for (const t of triptychs) {
    const name = `triptych-${path.parse(t.name).name}.png`;
    await writeTriptych(path.join(dir, name), t, r);
    trip.push(name);
    written.push(name);
  }
  writeFileSync(path.join(dir, 'report.json'), JSON.stringify(toJson(r), null, 2) + '\n');
  written.push('report.json');
  const m = r.metrics;
  const readme = [
    `# segflow eval: ${r.model}`,
    '',
    `${r.files.length} images from \`${r.imagesDir}\`, labels from \`${r.labelsDir}\`; engine ${r.engine} (${r.backend}); inference at ${r.size} (HxW); void ignored.`,
    '',
    `mIoU **${f1(m.miou)} %** · pixel accuracy ${f1(m.pixelAccuracy)} % · mean class accuracy ${f1(m.meanAccuracy)} % · frequency-weighted IoU ${f1(m.fwIoU)} %`,
    '',
    '| figure | what it shows |',
    '|---|---|',
    '| [confusion.png](confusion.png) | normalised confusion matrix: each row is a ground-truth class, each cell the % of its pixels predicted as the column class (rows sum to 100) |',
    '| [iou.png](iou.png) | per-class IoU bars with the mIoU marked |',
    ...trip.map((t) => `| [${t}](${t}) | image, ground truth, prediction side by side (palette colours, void black), with that image's own scores |`),
    '| [report.json](report.json) | every number (same object as `segflow eval --json`) |',
    '',
    ...trip.map((t) => `![${t}](${t})`),
    '',
    '![confusion](confusion.png)',
    '',
    '![iou](iou.png)',
    '',
  ].join('\n');
  writeFileSync(path.join(dir, 'README.md'), readme);
  written.push('README.md');
  return written;
}

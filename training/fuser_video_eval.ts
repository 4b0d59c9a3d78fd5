/**
 * The video evaluation of `npm run bench` (its "val 15 Hz" and "motion-seq" mIoU columns,
 * src/eval/video.ts) for the `nonKeyFrames: fuse` modes, once per temporal-fuser cell:
 *
 *   nice node --import tsx training/fuser_video_eval.ts [gru,lstm] [--tta SPEC ...] [--decomposed]
 *
 * ONNX Runtime, 2 threads; the same sequences, modes and TTA default as bench/run.ts.
 * `--tta` (repeatable): key-frame TTA specs to run each mode with (default: auto, resolved from the
 * interval as the segmenter node does). `--decomposed`: also run the decomposed graph's nodes
 * (keyframe-scheduler → two-branch-segmenter's features → temporal-fuser, one thread, as in
 * graphs/dashcam-offline-fuser.yaml) and report their figures and how many frames' labels equal
 * the monolithic segmenter's byte for byte.
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { from, lastValueFrom, toArray, type Observable } from 'rxjs';
import { loadModel, type Model } from '../src/segmentation/engine/model.ts';
import type { FuserCell } from '../src/segmentation/engine/engine.ts';
import { motionSequences, runMode, scoreSequences, valSequence, type Mode, type ModeRun, type SeqFrame } from '../src/apps/eval/video.ts';
import { PACKAGE_ROOT } from '../src/core/package-root.ts';
import { createNodeContext } from '../src/core/runtime/context.ts';
import type { NodeSpec } from '../src/core/node.ts';
import type { Features, Frame, Labels } from '../src/core/packet.ts';
import { keyframeScheduler, temporalFuser, twoBranchSegmenter } from '../nodes/index.ts';

const CAMVID = path.join(process.env.SEGFLOW_SHARED ?? path.join(PACKAGE_ROOT, '..', 'shared'), 'data', 'camvid');
const args = parseArgs({ allowPositionals: true, options: { tta: { type: 'string', multiple: true }, decomposed: { type: 'boolean', default: false } } });
const cells = (args.positionals[0] ?? 'gru,lstm').split(',') as FuserCell[];
const ttas = args.values.tta ?? ['auto'];
const MODES: Mode[] = [
  { name: 'shallow, key every 5 (no fuser on non-key frames)', keyframeIntervalFrames: 5, nonKeyFrames: 'shallow' },
  { name: 'fuse, key every 5', keyframeIntervalFrames: 5, nonKeyFrames: 'fuse' },
  { name: 'fuse, key every 10', keyframeIntervalFrames: 10, nonKeyFrames: 'fuse' },
];
const f1 = (x: number) => x.toFixed(1);

/** A node opened outside a graph (one thread: an executor's situation). */
async function open<S extends NodeSpec>(spec: S, options: Record<string, unknown>) {
  return spec.open(createNodeContext(spec, { name: spec.type, options: spec.options.parse(options) }) as never);
}

/** The decomposed fuser graph's nodes over one sequence: predictions and key-frame positions. */
async function runDecomposed(cell: FuserCell, mode: Mode, frames: readonly SeqFrame[]): Promise<ModeRun> {
  const keys = await open(keyframeScheduler, { keyframeIntervalFrames: mode.keyframeIntervalFrames, nonKeyFrames: 'fuse' });
  const seg = await open(twoBranchSegmenter, { fuserCell: cell, thread: false, threads: 2, tta: mode.tta ?? 'auto' });
  const fuse = await open(temporalFuser, { cell });
  try {
    const input = frames.map((f, i): Frame => ({ kind: 'frame', source: 'seq', seq: i, ptsMs: i * 67, width: f.width, height: f.height, data: f.rgb, discontinuity: i === 0 ? 'start' : undefined }));
    const marked = keys.process({ frame: from(input) }).frame as Observable<Frame>;
    const features = seg.process({ frame: marked }).features as Observable<Features>;
    const labels = await lastValueFrom((fuse.process({ features }).labels as Observable<Labels>).pipe(toArray()));
    let pos = 0;
    const positions = labels.map((l) => (pos = l.path === 'full' ? 0 : pos + 1));
    return { predictions: labels.map((l) => l.classes), positions, latenciesMs: [], paths: {} };
  } finally {
    await fuse.close?.();
    await seg.close?.();
  }
}

const val = await valSequence(CAMVID);
const motion = await motionSequences(CAMVID, 8, 10);
console.log(`| cell | mode | tta | path | val 15 Hz (${val.length} frames) mIoU mean / worst | motion-seq (${motion.length}x10) mIoU mean / worst | by position (val) |${args.values.decomposed ? ' frames equal to the monolithic |' : ''}`);
console.log(`|---|---|---|---|---|---|---|${args.values.decomposed ? '---|' : ''}`);
for (const cell of cells) {
  const model: Model = await loadModel({ engine: 'onnx', threads: 2, fuserCell: cell });
  for (const mode of MODES) {
    if (mode.nonKeyFrames !== 'fuse' && cell !== cells[0]) continue;
    for (const tta of ttas) {
      const m = { ...mode, fuserCell: cell, tta };
      const seqs = [val, ...motion];
      const mono: ModeRun[] = [];
      for (const s of seqs) mono.push(await runMode(model, m, s));
      const row = (runs: ModeRun[]) => {
        const vs = scoreSequences([{ run: runs[0]!, frames: val }], model.manifest.classes.length);
        const ms = scoreSequences(runs.slice(1).map((run, i) => ({ run, frames: motion[i]! })), model.manifest.classes.length);
        return `${f1(vs.miou)} / ${f1(vs.worst)} | ${f1(ms.miou)} / ${f1(ms.worst)} | ${vs.byPosition.map(f1).join(' ')}`;
      };
      console.log(`| ${cell} | ${mode.name} | ${tta} | monolithic | ${row(mono)} |${args.values.decomposed ? ' |' : ''}`);
      if (args.values.decomposed && mode.nonKeyFrames === 'fuse') {
        const dec: ModeRun[] = [];
        for (const s of seqs) dec.push(await runDecomposed(cell, m, s));
        let equal = 0, total = 0;
        dec.forEach((r, i) => r.predictions.forEach((p, j) => {
          total++;
          if (Buffer.from(p).equals(Buffer.from(mono[i]!.predictions[j]!))) equal++;
        }));
        console.log(`| ${cell} | ${mode.name} | ${tta} | decomposed | ${row(dec)} | ${equal}/${total} |`);
      }
    }
  }
  await model.dispose();
}
